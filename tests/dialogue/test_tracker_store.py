"""Rasa's tracker store beside our database: how Rasa is told about it, and how erasure and
retention reach it (Rasa itself never deletes from it)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.dialogue.rasa_client import RasaEngine
from bot.dialogue.rasa_runtime import RasaRuntime
from bot.dialogue.tracker_store import lock_store_for, tracker_store_for

# Rasa 3.6's table (rasa/core/tracker_store.py, SQLTrackerStore.SQLEvent).
RASA_EVENTS = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT
)
"""


def rasa_keeps(path: Path, *events: tuple[str, float, str]) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(RASA_EVENTS)
        connection.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, 'user', ?, ?)",
            [(sender, at, json.dumps({"text": words})) for sender, at, words in events],
        )


def senders(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT sender_id FROM events ORDER BY id")]


def test_beside_a_sqlite_database_rasa_gets_a_file_of_its_own(tmp_path: Path) -> None:
    store = tracker_store_for(f"sqlite:///{tmp_path / 'voisinage.db'}")
    assert store is not None
    assert store.endpoint == {
        "type": "SQL",
        "dialect": "sqlite",
        "db": str(tmp_path / "voisinage-rasa.db"),
    }
    assert tracker_store_for("sqlite://") is None  # in memory: Rasa keeps its own in memory


def test_beside_postgresql_rasa_gets_a_database_of_its_own() -> None:
    store = tracker_store_for("postgresql+psycopg://app:s3cret@db.internal:5433/voisinage")
    assert store is not None
    assert store.endpoint == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 5433,
        "db": "voisinage_rasa",
        "login_db": "voisinage",  # Rasa creates its database from there on its first start
        "username": "app",
        "password": "s3cret",
    }
    assert store.url == make_url("postgresql+psycopg://app:s3cret@db.internal:5433/voisinage_rasa")


def test_redis_is_told_to_rasa_as_its_lock_store() -> None:
    assert lock_store_for(None) is None
    assert lock_store_for("redis://:p%40ss@cache.internal:6380/2") == {
        "type": "redis",
        "url": "cache.internal",
        "port": 6380,
        "db": 2,
        "key_prefix": "voisinage",
        "password": "p@ss",
    }
    assert lock_store_for("rediss://cache")["use_ssl"] is True  # type: ignore[index]


def test_several_local_servers_share_their_stores_and_token(tmp_path: Path) -> None:
    runtime = RasaRuntime(
        runtime=tmp_path / "venv",
        project=tmp_path,
        models_dir=tmp_path / "models",
        knowledge_base=tmp_path / "kb.yml",
        log_dir=tmp_path / "var",
    )
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "rasa").touch()
    (tmp_path / "var").mkdir()
    tracker = {"type": "SQL", "dialect": "sqlite", "db": str(tmp_path / "x-rasa.db")}
    locks = lock_store_for("redis://127.0.0.1:6379/0")
    servers = runtime.servers(
        2, action_url="http://127.0.0.1:8000/actions/webhook", action_token="t0k",
        port=5105, tracker_store=tracker, lock_store=locks,
    )  # fmt: skip
    assert [server.port for server in servers] == [5105, 5106]
    assert servers[0].token == servers[1].token  # the engine uses one token for both
    assert [server.log.name for server in servers] == ["rasa-server.log", "rasa-server-2.log"]
    for server in servers:
        endpoints = yaml.safe_load(server._write_endpoints().read_text())
        assert endpoints["tracker_store"] == tracker
        assert endpoints["lock_store"] == locks
        assert endpoints["action_endpoint"]["token"] == "t0k"


def test_erasure_deletes_a_conversation_and_its_words_from_the_file(tmp_path: Path) -> None:
    store = tracker_store_for(f"sqlite:///{tmp_path / 'voisinage.db'}")
    assert store is not None
    path = Path(store.endpoint["db"])
    now = datetime.now(UTC).timestamp()
    rasa_keeps(path, ("a", now, "Zq1 dust on my road"), ("b", now, "hello"), ("a", now, "Zq1"))
    assert store.forget("a") == 2
    assert senders(path) == ["b"]
    assert b"Zq1" not in path.read_bytes()  # zeroed, not left in the file's free pages


def test_retention_deletes_what_is_older_than_the_period(tmp_path: Path) -> None:
    store = tracker_store_for(f"sqlite:///{tmp_path / 'voisinage.db'}")
    assert store is not None
    path = Path(store.endpoint["db"])
    now = datetime.now(UTC)
    old, recent = (now - timedelta(days=800)).timestamp(), now.timestamp()
    rasa_keeps(path, ("a", old, "old words"), ("a", recent, "recent words"), ("b", old, "x"))
    assert store.purge_before(now - timedelta(days=730)) == 2
    assert senders(path) == ["a"]


def test_a_store_rasa_never_started_on_holds_nothing_to_delete(tmp_path: Path) -> None:
    store = tracker_store_for(f"sqlite:///{tmp_path / 'voisinage.db'}")
    assert store is not None
    assert store.forget("a") == 0
    assert store.purge_before(datetime.now(UTC)) == 0


async def test_forgetting_reaches_the_store_even_while_rasa_is_down(tmp_path: Path) -> None:
    store = tracker_store_for(f"sqlite:///{tmp_path / 'voisinage.db'}")
    assert store is not None
    path = Path(store.endpoint["db"])
    rasa_keeps(path, ("a", datetime.now(UTC).timestamp(), "Zq2"))
    # Nothing listens on port 9 of loopback: Rasa is down.
    engine = RasaEngine("http://127.0.0.1:9", token="t", tracker_store=store)
    try:
        await engine.forget("a")
    finally:
        await engine.close()
    assert senders(path) == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_on_postgresql_the_rows_of_a_conversation_are_deleted(database: object) -> None:
    url = make_url(str(getattr(database, "url")))
    store = tracker_store_for(url.render_as_string(hide_password=False))
    assert store is not None
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = store.url.database
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    rasa = create_engine(store.url)
    with rasa.begin() as connection:
        connection.exec_driver_sql(RASA_EVENTS.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"))
        connection.execute(
            text("INSERT INTO events (sender_id, type_name, timestamp) VALUES (:s, 'user', 1)"),
            [{"s": "a"}, {"s": "b"}],
        )
    assert store.forget("a") == 1
    with rasa.connect() as connection:
        assert connection.exec_driver_sql("SELECT sender_id FROM events").scalars().all() == ["b"]
    rasa.dispose()
