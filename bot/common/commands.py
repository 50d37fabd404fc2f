"""The commands citizens can type on chat platforms (/start, /help, /language, /subscribe...).

One list, shown by every platform in the citizen's language: Telegram registers it with
`setMyCommands`, Discord as slash commands. A new command is one more `Command` here and one
more branch in `ConversationCore.command`; the channels need no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A command and its description in every served language.

    Attributes:
        name: what the citizen types after the slash (lower case, no spaces).
        description: one short line per language, shown in the platform's command menu.
        argument: the name of an optional argument (Discord shows it as an option), or None.
    """

    name: str
    description: Mapping[str, str]
    argument: str | None = None


COMMANDS: tuple[Command, ...] = (
    Command(
        name="start",
        description={
            "fr": "Présentation de l'assistant et choix de la langue",
            "en": "What this assistant is, and choosing a language",
        },
    ),
    Command(
        name="help",
        description={
            "fr": "Ce que l'assistant sait faire",
            "en": "What the assistant can do",
        },
    ),
    Command(
        name="language",
        description={
            "fr": "Changer de langue (français ou anglais)",
            "en": "Change language (French or English)",
        },
        argument="language",
    ),
    Command(
        name="subscribe",
        description={
            "fr": "Recevoir les nouvelles du projet ici (ou un sujet : /subscribe dynamitage)",
            "en": "Receive project news here (or one topic: /subscribe blasting)",
        },
        argument="topic",
    ),
    Command(
        name="unsubscribe",
        description={
            "fr": "Ne plus recevoir les nouvelles du projet (ou un seul sujet)",
            "en": "Stop project news (or one topic)",
        },
        argument="topic",
    ),
    Command(
        name="vote",
        description={
            "fr": "Répondre à une consultation du projet (/vote 2), ou voir votre choix",
            "en": "Answer a consultation of the project (/vote 2), or see your choice",
        },
        argument="choice",
    ),
    Command(
        name="volunteer",
        description={
            "fr": "Rejoindre les membres engagés du projet (/volunteer stop pour quitter)",
            "en": "Join the project's engaged members (/volunteer stop to leave)",
        },
        argument="answer",
    ),
    Command(
        name="forget",
        description={
            "fr": "Effacer mes données (avec confirmation)",
            "en": "Erase my data (with confirmation)",
        },
    ),
)

COMMAND_NAMES = frozenset(command.name for command in COMMANDS)


def command_list(language: str) -> str:
    """The commands as lines "/name: description", for the help text."""
    return "\n".join(
        f"/{command.name} : {command.description.get(language, command.description['fr'])}"
        if language == "fr"
        else f"/{command.name}: {command.description.get(language, command.description['fr'])}"
        for command in COMMANDS
    )
