"""The engaged members: citizens who chose to get involved (ambassadors, the follow-up
committee, events), with explicit consent, what it means, and how to leave.

A citizen who says they want to get involved (the `volunteer` intent) is told what joining
means and asked to confirm; a supporter (`express_support`) is told how. Joining keeps the
citizen's pseudonymous platform identity and what they choose to share ("share: ..."); the
team invites the members through the news channel. "Leave the list" (or `/volunteer stop`)
removes them and what they shared; erasure does too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.common.ids import stored_id
from bot.outbox.outbound import send_to_conversation
from bot.participation.phrases import say
from bot.storage.models import AuditEntry, Conversation, Volunteer, utc_now

OFFER_WINDOW = timedelta(minutes=30)  # a "yes" later than this answers nothing
MAX_SHARED_CHARS = 500

_YES = re.compile(
    r"^\s*(oui|yes|ouais|ok|okay|d'accord|volontiers|avec plaisir|bien s[uû]r|sure|of course|"
    r"yep|yeah|je (le )?veux|i do|count me in|absolument|certainement)\b",
    re.I,
)
_NO = re.compile(r"^\s*(non|no|nope|pas maintenant|not now|non merci|no thanks)\b", re.I)
_LEAVE = re.compile(
    r"\b(quitter la liste|me retirer de la liste|retirez[- ]moi de la liste|"
    r"leave the list|remove me from the list|take me off the list|"
    r"je ne veux plus (être|etre) (membre|ambassad|bénévole|benevole))",
    re.I,
)
_SHARE = re.compile(r"^\s*(partager|partage|share)\s*:\s*(.+)$", re.I | re.S)


@dataclass(frozen=True)
class Member:
    """An engaged member as the team sees them: a pseudonymous identity and what they shared."""

    id: int
    channel: str
    citizen_id: str
    conversation_id: int
    language: str
    shared: str | None
    joined_at: datetime


def offer(session: Session, conversation: Conversation, language: str) -> str:
    """The citizen asked to get involved: what it means, and the question to confirm."""
    row = _row(session, conversation)
    if row is not None and row.status == "joined":
        return say("volunteer_already", language)
    now = utc_now()
    if row is None:
        row = Volunteer(
            conversation_id=stored_id(conversation.id),
            channel=conversation.channel,
            citizen_id=conversation.citizen_id,
            language=language,
        )
    row.status, row.offered_at, row.language = "offered", now, language
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
    return say("volunteer_offer", language)


def support_offer(session: Session, conversation: Conversation, language: str) -> str | None:
    """After a supporter's message: how to get involved (None for a member already)."""
    row = _row(session, conversation)
    if row is not None and row.status == "joined":
        return None
    return say("volunteer_support_offer", language)


def answer(session: Session, conversation: Conversation, text: str, language: str) -> str | None:
    """The citizen's message when it concerns their membership: a "yes"/"no" to a recent offer,
    "leave the list", or "share: ..." from a member. None otherwise."""
    if conversation.place == "group":
        return None
    row = _row(session, conversation)
    if _LEAVE.search(text):
        return leave(session, conversation, language, actor="citizen")
    if row is None:
        return None
    shared = _SHARE.match(text)
    if row.status == "joined" and shared:
        row.shared = " ".join(shared.group(2).split())[:MAX_SHARED_CHARS]
        session.add(row)
        session.commit()
        return say("volunteer_shared", language, shared=row.shared)
    if row.status != "offered" or utc_now() - row.offered_at > OFFER_WINDOW:
        return None
    if _YES.match(text):
        return join(session, conversation, language)
    if _NO.match(text):
        row.status = "declined"
        session.add(row)
        session.commit()
        return say("volunteer_declined", language)
    return None


def join(session: Session, conversation: Conversation, language: str) -> str:
    """The citizen consents: they are on the list."""
    row = _row(session, conversation)
    if row is not None and row.status == "joined":
        return say("volunteer_already", language)
    if row is None:
        row = Volunteer(
            conversation_id=stored_id(conversation.id),
            channel=conversation.channel,
            citizen_id=conversation.citizen_id,
            language=language,
        )
    row.status, row.joined_at, row.left_at, row.language = "joined", utc_now(), None, language
    session.add(row)
    session.add(
        AuditEntry(actor="citizen", action="volunteer.join", detail={"channel": row.channel})
    )
    session.commit()
    return say("volunteer_joined", language)


def leave(session: Session, conversation: Conversation, language: str, *, actor: str) -> str:
    """The citizen leaves the list: they and what they shared are removed."""
    row = _row(session, conversation)
    if row is None or row.status != "joined":
        if row is not None:
            session.delete(row)
            session.commit()
        return say("volunteer_not_member", language)
    session.delete(row)
    session.add(AuditEntry(actor=actor, action="volunteer.leave", detail={"channel": row.channel}))
    session.commit()
    return say("volunteer_left", language)


def members(engine: Engine) -> list[Member]:
    """The engaged members, earliest first."""
    with Session(engine) as session:
        rows = session.exec(
            select(Volunteer)
            .where(Volunteer.status == "joined")
            .order_by(col(Volunteer.joined_at), col(Volunteer.id))
        ).all()
    return [
        Member(
            id=stored_id(row.id),
            channel=row.channel,
            citizen_id=row.citizen_id,
            conversation_id=row.conversation_id,
            language=row.language,
            shared=row.shared,
            joined_at=row.joined_at or row.offered_at,
        )
        for row in rows
    ]


def _row(session: Session, conversation: Conversation) -> Volunteer | None:
    return session.exec(
        select(Volunteer).where(Volunteer.conversation_id == conversation.id)
    ).first()


def invite(engine: Engine, *, text_fr: str, text_en: str, actor: str) -> int:
    """Sends the team's invitation (an event, the follow-up committee) to every engaged member
    on their own channel, in their language; returns how many were reached."""
    sent = 0
    with Session(engine, expire_on_commit=False) as session:
        rows = list(session.exec(select(Volunteer).where(Volunteer.status == "joined")))
        for row in rows:
            conversation = session.get(Conversation, row.conversation_id)
            if conversation is None or conversation.erased_at is not None:
                continue
            text = (text_en if row.language == "en" else text_fr).strip()
            send_to_conversation(
                session=session,
                conversation=conversation,
                texts=[say("volunteer_invitation", row.language, text=text)],
                language=row.language,
            )
            sent += 1
        session.add(AuditEntry(actor=actor[:120], action="volunteer.invite", detail={"sent": sent}))
        session.commit()
    return sent
