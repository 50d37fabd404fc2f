"""Discord: direct messages and guild channels, through discord.py 2.

The assistant answers every direct message; in a guild it answers when mentioned, in the
channels listed in DISCORD_CHANNELS, and in the threads it started (a guild conversation
moves into a thread opened on the citizen's first message, so the channel stays readable).
Slash commands come from `bot.common.commands`, with French and English descriptions. In the
channels listed for listening it also records, without answering, what mentions the project
(`bot.channels.discord.listening`).

Messages go through the same durable intake and outbox as Telegram: stored before they are
handled, answered once, sent in order with a nonce (Discord drops a retried duplicate) and
`allowed_mentions` none, so nothing a citizen wrote can ping anyone. discord.py reconnects and
resumes by itself; after a new session (a gap it could not resume, or a restart) the channels
with recent conversations are read back from the last stored message and anything missed is
taken in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
from aiolimiter import AsyncLimiter
from discord import app_commands
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.channels.base import ChannelRejected, ChannelUnavailable, ChatChannel, ListeningProblems
from bot.channels.discord.desk import DiscordDeskThreads, desk_payload, is_desk_message
from bot.channels.discord.desk import staff_message as desk_staff_message
from bot.channels.discord.listening import DiscordListening, typed_command
from bot.channels.identity import Pseudonyms
from bot.channels.intake import Intake
from bot.common.commands import COMMANDS, Command
from bot.common.types import Attachment, IncomingMessage, TurnResult
from bot.core.conversation import ConversationCore
from bot.desk.relay import Relay
from bot.desk.service import Desk
from bot.outbox.delivery import (
    Outbox,
    Outgoing,
    PermanentSendError,
    RateLimited,
    Sender,
    TemporarySendError,
)
from bot.outbox.text import split_for
from bot.participation.consultations import Consultations
from bot.storage.models import InboundUpdate, OutboxMessage

logger = logging.getLogger(__name__)

CHANNEL = "discord"
RECONCILE_WINDOW = timedelta(days=7)
NO_PINGS = discord.AllowedMentions.none()
THREAD_ALREADY_EXISTS = 160004  # Discord's code: a thread was already started on this message


class DiscordChannel(ChatChannel):
    """The assistant on Discord."""

    name = CHANNEL

    def __init__(
        self,
        *,
        token: str,
        core: ConversationCore,
        engine: Engine,
        pseudonyms: Pseudonyms,
        channels: Sequence[int] = (),
        command_guilds: Sequence[int] = (),
        guild_ready_timeout: float = 2.0,
        desk: Desk | None = None,
        desk_channel: int | None = None,
        desk_role: int | None = None,
        listening: DiscordListening | None = None,
        consultations: Consultations | None = None,
    ) -> None:
        super().__init__()
        # Consultations put to citizens as native polls (their votes come as poll events).
        self.consultations = consultations
        # Listening in community channels (LISTEN_DISCORD_CHANNELS): None when none is listed.
        self._listening = listening
        self._listening_problems = ListeningProblems(self.status, "Discord")
        self._desk = desk
        self._desk_channel = desk_channel
        self._desk_role = desk_role
        self.relay: Relay | None = None
        if desk is not None:
            desk.on_change(self._desk_changed)
            if desk_channel is not None:
                self.relay = Relay(
                    desk=desk,
                    engine=engine,
                    threads=DiscordDeskThreads(lambda: self.client, desk_channel, desk_role),
                )
        self._token = token
        self._core = core
        self._db = engine
        self._pseudonyms = pseudonyms
        self._channels = frozenset(channels)
        self._command_guilds = tuple(command_guilds)
        self._guild_ready_timeout = guild_ready_timeout
        self._client: _Client | None = None
        self.sender = DiscordSender(self)
        self.outbox = Outbox(
            engine=engine, channel=CHANNEL, sender=self.sender, on_failed=self._undelivered
        )
        self.intake = Intake(
            engine=engine,
            channel=CHANNEL,
            handler=self._handle_update,
            outbox=self.outbox,
            fallback=self._apologise,
        )
        self.sessions = 0  # READY events seen (a new gateway session each)

    @property
    def client(self) -> discord.Client:
        """The connected client (only while the channel runs)."""
        if self._client is None:
            raise RuntimeError("the Discord channel is not running")
        return self._client

    def wake_ups(self) -> dict[str, Callable[[], None]]:
        return {
            f"inbound_update:{self.intake.channel}": self.intake.wake,
            f"outbox_message:{self.outbox.channel}": self.outbox.wake,
        }

    async def run(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.polls = True  # the votes in consultations' polls, in DMs and servers
        client = _Client(self, intents=intents, guild_ready_timeout=self._guild_ready_timeout)
        try:
            await client.login(self._token)
        except discord.LoginFailure as exc:
            await client.close()
            raise ChannelRejected(
                "Discord rejected DISCORD_TOKEN (401 Unauthorized): copy the bot token from the "
                "developer portal again; the Discord channel is stopped, the other channels keep "
                "running."
            ) from exc
        except (aiohttp.ClientError, OSError, discord.HTTPException) as exc:
            await client.close()
            raise ChannelUnavailable(f"Discord cannot be reached ({exc})") from exc
        self._client = client
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.intake.run())
                tasks.create_task(self.outbox.run())
                tasks.create_task(client.connect(reconnect=True))
                if self.relay is not None:
                    tasks.create_task(self._relay_when_ready(client, self.relay))
                if self._listening is not None:
                    tasks.create_task(
                        self._listening.keep_notices(client, self._listening_problems)
                    )
        except* discord.PrivilegedIntentsRequired as group:
            raise ChannelRejected(
                "Discord refused the Message Content intent: enable it for this bot in the "
                "developer portal (Bot, Privileged Gateway Intents); the Discord channel is "
                "stopped, the other channels keep running."
            ) from group.exceptions[0]
        except* discord.LoginFailure as group:
            raise ChannelRejected(
                "Discord no longer accepts DISCORD_TOKEN (it was reset?); the Discord channel is "
                "stopped, the other channels keep running."
            ) from group.exceptions[0]
        except* (aiohttp.ClientError, OSError, discord.GatewayNotFound) as group:
            raise ChannelUnavailable(
                f"Discord cannot be reached ({group.exceptions[0]})"
            ) from group.exceptions[0]
        finally:
            self._client = None
            await client.close()

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

    @staticmethod
    async def _relay_when_ready(client: discord.Client, relay: Relay) -> None:
        await client.wait_until_ready()
        await relay.run()

    # --- intake ---------------------------------------------------------------------------

    def take(self, message: discord.Message, *, edited: bool = False) -> bool:
        """Stores a message meant for the assistant; False if ignored or already stored."""
        if is_desk_message(message, self._desk_channel):
            me = self._client.user if self._client else None
            if edited or message.author.bot or (me is not None and message.author.id == me.id):
                return False
            return self.intake.accept(
                update_key=f"{message.channel.id}:{message.id}",
                conversation_key=f"desk:{message.channel.id}",
                payload=desk_payload(message),
            )
        if self._listening is not None:
            listened = self._listen(message, edited=edited)
            if listened is not None:
                return listened
        if not self._meant_for_us(message):
            return False
        key = f"{message.channel.id}:{message.id}"
        if edited:  # each edit is a turn of its own, known by its exact time
            stamp = message.edited_at.isoformat() if message.edited_at else "0"
            key = f"{key}:edit:{stamp}"
        return self.intake.accept(
            update_key=key,
            conversation_key=f"{_home(message.channel)}:{self._pseudonyms.of('dc', message.author.id)}",
            payload=_payload(message, edited=edited),
        )

    def _listen(self, message: discord.Message, *, edited: bool) -> bool | None:
        """Stores what listening keeps of a message: a typed /optout or /optin, or chatter of a
        listened channel that mentions the project. None when the message is not listening's
        (then it goes on as before: answered if it is meant for the assistant)."""
        assert self._listening is not None
        me = self._client.user if self._client else None
        if me is None or message.author.bot or message.author.id == me.id:
            return None
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        if typed_command(message.content) is None and self._meant_for_us(message):
            return None  # addressed to the assistant: answered, not heard
        member = self._pseudonyms.of("dc", message.author.id)
        home = _home(message.channel)
        found = self._listening.take(message, home=home, member=member, edited=edited)
        if found is None:
            return None
        key, payload = found
        return self.intake.accept(
            update_key=key, conversation_key=f"{home}:{member}", payload=payload
        )

    def listening_commands(self) -> list[app_commands.Command[Any, Any, Any]]:
        """The slash commands of listening (/optout, /optin), when some channel is listened."""
        if self._listening is None:
            return []
        return self._listening.slash_commands(lambda user_id: self._pseudonyms.of("dc", user_id))

    def _meant_for_us(self, message: discord.Message) -> bool:
        me = self._client.user if self._client else None
        if me is None or message.author.bot or message.author.id == me.id:
            return False
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return False
        if message.guild is None:
            return True
        channel = message.channel
        if me in message.mentions or _home(channel) in self._channels:
            return True
        if isinstance(channel, discord.Thread) and channel.owner_id == me.id:
            return True
        reference = message.reference
        resolved = reference.resolved if reference is not None else None
        return isinstance(resolved, discord.Message) and resolved.author.id == me.id

    async def on_session(self) -> None:
        """A new gateway session (first start, or a gap that could not be resumed): read back
        what was missed in the channels of recent conversations."""
        self.sessions += 1
        self.status.state, self.status.detail = "running", ""
        try:
            await self._reconcile()
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            logger.warning("Discord: could not read back missed messages (%s)", exc)

    async def _reconcile(self) -> None:
        since = datetime.now(UTC) - RECONCILE_WINDOW
        with Session(self._db) as session:
            rows = session.exec(
                select(InboundUpdate.update_key)
                .where(
                    InboundUpdate.channel == CHANNEL,
                    col(InboundUpdate.received_at) >= since,
                )
                .order_by(col(InboundUpdate.id).desc())
                .limit(2000)
            )
            last_seen: dict[int, int] = {}
            for key in rows:
                channel_id, message_id = (int(part) for part in key.split(":")[:2])
                last_seen[channel_id] = max(last_seen.get(channel_id, 0), message_id)
        taken = 0
        for channel_id, message_id in last_seen.items():
            channel = self.client.get_partial_messageable(channel_id)
            async for message in channel.history(
                after=discord.Object(message_id), oldest_first=True, limit=100
            ):
                taken += self.take(message)
        if taken:
            logger.info("Discord: %s missed messages taken in after a new session", taken)

    def poll_vote(self, payload: discord.RawPollVoteActionEvent, *, added: bool) -> None:
        """A vote added to or removed from one of our consultations' polls (Discord numbers
        answers from 1; a change of mind is a removal and an addition)."""
        if self.consultations is None:
            return
        voter = self._pseudonyms.of("dc", payload.user_id)
        poll_id = str(payload.message_id)
        if added:
            self.consultations.record_poll_vote(
                channel=CHANNEL, poll_id=poll_id, voter=voter, option_ids=[payload.answer_id - 1]
            )
        else:
            self.consultations.withdraw_poll_vote(
                channel=CHANNEL, poll_id=poll_id, voter=voter, option_id=payload.answer_id - 1
            )

    # --- handling -------------------------------------------------------------------------

    async def _handle_update(self, payload: dict[str, Any]) -> Sequence[Outgoing]:
        if self._listening is not None and self._listening.owns(payload):
            return await self._listening.handle(payload)
        if payload.get("desk"):
            if self._desk is None:
                return []
            return desk_staff_message(
                payload, desk=self._desk, engine=self._db, role_id=self._desk_role
            )
        group = payload["guild_id"] is not None
        destination = int(payload["channel_id"])
        if group and payload["start_thread"] and not payload["edited"]:
            destination = await self._thread_for(payload)
        incoming = self._incoming(payload)
        result = await self._core.handle(incoming)
        reply_to = payload["id"] if group and destination == int(payload["channel_id"]) else None
        return self._answers(result, destination, reply_to=reply_to)

    async def _apologise(self, payload: dict[str, Any]) -> Sequence[Outgoing]:
        """For a message that could not be handled: kept for a person, and the citizen told."""
        if self._listening is not None and self._listening.owns(payload):
            return []  # a heard message is never answered
        result = await self._core.keep_for_person(self._incoming(payload), "handling_failed")
        group = payload["guild_id"] is not None
        return self._answers(
            result, int(payload["channel_id"]), reply_to=payload["id"] if group else None
        )

    def _incoming(self, payload: dict[str, Any]) -> IncomingMessage:
        group = payload["guild_id"] is not None
        return IncomingMessage(
            channel=CHANNEL,
            conversation_key=self._conversation_key(payload),
            sender_key=self._pseudonyms.of("dc", payload["author_id"]),
            text=self._without_mention(payload["content"]),
            external_id=str(payload["id"])
            + (f":edit:{payload['edited_at']}" if payload["edited"] else ""),
            edit_of=str(payload["id"]) if payload["edited"] else None,
            attachments=tuple(
                Attachment(kind=item["kind"], details=item["details"])
                for item in payload["attachments"]
            ),
            place="group" if group else "private",
            private_link=(
                f"https://discord.com/users/{self.client.user.id}"
                if self._client and self.client.user
                else None
            ),
        )

    def _conversation_key(self, payload: dict[str, Any]) -> str:
        if payload["guild_id"] is None:
            return f"dm:{payload['channel_id']}"
        # One conversation per citizen per channel, threads included; the id is a pseudonym.
        return f"{payload['home_id']}:{self._pseudonyms.of('dc', payload['author_id'])}"

    async def _thread_for(self, payload: dict[str, Any]) -> int:
        """Opens a thread on the citizen's message for the answers (the thread has the
        message's id; a retry after a crash finds the one already opened)."""
        channel = self.client.get_partial_messageable(
            int(payload["channel_id"]), guild_id=int(payload["guild_id"])
        )
        message = channel.get_partial_message(int(payload["id"]))
        name = (payload["content"] or "Question").strip().splitlines()[0][:80] or "Question"
        try:
            thread = await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException as exc:
            if exc.code == THREAD_ALREADY_EXISTS:
                return int(payload["id"])
            if isinstance(exc, discord.Forbidden):
                return int(payload["channel_id"])  # no thread permission: answer in the channel
            raise
        return thread.id

    def _without_mention(self, text: str) -> str:
        me = self._client.user if self._client else None
        if me is None:
            return text
        for form in (f"<@{me.id}>", f"<@!{me.id}>"):
            text = text.replace(form, " ")
        return " ".join(text.split())

    def _answers(
        self, result: TurnResult, destination: int, *, reply_to: int | None
    ) -> list[Outgoing]:
        outgoing: list[Outgoing] = []
        for number, answer in enumerate(result.replies):
            for index, part in enumerate(split_for(CHANNEL, answer.text)):
                options: dict[str, Any] = {}
                if reply_to is not None and number == 0 and index == 0:
                    options["reply_to"] = reply_to
                outgoing.append(
                    Outgoing(
                        destination=str(destination),
                        text=part,
                        options=options,
                        conversation_id=result.stored_conversation_id,
                        message_id=result.message_id,
                    )
                )
        return outgoing

    # --- slash commands -------------------------------------------------------------------

    async def answer_command(
        self, interaction: discord.Interaction, command: Command, argument: str | None
    ) -> None:
        """Answers a slash command in the citizen's language (stored like any exchange)."""
        user = interaction.user
        in_guild = interaction.guild_id is not None
        channel_id = interaction.channel_id or 0
        home = channel_id
        if isinstance(interaction.channel, discord.Thread) and interaction.channel.parent_id:
            home = interaction.channel.parent_id
        incoming = IncomingMessage(
            channel=CHANNEL,
            conversation_key=(
                f"{home}:{self._pseudonyms.of('dc', user.id)}" if in_guild else f"dm:{channel_id}"
            ),
            sender_key=self._pseudonyms.of("dc", user.id),
            text=f"/{command.name} {argument or ''}".strip(),
            external_id=f"interaction:{interaction.id}",
            place="group" if in_guild else "private",
            language_hint=str(interaction.locale),
        )
        result = await self._core.command(incoming, command.name, argument)
        parts = [part for reply in result.replies for part in split_for(CHANNEL, reply.text)]
        # Answered directly (Discord wants an answer within 3 s); in a guild only the citizen
        # sees it.
        await interaction.response.send_message(
            parts[0], ephemeral=in_guild, allowed_mentions=NO_PINGS
        )
        for part in parts[1:]:
            await interaction.followup.send(part, ephemeral=in_guild, allowed_mentions=NO_PINGS)


class _Translator(app_commands.Translator):
    """Command descriptions in French for French clients (English is the default)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        descriptions = string.extras.get("descriptions")
        if descriptions and locale is discord.Locale.french:
            return str(descriptions.get("fr")) if descriptions.get("fr") else None
        return None


class _Client(discord.Client):
    def __init__(self, channel: DiscordChannel, **options: Any) -> None:
        super().__init__(**options)
        self._channel = channel
        self._poll_votes = asyncio.Lock()  # fair: waiters get it in the order they came
        self.tree = app_commands.CommandTree(self)
        for command in COMMANDS:
            self.tree.add_command(_slash_command(channel, command))
        for listening_command in channel.listening_commands():
            self.tree.add_command(listening_command)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(_Translator())
        try:
            await self.tree.sync()
            for guild_id in self._channel._command_guilds:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            logger.warning("Discord refused the slash commands (%s); messages still work", exc)

    async def on_ready(self) -> None:
        await self._channel.on_session()

    async def on_message(self, message: discord.Message) -> None:
        self._channel.take(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.message.edited_at is not None:
            self._channel.take(payload.message, edited=True)

    async def on_raw_poll_vote_add(self, payload: discord.RawPollVoteActionEvent) -> None:
        # One at a time, in the order Discord sent them: a change of mind is a removal then an
        # addition, which must not overtake each other.
        async with self._poll_votes:
            await asyncio.to_thread(self._channel.poll_vote, payload, added=True)

    async def on_raw_poll_vote_remove(self, payload: discord.RawPollVoteActionEvent) -> None:
        async with self._poll_votes:
            await asyncio.to_thread(self._channel.poll_vote, payload, added=False)


def _slash_command(
    channel: DiscordChannel, command: Command
) -> app_commands.Command[Any, Any, Any]:
    description = app_commands.locale_str(
        command.description.get("en", command.description["fr"])[:100],
        descriptions=command.description,
    )
    if command.argument is None:

        async def simple(interaction: discord.Interaction) -> None:
            await channel.answer_command(interaction, command, None)

        return app_commands.Command(name=command.name, description=description, callback=simple)

    async def with_argument(interaction: discord.Interaction, value: str | None = None) -> None:
        await channel.answer_command(interaction, command, value)

    renamed = app_commands.rename(value=command.argument)(with_argument)
    return app_commands.Command(name=command.name, description=description, callback=renamed)


class DiscordSender(Sender):
    """Sends outbox messages with discord.py, a nonce each, never pinging anyone."""

    def __init__(self, channel: DiscordChannel) -> None:
        self._channel = channel
        self._overall = AsyncLimiter(40, 1)  # under Discord's global 50 requests a second
        self._bulk = AsyncLimiter(25, 1)  # news takes at most 60 % of it
        self._per_channel: dict[str, AsyncLimiter] = {}

    def limiters(self, destination: str) -> Sequence[AsyncLimiter]:
        limiter = self._per_channel.get(destination)
        if limiter is None:
            if len(self._per_channel) > 10_000:
                self._per_channel.clear()
            limiter = self._per_channel[destination] = AsyncLimiter(5, 5)
        return (limiter, self._overall)

    def bulk_limiter(self) -> AsyncLimiter:
        return self._bulk

    async def send(self, message: OutboxMessage) -> str:
        try:
            client = self._channel.client
        except RuntimeError as exc:
            raise TemporarySendError("the Discord channel is not connected") from exc
        target = client.get_partial_messageable(int(message.destination))
        if message.options.get("stop_poll"):
            return await self._stop_poll(client, message)
        poll = _poll(message.options.get("poll"))
        reply_to = message.options.get("reply_to")
        reference = (
            discord.MessageReference(
                message_id=int(reply_to),
                channel_id=int(message.destination),
                fail_if_not_exists=False,
            )
            if reply_to
            else None
        )
        try:
            sent = await target.send(
                None if poll is not None else message.text,
                poll=poll,  # type: ignore[arg-type]
                nonce=message.nonce,
                allowed_mentions=NO_PINGS,
                reference=reference,  # type: ignore[arg-type]
                mention_author=False,
            )
        except discord.RateLimited as exc:
            raise RateLimited(exc.retry_after) from exc
        except (discord.Forbidden, discord.NotFound) as exc:
            raise PermanentSendError(str(exc)) from exc
        except discord.DiscordServerError as exc:
            raise TemporarySendError(str(exc)) from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise RateLimited(1.0) from exc
            raise PermanentSendError(str(exc)) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TemporarySendError(str(exc)) from exc
        consultations = self._channel.consultations
        if poll is not None and consultations is not None:
            consultations.poll_sent(
                int(message.options["poll"]["invite"]),
                poll_id=str(sent.id),
                poll_message_id=str(sent.id),
            )
        return str(sent.id)

    async def _stop_poll(self, client: discord.Client, message: OutboxMessage) -> str:
        """Ends a consultation's poll (already ended or gone: nothing left to do)."""
        poll_message = int(message.options["stop_poll"])
        try:
            await client.http.end_poll(int(message.destination), poll_message)
        except discord.RateLimited as exc:
            raise RateLimited(exc.retry_after) from exc
        except discord.DiscordServerError as exc:
            raise TemporarySendError(str(exc)) from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise RateLimited(1.0) from exc
            logger.info("Discord: a consultation's poll could not be ended (%s)", exc)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TemporarySendError(str(exc)) from exc
        return str(poll_message)


def _poll(spec: Any) -> discord.Poll | None:
    """A consultation's poll for discord.py, from the outbox row's options."""
    if not isinstance(spec, dict):
        return None
    poll = discord.Poll(
        question=str(spec["question"])[:300],
        duration=timedelta(hours=max(1, min(int(spec.get("hours", 24)), 768))),
    )
    for option in spec["options"]:
        poll.add_answer(text=str(option)[:55])
    return poll


def _home(channel: Any) -> int:
    """The channel a conversation lives in: a thread's parent, else the channel itself."""
    if isinstance(channel, discord.Thread) and channel.parent_id:
        return int(channel.parent_id)
    return int(channel.id)


def _payload(message: discord.Message, *, edited: bool) -> dict[str, Any]:
    """What the intake keeps of a Discord message (enough to handle it after a restart)."""
    channel = message.channel
    in_thread = isinstance(channel, discord.Thread)
    return {
        "id": message.id,
        "channel_id": channel.id,
        "home_id": _home(channel),
        "guild_id": message.guild.id if message.guild else None,
        "author_id": message.author.id,
        "content": message.content,
        "edited": edited,
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        # A guild conversation outside a thread gets its own thread for the answers.
        "start_thread": message.guild is not None and not in_thread,
        "attachments": [
            {
                "kind": _attachment_kind(item.content_type),
                "details": {
                    "id": str(item.id),
                    "filename": item.filename,
                    "content_type": item.content_type,
                    "size": item.size,
                    "url": item.url,
                },
            }
            for item in message.attachments
        ]
        + [
            {"kind": "sticker", "details": {"id": str(item.id), "name": item.name}}
            for item in message.stickers
        ],
    }


def _attachment_kind(content_type: str | None) -> str:
    kind = (content_type or "").split("/", 1)[0]
    return {"image": "photo", "video": "video", "audio": "audio"}.get(kind, "document")
