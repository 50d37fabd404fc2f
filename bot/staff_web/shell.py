"""The staff's web shell: signing in and out, who is signed in and with which role, the CSRF
check, the security headers, the templates and what is shown once after a redirect, for
every page of the desk. The pages themselves are sections (`DeskSection`): the handoff inbox
(`bot.desk.inbox`), the concern register, project news, perception, knowledge gaps, the
managers' pages. They are rendered on the server and work without JavaScript.

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
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Engine
from sqlmodel import Session

from bot.staff_web.accounts import (
    AGENT,
    MANAGER,
    PASSWORD_MAX,
    LoginThrottle,
    StaffMember,
    authenticate,
    close_session,
    csrf_ok,
    may,
    open_session,
    session_for_token,
)
from bot.storage.models import AuditEntry

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DESK_STATIC = HERE / "static"
DESK_TEMPLATES = HERE / "templates"

SESSION_COOKIE = "desk_session"
LOGIN_CSRF_COOKIE = "desk_login_csrf"
COOKIE_PATH = "/desk"
LOGIN_URL = "/desk/login"

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
    """A desk route: gives the dependencies below the shell it belongs to, turns "not signed
    in" and "forged form" into their answers, and puts the security headers on every
    response, whatever the handler returned or raised."""

    shell: ClassVar[_Shell | None] = None  # set on each router's own subclass

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            response: Response
            request.state.desk_shell = self.shell
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


@dataclass(frozen=True)
class _Shell:
    signed_in: Callable[[Request], SignedIn]
    posting: Callable[[Request, str], SignedIn]


def _shell(request: Request) -> _Shell:
    shell = getattr(request.state, "desk_shell", None)
    if not isinstance(shell, _Shell):
        raise RuntimeError("a desk dependency used outside a route of the desk's router")
    return shell


def _signed_in(request: Request) -> SignedIn:
    return _shell(request).signed_in(request)


def _posted(request: Request, csrf: Annotated[str, Form()] = "") -> SignedIn:
    return _shell(request).posting(request, csrf)


Staff = Annotated[SignedIn, Depends(_signed_in)]
"""A route parameter: the community manager behind the request (not signed in: the login form,
or 401 for JSON)."""

StaffForm = Annotated[SignedIn, Depends(_posted)]
"""A route parameter for a form (POST): the same, once the form's ``csrf`` field is checked
against the session's token (403 and nothing done otherwise)."""


# --- what is shown once after a redirect -----------------------------------------------------


@dataclass
class Pending:
    notices: list[tuple[str, str]] = field(default_factory=list)  # (kind, sentence)
    drafts: dict[str, str] = field(default_factory=dict)  # "<reference>:<box>" -> text


class _Flashes:
    """Sentences shown once on the next page of a session, and drafts a refused form gives
    back. Kept in memory by session id: nothing a visitor sends can forge one, and losing
    them at a restart is harmless."""

    def __init__(self, max_sessions: int = 1_000) -> None:
        self._max = max_sessions
        self._by_session: OrderedDict[int, Pending] = OrderedDict()

    def add(self, session_id: int, kind: str, sentence: str) -> None:
        self._slot(session_id).notices.append((kind, sentence))

    def keep_draft(self, session_id: int, reference: str, box: str, text: str) -> None:
        if text.strip():
            self._slot(session_id).drafts[f"{reference}:{box}"] = text

    def take(self, session_id: int) -> Pending:
        return self._by_session.pop(session_id, None) or Pending()

    def _slot(self, session_id: int) -> Pending:
        slot = self._by_session.setdefault(session_id, Pending())
        self._by_session.move_to_end(session_id)
        while len(self._by_session) > self._max:
            self._by_session.popitem(last=False)
        return slot


# --- what the sections build on ----------------------------------------------------------------


@dataclass(frozen=True)
class DeskPages:
    """What a section of the web desk (perception, updates...) needs to add its own pages
    behind the same login, CSRF check, security headers and flash messages. Who is signed in
    comes to a route as a dependency: a parameter ``me: Staff`` (pages) or ``me: StaffForm``
    (forms, CSRF checked).

    Attributes:
        require: ``require(me, "manager", "what they tried")`` refuses (403, audited as
            ``desk.refused``) an account whose role is below the one needed.
        page: renders a template of ``bot/staff_web/templates`` (autoescaped) as the answer:
            ``page("name.html", me=me, **context)``.
        problem: a page that says what went wrong: ``problem(title, sentence, status_code=)``.
        flash: shows a sentence once on the next page: ``flash(me, "done" | "error", text)``.
        take_flashes: the (kind, sentence) pairs waiting for this session, taken.
        take_pending: the same with the drafts kept for this session (text typed in a form
            that failed), taken: ``pending.notices``, ``pending.drafts["<key>:<box>"]``.
        keep_draft: keeps what was typed in a form that failed, for the next page:
            ``keep_draft(me, key, box, text)``.
        back: a redirect (303) after a form.
        zone: the project's time zone, for showing times.
    """

    require: Callable[[SignedIn, str, str], None]
    page: Callable[..., HTMLResponse]
    problem: Callable[..., HTMLResponse]
    flash: Callable[[SignedIn, str, str], None]
    take_flashes: Callable[[SignedIn], list[tuple[str, str]]]
    take_pending: Callable[[SignedIn], Pending]
    keep_draft: Callable[[SignedIn, str, str, str], None]
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
    engine: Engine,
    zone: tzinfo,
    session_hours: int,
    secure_cookies: bool,
    idle_minutes: int = 60,
    sections: Iterable[DeskSection] = (),
    trusted_proxies: Collection[str] = (),
) -> APIRouter:
    """The staff's web shell under ``/desk``: signing in and out, and the `sections` (the
    inbox, the register, news, perception, gaps, the managers' pages) behind that login.

    The sections' database work runs on the event loop, like the rest of the web app's; only
    the password check, which is slow on purpose, runs in a worker thread.

    Args:
        engine: the database (staff accounts and sessions).
        zone: the project's time zone, for showing times.
        session_hours: how long a login lasts.
        secure_cookies: whether the cookies are sent over HTTPS only (any deployment that
            is not on loopback).
        sections: the pages behind the login, in order (the first one's ``/desk`` is where a
            login lands: the inbox).
    """

    # Each router's routes know their own shell (the dependencies `Staff`, `StaffForm` use it).
    class DeskRoute(_DeskRoute):
        pass

    router = APIRouter(route_class=DeskRoute, include_in_schema=False)
    router.mount("/desk/static", StaticFiles(directory=DESK_STATIC), name="desk-static")
    throttle = LoginThrottle()
    flashes = _Flashes()
    lifetime = timedelta(hours=session_hours)
    idle = timedelta(minutes=idle_minutes)

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
    async def log_out(request: Request, me: StaffForm) -> Response:
        client = client_address(request, trusted_proxies)
        with accounts_session() as session:
            close_session(session=session, token=me.token, client=client)
        flashes.take(me.session_id)
        response = back(f"{LOGIN_URL}?signed_out=1")
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    DeskRoute.shell = _Shell(signed_in=signed_in, posting=posting)
    pages = DeskPages(
        require=require,
        page=_page,
        problem=_problem,
        flash=lambda me, kind, sentence: flashes.add(me.session_id, kind, sentence),
        take_flashes=lambda me: flashes.take(me.session_id).notices,
        take_pending=lambda me: flashes.take(me.session_id),
        keep_draft=lambda me, key, box, text: flashes.keep_draft(me.session_id, key, box, text),
        back=back,
        zone=zone,
    )
    for section in sections:
        section(router, pages)
    return router
