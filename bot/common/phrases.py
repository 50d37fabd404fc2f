"""What the application itself says (the dialogue's fixed replies live in the Rasa domain).

Each phrase exists in every served language; `say` picks one and fills it in.
"""

from __future__ import annotations

from datetime import date
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
            "(catégorie : {category}). L'équipe du projet s'engage à vous répondre ici au plus tard "
            "le {respond_by}. Gardez ce numéro pour suivre votre dossier : demandez-moi « où en est "
            "{reference} ? »."
        ),
        "en": (
            "Thank you for telling us. I have recorded your concern under reference {reference} "
            "(category: {category}). The project team commits to answering you here by "
            '{respond_by}. Keep this reference to follow it up: ask me "what is the status of '
            '{reference}?".'
        ),
    },
    "objection_recorded": {
        "fr": (
            "Merci de nous faire part de votre avis. J'ai enregistré votre objection sous le numéro "
            "{reference} (sujet : {category}) : l'équipe du projet la lira et s'engage à vous "
            "répondre ici au plus tard le {respond_by}. Gardez ce numéro pour suivre votre dossier : "
            "demandez-moi « où en est {reference} ? »."
        ),
        "en": (
            "Thank you for telling us what you think. I have recorded your objection under "
            "reference {reference} (subject: {category}): the project team will read it and "
            "commits to answering you here by {respond_by}. Keep this reference to follow it up: "
            'ask me "what is the status of {reference}?".'
        ),
    },
    "as_for_your_question": {
        "fr": "Quant à votre question :",
        "en": "As for your question:",
    },
    "no_reviewed_answer": {
        "fr": (
            "Je n'ai pas de réponse révisée par l'équipe du projet à cette question, et je préfère "
            "ne pas en inventer une. Je l'ai transmise à l'équipe, qui s'en sert pour compléter "
            "les réponses. Si vous voulez qu'une personne vous réponde, dites « parler à une "
            "personne »."
        ),
        "en": (
            "I have no answer reviewed by the project team to that question, and I would rather "
            "not make one up. I have passed it on to the team, who use it to complete the "
            'answers. If you would like a person to answer you, say "talk to a person".'
        ),
    },
    "passage_intro": {
        "fr": (
            "Je n'ai pas de réponse révisée à cette question, mais voici un extrait d'un document "
            "du projet, cité mot pour mot, qui en parle :"
        ),
        "en": (
            "I have no reviewed answer to that question, but here is an excerpt of one of the "
            "project's documents, quoted word for word, that speaks to it:"
        ),
    },
    "passage_source": {
        "fr": (
            "Extrait de « {title} » ({date}), page {page} : {url}. Ce n'est pas une réponse révisée "
            "par l'équipe; j'ai transmis votre question à l'équipe. Pour qu'une personne vous "
            "réponde, dites « parler à une personne »."
        ),
        "en": (
            'Excerpt from "{title}" ({date}), page {page}: {url}. This is not an answer reviewed '
            "by the team; I have passed your question on to the team. For a person to answer "
            'you, say "talk to a person".'
        ),
    },
    "passage_source_unpaged": {
        "fr": (
            "Extrait de « {title} » ({date}) : {url}. Ce n'est pas une réponse révisée par "
            "l'équipe; j'ai transmis votre question à l'équipe. Pour qu'une personne vous "
            "réponde, dites « parler à une personne »."
        ),
        "en": (
            'Excerpt from "{title}" ({date}): {url}. This is not an answer reviewed by the team; '
            "I have passed your question on to the team. For a person to answer you, say "
            '"talk to a person".'
        ),
    },
    "answer_also": {
        "fr": "Aussi :",
        "en": "Also:",
    },
    "concern_not_heard": {
        "fr": (
            "Merci pour votre message, je l'ai bien reçu. Si vous voulez signaler un problème ou "
            "une préoccupation au sujet du projet, décrivez-le-moi : je l'enregistrerai avec un "
            "numéro de suivi. Vous pouvez aussi demander à parler à une personne."
        ),
        "en": (
            "Thank you for your message, I have received it. If you want to report a problem or a "
            "concern about the project, describe it to me: I will record it with a reference "
            "number. You can also ask to talk to a person."
        ),
    },
    "concern_detail_added": {
        "fr": (
            "J'ai ajouté ce message à votre préoccupation {reference}, toujours ouverte : l'équipe "
            "du projet le lira avec le reste. Réponse promise au plus tard le {respond_by}."
        ),
        "en": (
            "I have added this message to your concern {reference}, which is still open: the "
            "project team will read it with the rest. Answer promised by {respond_by}."
        ),
    },
    "concern_acknowledged": {
        "fr": (
            "Une personne de l'équipe du projet a pris en charge votre préoccupation {reference}. "
            "Vous aurez une réponse ici au plus tard le {date}."
        ),
        "en": (
            "A person of the project team has taken up your concern {reference}. You will have an "
            "answer here by {date}."
        ),
    },
    "concern_response": {
        "fr": "Réponse de l'équipe du projet à votre préoccupation {reference} :",
        "en": "The project team's answer to your concern {reference}:",
    },
    "concern_closed": {
        "fr": (
            "Votre préoccupation {reference} est maintenant fermée ({outcome}). Si la réponse vous "
            "convient, écrivez « j'accepte {reference} ». Sinon, vous pouvez faire appel : écrivez "
            "« appel {reference} » et le dossier sera réexaminé."
        ),
        "en": (
            "Your concern {reference} is now closed ({outcome}). If the answer suits you, write "
            '"I accept {reference}". If not, you can appeal: write "appeal {reference}" and it '
            "will be reviewed again."
        ),
    },
    "concern_news_in_private": {
        "fr": (
            "L'équipe du projet a du nouveau sur la préoccupation {reference}. Son auteur peut le "
            "lire en m'écrivant en privé : « où en est {reference} ? »."
        ),
        "en": (
            "The project team has news on concern {reference}. Its author can read it by writing "
            'to me in private: "what is the status of {reference}?".'
        ),
    },
    "concern_withdrawn": {
        "fr": "C'est noté : votre préoccupation {reference} est retirée. Merci de nous avoir écrit.",
        "en": "Done: your concern {reference} is withdrawn. Thank you for writing to us.",
    },
    "concern_appealed": {
        "fr": (
            "Votre appel est enregistré : la préoccupation {reference} est rouverte et sera "
            "réexaminée par l'équipe du projet."
        ),
        "en": (
            "Your appeal is recorded: concern {reference} is reopened and will be reviewed again "
            "by the project team."
        ),
    },
    "concern_accepted": {
        "fr": "Merci, c'est noté : vous acceptez la réponse à la préoccupation {reference}.",
        "en": "Thank you, noted: you accept the answer to concern {reference}.",
    },
    "concern_follow_up_refused": {
        "fr": "La préoccupation {reference} est {status} : je ne peux pas faire cela maintenant.",
        "en": "Concern {reference} is {status}: I cannot do that now.",
    },
    "concern_latest_response": {
        "fr": "Dernière réponse de l'équipe ({date}) : {text}",
        "en": "The team's latest answer ({date}): {text}",
    },
    "concern_next_deadline": {
        "fr": "Réponse promise au plus tard le {date}.",
        "en": "Answer promised by {date}.",
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
    "handoff_requested": {
        "fr": (
            "J'ai demandé à une personne de l'équipe du projet de se joindre à cette conversation{why}. "
            "{when} D'ici là, je me tais ici : tout ce que vous écrivez est transmis à l'équipe, "
            "rien ne sera perdu."
        ),
        "en": (
            "I have asked a person from the project team to join this conversation{why}. {when} "
            "Until then I will stay quiet here: everything you write goes to the team, nothing is lost."
        ),
    },
    "handoff_why_urgent": {
        "fr": " parce que vous parlez d'un danger",
        "en": " because you mention a danger",
    },
    "handoff_why_negative": {
        "fr": " parce que votre message mérite une réponse d'une personne",
        "en": " because your message deserves an answer from a person",
    },
    "handoff_why_not_understood": {
        "fr": " parce que je ne comprends pas bien votre demande",
        "en": " because I do not understand your request well",
    },
    "handoff_why_category": {
        "fr": " parce qu'une question de {category} demande une personne",
        "en": " because a {category} matter needs a person",
    },
    "handoff_when_open": {
        "fr": "Une personne se joint habituellement en moins de {minutes} minutes.",
        "en": "A person usually joins within {minutes} minutes.",
    },
    "handoff_when_closed": {
        "fr": "L'équipe est absente en ce moment ({hours}) : attendez-vous à une réponse à partir du {when}.",
        "en": "The team is away right now ({hours}): expect an answer from {when}.",
    },
    "handoff_emergency": {
        "fr": "Si quelqu'un est en danger maintenant, appelez le {number} sans attendre.",
        "en": "If anyone is in danger right now, call {number} without waiting.",
    },
    "handoff_still_waiting": {
        "fr": "Votre message est transmis à l'équipe ({reference}). {when}",
        "en": "Your message has been passed on to the team ({reference}). {when}",
    },
    "handoff_joined": {
        "fr": "{name} s'est joint(e) à la conversation. Vous échangez maintenant avec une personne, plus avec l'assistant automatisé.",
        "en": "{name} has joined the conversation. You are now talking with a person, not the automated assistant.",
    },
    "handoff_left": {
        "fr": "{name} a quitté la conversation. L'assistant automatisé reprend : posez-moi vos questions sur le projet.",
        "en": "{name} has left the conversation. The automated assistant is back: ask me your questions about the project.",
    },
    "handoff_rate": {
        "fr": "Si vous le voulez bien, notez l'aide reçue de 1 (pas utile) à 5 (très utile) en répondant par un chiffre. C'est facultatif.",
        "en": "If you wish, rate the help you received from 1 (not helpful) to 5 (very helpful) by answering with a number. It is optional.",
    },
    "handoff_rated": {
        "fr": "Merci pour votre note ({score}/5). Elle aide l'équipe à s'améliorer.",
        "en": "Thank you for your rating ({score}/5). It helps the team improve.",
    },
    "staff_says": {"fr": "{name} : {text}", "en": "{name}: {text}"},
    "team_member": {"fr": "Un membre de l'équipe du projet", "en": "A member of the project team"},
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
    # Project news (bot.updates.subscriptions). {stop} is "updates_how_to_stop".
    "subscribed": {
        "fr": (
            "C'est noté : vous recevrez toutes les nouvelles du projet ici, dans cette "
            "conversation. {stop}"
        ),
        "en": "Done: you will receive all project news here, in this conversation. {stop}",
    },
    "subscribed_topics": {
        "fr": (
            "C'est noté : vous recevrez ici les nouvelles du projet sur : {topics} (et les "
            "annonces générales). {stop}"
        ),
        "en": (
            "Done: you will receive project news here on: {topics} (and general "
            "announcements). {stop}"
        ),
    },
    "already_subscribed": {
        "fr": (
            "Vous êtes déjà abonné à toutes les nouvelles du projet dans cette conversation. {stop}"
        ),
        "en": "You are already subscribed to all project news in this conversation. {stop}",
    },
    "already_subscribed_all_topics": {
        "fr": "Vous recevez déjà toutes les nouvelles du projet ici, y compris : {topics}. {stop}",
        "en": "You already receive all project news here, including: {topics}. {stop}",
    },
    "already_subscribed_topics": {
        "fr": "Vous êtes déjà abonné ici aux nouvelles sur : {topics}. {stop}",
        "en": "You are already subscribed here to news on: {topics}. {stop}",
    },
    "unsubscribed": {
        "fr": "C'est fait : vous ne recevrez plus les nouvelles du projet ici.",
        "en": "Done: you will no longer receive project news here.",
    },
    "unsubscribed_topics": {
        "fr": (
            "C'est fait : vous ne recevrez plus ici les nouvelles sur : {removed}. Vous recevez "
            "encore : {topics} (et les annonces générales). {stop}"
        ),
        "en": (
            "Done: you will no longer receive news on {removed} here. You still receive: "
            "{topics} (and general announcements). {stop}"
        ),
    },
    "unsubscribed_last_topic": {
        "fr": (
            "C'est fait : vous ne recevrez plus les nouvelles sur {removed}, votre seul sujet : "
            "vous n'êtes plus abonné aux nouvelles du projet ici."
        ),
        "en": (
            "Done: you will no longer receive news on {removed}, your only topic: you are no "
            "longer subscribed to project news here."
        ),
    },
    "not_subscribed_to_topics": {
        "fr": (
            "Vous n'étiez pas abonné aux nouvelles sur : {removed}. Vous recevez ici : {topics} "
            "(et les annonces générales). {stop}"
        ),
        "en": (
            "You were not subscribed to news on: {removed}. Here you receive: {topics} (and "
            "general announcements). {stop}"
        ),
    },
    "not_subscribed": {
        "fr": (
            "Vous n'êtes pas abonné aux nouvelles du projet dans cette conversation. Pour vous "
            "abonner, écrivez « abonnez-moi »{command}."
        ),
        "en": (
            "You are not subscribed to project news in this conversation. To subscribe, write "
            '"subscribe me"{command}.'
        ),
    },
    "updates_group_subscribed_by_other": {
        "fr": (
            "Ce groupe reçoit les nouvelles du projet parce qu'un autre membre s'y est abonné : "
            "lui seul peut les arrêter."
        ),
        "en": (
            "This group receives project news because another member subscribed here: only "
            "they can stop it."
        ),
    },
    "updates_in_group": {
        "fr": (
            "Comme l'abonnement est fait dans ce groupe, les nouvelles y seront publiées et tous "
            "ses membres les verront. Pour les recevoir en privé, écrivez-moi en privé."
        ),
        "en": (
            "As you subscribed in this group, the news will be posted in this group, where every "
            "member will see it. To receive it in private, write to me in private."
        ),
    },
    "updates_how_to_stop": {
        "fr": "Pour arrêter, écrivez « désabonnez-moi »{command}.",
        "en": 'To stop, write "unsubscribe"{command}.',
    },
    "updates_or_command": {"fr": " ou /{name}", "en": " or /{name}"},
    "updates_unknown_topic": {
        "fr": (
            "Je ne connais pas ce sujet. Les sujets sont : {topics}. Écrivez par exemple "
            "/{command} {example}, ou /{command} seul pour {everything}."
        ),
        "en": (
            "I do not know that topic. The topics are: {topics}. Write for example "
            "/{command} {example}, or just /{command} for {everything}."
        ),
    },
    "updates_everything_subscribe": {"fr": "toutes les nouvelles", "en": "all news"},
    "updates_everything_unsubscribe": {"fr": "tout arrêter", "en": "stopping everything"},
    "updates_no_topics": {
        "fr": (
            "Ce projet ne classe pas ses nouvelles par sujet : l'abonnement porte sur toutes ses "
            "nouvelles."
        ),
        "en": "This project does not sort its news by topic: a subscription is to all its news.",
    },
    "updates_no_topics_unsubscribe": {
        "fr": (
            "Ce projet ne classe pas ses nouvelles par sujet : /unsubscribe seul arrête toutes "
            "ses nouvelles."
        ),
        "en": "This project does not sort its news by topic: /unsubscribe alone stops all its news.",
    },
    "update_news": {
        "fr": "📢 Nouvelles du projet {project}{topic} ({reference}) :\n{text}{hashtag}\n\n{stop}",
        "en": "📢 {project} news{topic} ({reference}):\n{text}{hashtag}\n\n{stop}",
    },
    "update_news_hashtag": {
        "fr": "\n\nPour en parler ailleurs et suivre la conversation : {hashtag}",
        "en": "\n\nTo talk about it elsewhere and follow the conversation: {hashtag}",
    },
    "update_news_topic": {"fr": " · {name}", "en": " · {name}"},
    "update_news_stop": {
        "fr": "Pour ne plus recevoir ces nouvelles, écrivez « désabonnez-moi »{command}.",
        "en": 'To stop receiving this news, write "unsubscribe"{command}.',
    },
    "forget_me_confirm": {
        "fr": (
            "Je peux effacer maintenant vos identifiants et le contenu de vos conversations sur ce "
            "canal. Vos préoccupations resteront dans le registre du projet, mais sous forme "
            "anonyme (catégorie, dates, suites données), sans vos mots ni votre identité. "
            "Confirmez-vous l'effacement? Répondez « oui » pour effacer ou « non » pour annuler."
        ),
        "en": (
            "I can now erase your identifiers and the content of your conversations on this "
            "channel. Your concerns will stay in the project's register, but only in anonymous "
            "form (category, dates, what was done), without your words or your identity. Do you "
            'confirm the erasure? Answer "yes" to erase or "no" to cancel.'
        ),
    },
    "forget_me_done": {
        "fr": (
            "C'est fait : vos identifiants et vos messages sur ce canal sont effacés "
            "({messages} messages, {concerns} préoccupations rendues anonymes). Numéro de reçu "
            "d'effacement : {receipt}, le {date}. Si vous m'écrivez de nouveau, ce sera une "
            "nouvelle conversation."
        ),
        "en": (
            "Done: your identifiers and your messages on this channel are erased ({messages} "
            "messages, {concerns} concerns made anonymous). Erasure receipt number: {receipt}, "
            "on {date}. If you write to me again, it will be a new conversation."
        ),
    },
    "forget_me_cancelled": {
        "fr": "D'accord, je n'efface rien.",
        "en": "All right, nothing is erased.",
    },
    "privacy_notice": {
        "fr": (
            "Je suis l'assistant automatisé du projet (un robot). Vos messages sont conservés "
            "pour l'équipe du projet, qui seule les lit, pendant au plus {days} jours après notre "
            "dernier échange. Écrivez « effacez mes données » pour les faire effacer."
        ),
        "en": (
            "I am the project's automated assistant (a bot). Your messages are kept for the "
            "project team, who alone read them, for at most {days} days after our last exchange. "
            'Write "erase my data" to have them erased.'
        ),
    },
    "intro": {
        "fr": (
            "Bonjour! Je suis l'assistant automatisé du projet {name} : un robot, pas une personne. "
            "Je réponds à partir des documents révisés du projet, en citant mes sources, je note vos "
            "préoccupations et je vous mets en contact avec l'équipe si vous le souhaitez. "
            "Vos messages sont conservés pour l'équipe du projet, qui seule les lit, pendant au "
            "plus {days} jours; écrivez « effacez mes données » pour les faire effacer. {notice}"
        ),
        "en": (
            "Hello! I am the automated assistant of the {name} project: a bot, not a person. "
            "I answer from the project's reviewed documents, citing my sources, I log your concerns "
            "and I put you in touch with the team if you wish. Your messages are kept for the "
            'project team, who alone read them, for at most {days} days; write "erase my data" '
            "to have them erased. {notice}"
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
        "fr": "reçue, en attente de prise en charge par l'équipe du projet",
        "en": "received, waiting to be taken up by the project team",
    },
    "acknowledged": {
        "fr": "prise en charge par l'équipe du projet",
        "en": "taken up by the project team",
    },
    "in_review": {"fr": "à l'étude", "en": "being looked into"},
    "responded": {"fr": "répondue", "en": "answered"},
    "closed": {"fr": "fermée", "en": "closed"},
}

OUTCOME_NAMES: dict[str, dict[str, str]] = {
    "resolved": {"fr": "résolue", "en": "resolved"},
    "unresolved": {"fr": "non résolue", "en": "unresolved"},
    "withdrawn": {"fr": "retirée", "en": "withdrawn"},
}

CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "noise": {"fr": "bruit", "en": "noise"},
    "environment": {"fr": "environnement", "en": "environment"},
    "water": {"fr": "eau", "en": "water"},
    "landscape": {"fr": "paysage", "en": "landscape"},
    "traffic": {"fr": "circulation", "en": "traffic"},
    "property_value": {"fr": "valeur foncière", "en": "property value"},
    "property_damage": {"fr": "dommages aux biens", "en": "property damage"},
    "health_safety": {"fr": "santé et sécurité", "en": "health and safety"},
    "economy": {"fr": "économie", "en": "economy"},
    "process": {"fr": "processus et consultation", "en": "process and consultation"},
    "other": {"fr": "autre", "en": "other"},
}


# The kinds of concern of the contract: a harm to the citizen, or an objection to the project.
KIND_NAMES: dict[str, dict[str, str]] = {
    "grievance": {"fr": "plainte", "en": "grievance"},
    "objection": {"fr": "objection", "en": "objection"},
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

MONTH_NAMES: dict[str, tuple[str, ...]] = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def say(key: str, language: str, **values: Any) -> str:
    """The phrase `key` in `language` (French when the language is not served)."""
    variants = PHRASES[key]
    return variants.get(language, variants["fr"]).format(**values)


def long_date(day: date, language: str) -> str:
    """16 November 2026, 1er novembre 2026."""
    month = MONTH_NAMES[language][day.month - 1]
    if language == "fr":
        return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"
    return f"{day.day} {month} {day.year}"
