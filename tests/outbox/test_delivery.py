"""The durable intake and the outbox: nothing lost, nothing handled or sent twice, order kept."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.channels.intake import Intake
from bot.metrics import RATE_LIMITED
from bot.outbox.delivery import (
    OrderedWork,
    Outbox,
    Outgoing,
    PermanentSendError,
    RateLimited,
    Sender,
    TemporarySendError,
)
from bot.outbox.outbound import send_to_conversation
from bot.storage import repository
from bot.storage.models import (
    Direction,
    InboundStatus,
    InboundUpdate,
    Message,
    OutboxMessage,
    OutboxStatus,
)
from tests.support.crash import dies_once_while_writing


class FakeSender(Sender):
    """Records what it sends; fails on demand, the way a platform does."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # destination, text, nonce
        self.failures: list[Exception] = []
        self.per_destination: float | None = None
        self._limiters: dict[str, AsyncLimiter] = {}

    async def send(self, message: OutboxMessage) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((message.destination, message.text, message.nonce))
        return str(len(self.sent))

    def limiters(self, destination: str) -> Sequence[AsyncLimiter]:
        if self.per_destination is None:
            return ()
        limiter = self._limiters.setdefault(destination, AsyncLimiter(1, self.per_destination))
        return (limiter,)


class PacedSender(FakeSender):
    """A platform allowing 20 messages a second overall; news may use 12 of them."""

    def __init__(self) -> None:
        super().__init__()
        self.overall = AsyncLimiter(2, 0.1)
        self.bulk = AsyncLimiter(1, 1 / 12)

    def limiters(self, destination: str) -> Sequence[AsyncLimiter]:
        return (self.overall,)

    def bulk_limiter(self) -> AsyncLimiter:
        return self.bulk


@contextlib.asynccontextmanager
async def running(*parts: Intake | Outbox) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(part.run()) for part in parts]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def make(
    database: Engine, handler: Any, sender: FakeSender | None = None
) -> tuple[Intake, Outbox, FakeSender]:
    sender = sender or FakeSender()
    outbox = Outbox(engine=database, channel="test", sender=sender, retry_base=0.01)
    intake = Intake(
        engine=database, channel="test", handler=handler, outbox=outbox, retry_base=0.01
    )
    return intake, outbox, sender


async def settled(intake: Intake, outbox: Outbox) -> None:
    async with asyncio.timeout(10):
        await intake.drained()
        await outbox.drained()


async def test_an_update_delivered_twice_is_answered_once(database: Engine) -> None:
    handled: list[str] = []

    async def echo(payload: dict[str, Any]) -> Sequence[Outgoing]:
        handled.append(payload["text"])
        return [Outgoing(destination="42", text=f"re: {payload['text']}")]

    intake, outbox, sender = make(database, echo)
    async with running(intake, outbox):
        assert intake.accept(update_key="1", conversation_key="42", payload={"text": "allo"})
        assert not intake.accept(update_key="1", conversation_key="42", payload={"text": "allo"})
        await settled(intake, outbox)
        assert not intake.accept(update_key="1", conversation_key="42", payload={"text": "allo"})
        await settled(intake, outbox)
    assert handled == ["allo"]
    assert [text for _, text, _ in sender.sent] == ["re: allo"]


async def test_a_conversation_is_handled_in_order_and_others_do_not_wait(
    database: Engine,
) -> None:
    order: list[str] = []

    async def slow_for_a(payload: dict[str, Any]) -> Sequence[Outgoing]:
        if payload["chat"] == "a":
            await asyncio.sleep(0.05)
        order.append(f"{payload['chat']}{payload['n']}")
        return [Outgoing(destination=payload["chat"], text=str(payload["n"]))]

    intake, outbox, sender = make(database, slow_for_a)
    async with running(intake, outbox):
        for n in range(3):
            intake.accept(update_key=f"a{n}", conversation_key="a", payload={"chat": "a", "n": n})
        intake.accept(update_key="b0", conversation_key="b", payload={"chat": "b", "n": 0})
        await settled(intake, outbox)
    assert [item for item in order if item.startswith("a")] == ["a0", "a1", "a2"]
    assert order.index("b0") < order.index("a0")  # b did not wait behind a
    assert [text for dest, text, _ in sender.sent if dest == "a"] == ["0", "1", "2"]


async def test_updates_stored_before_a_crash_are_handled_after_the_restart(
    database: Engine,
) -> None:
    async def never_called(payload: dict[str, Any]) -> Sequence[Outgoing]:
        raise AssertionError("the first process died before handling anything")

    first, _, _ = make(database, never_called)
    first.accept(update_key="7", conversation_key="42", payload={"text": "bruit la nuit"})
    # The process dies here: nothing ran. A new process starts on the same database.

    async def echo(payload: dict[str, Any]) -> Sequence[Outgoing]:
        return [Outgoing(destination="42", text=f"re: {payload['text']}")]

    intake, outbox, sender = make(database, echo)
    async with running(intake, outbox):
        await asyncio.sleep(0.05)
        await settled(intake, outbox)
    assert [text for _, text, _ in sender.sent] == ["re: bruit la nuit"]


async def test_a_failing_update_is_retried_then_kept_for_a_person(database: Engine) -> None:
    calls = 0

    async def broken(payload: dict[str, Any]) -> Sequence[Outgoing]:
        nonlocal calls
        calls += 1
        raise RuntimeError("database hiccup")

    intake, outbox, _ = make(database, broken)
    async with running(intake, outbox):
        intake.accept(update_key="1", conversation_key="42", payload={})
        intake.accept(update_key="2", conversation_key="43", payload={})
        await settled(intake, outbox)
    assert calls == 10  # five attempts each
    with Session(database) as session:
        rows = session.exec(select(InboundUpdate)).all()
    assert {row.status for row in rows} == {InboundStatus.FAILED}
    assert all("database hiccup" in (row.last_error or "") for row in rows)


async def test_a_passing_hiccup_does_not_lose_the_update(database: Engine) -> None:
    attempts = 0

    async def flaky(payload: dict[str, Any]) -> Sequence[Outgoing]:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("locked")
        return [Outgoing(destination="42", text="ok")]

    intake, outbox, sender = make(database, flaky)
    async with running(intake, outbox):
        intake.accept(update_key="1", conversation_key="42", payload={})
        await settled(intake, outbox)
    assert [text for _, text, _ in sender.sent] == ["ok"]


async def test_the_outbox_waits_out_rate_limits_and_network_failures_in_order(
    database: Engine,
) -> None:
    sender = FakeSender()
    sender.failures = [RateLimited(0.05), TemporarySendError("connection reset")]
    outbox = Outbox(engine=database, channel="test", sender=sender, retry_base=0.01)
    slowed = RATE_LIMITED.labels("test")._value.get()
    async with running(outbox):
        outbox.queue([Outgoing(destination="42", text=str(n)) for n in range(4)])
        async with asyncio.timeout(10):
            await outbox.drained()
    assert [text for _, text, _ in sender.sent] == ["0", "1", "2", "3"]
    assert RATE_LIMITED.labels("test")._value.get() == slowed + 1  # the operators see the 429
    with Session(database) as session:
        first = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    assert first is not None
    assert first.status == OutboxStatus.SENT
    assert first.attempts == 1
    assert first.platform_message_id == "1"


async def test_a_refused_message_is_kept_failed_and_the_next_ones_still_go(
    database: Engine,
) -> None:
    sender = FakeSender()
    sender.failures = [PermanentSendError("Forbidden: bot was blocked by the user")]
    outbox = Outbox(engine=database, channel="test", sender=sender)
    async with running(outbox):
        outbox.queue([Outgoing(destination="42", text="a"), Outgoing(destination="42", text="b")])
        async with asyncio.timeout(10):
            await outbox.drained()
    with Session(database) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(row.text, row.status) for row in rows] == [
        ("a", OutboxStatus.FAILED),
        ("b", OutboxStatus.SENT),
    ]
    assert "blocked" in (rows[0].last_error or "")


async def test_rate_limits_hold_one_chat_without_holding_the_others(database: Engine) -> None:
    sender = FakeSender()
    sender.per_destination = 0.2  # one message per 0.2 s per chat
    outbox = Outbox(engine=database, channel="test", sender=sender)
    loop = asyncio.get_running_loop()
    async with running(outbox):
        started = loop.time()
        outbox.queue(
            [Outgoing(destination="slow", text=str(n)) for n in range(4)]
            + [Outgoing(destination="other", text="x")]
        )
        async with asyncio.timeout(10):
            await outbox.drained()
        elapsed = loop.time() - started
    assert [text for dest, text, _ in sender.sent if dest == "slow"] == ["0", "1", "2", "3"]
    first_other = next(i for i, (dest, _, _) in enumerate(sender.sent) if dest == "other")
    assert first_other < 2  # not queued behind the slow chat
    assert elapsed >= 0.5  # four messages at one per 0.2 s: the limit held


def test_a_message_the_project_sends_is_stored_and_queued_in_one_transaction(
    database: Engine,
) -> None:
    """A team's answer (to a concern, from the desk) is stored in the conversation and queued
    on the citizen's platform together: a crash between the two would show it as sent in the
    register and on the desk while the citizen never receives it."""

    def stored() -> tuple[list[str], list[str]]:
        with Session(database) as session:
            said = session.exec(select(Message).where(Message.direction == Direction.OUTGOING))
            queued = session.exec(select(OutboxMessage))
            return [m.text for m in said], [m.destination for m in queued]

    answer = "Réponse de l'équipe à votre préoccupation C-2026-0001 : le puits sera testé."
    with Session(database) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="5170", citizen_id="tg-5170"
        )
        with (
            dies_once_while_writing("the outbox", lambda row: isinstance(row, OutboxMessage)),
            pytest.raises(RuntimeError),
        ):
            send_to_conversation(
                session=session, conversation=conversation, texts=[answer], language="fr"
            )
        session.rollback()
        assert stored() == ([], [])  # neither, so the team can send it again
        send_to_conversation(
            session=session, conversation=conversation, texts=[answer], language="fr"
        )
    assert stored() == ([answer], ["5170"])


async def test_every_outbox_message_has_its_own_nonce(database: Engine) -> None:
    sender = FakeSender()
    outbox = Outbox(engine=database, channel="test", sender=sender)
    async with running(outbox):
        outbox.queue([Outgoing(destination="1", text=str(n)) for n in range(20)])
        async with asyncio.timeout(10):
            await outbox.drained()
    nonces = [nonce for _, _, nonce in sender.sent]
    assert len(set(nonces)) == 20
    assert all(len(nonce) <= 25 for nonce in nonces)  # Discord's limit


async def test_pending_outbox_messages_are_sent_after_a_restart(database: Engine) -> None:
    first = Outbox(engine=database, channel="test", sender=FakeSender())
    first.queue([Outgoing(destination="42", text="queued before the crash")])
    # The process dies before its outbox ran. The next one sends it.
    sender = FakeSender()
    outbox = Outbox(engine=database, channel="test", sender=sender)
    async with running(outbox):
        await asyncio.sleep(0.05)
        async with asyncio.timeout(10):
            await outbox.drained()
    assert [text for _, text, _ in sender.sent] == ["queued before the crash"]


async def test_an_answer_does_not_queue_behind_a_large_sending_of_news(database: Engine) -> None:
    sender = PacedSender()
    outbox = Outbox(engine=database, channel="test", sender=sender, poll_every=None)
    news = [
        Outgoing(destination=f"subscriber-{n}", text="Avis de dynamitage", options={"bulk": True})
        for n in range(60)
    ]
    async with running(outbox):
        outbox.queue(news)  # 60 chats, five seconds of news at 12 a second
        await asyncio.sleep(0.5)
        outbox.queue([Outgoing(destination="citizen", text="Les travaux commencent en mai.")])
        async with asyncio.timeout(15):
            await outbox.drained()
    order = [destination for destination, _, _ in sender.sent]
    assert len(order) == 61
    # The answer went out within a few sends of being queued, not after the 50-odd news left.
    assert order.index("citizen") < 20


async def test_a_burst_of_conversations_is_handled_a_few_at_a_time_each_in_order() -> None:
    """Hundreds of chats at once: at most `at_once` are handled together (the others wait
    before their turn starts, so its timeout counts the turn only), each chat in order."""

    @dataclasses.dataclass
    class Row:
        id: int
        key: str

    rows = [Row(n, f"chat-{n % 40}") for n in range(1, 121)]
    done: list[Row] = []
    running, most = 0, 0

    async def process(row: Row) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.005)
        running -= 1
        done.append(row)
        rows.remove(row)

    work: OrderedWork[Row] = OrderedWork(
        load=lambda: list(rows), key=lambda r: r.key, process=process, at_once=4
    )  # type: ignore[type-var]
    task = asyncio.create_task(work.run())
    work.wake()
    async with asyncio.timeout(10):
        while len(done) < 120:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert most == 4
    for chat in {r.key for r in done}:
        handled = [r.id for r in done if r.key == chat]
        assert handled == sorted(handled)
