"""The "Knowledge gaps" section of the web desk: what citizens asked that the knowledge base
does not answer, grouped by meaning, and drafting a new FAQ entry from a group.

* ``/desk/gaps``: the gaps of a period (the last 30 days unless chosen), a language and a
  channel, the largest first, each with all its questions; questions the assistant judged
  outside the project are listed apart. Below, the drafts waiting for review.
* ``/desk/gaps/draft?question=ID``: the form to draft an FAQ entry from the gap holding that
  question, prefilled with the gap's questions as training questions.
* ``POST /desk/gaps/drafts``: saves the draft (`bot.listening.faq_drafts`), or shows the form
  again with every problem and what was typed.

Adoption stays on the command line (``bot kb adopt ID``), where the knowledge base files are
edited and reviewed: the pages say so. Everything sits behind the desk's login, CSRF check and
security headers (`bot.staff_web.shell.DeskPages`); citizens' words are shown as text by the
autoescaping templates. Grouping (which may embed new questions) and saving run in a worker
thread, one at a time, so that the event loop keeps answering citizens.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Final, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.knowledge import KnowledgeBaseError, load_knowledge_base
from bot.listening.faq_drafts import (
    MAX_ANSWER_CHARS,
    MAX_SOURCES,
    MIN_QUESTIONS_PER_LANGUAGE,
    DraftError,
    DraftRefused,
    KnowledgeFiles,
    Proposal,
    linked_question_count,
    list_drafts,
    prefilled_questions,
    save_draft,
)
from bot.listening.gaps import Gap, GapQuestion, GapReport, GapsError, find_gaps
from bot.listening.reading import Reader
from bot.staff_web.shell import DeskPages, DeskSection, SignedIn, Staff, StaffForm
from bot.storage.models import Conversation, FaqDraft, UnansweredQuestion

GAPS_URL: Final = "/desk/gaps"
DEFAULT_DAYS: Final = 30
LONGEST_PERIOD_DAYS: Final = 366
SHOWN_GAPS: Final = 100
"""Gaps shown on the page at most (the largest); a narrower period shows the rest."""
LANGUAGE_NAMES: Final = {"fr": "French", "en": "English"}
CHANNEL_PATTERN: Final = r"^[a-z0-9_-]{0,32}$"

LanguageChoice = Literal["", "fr", "en"]
T = TypeVar("T")


@dataclass(frozen=True)
class Filters:
    """What the gaps page shows: a period of calendar days (both included), a language and a
    channel ("" for all)."""

    start: date
    end: date
    language: str
    channel: str

    def span(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """The period as aware datetimes, the end excluded."""
        since = datetime.combine(self.start, time(0), zone)
        until = datetime.combine(self.end + timedelta(days=1), time(0), zone)
        return since, until

    def query(self, **more: Any) -> str:
        """The filters (and `more`) as a query string."""
        values: dict[str, Any] = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.language:
            values["language"] = self.language
        if self.channel:
            values["channel"] = self.channel
        values.update(more)
        return urlencode(values)

    @property
    def text(self) -> str:
        """The period in words."""
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass(frozen=True)
class ShownQuestion:
    """A question of a gap, as the page shows it."""

    text: str
    language: str
    channel: str
    when: str
    times: int
    out_of_scope: bool
    drafted: bool
    outcome: str = ""  # what the citizen was given: no reviewed answer, or the passage quoted


@dataclass(frozen=True)
class ShownGap:
    """A gap, as the page shows it."""

    representative: str
    question_id: int
    size: int
    citizens: int
    first_asked: str
    last_asked: str
    languages: str
    channels: str
    out_of_scope: bool
    judged_out_of_scope: int
    drafts: tuple[str, ...]
    can_draft: bool
    questions: tuple[ShownQuestion, ...]


@dataclass(frozen=True)
class ShownDraft:
    """A draft waiting for review, as the page shows it."""

    id: int
    topic: str
    author: str
    created: str
    answer_fr: str
    answer_en: str
    sources: str
    training_questions: int
    linked: int


def gaps_section(*, engine: Engine, reader: Reader, files: KnowledgeFiles) -> DeskSection:
    """The knowledge gaps section of the desk.

    Args:
        engine: the database.
        reader: embeds questions to group them (the assistant's `ModelReader`).
        files: the knowledge base and training data drafts must fit in.
    """
    # The reader embeds new questions; one grouping at a time keeps it (and the CPU) calm.
    working = threading.Lock()

    def one_at_a_time(work: Callable[[], T]) -> T:
        with working:
            return work()

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        def filters_from(
            start: date | None, end: date | None, language: str, channel: str
        ) -> Filters:
            today = datetime.now(zone).date()
            end = end or today
            start = start or end - timedelta(days=DEFAULT_DAYS - 1)
            if end < start:
                raise GapsError("The period ends before it starts: choose an end after the start.")
            if (end - start).days >= LONGEST_PERIOD_DAYS:
                raise GapsError(f"Choose a period of at most {LONGEST_PERIOD_DAYS} days.")
            return Filters(start=start, end=end, language=language, channel=channel)

        def report_for(filters: Filters) -> GapReport:
            since, until = filters.span(zone)
            return find_gaps(
                engine,
                reader,
                since=since,
                until=until,
                language=filters.language or None,
                channel=filters.channel or None,
            )

        @router.get(GAPS_URL)
        async def gaps_page(
            me: Staff,
            start: Annotated[date | None, Query()] = None,
            end: Annotated[date | None, Query()] = None,
            language: Annotated[LanguageChoice, Query()] = "",
            channel: Annotated[str, Query(pattern=CHANNEL_PATTERN)] = "",
        ) -> Response:
            try:
                filters = filters_from(start, end, language, channel)
            except GapsError as exc:
                return pages.problem("Period refused", str(exc), status_code=400)

            def read() -> dict[str, Any]:
                report = report_for(filters)
                shown = [_shown_gap(g, zone) for g in report.gaps[:SHOWN_GAPS]]
                return {
                    "report": report,
                    "project_gaps": [g for g in shown if not g.out_of_scope],
                    "outside_gaps": [g for g in shown if g.out_of_scope],
                    "hidden": max(0, len(report.gaps) - SHOWN_GAPS),
                    "drafts": _shown_drafts(engine, zone),
                    "channels": _channels(engine),
                }

            try:
                found = await asyncio.to_thread(one_at_a_time, read)
            except GapsError as exc:
                return pages.problem("Gaps unavailable", str(exc), status_code=503)
            return pages.page(
                "gaps.html",
                me=me,
                flash=pages.take_flashes(me),
                filters=filters,
                languages=LANGUAGE_NAMES,
                **found,
            )

        def draft_form(
            me: SignedIn,
            filters: Filters,
            *,
            gap: ShownGap,
            question_ids: Sequence[int],
            values: dict[str, Any],
            problems: Sequence[str] = (),
            status_code: int = 200,
        ) -> Response:
            try:
                documents = load_knowledge_base(files.knowledge_base).documents
            except KnowledgeBaseError as exc:
                return pages.problem("Knowledge base unreadable", str(exc), status_code=500)
            return pages.page(
                "gaps_draft.html",
                status_code=status_code,
                me=me,
                flash=[("error", p) for p in problems],
                filters=filters,
                gap=gap,
                question_ids=list(question_ids),
                documents=[
                    (doc.id, f"{doc.title['en']} ({doc.date.isoformat()})")
                    for doc in documents.values()
                ],
                values=values,
                max_sources=MAX_SOURCES,
                max_answer_chars=MAX_ANSWER_CHARS,
                min_per_language=MIN_QUESTIONS_PER_LANGUAGE,
            )

        @router.get(f"{GAPS_URL}/draft")
        async def draft_page(
            question: Annotated[int, Query(ge=1)],
            me: Staff,
            start: Annotated[date | None, Query()] = None,
            end: Annotated[date | None, Query()] = None,
            language: Annotated[LanguageChoice, Query()] = "",
            channel: Annotated[str, Query(pattern=CHANNEL_PATTERN)] = "",
        ) -> Response:
            try:
                filters = filters_from(start, end, language, channel)
            except GapsError as exc:
                return pages.problem("Period refused", str(exc), status_code=400)

            def find() -> Gap | None:
                report = report_for(filters)
                return next((g for g in report.gaps if g.contains(question)), None)

            try:
                gap = await asyncio.to_thread(one_at_a_time, find)
            except GapsError as exc:
                return pages.problem("Gaps unavailable", str(exc), status_code=503)
            if gap is None:
                return pages.problem(
                    "Gap not found",
                    "This question is not among the period's unanswered questions any more "
                    "(erased at the citizen's request, or outside the filters). Go back to the "
                    "knowledge gaps and choose again.",
                    status_code=404,
                )
            undrafted = gap.undrafted
            if not undrafted:
                pages.flash(me, "error", "Every question of this gap is already in a draft.")
                return pages.back(f"{GAPS_URL}?{filters.query()}")
            prefill = prefilled_questions(gap)
            values = {
                "topic": "",
                "answer_fr": "",
                "answer_en": "",
                "sources": [],
                "questions_fr": "\n".join(prefill["fr"]),
                "questions_en": "\n".join(prefill["en"]),
            }
            return await asyncio.to_thread(
                draft_form,
                me,
                filters,
                gap=_shown_gap(gap, zone),
                question_ids=[i for q in undrafted for i in q.ids],
                values=values,
            )

        @router.post(f"{GAPS_URL}/drafts")
        async def save(
            question: Annotated[int, Form(ge=1)],
            me: StaffForm,
            topic: Annotated[str, Form(max_length=200)] = "",
            answer_fr: Annotated[str, Form(max_length=20000)] = "",
            answer_en: Annotated[str, Form(max_length=20000)] = "",
            sources: Annotated[list[str] | None, Form()] = None,
            questions_fr: Annotated[str, Form(max_length=50000)] = "",
            questions_en: Annotated[str, Form(max_length=50000)] = "",
            question_ids: Annotated[list[int] | None, Form()] = None,
            start: Annotated[date | None, Form()] = None,
            end: Annotated[date | None, Form()] = None,
            language: Annotated[LanguageChoice, Form()] = "",
            channel: Annotated[str, Form(pattern=CHANNEL_PATTERN)] = "",
        ) -> Response:
            try:
                filters = filters_from(start, end, language, channel)
            except GapsError as exc:
                return pages.problem("Period refused", str(exc), status_code=400)
            proposal = Proposal.from_form(
                topic=topic,
                answer_fr=answer_fr,
                answer_en=answer_en,
                sources=sources or [],
                questions_fr=questions_fr,
                questions_en=questions_en,
            )
            ids = sorted(set(question_ids or []))

            def store() -> FaqDraft:
                return save_draft(
                    engine, proposal, files=files, author=me.staff.key, question_ids=ids
                )

            try:
                draft = await asyncio.to_thread(one_at_a_time, store)
            except DraftError as exc:
                problems = exc.problems if isinstance(exc, DraftRefused) else (str(exc),)
                gap = await asyncio.to_thread(_gap_of_rows, engine, ids, question, zone)
                values = {
                    "topic": topic.strip(),
                    "answer_fr": answer_fr,
                    "answer_en": answer_en,
                    "sources": list(proposal.sources),
                    "questions_fr": questions_fr,
                    "questions_en": questions_en,
                }
                return await asyncio.to_thread(
                    draft_form,
                    me,
                    filters,
                    gap=gap,
                    question_ids=ids,
                    values=values,
                    problems=problems,
                    status_code=400,
                )
            pages.flash(
                me,
                "done",
                f"Draft #{draft.id} (faq/{draft.topic}) is saved and waits for review. A person "
                f"adopts it on the command line: bot kb adopt {draft.id}.",
            )
            return pages.back(f"{GAPS_URL}?{filters.query()}#drafts")

    return add


# --- what the pages show ----------------------------------------------------------------------


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _shown_question(question: GapQuestion, zone: tzinfo, drafted: bool) -> ShownQuestion:
    return ShownQuestion(
        text=question.text,
        language=(question.language or "?").upper(),
        channel=question.channel,
        when=_local(question.last_asked, zone),
        times=question.times,
        out_of_scope=question.reason == "out_of_scope",
        drafted=drafted,
        outcome=_outcome(question.reason, question.answered_with),
    )


def _outcome(reason: str, answered_with: str | None) -> str:
    """What the citizen was given instead of a reviewed answer, in the page's words."""
    if reason == "passage" and answered_with:
        return f"quoted {answered_with}"
    if reason == "no_reviewed_answer":
        return "told no reviewed answer"
    return ""


def _shown_gap(gap: Gap, zone: tzinfo) -> ShownGap:
    undrafted = {q.id for q in gap.undrafted}
    drafts = []
    for mark in gap.drafts:
        if mark.status == "draft":
            drafts.append(f"draft #{mark.id} faq/{mark.topic}, waiting for review")
        elif mark.status == "adopted":
            drafts.append(f"adopted as faq/{mark.topic} (draft #{mark.id})")
    return ShownGap(
        representative=gap.representative.text,
        question_id=gap.representative.id,
        size=gap.size,
        citizens=gap.citizens,
        first_asked=_local(gap.first_asked, zone),
        last_asked=_local(gap.last_asked, zone),
        languages=", ".join(lang.upper() for lang in gap.languages) or "?",
        channels=", ".join(gap.channels),
        out_of_scope=gap.out_of_scope,
        judged_out_of_scope=sum(1 for q in gap.questions if q.reason == "out_of_scope"),
        drafts=tuple(drafts),
        can_draft=bool(undrafted),
        questions=tuple(
            _shown_question(q, zone, drafted=q.id not in undrafted) for q in gap.questions
        ),
    )


def _gap_of_rows(engine: Engine, ids: Sequence[int], question: int, zone: tzinfo) -> ShownGap:
    """The questions a refused form was about, shown again beside it (without regrouping)."""
    with Session(engine) as session:
        rows = session.exec(
            select(UnansweredQuestion, Conversation)
            .join(Conversation, col(UnansweredQuestion.conversation_id) == col(Conversation.id))
            .where(col(UnansweredQuestion.id).in_([*ids, question]))
            .order_by(col(UnansweredQuestion.created_at), col(UnansweredQuestion.id))
        ).all()
    shown = tuple(
        ShownQuestion(
            text=row.text,
            language=(row.language or "?").upper(),
            channel=conversation.channel,
            when=_local(row.created_at, zone),
            times=1,
            out_of_scope=row.reason == "out_of_scope",
            drafted=row.faq_draft_id is not None,
            outcome=_outcome(row.reason, row.answered_with),
        )
        for row, conversation in rows
    )
    first = next((row for row, _ in rows if row.id == question), rows[0][0] if rows else None)
    return ShownGap(
        representative=first.text if first else "",
        question_id=question,
        size=len(shown),
        citizens=len({(c.channel, c.citizen_id) for _, c in rows}),
        first_asked=shown[0].when if shown else "",
        last_asked=shown[-1].when if shown else "",
        languages=", ".join(sorted({q.language for q in shown})),
        channels=", ".join(sorted({q.channel for q in shown})),
        out_of_scope=bool(shown) and all(q.out_of_scope for q in shown),
        judged_out_of_scope=sum(1 for q in shown if q.out_of_scope),
        drafts=(),
        can_draft=True,
        questions=shown,
    )


def _shown_drafts(engine: Engine, zone: tzinfo) -> list[ShownDraft]:
    shown = []
    for draft in list_drafts(engine):
        assert draft.id is not None
        shown.append(
            ShownDraft(
                id=draft.id,
                topic=draft.topic,
                author=draft.author,
                created=_local(draft.created_at, zone),
                answer_fr=draft.answer_fr,
                answer_en=draft.answer_en,
                sources=", ".join(draft.sources),
                training_questions=len(draft.questions),
                linked=linked_question_count(engine, draft.id),
            )
        )
    return shown


def _channels(engine: Engine) -> list[str]:
    """The channels unanswered questions came from (for the filter)."""
    with Session(engine) as session:
        found = session.exec(
            select(Conversation.channel)
            .join(
                UnansweredQuestion, col(UnansweredQuestion.conversation_id) == col(Conversation.id)
            )
            .distinct()
        ).all()
    return sorted(found)
