"""The concern register's operations, for the chat (citizens) and for the team (CLI, desk).

Every change of a concern appends a `ConcernEvent` (who, when, from which status to which);
the database refuses to rewrite that history. Status changes are conditional updates
(`... WHERE status = <the status read>`), so two people or processes acting at once never
lose a transition: the second one is told the concern moved meanwhile.

The lifecycle follows common practice for project grievance mechanisms (IFC PS1):
received (logged, reference and reply-by date given to the citizen) → acknowledged (a
person took it up, within `acknowledge_days` business days) → in review → responded
(within `respond_days` business days) → closed (resolved, unresolved or withdrawn); the
citizen may accept the closure or appeal, which reopens it in review.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.common.calendar import BusinessCalendar
from bot.common.categories import CATEGORIES as CONCERN_CATEGORIES
from bot.common.ids import stored_id
from bot.common.phrases import OUTCOME_NAMES, say
from bot.common.text import MAX_ENGINE_CHARS, fold, words
from bot.outbox.outbound import send_to_conversation
from bot.register.filters import ConcernFilter
from bot.storage import repository
from bot.storage.models import (
    Concern,
    ConcernEvent,
    ConcernKind,
    ConcernOutcome,
    ConcernStatus,
    Conversation,
    utc_now,
)

logger = logging.getLogger(__name__)

OPEN_STATUSES = (
    ConcernStatus.RECEIVED,
    ConcernStatus.ACKNOWLEDGED,
    ConcernStatus.IN_REVIEW,
    ConcernStatus.RESPONDED,
)
TRANSITIONS: dict[ConcernStatus, frozenset[ConcernStatus]] = {
    ConcernStatus.RECEIVED: frozenset(
        {
            ConcernStatus.ACKNOWLEDGED,
            ConcernStatus.IN_REVIEW,
            ConcernStatus.RESPONDED,
            ConcernStatus.CLOSED,
        }
    ),
    ConcernStatus.ACKNOWLEDGED: frozenset(
        {ConcernStatus.IN_REVIEW, ConcernStatus.RESPONDED, ConcernStatus.CLOSED}
    ),
    ConcernStatus.IN_REVIEW: frozenset({ConcernStatus.RESPONDED, ConcernStatus.CLOSED}),
    ConcernStatus.RESPONDED: frozenset({ConcernStatus.IN_REVIEW, ConcernStatus.CLOSED}),
    ConcernStatus.CLOSED: frozenset({ConcernStatus.IN_REVIEW}),  # an appeal reopens it
}
SEVERITIES = ("low", "medium", "high")
# A new message on the same subject within this time is added to the open concern.
SAME_CONCERN_WINDOW = timedelta(days=30)

REFERENCE = re.compile(r"\b[cC]-?(\d{4})-?(\d{1,6})\b")
_SEVERE_WORDS = {
    "danger",
    "dangereux",
    "dangereuse",
    "dangerous",
    "urgent",
    "urgence",
    "emergency",
    "blesse",
    "blessee",
    "injured",
    "accident",
    "contamine",
    "contaminee",
    "contaminated",
    "fissure",
    "fissures",
    "crack",
    "cracked",
    "malade",
    "sick",
    "menace",
    "threat",
    "sante",
    "health",
    "enfant",
    "enfants",
    "children",
    "child",
}
_CONFIDENTIAL = re.compile(
    r"\b(confidenti\w*|anonym\w*|en prive|keep (this|it) private|ne (le )?dites a personne|"
    r"sans (divulguer|mon nom)|don'?t (share|tell)|do not (share|tell))"
)
# Every part of a place name is bounded: an unbounded `[\w'-]*` made "A-A-A-..." (9,000 times)
# backtrack from every letter, stalling the turn for seconds (quadratic).
_NAME = r"(?:[A-ZÀ-Ý][\w'-]{0,30}|\d{1,6}[A-Za-z]?)"
_PLACE = re.compile(
    # French order: "rang Saint-Joseph", "chemin du Lac-Vert", "lot 12"
    r"\b((?i:chemin|ch\.|rang|route|rte|rue|boulevard|boul\.|mont[ée]e|avenue|av\.|lac|"
    r"rivi[èe]re|ruisseau|lot|concession)"
    r"(?:\s{1,3}(?i:du|de la|de l'|des|de|d'|la|le|no\.?|n°))?"
    rf"(?:\s{{1,3}}{_NAME}){{1,4}})"
    # English order: "Miller Road", "Lake Memphremagog"
    rf"|\b((?:[A-Z][\w'-]{{0,30}}\s{{1,3}}){{1,3}}(?:Road|Rd\.?|Street|St\.|Avenue|Lake|River|Creek)\b)"
)


class RegisterError(Exception):
    """A register operation cannot be done; the message is one sentence saying why."""


class ConcernNotFound(RegisterError):
    """No concern has this reference."""


class TransitionRefused(RegisterError):
    """The concern is not in a status from which this change is allowed."""


class StaleConcern(TransitionRefused):
    """Someone changed the concern since the version the person acted on: nothing was done."""


@dataclass(frozen=True)
class Recorded:
    """What recording a concern did: a new one, or a detail added to an open one."""

    concern: Concern
    attached: bool


class Register:
    """The grievance register over the database."""

    def __init__(
        self,
        *,
        engine: Engine,
        calendar: BusinessCalendar,
        acknowledge_days: int = 2,
        respond_days: int = 21,
        objection_respond_days: int = 30,
    ) -> None:
        self._db = engine
        self.calendar = calendar
        self.acknowledge_days = acknowledge_days
        self.respond_days = respond_days
        self.objection_respond_days = objection_respond_days

    def respond_days_for(self, kind: str) -> int:
        """Business days the team has to answer a concern of this kind."""
        return self.objection_respond_days if kind == ConcernKind.OBJECTION else self.respond_days

    @property
    def engine(self) -> Engine:
        """The register's database."""
        return self._db

    def session(self) -> Session:
        """A database session for the register."""
        return Session(self._db, expire_on_commit=False)

    # --- citizens, through the chat -------------------------------------------------------

    def record(
        self,
        *,
        session: Session,
        conversation: Conversation,
        message_id: int | None,
        text: str,
        language: str,
        category: str,
        kind: str = ConcernKind.GRIEVANCE,
    ) -> Recorded:
        """Records what a citizen said as a concern of `kind` (grievance or objection), or adds
        it to their open concern on the same subject (received in the last 30 days) instead of
        opening a duplicate."""
        kind = ConcernKind(kind)
        if message_id is not None:
            already = repository.concern_of_message(session=session, message_id=message_id)
            if already is not None:  # a retried turn
                return Recorded(concern=already, attached=False)
            attached = self._attached_to(session, message_id)
            if attached is not None:
                return Recorded(concern=attached, attached=True)
        open_one = self._open_concern_on(session, conversation, category)
        if open_one is not None:
            self._append(
                session,
                open_one,
                actor="citizen",
                kind="detail",
                text=text,
                visible=True,
                message_id=message_id,
            )
            session.commit()
            return Recorded(concern=open_one, attached=True)
        received = utc_now()
        concern, new = repository.add_concern(
            session=session,
            conversation=conversation,
            message_id=message_id,
            category=category,
            language=language,
            text=text,
            received_at=received,
            citizen_id=conversation.citizen_id,
            kind=kind,
            place=find_place(text),
            severity=severity_of(text, category),
            confidential=asks_confidentiality(text),
            acknowledge_by=self.calendar.add_business_days(received, self.acknowledge_days),
            respond_by=self.calendar.add_business_days(received, self.respond_days_for(kind)),
        )
        if not new:
            return Recorded(concern=concern, attached=False)  # another turn recorded it first
        self._append(
            session,
            concern,
            actor="citizen",
            kind="received",
            to_status=ConcernStatus.RECEIVED,
            text=text,
            visible=True,
            message_id=message_id,
        )
        session.commit()
        session.refresh(concern)
        logger.info("concern %s recorded (%s, %s)", concern.reference, kind, category)
        return Recorded(concern=concern, attached=False)

    def of_citizen(self, *, session: Session, conversation: Conversation) -> list[Concern]:
        """The concerns this citizen raised on this platform (any of their conversations)."""
        return repository.concerns_of_citizen(session=session, conversation=conversation)

    def latest_response(self, *, session: Session, concern: Concern) -> ConcernEvent | None:
        """The team's last answer the citizen was sent, if any."""
        return session.exec(
            select(ConcernEvent)
            .where(ConcernEvent.concern_id == concern.id, ConcernEvent.kind == "response")
            .order_by(col(ConcernEvent.id).desc())
        ).first()

    def citizen_follow_up(
        self, *, session: Session, conversation: Conversation, text: str
    ) -> list[tuple[str, str]] | None:
        """Withdraw, accept a closure or appeal, when the message names one of the citizen's
        own concerns and says which (e.g. "je retire C-2026-0042", "I appeal C-2026-0042").

        Returns:
            (reference, outcome) pairs, the outcome being "withdraw", "appeal", "accept",
            "<that>_refused" or "not_yours"; None when the message is not such a request.
        """
        references = {f"C-{y}-{int(n):04d}" for y, n in REFERENCE.findall(text)}
        action = _follow_up_action(text)
        if not references or action is None:
            return None
        own = {c.reference: c for c in self.of_citizen(session=session, conversation=conversation)}
        done: list[tuple[str, str]] = []
        for reference in sorted(references):
            concern = own.get(reference)
            if concern is None:
                done.append((reference, "not_yours"))
                continue
            try:
                if action == "withdraw":
                    self._change(
                        session,
                        concern,
                        ConcernStatus.CLOSED,
                        actor="citizen",
                        outcome=ConcernOutcome.WITHDRAWN,
                        text=text,
                    )
                elif action == "appeal":
                    self._change(
                        session, concern, ConcernStatus.IN_REVIEW, actor="citizen", text=text
                    )
                else:
                    if concern.status != ConcernStatus.CLOSED:
                        raise TransitionRefused("not closed")
                    self._append(
                        session, concern, actor="citizen", kind="accepted", text=text, visible=True
                    )
                    session.commit()
                done.append((reference, action))
            except TransitionRefused:
                done.append((reference, f"{action}_refused"))
        return done

    # --- the team -------------------------------------------------------------------------

    def get(self, reference: str) -> Concern:
        """The concern with this reference.

        Raises:
            ConcernNotFound: when there is none.
        """
        with self.session() as session:
            return self._get(session, reference)

    def history(self, reference: str) -> list[ConcernEvent]:
        """Everything that happened to a concern, oldest first."""
        with self.session() as session:
            concern = self._get(session, reference)
            return list(
                session.exec(
                    select(ConcernEvent)
                    .where(ConcernEvent.concern_id == concern.id)
                    .order_by(col(ConcernEvent.id))
                )
            )

    def find(self, selection: ConcernFilter | None = None, limit: int = 200) -> list[Concern]:
        """Concerns matching `selection`, newest first."""
        with self.session() as session:
            query = (
                (selection or ConcernFilter())
                .apply(select(Concern))
                .order_by(col(Concern.received_at).desc(), col(Concern.id).desc())
            )
            return list(session.exec(query.limit(limit)))

    def overdue(self, today: date | None = None) -> list[tuple[Concern, str]]:
        """Open concerns past a deadline: ("acknowledge", ...) or ("respond", ...), oldest
        deadline first."""
        day = today or self.calendar.today()
        with self.session() as session:
            late_ack = session.exec(
                select(Concern).where(
                    Concern.status == ConcernStatus.RECEIVED,
                    col(Concern.acknowledge_by) < day,
                )
            ).all()
            late_answer = session.exec(
                select(Concern).where(
                    col(Concern.status).in_(
                        [
                            ConcernStatus.RECEIVED,
                            ConcernStatus.ACKNOWLEDGED,
                            ConcernStatus.IN_REVIEW,
                        ]
                    ),
                    col(Concern.respond_by) < day,
                )
            ).all()
        found = [(c, "respond") for c in late_answer] + [
            (c, "acknowledge") for c in late_ack if c not in late_answer
        ]
        return sorted(found, key=lambda item: (_deadline(*item), item[0].reference))

    def acknowledge(
        self, reference: str, *, actor: str, message: str | None = None, seen: int | None = None
    ) -> Concern:
        """A person of the team takes the concern up (the citizen is told)."""
        with self.session() as session:
            concern = self._get(session, reference)
            self._change(
                session,
                concern,
                ConcernStatus.ACKNOWLEDGED,
                actor=actor,
                text=message,
                seen=seen,
                commit=False,
            )
            self._tell(
                session,
                concern,
                say(
                    "concern_acknowledged",
                    concern.language,
                    reference=concern.reference,
                    date=_day(concern.respond_by),
                ),
                message,
            )
            return concern

    def start_review(self, reference: str, *, actor: str, note: str | None = None) -> Concern:
        """The concern is being looked into (internal: the citizen is not told)."""
        with self.session() as session:
            concern = self._get(session, reference)
            self._change(session, concern, ConcernStatus.IN_REVIEW, actor=actor, text=note)
            return concern

    def respond(self, reference: str, *, actor: str, text: str, seen: int | None = None) -> Concern:
        """Sends the team's answer to the citizen, on their channel, and records it."""
        if not text.strip():
            raise RegisterError("A response needs a text.")
        with self.session() as session:
            concern = self._get(session, reference)
            self._change(
                session, concern, ConcernStatus.RESPONDED, actor=actor, seen=seen, commit=False
            )
            self._append(session, concern, actor=actor, kind="response", text=text, visible=True)
            self._tell(
                session,
                concern,
                say("concern_response", concern.language, reference=concern.reference),
                text,
            )
            return concern

    def close(
        self,
        reference: str,
        *,
        actor: str,
        outcome: str,
        message: str | None = None,
        seen: int | None = None,
    ) -> Concern:
        """Closes the concern (resolved, unresolved or withdrawn) and tells the citizen how to
        accept or appeal."""
        try:
            ending = ConcernOutcome(outcome)
        except ValueError as exc:
            choices = ", ".join(o.value for o in ConcernOutcome)
            raise RegisterError(f"The outcome must be one of {choices}.") from exc
        with self.session() as session:
            concern = self._get(session, reference)
            self._change(
                session,
                concern,
                ConcernStatus.CLOSED,
                actor=actor,
                outcome=ending,
                text=message,
                seen=seen,
                commit=False,
            )
            self._tell(
                session,
                concern,
                say(
                    "concern_closed",
                    concern.language,
                    reference=concern.reference,
                    outcome=OUTCOME_NAMES[ending][concern.language],
                ),
                message,
            )
            return concern

    def reopen(
        self, reference: str, *, actor: str, reason: str, seen: int | None = None
    ) -> Concern:
        """Reopens a closed concern (an appeal received another way, or a mistake)."""
        with self.session() as session:
            concern = self._get(session, reference)
            self._change(
                session, concern, ConcernStatus.IN_REVIEW, actor=actor, text=reason, seen=seen
            )
            return concern

    def assign(
        self, reference: str, *, actor: str, assignee: str, seen: int | None = None
    ) -> Concern:
        """Gives the concern to a person of the team ("" takes it back from anyone)."""
        with self.session() as session:
            concern = self._get(session, reference)
            who = assignee.strip() or None
            self._update(session, concern, seen, assignee=who)
            self._append(session, concern, actor=actor, kind="assignment", text=who)
            session.commit()
            return concern

    def classify(
        self,
        reference: str,
        *,
        actor: str,
        category: str | None = None,
        severity: str | None = None,
        seen: int | None = None,
    ) -> Concern:
        """Changes the category or the severity; the history keeps the old value."""
        if category is not None and category not in CONCERN_CATEGORIES:
            raise RegisterError(f"{category!r} is not a concern category.")
        if severity is not None and severity not in SEVERITIES:
            raise RegisterError(f"The severity must be one of {', '.join(SEVERITIES)}.")
        with self.session() as session:
            concern = self._get(session, reference)
            changes = {
                name: (getattr(concern, name), value)
                for name, value in (("category", category), ("severity", severity))
                if value is not None and value != getattr(concern, name)
            }
            if not changes:
                return concern
            self._update(session, concern, seen, **{k: new for k, (_, new) in changes.items()})
            said = "; ".join(f"{name}: {old} → {new}" for name, (old, new) in changes.items())
            self._append(session, concern, actor=actor, kind="classification", text=said)
            session.commit()
            return concern

    def note(self, reference: str, *, actor: str, text: str) -> Concern:
        """An internal note (never shown to the citizen)."""
        with self.session() as session:
            concern = self._get(session, reference)
            self._append(session, concern, actor=actor, kind="note", text=text)
            session.commit()
            return concern

    def set_confidential(self, reference: str, *, actor: str, confidential: bool) -> Concern:
        """Marks whether the citizen asked that the concern stay confidential."""
        with self.session() as session:
            concern = self._get(session, reference)
            concern.confidential = confidential
            session.add(concern)
            self._append(
                session,
                concern,
                actor=actor,
                kind="note",
                text="confidential" if confidential else "not confidential",
            )
            session.commit()
            return concern

    # --- inside ---------------------------------------------------------------------------

    def _get(self, session: Session, reference: str) -> Concern:
        wanted = reference.strip().upper()
        found = session.exec(select(Concern).where(Concern.reference == wanted)).first()
        if found is None:
            raise ConcernNotFound(f"There is no concern {wanted}.")
        return found

    def _change(
        self,
        session: Session,
        concern: Concern,
        to: ConcernStatus,
        *,
        actor: str,
        outcome: ConcernOutcome | None = None,
        text: str | None = None,
        seen: int | None = None,
        commit: bool = True,
    ) -> None:
        """Moves the concern to `to`, if allowed from where it is and nobody moved it first
        (nor, with `seen`, changed it in any way since that version was read). Without
        `commit`, the caller commits (with what the citizen is told: see `_tell`)."""
        current = ConcernStatus(concern.status)
        if to not in TRANSITIONS[current]:
            raise TransitionRefused(
                f"Concern {concern.reference} is {current.value}; it cannot become {to.value}."
            )
        now = utc_now()
        values: dict[str, object] = {"status": to.value, "updated_at": now}
        if concern.acknowledged_at is None and to is not ConcernStatus.CLOSED:
            values["acknowledged_at"] = now  # taking it up in any way acknowledges it
        if to is ConcernStatus.RESPONDED:
            values["responded_at"] = now
        if to is ConcernStatus.CLOSED:
            values.update(closed_at=now, outcome=outcome.value if outcome else None)
        if current is ConcernStatus.CLOSED:
            # An appeal is a new review: it gets its own reply-by date and awaits an answer.
            values.update(
                closed_at=None,
                outcome=None,
                responded_at=None,
                respond_by=self.calendar.add_business_days(
                    now, self.respond_days_for(concern.kind)
                ),
            )
        if seen is not None and concern.version != seen:
            raise _stale(concern)
        moved = session.execute(
            update(Concern)
            .where(
                col(Concern.id) == concern.id,
                col(Concern.status) == current.value,
                *([col(Concern.version) == seen] if seen is not None else []),
            )
            .values(version=col(Concern.version) + 1, **values)
        )
        if getattr(moved, "rowcount", 1) != 1:
            session.rollback()
            if seen is not None:
                raise _stale(concern)  # a colleague's change raced ours past the check above
            raise TransitionRefused(
                f"Concern {concern.reference} changed meanwhile; look at it again."
            )
        kind = "appeal" if current is ConcernStatus.CLOSED and actor == "citizen" else "transition"
        self._append(
            session,
            concern,
            actor=actor,
            kind=kind,
            from_status=current,
            to_status=to,
            text=text,
            visible=actor == "citizen",
        )
        if commit:
            session.commit()
        else:
            session.flush()
        session.refresh(concern)

    def _update(
        self, session: Session, concern: Concern, seen: int | None, **values: object
    ) -> None:
        """Changes fields of the concern unless someone changed it since version `seen`."""
        changed = session.execute(
            update(Concern)
            .where(
                col(Concern.id) == concern.id,
                col(Concern.version) == (concern.version if seen is None else seen),
            )
            .values(version=col(Concern.version) + 1, updated_at=utc_now(), **values)
        )
        if getattr(changed, "rowcount", 1) != 1:
            session.rollback()
            raise _stale(concern)
        session.refresh(concern)

    def _append(
        self,
        session: Session,
        concern: Concern,
        *,
        actor: str,
        kind: str,
        from_status: ConcernStatus | None = None,
        to_status: ConcernStatus | None = None,
        text: str | None = None,
        visible: bool = False,
        message_id: int | None = None,
    ) -> None:
        session.add(
            ConcernEvent(
                concern_id=stored_id(concern.id),
                actor=actor,
                kind=kind,
                from_status=from_status.value if from_status else None,
                to_status=to_status.value if to_status else None,
                text=text,
                visible_to_citizen=visible,
                message_id=message_id,
            )
        )

    def _tell(self, session: Session, concern: Concern, framing: str, text: str | None) -> None:
        """Writes to the citizen on the channel where they raised the concern, and commits: the
        change the citizen is told of (staged by the caller) and the message queued on their
        platform are one transaction, so the register never shows an answer that was not sent."""
        conversation = session.get(Conversation, concern.conversation_id)
        if conversation is None or conversation.erased_at is not None:
            session.commit()
            return
        if conversation.place == "group":
            # Never in public: the citizen reads it in private (status of their concerns).
            texts = [say("concern_news_in_private", concern.language, reference=concern.reference)]
        else:
            texts = [framing] + ([text] if text else [])
        send_to_conversation(
            session=session, conversation=conversation, texts=texts, language=concern.language
        )

    def _open_concern_on(
        self, session: Session, conversation: Conversation, category: str
    ) -> Concern | None:
        since = utc_now() - SAME_CONCERN_WINDOW
        return session.exec(
            select(Concern)
            .where(
                Concern.channel == conversation.channel,
                Concern.citizen_id == conversation.citizen_id,
                Concern.category == category,
                col(Concern.status).in_([s.value for s in OPEN_STATUSES]),
                col(Concern.received_at) >= since,
                col(Concern.anonymised_at).is_(None),
            )
            .order_by(col(Concern.received_at).desc())
        ).first()

    def _attached_to(self, session: Session, message_id: int) -> Concern | None:
        event = session.exec(
            select(ConcernEvent).where(
                ConcernEvent.message_id == message_id, ConcernEvent.kind == "detail"
            )
        ).first()
        return session.get(Concern, event.concern_id) if event else None


def _stale(concern: Concern) -> StaleConcern:
    return StaleConcern(
        f"Concern {concern.reference} was changed by someone else meanwhile: nothing was "
        "changed; look at it again."
    )


def find_place(text: str) -> str | None:
    """A place the citizen names ("rang Saint-Joseph", "chemin du Lac-Vert", "Miller Road")."""
    match = _PLACE.search(text[:MAX_ENGINE_CHARS])
    if match is None:
        return None
    return (match.group(1) or match.group(2)).strip(" ,.;")


def asks_confidentiality(text: str) -> bool:
    """Whether the citizen asks that their concern stay confidential ("confidentiel",
    "please keep this private", "ne le dites à personne")."""
    return bool(_CONFIDENTIAL.search(fold(text)))


def severity_of(text: str, category: str) -> str:
    """A triage hint for the team: high when health, safety or water is at stake or the words
    say danger or urgency; low for opinions on landscape, economy or the process."""
    found = set(words(fold(text)))
    if category in {"health_safety", "water"} or found & _SEVERE_WORDS:
        return "high"
    if category in {"landscape", "economy", "process"}:
        return "low"
    return "medium"


_FOLLOW_UPS = (
    ("withdraw", re.compile(r"\b(retire|retirer|retirez|withdraw|annule|annuler|cancel)\b")),
    ("appeal", re.compile(r"\b(appel|conteste|contester|appeal|reopen|rouvrir|reouvrir)\b")),
    ("accept", re.compile(r"\b(accepte|accepter|satisfait|satisfaite|accept|satisfied)\b")),
)


def _follow_up_action(text: str) -> str | None:
    folded = fold(text)
    return next((action for action, words in _FOLLOW_UPS if words.search(folded)), None)


def _deadline(concern: Concern, which: str) -> date:
    found = concern.acknowledge_by if which == "acknowledge" else concern.respond_by
    return found or date.max


def _day(day: date | None) -> str:
    return day.isoformat() if day else "—"
