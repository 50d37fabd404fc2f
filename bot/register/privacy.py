"""Erasure at a citizen's request, and retention: personal data does not outlive its use.

Erasing a citizen removes their identifiers and the words of their conversations on that
platform, and what the assistant heard them say in community groups there; their concerns stay
in the register in anonymised form (category, dates, status, outcome), so the register's counts
stay true; so do their votes in consultations (the choice without the voter) and their ideas
(counted, without their words); they leave the engaged members. Each erasure is in the audit trail and the
citizen gets a receipt number.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, update
from sqlmodel import Session, col, select

from bot.common.text import ERASED
from bot.storage.database import overwrite_freed_pages
from bot.storage.models import (
    AuditEntry,
    Concern,
    ConcernEvent,
    ConcernStatus,
    ConsultationVote,
    Conversation,
    FaqDraft,
    Handoff,
    HandoffEvent,
    HandoffStatus,
    HeardMessage,
    Idea,
    InboundUpdate,
    Message,
    OutboxMessage,
    Subscription,
    UnansweredQuestion,
    Volunteer,
    utc_now,
)

PURGE_CHUNK = 500


@dataclass(frozen=True)
class ErasureReceipt:
    """What was erased, for the citizen and the audit trail."""

    receipt: str
    at: datetime
    conversations: int
    messages: int
    concerns: int


def erase_citizen(
    *, session: Session, conversation: Conversation, actor: str, reason: str = "forget_me"
) -> ErasureReceipt:
    """Erases the identifiers and transcripts of this conversation's citizen on its platform
    (all their conversations there) and anonymises their concerns. Commits."""
    conversations = list(
        session.exec(
            select(Conversation).where(
                Conversation.channel == conversation.channel,
                Conversation.citizen_id == conversation.citizen_id,
                col(Conversation.erased_at).is_(None),
            )
        )
    )
    if conversation not in conversations:
        conversations.append(conversation)
    return _erase(session, conversations, actor=actor, reason=reason, keep_open_concerns=False)


def purge_older_than(
    *, engine: Engine, days: int, actor: str, dry_run: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """Erases conversations idle for more than `days` days; their closed concerns are
    anonymised (open ones keep their words until they are closed and purged later)."""
    cutoff = (now or utc_now()) - timedelta(days=days)
    with Session(engine, expire_on_commit=False) as session:
        stale = list(
            session.exec(
                select(Conversation).where(
                    col(Conversation.last_message_at) < cutoff,
                    col(Conversation.erased_at).is_(None),
                )
            )
        )
        if dry_run:
            ids = [c.id for c in stale]
            concerns = [
                concern
                for start in range(0, len(ids), PURGE_CHUNK)
                for concern in session.exec(
                    select(Concern).where(
                        col(Concern.conversation_id).in_(ids[start : start + PURGE_CHUNK]),
                        Concern.status == ConcernStatus.CLOSED,
                        col(Concern.anonymised_at).is_(None),
                    )
                ).all()
            ]
            heard = session.exec(
                select(func.count())
                .select_from(HeardMessage)
                .where(col(HeardMessage.created_at) < cutoff)
            ).one()
            return {
                "conversations": len(stale),
                "concerns": len(concerns),
                "heard_messages": int(heard),
            }
        # In chunks: one statement over more than 32,766 ids exceeds SQLite's limit of bound
        # variables, and the purge would then fail every day after.
        receipts = [
            _erase(session, stale[start : start + PURGE_CHUNK], actor=actor, reason="retention",
                   keep_open_concerns=True)
            for start in range(0, len(stale), PURGE_CHUNK)
        ]  # fmt: skip
        # Messages heard in community groups are kept as long as conversations, no longer.
        deleted = session.execute(delete(HeardMessage).where(col(HeardMessage.created_at) < cutoff))
        session.commit()
        return {
            "conversations": sum(r.conversations for r in receipts),
            "concerns": sum(r.concerns for r in receipts),
            "heard_messages": int(getattr(deleted, "rowcount", 0) or 0),
        }


def _erase(
    session: Session,
    conversations: list[Conversation],
    *,
    actor: str,
    reason: str,
    keep_open_concerns: bool,
) -> ErasureReceipt:
    now = utc_now()
    ids = [c.id for c in conversations if c.id is not None]
    _out_of_drafts(session, ids)
    messages = session.execute(
        update(Message)
        .where(col(Message.conversation_id).in_(ids))
        .values(text=ERASED, attachments=None, external_id=None)
    )
    session.execute(
        update(UnansweredQuestion)
        .where(col(UnansweredQuestion.conversation_id).in_(ids))
        .values(text=ERASED, embedding=None)  # derived from their words: it goes too
    )
    session.execute(
        update(Subscription).where(col(Subscription.conversation_id).in_(ids)).values(active=False)
    )
    # Their voices in consultations stay counted, anonymously (no voter, no words); their ideas
    # stay counted without their words; they leave the engaged members.
    session.execute(
        update(ConsultationVote)
        .where(col(ConsultationVote.conversation_id).in_(ids))
        .values(voter=None, conversation_id=None, answer=None, group_key=None)
    )
    session.execute(
        update(Idea)
        .where(col(Idea.conversation_id).in_(ids))
        .values(text=ERASED, conversation_id=None, message_id=None, erased_at=now)
    )
    session.execute(delete(Volunteer).where(col(Volunteer.conversation_id).in_(ids)))
    concern_query = select(Concern).where(
        col(Concern.conversation_id).in_(ids), col(Concern.anonymised_at).is_(None)
    )
    if keep_open_concerns:
        concern_query = concern_query.where(Concern.status == ConcernStatus.CLOSED)
    concerns = list(session.exec(concern_query))
    for concern in concerns:
        concern.text = ERASED
        concern.place = None
        concern.citizen_id = "erased"
        concern.anonymised_at = now
        session.add(concern)
    concern_ids = [c.id for c in concerns]
    if concern_ids:
        # The only change the history allows: the words go, the facts stay.
        session.execute(
            update(ConcernEvent)
            .where(
                col(ConcernEvent.concern_id).in_(concern_ids), col(ConcernEvent.text).isnot(None)
            )
            .values(text=None)
        )
    # Copies of their words elsewhere: replies waiting to be sent or sent (text, destination),
    # the words of danger that brought a person in, and what was said in the handoff.
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.conversation_id).in_(ids))
        .values(text=ERASED, destination="erased", options={}, last_error=None)
    )
    handoff_ids = list(
        session.exec(select(Handoff.id).where(col(Handoff.conversation_id).in_(ids)))
    )
    if handoff_ids:
        session.execute(update(Handoff).where(col(Handoff.id).in_(handoff_ids)).values(detail=None))
        session.execute(
            update(HandoffEvent)
            .where(
                col(HandoffEvent.handoff_id).in_(handoff_ids), col(HandoffEvent.text).isnot(None)
            )
            .values(text=None)
        )
        # A person can no longer follow up (the citizen's address is gone): the handoff
        # closes, and the chat desks delete the conversation's threads (desk/relay.py).
        still_open = [
            handoff_id
            for handoff_id in session.exec(
                select(Handoff.id).where(
                    col(Handoff.id).in_(handoff_ids), Handoff.status != HandoffStatus.CLOSED
                )
            )
            if handoff_id is not None
        ]
        if still_open:
            session.execute(
                update(Handoff)
                .where(col(Handoff.id).in_(still_open))
                .values(status=HandoffStatus.CLOSED, closed_at=now, closed_by=actor,
                        outcome="erased")
            )  # fmt: skip
            for handoff_id in still_open:
                session.add(
                    HandoffEvent(handoff_id=handoff_id, actor=actor, kind="closed", text="erased")
                )
    heard = 0
    for conversation in conversations:
        # What they wrote in community groups the assistant listens to goes too: the listening
        # side knows them by the same pseudonym on the same platform.
        heard += int(
            getattr(
                session.execute(
                    delete(HeardMessage).where(
                        col(HeardMessage.channel) == conversation.channel,
                        col(HeardMessage.member) == conversation.citizen_id,
                    )
                ),
                "rowcount",
                0,
            )
            or 0
        )
        token = secrets.token_hex(8)
        # Raw updates kept for a person (failed ones) carry names and ids too; the intake keys
        # them by chat and the citizen's pseudonym.
        session.execute(
            update(InboundUpdate)
            .where(
                col(InboundUpdate.channel) == conversation.channel,
                col(InboundUpdate.conversation_key).endswith(f":{conversation.citizen_id}"),
            )
            .values(payload={}, conversation_key=f"erased-{token}", last_error=None)
        )
        conversation.external_id = f"erased-{token}"
        conversation.citizen_id = f"erased-{token}"
        conversation.erased_at = now
        conversation.erase_requested_at = None
        session.add(conversation)
    receipt = ErasureReceipt(
        receipt="E-" + secrets.token_hex(4).upper(),
        at=now,
        conversations=len(conversations),
        messages=int(getattr(messages, "rowcount", 0) or 0) + heard,
        concerns=len(concerns),
    )
    session.add(
        AuditEntry(
            actor=actor,
            action="erase" if reason == "forget_me" else "purge",
            detail={
                "receipt": receipt.receipt,
                "reason": reason,
                "conversations": receipt.conversations,
                "messages": receipt.messages,
                "concerns": receipt.concerns,
            },
        )
    )
    session.commit()
    overwrite_freed_pages(session)
    return receipt


def _out_of_drafts(session: Session, conversation_ids: Sequence[int | None]) -> None:
    """Takes the citizen's questions out of the FAQ drafts they were copied into (an adopted
    draft's questions are NLU examples in the repository by then: see SECURITY.md)."""
    asked = session.exec(
        select(UnansweredQuestion).where(
            col(UnansweredQuestion.conversation_id).in_(conversation_ids),
            col(UnansweredQuestion.faq_draft_id).isnot(None),
        )
    ).all()
    for question in asked:
        draft = session.get(FaqDraft, question.faq_draft_id)
        if draft is None:
            continue
        folded = " ".join(question.text.casefold().split())
        kept = [q for q in draft.questions if " ".join(q.casefold().split()) != folded]
        if len(kept) != len(draft.questions):
            draft.questions = kept
            session.add(draft)
