"""A consultation in real browsers (headless Chromium): a manager writes it on the desk, a
citizen answers it in the web chat with its buttons and changes their mind, the manager
follows the counts and closes it, and the citizen's page shows the result. Screenshots go to
tests/artifacts/consultations/ (one is the README's)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Page
from sqlalchemy import Engine

from bot.app import serve_http
from bot.common.language import LanguageDetector
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.participation.consultations import Consultations
from bot.participation.ideas import IdeaBox
from bot.participation.service import Participation
from bot.participation.web import participation_section
from bot.storage.models import utc_now
from tests.participation.test_participation import consultations_for
from tests.support.browser import (
    accessibility_problems,
    chromium,
    complaints_of,
    log_in,
    screenshot,
    shots_dir,
)
from tests.support.desk import MARIE_PASSWORD, Stage, build_stage, desk_app
from tests.support.dialogue import FakeDialogue

SHOTS = shots_dir("consultations")


@pytest.fixture
async def served(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> AsyncIterator[tuple[Stage, str, Consultations]]:
    stage = build_stage(database, fake_dialogue, detector, knowledge)
    consultations = consultations_for(database, knowledge)
    core = ConversationCore(
        engine=database,
        dialogue=fake_dialogue,
        detector=detector,
        turn_timeout=1.0,
        first_contact_notice=False,
        desk=stage.desk,
        participation=Participation(consultations),
    )
    stage = dataclasses.replace(stage, core=core)
    app = desk_app(
        stage,
        fake_dialogue,
        sections=[
            participation_section(consultations, IdeaBox(engine=database, reader=None), database)
        ],
        choices_of=consultations.choices_of_messages,
    )
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    yield stage, f"http://127.0.0.1:{port}", consultations
    server.should_exit = True
    await task


async def shot(page: Page, number: int, step: str) -> None:
    await screenshot(page, SHOTS, number, step)


async def says(chat: Page, text: str, expect: str) -> None:
    """The citizen types and sends `text`, and waits for an answer containing `expect`."""
    await chat.fill("#text", text)
    await chat.press("#text", "Enter")
    await chat.wait_for_function(
        "e => [...document.querySelectorAll('#messages li')].some(li => li.textContent.includes(e))",
        arg=expect,
    )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_consultation_from_the_desk_to_the_web_chat_and_back(
    served: tuple[Stage, str, Consultations],
) -> None:
    _stage, url, consultations = served
    async with chromium() as browser:
        desk = await (
            await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        ).new_page()
        complaints = complaints_of(desk)
        await log_in(desk, url, "marie", MARIE_PASSWORD)

        # 1. The manager writes the consultation: options in both languages, for anyone.
        await desk.click("nav.sections >> text=Consultations")
        await desk.wait_for_url(f"{url}/desk/consultations")
        await desk.fill("#question-fr", "Quel nom donner au nouveau chemin d'accès?")
        await desk.fill("#question-en", "What should the new access road be called?")
        await desk.fill(
            "#options",
            "Chemin des Éoliennes | Wind Turbine Road\nChemin du Vent | Wind Road\n"
            "Montée des Trois-Collines | Three Hills Climb | 4",
        )
        await desk.fill("#purpose-fr", "Le nom choisi sera proposé au conseil municipal.")
        await desk.fill("#purpose-en", "The chosen name will be put to the municipal council.")
        await desk.fill("#audience", "anyone")
        closes = (utc_now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
        await desk.fill("#closes", closes)
        await shot(desk, 1, "write")
        await desk.click("#create-consultation")
        await desk.wait_for_url(re.compile(r".*/desk/consultations/K-\d{4}-\d+$"))
        reference = desk.url.rsplit("/", 1)[1]
        assert "open" in await desk.inner_text("#status")
        assert await accessibility_problems(desk) == []

        # 2. A citizen of the web chat is asked after their answer, and votes with a button,
        # then changes their mind with another.
        chat = await (
            await browser.new_context(viewport={"width": 480, "height": 900}, bypass_csp=True)
        ).new_page()
        chat_complaints = complaints_of(chat)
        await chat.goto(f"{url}/")
        await says(chat, "Bonjour, quand commencent les travaux?", reference)
        buttons = chat.locator(".choices button")
        assert await buttons.all_inner_texts() == [
            "1. Chemin des Éoliennes",
            "2. Chemin du Vent",
            "3. Montée des Trois-Collines",
        ]
        await buttons.nth(1).click()
        await chat.wait_for_function(
            "() => document.body.textContent.includes('« 2. Chemin du Vent »')"
        )
        await buttons.nth(2).click()
        await chat.wait_for_function(
            "() => document.body.textContent.includes('maintenant « 3. Montée des Trois-Collines »')"
        )
        await shot(chat, 2, "web-chat-vote")
        assert await accessibility_problems(chat) == []

        # 3. The manager sees the live count (one voice, one change of mind), and closes it.
        await desk.reload()
        counts = await desk.inner_text("#counts")
        assert "Three Hills Climb" in counts
        assert "4 citizens" in counts
        assert "1 answer from 1 conversation or group asked · 1 change of mind" in (
            await desk.inner_text("#participation")
        )
        await shot(desk, 3, "live-counts")
        await desk.click("#close")
        await desk.wait_for_url(f"{url}/desk/consultations/{reference}")
        assert "closed" in await desk.inner_text("#status")
        await shot(desk, 4, "results")

        # 4. The citizen's page shows the result (the web chat asks for notices).
        await chat.reload()
        await chat.wait_for_function(
            "() => document.body.textContent.includes('3. Montée des Trois-Collines : 1 (100%)')"
        )
        assert "pas un sondage représentatif" in await chat.inner_text("#messages")
        await shot(chat, 5, "web-chat-result")
        assert complaints == []
        assert chat_complaints == []
    assert consultations.results(reference).counts == (0, 0, 1)
