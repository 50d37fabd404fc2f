"""The perception dashboard in a real browser, over a few thousand generated messages: a
community manager signs in, opens the dashboard, changes the period, channel, language and
source, reads the messages behind a weak signal and opens the weekly report. Headless
Chromium (Debian's) is driven through Playwright against the application served on
127.0.0.1; the page must raise no console error and no Content-Security-Policy violation.
A screenshot of each step is saved in tests/artifacts/perception/ for a person to look at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page
from sqlalchemy import Engine

from bot.app import serve_http
from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase
from bot.perception.queries import local_today
from bot.perception.report import last_complete_week
from tests.support.browser import chromium, complaints_of, log_in, screenshot, shots_dir
from tests.support.desk import MARIE_PASSWORD, build_stage
from tests.support.dialogue import FakeDialogue
from tests.support.perception import WORDS, generate, perception_app

SHOTS = shots_dir("perception")
TORONTO = ZoneInfo("America/Toronto")
# Records every policy violation the page reports (the init script is the browser's, not the
# page's: the policy does not apply to it).
WATCH_POLICY = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (event) => window.__violations.push(event.violatedDirective + ' ' + event.blockedURI));
"""


@pytest.fixture
async def served(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> AsyncIterator[str]:
    stage = build_stage(database, fake_dialogue, detector, knowledge)
    generate(
        database,
        today=local_today(TORONTO),
        zone=TORONTO,
        messages=4_000,
        heard=1_000,
        concerns=400,
        unanswered=120,
        rising=90,
    )
    server, task, port = await serve_http(perception_app(stage, fake_dialogue), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def shot(page: Page, number: int, step: str) -> None:
    """Saves what the page looks like, once it is known to have broken no policy."""
    assert await violations(page) == [], step
    await screenshot(page, SHOTS, number, step)


async def headline(page: Page, label: str) -> str:
    card = page.locator(".headline", has=page.locator(".headline-label", has_text=label))
    return (await card.locator(".headline-value").text_content() or "").strip()


async def violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__violations")
    return found


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # both: test_perception_web
async def test_a_community_manager_reads_the_perception_in_the_browser(served: str) -> None:
    url = served
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1360, "height": 900})
        await context.add_init_script(WATCH_POLICY)
        page = await context.new_page()
        complaints = complaints_of(page)
        # 1. Signed out, the dashboard sends to the login form; signed in, the desk's
        # menu leads to it.
        await page.goto(f"{url}/desk/perception")
        assert page.url == f"{url}/desk/login"
        await log_in(page, url, "marie", MARIE_PASSWORD)
        await page.click("nav.sections a:has-text('Perception')")
        await page.wait_for_url(f"{url}/desk/perception")

        # 2. The last 30 days: figures, charts, and the weak signal of the generated week.
        assert int((await headline(page, "Messages from citizens")).replace(",", "")) > 1_000
        assert await headline(page, "Weak signals (last 7 days)") == "1"
        assert await page.locator("figure.chart svg[role=img]").count() == 5
        for chart in ("trend", "breakdown", "concerns", "faq", "signals"):
            box = await page.locator(f"svg[aria-labelledby^='chart-{chart}-title']").bounding_box()
            assert box is not None, chart
            assert box["width"] > 400, chart  # drawn across its box
        assert await page.locator(".signal h3").all_text_contents() == ["Traffic"]
        await shot(page, 1, "dashboard-30-days")

        # 3. Filters: Telegram, in French, chats only.
        everything = await headline(page, "Messages from citizens")
        await page.select_option("#channel", "telegram")
        await page.select_option("#language", "fr")
        await page.select_option("#source", "chats")
        await page.click("#show")
        await page.wait_for_url("**/desk/perception?*channel=telegram*")
        narrowed = await headline(page, "Messages from citizens")
        assert int(narrowed.replace(",", "")) < int(everything.replace(",", ""))
        assert await page.locator("#channel").input_value() == "telegram"
        await shot(page, 2, "telegram-french-chats")

        # 4. Back to every channel, over 90 days: weeks instead of days.
        await page.select_option("#channel", "")
        await page.select_option("#language", "")
        await page.select_option("#source", "all")
        await page.check("input[name=period][value='90']")
        await page.click("#show")
        await page.wait_for_url("**/desk/perception?period=90*")
        assert "per week" in (await page.locator("#chart-trend-title").text_content() or "")
        await shot(page, 3, "all-90-days")

        # 5. The messages behind the signal: the citizens' words, for the team only.
        await page.click(".signal summary")
        examples = page.locator(".signal .example .text")
        await examples.first.wait_for()
        assert await examples.count() == 20
        words = {WORDS["fr"]["traffic"], WORDS["en"]["traffic"]}
        assert words & set(await examples.all_text_contents())
        await page.click("#signals > details summary")
        assert await page.locator("#levels tbody tr").count() >= 10
        await shot(page, 4, "signal-messages")

        # 6. The weekly report, in French, inside the desk; its PDF beside it.
        week = last_complete_week(local_today(TORONTO)).week_name
        await page.select_option("#week", week)
        await page.select_option("#report-language", "fr")
        await page.click("#open-report")
        await page.wait_for_url(f"**/desk/perception/report?week={week}&language=fr")
        assert "rapport hebdomadaire de perception" in (
            await page.locator(".weekly-report h1").text_content() or ""
        )
        assert await page.locator(".weekly-report svg[role=img]").count() >= 4
        headings = await page.locator(".weekly-report h2").all_text_contents()
        assert headings[:2] == ["En bref", "La perception sur neuf semaines"]
        assert "Signaux faibles" in headings
        await shot(page, 5, "weekly-report-fr")
        pdf = await page.request.get(
            f"{url}{await page.locator('#download-pdf').get_attribute('href')}"
        )
        assert pdf.ok
        assert (await pdf.body()).startswith(b"%PDF")
        async with page.expect_download() as download:
            await page.click("#download-html")
        saved = await (await download.value).path()
        assert "<svg" in saved.read_text(encoding="utf-8")
    assert complaints == []
