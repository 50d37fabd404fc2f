"""The "Project news" pages of the web desk, as a community manager uses them: writing an update,
checking the preview and who it reaches, publishing, then following what was delivered and
what was not. Over HTTP against the whole web application (httpx's ASGI transport), on SQLite
and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase
from bot.storage.models import (
    AuditEntry,
    OutboxMessage,
    OutboxStatus,
    ProjectUpdate,
    Subscription,
    UpdateDelivery,
    utc_now,
)
from bot.updates.service import UpdateService
from bot.updates.web import news_section
from tests.support.desk import (
    MARIE_PASSWORD,
    PAYLOAD,
    SECURITY_HEADERS,
    Stage,
    build_stage,
    client_for,
    desk_app,
    shown_flash,
    sign_in,
)
from tests.support.dialogue import FakeDialogue
from tests.support.updates import BLASTING_EN, BLASTING_FR, subscribe

YEAR = utc_now().year


@pytest.fixture
def stage(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Stage:
    found = build_stage(database, fake_dialogue, detector, knowledge)
    subscribe(database, knowledge, "telegram", "1001")  # all news, French
    subscribe(database, knowledge, "discord", "dm:7002", "blasting", language="en")
    subscribe(database, knowledge, "web", "julie-web-0001", "routes")  # road closures only
    return found


@pytest.fixture
async def web(stage: Stage, fake_dialogue: FakeDialogue) -> AsyncIterator[httpx.AsyncClient]:
    service = UpdateService(
        engine=stage.database,
        knowledge=stage.knowledge,
        languages=("fr", "en"),
        default_language="fr",
    )
    app = desk_app(stage, fake_dialogue, sections=[news_section(service)])
    async with client_for(app) as client:
        yield client


def field(page: str, name: str) -> str:
    """The value a form of the page sends for `name` (a hidden textarea or input)."""
    found = re.search(rf'<textarea name="{name}" hidden>(.*?)</textarea>', page, re.S) or re.search(
        rf'<input type="hidden" name="{name}" value="([^"]*)">', page
    )
    assert found, f"the page has no field {name}"
    return html.unescape(found.group(1))


def visible(page: str) -> str:
    """The page's text as a person reads it: no markup, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def updates_in(database: Engine) -> list[ProjectUpdate]:
    with Session(database) as session:
        return list(session.exec(select(ProjectUpdate).order_by(col(ProjectUpdate.id))))


async def test_the_news_pages_ask_to_sign_in_first(web: httpx.AsyncClient, stage: Stage) -> None:
    for path in ("/desk/news", f"/desk/news/U-{YEAR}-0001"):
        answer = await web.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/desk/login")
    publish = await web.post(
        "/desk/news/publish",
        data={"text_fr": "Bonjour", "text_en": "Hello", "topic": "", "csrf": "anything"},
    )
    assert (publish.status_code, publish.headers["location"]) == (303, "/desk/login")
    assert updates_in(stage.database) == []


async def test_writing_checking_and_publishing_an_update(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    page = (await web.get("/desk/news")).text
    assert '<a href="/desk/news">Project news</a>' in page
    assert (
        "Subscribers 3 3 destinations (a group counts once) · discord 1, telegram 1, web 1 · EN 1, FR 2"
        in visible(page)
    )
    assert "No update has been published yet." in page

    preview = await web.post(
        "/desk/news/preview",
        data={"text_fr": BLASTING_FR, "text_en": BLASTING_EN, "topic": "blasting", "csrf": csrf},
    )
    assert preview.status_code == 200
    # The road-closures-only citizen is left out.
    assert (
        "This update on blasting will reach 2 subscribers: discord 1, telegram 1 · EN 1, FR 1."
        in visible(preview.text)
    )
    text = html.unescape(preview.text)
    assert (
        "📢 Nouvelles du projet Parc éolien des Trois-Collines · dynamitage (U-····-····) :\n"
        f"{BLASTING_FR}\n\n"
        "Pour ne plus recevoir ces nouvelles, écrivez « désabonnez-moi » ou /unsubscribe."
    ) in text
    assert "Publish to 2 subscribers" in text
    assert updates_in(stage.database) == []  # nothing is stored before the confirm step

    published = await web.post(
        "/desk/news/publish",
        data={
            "text_fr": field(preview.text, "text_fr"),
            "text_en": field(preview.text, "text_en"),
            "topic": field(preview.text, "topic"),
            "csrf": csrf,
        },
    )
    reference = f"U-{YEAR}-0001"
    assert (published.status_code, published.headers["location"]) == (
        303,
        f"/desk/news/{reference}",
    )
    page = (await web.get(published.headers["location"])).text
    assert shown_flash(page) == [
        f"{reference} is published: 2 subscribers (2 queued on Telegram and Discord, 0 in the "
        "web chat). The counts below follow the delivery."
    ]
    [stored] = updates_in(stage.database)
    assert (stored.reference, stored.topic, stored.author) == (
        reference,
        "blasting",
        "staff:web:marie",
    )
    assert stored.text_fr == BLASTING_FR
    with Session(stage.database) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "updates.publish")).one()
    assert audit.actor == "staff:web:marie"

    listing = (await web.get("/desk/news")).text
    assert f'<a href="/desk/news/{reference}">{reference}</a>' in listing
    assert "<td>blasting</td>" in listing


async def test_a_failed_delivery_shows_why_and_that_the_subscription_is_paused(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    await web.post(
        "/desk/news/publish",
        data={"text_fr": "Bonjour", "text_en": "Hello", "topic": "", "csrf": csrf},
    )
    # The running assistant sent it: Telegram refused (blocked), Discord took it.
    with Session(stage.database) as session:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.channel) == "telegram")
            .values(status=OutboxStatus.FAILED, last_error="Forbidden: bot was blocked by the user")
        )
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.channel) == "discord")
            .values(status=OutboxStatus.SENT, sent_at=utc_now())
        )
        session.commit()

    page = (await web.get(f"/desk/news/U-{YEAR}-0001")).text
    counts = re.search(r'<table class="queue" id="counts">.*?</table>', page, re.S)
    assert counts is not None
    assert re.findall(r"<td>(\d+)</td>", counts.group(0)) == ["2", "1", "1", "0", "1", "3"]
    failures = re.search(r'<section class="block" id="failures">.*?</section>', page, re.S)
    assert failures is not None
    cells = [html.unescape(c) for c in re.findall(r"<td>([^<]*)</td>", failures.group(0))]
    assert cells == [
        "telegram",
        "private",
        "FR",
        "Forbidden: bot was blocked by the user",
        "Paused: the next updates skip this chat until the citizen subscribes again",
    ]
    assert "1001" not in failures.group(0)  # no chat id, no pseudonym: where and why only
    with Session(stage.database) as session:
        paused = session.exec(select(Subscription).where(col(Subscription.active).is_(False)))
        assert len(list(paused)) == 1
    listing = (await web.get("/desk/news")).text
    assert "1 paused: a platform refused an update for them" in visible(listing)


async def test_a_refused_update_keeps_the_texts_and_says_why(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    answer = await web.post(
        "/desk/news/preview",
        data={"text_fr": "Fermeture du chemin", "text_en": "", "topic": "", "csrf": csrf},
    )
    assert answer.status_code == 400
    assert shown_flash(answer.text) == [
        "The English text is empty: an update goes out in both languages."
    ]
    assert ">Fermeture du chemin</textarea>" in answer.text
    unknown = await web.post(
        "/desk/news/publish",
        data={"text_fr": "Bonjour", "text_en": "Hello", "topic": "weather", "csrf": csrf},
    )
    assert unknown.status_code == 400
    assert shown_flash(unknown.text)[0].startswith("There is no update topic 'weather'")
    assert updates_in(stage.database) == []


async def test_a_form_without_the_session_token_is_refused(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    await sign_in(web, "marie", MARIE_PASSWORD)
    for path in ("/desk/news/preview", "/desk/news/publish"):
        answer = await web.post(
            path,
            data={"text_fr": "Bonjour", "text_en": "Hello", "topic": "", "csrf": "forged" * 8},
        )
        assert answer.status_code == 403
        assert "This form has expired or did not come from the desk" in answer.text
    assert updates_in(stage.database) == []
    with Session(stage.database) as session:
        assert session.exec(select(UpdateDelivery)).first() is None


async def test_what_a_manager_writes_is_shown_as_text(web: httpx.AsyncClient, stage: Stage) -> None:
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    hostile = f"Avis : {PAYLOAD}"
    preview = await web.post(
        "/desk/news/preview",
        data={"text_fr": hostile, "text_en": "Notice", "topic": "", "csrf": csrf},
    )
    assert "<script>" not in preview.text
    assert str(escape(hostile)) in preview.text
    assert field(preview.text, "text_fr") == hostile  # given back intact to the confirm step
    for name, value in SECURITY_HEADERS.items():
        assert preview.headers[name].startswith(value)

    published = await web.post(
        "/desk/news/publish",
        data={"text_fr": hostile, "text_en": "Notice", "topic": "", "csrf": csrf},
    )
    page = await web.get(published.headers["location"])
    assert "<script>" not in page.text
    assert str(escape(hostile)) in page.text
    assert updates_in(stage.database)[0].text_fr == hostile


async def test_a_form_sent_twice_publishes_once(web: httpx.AsyncClient, stage: Stage) -> None:
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    form = {"text_fr": "Bonjour", "text_en": "Hello", "topic": "", "csrf": csrf}
    first = await web.post("/desk/news/publish", data=form)
    await web.get(first.headers["location"])  # its flash is shown
    second = await web.post("/desk/news/publish", data=form)
    assert second.headers["location"] == first.headers["location"]
    page = (await web.get(second.headers["location"])).text
    assert shown_flash(page)[0].startswith(f"This update was already published as U-{YEAR}-0001")
    assert len(updates_in(stage.database)) == 1
    with Session(stage.database) as session:
        assert len(list(session.exec(select(UpdateDelivery)))) == 3


async def test_an_interrupted_update_can_be_finished_from_its_page(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    with Session(stage.database) as session:
        session.add(
            ProjectUpdate(
                reference=f"U-{YEAR}-0042", text_fr="Bonjour", text_en="Hello", author="cli:louis"
            )
        )
        session.commit()
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    page = (await web.get(f"/desk/news/u-{YEAR}-0042")).text
    assert "Sending was interrupted before every subscriber was reached." in page
    finished = await web.post(f"/desk/news/U-{YEAR}-0042/send", data={"csrf": csrf})
    page = (await web.get(finished.headers["location"])).text
    assert shown_flash(page) == [f"U-{YEAR}-0042 now reaches 3 subscribers."]
    assert "Sending was interrupted" not in page


async def test_unknown_and_malformed_references(web: httpx.AsyncClient, stage: Stage) -> None:
    await sign_in(web, "marie", MARIE_PASSWORD)
    missing = await web.get("/desk/news/U-2020-0001")
    assert missing.status_code == 404
    assert "There is no update &#39;U-2020-0001&#39;." in missing.text
    odd = await web.get("/desk/news/U-2026-<b>")
    assert odd.status_code == 400
    assert "This address or form is not one the desk understands." in odd.text
