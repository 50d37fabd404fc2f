"""The database engine and its migrations.

SQLite (the default) runs in WAL mode so readers never wait for the writer; any
PostgreSQL URL works the same. The schema is owned by Alembic migrations, applied
at start-up by `open_database`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be opened or migrated."""


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy needs: a bare postgresql:// means psycopg2, we ship psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_database_engine(url: str) -> Engine:
    """Creates the engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    url = sqlalchemy_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: a database error logged never carries the values it was writing
    # (citizens' words, platform payloads).
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted or overwritten content is zeroed in the file, not left in free pages (an
        # erased citizen's words must not be recoverable from the database file).
        cursor.execute("PRAGMA secure_delete=ON")
        # Keeps the query planner's statistics current (SQLite's advice for long-lived
        # connections: cheap when nothing changed): without them a filtered list of a large
        # register may walk the wrong index.
        cursor.execute("PRAGMA optimize=0x10002")
        cursor.close()

    return engine


def database_threads(engine: Engine) -> int:
    """How many threads may do database work at once: one on SQLite (its writes take turns:
    more threads would only wait on its lock), the connection pool's capacity otherwise."""
    if engine.dialect.name == "sqlite":
        return 1
    pool = engine.pool
    size = pool.size() if isinstance(pool, QueuePool) else 5
    return max(1, size + max(getattr(pool, "_max_overflow", 0), 0))


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration for our migrations, bound to `engine` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def open_database(url: str) -> Engine:
    """Opens the database and applies pending migrations.

    Raises:
        DatabaseError: when it cannot be reached or migrated (one sentence, URL without password).
    """
    engine = create_database_engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        shown = make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)
        raise DatabaseError(
            f"Cannot open the database at DATABASE_URL={shown}: {getattr(exc, 'orig', None) or exc}."
        ) from exc
    logger.info("database ready (%s)", engine.dialect.name)
    return engine


def overwrite_freed_pages(session: Session) -> None:
    """On SQLite, writes the erased pages back into the database file and empties the
    write-ahead log, whose old page images would otherwise still hold the words (the database
    runs with `secure_delete`, so freed space is zeroed). PostgreSQL keeps old row versions
    until its next vacuum (see SECURITY.md)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    session.execute(sql_text("PRAGMA wal_checkpoint(TRUNCATE)"))
