"""The web inbox of the human desk: where community managers sign in, see the conversations
handed to a person, claim one, read it, answer the citizen, keep internal notes and hand the
conversation back to the assistant.

The pages are rendered on the server and work without JavaScript; ``static/desk.js`` only
adds the live transcript and fills the reply box from a canned answer. The handoff logic is
`Desk`'s (which also audits every action); this module turns HTTP into `Desk` calls and back.

Security, in one place:

* the session is a random token in an HttpOnly, SameSite=Strict cookie limited to ``/desk``
  (Secure when the server is reached over HTTPS), only its hash is stored (`accounts`);
* every POST carries a CSRF token: the session's, or before login a double-submit cookie;
* failed logins are throttled per username and per client, with one sentence that does not
  tell whether the username exists;
* templates autoescape everything, and the pages forbid inline scripts and styles
  (Content-Security-Policy), framing, referrers to other sites and caching.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Engine
from sqlmodel import Session

from bot.desk.accounts import (
    AGENT,
    MANAGER,
    PASSWORD_MAX,
    LoginThrottle,
    authenticate,
    close_session,
    csrf_ok,
    may,
    open_session,
    session_for_token,
)
from bot.desk.service import OUTCOMES, Desk, DeskError, StaffMember, TranscriptEntry
from bot.knowledge import LANGUAGES, KnowledgeBase, cite
from bot.storage import repository
from bot.storage.models import AuditEntry, Conversation, Handoff, HandoffStatus, utc_now

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DESK_STATIC = HERE / "static"
DESK_TEMPLATES = HERE / "templates"

SESSION_COOKIE = "desk_session"
LOGIN_CSRF_COOKIE = "desk_login_csrf"
COOKIE_PATH = "/desk"
LOGIN_URL = "/desk/login"
MAX_TEXT_CHARS = 5_000  # a reply or a note; the chat platforms split long replies
TRANSCRIPT_PAGE = 200
RECENTLY_CLOSED = timedelta(hours=12)
REFERENCE_PATTERN = r"^[A-Za-z0-9-]{1,32}$"
PUBLIC_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"

SECURITY_HEADERS = {
    # No inline script or style anywhere on the desk: data can never become code.
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

WRONG_LOGIN = "The username or the password is wrong."
EXPIRED_FORM = (
    "This form has expired or did not come from the desk: nothing was done. "
    "Reload the page and try again."
)

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

_pages = Environment(
    loader=FileSystemLoader(DESK_TEMPLATES),
    autoescape=True,  # every value is text unless a template says otherwise (none does)
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- who is signed in ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """The community manager behind a request."""

    session_id: int
    csrf: str = field(repr=False)
    token: str = field(repr=False)  # the cookie's secret: never in a log line
    username: str
    staff: StaffMember
    role: str = AGENT
    two_step: bool = False  # the account signs in with an authenticator app's code too

    @property
    def is_manager(self) -> bool:
        return may(self.role, MANAGER)


class _NotSignedIn(Exception):
    """No valid session cookie: pages send to the login form, JSON answers 401."""


class _ForgedForm(Exception):
    """A POST without the right CSRF token: refused with 403, nothing done."""


class NotAllowed(Exception):
    """The signed-in account's role does not allow this: refused with 403 (and audited)."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith("/updates")


def _page(
    template: str, *, status_code: int = 200, me: SignedIn | None = None, **context: Any
) -> HTMLResponse:
    html = _pages.get_template(template).render(me=me, **context)
    return HTMLResponse(html, status_code=status_code)


def _problem(title: str, sentence: str, *, status_code: int) -> HTMLResponse:
    return _page("problem.html", status_code=status_code, title=title, sentence=sentence)


class _DeskRoute(APIRoute):
    """A desk route: turns "not signed in" and "forged form" into their answers, and puts the
    security headers on every response, whatever the handler returned or raised."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            response: Response
            try:
                response = await handle(request)
            except _NotSignedIn:
                if _wants_json(request):
                    response = JSONResponse({"detail": "Sign in to the desk first."}, 401)
                else:
                    response = RedirectResponse(LOGIN_URL, status_code=303)
                response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
            except _ForgedForm:
                response = _problem("Form refused", EXPIRED_FORM, status_code=403)
            except NotAllowed as exc:
                response = _problem("Not allowed", exc.sentence, status_code=403)
            except RequestValidationError:
                sentence = "This address or form is not one the desk understands."
                if _wants_json(request):
                    response = JSONResponse({"detail": sentence}, 400)
                else:
                    response = _problem("Not understood", sentence, status_code=400)
            response.headers.update(SECURITY_HEADERS)
            return response

        return guarded


# --- what is shown once after a redirect -----------------------------------------------------


@dataclass
class _Pending:
    notices: list[tuple[str, str]] = field(default_factory=list)  # (kind, sentence)
    drafts: dict[str, str] = field(default_factory=dict)  # "<reference>:<box>" -> text


class _Flashes:
    """Sentences shown once on the next page of a session, and drafts a refused form gives
    back. Kept in memory by session id: nothing a visitor sends can forge one, and losing
    them at a restart is harmless."""

    def __init__(self, max_sessions: int = 1_000) -> None:
        self._max = max_sessions
        self._by_session: OrderedDict[int, _Pending] = OrderedDict()

    def add(self, session_id: int, kind: str, sentence: str) -> None:
        self._slot(session_id).notices.append((kind, sentence))

    def keep_draft(self, session_id: int, reference: str, box: str, text: str) -> None:
        if text.strip():
            self._slot(session_id).drafts[f"{reference}:{box}"] = text

    def take(self, session_id: int) -> _Pending:
        return self._by_session.pop(session_id, None) or _Pending()

    def _slot(self, session_id: int) -> _Pending:
        slot = self._by_session.setdefault(session_id, _Pending())
        self._by_session.move_to_end(session_id)
        while len(self._by_session) > self._max:
            self._by_session.popitem(last=False)
        return slot


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


# --- what other parts of the desk build on --------------------------------------------------


@dataclass(frozen=True)
class DeskPages:
    """What a section of the web desk (perception, updates...) needs to add its own pages
    behind the same login, CSRF check, security headers and flash messages.

    Attributes:
        signed_in: the community manager behind a request (or a redirect to the login form).
        posting: the same, for a POST whose CSRF token is checked (403 otherwise).
        require: ``require(me, "manager", "what they tried")`` refuses (403, audited as
            ``desk.refused``) an account whose role is below the one needed.
        page: renders a template of ``bot/desk/templates`` (autoescaped) as the answer:
            ``page("name.html", me=me, **context)``.
        problem: a page that says what went wrong: ``problem(title, sentence, status_code=)``.
        flash: shows a sentence once on the next page: ``flash(me, "done" | "error", text)``.
        take_flashes: the (kind, sentence) pairs waiting for this session, taken.
        back: a redirect (303) after a form.
        zone: the project's time zone, for showing times.
    """

    signed_in: Callable[[Request], SignedIn]
    posting: Callable[[Request, str], SignedIn]
    require: Callable[[SignedIn, str, str], None]
    page: Callable[..., HTMLResponse]
    problem: Callable[..., HTMLResponse]
    flash: Callable[[SignedIn, str, str], None]
    take_flashes: Callable[[SignedIn], list[tuple[str, str]]]
    back: Callable[[str], RedirectResponse]
    zone: tzinfo


DeskSection = Callable[[APIRouter, DeskPages], None]
"""Adds a section's routes to the desk's router (paths under ``/desk/``)."""


# --- the router ------------------------------------------------------------------------------


def client_address(request: Request, trusted_proxies: Collection[str]) -> str | None:
    """The address a request came from. Behind a reverse proxy listed in `trusted_proxies`, the
    last address of `X-Forwarded-For` that is not itself a trusted proxy (the header's earlier
    entries are whatever the client wrote); from anyone else, the header is ignored."""
    peer = request.client.host if request.client else None
    if peer is None or peer not in trusted_proxies:
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",")[-16:] if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop[:64]
    return peer


def desk_router(
    *,
    desk: Desk,
    engine: Engine,
    knowledge: KnowledgeBase,
    session_hours: int,
    secure_cookies: bool,
    idle_minutes: int = 60,
    sections: Iterable[DeskSection] = (),
    trusted_proxies: Collection[str] = (),
) -> APIRouter:
    """The web desk's pages, forms and live updates, all under ``/desk``.

    Desk actions run on the event loop, like the rest of the web app's database work:
    `Desk` wakes its listeners (the chat desks' relays) from the thread that acts. Only the
    password check, which is slow on purpose, runs in a worker thread.

    Args:
        desk: the handoff desk.
        engine: the database (staff accounts and sessions).
        knowledge: the knowledge base, for the canned answers.
        session_hours: how long a login lasts.
        secure_cookies: whether the cookies are sent over HTTPS only (any deployment that
            is not on loopback).
        sections: more pages behind the same login (the perception dashboard, updates...).
    """
    router = APIRouter(route_class=_DeskRoute, include_in_schema=False)
    router.mount("/desk/static", StaticFiles(directory=DESK_STATIC), name="desk-static")
    throttle = LoginThrottle()
    flashes = _Flashes()
    lifetime = timedelta(hours=session_hours)
    idle = timedelta(minutes=idle_minutes)
    zone = desk.schedule.calendar.zone

    def accounts_session() -> Session:
        return Session(engine, expire_on_commit=False)

    def signed_in(request: Request) -> SignedIn:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            raise _NotSignedIn
        with accounts_session() as session:
            found = session_for_token(session=session, token=token, idle=idle)
        if found is None:
            raise _NotSignedIn
        row, account = found
        assert row.id is not None
        return SignedIn(
            session_id=row.id,
            csrf=row.csrf_token,
            token=token,
            username=account.username,
            staff=StaffMember(
                key=f"staff:web:{account.username}", name=account.display_name, desk="web"
            ),
            role=account.role,
            two_step=account.totp_secret is not None,
        )

    def require(me: SignedIn, needed: str, action: str) -> None:
        if may(me.role, needed):
            return
        with accounts_session() as session:
            session.add(
                AuditEntry(
                    actor=me.staff.key,
                    action="desk.refused",
                    detail={"action": action[:80], "role": me.role, "needed": needed},
                )
            )
            session.commit()
        logger.warning("desk action refused to %s (%s): %s", me.staff.key, me.role, action)
        raise NotAllowed(
            f"Your role ({me.role}) does not allow this ({action}): ask a {needed} of the "
            "project team. The refusal is in the audit trail."
        )

    def posting(request: Request, csrf: str) -> SignedIn:
        me = signed_in(request)
        if not csrf_ok(me.csrf, csrf):
            logger.warning("desk form refused: bad CSRF token (%s)", me.staff.key)
            raise _ForgedForm
        return me

    def cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
        # Secure whenever the browser is on HTTPS, including behind a reverse proxy that talks
        # to us in plain HTTP on 127.0.0.1 (the usual deployment): a proxy says so in its
        # X-Forwarded-* headers. (A client adding them only makes its own cookie stricter.)
        proxied = "x-forwarded-proto" in request.headers or "x-forwarded-for" in request.headers
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            secure=secure_cookies or proxied or request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    def back(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def handoff_url(reference: str) -> str:
        return f"/desk/h/{quote(reference, safe='-')}"

    # --- signing in and out --------------------------------------------------------------

    def login_page(
        request: Request, *, error: str | None = None, status_code: int = 200
    ) -> HTMLResponse:
        token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not 20 <= len(token) <= 128:
            token = secrets.token_urlsafe(32)
        signed_out = request.query_params.get("signed_out") == "1"
        response = _page(
            "login.html",
            status_code=status_code,
            csrf=token,
            error=error,
            notice="You are signed out." if signed_out and error is None else None,
        )
        cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    @router.get("/desk/login")
    async def show_login(request: Request) -> Response:
        try:
            signed_in(request)
        except _NotSignedIn:
            return login_page(request)
        return back("/desk")

    @router.post("/desk/login")
    async def log_in(
        request: Request,
        username: Annotated[str, Form(max_length=256)] = "",
        code: Annotated[str, Form(max_length=32)] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
            return login_page(request, error=EXPIRED_FORM, status_code=403)
        client = client_address(request, trusted_proxies)
        # Counted before the slow check: concurrent attempts cannot all slip under the limit.
        wait = throttle.begin(username=username, client=client)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return login_page(
                request,
                error=f"Too many failed sign-ins: wait {minutes} minutes and try again.",
                status_code=429,
            )

        def check() -> str | None:
            if len(password) > PASSWORD_MAX:
                return None
            with accounts_session() as session:
                account = authenticate(
                    session=session, username=username, password=password, client=client,
                    code=code,
                )  # fmt: skip
                if account is None:
                    return None
                token, _ = open_session(session=session, account=account, lifetime=lifetime)
                return token

        # Argon2 takes tens of milliseconds on purpose: not on the event loop.
        token = await asyncio.to_thread(check)
        if token is None:
            throttle.failed(username=username, client=client)
            return login_page(request, error=WRONG_LOGIN, status_code=401)
        throttle.succeeded(username=username, client=client)
        response = back("/desk")
        cookie(request, response, SESSION_COOKIE, token, max_age=int(lifetime.total_seconds()))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
        return response

    @router.post("/desk/logout")
    async def log_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        me = posting(request, csrf)
        client = client_address(request, trusted_proxies)
        with accounts_session() as session:
            close_session(session=session, token=me.token, client=client)
        flashes.take(me.session_id)
        response = back(f"{LOGIN_URL}?signed_out=1")
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    # --- the queue -------------------------------------------------------------------------

    @router.get("/desk")
    async def queue(request: Request) -> Response:
        me = signed_in(request)
        items = desk.queue(include_closed_since=utc_now() - RECENTLY_CLOSED)
        review = desk.for_review()
        return _page(
            "queue.html",
            me=me,
            flash=flashes.take(me.session_id).notices,
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
        request: Request,
        conversation_id: Annotated[str, PathParam(pattern=PUBLIC_ID_PATTERN)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)
        with desk.session() as session:
            conversation = repository.conversation_by_public_id(
                session=session, public_id=conversation_id
            )
            try:
                if conversation is None or conversation.id is None:
                    raise DeskError(f"There is no conversation {conversation_id}.")
                handoff = desk.take_over(session, conversation.id, me.staff)
            except DeskError as exc:
                flashes.add(me.session_id, "error", str(exc))
                return back("/desk")
        flashes.add(
            me.session_id,
            "done",
            f"You took over the conversation ({handoff.reference}): the assistant is silent "
            "until you hand it back.",
        )
        return back(handoff_url(handoff.reference))

    @router.post("/desk/conversations/{conversation_id}/dismiss")
    async def dismiss(
        request: Request,
        conversation_id: Annotated[str, PathParam(pattern=PUBLIC_ID_PATTERN)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)
        with desk.session() as session:
            conversation = repository.conversation_by_public_id(
                session=session, public_id=conversation_id
            )
            try:
                if conversation is None or conversation.id is None:
                    raise DeskError(f"There is no conversation {conversation_id}.")
                settled = desk.dismiss_review(session, conversation.id, me.staff)
            except DeskError as exc:
                flashes.add(me.session_id, "error", str(exc))
                return back("/desk")
        if settled:
            flashes.add(me.session_id, "done", "Marked as looked at: it left the list.")
        return back("/desk")

    # --- one conversation ------------------------------------------------------------------

    @router.get("/desk/h/{reference}")
    async def conversation_page(
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        canned: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        me = signed_in(request)
        with desk.session() as session:
            try:
                handoff = desk.get(session, reference)
            except DeskError as exc:
                return _problem("Not found", str(exc), status_code=404)
            summary = desk.summary(session, handoff)
            messages, events = whole_transcript(session, handoff)
            conversation = session.get(Conversation, handoff.conversation_id)
        assert conversation is not None
        pending = flashes.take(me.session_id)
        answers = _canned(knowledge, summary.language)
        chosen = next((a for a in answers if a.topic == canned), None)
        reply_text = chosen.text if chosen else pending.drafts.get(f"{handoff.reference}:reply", "")
        status = HandoffStatus(handoff.status)
        mine = status == HandoffStatus.ACTIVE and handoff.owner == me.staff.key
        return _page(
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
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        after_message: Annotated[int, Query(ge=0)] = 0,
        after_event: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        me = signed_in(request)
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
                flashes.add(me.session_id, "error", str(exc))
                if draft is not None:
                    flashes.keep_draft(me.session_id, reference.upper(), *draft)
                return back(handoff_url(reference))
        flashes.add(me.session_id, "done", said)
        return back(done_url or handoff_url(reference))

    @router.post("/desk/h/{reference}/claim")
    async def claim(
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)

        def claimed(session: Session) -> str:
            handoff = desk.claim(session, reference, me.staff)
            return f"You own {handoff.reference} now; the citizen was told a person joined."

        return act(me, reference, claimed)

    @router.post("/desk/h/{reference}/release")
    async def release(
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)

        def released(session: Session) -> str:
            handoff = desk.release(session, reference, me.staff)
            return f"{handoff.reference} is back in the queue for another person."

        return act(me, reference, released)

    @router.post("/desk/h/{reference}/reply")
    async def reply(
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        text: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)
        text = _from_textarea(text)

        def sent(session: Session) -> str:
            _check_length(text, "answer")
            desk.reply(session, reference, me.staff, text)
            return "Your answer was sent to the citizen."

        return act(me, reference, sent, draft=("reply", text))

    @router.post("/desk/h/{reference}/note")
    async def note(
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        text: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)
        text = _from_textarea(text)

        def noted(session: Session) -> str:
            _check_length(text, "note")
            desk.note(session, reference, me.staff, text)
            return "Note added: the team sees it, the citizen does not."

        return act(me, reference, noted, draft=("note", text))

    @router.post("/desk/h/{reference}/close")
    async def close(
        request: Request,
        reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
        outcome: Annotated[str, Form()] = "resolved",
        ask_rating: Annotated[str | None, Form()] = None,
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        me = posting(request, csrf)
        asked = ask_rating is not None  # an unticked checkbox sends nothing

        def closed(session: Session) -> str:
            handoff = desk.close(session, reference, me.staff, outcome=outcome, ask_rating=asked)
            return f"{handoff.reference} was handed back to the assistant ({outcome})." + (
                " The citizen was asked to rate the help." if asked else ""
            )

        return act(me, reference, closed, done_url="/desk")

    pages = DeskPages(
        signed_in=signed_in,
        posting=posting,
        require=require,
        page=_page,
        problem=_problem,
        flash=lambda me, kind, sentence: flashes.add(me.session_id, kind, sentence),
        take_flashes=lambda me: flashes.take(me.session_id).notices,
        back=back,
        zone=zone,
    )
    for section in sections:
        section(router, pages)
    return router
