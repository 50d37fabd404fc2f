"""Work stored by one process wakes the process that does it at once (PostgreSQL's
LISTEN/NOTIFY, fed by a trigger on the intake and the outbox), rather than at its next look."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.storage import repository
from bot.storage.models import OutboxMessage
from bot.storage.wakeups import Wakeups


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_work_stored_by_another_process_wakes_the_one_that_does_it(
    database: Engine,
) -> None:
    wakeups = Wakeups(database)
    outbox, intake, other = asyncio.Event(), asyncio.Event(), asyncio.Event()
    wakeups.on("outbox_message:telegram", outbox.set)
    wakeups.on("inbound_update:discord", intake.set)
    wakeups.on("outbox_message:discord", other.set)
    listening = asyncio.create_task(wakeups.listen())
    try:
        await asyncio.sleep(1)  # listening
        with Session(database) as session:  # as another process would
            session.add(OutboxMessage(channel="telegram", destination="42", text="hi", nonce="n1"))
            session.commit()
            repository.store_update(
                session=session, channel="discord", update_key="u1", conversation_key=None,
                payload={},
            )  # fmt: skip
        async with asyncio.timeout(3):
            await outbox.wait()
            await intake.wait()
        assert not other.is_set()  # only what was stored wakes
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_on_sqlite_there_is_nothing_to_listen_to(database: Engine) -> None:
    async with asyncio.timeout(1):
        await Wakeups(database).listen()  # returns at once: one process
