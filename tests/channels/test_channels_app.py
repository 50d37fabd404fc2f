"""The chat platforms in the running application: enabled by their tokens, each on its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bot.app import running_assistant, start_channels
from bot.settings import load_settings
from tests.support.fake_discord import FakeDiscord, pointed_at
from tests.support.fake_telegram import FakeTelegram


async def test_without_tokens_there_are_no_chat_platforms(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        web_port=0,
        rasa_url="http://127.0.0.1:9",
    )
    async with running_assistant(settings) as assistant:
        assert assistant.channels == []


async def test_a_rejected_telegram_token_leaves_discord_and_the_web_chat_running(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeDiscord() as discord:
        with pointed_at(discord):
            settings = load_settings(
                database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                web_port=0,
                rasa_url="http://127.0.0.1:9",  # no dialogue: answers say so honestly
                rasa_turn_timeout=1,
                telegram_token="424242:this-token-was-revoked-long-ago",
                health_token="monitoring-token-0123456789",
                telegram_api_url=telegram.base_url,
                discord_token=discord.token,
            )
            async with running_assistant(settings) as assistant:
                start_channels(assistant)
                async with httpx.AsyncClient(base_url=assistant.web_url) as web:
                    async with asyncio.timeout(20):
                        while True:
                            channels = (await web.get("/api/health")).json()["channels"]
                            if (
                                channels["telegram"]["state"] == "stopped"
                                and channels["discord"]["state"] == "running"
                            ):
                                break
                            await asyncio.sleep(0.05)
                    assert "detail" not in channels["telegram"]  # no error text in public
                    details = await web.get(
                        "/api/health/details",
                        headers={"Authorization": "Bearer monitoring-token-0123456789"},
                    )
                    detail = details.json()["channels"]["telegram"]["detail"]
                    assert "TELEGRAM_TOKEN" in detail
                    assert "revoked-long-ago" not in detail
                    assert (await web.get("/api/health/details")).status_code == 401
                    discord.dm(user_id=830000000000000001, content="Bonjour, qui êtes-vous?")
                    notice, reply = await discord.wait_for_messages(2, timeout=20)
                    assert "robot" in notice.content  # first contact: what is kept, how long
                    assert "une personne de l'équipe du projet" in reply.content
                    chat = await web.post("/api/messages", json={"text": "Allo"})
                    assert chat.status_code == 200
