"""Property-based fuzzing of every HTTP entry point (the hardening issue's attack suite): the web
chat, the action endpoint (with its token: a compromised or confused Rasa), the Telegram webhook
(with its secret) and the desk's login form get arbitrary JSON, text and headers. None may answer
500 or hang, and a chat message that is accepted is stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.channels.web.limits import Rate, WebLimits
from bot.core.conversation import ConversationCore
from bot.storage.models import Message
from tests.support.desk import Stage, desk_app
from tests.support.dialogue import FakeDialogue

EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TIMEOUT = 15.0

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=60)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=30,
)
texts = st.text(max_size=300)  # every code point, surrogates included
# Rasa's action calls, with the fields the actions read holding anything at all.
latest_messages = json_values | st.fixed_dictionaries(
    {},
    optional={
        "text": json_values,
        "metadata": json_values
        | st.fixed_dictionaries({}, optional={"language": json_values, "message_id": json_values}),
        "intent": json_values
        | st.fixed_dictionaries({}, optional={"name": json_values, "confidence": json_values}),
        "intent_ranking": json_values,
        "response_selector": json_values,
        "entities": json_values,
    },
)
trackers = json_values | st.fixed_dictionaries(
    {},
    optional={
        "latest_message": latest_messages,
        "slots": json_values | st.fixed_dictionaries({}, optional={"language": json_values}),
        "latest_action_name": json_values,
        "events": json_values,
    },
)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    found = asyncio.new_event_loop()
    yield found
    found.close()


def call(
    loop: asyncio.AbstractEventLoop, app: Any, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz.test") as client:
            return await client.request(method, url, **kwargs)

    return loop.run_until_complete(asyncio.wait_for(go(), TIMEOUT))


def body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()


@pytest.fixture
def app(stage: Stage, fake_dialogue: FakeDialogue) -> FastAPI:
    # Limits high enough that every example reaches the code behind them (test_flood.py checks
    # the limits themselves).
    roomy = Rate(burst=100_000, period=1)
    limits = WebLimits(per_client=roomy, per_conversation=roomy, conversations=roomy)
    return desk_app(stage, fake_dialogue, limits=limits)


@EXAMPLES
@given(payload=json_values)
def test_the_chat_api_never_fails_on_any_json(
    loop: asyncio.AbstractEventLoop, app: FastAPI, payload: Any
) -> None:
    answer = call(loop, app, "POST", "/api/messages", content=body(payload),
                  headers={"content-type": "application/json"})  # fmt: skip
    assert answer.status_code < 500, answer.text


@EXAMPLES
@given(
    text=texts,
    conversation=st.none() | st.text(max_size=80),
    language=st.sampled_from([None, "fr", "en"]),
)
def test_every_chat_message_accepted_is_stored(
    loop: asyncio.AbstractEventLoop, app: FastAPI, stage: Stage,
    text: str, conversation: str | None, language: str | None,
) -> None:  # fmt: skip
    sent = {"text": text, "conversation": conversation, "language": language}
    answer = call(loop, app, "POST", "/api/messages", content=json.dumps(sent).encode("utf-8", "surrogatepass"),
                  headers={"content-type": "application/json"})  # fmt: skip
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 200:
        assert answer.json()["replies"]
        with Session(stage.database) as session:
            assert session.exec(select(Message).order_by(Message.id.desc())).first() is not None  # type: ignore[union-attr]


@EXAMPLES
@given(header=st.text(max_size=80), after=st.integers(min_value=-5, max_value=10**12))
def test_conversation_reads_never_fail(
    loop: asyncio.AbstractEventLoop, app: FastAPI, header: str, after: int
) -> None:
    headers = {
        "X-Conversation": header.encode("utf-8", "replace").replace(b"\r", b"").replace(b"\n", b"")
    }
    for path in ("/api/conversation/messages", f"/api/conversation/notices?after={after}"):
        answer = call(loop, app, "GET", path, headers=headers)
        assert answer.status_code < 500, answer.text


@EXAMPLES
@given(payload=trackers, action=st.sampled_from([
    "action_record_concern", "action_concern_status", "action_request_human", "action_forget_me",
    "action_unknown_question", "action_out_of_scope", "action_change_language", "action_subscribe",
    "action_unsubscribe", "nope",
]))  # fmt: skip
def test_the_action_endpoint_never_fails_on_any_call(
    loop: asyncio.AbstractEventLoop, app: FastAPI, payload: Any, action: str
) -> None:
    if isinstance(payload, dict):
        payload = {**payload, "next_action": action}
    for sent in (payload, {"next_action": action, "sender_id": "x" * 12, "tracker": payload}):
        answer = call(loop, app, "POST", "/actions/webhook?token=t", content=body(sent),
                      headers={"content-type": "application/json"})  # fmt: skip
        assert answer.status_code < 500, answer.text


@EXAMPLES
@given(username=texts, password=texts, csrf=st.text(max_size=100))
def test_the_login_form_never_fails(
    loop: asyncio.AbstractEventLoop, app: FastAPI, username: str, password: str, csrf: str
) -> None:
    form = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in
            {"username": username, "password": password, "csrf": csrf}.items()}  # fmt: skip
    answer = call(loop, app, "POST", "/desk/login", data=form)
    assert answer.status_code < 500, answer.text


@EXAMPLES
@given(payload=json_values)
def test_the_telegram_webhook_never_fails(
    loop: asyncio.AbstractEventLoop, database: Engine, core: ConversationCore, payload: Any
) -> None:
    channel = TelegramChannel(
        token="123456:" + "A" * 30, core=core, engine=database,
        pseudonyms=Pseudonyms(b"fuzzing-key-0123456789"), base_url="http://127.0.0.1:9/bot",
        webhook_url="http://127.0.0.1:9/telegram/webhook", webhook_secret="s3cret-webhook_token",
    )  # fmt: skip
    app = FastAPI()
    app.include_router(channel.webhook_router())
    answer = call(loop, app, "POST", "/telegram/webhook", content=body(payload),
                  headers={"content-type": "application/json",
                           "X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook_token"})  # fmt: skip
    assert answer.status_code < 500, answer.text
