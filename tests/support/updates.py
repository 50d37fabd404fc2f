"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.common.language import LanguageDetector
from bot.common.types import Interpretation
from bot.core.conversation import ConversationCore
from bot.dialogue.engine import DialogueReply
from bot.knowledge import KnowledgeBase
from bot.storage import repository
from bot.storage.models import (
    Conversation,
)
from bot.updates.subscriptions import Subscriptions
from tests.support.dialogue import ActingDialogue, scripted_core

BLASTING_FR = (
    "Dynamitage au chantier de l'éolienne T-07 le mardi 24 novembre entre 10 h et 14 h. "
    "Le chemin du Rang-Sainte-Anne sera fermé 15 minutes à chaque tir."
)


BLASTING_EN = (
    "Blasting at the T-07 turbine site on Tuesday, November 24, between 10 a.m. and 2 p.m. "
    "Chemin du Rang-Sainte-Anne will be closed for 15 minutes at each blast."
)


def subscribe(
    database: Engine,
    knowledge: KnowledgeBase,
    channel: str,
    key: str,
    text: str = "",
    *,
    language: str | None = None,
    place: str | None = None,
) -> Conversation:
    with Session(database, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel=channel, external_id=key, citizen_id=f"{channel}-{key}",
            place=place,
        )  # fmt: skip
        if language is not None:
            repository.set_conversation_language(
                session=session, conversation=conversation, language=language, pinned=False
            )
        Subscriptions(knowledge.update_topics).subscribe(
            session=session, conversation=conversation, text=text, language=language or "fr"
        )
        return conversation


def news_core(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> ConversationCore:
    """The conversation core with the project's update topics and the scripted dialogue."""
    return scripted_core(
        database,
        NewsDialogue(),
        detector,
        knowledge,
        subscriptions=Subscriptions(knowledge.update_topics),
    )


class NewsDialogue(ActingDialogue):
    """Runs the subscription actions through the real action server, as Rasa would."""

    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None = None,
    ) -> DialogueReply:
        lowered = text.lower()
        if lowered in SUBSCRIBE:
            intent, action = "subscribe_updates", "action_subscribe"
        elif lowered in UNSUBSCRIBE:
            intent, action = "unsubscribe_updates", "action_unsubscribe"
        else:
            return DialogueReply(["Les travaux commencent au printemps."], _read("faq/schedule"))
        assert self.actions is not None
        answer = await self.actions.run(
            {
                "next_action": action,
                "sender_id": sender_id,
                "tracker": {
                    "sender_id": sender_id,
                    "slots": {},
                    "latest_message": {
                        "text": text,
                        "intent": {"name": intent, "confidence": 0.95},
                        "metadata": dict(metadata),
                    },
                },
            }
        )
        return DialogueReply([r["text"] for r in answer["responses"]], _read(intent))

    async def parse(self, text: str) -> Interpretation:
        return _read("faq/schedule")

    async def is_ready(self) -> bool:
        return True


# What the scripted dialogue understands, the way the trained model does: a message asking for
# news is `subscribe_updates`, one asking to stop is `unsubscribe_updates`.
SUBSCRIBE = (
    "tenez-moi au courant",
    "abonnez-moi aux avis de dynamitage",
    "je veux aussi être avisé des fermetures de routes",
    "keep me posted",
    "i'd like notifications when the roads will be closed",
    "keep me posted about blasting",
)


UNSUBSCRIBE = (
    "désabonnez-moi",
    "désabonnez-moi du dynamitage",
    "plus de nouvelles sur les routes svp",
    "unsubscribe me from the blasting alerts",
    "unsubscribe",
)


def _read(intent: str) -> Interpretation:
    return Interpretation(intent=intent, confidence=0.95)
