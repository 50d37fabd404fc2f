"""The web inbox of the human desk: the conversations handed to a person, claiming one,
reading it, answering the citizen, keeping internal notes and handing the conversation back to
the assistant; the list of conversations to look at again.

A section of the staff's web shell (`bot.staff_web.shell`: sign-in, CSRF, security headers,
templates); the handoff logic is `Desk`'s (which also audits every action). The pages work
without JavaScript; ``static/desk.js`` only adds the live transcript and fills the reply box
from a canned answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from bot.desk.service import OUTCOMES, Desk, DeskError, TranscriptEntry
from bot.knowledge import LANGUAGES, KnowledgeBase, cite
from bot.staff_web.shell import DeskPages, DeskSection, SignedIn, Staff, StaffForm
from bot.storage import repository
from bot.storage.models import Conversation, Handoff, HandoffStatus, utc_now

MAX_TEXT_CHARS = 5_000  # a reply or a note; the chat platforms split long replies
TRANSCRIPT_PAGE = 200
RECENTLY_CLOSED = timedelta(hours=12)
REFERENCE_PATTERN = r"^[A-Za-z0-9-]{1,32}$"
PUBLIC_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"

REASONS = {
    "asked_human": "asked for a person",
    "urgent": "danger mentioned",
    "negative": "strongly negative message",
    "not_understood": "not understood twice",
    "category": "concern that needs a person",
    "staff": "a manager stepped in",
}
STATUSES = {
    HandoffStatus.WAITING: "waiting",
    HandoffStatus.ACTIVE: "with a person",
    HandoffStatus.CLOSED: "handed back",
}
# How an event of a handoff reads in the transcript ({name} is the manager, {desk} theirs).
EVENTS = {
    "requested": "A person was asked to join",
    "claimed": "{name} joined the conversation{desk}",
    "released": "{name} put the conversation back in the queue{desk}",
    "closed": "{name} handed the conversation back to the assistant{desk}",
    "rated": "The citizen rated the help",
    "alert": "Still waiting for a person",
    "undelivered": "A message could not be delivered",
    "note": "Internal note by {name}{desk}",
}


# --- what the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the transcript as the page and its live updates show it."""

    key: str  # m<message id> or e<event id>
    who: str  # citizen, assistant, staff, note, event
    label: str
    text: str
    at: str  # local time
    iso: str

    def as_json(self) -> dict[str, str]:
        """The line for the page's script."""
        return {
            "key": self.key,
            "who": self.who,
            "label": self.label,
            "text": self.text,
            "at": self.at,
            "iso": self.iso,
        }


@dataclass(frozen=True)
class CannedAnswer:
    """A reviewed answer of the knowledge base, ready to send, with its sources."""

    topic: str
    title: str
    text: str


def _lines(
    messages: Iterable[TranscriptEntry], events: Iterable[TranscriptEntry], zone: tzinfo
) -> list[Line]:
    """Messages and events of a conversation in time order."""
    merged = sorted(
        [(m.at, 0, m.id, "m", m) for m in messages] + [(e.at, 1, e.id, "e", e) for e in events],
        key=lambda row: (row[0], row[1], row[2]),
    )
    return [_line(prefix, entry, zone) for _, _, _, prefix, entry in merged]


def _line(prefix: str, entry: TranscriptEntry, zone: tzinfo) -> Line:
    desk = f" ({entry.desk})" if entry.desk else ""
    if prefix == "m":
        label = {"citizen": "Citizen", "assistant": "Assistant"}.get(entry.who, f"Team{desk}")
        text = entry.text
    else:
        template = EVENTS.get(entry.kind, entry.kind.replace("_", " ").capitalize())
        label = template.format(name=entry.name or "Someone", desk=desk)
        text = entry.text
        if entry.kind == "requested":
            text = REASONS.get(text, text)
        elif entry.kind == "rated":
            text = f"{text}/5"
        if entry.who == "event" and text:
            label, text = f"{label}: {text}", ""  # one short line; notes keep their text apart
    local = entry.at.astimezone(zone)
    return Line(
        key=f"{prefix}{entry.id}",
        who=entry.who,
        label=label,
        text=text,
        at=local.strftime("%Y-%m-%d %H:%M"),
        iso=local.isoformat(timespec="seconds"),
    )


def _canned(knowledge: KnowledgeBase, language: str) -> list[CannedAnswer]:
    shown = language if language in LANGUAGES else LANGUAGES[0]
    return [
        CannedAnswer(
            topic=topic,
            title=f"{topic.replace('_', ' ').capitalize()}: {_short(answer.text[shown], 70)}",
            text=cite(answer, shown),
        )
        for topic, answer in knowledge.answers.items()
    ]


def _from_textarea(text: str) -> str:
    """A text box's words as typed: browsers send line breaks as CR LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_length(text: str, what: str) -> None:
    """Refuses a reply or a note over `MAX_TEXT_CHARS`, saying how long it is."""
    if len(text) > MAX_TEXT_CHARS:
        raise DeskError(
            f"The {what} is {len(text)} characters long; shorten it to {MAX_TEXT_CHARS}."
        )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def inbox_section(desk: Desk, knowledge: KnowledgeBase) -> DeskSection:
    """The inbox's pages (``/desk``, ``/desk/h/<reference>``...), for the shell's sections.

    Args:
        desk: the handoff desk.
        knowledge: the knowledge base, for the canned answers.
    """

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        def handoff_url(reference: str) -> str:
            return f"/desk/h/{quote(reference, safe='-')}"

        # --- the queue -------------------------------------------------------------------------

        @router.get("/desk")
        async def queue(
            me: Staff,
        ) -> Response:
            items = desk.queue(include_closed_since=utc_now() - RECENTLY_CLOSED)
            review = desk.for_review()
            return pages.page(
                "queue.html",
                me=me,
                flash=pages.take_flashes(me),
                waiting=[i for i in items if i.status == HandoffStatus.WAITING],
                active=[i for i in items if i.status == HandoffStatus.ACTIVE],
                closed=[i for i in items if i.status == HandoffStatus.CLOSED],
                review=[
                    {
                        "conversation": public_id,
                        "reason": REASONS.get(reason, reason.replace("_", " ")),
                        "when": _local(when, zone),
                        "channel": channel,
                    }
                    for public_id, reason, when, channel in review
                ],
                reasons=REASONS,
                statuses=STATUSES,
            )

        @router.post("/desk/conversations/{conversation_id}/take-over")
        async def take_over(
            conversation_id: Annotated[str, PathParam(pattern=PUBLIC_ID_PATTERN)],
            me: StaffForm,
        ) -> Response:
            with desk.session() as session:
                conversation = repository.conversation_by_public_id(
                    session=session, public_id=conversation_id
                )
                try:
                    if conversation is None or conversation.id is None:
                        raise DeskError(f"There is no conversation {conversation_id}.")
                    handoff = desk.take_over(session, conversation.id, me.staff)
                except DeskError as exc:
                    pages.flash(me, "error", str(exc))
                    return pages.back("/desk")
            pages.flash(
                me,
                "done",
                f"You took over the conversation ({handoff.reference}): the assistant is silent "
                "until you hand it back.",
            )
            return pages.back(handoff_url(handoff.reference))

        @router.post("/desk/conversations/{conversation_id}/dismiss")
        async def dismiss(
            conversation_id: Annotated[str, PathParam(pattern=PUBLIC_ID_PATTERN)],
            me: StaffForm,
        ) -> Response:
            with desk.session() as session:
                conversation = repository.conversation_by_public_id(
                    session=session, public_id=conversation_id
                )
                try:
                    if conversation is None or conversation.id is None:
                        raise DeskError(f"There is no conversation {conversation_id}.")
                    settled = desk.dismiss_review(session, conversation.id, me.staff)
                except DeskError as exc:
                    pages.flash(me, "error", str(exc))
                    return pages.back("/desk")
            if settled:
                pages.flash(me, "done", "Marked as looked at: it left the list.")
            return pages.back("/desk")

        # --- one conversation ------------------------------------------------------------------

        @router.get("/desk/h/{reference}")
        async def conversation_page(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: Staff,
            canned: Annotated[str | None, Query(max_length=64)] = None,
        ) -> Response:
            with desk.session() as session:
                try:
                    handoff = desk.get(session, reference)
                except DeskError as exc:
                    return pages.problem("Not found", str(exc), status_code=404)
                summary = desk.summary(session, handoff)
                messages, events = whole_transcript(session, handoff)
                conversation = session.get(Conversation, handoff.conversation_id)
            assert conversation is not None
            pending = pages.take_pending(me)
            answers = _canned(knowledge, summary.language)
            chosen = next((a for a in answers if a.topic == canned), None)
            reply_text = (
                chosen.text if chosen else pending.drafts.get(f"{handoff.reference}:reply", "")
            )
            status = HandoffStatus(handoff.status)
            mine = status == HandoffStatus.ACTIVE and handoff.owner == me.staff.key
            return pages.page(
                "handoff.html",
                me=me,
                flash=pending.notices,
                handoff=handoff,
                summary=summary,
                status=status,
                status_text=STATUSES[status],
                reason_text=REASONS.get(handoff.reason, handoff.reason),
                mine=mine,
                can_reply=status == HandoffStatus.WAITING or mine,
                lines=_lines(messages, events, zone),
                after_message=max((m.id for m in messages), default=0),
                after_event=max((e.id for e in events), default=0),
                canned=answers,
                canned_topic=chosen.topic if chosen else "",
                reply_text=reply_text,
                note_text=pending.drafts.get(f"{handoff.reference}:note", ""),
                max_chars=MAX_TEXT_CHARS,
                outcomes=OUTCOMES,
                conversation_public_id=conversation.public_id,
                requested_at=_local(handoff.requested_at, zone),
                earlier=[(e, _local(e.requested_at, zone)) for e in summary.earlier],
            )

        def whole_transcript(
            session: Session, handoff: Handoff
        ) -> tuple[list[TranscriptEntry], list[TranscriptEntry]]:
            messages: list[TranscriptEntry] = []
            events: list[TranscriptEntry] = []
            while True:
                more_messages, more_events = desk.transcript(
                    session,
                    handoff,
                    after_message=messages[-1].id if messages else 0,
                    after_event=events[-1].id if events else 0,
                    limit=TRANSCRIPT_PAGE,
                )
                messages += more_messages
                events += more_events
                if len(more_messages) < TRANSCRIPT_PAGE and len(more_events) < TRANSCRIPT_PAGE:
                    return messages, events

        @router.get("/desk/h/{reference}/updates")
        async def updates(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: Staff,
            after_message: Annotated[int, Query(ge=0)] = 0,
            after_event: Annotated[int, Query(ge=0)] = 0,
        ) -> Response:
            with desk.session() as session:
                try:
                    handoff = desk.get(session, reference)
                except DeskError as exc:
                    return JSONResponse({"detail": str(exc)}, 404)
                messages, events = desk.transcript(
                    session,
                    handoff,
                    after_message=after_message,
                    after_event=after_event,
                    limit=TRANSCRIPT_PAGE,
                )
            return JSONResponse(
                {
                    "status": handoff.status,
                    "status_text": STATUSES[HandoffStatus(handoff.status)],
                    "owner": handoff.owner_name,
                    "mine": handoff.owner == me.staff.key,
                    "lines": [line.as_json() for line in _lines(messages, events, zone)],
                    "after_message": max((m.id for m in messages), default=after_message),
                    "after_event": max((e.id for e in events), default=after_event),
                }
            )

        def act(
            me: SignedIn,
            reference: str,
            action: Callable[[Session], str],
            *,
            draft: tuple[str, str] | None = None,
            done_url: str | None = None,
        ) -> RedirectResponse:
            """Runs one desk action and goes back to the conversation with what happened."""
            with desk.session() as session:
                try:
                    said = action(session)
                except DeskError as exc:
                    pages.flash(me, "error", str(exc))
                    if draft is not None:
                        pages.keep_draft(me, reference.upper(), *draft)
                    return pages.back(handoff_url(reference))
            pages.flash(me, "done", said)
            return pages.back(done_url or handoff_url(reference))

        @router.post("/desk/h/{reference}/claim")
        async def claim(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: StaffForm,
        ) -> Response:

            def claimed(session: Session) -> str:
                handoff = desk.claim(session, reference, me.staff)
                return f"You own {handoff.reference} now; the citizen was told a person joined."

            return act(me, reference, claimed)

        @router.post("/desk/h/{reference}/release")
        async def release(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: StaffForm,
        ) -> Response:

            def released(session: Session) -> str:
                handoff = desk.release(session, reference, me.staff)
                return f"{handoff.reference} is back in the queue for another person."

            return act(me, reference, released)

        @router.post("/desk/h/{reference}/reply")
        async def reply(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: StaffForm,
            text: Annotated[str, Form()] = "",
        ) -> Response:
            text = _from_textarea(text)

            def sent(session: Session) -> str:
                _check_length(text, "answer")
                desk.reply(session, reference, me.staff, text)
                return "Your answer was sent to the citizen."

            return act(me, reference, sent, draft=("reply", text))

        @router.post("/desk/h/{reference}/note")
        async def note(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: StaffForm,
            text: Annotated[str, Form()] = "",
        ) -> Response:
            text = _from_textarea(text)

            def noted(session: Session) -> str:
                _check_length(text, "note")
                desk.note(session, reference, me.staff, text)
                return "Note added: the team sees it, the citizen does not."

            return act(me, reference, noted, draft=("note", text))

        @router.post("/desk/h/{reference}/close")
        async def close(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: StaffForm,
            outcome: Annotated[str, Form()] = "resolved",
            ask_rating: Annotated[str | None, Form()] = None,
        ) -> Response:
            asked = ask_rating is not None  # an unticked checkbox sends nothing

            def closed(session: Session) -> str:
                handoff = desk.close(
                    session, reference, me.staff, outcome=outcome, ask_rating=asked
                )
                return f"{handoff.reference} was handed back to the assistant ({outcome})." + (
                    " The citizen was asked to rate the help." if asked else ""
                )

            return act(me, reference, closed, done_url="/desk")

    return add
