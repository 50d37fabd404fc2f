"""A stand-in for the Telegram Bot API, served on loopback for tests.

`FakeTelegram` is an aiohttp.web server bound to 127.0.0.1 on a free port, running in the test's own
event loop. A real client (python-telegram-bot's ``telegram.Bot(token, base_url=fake.base_url)``)
talks HTTP to it exactly as it would to ``https://api.telegram.org``; tests play the citizens
(`send_text`, `send_media`, `edit_text`, `press_button`, `answer_poll`, `push_update`) and inspect
what the bot did (`sent`, `polls_sent_to`, `calls`, `commands`, `callback_answers`, ...). Faults
can be injected (`fail_next`, `block_chat`, `enforce_rate_limits`).

A staff desk lives in a forum supergroup (`add_forum`): the bot manages topics with
``createForumTopic``, ``editForumTopic``, ``closeForumTopic``, ``reopenForumTopic`` and
``deleteForumTopic`` and writes in them with ``message_thread_id``; people write in a topic with
``send_text(thread_id=...)`` or manage topics in the app (`create_topic`, `close_topic`,
`reopen_topic`, `delete_topic`); tests read `topics`, `topic`, `topic_history` and `sent_to_topic`.

Faithful to the real Bot API:

* request shape: ``/bot<TOKEN>/<method>`` with form-encoded, multipart, JSON or query parameters
  (method names are case-insensitive); answers ``{"ok": true, "result": ...}`` or
  ``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`` with that HTTP status;
  401 ``Unauthorized`` for a wrong token, 404 ``Not Found`` for an unknown method;
* update delivery: ``getUpdates`` offset semantics (confirmation forgets older updates, negative
  offsets), ``limit``, persistent ``allowed_updates``, long polling that returns as soon as an update
  arrives, 409 conflicts (webhook active, concurrent ``getUpdates``), webhooks with
  ``X-Telegram-Bot-Api-Secret-Token``, one update at a time, in order, retried until a 2xx answer,
  and method calls made in the webhook's answer;
* forum topics (checked against TDLib's ForumTopicManager and the Bot API docs): a topic's
  ``message_thread_id`` is the id of its ``forum_topic_created`` service message; names are trimmed
  and cut to 128 characters (``title must be non-empty``); ``the chat is not a forum``,
  ``not enough rights to create a topic``, ``TOPIC_ID_INVALID`` for an unknown or deleted topic,
  ``TOPIC_NOT_MODIFIED`` for a no-op close/reopen/rename; a send to an unknown or deleted topic is
  ``message thread not found``; a closed topic answers ``TOPIC_CLOSED`` unless the bot has
  ``can_manage_topics`` (admins with that right may still write in closed topics); messages in a
  topic carry ``message_thread_id``, ``is_topic_message`` and, when they reply to nothing else,
  ``reply_to_message`` = the topic's creation message; a reply without ``message_thread_id`` lands
  in the replied message's topic; deleting a topic deletes its messages; the creation message
  cannot be deleted with ``deleteMessage``; the bot gets no update for what it did itself, but
  gets the service messages of topics people create, close or reopen;
* ``sendMessage`` validation: empty text, 4096 UTF-16 code units after entity parsing, HTML,
  MarkdownV2 and legacy Markdown parsing ported from TDLib's parsers (same error texts, byte
  offsets in UTF-8, entity offsets in UTF-16), leading/trailing whitespace trimmed, inline keyboard
  checks, reply targets that must exist;
* groups where the bot listens: several people write in a group (`send_text(chat_id=-100...,
  user_id=..., chat_type="supergroup")`); with `enforce_privacy_mode` and `privacy_mode` on (the
  default of every bot, reported by ``getMe`` as ``can_read_all_group_messages: false``) a bot that
  is not an administrator of a group only gets its commands, the messages that mention it or reply
  to one of its messages, and service messages (the others are recorded but withheld, see
  `withheld`), whereas an administrator gets everything; ``getChatMember`` describes the bot as
  ``member`` or ``administrator`` (`set_bot_rights`) with its ``can_pin_messages`` right;
  ``pinChatMessage`` and ``unpinChatMessage`` need that right in groups and supergroups (``not
  enough rights to manage pinned messages in the chat``), find the message (``message to pin not
  found``, ``message to unpin not found``), keep ``disable_notification``, and ``getChat`` shows
  the most recent pinned message as ``pinned_message``; people unpin or delete messages in the app
  (`unpin_by_person`, `delete_by_person`) and the bot is not told, as on Telegram;
* native polls (Bot API 10.0, checked against TDLib's PollOption and the Bot API docs):
  ``sendPoll`` goes through the checks and limits of ``sendMessage`` (blocked chats, topics,
  replies, rate limits, `fail_next`) and then TDLib's: the question and each option are trimmed
  (``text must be non-empty``), at most 300 and 100 characters, 1 to 12 options (``poll must have
  at least one answer option``, ``poll can't have more than 12 options``); ``is_anonymous``
  defaults to true, ``allows_revoting`` to true for a regular poll and false for a quiz; a quiz
  needs increasing ``correct_option_ids`` that exist. The Message carries ``poll`` with its ``id``,
  options with ``persistent_id`` and ``voter_count``, ``total_voter_count``, ``members_only`` etc.
  People vote with `answer_poll`: a poll that is not anonymous gives a ``poll_answer`` update
  (empty ``option_ids`` for a retracted vote), and every change gives a ``poll`` update with the new
  counts. ``stopPoll`` answers the closed Poll (``message with poll to stop not found``, ``message
  is not a poll``, ``poll has already been closed``), replaces the keyboard as an edit does and
  queues a ``poll`` update; a closed poll takes no votes. Polls are recorded apart from `sent`
  (which holds ``sendMessage`` calls only): see `polls_sent_to`, `poll_of`, `wait_for_polls`;
* object shapes (User, Chat, Message, Update, CallbackQuery, Poll, PollAnswer, media,
  ChatFullInfo, WebhookInfo) are the Bot API's, so ``telegram.Update.de_json`` parses them.

Simplified on purpose:

* every chat exists and the bot may write to it (unless `block_chat`); ``@username`` chat ids are
  "chat not found"; message ids count per chat, shared by the bot and citizens;
* a bare ``&`` that is not an HTML entity is rejected (``strict_html_ampersand``, default True),
  whereas Telegram keeps it literally: bots should escape user text anyway;
* webhook URLs may be plain ``http://`` on any port; no certificate checks; failed deliveries are
  retried after `webhook_retry_delay` seconds (Telegram backs off much longer);
* MarkdownV2 blockquotes are recognised line by line; expandable ``**>`` blockquotes are not;
* the General topic (id 1) is not modelled: a message without ``message_thread_id`` in a forum
  simply carries none; custom emoji ids of topic icons are never checked; in a chat not declared
  with `add_forum`, any ``message_thread_id`` is taken as given (as before forums existed here);
* only the methods listed in `FakeTelegram._methods` exist; anything else answers 404 as Telegram
  does for unknown methods (still recorded in `calls`);
* rate limits (opt-in) follow Telegram's published guidance, not its exact (secret) algorithm;
* polls: option ``persistent_id`` is the option's index as text; ``open_period``/``close_date``
  are shown but polls never close by themselves; options cannot be added after sending; poll
  media, ``members_only`` and ``country_codes`` are ignored; only the bot's own polls exist.

Everything runs in one event loop; the citizen helpers are plain functions that must be called from
that loop's thread (or before `start`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import itertools
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, web

__all__ = ["FakeTelegram", "SentMessage", "SentPoll", "Topic"]

JSONDict = dict[str, Any]

logger = logging.getLogger(__name__)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MESSAGE_MAX_UTF16 = 4096
CALLBACK_DATA_MAX_BYTES = 64
TOPIC_NAME_MAX = 128
# Native polls: the limits of Bot API 10.0 as python-telegram-bot 22.8 states them
# (telegram.constants.PollLimit); lengths count characters (code points), as TDLib does.
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_OPTIONS_MAX = 12  # and at least one option since Bot API 10.0
POLL_EXPLANATION_MAX = 200
POLL_EXPLANATION_LINE_FEEDS = 2
# The colours Telegram offers for topic icons (the Bot API lists them for createForumTopic).
TOPIC_ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)

UPDATE_TYPES = _words(
    """
    message edited_message channel_post edited_channel_post business_connection
    business_message edited_business_message deleted_business_messages message_reaction
    message_reaction_count inline_query chosen_inline_result callback_query shipping_query
    pre_checkout_query purchased_paid_media poll poll_answer my_chat_member chat_member
    chat_join_request chat_boost removed_chat_boost
    """
)
# Without an explicit allowed_updates list (or with an empty one), Telegram leaves these out.
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

MEDIA_KINDS = frozenset(
    {"photo", "voice", "sticker", "document", "location", "video", "audio", "contact"}
)
CAPTIONED_KINDS = frozenset({"photo", "voice", "document", "video", "audio"})

CHAT_ACTIONS = _words(
    """
    typing upload_photo record_video upload_video record_voice upload_voice upload_document
    choose_sticker find_location record_video_note upload_video_note
    """
)
COMMAND_SCOPES = _words(
    """
    default all_private_chats all_group_chats all_chat_administrators chat
    chat_administrators chat_member
    """
)

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
SET_WEBHOOK_CONFLICT = "Conflict: terminated by setWebhook request"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)

# Parameters whose values are strings in the Bot API: never JSON-decode them, even if they look
# like a number or a JSON document.
STRING_FIELDS = _words(
    """
    text caption parse_mode callback_query_id inline_message_id url secret_token
    language_code description short_description name title action data file_id emoji
    ip_address query business_connection_id message_effect_id custom_emoji_id phone_number
    first_name last_name vcard address question explanation sticker photo document video
    audio voice animation video_note thumbnail certificate icon_custom_emoji_id
    """
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_INTEGER = re.compile(r"-?\d+")

DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    420: "Flood",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class SentMessage:
    """One successful ``sendMessage``, as the stand-in received and accepted it."""

    chat_id: int
    text: str  # the ``text`` parameter as sent (markup included)
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    reply_to_message_id: int | None
    message_thread_id: int | None
    message_id: int
    at: float  # `FakeTelegram.clock()` (time.monotonic() by default) on arrival
    entities_text: str  # what a user sees: markup parsed away, entities unescaped, trimmed
    entities: list[JSONDict] = field(default_factory=list)  # MessageEntity objects, UTF-16
    params: JSONDict = field(default_factory=dict)  # every decoded parameter of the call


@dataclass
class Topic:
    """A forum topic as the stand-in knows it (a copy: later changes do not show in it)."""

    chat_id: int
    thread_id: int  # the message_thread_id, i.e. the id of its forum_topic_created message
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None
    creator_id: int  # the bot's id when the bot created it
    closed: bool = False
    deleted: bool = False


@dataclass
class SentPoll:
    """A native poll the bot sent (``sendPoll``); the helpers hand out copies, which later votes
    and ``stopPoll`` do not change."""

    chat_id: int
    message_id: int
    poll_id: str
    question: str  # as shown: markup parsed away, trimmed
    options: list[str]  # option texts as shown, in order (option id = index)
    is_anonymous: bool
    type: str  # "regular" or "quiz"
    allows_multiple_answers: bool
    allows_revoting: bool
    is_closed: bool = False
    votes: dict[int, list[int]] = field(default_factory=dict)  # user_id -> chosen option ids
    correct_option_ids: list[int] = field(default_factory=list)  # quizzes only
    message_thread_id: int | None = None
    reply_markup: dict[str, Any] | None = None
    at: float = 0.0  # `FakeTelegram.clock()` when sent
    params: JSONDict = field(default_factory=dict)  # every decoded parameter of the call
    # Further Poll fields as the bot sees them (question_entities, explanation, open_period...).
    extra: JSONDict = field(default_factory=dict, repr=False)

    @property
    def voter_counts(self) -> list[int]:
        """How many people chose each option, in option order."""
        counts = [0] * len(self.options)
        for chosen in self.votes.values():
            for option_id in chosen:
                counts[option_id] += 1
        return counts

    @property
    def total_voter_count(self) -> int:
        """How many people voted (a person choosing several options counts once)."""
        return sum(1 for chosen in self.votes.values() if chosen)


@dataclass
class _Forum:
    can_manage_topics: bool  # the bot is an administrator with the can_manage_topics right
    members_can_create_topics: bool  # the group lets plain members create topics


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


@dataclass
class _Described:
    """A successful result that Telegram accompanies with a ``description``."""

    result: Any
    description: str


@dataclass(eq=False)
class _Waiter:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    terminated: str | None = None


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    has_custom_certificate: bool
    last_error_date: int | None = None
    last_error_message: str | None = None


# --------------------------------------------------------------------------------------------
# Text helpers: UTF-16 lengths and the entity parsers (ported from TDLib's MessageEntity.cpp).
# --------------------------------------------------------------------------------------------


class _ParseError(Exception):
    pass


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _entity(kind: str, offset: int, length: int, **extra: Any) -> JSONDict:
    return {"type": kind, "offset": offset, "length": length, **extra}


def _sort_entities(entities: list[JSONDict]) -> list[JSONDict]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_URL_LIKE = re.compile(
    r"^(?:(?:https?|tg|ton)://\S+|[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:[/?#]\S*)?)$", re.I
)
_TG_USER = re.compile(r"^tg://user\?id=(\d+)", re.I)
_TG_EMOJI = re.compile(r"^tg://emoji\?id=(\d+)$", re.I)


def _link_entity(offset: int, length: int, url: str) -> JSONDict | None:
    """A text_link/text_mention entity for `url`, or None where Telegram drops an invalid URL."""
    user = _TG_USER.match(url)
    if user:
        mentioned = {"id": int(user.group(1)), "is_bot": False, "first_name": "User"}
        return _entity("text_mention", offset, length, user=mentioned)
    if not _URL_LIKE.match(url):
        return None
    if "://" not in url:
        url = "http://" + url
    return _entity("text_link", offset, length, url=url)


_HTML_SPACE = " \t\r\n\v\f"
_HTML_TAGS = _words(
    """
    a b strong i em s strike del u ins tg-spoiler tg-emoji span pre code blockquote
    """
)
_HTML_ENTITY_NAMES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the HTML entity at `pos` (``&lt;``, ``&#33;``, ``&#x21;``...); None if there is none."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end] in "0123456789":
                value = value * 10 + int(text[end])
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        found = _HTML_ENTITY_NAMES.get(text[pos + 1 : end])
        if found is None:
            return None
        char = found
    if end < n and text[end] == ";":
        end += 1
    return char, end


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Telegram HTML into (visible text, entities), raising _ParseError like Telegram."""
    out: list[str] = []
    u16 = 0
    entities: list[JSONDict] = []
    # (tag, argument, utf16 start, index in `out` at start, expandable)
    stack: list[tuple[str, str, int, int, bool]] = []
    n = len(text)
    i = 0

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                u16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise _ParseError(
                    f"Character '&' at byte offset {_byte_offset(text, i)} does not start an HTML "
                    "entity; escape it as &amp; (the stand-in is stricter than Telegram here)"
                )
        if c != "<":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            while i < n and text[i] not in _HTML_SPACE and text[i] != ">":
                i += 1
            if i >= n:
                raise _ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            tag = text[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise _ParseError(
                    f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
                )
            argument = ""
            expandable = False
            while at(i) != ">":
                while i < n and text[i] in _HTML_SPACE:
                    i += 1
                if at(i) == ">":
                    break
                attribute_begin = i
                while i < n and text[i] not in _HTML_SPACE and text[i] not in "=>":
                    i += 1
                attribute = text[attribute_begin:i]
                if not attribute:
                    raise _ParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset '
                        f"{_byte_offset(text, begin)}"
                    )
                while i < n and text[i] in _HTML_SPACE:
                    i += 1
                if at(i) != "=":
                    if tag == "blockquote" and attribute == "expandable":
                        expandable = True
                        continue
                    raise _ParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {_byte_offset(text, begin)}"
                    )
                i += 1
                while i < n and text[i] in _HTML_SPACE:
                    i += 1
                if i >= n:
                    raise _ParseError(
                        f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
                    )
                value_chars: list[str] = []
                if text[i] not in "'\"":
                    token_begin = i
                    while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                        i += 1
                    value = text[token_begin:i].lower()
                    if i < n and text[i] not in _HTML_SPACE and text[i] != ">":
                        raise _ParseError(
                            "Unexpected end of name token at byte offset "
                            f"{_byte_offset(text, token_begin)}"
                        )
                else:
                    quote = text[i]
                    i += 1
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            decoded = _decode_html_entity(text, i)
                            if decoded is not None:
                                value_chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        value_chars.append(text[i])
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = "".join(value_chars)
                if i >= n:
                    raise _ParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                if tag == "a" and attribute == "href":
                    argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attribute == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise _ParseError(
                    'Tag "span" must have class "tg-spoiler" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            stack.append((tag, argument, u16, len(out), expandable))
            i += 1  # the '>'
            continue

        # An end tag.
        if not stack:
            raise _ParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
        while i < n and text[i] not in _HTML_SPACE and text[i] != ">":
            i += 1
        end_tag = text[begin + 2 : i]
        while i < n and text[i] in _HTML_SPACE:
            i += 1
        if at(i) != ">":
            raise _ParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
        tag, argument, start, out_start, expandable = stack.pop()
        if end_tag and end_tag != tag:
            raise _ParseError(
                f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                f'expected "</{tag}>", found "</{end_tag}>"'
            )
        i += 1
        length = u16 - start
        if length <= 0:
            continue
        if tag in ("i", "em"):
            entities.append(_entity("italic", start, length))
        elif tag in ("b", "strong"):
            entities.append(_entity("bold", start, length))
        elif tag in ("s", "strike", "del"):
            entities.append(_entity("strikethrough", start, length))
        elif tag in ("u", "ins"):
            entities.append(_entity("underline", start, length))
        elif tag in ("tg-spoiler", "span"):
            entities.append(_entity("spoiler", start, length))
        elif tag == "blockquote":
            kind = "expandable_blockquote" if expandable else "blockquote"
            entities.append(_entity(kind, start, length))
        elif tag == "tg-emoji":
            if argument.isdigit():
                entities.append(_entity("custom_emoji", start, length, custom_emoji_id=argument))
        elif tag == "a":
            link = _link_entity(start, length, argument or "".join(out[out_start:]))
            if link is not None:
                entities.append(link)
        elif tag == "pre":
            last = entities[-1] if entities else None
            if (
                last is not None
                and last["type"] == "code"
                and (last["offset"], last["length"]) == (start, length)
                and last.get("_language")
            ):
                entities[-1] = _entity("pre", start, length, language=last["_language"])
            else:
                entities.append(_entity("pre", start, length))
        elif tag == "code":
            last = entities[-1] if entities else None
            if (
                last is not None
                and last["type"] == "pre"
                and (last["offset"], last["length"]) == (start, length)
                and argument
            ):
                last["language"] = argument
            else:
                code = _entity("code", start, length)
                if argument:
                    code["_language"] = argument
                entities.append(code)
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    visible = "".join(out)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in visible):
        raise _ParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )
    for entity in entities:
        entity.pop("_language", None)
    return visible, _sort_entities(entities)


_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    """Parse MarkdownV2 into (visible text, entities), raising _ParseError like Telegram."""
    out: list[str] = []
    u16 = 0
    entities: list[JSONDict] = []
    # [type, argument, utf16 start, byte offset of the markup, index in `out`]
    stack: list[tuple[str, str, int, int, int]] = []
    n = len(text)
    i = 0
    line_start = True
    quote_start: int | None = None
    quote_end = 0

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        c = text[i]
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if line_start and not in_code:
            line_start = False
            if c == ">":
                if quote_start is None:
                    quote_start = u16
                i += 1
                continue
            if quote_start is not None:
                if quote_end > quote_start:
                    entities.append(_entity("blockquote", quote_start, quote_end - quote_start))
                quote_start = None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        reserved = "`" if in_code else _MDV2_RESERVED
        if c not in reserved:
            if c == "\n":
                quote_end = u16
                line_start = True
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue

        top = stack[-1][0] if stack else None
        nxt = at(i + 1)
        is_end = (
            (top == "bold" and c == "*")
            or (top == "italic" and c == "_" and nxt != "_")
            or (top == "code" and c == "`")
            or (top == "pre" and text[i : i + 3] == "```")
            or (top in ("text_link", "custom_emoji") and c == "]")
            or (top == "underline" and c == "_" and nxt == "_")
            or (top == "strikethrough" and c == "~")
            or (top == "spoiler" and c == "|" and nxt == "|")
        )
        if not is_end:
            begin = i
            argument = ""
            if c == "_":
                kind = "underline" if nxt == "_" else "italic"
                i += 2 if nxt == "_" else 1
            elif c == "*":
                kind = "bold"
                i += 1
            elif c == "~":
                kind = "strikethrough"
                i += 1
            elif c == "|" and nxt == "|":
                kind = "spoiler"
                i += 2
            elif c == "[":
                kind = "text_link"
                i += 1
            elif c == "!" and nxt == "[":
                kind = "custom_emoji"
                i += 2
            elif c == "`" and text[i : i + 3] == "```":
                kind = "pre"
                i += 3
                language_end = i
                while language_end < n and text[language_end] not in " \t\r\n\v\f`":
                    language_end += 1
                if i != language_end and language_end < n and text[language_end] != "`":
                    argument = text[i:language_end]
                    i = language_end
                if at(i) in ("\n", "\r"):
                    i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
            elif c == "`":
                kind = "code"
                i += 1
            else:
                raise _ParseError(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append((kind, argument, u16, _byte_offset(text, begin), len(out)))
            continue

        kind, argument, start, _, out_start = stack.pop()
        length = u16 - start
        link: JSONDict | None = None
        if kind in ("bold", "italic", "code", "strikethrough"):
            i += 1
        elif kind in ("underline", "spoiler"):
            i += 2
        elif kind == "pre":
            i += 3
        else:  # text_link / custom_emoji
            if at(i + 1) != "(":
                url = "".join(out[out_start:])
                i += 1
            else:
                i += 2
                url_begin = i
                url_chars: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        url_chars.append(text[i + 1])
                        i += 2
                        continue
                    url_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise _ParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                    )
                i += 1
                url = "".join(url_chars)
            if kind == "custom_emoji":
                emoji = _TG_EMOJI.match(url)
                if emoji is None:
                    raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
                link = _entity("custom_emoji", start, length, custom_emoji_id=emoji.group(1))
            else:
                link = _link_entity(start, length, url)
        if length <= 0:
            continue
        if kind in ("text_link", "custom_emoji"):
            if link is not None:
                entities.append(link)
        elif kind == "pre" and argument:
            entities.append(_entity("pre", start, length, language=argument))
        else:
            entities.append(_entity(kind, start, length))
    if stack:
        kind, _, _, byte_offset, _ = stack[-1]
        raise _ParseError(
            f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {byte_offset}"
        )
    if quote_start is not None and u16 > quote_start:
        entities.append(_entity("blockquote", quote_start, u16 - quote_start))
    return "".join(out), _sort_entities(entities)


def parse_markdown(text: str) -> tuple[str, list[JSONDict]]:
    """Parse legacy Markdown into (visible text, entities), raising _ParseError like Telegram."""
    out: list[str] = []
    u16 = 0
    entities: list[JSONDict] = []
    n = len(text)
    i = 0

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        c = text[i]
        if c == "\\" and at(i + 1) in ("_", "*", "`", "["):
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        language = ""
        i += 1
        if c == "`" and text[i : i + 2] == "``":
            i += 2
            is_pre = True
            language_end = i
            while language_end < n and text[language_end] not in " \t\r\n\v\f`":
                language_end += 1
            if i != language_end and language_end < n and text[language_end] != "`":
                language = text[i:language_end]
                i = language_end
            if at(i) in ("\n", "\r"):
                i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
        start = u16
        while i < n and (text[i] != end_char or (is_pre and text[i + 1 : i + 3] != "``")):
            out.append(text[i])
            u16 += utf16_len(text[i])
            i += 1
        if i >= n:
            raise _ParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        length = u16 - start
        if c == "[":
            if at(i + 1) != "(":
                url = text[begin + 1 : i]
            else:
                i += 2
                url_chars: list[str] = []
                while i < n and text[i] != ")":
                    url_chars.append(text[i])
                    i += 1
                url = "".join(url_chars)
            if length > 0:
                link = _link_entity(start, length, url)
                if link is not None:
                    entities.append(link)
        elif length > 0:
            if c == "_":
                entities.append(_entity("italic", start, length))
            elif c == "*":
                entities.append(_entity("bold", start, length))
            elif is_pre:
                extra = {"language": language} if language else {}
                entities.append(_entity("pre", start, length, **extra))
            else:
                entities.append(_entity("code", start, length))
        i += 3 if is_pre else 1
    return "".join(out), _sort_entities(entities)


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Drop leading/trailing whitespace as Telegram does, keeping entities aligned."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_AUTO_ENTITIES = re.compile(
    r"(?P<bot_command>(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/]))"
    r"|(?P<url>\bhttps?://[^\s<>\"]+)"
    r"|(?P<mention>(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{2,31}(?![\w@]))"
    r"|(?P<hashtag>(?<![\w#])#[^\W\d_]\w*)"
)


def detect_entities(text: str) -> list[JSONDict]:
    """The entities Telegram detects in a user's plain text: commands, URLs, mentions, hashtags."""
    entities: list[JSONDict] = []
    for match in _AUTO_ENTITIES.finditer(text):
        kind = match.lastgroup or "url"
        offset = utf16_len(text[: match.start()])
        entities.append(_entity(kind, offset, utf16_len(match.group())))
    return entities


def _decode_value(key: str, value: Any) -> Any:
    """Decode one form value the way the Bot API reads its typed parameters."""
    if not isinstance(value, str) or key in STRING_FIELDS:
        return value
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    if stripped in ("true", "false"):
        return stripped == "true"
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if _NUMBER.fullmatch(stripped):
        return float(stripped)
    return value


_SERVICE_FIELDS = (
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
)


def _is_service(message: JSONDict) -> bool:
    return any(key in message for key in _SERVICE_FIELDS)


def _clean_topic_name(value: Any) -> str:
    """A topic name as TDLib keeps it: one line, trimmed, at most 128 characters."""
    text = re.sub(r"[\r\n\t\v\f]+", " ", "" if value is None else str(value)).strip()
    return text[:TOPIC_NAME_MAX].rstrip()


# --------------------------------------------------------------------------------------------
# The server.
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """The Telegram Bot API on 127.0.0.1, plus helpers to play citizens and inspect the bot."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token",
        bot_id: int = 123456,
        username: str = "trois_collines_bot",
        first_name: str = "Trois-Collines (bot)",
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name

        # Knobs.
        self.enforce_rate_limits: bool = False
        self.privacy_mode: bool = True  # BotFather's group privacy (getMe reports it)
        self.enforce_privacy_mode: bool = False  # withhold group chatter as Telegram then does
        self.strict_html_ampersand: bool = True
        self.webhook_retry_delay: float = 0.2
        self.webhook_timeout: float = 5.0
        self.clock: Callable[[], float] = time.monotonic

        # What the bot did.
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []  # successful editMessageText, visible text included
        self.deleted: list[tuple[int, int]] = []  # (chat_id, message_id)
        self.calls: list[tuple[str, JSONDict]] = []
        self.errors: list[tuple[str, int, str]] = []  # (method, status, description) answered
        self.commands: dict[tuple[str, str | None], list[JSONDict]] = {}
        self.descriptions: dict[str | None, str] = {}
        self.short_descriptions: dict[str | None, str] = {}
        self.names: dict[str | None, str] = {}
        self.callback_answers: list[JSONDict] = []
        self.confirmed_offset: int = 0
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, status; 0 = no answer)
        self.rate_limited: list[tuple[int, float]] = []

        # State.
        self._updates: list[JSONDict] = []
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._webhook: _Webhook | None = None
        self._polls: set[_Waiter] = set()
        self._waiters: set[_Waiter] = set()
        self._faults: dict[str, deque[_ApiError]] = {}
        self._blocked: set[int] = set()
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._next_message_id: dict[int, int] = {}
        self._last_bot_message: dict[int, int] = {}
        self._last_citizen_message: dict[int, int] = {}
        self._callback_queries: dict[str, JSONDict] = {}
        self._answered_callbacks: set[str] = set()
        self._scoped_commands: dict[tuple[str, int | None, int | None, str | None], list[JSONDict]]
        self._scoped_commands = {}
        self._files: dict[str, JSONDict] = {}
        self._forums: dict[int, _Forum] = {}
        self._bot_rights: dict[int, JSONDict] = {}  # chat -> ChatMember of the bot (set_bot_rights)
        self.pins: dict[int, list[int]] = {}  # chat -> pinned message ids, in the order pinned
        self.withheld: list[int] = []  # update ids a bot in privacy mode does not get
        self._topics: dict[tuple[int, int], Topic] = {}  # (chat_id, thread_id) -> live record
        self._native_polls: dict[str, SentPoll] = {}  # poll id -> live record, in sending order
        self._counter = itertools.count(1)
        self._chat_sends: dict[int, tuple[float, float]] = {}  # chat -> (tokens, last refill)
        self._group_sends: dict[int, deque[float]] = {}
        self._global_sends: deque[float] = deque()

        # Server.
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._session: ClientSession | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._closing = False

        self._methods: dict[str, Callable[[JSONDict], Any]] = {
            "getme": self._get_me,
            "logout": self._true,
            "close": self._true,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendpoll": self._send_poll,
            "stoppoll": self._stop_poll,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "sendchataction": self._send_chat_action,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": self._set_my_description,
            "getmydescription": self._get_my_description,
            "setmyshortdescription": self._set_my_short_description,
            "getmyshortdescription": self._get_my_short_description,
            "setmyname": self._set_my_name,
            "getmyname": self._get_my_name,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "pinchatmessage": self._pin_chat_message,
            "unpinchatmessage": self._unpin_chat_message,
            "getfile": self._get_file,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "deleteforumtopic": self._delete_forum_topic,
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port, in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already started")
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/file/{bot_token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{bot_token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._session = ClientSession()
        logger.debug("fake Telegram listening on %s", self.url)

    async def stop(self) -> None:
        """Stop delivering, wake long polls and close the server."""
        self._closing = True
        self._notify()
        await self._stop_delivery()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (after `start`)."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """What to pass as ``telegram.Bot(..., base_url=...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass as ``telegram.Bot(..., base_file_url=...)`` to download files."""
        return f"{self.url}/file/bot"

    # ---------------------------------------------------------------- what citizens do

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw Update (assigning update_id if missing); returns its update_id."""
        update = copy.deepcopy(update)
        kinds = [key for key in update if key != "update_id"]
        if len(kinds) != 1 or kinds[0] not in UPDATE_TYPES:
            raise ValueError(f"an Update has update_id and exactly one known field, got {kinds}")
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._remember_update(update)
        if not self._reaches_bot(update):
            self.withheld.append(update_id)
            return update_id
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._notify()
        return update_id

    def send_text(
        self,
        *,
        chat_id: int,
        user_id: int,
        text: str,
        chat_type: str | None = None,
        first_name: str = "Citizen",
        username: str | None = None,
        language_code: str | None = None,
        reply_to_bot: bool = False,
        reply_to_message_id: int | None = None,
        mention_bot: bool = False,
        thread_id: int | None = None,
    ) -> int:
        """A person writes `text`; returns the update_id.

        `chat_type` defaults to "supergroup" in a chat declared with `add_forum`, else "private".
        `thread_id` writes in that forum topic (it must exist and not be deleted; people are
        taken for admins, so a closed topic is fine); the message then carries
        ``message_thread_id``, ``is_topic_message`` and, unless it replies to something,
        ``reply_to_message`` = the topic's creation message, as Telegram sends it. `reply_to_bot`
        replies to the bot's latest message (in that topic, if any); `reply_to_message_id` replies
        to a given message of the chat.
        """
        if not text:
            raise ValueError("Telegram clients cannot send an empty message")
        user = self._citizen(user_id, first_name, language_code, username)
        chat, topic = self._chat_for_person(chat_id, chat_type, user, thread_id)
        reply_to, topic = self._person_reply_target(chat, topic, reply_to_bot, reply_to_message_id)
        if mention_bot:
            text = f"@{self.username} {text}"
        message = self._new_message(chat, user)
        message["text"] = text
        entities = detect_entities(text)
        if entities:
            message["entities"] = entities
        self._place(message, topic, thread_id, reply_to)
        return self.push_update({"message": message})

    def send_media(
        self,
        *,
        chat_id: int,
        user_id: int,
        kind: str,
        caption: str | None = None,
        chat_type: str | None = None,
        language_code: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        """A citizen sends a photo, voice note, sticker, ...; returns the update_id.

        `chat_type` and `thread_id` work as in `send_text`.
        """
        if kind not in MEDIA_KINDS:
            raise ValueError(f"kind must be one of {sorted(MEDIA_KINDS)}, got {kind!r}")
        if caption is not None and kind not in CAPTIONED_KINDS:
            raise ValueError(f"a {kind} cannot carry a caption in Telegram")
        user = self._citizen(user_id, None, language_code)
        chat, topic = self._chat_for_person(chat_id, chat_type, user, thread_id)
        message = self._new_message(chat, user)
        message.update(self._media_fields(kind, user))
        if caption:
            message["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                message["caption_entities"] = entities
        self._place(message, topic, thread_id, None)
        return self.push_update({"message": message})

    def edit_text(self, *, chat_id: int, message_id: int, text: str) -> int:
        """A citizen edits one of their text messages; returns the update_id."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.get("from", {}).get("is_bot"):
            raise LookupError(f"no citizen message {message_id} in chat {chat_id}")
        if "text" not in stored:
            raise ValueError(f"message {message_id} in chat {chat_id} has no text to edit")
        stored["text"] = text
        entities = detect_entities(text)
        if entities:
            stored["entities"] = entities
        else:
            stored.pop("entities", None)
        stored["edit_date"] = max(int(time.time()), stored["date"])
        return self.push_update({"edited_message": stored})

    def unpin_by_person(self, *, chat_id: int, message_id: int) -> None:
        """An administrator unpins a message in the app (the bot gets no update about it)."""
        pinned = self.pins.get(chat_id, [])
        if message_id not in pinned:
            raise LookupError(f"message {message_id} is not pinned in chat {chat_id}")
        pinned.remove(message_id)

    def delete_by_person(self, *, chat_id: int, message_id: int) -> None:
        """An administrator deletes a message in the app (the bot gets no update about it)."""
        if (chat_id, message_id) not in self._messages:
            raise LookupError(f"no message {message_id} in chat {chat_id}")
        del self._messages[(chat_id, message_id)]
        if message_id in self.pins.get(chat_id, []):
            self.pins[chat_id].remove(message_id)

    def set_bot_rights(
        self, chat_id: int, *, administrator: bool = True, can_pin_messages: bool = True
    ) -> None:
        """The bot's place in a group: an administrator (allowed to pin or not) or a member."""
        if chat_id >= 0:
            raise ValueError(f"a group chat id is negative in Telegram, got {chat_id}")
        bot = self._bot_user(full=False)
        if not administrator:
            self._bot_rights[chat_id] = {"status": "member", "user": bot}
            return
        forum = self._forums.get(chat_id)
        self._bot_rights[chat_id] = self._administrator(
            bot,
            can_pin_messages=can_pin_messages,
            can_manage_topics=bool(forum and forum.can_manage_topics),
        )

    def press_button(
        self,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> int:
        """A citizen presses the inline button carrying callback `data` on a bot message."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or not stored.get("from", {}).get("is_bot"):
            raise LookupError(f"the bot has no message {message_id} in chat {chat_id}")
        buttons = [
            button.get("callback_data")
            for row in (stored.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in row
        ]
        if data not in buttons:
            raise LookupError(
                f"message {message_id} in chat {chat_id} has no button with callback_data "
                f"{data!r}; its buttons carry {[b for b in buttons if b is not None]}"
            )
        if (chat_type == "private") != (chat_id > 0):
            raise ValueError(f"chat {chat_id} cannot be a {chat_type} chat")
        user = self._citizen(user_id, None, language_code)
        query = {
            "id": str(4_000_000_000_000_000_000 + next(self._counter)),
            "from": user,
            "message": copy.deepcopy(stored),
            "chat_instance": self._chat_instance(chat_id),
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def answer_poll(
        self,
        *,
        chat_id: int,
        message_id: int,
        user_id: int,
        option_ids: Sequence[int],
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> list[int]:
        """A person votes in the bot's poll, changes their vote or, with empty `option_ids`,
        retracts it; returns the update_ids queued for the bot (oldest first).

        `option_ids` count from 0; a repeated one counts once. A poll that is not anonymous
        queues a ``poll_answer`` update (``poll_id``, ``user``, ``option_ids``,
        ``option_persistent_ids``); then every poll queues a ``poll`` update with the new counts
        (bots get these about the polls they sent). A vote that changes nothing queues nothing.
        What a Telegram app would not let the person do raises: LookupError for a message
        without a poll, ValueError for a closed poll, several options in a poll without multiple
        answers, an option the poll lacks, changing or retracting a vote where the poll does
        not allow revoting (quizzes), or a vote by someone else than the person of a private
        chat.
        """
        poll = self._poll_at(chat_id, message_id)
        if any(isinstance(o, bool) or not isinstance(o, int) for o in option_ids):
            raise TypeError(f"option_ids are integers, got {list(option_ids)!r}")
        chosen = sorted(set(option_ids))
        if poll.is_closed:
            raise ValueError(f"the poll in message {message_id} of chat {chat_id} is closed")
        if len(chosen) > 1 and not poll.allows_multiple_answers:
            raise ValueError(f"the poll in message {message_id} allows only one answer")
        if not chosen and not poll.allows_revoting:
            raise ValueError(f"votes in the poll in message {message_id} cannot be retracted")
        if any(not 0 <= option_id < len(poll.options) for option_id in chosen):
            raise ValueError(
                f"the poll in message {message_id} has options 0 to {len(poll.options) - 1}, "
                f"got {chosen}"
            )
        if chat_id > 0 and user_id != chat_id:
            raise ValueError(f"only user {chat_id} can vote in their private chat with the bot")
        previous = poll.votes.get(user_id, [])
        if chosen == previous:
            return []
        if previous and not poll.allows_revoting:
            raise ValueError(f"user {user_id} already voted in the poll in message {message_id}")
        user = self._citizen(user_id, first_name, language_code, username)
        if chosen:
            poll.votes[user_id] = chosen
        else:
            poll.votes.pop(user_id, None)
        self._show_poll(poll)
        queued: list[int] = []
        if not poll.is_anonymous:
            answer = {
                "poll_id": poll.poll_id,
                "user": user,
                "option_ids": chosen,
                "option_persistent_ids": [str(option_id) for option_id in chosen],
            }
            queued.append(self.push_update({"poll_answer": answer}))
        queued.append(self.push_update({"poll": self._poll_object(poll)}))
        return queued

    # ---------------------------------------------------------------- forums and topics

    def add_forum(
        self,
        chat_id: int,
        *,
        title: str = "Forum",
        can_manage_topics: bool = True,
        members_can_create_topics: bool = False,
    ) -> None:
        """Declare `chat_id` a forum supergroup (``type: "supergroup"``, ``is_forum: true``).

        `can_manage_topics`: the bot is an administrator with that right (it may then create,
        edit, close, reopen and delete any topic, and write in closed topics). Without it the bot
        may only create topics if `members_can_create_topics`, and only manage the ones it made.
        """
        if chat_id >= 0:
            raise ValueError(f"a supergroup chat id is negative in Telegram, got {chat_id}")
        self._forums[chat_id] = _Forum(can_manage_topics, members_can_create_topics)
        self._chats[chat_id] = {
            "id": chat_id,
            "title": title,
            "type": "supergroup",
            "is_forum": True,
        }

    def create_topic(
        self,
        *,
        chat_id: int,
        name: str,
        user_id: int,
        first_name: str = "Manager",
        username: str | None = None,
        icon_color: int | None = None,
    ) -> int:
        """A person creates a topic in the Telegram app; returns its thread id.

        The ``forum_topic_created`` service message is queued as an update (bots get every
        service message).
        """
        user = self._citizen(user_id, first_name, None, username)
        topic, message = self._open_topic(chat_id, name, icon_color, None, user)
        self.push_update({"message": message})
        return topic.thread_id

    def close_topic(
        self, *, chat_id: int, thread_id: int, user_id: int, first_name: str = "Manager"
    ) -> int:
        """A person closes a topic in the app; returns the update_id of the service message."""
        return self._person_toggles_topic(chat_id, thread_id, user_id, first_name, closed=True)

    def reopen_topic(
        self, *, chat_id: int, thread_id: int, user_id: int, first_name: str = "Manager"
    ) -> int:
        """A person reopens a topic in the app; returns the update_id of the service message."""
        return self._person_toggles_topic(chat_id, thread_id, user_id, first_name, closed=False)

    def delete_topic(self, *, chat_id: int, thread_id: int) -> None:
        """An admin deletes a topic and its messages in the app (bots get no update for this)."""
        self._remove_topic(self._live_topic(chat_id, thread_id))

    def last_citizen_message_id(self, chat_id: int) -> int:
        """The message_id of the latest citizen message in `chat_id`."""
        try:
            return self._last_citizen_message[chat_id]
        except KeyError:
            raise LookupError(f"no citizen has written in chat {chat_id} yet") from None

    def pending_update_ids(self) -> list[int]:
        """Updates not yet confirmed by getUpdates (or not yet accepted by the webhook)."""
        return [update["update_id"] for update in self._updates]

    def pending_updates(self) -> list[JSONDict]:
        """Copies of the pending Update objects."""
        return copy.deepcopy(self._updates)

    # ---------------------------------------------------------------- what the bot did

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [message for message in self.sent if message.chat_id == chat_id]

    def sent_to_topic(self, chat_id: int, thread_id: int) -> list[SentMessage]:
        """Every successful sendMessage into that topic, even if the topic was deleted since."""
        return [
            message
            for message in self.sent
            if message.chat_id == chat_id and message.message_thread_id == thread_id
        ]

    def polls_sent_to(self, chat_id: int) -> list[SentPoll]:
        """Copies of the polls the bot sent to `chat_id`, oldest first, with their votes now."""
        return [
            copy.deepcopy(poll) for poll in self._native_polls.values() if poll.chat_id == chat_id
        ]

    def poll_of(self, *, chat_id: int, message_id: int) -> SentPoll:
        """A copy of the poll the bot sent as message `message_id` of `chat_id`."""
        for poll in self._native_polls.values():
            if (poll.chat_id, poll.message_id) == (chat_id, message_id):
                return copy.deepcopy(poll)
        raise LookupError(f"the bot sent no poll as message {message_id} in chat {chat_id}")

    async def wait_for_polls(
        self, count: int, *, chat_id: int | None = None, timeout: float = 10.0
    ) -> list[SentPoll]:
        """Wait until the bot sent at least `count` polls (to `chat_id`); returns copies."""

        def matching() -> list[SentPoll]:
            return [
                copy.deepcopy(poll)
                for poll in self._native_polls.values()
                if chat_id is None or poll.chat_id == chat_id
            ]

        if not await self._wait_until(lambda: len(matching()) >= count, timeout):
            where = "" if chat_id is None else f" to chat {chat_id}"
            raise AssertionError(
                f"expected at least {count} sendPoll{where} within {timeout}s, got "
                f"{[(p.chat_id, p.question) for p in matching()]}; last API errors: "
                f"{self.errors[-5:]}; last calls: {[name for name, _ in self.calls[-10:]]}"
            )
        return matching()

    def topics(self, chat_id: int) -> list[Topic]:
        """Copies of the topics of forum `chat_id` (deleted ones included), oldest first."""
        found = [topic for (chat, _), topic in self._topics.items() if chat == chat_id]
        return [dataclasses.replace(topic) for topic in sorted(found, key=lambda t: t.thread_id)]

    def topic(self, chat_id: int, thread_id: int) -> Topic:
        """A copy of one topic (deleted or not)."""
        topic = self._topics.get((chat_id, thread_id))
        if topic is None:
            raise LookupError(f"no topic {thread_id} in chat {chat_id}")
        return dataclasses.replace(topic)

    def topic_history(self, chat_id: int, thread_id: int) -> list[JSONDict]:
        """The Message objects now in a topic, service messages included, oldest first.

        Empty once the topic is deleted (Telegram deletes its messages with it).
        """
        return [
            copy.deepcopy(message)
            for (chat, _), message in sorted(self._messages.items())
            if chat == chat_id and message.get("message_thread_id") == thread_id
        ]

    def still_visible(self, chat_id: int) -> str:
        """Everything a member of the chat can still read there now: the text and captions of
        its messages, the questions and options of its polls and the names of its topics that
        were not deleted (one string, to search)."""
        texts = [
            str(message.get("text") or message.get("caption") or "")
            if "poll" not in message
            else "\n".join(
                [message["poll"]["question"], *(o["text"] for o in message["poll"]["options"])]
            )
            for (chat, _), message in sorted(self._messages.items())
            if chat == chat_id
        ]
        names = [topic.name for topic in self.topics(chat_id) if not topic.deleted]
        return "\n".join([*names, *texts])

    def calls_of(self, method: str) -> list[JSONDict]:
        """Parameters of every call of `method` (case-insensitive), in arrival order."""
        wanted = method.lower()
        return [params for name, params in self.calls if name.lower() == wanted]

    async def wait_for_sent(
        self,
        count: int,
        *,
        chat_id: int | None = None,
        thread_id: int | None = None,
        timeout: float = 10.0,
    ) -> list[SentMessage]:
        """Wait until at least `count` messages were sent (to `chat_id`, topic `thread_id`)."""

        def matching() -> list[SentMessage]:
            return [
                message
                for message in self.sent
                if (chat_id is None or message.chat_id == chat_id)
                and (thread_id is None or message.message_thread_id == thread_id)
            ]

        if not await self._wait_until(lambda: len(matching()) >= count, timeout):
            where = "" if chat_id is None else f" to chat {chat_id}"
            where += "" if thread_id is None else f" in topic {thread_id}"
            got = [(m.chat_id, m.entities_text[:80]) for m in matching()]
            raise AssertionError(
                f"expected at least {count} sendMessage{where} within {timeout}s, got {len(got)}: "
                f"{got}; last API errors: {self.errors[-5:]}; "
                f"last calls: {[name for name, _ in self.calls[-10:]]}"
            )
        return list(matching())

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 10.0,
    ) -> list[JSONDict]:
        """Wait until `method` was called at least `count` times; returns their parameters."""
        if not await self._wait_until(lambda: len(self.calls_of(method)) >= count, timeout):
            raise AssertionError(
                f"expected at least {count} {method} calls within {timeout}s, got "
                f"{len(self.calls_of(method))}; calls: {[name for name, _ in self.calls[-10:]]}"
            )
        return self.calls_of(method)

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with this error (`migrate_to_chat_id`: the
        group became a supergroup with that id, as Telegram says with a 400)."""
        if migrate_to_chat_id is not None:
            status = 400
            description = "Bad Request: group chat was upgraded to a supergroup chat"
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                try:
                    phrase = HTTPStatus(status).phrase
                except ValueError:
                    phrase = "Error"
                description = DEFAULT_DESCRIPTIONS.get(status, phrase)
        queue = self._faults.setdefault(method.lower(), deque())
        for _ in range(times):
            queue.append(
                _ApiError(
                    status,
                    description,
                    retry_after=retry_after,
                    migrate_to_chat_id=migrate_to_chat_id,
                )
            )

    def block_chat(self, chat_id: int, *, notify: bool = False) -> None:
        """The citizen blocks the bot (or a group kicks it): sending there answers 403.

        With ``notify=True`` the ``my_chat_member`` update Telegram sends is queued too.
        """
        self._blocked.add(chat_id)
        if notify:
            chat = self._chats.get(chat_id) or self._synthetic_chat(chat_id)
            actor = self._users.get(chat_id) or self._citizen(abs(chat_id), None, None)
            bot = self._bot_user(full=False)
            new_status = "kicked" if chat["type"] == "private" else "left"
            self.push_update(
                {
                    "my_chat_member": {
                        "chat": chat,
                        "from": actor,
                        "date": int(time.time()),
                        "old_chat_member": {"status": "member", "user": bot},
                        "new_chat_member": (
                            {"status": new_status, "user": bot, "until_date": 0}
                            if new_status == "kicked"
                            else {"status": new_status, "user": bot}
                        ),
                    }
                }
            )

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        segment = request.match_info["bot_token"]
        method = request.match_info["method"]
        if not segment.startswith("bot"):
            return self._error_response(method, _ApiError(404, "Not Found"))
        if segment[3:] != self.token:
            return self._error_response(method, _ApiError(401, "Unauthorized"))
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            return self._error_response(method, _ApiError(400, f"Bad Request: {exc}"))
        try:
            result = await self._dispatch(method, params)
        except _ApiError as exc:
            return self._error_response(method, exc)
        body: JSONDict = {"ok": True}
        if isinstance(result, _Described):
            body["result"] = result.result
            body["description"] = result.description
        else:
            body["result"] = result
        return web.json_response(body, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))

    async def _dispatch(self, method: str, params: JSONDict) -> Any:
        self.calls.append((method, params))
        logger.debug("fake Telegram <- %s %s", method, params)
        self._notify()
        faults = self._faults.get(method.lower())
        if faults:
            raise faults.popleft()
        handler = self._methods.get(method.lower())
        if handler is None:
            raise _ApiError(404, "Not Found")
        try:
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except _ApiError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            logger.debug("fake Telegram: bad parameters for %s", method, exc_info=True)
            raise _ApiError(400, f"Bad Request: invalid parameters ({exc})") from exc
        return result

    def _error_response(self, method: str, error: _ApiError) -> web.Response:
        self.errors.append((method, error.status, error.description))
        logger.debug("fake Telegram -> %s %s %s", method, error.status, error.description)
        return web.json_response(error.payload(), status=error.status)

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        raw: JSONDict = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise ValueError("can't parse JSON object") from exc
                if not isinstance(body, dict):
                    raise ValueError("can't parse JSON object")
                raw.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        content = value.file.read()
                        raw[key] = {
                            "file_name": value.filename,
                            "content_type": value.content_type,
                            "size": len(content),
                        }
                    else:
                        raw[key] = value
        return {key: _decode_value(key, value) for key, value in raw.items()}

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["bot_token"] != f"bot{self.token}":
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["file_path"]
        for info in self._files.values():
            if info.get("file_path") == path:
                size = int(info.get("file_size", 0))
                return web.Response(body=(b"FAKE" * (size // 4 + 1))[:size])
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    # ---------------------------------------------------------------- wake-ups

    def _notify(self) -> None:
        for waiter in list(self._waiters) + list(self._polls):
            waiter.event.set()

    async def _wait_until(self, condition: Callable[[], bool], within: float | None) -> bool:
        """Wait until `condition()` holds (re-checked on every change); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        waiter = _Waiter()
        self._waiters.add(waiter)
        try:
            while True:
                waiter.event.clear()
                if condition():
                    return True
                if self._closing:
                    return False
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), remaining)
        finally:
            self._waiters.discard(waiter)

    # ---------------------------------------------------------------- updates

    def _allowed(self, update: JSONDict) -> bool:
        kind = next(key for key in update if key != "update_id")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in NOT_DELIVERED_BY_DEFAULT

    def _deliverable(self, limit: int) -> list[JSONDict]:
        """Pending updates the bot asked for; the ones it excluded are dropped, as Telegram does."""
        kept = [update for update in self._updates if self._allowed(update)]
        self._updates = kept
        return copy.deepcopy(kept[:limit])

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            self._updates = self._updates[offset:]
            if self._updates:
                first = self._updates[0]["update_id"]
                self.confirmed_offset = max(self.confirmed_offset, first)

    def _set_allowed_updates(self, params: JSONDict) -> None:
        if "allowed_updates" not in params:
            return
        allowed = params["allowed_updates"]
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise _ApiError(400, "Bad Request: can't parse allowed updates JSON array")
        self._allowed_updates = list(allowed)

    def _terminate_polls(self, reason: str) -> None:
        for poll in list(self._polls):
            poll.terminated = reason
            poll.event.set()

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook is not None:
            raise _ApiError(409, WEBHOOK_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        self._set_allowed_updates(params)
        self._terminate_polls(POLL_CONFLICT)
        self._confirm(offset)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll = _Waiter()
        self._polls.add(poll)
        try:
            while True:
                poll.event.clear()
                if poll.terminated is not None:
                    raise _ApiError(409, poll.terminated)
                if self._webhook is not None:
                    raise _ApiError(409, SET_WEBHOOK_CONFLICT)
                ready = self._deliverable(limit)
                remaining = deadline - loop.time()
                if ready or remaining <= 0 or self._closing:
                    return ready
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.event.wait(), remaining)
        finally:
            self._polls.discard(poll)

    # ---------------------------------------------------------------- webhook

    async def _set_webhook(self, params: JSONDict) -> _Described:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)
        if not re.match(r"^https?://[^/\s]+", url):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token") or None
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int(params.get("max_connections") or 40)
        if not 1 <= max_connections <= 100:
            raise _ApiError(400, "Bad Request: bad webhook: max_connections must be in 1..100")
        self._set_allowed_updates(params)
        if params.get("drop_pending_updates"):
            self._updates.clear()
        previous = self._webhook
        self._webhook = _Webhook(
            url=url,
            secret_token=None if secret is None else str(secret),
            max_connections=max_connections,
            ip_address=params.get("ip_address"),
            has_custom_certificate="certificate" in params,
        )
        self._terminate_polls(SET_WEBHOOK_CONFLICT)
        await self._stop_delivery()
        self._delivery = asyncio.create_task(self._deliver(self._webhook))
        if previous is not None and previous.url == url:
            return _Described(True, "Webhook is already set")
        return _Described(True, "Webhook was set")

    async def _delete_webhook(self, params: JSONDict) -> _Described:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        had_webhook = self._webhook is not None
        self._webhook = None
        await self._stop_delivery()
        return _Described(
            True, "Webhook was deleted" if had_webhook else "Webhook is already deleted"
        )

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        hook = self._webhook
        info: JSONDict = {
            "url": "" if hook is None else hook.url,
            "has_custom_certificate": False if hook is None else hook.has_custom_certificate,
            "pending_update_count": len(self._updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        if self._allowed_updates:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

    async def _stop_delivery(self) -> None:
        task, self._delivery = self._delivery, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, hook: _Webhook) -> None:
        """Post pending updates to the webhook, one at a time and in order, until accepted."""
        while self._webhook is hook and not self._closing:
            ready = self._deliverable(1)
            if not ready:
                await self._wait_until(
                    lambda: bool(self._updates) or self._webhook is not hook, None
                )
                continue
            update = ready[0]
            status, body, content_type, failure = await self._post_update(hook, update)
            self.webhook_deliveries.append((update["update_id"], status))
            self._notify()
            if self._webhook is not hook:
                return
            if 200 <= status < 300:
                self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                self._notify()
                await self._run_webhook_reply(body, content_type)
                continue
            hook.last_error_date = int(time.time())
            if failure is not None:
                hook.last_error_message = failure
            else:
                try:
                    phrase = HTTPStatus(status).phrase
                except ValueError:
                    phrase = ""
                hook.last_error_message = f"Wrong response from the webhook: {status} {phrase}"
            await asyncio.sleep(self.webhook_retry_delay)

    async def _post_update(
        self, hook: _Webhook, update: JSONDict
    ) -> tuple[int, bytes, str, str | None]:
        if self._session is None:
            return 0, b"", "", "Connection refused"
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with self._session.post(
                hook.url,
                data=json.dumps(update, ensure_ascii=False).encode(),
                headers=headers,
                timeout=ClientTimeout(total=self.webhook_timeout),
            ) as response:
                return response.status, await response.read(), response.content_type, None
        except ClientConnectorError:
            return 0, b"", "", "Connection refused"
        except TimeoutError:
            return 0, b"", "", "Read timeout expired"
        except (ClientError, OSError) as exc:
            return 0, b"", "", f"Connection error: {exc.__class__.__name__}"

    async def _run_webhook_reply(self, body: bytes, content_type: str) -> None:
        """Telegram runs a method given in the webhook's answer (and ignores its result)."""
        if content_type != "application/json" or not body:
            return
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if not isinstance(reply, dict) or not isinstance(reply.get("method"), str):
            return
        method = reply.pop("method")
        params = {key: _decode_value(key, value) for key, value in reply.items()}
        with contextlib.suppress(_ApiError):
            try:
                await self._dispatch(method, params)
            except _ApiError as exc:
                self.errors.append((method, exc.status, exc.description))
                raise

    # ---------------------------------------------------------------- simple methods

    def _true(self, params: JSONDict) -> bool:
        return True

    def _get_me(self, params: JSONDict) -> JSONDict:
        return self._bot_user(full=True)

    def _get_chat(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        chat = copy.deepcopy(self._chats.get(chat_id) or self._synthetic_chat(chat_id))
        latest_pin = max(self.pins.get(chat_id, []), default=None)  # by sending date
        if latest_pin is not None and (chat_id, latest_pin) in self._messages:
            chat["pinned_message"] = copy.deepcopy(self._messages[(chat_id, latest_pin)])
        chat.update(
            {
                "accent_color_id": chat_id % 7,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return chat

    @staticmethod
    def _administrator(
        user: JSONDict, *, can_pin_messages: bool, can_manage_topics: bool
    ) -> JSONDict:
        return {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": False,
            "can_restrict_members": False,
            "can_promote_members": False,
            "can_change_info": False,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_pin_messages": can_pin_messages,
            "can_manage_topics": can_manage_topics,
        }

    def _bot_member(self, chat_id: int) -> JSONDict:
        """The bot as a ChatMember of `chat_id`."""
        if chat_id in self._bot_rights:
            return copy.deepcopy(self._bot_rights[chat_id])
        bot = self._bot_user(full=False)
        forum = self._forums.get(chat_id)
        if forum is not None and forum.can_manage_topics:
            return self._administrator(bot, can_pin_messages=False, can_manage_topics=True)
        return {"status": "member", "user": bot}

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        user_id = params.get("user_id")
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise _ApiError(400, "Bad Request: invalid user_id specified")
        if user_id == self.bot_id:
            return self._bot_member(chat_id)
        if user_id not in self._users:
            raise _ApiError(400, "Bad Request: user not found")
        return {"status": "member", "user": copy.deepcopy(self._users[user_id])}

    def _check_may_pin(self, chat_id: int) -> None:
        kind = (self._chats.get(chat_id) or self._synthetic_chat(chat_id))["type"]
        if kind == "private":
            return
        member = self._bot_member(chat_id)
        if member["status"] != "administrator" or not member.get("can_pin_messages"):
            raise _ApiError(
                400, "Bad Request: not enough rights to manage pinned messages in the chat"
            )

    def _pin_chat_message(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        self._check_may_pin(chat_id)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or (chat_id, message_id) not in self._messages:
            raise _ApiError(400, "Bad Request: message to pin not found")
        pinned = self.pins.setdefault(chat_id, [])
        if message_id in pinned:
            pinned.remove(message_id)
        pinned.append(message_id)
        return True

    def _unpin_chat_message(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        self._check_may_pin(chat_id)
        pinned = self.pins.get(chat_id, [])
        message_id = params.get("message_id")
        if message_id is None:  # the most recent pinned message
            message_id = max(pinned, default=None)
        if message_id not in pinned:
            raise _ApiError(400, "Bad Request: message to unpin not found")
        pinned.remove(message_id)
        return True

    def _reaches_bot(self, update: JSONDict) -> bool:
        """Whether a bot in privacy mode gets this update (always, unless privacy is enforced)."""
        message = update.get("message") or update.get("edited_message")
        if not self.enforce_privacy_mode or not self.privacy_mode or not isinstance(message, dict):
            return True
        chat = message.get("chat") or {}
        if chat.get("type") not in ("group", "supergroup"):
            return True
        if self._bot_member(int(chat["id"]))["status"] == "administrator" or _is_service(message):
            return True
        text = str(message.get("text") or message.get("caption") or "")
        entities = message.get("entities") or message.get("caption_entities") or []
        if any(e["type"] == "bot_command" and e["offset"] == 0 for e in entities):
            return True
        if f"@{self.username}".lower() in text.lower():
            return True
        replied = message.get("reply_to_message") or {}
        return (replied.get("from") or {}).get("id") == self.bot_id

    def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = str(params.get("file_id") or "")
        info = self._files.get(file_id)
        if info is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return copy.deepcopy(info)

    def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        if params.get("action") not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._callback_queries or query_id in self._answered_callbacks:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if len(str(params.get("text") or "")) > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._answered_callbacks.add(query_id)
        self.callback_answers.append(params)
        return True

    # ---------------------------------------------------------------- bot texts

    def _set_text_setting(
        self, store: dict[str | None, str], params: JSONDict, key: str, maximum: int
    ) -> bool:
        value = str(params.get(key) or "")
        language = self._language(params)
        if len(value) > maximum:
            raise _ApiError(400, f"Bad Request: {key} is too long")
        if value:
            store[language] = value
        else:
            store.pop(language, None)
        return True

    def _get_text_setting(
        self, store: dict[str | None, str], params: JSONDict, key: str
    ) -> JSONDict:
        language = self._language(params)
        return {key: store.get(language, store.get(None, ""))}

    def _set_my_description(self, params: JSONDict) -> bool:
        return self._set_text_setting(self.descriptions, params, "description", 512)

    def _get_my_description(self, params: JSONDict) -> JSONDict:
        return self._get_text_setting(self.descriptions, params, "description")

    def _set_my_short_description(self, params: JSONDict) -> bool:
        return self._set_text_setting(self.short_descriptions, params, "short_description", 120)

    def _get_my_short_description(self, params: JSONDict) -> JSONDict:
        return self._get_text_setting(self.short_descriptions, params, "short_description")

    def _set_my_name(self, params: JSONDict) -> bool:
        return self._set_text_setting(self.names, params, "name", 64)

    def _get_my_name(self, params: JSONDict) -> JSONDict:
        language = self._language(params)
        return {"name": self.names.get(language, self.names.get(None, self.first_name))}

    @staticmethod
    def _language(params: JSONDict) -> str | None:
        language = params.get("language_code") or None
        if language is not None and not re.fullmatch(r"[a-z]{2}", str(language)):
            raise _ApiError(400, "Bad Request: invalid language code specified")
        return None if language is None else str(language)

    # ---------------------------------------------------------------- commands

    def _scope_key(self, params: JSONDict) -> tuple[str, int | None, int | None, str | None]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
            raise _ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        kind = str(scope["type"])
        chat_id = scope.get("chat_id") if kind.startswith("chat") else None
        user_id = scope.get("user_id") if kind == "chat_member" else None
        if kind.startswith("chat") and chat_id is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if kind == "chat_member" and user_id is None:
            raise _ApiError(400, "Bad Request: user not found")
        return (
            kind,
            None if chat_id is None else int(chat_id),
            None if user_id is None else int(user_id),
            self._language(params),
        )

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON array")
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            name = str(command.get("command") or "")
            description = str(command.get("description") or "").strip()
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._scope_key(params)
        public_key = (key[0], key[3])
        if cleaned:
            self._scoped_commands[key] = cleaned
            self.commands[public_key] = copy.deepcopy(cleaned)
        else:
            self._scoped_commands.pop(key, None)
            self.commands.pop(public_key, None)
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return copy.deepcopy(self._scoped_commands.get(self._scope_key(params), []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._scope_key(params)
        self._scoped_commands.pop(key, None)
        self.commands.pop((key[0], key[3]), None)
        return True

    # ---------------------------------------------------------------- messages

    def _chat_id(self, params: JSONDict) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _check_blocked(self, chat_id: int) -> None:
        if chat_id not in self._blocked:
            return
        kind = (self._chats.get(chat_id) or self._synthetic_chat(chat_id))["type"]
        if kind == "private":
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")

    def _formatted(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        """Validate and parse ``text`` + ``parse_mode``/``entities`` as Telegram does."""
        text = params.get("text")
        if text is None or text == "":
            raise _ApiError(400, "Bad Request: message text is empty")
        visible, entities = self._parsed(
            str(text), params.get("parse_mode"), params.get("entities")
        )
        if not visible:
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > MESSAGE_MAX_UTF16:
            raise _ApiError(400, "Bad Request: message is too long")
        return visible, entities

    def _parsed(self, text: str, parse_mode: Any, given: Any) -> tuple[str, list[JSONDict]]:
        """`text` parsed with `parse_mode` (or with the `given` entities), then trimmed."""
        mode = str(parse_mode or "").lower()
        try:
            if mode == "html":
                visible, entities = parse_html(text, strict_ampersand=self.strict_html_ampersand)
            elif mode == "markdownv2":
                visible, entities = parse_markdown_v2(text)
            elif mode == "markdown":
                visible, entities = parse_markdown(text)
            elif mode:
                raise _ApiError(400, "Bad Request: unsupported parse_mode")
            else:
                visible = text
                given = given or []
                if not isinstance(given, list):
                    raise _ApiError(400, "Bad Request: can't parse entities JSON object")
                entities = [dict(entity) for entity in given]
        except _ParseError as exc:
            raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        return _trim(visible, entities)

    @staticmethod
    def _reply_markup(params: JSONDict) -> JSONDict | None:
        """Validate ``reply_markup``; returns it, or None when absent."""
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
            actions = ("callback_data", "url", "web_app", "login_url", "switch_inline_query")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                    if not any(key.startswith(actions) or key == "pay" for key in button):
                        raise _ApiError(
                            400,
                            "Bad Request: can't parse inline keyboard button: Text buttons are "
                            "unallowed in the inline keyboard",
                        )
                    data = button.get("callback_data")
                    if data is not None and not (
                        1 <= len(str(data).encode()) <= CALLBACK_DATA_MAX_BYTES
                    ):
                        raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        elif not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        return markup

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        visible, entities = self._formatted(params)
        markup = self._reply_markup(params)
        topic, thread_id, reply_to = self._placement(chat_id, params)

        now = self.clock()
        self._check_rate_limits(chat_id, now)

        chat = self._chats.get(chat_id) or self._synthetic_chat(chat_id)
        message = self._new_message(chat, self._bot_user(full=False))
        message["text"] = visible
        if entities:
            message["entities"] = entities
        self._place(message, topic, thread_id, reply_to)
        if params.get("link_preview_options") is not None:
            message["link_preview_options"] = params["link_preview_options"]
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._record_message(message)

        self.sent.append(
            SentMessage(
                chat_id=chat_id,
                text=str(params["text"]),
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                reply_to_message_id=None if reply_to is None else reply_to["message_id"],
                message_thread_id=thread_id,
                message_id=message["message_id"],
                at=now,
                entities_text=visible,
                entities=copy.deepcopy(entities),
                params=params,
            )
        )
        self._notify()
        return copy.deepcopy(message)

    def _placement(
        self, chat_id: int, params: JSONDict
    ) -> tuple[Topic | None, int | None, JSONDict | None]:
        """Where a bot's new message goes: its topic, its thread id and the message it replies
        to (``message_thread_id``, ``reply_parameters``, legacy ``reply_to_message_id``)."""
        thread_id = params.get("message_thread_id")
        topic: Topic | None = None
        if thread_id is not None and chat_id in self._forums:
            topic = self._writable_topic(chat_id, thread_id)

        reply_parameters = params.get("reply_parameters")
        if reply_parameters is not None and not isinstance(reply_parameters, dict):
            raise _ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        reply_parameters = dict(reply_parameters or {})
        if params.get("reply_to_message_id") is not None:
            reply_parameters.setdefault("message_id", params["reply_to_message_id"])
            if params.get("allow_sending_without_reply"):
                reply_parameters.setdefault("allow_sending_without_reply", True)
        reply_to: JSONDict | None = None
        if reply_parameters.get("message_id") is not None:
            reply_chat = reply_parameters.get("chat_id", chat_id)
            target = self._messages.get((reply_chat, int(reply_parameters["message_id"])))
            if target is not None:
                reply_to = copy.deepcopy(target)
                reply_to.pop("reply_to_message", None)
            elif not reply_parameters.get("allow_sending_without_reply"):
                raise _ApiError(400, "Bad Request: message to be replied not found")
        if topic is None and reply_to is not None and reply_to.get("is_topic_message"):
            # A reply without message_thread_id goes to the topic of the message it answers.
            thread_id = reply_to["message_thread_id"]
            topic = self._writable_topic(chat_id, thread_id)
        return topic, None if thread_id is None else int(thread_id), reply_to

    def _bot_message(self, params: JSONDict) -> JSONDict | None:
        """The bot message an edit targets (None for inline messages)."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._chat_id(params)
        if params.get("message_id") is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        stored = self._messages.get((chat_id, int(params["message_id"])))
        if stored is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if not stored["from"].get("is_bot") or stored["from"]["id"] != self.bot_id:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return stored

    def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        stored = self._bot_message(params)
        if stored is not None and "poll" in stored:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        visible, entities = self._formatted(params)
        markup = self._reply_markup(params)
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        if stored is None:
            return True
        if (
            stored.get("text") == visible
            and stored.get("entities", []) == entities
            and stored.get("reply_markup") == inline
        ):
            raise _ApiError(400, NOT_MODIFIED)
        stored["text"] = visible
        if entities:
            stored["entities"] = entities
        else:
            stored.pop("entities", None)
        if inline is None:
            stored.pop("reply_markup", None)  # an edit without reply_markup drops the keyboard
        else:
            stored["reply_markup"] = inline
        stored["edit_date"] = max(int(time.time()), stored["date"])
        self.edits.append(
            SentMessage(
                chat_id=stored["chat"]["id"],
                text=str(params["text"]),
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                reply_to_message_id=(stored.get("reply_to_message") or {}).get("message_id"),
                message_thread_id=stored.get("message_thread_id"),
                message_id=stored["message_id"],
                at=self.clock(),
                entities_text=visible,
                entities=copy.deepcopy(entities),
                params=params,
            )
        )
        self._notify()
        return copy.deepcopy(stored)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        stored = self._bot_message(params)
        markup = self._reply_markup(params)
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        if stored is None:
            return True
        if stored.get("reply_markup") == inline:
            raise _ApiError(400, NOT_MODIFIED)
        if inline is None:
            stored.pop("reply_markup", None)
        else:
            stored["reply_markup"] = inline
        stored["edit_date"] = max(int(time.time()), stored["date"])
        return copy.deepcopy(stored)

    def _delete_message(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        if params.get("message_id") is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        message_id = int(params["message_id"])
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        if "forum_topic_created" in stored:  # the Bot API docs: these cannot be deleted
            raise _ApiError(400, "Bad Request: message can't be deleted")
        del self._messages[(chat_id, message_id)]
        self.deleted.append((chat_id, message_id))
        return True

    # ---------------------------------------------------------------- polls

    def _poll_text(
        self, text: Any, parse_mode: Any, entities: Any, *, allow_empty: bool = False
    ) -> tuple[str, list[JSONDict]]:
        """A poll's question, option or explanation, normalized as TDLib normalizes text."""
        if text is not None and not isinstance(text, str):
            text = json.dumps(text) if isinstance(text, (list, dict)) else str(text)
        visible, parsed = self._parsed(text or "", parse_mode, entities)
        if not visible and not allow_empty:
            raise _ApiError(400, "Bad Request: text must be non-empty")
        return visible, parsed

    def _poll_options(self, given: Any) -> tuple[list[str], list[list[JSONDict]]]:
        """The ``options`` of sendPoll: InputPollOption objects (or plain strings)."""
        if not isinstance(given, list):
            raise _ApiError(400, "Bad Request: can't parse options JSON object")
        if not given:
            raise _ApiError(400, "Bad Request: poll must have at least one answer option")
        if len(given) > POLL_OPTIONS_MAX:
            raise _ApiError(
                400, f"Bad Request: poll can't have more than {POLL_OPTIONS_MAX} options"
            )
        texts: list[str] = []
        entities: list[list[JSONDict]] = []
        for option in given:
            if isinstance(option, str):
                option = {"text": option}
            if not isinstance(option, dict):
                raise _ApiError(
                    400,
                    "Bad Request: can't parse InputPollOption: Expected InputPollOption to be an "
                    "Object",
                )
            if not isinstance(option.get("text"), str):
                raise _ApiError(
                    400,
                    "Bad Request: can't parse InputPollOption: "
                    'Field "text" must be of type String',
                )
            text, parsed = self._poll_text(
                option["text"], option.get("text_parse_mode"), option.get("text_entities")
            )
            if len(text) > POLL_OPTION_MAX:
                raise _ApiError(
                    400, f"Bad Request: poll options length must not exceed {POLL_OPTION_MAX}"
                )
            texts.append(text)
            entities.append([e for e in parsed if e["type"] == "custom_emoji"])
        return texts, entities

    @staticmethod
    def _flag(params: JSONDict, key: str, default: bool) -> bool:
        value = params.get(key)
        return default if value is None or value == "" else bool(value)

    def _quiz(self, params: JSONDict, option_count: int) -> tuple[list[int], JSONDict]:
        """A quiz's correct options and explanation, checked as TDLib checks them."""
        correct = params.get("correct_option_ids")
        if correct is None and params.get("correct_option_id") is not None:
            correct = [params["correct_option_id"]]
        correct = [] if correct is None else correct
        if not isinstance(correct, list) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in correct
        ):
            raise _ApiError(400, "Bad Request: can't parse correct option identifiers JSON object")
        if not correct:
            raise _ApiError(400, "Bad Request: correct quiz option list must be non-empty")
        if any(later <= earlier for earlier, later in itertools.pairwise(correct)):
            raise _ApiError(400, "Bad Request: correct quiz option list must be increasing")
        if correct[0] < 0 or correct[-1] >= option_count:
            raise _ApiError(400, "Bad Request: wrong quiz correct_option_id")
        shown: JSONDict = {}
        explanation, entities = self._poll_text(
            params.get("explanation"),
            params.get("explanation_parse_mode"),
            params.get("explanation_entities"),
            allow_empty=True,
        )
        if len(explanation) > POLL_EXPLANATION_MAX:
            raise _ApiError(
                400,
                f"Bad Request: quiz explanation must have at most {POLL_EXPLANATION_MAX} "
                "characters",
            )
        if explanation.count("\n") > POLL_EXPLANATION_LINE_FEEDS:
            raise _ApiError(
                400,
                "Bad Request: quiz explanation must have at most "
                f"{POLL_EXPLANATION_LINE_FEEDS} line feeds",
            )
        if explanation:
            shown["explanation"] = explanation
            if entities:
                shown["explanation_entities"] = entities
        return list(correct), shown

    def _send_poll(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        markup = self._reply_markup(params)
        topic, thread_id, reply_to = self._placement(chat_id, params)
        question, question_entities = self._poll_text(
            params.get("question"),
            params.get("question_parse_mode"),
            params.get("question_entities"),
        )
        if len(question) > POLL_QUESTION_MAX:
            raise _ApiError(
                400, f"Bad Request: poll question length must not exceed {POLL_QUESTION_MAX}"
            )
        options, option_entities = self._poll_options(params.get("options"))
        kind = str(params.get("type") or "regular")
        if kind not in ("regular", "quiz"):
            raise _ApiError(400, "Bad Request: unsupported poll type specified")
        extra: JSONDict = {}
        correct: list[int] = []
        if kind == "quiz":
            correct, extra = self._quiz(params, len(options))
        question_entities = [e for e in question_entities if e["type"] == "custom_emoji"]
        if question_entities:
            extra["question_entities"] = question_entities
        if any(option_entities):
            extra["option_entities"] = option_entities
        description = str(params.get("description") or "").strip()
        if description:
            extra["description"] = description
        now_date = int(time.time())
        if isinstance(params.get("open_period"), int) and params["open_period"] > 0:
            extra["open_period"] = params["open_period"]
            extra["close_date"] = now_date + params["open_period"]
        elif isinstance(params.get("close_date"), int) and params["close_date"] > now_date:
            extra["close_date"] = params["close_date"]
            extra["open_period"] = params["close_date"] - now_date

        now = self.clock()
        self._check_rate_limits(chat_id, now)

        chat = self._chats.get(chat_id) or self._synthetic_chat(chat_id)
        message = self._new_message(chat, self._bot_user(full=False))
        poll = SentPoll(
            chat_id=chat_id,
            message_id=message["message_id"],
            poll_id=str(5_000_000_000_000_000_000 + next(self._counter)),
            question=question,
            options=options,
            is_anonymous=self._flag(params, "is_anonymous", True),
            type=kind,
            allows_multiple_answers=self._flag(params, "allows_multiple_answers", False),
            allows_revoting=self._flag(params, "allows_revoting", kind == "regular"),
            is_closed=self._flag(params, "is_closed", False),
            correct_option_ids=correct,
            message_thread_id=thread_id,
            reply_markup=markup,
            at=now,
            params=params,
            extra=extra,
        )
        message["poll"] = self._poll_object(poll)
        self._place(message, topic, thread_id, reply_to)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if params.get("protect_content"):
            message["has_protected_content"] = True
        self._record_message(message)
        self._native_polls[poll.poll_id] = poll
        self._notify()
        return copy.deepcopy(message)

    def _stop_poll(self, params: JSONDict) -> JSONDict:
        markup = self._reply_markup(params)
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        stored = None
        if isinstance(message_id, int) and not isinstance(message_id, bool) and message_id > 0:
            stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise _ApiError(400, "Bad Request: message with poll to stop not found")
        if "poll" not in stored:
            raise _ApiError(400, "Bad Request: message is not a poll")
        poll = self._native_polls.get(str(stored["poll"].get("id")))
        if poll is None or (stored.get("from") or {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: poll can't be stopped")
        if poll.is_closed:
            raise _ApiError(400, "Bad Request: poll has already been closed")
        poll.is_closed = True
        if inline is None:  # as an edit: no reply_markup drops the keyboard
            stored.pop("reply_markup", None)
        else:
            stored["reply_markup"] = inline
        self._show_poll(poll)
        closed = self._poll_object(poll)
        self.push_update({"poll": closed})  # the bot is told about the manually stopped poll
        return copy.deepcopy(closed)

    def _poll_at(self, chat_id: int, message_id: int) -> SentPoll:
        stored = self._messages.get((chat_id, message_id))
        poll = None if stored is None or "poll" not in stored else stored["poll"]
        live = None if poll is None else self._native_polls.get(str(poll.get("id")))
        if live is None:
            raise LookupError(f"no poll of the bot in message {message_id} of chat {chat_id}")
        return live

    def _show_poll(self, poll: SentPoll) -> None:
        """Let the poll's message show the poll as it is now (for replies, pins, buttons...)."""
        stored = self._messages.get((poll.chat_id, poll.message_id))
        if stored is not None:
            stored["poll"] = self._poll_object(poll)

    @staticmethod
    def _poll_object(poll: SentPoll) -> JSONDict:
        """The Poll object as the bot that sent it sees it (every count, a quiz's solution)."""
        counts = poll.voter_counts
        option_entities = poll.extra.get("option_entities") or [[] for _ in poll.options]
        options: list[JSONDict] = []
        for index, text in enumerate(poll.options):
            option: JSONDict = {
                "persistent_id": str(index),
                "text": text,
                "voter_count": counts[index],
            }
            if option_entities[index]:
                option["text_entities"] = copy.deepcopy(option_entities[index])
            options.append(option)
        shown: JSONDict = {
            "id": poll.poll_id,
            "question": poll.question,
            "options": options,
            "total_voter_count": poll.total_voter_count,
            "is_closed": poll.is_closed,
            "is_anonymous": poll.is_anonymous,
            "type": poll.type,
            "allows_multiple_answers": poll.allows_multiple_answers,
            "allows_revoting": poll.allows_revoting,
            "members_only": False,
        }
        if poll.type == "quiz":
            shown["correct_option_ids"] = list(poll.correct_option_ids)
        for key in ("question_entities", "explanation", "explanation_entities", "description"):
            if key in poll.extra:
                shown[key] = copy.deepcopy(poll.extra[key])
        if not poll.is_closed:
            for key in ("open_period", "close_date"):
                if key in poll.extra:
                    shown[key] = poll.extra[key]
        return shown

    # ---------------------------------------------------------------- forum topics

    def _forum_of(self, chat_id: int) -> _Forum:
        forum = self._forums.get(chat_id)
        if forum is None:
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        return forum

    def _writable_topic(self, chat_id: int, thread_id: Any) -> Topic:
        """The topic the bot sends to, or Telegram's refusal."""
        topic = None if not isinstance(thread_id, int) else self._topics.get((chat_id, thread_id))
        if topic is None or topic.deleted:
            raise _ApiError(400, "Bad Request: message thread not found")
        if topic.closed and not self._forums[chat_id].can_manage_topics:
            raise _ApiError(400, "Bad Request: TOPIC_CLOSED")
        return topic

    def _managed_topic(self, params: JSONDict, action: str) -> Topic:
        """The topic an edit/close/reopen/delete call targets, checked as TDLib checks it."""
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        forum = self._forum_of(chat_id)
        thread_id = params.get("message_thread_id")
        if isinstance(thread_id, bool) or not isinstance(thread_id, int) or thread_id <= 0:
            raise _ApiError(400, "Bad Request: invalid message thread identifier specified")
        topic = self._topics.get((chat_id, thread_id))
        if topic is None or topic.deleted:
            raise _ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        if not forum.can_manage_topics and topic.creator_id != self.bot_id:
            raise _ApiError(400, f"Bad Request: not enough rights to {action}")
        return topic

    def _create_forum_topic(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        forum = self._forum_of(chat_id)
        if not (forum.can_manage_topics or forum.members_can_create_topics):
            raise _ApiError(400, "Bad Request: not enough rights to create a topic")
        name = _clean_topic_name(params.get("name"))
        if not name:
            raise _ApiError(400, "Bad Request: title must be non-empty")
        icon_color = params.get("icon_color")
        if icon_color is not None and (
            isinstance(icon_color, bool)
            or not isinstance(icon_color, int)
            or not 0 <= icon_color <= 0xFFFFFF
        ):
            raise _ApiError(400, "Bad Request: invalid icon color specified")
        emoji = str(params.get("icon_custom_emoji_id") or "") or None
        topic, _ = self._open_topic(chat_id, name, icon_color, emoji, self._bot_user(full=False))
        self._notify()
        result: JSONDict = {
            "message_thread_id": topic.thread_id,
            "name": topic.name,
            "icon_color": topic.icon_color,
        }
        if topic.icon_custom_emoji_id:
            result["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
        return result

    def _edit_forum_topic(self, params: JSONDict) -> bool:
        topic = self._managed_topic(params, "edit the topic")
        name_given = params.get("name") not in (None, "")
        name = _clean_topic_name(params.get("name")) if name_given else topic.name
        if not name:
            raise _ApiError(400, "Bad Request: title must be non-empty")
        emoji_given = params.get("icon_custom_emoji_id") is not None
        if not name_given and not emoji_given:
            return True  # TDLib answers OK without asking Telegram: nothing to edit
        edited: JSONDict = {}
        if name != topic.name:
            edited["name"] = name
        emoji = str(params.get("icon_custom_emoji_id") or "") or None
        if emoji_given and emoji != topic.icon_custom_emoji_id:
            edited["icon_custom_emoji_id"] = emoji or ""  # "" in Telegram: the icon was removed
        if not edited:
            raise _ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.name = name
        if emoji_given:
            topic.icon_custom_emoji_id = emoji
        self._record_message(
            self._topic_service(topic, self._bot_user(full=False), "forum_topic_edited", edited)
        )
        self._notify()
        return True

    def _toggle_forum_topic(self, params: JSONDict, *, closed: bool) -> bool:
        topic = self._managed_topic(params, "close or open the topic")
        if topic.closed == closed:
            raise _ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.closed = closed
        field_name = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._record_message(self._topic_service(topic, self._bot_user(full=False), field_name, {}))
        self._notify()
        return True

    def _close_forum_topic(self, params: JSONDict) -> bool:
        return self._toggle_forum_topic(params, closed=True)

    def _reopen_forum_topic(self, params: JSONDict) -> bool:
        return self._toggle_forum_topic(params, closed=False)

    def _delete_forum_topic(self, params: JSONDict) -> bool:
        self._remove_topic(self._managed_topic(params, "delete the topic"))
        self._notify()
        return True

    def _open_topic(
        self,
        chat_id: int,
        name: str,
        icon_color: int | None,
        icon_custom_emoji_id: str | None,
        creator: JSONDict,
    ) -> tuple[Topic, JSONDict]:
        """Create a topic: its id is the id of its forum_topic_created service message."""
        if chat_id not in self._forums:
            raise ValueError(f"chat {chat_id} is not a forum: declare it with add_forum first")
        if icon_color is None:  # Telegram picks one of its colours
            used = sum(1 for chat, _ in self._topics if chat == chat_id)
            icon_color = TOPIC_ICON_COLORS[used % len(TOPIC_ICON_COLORS)]
        message = self._new_message(self._chats[chat_id], creator)
        thread_id = int(message["message_id"])
        created: JSONDict = {"name": name, "icon_color": icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        message["message_thread_id"] = thread_id
        message["is_topic_message"] = True
        message["forum_topic_created"] = created
        self._record_message(message)
        topic = Topic(chat_id, thread_id, name, icon_color, icon_custom_emoji_id, creator["id"])
        self._topics[(chat_id, thread_id)] = topic
        return topic, copy.deepcopy(message)

    def _topic_service(
        self, topic: Topic, sender: JSONDict, field_name: str, payload: JSONDict
    ) -> JSONDict:
        """A service message (forum_topic_edited/closed/reopened) posted in `topic`."""
        message = self._new_message(self._chats[topic.chat_id], sender)
        message[field_name] = payload
        self._place(message, topic, topic.thread_id, None)
        return message

    def _topic_starter(self, topic: Topic) -> JSONDict | None:
        stored = self._messages.get((topic.chat_id, topic.thread_id))
        if stored is None:
            return None
        starter = copy.deepcopy(stored)
        starter.pop("reply_to_message", None)
        return starter

    def _place(
        self,
        message: JSONDict,
        topic: Topic | None,
        thread_id: int | None,
        reply_to: JSONDict | None,
    ) -> None:
        """Put a new message in its topic (if any) and set what it replies to."""
        if topic is not None:
            message["message_thread_id"] = topic.thread_id
            message["is_topic_message"] = True
            if reply_to is None:  # Telegram: a topic message answers the topic's first message
                reply_to = self._topic_starter(topic)
        elif thread_id is not None:  # a chat not declared with add_forum: taken as given
            message["message_thread_id"] = thread_id
            if message["chat"]["type"] == "supergroup":
                message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to

    def _remove_topic(self, topic: Topic) -> None:
        topic.deleted = True
        for key, message in list(self._messages.items()):
            if key[0] == topic.chat_id and message.get("message_thread_id") == topic.thread_id:
                del self._messages[key]

    def _live_topic(self, chat_id: int, thread_id: int) -> Topic:
        topic = self._topics.get((chat_id, thread_id))
        if topic is None or topic.deleted:
            raise LookupError(f"no topic {thread_id} (or a deleted one) in chat {chat_id}")
        return topic

    def _person_toggles_topic(
        self, chat_id: int, thread_id: int, user_id: int, first_name: str, *, closed: bool
    ) -> int:
        topic = self._live_topic(chat_id, thread_id)
        if topic.closed == closed:
            raise ValueError(f"topic {thread_id} is already {'closed' if closed else 'open'}")
        topic.closed = closed
        user = self._citizen(user_id, first_name, None)
        field_name = "forum_topic_closed" if closed else "forum_topic_reopened"
        return self.push_update({"message": self._topic_service(topic, user, field_name, {})})

    def _chat_for_person(
        self, chat_id: int, chat_type: str | None, user: JSONDict, thread_id: int | None
    ) -> tuple[JSONDict, Topic | None]:
        if chat_id in self._forums:
            if chat_type not in (None, "supergroup"):
                raise ValueError(f"chat {chat_id} is a forum supergroup, not a {chat_type} chat")
            chat = self._chat(chat_id, "supergroup", user, forum=True)
            return chat, None if thread_id is None else self._live_topic(chat_id, thread_id)
        chat = self._chat(chat_id, chat_type or "private", user, forum=thread_id is not None)
        return chat, None

    def _person_reply_target(
        self,
        chat: JSONDict,
        topic: Topic | None,
        reply_to_bot: bool,
        reply_to_message_id: int | None,
    ) -> tuple[JSONDict | None, Topic | None]:
        """What a person's message replies to, and the topic it then lands in."""
        if reply_to_message_id is not None:
            stored = self._messages.get((chat["id"], reply_to_message_id))
            if stored is None:
                raise LookupError(f"no message {reply_to_message_id} in chat {chat['id']}")
            if stored.get("is_topic_message") and chat["id"] in self._forums:
                replied_topic = self._live_topic(chat["id"], stored["message_thread_id"])
                if topic is not None and topic is not replied_topic:
                    raise ValueError(
                        f"message {reply_to_message_id} is in topic {replied_topic.thread_id}, "
                        f"not in topic {topic.thread_id}"
                    )
                topic = replied_topic
            reply = copy.deepcopy(stored)
            reply.pop("reply_to_message", None)
            return reply, topic
        if reply_to_bot:
            return self._bot_message_to_reply(chat, topic), topic
        return None, topic

    # ---------------------------------------------------------------- rate limits

    def _check_rate_limits(self, chat_id: int, now: float) -> None:
        """Telegram's published limits: ~1 msg/s per chat (bursts of 3), 20/min per group,
        30/s overall. Only successful sends count."""
        if not self.enforce_rate_limits:
            return
        retry_after = 0
        overall = self._global_sends
        while overall and now - overall[0] >= 1.0:
            overall.popleft()
        if len(overall) >= 30:
            retry_after = 1
        tokens, last = self._chat_sends.get(chat_id, (3.0, now))
        tokens = min(3.0, tokens + (now - last))
        if tokens < 1.0:
            retry_after = max(retry_after, 1)
        window: deque[float] | None = None
        if chat_id < 0:
            window = self._group_sends.setdefault(chat_id, deque())
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= 20:
                retry_after = max(retry_after, math.ceil(60.0 - (now - window[0])))
        if retry_after:
            self.rate_limited.append((chat_id, now))
            raise _ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        overall.append(now)
        self._chat_sends[chat_id] = (tokens - 1.0, now)
        if window is not None:
            window.append(now)

    # ---------------------------------------------------------------- object builders

    def _bot_user(self, *, full: bool) -> JSONDict:
        user: JSONDict = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }
        if full:
            user.update(
                {
                    "can_join_groups": True,
                    "can_read_all_group_messages": not self.privacy_mode,
                    "supports_inline_queries": False,
                    "can_connect_to_business": False,
                    "has_main_web_app": False,
                }
            )
        return user

    def _citizen(
        self,
        user_id: int,
        first_name: str | None,
        language_code: str | None,
        username: str | None = None,
    ) -> JSONDict:
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Citizen"}
        if first_name is not None:
            user["first_name"] = first_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._users[user_id] = user
        return copy.deepcopy(user)

    def _synthetic_chat(self, chat_id: int) -> JSONDict:
        if chat_id > 0:
            user = self._users.get(chat_id, {"first_name": "Citizen"})
            return {"id": chat_id, "first_name": user["first_name"], "type": "private"}
        kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
        return {"id": chat_id, "title": f"Group {abs(chat_id)}", "type": kind}

    def _chat(self, chat_id: int, chat_type: str, user: JSONDict, *, forum: bool) -> JSONDict:
        if chat_type not in ("private", "group", "supergroup"):
            raise ValueError(f"chat_type must be private, group or supergroup, got {chat_type!r}")
        if (chat_type == "private") != (chat_id > 0):
            raise ValueError(
                f"a {chat_type} chat id is {'positive' if chat_type == 'private' else 'negative'}"
                f" in Telegram, got {chat_id}"
            )
        if chat_type == "private":
            chat: JSONDict = {"id": chat_id, "first_name": user["first_name"], "type": "private"}
        else:
            known = self._chats.get(chat_id, {})
            chat = {"id": chat_id, "title": known.get("title", f"Group {abs(chat_id)}")}
            chat["type"] = chat_type
            if chat_type == "supergroup" and (forum or known.get("is_forum")):
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        return copy.deepcopy(chat)

    def _chat_instance(self, chat_id: int) -> str:
        return str((abs(chat_id) * 2_654_435_761 + self.bot_id) % 9_000_000_000_000_000_000)

    def _new_message(self, chat: JSONDict, sender: JSONDict) -> JSONDict:
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return {
            "message_id": message_id,
            "from": sender,
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }

    def _bot_message_to_reply(self, chat: JSONDict, topic: Topic | None = None) -> JSONDict:
        if topic is None:
            last = self._last_bot_message.get(chat["id"])
        else:
            last = max(
                (
                    message_id
                    for (chat_id, message_id), message in self._messages.items()
                    if chat_id == chat["id"]
                    and message.get("message_thread_id") == topic.thread_id
                    and message["from"].get("id") == self.bot_id
                    and not _is_service(message)
                ),
                default=None,
            )
        stored = None if last is None else self._messages.get((chat["id"], last))
        if stored is None:
            stored = self._new_message(chat, self._bot_user(full=False))
            stored["text"] = "Bonjour ! / Hello!"
            self._place(stored, topic, None, None)
            self._record_message(stored)
        reply = copy.deepcopy(stored)
        reply.pop("reply_to_message", None)
        return reply

    def _media_fields(self, kind: str, user: JSONDict) -> JSONDict:
        n = next(self._counter)

        def file(extension: str, size: int, **extra: Any) -> JSONDict:
            raw = f"{kind}:{self.bot_id}:{n}:{extra.get('width', '')}".encode()
            file_id = "AgACAgQAAxkBAAI" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
            unique = "AQAD" + base64.urlsafe_b64encode(f"{kind}{n}{size}".encode()).decode()
            info = {"file_id": file_id, "file_unique_id": unique.rstrip("="), "file_size": size}
            self._files[file_id] = {**info, "file_path": f"{kind}s/file_{n}_{size}.{extension}"}
            return {**info, **extra}

        if kind == "photo":
            return {
                "photo": [
                    file("jpg", 1_204, width=90, height=67),
                    file("jpg", 15_874, width=320, height=240),
                    file("jpg", 97_365, width=1280, height=960),
                ]
            }
        if kind == "voice":
            return {"voice": file("oga", 11_264, duration=4, mime_type="audio/ogg")}
        if kind == "sticker":
            return {
                "sticker": file(
                    "webp",
                    23_410,
                    width=512,
                    height=512,
                    emoji="👍",
                    set_name="HotCherry",
                    is_animated=False,
                    is_video=False,
                    type="regular",
                )
            }
        if kind == "document":
            return {
                "document": file(
                    "pdf", 184_320, file_name="plan-du-projet.pdf", mime_type="application/pdf"
                )
            }
        if kind == "video":
            return {
                "video": file(
                    "mp4", 1_048_576, width=1280, height=720, duration=12, mime_type="video/mp4"
                )
            }
        if kind == "audio":
            return {
                "audio": file(
                    "mp3",
                    2_621_440,
                    duration=164,
                    performer="Chorale du quartier",
                    title="Hymne des Trois-Collines",
                    file_name="hymne.mp3",
                    mime_type="audio/mpeg",
                )
            }
        if kind == "location":
            return {"location": {"latitude": 45.403271, "longitude": -71.889038}}
        return {
            "contact": {
                "phone_number": "+15555550123",
                "first_name": user["first_name"],
                "user_id": user["id"],
            }
        }

    def _record_message(self, message: JSONDict) -> None:
        chat_id = message["chat"]["id"]
        message_id = int(message["message_id"])
        self._messages[(chat_id, message_id)] = copy.deepcopy(message)
        self._next_message_id[chat_id] = max(self._next_message_id.get(chat_id, 1), message_id + 1)
        self._chats.setdefault(chat_id, copy.deepcopy(message["chat"]))
        sender = message.get("from") or {}
        if _is_service(message):
            return  # neither "the bot's last message" nor "the citizen's last message"
        if sender.get("is_bot") and sender.get("id") == self.bot_id:
            self._last_bot_message[chat_id] = message_id
        elif sender:
            self._last_citizen_message[chat_id] = message_id

    def _remember_update(self, update: JSONDict) -> None:
        """Keep the messages and callback queries of a queued update, so the bot can use them."""
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict) and "chat" in message and "message_id" in message:
                self._record_message(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._callback_queries[str(query["id"])] = query
