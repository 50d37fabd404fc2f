"""What the assistant says about consultations, ideas and getting involved, in French and
English (the conversation's language; French when it is not served)."""

from __future__ import annotations

from typing import Any

PHRASES: dict[str, dict[str, str]] = {
    "invite": {
        "fr": (
            "🗳️ Consultation {reference} de l'équipe du projet {project} : {question}\n"
            "{choices}\n"
            "Ce que l'équipe fera du résultat : {purpose}\n"
            "{how} Une voix par personne, modifiable jusqu'au {closes}. Personne d'autre ne "
            "voit votre choix ; les résultats seront publiés sans aucun nom."
        ),
        "en": (
            "🗳️ Consultation {reference} from the {project} project team: {question}\n"
            "{choices}\n"
            "What the team will do with the result: {purpose}\n"
            "{how} One voice per person, changeable until {closes}. Nobody else sees your "
            "choice; results are published without any name."
        ),
    },
    "invite_how_text": {
        "fr": "Répondez par le numéro de votre choix (par exemple « 1 »).",
        "en": 'Answer with the number of your choice (for example "1").',
    },
    "invite_how_poll": {
        "fr": "Votez dans le sondage ci-dessous, ou répondez par le numéro de votre choix.",
        "en": "Vote in the poll below, or answer with the number of your choice.",
    },
    "invite_how_open": {
        "fr": "Répondez simplement à ce message avec votre réponse.",
        "en": "Simply answer this message with your answer.",
    },
    "invite_group": {
        "fr": (
            "🗳️ Consultation {reference} de l'équipe du projet {project} : {question}\n"
            "Ce que l'équipe fera du résultat : {purpose}\n"
            "Pour répondre sans que le groupe voie votre choix, écrivez à l'assistant en privé : "
            "/vote {reference}{link} (jusqu'au {closes})."
        ),
        "en": (
            "🗳️ Consultation {reference} from the {project} project team: {question}\n"
            "What the team will do with the result: {purpose}\n"
            "To answer without the group seeing your choice, write to the assistant in private: "
            "/vote {reference}{link} (until {closes})."
        ),
    },
    "vote_recorded": {
        "fr": "Merci, votre choix est enregistré pour la consultation {reference} : « {choice} ».",
        "en": 'Thank you, your choice is recorded for consultation {reference}: "{choice}".',
    },
    "vote_changed": {
        "fr": "C'est noté : votre choix pour la consultation {reference} est maintenant « {choice} ».",
        "en": 'Noted: your choice for consultation {reference} is now "{choice}".',
    },
    "vote_same": {
        "fr": "Votre choix pour la consultation {reference} était déjà « {choice} ».",
        "en": 'Your choice for consultation {reference} was already "{choice}".',
    },
    "open_answer_hint": {
        "fr": (
            "(Si c'était votre réponse à la consultation {reference}, écrivez « réponse : » "
            "suivi de votre réponse : une question reçoit une réponse, elle n'est pas comptée.)"
        ),
        "en": (
            '(If this was your answer to consultation {reference}, write "answer:" followed by '
            "it: a question gets answered, it is not counted.)"
        ),
    },
    "answer_recorded": {
        "fr": (
            "Merci, votre réponse à la consultation {reference} est enregistrée. Pour la "
            "changer d'ici le {closes}, écrivez « réponse : » suivi de votre nouvelle réponse."
        ),
        "en": (
            "Thank you, your answer to consultation {reference} is recorded. To change it "
            'before {closes}, write "answer:" followed by your new answer.'
        ),
    },
    "vote_change_hint": {
        "fr": "Vous pouvez changer d'avis jusqu'au {closes} : répondez simplement par un autre numéro.",
        "en": "You can change your mind until {closes}: simply answer with another number.",
    },
    "vote_closed": {
        "fr": "La consultation {reference} est fermée depuis le {closed} : les choix ne sont plus reçus.",
        "en": "Consultation {reference} closed on {closed}: choices are no longer taken.",
    },
    "vote_unknown_choice": {
        "fr": "La consultation {reference} n'a pas de choix « {given} ». Les choix sont :\n{choices}",
        "en": 'Consultation {reference} has no choice "{given}". The choices are:\n{choices}',
    },
    "vote_none_open": {
        "fr": "Il n'y a aucune consultation ouverte en ce moment.",
        "en": "There is no open consultation at the moment.",
    },
    "vote_your_choice": {
        "fr": "Pour la consultation {reference}, votre choix actuel est « {choice} ».",
        "en": 'For consultation {reference}, your current choice is "{choice}".',
    },
    "vote_in_private": {
        "fr": (
            "Pour que personne d'autre ne voie votre choix, répondez à l'assistant en privé{link}."
        ),
        "en": "So that nobody else sees your choice, answer the assistant in private{link}.",
    },
    "result": {
        "fr": (
            "📊 Résultat de la consultation {reference} : {question}\n{lines}\n"
            "{participants} personnes ont répondu ({channels}). C'est l'avis des personnes qui "
            "ont participé, pas un sondage représentatif de la population.\n"
            "Ce que l'équipe va en faire : {purpose}\nMerci d'avoir participé."
        ),
        "en": (
            "📊 Result of consultation {reference}: {question}\n{lines}\n"
            "{participants} people answered ({channels}). It is the view of the people who took "
            "part, not a representative survey of the population.\n"
            "What the team will do with it: {purpose}\nThank you for taking part."
        ),
    },
    "result_open": {
        "fr": (
            "📊 La consultation {reference} est fermée : {question}\n{participants} personnes "
            "ont répondu. L'équipe lit chaque réponse ; un résumé sera publié dans le rapport "
            "public, sans aucun nom.\nCe que l'équipe va en faire : {purpose}\nMerci d'avoir "
            "participé."
        ),
        "en": (
            "📊 Consultation {reference} is closed: {question}\n{participants} people answered. "
            "The team reads every answer; a summary will be published in the public report, "
            "without any name.\nWhat the team will do with it: {purpose}\nThank you for taking "
            "part."
        ),
    },
    "idea_recorded": {
        "fr": (
            "Merci pour votre idée ! Elle est enregistrée sous la référence {reference} et "
            "transmise à l'équipe du projet, qui regroupe les idées semblables et peut les "
            "soumettre à toute la communauté dans une consultation."
        ),
        "en": (
            "Thank you for your idea! It is recorded under reference {reference} and passed to "
            "the project team, which groups similar ideas and may put them to the whole "
            "community in a consultation."
        ),
    },
    "idea_already": {
        "fr": "Votre idée est déjà enregistrée sous la référence {reference}.",
        "en": "Your idea is already recorded under reference {reference}.",
    },
    "volunteer_offer": {
        "fr": (
            "Merci de vouloir vous impliquer ! Le projet tient une liste de membres engagés : "
            "l'équipe peut les inviter aux rencontres, aux visites et au comité de suivi, par "
            "un message ici. Vous rejoindre veut dire que l'équipe garde votre pseudonyme sur "
            "cette plateforme et ce que vous choisirez de partager ; rien n'est publié. Vous "
            "pouvez quitter la liste à tout moment en écrivant « quitter la liste ».\n"
            "Voulez-vous rejoindre la liste ? Répondez « oui » ou « non »."
        ),
        "en": (
            "Thank you for wanting to get involved! The project keeps a list of engaged "
            "members: the team may invite them to meetings, site visits and the follow-up "
            "committee, with a message here. Joining means the team keeps your pseudonym on "
            "this platform and what you choose to share; nothing is published. You can leave "
            'the list at any time by writing "leave the list".\n'
            'Would you like to join the list? Answer "yes" or "no".'
        ),
    },
    "volunteer_support_offer": {
        "fr": (
            "Si vous souhaitez aller plus loin, vous pouvez rejoindre les membres engagés du "
            "projet (rencontres, visites, comité de suivi) : écrivez « je veux m'impliquer »."
        ),
        "en": (
            "If you would like to go further, you can join the project's engaged members "
            '(meetings, site visits, follow-up committee): write "I want to get involved".'
        ),
    },
    "volunteer_joined": {
        "fr": (
            "Bienvenue parmi les membres engagés ! L'équipe pourra vous inviter ici. Si vous le "
            "souhaitez, dites-nous en un message ce qui vous intéresse ou comment vous joindre, "
            "en commençant par « partager : ». Pour quitter la liste : « quitter la liste »."
        ),
        "en": (
            "Welcome among the engaged members! The team may invite you here. If you wish, tell "
            'us in one message what interests you or how to reach you, starting with "share:". '
            'To leave the list: "leave the list".'
        ),
    },
    "volunteer_already": {
        "fr": (
            "Vous faites déjà partie des membres engagés. Pour quitter la liste : « quitter la "
            "liste »."
        ),
        "en": 'You are already one of the engaged members. To leave the list: "leave the list".',
    },
    "volunteer_declined": {
        "fr": "Pas de problème, rien n'est enregistré. Vous pouvez changer d'avis quand vous voulez.",
        "en": "No problem, nothing is recorded. You can change your mind whenever you like.",
    },
    "volunteer_left": {
        "fr": (
            "C'est fait : vous ne faites plus partie des membres engagés, et ce que vous aviez "
            "partagé est effacé."
        ),
        "en": "Done: you are no longer one of the engaged members, and what you shared is erased.",
    },
    "volunteer_not_member": {
        "fr": "Vous ne faites pas partie des membres engagés : il n'y a rien à retirer.",
        "en": "You are not one of the engaged members: there is nothing to remove.",
    },
    "volunteer_invitation": {
        "fr": (
            "📣 Aux membres engagés du projet : {text}\n(Vous recevez ce message parce que vous "
            "avez rejoint la liste ; pour la quitter : « quitter la liste ».)"
        ),
        "en": (
            "📣 To the project's engaged members: {text}\n(You receive this because you joined "
            'the list; to leave it: "leave the list".)'
        ),
    },
    "volunteer_shared": {
        "fr": "Merci, c'est noté pour l'équipe : « {shared} ».",
        "en": 'Thank you, noted for the team: "{shared}".',
    },
}


def say(key: str, language: str, **values: Any) -> str:
    """The phrase `key` in `language` (French when the language is not served)."""
    variants = PHRASES[key]
    return variants.get(language, variants["fr"]).format(**values)
