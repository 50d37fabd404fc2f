"""Shared fixtures: a fresh database per test, a fake dialogue engine, and (for tests
marked `rasa`) the whole assistant running against a real, locally trained Rasa server."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, create_engine

from bot.answering.relevance import ModelAnswerer
from bot.common.calendar import BusinessCalendar
from bot.common.language import LanguageDetector
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase, load_knowledge_base
from bot.register.hearing import ConcernHearing
from bot.register.service import Register
from bot.settings import PROJECT_ROOT, Settings, load_settings
from bot.storage.database import open_database, sqlalchemy_url
from tests.support.desk import Stage, build_stage
from tests.support.dialogue import CATEGORIZER, FakeDialogue
from tests.support.live import LiveAssistant, TrainingBeside, live_settings

HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout.yml"


TRAINING = TrainingBeside()


def _order(item: pytest.Item) -> int:
    if item.get_closest_marker("alone"):
        return 0
    return 2 if item.get_closest_marker("rasa") else 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that time several processes against each other (marker `alone`) run first, on a
    quiet machine; those that need a real Rasa server run last. Their model, when it is not
    trained yet, trains in between, beside the others, at the lowest priority (`TrainingBeside`)."""
    items.sort(key=_order)  # stable: each group in its usual order
    TRAINING.wanted = not config.option.collectonly and any(
        item.get_closest_marker("rasa") for item in items
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if TRAINING.wanted and not item.get_closest_marker("alone"):
        TRAINING.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    TRAINING.stop()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or environment for our settings: every setting is
    cleared (the list comes from the settings themselves, so a new one is cleared too)."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    # A generated pseudonym key goes to the test's folder, never to the project's var/.
    monkeypatch.setenv("PSEUDONYM_KEY_FILE", str(tmp_path / "secrets" / "pseudonym.key"))


POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def _empty_postgres(url: str, template: str | None = None) -> str:
    """A fresh database on the PostgreSQL server of TEST_POSTGRES_URL (a copy of `template`)."""
    name = "voisinage_test_" + secrets.token_hex(4)
    admin = create_engine(sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database with every migration applied, made once per run: each test
    starts from a copy (migrating a new file for each of a thousand tests took minutes)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = open_database(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """The name of an empty PostgreSQL database with every migration applied, made once per run
    on the server of TEST_POSTGRES_URL: each test's database is created from it (a copy)."""
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url = _empty_postgres(POSTGRES_URL)
    open_database(url).dispose()
    name = url.rsplit("/", 1)[1]
    yield name
    admin = create_engine(sqlalchemy_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: SQLite always, PostgreSQL when TEST_POSTGRES_URL is set.
    Opened as the assistant opens its own (the migrations find nothing left to apply)."""
    if request.param == "sqlite":
        path = tmp_path / "voisinage.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        url = f"sqlite:///{path}"
    else:
        url = _empty_postgres(
            POSTGRES_URL or "", template=request.getfixturevalue("migrated_postgres")
        )
    engine = open_database(url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(database: Engine) -> Iterator[Session]:
    with Session(database, expire_on_commit=False) as db_session:
        yield db_session


@pytest.fixture(scope="session")
def detector() -> LanguageDetector:
    found = LanguageDetector(("fr", "en"), "fr")
    found.warm_up()
    return found


@pytest.fixture
def fake_dialogue() -> FakeDialogue:
    return FakeDialogue()


@pytest.fixture
def core(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> ConversationCore:
    register = Register(engine=database, calendar=BusinessCalendar())
    return ConversationCore(
        engine=database,
        dialogue=fake_dialogue,
        detector=detector,
        turn_timeout=1.0,
        project_name=dict(knowledge.name),
        project_notice=dict(knowledge.notice),
        register=register,
        # Without a concern model: the dialogue's `report_concern` intent alone decides.
        hearing=ConcernHearing(
            register=register, judge=None, categorizer=CATEGORIZER, knowledge=knowledge
        ),
        # The notice at first contact has its own tests; elsewhere a reply is the reply.
        first_contact_notice=False,
    )


@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    return load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAssistant]:
    """The whole assistant with a real Rasa server (trains the model first if needed)."""
    settings = live_settings(tmp_path_factory.mktemp("live"))
    # The documents' passages are indexed (once, kept in var/) before the assistant starts, so
    # that its answer relevance decision is ready for the first question, as after a first run.
    ModelAnswerer(load_knowledge_base(settings.knowledge_base)).warm_up()
    assistant = LiveAssistant(settings)
    assistant.start()
    yield assistant
    assistant.stop()


@pytest.fixture
def web(live: LiveAssistant) -> Iterator[httpx.Client]:
    assert live.assistant is not None
    with httpx.Client(base_url=live.assistant.web_url, timeout=30) as client:
        yield client


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(database_url=f"sqlite:///{tmp_path / 'voisinage.db'}", **overrides)


@pytest.fixture
def stage(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Stage:
    """The web desk's stage (tests/support/desk.py): a desk always open, a citizen's core, two
    community managers (Marie and Louis). Modules that need another stage define their own."""
    return build_stage(database, fake_dialogue, detector, knowledge)
