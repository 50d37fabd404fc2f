"""Listening in Telegram groups and supergroups (LISTEN_TELEGRAM_CHATS).

What the intake keeps of group chatter is decided here, as the update is stored: a message that
mentions the project (and whose author did not opt out) is kept as a `GroupMessage`, without the
author's name or Telegram id; an edit that no longer mentions it is kept as "forget that one";
anything else leaves only its update id. The notice is posted with the Bot API directly (its id
is needed to pin it) and pinned without a notification; Telegram tells a bot nothing when its
message is unpinned or deleted, so a deleted notice is noticed only when pinning it again fails,
and `bot listen renotice` asks for a new one.

A bot in a group receives every message only when its group privacy is off (BotFather,
/setprivacy) or when it is an administrator: otherwise only commands, mentions and replies reach
it. `getMe` says which (`can_read_all_group_messages`); when the bot cannot read everything in a
listened group, the log and the channel's status say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import telegram
from sqlmodel import Session
from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Message
from telegram.constants import ChatMemberStatus
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from bot.channels.base import ListeningProblems
from bot.common.commands import COMMANDS
from bot.listening import store
from bot.listening.groups import GroupMessage, Listener, forget_payload
from bot.listening.phrases import LISTENING_COMMANDS, OPT_COMMANDS
from bot.outbox.delivery import Outgoing
from bot.outbox.text import split_for

logger = logging.getLogger(__name__)

PLATFORM = "telegram"
PAYLOAD = "listening"  # the key of what the intake keeps for listening
ADMINISTRATORS = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


class TelegramListening:
    """The assistant listening in some Telegram groups."""

    def __init__(
        self, *, listener: Listener, chats: Sequence[int], recheck_every: float = 60.0
    ) -> None:
        """Args:
        listener: what hears and keeps the messages.
        chats: the ids of the listened groups (negative numbers).
        recheck_every: seconds between two checks of the notices and of the bot's rights.
        """
        self.listener = listener
        self._db = listener.database
        self.chats = tuple(dict.fromkeys(chats))
        self._recheck_every = recheck_every
        self.checks = 0  # rounds of checks of every group done since the channel started

    def listens(self, chat_id: int) -> bool:
        """Whether the group `chat_id` is listened to."""
        return chat_id in self.chats

    # --- intake ----------------------------------------------------------------------------

    def screen(
        self, payload: dict[str, Any], message: Message, *, member: str, edited: bool
    ) -> dict[str, Any]:
        """What the intake keeps of group chatter not addressed to the assistant."""
        kept: dict[str, Any] = {"update_id": payload["update_id"]}
        if not self.listens(message.chat.id):
            return kept
        heard = GroupMessage(
            channel=PLATFORM,
            group_key=str(message.chat.id),
            external_id=str(message.message_id),
            member=member,
            text=message.text or message.caption or "",
            language_hint=message.from_user.language_code if message.from_user else None,
            sent_at=message.date,
            title=message.chat.title,
        )
        if self.listener.keeps(heard):
            kept[PAYLOAD] = heard.payload()
        elif edited:
            kept[PAYLOAD] = forget_payload(
                channel=PLATFORM, group_key=heard.group_key, external_id=heard.external_id
            )
        return kept

    async def handle(self, item: dict[str, Any]) -> None:
        """Hears (or forgets) what `screen` kept."""
        await self.listener.handle(item)

    def opt_command(self, name: str, message: Message, *, member: str) -> list[Outgoing]:
        """/optout or /optin, in a group or in private: done, and confirmed in a reply that
        repeats nothing the member wrote (a bot cannot start a private chat on Telegram)."""
        if name not in OPT_COMMANDS:
            raise ValueError(f"not a listening command: {name}")
        if name == "optout":
            self.listener.opt_out(channel=PLATFORM, member=member)
        else:
            self.listener.opt_in(channel=PLATFORM, member=member)
        hint = message.from_user.language_code if message.from_user else None
        options: dict[str, Any] = {}
        if message.chat.type != "private":
            options["reply_to"] = message.message_id
        if message.is_topic_message and message.message_thread_id:
            options["thread_id"] = message.message_thread_id
        return [
            Outgoing(destination=str(message.chat.id), text=part, options=options)
            for part in split_for(PLATFORM, self.listener.opt_answer(name, hint))
        ]

    # --- the notices -----------------------------------------------------------------------

    async def keep_notices(self, bot: telegram.Bot, problems: ListeningProblems) -> None:
        """Posts and pins the notice where it is missing, checks the bot may read every message,
        and does it again every `recheck_every` seconds (a `bot listen renotice`, rights given
        meanwhile). Runs until cancelled."""
        await self._retire_unlisted(bot)
        await self._register_commands(bot)
        while True:
            for chat_id in self.chats:
                await self._check_group(bot, chat_id, problems)
            self.checks += 1
            await asyncio.sleep(self._recheck_every)

    async def _check_group(
        self, bot: telegram.Bot, chat_id: int, problems: ListeningProblems
    ) -> None:
        key = str(chat_id)
        try:
            await self._check_reading(bot, chat_id, problems)
            await self._ensure_notice(bot, chat_id, problems)
        except InvalidToken:
            raise  # the channel stops and says why
        except RetryAfter as exc:
            value = exc.retry_after
            await asyncio.sleep(value.total_seconds() if isinstance(value, timedelta) else value)
        except ChatMigrated as exc:
            problems.report(
                key,
                "notice",
                f"it became a supergroup with id {exc.new_chat_id}: put that id in "
                "LISTEN_TELEGRAM_CHATS.",
            )
        except Forbidden as exc:
            problems.report(
                key,
                "notice",
                f"the bot is not a member of this group ({exc.message}): add it to the group.",
            )
        except TelegramError as exc:
            # Network trouble, a chat that does not exist: said, and tried again later.
            problems.report(key, "notice", f"Telegram refused or failed ({exc.message}).")

    async def _check_reading(
        self, bot: telegram.Bot, chat_id: int, problems: ListeningProblems
    ) -> None:
        key = str(chat_id)
        if bot.bot.can_read_all_group_messages:
            problems.solved(key, "privacy")
            return
        member = await bot.get_chat_member(chat_id, bot.bot.id)
        if member.status in ADMINISTRATORS:
            problems.solved(key, "privacy")
            return
        problems.report(
            key,
            "privacy",
            "the bot cannot read every message (its group privacy is on and it is not an "
            "administrator), so it only hears commands and messages addressed to it: turn group "
            "privacy off with BotFather (/setprivacy, Disable) and add the bot to the group "
            "again, or make it an administrator.",
        )

    async def _ensure_notice(
        self, bot: telegram.Bot, chat_id: int, problems: ListeningProblems
    ) -> None:
        key = str(chat_id)
        with Session(self._db) as session:
            group = store.ensure_group(session=session, channel=PLATFORM, group_key=key)
        group_id = group.id
        assert group_id is not None
        if group.notice_message_id is None:
            sent = await bot.send_message(
                chat_id=chat_id,
                text=self.listener.notice(platform=PLATFORM, handle=f"@{bot.bot.username}"),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            with Session(self._db) as session:
                store.ensure_group(
                    session=session, channel=PLATFORM, group_key=key, title=sent.chat.title
                )
                group = store.record_notice(
                    session=session,
                    group_id=group_id,
                    message_id=str(sent.message_id),
                    languages=self.listener.languages,
                )
            problems.solved(key, "notice")
            logger.info("Telegram: the listening notice is posted in group %s", chat_id)
        if group.notice_pinned_at is not None or group.notice_message_id is None:
            return
        try:
            await bot.pin_chat_message(
                chat_id=chat_id,
                message_id=int(group.notice_message_id),
                disable_notification=True,
            )
        except BadRequest as exc:
            if "not found" in exc.message.lower():
                # Someone deleted the notice: the group must be told again.
                with Session(self._db) as session:
                    store.clear_notice(session=session, group_id=group_id)
                logger.info("Telegram: the listening notice of group %s was deleted", chat_id)
                await self._ensure_notice(bot, chat_id, problems)
                return
            problems.report(
                key,
                "pin",
                f"the notice is posted but cannot be pinned ({exc.message}): make the bot an "
                "administrator allowed to pin messages.",
            )
            return
        with Session(self._db) as session:
            store.record_pin(session=session, group_id=group_id)
        problems.solved(key, "pin")
        logger.info("Telegram: the listening notice is pinned in group %s", chat_id)

    async def _register_commands(self, bot: telegram.Bot) -> None:
        """The command menu of each listened group: the usual commands, /optout and /optin."""
        languages = self.listener.languages
        for chat_id in self.chats:
            for language in (None, *languages):
                shown = language or languages[0]
                commands = [
                    BotCommand(c.name, c.description.get(shown, c.description["fr"])[:256])
                    for c in (*COMMANDS, *LISTENING_COMMANDS)
                ]
                try:
                    await bot.set_my_commands(
                        commands, scope=BotCommandScopeChat(chat_id), language_code=language
                    )
                except (BadRequest, Forbidden) as exc:
                    # Not a member of the group (yet): the notice check says so in the status.
                    logger.warning(
                        "Telegram refused the command menu of group %s: %s", chat_id, exc.message
                    )
                    break

    async def _retire_unlisted(self, bot: telegram.Bot) -> None:
        """A group no longer listed is not listened to: its notice, which would say otherwise,
        is unpinned (a new one is posted if it is listed again)."""
        with Session(self._db) as session:
            groups = store.groups_of(session=session, channel=PLATFORM)
        for group in groups:
            if int(group.group_key) in self.chats or group.notice_message_id is None:
                continue
            assert group.id is not None
            with contextlib.suppress(BadRequest, Forbidden, ChatMigrated):
                # Already unpinned or deleted, or the bot left: nothing more to do there.
                await bot.unpin_chat_message(
                    chat_id=int(group.group_key), message_id=int(group.notice_message_id)
                )
            with Session(self._db) as session:
                store.clear_notice(session=session, group_id=group.id)
            logger.info("Telegram: group %s is no longer listened to", group.group_key)
