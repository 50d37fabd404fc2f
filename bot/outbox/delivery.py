"""The outbox shared by the chat platforms, and the ordered, retried work it and the intake
(`bot.channels.intake`) are built on.

Answers are sent in order per destination, within the platform's rate limits; a
rate-limit answer waits the time the platform asks for and retries the same message, a
network failure is retried with capped back-off and jitter, for as long as it takes. Only a
refusal for good (the citizen blocked the bot, the chat is gone) marks a message failed, and
it stays stored for a person.

The one window left: a message sent but not yet marked sent when the process dies is sent
again on restart. Discord drops the duplicate (our nonce); on Telegram, which has no such key,
the citizen may see that one message twice. Marking happens right after the platform answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiolimiter import AsyncLimiter
from sqlalchemy import Engine
from sqlmodel import Session

from bot.metrics import RATE_LIMITED
from bot.storage import repository
from bot.storage.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

# An unexpected failure of a row: tried again after RETRY_BASE * 2^n seconds, at most RETRY_CAP.
RETRY_BASE = 0.5
RETRY_CAP = 60.0


@dataclass(frozen=True)
class Outgoing:
    """A message to send on a platform, before it is queued.

    Attributes:
        destination: the platform's chat or channel id, as text.
        text: what to send (already cut to the platform's limit).
        options: platform details (buttons, reply-to, thread, interaction token...).
        conversation_id: our conversation it belongs to, if any.
        message_id: our stored message it carries, if any.
    """

    destination: str
    text: str
    options: Mapping[str, Any] = field(default_factory=dict)
    conversation_id: int | None = None
    message_id: int | None = None


class SendError(Exception):
    """A platform did not take a message."""


class RateLimited(SendError):
    """The platform asks to wait `retry_after` seconds before sending again."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(f"rate limited, retry after {retry_after} s {detail}".strip())
        self.retry_after = retry_after


class TemporarySendError(SendError):
    """The platform is unreachable or failing for now: the same message is retried later."""


class PermanentSendError(SendError):
    """The platform refuses this message for good (blocked, chat gone, invalid)."""


class Sender(ABC):
    """What the outbox needs from a platform."""

    @abstractmethod
    async def send(self, message: OutboxMessage) -> str:
        """Sends one message; returns the platform's id for it.

        Raises:
            RateLimited, TemporarySendError, PermanentSendError.
        """

    def limiters(self, destination: str) -> Sequence[AsyncLimiter]:
        """The rate limits a message to `destination` must pass, narrowest first."""
        return ()

    def bulk_limiter(self) -> AsyncLimiter | None:
        """A narrower overall limit that bulk messages (project news to many subscribers) pass
        before the others: it leaves part of the platform's overall rate free, so an answer
        to a citizen never queues behind a large sending."""
        return None


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


Row = TypeVar("Row", bound=_Stored)


def backoff(attempt: int, *, base: float = 0.5, cap: float = 60.0) -> float:
    """Capped exponential back-off with full jitter, in seconds."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt)))


class OrderedWork(Generic[Row]):
    """Processes stored rows one at a time per key (a conversation, a chat), keys side by side.

    `load` reads the rows still to process (oldest first); `wake` says new ones were stored.
    A row is taken once until its processing returns. At most `at_once` rows are processed at
    the same time (None: no bound): the others wait their turn here, not inside a process
    whose time is counted (a citizen's turn and its timeout start when it is handled).
    """

    def __init__(
        self,
        *,
        load: Callable[[], Sequence[Row]],
        key: Callable[[Row], str],
        process: Callable[[Row], Awaitable[None]],
        poll_every: float | None = None,
        at_once: int | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(at_once) if at_once else None
        self._load = load
        self._poll_every = poll_every
        self._key = key
        self._process = process
        self._wake = asyncio.Event()
        self._taken: set[int] = set()
        self._queues: dict[str, asyncio.Queue[Row]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._failures = 0

    def wake(self) -> None:
        """Tells the worker that rows were stored."""
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Processes rows until cancelled."""
        try:
            while True:
                self._wake.clear()
                self._dispatch()
                if self._poll_every is None:
                    await self._wake.wait()
                else:
                    # Rows may also be stored by other processes (the `bot concerns` command).
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._poll_every):
                            await self._wake.wait()
        finally:
            for task in list(self._workers.values()):
                task.cancel()
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    def _give_back(self, row: Row, queue: asyncio.Queue[Row]) -> None:
        """Un-takes `row` and every row queued after it for the same key."""
        self._taken.discard(row.id)
        while not queue.empty():
            self._taken.discard(queue.get_nowait().id)

    async def drained(self) -> None:
        """Waits until every stored row is processed (wrap in `asyncio.timeout`)."""
        await self._idle.wait()

    def _dispatch(self) -> None:
        for row in self._load():
            if row.id is None or row.id in self._taken:
                continue
            self._taken.add(row.id)
            key = self._key(row)
            queue = self._queues.setdefault(key, asyncio.Queue())
            queue.put_nowait(row)
            if key not in self._workers:
                self._workers[key] = asyncio.create_task(self._work(key, queue))
        if not self._workers:
            self._idle.set()

    async def _work(self, key: str, queue: asyncio.Queue[Row]) -> None:
        try:
            while not queue.empty():
                row = queue.get_nowait()
                try:
                    if self._slots is None:
                        await self._process(row)
                    else:
                        async with self._slots:
                            await self._process(row)
                except Exception as exc:
                    # Broad on purpose: whatever failed (the database while marking a row, an
                    # error nobody foresaw), the worker must not die silently with its rows taken
                    # until a restart. The row and those after it are given back, in order, and
                    # tried again after a pause. Never the row's content in the log.
                    self._give_back(row, queue)
                    self._failures += 1
                    delay = min(RETRY_CAP, RETRY_BASE * 2 ** min(self._failures, 10))
                    logger.error(
                        "processing row %s (%s) failed; retried in %.0f s",
                        row.id,
                        type(exc).__name__,
                        delay,
                    )
                    asyncio.get_running_loop().call_later(delay, self.wake)
                    return
                self._failures = 0
                assert row.id is not None
                self._taken.discard(row.id)
        finally:
            del self._workers[key]
            if queue.empty():
                self._queues.pop(key, None)
            if not self._workers:
                self._idle.set()
                self._wake.set()  # anything stored meanwhile is picked up


class Outbox:
    """Sends a channel's queued messages in order per destination, within its rate limits."""

    def __init__(
        self,
        *,
        engine: Engine,
        channel: str,
        sender: Sender,
        retry_base: float = 0.5,
        retry_cap: float = 60.0,
        poll_every: float | None = 5.0,
        on_failed: Callable[[OutboxMessage, str], None] | None = None,
    ) -> None:
        self._db = engine
        self.channel = channel
        self._sender = sender
        self._on_failed = on_failed
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._work: OrderedWork[OutboxMessage] = OrderedWork(
            load=self._pending,
            key=lambda message: message.destination,
            process=self._deliver,
            poll_every=poll_every,
        )

    def wake(self) -> None:
        """Tells the outbox new messages were queued."""
        self._work.wake()

    def queue(self, items: Sequence[Outgoing]) -> None:
        """Queues messages that answer nothing stored (e.g. a slash command's follow-up)."""
        with Session(self._db) as session:
            session.add_all(outbox_row(self.channel, item) for item in items)
            session.commit()
        self.wake()

    async def run(self) -> None:
        """Sends until cancelled."""
        await self._work.run()

    async def drained(self) -> None:
        """Waits until everything queued is sent or failed (wrap in `asyncio.timeout`)."""
        await self._work.drained()

    def _pending(self) -> list[OutboxMessage]:
        with Session(self._db, expire_on_commit=False) as session:
            return repository.pending_outbox(session=session, channel=self.channel)

    async def _deliver(self, message: OutboxMessage) -> None:
        """Sends one message, waiting and retrying as long as the failure is not final."""
        assert message.id is not None
        failures = 0
        bulk = self._sender.bulk_limiter() if message.options.get("bulk") else None
        while True:
            if bulk is not None:
                await bulk.acquire()
            for limiter in self._sender.limiters(message.destination):
                await limiter.acquire()
            try:
                platform_id = await self._sender.send(message)
            except RateLimited as exc:
                RATE_LIMITED.labels(self.channel).inc()
                logger.warning(
                    "%s asks to wait %.1f s before sending to a chat",
                    self.channel,
                    exc.retry_after,
                )
                await asyncio.sleep(exc.retry_after)
                continue
            except TemporarySendError as exc:
                failures += 1
                delay = backoff(failures, base=self._retry_base, cap=self._retry_cap)
                logger.warning(
                    "%s unreachable (%s); retrying message %s in %.1f s",
                    self.channel,
                    exc,
                    message.id,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except PermanentSendError as exc:
                logger.error(
                    "%s refused message %s for good (%s); kept for a person",
                    self.channel,
                    message.id,
                    exc,
                )
                self._mark(message.id, OutboxStatus.FAILED, error=str(exc))
                if self._on_failed is not None:
                    self._on_failed(message, str(exc))
                return
            self._mark(message.id, OutboxStatus.SENT, platform_id=platform_id)
            return

    def _mark(
        self,
        outbox_id: int,
        status: OutboxStatus,
        *,
        platform_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with Session(self._db) as session:
            repository.mark_outbox(
                session=session,
                outbox_id=outbox_id,
                status=status,
                platform_message_id=platform_id,
                error=error,
            )


def outbox_row(channel: str, item: Outgoing) -> OutboxMessage:
    """The outbox row that sends `item` on `channel`, with a fresh nonce."""
    return OutboxMessage(
        channel=channel,
        destination=item.destination,
        conversation_id=item.conversation_id,
        message_id=item.message_id,
        text=item.text,
        options=dict(item.options),
        nonce=secrets.token_hex(12),
    )
