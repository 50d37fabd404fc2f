"""The desk's "Consultations" section as the team uses it: a manager writes a consultation
(options from the idea box, crediting the citizens who suggested them), follows the live
counts by channel and language, closes it; an agent may look but not create or close; the
engaged members are listed and invited. Over HTTP against the whole web application."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase
from bot.participation import volunteers
from bot.participation.consultations import Consultations
from bot.participation.ideas import IdeaBox, record_idea
from bot.participation.web import participation_section
from bot.storage import repository
from bot.storage.models import AuditEntry, Consultation, Idea, Message, utc_now
from tests.participation.test_participation import consultations_for
from tests.support.desk import (
    MARIE_PASSWORD,
    Stage,
    add_staff,
    build_stage,
    client_for,
    desk_app,
    sign_in,
)
from tests.support.dialogue import FakeDialogue
from tests.support.gaps import E5Reader
from tests.support.updates import subscribe

AGENT_PASSWORD = "sentier des érables 42"


@pytest.fixture
def stage(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Stage:
    found = build_stage(database, fake_dialogue, detector, knowledge)
    add_staff(database, "sam", AGENT_PASSWORD, "Sam", role="agent")
    subscribe(database, knowledge, "web", "julie-web-0009", language="fr")
    subscribe(database, knowledge, "telegram", "1009", language="en")
    return found


@pytest.fixture
def consultations(stage: Stage) -> Consultations:
    return consultations_for(stage.database, stage.knowledge)


@pytest.fixture
async def web(
    stage: Stage, fake_dialogue: FakeDialogue, consultations: Consultations
) -> AsyncIterator[httpx.AsyncClient]:
    ideas = IdeaBox(engine=stage.database, reader=E5Reader())  # type: ignore[arg-type]
    app = desk_app(
        stage,
        fake_dialogue,
        sections=[participation_section(consultations, ideas, stage.database)],
    )
    async with client_for(app) as client:
        yield client


def visible(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def idea(database: Engine, key: str, text: str, language: str) -> None:
    with Session(database, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="web", external_id=key, citizen_id=f"web-{key}"
        )
        record_idea(
            session=session,
            conversation=conversation,
            message_id=None,
            text=text,
            language=language,
        )


async def test_a_manager_turns_ideas_into_a_consultation_follows_it_and_closes_it(
    web: httpx.AsyncClient, stage: Stage, consultations: Consultations
) -> None:
    database = stage.database
    idea(database, "a", "Une patinoire au village avec le fonds communautaire", "fr")
    idea(database, "b", "A skating rink in the village paid by the community fund", "en")
    idea(database, "c", "Des bancs et une halte au belvédère du rang 5", "fr")
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)

    page = await web.get("/desk/consultations/ideas")
    assert page.status_code == 200
    text = visible(page.text)
    assert "Idea box 2 groups" in text
    assert "2 citizens · 2 ideas" in text
    rink = re.search(r'name="chosen" value="(\d+)">\s*<strong>Une patinoire', page.text)
    assert rink is not None
    drafted = await web.post(
        "/desk/consultations/ideas/draft", data={"csrf": csrf, "chosen": [rink.group(1)]}
    )
    options = re.search(
        r'<textarea id="options" name="options" rows="5">(.*?)</textarea>', drafted.text, re.S
    )
    assert options is not None
    assert html.unescape(options.group(1)).endswith("| 2")  # suggested by 2 citizens

    closes = (utc_now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "csrf": csrf,
        "question_fr": "Que financer en premier avec le fonds communautaire?",
        "question_en": "What should the community fund pay for first?",
        "options": "Une patinoire | A skating rink | 2\nUn parc à chiens | A dog park",
        "purpose_fr": "Le comité du fonds suivra le choix.",
        "purpose_en": "The fund's committee will follow the choice.",
        "audience": "subscribers",
        "opens": "",
        "closes": closes,
        "ideas_used": re.search(r'name="ideas_used" value="([^"]*)"', drafted.text).group(1),  # type: ignore[union-attr]
    }
    refused = await web.post("/desk/consultations", data={**form, "options": "Une seule"})
    assert refused.status_code == 400
    assert "2 to 10 options" in visible(refused.text)
    assert "Que financer en premier" in refused.text  # what was typed is kept
    created = await web.post("/desk/consultations", data=form)
    assert created.status_code == 303
    reference = created.headers["location"].rsplit("/", 1)[1]
    with Session(database) as session:
        assert all(
            i.consultation_id is not None
            for i in session.exec(select(Idea))
            if "rink" in i.text or "patinoire" in i.text
        )
        julie = session.exec(select(Message).where(Message.text.contains(reference))).all()  # type: ignore[attr-defined]
    assert julie  # put to the subscribers at once

    consultations.record_poll_vote(channel="telegram", poll_id="none", voter="x", option_ids=[0])
    with Session(database) as session:
        stored = session.exec(select(Consultation)).one()
        conversation = repository.get_or_create_conversation(
            session=session,
            channel="web",
            external_id="julie-web-0009",
            citizen_id="web-julie-web-0009",
        )
        consultations._cast(session, stored, conversation, "fr", option=0)
    page = await web.get(f"/desk/consultations/{reference}")
    text = visible(page.text)
    assert "1 answer from 2 conversations or groups asked" in text
    assert "not a representative survey" in text
    assert "1. A skating rink (Une patinoire) 1 100 % 1 2 citizens" in text  # web: 1
    assert "By channel: web 1 · by language: FR 1" in text

    closed = await web.post(f"/desk/consultations/{reference}/close", data={"csrf": csrf})
    assert closed.status_code == 303
    page = visible((await web.get(f"/desk/consultations/{reference}")).text)
    assert "closed" in page
    assert "Results" in page
    assert "Close now" not in page


async def test_an_agent_may_look_but_not_create_close_or_invite(
    web: httpx.AsyncClient, stage: Stage, consultations: Consultations
) -> None:
    csrf = await sign_in(web, "sam", AGENT_PASSWORD)
    page = await web.get("/desk/consultations")
    assert page.status_code == 200
    assert 'id="new-consultation"' not in page.text
    answer = await web.post(
        "/desk/consultations",
        data={"csrf": csrf, "question_fr": "x", "question_en": "y", "closes": "2030-01-01T10:00"},
    )
    assert answer.status_code == 403
    for path in ("/desk/consultations/members/invite",):
        assert (
            await web.post(path, data={"csrf": csrf, "text_fr": "a", "text_en": "b"})
        ).status_code == 403
    with Session(stage.database) as session:
        refused = session.exec(select(AuditEntry).where(AuditEntry.action == "desk.refused")).all()
    assert len(refused) == 2


async def test_the_engaged_members_are_listed_and_invited(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    database = stage.database
    with Session(database, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="1009", citizen_id="tg-pseudo-1009"
        )
        volunteers.offer(session, conversation, "en")
        volunteers.join(session, conversation, "en")
        volunteers.answer(session, conversation, "share: Tom, weekends, bird counts", "en")
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    page = visible((await web.get("/desk/consultations/members")).text)
    assert "Engaged members 1" in page
    assert "telegram-100 telegram EN" in page  # the pseudonym, shortened
    assert "Tom, weekends, bird counts" in page
    sent = await web.post(
        "/desk/consultations/members/invite",
        data={"csrf": csrf, "text_fr": "Visite samedi", "text_en": "Site visit on Saturday"},
    )
    assert sent.status_code == 303
    with Session(database) as session:
        invitation = session.exec(select(Message).where(Message.text.contains("Site visit"))).one()  # type: ignore[attr-defined]
    assert invitation.text.startswith("📣 To the project's engaged members: Site visit on Saturday")
