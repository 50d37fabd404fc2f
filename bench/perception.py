"""How fast the perception dashboard answers, with 1,000 to 20,000 citizens' messages.

For each size, a fresh database (SQLite in a temporary folder, or a new database on the
PostgreSQL server of ``--postgres``) gets a community's messages over 120 days
(`tests.support.perception`: the citizens' messages and the assistant's replies, plus a
quarter as many messages heard in community groups, a tenth as many concerns, unanswered
questions, and a weak signal in the last week). Then, through the desk's web application
(HTTP over ASGI, signed in as a community manager), it measures:

1. the baseline: the desk's queue page ``/desk`` (the same login, headers and templates, no
   figures), and a trivial query (``SELECT count(*) FROM message``);
2. the dashboard page over 30 and 90 days, all channels, and filtered (Telegram, French);
3. its parts, called directly: reading the figures, reading the weak signals, each chart;
4. the weekly report as HTML and as PDF;
5. the dashboard again once the indexes proposed for the migration exist (``--no-index`` to
   skip this).

On PostgreSQL the tables are analysed after loading, as autovacuum does on a live database;
SQLite keeps no statistics unless told to, so none are made there.

Prints p50 and p95 in milliseconds and the ratio of each p50 to the queue page's. Run it
from the project root: ``.venv/bin/python bench/perception.py [--sizes 1000,5000,20000]
[--repeats 15] [--postgres URL]``. It is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours
from bot.common.phrases import CATEGORY_NAMES
from bot.desk.hours import DeskSchedule
from bot.desk.inbox import inbox_section
from bot.desk.service import Desk
from bot.knowledge import load_knowledge_base
from bot.perception import charts
from bot.perception.queries import Period, Scope, local_today, read_figures
from bot.perception.report import (
    build_weekly_report,
    last_complete_week,
    render_html,
    render_pdf,
)
from bot.perception.signals import read_signals
from bot.perception.web import perception_section
from bot.settings import PROJECT_ROOT
from bot.staff_web.accounts import create_account
from bot.staff_web.shell import desk_router
from bot.storage.database import open_database, sqlalchemy_url

sys.path.insert(0, str(PROJECT_ROOT))
from tests.support.perception import generate

ZONE = ZoneInfo("America/Toronto")
PASSWORD = "rang des érables 47"
# The indexes proposed for the migration: every column the dashboard reads from a message,
# in the order it filters by, so that a period is one range of the index (no table lookups).
INDEXES = (
    "CREATE INDEX ix_message_perception ON message "
    "(direction, created_at, conversation_id, language, sentiment, sentiment_score, intent, "
    "edit_of)",
    "CREATE INDEX ix_heard_message_perception ON heard_message "
    "(created_at, channel, language, sentiment, sentiment_score)",
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    cut = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return cut[49] * 1000, cut[94] * 1000


def fresh_database(size: int, postgres: str | None, folder: Path) -> tuple[Engine, str]:
    if postgres:
        name = f"voisinage_bench_{size}_{secrets.token_hex(3)}"
        admin = create_engine(sqlalchemy_url(postgres), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = postgres.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{folder / f'perception-{size}.db'}"
    return open_database(url), url


def desk_app(engine: Engine) -> FastAPI:
    knowledge = load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")
    desk = Desk(engine=engine, schedule=DeskSchedule(DeskHours.parse("always"), BusinessCalendar()))
    app = FastAPI()
    app.include_router(
        desk_router(
            engine=engine,
            zone=desk.schedule.calendar.zone,
            session_hours=8,
            secure_cookies=False,
            sections=[
                inbox_section(desk, knowledge),
                perception_section(engine=engine, project_name=knowledge.name),
            ],
        )
    )
    with Session(engine) as session:
        create_account(session=session, username="bench", display_name="Bench", password=PASSWORD)
    return app


async def signed_in(app: FastAPI) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://desk.test", timeout=60
    )
    form = await client.get("/desk/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(
        "/desk/login", data={"username": "bench", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


async def timed_get(client: httpx.AsyncClient, path: str, repeats: int) -> list[float]:
    await client.get(path)  # warm: imports, templates, fonts
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = await client.get(path)
        samples.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return samples


async def timed(call: Callable[[], object], repeats: int) -> list[float]:
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def row(name: str, samples: list[float], baseline: float) -> None:
    p50, p95 = percentiles(samples)
    print(f"  {name:<44} {p50:8.1f} {p95:8.1f} {p50 / baseline:8.1f}", flush=True)


async def measure(size: int, repeats: int, postgres: str | None, folder: Path, index: bool) -> None:
    engine, url = fresh_database(size, postgres, folder)
    today = local_today(ZONE)
    started = time.perf_counter()
    made = generate(
        engine,
        today=today,
        zone=ZONE,
        messages=size,
        heard=size // 4,
        concerns=size // 10,
        unanswered=size // 40,
        rising=max(30, size // 60),
    )
    if postgres:
        # A live database has statistics (autovacuum analyses a table as it grows); freshly
        # loaded rows have none, and the planner would then guess one row per table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    print(
        f"\n{size:,} citizens' messages ({made.incoming:,} in, {made.outgoing:,} replies, "
        f"{made.heard:,} heard in groups, {made.concerns:,} concerns; "
        f"{'PostgreSQL' if postgres else 'SQLite'}, written in "
        f"{time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    print(f"  {'':<44} {'p50 ms':>8} {'p95 ms':>8} {'× /desk':>8}")
    app = desk_app(engine)
    client = await signed_in(app)
    try:
        queue = await timed_get(client, "/desk", repeats)
        baseline = percentiles(queue)[0]
        row("baseline: queue page /desk", queue, baseline)

        def trivial() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT count(*) FROM message")).scalar_one()

        row("baseline: SELECT count(*) FROM message", await timed(trivial, repeats), baseline)
        pages = {
            "dashboard, 30 days": "/desk/perception?period=30",
            "dashboard, 90 days": "/desk/perception?period=90",
            "dashboard, 30 days, Telegram, French": (
                "/desk/perception?period=30&channel=telegram&language=fr"
            ),
        }
        for name, path in pages.items():
            row(name, await timed_get(client, path, repeats), baseline)

        period = Period.last(30, today)
        scope = Scope()
        figures = read_figures(engine, period=period, scope=scope, zone=ZONE)
        signals = read_signals(engine, as_of=today, scope=scope, zone=ZONE)
        sentiment = figures.sentiment
        parts: dict[str, Callable[[], object]] = {
            "  reading the figures (30 days)": lambda: read_figures(
                engine, period=period, scope=scope, zone=ZONE
            ),
            "  reading the weak signals": lambda: read_signals(
                engine, as_of=today, scope=scope, zone=ZONE
            ),
            "  chart: sentiment trend": lambda: charts.sentiment_trend(
                sentiment.buckets, sentiment.step, sentiment.trend, "en"
            ).svg(),
            "  chart: by source, channel, language": lambda: charts.sentiment_breakdown(
                sentiment.by_source, sentiment.by_channel, sentiment.by_language, "en"
            ).svg(),
            "  chart: concerns over time": lambda: charts.concerns_over_time(
                figures.concerns.buckets,
                sentiment.step,
                figures.concerns.by_category,
                {key: names["en"] for key, names in CATEGORY_NAMES.items()},
                "en",
            ).svg(),
            "  chart: most asked FAQ topics": lambda: charts.faq_topics(
                [(q.topic, q.count, q.previous) for q in figures.questions.topics[:10]], "en"
            ).svg(),
        }
        if signals.signals:
            parts["  chart: weak signals"] = lambda: charts.weak_signals(
                signals.signals, "en"
            ).svg()
        for name, call in parts.items():
            row(name, await timed(call, repeats), baseline)

        week = last_complete_week(today)
        report = build_weekly_report(engine, week=week, language="fr", zone=ZONE, today=today)
        few = max(3, repeats // 3)
        row(
            "weekly report: figures",
            await timed(
                lambda: build_weekly_report(
                    engine, week=week, language="fr", zone=ZONE, today=today
                ),
                few,
            ),
            baseline,
        )
        row(
            "weekly report: HTML",
            await timed(lambda: render_html(report, project_name="Trois-Collines"), few),
            baseline,
        )
        row(
            "weekly report: PDF",
            await timed(lambda: render_pdf(report, project_name="Trois-Collines"), few),
            baseline,
        )
        if index:
            with engine.begin() as connection:
                for statement in INDEXES:
                    connection.execute(text(statement))
            for name, path in pages.items():
                row(f"{name}, with the indexes", await timed_get(client, path, repeats), baseline)
            row(
                "  reading the figures (30 days), with the indexes",
                await timed(parts["  reading the figures (30 days)"], repeats),
                baseline,
            )
            row(
                "  reading the weak signals, with the indexes",
                await timed(parts["  reading the weak signals"], repeats),
                baseline,
            )
    finally:
        await client.aclose()
        engine.dispose()
        if postgres:
            admin = create_engine(sqlalchemy_url(postgres), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{url.rsplit("/", 1)[1]}"'))
            admin.dispose()
        else:
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"))
    parser.add_argument("--no-index", action="store_true", help="skip the indexed run")
    args = parser.parse_args()
    print(
        f"Perception dashboard, {date.today():%Y-%m-%d}, {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f}; {args.repeats} repeats after one warm-up."
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(value) for value in args.sizes.split(",")):
            await measure(size, args.repeats, args.postgres, Path(folder), not args.no_index)


if __name__ == "__main__":
    asyncio.run(main())
