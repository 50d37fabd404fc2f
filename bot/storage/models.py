"""Every table of the assistant, in one place.

Timestamps are stored in UTC and read back as timezone-aware datetimes on every
database (SQLite keeps no time zone, hence `UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Index, LargeBinary, Text, UniqueConstraint, event
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Column, Field, SQLModel

from bot.common.text import fold


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always written and read as UTC, aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class StoredText(TypeDecorator[str]):
    """Free text (citizens' words, replies) that every database can hold: PostgreSQL refuses
    NUL characters in text, so they are stored as U+FFFD; every other character is kept."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else value.replace("\x00", "\ufffd")


def _timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utc_now, sa_column=Column(UTCDateTime(), nullable=False, **kwargs))


class Direction(StrEnum):
    """Who wrote a message."""

    INCOMING = "in"
    OUTGOING = "out"


class MessageStatus(StrEnum):
    """What became of an incoming message."""

    RECEIVED = "received"
    ANSWERED = "answered"
    UNANSWERED = "unanswered"  # the dialogue engine could not be reached: a person must see it
    FOR_DESK = (
        "for_desk"  # written during a handoff: it went to the project team, not the assistant
    )


class Conversation(SQLModel, table=True):
    """One thread with one citizen on one channel.

    On chat platforms the thread is (platform, chat, user): in a group each citizen has their
    own conversation with the assistant. `citizen_id` is a pseudonym of the platform's user id.
    """

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(index=True, unique=True, max_length=64)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    citizen_id: str = Field(max_length=255, description="Pseudonymous sender id on the channel.")
    language: str | None = Field(default=None, max_length=8)
    language_pinned: bool = False
    dialogue_language: str | None = Field(
        default=None,
        max_length=8,
        description="The language the dialogue engine was last told for this thread (its slot); "
        "kept here so that every replica knows it.",
    )
    place: str | None = Field(
        default=None, max_length=16, description="private, group or channel (where it is public)."
    )
    erased_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=True),
        description="When the citizen's identifiers and transcript were erased at their request.",
    )
    erase_requested_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=True),
        description="The citizen asked to be forgotten and was asked to confirm.",
    )
    created_at: datetime = _timestamp()
    last_message_at: datetime = _timestamp()


class Message(SQLModel, table=True):
    """Every message, both ways, with what the assistant understood of it."""

    __tablename__ = "message"
    __table_args__ = (
        # A platform's message id is handled once: a redelivery finds the stored turn.
        Index("ix_message_external", "conversation_id", "external_id", unique=True),
        # The perception dashboard reads a period of incoming messages: covering the columns
        # it counts spares SQLite a lookup of each row in the table.
        Index(
            "ix_message_perception",
            "direction",
            "created_at",
            "conversation_id",
            "language",
            "sentiment",
            "sentiment_score",
            "intent",
            "edit_of",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    direction: Direction = Field(max_length=4)
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    external_id: str | None = Field(
        default=None, max_length=128, description="The platform's id of an incoming message."
    )
    reply_to: int | None = Field(
        default=None, foreign_key="message.id", description="For a reply: the message it answers."
    )
    edit_of: int | None = Field(
        default=None, foreign_key="message.id", description="For an edit: the message edited."
    )
    attachments: list[dict[str, Any]] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="What came with the message besides text (photo, voice, location...).",
    )
    language: str | None = Field(default=None, max_length=8)
    language_trusted: bool = False
    author: str | None = Field(
        default=None,
        max_length=120,
        description="Who wrote an outgoing message other than the assistant (staff:<desk>:<id>).",
    )
    intent: str | None = Field(default=None, max_length=128)
    confidence: float | None = None
    status: MessageStatus | None = Field(default=None, max_length=16)
    sentiment: str | None = Field(
        default=None,
        max_length=8,
        description="Of a citizen's message: negative, neutral, positive.",
    )
    sentiment_score: float | None = Field(
        default=None, description="From -1 (most negative) to 1 (most positive)."
    )
    topics: list[str] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="Topics of the contract it speaks of (FAQ topics and concern categories).",
    )
    created_at: datetime = _timestamp(index=True)


class ConcernStatus(StrEnum):
    """Where a concern stands in the grievance mechanism."""

    RECEIVED = "received"  # logged, the citizen has the reference and the reply-by date
    ACKNOWLEDGED = "acknowledged"  # a person of the team has taken it up
    IN_REVIEW = "in_review"
    RESPONDED = "responded"  # the team's answer was sent to the citizen
    CLOSED = "closed"  # see `ConcernOutcome`


class ConcernKind(StrEnum):
    """What a concern is (the contract's `concern_kinds`)."""

    GRIEVANCE = "grievance"  # a harm, nuisance or fear of harm to the citizen or the community
    OBJECTION = "objection"  # opposition to or criticism of the project or its process


class ConcernOutcome(StrEnum):
    """How a closed concern ended."""

    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    WITHDRAWN = "withdrawn"


class Concern(SQLModel, table=True):
    """A concern a citizen stated: one row of the grievance register.

    Its history (every transition, detail, response and note) is in `ConcernEvent`, which
    can only be appended to. The row holds the current state, for lists and exports.
    """

    __tablename__ = "concern"
    __table_args__ = (
        # The concerns still awaiting an answer, by reply-by date: the desk's "overdue" and
        # "due this week" read this small index rather than the whole register.
        Index(
            "ix_concern_awaiting",
            "respond_by",
            "received_at",
            sqlite_where=sql_text("status != 'closed' AND responded_at IS NULL"),
            postgresql_where=sql_text("status != 'closed' AND responded_at IS NULL"),
        ),
        # One concern per message, whatever the number of processes handling turns.
        Index(
            "uq_concern_message",
            "message_id",
            unique=True,
            sqlite_where=sql_text("message_id IS NOT NULL"),
            postgresql_where=sql_text("message_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(index=True, unique=True, max_length=32)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    citizen_id: str = Field(default="", max_length=255, index=True)
    channel: str = Field(max_length=32)
    language: str = Field(max_length=8)
    category: str = Field(max_length=32, index=True)
    kind: str = Field(default="grievance", max_length=16, index=True)
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    place: str | None = Field(default=None, max_length=200)
    sentiment: float | None = None
    severity: str = Field(default="medium", max_length=8)
    confidential: bool = False
    status: str = Field(default="received", max_length=32, index=True)
    outcome: str | None = Field(default=None, max_length=16)
    assignee: str | None = Field(default=None, max_length=120, index=True)
    received_at: datetime = _timestamp(index=True)
    acknowledge_by: date | None = None
    respond_by: date | None = Field(default=None, index=True)
    acknowledged_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    responded_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    anonymised_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    updated_at: datetime = _timestamp()
    version: int = Field(
        default=1, description="Raised by every change: a change made on an older one is refused."
    )
    search_text: str = Field(
        default="",
        sa_column=Column(StoredText(), nullable=False, server_default=""),
        description="The words folded for search (lower case, no accents), kept by the ORM.",
    )


class ConcernEvent(SQLModel, table=True):
    """One thing that happened to a concern. Rows are only ever added: the database refuses
    to change or delete them, except erasing the words of a citizen who asked to be
    forgotten (see migration 0003)."""

    __tablename__ = "concern_event"

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    at: datetime = _timestamp(index=True)
    actor: str = Field(max_length=120, description="citizen, assistant, system or staff:<name>")
    kind: str = Field(
        max_length=16,
        description="received, transition, detail, response, note, assignment",
    )
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    text: str | None = Field(default=None, sa_column=Column(StoredText(), nullable=True))
    visible_to_citizen: bool = False
    message_id: int | None = Field(default=None, foreign_key="message.id")


class AuditEntry(SQLModel, table=True):
    """Sensitive operations on the data: exports with identifiers, erasures, purges."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _timestamp(index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=32, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReferenceCounter(SQLModel, table=True):
    """The last number handed out per reference series (e.g. concerns of 2026)."""

    __tablename__ = "reference_counter"

    series: str = Field(primary_key=True, max_length=32)
    last_value: int = 0


class UnansweredQuestion(SQLModel, table=True):
    """A message the assistant could not answer from its knowledge base."""

    __tablename__ = "unanswered_question"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    language: str | None = Field(default=None, max_length=8)
    intent: str | None = Field(default=None, max_length=128)
    confidence: float | None = None
    reason: str = Field(
        max_length=32,
        description=(
            "low_confidence, out_of_scope, engine_unavailable, no_reviewed_answer (nothing "
            "reviewed answers it), passage (a document passage was quoted instead)"
        ),
    )
    answered_with: str | None = Field(
        default=None,
        max_length=160,
        description="The document passage quoted instead of a reviewed answer (id p. page).",
    )
    embedding: bytes | None = Field(
        default=None,
        sa_column=Column(LargeBinary, nullable=True),
        description="Its sentence embedding (float32), to group similar questions.",
    )
    faq_draft_id: int | None = Field(
        default=None, foreign_key="faq_draft.id", description="The FAQ entry drafted from it."
    )
    created_at: datetime = _timestamp(index=True)


class HumanRequest(SQLModel, table=True):
    """A thread a person of the project team must take up (the handoff desk builds on it)."""

    __tablename__ = "human_request"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    reason: str = Field(max_length=32, description="asked_human, unknown_question, forget_me")
    status: str = Field(default="open", max_length=16, index=True)
    created_at: datetime = _timestamp(index=True)


class Subscription(SQLModel, table=True):
    """A citizen's wish to receive project news on their channel."""

    __tablename__ = "subscription"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", unique=True)
    active: bool = True
    topics: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="Update topics asked for (road closures, blasting...); empty: all news.",
    )
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class InboundStatus(StrEnum):
    """Where a platform update stands in the intake."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # kept for a person: it could not be handled after several attempts


class InboundUpdate(SQLModel, table=True):
    """A platform update, stored before the platform is told it was received.

    The unique (channel, update_key) makes a redelivered update a no-op, so every update is
    handled once even when the platform sends it again after a crash.
    """

    __tablename__ = "inbound_update"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    update_key: str = Field(max_length=128)
    conversation_key: str | None = Field(default=None, max_length=255, index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: InboundStatus = Field(default=InboundStatus.PENDING, max_length=16, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    received_at: datetime = _timestamp()
    processed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class OutboxStatus(StrEnum):
    """Where an outgoing platform message stands."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the platform refused it for good (blocked, chat gone): kept for a person


class OutboxMessage(SQLModel, table=True):
    """A message to send on a platform, written in the same transaction that finishes the
    update it answers, and sent in order per destination within the platform's limits."""

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    destination: str = Field(max_length=255, index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    nonce: str = Field(max_length=64, unique=True)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, max_length=16, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    platform_message_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _timestamp()
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class InstanceSecret(SQLModel, table=True):
    """Secrets this installation generated for itself (e.g. the key of user-id pseudonyms)."""

    __tablename__ = "instance_secret"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=255)
    created_at: datetime = _timestamp()


class HandoffStatus(StrEnum):
    """Where a handoff to a person stands."""

    WAITING = "waiting"  # a person was asked to join; the assistant is silent meanwhile
    ACTIVE = "active"  # one community manager owns the conversation
    CLOSED = "closed"  # handed back to the assistant


class Handoff(SQLModel, table=True):
    """A time a person of the project team took (or was asked to take) a conversation over.

    A conversation has at most one handoff that is not closed (a partial unique index), and
    an active one has exactly one owner: claiming is a conditional update.
    """

    __tablename__ = "handoff"
    __table_args__ = (
        Index(
            "ux_handoff_open_per_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=sql_text("status != 'closed'"),
            postgresql_where=sql_text("status != 'closed'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    reason: str = Field(
        max_length=32,
        description="asked_human, not_understood, urgent, negative, category, staff",
    )
    detail: str | None = Field(default=None, max_length=200, description="e.g. the words of danger")
    status: str = Field(default=HandoffStatus.WAITING, max_length=16, index=True)
    requested_at: datetime = _timestamp(index=True)
    owner: str | None = Field(default=None, max_length=120, description="staff:<desk>:<id>")
    owner_name: str | None = Field(default=None, max_length=120)
    claimed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_by: str | None = Field(default=None, max_length=120)
    outcome: str | None = Field(default=None, max_length=16, description="resolved, unresolved")
    alerted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    alert_count: int = 0
    reminded_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=True),
        description="When the waiting citizen was last told their messages reach the team.",
    )
    rating: int | None = None
    rating_requested_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class HandoffEvent(SQLModel, table=True):
    """What happened in a handoff: requested, claimed, replies, internal notes, alerts,
    refusals, closing, the citizen's rating. Internal notes are never shown to citizens."""

    __tablename__ = "handoff_event"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoff.id", index=True)
    at: datetime = _timestamp()
    actor: str = Field(max_length=120)
    actor_name: str | None = Field(default=None, max_length=120)
    desk: str | None = Field(default=None, max_length=16, description="web, telegram, discord")
    kind: str = Field(max_length=24)
    text: str | None = Field(default=None, sa_column=Column(StoredText(), nullable=True))
    message_id: int | None = Field(default=None, foreign_key="message.id")


class DeskThread(SQLModel, table=True):
    """A conversation's thread on a chat desk (a Telegram topic, a Discord thread), and how far
    its transcript was copied there."""

    __tablename__ = "desk_thread"
    __table_args__ = (UniqueConstraint("conversation_id", "desk"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    desk: str = Field(max_length=16)
    thread_id: str = Field(max_length=64, index=True)
    relayed_upto: int = Field(default=0, description="The last message id copied to the thread.")
    events_upto: int = Field(default=0, description="The last handoff event id copied there.")
    handoff_id: int | None = Field(
        default=None, foreign_key="handoff.id", description="The handoff last announced there."
    )
    created_at: datetime = _timestamp()


class StaffAccount(SQLModel, table=True):
    """A community manager's login to the web desk (the password is an Argon2 hash)."""

    __tablename__ = "staff_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    display_name: str = Field(max_length=120, description="The first name citizens may see.")
    password_hash: str = Field(max_length=255)
    totp_secret: str | None = Field(
        default=None,
        max_length=64,
        description="The authenticator app's secret (base32): its code is asked at sign-in.",
    )
    role: str = Field(
        default="agent",
        max_length=16,
        description="agent (works concerns, answers citizens) or manager (also identified "
        "exports, publishing reports, staff accounts, the audit trail).",
    )
    active: bool = True
    created_at: datetime = _timestamp()
    last_login_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class StaffSession(SQLModel, table=True):
    """A signed-in web desk session; the cookie holds a random token, the table its hash."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    account_id: int = Field(foreign_key="staff_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=True),
        description="When it was last used (it ends after a while without use).",
    )


class ProjectUpdate(SQLModel, table=True):
    """News the project team publishes to subscribers, in French and in English."""

    __tablename__ = "project_update"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32, description="U-YYYY-NNNN")
    topic: str | None = Field(
        default=None, max_length=64, description="Update topic; None: for every subscriber."
    )
    text_fr: str = Field(sa_column=Column(StoredText(), nullable=False))
    text_en: str = Field(sa_column=Column(StoredText(), nullable=False))
    author: str = Field(max_length=120, description="staff:<desk>:<id> or cli:<user>")
    created_at: datetime = _timestamp(index=True)
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class UpdateDelivery(SQLModel, table=True):
    """One update to one subscribed conversation; platform delivery is read from the outbox."""

    __tablename__ = "update_delivery"
    __table_args__ = (UniqueConstraint("update_id", "conversation_id"),)

    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="project_update.id", index=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    language: str = Field(max_length=8)
    status: str = Field(
        default="queued", max_length=16, index=True, description="queued, sent, failed, stored"
    )
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _timestamp()
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class ListeningGroup(SQLModel, table=True):
    """A community group (Telegram group, Discord channel) where the assistant listens."""

    __tablename__ = "listening_group"
    __table_args__ = (UniqueConstraint("channel", "group_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    group_key: str = Field(max_length=64, description="Telegram chat id or Discord channel id.")
    title: str | None = Field(default=None, max_length=200)
    notice_message_id: str | None = Field(
        default=None, max_length=64, description="The pinned notice that the assistant listens."
    )
    notice_language: str | None = Field(default=None, max_length=8)
    notice_pinned_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = _timestamp()


class HeardMessage(SQLModel, table=True):
    """A message of a community group that mentions the project (the others are not stored)."""

    __tablename__ = "heard_message"
    __table_args__ = (
        UniqueConstraint("group_id", "external_id"),
        Index(
            "ix_heard_message_perception",
            "created_at",
            "channel",
            "language",
            "sentiment",
            "sentiment_score",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="listening_group.id", index=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=128, description="The platform's message id.")
    member: str = Field(max_length=255, index=True, description="Pseudonymous author id.")
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    language: str | None = Field(default=None, max_length=8)
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sentiment: str | None = Field(default=None, max_length=8)
    sentiment_score: float | None = None
    topics: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _timestamp(index=True)


class ListeningOptOut(SQLModel, table=True):
    """A group member who asked not to be listened to (their messages are not stored)."""

    __tablename__ = "listening_opt_out"
    __table_args__ = (UniqueConstraint("channel", "member"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    member: str = Field(max_length=255, description="Pseudonymous author id.")
    created_at: datetime = _timestamp()


class FaqDraft(SQLModel, table=True):
    """A new FAQ entry drafted from unanswered questions, waiting for review and adoption."""

    __tablename__ = "faq_draft"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=64, description="New FAQ topic (faq/<topic>).")
    questions: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False),
        description="The citizens' questions it answers (NLU examples).",
    )
    answer_fr: str = Field(sa_column=Column(StoredText(), nullable=False))
    answer_en: str = Field(sa_column=Column(StoredText(), nullable=False))
    sources: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False),
        description="Ids of the knowledge base's documents it cites.",
    )
    author: str = Field(max_length=120)
    status: str = Field(default="draft", max_length=16, description="draft, adopted, dropped")
    created_at: datetime = _timestamp()
    adopted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class PublicReport(SQLModel, table=True):
    """A periodic public report ("you said, we did") drafted on the desk: a person reviews and
    edits its Markdown, then publishes it; a published report is never changed again."""

    __tablename__ = "public_report"

    id: int | None = Field(default=None, primary_key=True)
    language: str = Field(max_length=8)
    since: date
    until: date
    markdown: str = Field(sa_column=Column(StoredText(), nullable=False))
    status: str = Field(default="draft", max_length=16, index=True, description="draft, published")
    created_by: str = Field(max_length=120)
    created_at: datetime = _timestamp()
    edited_by: str | None = Field(default=None, max_length=120)
    edited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    published_by: str | None = Field(default=None, max_length=120)
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


@event.listens_for(Concern, "before_insert")
@event.listens_for(Concern, "before_update")
def _fold_for_search(_mapper: Any, _connection: Any, concern: Concern) -> None:
    """Keeps a concern's folded words in step with its words (erasure included)."""
    concern.search_text = fold(concern.text or "")


class ConsultationStatus(StrEnum):
    """Where a consultation stands."""

    SCHEDULED = "scheduled"  # written, opens at `opens_at`
    OPEN = "open"  # delivered, answers taken until `closes_at`
    CLOSED = "closed"  # answers no longer taken; results given back


class Consultation(SQLModel, table=True):
    """A question the project puts to the community: options to choose from, or open answers.

    `audience` says who is asked: ``subscribers`` (every news subscriber), ``topic:<id>``
    (subscribers of an update topic), ``group:<channel>:<group key>`` (a community group
    listened to) or ``anyone`` (whoever talks to the assistant while it is open).
    """

    __tablename__ = "consultation"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32, description="K-YYYY-NNNN")
    question_fr: str = Field(sa_column=Column(StoredText(), nullable=False))
    question_en: str = Field(sa_column=Column(StoredText(), nullable=False))
    options: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description='[{"fr", "en", "ideas": citizens whose ideas it came from}]; empty: open '
        "answers.",
    )
    audience: str = Field(default="subscribers", max_length=160)
    purpose_fr: str = Field(sa_column=Column(StoredText(), nullable=False))
    purpose_en: str = Field(sa_column=Column(StoredText(), nullable=False))
    opens_at: datetime = _timestamp()
    closes_at: datetime = _timestamp(index=True)
    status: str = Field(default=ConsultationStatus.SCHEDULED, max_length=16, index=True)
    author: str = Field(max_length=120)
    created_at: datetime = _timestamp()
    opened_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    results_given_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=True),
        description="When the result went to the participants (None while closed: still due).",
    )


class ConsultationInvite(SQLModel, table=True):
    """A consultation put to one conversation (a group counts once), and the platform poll that
    carries it there, if any."""

    __tablename__ = "consultation_invite"
    __table_args__ = (
        UniqueConstraint("consultation_id", "conversation_id"),
        Index("ix_consultation_invite_poll", "channel", "poll_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    channel: str = Field(max_length=32)
    language: str = Field(max_length=8)
    how: str = Field(max_length=16, description="poll (a native poll), text, or group_notice")
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    poll_id: str | None = Field(
        default=None, max_length=64, description="Telegram's poll id; Discord's message id."
    )
    poll_message_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _timestamp()
    result_sent_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class ConsultationVote(SQLModel, table=True):
    """One citizen's voice in a consultation: one per pseudonymous platform identity,
    changeable until closing. Erasure empties `voter`, `conversation_id` and `answer`; the
    choice, channel and language stay, so the counts stay true."""

    __tablename__ = "consultation_vote"
    __table_args__ = (UniqueConstraint("consultation_id", "voter"),)

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    voter: str | None = Field(default=None, max_length=300, description="<channel>:<pseudonym>")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    channel: str = Field(max_length=32)
    language: str = Field(max_length=8)
    place: str = Field(default="private", max_length=16, description="private or group")
    group_key: str | None = Field(
        default=None, max_length=64, description="The group it came through, if any."
    )
    option: int | None = Field(default=None, description="0-based; None for an open answer.")
    answer: str | None = Field(default=None, sa_column=Column(StoredText(), nullable=True))
    changes: int = 0
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Idea(SQLModel, table=True):
    """A citizen's idea or suggestion for the project (the idea box)."""

    __tablename__ = "idea"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32, description="I-YYYY-NNNN")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", unique=True)
    channel: str = Field(max_length=32)
    language: str = Field(max_length=8)
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    consultation_id: int | None = Field(
        default=None, foreign_key="consultation.id", index=True,
        description="The consultation an option of which this idea became.",
    )  # fmt: skip
    created_at: datetime = _timestamp(index=True)
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Volunteer(SQLModel, table=True):
    """A citizen who chose to join the project's engaged members (ambassadors, follow-up
    committee): with consent, until they leave."""

    __tablename__ = "volunteer"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", unique=True)
    channel: str = Field(max_length=32)
    citizen_id: str = Field(max_length=255, description="The pseudonymous platform identity.")
    language: str = Field(max_length=8)
    status: str = Field(default="offered", max_length=16, index=True,
                        description="offered, joined, declined or left")  # fmt: skip
    shared: str | None = Field(
        default=None,
        sa_column=Column(StoredText(), nullable=True),
        description="What the citizen chose to share (a name, how to reach them, interests).",
    )
    offered_at: datetime = _timestamp()
    joined_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    left_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
