"""No worker dies silently (finding 10 of the hardening issue): an unexpected failure while
processing a stored row gives the row back and tries it again after a pause, in order, instead
of ending the destination's worker with its rows taken until a restart; a Telegram group that
became a supergroup still gets its message."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.channels.telegram.chat import TelegramSender
from bot.core.conversation import ConversationCore
from bot.outbox import delivery
from bot.outbox.delivery import OrderedWork
from bot.storage.models import OutboxMessage
from tests.support.fake_telegram import FakeTelegram
from tests.support.telegram import channel_for, running


@dataclass
class Row:
    id: int
    key: str


async def test_an_unexpected_failure_is_retried_in_order(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(delivery, "RETRY_BASE", 0.01)
    rows = [Row(1, "a"), Row(2, "a"), Row(3, "b")]
    done: list[int] = []
    failures = {1: 2}  # row 1 fails twice (say, the database was locked while marking it)

    async def process(row: Row) -> None:
        if failures.get(row.id):
            failures[row.id] -= 1
            raise RuntimeError("database is locked")
        done.append(row.id)
        rows.remove(row)

    work: OrderedWork[Row] = OrderedWork(
        load=lambda: list(rows), key=lambda r: r.key, process=process
    )  # type: ignore[type-var]
    task = asyncio.create_task(work.run())
    work.wake()
    async with asyncio.timeout(10):
        while len(done) < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert done.index(1) < done.index(2)  # the conversation's order holds
    assert sorted(done) == [1, 2, 3]
    assert "RuntimeError" in caplog.text
    assert "database is locked" not in caplog.text  # the type only, never what a row holds


async def test_a_group_that_became_a_supergroup_gets_its_message(
    database: Engine, core: ConversationCore
) -> None:
    async with FakeTelegram() as fake:
        channel = channel_for(fake, database, core)
        async with running(channel):
            fake.fail_next("sendMessage", migrate_to_chat_id=-1009876543210)
            with Session(database) as session:
                message = OutboxMessage(
                    channel="telegram", destination="-4242", text="Avis : fermeture de route",
                    nonce="migrated-1",
                )  # fmt: skip
                session.add(message)
                session.commit()
                session.refresh(message)
            sent_id = await TelegramSender(channel).send(message)
    assert sent_id
    assert [m.text for m in fake.sent_to(-1009876543210)] == ["Avis : fermeture de route"]


def test_a_purge_of_more_stale_conversations_than_sqlite_binds_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite binds at most 32,766 variables in one statement; here the limit is lowered to 40
    (and the chunk to 10) so that 100 stale conversations show the same failure quickly."""
    from sqlalchemy import event, insert

    from bot.register import privacy
    from bot.storage.database import open_database
    from bot.storage.models import Conversation, utc_now

    database = open_database(f"sqlite:///{tmp_path / 'purge.db'}")

    @event.listens_for(database, "connect")
    def _few_variables(connection: Any, _record: Any) -> None:
        connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)

    database.dispose()  # new connections get the limit
    monkeypatch.setattr(privacy, "PURGE_CHUNK", 10)
    old = utc_now().replace(year=2001)
    with Session(database) as session:
        for start in range(0, 100, 5):
            session.execute(
                insert(Conversation),
                [
                    {"public_id": f"p{n}", "channel": "web", "external_id": f"web-{n}",
                     "citizen_id": f"web-{n}", "created_at": old, "last_message_at": old}
                    for n in range(start, start + 5)
                ],
            )  # fmt: skip
        session.commit()
    dry = privacy.purge_older_than(engine=database, days=30, actor="system", dry_run=True)
    assert dry["conversations"] == 100
    assert (
        privacy.purge_older_than(engine=database, days=30, actor="system")["conversations"] == 100
    )
    database.dispose()


def test_a_web_turn_cut_short_by_a_stop_is_kept_for_a_person(
    database: Engine, core: ConversationCore
) -> None:
    from datetime import timedelta

    from sqlmodel import select

    from bot.storage import repository
    from bot.storage.models import Direction, HumanRequest, Message, MessageStatus, utc_now

    with Session(database, expire_on_commit=False) as session:
        stored = {}
        for channel in ("web", "telegram"):
            conversation = repository.get_or_create_conversation(
                session=session, channel=channel, external_id=f"{channel}-1", citizen_id="c"
            )
            message = repository.add_message(
                session=session, conversation=conversation, direction=Direction.INCOMING,
                text="Les camions passent trop vite", language="fr", status=MessageStatus.RECEIVED,
            )  # fmt: skip
            message.created_at = utc_now() - timedelta(minutes=10)
            session.add(message)
            stored[channel] = message.id
        session.commit()
    assert core.recover_interrupted() == 1
    with Session(database) as session:
        assert session.get(Message, stored["web"]).status == MessageStatus.UNANSWERED  # type: ignore[union-attr]
        # Telegram's intake handles its updates again: its message is left to it.
        assert session.get(Message, stored["telegram"]).status == MessageStatus.RECEIVED  # type: ignore[union-attr]
        (request,) = session.exec(select(HumanRequest)).all()
        assert request.reason == "interrupted"
    assert core.recover_interrupted() == 0  # once
