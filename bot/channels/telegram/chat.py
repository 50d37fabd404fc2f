"""Telegram: private chats, groups and supergroups, through python-telegram-bot 22.

Intake does not use python-telegram-bot's Updater: it confirms a batch of updates (the next
`getUpdates` offset) before its handlers finish, and its webhook server answers 200 before
handling, so a crash can lose updates. Here each update is stored (deduplicated by the bot's
id and the `update_id`) before the next `getUpdates` confirms it, or before the webhook call is
answered; the intake then handles it once, in order per conversation, and the outbox sends the
answers within Telegram's limits (about 1 message a second per chat, 20 a minute per group,
30 a second overall; 429 answers are waited out and retried).

In a group the assistant answers only when addressed (a mention, a reply to one of its
messages, or a command), and personal matters get an invitation to continue in private. In a
group listed for listening it also records, without answering, what mentions the project
(`bot.channels.telegram.listening`); other group chatter leaves only its update id in the intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import os
import secrets
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import telegram
from aiolimiter import AsyncLimiter
from fastapi import APIRouter, Header, HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import Session
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.base import ChannelRejected, ChannelUnavailable, ChatChannel, ListeningProblems
from bot.channels.identity import Pseudonyms
from bot.channels.intake import Intake
from bot.channels.telegram.desk import TelegramDeskThreads, staff_message
from bot.channels.telegram.listening import PAYLOAD as LISTENING_PAYLOAD
from bot.channels.telegram.listening import TelegramListening
from bot.common.commands import COMMAND_NAMES, COMMANDS
from bot.common.types import Attachment, IncomingMessage, TurnResult
from bot.core.conversation import ConversationCore
from bot.desk.relay import Relay
from bot.desk.service import Desk
from bot.listening.phrases import OPT_COMMANDS
from bot.outbox.delivery import (
    Outbox,
    Outgoing,
    PermanentSendError,
    RateLimited,
    Sender,
    TemporarySendError,
    backoff,
)
from bot.outbox.text import split_for
from bot.participation.consultations import Consultations
from bot.storage import repository
from bot.storage.models import OutboxMessage

logger = logging.getLogger(__name__)

# python-telegram-bot 22 hands out `RetryAfter.retry_after` as an int with a deprecation
# warning on every 429, unless the future type (a timedelta) is chosen: we handle both.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
# poll_answer: a citizen's vote in a consultation's native poll (non-anonymous polls only).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "poll_answer")
MEDIA_KINDS = ("photo", "video", "voice", "audio", "document", "sticker", "location", "contact")
WEBHOOK_PATH = "/telegram/webhook"


class TelegramChannel(ChatChannel):
    """The assistant on Telegram."""

    name = CHANNEL

    def __init__(
        self,
        *,
        token: str,
        core: ConversationCore,
        engine: Engine,
        pseudonyms: Pseudonyms,
        base_url: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        poll_timeout: int = 25,
        retry_base: float = 1.0,
        desk: Desk | None = None,
        desk_chat: int | None = None,
        desk_staff: Sequence[int] = (),
        listening: TelegramListening | None = None,
        consultations: Consultations | None = None,
    ) -> None:
        super().__init__()
        # Consultations put to citizens as native polls (their votes come as poll_answer).
        self.consultations = consultations
        self._desk = desk
        # Listening in community groups (LISTEN_TELEGRAM_CHATS): None when no group is listed.
        self._listening = listening
        self._listening_problems = ListeningProblems(self.status, "Telegram")
        self._desk_chat = desk_chat
        self._desk_staff = tuple(desk_staff)
        self.relay: Relay | None = None
        if desk is not None:
            desk.on_change(self._desk_changed)
            if desk_chat is not None:
                self.relay = Relay(
                    desk=desk,
                    engine=engine,
                    threads=TelegramDeskThreads(
                        lambda: self.bot, lambda chat: self.sender.limiters(chat), desk_chat
                    ),
                )
        self._token = token
        self._core = core
        self._db = engine
        self._pseudonyms = pseudonyms
        self._base_url = base_url
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret or secrets.token_hex(24)
        self._poll_timeout = poll_timeout
        self._retry_base = retry_base
        self._bot: telegram.Bot | None = None
        self._me: telegram.User | None = None
        self.sender = TelegramSender(self)
        self.outbox = Outbox(
            engine=engine,
            channel=CHANNEL,
            sender=self.sender,
            retry_base=retry_base / 2,
            on_failed=self._undelivered,
        )
        self.intake = Intake(
            engine=engine,
            channel=CHANNEL,
            handler=self._handle_update,
            outbox=self.outbox,
            fallback=self._apologise,
            retry_base=retry_base / 2,
        )

    @property
    def bot(self) -> telegram.Bot:
        """The connected bot (only while the channel runs)."""
        if self._bot is None:
            raise RuntimeError("the Telegram channel is not running")
        return self._bot

    @property
    def username(self) -> str:
        """The bot's @username, without the @."""
        return self._me.username or "" if self._me is not None else ""

    def wake_ups(self) -> dict[str, Callable[[], None]]:
        return {
            f"inbound_update:{self.intake.channel}": self.intake.wake,
            f"outbox_message:{self.outbox.channel}": self.outbox.wake,
        }

    async def run(self) -> None:
        kwargs: dict[str, Any] = {
            "request": HTTPXRequest(connection_pool_size=16, read_timeout=15),
            "get_updates_request": HTTPXRequest(read_timeout=self._poll_timeout + 15),
        }
        if self._base_url:
            kwargs["base_url"] = self._base_url
        bot = telegram.Bot(self._token, **kwargs)
        try:
            await bot.initialize()
        except InvalidToken as exc:
            raise ChannelRejected(
                "Telegram rejected TELEGRAM_TOKEN (Unauthorized): check the token BotFather gave "
                "you; the Telegram channel is stopped, the other channels keep running."
            ) from exc
        except (NetworkError, TelegramError) as exc:
            raise ChannelUnavailable(f"Telegram cannot be reached ({exc})") from exc
        self._bot, self._me = bot, bot.bot
        try:
            await self._register_commands()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.intake.run())
                tasks.create_task(self.outbox.run())
                if self.relay is not None:
                    tasks.create_task(self.relay.run())
                if self._listening is not None:
                    tasks.create_task(self._listening.keep_notices(bot, self._listening_problems))
                if self._webhook_url:
                    await self._set_webhook()
                else:
                    tasks.create_task(self._poll())
                self.status.state = "running"
                logger.info(
                    "Telegram channel running as @%s (%s)",
                    self.username,
                    "webhook" if self._webhook_url else "polling",
                )
        except* InvalidToken as group:
            raise ChannelRejected(
                "Telegram no longer accepts TELEGRAM_TOKEN (it was revoked?); the Telegram "
                "channel is stopped, the other channels keep running."
            ) from group.exceptions[0]
        except* BadRequest as group:
            # At start-up only: the webhook address or the command menu was refused.
            raise ChannelRejected(
                f"Telegram refused the set-up ({group.exceptions[0]}): check "
                "TELEGRAM_WEBHOOK_URL (a public HTTPS address); the Telegram channel is "
                "stopped, the other channels keep running."
            ) from group.exceptions[0]
        except* NetworkError as group:
            raise ChannelUnavailable(
                f"Telegram cannot be reached ({group.exceptions[0]})"
            ) from group.exceptions[0]
        finally:
            self._bot = None
            with contextlib.suppress(TelegramError):
                await bot.shutdown()

    def _undelivered(self, message: OutboxMessage, error: str) -> None:
        # A person's answer that cannot reach the citizen must be seen by that person.
        if self._desk is not None and message.message_id is not None:
            with Session(self._db) as session:
                self._desk.delivery_failed(session, message.message_id, error)

    def _desk_changed(self) -> None:
        # A person answered or joined: send it now rather than at the next outbox poll.
        self.outbox.wake()
        if self.relay is not None:
            self.relay.wake()

    # --- intake ---------------------------------------------------------------------------

    async def _poll(self) -> None:
        """Long-polls Telegram; an update is stored before the next call confirms it."""
        bot = self.bot
        offset = self._next_offset()
        failures = 0
        while True:
            try:
                await bot.delete_webhook(drop_pending_updates=False)
                break
            except (NetworkError, Conflict) as exc:
                failures += 1
                await asyncio.sleep(backoff(failures, base=self._retry_base, cap=60))
                logger.warning("Telegram: cannot remove a webhook yet (%s)", exc)
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=self._poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                    read_timeout=self._poll_timeout + 15,
                )
                failures = 0
            except (Conflict, NetworkError) as exc:
                # Network trouble, Telegram's 5xx, or another process polling the same bot.
                failures += 1
                delay = backoff(failures, base=self._retry_base, cap=60)
                self.status.state, self.status.detail = "retrying", str(exc)
                logger.warning("Telegram polling failed (%s); again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            except RetryAfter as exc:
                await asyncio.sleep(_retry_after(exc))
                continue
            self.status.state, self.status.detail = "running", ""
            for update in updates:
                self.accept(update.to_dict())
                offset = update.update_id + 1

    def _next_offset(self) -> int | None:
        """The offset after the last update stored for this bot (None: start from Telegram's)."""
        prefix = f"{self._bot_id}:"
        with Session(self._db) as session:
            last = repository.last_update_key(session=session, channel=CHANNEL, prefix=prefix)
        return int(last.removeprefix(prefix)) + 1 if last else None

    @property
    def _bot_id(self) -> int:
        return int(self._token.split(":", 1)[0])

    def accept(self, payload: dict[str, Any]) -> bool:
        """Stores one raw update (from polling or the webhook); False if it was a redelivery."""
        update_id = int(payload["update_id"])
        return self.intake.accept(
            update_key=f"{self._bot_id}:{update_id}",
            conversation_key=self._ordering_key(payload),
            payload=self._screened(payload),
        )

    def _screened(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What the intake keeps of an update: all of it, except for group chatter not addressed
        to the assistant, which keeps its text only when listening records it (see
        `TelegramListening.screen`) and otherwise only its update id."""
        item = payload.get("message") or payload.get("edited_message")
        if self._me is None or not isinstance(item, dict):
            return payload  # not running yet: cannot tell what is addressed; handled as before
        try:
            message = Message.de_json(item, self._bot)
        except (KeyError, TypeError, ValueError):
            return payload  # malformed: the handler decides (and fails loudly)
        if message.chat.type not in ("group", "supergroup") or message.chat.id == self._desk_chat:
            return payload
        user = message.from_user
        if user is not None and not user.is_bot:
            if _command(message, self.username) is not None or self._addressed(message):
                return payload
            if self._listening is not None:
                return self._listening.screen(
                    payload,
                    message,
                    member=self._pseudonyms.of("tg", user.id),
                    edited="edited_message" in payload,
                )
        return {"update_id": payload["update_id"]}

    def _ordering_key(self, payload: dict[str, Any]) -> str | None:
        """The chat and sender of a raw update (pseudonymised), so the intake keeps each
        citizen's thread in order."""
        answer = payload.get("poll_answer")
        if isinstance(answer, dict):
            user = (answer.get("user") or {}).get("id")
            return f"poll:{self._pseudonyms.of('tg', str(user))}"
        for field in ("message", "edited_message", "callback_query"):
            item = payload.get(field)
            if isinstance(item, dict):
                message = item.get("message", {}) if field == "callback_query" else item
                chat = (message.get("chat") or {}).get("id")
                user = (item.get("from") or {}).get("id")
                return f"{chat}:{self._pseudonyms.of('tg', str(user))}"
        return None

    async def _set_webhook(self) -> None:
        assert self._webhook_url is not None
        await self.bot.set_webhook(
            url=self._webhook_url,
            secret_token=self._webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )

    def webhook_router(self) -> APIRouter:
        """The HTTP endpoint Telegram posts updates to in webhook mode."""
        router = APIRouter()

        @router.post(WEBHOOK_PATH, include_in_schema=False)
        async def receive(
            request: Request,
            secret: str | None = Header(default=None, alias="X-Telegram-Bot-Api-Secret-Token"),
        ) -> dict[str, bool]:
            # Bytes, not str: compare_digest refuses a str with non-ASCII characters (a 500).
            given = (secret or "").encode("utf-8", "surrogateescape")
            if not secret or not hmac.compare_digest(given, self._webhook_secret.encode()):
                raise HTTPException(status_code=403, detail="wrong secret token")
            try:
                payload = await request.json()
                int(payload["update_id"])
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise HTTPException(status_code=400, detail="not a Telegram update") from exc
            # Stored and committed before answering: a failure here answers 500 and Telegram
            # delivers the update again.
            self.accept(payload)
            return {"ok": True}

        return router

    # --- handling -------------------------------------------------------------------------

    async def _handle_update(self, payload: dict[str, Any]) -> Sequence[Outgoing]:
        if self._listening is not None and LISTENING_PAYLOAD in payload:
            await self._listening.handle(payload[LISTENING_PAYLOAD])
            return []  # heard, never answered
        update = Update.de_json(payload, self.bot)
        if update.poll_answer is not None:
            self._poll_answer(update.poll_answer)
            return []  # the poll itself shows the citizen their choice
        if update.callback_query is not None:
            return await self._handle_button(update.callback_query)
        message = update.message or update.edited_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return []
        edited = update.edited_message is not None
        if self._desk is not None and message.chat.id == self._desk_chat:
            if edited:
                return []  # an edit of an answer already sent cannot be taken back from the citizen
            return staff_message(
                message, desk=self._desk, engine=self._db, staff_ids=self._desk_staff
            )
        group = message.chat.type in ("group", "supergroup")
        text = message.text or message.caption or ""
        command = _command(message, self.username)
        if self._listening is not None and command is not None and command[0] in OPT_COMMANDS:
            if edited:
                return []
            return self._listening.opt_command(
                command[0], message, member=self._pseudonyms.of("tg", message.from_user.id)
            )
        if group and not (command or self._addressed(message)):
            return []  # group chatter not meant for the assistant is neither answered nor kept
        incoming = self._incoming(
            message,
            text=self._without_mention(text),
            edit_update=update.update_id if edited else None,
        )
        if command is not None and not edited:
            name, argument = command
            if name not in COMMAND_NAMES and group:
                return []  # another bot's command
            result = await self._core.command(incoming, name, argument)
        else:
            result = await self._core.handle(incoming)
        return self._answers(result, message, reply=group)

    def _poll_answer(self, answer: telegram.PollAnswer) -> None:
        """A vote (or its withdrawal: no option) in one of our consultations' polls."""
        if self.consultations is None or answer.user is None:
            return
        self.consultations.record_poll_vote(
            channel=CHANNEL,
            poll_id=answer.poll_id,
            voter=self._pseudonyms.of("tg", answer.user.id),
            option_ids=list(answer.option_ids),
        )

    async def _apologise(self, payload: dict[str, Any]) -> Sequence[Outgoing]:
        """For an update that could not be handled: kept for a person, and the citizen told."""
        update = Update.de_json(payload, self.bot)
        message = update.message or update.edited_message
        if message is None or message.from_user is None:
            return []
        text = message.text or message.caption or ""
        edited = update.edited_message is not None
        chatter = message.chat.type in ("group", "supergroup") and not (
            _command(message, self.username) or self._addressed(message)
        )
        if chatter and message.chat.id != self._desk_chat:
            return []  # group chatter (heard or not) never gets an answer
        incoming = self._incoming(
            message, text=text, edit_update=update.update_id if edited else None
        )
        result = await self._core.keep_for_person(incoming, "handling_failed")
        return self._answers(result, message, reply=incoming.place == "group")

    async def _handle_button(self, query: telegram.CallbackQuery) -> Sequence[Outgoing]:
        with contextlib.suppress(TelegramError):
            await query.answer()  # stops the button's spinner; harmless if too late
        message = query.message
        data = query.data or ""
        name, _, argument = data.partition(":")
        if not isinstance(message, Message) or name not in COMMAND_NAMES:
            return []
        group = message.chat.type in ("group", "supergroup")
        incoming = IncomingMessage(
            channel=CHANNEL,
            conversation_key=self._conversation_key(message.chat.id, query.from_user.id, group),
            sender_key=self._pseudonyms.of("tg", query.from_user.id),
            text=f"[{data}]",
            external_id=f"callback:{query.id}",
            place="group" if group else "private",
            language_hint=query.from_user.language_code,
        )
        result = await self._core.command(incoming, name, argument)
        return self._answers(result, message, reply=False)

    def _incoming(self, message: Message, *, text: str, edit_update: int | None) -> IncomingMessage:
        """Our message for a Telegram one; `edit_update` is the update id of an edit (each
        edit is a turn of its own, and a crash-retried update keeps its id)."""
        user = message.from_user
        assert user is not None
        group = message.chat.type in ("group", "supergroup")
        key = f"{message.chat.id}:{message.message_id}"
        return IncomingMessage(
            channel=CHANNEL,
            conversation_key=self._conversation_key(message.chat.id, user.id, group),
            sender_key=self._pseudonyms.of("tg", user.id),
            text=text,
            external_id=key if edit_update is None else f"{key}:edit:{edit_update}",
            edit_of=None if edit_update is None else key,
            attachments=_attachments(message),
            place="group" if group else "private",
            language_hint=user.language_code,
            private_link=f"https://t.me/{self.username}?start=private" if self.username else None,
        )

    def _conversation_key(self, chat_id: int, user_id: int, group: bool) -> str:
        # A private chat's id is the citizen's: needed in clear to answer them. In a group,
        # each citizen has their own conversation, keyed by a pseudonym.
        if group:
            return f"{chat_id}:{self._pseudonyms.of('tg', user_id)}"
        return str(chat_id)

    def _addressed(self, message: Message) -> bool:
        """Whether a group message is meant for the assistant."""
        me = self._me
        if me is None:
            return False
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
            return True
        for entity, value in {
            **message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
            **message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
        }.items():
            if (
                entity.type == MessageEntity.TEXT_MENTION
                and entity.user
                and entity.user.id == me.id
            ):
                return True
            if value.lower() == f"@{self.username}".lower():
                return True
        return False

    def _without_mention(self, text: str) -> str:
        if not self.username:
            return text
        mention = f"@{self.username}"
        cleaned = " ".join(
            word for word in text.split(" ") if word.strip(",:;").lower() != mention.lower()
        )
        return cleaned.strip() or text.strip()

    def _answers(self, result: TurnResult, message: Message, *, reply: bool) -> list[Outgoing]:
        """The turn's replies as Telegram messages, cut at Telegram's limit."""
        outgoing: list[Outgoing] = []
        chat = str(message.chat.id)
        conversation_id = result.stored_conversation_id
        for reply_index, answer in enumerate(result.replies):
            parts = split_for(CHANNEL, answer.text)
            for index, part in enumerate(parts):
                options: dict[str, Any] = {}
                if reply and reply_index == 0 and index == 0:
                    options["reply_to"] = message.message_id
                if message.is_topic_message and message.message_thread_id:
                    options["thread_id"] = message.message_thread_id
                if answer.choices and index == len(parts) - 1:
                    options["choices"] = [[c.label, c.value] for c in answer.choices]
                outgoing.append(
                    Outgoing(
                        destination=chat,
                        text=part,
                        options=options,
                        conversation_id=conversation_id,
                        message_id=result.message_id,
                    )
                )
        return outgoing

    async def _register_commands(self) -> None:
        """The command menu, in each language (and the default language for the others)."""
        languages = self._core.languages
        for language in (None, *languages):
            shown = language or languages[0]
            commands = [
                BotCommand(c.name, c.description.get(shown, c.description["fr"])[:256])
                for c in COMMANDS
            ]
            try:
                await self.bot.set_my_commands(commands, language_code=language)
            except BadRequest as exc:
                logger.warning("Telegram refused the command menu (%s): %s", language, exc)


class TelegramSender(Sender):
    """Sends outbox messages with the Bot API, within Telegram's limits."""

    def __init__(self, channel: TelegramChannel) -> None:
        self._channel = channel
        # aiolimiter is a leaky bucket: at most `capacity + rate x window` pass in any window,
        # so each limit is set under Telegram's published one: at most 20 a second overall
        # (30), 1 every 1.33 s per chat after a burst of 3 (1 a second), at most 19 in any
        # minute per group (20). Telegram counts arrivals, and sends paced here can arrive
        # bunched (a busy process writes several at once after a pause): the margins are wide
        # for that (with 25 a second overall and 1 every 1.1 s per chat, the replica test saw
        # 30 arrive within a second and 3 to 10 429s in one burst; now 0 to 8 in 400 to 700
        # sends). A 429 is waited out, and the message then sent in order.
        self._overall = AsyncLimiter(4, 0.25)
        self._bulk = AsyncLimiter(2, 0.25)  # news takes at most half of the overall rate
        self._per_chat: OrderedDict[str, list[AsyncLimiter]] = OrderedDict()

    def limiters(self, destination: str) -> Sequence[AsyncLimiter]:
        found = self._per_chat.get(destination)
        if found is None:
            found = [AsyncLimiter(3, 4.0)]  # the burst a multi-part answer needs
            if destination.startswith("-"):  # groups and supergroups have negative ids
                found.append(AsyncLimiter(4, 16))
            self._per_chat[destination] = found
            while len(self._per_chat) > 10_000:
                self._per_chat.popitem(last=False)
        else:
            self._per_chat.move_to_end(destination)
        return (*found, self._overall)

    def bulk_limiter(self) -> AsyncLimiter:
        return self._bulk

    async def send(self, message: OutboxMessage) -> str:
        try:
            bot = self._channel.bot
        except RuntimeError as exc:
            raise TemporarySendError("the Telegram channel is not connected") from exc
        options = message.options
        if options.get("poll"):
            return await self._send_poll(bot, message)
        if options.get("stop_poll"):
            return await self._stop_poll(bot, message)
        markup = None
        if options.get("choices"):
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(label, callback_data=value)]
                    for label, value in options["choices"]
                ]
            )
        reply = (
            ReplyParameters(message_id=int(options["reply_to"]), allow_sending_without_reply=True)
            if options.get("reply_to")
            else None
        )
        chat_id = int(message.destination)
        for _ in range(2):
            try:
                sent = await bot.send_message(
                    chat_id=chat_id,
                    text=html.escape(message.text, quote=False),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    reply_parameters=reply,
                    message_thread_id=options.get("thread_id"),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                return str(sent.message_id)
            except ChatMigrated as exc:
                # The group became a supergroup with a new id: the message goes there.
                chat_id = int(exc.new_chat_id)
            except RetryAfter as exc:
                raise RateLimited(_retry_after(exc)) from exc
            except (Forbidden, BadRequest) as exc:
                raise PermanentSendError(str(exc)) from exc
            except (NetworkError, InvalidToken, Conflict) as exc:
                raise TemporarySendError(str(exc)) from exc
            except TelegramError as exc:  # anything else Telegram says: tried again, then given up
                raise TemporarySendError(str(exc)) from exc
        raise PermanentSendError("the chat moved twice while sending")

    async def _send_poll(self, bot: telegram.Bot, message: OutboxMessage) -> str:
        """A consultation as a native poll: not anonymous, so that Telegram tells the bot each
        vote (`poll_answer`); in a private chat nobody else sees it."""
        poll = message.options["poll"]
        try:
            sent = await bot.send_poll(
                chat_id=int(message.destination),
                question=str(poll["question"])[:300],
                options=[str(option)[:100] for option in poll["options"]],
                is_anonymous=False,
                allows_multiple_answers=False,
            )
        except RetryAfter as exc:
            raise RateLimited(_retry_after(exc)) from exc
        except (Forbidden, BadRequest) as exc:
            raise PermanentSendError(str(exc)) from exc
        except TelegramError as exc:
            raise TemporarySendError(str(exc)) from exc
        consultations = self._channel.consultations
        if consultations is not None and sent.poll is not None:
            consultations.poll_sent(
                int(poll["invite"]), poll_id=sent.poll.id, poll_message_id=str(sent.message_id)
            )
        return str(sent.message_id)

    async def _stop_poll(self, bot: telegram.Bot, message: OutboxMessage) -> str:
        """Closes a consultation's poll (already closed or gone: nothing left to do)."""
        poll_message = int(message.options["stop_poll"])
        try:
            await bot.stop_poll(chat_id=int(message.destination), message_id=poll_message)
        except RetryAfter as exc:
            raise RateLimited(_retry_after(exc)) from exc
        except BadRequest as exc:
            logger.info("Telegram: a consultation's poll could not be stopped (%s)", exc)
        except Forbidden as exc:
            raise PermanentSendError(str(exc)) from exc
        except TelegramError as exc:
            raise TemporarySendError(str(exc)) from exc
        return str(poll_message)


def _command(message: Message, username: str) -> tuple[str, str] | None:
    """(name, argument) when the message is a command for us: "/name@us arg" or "/name arg"."""
    text = message.text or ""
    entities = message.entities or ()
    if not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset != 0:
        return None
    word = text[: entities[0].length]
    name, _, target = word[1:].partition("@")
    if target and target.lower() != username.lower():
        return None
    return name.lower(), text[entities[0].length :].strip()


def _attachments(message: Message) -> tuple[Attachment, ...]:
    """What came with the message, with the metadata a person needs to find it again."""
    found: list[Attachment] = []
    for kind in MEDIA_KINDS:
        value = getattr(message, kind, None)
        if not value:
            continue
        item = value[-1] if isinstance(value, tuple) else value  # photos: the largest size
        details = {
            key: val
            for key, val in item.to_dict().items()
            if key
            in {
                "file_id",
                "file_unique_id",
                "file_size",
                "file_name",
                "mime_type",
                "duration",
                "width",
                "height",
                "emoji",
                "latitude",
                "longitude",
                "phone_number",
            }
        }
        found.append(Attachment(kind=kind, details=details))
    return tuple(found)


def _retry_after(error: RetryAfter) -> float:
    """Seconds to wait, whichever type python-telegram-bot hands out (int now, timedelta later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
