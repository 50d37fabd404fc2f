"""The platform-neutral types that channels hand to the core and get back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IncomingMessage:
    """One message from a citizen, as any channel sees it.

    Attributes:
        channel: the channel's name ("web", "terminal", "telegram", ...).
        conversation_key: the channel's id for this thread (a chat, a DM, a browser session).
        sender_key: the channel's (pseudonymised where possible) id of the citizen.
        text: what they wrote, as received.
        language_choice: a language the citizen picked explicitly in the channel (a button,
            a command), which then holds until they choose again.
    """

    channel: str
    conversation_key: str
    sender_key: str
    text: str
    language_choice: str | None = None


@dataclass(frozen=True)
class Reply:
    """One message of the assistant to the citizen."""

    text: str
    language: str


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
