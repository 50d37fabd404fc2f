"""Telegram and Discord beside the web chat, in the running assistant, against the real Rasa
server: the platform stand-ins and the channels run in the assistant's own event loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import Session, select

from bot.app import Assistant
from bot.channels.base import keep_running
from bot.channels.discord.chat import DiscordChannel
from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.storage.models import Concern
from tests.support.fake_discord import FakeDiscord, pointed_at
from tests.support.fake_telegram import FakeTelegram
from tests.support.live import LiveAssistant

pytestmark = pytest.mark.rasa
REFERENCE = re.compile(r"C-\d{4}-\d{4}")
T = TypeVar("T")


class Platforms:
    """The stand-ins and channels, living in the live assistant's event loop."""

    def __init__(self, live: LiveAssistant) -> None:
        assert live.assistant is not None
        self.live = live
        self.assistant: Assistant = live.assistant
        self.telegram = FakeTelegram()
        self.discord = FakeDiscord()
        self.tasks: list[asyncio.Task[None]] = []
        self.pointing: Any = None

    def run(self, coroutine: Awaitable[T], timeout: float = 60) -> T:
        return self.live.call(coroutine, timeout)

    def start(self) -> None:
        async def start() -> None:
            await self.telegram.start()
            await self.discord.start()
            self.pointing = pointed_at(self.discord)
            self.pointing.__enter__()
            pseudonyms = Pseudonyms.for_installation(
                self.assistant.database, key_file=self.assistant.settings.pseudonym_key_file
            )
            channels = [
                TelegramChannel(
                    token=self.telegram.token,
                    core=self.assistant.core,
                    engine=self.assistant.database,
                    pseudonyms=pseudonyms,
                    base_url=self.telegram.base_url,
                    poll_timeout=1,
                ),
                DiscordChannel(
                    token=self.discord.token,
                    core=self.assistant.core,
                    engine=self.assistant.database,
                    pseudonyms=pseudonyms,
                    channels=[self.discord.channel_ids["parc-eolien"]],
                    guild_ready_timeout=0.1,
                ),
            ]
            self.assistant.channels.extend(channels)
            self.tasks = [asyncio.create_task(keep_running(c)) for c in channels]
            async with asyncio.timeout(30):
                while any(c.status.state != "running" for c in channels):
                    await asyncio.sleep(0.05)

        self.run(start())

    def stop(self) -> None:
        async def stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            self.assistant.channels.clear()
            self.pointing.__exit__(None, None, None)
            await self.telegram.stop()
            await self.discord.stop()

        self.run(stop())

    def telegram_says(self, chat_id: int, text: str, **extra: Any) -> str:
        """A citizen writes on Telegram; returns everything the assistant answered."""

        async def exchange() -> str:
            before = len(self.telegram.sent_to(chat_id))
            self.telegram.send_text(chat_id=chat_id, user_id=abs(chat_id), text=text, **extra)
            await self.telegram.wait_for_sent(before + 1, chat_id=chat_id, timeout=30)
            await asyncio.sleep(0.5)  # the rest of a multi-part answer
            return "\n".join(m.entities_text for m in self.telegram.sent_to(chat_id)[before:])

        return self.run(exchange())

    def discord_dm(self, user_id: int, text: str) -> str:
        async def exchange() -> str:
            channel = self.discord.dm_channel_id(user_id)
            before = len(self.discord.messages_in(channel))
            self.discord.dm(user_id=user_id, content=text)
            await self.discord.wait_for_messages(before + 1, channel_id=channel, timeout=30)
            await asyncio.sleep(0.5)
            return "\n".join(m.content for m in self.discord.messages_in(channel)[before:])

        return self.run(exchange())

    def discord_post(self, channel: str, user_id: int, text: str) -> str:
        async def exchange() -> str:
            before = len(self.discord.messages)
            self.discord.post(channel=channel, user_id=user_id, content=text)
            await self.discord.wait_for_messages(before + 1, timeout=30)
            await asyncio.sleep(0.5)
            return "\n".join(m.content for m in self.discord.messages[before:])

        return self.run(exchange())


@pytest.fixture(scope="module")
def platforms(live: LiveAssistant) -> Iterator[Platforms]:
    found = Platforms(live)
    found.start()
    yield found
    found.stop()


def test_telegram_in_french_answers_from_the_documents_with_sources(platforms: Platforms) -> None:
    answer = platforms.telegram_says(
        2001, "Quand est-ce que les travaux de construction vont commencer?"
    )
    assert "Source" in answer
    assert "https://" in answer


def test_telegram_in_english_records_a_concern(platforms: Platforms) -> None:
    answer = platforms.telegram_says(
        2002, "The trucks going to the site wake us up at 5 am every morning, it is unbearable."
    )
    reference = REFERENCE.search(answer)
    assert reference, answer
    with Session(platforms.assistant.database) as session:
        concern = session.exec(select(Concern).where(Concern.reference == reference.group())).one()
    assert concern.channel == "telegram"
    assert concern.language == "en"


def test_telegram_start_says_it_is_a_bot(platforms: Platforms) -> None:
    answer = platforms.telegram_says(2003, "/start", language_code="fr")
    assert "un robot, pas une personne" in answer


def test_discord_in_english_answers_from_the_documents(platforms: Platforms) -> None:
    answer = platforms.discord_dm(
        820000000000000001, "How far will the wind turbines be from the nearest houses?"
    )
    assert "Source" in answer
    assert "https://" in answer


def test_discord_in_french_records_a_concern_without_repeating_it_in_public(
    platforms: Platforms,
) -> None:
    answer = platforms.discord_post(
        "parc-eolien",
        820000000000000002,
        "Depuis le début des travaux, la poussière des camions recouvre ma maison et mon jardin, c'est inacceptable.",
    )
    reference = REFERENCE.search(answer)
    assert reference, answer
    assert "poussière" not in answer
    with Session(platforms.assistant.database) as session:
        concern = session.exec(select(Concern).where(Concern.reference == reference.group())).one()
    assert concern.channel == "discord"
    assert concern.language == "fr"


def test_the_web_chat_keeps_working_beside_the_platforms(
    platforms: Platforms, web: httpx.Client
) -> None:
    answer = web.post("/api/messages", json={"text": "Es-tu un robot?"})
    assert answer.status_code == 200
    assert answer.json()["replies"]
    health = web.get("/api/health").json()
    assert health["channels"]["telegram"]["state"] == "running"
    assert health["channels"]["discord"]["state"] == "running"
