"""Data functions: keyword-only, one small transaction each, over our own tables."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from bot.common.ids import stored_id
from bot.storage.models import (
    Concern,
    Conversation,
    Direction,
    HumanRequest,
    InboundStatus,
    InboundUpdate,
    InstanceSecret,
    Message,
    MessageStatus,
    OutboxMessage,
    OutboxStatus,
    ReferenceCounter,
    Subscription,
    UnansweredQuestion,
    utc_now,
)


def get_or_create_conversation(
    *,
    session: Session,
    channel: str,
    external_id: str,
    citizen_id: str,
    place: str | None = None,
) -> Conversation:
    """The conversation for (channel, external id), created on first contact."""
    query = select(Conversation).where(
        Conversation.channel == channel, Conversation.external_id == external_id
    )
    found = session.exec(query).first()
    if found is not None:
        if place is not None and found.place != place:
            found.place = place
            session.add(found)
            session.commit()
        return found
    conversation = Conversation(
        public_id=secrets.token_hex(16),
        channel=channel,
        external_id=external_id,
        citizen_id=citizen_id,
        place=place,
    )
    session.add(conversation)
    try:
        session.commit()
    except IntegrityError:
        # Another worker created it between our read and our write: use theirs.
        session.rollback()
        return session.exec(query).one()
    _loaded(session, conversation)
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


def notices_since(
    *, session: Session, channel: str, external_id: str, after: int, limit: int = 20
) -> list[Message]:
    """Messages the project sent on its own initiative (not replies to the citizen: a team's
    answer, a closure) in a conversation, after message id `after`, oldest first."""
    return list(
        session.exec(
            select(Message)
            .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
            .where(
                Conversation.channel == channel,
                Conversation.external_id == external_id,
                Message.direction == Direction.OUTGOING,
                col(Message.reply_to).is_(None),
                col(Message.id) > after,
            )
            .order_by(col(Message.id))
            .limit(limit)
        )
    )


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
    intent: str | None = None,
    external_id: str | None = None,
    edit_of: int | None = None,
    attachments: list[dict[str, Any]] | None = None,
    commit: bool = True,
) -> Message:
    """Stores one message and touches the conversation's last activity (without `commit`, in
    the caller's transaction: flushed, so it has its id)."""
    now = utc_now()
    message = Message(
        conversation_id=stored_id(conversation.id, "conversation"),
        direction=direction,
        text=text,
        language=language,
        language_trusted=language_trusted,
        status=status,
        intent=intent,
        external_id=external_id,
        edit_of=edit_of,
        attachments=attachments or None,
        created_at=now,
    )
    conversation.last_message_at = now
    session.add(message)
    session.add(conversation)
    _commit_or_flush(session, commit, message)
    return message


def add_outgoing_messages(
    *,
    session: Session,
    conversation: Conversation,
    texts: Sequence[str],
    language: str,
    reply_to: int | None = None,
    author: str | None = None,
    commit: bool = True,
) -> list[Message]:
    """Stores the assistant's replies of one turn in one transaction (or, with `author`, what
    a person of the team wrote); without `commit`, in the caller's (flushed: they have ids)."""
    now = utc_now()
    messages = [
        Message(
            conversation_id=stored_id(conversation.id, "conversation"),
            direction=Direction.OUTGOING,
            text=text,
            language=language,
            reply_to=reply_to,
            author=author,
            created_at=now,
        )
        for text in texts
    ]
    conversation.last_message_at = now
    session.add_all(messages)
    session.add(conversation)
    _commit_or_flush(session, commit, *messages)
    return messages


def answer_incoming(
    *,
    session: Session,
    conversation: Conversation,
    message_id: int,
    status: MessageStatus,
    intent: str | None,
    confidence: float | None,
    texts: Sequence[str],
    language: str,
) -> list[Message]:
    """Records what became of an incoming message and stores the replies to it, in one
    transaction. A message is never marked handled without its replies: a process that dies
    between the two would leave a handled message that a platform's redelivery replays with
    nothing to say (the citizen never answered); this way the turn is done again instead."""
    finish_incoming(
        session=session,
        message_id=message_id,
        status=status,
        intent=intent,
        confidence=confidence,
        commit=False,
    )
    replies = add_outgoing_messages(
        session=session,
        conversation=conversation,
        texts=texts,
        language=language,
        reply_to=message_id,
        commit=False,
    )
    session.commit()
    _loaded(session, *replies)
    return replies


def record_exchange(
    *,
    session: Session,
    conversation: Conversation,
    text: str,
    language: str,
    external_id: str | None,
    intent: str | None,
    texts: Sequence[str],
) -> tuple[Message, list[Message]]:
    """Stores an incoming message handled without a turn of the dialogue (a command) and the
    replies to it, in one transaction (see `answer_incoming`)."""
    incoming = add_message(
        session=session,
        conversation=conversation,
        direction=Direction.INCOMING,
        text=text,
        language=language,
        status=MessageStatus.ANSWERED,
        intent=intent,
        external_id=external_id,
        commit=False,
    )
    replies = add_outgoing_messages(
        session=session,
        conversation=conversation,
        texts=texts,
        language=language,
        reply_to=incoming.id,
        commit=False,
    )
    session.commit()
    _loaded(session, incoming, *replies)
    return incoming, replies


def _commit_or_flush(session: Session, commit: bool, *rows: SQLModel) -> None:
    """Commits (the rows then usable after the session closes), or only flushes: the caller
    commits with the rest of its transaction."""
    if commit:
        session.commit()
        _loaded(session, *rows)
    else:
        session.flush()


def incoming_by_external_id(
    *, session: Session, conversation: Conversation, external_id: str
) -> Message | None:
    """The incoming message the platform knows by `external_id`, if it was stored."""
    return session.exec(
        select(Message).where(
            Message.conversation_id == stored_id(conversation.id, "conversation"),
            Message.external_id == external_id,
            Message.direction == Direction.INCOMING,
        )
    ).first()


def replies_to(*, session: Session, message_id: int) -> list[Message]:
    """The assistant's stored replies to one incoming message, in order."""
    return list(
        session.exec(
            select(Message).where(Message.reply_to == message_id).order_by(col(Message.id))
        )
    )


def finish_incoming(
    *,
    session: Session,
    message_id: int,
    status: MessageStatus,
    intent: str | None,
    confidence: float | None,
    commit: bool = True,
) -> None:
    """Records what became of an incoming message and what the dialogue engine understood
    (without `commit`, in the caller's transaction)."""
    values: dict[str, object] = {"status": status}
    if intent is not None:
        values.update(intent=intent, confidence=confidence)
    session.execute(update(Message).where(col(Message.id) == message_id).values(**values))
    if commit:
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
    """Stores a concern under a fresh unique reference, or gives back the concern already
    recorded from this message (see `add_concern`)."""
    concern, _ = add_concern(
        session=session,
        conversation=conversation,
        message_id=message_id,
        category=category,
        language=language,
        text=text,
        received_at=received_at,
    )
    return concern


def add_concern(
    *,
    session: Session,
    conversation: Conversation,
    message_id: int | None,
    category: str,
    language: str,
    text: str,
    received_at: datetime | None = None,
    **fields: Any,
) -> tuple[Concern, bool]:
    """Stores a concern (with `fields`: kind, deadlines...) under a fresh unique reference, in
    one statement; returns it and True. A message already recorded as a concern (a redelivered
    or retried turn, or the same message's turn on another process a moment ago: the
    database's unique index decides) gives back that concern and False, never a second one."""
    if message_id is not None:
        existing = concern_of_message(session=session, message_id=message_id)
        if existing is not None:
            return existing, False
    received = received_at or utc_now()
    reference = next_reference(session=session, prefix="C", year=received.year)
    concern = Concern(
        reference=reference,
        conversation_id=stored_id(conversation.id, "conversation"),
        message_id=message_id,
        channel=conversation.channel,
        language=language,
        category=category,
        text=text,
        received_at=received,
        **fields,
    )
    session.add(concern)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        # Recorded from this message by another turn in the meantime: that one stands.
        winner = (
            None
            if message_id is None
            else concern_of_message(session=session, message_id=message_id)
        )
        if winner is None:
            raise
        return winner, False
    _loaded(session, concern)
    return concern, True


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
    answered_with: str | None = None,
) -> UnansweredQuestion:
    """Keeps a question the assistant could not answer, for the team and the knowledge base
    (`answered_with`: the document passage quoted instead of a reviewed answer)."""
    question = UnansweredQuestion(
        answered_with=answered_with,
        conversation_id=stored_id(conversation.id, "conversation"),
        message_id=message_id,
        text=text,
        language=language,
        reason=reason,
        intent=intent,
        confidence=confidence,
    )
    session.add(question)
    session.commit()
    _loaded(session, question)
    return question


def open_human_request(
    *, session: Session, conversation: Conversation, message_id: int | None, reason: str
) -> HumanRequest:
    """Asks the project team to take up this conversation (one open request per reason)."""
    existing = session.exec(
        select(HumanRequest).where(
            HumanRequest.conversation_id == stored_id(conversation.id, "conversation"),
            HumanRequest.reason == reason,
            HumanRequest.status == "open",
        )
    ).first()
    if existing is not None:
        return existing
    request = HumanRequest(
        conversation_id=stored_id(conversation.id, "conversation"),
        message_id=message_id,
        reason=reason,
    )
    session.add(request)
    session.commit()
    _loaded(session, request)
    return request


def set_subscription(*, session: Session, conversation: Conversation, active: bool) -> bool:
    """Turns project news on or off for this conversation; returns whether anything changed."""
    subscription = session.exec(
        select(Subscription).where(
            Subscription.conversation_id == stored_id(conversation.id, "conversation")
        )
    ).first()
    if subscription is None:
        if not active:
            return False
        session.add(
            Subscription(conversation_id=stored_id(conversation.id, "conversation"), active=True)
        )
        session.commit()
        return True
    if subscription.active == active:
        return False
    subscription.active = active
    subscription.updated_at = utc_now()
    session.add(subscription)
    session.commit()
    return True


def concern_of_message(*, session: Session, message_id: int) -> Concern | None:
    """The concern recorded from this message, if any."""
    return session.exec(select(Concern).where(Concern.message_id == message_id)).first()


def instance_secret_if_any(*, session: Session, name: str) -> str | None:
    """A secret this installation stored, if it did."""
    found = session.get(InstanceSecret, name)
    return None if found is None else found.value


def delete_instance_secret(*, session: Session, name: str) -> bool:
    """Deletes a stored secret (it moved elsewhere); whether there was one. Commits."""
    found = session.get(InstanceSecret, name)
    if found is None:
        return False
    session.delete(found)
    session.commit()
    return True


# --- intake: platform updates stored before they are confirmed ---------------------------


def store_update(
    *,
    session: Session,
    channel: str,
    update_key: str,
    conversation_key: str | None,
    payload: dict[str, Any],
) -> bool:
    """Stores a platform update once; returns False when it was already stored (redelivery)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(
        insert(InboundUpdate)
        .values(
            channel=channel,
            update_key=update_key,
            conversation_key=conversation_key,
            payload=payload,
            status=InboundStatus.PENDING,
            attempts=0,
            received_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
        .returning(col(InboundUpdate.id))
    )
    stored = result.scalar_one_or_none()
    session.commit()
    return stored is not None


def pending_updates(*, session: Session, channel: str, limit: int = 500) -> list[InboundUpdate]:
    """Updates of a channel not handled yet, oldest first."""
    return list(
        session.exec(
            select(InboundUpdate)
            .where(
                InboundUpdate.channel == channel,
                InboundUpdate.status == InboundStatus.PENDING,
            )
            .order_by(col(InboundUpdate.id))
            .limit(limit)
        )
    )


def last_update_key(*, session: Session, channel: str, prefix: str) -> str | None:
    """The newest stored update key of a channel that starts with `prefix`."""
    return session.exec(
        select(InboundUpdate.update_key)
        .where(
            InboundUpdate.channel == channel,
            col(InboundUpdate.update_key).startswith(prefix),
        )
        .order_by(col(InboundUpdate.id).desc())
        .limit(1)
    ).first()


def finish_update(
    *, session: Session, update_id: int, outgoing: Sequence[OutboxMessage]
) -> list[OutboxMessage]:
    """Marks an update handled and queues its answers, in one transaction: either both happen
    or neither does, so after a crash the update is handled again and answered once. The raw
    payload is dropped; a failed update keeps it, for a person."""
    row = session.get(InboundUpdate, update_id)
    if row is None:
        raise ValueError(f"no inbound update {update_id}")
    row.status = InboundStatus.DONE
    row.processed_at = utc_now()
    row.attempts += 1
    # The raw update (names, platform ids) is not needed once handled: what matters is in the
    # conversation's messages. The key stays, so a redelivery is still recognised.
    row.payload = {}
    session.add(row)
    session.add_all(outgoing)
    session.commit()
    _loaded(session, *outgoing)
    return list(outgoing)


def fail_update(
    *,
    session: Session,
    update_id: int,
    error: str,
    give_up: bool,
    outgoing: Sequence[OutboxMessage] = (),
) -> InboundUpdate:
    """Counts a failed attempt at an update; `give_up` leaves it failed, for a person, and
    queues `outgoing` (what the citizen is told) in the same transaction."""
    row = session.get(InboundUpdate, update_id)
    if row is None:
        raise ValueError(f"no inbound update {update_id}")
    row.attempts += 1
    row.last_error = error[:500]
    if give_up:
        row.status = InboundStatus.FAILED
        row.processed_at = utc_now()
        session.add_all(outgoing)
    session.add(row)
    session.commit()
    _loaded(session, row)
    return row


def pending_outbox(*, session: Session, channel: str) -> list[OutboxMessage]:
    """Messages of a channel still to send, in the order they were queued."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(col(OutboxMessage.id))
        )
    )


def mark_outbox(
    *,
    session: Session,
    outbox_id: int,
    status: OutboxStatus,
    platform_message_id: str | None = None,
    error: str | None = None,
) -> None:
    """Records the outcome of one attempt at sending an outbox message."""
    values: dict[str, Any] = {
        "status": status,
        "attempts": col(OutboxMessage.attempts) + 1,
    }
    if status is OutboxStatus.SENT:
        values.update(sent_at=utc_now(), platform_message_id=platform_message_id)
    if error is not None:
        values["last_error"] = error[:500]
    session.execute(
        update(OutboxMessage).where(col(OutboxMessage.id) == outbox_id).values(**values)
    )
    session.commit()


def _loaded(session: Session, *rows: SQLModel) -> None:
    """Makes rows just committed usable after their session closes. A session that expires
    what it committed (SQLModel's default) reads them again, one more transaction each; one
    that keeps them (``expire_on_commit=False``: the turn's, the intake's) already has them
    whole: ids are assigned when the rows are written, and every column has its value on the
    Python side."""
    if session.expire_on_commit:
        for row in rows:
            session.refresh(row)
