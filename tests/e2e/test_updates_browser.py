"""A community manager publishes project news in a real browser (headless Chromium): the
compose form, the preview with who it reaches, changing the text, publishing, and the
update's page. Screenshots go to tests/artifacts/news/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import ConsoleMessage, Page, Response, async_playwright
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import serve_http
from bot.channels.web.app import create_app
from bot.core.language import LanguageDetector
from bot.dialogue.actions import ActionServer
from bot.knowledge import KnowledgeBase
from bot.register.deadlines import BusinessCalendar
from bot.register.service import Register
from bot.settings import PROJECT_ROOT
from bot.storage.models import ProjectUpdate, UpdateDelivery
from bot.updates.service import UpdateService
from bot.updates.web import news_section
from tests.conftest import FakeDialogue
from tests.e2e.test_desk_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_desk_web import CATEGORIZER, MARIE_PASSWORD, PAYLOAD, Stage, build_stage
from tests.test_updates import subscribe

SHOTS = PROJECT_ROOT / "tests" / "artifacts" / "news"
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
    app = create_app(
        core=stage.core,
        actions=ActionServer(
            engine=database,
            knowledge=knowledge,
            categorizer=CATEGORIZER,
            register=Register(engine=database, calendar=BusinessCalendar()),
            languages=("fr", "en"),
            default_language="fr",
        ),
        dialogue=fake_dialogue,
        knowledge=knowledge,
        action_token="t",
        desk=stage.desk,
        database=database,
        desk_sections=[
            news_section(
                UpdateService(
                    engine=database,
                    knowledge=knowledge,
                    languages=("fr", "en"),
                    default_language="fr",
                )
            )
        ],
    )
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    yield stage, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def shot(page: Page, number: int, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{number:02d}-{step}.png"), full_page=True)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # both databases: the HTTP tests
async def test_a_community_manager_publishes_news_in_the_browser(
    served: tuple[Stage, str],
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"Headless Chromium is missing ({CHROMIUM}): `make test` installs it.")
    stage, url = served
    complaints: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):  # a CSP refusal, a script error...
            complaints.append(message.text)

    def failed(response: Response) -> None:
        if response.status >= 400:
            complaints.append(f"{response.status} {response.url}")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await (
                await browser.new_context(viewport={"width": 1280, "height": 900})
            ).new_page()
            page.on("console", listen)
            page.on("response", failed)
            await page.goto(f"{url}/desk/login")
            await page.fill("#username", "marie")
            await page.fill("#password", MARIE_PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{url}/desk")

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
        finally:
            await browser.close()

    assert complaints == []
    with Session(stage.database) as session:
        stored = session.exec(select(ProjectUpdate)).one()
        deliveries = session.exec(select(UpdateDelivery)).all()
    assert (stored.text_fr, stored.text_en, stored.topic) == (FRENCH, ENGLISH, "road_closures")
    assert len(deliveries) == 2
