"""What the assistant says in the community groups it listens to: the pinned notice and the
answers to /optout and /optin, in French and English."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.common.commands import Command

NOTICE: dict[str, str] = {
    "fr": (
        "🤖 Avis — l'assistant automatisé du projet {project} écoute ce groupe.\n"
        "Il enregistre les messages qui parlent du projet ({examples}), sans votre nom ni votre "
        "compte (un pseudonyme les remplace), pour que l'équipe du projet comprenne les "
        "préoccupations du voisinage. Les autres messages ne sont pas conservés, et il ne répond "
        "ici que si on s'adresse à lui.\n"
        "Pour ne plus être enregistré·e : {optout} (vos messages déjà enregistrés sont effacés) ; "
        "pour revenir : {optin}.\n"
        "Pour parler à une personne de l'équipe : {private}{contact}."
    ),
    "en": (
        "🤖 Notice — the automated assistant of the {project} project listens to this group.\n"
        "It records the messages that speak of the project ({examples}), without your name or "
        "account (a pseudonym stands in for them), so that the project team understands the "
        "neighbours' concerns. Other messages are not kept, and it only answers here when "
        "spoken to.\n"
        "To stop being recorded: {optout} (your messages already recorded are deleted); to "
        "come back: {optin}.\n"
        "To talk to a person of the team: {private}{contact}."
    ),
}

PRIVATE: dict[str, dict[str, str]] = {
    "telegram": {
        "fr": "écrivez-moi en privé ({handle}) et demandez une personne",
        "en": "write to me in private ({handle}) and ask for a person",
    },
    "discord": {
        "fr": "envoyez-moi un message privé et demandez une personne",
        "en": "send me a direct message and ask for a person",
    },
}

CONTACT: dict[str, str] = {"fr": ", ou {contact}", "en": ", or {contact}"}

OPTED_OUT: dict[str, str] = {
    "fr": (
        "C'est noté : vos messages ne sont plus enregistrés dans les groupes où j'écoute, et ceux "
        "que j'avais enregistrés sont effacés. Pour revenir sur ce choix : {optin}."
    ),
    "en": (
        "Done: your messages are no longer recorded in the groups where I listen, and those I "
        "had recorded are deleted. To change your mind: {optin}."
    ),
}

OPTED_IN: dict[str, str] = {
    "fr": (
        "C'est noté : vos messages qui parlent du projet sont de nouveau enregistrés dans les "
        "groupes où j'écoute (sans votre nom). Pour arrêter : {optout}."
    ),
    "en": (
        "Done: your messages that speak of the project are recorded again in the groups where "
        "I listen (without your name). To stop: {optout}."
    ),
}

# The commands of listening, shown in the command menu of listened groups (Telegram) and as
# slash commands (Discord).
LISTENING_COMMANDS: tuple[Command, ...] = (
    Command(
        name="optout",
        description={
            "fr": "Ne plus enregistrer mes messages dans les groupes (et effacer ceux enregistrés)",
            "en": "Stop recording my messages in groups (and delete those recorded)",
        },
    ),
    Command(
        name="optin",
        description={
            "fr": "Enregistrer de nouveau mes messages sur le projet dans les groupes",
            "en": "Record my messages about the project in groups again",
        },
    ),
)
OPT_COMMANDS = tuple(command.name for command in LISTENING_COMMANDS)


@dataclass(frozen=True)
class NoticeFacts:
    """What the notice says of the project: its name in each language and how to reach the team.

    Attributes:
        project: the project's name by language.
        contact: how to reach the team outside the chat (an e-mail address, a phone number).
        examples: a few of the keywords listened for, shown as examples.
    """

    project: Mapping[str, str]
    contact: Sequence[str] = ()
    examples: Sequence[str] = field(default_factory=tuple)


def notice_text(
    facts: NoticeFacts, *, platform: str, languages: Sequence[str], handle: str = ""
) -> str:
    """The bilingual notice pinned in a listened group (one paragraph per language)."""
    examples = ", ".join(facts.examples[:4])
    contact = " · ".join(item for item in facts.contact if item)
    parts = []
    for language in languages:
        parts.append(
            NOTICE[language].format(
                project=facts.project.get(language) or next(iter(facts.project.values()), ""),
                examples=examples,
                optout="/optout",
                optin="/optin",
                private=PRIVATE[platform][language].format(handle=handle),
                contact=CONTACT[language].format(contact=contact) if contact else "",
            )
        )
    return "\n\n".join(parts)


def opt_answer(opted_out: bool, languages: Sequence[str]) -> str:
    """The confirmation of /optout (or /optin) in these languages, one paragraph each."""
    phrases = OPTED_OUT if opted_out else OPTED_IN
    return "\n\n".join(
        phrases[language].format(optout="/optout", optin="/optin") for language in languages
    )
