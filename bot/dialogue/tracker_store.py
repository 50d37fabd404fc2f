"""Where the Rasa server the application manages keeps its conversations: Rasa's SQL tracker
store, in a database beside the application's, so that Rasa can die or be restarted without a
conversation losing its state (the language chosen, a pending "do you want a person?").

Rasa creates its table (``events``: one row per event, with the conversation's ``sender_id``,
our public conversation id) when it starts. Rasa never deletes from it, and replacing a
conversation's events through its HTTP API only appends: so the application deletes a
conversation's rows itself when a citizen is erased, and old rows with the retention purge.

- SQLite (the default): a file next to the application's database, ``<name>-rasa.db``.
- PostgreSQL: a database of its own on the same server, ``<name>_rasa``, which Rasa creates on
  its first start (it logs in to the application's database to do so). Its connection pool is
  kept small (Rasa's defaults are 50 + 100 connections per server).
- An in-memory SQLite database (tests): none; Rasa keeps its conversations in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

logger = logging.getLogger(__name__)

RASA_POOL = {"SQL_POOL_SIZE": "5", "SQL_MAX_OVERFLOW": "10"}
"""Rasa's own variables for its PostgreSQL pool (rasa.core.constants)."""


@dataclass(frozen=True)
class TrackerStore:
    """Rasa's SQL tracker store, as Rasa is told about it and as the application reaches it."""

    url: URL  # how the application connects to it (its own driver)
    endpoint: dict[str, Any]  # the `tracker_store` section of Rasa's endpoints.yml

    def forget(self, sender_id: str) -> int:
        """Deletes every event Rasa keeps of one conversation; returns how many."""
        return self._delete("DELETE FROM events WHERE sender_id = :value", sender_id)

    def purge_before(self, moment: datetime) -> int:
        """Deletes the events older than `moment` (the retention period); returns how many."""
        return self._delete("DELETE FROM events WHERE timestamp < :value", moment.timestamp())

    def _delete(self, statement: str, value: object) -> int:
        engine = create_engine(self.url)
        try:
            with engine.begin() as connection:
                if self.url.get_backend_name() == "sqlite":
                    # Deleted rows are overwritten with zeros, not left in the file's free pages.
                    connection.exec_driver_sql("PRAGMA secure_delete = ON")
                result = connection.execute(text(statement), {"value": value})
                return int(result.rowcount or 0)
        except (OperationalError, ProgrammingError) as exc:
            if "events" in str(exc) and (
                "no such table" in str(exc) or "does not exist" in str(exc)
            ):
                return 0  # Rasa never started on it: nothing kept
            raise
        finally:
            engine.dispose()


def tracker_store_for(database_url: str) -> TrackerStore | None:
    """The tracker store beside the application's database `database_url` (None: in memory)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        path = Path(url.database)
        store = path.with_name(f"{path.stem}-rasa.db")
        return TrackerStore(
            url=URL.create("sqlite", database=str(store)),
            endpoint={"type": "SQL", "dialect": "sqlite", "db": str(store)},
        )
    if backend == "postgresql":
        name = f"{url.database}_rasa"
        endpoint: dict[str, Any] = {
            "type": "SQL",
            "dialect": "postgresql",
            "url": url.host or "localhost",
            "db": name,
            "login_db": url.database,
        }
        if url.port:
            endpoint["port"] = url.port
        if url.username:
            endpoint["username"] = url.username
        if url.password:
            endpoint["password"] = url.password
        return TrackerStore(url=url.set(database=name), endpoint=endpoint)
    return None


def lock_store_for(redis_url: str | None) -> dict[str, Any] | None:
    """The endpoints' `lock_store` section for Rasa's Redis lock store at `redis_url`
    (`redis://[:password@]host:port/db`); None: Rasa locks conversations in its own memory.

    Rasa's Redis lock is not atomic (its ticket is read, changed and written back), so our
    turn lock still keeps one conversation's turns apart; Redis makes the servers agree
    on the queue of a conversation's messages as Rasa's own docs ask of replicated servers.
    """
    if not redis_url:
        return None
    url = urlsplit(redis_url)
    section: dict[str, Any] = {
        "type": "redis",
        "url": url.hostname or "localhost",
        "port": url.port or 6379,
        "db": int(url.path.lstrip("/") or 0),
        "key_prefix": "voisinage",
    }
    if url.password:
        section["password"] = unquote(url.password)
    if url.username:
        section["username"] = unquote(url.username)
    if url.scheme == "rediss":
        section["use_ssl"] = True
    return section
