"""One turn at a time per conversation across processes: two replicas receiving two messages
of the same citizen at once run their turns one after the other (PostgreSQL advisory lock),
as a single process does with its own lock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.common.language import LanguageDetector
from bot.core.conversation import ConversationCore
from bot.dialogue.engine import DialogueReply
from bot.storage.database import create_database_engine
from bot.storage.turns import TurnLocks
from tests.support.dialogue import FakeDialogue
from tests.support.telegram import telegram


class SlowDialogue(FakeDialogue):
    """Takes a while to answer, and notes when each turn was with it."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        super().__init__()
        self.spans = spans

    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None = None,
    ) -> DialogueReply:
        started = time.monotonic()
        await asyncio.sleep(0.3)
        reply = await super().respond(sender_id=sender_id, text=text, metadata=metadata)
        self.spans.append((started, time.monotonic()))
        return reply


def replica(database: Engine, detector: LanguageDetector, spans: list[tuple[float, float]],
            *, locks: bool) -> ConversationCore:  # fmt: skip
    engine = create_database_engine(database.url.render_as_string(hide_password=False))
    return ConversationCore(
        engine=engine, dialogue=SlowDialogue(spans), detector=detector, turn_timeout=5,
        first_contact_notice=False, turn_locks=TurnLocks(engine) if locks else None,
    )  # fmt: skip


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_two_replicas_run_one_conversation_s_turns_one_after_the_other(
    database: Engine, detector: LanguageDetector
) -> None:
    spans: list[tuple[float, float]] = []
    first, second = (replica(database, detector, spans, locks=True) for _ in range(2))
    a, b = await asyncio.gather(
        first.handle(telegram("Quand commencent les travaux?", external_id="1")),
        second.handle(telegram("Et le bruit la nuit?", external_id="2")),
    )
    assert a.answered
    assert b.answered
    (_, end_1), (start_2, _) = sorted(spans)
    assert end_1 <= start_2  # never both at once

    # Another citizen is not held up by this one's turn.
    spans.clear()
    await asyncio.gather(
        first.handle(telegram("Quand commencent les travaux?", key="2002", external_id="3")),
        second.handle(telegram("Et le bruit la nuit?", key="3003", external_id="4")),
    )
    (_, end_1), (start_2, _) = sorted(spans)
    assert start_2 < end_1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_without_the_turn_lock_two_replicas_would_overlap(
    database: Engine, detector: LanguageDetector
) -> None:
    """What the lock prevents (this is how the two processes behaved before)."""
    spans: list[tuple[float, float]] = []
    first, second = (replica(database, detector, spans, locks=False) for _ in range(2))
    await asyncio.gather(
        first.handle(telegram("Quand commencent les travaux?", external_id="1")),
        second.handle(telegram("Et le bruit la nuit?", external_id="2")),
    )
    (_, end_1), (start_2, _) = sorted(spans)
    assert start_2 < end_1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_more_turns_at_once_than_the_lock_pool_holds_all_go_through(
    database: Engine,
) -> None:
    """Many citizens at once, more than the turn locks' connections: the extra turns wait their
    turn on the event loop (not in worker threads, which would then be missing to give the
    connections back: every turn stuck until the pool's time-out)."""
    locks = TurnLocks(database, pool_size=1)  # room for 5 turns at once
    done: list[int] = []

    async def turn(n: int) -> None:
        async with locks.held(f"web:citizen-{n}"):
            await asyncio.sleep(0.1)
            done.append(n)

    try:
        async with asyncio.timeout(10):
            await asyncio.gather(*(turn(n) for n in range(40)))
    finally:
        locks.dispose()
    assert sorted(done) == list(range(40))
