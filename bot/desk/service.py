"""Handoffs: when a person of the project team takes a conversation over, and gives it back.

A handoff is requested (the citizen asks, the assistant fails twice, a danger is mentioned, a
concern's category needs a person, or a community manager steps in). From then on the
assistant is silent in that conversation and every citizen message goes to the desks. One
community manager claims it (a conditional update: exactly one wins), answers on the
citizen's own channel, and hands back; the citizen may rate the help.

Everything here is plain code over the database: the desks (web inbox, Telegram staff topics,
Discord staff threads) call these methods and show what they return. Every desk action is
also written to the audit trail.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.common.ids import stored_id
from bot.common.phrases import CATEGORY_NAMES, say
from bot.desk.hours import DeskSchedule
from bot.outbox.outbound import send_to_conversation
from bot.staff_web.accounts import StaffMember
from bot.storage import repository
from bot.storage.models import (
    AuditEntry,
    Concern,
    Conversation,
    Direction,
    Handoff,
    HandoffEvent,
    HandoffStatus,
    HumanRequest,
    Message,
    MessageStatus,
    UnansweredQuestion,
    utc_now,
)

logger = logging.getLogger(__name__)

DESKS = ("web", "telegram", "discord")
OUTCOMES = ("resolved", "unresolved")
# A citizen waiting for a person is told again that their message reached the team at most
# this often (silence would feel like a broken assistant; repeating it every time, like noise).
REMIND_EVERY = timedelta(minutes=30)
RATING_WINDOW = timedelta(hours=24)
_SCORE = re.compile(r"^\s*([1-5])\s*(?:/\s*5|sur 5|out of 5|étoiles?|stars?)?\s*[.!]?\s*$", re.I)


class DeskError(Exception):
    """A desk action cannot be done; the message is one sentence for the community manager."""


class NoSuchHandoff(DeskError):
    """There is no handoff with that reference."""


class AlreadyClaimed(DeskError):
    """Another community manager owns the conversation."""


class HandoffClosed(DeskError):
    """The handoff was handed back already."""


class NotStaff(DeskError):
    """The person is not one of the configured community managers."""


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of a conversation as a desk shows it."""

    id: int
    at: datetime
    who: str  # citizen, assistant, staff, note, event
    name: str | None
    text: str
    kind: str = "message"  # message, or the event kind (requested, claimed, note, closed...)
    desk: str | None = None


@dataclass(frozen=True)
class EarlierHandoff:
    """A past handoff of the same conversation."""

    reference: str
    requested_at: datetime
    reason: str
    owner_name: str | None
    outcome: str | None
    rating: int | None


@dataclass(frozen=True)
class Summary:
    """What a community manager reads before answering."""

    reference: str
    status: str
    channel: str
    language: str
    reason: str
    detail: str | None
    requested_at: datetime
    waiting_minutes: int
    owner_name: str | None
    asked: tuple[str, ...]
    intents: tuple[tuple[str, int], ...]
    open_concerns: tuple[tuple[str, str, str], ...]  # reference, category, status
    earlier: tuple[EarlierHandoff, ...]

    def as_text(self, language: str = "en") -> str:
        """The summary as plain text, for the chat desks."""
        lines = [
            f"{self.reference} · {self.channel} · {self.language.upper()} · {self.reason}"
            + (f" ({self.detail})" if self.detail else ""),
            f"Waiting {self.waiting_minutes} min"
            + (f" · owner: {self.owner_name}" if self.owner_name else " · unclaimed"),
        ]
        if self.asked:
            lines.append("Asked: " + " | ".join(_short(text, 160) for text in self.asked))
        if self.intents:
            lines.append("Intents: " + ", ".join(f"{name} ×{n}" for name, n in self.intents))
        if self.open_concerns:
            lines.append(
                "Open concerns: "
                + ", ".join(f"{ref} ({cat}, {status})" for ref, cat, status in self.open_concerns)
            )
        if self.earlier:
            lines.append(
                "Earlier handoffs: "
                + ", ".join(
                    f"{e.reference} {e.requested_at.date().isoformat()} "
                    f"{e.outcome or 'open'}" + (f" {e.rating}/5" if e.rating else "")
                    for e in self.earlier
                )
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class QueueItem:
    """A conversation in the desk's queue."""

    reference: str
    status: str
    channel: str
    language: str
    reason: str
    requested_at: datetime
    waiting_minutes: int
    owner_name: str | None
    preview: str
    alert_count: int


class Desk:
    """Handoffs and the actions of community managers, on every desk."""

    def __init__(
        self,
        *,
        engine: Engine,
        schedule: DeskSchedule,
        hours_text: dict[str, str] | None = None,
        typical_wait_minutes: int = 30,
        alert_minutes: int = 15,
        staff_anonymous: bool = False,
        handoff_categories: Iterable[str] = ("health_safety",),
        emergency_number: str = "911",
        default_language: str = "fr",
    ) -> None:
        self._db = engine
        self.schedule = schedule
        self._hours_text = hours_text or {}
        self.typical_wait = timedelta(minutes=typical_wait_minutes)
        self.alert_after = timedelta(minutes=alert_minutes)
        self.staff_anonymous = staff_anonymous
        self.handoff_categories = frozenset(handoff_categories)
        self.emergency_number = emergency_number
        self._default_language = default_language
        self._listeners: list[Callable[[], None]] = []

    # --- wiring ------------------------------------------------------------------------------

    def on_change(self, wake: Callable[[], None]) -> None:
        """Calls `wake` whenever something the desks show has changed (relays, outboxes)."""
        self._listeners.append(wake)

    def changed(self) -> None:
        """Tells every listener that desks have something new to show."""
        for wake in self._listeners:
            try:
                wake()
            except Exception:
                # Broad on purpose: a listener that fails must not undo the citizen's turn.
                logger.exception("a desk listener failed")

    def session(self) -> Session:
        """A database session."""
        return Session(self._db, expire_on_commit=False)

    # --- the citizen's side ------------------------------------------------------------------

    def open_handoff(self, session: Session, conversation_id: int) -> Handoff | None:
        """The conversation's handoff that is not closed, if any."""
        return session.exec(
            select(Handoff).where(
                Handoff.conversation_id == conversation_id,
                Handoff.status != HandoffStatus.CLOSED,
            )
        ).first()

    def request(
        self,
        session: Session,
        conversation: Conversation,
        *,
        reason: str,
        message_id: int | None = None,
        detail: str | None = None,
        actor: str = "assistant",
    ) -> tuple[Handoff, bool]:
        """Asks a person to join; returns the handoff and whether it is new (a conversation
        has at most one open handoff: a second request joins the first)."""
        conversation_id = stored_id(conversation.id)
        existing = self.open_handoff(session, conversation_id)
        if existing is not None:
            return existing, False
        reference = repository.next_reference(
            session=session, prefix="H", year=utc_now().astimezone(self.schedule.calendar.zone).year
        )
        handoff = Handoff(
            reference=reference,
            conversation_id=conversation_id,
            message_id=message_id,
            reason=reason,
            detail=(detail or None) and detail[:200],
        )
        session.add(handoff)
        try:
            session.flush()
        except IntegrityError:
            # Another turn of the same conversation opened one a moment ago: join it.
            session.rollback()
            found = self.open_handoff(session, conversation_id)
            if found is None:
                raise
            return found, False
        self._event(session, handoff, actor=actor, kind="requested", text=detail or reason)
        session.commit()
        session.refresh(handoff)
        self.changed()
        return handoff, True

    def request_notice(
        self, handoff: Handoff, language: str, *, now: datetime | None = None
    ) -> str:
        """What the citizen is told when a person is asked to join."""
        why_key = {
            "urgent": "handoff_why_urgent",
            "negative": "handoff_why_negative",
            "not_understood": "handoff_why_not_understood",
            "category": "handoff_why_category",
        }.get(handoff.reason)
        why = ""
        if why_key is not None:
            category = CATEGORY_NAMES.get(handoff.detail or "", CATEGORY_NAMES["other"])[language]
            why = say(why_key, language, category=category)
        text = say("handoff_requested", language, why=why, when=self.when_text(language, now=now))
        if handoff.reason == "urgent":
            text = f"{say('handoff_emergency', language, number=self.emergency_number)} {text}"
        return text

    def when_text(self, language: str, *, now: datetime | None = None) -> str:
        """How long a person usually takes, or when the team is back."""
        moment = now or utc_now()
        if self.schedule.is_open(moment):
            return say(
                "handoff_when_open",
                language,
                minutes=int(self.usual_wait(moment).total_seconds() // 60) or 1,
            )
        opening = self.schedule.next_opening(moment)
        return say(
            "handoff_when_closed",
            language,
            hours=self._hours_text.get(language, ""),
            when=_local_datetime(opening, language),
        ).replace(" ()", "")

    def usual_wait(self, now: datetime | None = None) -> timedelta:
        """The median time to a claim over the last 30 days of handoffs requested while the
        desk was open (the configured typical wait when there are fewer than 5)."""
        moment = now or utc_now()
        with self.session() as session:
            rows = session.exec(
                select(Handoff.requested_at, Handoff.claimed_at).where(
                    col(Handoff.claimed_at).is_not(None),
                    Handoff.requested_at >= moment - timedelta(days=30),
                )
            ).all()
        waits = sorted(
            claimed - requested
            for requested, claimed in rows
            if claimed is not None and self.schedule.is_open(requested)
        )
        if len(waits) < 5:
            return self.typical_wait
        return max(timedelta(minutes=1), waits[len(waits) // 2])

    def citizen_wrote(
        self,
        session: Session,
        conversation: Conversation,
        handoff: Handoff,
        message_id: int,
        language: str,
    ) -> list[str]:
        """A citizen message during a handoff: kept for the desk (the assistant stays silent);
        returns what the citizen is told (a reminder while nobody has joined yet, at most
        every 30 minutes; nothing once a person is there). The message is marked for the desk
        with the reminder stored beside it, in one transaction (see
        `repository.answer_incoming`); the desks are then told."""
        texts: list[str] = []
        now = utc_now()
        if handoff.status == HandoffStatus.WAITING and (
            handoff.reminded_at is None or now - handoff.reminded_at >= REMIND_EVERY
        ):
            current = session.get(Handoff, handoff.id)
            if current is not None:
                current.reminded_at = now
                session.add(current)
            texts.append(
                say(
                    "handoff_still_waiting",
                    language,
                    reference=handoff.reference,
                    when=self.when_text(language, now=now),
                )
            )
        repository.answer_incoming(
            session=session,
            conversation=conversation,
            message_id=message_id,
            status=MessageStatus.FOR_DESK,
            intent=None,
            confidence=None,
            texts=texts,
            language=language,
        )
        self.changed()
        return texts

    def take_rating(self, session: Session, conversation_id: int, text: str) -> int | None:
        """Records the citizen's answer to "rate the help" (1 to 5) if it is one; the question
        stands until the next message or 24 hours."""
        handoff = session.exec(
            select(Handoff)
            .where(
                Handoff.conversation_id == conversation_id,
                Handoff.status == HandoffStatus.CLOSED,
                col(Handoff.rating_requested_at).is_not(None),
                col(Handoff.rating).is_(None),
            )
            .order_by(col(Handoff.id).desc())
        ).first()
        if handoff is None or handoff.rating_requested_at is None:
            return None
        asked, handoff.rating_requested_at = handoff.rating_requested_at, None
        match = _SCORE.match(text)
        if match is None or utc_now() - asked > RATING_WINDOW:
            session.add(handoff)  # not a rating: the question lapses, the message goes on
            session.commit()
            return None
        score = int(match.group(1))
        handoff.rating = score
        session.add(handoff)
        self._event(session, handoff, actor="citizen", kind="rated", text=str(score))
        session.commit()
        self.changed()
        return score

    # --- the desks' side ---------------------------------------------------------------------

    def queue(self, *, include_closed_since: datetime | None = None) -> list[QueueItem]:
        """Waiting and active handoffs, longest waiting first."""
        now = utc_now()
        with self.session() as session:
            query = select(Handoff, Conversation).join(
                Conversation, col(Conversation.id) == col(Handoff.conversation_id)
            )
            if include_closed_since is None:
                query = query.where(Handoff.status != HandoffStatus.CLOSED)
            else:
                query = query.where(
                    or_(
                        col(Handoff.status) != HandoffStatus.CLOSED,
                        col(Handoff.closed_at) >= include_closed_since,
                    )
                )
            rows = session.exec(query.order_by(col(Handoff.requested_at))).all()
            items = []
            for handoff, conversation in rows:
                last = session.exec(
                    select(Message.text)
                    .where(
                        Message.conversation_id == conversation.id,
                        Message.direction == Direction.INCOMING,
                    )
                    .order_by(col(Message.id).desc())
                ).first()
                items.append(
                    QueueItem(
                        reference=handoff.reference,
                        status=handoff.status,
                        channel=conversation.channel,
                        language=conversation.language or self._default_language,
                        reason=handoff.reason,
                        requested_at=handoff.requested_at,
                        waiting_minutes=_minutes(now - handoff.requested_at),
                        owner_name=handoff.owner_name,
                        preview=_short(last or "", 140),
                        alert_count=handoff.alert_count,
                    )
                )
        order = {HandoffStatus.WAITING: 0, HandoffStatus.ACTIVE: 1, HandoffStatus.CLOSED: 2}
        return sorted(items, key=lambda i: (order.get(HandoffStatus(i.status), 3), i.requested_at))

    def for_review(self, *, limit: int = 50) -> list[tuple[str, str, datetime, str]]:
        """Open requests for a look by a person that did not silence the assistant (a photo, a
        message the engine could not take...): (conversation public id, reason, when, channel)."""
        with self.session() as session:
            rows = session.exec(
                select(HumanRequest, Conversation)
                .join(Conversation, col(Conversation.id) == col(HumanRequest.conversation_id))
                .where(HumanRequest.status == "open")
                .order_by(col(HumanRequest.created_at).desc())
                .limit(limit)
            ).all()
        return [(c.public_id, r.reason, r.created_at, c.channel) for r, c in rows]

    def get(self, session: Session, reference: str) -> Handoff:
        """The handoff with this reference.

        Raises:
            NoSuchHandoff: when there is none.
        """
        handoff = session.exec(
            select(Handoff).where(Handoff.reference == reference.strip().upper())
        ).first()
        if handoff is None:
            raise NoSuchHandoff(f"There is no handoff {reference.strip()}.")
        return handoff

    def summary(self, session: Session, handoff: Handoff) -> Summary:
        """What the community manager reads before answering."""
        conversation = session.get(Conversation, handoff.conversation_id)
        assert conversation is not None
        incoming = session.exec(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.INCOMING,
            )
            .order_by(col(Message.id))
        ).all()
        intents = Counter(m.intent for m in incoming if m.intent)
        asked = [m.text for m in incoming if m.text.strip()][-3:]
        concerns = session.exec(
            select(Concern)
            .where(
                Concern.conversation_id == conversation.id,
                Concern.status != "closed",
            )
            .order_by(col(Concern.id))
        ).all()
        earlier = session.exec(
            select(Handoff)
            .where(Handoff.conversation_id == conversation.id, Handoff.id != handoff.id)
            .order_by(col(Handoff.id).desc())
            .limit(5)
        ).all()
        return Summary(
            reference=handoff.reference,
            status=handoff.status,
            channel=conversation.channel,
            language=conversation.language or self._default_language,
            reason=handoff.reason,
            detail=handoff.detail,
            requested_at=handoff.requested_at,
            waiting_minutes=_minutes(utc_now() - handoff.requested_at),
            owner_name=handoff.owner_name,
            asked=tuple(asked),
            intents=tuple(intents.most_common(6)),
            open_concerns=tuple((c.reference, c.category, c.status) for c in concerns),
            earlier=tuple(
                EarlierHandoff(
                    reference=e.reference,
                    requested_at=e.requested_at,
                    reason=e.reason,
                    owner_name=e.owner_name,
                    outcome=e.outcome,
                    rating=e.rating,
                )
                for e in earlier
            ),
        )

    def transcript(
        self,
        session: Session,
        handoff: Handoff,
        *,
        after_message: int = 0,
        after_event: int = 0,
        limit: int = 200,
    ) -> tuple[list[TranscriptEntry], list[TranscriptEntry]]:
        """The conversation's messages after `after_message` and this handoff's events (notes,
        claims...) after `after_event`, oldest first; each list at most `limit` long."""
        messages = session.exec(
            select(Message)
            .where(
                Message.conversation_id == handoff.conversation_id, col(Message.id) > after_message
            )
            .order_by(col(Message.id))
            .limit(limit)
        ).all()
        events = session.exec(
            select(HandoffEvent)
            .where(
                col(HandoffEvent.handoff_id).in_(
                    select(Handoff.id).where(Handoff.conversation_id == handoff.conversation_id)
                ),
                col(HandoffEvent.id) > after_event,
            )
            .order_by(col(HandoffEvent.id))
            .limit(limit)
        ).all()
        return [self._line(m) for m in messages], [
            TranscriptEntry(
                id=stored_id(e.id),
                at=e.at,
                who="note" if e.kind == "note" else "event",
                name=e.actor_name,
                text=e.text or "",
                kind=e.kind,
                desk=e.desk,
            )
            for e in events
        ]

    def take_over(self, session: Session, conversation_id: int, staff: StaffMember) -> Handoff:
        """A community manager steps in on their own initiative: opens a handoff (or joins the
        open one) and claims it."""
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise DeskError(f"There is no conversation {conversation_id}.")
        handoff, _ = self.request(
            session, conversation, reason="staff", detail=staff.name, actor=staff.key
        )
        if handoff.status == HandoffStatus.WAITING:
            handoff = self.claim(session, handoff.reference, staff)
        elif handoff.owner != staff.key:
            raise AlreadyClaimed(f"{handoff.owner_name} already owns {handoff.reference}.")
        # What was waiting for a look in this conversation is now in a person's hands.
        self._settle_reviews(session, conversation_id, "taken_over", staff)
        return handoff

    def dismiss_review(self, session: Session, conversation_id: int, staff: StaffMember) -> int:
        """A community manager looked at what the assistant could not take in a conversation
        (a photo, a danger in a group...) and needs to do nothing more: it leaves the list.
        Returns how many requests were settled."""
        if session.get(Conversation, conversation_id) is None:
            raise DeskError(f"There is no conversation {conversation_id}.")
        return self._settle_reviews(session, conversation_id, "dismissed", staff)

    def _settle_reviews(
        self, session: Session, conversation_id: int, status: str, staff: StaffMember
    ) -> int:
        requests = session.exec(
            select(HumanRequest).where(
                HumanRequest.conversation_id == conversation_id, HumanRequest.status == "open"
            )
        ).all()
        for request in requests:
            request.status = status
            session.add(request)
            session.add(
                AuditEntry(
                    actor=staff.key,
                    action=f"desk.review_{status}",
                    detail={
                        "human_request": request.id,
                        "reason": request.reason,
                        "desk": staff.desk,
                    },
                )
            )
        session.commit()
        return len(requests)

    def claim(self, session: Session, reference: str, staff: StaffMember) -> Handoff:
        """Makes `staff` the one owner of the conversation; the citizen is told a person joined.

        Raises:
            AlreadyClaimed: someone else owns it (two clicks at once: exactly one wins).
            HandoffClosed: it was handed back already.
        """
        handoff = self.get(session, reference)
        if handoff.status == HandoffStatus.ACTIVE and handoff.owner == staff.key:
            return handoff
        now = utc_now()
        won = session.execute(
            update(Handoff)
            .where(col(Handoff.id) == handoff.id, col(Handoff.status) == HandoffStatus.WAITING)
            .values(
                status=HandoffStatus.ACTIVE,
                owner=staff.key,
                owner_name=staff.name,
                claimed_at=now,
            )
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            session.refresh(handoff)
            self._audit(session, staff, "desk.claim_refused", handoff)
            session.commit()
            if handoff.status == HandoffStatus.CLOSED:
                raise HandoffClosed(f"{handoff.reference} was handed back already.")
            raise AlreadyClaimed(f"{handoff.owner_name} already owns {handoff.reference}.")
        self._event(
            session, handoff, actor=staff.key, name=staff.name, desk=staff.desk, kind="claimed"
        )
        self._audit(session, staff, "desk.claim", handoff)
        session.commit()
        session.refresh(handoff)
        self._tell_citizen(session, handoff, "handoff_joined", staff)
        self.changed()
        return handoff

    def release(self, session: Session, reference: str, staff: StaffMember) -> Handoff:
        """The owner puts the conversation back in the queue (the assistant stays silent)."""
        handoff = self._owned(session, reference, staff)
        handoff.status, handoff.owner, handoff.owner_name = HandoffStatus.WAITING, None, None
        handoff.claimed_at = None
        session.add(handoff)
        self._event(
            session, handoff, actor=staff.key, name=staff.name, desk=staff.desk, kind="released"
        )
        self._audit(session, staff, "desk.release", handoff)
        session.commit()
        self.changed()
        return handoff

    def reply(self, session: Session, reference: str, staff: StaffMember, text: str) -> int:
        """Sends the community manager's words to the citizen on their channel; returns the
        stored message id. An unclaimed conversation is claimed by whoever answers first.

        Raises:
            AlreadyClaimed: someone else owns it.
            HandoffClosed: it was handed back already.
        """
        body = text.strip()
        if not body:
            raise DeskError("An empty answer is not sent.")
        handoff = self._owned(session, reference, staff, claim_if_waiting=True)
        conversation = session.get(Conversation, handoff.conversation_id)
        assert conversation is not None
        language = conversation.language or self._default_language
        shown = say("staff_says", language, name=self.shown_name(staff, language), text=body)
        ids = send_to_conversation(
            session=session,
            conversation=conversation,
            texts=[shown],
            language=language,
            author=staff.key,
        )
        self._audit(session, staff, "desk.reply", handoff, message_id=ids[0] if ids else None)
        session.commit()
        self.changed()
        return ids[0]

    def note(self, session: Session, reference: str, staff: StaffMember, text: str) -> None:
        """An internal note on the handoff: the team sees it on every desk, the citizen never."""
        body = text.strip()
        if not body:
            raise DeskError("An empty note is not kept.")
        handoff = self.get(session, reference)
        self._event(
            session,
            handoff,
            actor=staff.key,
            name=staff.name,
            desk=staff.desk,
            kind="note",
            text=body,
        )
        self._audit(session, staff, "desk.note", handoff)
        session.commit()
        self.changed()

    def close(
        self,
        session: Session,
        reference: str,
        staff: StaffMember,
        *,
        outcome: str = "resolved",
        ask_rating: bool = True,
    ) -> Handoff:
        """Hands the conversation back to the assistant and records the outcome; the citizen
        is told who left and, if `ask_rating`, asked to rate the help (1 to 5, optional).

        Raises:
            AlreadyClaimed: someone else owns it.
            HandoffClosed: it was handed back already.
        """
        if outcome not in OUTCOMES:
            raise DeskError(f"The outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}.")
        handoff = self._owned(session, reference, staff, claim_if_waiting=True)
        now = utc_now()
        done = session.execute(
            update(Handoff)
            .where(col(Handoff.id) == handoff.id, col(Handoff.status) == HandoffStatus.ACTIVE)
            .values(
                status=HandoffStatus.CLOSED,
                closed_at=now,
                closed_by=staff.key,
                outcome=outcome,
                rating_requested_at=now if ask_rating else None,
            )
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise HandoffClosed(f"{handoff.reference} was handed back already.")
        self._event(
            session,
            handoff,
            actor=staff.key,
            name=staff.name,
            desk=staff.desk,
            kind="closed",
            text=outcome,
        )
        self._audit(session, staff, "desk.close", handoff, outcome=outcome)
        session.commit()
        session.refresh(handoff)
        self._tell_citizen(session, handoff, "handoff_left", staff, rating=ask_rating)
        self.changed()
        return handoff

    def refuse(self, *, desk: str, who: str, action: str, why: str) -> None:
        """Writes a refused desk action (not staff, not the owner...) to the audit trail."""
        with self.session() as session:
            session.add(
                AuditEntry(
                    actor=f"{desk}:{who}"[:120],
                    action="desk.refused",
                    detail={"desk": desk, "action": action[:60], "why": why[:200]},
                )
            )
            session.commit()

    def delivery_failed(self, session: Session, message_id: int, error: str) -> None:
        """A staff message could not reach the citizen (blocked bot, gone chat): the desks see it."""
        message = session.get(Message, message_id)
        if message is None or not (message.author or "").startswith("staff:"):
            return
        handoff = session.exec(
            select(Handoff)
            .where(Handoff.conversation_id == message.conversation_id)
            .order_by(col(Handoff.id).desc())
        ).first()
        if handoff is None:
            return
        self._event(
            session,
            handoff,
            actor="system",
            kind="undelivered",
            text=error[:300],
            message_id=message_id,
        )
        session.commit()
        self.changed()

    def alerts_due(self, *, now: datetime | None = None) -> list[Handoff]:
        """Waiting handoffs older than the alert time and not alerted since, while the desk is
        open; marks them alerted (each is alerted again after the same time)."""
        moment = now or utc_now()
        if not self.schedule.is_open(moment):
            return []
        due_before = moment - self.alert_after
        with self.session() as session:
            candidates = session.exec(
                select(Handoff).where(
                    Handoff.status == HandoffStatus.WAITING,
                    Handoff.requested_at <= due_before,
                    or_(col(Handoff.alerted_at).is_(None), col(Handoff.alerted_at) <= due_before),
                )
            ).all()
            alerted: list[Handoff] = []
            for handoff in candidates:
                won = session.execute(
                    update(Handoff)
                    .where(
                        col(Handoff.id) == handoff.id, col(Handoff.alerted_at) == handoff.alerted_at
                    )
                    .values(alerted_at=moment, alert_count=col(Handoff.alert_count) + 1)
                )
                if won.rowcount == 1:  # type: ignore[attr-defined]
                    self._event(
                        session,
                        handoff,
                        actor="system",
                        kind="alert",
                        text=f"waiting {_minutes(moment - handoff.requested_at)} min",
                    )
                    alerted.append(handoff)
            session.commit()
            for handoff in alerted:
                session.refresh(handoff)
        if alerted:
            self.changed()
        return alerted

    def shown_name(self, staff: StaffMember, language: str) -> str:
        """How the citizen sees the community manager: first name, or anonymously."""
        if self.staff_anonymous or not staff.name.strip():
            return say("team_member", language)
        return staff.name.strip().split()[0]

    # --- inside ------------------------------------------------------------------------------

    def _owned(
        self,
        session: Session,
        reference: str,
        staff: StaffMember,
        *,
        claim_if_waiting: bool = False,
    ) -> Handoff:
        """The handoff, if `staff` owns it (claimed for them first if nobody has yet, with
        `claim_if_waiting`: whoever answers first owns the conversation)."""
        handoff = self.get(session, reference)
        if claim_if_waiting and handoff.status == HandoffStatus.WAITING:
            self.claim(session, reference, staff)
        session.refresh(handoff)
        if handoff.status == HandoffStatus.CLOSED:
            raise HandoffClosed(f"{handoff.reference} was handed back already.")
        if handoff.owner != staff.key:
            self._audit(session, staff, "desk.not_owner", handoff)
            session.commit()
            owner = handoff.owner_name or "nobody"
            raise AlreadyClaimed(f"{owner} owns {handoff.reference}; only they can do that.")
        return handoff

    def _tell_citizen(
        self,
        session: Session,
        handoff: Handoff,
        key: str,
        staff: StaffMember,
        *,
        rating: bool = False,
    ) -> None:
        conversation = session.get(Conversation, handoff.conversation_id)
        if conversation is None or conversation.erased_at is not None:
            return
        language = conversation.language or self._default_language
        name = self.shown_name(staff, language)
        texts = [say(key, language, name=name)]
        if rating:
            texts.append(say("handoff_rate", language))
        send_to_conversation(
            session=session, conversation=conversation, texts=texts, language=language
        )

    def _event(
        self,
        session: Session,
        handoff: Handoff,
        *,
        actor: str,
        kind: str,
        name: str | None = None,
        desk: str | None = None,
        text: str | None = None,
        message_id: int | None = None,
    ) -> None:
        session.add(
            HandoffEvent(
                handoff_id=stored_id(handoff.id),
                actor=actor,
                actor_name=name,
                desk=desk,
                kind=kind,
                text=text,
                message_id=message_id,
            )
        )

    def _audit(
        self, session: Session, staff: StaffMember, action: str, handoff: Handoff, **detail: object
    ) -> None:
        session.add(
            AuditEntry(
                actor=staff.key,
                action=action,
                detail={"handoff": handoff.reference, "desk": staff.desk, **detail},
            )
        )

    @staticmethod
    def _line(message: Message) -> TranscriptEntry:
        if message.direction == Direction.INCOMING:
            who = "citizen"
        elif message.author and message.author.startswith("staff:"):
            who = "staff"
        else:
            who = "assistant"
        return TranscriptEntry(
            id=stored_id(message.id),
            at=message.created_at,
            who=who,
            name=message.author,
            text=message.text,
            desk=message.author.split(":")[1] if who == "staff" and message.author else None,
        )


def misunderstood_twice(session: Session, conversation_id: int) -> bool:
    """Whether the assistant failed to understand the citizen's last two messages in a row."""
    last_two = session.exec(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INCOMING,
            col(Message.edit_of).is_(None),
        )
        .order_by(col(Message.id).desc())
        .limit(2)
    ).all()
    if len(last_two) < 2:
        return False
    missed = session.exec(
        select(UnansweredQuestion.message_id).where(
            col(UnansweredQuestion.message_id).in_(last_two),
            col(UnansweredQuestion.reason).in_(("low_confidence", "out_of_scope")),
        )
    ).all()
    return set(missed) >= set(last_two)


def parse_outcome(words: Sequence[str]) -> tuple[str, bool]:
    """(outcome, ask rating) from a chat desk's close command: ``/close unresolved norating``."""
    outcome, ask_rating = "resolved", True
    for word in (w.lower().strip() for w in words):
        if word in ("resolved", "resolu", "résolu", "ok"):
            outcome = "resolved"
        elif word in ("unresolved", "nonresolu", "non-résolu", "non-resolu"):
            outcome = "unresolved"
        elif word in ("norating", "no-rating", "sansnote", "sans-note"):
            ask_rating = False
        elif word:
            raise DeskError(
                f"Unknown word {word!r}: write /close [resolved|unresolved] [norating]."
            )
    return outcome, ask_rating


def _local_datetime(moment: datetime, language: str) -> str:
    if language == "fr":
        return moment.strftime("%Y-%m-%d à %H h %M").replace(" h 00", " h")
    return moment.strftime("%Y-%m-%d at %H:%M")


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
