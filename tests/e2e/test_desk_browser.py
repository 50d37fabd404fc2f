"""The web desk in a real browser: a community manager signs in, finds the conversation in the
queue, claims it, answers with a canned answer, keeps a note, sees the citizen's next message
arrive without reloading, and hands back. Headless Chromium (Debian's) is driven through
Playwright against the application served on 127.0.0.1; the citizen's first message is
hostile markup that must stay text. A screenshot of each step is saved in
tests/artifacts/desk/ for a person to look at."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.app import serve_http
from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase, cite
from bot.storage.models import Handoff, HandoffEvent, Message, StaffSession
from tests.support.browser import chromium, complaints_of, log_in, screenshot, shots_dir
from tests.support.desk import (
    CITIZEN_ID,
    HOSTILE_MESSAGE,
    MARIE_PASSWORD,
    Stage,
    build_stage,
    citizen_says,
    desk_app,
    hand_a_conversation_to_the_desk,
)
from tests.support.dialogue import FakeDialogue

SHOTS = shots_dir("desk")
LIVE_WAIT_MS = 10_000  # the page asks every 3 s


@pytest.fixture
async def served(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> AsyncIterator[tuple[Stage, str]]:
    stage = build_stage(database, fake_dialogue, detector, knowledge)
    server, task, port = await serve_http(desk_app(stage, fake_dialogue), "127.0.0.1", 0)
    yield stage, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def shot(page: Page, number: int, step: str) -> None:
    await screenshot(page, SHOTS, number, step)


async def assert_not_pwned(page: Page) -> None:
    assert await page.evaluate("typeof window.__pwned") == "undefined"


def the_handoff(database: Engine) -> Handoff:
    with Session(database) as session:
        return session.exec(select(Handoff)).one()


def staff_messages(database: Engine) -> list[str]:
    with Session(database) as session:
        return list(
            session.exec(
                select(Message.text)
                .where(Message.author == "staff:web:marie")
                .order_by(col(Message.id))
            ).all()
        )


def project_texts(database: Engine) -> list[str]:
    """What the citizen's page receives from the project (the team's words, joins, leaves)."""
    with Session(database) as session:
        return list(
            session.exec(
                select(Message.text)
                .where(Message.direction == "out", col(Message.reply_to).is_(None))
                .order_by(col(Message.id))
            ).all()
        )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # both databases: test_desk_web
async def test_a_community_manager_handles_a_conversation_in_the_browser(
    served: tuple[Stage, str],
) -> None:
    stage, url = served
    reference = await hand_a_conversation_to_the_desk(stage)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1360, "height": 900})
        page = await context.new_page()
        complaints = complaints_of(page)
        # 1. The desk asks to sign in.
        await page.goto(f"{url}/desk")
        assert page.url == f"{url}/desk/login"
        await shot(page, 1, "login")
        await log_in(page, url, "marie", MARIE_PASSWORD)
        with Session(stage.database) as session:
            assert len(session.exec(select(StaffSession)).all()) == 1

        # 2. The conversation waits in the queue, the hostile markup shown as text.
        waiting = page.locator("#waiting tbody tr")
        assert await waiting.count() == 1
        row = waiting.first
        assert await row.locator("a", has_text=reference).count() == 1
        assert await row.locator(".preview").text_content() == HOSTILE_MESSAGE
        assert "asked for a person" in (await row.text_content() or "")
        await assert_not_pwned(page)
        await shot(page, 2, "queue")

        # 3. Opening it shows the summary and the whole transcript.
        await row.locator("a", has_text=reference).first.click()
        await page.wait_for_url(f"{url}/desk/h/{reference}")
        citizen_lines = page.locator("#transcript .line.citizen .text")
        assert await citizen_lines.last.text_content() == HOSTILE_MESSAGE
        assert await page.locator("#status").text_content() == "waiting"
        assert HOSTILE_MESSAGE in (await page.locator(".summary").text_content() or "")
        await assert_not_pwned(page)
        await shot(page, 3, "conversation")

        # 4. Claim: the citizen is told a person joined.
        await page.click("#claim")
        await page.wait_for_url(f"{url}/desk/h/{reference}")
        assert await page.locator("#status").text_content() == "with a person"
        assert "You own this conversation." in (await page.locator(".actions").text_content() or "")
        handoff = the_handoff(stage.database)
        assert (handoff.status, handoff.owner) == ("active", "staff:web:marie")
        assert project_texts(stage.database)[-1].startswith("Marie s'est joint(e)")
        await shot(page, 4, "claimed")

        # 5. A canned answer fills the reply box (the script does it on picking).
        canned = cite(stage.knowledge.answers["schedule"], "fr")
        assert not await page.locator("#canned-use").is_visible()
        await page.select_option("#canned", "schedule")
        assert await page.input_value("#reply-text") == canned
        await shot(page, 5, "canned-answer")

        # 6. ... and is sent to the citizen, signed with the manager's first name.
        await page.click("#send-reply")
        await page.wait_for_url(f"{url}/desk/h/{reference}")
        assert "Your answer was sent to the citizen." in (
            await page.locator(".flashes").text_content() or ""
        )
        assert staff_messages(stage.database) == [f"Marie : {canned}"]
        assert await page.locator("#transcript .line.staff .text").last.text_content() == (
            f"Marie : {canned}"
        )
        await shot(page, 6, "reply-sent")

        # 7. An internal note, visibly apart, never sent to the citizen.
        await page.fill("#note-text", "Voisine du lot 12 : rappeler jeudi.")
        await page.click("#add-note")
        await page.wait_for_url(f"{url}/desk/h/{reference}")
        note = page.locator("#transcript .line.note").last
        assert await note.locator(".text").text_content() == "Voisine du lot 12 : rappeler jeudi."
        assert "Internal note by Marie Tremblay" in (await note.text_content() or "")
        with Session(stage.database) as session:
            notes = session.exec(select(HandoffEvent.text).where(HandoffEvent.kind == "note"))
            assert list(notes) == ["Voisine du lot 12 : rappeler jeudi."]
        assert all("lot 12" not in text for text in project_texts(stage.database))
        await shot(page, 7, "note")

        # 8. The citizen writes again: the line appears without a reload.
        await page.evaluate("window.__samePage = true")
        await stage.core.handle(citizen_says("Merci ! Et pour le bruit des camions ?"))
        live = page.locator(
            "#transcript .line.citizen .text", has_text="Et pour le bruit des camions ?"
        )
        await live.wait_for(timeout=LIVE_WAIT_MS)
        assert await page.evaluate("window.__samePage") is True  # no reload happened
        await assert_not_pwned(page)
        await shot(page, 8, "live-message")

        # 9. Hand back: resolved, the citizen asked to rate the help (ticked by default).
        assert await page.is_checked("input[name=ask_rating]")
        await page.check("input[name=outcome][value=resolved]")
        await page.click("#close")
        await page.wait_for_url(f"{url}/desk")
        assert f"{reference} was handed back to the assistant (resolved)." in (
            await page.locator(".flashes").text_content() or ""
        )
        assert await page.locator("#waiting").count() == 0
        assert await page.locator("#closed", has_text=reference).count() == 1
        handoff = the_handoff(stage.database)
        assert (handoff.status, handoff.outcome, handoff.closed_by) == (
            "closed",
            "resolved",
            "staff:web:marie",
        )
        told = project_texts(stage.database)
        assert told[-2].startswith("Marie a quitté la conversation")
        assert "de 1 (pas utile) à 5" in told[-1]
        notices = await page.request.get(
            f"{url}/api/conversation/notices", headers={"X-Conversation": CITIZEN_ID}
        )
        assert [n["text"] for n in await notices.json()] == told
        await assert_not_pwned(page)
        await shot(page, 9, "handed-back")
    assert complaints == []
