"""Bad input gets a clear answer and loses nothing (finding 8 of the hardening issue): a lone
surrogate in a chat message, absurdly nested JSON on the action endpoint and the Telegram
webhook, a non-ASCII Telegram secret header, and a webhook secret anyone could guess."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import serve_http
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.settings import SettingsError
from bot.storage.models import Message
from tests.conftest import FakeDialogue, settings_for
from tests.support.fake_telegram import FakeTelegram
from tests.support.telegram import channel_for
from tests.support.web import chat_app

NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture
async def web(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase
) -> AsyncIterator[httpx.AsyncClient]:
    app = chat_app(core, fake_dialogue, knowledge)
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    server.should_exit = True
    await task


async def test_a_lone_surrogate_is_stored_and_answered(
    web: httpx.AsyncClient, database: Engine
) -> None:
    body = '{"conversation": "browser-surrogate", "text": "le bruit \\ud800 la nuit"}'
    answer = await web.post(
        "/api/messages", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["replies"]
    with Session(database) as session:
        stored = session.exec(select(Message).where(Message.text.startswith("le bruit"))).one()  # type: ignore[attr-defined]
    assert stored.text == "le bruit \ufffd la nuit"


async def test_absurdly_nested_json_on_the_action_endpoint_is_refused(
    web: httpx.AsyncClient,
) -> None:
    answer = await web.post(
        "/actions/webhook?token=t", content=NESTED, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400


async def test_without_a_token_the_action_endpoint_answers_nobody(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase
) -> None:
    app = chat_app(core, fake_dialogue, knowledge, action_token=None)
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            anyone = await client.post("/actions/webhook", json={"next_action": "action_forget_me"})
            odd = await client.post("/actions/webhook?token=é", json={})
    finally:
        server.should_exit = True
        await task
    assert (anyone.status_code, odd.status_code) == (401, 401)


async def test_the_telegram_webhook_refuses_odd_secrets_and_nested_json(
    database: Engine, core: ConversationCore
) -> None:
    async with FakeTelegram() as fake:
        app = FastAPI()
        channel = channel_for(
            fake,
            database,
            core,
            webhook_url="http://127.0.0.1:1/telegram/webhook",
            webhook_secret="s3cret-webhook_token",
        )
        app.include_router(channel.webhook_router())
        server, task, port = await serve_http(app, "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                odd = await client.post(
                    "/telegram/webhook",
                    json={"update_id": 1},
                    headers={"X-Telegram-Bot-Api-Secret-Token": "sécret-é".encode()},
                )
                empty = await client.post(
                    "/telegram/webhook",
                    json={"update_id": 1},
                    headers={"X-Telegram-Bot-Api-Secret-Token": ""},
                )
                nested = await client.post(
                    "/telegram/webhook",
                    content=NESTED,
                    headers={
                        "X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook_token",
                        "content-type": "application/json",
                    },
                )
        finally:
            server.should_exit = True
            await task
    assert (odd.status_code, empty.status_code, nested.status_code) == (403, 403, 400)


def test_a_webhook_secret_anyone_could_guess_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        settings_for(tmp_path, telegram_webhook_secret="x")
    assert settings_for(tmp_path, telegram_webhook_secret="a" * 16).telegram_webhook_secret
