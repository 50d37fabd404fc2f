"""The platform-neutral types that channels hand to the core and get back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Place = Literal["private", "group"]


@dataclass(frozen=True)
class Attachment:
    """Something a citizen sent besides text (a photo, a voice note, a location...).

    Attributes:
        kind: "photo", "voice", "sticker", "document", "location", ...
        details: what the platform says about it (file id, size, type, duration,
            coordinates...), kept so a person can find it again.
    """

    kind: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncomingMessage:
    """One message from a citizen, as any channel sees it.

    Attributes:
        channel: the channel's name ("web", "terminal", "telegram", ...).
        conversation_key: the channel's id for this thread (a chat, a DM, a browser session;
            in a group, the chat and the citizen).
        sender_key: the channel's (pseudonymised where possible) id of the citizen.
        text: what they wrote, as received (a caption for a photo).
        language_choice: a language the citizen picked explicitly in the channel (a button,
            a command), which then holds until they choose again.
        external_id: the platform's id of this message; a message already handled under this
            id is answered from storage instead of being handled twice.
        edit_of: for an edited message, the platform's id of the message it replaces.
        attachments: what came with the text.
        place: "group" when other people read the thread (the assistant then keeps personal
            matters out of it), "private" otherwise.
        language_hint: the language of the citizen's app, used only when nothing better is known.
        private_link: where the citizen can continue in private (a deep link), for group replies.
    """

    channel: str
    conversation_key: str
    sender_key: str
    text: str
    language_choice: str | None = None
    external_id: str | None = None
    edit_of: str | None = None
    attachments: tuple[Attachment, ...] = ()
    place: Place = "private"
    language_hint: str | None = None
    private_link: str | None = None


@dataclass(frozen=True)
class Choice:
    """A quick answer the channel may offer as a button."""

    label: str
    value: str


@dataclass(frozen=True)
class Reply:
    """One message of the assistant to the citizen."""

    text: str
    language: str
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class TranscriptLine:
    """One stored message of a conversation, as a channel shows it again."""

    from_citizen: bool
    text: str


@dataclass(frozen=True)
class TurnResult:
    """What came of one incoming message."""

    conversation_id: str
    message_id: int
    language: str
    replies: tuple[Reply, ...]
    answered: bool  # False when the dialogue engine could not be reached: a person will follow up
    intent: str | None = None
    replayed: bool = False  # the message had been handled before: these are the stored replies
    with_person: bool = False  # a person of the team was asked to join or is in the conversation
    # The conversation's row id, for what the channel queues in the outbox (no second lookup).
    stored_conversation_id: int | None = None


@dataclass(frozen=True)
class Interpretation:
    """What the NLU understood of a message.

    Attributes:
        intent: the full intent name; FAQ questions are "faq/<topic>".
        confidence: how sure the model is of `intent`, from 0 to 1.
        ranking: the next best full intent names and their confidences.
    """

    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...] = ()
