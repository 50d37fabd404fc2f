"""Helpers shared by the tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine

from bot.channels.base import keep_running
from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.common.types import IncomingMessage
from bot.core.conversation import ConversationCore
from tests.support.fake_telegram import FakeTelegram
from tests.support.waiting import until


def channel_for(
    fake: FakeTelegram, database: Engine, core: ConversationCore, **extra: Any
) -> TelegramChannel:
    return TelegramChannel(
        token=extra.pop("token", fake.token),
        core=core,
        engine=database,
        pseudonyms=Pseudonyms(b"telegram-test-key-012"),
        base_url=fake.base_url,
        poll_timeout=1,
        retry_base=0.01,
        **extra,
    )


@contextlib.asynccontextmanager
async def running(channel: TelegramChannel) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(keep_running(channel, retry_base=0.01))
    try:
        await until(lambda: channel.status.state in ("running", "stopped"))
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def telegram(
    text: str, *, key: str = "1001", place: str = "private", **extra: Any
) -> IncomingMessage:
    return IncomingMessage(
        channel="telegram",
        conversation_key=key if place == "private" else f"-500:{key}",
        sender_key=f"tg-{key}",
        text=text,
        place=place,  # type: ignore[arg-type]
        **extra,
    )
