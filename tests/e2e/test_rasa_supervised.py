"""The Rasa server the application manages dies mid-conversation (SIGKILL): citizens are told
honestly meanwhile, the application starts it again, and the conversation continues where it
was, in its language, with the question the assistant had asked still pending (Rasa keeps its
conversations in its tracker store beside our database, not in its memory)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from bot.dialogue.tracker_store import tracker_store_for
from bot.storage.models import Handoff
from tests.conftest import _empty_postgres
from tests.support.live import (
    Citizen,
    LiveAssistant,
    kill,
    live_settings,
    offer_of_a_person_pending,
)

pytestmark = pytest.mark.rasa


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAssistant]:
    """An assistant of its own (its Rasa server is killed here, nobody else's)."""
    assistant = LiveAssistant(live_settings(tmp_path_factory.mktemp("supervised")))
    assistant.start()
    yield assistant
    assistant.stop()


def test_rasa_killed_mid_conversation_is_started_again_and_the_conversation_continues(
    supervised: LiveAssistant,
) -> None:
    assert supervised.assistant is not None
    server = supervised.assistant.rasa_server
    assert server is not None
    with httpx.Client(base_url=supervised.assistant.web_url, timeout=30) as web:
        citizen = Citizen(web)
        offer_of_a_person_pending(citizen)

        pid = kill(server)
        # Meanwhile: an honest answer, the message kept for a person, and the health says so.
        meanwhile = citizen.says("hello?")
        assert meanwhile["answered"] is False
        assert "cannot answer" in str(meanwhile["replies"])
        assert web.get("/api/health").json()["status"] == "degraded"
        assert web.get("/api/health/ready").status_code == 503

        deadline = time.monotonic() + 240
        while web.get("/api/health/ready").status_code != 200 or server.restarts < 1:
            assert time.monotonic() < deadline, f"Rasa was not started again (see {server.log})"
            time.sleep(0.5)
        assert server.restarts == 1
        assert server.pid != pid

        # The offer made before the crash still stands: "yes" brings a person in, in English.
        accepted = citizen.says("yes")
        assert accepted["language"] == "en"
        assert accepted["answered"] is True
    with Session(supervised.assistant.database) as session:
        handoffs = session.exec(select(Handoff)).all()
    assert [(h.reason, h.status) for h in handoffs] == [("asked_human", "waiting")]
    # Rasa's conversations are in a file beside the database, not only in its memory.
    database = Path(supervised.assistant.database.url.database or "")
    assert database.with_name(f"{database.stem}-rasa.db").exists()


def test_on_postgresql_rasa_keeps_its_conversations_in_a_database_of_its_own(
    tmp_path: Path,
) -> None:
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        pytest.skip("TEST_POSTGRES_URL is not set")
    url = _empty_postgres(server)
    assistant = LiveAssistant(live_settings(tmp_path, url))
    assistant.start()
    try:
        assert assistant.assistant is not None
        with httpx.Client(base_url=assistant.assistant.web_url, timeout=30) as web:
            Citizen(web).reads("When do the works start?")
        store = tracker_store_for(url)
        assert store is not None
        rasa = create_engine(store.url)  # created by Rasa on its first start
        with rasa.connect() as connection:
            kept = connection.execute(text("SELECT count(*) FROM events")).scalar_one()
        rasa.dispose()
        assert kept > 0
    finally:
        assistant.stop()
