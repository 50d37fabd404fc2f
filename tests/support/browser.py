"""Headless Chromium for the browser tests (Debian's, driven through Playwright): launching it,
listening for what the page complains about, signing in to the web desk and saving
screenshots under tests/artifacts/ for a person to look at.

Usage::

    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        complaints = complaints_of(page)
        await log_in(page, url, "marie", MARIE_PASSWORD)
        await screenshot(page, shots_dir("desk"), 1, "queue")
    assert complaints == []
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Response, async_playwright

from bot.settings import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")  # make test finds it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium (the `CHROMIUM` path, `CHROMIUM_ARGS`), closed on leaving; the test
    fails if it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"Headless Chromium is missing ({CHROMIUM}): `make test` installs it.")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


def complaints_of(page: Page) -> list[str]:
    """The list the page's console errors and warnings (a CSP refusal, a script error...) and
    its failed responses (status 400 and above) are added to, from now on."""
    complaints: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            complaints.append(message.text)

    def failed(response: Response) -> None:
        if response.status >= 400:
            complaints.append(f"{response.status} {response.url}")

    page.on("console", listen)
    page.on("response", failed)
    return complaints


async def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Signs in to the desk served at `base_url` through its login form, opening the form
    first unless the page already shows it, and waits for the queue."""
    if page.url != f"{base_url}/desk/login":
        await page.goto(f"{base_url}/desk/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/desk")


def shots_dir(name: str) -> Path:
    """Where the screenshots of one browser test go: tests/artifacts/`name`/."""
    return PROJECT_ROOT / "tests" / "artifacts" / name


async def screenshot(page: Page, folder: Path, number: int, step: str) -> None:
    """Saves the whole page as `folder`/NN-`step`.png (the folder is created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{number:02d}-{step}.png"), full_page=True)


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def accessibility_problems(page: Page) -> list[str]:
    """The serious and critical violations of WCAG 2.1 A and AA that axe-core (the file of
    `AXE_CORE`, fetched by scripts/axe-core.sh) finds in the page as it is now, one line each:
    "rule: what (selectors)". The page's context must be made with ``bypass_csp=True``: the
    desk's policy (rightly) refuses the injected script."""
    path = os.environ.get("AXE_CORE")
    if not path or not Path(path).exists():
        pytest.fail("axe-core is missing (AXE_CORE): `make test` fetches it (scripts/axe-core.sh).")
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=Path(path).read_text(encoding="utf-8"))
    found = await page.evaluate(
        "async tags => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' ' + (n.failureSummary || '')).slice(0, 5)}))",
        AXE_TAGS,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


async def tab_to(page: Page, selector: str, most: int = 120) -> None:
    """Presses Tab until the element matching `selector` has the focus (the keyboard alone)."""
    for _ in range(most):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")
