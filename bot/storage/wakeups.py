"""Work stored by one process wakes the process that does it, at once: PostgreSQL's
LISTEN/NOTIFY.

A trigger (migration 0013) notifies the channel ``voisinage`` with ``<table>:<platform>`` when
a platform update is stored in the intake or a message is queued in the outbox, whichever
process stored it (a webhook received by another replica, a team's answer written on another
replica's desk). Every process listens on a connection of its own and wakes its local work for
that table and platform (it does it only if it holds the platform's role). Without this, the
work is found at its next look (every few seconds). On SQLite (one process) nothing is needed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from sqlalchemy import Engine

logger = logging.getLogger(__name__)

CHANNEL = "voisinage"


class Wakeups:
    """Calls the wake-ups registered for a topic (``inbound_update:telegram``...) when any
    process stores such work."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._shared = engine.dialect.name == "postgresql"
        self._wakes: defaultdict[str, list[Callable[[], None]]] = defaultdict(list)
        self._stop = threading.Event()
        self.heard = 0  # notifications received (for the tests and the logs)

    def on(self, topic: str, wake: Callable[[], None]) -> None:
        """Calls `wake` (on the event loop) whenever work of `topic` is stored anywhere."""
        self._wakes[topic].append(wake)

    async def listen(self) -> None:
        """Listens until cancelled (PostgreSQL only); a lost connection is opened again."""
        if not self._shared:
            return
        loop = asyncio.get_running_loop()
        self._stop.clear()
        # A thread of its own: listening lasts as long as the process, and must not take one of
        # the few threads the event loop lends to short blocking calls.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wakeups")
        try:
            while True:
                try:
                    await loop.run_in_executor(thread, self._listen, loop)
                except psycopg.Error as exc:
                    logger.warning("listening for work stored elsewhere failed (%s): again in 5 s",
                                   type(exc).__name__)  # fmt: skip
                await asyncio.sleep(5)
        finally:
            self._stop.set()
            thread.shutdown(wait=False)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        with psycopg.connect(self._url, autocommit=True) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                for notice in connection.notifies(timeout=1.0):
                    self.heard += 1
                    for wake in self._wakes.get(notice.payload, ()):
                        loop.call_soon_threadsafe(wake)
