"""Durable intake of the chat platforms: an update is stored (deduplicated by the platform's id)
before the platform is told it was received, then handled in order per conversation. The turn
stores the message as handled together with its replies (one transaction), and marking the
update done queues those replies (another): a crash before the first leads to the turn being done
again on restart, a crash between them to the core answering the already-handled message from
storage; either way it is answered once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.outbox.delivery import (
    OrderedWork,
    Outbox,
    Outgoing,
    backoff,
    outbox_row,
)
from bot.storage import repository
from bot.storage.models import InboundUpdate

logger = logging.getLogger(__name__)

TURNS_AT_ONCE = 16
"""Updates of different conversations handled at the same time by one channel of a process."""

UpdateHandler = Callable[[dict[str, Any]], Awaitable[Sequence[Outgoing]]]
"""Handles one stored update; returns what to send (queued in the same transaction)."""


class Intake:
    """Stores a channel's updates before they are confirmed and handles each one once."""

    def __init__(
        self,
        *,
        engine: Engine,
        channel: str,
        handler: UpdateHandler,
        outbox: Outbox,
        fallback: UpdateHandler | None = None,
        max_attempts: int = 5,
        retry_base: float = 0.5,
        turns_at_once: int = TURNS_AT_ONCE,
    ) -> None:
        self._db = engine
        self.channel = channel
        self._handler = handler
        self._fallback = fallback
        self._outbox = outbox
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._work: OrderedWork[InboundUpdate] = OrderedWork(
            load=self._pending,
            key=lambda update: update.conversation_key or f"update:{update.id}",
            process=self._handle,
            # Updates stored by another process (a webhook received there) are found too.
            poll_every=5.0,
            # A burst of citizens (hundreds of chats at once) waits here, each turn then timed
            # from its start: unbounded, every turn would share the CPU and the dialogue engine
            # with all the others and many would time out before their turn came.
            at_once=turns_at_once,
        )

    def accept(
        self, *, update_key: str, conversation_key: str | None, payload: dict[str, Any]
    ) -> bool:
        """Stores one update (commits before returning); False when it was stored before."""
        with Session(self._db) as session:
            new = repository.store_update(
                session=session,
                channel=self.channel,
                update_key=update_key,
                conversation_key=conversation_key,
                payload=payload,
            )
        if new:
            self._work.wake()
        return new

    def wake(self) -> None:
        """Says updates were stored (by another process): they are handled now."""
        self._work.wake()

    async def run(self) -> None:
        """Handles stored updates until cancelled, oldest first, in order per conversation."""
        await self._work.run()

    async def drained(self) -> None:
        """Waits until every stored update is handled (wrap in `asyncio.timeout`)."""
        await self._work.drained()

    def _pending(self) -> list[InboundUpdate]:
        with Session(self._db, expire_on_commit=False) as session:
            return repository.pending_updates(session=session, channel=self.channel)

    async def _handle(self, update: InboundUpdate) -> None:
        update_id = update.id
        assert update_id is not None
        attempts = update.attempts
        while True:
            try:
                outgoing = await self._handler(dict(update.payload))
                with Session(self._db, expire_on_commit=False) as session:
                    repository.finish_update(
                        session=session,
                        update_id=update_id,
                        outgoing=[outbox_row(self.channel, item) for item in outgoing],
                    )
                self._outbox.wake()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Broad on purpose: one bad update must never stop the channel. It is retried
                # a few times (a database hiccup), then left failed and stored for a person.
                attempts += 1
                give_up = attempts >= self._max_attempts
                logger.exception(
                    "%s update %s failed (attempt %s%s)",
                    self.channel,
                    update.update_key,
                    attempts,
                    ", giving up: kept for a person" if give_up else "",
                )
                apology = await self._apology(update) if give_up else []
                with Session(self._db) as session:
                    repository.fail_update(
                        session=session,
                        update_id=update_id,
                        error=repr(exc),
                        give_up=give_up,
                        outgoing=[outbox_row(self.channel, item) for item in apology],
                    )
                if give_up:
                    self._outbox.wake()
                    return
                await asyncio.sleep(backoff(attempts, base=self._retry_base, cap=30))

    async def _apology(self, update: InboundUpdate) -> Sequence[Outgoing]:
        """What the citizen is told when their update cannot be handled (it is kept for a
        person); nothing when even that fails."""
        if self._fallback is None:
            return []
        try:
            return await self._fallback(dict(update.payload))
        except Exception:
            # Broad on purpose: this is the last resort; the update stays stored, failed.
            logger.exception(
                "%s update %s: no apology could be sent", self.channel, update.update_key
            )
            return []
