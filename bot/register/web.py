"""The concern register on the web desk: community managers list, read and work concerns and
export them without a terminal.

* ``/desk/concerns``: the list, with the filters used every day (status, kind, category,
  channel, language, severity, assignee, overdue, confidential, dates, words), sortable and
  paged (50 a page, one indexed query and one count whatever the register's size); counts
  per status at the top; overdue concerns marked. ``view=mine`` and ``view=week`` are "my
  concerns" (open, assigned to me) and "due this week" (an answer due in the next 7 days).
* ``/desk/concerns/<reference>``: the citizen's words, the facts, the whole append-only
  history (who, when, what, whether the citizen saw it), the conversation it came from, and
  the actions: acknowledge, assign, change category or severity, note, answer the citizen
  (sent on their channel, in their language), close with an outcome, reopen on appeal.
  Every form carries the version of the concern it was made from: a colleague's change in
  between refuses the action (409) and shows the page again with what was typed.
* ``/desk/concerns/export``: the current filter as CSV (``,`` or ``;``, with a byte order
  mark), XLSX or JSON Lines, streamed. Pseudonymised for everyone; with the citizens' chat
  ids only for a manager who signs in with two steps and states a reason (audited).

Everything sits behind the desk's login, CSRF check and security headers
(`bot.staff_web.shell.DeskPages`); citizens' words are shown as text by the autoescaping templates.
The register's rules (transitions, deadlines, what the citizen is told) are `Register`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, Form, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.common.categories import CATEGORIES
from bot.register.export import stream_concerns
from bot.register.filters import ConcernFilter
from bot.register.service import (
    SEVERITIES,
    ConcernNotFound,
    Register,
    RegisterError,
    StaleConcern,
)
from bot.staff_web.accounts import MANAGER, list_accounts
from bot.staff_web.shell import DeskPages, DeskSection, SignedIn, Staff, StaffForm
from bot.storage.models import (
    Concern,
    ConcernEvent,
    ConcernKind,
    ConcernOutcome,
    ConcernStatus,
    Conversation,
    Message,
)

CONCERNS_URL: Final = "/desk/concerns"
PAGE_SIZE: Final = 50
MAX_PAGE: Final = 10_000
MAX_TEXT: Final = 5_000
MAX_WORDS: Final = 200
TRANSCRIPT_LIMIT: Final = 500
REFERENCE_PATTERN: Final = r"^[A-Za-z0-9-]{1,32}$"
CHOICE_PATTERN: Final = r"^[a-z0-9_.-]{0,64}$"

STATUS_NAMES: Final = {
    ConcernStatus.RECEIVED: "received",
    ConcernStatus.ACKNOWLEDGED: "acknowledged",
    ConcernStatus.IN_REVIEW: "in review",
    ConcernStatus.RESPONDED: "responded",
    ConcernStatus.CLOSED: "closed",
}
OPEN = [s.value for s in ConcernStatus if s is not ConcernStatus.CLOSED]
SORTS: Final = {
    "newest": "newest first",
    "oldest": "oldest first",
    "due": "reply-by date",
    "reference": "reference",
}
EXPORT_FORMATS: Final = {
    "csv": ("CSV (comma)", "text/csv; charset=utf-8", "csv", ","),
    "csv-semicolon": (
        "CSV (semicolon, for Excel in French)",
        "text/csv; charset=utf-8",
        "csv",
        ";",
    ),
    "xlsx": (
        "Excel (XLSX)",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        ",",
    ),
    "jsonl": ("JSON Lines", "application/x-ndjson; charset=utf-8", "jsonl", ","),
}
EVENT_NAMES: Final = {
    "received": "Received",
    "transition": "Status changed",
    "appeal": "Appealed by the citizen",
    "detail": "The citizen added",
    "response": "Answer to the citizen",
    "note": "Internal note",
    "assignment": "Assigned",
    "classification": "Reclassified",
}

Choice = Annotated[str, Query(max_length=64, pattern=CHOICE_PATTERN)]


@dataclass(frozen=True)
class ListQuery:
    """What the list shows: the filters as typed in the page's form, the sort and the page."""

    status: str = ""
    kind: str = ""
    category: str = ""
    channel: str = ""
    language: str = ""
    severity: str = ""
    assignee: str = ""  # a username, "none" (nobody) or "" (anyone)
    overdue: bool = False
    confidential: str = ""  # "yes", "no" or ""
    since: date | None = None
    until: date | None = None
    words: str = ""
    sort: str = "newest"
    page: int = 1
    view: str = ""  # "mine", "week" or ""

    def selection(self, me: SignedIn, today: date) -> ConcernFilter:
        """The register's filter for this query (the view's conditions included)."""
        assignee: str | None = None
        if self.view == "mine":
            assignee = me.username
        elif self.assignee == "none":
            assignee = ""
        elif self.assignee:
            assignee = self.assignee
        statuses: Sequence[str] = [self.status] if self.status else ()
        if self.view == "mine" and not self.status:
            statuses = OPEN  # ("due this week" holds only concerns awaiting an answer)
        return ConcernFilter(
            since=self.since,
            until=self.until,
            statuses=statuses,
            categories=[self.category] if self.category else (),
            kinds=[self.kind] if self.kind else (),
            channels=[self.channel] if self.channel else (),
            languages=[self.language] if self.language else (),
            assignee=assignee,
            overdue_on=today if self.overdue else None,
            severities=[self.severity] if self.severity else (),
            confidential={"yes": True, "no": False}.get(self.confidential),
            words=self.words,
            # "Due this week": the reply is due in the coming seven days (late ones: overdue).
            due_by=today + timedelta(days=7) if self.view == "week" else None,
            due_from=today if self.view == "week" else None,
        )

    def url(self, **changes: Any) -> str:
        """The list's address with `changes` (the page goes back to 1 unless given)."""
        values = replace(self, **({"page": 1} | changes))
        return f"{CONCERNS_URL}?{values.query_string()}"

    def query_string(self, *, page: bool = True) -> str:
        pairs: dict[str, Any] = {}
        for name in (
            "view", "status", "kind", "category", "channel", "language", "severity",
            "assignee", "confidential", "words",
        ):  # fmt: skip
            value = getattr(self, name)
            if value:
                pairs[name] = value
        if self.overdue:
            pairs["overdue"] = "1"
        if self.since:
            pairs["since"] = self.since.isoformat()
        if self.until:
            pairs["until"] = self.until.isoformat()
        if self.sort != "newest":
            pairs["sort"] = self.sort
        if page and self.page > 1:
            pairs["page"] = self.page
        return urlencode(pairs)


@dataclass(frozen=True)
class ConcernForm:
    """A form that changes a concern: who sends it, the concern, and the version of the
    concern the form was made from (a change made on an older one is refused)."""

    me: SignedIn
    reference: str
    version: int

    @property
    def actor(self) -> str:
        return self.me.staff.key


def concern_form(
    me: StaffForm,
    reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
    version: Annotated[int, Form(ge=1)],
) -> ConcernForm:
    """The dependency of every form that changes a concern (the CSRF token checked)."""
    return ConcernForm(me=me, reference=reference, version=version)


Change = Annotated[ConcernForm, Depends(concern_form)]


@dataclass(frozen=True)
class Row:
    """A concern as a line of the list."""

    reference: str
    received: str
    status: str
    kind: str
    category: str
    severity: str
    channel: str
    language: str
    assignee: str
    respond_by: str
    overdue: str  # "" or what is late ("acknowledgement", "answer")
    confidential: bool
    preview: str


@dataclass(frozen=True)
class HistoryLine:
    """An event of the concern's history, as the page shows it."""

    at: str
    who: str
    what: str
    text: str
    seen_by_citizen: bool


def list_query(
    view: Annotated[Literal["", "mine", "week"], Query()] = "",
    status: Choice = "",
    kind: Choice = "",
    category: Choice = "",
    channel: Choice = "",
    language: Choice = "",
    severity: Choice = "",
    assignee: Choice = "",
    overdue: Annotated[Literal["", "1"], Query()] = "",
    confidential: Annotated[Literal["", "yes", "no"], Query()] = "",
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    words: Annotated[str, Query(max_length=MAX_WORDS)] = "",
    sort: Annotated[Literal["newest", "oldest", "due", "reference"], Query()] = "newest",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> ListQuery:
    """The list's filters, sort and page from the query string (a FastAPI dependency shared
    by the list and its export; anything malformed is a 400 page)."""
    return ListQuery(
        status=status, kind=kind, category=category, channel=channel, language=language,
        severity=severity, assignee=assignee, overdue=overdue == "1", confidential=confidential,
        since=since, until=until, words=words.strip(), sort=sort, page=page, view=view,
    )  # fmt: skip


def register_section(register: Register, *, project_channels: Sequence[str] = ()) -> DeskSection:
    """The concern register's pages, for `desk_router(sections=[...])`.

    Args:
        register: the concern register (its database, calendar and rules).
        project_channels: more channels offered in the filter (beside web, telegram, discord and
            terminal).
    """
    engine = register.engine
    channels = sorted({"web", "telegram", "discord", "terminal", *project_channels})

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        def today() -> date:
            return register.calendar.today()

        @router.get(CONCERNS_URL)
        async def concern_list(
            shown: Annotated[ListQuery, Depends(list_query)],
            me: Staff,
        ) -> Response:
            day = today()
            selection = shown.selection(me, day)
            with Session(engine) as session:
                rows, more = _page_of(session, selection, shown.sort, shown.page)
                total = int(
                    session.exec(selection.apply(select(func.count()).select_from(Concern))).one()
                )
                by_status = _counts_by_status(session)
                staff = [a.username for a in list_accounts(session=session) if a.active]
            return pages.page(
                "concerns.html",
                me=me,
                flash=pages.take_flashes(me),
                rows=[_row(c, day, zone) for c in rows],
                total=total,
                more=more,
                query=shown,
                by_status=by_status,
                status_names=STATUS_NAMES,
                kinds=[k.value for k in ConcernKind],
                categories=CATEGORIES,
                severities=SEVERITIES,
                channels=channels,
                languages=("fr", "en"),
                staff=staff,
                sorts=SORTS,
                formats={key: value[0] for key, value in EXPORT_FORMATS.items()},
                export_query=shown.query_string(page=False),
                export_fields=parse_qsl(shown.query_string(page=False)),
            )

        @router.get(CONCERNS_URL + "/export")
        async def export_pseudonymised(
            shown: Annotated[ListQuery, Depends(list_query)],
            me: Staff,
            format: Annotated[Literal["csv", "csv-semicolon", "xlsx", "jsonl"], Query()] = "csv",
        ) -> Response:
            return _download(
                engine, shown.selection(me, today()), format, me, identified=False, reason=None
            )

        @router.post(CONCERNS_URL + "/export")
        async def export_identified(
            shown: Annotated[ListQuery, Depends(list_query)],
            me: StaffForm,
            reason: Annotated[str, Form(max_length=500)] = "",
            format: Annotated[Literal["csv", "csv-semicolon", "xlsx", "jsonl"], Form()] = "csv",
        ) -> Response:
            pages.require(me, MANAGER, "export with identifiers")
            if not me.two_step:
                return pages.problem(
                    "Two-step sign-in needed",
                    "An export with identifiers needs an account that signs in with an "
                    "authenticator app too: turn it on with `bot staff totp` first.",
                    status_code=403,
                )
            if not reason.strip():
                pages.flash(me, "error", "Say why you need the identifiers: it is recorded.")
                return pages.back(shown.url(page=shown.page))
            return _download(
                engine, shown.selection(me, today()), format, me, identified=True, reason=reason
            )

        @router.get(CONCERNS_URL + "/{reference}")
        async def concern_page(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: Staff,
        ) -> Response:
            return _concern_page(pages, me, reference)

        @router.get(CONCERNS_URL + "/{reference}/conversation")
        async def conversation_page(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: Staff,
        ) -> Response:
            try:
                concern = register.get(reference)
            except ConcernNotFound as exc:
                return pages.problem("No such concern", str(exc), status_code=404)
            with Session(engine) as session:
                conversation = session.get(Conversation, concern.conversation_id)
                messages = session.exec(
                    select(Message)
                    .where(Message.conversation_id == concern.conversation_id)
                    .order_by(col(Message.id).desc())
                    .limit(TRANSCRIPT_LIMIT)
                ).all()
            lines = [
                (
                    _local(m.created_at, zone),
                    "citizen" if m.direction == "in" else "assistant or team",
                    m.text,
                )
                for m in reversed(messages)
            ]
            return pages.page(
                "concern_conversation.html",
                me=me,
                concern=concern,
                channel=conversation.channel if conversation else "",
                lines=lines,
                cut=len(messages) == TRANSCRIPT_LIMIT,
            )

        def act(
            form: ConcernForm,
            work: Callable[[ConcernForm], object],
            done: str,
            typed: dict[str, str] | None = None,
        ) -> Response:
            me, reference = form.me, form.reference
            try:
                work(form)
            except StaleConcern as exc:
                return _concern_page(pages, me, reference, conflict=str(exc), typed=typed or {})
            except RegisterError as exc:
                pages.flash(me, "error", str(exc))
            else:
                pages.flash(me, "done", done)
            return pages.back(f"{CONCERNS_URL}/{quote(reference.upper(), safe='-')}")

        @router.post(CONCERNS_URL + "/{reference}/acknowledge")
        async def acknowledge(
            form: Change, message: Annotated[str, Form(max_length=MAX_TEXT)] = ""
        ) -> Response:
            return act(
                form,
                lambda f: register.acknowledge(
                    f.reference, actor=f.actor, message=message.strip() or None, seen=f.version
                ),
                "Acknowledged: the citizen was told.",
                {"acknowledge": message},
            )

        @router.post(CONCERNS_URL + "/{reference}/assign")
        async def assign(
            form: Change,
            assignee: Annotated[str, Form(max_length=64, pattern=CHOICE_PATTERN)] = "",
        ) -> Response:
            def work(f: ConcernForm) -> None:
                if assignee:
                    with Session(engine) as session:
                        known = {a.username for a in list_accounts(session=session) if a.active}
                    if assignee not in known:
                        raise RegisterError(f"There is no active staff account {assignee}.")
                register.assign(f.reference, actor=f.actor, assignee=assignee, seen=f.version)

            return act(
                form, work, f"Assigned to {assignee}." if assignee else "Assigned to nobody."
            )

        @router.post(CONCERNS_URL + "/{reference}/classify")
        async def classify(
            form: Change,
            category: Annotated[str, Form(max_length=32, pattern=CHOICE_PATTERN)] = "",
            severity: Annotated[str, Form(max_length=8, pattern=CHOICE_PATTERN)] = "",
        ) -> Response:
            return act(
                form,
                lambda f: register.classify(
                    f.reference,
                    actor=f.actor,
                    category=category or None,
                    severity=severity or None,
                    seen=f.version,
                ),
                "Category and severity saved (the history keeps the old ones).",
            )

        @router.post(CONCERNS_URL + "/{reference}/note")
        async def note(
            me: StaffForm,
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            text: Annotated[str, Form(max_length=MAX_TEXT)] = "",
        ) -> Response:
            def work(f: ConcernForm) -> None:
                if not text.strip():
                    raise RegisterError("A note needs a text.")
                register.note(f.reference, actor=f.actor, text=text.strip())

            # A note changes nothing a colleague could be changing at once: no version.
            form = ConcernForm(me=me, reference=reference, version=0)
            return act(form, work, "Noted (the citizen never sees notes).")

        @router.post(CONCERNS_URL + "/{reference}/answer")
        async def answer(
            form: Change, text: Annotated[str, Form(max_length=MAX_TEXT)] = ""
        ) -> Response:
            return act(
                form,
                lambda f: register.respond(
                    f.reference, actor=f.actor, text=text.strip(), seen=f.version
                ),
                "Answer sent to the citizen, on their channel.",
                {"answer": text},
            )

        @router.post(CONCERNS_URL + "/{reference}/close")
        async def close(
            form: Change,
            outcome: Annotated[str, Form(max_length=16, pattern=CHOICE_PATTERN)] = "",
            message: Annotated[str, Form(max_length=MAX_TEXT)] = "",
        ) -> Response:
            return act(
                form,
                lambda f: register.close(
                    f.reference,
                    actor=f.actor,
                    outcome=outcome,
                    message=message.strip() or None,
                    seen=f.version,
                ),
                "Closed: the citizen was told how to accept or appeal.",
                {"close": message},
            )

        @router.post(CONCERNS_URL + "/{reference}/reopen")
        async def reopen(
            form: Change, reason: Annotated[str, Form(max_length=MAX_TEXT)] = ""
        ) -> Response:
            def work(f: ConcernForm) -> None:
                if not reason.strip():
                    raise RegisterError("Say why the concern is reopened (e.g. an appeal).")
                register.reopen(f.reference, actor=f.actor, reason=reason.strip(), seen=f.version)

            return act(form, work, "Reopened for review.", {"reopen": reason})

        def _concern_page(
            pages: DeskPages,
            me: SignedIn,
            reference: str,
            *,
            conflict: str = "",
            typed: dict[str, str] | None = None,
        ) -> HTMLResponse:
            try:
                concern = register.get(reference)
                events = register.history(reference)
            except ConcernNotFound as exc:
                return pages.problem("No such concern", str(exc), status_code=404)
            with Session(engine) as session:
                staff = [a.username for a in list_accounts(session=session) if a.active]
            status = ConcernStatus(concern.status)
            return pages.page(
                "concern.html",
                status_code=409 if conflict else 200,
                me=me,
                flash=pages.take_flashes(me) + ([("error", conflict)] if conflict else []),
                concern=concern,
                row=_row(concern, today(), zone),
                received=_local(concern.received_at, zone),
                history=[_history_line(e, zone) for e in events],
                staff=staff,
                categories=CATEGORIES,
                severities=SEVERITIES,
                outcomes=[o.value for o in ConcernOutcome],
                status_names=STATUS_NAMES,
                is_open=status is not ConcernStatus.CLOSED,
                can_acknowledge=status is ConcernStatus.RECEIVED,
                typed=typed or {},
            )

    return add


def _page_of(
    session: Session, selection: ConcernFilter, sort: str, page: int
) -> tuple[list[Concern], bool]:
    query = selection.apply(select(Concern))
    order = {
        "newest": (col(Concern.received_at).desc(), col(Concern.id).desc()),
        "oldest": (col(Concern.received_at), col(Concern.id)),
        "due": (col(Concern.respond_by).is_(None), col(Concern.respond_by), col(Concern.id)),
        "reference": (col(Concern.reference),),
    }[sort]
    found = list(
        session.exec(query.order_by(*order).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
    )
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


def _counts_by_status(session: Session) -> dict[str, int]:
    """The whole register's concerns by status (read from the status index alone)."""
    query = select(Concern.status, func.count()).select_from(Concern).group_by(col(Concern.status))
    counts = {str(status): int(count) for status, count in session.exec(query).all()}
    return {s.value: counts.get(s.value, 0) for s in ConcernStatus}


def _row(concern: Concern, today: date, zone: tzinfo) -> Row:
    late = ""
    if concern.status != ConcernStatus.CLOSED:
        if (
            concern.responded_at is None
            and concern.respond_by is not None
            and concern.respond_by < today
        ):
            late = "answer"
        elif (
            concern.status == ConcernStatus.RECEIVED
            and concern.acknowledge_by is not None
            and concern.acknowledge_by < today
        ):
            late = "acknowledgement"
    text = " ".join(concern.text.split())
    return Row(
        reference=concern.reference,
        received=_local(concern.received_at, zone),
        status=STATUS_NAMES.get(ConcernStatus(concern.status), concern.status),
        kind=concern.kind,
        category=concern.category,
        severity=concern.severity,
        channel=concern.channel,
        language=concern.language,
        assignee=concern.assignee or "",
        respond_by=concern.respond_by.isoformat() if concern.respond_by else "",
        overdue=late,
        confidential=concern.confidential,
        preview=text if len(text) <= 140 else text[:139] + "…",
    )


def _history_line(event: ConcernEvent, zone: tzinfo) -> HistoryLine:
    what = EVENT_NAMES.get(event.kind, event.kind)
    if event.kind in ("transition", "appeal") and event.to_status:
        what = f"{what}: {event.from_status or '—'} → {event.to_status}"
    who = event.actor.removeprefix("staff:web:").removeprefix("staff:")
    return HistoryLine(
        at=_local(event.at, zone),
        who=who,
        what=what,
        text=event.text or "",
        seen_by_citizen=event.visible_to_citizen,
    )


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _download(
    engine: Engine,
    selection: ConcernFilter,
    format: str,
    me: SignedIn,
    *,
    identified: bool,
    reason: str | None,
) -> StreamingResponse:
    _, media_type, extension, delimiter = EXPORT_FORMATS[format]
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    name = f"concerns-{'identified-' if identified else ''}{stamp}.{extension}"
    chunks = stream_concerns(
        engine,
        filter=selection,
        format=extension,  # type: ignore[arg-type]
        delimiter=delimiter,
        identified=identified,
        actor=me.staff.key,
        reason=reason,
    )
    return StreamingResponse(
        chunks,  # a plain iterator: Starlette reads it in a worker thread
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
