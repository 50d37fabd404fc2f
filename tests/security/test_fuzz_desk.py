"""Property-based fuzzing of every form and page of the web desk, signed in (the hardening
issue's attack suite, completed): each POST route of every section (the inbox, the concern
register, exports, public reports, staff roles, project news, perception, knowledge gaps) gets
arbitrary form fields with the session's valid CSRF token, at real and made-up addresses, and
the pages and exports get arbitrary query strings. None may answer 500 or hang."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.common.calendar import BusinessCalendar
from bot.listening.faq_drafts import KnowledgeFiles
from bot.listening.gaps_web import gaps_section
from bot.participation.consultations import Consultations
from bot.participation.ideas import IdeaBox
from bot.participation.web import participation_section
from bot.perception.web import perception_section
from bot.register.reports_web import reports_section
from bot.register.service import Register
from bot.register.web import register_section
from bot.settings import PROJECT_ROOT
from bot.staff_web.managers import staff_section
from bot.updates.service import UpdateService
from bot.updates.web import news_section
from tests.support.desk import MARIE_PASSWORD, Stage, desk_app, hand_a_conversation_to_the_desk
from tests.support.dialogue import FakeDialogue
from tests.support.gaps import E5Reader
from tests.support.register import add_concern

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TIMEOUT = 20.0
FIELDS = (
    "text", "message", "reason", "outcome", "assignee", "category", "severity", "version",
    "markdown", "since", "until", "language", "format", "filters", "role", "canned", "topics",
    "title", "body_fr", "body_en", "question", "answer_fr", "answer_en", "sources", "confirm",
    "urgent", "channel", "days", "start", "end", "id", "page",
)  # fmt: skip
texts = st.text(max_size=120).map(lambda t: t.encode("utf-8", "replace").decode("utf-8"))
values = texts | st.sampled_from(
    ["1", "0", "-1", "99999999999999999999", "2026-12-06", "fr", "en", "csv", "xlsx",
     "manager", "agent", "resolved", "noise", "high", "marie", "%", "../..", "C-2026-0001"]
)  # fmt: skip
forms = st.dictionaries(st.sampled_from(FIELDS) | texts, values, max_size=8)
segments = st.sampled_from(["C-2026-0001", "1", "marie", "H-0001"]) | texts


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    found = asyncio.new_event_loop()
    yield found
    found.close()


@pytest.fixture
def app(stage: Stage, fake_dialogue: FakeDialogue, tmp_path: Path) -> FastAPI:
    copy = tmp_path / "repo"
    for folder in ("knowledge", "nlu", "domain"):
        shutil.copytree(PROJECT_ROOT / folder, copy / folder)
    files = KnowledgeFiles(knowledge_base=copy / "knowledge" / "project.yml", rasa_project=copy)
    register = Register(engine=stage.database, calendar=BusinessCalendar())
    add_concern(stage.database, "C-2026-0001", text="Le bruit la nuit")
    news = UpdateService(
        engine=stage.database, knowledge=stage.knowledge, languages=("fr", "en"),
        default_language="fr",
    )  # fmt: skip
    return desk_app(
        stage,
        fake_dialogue,
        sections=[
            news_section(news),
            perception_section(engine=stage.database, project_name=stage.knowledge.name),
            gaps_section(engine=stage.database, reader=E5Reader(), files=files),
            register_section(register),
            reports_section(register, knowledge=stage.knowledge),
            staff_section(engine=stage.database),
            participation_section(
                Consultations(
                    engine=stage.database,
                    knowledge=stage.knowledge,
                    updates=news,
                    languages=("fr", "en"),
                    default_language="fr",
                ),
                IdeaBox(engine=stage.database, reader=E5Reader()),  # type: ignore[arg-type]
                stage.database,
            ),
        ],
    )


@pytest.fixture
def signed_in(
    loop: asyncio.AbstractEventLoop,
    app: FastAPI,
    stage: Stage,
) -> tuple[dict[str, str], str]:
    """The session cookie and CSRF token of Marie (a manager), signed in through the form."""

    async def go() -> tuple[dict[str, str], str]:
        await hand_a_conversation_to_the_desk(stage)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz.test") as web:
            form = await web.get("/desk/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token
            answer = await web.post("/desk/login", data={
                "username": "marie", "password": MARIE_PASSWORD, "csrf": token.group(1),
            })  # fmt: skip
            assert answer.status_code == 303
            page = await web.get("/desk/concerns")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            return dict(web.cookies), csrf.group(1)

    return loop.run_until_complete(go())


def call(
    loop: asyncio.AbstractEventLoop, app: FastAPI, cookies: dict[str, str], method: str,
    url: str, **kwargs: Any,
) -> httpx.Response:  # fmt: skip
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://fuzz.test", cookies=cookies
        ) as web:
            return await web.request(method, url, **kwargs)

    return loop.run_until_complete(asyncio.wait_for(go(), TIMEOUT))


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)  # an included router (FastAPI 0.16x)
        if inner is not None:
            yield from _routes(inner.routes)


def desk_routes(app: FastAPI, method: str) -> list[str]:
    return sorted(
        route.path
        for route in _routes(app.routes)
        if method in route.methods
        and route.path.startswith("/desk")
        and route.path not in ("/desk/login", "/desk/logout")
    )


def test_the_fuzzing_reaches_every_desk_form(app: FastAPI) -> None:
    posts = desk_routes(app, "POST")
    for expected in ("/desk/concerns/{reference}/answer", "/desk/reports/{report_id}/publish",
                     "/desk/staff/{username}/role", "/desk/h/{reference}/reply",
                     "/desk/concerns/export"):  # fmt: skip
        assert expected in posts
    assert len(posts) >= 20


def filled(path: str, segment: str) -> str:
    return re.sub(r"\{[^}]+\}", quote(segment, safe="") or "x", path)


@EXAMPLES
@given(data=st.data())
def test_no_desk_form_fails_on_any_input(
    loop: asyncio.AbstractEventLoop, app: FastAPI, signed_in: tuple[dict[str, str], str],
    data: st.DataObject,
) -> None:  # fmt: skip
    cookies, csrf = signed_in
    path = data.draw(st.sampled_from(desk_routes(app, "POST")))
    url = filled(path, data.draw(segments))
    form = {**data.draw(forms), "csrf": csrf}
    answer = call(loop, app, cookies, "POST", url, data=form)
    assert answer.status_code < 500, (url, form, answer.text[:300])


@EXAMPLES
@given(data=st.data())
def test_no_desk_page_fails_on_any_query(
    loop: asyncio.AbstractEventLoop, app: FastAPI, signed_in: tuple[dict[str, str], str],
    data: st.DataObject,
) -> None:  # fmt: skip
    cookies, _ = signed_in
    path = data.draw(st.sampled_from(desk_routes(app, "GET")))
    if "report." in path and "{extension}" in path:
        path = path.replace("{extension}", data.draw(st.sampled_from(["html", "pdf", "x"])))
    url = filled(path, data.draw(segments))
    query = data.draw(st.dictionaries(st.sampled_from(FIELDS) | texts, values, max_size=6))
    answer = call(loop, app, cookies, "GET", url, params=query)
    assert answer.status_code < 500, (url, query, answer.text[:300])
