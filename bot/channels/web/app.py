"""The HTTP application: the web chat page and API, and Rasa's action endpoint."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import Engine

from bot.channels.web.conversations import WebConversations
from bot.channels.web.limits import BodyLimit, WebLimits
from bot.common.text import valid_text
from bot.common.types import Choice, IncomingMessage
from bot.core.actions import ActionRequestError, ActionServer, UnknownAction
from bot.core.conversation import ConversationCore
from bot.desk.inbox import inbox_section
from bot.desk.service import Desk
from bot.dialogue.engine import DialogueEngine
from bot.knowledge import KnowledgeBase
from bot.metrics import exposition
from bot.staff_web.shell import DeskSection, client_address, desk_router

logger = logging.getLogger(__name__)

STATIC = FilePath(__file__).resolve().parent / "static"
MAX_MESSAGE_CHARS = 20_000
CHAT_BODY_BYTES = 160_000
MAX_BODY_BYTES = 2_000_000  # Rasa's action calls carry the conversation's recent events


def _slow_down(what: str, wait: float) -> JSONResponse:
    seconds = max(1, round(wait))
    return JSONResponse(
        {"detail": f"{what}: wait {seconds} s and send it again."},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


class Notice(BaseModel):
    """A message the project sent on its own initiative."""

    id: int
    text: str
    choices: list[str] = []  # buttons (a consultation's options): a click sends the label


def _valid_if_text(value: object) -> object:
    return valid_text(value) if isinstance(value, str) else value


class ChatRequest(BaseModel):
    """A message typed in the web chat (without `conversation`, a new one is started)."""

    conversation: str | None = Field(default=None, max_length=128)
    # A lone surrogate (valid JSON, not valid text) is replaced, not refused: the message is
    # stored and answered like any other.
    text: Annotated[str, BeforeValidator(_valid_if_text)] = Field(max_length=MAX_MESSAGE_CHARS)
    language: Literal["fr", "en"] | None = None


class ChatReply(BaseModel):
    """One reply of the assistant."""

    text: str
    choices: list[str] = []  # buttons (a consultation's options): a click sends the label


class HistoryLine(BaseModel):
    """One message of the conversation, shown again after a page reload."""

    from_citizen: bool
    text: str


class ChatResponse(BaseModel):
    """The assistant's answer to one web chat message, with the conversation's id (issued by
    the server: the browser keeps it and sends it back)."""

    conversation: str
    language: str
    answered: bool
    with_person: bool = False  # a person of the team was asked to join or is in the conversation
    replies: list[ChatReply]


def chat_security_headers(frame_ancestors: Sequence[str]) -> dict[str, str]:
    """The headers of the chat page and its API: no inline script or style, nothing loaded from
    elsewhere, and framed only by the origins listed (WEB_CHAT_FRAME_ANCESTORS, so a promoter
    can embed the chat in the project's website and nobody else can)."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    headers = {
        "Content-Security-Policy": (
            f"default-src 'self'; frame-ancestors {ancestors}; base-uri 'none'; "
            "form-action 'self'; object-src 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if not frame_ancestors:
        headers["X-Frame-Options"] = "DENY"
    return headers


def create_app(
    *,
    core: ConversationCore,
    actions: ActionServer,
    dialogue: DialogueEngine,
    knowledge: KnowledgeBase,
    action_token: str | None,
    channel_status: Callable[[], dict[str, dict[str, str]]] | None = None,
    dialogue_status: Callable[[], dict[str, Any]] | None = None,
    roles_status: Callable[[], list[str]] | None = None,
    desk: Desk | None = None,
    database: Engine | None = None,
    desk_session_hours: int = 12,
    desk_idle_minutes: int = 60,
    secure_cookies: bool = False,
    desk_sections: Sequence[DeskSection] = (),
    trusted_proxies: Sequence[str] = (),
    conversations: WebConversations | None = None,
    frame_ancestors: Sequence[str] = (),
    health_token: str | None = None,
    limits: WebLimits | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    choices_of: Callable[[list[int]], Mapping[int, Sequence[Choice]]] | None = None,
) -> FastAPI:
    """The FastAPI application serving the web chat and the action endpoint, and with a
    `desk` and its `database` the web desk of community managers under ``/desk``.

    `secure_cookies` marks the desk's cookies Secure (sent over HTTPS only): needed whenever
    the server is reached from another machine, where it must sit behind HTTPS.
    `choices_of` gives the buttons of stored messages the project sent first (the options of
    an open consultation).
    """
    app = FastAPI(title="Voisinage", docs_url=None, redoc_url=None, openapi_url=None)
    web_ids = conversations or WebConversations.ephemeral()
    if limits is None:
        limits = WebLimits()
    # Bodies are refused by size before they are read (a chat message is at most 20,000
    # characters: 160 kB leaves room for JSON's escapes).
    app.add_middleware(BodyLimit, limit=max_body_bytes, limits={"/api/": CHAT_BODY_BYTES})
    chat_headers = chat_security_headers(frame_ancestors)

    @app.middleware("http")
    async def chat_security(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/desk"):  # the desk sets its own, stricter ones
            for name, value in chat_headers.items():
                response.headers.setdefault(name, value)
        return response

    def conversation_key(header: str | None) -> str:
        if not web_ids.is_valid(header):
            raise HTTPException(status_code=401, detail="no such conversation: start a new one")
        assert header is not None
        return web_ids.key_of(header)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and why, never the input itself: it may be a citizen's words (or bytes that do
        # not even encode, which used to turn a 422 into a 500).
        errors = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if desk is not None:
        if database is None:
            raise ValueError("the web desk needs the database (database=) for staff sessions")
        app.include_router(
            desk_router(
                engine=database,
                zone=desk.schedule.calendar.zone,
                session_hours=desk_session_hours,
                idle_minutes=desk_idle_minutes,
                secure_cookies=secure_cookies,
                sections=[inbox_section(desk, knowledge), *desk_sections],
                trusted_proxies=trusted_proxies,
            )
        )

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/intro")
    async def intro(language: Annotated[Literal["fr", "en"], Query()] = "fr") -> dict[str, str]:
        text = core.introduction(language)
        return {"language": language, "text": text, "project": knowledge.name[language]}

    async def dialogue_health(*, details: bool = False) -> dict[str, Any]:
        """ "ok" when every dialogue server answers; "degraded" otherwise, ready while one
        does (with several Rasa servers, the others answer for one that is down)."""
        servers = await dialogue.servers_ready()
        health = {"status": "ok" if all(servers) else "degraded", "dialogue_ready": any(servers)}
        if details:
            health["dialogue_servers_ready"] = f"{sum(servers)} of {len(servers)}"
        return health

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        # Public (load balancers, the page): ready or not, each channel's state; no error text.
        # "degraded" while the dialogue engine is down: citizens are then told honestly that
        # the assistant cannot answer, and their messages are kept for a person.
        channels = channel_status() if channel_status else {}
        return {
            **await dialogue_health(),
            "channels": {name: {"state": c.get("state")} for name, c in channels.items()},
        }

    @app.get("/api/health/live")
    async def live() -> dict[str, str]:
        # Liveness: the process answers (restarting it would not help a dialogue engine down).
        return {"status": "alive"}

    @app.get("/api/health/ready")
    async def ready() -> Response:
        # Readiness: whether this process can answer citizens now (a load balancer sends them
        # elsewhere meanwhile).
        if await dialogue.is_ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "not ready", "reason": "the dialogue engine does not answer"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    def monitoring_only(request: Request) -> None:
        """Refuses (401) a request without the monitoring token (HEALTH_TOKEN) as its bearer
        token; without a token configured, everybody is refused."""
        given = (
            request.headers.get("authorization", "")
            .removeprefix("Bearer ")
            .encode("utf-8", "surrogateescape")
        )
        if health_token is None or not hmac.compare_digest(given, health_token.encode()):
            raise HTTPException(status_code=401, detail="a monitoring token is needed")

    @app.get("/api/health/details", include_in_schema=False)
    async def health_details(request: Request) -> dict[str, Any]:
        # For monitoring and staff: what each channel last said (errors included), behind the
        # HEALTH_TOKEN bearer token; without a token configured, nobody.
        monitoring_only(request)
        channels = channel_status() if channel_status else {}
        return {
            **await dialogue_health(details=True),
            "dialogue": dialogue_status() if dialogue_status else {},
            "roles": roles_status() if roles_status else [],
            "channels": channels,
        }

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # For the operators' Prometheus, behind the same monitoring token as the details.
        monitoring_only(request)
        if database is None:
            raise HTTPException(status_code=404, detail="no metrics without a database")
        body = await asyncio.to_thread(exposition, database, roles_status() if roles_status else [])
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/messages")
    async def post_message(request: ChatRequest, http: Request) -> Response:
        client = client_address(http, trusted_proxies)
        # An id the server did not issue (none yet, an old or a forged one) starts a new
        # conversation: the message is answered there rather than refused or lost.
        conversation = request.conversation
        if not web_ids.is_valid(conversation):
            wait = await limits.new_conversation(client)
            if wait:
                return _slow_down("Too many new conversations from this address", wait)
            conversation = web_ids.issue()
        assert conversation is not None
        key = web_ids.key_of(conversation)
        wait = await limits.message(client, key)
        if wait:
            return _slow_down("Too many messages", wait)
        if not limits.admit():
            # Shed now, honestly, rather than queue until every citizen's turn times out.
            return JSONResponse(
                {"detail": "The assistant is very busy: send your message again in a moment."},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        try:
            result = await core.handle(
                IncomingMessage(
                    channel="web",
                    conversation_key=key,
                    sender_key=key,
                    text=request.text,
                    language_choice=request.language,
                )
            )
        finally:
            limits.release()
        return JSONResponse(
            ChatResponse(
                conversation=conversation,
                language=result.language,
                answered=result.answered,
                with_person=result.with_person,
                replies=[
                    ChatReply(text=reply.text, choices=[c.label for c in reply.choices])
                    for reply in result.replies
                ],
            ).model_dump()
        )

    @app.get("/api/conversation/notices")
    async def notices(
        x_conversation: Annotated[str | None, Header(max_length=128)] = None,
        after: Annotated[int, Query(ge=0)] = 0,
    ) -> list[Notice]:
        # The project writing first (a team's answer): the page asks every few seconds.
        key = conversation_key(x_conversation)
        found = core.notices(channel="web", conversation_key=key, after=after)
        buttons = choices_of([notice_id for notice_id, _ in found]) if choices_of and found else {}
        return [
            Notice(id=notice_id, text=text, choices=[c.label for c in buttons.get(notice_id, ())])
            for notice_id, text in found
        ]

    @app.get("/api/conversation/messages")
    async def history(
        x_conversation: Annotated[str | None, Header(max_length=128)] = None,
    ) -> list[HistoryLine]:
        # The id travels in a header, never in a URL path (proxies and servers log paths).
        lines = core.history(channel="web", conversation_key=conversation_key(x_conversation))
        return [HistoryLine(from_citizen=line.from_citizen, text=line.text) for line in lines]

    @app.post("/actions/webhook", include_in_schema=False)
    async def action_webhook(request: Request) -> JSONResponse:
        # Without a token the endpoint answers nobody: anyone could otherwise record concerns,
        # open handoffs or erase a conversation whose id they know.
        given = request.query_params.get("token", "").encode("utf-8", "surrogateescape")
        if action_token is None or not hmac.compare_digest(given, action_token.encode()):
            raise HTTPException(status_code=401, detail="invalid action token")
        try:
            payload = await request.json()
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            raise HTTPException(status_code=400, detail="the body is not JSON") from exc
        if not isinstance(payload, dict):
            raise HTTPException(status_code=400, detail="the body is not a JSON object")
        action = payload.get("next_action")
        try:
            return JSONResponse(await actions.run(payload))
        except UnknownAction:
            return JSONResponse(
                {"error": f"No action named {action!r}", "action_name": action}, status_code=404
            )
        except ActionRequestError as exc:
            return JSONResponse({"error": str(exc), "action_name": action}, status_code=400)

    return app
