"""Storage: migrations own the schema, SQLite runs in WAL, references never collide."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, select

from bot.storage import repository
from bot.storage.database import DatabaseError, alembic_config, open_database
from bot.storage.models import Concern, Consultation, Conversation


def test_migrations_match_the_models(database: Engine) -> None:
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode(database: Engine) -> None:
    if database.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with database.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    open_database(url).dispose()
    engine = open_database(url)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()


def test_every_migration_goes_down_and_up_again(database: Engine) -> None:
    config = alembic_config(database)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    with Session(database) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="42", citizen_id="c", place="private"
        )
        assert conversation.place == "private"


def test_consultations_closed_before_0016_are_not_given_their_result_again(
    database: Engine,
) -> None:
    """0016 marks a closed consultation's result as given when it was closed (as it was then),
    so the first tick after an upgrade does not send every old result once more."""
    closed_at = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    with Session(database) as session:
        for reference, status in (("K-2026-0001", "closed"), ("K-2026-0002", "open")):
            session.add(
                Consultation(
                    reference=reference,
                    question_fr="?",
                    question_en="?",
                    purpose_fr="",
                    purpose_en="",
                    author="cli",
                    status=status,
                    closed_at=closed_at if status == "closed" else None,
                )
            )
        session.commit()
    config = alembic_config(database)
    command.downgrade(config, "0015")
    command.upgrade(config, "head")
    with Session(database) as session:
        given = {c.reference: c.results_given_at for c in session.exec(select(Consultation))}
    assert given == {"K-2026-0001": closed_at, "K-2026-0002": None}


def test_unreachable_database_is_one_sentence_without_password() -> None:
    with pytest.raises(DatabaseError) as caught:
        open_database("postgresql://someone:s3cret@127.0.0.1:9/nowhere?connect_timeout=1")
    assert "s3cret" not in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)


def _conversation(session: Session, key: str = "c1") -> Conversation:
    return repository.get_or_create_conversation(
        session=session, channel="web", external_id=key, citizen_id=key
    )


def test_conversation_is_found_again(session: Session) -> None:
    first = _conversation(session)
    again = _conversation(session)
    assert first.id == again.id
    assert len(first.public_id) == 32


def test_timestamps_come_back_aware_in_utc(session: Session) -> None:
    conversation = _conversation(session)
    concern = repository.record_concern(
        session=session, conversation=conversation, message_id=None,
        category="noise", language="fr", text="trop de bruit",
    )  # fmt: skip
    session.expire_all()
    stored = session.exec(select(Concern).where(Concern.id == concern.id)).one()
    assert stored.received_at.tzinfo is not None
    assert stored.received_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_references_follow_each_other_per_year(session: Session) -> None:
    conversation = _conversation(session)
    first = repository.record_concern(
        session=session, conversation=conversation, message_id=None, category="noise",
        language="fr", text="a", received_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    second = repository.record_concern(
        session=session, conversation=conversation, message_id=None, category="noise",
        language="fr", text="b", received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )  # fmt: skip
    next_year = repository.record_concern(
        session=session, conversation=conversation, message_id=None, category="noise",
        language="fr", text="c", received_at=datetime(2027, 1, 2, tzinfo=UTC),
    )  # fmt: skip
    assert (first.reference, second.reference, next_year.reference) == (
        "C-2026-0001",
        "C-2026-0002",
        "C-2027-0001",
    )


def test_concurrent_threads_never_share_a_reference(database: Engine) -> None:
    def take(_: int) -> str:
        with Session(database) as session:
            return repository.next_reference(session=session, prefix="C", year=2026)

    with ThreadPoolExecutor(max_workers=8) as pool:
        references = list(pool.map(take, range(200)))
    assert len(set(references)) == 200
    assert max(references) == "C-2026-0200"


def _take_in_process(url: str, count: int, queue: multiprocessing.Queue[list[str]]) -> None:
    engine = open_database(url)
    taken = []
    for _ in range(count):
        with Session(engine) as session:
            taken.append(repository.next_reference(session=session, prefix="C", year=2026))
    engine.dispose()
    queue.put(taken)


def test_concurrent_processes_never_share_a_reference(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    open_database(url).dispose()
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    workers = [context.Process(target=_take_in_process, args=(url, 50, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    references = [ref for _ in workers for ref in queue.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=30)
    assert len(references) == 150
    assert len(set(references)) == 150


def test_concerns_of_a_citizen_stay_theirs(session: Session) -> None:
    mine = _conversation(session, "me")
    theirs = _conversation(session, "someone-else")
    repository.record_concern(
        session=session, conversation=mine, message_id=None, category="noise",
        language="fr", text="bruit",
    )  # fmt: skip
    repository.record_concern(
        session=session, conversation=theirs, message_id=None, category="water",
        language="fr", text="puits",
    )  # fmt: skip
    assert [
        c.category for c in repository.concerns_of_citizen(session=session, conversation=mine)
    ] == ["noise"]


def test_subscription_toggles(session: Session) -> None:
    conversation = _conversation(session)
    assert (
        repository.set_subscription(session=session, conversation=conversation, active=False)
        is False
    )
    assert (
        repository.set_subscription(session=session, conversation=conversation, active=True) is True
    )
    assert (
        repository.set_subscription(session=session, conversation=conversation, active=True)
        is False
    )
    assert (
        repository.set_subscription(session=session, conversation=conversation, active=False)
        is True
    )
