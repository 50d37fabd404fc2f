"""The Telegram staff desk: a forum supergroup where each conversation handed to a person has
its own topic, named with the handoff's reference and the citizen's language.

The bot must be an administrator of the group with the right to manage topics (admins receive
every message, which the desk needs). Only the user ids in DESK_TELEGRAM_STAFF can act there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aiolimiter import AsyncLimiter
from telegram import Bot, LinkPreviewOptions, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.desk.relay import (
    CannotDelete,
    DeskThreads,
    DeskUnavailable,
    ThreadGone,
    answer_staff,
)
from bot.desk.service import Desk
from bot.outbox.delivery import Outgoing
from bot.outbox.text import split_for
from bot.staff_web.accounts import StaffMember

if TYPE_CHECKING:
    from sqlalchemy import Engine


logger = logging.getLogger(__name__)

DESK = "telegram"


class TelegramDeskThreads(DeskThreads):
    """Topics of the staff forum group."""

    desk = DESK

    def __init__(
        self,
        bot: Callable[[], Bot],
        limiters: Callable[[str], Sequence[AsyncLimiter]],
        chat_id: int,
    ) -> None:
        """`bot` gives the running channel's bot; `limiters` the rate limits of a chat (the
        channel's sender paces the group for every message it gets, the desk's included)."""
        self._bot = bot
        self._limiters = limiters
        self.chat_id = chat_id

    async def open_thread(self, title: str) -> str:
        topic = await self._call(
            lambda: self._bot().create_forum_topic(chat_id=self.chat_id, name=title[:128])
        )
        return str(topic.message_thread_id)

    async def post(self, thread_id: str, text: str) -> None:
        for part in split_for(DESK, text):
            await self._call(
                lambda part=part: self._bot().send_message(
                    chat_id=self.chat_id,
                    text=part,  # plain text: a citizen's words are never read as markup
                    message_thread_id=int(thread_id),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
                thread_id=thread_id,
            )

    async def set_closed(self, thread_id: str, closed: bool) -> None:
        bot = self._bot()
        method = bot.close_forum_topic if closed else bot.reopen_forum_topic
        try:
            await self._call(lambda: method(chat_id=self.chat_id, message_thread_id=int(thread_id)))
        except (BadRequest, ThreadGone) as exc:
            # Already in that state, or gone (a new topic is opened when needed).
            logger.info(
                "Telegram topic %s not %s: %s", thread_id, "closed" if closed else "reopened", exc
            )

    async def delete_thread(self, thread_id: str) -> None:
        try:
            await self._call(
                lambda: self._bot().delete_forum_topic(
                    chat_id=self.chat_id, message_thread_id=int(thread_id)
                )
            )
        except BadRequest as exc:
            if "topic_id_invalid" in str(exc).lower():
                return  # deleted already (by a person)
            raise CannotDelete(str(exc)) from exc

    async def alert(self, text: str) -> None:
        await self._call(lambda: self._bot().send_message(chat_id=self.chat_id, text=text[:4000]))

    async def notice(self, text: str) -> None:
        await self.alert(text)  # the general topic: no one is called there either way

    async def _call(self, make, *, thread_id: str | None = None):  # type: ignore[no-untyped-def]
        """Calls the Bot API within the group's rate limits; a topic closed by hand is reopened."""
        while True:
            for limiter in self._limiters(str(self.chat_id)):
                await limiter.acquire()
            try:
                return await make()
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
            except BadRequest as exc:
                message = str(exc).lower()
                if thread_id is not None and "thread not found" in message:
                    raise ThreadGone(str(exc)) from exc
                if thread_id is not None and "topic_closed" in message:
                    await self._bot().reopen_forum_topic(
                        chat_id=self.chat_id, message_thread_id=int(thread_id)
                    )
                    continue
                raise
            except (NetworkError, Forbidden) as exc:
                raise DeskUnavailable(str(exc)) from exc


def staff_message(
    message: Message,
    *,
    desk: Desk,
    engine: Engine,
    staff_ids: Sequence[int],
) -> list[Outgoing]:
    """What a person wrote in the staff group: an answer or a command for the conversation of
    that topic; refused politely (and audited) for anyone not configured as staff."""
    user = message.from_user
    thread = message.message_thread_id if message.is_topic_message else None
    if user is None or thread is None:
        return []  # the general topic is the staff's own chat
    return answer_staff(
        desk,
        engine,
        desk_name=DESK,
        destination=str(message.chat.id),
        thread_id=str(thread),
        staff=(
            StaffMember(key=f"staff:{DESK}:{user.id}", name=user.first_name, desk=DESK)
            if user.id in staff_ids
            else None
        ),
        who=str(user.id),
        text=message.text or message.caption or "",
        options={"thread_id": thread, "reply_to": message.message_id},
    )


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


__all__ = ["TelegramDeskThreads", "TelegramError", "staff_message"]
