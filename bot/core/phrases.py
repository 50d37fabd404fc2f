"""What the application itself says (the dialogue's fixed replies live in the Rasa domain).

Each phrase exists in every served language; `say` picks one and fills it in.
"""

from __future__ import annotations

from typing import Any

PHRASES: dict[str, dict[str, str]] = {
    "empty_message": {
        "fr": "Je n'ai reçu aucun texte. Écrivez-moi votre question ou votre préoccupation sur le projet.",
        "en": "I did not receive any text. Write me your question or your concern about the project.",
    },
    "engine_unavailable": {
        "fr": (
            "Je suis désolé, je ne peux pas répondre pour le moment (problème technique de mon côté). "
            "Votre message est bien enregistré et une personne de l'équipe du projet y donnera suite."
        ),
        "en": (
            "I am sorry, I cannot answer right now (a technical problem on my side). "
            "Your message is saved and a person from the project team will follow up on it."
        ),
    },
    "concern_recorded": {
        "fr": (
            "Merci de nous en faire part. J'ai enregistré votre préoccupation sous le numéro {reference} "
            "(catégorie : {category}). L'équipe du projet la lira et vous répondra ici. Gardez ce numéro "
            "pour suivre votre dossier : demandez-moi « où en est {reference} ? »."
        ),
        "en": (
            "Thank you for telling us. I have recorded your concern under reference {reference} "
            "(category: {category}). The project team will read it and answer you here. Keep this "
            'reference to follow it up: ask me "what is the status of {reference}?".'
        ),
    },
    "related_answer": {
        "fr": "En attendant, voici ce que disent les documents du projet à ce sujet :",
        "en": "Meanwhile, here is what the project's documents say on this subject:",
    },
    "concern_status_one": {
        "fr": "Votre préoccupation {reference} ({category}), reçue le {date} : {status}.",
        "en": "Your concern {reference} ({category}), received on {date}: {status}.",
    },
    "concern_status_none": {
        "fr": (
            "Je ne trouve aucune préoccupation enregistrée à votre nom sur ce canal. Si vous en avez "
            "une, décrivez-la-moi et je l'enregistrerai avec un numéro de suivi."
        ),
        "en": (
            "I cannot find any concern recorded for you on this channel. If you have one, describe "
            "it to me and I will record it with a reference number."
        ),
    },
    "concern_status_not_yours": {
        "fr": (
            "Je ne trouve pas de préoccupation {reference} parmi les vôtres. Je ne peux donner l'état "
            "que des préoccupations enregistrées dans vos propres conversations."
        ),
        "en": (
            "I cannot find a concern {reference} among yours. I can only give the status of "
            "concerns recorded in your own conversations."
        ),
    },
    "unknown_question": {
        "fr": (
            "Je ne suis pas certain d'avoir compris, et je préfère ne pas inventer de réponse. "
            "J'ai noté votre question pour l'équipe du projet. Voulez-vous que je la transmette "
            "à une personne qui vous répondra ici? (oui / non)"
        ),
        "en": (
            "I am not sure I understood, and I would rather not make up an answer. I have noted "
            "your question for the project team. Would you like me to pass it to a person who "
            "will answer you here? (yes / no)"
        ),
    },
    "out_of_scope": {
        "fr": (
            "Ça sort de ce que je connais : je réponds seulement aux questions sur le projet "
            "{project} (calendrier, emplacement, bruit, environnement, circulation, emplois, "
            "retombées, consultation, documents). Si votre question touche le projet, "
            "reformulez-la ou demandez à parler à une personne."
        ),
        "en": (
            "That is outside what I know: I only answer questions about the {project} project "
            "(schedule, location, noise, environment, traffic, jobs, benefits, consultation, "
            "documents). If your question is about the project, rephrase it or ask to talk "
            "to a person."
        ),
    },
    "human_requested": {
        "fr": (
            "C'est noté : j'ai demandé à une personne de l'équipe du projet de prendre le relais "
            "dans cette conversation. L'équipe répond habituellement dans un délai d'un jour "
            "ouvrable ({hours}). Vous pouvez continuer à écrire ici : rien ne sera perdu. "
            "Pour joindre l'équipe directement : {contact}."
        ),
        "en": (
            "Done: I have asked a person from the project team to take over this conversation. "
            "The team usually answers within one business day ({hours}). You can keep writing "
            "here: nothing will be lost. To reach the team directly: {contact}."
        ),
    },
    "language_switched": {
        "fr": "D'accord, je vous réponds maintenant en français. Quelle est votre question?",
        "en": "All right, I will answer in English from now on. What is your question?",
    },
    "subscribed": {
        "fr": (
            "C'est noté : vous recevrez les nouvelles du projet ici, dans cette conversation. "
            "Pour arrêter, écrivez « désabonnez-moi »."
        ),
        "en": (
            "Done: you will receive project news here, in this conversation. To stop, write "
            '"unsubscribe".'
        ),
    },
    "already_subscribed": {
        "fr": "Vous êtes déjà abonné aux nouvelles du projet dans cette conversation.",
        "en": "You are already subscribed to project news in this conversation.",
    },
    "unsubscribed": {
        "fr": "C'est fait : vous ne recevrez plus les nouvelles du projet ici.",
        "en": "Done: you will no longer receive project news here.",
    },
    "not_subscribed": {
        "fr": "Vous n'êtes pas abonné aux nouvelles du projet dans cette conversation.",
        "en": "You are not subscribed to project news in this conversation.",
    },
    "forget_me_requested": {
        "fr": (
            "J'ai transmis votre demande d'effacement de vos données personnelles à l'équipe du "
            "projet, qui la traitera et vous confirmera ici quand ce sera fait. Les préoccupations "
            "que vous avez signalées ne seront conservées que sous forme anonyme."
        ),
        "en": (
            "I have passed your request to erase your personal data to the project team, who "
            "will process it and confirm here when it is done. Any concerns you reported will "
            "only be kept in anonymous form."
        ),
    },
}

STATUS_NAMES: dict[str, dict[str, str]] = {
    "received": {
        "fr": "reçue, en attente de traitement par l'équipe du projet",
        "en": "received, waiting to be handled by the project team",
    },
}

CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "noise": {"fr": "bruit", "en": "noise"},
    "environment": {"fr": "environnement", "en": "environment"},
    "water": {"fr": "eau", "en": "water"},
    "landscape": {"fr": "paysage", "en": "landscape"},
    "traffic": {"fr": "circulation", "en": "traffic"},
    "property_value": {"fr": "valeur foncière", "en": "property value"},
    "health_safety": {"fr": "santé et sécurité", "en": "health and safety"},
    "economy": {"fr": "économie", "en": "economy"},
    "process": {"fr": "processus et consultation", "en": "process and consultation"},
    "other": {"fr": "autre", "en": "other"},
}


def say(key: str, language: str, **values: Any) -> str:
    """The phrase `key` in `language` (French when the language is not served)."""
    variants = PHRASES[key]
    return variants.get(language, variants["fr"]).format(**values)
