"""A loopback stand-in for Discord (REST API v10 and the gateway websocket), for tests.

`FakeDiscord` is an aiohttp server on 127.0.0.1 that the *real* discord.py client talks to once
`pointed_at(server)` has redirected `discord.http.Route.BASE` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` to it. Tests play the citizens (`dm`, `post`,
`edit`, `slash`) and then inspect what the bot did (`messages`, `interaction_responses`,
`threads`, `commands`, `requests`), or inject faults (`fail_next`, `drop_connection`,
`request_reconnect`, `invalidate_sessions`).

For a staff desk, tests shape the guild (`add_channel`, `add_role`, `set_roles`,
`delete_channel`), let staff write in threads (`post(channel=thread_id, ...)`: the MESSAGE_CREATE
carries the author's `member.roles`) and read the channel state (`channel`, `messages_in`,
`channel_edits`, `deleted_channels`, `PostedMessage.allowed_mentions` and
`PostedMessage.mentioned_role_ids`).

Faithful (checked against discord.py 2.7.1 and Discord's documentation):

* REST: `Authorization: Bot <token>` (401 `{"message": "401: Unauthorized", "code": 0}`
  otherwise), JSON bodies with a Content-Type of exactly `application/json`, Discord's error
  bodies and codes (50035 Invalid Form Body, 50006 empty message, 10003/10008/10062/40060/...),
  429 answers with `Via`, `Retry-After`, `X-RateLimit-*` headers and a `retry_after` body, nonce
  deduplication with `enforce_nonce`, mentions computed from the content and `allowed_mentions`,
  reply references (`fail_if_not_exists`), threads (a thread started from a message has the
  message's id; without a message `type` defaults to 12, private, as the docs say; THREAD_CREATE
  on creation; `PATCH /channels/{id}` renames, archives, locks and fires THREAD_UPDATE, and on an
  archived thread needs `archived: false` or answers 50083; a message sent in an archived thread
  un-archives it first (THREAD_UPDATE) unless it is locked, then 50083 "Thread is archived";
  `DELETE /channels/{id}` and `delete_channel` fire THREAD_DELETE, or CHANNEL_DELETE for a
  channel, after which the channel answers 404 Unknown Channel 10003; GUILD_CREATE lists only
  active threads), roles (GUILD_CREATE lists @everyone and the declared roles, GUILD_ROLE_CREATE
  for roles added later, GUILD_MEMBER_UPDATE with the GUILD_MEMBERS intent; guild messages and
  interactions carry the author's `member.roles`; `<@&id>` role mentions ping when
  `allowed_mentions` lets them and the role is mentionable or the author may mention everyone,
  and show in `mention_roles`), DM channels (one per user, stable), interaction callbacks
  (`with_response`), follow-ups and `@original` edits on the interaction webhook, the 3 s deadline
  for the first interaction response, and bulk overwrite of application commands (ids kept for
  same name).
* Gateway: HELLO, heartbeat/ACK, IDENTIFY -> READY (with `resume_gateway_url`, a different path
  from the first gateway URL, as on Discord) + GUILD_CREATE, per-session sequence numbers, events
  filtered by the IDENTIFY intents (GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES), the privileged
  MESSAGE_CONTENT rule (guild messages arrive with empty content unless they mention the bot or
  are the bot's own), zlib-stream transport compression when the client asks for it (discord.py
  always asks, with no switch to turn it off; it asks `zstd-stream` instead when `zstandard` or
  Python 3.14's `compression.zstd` is importable, and then the stand-in falls back to plain text
  frames, which discord.py also accepts), RESUME with replay of the missed events then RESUMED,
  op 7 RECONNECT, op 9 INVALID_SESSION, close codes 4001-4005 and 4012-4014, and a session that
  ends when the client closes with 1000/1001 (discord.py closes with 4000 to keep it).

Usage::

    async with FakeDiscord() as fake, running_client(my_client, fake):
        fake.dm(user_id=810000000000000001, content="Bonjour")
        (reply,) = await fake.wait_for_messages(1)

`running_client` wraps `pointed_at` + `client.start` + waiting for on_ready. Give the client a
small `guild_ready_timeout` (e.g. 0.1): discord.py waits that long after the last GUILD_CREATE
before on_ready (2 s by default). After an op 9 discord.py also sleeps 5 s in
`Client.before_identify_hook` before re-IDENTIFYing; tests can override that hook.

Pins (`PUT`/`DELETE /channels/{id}/messages/pins/{message_id}`, `GET /channels/{id}/messages/pins`,
the routes discord.py 2.7 uses): pinning and unpinning in a guild need the bot's PIN_MESSAGES (or
ADMINISTRATOR) permission, from @everyone and its roles (`add_role(permissions=PIN_MESSAGES)` then
`set_roles(..., fake.bot_id, ...)`), else 403 Missing Permissions (50013); an unknown message is
404 Unknown Message (10008); at most 250 pins a channel (30003); a pin sets the message's `pinned`,
posts the CHANNEL_PINNED_MESSAGE system message (type 6, by the bot, referencing the message) and
fires CHANNEL_PINS_UPDATE; unpinning a message that is not pinned is a no-op, as on Discord.
Moderators act in the app with `unpin` and `delete_message`; `pins(channel_id)` lists the pins.

Polls (discord.py 2.7: `channel.send(poll=discord.Poll(...))`, `Message.end_poll()`,
`PollAnswer.voters()`): a message's `poll` (question text <= 300 chars, 1-10 answers of <= 55
chars with an optional emoji, `duration` in whole hours 1-768 (discord.py sends a float such as
24.0; 1.5 is refused), `layout_type` 1), with or without content, else 400 Invalid Form Body
(50035) with the error at its nested field (`poll.answers.0.poll_media.text`). A poll in a guild
channel needs the bot's SEND_POLLS, which @everyone has by default (`everyone_permissions=` to
take it away), else 403 50013. The message carries `poll` with `answer_id`s 1, 2, ..., `expiry`
(now + duration) and `results` (answers without votes are absent from `answer_counts`, as Discord
documents). `POST /channels/{id}/polls/{message_id}/expire` ends it: finalized results,
MESSAGE_UPDATE, then the POLL_RESULT system message (type 46, a `poll_result` embed with
`poll_question_text`, `victor_answer_votes`, `total_votes` and, without a tie, `victor_answer_id`
and `victor_answer_text`); ending it again is 400 Poll expired (520001), a message without a poll
400 520006, someone else's poll 403 50005 (the stand-in's choice). `GET .../polls/{message_id}/
answers/{answer_id}` pages the voters by user id (`after`, `limit` 1-100, 25 by default).
Citizens vote with `vote_poll`/`unvote_poll` (MESSAGE_POLL_VOTE_ADD/REMOVE only to sessions with
GUILD_MESSAGE_POLLS (1 << 24) for guild channels or DIRECT_MESSAGE_POLLS (1 << 25) for DMs;
changing the answer of a single-answer poll is a REMOVE then an ADD), post polls with
`post_poll`, and `expire_poll` lets the duration run out; `polls_in(channel_id)` shows counts and
voters. A user who `block_bot`s makes the bot's DMs to them fail with 403 50007. Polls do not
end by themselves when `expiry` passes (votes are refused after it, though).

Simplified: one guild, permission checks only for pins and polls, and at guild level (channel
overwrites are not modelled; elsewhere every request the bot makes is allowed and permissions only
decide which role mentions ping), no real rate-limit buckets (only injected 429s), no voice, no
presence or typing events, no system messages but pins' and polls' (e.g. no "started a
thread"), no message caching limits, interaction option types other than
string/integer/number/boolean are sent as strings without `resolved` data, and follow-up/edit
tokens never expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    import discord

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
GUILD_MESSAGE_POLLS = 1 << 24  # MESSAGE_POLL_VOTE_ADD/REMOVE in guild channels and threads
DIRECT_MESSAGE_POLLS = 1 << 25  # MESSAGE_POLL_VOTE_ADD/REMOVE in DMs
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Permissions given to @everyone in the default world.
EVERYONE_PERMISSIONS = (
    (1 << 0)  # CREATE_INSTANT_INVITE
    | (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 18)  # USE_EXTERNAL_EMOJIS
    | (1 << 20)  # CONNECT
    | (1 << 21)  # SPEAK
    | (1 << 26)  # CHANGE_NICKNAME
    | (1 << 31)  # USE_APPLICATION_COMMANDS
    | (1 << 35)  # CREATE_PUBLIC_THREADS
    | (1 << 36)  # CREATE_PRIVATE_THREADS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
    | (1 << 49)  # SEND_POLLS (granted to @everyone by default, as on Discord)
)

NONCE_WINDOW_SECONDS = 300.0
MAX_CONTENT = 2000
EPHEMERAL = 1 << 6
LOADING = 1 << 7

_MENTION_RE = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")
ADMINISTRATOR = 1 << 3
MENTION_EVERYONE = 1 << 17
PIN_MESSAGES = 1 << 51  # split from MANAGE_MESSAGES (1 << 13), which no longer lets one pin
SEND_POLLS = 1 << 49
MAX_PINS = 250
CHANNEL_PINNED_MESSAGE = 6  # the system message "... pinned a message to this channel"
THREAD_TYPES = (10, 11, 12)
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
POLL_RESULT = 46  # the system message "<author>'s poll <question> has closed"
MAX_POLL_QUESTION = 300
MAX_POLL_ANSWER = 55
MAX_POLL_ANSWERS = 10
MAX_POLL_HOURS = 32 * 24  # 768 hours (32 days)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _error_body(message: str, code: int, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def _form_error(field_name: str, code: str, message: str) -> dict[str, Any]:
    return _error_body(
        "Invalid Form Body",
        50035,
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


def _nested_form_error(path: tuple[str, ...], code: str, message: str) -> dict[str, Any]:
    """50035 Invalid Form Body with the error at a nested field, as Discord reports it
    (e.g. ``("poll", "answers", "0", "poll_media", "text")``)."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {key: errors}
    return _error_body("Invalid Form Body", 50035, errors)


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def _unknown(what: str, code: int) -> _ApiError:
    return _ApiError(404, _error_body(f"Unknown {what}", code))


@dataclass
class PostedMessage:
    """A message the bot created with `POST /channels/{id}/messages`."""

    channel_id: int
    content: str
    nonce: str | None
    enforce_nonce: bool
    allowed_mentions: dict[str, Any] | None
    message_reference: dict[str, Any] | None
    id: int
    at: float
    embeds: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    mentioned_user_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    mentioned_role_ids: list[int] = field(default_factory=list)  # roles this message pings
    payload: dict[str, Any] = field(default_factory=dict)
    poll: dict[str, Any] | None = None  # the poll create request, as the bot sent it


@dataclass(frozen=True)
class PollState:
    """A poll in a channel as Discord holds it now (`FakeDiscord.polls_in`), a snapshot."""

    message_id: int
    channel_id: int
    author_id: int
    question: str
    answers: dict[int, str]  # answer_id (1, 2, ...) -> text
    counts: dict[int, int]  # answer_id -> number of votes (every answer, 0 included)
    voters: dict[int, list[int]]  # answer_id -> user ids, in the order they voted
    allow_multiselect: bool
    expiry: datetime
    finalized: bool

    def answer_id(self, text: str) -> int:
        """The id of the answer whose text is `text`."""
        for answer_id, answer_text in self.answers.items():
            if answer_text == text:
                return answer_id
        raise KeyError(f"no answer {text!r} in poll {self.question!r}")


@dataclass(eq=False)
class _Poll:
    message_id: int
    channel_id: int
    author_id: int
    question: str
    answers: dict[int, dict[str, Any]]  # answer_id -> poll_media
    allow_multiselect: bool
    expiry: datetime
    votes: dict[int, list[int]] = field(default_factory=dict)  # answer_id -> user ids
    finalized: bool = False


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    params: dict[str, str]
    files: list[str]


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    retry_after: float
    times: int


@dataclass
class _Interaction:
    id: int
    token: str
    name: str
    created: float
    channel_id: int
    guild_id: int | None
    user: dict[str, Any]
    acknowledged: int | None = None
    original: dict[str, Any] | None = None
    followups: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(eq=False)
class _Session:
    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    conn: _Connection | None = None
    invalid: bool = False


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    request: web.Request
    path: str
    query: dict[str, str]
    compressor: Any
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    session: _Session | None = None
    writer: asyncio.Task[None] | None = None
    closed: bool = False
    dropped: bool = False

    def send(self, payload: dict[str, Any]) -> None:
        if not self.closed:
            self.queue.put_nowait(("send", payload))

    def close(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.queue.put_nowait(("close", (code, reason)))


_Handler = Callable[[_Request], Awaitable[Any]]


class FakeDiscord:
    """Discord as the bot sees it, on loopback. Use `async with FakeDiscord() as fake:`."""

    def __init__(
        self,
        *,
        token: str = "FAKE.discord.token",
        bot_id: int = 900000000000000001,
        bot_name: str = "Trois-Collines",
        application_id: int = 900000000000000002,
        heartbeat_interval_ms: int = 1000,
        interaction_ack_timeout: float | None = 3.0,
        enabled_privileged_intents: int = PRIVILEGED_INTENTS,
        everyone_permissions: int = EVERYONE_PERMISSIONS,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.application_id = application_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_ack_timeout = interaction_ack_timeout
        self.enabled_privileged_intents = enabled_privileged_intents
        self.everyone_permissions = everyone_permissions  # @everyone's guild permissions

        self.guild_id = 700000000000000001
        self.guild_name = "Trois-Collines citoyens"
        self.channel_ids: dict[str, int] = {
            "general": 710000000000000001,
            "parc-eolien": 710000000000000002,
        }

        # What the bot did.
        self.messages: list[PostedMessage] = []
        self.interaction_responses: list[dict[str, Any]] = []
        self.threads: list[dict[str, Any]] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.edits: list[dict[str, Any]] = []
        self.channel_edits: list[dict[str, Any]] = []  # PATCH /channels/{id}: channel_id, data
        self.deleted_channels: list[int] = []
        self.deletions: list[tuple[int, int]] = []
        self._pins: dict[int, dict[int, str]] = {}  # channel -> message id -> pinned_at
        self.reactions: list[dict[str, Any]] = []
        self.typing: list[int] = []
        self.presences: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.deduplicated = 0

        # Gateway counters.
        self.identifies = 0
        self.resumes = 0
        self.connections = 0
        self.heartbeats = 0
        self.replayed = 0
        self.invalid_sessions_sent = 0
        self.gateway_connects: list[tuple[str, dict[str, str]]] = []

        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._last_snowflake = 0
        self._failures: list[_Failure] = []
        self._users: dict[int, dict[str, Any]] = {}
        self._members: dict[int, dict[str, Any]] = {}
        self._roles: dict[int, dict[str, Any]] = {}  # declared roles (not @everyone)
        self._channels: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, int] = {}
        self._messages: dict[int, dict[str, Any]] = {}
        self._polls: dict[int, _Poll] = {}  # message id -> poll
        self._blocking_users: set[int] = set()  # users who blocked the bot
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Connection] = set()
        self._ready = asyncio.Event()
        self._last_message_id: int | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler, bool]] = []
        self._build_world()
        self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gw", self._gateway)
        app.router.add_get("/gw/", self._gateway)
        app.router.add_get("/gw/resume", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close the gateway sockets (1001 Going Away) and the server."""
        conns = list(self._conns)
        for conn in conns:
            self._detach(conn)
            conn.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001), timeout=2)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for conn in conns:
            if conn.writer is not None and not conn.writer.done():
                conn.writer.cancel()
                with contextlib.suppress(BaseException):
                    await conn.writer
        self._ready.clear()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw/resume"

    # ------------------------------------------------------------------ the world

    def _snowflake(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_snowflake = max(candidate, self._last_snowflake + 1)
        return self._last_snowflake

    def _build_world(self) -> None:
        self._users[self.bot_id] = {
            "id": str(self.bot_id),
            "username": self.bot_name,
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }
        self._members[self.bot_id] = self._new_member()
        for position, (name, channel_id) in enumerate(self.channel_ids.items()):
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(self.guild_id),
                "name": name,
                "position": position,
                "permission_overwrites": [],
                "parent_id": None,
                "topic": None,
                "nsfw": False,
                "rate_limit_per_user": 0,
                "last_message_id": None,
                "flags": 0,
            }

    @staticmethod
    def _new_member() -> dict[str, Any]:
        return {
            "roles": [],
            "nick": None,
            "avatar": None,
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _bot_user(self) -> dict[str, Any]:
        return self._users[self.bot_id]

    def _user(self, user_id: int, username: str = "citizen") -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            user = {
                "id": str(user_id),
                "username": username,
                "global_name": username,
                "discriminator": "0",
                "avatar": None,
                "bot": False,
                "system": False,
                "public_flags": 0,
                "flags": 0,
            }
            self._users[user_id] = user
        elif user_id != self.bot_id and username != "citizen" and user["username"] != username:
            user["username"] = user["global_name"] = username
        return user

    def _member(self, user_id: int) -> dict[str, Any]:
        member = self._members.get(user_id)
        if member is None:
            member = self._members[user_id] = self._new_member()
        return member

    def _member_with_user(self, user_id: int) -> dict[str, Any]:
        return {**self._member(user_id), "user": self._users[user_id]}

    def _everyone_role(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0,
            "permissions": str(self.everyone_permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _permissions(self, user_id: int) -> int:
        """Guild-level permissions of a member: @everyone's plus those of their roles."""
        permissions = self.everyone_permissions
        for role_id in self._member(user_id)["roles"]:
            role = self._roles.get(int(role_id))
            if role is not None:
                permissions |= int(role["permissions"])
        return permissions

    def _check_guild_id(self, guild_id: int) -> None:
        if guild_id != self.guild_id:
            raise KeyError(f"the stand-in has one guild, {self.guild_id}, not {guild_id}")

    # ------------------------------------------------------------------ shaping the guild

    def add_channel(
        self, name: str, *, channel_id: int | None = None, topic: str | None = None
    ) -> int:
        """A text channel (e.g. the staff channel); returns its id. CHANNEL_CREATE if connected."""
        if channel_id is None:
            channel_id = self._snowflake()
        if channel_id in self._channels or name in self.channel_ids:
            raise ValueError(f"channel {name!r} / {channel_id} already exists")
        self.channel_ids[name] = channel_id
        channel = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": len(self.channel_ids) - 1,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": topic,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        self._channels[channel_id] = channel
        self._dispatch("CHANNEL_CREATE", channel, intent=GUILDS)
        return channel_id

    def add_role(
        self,
        name: str,
        *,
        role_id: int | None = None,
        mentionable: bool = False,
        permissions: int = 0,
        color: int = 0,
        hoist: bool = False,
    ) -> int:
        """Declare a guild role; returns its id. GUILD_ROLE_CREATE if a client is connected.

        As on Discord, a role is not `mentionable` by default: then a `<@&id>` in a message pings
        it only if the author may mention everyone (MENTION_EVERYONE or ADMINISTRATOR, e.g. via
        a role given to the bot with `set_roles`).
        """
        if role_id is None:
            role_id = self._snowflake()
        if role_id in self._roles or role_id == self.guild_id:
            raise ValueError(f"role {role_id} already exists")
        role = {
            **self._everyone_role(),
            "id": str(role_id),
            "name": name,
            "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": hoist,
            "position": len(self._roles) + 1,
            "permissions": str(permissions),
            "mentionable": mentionable,
        }
        self._roles[role_id] = role
        self._dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(self.guild_id), "role": role}, intent=GUILDS
        )
        return role_id

    def role_id(self, name: str) -> int:
        """The id of the declared role called `name`."""
        for role_id, role in self._roles.items():
            if role["name"] == name:
                return role_id
        raise KeyError(f"no role named {name!r}")

    def set_roles(
        self, guild_id: int, user_id: int, role_ids: list[int], *, username: str = "citizen"
    ) -> None:
        """Give `user_id` exactly these roles in the guild (undeclared ids are declared first,
        named ``role-<id>``). Their next messages and interactions carry them in `member.roles`;
        GUILD_MEMBER_UPDATE goes to sessions with the GUILD_MEMBERS intent."""
        self._check_guild_id(guild_id)
        user = self._user(user_id, username)
        for role_id in role_ids:
            if role_id not in self._roles:
                self.add_role(f"role-{role_id}", role_id=role_id)
        member = self._member(user_id)
        member["roles"] = [str(role_id) for role_id in dict.fromkeys(role_ids)]
        self._dispatch(
            "GUILD_MEMBER_UPDATE",
            {**copy.deepcopy(member), "guild_id": str(self.guild_id), "user": user},
            intent=GUILD_MEMBERS,
        )

    def channel(self, channel_id: int) -> dict[str, Any]:
        """A copy of a channel or thread as Discord holds it now (name, `thread_metadata`, ...)."""
        if channel_id not in self._channels:
            raise KeyError(f"no channel {channel_id} (deleted or never created)")
        return copy.deepcopy(self._channels[channel_id])

    def delete_channel(self, channel_id: int) -> None:
        """A moderator deletes a thread or channel in the Discord app: THREAD_DELETE (or
        CHANNEL_DELETE) is dispatched and the id answers 404 Unknown Channel (10003) from then on.
        Deleting a channel deletes its threads and messages too (without events of their own)."""
        if channel_id not in self._channels or self._channels[channel_id]["type"] == 1:
            raise KeyError(f"no guild channel or thread with id {channel_id}")
        self._remove_channel(channel_id)

    def _remove_channel(self, channel_id: int) -> dict[str, Any]:
        channel = self._channels.pop(channel_id)
        gone = {channel_id}
        if channel["type"] not in THREAD_TYPES:
            self.channel_ids = {n: i for n, i in self.channel_ids.items() if i != channel_id}
            for thread_id, thread in list(self._channels.items()):
                if thread.get("parent_id") == str(channel_id):
                    del self._channels[thread_id]
                    gone.add(thread_id)
        for message_id, message in list(self._messages.items()):
            if int(message["channel_id"]) in gone:
                del self._messages[message_id]
            elif message.get("thread", {}).get("id") == str(channel_id):
                message.pop("thread")  # the starter message outlives its thread
        self.deleted_channels.append(channel_id)
        if channel["type"] in THREAD_TYPES:
            self._dispatch(
                "THREAD_DELETE",
                {
                    "id": channel["id"],
                    "guild_id": channel["guild_id"],
                    "parent_id": channel["parent_id"],
                    "type": channel["type"],
                },
                intent=GUILDS,
            )
        else:
            self._dispatch("CHANNEL_DELETE", channel, intent=GUILDS)
        return channel

    def _wake_thread(self, channel_id: int) -> None:
        """A message un-archives an archived thread first, unless it is locked (Discord: 50083)."""
        channel = self._channels[channel_id]
        metadata = channel.get("thread_metadata")
        if metadata is None or not metadata["archived"]:
            return
        if metadata["locked"]:
            raise _ApiError(400, _error_body("Thread is archived", 50083))
        metadata["archived"] = False
        metadata["archive_timestamp"] = _now_iso()
        self._dispatch("THREAD_UPDATE", channel, intent=GUILDS)

    def _guild_object(self, *, full: bool) -> dict[str, Any]:
        guild: dict[str, Any] = {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": "800000000000000001",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": [self._everyone_role(), *self._roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": (
                str(self.channel_ids["general"]) if "general" in self.channel_ids else None
            ),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "fr",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
        }
        if full:
            guild.update(
                joined_at=self._members[self.bot_id]["joined_at"],
                large=False,
                unavailable=False,
                member_count=len(self._members),
                voice_states=[],
                members=[self._member_with_user(self.bot_id)],
                channels=[
                    {k: v for k, v in channel.items() if k != "guild_id"}
                    for channel in self._channels.values()
                    if channel["type"] == 0
                ],
                threads=[  # only active threads, as Discord syncs them
                    c
                    for c in self._channels.values()
                    if c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]
                ],
                presences=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return guild

    def _resolve_channel(self, channel: str | int) -> int:
        if isinstance(channel, str):
            if channel in self.channel_ids:
                return self.channel_ids[channel]
            for candidate in self._channels.values():
                if candidate.get("name") == channel and candidate["type"] != 1:
                    return int(candidate["id"])
            raise KeyError(f"no channel named {channel!r}")
        if channel not in self._channels or self._channels[channel]["type"] == 1:
            raise KeyError(f"no guild channel or thread with id {channel}")
        return channel

    def dm_channel_id(self, user_id: int) -> int:
        """The DM channel between the bot and `user_id` (created on first use, then stable)."""
        channel_id = self._dm_channels.get(user_id)
        if channel_id is None:
            channel_id = self._snowflake()
            self._dm_channels[user_id] = channel_id
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._user(user_id)],
            }
        return channel_id

    def _channel_guild(self, channel_id: int) -> int | None:
        guild_id = self._channels[channel_id].get("guild_id")
        return int(guild_id) if guild_id is not None else None

    # ------------------------------------------------------------------ messages

    def _mentions(
        self,
        content: str,
        allowed: dict[str, Any] | None,
        replied_author: int | None,
    ) -> tuple[list[int], bool]:
        ids: list[int] = []
        for raw in _MENTION_RE.findall(content):
            user_id = int(raw)
            if user_id not in self._users or user_id in ids:
                continue
            listed = {str(u) for u in (allowed or {}).get("users", [])}
            if allowed is None or "users" in allowed.get("parse", []) or str(user_id) in listed:
                ids.append(user_id)
        replied_pinged = allowed is None or bool(allowed.get("replied_user"))
        if replied_author is not None and replied_author not in ids and replied_pinged:
            ids.append(replied_author)
        everyone = ("@everyone" in content or "@here" in content) and (
            allowed is None or "everyone" in allowed.get("parse", [])
        )
        return ids, everyone

    def _role_mentions(
        self, content: str, allowed: dict[str, Any] | None, author_id: int
    ) -> list[int]:
        """The roles a message pings: `<@&id>` of a declared role that `allowed_mentions` lets
        through and that is mentionable, or whose author may mention everyone."""
        can_mention_all = bool(self._permissions(author_id) & (MENTION_EVERYONE | ADMINISTRATOR))
        listed = {str(r) for r in (allowed or {}).get("roles", [])}
        pinged: list[int] = []
        for raw in _ROLE_MENTION_RE.findall(content):
            role = self._roles.get(int(raw))
            if role is None or int(raw) in pinged:
                continue
            let_through = allowed is None or "roles" in allowed.get("parse", []) or raw in listed
            if let_through and (role["mentionable"] or can_mention_all):
                pinged.append(int(raw))
        return pinged

    @staticmethod
    def _validate_allowed_mentions(allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, dict):
            raise _ApiError(
                400, _form_error("allowed_mentions", "DICT_TYPE_CONVERT", "Only dictionaries")
            )
        for kind in ("users", "roles"):
            if kind in allowed.get("parse", []) and allowed.get(kind):
                raise _ApiError(
                    400,
                    _form_error(
                        "allowed_mentions",
                        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
                    ),
                )

    def _create_message(
        self,
        *,
        channel_id: int,
        author_id: int,
        content: str,
        mention_ids: list[int],
        mention_everyone: bool = False,
        mention_role_ids: list[int] | None = None,
        nonce: str | None = None,
        reference: dict[str, Any] | None = None,
        message_type: int = 0,
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
        flags: int = 0,
        extra: dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        message_id = message_id or self._snowflake()
        guild_id = self._channel_guild(channel_id)
        mentions = []
        for user_id in mention_ids:
            mention = dict(self._users[user_id])
            if guild_id is not None:
                mention["member"] = copy.deepcopy(self._member(user_id))
            mentions.append(mention)
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self._users[author_id],
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": mention_everyone,
            "mentions": mentions,
            "mention_roles": [str(role_id) for role_id in mention_role_ids or []],
            "attachments": attachments or [],
            "embeds": embeds or [],
            "components": components or [],
            "pinned": False,
            "type": message_type,
            "flags": flags,
        }
        if nonce is not None:
            message["nonce"] = nonce
        if reference is not None:
            referenced = self._messages.get(int(reference["message_id"]))
            message["message_reference"] = {
                "type": 0,
                "message_id": reference["message_id"],
                "channel_id": reference.get("channel_id", str(channel_id)),
                **({"guild_id": str(guild_id)} if guild_id is not None else {}),
            }
            message["referenced_message"] = (
                self._rest_message(referenced) if referenced is not None else None
            )
        if extra:
            message.update(extra)
        if guild_id is not None:
            message["guild_id"] = str(guild_id)
            message["member"] = copy.deepcopy(self._member(author_id))  # roles as of now
        self._messages[message_id] = message
        channel = self._channels[channel_id]
        channel["last_message_id"] = str(message_id)
        if channel["type"] in THREAD_TYPES:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        self._last_message_id = message_id
        return message

    @staticmethod
    def _rest_message(message: dict[str, Any]) -> dict[str, Any]:
        """A message as REST returns it (no guild_id/member, like Discord's responses)."""
        return {k: v for k, v in message.items() if k not in ("guild_id", "member")}

    def _dispatch_message(self, event: str, message: dict[str, Any]) -> None:
        guild_id = message.get("guild_id")
        author_id = int(message["author"]["id"])
        mentions_bot = any(int(m["id"]) == self.bot_id for m in message["mentions"])
        self._dispatch(
            event,
            message,
            intent=GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES,
            content_gated=guild_id is not None and author_id != self.bot_id and not mentions_bot,
        )

    # ------------------------------------------------------------------ polls

    @staticmethod
    def _validate_poll(raw: Any) -> dict[str, Any]:
        """A poll create request checked like Discord does (first error only), normalized:
        question text, answers' poll_media, duration in whole hours, allow_multiselect."""

        def fail(path: tuple[str, ...], code: str, message: str) -> _ApiError:
            return _ApiError(400, _nested_form_error(("poll", *path), code, message))

        if not isinstance(raw, dict):
            raise fail((), "DICT_TYPE_CONVERT", "Only dictionaries are allowed.")
        question = raw.get("question")
        if not isinstance(question, dict):
            raise fail(("question",), "BASE_TYPE_REQUIRED", "This field is required")
        text = question.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_POLL_QUESTION:
            raise fail(
                ("question", "text"),
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MAX_POLL_QUESTION} in length.",
            )
        answers = raw.get("answers")
        if not isinstance(answers, list):
            raise fail(("answers",), "BASE_TYPE_REQUIRED", "This field is required")
        if not answers:
            raise fail(("answers",), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
        if len(answers) > MAX_POLL_ANSWERS:
            raise fail(
                ("answers",),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_POLL_ANSWERS} or fewer in length.",
            )
        medias: list[dict[str, Any]] = []
        for index, answer in enumerate(answers):
            media = answer.get("poll_media") if isinstance(answer, dict) else None
            if not isinstance(media, dict):
                raise fail(
                    ("answers", str(index), "poll_media"),
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            answer_text = media.get("text")
            if not isinstance(answer_text, str) or not 1 <= len(answer_text) <= MAX_POLL_ANSWER:
                raise fail(
                    ("answers", str(index), "poll_media", "text"),
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {MAX_POLL_ANSWER} in length.",
                )
            normalized: dict[str, Any] = {"text": answer_text}
            emoji = media.get("emoji")
            if isinstance(emoji, dict) and (emoji.get("id") or emoji.get("name")):
                normalized["emoji"] = {
                    "id": None if emoji.get("id") is None else str(emoji["id"]),
                    "name": emoji.get("name"),
                }
                if emoji.get("id") is not None:
                    normalized["emoji"]["animated"] = bool(emoji.get("animated", False))
            medias.append(normalized)
        duration = raw.get("duration", 24)  # discord.py sends hours as a float, e.g. 24.0
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or duration != int(duration)
        ):
            raise fail(("duration",), "NUMBER_TYPE_COERCE", f'Value "{duration}" is not int.')
        if duration < 1:
            raise fail(
                ("duration",), "NUMBER_TYPE_MIN", "int value should be greater than or equal to 1."
            )
        if duration > MAX_POLL_HOURS:
            raise fail(
                ("duration",),
                "NUMBER_TYPE_MAX",
                f"int value should be less than or equal to {MAX_POLL_HOURS}.",
            )
        layout_type = raw.get("layout_type", 1)
        if layout_type != 1:
            raise fail(
                ("layout_type",),
                "ENUM_TYPE_COERCE",
                f'Value "{layout_type}" is not a valid enum value.',
            )
        return {
            "question": text,
            "answers": medias,
            "duration": int(duration),
            "allow_multiselect": bool(raw.get("allow_multiselect", False)),
        }

    def _new_poll(
        self, request: dict[str, Any], *, message_id: int, channel_id: int, author_id: int
    ) -> _Poll:
        return _Poll(
            message_id=message_id,
            channel_id=channel_id,
            author_id=author_id,
            question=request["question"],
            answers=dict(enumerate(request["answers"], start=1)),
            allow_multiselect=request["allow_multiselect"],
            expiry=datetime.now(UTC) + timedelta(hours=request["duration"]),
        )

    @staticmethod
    def _poll_object(poll: _Poll) -> dict[str, Any]:
        """The message's `poll` as Discord shows it to the bot (answers without votes are left
        out of `answer_counts`, as Discord does; apps cannot vote, so `me_voted` is false)."""
        return {
            "question": {"text": poll.question},
            "answers": [
                {"answer_id": answer_id, "poll_media": copy.deepcopy(media)}
                for answer_id, media in poll.answers.items()
            ],
            "expiry": poll.expiry.isoformat(),
            "allow_multiselect": poll.allow_multiselect,
            "layout_type": 1,
            "results": {
                "is_finalized": poll.finalized,
                "answer_counts": [
                    {"id": answer_id, "count": len(voters), "me_voted": False}
                    for answer_id, voters in sorted(poll.votes.items())
                    if voters
                ],
            },
        }

    def _sync_poll(self, poll: _Poll) -> None:
        message = self._messages.get(poll.message_id)
        if message is not None:
            message["poll"] = self._poll_object(poll)

    def _poll_in(self, channel_id: int, message_id: int) -> _Poll:
        message = self._messages.get(message_id)
        if message is None or int(message["channel_id"]) != channel_id:
            raise KeyError(f"no message {message_id} in channel {channel_id}")
        poll = self._polls.get(message_id)
        if poll is None:
            raise KeyError(f"message {message_id} has no poll")
        return poll

    def _poll_closed(self, poll: _Poll) -> bool:
        return poll.finalized or datetime.now(UTC) >= poll.expiry

    def _finish_poll(self, poll: _Poll) -> None:
        """End a poll: finalized results, MESSAGE_UPDATE, then the POLL_RESULT system message
        (type 46, by the poll's author, replying to the poll) with its `poll_result` embed."""
        poll.finalized = True
        self._sync_poll(poll)
        message = self._messages.get(poll.message_id)
        if message is None:
            return
        self._dispatch_message("MESSAGE_UPDATE", message)
        counts = {answer_id: len(poll.votes.get(answer_id, [])) for answer_id in poll.answers}
        top = max(counts.values(), default=0)
        winners = [answer_id for answer_id, count in counts.items() if count == top and count]
        fields: list[dict[str, Any]] = [
            {"name": "poll_question_text", "value": poll.question, "inline": False},
            {"name": "victor_answer_votes", "value": str(top), "inline": False},
            {"name": "total_votes", "value": str(sum(counts.values())), "inline": False},
        ]
        if len(winners) == 1:  # no victor on a tie or without votes
            media = poll.answers[winners[0]]
            fields.append({"name": "victor_answer_id", "value": str(winners[0]), "inline": False})
            fields.append({"name": "victor_answer_text", "value": media["text"], "inline": False})
            emoji = media.get("emoji")
            if emoji is not None:
                for key in ("id", "name", "animated"):
                    if emoji.get(key) is not None:
                        fields.append(
                            {
                                "name": f"victor_answer_emoji_{key}",
                                "value": str(emoji[key]).lower()
                                if key == "animated"
                                else str(emoji[key]),
                                "inline": False,
                            }
                        )
        notice = self._create_message(
            channel_id=poll.channel_id,
            author_id=poll.author_id,
            content="",
            mention_ids=[],
            message_type=POLL_RESULT,
            embeds=[{"type": "poll_result", "fields": fields}],
            reference={"message_id": str(poll.message_id), "channel_id": str(poll.channel_id)},
        )
        self._dispatch_message("MESSAGE_CREATE", notice)

    def _dispatch_vote(self, poll: _Poll, event: str, user_id: int, answer_id: int) -> None:
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(poll.channel_id),
            "message_id": str(poll.message_id),
            "answer_id": answer_id,
        }
        guild_id = self._channel_guild(poll.channel_id)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        self._dispatch(
            event,
            data,
            intent=GUILD_MESSAGE_POLLS if guild_id is not None else DIRECT_MESSAGE_POLLS,
        )

    def _open_poll_for(
        self,
        *,
        channel_id: int,
        message_id: int,
        user_id: int,
        guild_id: int | None,
        username: str,
    ) -> _Poll:
        poll = self._poll_in(channel_id, message_id)
        if guild_id != self._channel_guild(channel_id):
            raise ValueError(
                f"channel {channel_id} is in guild {self._channel_guild(channel_id)}, "
                f"not {guild_id}"
            )
        if user_id == self.bot_id or self._users.get(user_id, {}).get("bot"):
            raise ValueError("apps cannot vote on polls (Discord: no rights)")
        channel = self._channels[channel_id]
        if channel["type"] == 1 and int(channel["recipients"][0]["id"]) != user_id:
            raise ValueError(f"user {user_id} is not in the DM channel {channel_id}")
        if self._poll_closed(poll):
            raise ValueError(f"the poll {poll.question!r} has ended: no more votes")
        self._user(user_id, username)
        if guild_id is not None:
            self._member(user_id)
        return poll

    # ------------------------------------------------------------------ what citizens do

    def dm(self, *, user_id: int, content: str, username: str = "citizen") -> int:
        """A direct message from `user_id` to the bot; returns the message id."""
        self._user(user_id, username)
        channel_id = self.dm_channel_id(user_id)
        message = self._create_message(
            channel_id=channel_id, author_id=user_id, content=content, mention_ids=[]
        )
        self._dispatch_message("MESSAGE_CREATE", message)
        return int(message["id"])

    def post(
        self,
        *,
        channel: str | int,
        user_id: int,
        content: str,
        mention_bot: bool = False,
        username: str = "citizen",
        reply_to_bot_message: int | None = None,
    ) -> int:
        """A message in a guild channel or thread; returns the message id.

        The MESSAGE_CREATE carries `member` with the author's roles (`set_roles`). Writing in an
        archived thread un-archives it first (THREAD_UPDATE), as Discord does; a locked archived
        thread refuses people too (ValueError).
        """
        self._user(user_id, username)
        self._member(user_id)
        channel_id = self._resolve_channel(channel)
        try:
            self._wake_thread(channel_id)
        except _ApiError:
            raise ValueError(f"thread {channel_id} is archived and locked") from None
        mention_ids: list[int] = [
            int(m) for m in _MENTION_RE.findall(content) if int(m) in self._users
        ]
        if mention_bot:
            content = f"<@{self.bot_id}> {content}"
            mention_ids.insert(0, self.bot_id)
        reference = None
        message_type = 0
        if reply_to_bot_message is not None:
            replied = self._messages.get(reply_to_bot_message)
            if replied is None:
                raise KeyError(f"no message {reply_to_bot_message} to reply to")
            reference = {
                "message_id": str(reply_to_bot_message),
                "channel_id": replied["channel_id"],
            }
            message_type = 19
            replied_author = int(replied["author"]["id"])
            if replied_author not in mention_ids:
                mention_ids.append(replied_author)  # a reply pings its author by default
        message = self._create_message(
            channel_id=channel_id,
            author_id=user_id,
            content=content,
            mention_ids=list(dict.fromkeys(mention_ids)),
            mention_role_ids=self._role_mentions(content, None, user_id),
            reference=reference,
            message_type=message_type,
        )
        self._dispatch_message("MESSAGE_CREATE", message)
        return int(message["id"])

    def edit(self, *, channel_id: int, message_id: int, content: str) -> None:
        """The author edits a message (MESSAGE_UPDATE with the full, updated message)."""
        message = self._messages.get(message_id)
        if message is None or int(message["channel_id"]) != channel_id:
            raise KeyError(f"no message {message_id} in channel {channel_id}")
        message["content"] = content
        message["edited_timestamp"] = _now_iso()
        self._dispatch_message("MESSAGE_UPDATE", message)

    def pins(self, channel_id: int) -> list[int]:
        """The ids of the messages pinned in a channel, the most recently pinned first."""
        pinned = self._pins.get(channel_id, {})
        return sorted(pinned, key=lambda message_id: pinned[message_id], reverse=True)

    def unpin(self, *, channel_id: int, message_id: int) -> None:
        """A moderator unpins a message in the app (CHANNEL_PINS_UPDATE, no system message)."""
        if message_id not in self._pins.get(channel_id, {}):
            raise KeyError(f"message {message_id} is not pinned in channel {channel_id}")
        self._set_unpinned(channel_id, message_id)

    def delete_message(self, *, channel_id: int, message_id: int) -> None:
        """A moderator deletes a message in the app (MESSAGE_DELETE; its pin goes with it)."""
        message = self._messages.get(message_id)
        if message is None or int(message["channel_id"]) != channel_id:
            raise KeyError(f"no message {message_id} in channel {channel_id}")
        if message_id in self._pins.get(channel_id, {}):
            self._set_unpinned(channel_id, message_id)
        del self._messages[message_id]
        data: dict[str, Any] = {"id": str(message_id), "channel_id": str(channel_id)}
        guild_id = self._channel_guild(channel_id)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        self._dispatch(
            "MESSAGE_DELETE",
            data,
            intent=GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES,
        )

    def block_bot(self, user_id: int) -> None:
        """`user_id` blocks the bot: from now on the bot's messages to their DM channel answer
        403 Cannot send messages to this user (50007), as on Discord."""
        self._user(user_id)
        self._blocking_users.add(user_id)

    def unblock_bot(self, user_id: int) -> None:
        """`user_id` unblocks the bot."""
        self._blocking_users.discard(user_id)

    def post_poll(
        self,
        *,
        user_id: int,
        question: str,
        answers: list[str],
        channel: str | int | None = None,
        duration_hours: int = 24,
        allow_multiselect: bool = False,
        content: str = "",
        username: str = "citizen",
    ) -> int:
        """A citizen posts a poll in a guild channel or thread (`channel`), or in their DM with
        the bot (no `channel`); returns the message id. ValueError if Discord would refuse it.
        Without MESSAGE_CONTENT the bot receives guild polls without their `poll`, as on Discord.
        """
        self._user(user_id, username)
        if channel is None:
            channel_id = self.dm_channel_id(user_id)
        else:
            self._member(user_id)
            channel_id = self._resolve_channel(channel)
        request = {
            "question": {"text": question},
            "answers": [{"poll_media": {"text": text}} for text in answers],
            "duration": duration_hours,
            "allow_multiselect": allow_multiselect,
        }
        try:
            normalized = self._validate_poll(request)
            self._wake_thread(channel_id)
        except _ApiError as exc:
            raise ValueError(f"Discord would refuse this poll: {exc.body}") from None
        message_id = self._snowflake()
        poll = self._new_poll(
            normalized, message_id=message_id, channel_id=channel_id, author_id=user_id
        )
        message = self._create_message(
            channel_id=channel_id,
            author_id=user_id,
            content=content,
            mention_ids=[],
            extra={"poll": self._poll_object(poll)},
            message_id=message_id,
        )
        self._polls[message_id] = poll
        self._dispatch_message("MESSAGE_CREATE", message)
        return message_id

    def vote_poll(
        self,
        *,
        channel_id: int,
        message_id: int,
        user_id: int,
        answer_id: int,
        guild_id: int | None = None,
        username: str = "citizen",
    ) -> None:
        """`user_id` votes for `answer_id` in the poll of `message_id`.

        MESSAGE_POLL_VOTE_ADD goes to the sessions that identified with GUILD_MESSAGE_POLLS
        (guild channels and threads; give `guild_id`) or DIRECT_MESSAGE_POLLS (DMs). On a
        single-answer poll, choosing another answer withdraws the previous vote first
        (MESSAGE_POLL_VOTE_REMOVE, then ADD), as the Discord app does. ValueError for what the
        app does not let a person do: voting on an ended poll, voting twice for one answer, a
        vote by the bot or by someone outside the DM; KeyError for an unknown message or answer.
        """
        poll = self._open_poll_for(
            channel_id=channel_id,
            message_id=message_id,
            user_id=user_id,
            guild_id=guild_id,
            username=username,
        )
        if answer_id not in poll.answers:
            raise KeyError(f"no answer {answer_id} in poll {poll.question!r}")
        if user_id in poll.votes.get(answer_id, []):
            raise ValueError(f"user {user_id} already voted for answer {answer_id}")
        if not poll.allow_multiselect:
            for previous, voters in list(poll.votes.items()):
                if user_id in voters:
                    voters.remove(user_id)
                    self._sync_poll(poll)
                    self._dispatch_vote(poll, "MESSAGE_POLL_VOTE_REMOVE", user_id, previous)
        poll.votes.setdefault(answer_id, []).append(user_id)
        self._sync_poll(poll)
        self._dispatch_vote(poll, "MESSAGE_POLL_VOTE_ADD", user_id, answer_id)

    def unvote_poll(
        self,
        *,
        channel_id: int,
        message_id: int,
        user_id: int,
        answer_id: int,
        guild_id: int | None = None,
        username: str = "citizen",
    ) -> None:
        """`user_id` withdraws their vote for `answer_id` (MESSAGE_POLL_VOTE_REMOVE, with the
        same intent filter as `vote_poll`). ValueError if they had not voted for it or the poll
        has ended."""
        poll = self._open_poll_for(
            channel_id=channel_id,
            message_id=message_id,
            user_id=user_id,
            guild_id=guild_id,
            username=username,
        )
        voters = poll.votes.get(answer_id, [])
        if user_id not in voters:
            raise ValueError(f"user {user_id} has not voted for answer {answer_id}")
        voters.remove(user_id)
        self._sync_poll(poll)
        self._dispatch_vote(poll, "MESSAGE_POLL_VOTE_REMOVE", user_id, answer_id)

    def expire_poll(self, *, channel_id: int, message_id: int) -> None:
        """The poll's duration runs out (whoever posted it): results finalized, MESSAGE_UPDATE,
        then the POLL_RESULT system message. ValueError if it has already ended."""
        poll = self._poll_in(channel_id, message_id)
        if poll.finalized:
            raise ValueError(f"the poll {poll.question!r} has already ended")
        self._finish_poll(poll)

    def slash(
        self,
        *,
        name: str,
        user_id: int,
        channel: str | int | None = None,
        options: dict[str, str] | None = None,
        locale: str = "fr",
    ) -> int:
        """A slash command (INTERACTION_CREATE type 2); `channel=None` is the DM with the user."""
        user = self._user(user_id)
        if channel is None:
            channel_id = self.dm_channel_id(user_id)
            guild_id = None
        else:
            channel_id = self._resolve_channel(channel)
            guild_id = self._channel_guild(channel_id)
            self._member(user_id)
        command, command_guild = self._find_command(name, guild_id)
        option_types = {o["name"]: o.get("type", 3) for o in (command or {}).get("options", [])}
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self._snowflake()),
            "name": name,
            "type": 1,
            "options": [
                {
                    "name": key,
                    "type": option_types.get(key, 3),
                    "value": self._option_value(option_types.get(key, 3), value),
                }
                for key, value in (options or {}).items()
            ],
        }
        if command is None:
            _log.warning("slash /%s: no such command was registered by the bot", name)
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        interaction_id = self._snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        channel_object = dict(self._channels[channel_id])
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 2,
            "data": data,
            "channel_id": str(channel_id),
            "channel": channel_object,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(self.everyone_permissions),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "context": 0 if guild_id is not None else 1,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            payload["guild"] = {"id": str(guild_id), "locale": "fr", "features": []}
            payload["guild_locale"] = "fr"
            payload["member"] = {
                **copy.deepcopy(self._member_with_user(user_id)),
                "permissions": str(self._permissions(user_id)),
            }
            payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        else:
            payload["user"] = user
            payload["authorizing_integration_owners"] = {"0": "0"}
        self._interactions[token] = _Interaction(
            id=interaction_id,
            token=token,
            name=name,
            created=time.monotonic(),
            channel_id=channel_id,
            guild_id=guild_id,
            user=user,
        )
        self._dispatch("INTERACTION_CREATE", payload, intent=None)
        return interaction_id

    @staticmethod
    def _option_value(option_type: int, value: str) -> Any:
        if option_type == 4:
            return int(value)
        if option_type == 10:
            return float(value)
        if option_type == 5:
            return value.strip().lower() in ("1", "true", "yes", "oui", "vrai")
        return value

    def _find_command(
        self, name: str, guild_id: int | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, scope
        return None, None

    def last_message_id(self) -> int:
        """The id of the newest message anyone (citizen or bot) created."""
        if self._last_message_id is None:
            raise AssertionError("no message has been created yet")
        return self._last_message_id

    # ------------------------------------------------------------------ what the bot did

    def still_visible(self) -> str:
        """Everything a member of the guild can still read now: the content of the messages
        that were not deleted and the names of the channels and threads (one string, to search)."""
        names = [str(channel.get("name") or "") for channel in self._channels.values()]
        texts = [str(message.get("content") or "") for message in self._messages.values()]
        return "\n".join([*names, *texts])

    def messages_in(self, channel_id: int) -> list[PostedMessage]:
        return [m for m in self.messages if m.channel_id == channel_id]

    def polls_in(self, channel_id: int) -> list[PollState]:
        """The polls posted in a channel (by the bot or by citizens), oldest first, as they
        stand now: answers, counts and voters per answer, whether finalized. A poll whose
        message was deleted stays listed (a log, like `messages_in`)."""
        return [
            PollState(
                message_id=poll.message_id,
                channel_id=poll.channel_id,
                author_id=poll.author_id,
                question=poll.question,
                answers={answer_id: media["text"] for answer_id, media in poll.answers.items()},
                counts={
                    answer_id: len(poll.votes.get(answer_id, [])) for answer_id in poll.answers
                },
                voters={
                    answer_id: list(poll.votes.get(answer_id, [])) for answer_id in poll.answers
                },
                allow_multiselect=poll.allow_multiselect,
                expiry=poll.expiry,
                finalized=poll.finalized,
            )
            for poll in sorted(self._polls.values(), key=lambda p: p.message_id)
            if poll.channel_id == channel_id
        ]

    async def wait_for_messages(
        self,
        count: int,
        *,
        channel_id: int | None = None,
        timeout: float = 10.0,
    ) -> list[PostedMessage]:
        """Wait until the bot has posted at least `count` messages (in `channel_id` if given)."""

        def current() -> list[PostedMessage]:
            return self.messages if channel_id is None else self.messages_in(channel_id)

        deadline = time.monotonic() + timeout
        while len(current()) < count:
            if time.monotonic() > deadline:
                where = "" if channel_id is None else f" in channel {channel_id}"
                seen = [(m.channel_id, m.content[:80]) for m in self.messages]
                recent = [f"{m} {p}" for m, p, _ in self.requests[-10:]]
                raise AssertionError(
                    f"expected {count} bot message(s){where} within {timeout}s, "
                    f"got {len(current())}; all bot messages: {seen}; "
                    f"last requests: {recent}; unknown routes: {self.unknown_routes}"
                )
            await asyncio.sleep(0.01)
        return current()

    async def wait_for_interaction_responses(
        self,
        count: int,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.interaction_responses) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} interaction response(s) within {timeout}s, "
                    f"got {self.interaction_responses}; last requests: "
                    f"{[(m, p) for m, p, _ in self.requests[-10:]]}"
                )
            await asyncio.sleep(0.01)
        return self.interaction_responses

    # ------------------------------------------------------------------ faults and gateway control

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int = 429,
        retry_after: float = 0.3,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching REST requests with `status` (429: a real rate limit).

        `path_prefix` is relative to the API base ("/channels/123/messages"); a leading
        "/api/v10" is accepted too.
        """
        if path_prefix.startswith(API_PREFIX):
            path_prefix = path_prefix[len(API_PREFIX) :]
        self._failures.append(_Failure(method.upper(), path_prefix, status, retry_after, times))

    def _live_connections(self) -> list[_Connection]:
        return [c for c in self._conns if not c.closed]

    async def drop_connection(self, *, code: int = 1006) -> None:
        """Close the gateway socket(s) abruptly; 1006 aborts the TCP connection, other codes
        send a close frame with that code. Events dispatched meanwhile are kept for RESUME."""
        conns = self._live_connections()
        if not conns:
            raise AssertionError("no gateway connection to drop")
        self._ready.clear()
        for conn in conns:
            conn.dropped = True
            self._detach(conn)
            if code == 1006:
                conn.closed = True
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
            else:
                while not conn.queue.empty():  # pending events stay in the session buffer
                    conn.queue.get_nowait()
                conn.close(code, "dropped by the test")
                conn.closed = True
        for conn in conns:
            if conn.writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(conn.writer), timeout=5)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client should close and RESUME."""
        conns = [c for c in self._live_connections() if c.session is not None]
        if not conns:
            raise AssertionError("no identified gateway connection")
        self._ready.clear()
        for conn in conns:
            conn.send({"op": 7, "d": None, "s": None, "t": None})

    def invalidate_sessions(self) -> None:
        """The next RESUME of any current session gets op 9 INVALID_SESSION (d=false)."""
        for session in self._sessions.values():
            session.invalid = True

    async def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Wait until READY (after IDENTIFY) or RESUMED has been sent on a live connection."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"no client became ready within {timeout}s (connections={self.connections}, "
                f"identifies={self.identifies}, resumes={self.resumes})"
            ) from None

    # ------------------------------------------------------------------ gateway

    def _dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None,
        content_gated: bool = False,
        only: _Session | None = None,
    ) -> None:
        sessions = [only] if only is not None else list(self._sessions.values())
        snapshot = copy.deepcopy(data)  # later edits must not change what was dispatched
        for session in sessions:
            if intent is not None and not session.intents & intent:
                continue
            payload_data = snapshot
            if content_gated and not session.intents & MESSAGE_CONTENT:
                payload_data = {
                    **snapshot,
                    "content": "",
                    "embeds": [],
                    "attachments": [],
                    "components": [],
                }
                payload_data.pop("poll", None)
            session.seq += 1
            payload = {"op": 0, "t": event, "s": session.seq, "d": payload_data}
            session.buffer.append(payload)
            if session.conn is not None:
                session.conn.send(payload)

    def _detach(self, conn: _Connection) -> None:
        session = conn.session
        if session is not None and session.conn is conn:
            session.conn = None

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        self.connections += 1
        self.gateway_connects.append((request.path, query))
        compressor = (
            zlib.compressobj() if query.get("compress") == "zlib-stream" else None
        )  # zstd-stream: plain text frames (discord.py accepts both)
        conn = _Connection(
            ws=ws, request=request, path=request.path, query=query, compressor=compressor
        )
        self._conns.add(conn)
        conn.writer = asyncio.create_task(self._writer(conn))
        if query.get("encoding", "json") != "json":
            conn.close(4002, "Only JSON encoding is supported by the stand-in")
        elif query.get("v") not in (None, "10"):
            conn.close(4012, "Invalid API version")
        else:
            conn.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gw"]},
                    "s": None,
                    "t": None,
                }
            )
        try:
            async for msg in ws:
                if conn.closed:
                    continue  # a close is under way: ignore what the client still sends
                if msg.type is WSMsgType.TEXT:
                    self._on_gateway_payload(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    conn.close(4002, "Decode error")
                else:
                    break
        finally:
            self._detach(conn)
            if not conn.dropped and ws.close_code in (1000, 1001) and conn.session is not None:
                self._sessions.pop(conn.session.session_id, None)  # a clean close ends it
            conn.queue.put_nowait(("stop", None))
            conn.closed = True
            if conn.writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(conn.writer), timeout=5)
            self._conns.discard(conn)
        return ws

    async def _writer(self, conn: _Connection) -> None:
        while True:
            kind, item = await conn.queue.get()
            if kind == "stop":
                return
            if kind == "close":
                code, reason = item
                conn.closed = True
                self._detach(conn)
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=code, message=reason.encode())
                return
            text = json.dumps(item, separators=(",", ":"))
            try:
                if conn.compressor is not None:
                    data = conn.compressor.compress(text.encode()) + conn.compressor.flush(
                        zlib.Z_SYNC_FLUSH
                    )
                    await conn.ws.send_bytes(data)
                else:
                    await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the socket went away; the session buffer still holds the event
            except Exception:
                _log.exception("FakeDiscord: could not send %s", item.get("t") or item["op"])
                return
            if item.get("t") in ("READY", "RESUMED") and not conn.closed:
                self._ready.set()

    def _on_gateway_payload(self, conn: _Connection, raw: str) -> None:
        try:
            message = json.loads(raw)
            op = message["op"]
            data = message.get("d")
        except (ValueError, KeyError, TypeError):
            conn.close(4002, "Decode error")
            return
        if op == 1:
            self.heartbeats += 1
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self._identify(conn, data or {})
        elif op == 6:
            self._resume(conn, data or {})
        elif conn.session is None:
            conn.close(4003, "Not authenticated")
        elif op == 3:
            self.presences.append(data)
        elif op == 4:
            pass  # voice state: no voice in the stand-in
        elif op == 8:
            self._request_members(conn, data or {})
        else:
            conn.close(4001, "Unknown opcode")

    def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            conn.close(4005, "Already authenticated")
            return
        if data.get("token") != self.token:
            conn.close(4004, "Authentication failed")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            conn.close(4013, "Invalid intent(s)")
            return
        if intents & PRIVILEGED_INTENTS & ~self.enabled_privileged_intents:
            conn.close(4014, "Disallowed intent(s)")
            return
        self.identifies += 1
        session = _Session(
            session_id=secrets.token_hex(16), intents=intents, shard=data.get("shard")
        )
        self._sessions[session.session_id] = session
        session.conn = conn
        conn.session = session
        ready: dict[str, Any] = {
            "v": 10,
            "user_settings": {},
            "user": {**self._bot_user(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "application": {"id": str(self.application_id), "flags": 0},
            "_trace": ["fake-gw"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        self._dispatch("READY", ready, intent=None, only=session)
        self._dispatch("GUILD_CREATE", self._guild_object(full=True), intent=None, only=session)

    def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        self.resumes += 1
        if conn.session is not None:
            conn.close(4005, "Already authenticated")
            return
        if data.get("token") != self.token:
            conn.close(4004, "Authentication failed")
            return
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or session.invalid:
            if session is not None:
                self._sessions.pop(session.session_id, None)
            self.invalid_sessions_sent += 1
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn:
            old = session.conn
            self._detach(old)
            old.close(4000, "Session resumed elsewhere")
        seq = data.get("seq") or 0
        session.conn = conn
        conn.session = session
        for payload in session.buffer:
            if payload["s"] > seq:
                self.replayed += 1
                conn.send(payload)
        self._dispatch("RESUMED", {"_trace": ["fake-gw"]}, intent=None, only=session)

    def _request_members(self, conn: _Connection, data: dict[str, Any]) -> None:
        assert conn.session is not None
        user_ids = data.get("user_ids")
        wanted = {int(u) for u in user_ids} if user_ids else None
        members = [
            self._member_with_user(user_id)
            for user_id in self._members
            if wanted is None or user_id in wanted
        ]
        chunk: dict[str, Any] = {
            "guild_id": str(self.guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self._dispatch("GUILD_MEMBERS_CHUNK", chunk, intent=None, only=conn.session)

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> None:
        cid = r"(?P<channel_id>\d+)"
        mid = r"(?P<message_id>\d+)"
        app = r"(?P<app_id>\d+)"
        gid = r"(?P<guild_id>\d+)"
        hook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        table: list[tuple[str, str, _Handler, bool]] = [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", r"/users/(?P<user_id>\d+)", self._get_user, True),
            ("POST", r"/users/@me/channels", self._create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", r"/applications/@me", self._get_application, True),
            ("GET", r"/gateway", self._get_gateway, False),
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("GET", rf"/channels/{cid}", self._get_channel, True),
            ("PATCH", rf"/channels/{cid}", self._modify_channel, True),
            ("DELETE", rf"/channels/{cid}", self._delete_channel, True),
            ("GET", rf"/channels/{cid}/messages", self._get_messages, True),
            ("GET", rf"/channels/{cid}/messages/pins", self._get_pins, True),
            ("PUT", rf"/channels/{cid}/messages/pins/{mid}", self._pin, True),
            ("DELETE", rf"/channels/{cid}/messages/pins/{mid}", self._unpin, True),
            ("POST", rf"/channels/{cid}/messages", self._post_message, True),
            ("GET", rf"/channels/{cid}/messages/{mid}", self._get_message, True),
            ("PATCH", rf"/channels/{cid}/messages/{mid}", self._edit_message, True),
            ("DELETE", rf"/channels/{cid}/messages/{mid}", self._delete_message, True),
            ("POST", rf"/channels/{cid}/typing", self._typing, True),
            ("POST", rf"/channels/{cid}/polls/{mid}/expire", self._end_poll, True),
            (
                "GET",
                rf"/channels/{cid}/polls/{mid}/answers/(?P<answer_id>\d+)",
                self._get_poll_voters,
                True,
            ),
            (
                "PUT",
                rf"/channels/{cid}/messages/{mid}/reactions/(?P<emoji>[^/]+)/@me",
                self._add_reaction,
                True,
            ),
            (
                "DELETE",
                rf"/channels/{cid}/messages/{mid}/reactions/(?P<emoji>[^/]+)/@me",
                self._remove_reaction,
                True,
            ),
            ("POST", rf"/channels/{cid}/threads", self._create_thread, True),
            ("POST", rf"/channels/{cid}/messages/{mid}/threads", self._create_thread, True),
            ("PUT", rf"/channels/{cid}/thread-members/@me", self._join_thread, True),
            ("GET", rf"/guilds/{gid}", self._get_guild, True),
            ("GET", rf"/guilds/{gid}/channels", self._get_guild_channels, True),
            ("GET", rf"/guilds/{gid}/members/(?P<user_id>\d+)", self._get_member, True),
            ("GET", rf"/applications/{app}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/commands", self._put_commands, True),
            ("GET", rf"/applications/{app}/guilds/{gid}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/guilds/{gid}/commands", self._put_commands, True),
            (
                "POST",
                r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                self._interaction_callback,
                False,
            ),
            ("POST", hook, self._followup, False),
            ("GET", rf"{hook}/messages/(?P<message_id>@original|\d+)", self._hook_get, False),
            ("PATCH", rf"{hook}/messages/(?P<message_id>@original|\d+)", self._hook_edit, False),
            (
                "DELETE",
                rf"{hook}/messages/(?P<message_id>@original|\d+)",
                self._hook_delete,
                False,
            ),
        ]
        self._routes = [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    def _json_response(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        all_headers = {"Content-Type": "application/json"}
        if headers:
            all_headers.update(headers)
        return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)

    @staticmethod
    def _ratelimit_headers(path: str, *, remaining: int, reset_after: float) -> dict[str, str]:
        bucket = zlib.crc32(re.sub(r"/\d+", "/id", path).encode())
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"fake{bucket:08x}",
        }

    async def _read_body(self, request: web.Request) -> tuple[Any, list[str]]:
        if not request.can_read_body:
            return None, []
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            body: Any = None
            files: list[str] = []
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    if key == "payload_json":
                        body = json.loads(value.file.read().decode())
                    else:
                        files.append(value.filename)
                elif key == "payload_json":
                    body = json.loads(value if isinstance(value, str) else bytes(value).decode())
            return body, files
        text = await request.text()
        if not text:
            return None, []
        return json.loads(text), []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(API_PREFIX) :] or "/"
        method = request.method.upper()
        try:
            body, files = await self._read_body(request)
        except ValueError:
            self.requests.append((method, path, None))
            return self._json_response(
                400, _error_body("The request body contains invalid JSON.", 50109)
            )
        self.requests.append((method, path, body))

        matched: tuple[_Handler, bool, dict[str, str]] | None = None
        path_known = False
        for route_method, pattern, handler, needs_auth in self._routes:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            path_known = True
            if route_method == method:
                matched = (handler, needs_auth, found.groupdict())
                break
        if matched is None:
            self.unknown_routes.append((method, path))
            _log.warning("FakeDiscord: unknown route %s %s", method, path)
            if path_known:
                return self._json_response(405, _error_body("405: Method Not Allowed", 0))
            return self._json_response(404, _error_body("404: Not Found", 0))
        handler, needs_auth, params = matched

        if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._json_response(401, _error_body("401: Unauthorized", 0))

        injected = self._injected_failure(method, path)
        if injected is not None:
            return injected

        call = _Request(method, path, dict(request.query), body, params, files)
        try:
            result = await handler(call)
        except _ApiError as exc:
            return self._json_response(exc.status, exc.body)
        headers = self._ratelimit_headers(path, remaining=49, reset_after=1.0)
        if result is None:
            return web.Response(status=204, headers=headers)
        return self._json_response(200, result, headers)

    def _injected_failure(self, method: str, path: str) -> web.Response | None:
        for failure in self._failures:
            if failure.method == method and path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                if failure.status == 429:
                    headers = {
                        **self._ratelimit_headers(
                            path, remaining=0, reset_after=failure.retry_after
                        ),
                        "Retry-After": str(max(1, int(failure.retry_after + 0.999))),
                        "X-RateLimit-Scope": "user",
                        "Via": "1.1 google",
                    }
                    body = {
                        "message": "You are being rate limited.",
                        "retry_after": failure.retry_after,
                        "global": False,
                    }
                    return self._json_response(429, body, headers)
                if failure.status >= 500:
                    return self._json_response(
                        failure.status, _error_body(f"{failure.status}: Server error", 0)
                    )
                messages = {400: "400: Bad Request", 403: "Missing Permissions"}
                return self._json_response(
                    failure.status,
                    _error_body(
                        messages.get(failure.status, f"{failure.status}: Error"),
                        50013 if failure.status == 403 else 0,
                    ),
                )
        return None

    # ------------------------------------------------------------------ REST handlers

    async def _get_me(self, req: _Request) -> Any:
        return {**self._bot_user(), "verified": True, "mfa_enabled": False, "locale": "fr"}

    async def _get_user(self, req: _Request) -> Any:
        user = self._users.get(int(req.params["user_id"]))
        if user is None:
            raise _unknown("User", 10013)
        return user

    async def _create_dm(self, req: _Request) -> Any:
        recipient = (req.body or {}).get("recipient_id")
        if recipient is None:
            raise _ApiError(400, _form_error("recipient_id", "BASE_TYPE_REQUIRED", "Required"))
        user_id = int(recipient)
        if user_id not in self._users:
            raise _unknown("User", 10013)
        return self._channels[self.dm_channel_id(user_id)]

    async def _get_application(self, req: _Request) -> Any:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self._user(800000000000000001, "promoteur"),
            "team": None,
            "bot": self._bot_user(),
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
            "redirect_uris": [],
            "tags": [],
        }

    async def _get_gateway(self, req: _Request) -> Any:
        return {"url": self.gateway_url}

    async def _get_gateway_bot(self, req: _Request) -> Any:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - self.identifies,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    def _channel_or_404(self, req: _Request) -> int:
        channel_id = int(req.params["channel_id"])
        if channel_id not in self._channels:
            raise _unknown("Channel", 10003)
        return channel_id

    def _message_or_404(self, req: _Request, channel_id: int) -> dict[str, Any]:
        message = self._messages.get(int(req.params["message_id"]))
        if message is None or int(message["channel_id"]) != channel_id:
            raise _unknown("Message", 10008)
        return message

    async def _get_channel(self, req: _Request) -> Any:
        return self._channels[self._channel_or_404(req)]

    async def _get_messages(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        limit = max(1, min(100, int(req.query.get("limit", "50"))))
        found = sorted(
            (m for m in self._messages.values() if int(m["channel_id"]) == channel_id),
            key=lambda m: int(m["id"]),
            reverse=True,
        )
        if "before" in req.query:
            found = [m for m in found if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            found = [m for m in found if int(m["id"]) > int(req.query["after"])]
        return [self._rest_message(m) for m in found[:limit]]

    async def _get_message(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        return self._rest_message(self._message_or_404(req, channel_id))

    @staticmethod
    def _validate_message_body(body: dict[str, Any], files: list[str]) -> None:
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            content = str(content)
        if content is not None and len(content) > MAX_CONTENT:
            raise _ApiError(
                400,
                _form_error(
                    "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
                ),
            )
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            raise _ApiError(
                400, _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            )
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            raise _ApiError(
                400, _form_error("nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            )
        has_something = (
            bool(content)
            or bool(embeds)
            or bool(files)
            or bool(body.get("sticker_ids"))
            or bool(body.get("components"))
            or bool(body.get("poll"))
        )
        if not has_something:
            raise _ApiError(400, _error_body("Cannot send an empty message", 50006))

    def _attachments(self, files: list[str]) -> list[dict[str, Any]]:
        result = []
        for filename in files:
            attachment_id = self._snowflake()
            url = f"{self.url}/attachments/{attachment_id}/{filename}"
            result.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "size": 0,
                    "url": url,
                    "proxy_url": url,
                }
            )
        return result

    async def _post_message(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        body: dict[str, Any] = req.body or {}
        self._validate_message_body(body, req.files)
        self._validate_allowed_mentions(body.get("allowed_mentions"))
        poll_request = None if body.get("poll") is None else self._validate_poll(body["poll"])
        self._check_may_send(channel_id, poll=poll_request is not None)
        nonce = None if body.get("nonce") is None else str(body["nonce"])
        enforce_nonce = bool(body.get("enforce_nonce", False))
        now = time.monotonic()
        if nonce is not None and enforce_nonce:
            seen = self._nonces.get((channel_id, nonce))
            if seen is not None and now - seen[1] < NONCE_WINDOW_SECONDS:
                self.deduplicated += 1
                return self._rest_message(self._messages[seen[0]])

        reference = body.get("message_reference")
        replied_author: int | None = None
        if reference is not None:
            ref_channel = int(reference.get("channel_id", channel_id))
            referenced = self._messages.get(int(reference.get("message_id", 0)))
            if referenced is None or int(referenced["channel_id"]) != ref_channel:
                if reference.get("fail_if_not_exists", True):
                    raise _ApiError(
                        400,
                        _form_error(
                            "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                        ),
                    )
                reference = None
            else:
                replied_author = int(referenced["author"]["id"])
        allowed = body.get("allowed_mentions")
        content = "" if body.get("content") is None else str(body["content"])
        mention_ids, everyone = self._mentions(content, allowed, replied_author)
        role_ids = self._role_mentions(content, allowed, self.bot_id)
        self._wake_thread(channel_id)
        message_id = self._snowflake()
        poll = None
        if poll_request is not None:
            poll = self._new_poll(
                poll_request, message_id=message_id, channel_id=channel_id, author_id=self.bot_id
            )
        message = self._create_message(
            channel_id=channel_id,
            author_id=self.bot_id,
            content=content,
            mention_ids=mention_ids,
            mention_everyone=everyone,
            mention_role_ids=role_ids,
            nonce=nonce,
            reference=reference,
            message_type=19 if reference is not None else 0,
            embeds=body.get("embeds"),
            attachments=self._attachments(req.files),
            components=body.get("components"),
            flags=int(body.get("flags") or 0),
            extra=None if poll is None else {"poll": self._poll_object(poll)},
            message_id=message_id,
        )
        if poll is not None:
            self._polls[message_id] = poll
        if nonce is not None:
            self._nonces[(channel_id, nonce)] = (message_id, now)
        self.messages.append(
            PostedMessage(
                channel_id=channel_id,
                content=content,
                nonce=nonce,
                enforce_nonce=enforce_nonce,
                allowed_mentions=allowed,
                message_reference=reference,
                id=message_id,
                at=now,
                embeds=list(body.get("embeds") or []),
                files=list(req.files),
                mentioned_user_ids=mention_ids,
                mention_everyone=everyone,
                mentioned_role_ids=role_ids,
                payload=body,
                poll=body.get("poll"),
            )
        )
        self._dispatch_message("MESSAGE_CREATE", message)
        return self._rest_message(message)

    def _check_may_send(self, channel_id: int, *, poll: bool) -> None:
        """DMs to a user who blocked the bot: 403 50007; a poll in a guild channel needs the
        bot's SEND_POLLS (or ADMINISTRATOR) permission: 403 50013."""
        channel = self._channels[channel_id]
        if channel["type"] == 1:
            if int(channel["recipients"][0]["id"]) in self._blocking_users:
                raise _ApiError(403, _error_body("Cannot send messages to this user", 50007))
            return
        if poll and not self._permissions(self.bot_id) & (SEND_POLLS | ADMINISTRATOR):
            raise _ApiError(403, _error_body("Missing Permissions", 50013))

    def _poll_or_error(self, req: _Request) -> _Poll:
        channel_id = self._channel_or_404(req)
        message = self._message_or_404(req, channel_id)
        poll = self._polls.get(int(message["id"]))
        if poll is None:
            raise _ApiError(400, _error_body("Cannot expire a non-poll message", 520006))
        return poll

    async def _end_poll(self, req: _Request) -> Any:
        poll = self._poll_or_error(req)
        if poll.author_id != self.bot_id:
            raise _ApiError(
                403, _error_body("Cannot edit a message authored by another user", 50005)
            )
        if self._poll_closed(poll):
            raise _ApiError(400, _error_body("Poll expired", 520001))
        self._finish_poll(poll)
        return self._rest_message(self._messages[poll.message_id])

    async def _get_poll_voters(self, req: _Request) -> Any:
        poll = self._poll_or_error(req)
        answer_id = int(req.params["answer_id"])
        if answer_id not in poll.answers:
            raise _ApiError(400, _error_body("Unknown poll answer", 0))  # stand-in's wording
        try:
            limit = int(req.query.get("limit", "25"))
            after = int(req.query.get("after", "0"))
        except ValueError:
            raise _ApiError(
                400, _form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.")
            ) from None
        if not 1 <= limit <= 100:
            raise _ApiError(
                400,
                _form_error(
                    "limit",
                    "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                    "int value should be less than or equal to 100."
                    if limit > 100
                    else "int value should be greater than or equal to 1.",
                ),
            )
        voters = sorted(user_id for user_id in poll.votes.get(answer_id, []) if user_id > after)
        return {"users": [self._users[user_id] for user_id in voters[:limit]]}

    async def _edit_message(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        message = self._message_or_404(req, channel_id)
        if int(message["author"]["id"]) != self.bot_id:
            raise _ApiError(
                403, _error_body("Cannot edit a message authored by another user", 50005)
            )
        body: dict[str, Any] = req.body or {}
        if "content" in body:
            content = "" if body["content"] is None else str(body["content"])
            if len(content) > MAX_CONTENT:
                raise _ApiError(
                    400,
                    _form_error(
                        "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
                    ),
                )
            message["content"] = content
        for key in ("embeds", "components", "flags"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        message["edited_timestamp"] = _now_iso()
        self.edits.append(
            {
                "channel_id": channel_id,
                "message_id": int(message["id"]),
                "content": message["content"],
                "data": body,
            }
        )
        self._dispatch_message("MESSAGE_UPDATE", message)
        return self._rest_message(message)

    async def _delete_message(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        message = self._message_or_404(req, channel_id)
        message_id = int(message["id"])
        del self._messages[message_id]
        channel = self._channels[channel_id]
        if channel["type"] in THREAD_TYPES:
            channel["message_count"] = max(0, channel["message_count"] - 1)
        self.deletions.append((channel_id, message_id))
        data: dict[str, Any] = {"id": str(message_id), "channel_id": str(channel_id)}
        guild_id = self._channel_guild(channel_id)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        self._dispatch(
            "MESSAGE_DELETE",
            data,
            intent=GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES,
        )
        return None

    def _check_may_pin(self, channel_id: int) -> None:
        if self._channel_guild(channel_id) is None:
            return  # anyone may pin in a DM
        if not self._permissions(self.bot_id) & (PIN_MESSAGES | ADMINISTRATOR):
            raise _ApiError(403, _error_body("Missing Permissions", 50013))

    async def _get_pins(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        pinned = self._pins.get(channel_id, {})
        limit = max(1, min(50, int(req.query.get("limit", "50"))))
        items: list[dict[str, Any]] = [
            {
                "pinned_at": pinned[message_id],
                "message": self._rest_message(self._messages[message_id]),
            }
            for message_id in self.pins(channel_id)
            if message_id in self._messages
        ]
        if "before" in req.query:
            items = [i for i in items if i["pinned_at"] < req.query["before"]]
        return {"items": items[:limit], "has_more": len(items) > limit}

    async def _pin(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        message = self._message_or_404(req, channel_id)
        self._check_may_pin(channel_id)
        message_id = int(message["id"])
        pinned = self._pins.setdefault(channel_id, {})
        if message_id in pinned:
            return None
        if len(pinned) >= MAX_PINS:
            raise _ApiError(400, _error_body(f"Maximum number of pins reached ({MAX_PINS})", 30003))
        pinned[message_id] = _now_iso()
        message["pinned"] = True
        notice = self._create_message(
            channel_id=channel_id,
            author_id=self.bot_id,
            content="",
            mention_ids=[],
            message_type=CHANNEL_PINNED_MESSAGE,
            reference={"message_id": str(message_id), "channel_id": str(channel_id)},
        )
        self._dispatch_message("MESSAGE_CREATE", notice)
        self._dispatch_pins_update(channel_id)
        return None

    async def _unpin(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        message = self._message_or_404(req, channel_id)
        self._check_may_pin(channel_id)
        if int(message["id"]) in self._pins.get(channel_id, {}):
            self._set_unpinned(channel_id, int(message["id"]))
        return None

    def _set_unpinned(self, channel_id: int, message_id: int) -> None:
        del self._pins[channel_id][message_id]
        if message_id in self._messages:
            self._messages[message_id]["pinned"] = False
        self._dispatch_pins_update(channel_id)

    def _dispatch_pins_update(self, channel_id: int) -> None:
        pinned = self._pins.get(channel_id, {})
        data: dict[str, Any] = {
            "channel_id": str(channel_id),
            "last_pin_timestamp": max(pinned.values()) if pinned else None,
        }
        guild_id = self._channel_guild(channel_id)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        self._dispatch("CHANNEL_PINS_UPDATE", data, intent=GUILDS if guild_id else DIRECT_MESSAGES)

    async def _typing(self, req: _Request) -> Any:
        self.typing.append(self._channel_or_404(req))
        return None

    async def _add_reaction(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        message = self._message_or_404(req, channel_id)
        self.reactions.append(
            {
                "channel_id": channel_id,
                "message_id": int(message["id"]),
                "emoji": req.params["emoji"],
            }
        )
        return None

    async def _remove_reaction(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        message_id = int(self._message_or_404(req, channel_id)["id"])
        self.reactions = [
            r
            for r in self.reactions
            if not (r["message_id"] == message_id and r["emoji"] == req.params["emoji"])
        ]
        return None

    async def _create_thread(self, req: _Request) -> Any:
        parent_id = self._channel_or_404(req)
        parent = self._channels[parent_id]
        if parent["type"] not in (0, 5):
            raise _ApiError(400, _error_body("Cannot execute action on this channel type", 50024))
        body: dict[str, Any] = req.body or {}
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise _ApiError(
                400,
                _form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."),
            )
        starter_id: int | None = None
        if "message_id" in req.params:
            starter = self._message_or_404(req, parent_id)
            starter_id = int(starter["id"])
            if any(int(c["id"]) == starter_id for c in self._channels.values()):
                raise _ApiError(
                    400, _error_body("A thread has already been created for this message", 160004)
                )
            thread_id = starter_id  # Discord: a thread started from a message shares its id
            thread_type = 11 if parent["type"] == 0 else 10
        else:
            thread_type = int(body.get("type") or 12)  # the docs: PRIVATE_THREAD by default
            allowed_types = (11, 12) if parent["type"] == 0 else (10,)
            if thread_type not in allowed_types:
                raise _ApiError(
                    400,
                    _form_error(
                        "type",
                        "BASE_TYPE_CHOICES",
                        f"Value must be one of {{{', '.join(map(str, allowed_types))}}}.",
                    ),
                )
            thread_id = self._snowflake()
        auto_archive = int(body.get("auto_archive_duration") or 4320)
        if auto_archive not in AUTO_ARCHIVE_DURATIONS:
            raise _ApiError(
                400,
                _form_error(
                    "auto_archive_duration",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {60, 1440, 4320, 10080}.",
                ),
            )
        now = _now_iso()
        thread: dict[str, Any] = {
            "id": str(thread_id),
            "type": thread_type,
            "guild_id": str(self.guild_id),
            "parent_id": str(parent_id),
            "owner_id": str(self.bot_id),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
                **({"invitable": bool(body.get("invitable", True))} if thread_type == 12 else {}),
            },
            "member": {
                "id": str(thread_id),
                "user_id": str(self.bot_id),
                "join_timestamp": now,
                "flags": 1,
            },
        }
        self._channels[thread_id] = thread
        self.threads.append({**thread, "starter_message_id": starter_id})
        if starter_id is not None:
            self._messages[starter_id]["thread"] = thread
        self._dispatch("THREAD_CREATE", {**thread, "newly_created": True}, intent=GUILDS)
        return thread

    async def _modify_channel(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        channel = self._channels[channel_id]
        if channel["type"] == 1:
            raise _ApiError(400, _error_body("Cannot execute action on a DM channel", 50003))
        body = req.body
        if not isinstance(body, dict):
            raise _ApiError(400, _error_body("Invalid Form Body", 50035))
        if "name" in body and not 1 <= len(str(body["name"] or "")) <= 100:
            raise _ApiError(
                400,
                _form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."),
            )
        metadata = channel.get("thread_metadata")
        if metadata is None:
            for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position"):
                if key in body:
                    channel[key] = body[key]
            self.channel_edits.append({"channel_id": channel_id, "data": body})
            self._dispatch("CHANNEL_UPDATE", channel, intent=GUILDS)
            return channel
        if metadata["archived"] and body.get("archived") is not False:
            # The docs: the thread must be un-archived, or be un-archived by this request.
            raise _ApiError(400, _error_body("Thread is archived", 50083))
        duration = body.get("auto_archive_duration")
        if duration is not None and int(duration) not in AUTO_ARCHIVE_DURATIONS:
            raise _ApiError(
                400,
                _form_error(
                    "auto_archive_duration",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {60, 1440, 4320, 10080}.",
                ),
            )
        for key in ("name", "rate_limit_per_user", "flags", "applied_tags"):
            if key in body and body[key] is not None:
                channel[key] = body[key]
        touched = False
        for key in ("archived", "locked", "invitable"):
            if key in body and body[key] is not None:
                if key == "invitable" and channel["type"] != 12:
                    continue
                touched |= key == "archived" and bool(body[key]) != metadata["archived"]
                metadata[key] = bool(body[key])
        if duration is not None:
            touched |= int(duration) != metadata["auto_archive_duration"]
            metadata["auto_archive_duration"] = int(duration)
        if touched:  # the docs: archive_timestamp moves on (un)archiving or a new duration
            metadata["archive_timestamp"] = _now_iso()
        self.channel_edits.append({"channel_id": channel_id, "data": body})
        self._dispatch("THREAD_UPDATE", channel, intent=GUILDS)
        return channel

    async def _delete_channel(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        if self._channels[channel_id]["type"] == 1:
            return self._channels[channel_id]  # closing a DM: it comes back on the next use
        return self._remove_channel(channel_id)

    async def _join_thread(self, req: _Request) -> Any:
        channel_id = self._channel_or_404(req)
        if self._channels[channel_id]["type"] not in (10, 11, 12):
            raise _ApiError(400, _error_body("Cannot execute action on this channel type", 50024))
        return None

    def _check_guild(self, req: _Request) -> None:
        if int(req.params["guild_id"]) != self.guild_id:
            raise _unknown("Guild", 10004)

    async def _get_guild(self, req: _Request) -> Any:
        self._check_guild(req)
        return {
            **self._guild_object(full=False),
            "approximate_member_count": len(self._members),
        }

    async def _get_guild_channels(self, req: _Request) -> Any:
        self._check_guild(req)
        return [c for c in self._channels.values() if c["type"] == 0]

    async def _get_member(self, req: _Request) -> Any:
        self._check_guild(req)
        user_id = int(req.params["user_id"])
        if user_id not in self._members:
            raise _unknown("Member", 10007)
        return self._member_with_user(user_id)

    def _command_scope(self, req: _Request) -> int | None:
        if int(req.params["app_id"]) != self.application_id:
            raise _ApiError(403, _error_body("Missing Access", 50001))
        if "guild_id" in req.params:
            self._check_guild(req)
            return int(req.params["guild_id"])
        return None

    async def _get_commands(self, req: _Request) -> Any:
        return self.commands.get(self._command_scope(req), [])

    async def _put_commands(self, req: _Request) -> Any:
        scope = self._command_scope(req)
        body = req.body
        if not isinstance(body, list):
            raise _ApiError(400, _error_body("Invalid Form Body", 50035))
        if len(body) > 100:
            raise _ApiError(400, _form_error("_", "BASE_TYPE_MAX_LENGTH", "Too many commands"))
        existing = {(c["name"], c.get("type", 1)): c for c in self.commands.get(scope, [])}
        stored: list[dict[str, Any]] = []
        for index, command in enumerate(body):
            name = str(command.get("name", ""))
            command_type = int(command.get("type", 1))
            if command_type == 1 and (not _COMMAND_NAME_RE.match(name) or name != name.lower()):
                raise _ApiError(
                    400,
                    _form_error(
                        f"{index}.name",
                        "APPLICATION_COMMAND_INVALID_NAME",
                        "Command name is invalid",
                    ),
                )
            description = str(command.get("description", ""))
            if command_type == 1 and not 1 <= len(description) <= 100:
                raise _ApiError(
                    400,
                    _form_error(
                        f"{index}.description",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    ),
                )
            previous = existing.get((name, command_type))
            entry: dict[str, Any] = {
                "id": previous["id"] if previous else str(self._snowflake()),
                "application_id": str(self.application_id),
                "version": str(self._snowflake()),
                "default_member_permissions": None,
                "type": command_type,
                "nsfw": False,
                "options": [],
                **command,
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.commands[scope] = stored
        return stored

    # ------------------------------------------------------------------ interactions

    def _interaction_for(self, token: str) -> _Interaction:
        interaction = self._interactions.get(token)
        if interaction is None:
            raise _unknown("Webhook", 10015)
        return interaction

    def _interaction_message(
        self,
        interaction: _Interaction,
        data: dict[str, Any],
        *,
        files: list[str] | None = None,
        loading: bool = False,
    ) -> dict[str, Any]:
        if not loading:
            self._validate_message_body(data, files or [])
        flags = int(data.get("flags") or 0) & EPHEMERAL
        if loading:
            flags |= LOADING
        content = "" if data.get("content") is None else str(data["content"])
        self._validate_allowed_mentions(data.get("allowed_mentions"))
        mention_ids, everyone = self._mentions(content, data.get("allowed_mentions"), None)
        return self._create_message(
            channel_id=interaction.channel_id,
            author_id=self.bot_id,
            content=content,
            mention_ids=mention_ids,
            mention_everyone=everyone,
            mention_role_ids=self._role_mentions(
                content, data.get("allowed_mentions"), self.bot_id
            ),
            message_type=20,
            embeds=data.get("embeds"),
            attachments=self._attachments(files or []),
            components=data.get("components"),
            flags=flags,
            extra={
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": {
                    "id": str(interaction.id),
                    "type": 2,
                    "name": interaction.name,
                    "user": interaction.user,
                    "authorizing_integration_owners": {},
                },
            },
        )

    def _maybe_dispatch(self, event: str, message: dict[str, Any]) -> None:
        if not int(message.get("flags", 0)) & EPHEMERAL:
            self._dispatch_message(event, message)

    async def _interaction_callback(self, req: _Request) -> Any:
        interaction = self._interactions.get(req.params["token"])
        if interaction is None or interaction.id != int(req.params["interaction_id"]):
            raise _unknown("interaction", 10062)
        if (
            self.interaction_ack_timeout is not None
            and time.monotonic() - interaction.created > self.interaction_ack_timeout
        ):
            raise _unknown("interaction", 10062)
        if interaction.acknowledged is not None:
            raise _ApiError(400, _error_body("Interaction has already been acknowledged.", 40060))
        body: dict[str, Any] = req.body or {}
        callback_type = int(body.get("type", 0))
        data: dict[str, Any] = body.get("data") or {}
        if callback_type not in (1, 4, 5, 6, 7, 8, 9, 10, 12):
            raise _ApiError(
                400, _form_error("type", "BASE_TYPE_CHOICES", "Value must be one of ...")
            )
        message: dict[str, Any] | None = None
        if callback_type == 4:
            message = self._interaction_message(interaction, data, files=req.files)
        elif callback_type == 5:
            message = self._interaction_message(interaction, data, loading=True)
        interaction.acknowledged = callback_type
        interaction.original = message
        self.interaction_responses.append(
            {
                "kind": "callback",
                "interaction_id": interaction.id,
                "type": callback_type,
                "data": data,
                "files": list(req.files),
                "message_id": int(message["id"]) if message else None,
                "at": time.monotonic(),
            }
        )
        if message is not None:
            self._maybe_dispatch("MESSAGE_CREATE", message)
        if req.query.get("with_response") not in ("1", "true", "True"):
            return None
        flags = int(message["flags"]) if message else 0
        response: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": 2,
                "response_message_loading": bool(flags & LOADING),
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            },
            "resource": {"type": callback_type},
        }
        if message is not None:
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"]["message"] = self._rest_message(message)
        return response

    def _hook_target(self, req: _Request) -> tuple[_Interaction, dict[str, Any], str]:
        if int(req.params["app_id"]) != self.application_id:
            raise _unknown("Webhook", 10015)
        interaction = self._interaction_for(req.params["token"])
        which = req.params["message_id"]
        if which == "@original":
            if interaction.original is None:
                raise _unknown("Message", 10008)
            return interaction, interaction.original, "original"
        message = interaction.followups.get(int(which))
        if message is None:
            raise _unknown("Message", 10008)
        return interaction, message, "followup"

    async def _followup(self, req: _Request) -> Any:
        if int(req.params["app_id"]) != self.application_id:
            raise _unknown("Webhook", 10015)
        interaction = self._interaction_for(req.params["token"])
        if interaction.acknowledged is None:
            raise _unknown("Webhook", 10015)
        data: dict[str, Any] = req.body or {}
        message = self._interaction_message(interaction, data, files=req.files)
        interaction.followups[int(message["id"])] = message
        self.interaction_responses.append(
            {
                "kind": "followup",
                "interaction_id": interaction.id,
                "type": None,
                "data": data,
                "files": list(req.files),
                "message_id": int(message["id"]),
                "at": time.monotonic(),
            }
        )
        self._maybe_dispatch("MESSAGE_CREATE", message)
        if req.query.get("wait") in ("1", "true", "True"):
            return self._rest_message(message)
        return None

    async def _hook_get(self, req: _Request) -> Any:
        return self._rest_message(self._hook_target(req)[1])

    async def _hook_edit(self, req: _Request) -> Any:
        interaction, message, which = self._hook_target(req)
        data: dict[str, Any] = req.body or {}
        if "content" in data:
            content = "" if data["content"] is None else str(data["content"])
            if len(content) > MAX_CONTENT:
                raise _ApiError(
                    400,
                    _form_error(
                        "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
                    ),
                )
            message["content"] = content
        for key in ("embeds", "components"):
            if key in data and data[key] is not None:
                message[key] = data[key]
        message["flags"] = int(message["flags"]) & ~LOADING
        message["edited_timestamp"] = _now_iso()
        self.interaction_responses.append(
            {
                "kind": f"edit_{which}",
                "interaction_id": interaction.id,
                "type": None,
                "data": data,
                "message_id": int(message["id"]),
                "at": time.monotonic(),
            }
        )
        self._maybe_dispatch("MESSAGE_UPDATE", message)
        return self._rest_message(message)

    async def _hook_delete(self, req: _Request) -> Any:
        interaction, message, which = self._hook_target(req)
        self._messages.pop(int(message["id"]), None)
        if which == "original":
            interaction.original = None
        else:
            interaction.followups.pop(int(message["id"]), None)
        self.interaction_responses.append(
            {
                "kind": f"delete_{which}",
                "interaction_id": interaction.id,
                "type": None,
                "data": None,
                "message_id": int(message["id"]),
                "at": time.monotonic(),
            }
        )
        return None


@contextlib.contextmanager
def pointed_at(server: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py (REST `Route.BASE` and the default gateway URL) at `server`.

    discord.py's plain `Client` never asks `/gateway/bot`: it connects to
    `DiscordWebSocket.DEFAULT_GATEWAY`, then uses READY's `resume_gateway_url` for RESUME
    (and, after an op 9, keeps connecting there). `AutoShardedClient` asks `/gateway/bot`,
    which the stand-in answers with `gateway_url`.
    """
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = server.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
    try:
        yield server
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_client(
    client: discord.Client,
    server: FakeDiscord,
    *,
    token: str | None = None,
    timeout: float = 10.0,
) -> AsyncIterator[discord.Client]:
    """Start `client` against `server` (inside `pointed_at`), wait for on_ready, close on exit.

    `token` defaults to the server's. Errors from start-up (e.g. `discord.LoginFailure`) are
    raised from the `async with`; the client is closed in every case (`Client.start` alone
    leaves its HTTP session open when login fails).
    """
    with pointed_at(server):
        task = asyncio.create_task(client.start(server.token if token is None else token))
        try:
            deadline = time.monotonic() + timeout
            while not client.is_ready():
                if task.done():
                    task.result()  # raises the start-up error
                    raise AssertionError("client stopped before becoming ready")
                if time.monotonic() > deadline:
                    raise AssertionError(f"client not ready within {timeout}s")
                await asyncio.sleep(0.01)
            yield client
        finally:
            await client.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
