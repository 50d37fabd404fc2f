"""Headers, cookies and health (finding 9 of the hardening issue): the chat page has a strict
Content-Security-Policy and may be framed only by the origins a setting lists; the desk's
session cookie is Secure behind an HTTPS reverse proxy on 127.0.0.1; /api/health says no error
text, which only a monitoring token reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.staff_web.shell import LOGIN_CSRF_COOKIE
from tests.support.desk import MARIE_PASSWORD, Stage, client_for, csrf_of, desk_app
from tests.support.dialogue import FakeDialogue
from tests.support.web import chat_app as web_app


def chat_app(
    core: ConversationCore, dialogue: FakeDialogue, knowledge: KnowledgeBase, **extra: Any
) -> Any:
    channels = {
        "telegram": {"state": "stopped", "detail": "TELEGRAM_TOKEN was refused (secret-ish)"}
    }
    return web_app(core, dialogue, knowledge, channel_status=lambda: channels, **extra)


async def test_the_chat_page_cannot_run_foreign_code_nor_be_framed(
    core: ConversationCore, fake_dialogue: FakeDialogue, knowledge: KnowledgeBase
) -> None:
    async with client_for(chat_app(core, fake_dialogue, knowledge)) as web:
        for path in ("/", "/static/chat.js", "/api/intro"):
            headers = (await web.get(path)).headers
            policy = headers["content-security-policy"]
            assert "default-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"


async def test_the_promoters_site_may_frame_the_chat(
    core: ConversationCore, fake_dialogue: FakeDialogue, knowledge: KnowledgeBase
) -> None:
    app = chat_app(
        core, fake_dialogue, knowledge, frame_ancestors=("https://trois-collines.example.org",)
    )
    async with client_for(app) as web:
        headers = (await web.get("/")).headers
    assert (
        "frame-ancestors https://trois-collines.example.org" in headers["content-security-policy"]
    )
    assert "x-frame-options" not in headers


async def test_health_is_public_without_error_text_and_detailed_with_a_token(
    core: ConversationCore, fake_dialogue: FakeDialogue, knowledge: KnowledgeBase
) -> None:
    app = chat_app(core, fake_dialogue, knowledge, health_token="monitoring-token-0123456789")
    async with client_for(app) as web:
        public = (await web.get("/api/health")).json()
        anyone = await web.get("/api/health/details")
        staff = await web.get(
            "/api/health/details",
            headers={"Authorization": "Bearer monitoring-token-0123456789"},
        )
    assert public["channels"] == {"telegram": {"state": "stopped"}}
    assert anyone.status_code == 401
    assert "TELEGRAM_TOKEN was refused" in staff.json()["channels"]["telegram"]["detail"]


@pytest.fixture
async def proxied(stage: Stage, fake_dialogue: FakeDialogue) -> AsyncIterator[httpx.AsyncClient]:
    # Plain HTTP on loopback, as an HTTPS reverse proxy talks to the application.
    async with client_for(desk_app(stage, fake_dialogue), base_url="http://127.0.0.1") as client:
        yield client


async def test_behind_an_https_proxy_the_desk_cookies_are_secure(
    proxied: httpx.AsyncClient,
) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    form = await proxied.get("/desk/login", headers=headers)
    assert "secure" in form.headers["set-cookie"].lower()
    # The browser is on HTTPS and sends the Secure cookie back; this client is not, so it is
    # sent by hand.
    token = csrf_of(form.text)
    answer = await proxied.post(
        "/desk/login",
        data={"username": "marie", "password": MARIE_PASSWORD, "csrf": token},
        headers={**headers, "Cookie": f"{LOGIN_CSRF_COOKIE}={token}"},
    )
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()
