"""The assistant on Telegram and Discord at once, through the real client libraries and the
loopback stand-ins: what the tests of features that reach citizens on both platforms share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from bot.channels.base import keep_running
from bot.channels.discord.chat import DiscordChannel
from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.core.conversation import ConversationCore
from tests.support.fake_discord import FakeDiscord, pointed_at
from tests.support.fake_telegram import FakeTelegram
from tests.support.waiting import until


@dataclass
class BothChannels:
    """The two stand-ins, the two channels running against them, and the assistant's core."""

    telegram: FakeTelegram
    discord: FakeDiscord
    tg: TelegramChannel
    dc: DiscordChannel
    core: ConversationCore

    async def settled(self) -> None:
        """Everything received is handled and everything queued is sent (the running
        assistant looks at the outbox every few seconds; the test wakes it at once)."""
        await asyncio.sleep(0.1)
        self.tg.outbox.wake()
        self.dc.outbox.wake()
        async with asyncio.timeout(20):
            await self.tg.intake.drained()
            await self.dc.intake.drained()
            await self.tg.outbox.drained()
            await self.dc.outbox.drained()

    def on_telegram(self, chat_id: int) -> list[str]:
        """What the assistant sent to a Telegram chat, in order."""
        return [m.entities_text for m in self.telegram.sent_to(chat_id)]

    def on_discord(self, user_id: int) -> list[str]:
        """What the assistant sent to a Discord user in private, in order."""
        return [m.content for m in self.discord.messages_in(self.discord.dm_channel_id(user_id))]


@contextlib.asynccontextmanager
async def both_channels(
    core: ConversationCore,
    database: Engine,
    telegram: FakeTelegram,
    discord: FakeDiscord,
    *,
    telegram_options: dict[str, Any] | None = None,
    discord_options: dict[str, Any] | None = None,
) -> AsyncIterator[BothChannels]:
    """Runs the Telegram and Discord channels of `core` against the stand-ins (each channel as
    the assistant runs it, restarted when it fails) until the block ends; `*_options` are the
    channels' own (a desk, consultations...)."""
    with pointed_at(discord):
        tg = TelegramChannel(
            token=telegram.token,
            core=core,
            engine=database,
            pseudonyms=Pseudonyms(b"telegram-test-key-012"),
            base_url=telegram.base_url,
            poll_timeout=1,
            retry_base=0.01,
            **(telegram_options or {}),
        )
        dc = DiscordChannel(
            token=discord.token,
            core=core,
            engine=database,
            pseudonyms=Pseudonyms(b"discord-test-key-0123"),
            guild_ready_timeout=0.1,
            **(discord_options or {}),
        )
        tasks = [
            asyncio.create_task(keep_running(tg, retry_base=0.01)),
            asyncio.create_task(keep_running(dc, retry_base=0.01)),
        ]
        try:
            await until(lambda: tg.status.state == "running", "Telegram running")
            await until(lambda: dc.sessions >= 1, "Discord ready")
            yield BothChannels(telegram, discord, tg, dc, core)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
