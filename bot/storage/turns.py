"""One turn at a time per conversation, across processes: two replicas behind a proxy may each
receive a message of the same citizen (two browser tabs, a message sent twice quickly); their
turns run one after the other, in the order they took the lock, as they do within a process.

On PostgreSQL a turn holds an advisory lock named after the conversation, on a connection of a
small pool of its own (a turn waiting for the lock never holds a connection its own work
needs); the lock is tried rather than waited for in the database, so no thread is blocked
while another process's turn ends. On SQLite (one process) nothing is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from bot.storage.roles import advisory_key

logger = logging.getLogger(__name__)

WAIT_AT_MOST = 30.0  # seconds; then the turn goes on all the same (a message is never dropped)


class TurnLocks:
    """Holds a conversation's turn lock for the length of a turn."""

    def __init__(self, engine: Engine, *, pool_size: int = 10) -> None:
        self._engine: Engine | None = None
        # Turns beyond the pool's capacity wait here, on the event loop: a worker thread never
        # waits for a connection (while the threads that would give one back wait their turn).
        self._slots = asyncio.Semaphore(5 * pool_size)
        if engine.dialect.name == "postgresql":
            self._engine = create_engine(
                engine.url, pool_size=pool_size, max_overflow=4 * pool_size, pool_pre_ping=True
            )

    @contextlib.asynccontextmanager
    async def held(self, conversation: str) -> AsyncIterator[None]:
        """Waits until no other process runs a turn of `conversation`, then holds it."""
        if self._engine is None:
            yield
            return
        key = advisory_key(f"voisinage-turn:{conversation}")
        async with self._slots:
            try:
                connection = await asyncio.to_thread(self._engine.connect)
            except SQLAlchemyError as exc:
                logger.warning("no turn lock (%s): the turn goes on", type(exc).__name__)
                yield
                return
            async with self._holding(connection, key):
                yield

    @contextlib.asynccontextmanager
    async def _holding(self, connection: Connection, key: int) -> AsyncIterator[None]:
        try:
            waited = 0.0
            while not await asyncio.to_thread(_try, connection, key):
                if waited >= WAIT_AT_MOST:
                    logger.warning("a turn of another process held the conversation for "
                                   "%.0f s: this turn goes on", waited)  # fmt: skip
                    break
                await asyncio.sleep(0.02)
                waited += 0.02
            yield
        finally:
            await asyncio.to_thread(_release, connection, key)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _try(connection: Connection, key: int) -> bool:
    taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
    result = bool(taken.scalar_one())
    connection.commit()
    return result


def _release(connection: Connection, key: int) -> None:
    with contextlib.suppress(SQLAlchemyError):
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        connection.commit()
    with contextlib.suppress(SQLAlchemyError):
        connection.close()
