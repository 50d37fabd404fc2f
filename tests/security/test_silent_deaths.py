"""No worker dies silently (finding 10 of the hardening issue): an unexpected failure while
processing a stored row gives the row back and tries it again after a pause, in order, instead
of ending the destination's worker with its rows taken until a restart; a Telegram group that
became a supergroup still gets its message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.channels import delivery
from bot.channels.delivery import OrderedWork
from bot.channels.telegram import TelegramSender
from bot.core.conversation import ConversationCore
from bot.storage.models import OutboxMessage
from tests.support.fake_telegram import FakeTelegram
from tests.test_telegram import channel_for, running


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
