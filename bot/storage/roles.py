"""What only one process may do at a time, when several run on one PostgreSQL database: poll
Telegram (one `getUpdates` consumer per bot), hold the Discord gateway, handle each platform's
stored updates and send its outbox within the platform's limits, relay the staff desks, raise
the desk's alerts, sweep missed readings. Each is a role; one process holds it, elected by a
PostgreSQL advisory lock on a connection of its own.

The lock belongs to that connection's session: when the process dies (or its host), the
server ends the session and the lock is free; another process, which tries every few seconds,
takes the role over. The connection asks the server to notice a dead peer within about ten
seconds (TCP keepalives), and the holder checks the connection as often: a holder that lost
it stops its work at once, so two processes never do it together for long.

On SQLite (one process by design) every role is held at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
}


def advisory_key(name: str) -> int:
    """The number of PostgreSQL's advisory lock called `name` (the same in every process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


class Roles:
    """Runs work only while this process holds its role."""

    def __init__(self, engine: Engine, *, retry: float = RETRY_SECONDS) -> None:
        self._engine = engine
        self._retry = retry
        self._held: set[str] = set()
        self._shared = engine.dialect.name == "postgresql"

    @property
    def held(self) -> list[str]:
        """The roles this process holds now (for the health details)."""
        return sorted(self._held)

    async def run(self, role: str, work: Callable[[], Awaitable[None]]) -> None:
        """Runs `work()` while this process holds `role`: at once on SQLite; on PostgreSQL once
        its lock is taken (tried every few seconds), and cancelled if the lock's connection is
        lost, then tried again. Returns when `work` ends on its own; cancelled, lets go."""
        if not self._shared:
            self._held.add(role)
            try:
                await work()
            finally:
                self._held.discard(role)
            return
        key = advisory_key(f"voisinage:{role}")
        while True:
            connection = await asyncio.to_thread(self._take, key)
            if connection is None:
                await asyncio.sleep(self._retry)
                continue
            logger.info("this process now holds the role %s", role)
            self._held.add(role)
            task = asyncio.ensure_future(work())
            try:
                while True:
                    done, _ = await asyncio.wait({task}, timeout=self._retry)
                    if done:
                        await task  # work ended on its own (or failed): so does the role
                        return
                    if not await asyncio.to_thread(_alive, connection):
                        logger.error(
                            "the database connection holding the role %s was lost: its work "
                            "stops here and another process may take it over",
                            role,
                        )
                        break
            finally:
                self._held.discard(role)
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                await asyncio.to_thread(_close, connection)

    def _take(self, key: int) -> Connection | None:
        """A connection holding the role's lock, or None when another process holds it."""
        try:
            engine = create_engine(self._engine.url, poolclass=NullPool, connect_args=KEEPALIVES)
            connection = engine.connect()
        except SQLAlchemyError as exc:
            logger.warning("cannot reach the database to take a role (%s)", type(exc).__name__)
            return None
        try:
            # The server notices a dead holder within about ten seconds and frees its lock.
            connection.exec_driver_sql("SET tcp_keepalives_idle = 5")
            connection.exec_driver_sql("SET tcp_keepalives_interval = 2")
            connection.exec_driver_sql("SET tcp_keepalives_count = 2")
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
            ).scalar_one()
            connection.commit()
        except SQLAlchemyError:
            _close(connection)
            return None
        if not taken:
            _close(connection)
            return None
        return connection


def _alive(connection: Connection) -> bool:
    try:
        connection.execute(text("SELECT 1"))
        connection.commit()
    except SQLAlchemyError:
        return False
    return True


def _close(connection: Connection) -> None:
    with contextlib.suppress(SQLAlchemyError):
        connection.close()
    connection.engine.dispose()
