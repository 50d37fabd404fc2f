"""The concern register on the desk in a real browser (issue 16): an agent and a manager each
sign in; the agent works a concern raised on Telegram end to end (acknowledge, assign to self,
note with the keyboard alone, answer, close) and the citizen receives the answer on Telegram
through the stand-in; the agent is refused an identified export and a report publication (both
audited); the manager, who signs in with two steps, exports with identifiers (reason given)
and publishes a reviewed report. Every page visited passes axe-core's WCAG 2.1 A/AA rules with
no serious or critical violation, the citizen's web chat and the inbox included. Headless
Chromium (Debian's) through Playwright; screenshots in tests/artifacts/register/."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pyotp
import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import serve_http
from bot.channels.base import keep_running
from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours
from bot.common.language import LanguageDetector
from bot.desk.hours import DeskSchedule
from bot.desk.service import Desk
from bot.knowledge import KnowledgeBase
from bot.register.reports_web import reports_section
from bot.register.service import Register
from bot.register.web import register_section
from bot.staff_web.managers import staff_section
from bot.storage.models import AuditEntry, Concern, StaffAccount
from tests.support.browser import (
    accessibility_problems,
    chromium,
    complaints_of,
    screenshot,
    shots_dir,
    tab_to,
)
from tests.support.desk import Stage, add_staff, desk_app
from tests.support.dialogue import ScriptedDialogue, scripted_core
from tests.support.fake_telegram import FakeTelegram
from tests.support.waiting import until

SHOTS = shots_dir("register")
CITIZEN = 7301
MANAGER_PASSWORD = "lac-des-sables-2026"
AGENT_PASSWORD = "rang-saint-joseph-9"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ANSWER = "Un arrosage des chemins commence lundi; merci de nous l'avoir signalé."


@dataclass
class Served:
    url: str
    database: Engine
    telegram: FakeTelegram


@pytest.fixture
async def served(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> AsyncIterator[Served]:
    desk = Desk(
        engine=database, schedule=DeskSchedule(DeskHours.parse("always"), BusinessCalendar())
    )
    dialogue = ScriptedDialogue()
    core = scripted_core(database, dialogue, detector, knowledge, desk=desk)
    register = Register(engine=database, calendar=BusinessCalendar())
    add_staff(database, "camille", MANAGER_PASSWORD, "Camille", role="manager")
    add_staff(database, "sam", AGENT_PASSWORD, "Sam", role="agent")
    with Session(database) as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.username == "camille")).one()
        account.totp_secret = TOTP_SECRET
        session.add(account)
        session.commit()
    app = desk_app(
        Stage(database=database, desk=desk, core=core, knowledge=knowledge),
        dialogue,
        sections=[
            register_section(register),
            reports_section(register, knowledge=knowledge),
            staff_section(engine=database),
        ],
    )
    async with FakeTelegram() as telegram:
        channel = TelegramChannel(
            token=telegram.token, core=core, engine=database,
            pseudonyms=Pseudonyms(b"telegram-test-key-012"), base_url=telegram.base_url,
            poll_timeout=1, retry_base=0.01,
        )  # fmt: skip
        running = asyncio.create_task(keep_running(channel, retry_base=0.01))
        server, task, port = await serve_http(app, "127.0.0.1", 0)
        try:
            yield Served(f"http://127.0.0.1:{port}", database, telegram)
        finally:
            server.should_exit = True
            await task
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def checked(page: Page, number: int, step: str) -> None:
    """No serious or critical accessibility violation on the page; a screenshot of it."""
    assert await accessibility_problems(page) == [], page.url
    await screenshot(page, SHOTS, number, step)


async def sign_in(page: Page, url: str, username: str, password: str, code: str = "") -> None:
    await page.goto(f"{url}/desk/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    if code:
        await page.fill("#code", code)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/desk")


async def csrf(page: Page) -> str:
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token


def audited(database: Engine, action: str) -> list[AuditEntry]:
    with Session(database) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


async def new_page(browser: Browser) -> tuple[Page, list[str]]:
    # bypass_csp: axe-core is injected into each page; the desk's policy refuses inline code.
    context = await browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True,
                                        accept_downloads=True)  # fmt: skip
    page = await context.new_page()
    return page, complaints_of(page)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_an_agent_and_a_manager_work_the_register_in_the_browser(served: Served) -> None:
    url, database, telegram = served.url, served.database, served.telegram
    telegram.send_text(
        chat_id=CITIZEN, user_id=CITIZEN, text="La poussière rend mes enfants malades"
    )
    concern = await until(
        lambda: Session(database).exec(select(Concern)).first(), "the concern recorded"
    )
    reference = concern.reference

    async with chromium() as browser:
        # --- the citizen's web chat and the agent's desk pass the accessibility rules ---------
        sam, sam_complaints = await new_page(browser)
        await sam.goto(f"{url}/")
        await checked(sam, 1, "web-chat")
        await sign_in(sam, url, "sam", AGENT_PASSWORD)
        await checked(sam, 2, "inbox")
        await sam.click("nav.sections >> text=Concerns")
        await sam.wait_for_url(f"{url}/desk/concerns")
        assert await sam.locator(f"#concerns a:text('{reference}')").count() == 1
        await checked(sam, 3, "register-list")

        # --- the agent works the concern; the note with the keyboard alone ---------------------
        await tab_to(sam, f"#concerns a[href='/desk/concerns/{reference}']")
        await sam.keyboard.press("Enter")
        await sam.wait_for_url(f"{url}/desk/concerns/{reference}")
        assert "La poussière rend mes enfants malades" in (await sam.text_content("#words") or "")
        await checked(sam, 4, "concern")
        await sam.click("#acknowledge")
        await sam.wait_for_selector("text=Acknowledged: the citizen was told.")
        await sam.select_option("#assignee", "sam")
        await sam.click("#assign")
        await sam.wait_for_selector("text=Assigned to sam.")
        await tab_to(sam, "#note-text")
        await sam.keyboard.type("Vérifier l'arrosage avec l'entrepreneur.")
        await sam.keyboard.press("Tab")
        assert await sam.evaluate("document.activeElement.id") == "add-note"
        await sam.keyboard.press("Enter")
        await sam.wait_for_selector("text=Noted (the citizen never sees notes).")
        await sam.fill("#answer-text", ANSWER)
        await sam.click("#send-answer")
        await sam.wait_for_selector("text=Answer sent to the citizen, on their channel.")
        await sam.select_option("#outcome", "resolved")
        await sam.click("#close")
        await sam.wait_for_selector("text=Closed: the citizen was told how to accept or appeal.")
        history = await sam.text_content("#history") or ""
        for step in ("Assigned", "Internal note", "Answer to the citizen", "→ closed"):
            assert step in history
        await checked(sam, 5, "concern-closed")
        await until(
            lambda: ANSWER in [m.text for m in telegram.sent_to(CITIZEN)],
            "the answer on the citizen's Telegram",
        )

        # --- refused to the agent, and audited ---------------------------------------------------
        await sam.goto(f"{url}/desk/concerns")
        assert await sam.locator("#export-identified").count() == 0
        token = await csrf(sam)
        refused = await sam.request.post(f"{url}/desk/concerns/export", form={
            "csrf": token, "reason": "curious", "format": "csv",
        })  # fmt: skip
        assert refused.status == 403
        await sam.goto(f"{url}/desk/reports")
        await checked(sam, 6, "reports")
        await sam.click("#draft-report")
        await sam.wait_for_url(f"{url}/desk/reports/*")
        report_url = sam.url
        assert await sam.locator("#publish").count() == 0
        refused = await sam.request.post(f"{report_url}/publish", form={"csrf": await csrf(sam)})
        assert refused.status == 403
        assert [e.detail["action"] for e in audited(database, "desk.refused")] == [
            "export with identifiers", "publish a public report",
        ]  # fmt: skip

        # --- the manager: identified export with a reason, then the report reviewed ------------
        camille, camille_complaints = await new_page(browser)
        await sign_in(camille, url, "camille", MANAGER_PASSWORD, pyotp.TOTP(TOTP_SECRET).now())
        await camille.goto(f"{url}/desk/concerns")
        await camille.fill("#export-reason", "Demande du prêteur (audit annuel)")
        async with camille.expect_download() as waiting:
            await camille.click("#export-identified-button")
        download = await waiting.value
        rows = list(csv.DictReader(io.StringIO(
            (await download.path()).read_text(encoding="utf-8-sig")  # type: ignore[union-attr]
        )))  # fmt: skip
        assert [(r["reference"], r["chat_id"]) for r in rows] == [(reference, str(CITIZEN))]
        [export] = audited(database, "export_identified")
        assert export.detail["reason"] == "Demande du prêteur (audit annuel)"

        await camille.goto(report_url)
        await checked(camille, 7, "report-draft")
        markdown = await camille.input_value("#markdown")
        await camille.fill("#markdown", markdown + "\nNous remercions les résidents du rang 4.\n")
        await camille.click("#save-draft")
        await camille.wait_for_selector("text=Draft saved.")
        await camille.click("#publish")
        await camille.wait_for_selector("#download-pdf")
        assert await camille.text_content("#report-status") == "published"
        assert "Nous remercions les résidents du rang 4." in (
            await camille.text_content("#preview") or ""
        )
        await checked(camille, 8, "report-published")
        await camille.goto(f"{url}/desk/audit")
        await checked(camille, 9, "audit-trail")
        await camille.goto(f"{url}/desk/staff")
        await checked(camille, 10, "staff")

    assert [c for c in sam_complaints if "403" not in c] == []
    assert camille_complaints == []
    assert len(audited(database, "report.publish")) == 1
