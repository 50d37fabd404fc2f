"""The web desk over HTTP, for tests: staff accounts, the whole web application with a desk
and its sections, an httpx client on it (ASGI transport, no network) and signing in through
the login form with its CSRF token.

Usage::

    add_staff(database, "marie", MARIE_PASSWORD, "Marie Tremblay")
    async with client_for(desk_app(stage, dialogue, sections=[news_section(service)])) as web:
        csrf = await sign_in(web, "marie", MARIE_PASSWORD)
        await web.post("/desk/news/publish", data={"csrf": csrf, ...})
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.channels.web.app import create_app
from bot.channels.web.conversations import WebConversations
from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours
from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage
from bot.core.actions import ActionServer
from bot.core.conversation import ConversationCore
from bot.desk.hours import DeskSchedule
from bot.desk.service import (
    Desk,
)
from bot.dialogue.engine import DialogueEngine
from bot.knowledge import KnowledgeBase
from bot.register.service import Register
from bot.staff_web.accounts import create_account
from bot.staff_web.shell import DeskSection
from bot.storage.models import (
    Conversation,
)
from tests.support.dialogue import FakeDialogue

# The web chat's conversation ids, issued as the server would (tests read their pseudonyms).
WEB_IDS = WebConversations.ephemeral()


@dataclass
class Stage:
    """The web application with its desk, and the conversation core citizens talk to."""

    database: Engine
    desk: Desk
    core: ConversationCore
    knowledge: KnowledgeBase


def add_staff(
    database: Engine, username: str, password: str, name: str, role: str = "manager"
) -> None:
    """Creates the desk account of a community manager (`name` is the name shown); a manager
    unless `role` says otherwise (the tests written before roles expect every right)."""
    with Session(database) as session:
        create_account(
            session=session, username=username, display_name=name, password=password, role=role
        )


def desk_app(
    stage: Stage,
    dialogue: DialogueEngine,
    *,
    sections: Sequence[DeskSection] = (),
    session_hours: int = 8,
    secure_cookies: bool = False,
    **extra: Any,
) -> FastAPI:
    """The whole web application (chat, actions, the desk and its extra `sections`) on the
    stage, the assistant answering in French and English; staff sessions last
    `session_hours`."""
    actions = ActionServer(
        engine=stage.database,
        knowledge=stage.knowledge,
        register=Register(engine=stage.database, calendar=BusinessCalendar()),
        languages=("fr", "en"),
        default_language="fr",
        desk=stage.desk,
    )
    return create_app(
        core=stage.core,
        actions=actions,
        dialogue=dialogue,
        knowledge=stage.knowledge,
        action_token="t",
        desk=stage.desk,
        database=stage.database,
        desk_session_hours=session_hours,
        secure_cookies=secure_cookies,
        desk_sections=sections,
        conversations=WEB_IDS,
        **extra,
    )


def client_for(app: object, base_url: str = "http://desk.test") -> httpx.AsyncClient:
    """An HTTP client talking to `app` in process (use it with ``async with``)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url=base_url,
    )


def csrf_of(html: str) -> str:
    """The CSRF token of the form in the page `html`."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Signs in through the login form (its token and the cookie half of the double submit);
    returns the session's CSRF token, for the desk's forms."""
    form = await client.get("/desk/login")
    answer = await client.post(
        "/desk/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text)},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/desk"
    return csrf_of((await client.get("/desk")).text)


PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


HOSTILE_MESSAGE = f"Regardez ce que je reçois : {PAYLOAD}"


MARIE_PASSWORD = "lac-vert au printemps"


LOUIS_PASSWORD = "rivière des prairies 7"


# The citizen's web conversation: the id its browser holds, and the pseudonym stored for it.
CITIZEN_ID = WEB_IDS.issue()


CITIZEN = WEB_IDS.key_of(CITIZEN_ID)


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def build_stage(
    database: Engine,
    dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Stage:
    desk = Desk(
        engine=database,
        schedule=DeskSchedule(DeskHours.parse("always"), BusinessCalendar()),
        typical_wait_minutes=20,
    )
    register = Register(engine=database, calendar=BusinessCalendar())
    core = ConversationCore(
        engine=database,
        dialogue=dialogue,
        detector=detector,
        turn_timeout=1.0,
        register=register,
        first_contact_notice=False,
        desk=desk,
    )
    add_staff(database, "marie", MARIE_PASSWORD, "Marie Tremblay")
    add_staff(database, "louis", LOUIS_PASSWORD, "Louis")
    return Stage(database=database, desk=desk, core=core, knowledge=knowledge)


def citizen_says(text: str, key: str = CITIZEN) -> IncomingMessage:
    return IncomingMessage(channel="web", conversation_key=key, sender_key=key, text=text)


async def hand_a_conversation_to_the_desk(stage: Stage, key: str = CITIZEN) -> str:
    """A citizen asks for a person, then writes the payload while waiting; returns the
    handoff's reference."""
    await stage.core.handle(citizen_says("Bonjour, je voudrais parler à quelqu'un.", key))
    with stage.desk.session() as session:
        conversation = session.exec(
            select(Conversation).where(Conversation.external_id == key)
        ).one()
        handoff, _ = stage.desk.request(session, conversation, reason="asked_human")
    await stage.core.handle(citizen_says(HOSTILE_MESSAGE, key))
    return handoff.reference


def shown_flash(page: str) -> list[str]:
    found = re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', page)
    return [html.unescape(text) for text in found if text.strip()]


def always_open() -> DeskSchedule:
    return DeskSchedule(DeskHours.parse("always"), BusinessCalendar())


def says(
    text: str, *, key: str = "citizen-1", channel: str = "web", place: str = "private"
) -> IncomingMessage:
    return IncomingMessage(
        channel=channel,
        conversation_key=key,
        sender_key=key,
        text=text,
        place=place,  # type: ignore[arg-type]
    )
