"""Data functions of listening: groups and their notices, heard messages, opt-outs.

Keyword-only, one small transaction each, like `bot.storage.repository`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.listening.reading import Reading
from bot.storage.models import HeardMessage, ListeningGroup, ListeningOptOut, utc_now

TITLE_MAX = 200


def ensure_group(
    *, session: Session, channel: str, group_key: str, title: str | None = None
) -> ListeningGroup:
    """The listened group (channel, group_key), created on first use; its title kept current."""
    query = select(ListeningGroup).where(
        ListeningGroup.channel == channel, ListeningGroup.group_key == group_key
    )
    title = title[:TITLE_MAX] if title else None
    found = session.exec(query).first()
    if found is not None:
        if title and found.title != title:
            found.title = title
            session.add(found)
            session.commit()
            session.refresh(found)
        return found
    group = ListeningGroup(channel=channel, group_key=group_key, title=title)
    session.add(group)
    try:
        session.commit()
    except IntegrityError:
        # Created meanwhile by another task (the notice keeper, a message): use that one.
        session.rollback()
        return session.exec(query).one()
    session.refresh(group)
    return group


def groups_of(*, session: Session, channel: str) -> list[ListeningGroup]:
    """Every group of a platform the assistant listens or listened to, oldest first."""
    return list(
        session.exec(
            select(ListeningGroup)
            .where(ListeningGroup.channel == channel)
            .order_by(col(ListeningGroup.id))
        )
    )


def record_notice(
    *, session: Session, group_id: int, message_id: str, languages: Sequence[str]
) -> ListeningGroup:
    """The notice posted in a group (not pinned yet)."""
    group = _group(session, group_id)
    group.notice_message_id = message_id
    group.notice_language = ",".join(languages)[:8]
    group.notice_pinned_at = None
    session.add(group)
    session.commit()
    session.refresh(group)
    return group


def record_pin(*, session: Session, group_id: int) -> ListeningGroup:
    """The group's notice is pinned now."""
    group = _group(session, group_id)
    group.notice_pinned_at = utc_now()
    session.add(group)
    session.commit()
    session.refresh(group)
    return group


def clear_notice(*, session: Session, group_id: int) -> ListeningGroup:
    """Forgets a group's notice, so that a new one is posted (and pinned) if it is listened to."""
    group = _group(session, group_id)
    group.notice_message_id = None
    group.notice_language = None
    group.notice_pinned_at = None
    session.add(group)
    session.commit()
    session.refresh(group)
    return group


def keep_heard(
    *,
    session: Session,
    group: ListeningGroup,
    external_id: str,
    member: str,
    text: str,
    language: str | None,
    keywords: Sequence[str],
    reading: Reading | None,
    created_at: datetime | None = None,
) -> HeardMessage:
    """Stores a heard message, or updates it when it was stored before (an edit keeps the time
    the message was first written)."""
    if group.id is None:
        raise ValueError("the listening group has not been stored yet")
    query = select(HeardMessage).where(
        HeardMessage.group_id == group.id, HeardMessage.external_id == external_id
    )
    for _ in range(2):
        heard = session.exec(query).first()
        if heard is None:
            heard = HeardMessage(
                group_id=group.id,
                channel=group.channel,
                external_id=external_id,
                member=member,
                text=text,
                created_at=created_at or utc_now(),
            )
        heard.text = text
        heard.language = language
        heard.keywords = list(keywords)
        heard.sentiment = reading.sentiment if reading is not None else None
        heard.sentiment_score = reading.score if reading is not None else None
        heard.topics = list(reading.topics) if reading is not None else None
        session.add(heard)
        try:
            session.commit()
        except IntegrityError:
            # The same message stored meanwhile (a redelivery handled in parallel): update it.
            session.rollback()
            continue
        session.refresh(heard)
        return heard
    raise RuntimeError(f"heard message {external_id} could not be stored")


def drop_heard(*, session: Session, channel: str, group_key: str, external_id: str) -> bool:
    """Deletes a heard message (its edit no longer mentions the project); False if none."""
    group = session.exec(
        select(ListeningGroup).where(
            ListeningGroup.channel == channel, ListeningGroup.group_key == group_key
        )
    ).first()
    if group is None:
        return False
    result = session.execute(
        delete(HeardMessage).where(
            col(HeardMessage.group_id) == group.id, col(HeardMessage.external_id) == external_id
        )
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def has_opted_out(*, session: Session, channel: str, member: str) -> bool:
    """Whether this member asked not to be listened to on this platform."""
    return (
        session.exec(
            select(ListeningOptOut.id).where(
                ListeningOptOut.channel == channel, ListeningOptOut.member == member
            )
        ).first()
        is not None
    )


def opt_out(*, session: Session, channel: str, member: str) -> int:
    """Records the opt-out and deletes the member's heard messages in every group of the
    platform, in one transaction; returns how many were deleted."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(ListeningOptOut)
        .values(channel=channel, member=member, created_at=utc_now())
        .on_conflict_do_nothing(index_elements=["channel", "member"])
    )
    result = session.execute(
        delete(HeardMessage).where(
            col(HeardMessage.channel) == channel, col(HeardMessage.member) == member
        )
    )
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def opt_in(*, session: Session, channel: str, member: str) -> bool:
    """Withdraws an opt-out; False when there was none."""
    result = session.execute(
        delete(ListeningOptOut).where(
            col(ListeningOptOut.channel) == channel, col(ListeningOptOut.member) == member
        )
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _group(session: Session, group_id: int) -> ListeningGroup:
    group = session.get(ListeningGroup, group_id)
    if group is None:
        raise ValueError(f"no listening group {group_id}")
    return group


def heard_counts(*, session: Session) -> dict[int, int]:
    """How many messages are kept per listened group (by group id)."""
    rows = session.execute(
        select(HeardMessage.group_id, func.count()).group_by(col(HeardMessage.group_id))
    )
    return {int(group_id): int(count) for group_id, count in rows}


def opt_out_counts(*, session: Session) -> dict[str, int]:
    """How many members opted out, per platform."""
    rows = session.execute(
        select(ListeningOptOut.channel, func.count()).group_by(col(ListeningOptOut.channel))
    )
    return {str(channel): int(count) for channel, count in rows}


def group_by_key(*, session: Session, channel: str, group_key: str) -> ListeningGroup | None:
    """The listened group (channel, group_key), if it is known."""
    return session.exec(
        select(ListeningGroup).where(
            ListeningGroup.channel == channel, ListeningGroup.group_key == group_key
        )
    ).first()
