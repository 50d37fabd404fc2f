"""Consultations: the project asks the community a question and gives the result back.

A community manager writes a question in French and English with 2 to 10 options (or none,
for open answers), who is asked (the audience), when it opens and closes, and what the team
will do with the result. When it opens, it is delivered where each citizen is:

* a subscriber's private Telegram chat or Discord DM gets a short text (the purpose, how
  their choice is kept) and a **native poll** (Telegram's `sendPoll`, Discord's polls); the
  platform tells us each vote (`poll_answer`, poll vote events), a change of mind included;
* the web chat shows the text with a button per option;
* a group (a subscribed group, or a community group listened to) gets a notice inviting its
  members to answer **in private**, so that nobody in the group sees who chose what;
* with the audience ``anyone``, whoever talks to the assistant while it is open is asked
  after their answer, once.

Everywhere, a plain-text answer counts ("2", "option B", "je vote 2", the option's words). One
voice per pseudonymous platform identity, changeable until closing. At closing the platform
polls are stopped and every participant gets the result in their language, with the number of
participants and a plain statement that this is the view of those who took part, not a
representative survey.

Opening and closing are idempotent status changes (a conditional UPDATE), so several replicas
ticking together deliver a consultation once.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from bot.common.ids import stored_id
from bot.common.phrases import long_date
from bot.common.text import fold
from bot.common.types import Choice
from bot.knowledge import KnowledgeBase
from bot.outbox.delivery import Outgoing, outbox_row
from bot.outbox.outbound import destination_for, send_to_conversation
from bot.outbox.text import PLATFORM_LIMITS, split_for
from bot.participation.phrases import say
from bot.storage import repository
from bot.storage.models import (
    AuditEntry,
    Consultation,
    ConsultationInvite,
    ConsultationStatus,
    ConsultationVote,
    Conversation,
    Direction,
    Message,
    utc_now,
)
from bot.updates.service import UpdateService

logger = logging.getLogger(__name__)

MAX_OPTIONS = 10  # Discord's and Telegram's polls both take 10
MAX_OPTION_CHARS = 55  # Discord's limit for a poll answer (Telegram takes 100)
MAX_QUESTION_CHARS = 300  # both platforms' limit for a poll's question
MAX_PURPOSE_CHARS = 1_000
MAX_ANSWER_CHARS = 2_000
MAX_DAYS = 32  # Discord's polls last at most 32 days
# Participation counts as concentrated when one channel or one group holds this share of it
# (with at least CONCENTRATION_FLOOR answers: below, shares say little).
CONCENTRATION_SHARE = 0.6
CONCENTRATION_FLOOR = 10
LETTERS = "abcdefghij"

# Applied to text whose whitespace is collapsed to single spaces (`choice_index`): each ` ?`
# takes one character at most, so a long run of blanks cannot make the search backtrack.
_NUMBERED = re.compile(
    r"^(?:(?:je )?vote(?:s|r)?(?: pour)?|i vote(?: for)?|option|choix|choice|"
    r"mon choix(?: est)?|my choice(?: is)?|l'option|le choix|the option|n[o°º]\.?)?"
    r" ?[:#]? ?(\d{1,2}|[a-j])(?: ?[.):-].*)? ?[.!]?$",
    re.IGNORECASE | re.DOTALL,
)
_EXPLICIT = re.compile(
    r"^\s*(?:(?:je\s+)?vote|i\s+vote|option|choix|choice|mon\s+choix|my\s+choice)\b", re.I
)
_OPEN_ANSWER = re.compile(r"^\s*(?:r[ée]ponse|answer|vote)\s*:\s*(.+)$", re.IGNORECASE | re.DOTALL)
_AUDIENCE = re.compile(r"^(subscribers|anyone|topic:[a-z0-9_]+|group:(telegram|discord):-?\d+)$")


class ConsultationError(Exception):
    """A consultation cannot be created, found or changed; one sentence says why."""


class ConsultationNotFound(ConsultationError):
    """No consultation has this reference."""


@dataclass(frozen=True)
class Option:
    """One choice of a consultation, in both languages."""

    fr: str
    en: str
    ideas: int = 0  # how many citizens suggested it (when it came from the idea box)

    def label(self, language: str) -> str:
        return self.en if language == "en" else self.fr


@dataclass(frozen=True)
class Draft:
    """What a community manager writes (on the desk, or in a YAML file for the command)."""

    question_fr: str
    question_en: str
    purpose_fr: str
    purpose_en: str
    closes_at: datetime
    options: tuple[Option, ...] = ()
    audience: str = "subscribers"
    opens_at: datetime | None = None  # None: now


@dataclass(frozen=True)
class Results:
    """Where a consultation stands: counts, and who took part (never who chose what)."""

    reference: str
    status: str
    question_fr: str
    question_en: str
    purpose_fr: str
    purpose_en: str
    audience: str
    opens_at: datetime
    closes_at: datetime
    options: tuple[Option, ...]
    counts: tuple[int, ...]  # per option
    answers: tuple[str, ...]  # open answers, without any name (erased ones left out)
    participants: int
    invited: int
    by_channel: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)
    by_group: dict[str, int] = field(default_factory=dict)
    by_option_channel: dict[str, list[int]] = field(default_factory=dict)
    changes: int = 0

    @property
    def open_answers(self) -> bool:
        return not self.options

    def share(self, index: int) -> float:
        return self.counts[index] / self.participants if self.participants else 0.0

    @property
    def concentration(self) -> str | None:
        """A sentence when participation is concentrated in one channel or group, else None."""
        if self.participants < CONCENTRATION_FLOOR:
            return None
        for what, counts in (("channel", self.by_channel), ("group", self.by_group)):
            if not counts:
                continue
            name, count = max(counts.items(), key=lambda item: item[1])
            if count / self.participants >= CONCENTRATION_SHARE:
                return (
                    f"{count} of the {self.participants} answers ({count / self.participants:.0%})"
                    f" came through one {what} ({name}): read the result with that in mind."
                )
        return None


class Consultations:
    """Creates, delivers, collects and closes consultations."""

    def __init__(
        self,
        *,
        engine: Engine,
        knowledge: KnowledgeBase,
        updates: UpdateService,
        languages: Sequence[str],
        default_language: str,
    ) -> None:
        self.engine = engine
        self._project = dict(knowledge.name)
        self._topics = {topic.id for topic in knowledge.update_topics}
        self._updates = updates
        self._languages = tuple(languages)
        self._default = default_language

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- writing ------------------------------------------------------------------------------

    def check(self, draft: Draft, *, now: datetime | None = None) -> Draft:
        """The draft as it will be stored, or the reason it cannot be.

        Raises:
            ConsultationError: a text is missing or too long, the options are not 0 or 2-10,
                the audience is unknown, or the dates do not make sense.
        """
        now = now or utc_now()
        texts = {}
        for name, value, limit in (
            ("French question", draft.question_fr, MAX_QUESTION_CHARS),
            ("English question", draft.question_en, MAX_QUESTION_CHARS),
            ("French purpose", draft.purpose_fr, MAX_PURPOSE_CHARS),
            ("English purpose", draft.purpose_en, MAX_PURPOSE_CHARS),
        ):
            cleaned = _clean(value)
            if not cleaned:
                raise ConsultationError(
                    f"The {name} is empty: a consultation says, in both languages, what it asks "
                    "and what the team will do with the result."
                )
            if len(cleaned) > limit:
                raise ConsultationError(
                    f"The {name} is {len(cleaned)} characters long; keep it to {limit} (the "
                    "platforms' polls allow no more)."
                )
            texts[name] = cleaned
        options = tuple(
            Option(fr=_clean(o.fr), en=_clean(o.en), ideas=max(0, int(o.ideas)))
            for o in draft.options
        )
        if len(options) == 1 or len(options) > MAX_OPTIONS:
            raise ConsultationError(
                f"A consultation has 2 to {MAX_OPTIONS} options, or none for open answers "
                f"(this one has {len(options)})."
            )
        for number, option in enumerate(options, 1):
            for language, label in (("French", option.fr), ("English", option.en)):
                if not label:
                    raise ConsultationError(f"Option {number} has no {language} text.")
                if len(label) > MAX_OPTION_CHARS:
                    raise ConsultationError(
                        f"Option {number}'s {language} text is {len(label)} characters long; "
                        f"keep it to {MAX_OPTION_CHARS} (Discord's limit for a poll answer)."
                    )
        for language in ("fr", "en"):
            labels = [fold(o.label(language)) for o in options]
            if len(set(labels)) != len(labels):
                raise ConsultationError("Two options have the same text: each must differ.")
        audience = (draft.audience or "subscribers").strip().lower()
        if not _AUDIENCE.match(audience):
            raise ConsultationError(
                f"The audience {draft.audience!r} is not one of: subscribers, topic:<topic>, "
                "group:telegram:<chat id>, group:discord:<channel id>, anyone."
            )
        if audience.startswith("topic:") and audience[6:] not in self._topics:
            known = ", ".join(sorted(self._topics)) or "none"
            raise ConsultationError(
                f"There is no update topic {audience[6:]!r}; the topics are: {known}."
            )
        opens = draft.opens_at or now
        if opens.tzinfo is None or draft.closes_at.tzinfo is None:
            raise ConsultationError("Dates need a time zone (for example 2027-01-15T17:00-05:00).")
        if draft.closes_at <= max(opens, now):
            raise ConsultationError("The consultation closes before it opens: choose a later end.")
        if draft.closes_at - opens > timedelta(days=MAX_DAYS):
            raise ConsultationError(
                f"A consultation lasts at most {MAX_DAYS} days (Discord's polls allow no more)."
            )
        return Draft(
            question_fr=texts["French question"],
            question_en=texts["English question"],
            purpose_fr=texts["French purpose"],
            purpose_en=texts["English purpose"],
            closes_at=draft.closes_at,
            options=options,
            audience=audience,
            opens_at=opens,
        )

    def create(self, draft: Draft, *, author: str) -> Consultation:
        """Stores a consultation (opened and delivered at once when it opens now).

        Raises:
            ConsultationError: see `check` (nothing is stored).
        """
        checked = self.check(draft)
        assert checked.opens_at is not None
        with self.session() as session:
            now = utc_now()
            reference = repository.next_reference(session=session, prefix="K", year=now.year)
            consultation = Consultation(
                reference=reference,
                question_fr=checked.question_fr,
                question_en=checked.question_en,
                purpose_fr=checked.purpose_fr,
                purpose_en=checked.purpose_en,
                options=[{"fr": o.fr, "en": o.en, "ideas": o.ideas} for o in checked.options],
                audience=checked.audience,
                opens_at=checked.opens_at,
                closes_at=checked.closes_at,
                author=author[:120],
            )
            session.add(consultation)
            session.add(
                AuditEntry(
                    actor=author[:120],
                    action="consultation.create",
                    detail={"consultation": reference, "audience": checked.audience},
                )
            )
            session.commit()
            session.refresh(consultation)
        logger.info("consultation %s created", reference)
        self.tick()
        return self.get(reference)

    # --- opening and closing -------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> tuple[list[str], list[str]]:
        """Opens what is due to open and closes what is due to close; returns the references
        (opened, closed). Safe to run from several processes at once."""
        now = now or utc_now()
        with self.session() as session:
            due_open = list(
                session.exec(
                    select(Consultation.reference).where(
                        Consultation.status == ConsultationStatus.SCHEDULED,
                        col(Consultation.opens_at) <= now,
                    )
                )
            )
            due_close = list(
                session.exec(
                    select(Consultation.reference).where(
                        Consultation.status == ConsultationStatus.OPEN,
                        col(Consultation.closes_at) <= now,
                    )
                )
            )
            # Closed but its result never given (the process died in between): given now.
            untold = list(
                session.exec(
                    select(Consultation).where(
                        Consultation.status == ConsultationStatus.CLOSED,
                        col(Consultation.results_given_at).is_(None),
                    )
                )
            )
        opened = [ref for ref in due_open if self._open(ref)]
        for consultation in untold:
            self._give_results(consultation)
        closed = [ref for ref in due_close if self._close(ref, actor="system")]
        return opened, closed

    def close(self, reference: str, *, actor: str) -> Results:
        """Closes a consultation now (before its date) and gives the result back.

        Raises:
            ConsultationNotFound: no consultation has this reference.
            ConsultationError: it is already closed.
        """
        consultation = self.get(reference)
        if consultation.status == ConsultationStatus.CLOSED:
            raise ConsultationError(f"Consultation {consultation.reference} is already closed.")
        if consultation.status == ConsultationStatus.SCHEDULED:
            self._open(consultation.reference)
        self._close(consultation.reference, actor=actor)
        return self.results(consultation.reference)

    def _open(self, reference: str) -> bool:
        with self.session() as session:
            changed = session.execute(
                update(Consultation)
                .where(
                    col(Consultation.reference) == reference,
                    col(Consultation.status) == ConsultationStatus.SCHEDULED,
                )
                .values(status=ConsultationStatus.OPEN, opened_at=utc_now())
            )
            session.commit()
            if not getattr(changed, "rowcount", 0):
                return False  # another process opened it
            consultation = self._get(session, reference)
        self.deliver(consultation)
        logger.info("consultation %s opened", reference)
        return True

    def deliver(self, consultation: Consultation) -> int:
        """Puts an open consultation to its audience (those not asked yet); returns how many
        conversations or groups were asked. Harmless to run again."""
        audience = consultation.audience
        if audience == "anyone":
            return 0  # asked at their next message (`invitation_for_turn`)
        asked = 0
        if audience.startswith("group:"):
            _, channel, key = audience.split(":", 2)
            with self.session() as session:
                asked += self._group_notice(session, consultation, channel, key)
            return asked
        topic = None if audience == "subscribers" else audience.removeprefix("topic:")
        for batch in self._updates.recipients(topic):
            with self.session() as session:
                conversations = {
                    c.id: c
                    for c in session.exec(
                        select(Conversation).where(
                            col(Conversation.id).in_([r.conversation_id for r in batch])
                        )
                    )
                }
                for recipient in batch:
                    conversation = conversations.get(recipient.conversation_id)
                    if conversation is not None:
                        asked += self._invite(
                            session, consultation, conversation, recipient.language
                        )
        return asked

    def _close(self, reference: str, *, actor: str) -> bool:
        with self.session() as session:
            now = utc_now()
            changed = session.execute(
                update(Consultation)
                .where(
                    col(Consultation.reference) == reference,
                    col(Consultation.status) == ConsultationStatus.OPEN,
                )
                .values(status=ConsultationStatus.CLOSED, closed_at=now)
            )
            session.commit()
            if not getattr(changed, "rowcount", 0):
                return False
            consultation = self._get(session, reference)
            session.add(
                AuditEntry(
                    actor=actor[:120],
                    action="consultation.close",
                    detail={"consultation": reference},
                )
            )
            session.commit()
        self._give_results(consultation)
        logger.info("consultation %s closed and its result given back", reference)
        return True

    def _stop_polls(self, session: Session, consultation: Consultation) -> None:
        """Closes the platforms' polls, so that nobody votes into the void."""
        invites = session.exec(
            select(ConsultationInvite).where(
                ConsultationInvite.consultation_id == consultation.id,
                col(ConsultationInvite.poll_message_id).is_not(None),
            )
        )
        rows = []
        for invite in invites:  # (in the caller's transaction: see `_give_results`)
            conversation = session.get(Conversation, invite.conversation_id)
            if conversation is None or conversation.erased_at is not None:
                continue
            destination = destination_for(conversation.channel, conversation.external_id)
            if destination is None:
                continue
            rows.append(
                outbox_row(
                    conversation.channel,
                    Outgoing(
                        destination=destination,
                        text="",
                        options={"stop_poll": invite.poll_message_id},
                        conversation_id=conversation.id,
                    ),
                )
            )
        session.add_all(rows)

    def _give_results(self, consultation: Consultation) -> None:
        """The platforms' polls stopped and the result, in their language, to every participant
        and to every group asked: all in one transaction, once (whichever process gets there
        first; a crash before it commits leaves the result due, given at the next `tick`)."""
        results = self.results(consultation.reference)
        with self.session() as session:
            mine = session.execute(
                update(Consultation)
                .where(
                    col(Consultation.id) == consultation.id,
                    col(Consultation.results_given_at).is_(None),
                )
                .values(results_given_at=utc_now())
            )
            if not getattr(mine, "rowcount", 0):
                return  # given already, by this process or another
            self._stop_polls(session, consultation)
            votes = session.exec(
                select(ConsultationVote).where(
                    ConsultationVote.consultation_id == consultation.id,
                    col(ConsultationVote.conversation_id).is_not(None),
                )
            ).all()
            told: set[int] = set()
            for vote in votes:
                conversation = session.get(Conversation, vote.conversation_id)
                if conversation is None or conversation.erased_at is not None:
                    continue
                if conversation.place == "group":
                    continue  # the group gets the result once, below
                language = self._language(conversation.language or vote.language)
                send_to_conversation(
                    session=session,
                    conversation=conversation,
                    texts=[self.result_text(results, language)],
                    language=language,
                    commit=False,
                )
                told.add(stored_id(conversation.id))
            notices = session.exec(
                select(ConsultationInvite).where(
                    ConsultationInvite.consultation_id == consultation.id,
                    ConsultationInvite.how == "group_notice",
                )
            ).all()
            for invite in notices:
                conversation = session.get(Conversation, invite.conversation_id)
                if conversation is None or conversation.erased_at is not None:
                    continue
                send_to_conversation(
                    session=session,
                    conversation=conversation,
                    texts=[self.result_text(results, invite.language)],
                    language=invite.language,
                    commit=False,
                )
            session.execute(
                update(ConsultationInvite)
                .where(col(ConsultationInvite.consultation_id) == consultation.id)
                .values(result_sent_at=utc_now())
            )
            session.commit()

    # --- delivering ----------------------------------------------------------------------------

    def _invite(
        self,
        session: Session,
        consultation: Consultation,
        conversation: Conversation,
        language: str,
    ) -> int:
        """Puts the consultation to one conversation (once); returns 1 if it was asked now."""
        if conversation.erased_at is not None:
            return 0
        if self._invited(session, consultation, conversation):
            return 0
        destination = destination_for(conversation.channel, conversation.external_id)
        group = conversation.place == "group" or (
            conversation.channel == "telegram" and (destination or "").startswith("-")
        )
        if group and destination is not None:
            return self._group_notice(
                session, consultation, conversation.channel, destination, conversation
            )
        options = _options(consultation)
        poll = (
            conversation.channel in PLATFORM_LIMITS
            and len(options) >= 2
            and destination is not None
        )
        how = "poll" if poll else "text"
        text = self.invitation_text(consultation, language, how=how)
        invite = ConsultationInvite(
            consultation_id=stored_id(consultation.id),
            conversation_id=stored_id(conversation.id),
            channel=conversation.channel,
            language=language,
            how=how,
        )
        session.add(invite)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()  # another process asked this conversation a moment ago
            return 0
        stored = Message(
            conversation_id=stored_id(conversation.id),
            direction=Direction.OUTGOING,
            text=text,
            language=language,
        )
        session.add(stored)
        session.flush()
        invite.message_id = stored.id
        session.add(invite)
        if destination is not None and conversation.channel in PLATFORM_LIMITS:
            session.add_all(
                outbox_row(
                    conversation.channel,
                    Outgoing(
                        destination=destination,
                        text=part,
                        options={"bulk": True},
                        conversation_id=conversation.id,
                        message_id=stored.id,
                    ),
                )
                for part in split_for(conversation.channel, text)
            )
            if poll:
                session.add(
                    outbox_row(
                        conversation.channel,
                        Outgoing(
                            destination=destination,
                            text=self.question(consultation, language),
                            options={
                                "bulk": True,
                                "poll": {
                                    "invite": invite.id,
                                    "question": self.question(consultation, language),
                                    "options": [o.label(language) for o in options],
                                    "hours": max(
                                        1,
                                        int(
                                            (consultation.closes_at - utc_now()).total_seconds()
                                            // 3600
                                        )
                                        + 1,
                                    ),
                                },
                            },
                            conversation_id=conversation.id,
                            message_id=stored.id,
                        ),
                    )
                )
        session.commit()
        return 1

    def _group_notice(
        self,
        session: Session,
        consultation: Consultation,
        channel: str,
        destination: str,
        conversation: Conversation | None = None,
    ) -> int:
        """A notice in a group, inviting its members to answer in private (once per group)."""
        for invite in session.exec(
            select(ConsultationInvite).where(
                ConsultationInvite.consultation_id == consultation.id,
                ConsultationInvite.channel == channel,
                ConsultationInvite.how == "group_notice",
            )
        ):
            other = session.get(Conversation, invite.conversation_id)
            if (
                other is not None
                and destination_for(other.channel, other.external_id) == destination
            ):
                return 0
        if conversation is None:
            conversation = _group_conversation(session, channel, destination)
        language = self._language(conversation.language)
        text = say(
            "invite_group",
            language,
            reference=consultation.reference,
            project=self._project.get(language, self._project.get("fr", "")),
            question=self.question(consultation, language),
            purpose=consultation.purpose_en if language == "en" else consultation.purpose_fr,
            link="",
            closes=long_date(consultation.closes_at.date(), language),
        )
        invite = ConsultationInvite(
            consultation_id=stored_id(consultation.id),
            conversation_id=stored_id(conversation.id),
            channel=channel,
            language=language,
            how="group_notice",
        )
        session.add(invite)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return 0
        ids = send_to_conversation(
            session=session, conversation=conversation, texts=[text], language=language
        )
        invite.message_id = ids[0] if ids else None
        session.add(invite)
        session.commit()
        return 1

    def invitation_for_turn(
        self, session: Session, conversation: Conversation, language: str
    ) -> tuple[str, tuple[Choice, ...], int] | None:
        """For the audience ``anyone``: the invitation to add after the answer of a citizen's
        turn in private (once per consultation and conversation), or None."""
        if conversation.place == "group" or conversation.erased_at is not None:
            return None
        now = utc_now()
        for consultation in session.exec(
            select(Consultation)
            .where(
                Consultation.status == ConsultationStatus.OPEN,
                Consultation.audience == "anyone",
                col(Consultation.closes_at) > now,
            )
            .order_by(col(Consultation.id))
        ):
            if self._invited(session, consultation, conversation):
                continue
            invite = ConsultationInvite(
                consultation_id=stored_id(consultation.id),
                conversation_id=stored_id(conversation.id),
                channel=conversation.channel,
                language=language,
                how="text",
            )
            session.add(invite)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            return (
                self.invitation_text(consultation, language, how="text"),
                self.choices(consultation, language),
                stored_id(invite.id),
            )
        return None

    def invited_message(self, session: Session, invite_id: int, message_id: int) -> None:
        """Links an invitation given in a turn to the stored message that carries it."""
        session.execute(
            update(ConsultationInvite)
            .where(col(ConsultationInvite.id) == invite_id)
            .values(message_id=message_id)
        )
        session.commit()

    def poll_sent(self, invite_id: int, *, poll_id: str, poll_message_id: str) -> None:
        """Notes the platform's poll that carries an invitation (its votes arrive by its id)."""
        with self.session() as session:
            session.execute(
                update(ConsultationInvite)
                .where(col(ConsultationInvite.id) == invite_id)
                .values(poll_id=poll_id[:64], poll_message_id=poll_message_id[:64])
            )
            session.commit()

    def invitation_text(self, consultation: Consultation, language: str, *, how: str) -> str:
        options = _options(consultation)
        choices = "\n".join(f"{n}. {o.label(language)}" for n, o in enumerate(options, 1))
        key = "invite_how_open" if not options else f"invite_how_{how}"
        return say(
            "invite",
            language,
            reference=consultation.reference,
            project=self._project.get(language, self._project.get("fr", "")),
            question=self.question(consultation, language),
            choices=choices,
            purpose=consultation.purpose_en if language == "en" else consultation.purpose_fr,
            how=say(key, language),
            closes=long_date(consultation.closes_at.date(), language),
        ).replace("\n\n", "\n")

    def choices(self, consultation: Consultation, language: str) -> tuple[Choice, ...]:
        """Buttons: the web chat sends the label (the option's number and words, a plain-text
        vote); Telegram's buttons run `/vote <reference> <number>`."""
        return tuple(
            Choice(label=f"{n}. {o.label(language)}", value=f"vote:{consultation.reference} {n}")
            for n, o in enumerate(_options(consultation), 1)
        )

    def choices_of_messages(self, message_ids: Iterable[int]) -> dict[int, tuple[Choice, ...]]:
        """The buttons of stored invitation messages still open (for channels that fetch)."""
        wanted = list(message_ids)
        if not wanted:
            return {}
        found: dict[int, tuple[Choice, ...]] = {}
        with self.session() as session:
            for invite, consultation in session.exec(
                select(ConsultationInvite, Consultation)
                .join(Consultation, col(Consultation.id) == col(ConsultationInvite.consultation_id))
                .where(
                    col(ConsultationInvite.message_id).in_(wanted),
                    Consultation.status == ConsultationStatus.OPEN,
                )
            ):
                found[stored_id(invite.message_id)] = self.choices(consultation, invite.language)
        return found

    # --- answers -------------------------------------------------------------------------------

    def take_text(
        self, session: Session, conversation: Conversation, text: str, language: str
    ) -> list[str] | None:
        """A citizen's plain-text answer to a consultation they were asked ("2", "option B",
        the option's words; for open answers, the message just after the question unless it
        asks something, or "answer: ..."), recorded; None when the message is not one (it then
        goes on to the dialogue)."""
        if not text.strip() or conversation.erased_at is not None:
            return None
        found = self._latest_invite(session, conversation)
        if found is None:
            return None
        invite, consultation = found
        latest = _latest_outgoing(session, conversation)
        just_asked = latest is not None and latest == invite.message_id
        options = _options(consultation)
        explicit = _EXPLICIT.match(text) is not None
        open_answer = _OPEN_ANSWER.match(text)
        if not options:
            if open_answer:
                answer = open_answer.group(1).strip()
            elif just_asked and not _asks(text):
                answer = text.strip()
            else:
                return None  # a question is answered (`open_answer_hint` says how to answer)
            if consultation.status != ConsultationStatus.OPEN:
                return [self._closed(consultation, language)]
            if conversation.place == "group":
                return [say("vote_in_private", language, link="")]
            self._cast(session, consultation, conversation, language, option=None, answer=answer)
            return [self._answer_recorded(consultation, language)]
        index = choice_index(text, options)
        if index is None:
            if explicit and just_asked:
                return [self._unknown(consultation, language, text)]
            return None
        if not (just_asked or explicit or self._has_voted(session, consultation, conversation)):
            return None
        if consultation.status != ConsultationStatus.OPEN:
            return [self._closed(consultation, language)]
        if conversation.place == "group":
            return [say("vote_in_private", language, link="")]
        if not 0 <= index < len(options):
            return [self._unknown(consultation, language, text.strip())]
        outcome = self._cast(session, consultation, conversation, language, option=index)
        return [self._vote_recorded(consultation, options, index, outcome, language)]

    def open_answer_hint(
        self, session: Session, conversation: Conversation, language: str
    ) -> str | None:
        """After a question asked just after an open question of a consultation (and answered
        by the dialogue, not taken as the answer): how to answer the consultation instead."""
        found = self._latest_invite(session, conversation)
        if found is None:
            return None
        invite, consultation = found
        if (
            _options(consultation)
            or consultation.status != ConsultationStatus.OPEN
            or invite.message_id is None
            or _latest_outgoing(session, conversation) != invite.message_id
        ):
            return None
        return say("open_answer_hint", language, reference=consultation.reference)

    def command(
        self, session: Session, conversation: Conversation, argument: str, language: str
    ) -> tuple[list[str], tuple[Choice, ...]]:
        """`/vote`: with a reference, the question again (in private) to answer; with a choice,
        the vote; alone, the open consultations and the citizen's current choices."""
        words = argument.split(maxsplit=1)
        reference = (
            words[0].upper() if words and re.match(r"^K-\d{4}-\d{4,6}$", words[0], re.I) else None
        )
        rest = words[1] if reference and len(words) > 1 else ("" if reference else argument)
        consultation: Consultation | None = None
        if reference:
            consultation = session.exec(
                select(Consultation).where(Consultation.reference == reference)
            ).first()
        else:
            found = self._latest_invite(session, conversation)
            consultation = found[1] if found else self._open_for(session, conversation)
        if consultation is None:
            return [say("vote_none_open", language)], ()
        if consultation.status == ConsultationStatus.CLOSED:
            return [self._closed(consultation, language)], ()
        if consultation.status != ConsultationStatus.OPEN:
            return [say("vote_none_open", language)], ()
        if conversation.place == "group":
            return [say("vote_in_private", language, link="")], ()
        if not self._invited(session, consultation, conversation):
            session.add(
                ConsultationInvite(
                    consultation_id=stored_id(consultation.id),
                    conversation_id=stored_id(conversation.id),
                    channel=conversation.channel,
                    language=language,
                    how="text",
                )
            )
            session.commit()
        if rest.strip():
            options = _options(consultation)
            if not options:
                self._cast(session, consultation, conversation, language, option=None, answer=rest)
                return [self._answer_recorded(consultation, language)], ()
            index = choice_index(rest, options)
            if index is None or not 0 <= index < len(options):
                return [self._unknown(consultation, language, rest.strip())], ()
            outcome = self._cast(session, consultation, conversation, language, option=index)
            return [self._vote_recorded(consultation, options, index, outcome, language)], ()
        texts = [self.invitation_text(consultation, language, how="text")]
        current = self.current_choice(session, consultation, conversation, language)
        if current:
            texts.append(current)
        return texts, self.choices(consultation, language)

    def record_poll_vote(
        self, *, channel: str, poll_id: str, voter: str, option_ids: Sequence[int]
    ) -> bool:
        """A vote given in a platform's native poll (option ids from 0; none: withdrawn).
        Returns False when the poll is not one of ours or the consultation is closed."""
        with self.session() as session:
            found = session.exec(
                select(ConsultationInvite, Consultation)
                .join(Consultation, col(Consultation.id) == col(ConsultationInvite.consultation_id))
                .where(ConsultationInvite.channel == channel, ConsultationInvite.poll_id == poll_id)
            ).first()
            if found is None:
                return False
            invite, consultation = found
            if consultation.status != ConsultationStatus.OPEN:
                return False
            conversation = session.get(Conversation, invite.conversation_id)
            if conversation is None or conversation.erased_at is not None:
                return False
            identity = f"{channel}:{voter}"
            if not option_ids:
                self._withdraw(session, consultation, identity)
                return True
            index = int(option_ids[0])
            if not 0 <= index < len(_options(consultation)):
                return False
            self._cast(
                session, consultation, conversation, invite.language, option=index, voter=identity
            )
            return True

    def withdraw_poll_vote(self, *, channel: str, poll_id: str, voter: str, option_id: int) -> bool:
        """A vote removed from a platform's poll (Discord tells removals one by one): withdrawn
        if it still is that option (a change of mind arrives as a removal and an addition)."""
        with self.session() as session:
            found = session.exec(
                select(ConsultationInvite.consultation_id).where(
                    ConsultationInvite.channel == channel, ConsultationInvite.poll_id == poll_id
                )
            ).first()
            if found is None:
                return False
            vote = session.exec(
                select(ConsultationVote).where(
                    ConsultationVote.consultation_id == found,
                    ConsultationVote.voter == f"{channel}:{voter}",
                )
            ).first()
            consultation = session.get(Consultation, found)
            if vote is None or consultation is None or vote.option != option_id:
                return False
            if consultation.status != ConsultationStatus.OPEN:
                return False
            session.delete(vote)
            session.commit()
            return True

    def current_choice(
        self,
        session: Session,
        consultation: Consultation,
        conversation: Conversation,
        language: str,
    ) -> str | None:
        """ "Your current choice is ..." for the citizen (only they see it), or None."""
        vote = session.exec(
            select(ConsultationVote).where(
                ConsultationVote.consultation_id == consultation.id,
                ConsultationVote.voter == _voter(conversation),
            )
        ).first()
        if vote is None:
            return None
        options = _options(consultation)
        if vote.option is None:
            chosen = (vote.answer or "")[:200]
        else:
            chosen = f"{vote.option + 1}. {options[vote.option].label(language)}"
        return say("vote_your_choice", language, reference=consultation.reference, choice=chosen)

    def _cast(
        self,
        session: Session,
        consultation: Consultation,
        conversation: Conversation,
        language: str,
        *,
        option: int | None,
        answer: str | None = None,
        voter: str | None = None,
    ) -> str:
        """Records one voice (or changes it); returns "new", "changed" or "same"."""
        identity = voter or _voter(conversation)
        now = utc_now()
        group_key = None
        invite = session.exec(
            select(ConsultationInvite).where(
                ConsultationInvite.consultation_id == consultation.id,
                ConsultationInvite.conversation_id == conversation.id,
            )
        ).first()
        if invite is not None and invite.how == "group_notice":
            group_key = destination_for(conversation.channel, conversation.external_id)
        for _ in range(2):
            vote = session.exec(
                select(ConsultationVote).where(
                    ConsultationVote.consultation_id == consultation.id,
                    ConsultationVote.voter == identity,
                )
            ).first()
            if vote is not None:
                if vote.option == option and (option is not None or vote.answer == answer):
                    return "same"
                vote.option = option
                vote.answer = (answer or "")[:MAX_ANSWER_CHARS] if option is None else None
                vote.changes += 1
                vote.updated_at = now
                vote.language = language
                session.add(vote)
                try:
                    session.commit()
                except StaleDataError:
                    session.rollback()  # withdrawn meanwhile (the same citizen, elsewhere)
                    continue
                return "changed"
            session.add(
                ConsultationVote(
                    consultation_id=stored_id(consultation.id),
                    voter=identity,
                    conversation_id=conversation.id,
                    channel=conversation.channel,
                    language=language,
                    place=conversation.place or "private",
                    group_key=group_key,
                    option=option,
                    answer=(answer or "")[:MAX_ANSWER_CHARS] if option is None else None,
                    created_at=now,
                    updated_at=now,
                )
            )
            try:
                session.commit()
                return "new"
            except IntegrityError:
                session.rollback()  # the same citizen's other answer a moment ago: change it
        raise ConsultationError("The vote could not be recorded; try again.")

    def _withdraw(self, session: Session, consultation: Consultation, identity: str) -> None:
        vote = session.exec(
            select(ConsultationVote).where(
                ConsultationVote.consultation_id == consultation.id,
                ConsultationVote.voter == identity,
            )
        ).first()
        if vote is not None:
            session.delete(vote)
            session.commit()

    # --- reading -------------------------------------------------------------------------------

    def get(self, reference: str) -> Consultation:
        with self.session() as session:
            return self._get(session, reference)

    def recent(self, *, limit: int = 100) -> list[Results]:
        with self.session() as session:
            references = list(
                session.exec(
                    select(Consultation.reference)
                    .order_by(col(Consultation.id).desc())
                    .limit(limit)
                )
            )
        return [self.results(reference) for reference in references]

    def results(self, reference: str) -> Results:
        """Counts of a consultation (live while it is open)."""
        with self.session() as session:
            consultation = self._get(session, reference)
            options = _options(consultation)
            votes = list(
                session.exec(
                    select(ConsultationVote).where(
                        ConsultationVote.consultation_id == consultation.id
                    )
                )
            )
            invited = len(
                list(
                    session.exec(
                        select(ConsultationInvite.id).where(
                            ConsultationInvite.consultation_id == consultation.id
                        )
                    )
                )
            )
        counts = [0] * len(options)
        by_option_channel: dict[str, list[int]] = {}
        for vote in votes:
            if vote.option is not None and 0 <= vote.option < len(options):
                counts[vote.option] += 1
                by_option_channel.setdefault(vote.channel, [0] * len(options))[vote.option] += 1
        return Results(
            reference=consultation.reference,
            status=consultation.status,
            question_fr=consultation.question_fr,
            question_en=consultation.question_en,
            purpose_fr=consultation.purpose_fr,
            purpose_en=consultation.purpose_en,
            audience=consultation.audience,
            opens_at=consultation.opens_at,
            closes_at=consultation.closes_at,
            options=options,
            counts=tuple(counts),
            answers=tuple(
                v.answer for v in votes if v.option is None and v.answer and v.voter is not None
            ),
            participants=len(votes),
            invited=invited,
            by_channel=dict(Counter(v.channel for v in votes)),
            by_language=dict(Counter(v.language for v in votes)),
            by_group=dict(Counter(v.group_key for v in votes if v.group_key)),
            by_option_channel=by_option_channel,
            changes=sum(v.changes for v in votes),
        )

    def result_text(self, results: Results, language: str) -> str:
        question = results.question_en if language == "en" else results.question_fr
        purpose = results.purpose_en if language == "en" else results.purpose_fr
        channels = ", ".join(
            f"{_CHANNEL_NAMES.get(name, name)} {count}"
            for name, count in sorted(results.by_channel.items())
        )
        if results.open_answers:
            return say(
                "result_open",
                language,
                reference=results.reference,
                question=question,
                participants=results.participants,
                purpose=purpose,
            )
        lines = "\n".join(
            f"{n}. {option.label(language)} : {count} ({results.share(n - 1):.0%})"
            if language == "fr"
            else f"{n}. {option.label(language)}: {count} ({results.share(n - 1):.0%})"
            for n, (option, count) in enumerate(
                zip(results.options, results.counts, strict=True), 1
            )
        )
        return say(
            "result",
            language,
            reference=results.reference,
            question=question,
            lines=lines,
            participants=results.participants,
            channels=channels or "-",
            purpose=purpose,
        )

    def closed_between(self, since: datetime, until: datetime) -> list[Results]:
        """The consultations closed in a period, oldest first (for the reports)."""
        with self.session() as session:
            references = list(
                session.exec(
                    select(Consultation.reference)
                    .where(
                        Consultation.status == ConsultationStatus.CLOSED,
                        col(Consultation.closed_at) >= since,
                        col(Consultation.closed_at) < until,
                    )
                    .order_by(col(Consultation.closed_at))
                )
            )
        return [self.results(reference) for reference in references]

    def in_period(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The consultations open at some time in a period, for the perception dashboard:
        reference, question, status, participants and the leading choice with its share."""
        with self.session() as session:
            references = list(
                session.exec(
                    select(Consultation.reference)
                    .where(
                        Consultation.status != ConsultationStatus.SCHEDULED,
                        col(Consultation.opens_at) < until,
                        col(Consultation.closes_at) >= since,
                    )
                    .order_by(col(Consultation.opens_at))
                )
            )
        rows = []
        for reference in references:
            results = self.results(reference)
            leading = None
            if results.options and results.participants:
                best = max(range(len(results.counts)), key=lambda i: results.counts[i])
                leading = f"{results.options[best].en} ({results.share(best):.0%})"
            rows.append(
                {
                    "reference": reference,
                    "question": results.question_en,
                    "status": results.status,
                    "participants": results.participants,
                    "leading": leading,
                }
            )
        return rows

    def report_markdown(self, since: datetime, until: datetime, language: str) -> str:
        """The public report's section on the consultations closed in a period: each question,
        its counts, the participation and what the team will do; no personal data."""
        closed = self.closed_between(since, until)
        if not closed:
            return ""
        en = language == "en"
        lines = [
            "## " + ("Consultations of the community" if en else "Consultations de la communauté"),
            "",
        ]
        lines.append(
            "These are the views of the people who took part, not representative surveys."
            if en
            else "Ce sont les avis des personnes qui ont participé, pas des sondages représentatifs."
        )
        lines.append("")
        for results in closed:
            question = results.question_en if en else results.question_fr
            purpose = results.purpose_en if en else results.purpose_fr
            lines += [f"### {results.reference} — {_md(question)}", ""]
            if results.open_answers:
                lines.append(
                    f"{results.participants} "
                    + (
                        "people answered in their own words."
                        if en
                        else "personnes ont répondu dans leurs mots."
                    )
                )
            else:
                for n, (option, count) in enumerate(
                    zip(results.options, results.counts, strict=True), 1
                ):
                    credit = ""
                    if option.ideas:
                        credit = (
                            f" (suggested by {option.ideas} citizens)"
                            if en
                            else f" (suggéré par {option.ideas} citoyens)"
                        )
                    lines.append(
                        f"- {_md(option.label(language))}{credit}: {count} ({results.share(n - 1):.0%})"
                    )
                lines.append("")
                lines.append(
                    f"{results.participants} participants"
                    + " ("
                    + ", ".join(
                        f"{_CHANNEL_NAMES.get(c, c)} {k}"
                        for c, k in sorted(results.by_channel.items())
                    )
                    + ")."
                )
            lines += [
                "",
                ("What the team will do: " if en else "Ce que l'équipe en fera : ") + _md(purpose),
                "",
            ]
        return "\n".join(lines).rstrip() + "\n"

    def export(self, reference: str, fmt: str) -> str:
        """The results as CSV (one row per option, or per open answer) or JSON; no names."""
        results = self.results(reference)
        if fmt == "json":
            return json.dumps(results_json(results), ensure_ascii=False, indent=2)
        out = io.StringIO()
        writer = csv.writer(out)
        if results.open_answers:
            writer.writerow(["consultation", "answer"])
            for answer in results.answers:
                writer.writerow([results.reference, answer])
            return out.getvalue()
        channels = sorted(results.by_option_channel)
        writer.writerow(
            ["consultation", "option", "text_fr", "text_en", "suggested_by", "count", "share",
             *channels]
        )  # fmt: skip
        for n, (option, count) in enumerate(zip(results.options, results.counts, strict=True)):
            writer.writerow(
                [results.reference, n + 1, option.fr, option.en, option.ideas, count,
                 f"{results.share(n):.3f}", *(results.by_option_channel[c][n] for c in channels)]
            )  # fmt: skip
        return out.getvalue()

    # --- inside --------------------------------------------------------------------------------

    def _get(self, session: Session, reference: str) -> Consultation:
        wanted = reference.strip().upper()
        found = session.exec(select(Consultation).where(Consultation.reference == wanted)).first()
        if found is None:
            raise ConsultationNotFound(f"There is no consultation {reference.strip()!r}.")
        return found

    @staticmethod
    def _invited(session: Session, consultation: Consultation, conversation: Conversation) -> bool:
        return (
            session.exec(
                select(ConsultationInvite.id).where(
                    ConsultationInvite.consultation_id == consultation.id,
                    ConsultationInvite.conversation_id == conversation.id,
                )
            ).first()
            is not None
        )

    @staticmethod
    def _has_voted(
        session: Session, consultation: Consultation, conversation: Conversation
    ) -> bool:
        return (
            session.exec(
                select(ConsultationVote.id).where(
                    ConsultationVote.consultation_id == consultation.id,
                    ConsultationVote.voter == _voter(conversation),
                )
            ).first()
            is not None
        )

    @staticmethod
    def _latest_invite(
        session: Session, conversation: Conversation
    ) -> tuple[ConsultationInvite, Consultation] | None:
        """The conversation's latest invitation to a consultation still open or closed in the
        last week (so that a late answer hears that it closed)."""
        found = session.exec(
            select(ConsultationInvite, Consultation)
            .join(Consultation, col(Consultation.id) == col(ConsultationInvite.consultation_id))
            .where(
                ConsultationInvite.conversation_id == conversation.id,
                ConsultationInvite.how != "group_notice",
                col(Consultation.status).in_([ConsultationStatus.OPEN, ConsultationStatus.CLOSED]),
                col(Consultation.closes_at) > utc_now() - timedelta(days=7),
            )
            .order_by(col(ConsultationInvite.id).desc())
        ).first()
        return (found[0], found[1]) if found else None

    @staticmethod
    def _open_for(session: Session, conversation: Conversation) -> Consultation | None:
        """The latest open consultation a citizen may answer with `/vote` unasked."""
        return session.exec(
            select(Consultation)
            .where(Consultation.status == ConsultationStatus.OPEN)
            .order_by(col(Consultation.id).desc())
        ).first()

    @staticmethod
    def _answer_recorded(consultation: Consultation, language: str) -> str:
        return say(
            "answer_recorded",
            language,
            reference=consultation.reference,
            closes=long_date(consultation.closes_at.date(), language),
        )

    @staticmethod
    def _vote_recorded(
        consultation: Consultation,
        options: Sequence[Option],
        index: int,
        outcome: str,
        language: str,
    ) -> str:
        """What a citizen is told of their vote: new (and that it can change), the same as
        before, or changed."""
        chosen = f"{index + 1}. {options[index].label(language)}"
        if outcome in ("same", "changed"):
            return say(f"vote_{outcome}", language, reference=consultation.reference, choice=chosen)
        closes = long_date(consultation.closes_at.date(), language)
        return (
            say("vote_recorded", language, reference=consultation.reference, choice=chosen)
            + " "
            + say("vote_change_hint", language, closes=closes)
        )

    def _closed(self, consultation: Consultation, language: str) -> str:
        closed = consultation.closed_at or consultation.closes_at
        return say(
            "vote_closed",
            language,
            reference=consultation.reference,
            closed=long_date(closed.date(), language),
        )

    def _unknown(self, consultation: Consultation, language: str, given: str) -> str:
        choices = "\n".join(
            f"{n}. {o.label(language)}" for n, o in enumerate(_options(consultation), 1)
        )
        return say(
            "vote_unknown_choice",
            language,
            reference=consultation.reference,
            given=given[:40],
            choices=choices,
        )

    def question(self, consultation: Consultation, language: str) -> str:
        return consultation.question_en if language == "en" else consultation.question_fr

    def _language(self, language: str | None) -> str:
        return str(language) if language in self._languages else self._default


_CHANNEL_NAMES = {
    "web": "web",
    "telegram": "Telegram",
    "discord": "Discord",
    "terminal": "terminal",
}


def results_json(results: Results) -> dict[str, Any]:
    """The results as plain data (the CLI's JSON, the public report)."""
    return {
        "reference": results.reference,
        "status": results.status,
        "question": {"fr": results.question_fr, "en": results.question_en},
        "purpose": {"fr": results.purpose_fr, "en": results.purpose_en},
        "audience": results.audience,
        "opens_at": results.opens_at.isoformat(),
        "closes_at": results.closes_at.isoformat(),
        "participants": results.participants,
        "invited": results.invited,
        "representative": False,
        "options": [
            {"number": n + 1, "fr": o.fr, "en": o.en, "suggested_by": o.ideas, "count": c}
            for n, (o, c) in enumerate(zip(results.options, results.counts, strict=True))
        ],
        "answers": list(results.answers),
        "by_channel": results.by_channel,
        "by_language": results.by_language,
        "concentration": results.concentration,
    }


def choice_index(text: str, options: Sequence[Option]) -> int | None:
    """The 0-based option a plain-text answer names ("2", "option B", "je vote 2", "2. Route
    A", the option's words in either language), or None. A number out of range is returned
    as is (the caller says which choices exist)."""
    cleaned = " ".join(text.split())
    folded = fold(cleaned).strip(" .!")
    for index, option in enumerate(options):
        if folded in (fold(option.fr).strip(" ."), fold(option.en).strip(" .")):
            return index
    match = _NUMBERED.match(cleaned)
    if match is None:
        return None
    token = match.group(1).lower()
    if token.isdigit():
        return int(token) - 1
    # A lone letter is a choice only when it is the whole message or explicitly introduced.
    if len(cleaned.strip(" .!")) > 1 and not _EXPLICIT.match(cleaned):
        return None
    return LETTERS.index(token)


def _options(consultation: Consultation) -> tuple[Option, ...]:
    return tuple(
        Option(fr=str(o.get("fr", "")), en=str(o.get("en", "")), ideas=int(o.get("ideas", 0)))
        for o in consultation.options or []
    )


def _asks(text: str) -> bool:
    """Whether a message asks something (it ends with a question mark)."""
    return text.rstrip().rstrip(")»\"'").endswith("?")


def _voter(conversation: Conversation) -> str:
    """One voice per pseudonymous platform identity (the same person's conversations on one
    platform, in private or in a group, are one voter)."""
    return f"{conversation.channel}:{conversation.citizen_id}"


def _latest_outgoing(session: Session, conversation: Conversation) -> int | None:
    return session.exec(
        select(Message.id)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.OUTGOING,
        )
        .order_by(col(Message.id).desc())
    ).first()


def _group_conversation(session: Session, channel: str, destination: str) -> Conversation:
    """The conversation that stands for a whole group (its notices), made once."""
    external_id = f"{destination}:group"
    found = session.exec(
        select(Conversation).where(
            Conversation.channel == channel, Conversation.external_id == external_id
        )
    ).first()
    if found is not None:
        return found
    return repository.get_or_create_conversation(
        session=session, channel=channel, external_id=external_id, citizen_id="group", place="group"
    )


def _md(text: str) -> str:
    """Text for Markdown, its markup characters escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>])", r"\\\1", " ".join(text.split()))


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text or "").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()
