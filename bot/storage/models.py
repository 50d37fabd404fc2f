"""Every table of the assistant, in one place.

Timestamps are stored in UTC and read back as timezone-aware datetimes on every
database (SQLite keeps no time zone, hence `UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Column, Field, SQLModel


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


class Conversation(SQLModel, table=True):
    """One thread with one citizen on one channel."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(index=True, unique=True, max_length=64)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    citizen_id: str = Field(max_length=255, description="Pseudonymous sender id on the channel.")
    language: str | None = Field(default=None, max_length=8)
    language_pinned: bool = False
    created_at: datetime = _timestamp()
    last_message_at: datetime = _timestamp()


class Message(SQLModel, table=True):
    """Every message, both ways, with what the assistant understood of it."""

    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    direction: Direction = Field(max_length=4)
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    language: str | None = Field(default=None, max_length=8)
    language_trusted: bool = False
    intent: str | None = Field(default=None, max_length=128)
    confidence: float | None = None
    status: MessageStatus | None = Field(default=None, max_length=16)
    created_at: datetime = _timestamp(index=True)


class Concern(SQLModel, table=True):
    """A concern a citizen stated; the register's lifecycle builds on this row."""

    __tablename__ = "concern"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(index=True, unique=True, max_length=32)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    channel: str = Field(max_length=32)
    language: str = Field(max_length=8)
    category: str = Field(max_length=32, index=True)
    text: str = Field(sa_column=Column(StoredText(), nullable=False))
    status: str = Field(default="received", max_length=32, index=True)
    received_at: datetime = _timestamp(index=True)


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
        max_length=32, description="low_confidence, out_of_scope, engine_unavailable"
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
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
