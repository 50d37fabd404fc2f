"""A community manager publishes project news in a real browser (headless Chromium): the
compose form, the preview with who it reaches, changing the text, publishing, and the
update's page. Screenshots go to tests/artifacts/news/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import serve_http
from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase
from bot.storage.models import ProjectUpdate, UpdateDelivery
from bot.updates.service import UpdateService
from bot.updates.web import news_section
from tests.support.browser import chromium, complaints_of, log_in, screenshot, shots_dir
from tests.support.desk import MARIE_PASSWORD, PAYLOAD, Stage, build_stage, desk_app
from tests.support.dialogue import FakeDialogue
from tests.support.updates import subscribe

SHOTS = shots_dir("news")
FRENCH = (
    "Fermeture du chemin du Rang-Sainte-Anne jeudi de 9 h à 11 h (convoi de pales).\n\n"
    f"Détour par la montée des Érables. {PAYLOAD}"
)
ENGLISH = (
    "Chemin du Rang-Sainte-Anne closed on Thursday from 9 to 11 a.m. (blade convoy).\n\n"
    "Detour through montée des Érables."
)


@pytest.fixture
async def served(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> AsyncIterator[tuple[Stage, str]]:
    stage = build_stage(database, fake_dialogue, detector, knowledge)
    subscribe(database, knowledge, "telegram", "1001")
    subscribe(database, knowledge, "discord", "dm:7002", "routes", language="en")
    subscribe(database, knowledge, "web", "julie-web-0001", "dynamitage")
    service = UpdateService(
        engine=database, knowledge=knowledge, languages=("fr", "en"), default_language="fr"
    )
    app = desk_app(stage, fake_dialogue, sections=[news_section(service)])
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    yield stage, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def shot(page: Page, number: int, step: str) -> None:
    await screenshot(page, SHOTS, number, step)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # both databases: the HTTP tests
async def test_a_community_manager_publishes_news_in_the_browser(
    served: tuple[Stage, str],
) -> None:
    stage, url = served
    async with chromium() as browser:
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        complaints = complaints_of(page)
        await log_in(page, url, "marie", MARIE_PASSWORD)

        # 1. From the queue to the news pages.
        await page.click("nav.sections >> text=Project news")
        await page.wait_for_url(f"{url}/desk/news")
        assert "3 destinations" in await page.inner_text("#subscribers")
        await page.fill("#text-fr", FRENCH)
        await page.fill("#text-en", "Closed on Thursday.")
        await page.select_option("#topic", "road_closures")
        await shot(page, 1, "compose")

        # 2. The preview says who it reaches; the manager changes the English text.
        await page.click("#preview")
        await page.wait_for_url(f"{url}/desk/news/preview")
        audience = await page.inner_text("#audience")
        assert "will reach 2 subscribers" in audience  # the blasting-only citizen is not
        await page.click("#edit")
        assert await page.input_value("#text-fr") == FRENCH  # line breaks and all
        assert await page.input_value("#topic") == "road_closures"
        await page.fill("#text-en", ENGLISH)
        await page.click("#preview")
        await page.wait_for_url(f"{url}/desk/news/preview")
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        await shot(page, 2, "preview")

        # 3. Publishing: the update's page with its counts.
        await page.click("#publish")
        await page.wait_for_url(f"{url}/desk/news/U-*")
        assert "is published: 2 subscribers" in await page.inner_text(".flashes")
        assert await page.inner_text("#counts tbody") == "0\t0\t0\t2\t0\t2"
        await shot(page, 3, "published")

    assert complaints == []
    with Session(stage.database) as session:
        stored = session.exec(select(ProjectUpdate)).one()
        deliveries = session.exec(select(UpdateDelivery)).all()
    assert (stored.text_fr, stored.text_en, stored.topic) == (FRENCH, ENGLISH, "road_closures")
    assert len(deliveries) == 2
