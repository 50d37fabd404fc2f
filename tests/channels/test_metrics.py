"""`/metrics` for the operators' Prometheus: behind the monitoring token, and saying what
happened (turns, their duration, the dialogue's failures) and what waits (intake, outbox,
handoffs)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session

from bot.app import serve_http
from bot.core.conversation import ConversationCore
from bot.knowledge import load_knowledge_base
from bot.settings import PROJECT_ROOT
from bot.storage.models import OutboxMessage
from tests.support.dialogue import FakeDialogue
from tests.support.web import chat_app

KB = load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")
TOKEN = "monitoring-token-0123456789"


@pytest.fixture
async def web(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    app = chat_app(
        core,
        fake_dialogue,
        KB,
        database=database,
        health_token=TOKEN,
        roles_status=lambda: ["channel-telegram", "desk-alerts"],
    )
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    server.should_exit = True
    await task


async def scrape(web: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


async def test_metrics_need_the_monitoring_token(web: httpx.AsyncClient) -> None:
    assert (await web.get("/metrics")).status_code == 401
    wrong = await web.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_metrics_count_turns_and_dialogue_failures_and_show_what_waits(
    web: httpx.AsyncClient, fake_dialogue: FakeDialogue, database: Engine
) -> None:
    answered = ("voisinage_turns_total", (("answered", "true"), ("channel", "web")))
    unanswered = ("voisinage_turns_total", (("answered", "false"), ("channel", "web")))
    timed = ("voisinage_turn_seconds_count", (("channel", "web"),))
    unavailable = ("voisinage_dialogue_failures_total", (("kind", "unavailable"),))
    before = await scrape(web)
    assert (await web.post("/api/messages", json={"text": "Quand commencent les travaux?"})).json()[
        "answered"
    ]
    fake_dialogue.failing = True
    assert not (await web.post("/api/messages", json={"text": "Et le bruit?"})).json()["answered"]
    after = await scrape(web)
    assert after[answered] == before.get(answered, 0) + 1
    assert after[unanswered] == before.get(unanswered, 0) + 1
    assert after[timed] == before.get(timed, 0) + 2
    assert after[unavailable] == before.get(unavailable, 0) + 1
    assert after[("voisinage_outbox", ())] == 0
    assert after[("voisinage_handoffs_waiting", ())] == 0

    with Session(database) as session:
        session.add(OutboxMessage(channel="telegram", destination="42", text="queued", nonce="n-1"))
        session.commit()
    waiting = await scrape(web)
    assert waiting[("voisinage_outbox", ())] == 1
    assert waiting[("voisinage_outbox_oldest_seconds", ())] >= 0
    assert waiting[("voisinage_intake", ())] == 0
    # The roles this process holds among replicas.
    assert waiting[("voisinage_role_held", (("role", "channel-telegram"),))] == 1
    assert waiting[("voisinage_role_held", (("role", "desk-alerts"),))] == 1
