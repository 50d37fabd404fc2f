"""Subscribing to project news in chat, read as conversations: everything or topics, in French
and in English, in words or with /subscribe and /unsubscribe, in private and in a group."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage, Place
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.storage.models import Conversation, Subscription
from tests.support.updates import (
    NewsDialogue,
    news_core,
)


@pytest.fixture
def core(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> ConversationCore:
    return news_core(database, detector, knowledge)


class Citizen:
    """Someone writing to the assistant on one channel."""

    def __init__(
        self,
        core: ConversationCore,
        channel: str,
        key: str,
        *,
        place: Place = "private",
        language: str | None = None,
    ) -> None:
        self.core = core
        self.channel = channel
        self.key = key
        self.place = place
        self.language = language
        self._count = 0

    def _message(self, text: str) -> IncomingMessage:
        self._count += 1
        return IncomingMessage(
            channel=self.channel,
            conversation_key=self.key,
            sender_key=f"{self.channel}-{self.key}",
            text=text,
            external_id=f"{self.key}:{self._count}",
            place=self.place,
            language_choice=self.language if self._count == 1 else None,
        )

    async def says(self, text: str) -> str:
        result = await self.core.handle(self._message(text))
        return "\n".join(reply.text for reply in result.replies)

    async def types(self, command: str) -> str:
        name, _, argument = command.removeprefix("/").partition(" ")
        result = await self.core.command(self._message(command), name, argument)
        return "\n".join(reply.text for reply in result.replies)

    def subscription(self) -> Subscription | None:
        with self.core.session() as session:
            conversation = session.exec(
                select(Conversation).where(
                    Conversation.channel == self.channel, Conversation.external_id == self.key
                )
            ).one()
            return session.exec(
                select(Subscription).where(Subscription.conversation_id == conversation.id)
            ).first()

    def follows(self) -> list[str] | None:
        """The topics followed ([] = all news), None when not subscribed."""
        found = self.subscription()
        if found is None or not found.active:
            return None
        return list(found.topics)


async def test_keep_me_posted_in_french_subscribes_to_all_news(core: ConversationCore) -> None:
    julie = Citizen(core, "web", "julie-0001")
    answer = await julie.says("Tenez-moi au courant")
    assert "toutes les nouvelles du projet ici" in answer
    assert "« désabonnez-moi »" in answer
    assert "/unsubscribe" not in answer  # the web chat has no commands
    assert julie.follows() == []

    again = await julie.says("Tenez-moi au courant")
    assert "déjà abonné à toutes les nouvelles" in again


async def test_a_topic_named_in_the_message_is_what_is_followed(core: ConversationCore) -> None:
    julie = Citizen(core, "web", "julie-0002")
    answer = await julie.says("Abonnez-moi aux avis de dynamitage")
    assert "nouvelles du projet sur : dynamitage (et les annonces générales)" in answer
    assert julie.follows() == ["blasting"]

    more = await julie.says("Je veux aussi être avisé des fermetures de routes")
    assert "sur : fermetures de routes, dynamitage" in more
    assert julie.follows() == ["road_closures", "blasting"]

    fewer = await julie.says("Désabonnez-moi du dynamitage")
    assert "ne recevrez plus ici les nouvelles sur : dynamitage" in fewer
    assert "Vous recevez encore : fermetures de routes" in fewer
    assert julie.follows() == ["road_closures"]

    last = await julie.says("Plus de nouvelles sur les routes svp")
    assert "votre seul sujet" in last
    assert julie.follows() is None


async def test_in_english_with_and_without_topics(core: ConversationCore) -> None:
    sam = Citizen(core, "web", "sam-000001", language="en")
    answer = await sam.says("I'd like notifications when the roads will be closed")
    assert "project news here on: road closures (and general announcements)" in answer
    assert 'To stop, write "unsubscribe".' in answer
    assert sam.follows() == ["road_closures"]

    everything = await sam.says("Keep me posted")
    assert "all project news here" in everything
    assert sam.follows() == []

    # From all news, leaving one topic keeps every other one.
    without = await sam.says("Unsubscribe me from the blasting alerts")
    assert "no longer receive news on blasting" in without
    assert (
        "You still receive: road closures, works schedule, consultation meetings, "
        "jobs and contracts" in without
    )
    assert sam.follows() == ["road_closures", "works_schedule", "consultation_meetings", "jobs"]

    stop = await sam.says("Unsubscribe")
    assert stop == "Done: you will no longer receive project news here."
    assert sam.follows() is None
    not_any = await sam.says("Unsubscribe")
    assert "You are not subscribed to project news" in not_any
    assert sam.follows() is None


async def test_subscribe_commands_in_both_languages(core: ConversationCore) -> None:
    marc = Citizen(core, "telegram", "1001")
    answer = await marc.types("/subscribe dynamitage")
    assert "sur : dynamitage" in answer
    assert "« désabonnez-moi » ou /unsubscribe" in answer
    assert marc.follows() == ["blasting"]

    same = await marc.types("/subscribe BLASTING")
    assert "déjà abonné ici aux nouvelles sur : dynamitage" in same
    assert marc.follows() == ["blasting"]

    accents = await marc.types("/subscribe Séances")
    assert "dynamitage, séances de consultation" in accents
    assert marc.follows() == ["blasting", "consultation_meetings"]

    everything = await marc.types("/subscribe tout")
    assert "toutes les nouvelles du projet ici" in everything
    assert marc.follows() == []

    await marc.types("/unsubscribe")
    assert marc.follows() is None

    alice = Citizen(core, "discord", "dm:555", language="en")
    await alice.says("Keep me posted")  # the first message sets her language
    answer = await alice.types("/unsubscribe road_closures")
    assert "no longer receive news on road closures" in answer
    assert 'To stop, write "unsubscribe" or /unsubscribe.' in answer


async def test_an_unknown_topic_lists_the_topics_and_changes_nothing(
    core: ConversationCore,
) -> None:
    marc = Citizen(core, "telegram", "1002")
    answer = await marc.types("/subscribe météo")
    assert answer == (
        "Je ne connais pas ce sujet. Les sujets sont : fermetures de routes, dynamitage, "
        "calendrier des travaux, séances de consultation, emplois et contrats. Écrivez par "
        "exemple /subscribe fermetures de routes, ou /subscribe seul pour toutes les nouvelles."
    )
    assert marc.subscription() is None

    await marc.types("/subscribe")
    unknown = await marc.types("/unsubscribe weather")
    assert "/unsubscribe seul pour tout arrêter" in unknown
    assert marc.follows() == []  # still subscribed to all news


async def test_unsubscribing_from_a_topic_not_followed_says_what_is(
    core: ConversationCore,
) -> None:
    marc = Citizen(core, "telegram", "1003")
    await marc.types("/subscribe emplois")
    answer = await marc.types("/unsubscribe dynamitage")
    assert "Vous n'étiez pas abonné aux nouvelles sur : dynamitage" in answer
    assert "Vous recevez ici : emplois et contrats" in answer
    assert marc.follows() == ["jobs"]


async def test_without_topics_in_the_knowledge_base_a_subscription_is_to_everything(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> None:
    core = ConversationCore(
        engine=database, dialogue=NewsDialogue(), detector=detector, first_contact_notice=False
    )
    marc = Citizen(core, "telegram", "1004")
    answer = await marc.types("/subscribe dynamitage")
    assert answer.startswith("Ce projet ne classe pas ses nouvelles par sujet")
    assert "toutes les nouvelles du projet ici" in answer
    assert marc.follows() == []
    refused = await marc.types("/unsubscribe dynamitage")
    assert "/unsubscribe seul arrête toutes ses nouvelles" in refused
    assert marc.follows() == []


async def test_a_subscription_made_in_a_group_is_delivered_in_the_group(
    core: ConversationCore,
) -> None:
    # In a group each member has their own conversation, keyed "<chat>:<member>".
    lea = Citizen(core, "telegram", "-100200:lea", place="group")
    answer = await lea.says("Tenez-moi au courant")
    assert "toutes les nouvelles du projet ici" in answer  # not "let us continue in private"
    assert "les nouvelles y seront publiées et tous ses membres les verront" in answer
    assert "écrivez-moi en privé" in answer
    assert lea.follows() == []

    # Another member cannot stop what Léa asked for, and is told why the group gets news.
    paul = Citizen(core, "telegram", "-100200:paul", place="group")
    answer = await paul.types("/unsubscribe")
    assert "Vous n'êtes pas abonné aux nouvelles du projet dans cette conversation" in answer
    assert "un autre membre s'y est abonné : lui seul peut les arrêter" in answer
    assert lea.follows() == []


async def test_help_lists_the_subscription_commands(core: ConversationCore) -> None:
    marc = Citizen(core, "telegram", "1005")
    answer = await marc.types("/help")
    assert "/subscribe : Recevoir les nouvelles du projet ici" in answer
    assert "/unsubscribe : Ne plus recevoir les nouvelles du projet" in answer
