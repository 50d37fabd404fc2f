"""The web application of the chat (and the action endpoint) on a test's core, for the tests that
speak HTTP to it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bot.channels.web.app import create_app
from bot.common.calendar import BusinessCalendar
from bot.core.actions import ActionServer
from bot.core.conversation import ConversationCore
from bot.dialogue.engine import DialogueEngine
from bot.knowledge import KnowledgeBase
from bot.register.service import Register


def chat_app(
    core: ConversationCore,
    dialogue: DialogueEngine,
    knowledge: KnowledgeBase,
    *,
    action_token: str | None = "t",
    **extra: Any,
) -> FastAPI:
    """The app answering through `core` and `dialogue`, its action endpoint behind
    `action_token`, in French and English; `extra` goes to `create_app`."""
    engine = core._db
    actions = ActionServer(
        engine=engine,
        knowledge=knowledge,
        register=Register(engine=engine, calendar=BusinessCalendar()),
        languages=("fr", "en"),
        default_language="fr",
    )
    return create_app(
        core=core,
        actions=actions,
        dialogue=dialogue,
        knowledge=knowledge,
        action_token=action_token,
        **extra,
    )
