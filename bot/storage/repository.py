"""Data functions: keyword-only, one small transaction each, over our own tables."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.storage.models import (
    Concern,
    Conversation,
    Direction,
    HumanRequest,
    Message,
    MessageStatus,
    ReferenceCounter,
    Subscription,
    UnansweredQuestion,
    utc_now,
)


def get_or_create_conversation(
    *, session: Session, channel: str, external_id: str, citizen_id: str
) -> Conversation:
    """The conversation for (channel, external id), created on first contact."""
    found = session.exec(
        select(Conversation).where(
            Conversation.channel == channel, Conversation.external_id == external_id
        )
    ).first()
    if found is not None:
        return found
    conversation = Conversation(
        public_id=secrets.token_hex(16),
        channel=channel,
        external_id=external_id,
        citizen_id=citizen_id,
    )
    session.add(conversation)
    session.commit()
    session.refresh(conversation)
    return conversation


def recent_messages(
    *, session: Session, channel: str, external_id: str, limit: int = 50
) -> list[Message]:
    """The last `limit` messages of a conversation, oldest first (empty when it is unknown)."""
    rows = session.exec(
        select(Message)
        .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
        .where(Conversation.channel == channel, Conversation.external_id == external_id)
        .order_by(col(Message.id).desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def conversation_by_public_id(*, session: Session, public_id: str) -> Conversation | None:
    """The conversation Rasa knows by this sender id, if any."""
    return session.exec(select(Conversation).where(Conversation.public_id == public_id)).first()


def set_conversation_language(
    *, session: Session, conversation: Conversation, language: str, pinned: bool
) -> None:
    """Remembers the conversation's language; `pinned` when the citizen chose it explicitly."""
    conversation.language = language
    conversation.language_pinned = pinned
    session.add(conversation)
    session.commit()


def add_message(
    *,
    session: Session,
    conversation: Conversation,
    direction: Direction,
    text: str,
    language: str | None,
    language_trusted: bool = False,
    status: MessageStatus | None = None,
) -> Message:
    """Stores one message and touches the conversation's last activity."""
    now = utc_now()
    message = Message(
        conversation_id=_id(conversation),
        direction=direction,
        text=text,
        language=language,
        language_trusted=language_trusted,
        status=status,
        created_at=now,
    )
    conversation.last_message_at = now
    session.add(message)
    session.add(conversation)
    session.commit()
    session.refresh(message)
    return message


def add_outgoing_messages(
    *, session: Session, conversation: Conversation, texts: Sequence[str], language: str
) -> list[Message]:
    """Stores the assistant's replies of one turn in one transaction."""
    now = utc_now()
    messages = [
        Message(
            conversation_id=_id(conversation),
            direction=Direction.OUTGOING,
            text=text,
            language=language,
            created_at=now,
        )
        for text in texts
    ]
    conversation.last_message_at = now
    session.add_all(messages)
    session.add(conversation)
    session.commit()
    return messages


def finish_incoming(
    *,
    session: Session,
    message_id: int,
    status: MessageStatus,
    intent: str | None,
    confidence: float | None,
) -> None:
    """Records what became of an incoming message and what the dialogue engine understood."""
    values: dict[str, object] = {"status": status}
    if intent is not None:
        values.update(intent=intent, confidence=confidence)
    session.execute(update(Message).where(col(Message.id) == message_id).values(**values))
    session.commit()


def message_by_id(*, session: Session, message_id: int) -> Message | None:
    """One message, if it exists."""
    return session.get(Message, message_id)


def next_reference(*, session: Session, prefix: str, year: int) -> str:
    """Hands out the next reference of a series, e.g. `C-2026-0042`.

    The increment is a single atomic UPDATE, so concurrent writers (threads or
    processes, SQLite or PostgreSQL) never receive the same number. It commits.
    """
    series = f"{prefix}-{year}"
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(ReferenceCounter)
        .values(series=series, last_value=0)
        .on_conflict_do_nothing(index_elements=["series"])
    )
    value = session.execute(
        update(ReferenceCounter)
        .where(col(ReferenceCounter.series) == series)
        .values(last_value=col(ReferenceCounter.last_value) + 1)
        .returning(col(ReferenceCounter.last_value))
    ).scalar_one()
    session.commit()
    return f"{series}-{value:04d}"


def record_concern(
    *,
    session: Session,
    conversation: Conversation,
    message_id: int | None,
    category: str,
    language: str,
    text: str,
    received_at: datetime | None = None,
) -> Concern:
    """Stores a concern under a fresh unique reference."""
    received = received_at or utc_now()
    reference = next_reference(session=session, prefix="C", year=received.year)
    concern = Concern(
        reference=reference,
        conversation_id=_id(conversation),
        message_id=message_id,
        channel=conversation.channel,
        language=language,
        category=category,
        text=text,
        received_at=received,
    )
    session.add(concern)
    session.commit()
    session.refresh(concern)
    return concern


def concerns_of_citizen(*, session: Session, conversation: Conversation) -> list[Concern]:
    """The concerns raised by this conversation's citizen on its channel, newest first."""
    rows = session.exec(
        select(Concern)
        .join(Conversation, col(Concern.conversation_id) == col(Conversation.id))
        .where(
            Conversation.channel == conversation.channel,
            Conversation.citizen_id == conversation.citizen_id,
        )
        .order_by(col(Concern.received_at).desc())
    )
    return list(rows)


def record_unanswered_question(
    *,
    session: Session,
    conversation: Conversation,
    message_id: int | None,
    text: str,
    language: str | None,
    reason: str,
    intent: str | None = None,
    confidence: float | None = None,
) -> UnansweredQuestion:
    """Keeps a question the assistant could not answer, for the team and the knowledge base."""
    question = UnansweredQuestion(
        conversation_id=_id(conversation),
        message_id=message_id,
        text=text,
        language=language,
        reason=reason,
        intent=intent,
        confidence=confidence,
    )
    session.add(question)
    session.commit()
    session.refresh(question)
    return question


def open_human_request(
    *, session: Session, conversation: Conversation, message_id: int | None, reason: str
) -> HumanRequest:
    """Asks the project team to take up this conversation (one open request per reason)."""
    existing = session.exec(
        select(HumanRequest).where(
            HumanRequest.conversation_id == _id(conversation),
            HumanRequest.reason == reason,
            HumanRequest.status == "open",
        )
    ).first()
    if existing is not None:
        return existing
    request = HumanRequest(conversation_id=_id(conversation), message_id=message_id, reason=reason)
    session.add(request)
    session.commit()
    session.refresh(request)
    return request


def set_subscription(*, session: Session, conversation: Conversation, active: bool) -> bool:
    """Turns project news on or off for this conversation; returns whether anything changed."""
    subscription = session.exec(
        select(Subscription).where(Subscription.conversation_id == _id(conversation))
    ).first()
    if subscription is None:
        if not active:
            return False
        session.add(Subscription(conversation_id=_id(conversation), active=True))
        session.commit()
        return True
    if subscription.active == active:
        return False
    subscription.active = active
    subscription.updated_at = utc_now()
    session.add(subscription)
    session.commit()
    return True


def _id(conversation: Conversation) -> int:
    if conversation.id is None:
        raise ValueError("the conversation has not been stored yet")
    return conversation.id
