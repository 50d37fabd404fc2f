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
    "intro": {
        "fr": (
            "Bonjour! Je suis l'assistant automatisé du projet {name} : un robot, pas une personne. "
            "Je réponds à partir des documents révisés du projet, en citant mes sources, je note vos "
            "préoccupations et je vous mets en contact avec l'équipe si vous le souhaitez. "
            "Vos messages sont conservés pour l'équipe du projet. {notice}"
        ),
        "en": (
            "Hello! I am the automated assistant of the {name} project: a bot, not a person. "
            "I answer from the project's reviewed documents, citing my sources, I log your concerns "
            "and I put you in touch with the team if you wish. Your messages are kept for the "
            "project team. {notice}"
        ),
    },
    "choose_language": {
        "fr": "Dans quelle langue voulez-vous échanger? / Which language would you like to use?",
        "en": "Which language would you like to use? / Dans quelle langue voulez-vous échanger?",
    },
    "help": {
        "fr": (
            "Je suis un assistant automatisé. Posez-moi vos questions sur le projet (calendrier, "
            "bruit, environnement, circulation, emplois, consultations...) : je réponds à partir des "
            "documents du projet et je cite mes sources. Décrivez-moi une préoccupation et je "
            "l'enregistre avec un numéro de suivi. Écrivez « parler à quelqu'un » pour joindre "
            "une personne de l'équipe.\n\nCommandes :\n{commands}"
        ),
        "en": (
            "I am an automated assistant. Ask me about the project (schedule, noise, environment, "
            "traffic, jobs, consultations...): I answer from the project's documents and cite my "
            'sources. Describe a concern and I record it with a reference number. Write "talk to '
            'a person" to reach someone from the team.\n\nCommands:\n{commands}'
        ),
    },
    "unknown_command": {
        "fr": "Je ne connais pas cette commande. Voici ce que je sais faire.",
        "en": "I do not know that command. Here is what I can do.",
    },
    "attachment_only": {
        "fr": (
            "Merci. Pour l'instant, je ne comprends que le texte : je ne peux pas lire votre {kind}. "
            "Je l'ai conservé pour l'équipe du projet, qui pourra le consulter. Si vous le "
            "souhaitez, décrivez-moi en quelques mots ce dont il s'agit."
        ),
        "en": (
            "Thank you. For now I only understand text: I cannot read your {kind}. I have kept it "
            "for the project team, who can look at it. If you wish, tell me in a few words what "
            "it is about."
        ),
    },
    "attachment_kept": {
        "fr": "Je ne peux pas lire votre {kind}, mais je l'ai conservé pour l'équipe du projet.",
        "en": "I cannot read your {kind}, but I have kept it for the project team.",
    },
    "sticker": {
        "fr": "Merci! Pour l'instant, je ne comprends que le texte : écrivez-moi votre question.",
        "en": "Thank you! For now I only understand text: write me your question.",
    },
    "edit_of_concern": {
        "fr": (
            "J'ai vu que vous avez modifié votre message. Votre modification est conservée avec "
            "votre préoccupation {reference} : l'équipe du projet verra les deux versions."
        ),
        "en": (
            "I saw that you edited your message. Your edit is kept with your concern "
            "{reference}: the project team will see both versions."
        ),
    },
    "concern_recorded_public": {
        "fr": (
            "Merci, c'est noté sous le numéro {reference}. Pour ne pas exposer vos renseignements "
            "personnels ici, poursuivons le suivi en privé{link}."
        ),
        "en": (
            "Thank you, this is recorded under reference {reference}. To keep your personal "
            "details out of this group, let us follow up in private{link}."
        ),
    },
    "continue_in_private": {
        "fr": (
            "C'est une question personnelle : pour ne pas exposer vos renseignements ici, "
            "poursuivons en privé{link}."
        ),
        "en": (
            "This is a personal matter: to keep your details out of this group, let us continue "
            "in private{link}."
        ),
    },
    "private_link": {
        "fr": " : {url}",
        "en": ": {url}",
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


ATTACHMENT_NAMES: dict[str, dict[str, str]] = {
    "photo": {"fr": "photo", "en": "photo"},
    "video": {"fr": "vidéo", "en": "video"},
    "voice": {"fr": "message vocal", "en": "voice message"},
    "audio": {"fr": "fichier audio", "en": "audio file"},
    "document": {"fr": "document", "en": "document"},
    "location": {"fr": "position", "en": "location"},
    "contact": {"fr": "contact", "en": "contact"},
    "sticker": {"fr": "autocollant", "en": "sticker"},
    "file": {"fr": "fichier", "en": "file"},
}


def say(key: str, language: str, **values: Any) -> str:
    """The phrase `key` in `language` (French when the language is not served)."""
    variants = PHRASES[key]
    return variants.get(language, variants["fr"]).format(**values)
