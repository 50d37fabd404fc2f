"""Speed of the concern register's desk pages on a large register, beside the plain inbox.

Generates a register of 100,000 concerns by default (French and English words with accents,
every status, category, severity and channel, reply-by dates around today, a third assigned)
in a temporary SQLite file, or in a fresh database on the PostgreSQL server of
``--postgres URL``, then times, through the whole desk application (login cookie, route,
queries, template), in the same run:

* the baseline: the inbox page ``/desk`` (handoffs waiting for a person);
* the register's first page, a filtered page (status, category, severity), a page deep in the
  list (page 200), "due this week", and two searches in the citizens' words (a word many
  concerns hold, one none holds: the whole register is read);
* a concern's page;
* then, with ``--export-concerns N`` (one million by default), the register grown to N
  concerns and downloaded as CSV over a real socket: the time to the first byte (target: under
  2 s), the whole download, and the inbox's latency while the download streams (against a
  server that holds the rows: p50 beside the same page without a download).

Prints p50 and p95 in milliseconds and the ratio of each p50 to the inbox's. Target: list
pages under 150 ms p95 at 100,000 concerns. Run it from the project root:
``.venv/bin/python bench/desk_register.py [--concerns N] [--repeats R] [--postgres URL]``
(``make bench-desk`` runs it on SQLite, then on a throw-away PostgreSQL server). It is not a
test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, insert, text
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.common.calendar import BusinessCalendar
from bot.common.categories import CATEGORIES
from bot.common.hours import DeskHours
from bot.common.text import fold
from bot.desk.hours import DeskSchedule
from bot.desk.inbox import inbox_section
from bot.desk.service import Desk
from bot.knowledge import load_knowledge_base
from bot.register.service import Register
from bot.register.web import register_section
from bot.settings import PROJECT_ROOT
from bot.staff_web.accounts import create_account
from bot.staff_web.shell import desk_router
from bot.storage.database import open_database, sqlalchemy_url
from bot.storage.models import Concern, Conversation

PASSWORD = "lac-megantic-registre-2026"
CHUNK = 10_000
STATUSES = (("received", 30), ("acknowledged", 20), ("in_review", 15), ("responded", 15),
            ("closed", 20))  # fmt: skip
PHRASES_FR = (
    "Le bruit des camions commence à {h} h devant chez nous, rue des Tilleuls.",
    "La poussière du chantier couvre le linge et les voitures, c'est inacceptable.",
    "Mon puits est à sec depuis le dynamitage, qui va payer pour l'eau?",
    "Je m'oppose au tracé de la ligne près de l'école primaire.",
    "Les éoliennes vont gâcher la vue sur le lac Mégantic, pensez aux chalets.",
)
PHRASES_EN = (
    "Trucks start at {h} a.m. on Miller Road and wake the whole street.",
    "Dust from the site covers our garden and the children's playground.",
    "Our basement wall cracked after the blasting last week.",
    "I object to the consultation process: the meeting was announced too late.",
)


def fresh_database(postgres: str | None, folder: Path) -> Engine:
    if postgres:
        name = f"voisinage_bench_desk_{secrets.token_hex(3)}"
        admin = create_engine(sqlalchemy_url(postgres), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return open_database(postgres.rsplit("/", 1)[0] + "/" + name)
    return open_database(f"sqlite:///{folder / 'desk-register.db'}")


def generate(engine: Engine, count: int, today: date, start: int = 0) -> None:
    chance = random.Random(2026)
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    now = datetime.now(UTC)
    with Session(engine) as session:
        conversations = []
        for number in range(start // 3, start // 3 + max(1, count // 3)):
            conversations.append(
                {
                    "public_id": secrets.token_hex(8),
                    "channel": chance.choice(("web", "telegram", "discord")),
                    "external_id": f"c{number}",
                    "citizen_id": f"tg-{number:08x}",
                    "created_at": now,
                    "last_message_at": now,
                }
            )
        for start in range(0, len(conversations), CHUNK):
            session.execute(insert(Conversation), conversations[start : start + CHUNK])
        session.commit()
        ids = [row[0] for row in session.execute(text("SELECT id FROM conversation"))]
        rows = []
        for number in range(start, start + count):
            english = chance.random() < 0.3
            words = chance.choice(PHRASES_EN if english else PHRASES_FR).format(
                h=chance.randint(5, 7)
            )
            received = now - timedelta(minutes=number * 7)
            status = chance.choice(statuses)
            respond_by = today + timedelta(days=chance.randint(-20, 25))
            rows.append(
                {
                    "reference": f"C-{received.year}-{number:06d}",
                    "conversation_id": chance.choice(ids),
                    "citizen_id": f"tg-{number:08x}",
                    "channel": chance.choice(("web", "telegram", "discord")),
                    "language": "en" if english else "fr",
                    "category": chance.choice(CATEGORIES),
                    "kind": "objection" if chance.random() < 0.15 else "grievance",
                    "severity": chance.choice(("low", "medium", "medium", "high")),
                    "status": status,
                    "outcome": "resolved" if status == "closed" else None,
                    "assignee": chance.choice(("camille", "sam", None)),
                    "confidential": chance.random() < 0.05,
                    "text": words,
                    "search_text": fold(words),
                    "received_at": received,
                    "updated_at": received,
                    "acknowledge_by": received.date() + timedelta(days=2),
                    "respond_by": respond_by,
                    "responded_at": received if status in ("responded", "closed") else None,
                    "closed_at": received if status == "closed" else None,
                    "version": 1,
                }
            )
            if len(rows) == CHUNK:
                session.execute(insert(Concern), rows)
                rows = []
        if rows:
            session.execute(insert(Concern), rows)
        session.commit()
    # A live database has planner statistics (PostgreSQL's autovacuum analyses a growing table;
    # our SQLite connections run PRAGMA optimize); freshly loaded rows have none yet.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


def desk_app(engine: Engine) -> FastAPI:
    knowledge = load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")
    calendar = BusinessCalendar()
    desk = Desk(engine=engine, schedule=DeskSchedule(DeskHours.parse("always"), calendar))
    register = Register(engine=engine, calendar=calendar)
    app = FastAPI()
    app.include_router(
        desk_router(
            engine=engine, zone=calendar.zone, session_hours=8, secure_cookies=False,
            sections=[inbox_section(desk, knowledge), register_section(register)],
        )
    )  # fmt: skip
    with Session(engine) as session:
        create_account(
            session=session, username="bench", display_name="Bench", password=PASSWORD,
            role="manager",
        )  # fmt: skip
    return app


async def signed_in(app: FastAPI) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://desk.test", timeout=60
    )
    await sign_in(client)
    return client


async def sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/desk/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(
        "/desk/login", data={"username": "bench", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303, answer.text


def percentiles(samples: list[float]) -> tuple[float, float]:
    cut = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return cut[49] * 1000, cut[94] * 1000


async def timed_get(client: httpx.AsyncClient, path: str, repeats: int) -> list[float]:
    await client.get(path)  # warm: templates, statements
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = await client.get(path)
        samples.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return samples


async def measure(
    count: int, repeats: int, postgres: str | None, folder: Path, export_count: int
) -> None:
    engine = fresh_database(postgres, folder)
    started = time.perf_counter()
    generate(engine, count, date.today())
    print(
        f"\n{count:,} concerns on {'PostgreSQL' if postgres else 'SQLite'} "
        f"(written in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    print(f"  {'':<52} {'p50 ms':>8} {'p95 ms':>8} {'× /desk':>8}")
    client = await signed_in(desk_app(engine))
    try:
        queue = await timed_get(client, "/desk", repeats)
        baseline = percentiles(queue)[0]

        def show(name: str, samples: list[float]) -> None:
            p50, p95 = percentiles(samples)
            print(f"  {name:<52} {p50:8.1f} {p95:8.1f} {p50 / baseline:8.1f}", flush=True)

        show("baseline: inbox /desk", queue)
        reference = f"C-{datetime.now(UTC).year}-{count // 2:06d}"
        for name, path in (
            ("list: first page", "/desk/concerns"),
            ("list: status+category+severity", "/desk/concerns?status=received&category=noise&severity=high"),
            ("list: page 200", "/desk/concerns?page=200"),
            ("list: due this week", "/desk/concerns?view=week"),
            ("list: overdue, sorted by reply-by date", "/desk/concerns?overdue=1&sort=due"),
            ("search: 'poussière' (many match)", "/desk/concerns?words=poussiere"),
            ("search: 'zyxwv' (none match: full read)", "/desk/concerns?words=zyxwv"),
            ("a concern's page", f"/desk/concerns/{reference}"),
        ):  # fmt: skip
            show(name, await timed_get(client, path, repeats))
        if export_count > count:
            await measure_export(engine, client, count, export_count)
    finally:
        await client.aclose()
        engine.dispose()


async def measure_export(
    engine: Engine, client: httpx.AsyncClient, count: int, export_count: int
) -> None:
    started = time.perf_counter()
    generate(engine, export_count - count, date.today(), start=count)
    print(
        f"\n  the register grown to {export_count:,} concerns "
        f"(in {time.perf_counter() - started:.1f} s); a CSV download over a real socket:",
        flush=True,
    )
    from bot.app import serve_http

    app = client._transport.app  # type: ignore[attr-defined]
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as web:
            await sign_in(web)
            quiet = await timed_get(web, "/desk", 20)
            started = time.perf_counter()
            during: list[float] = []
            size = 0
            async with web.stream("GET", "/desk/concerns/export?format=csv") as download:
                chunks = download.aiter_bytes()
                size += len(await anext(chunks))
                first = time.perf_counter() - started

                async def meanwhile() -> None:
                    while True:
                        moment = time.perf_counter()
                        await web.get("/desk")
                        during.append(time.perf_counter() - moment)
                        await asyncio.sleep(0.05)

                probe = asyncio.create_task(meanwhile())
                async for chunk in chunks:
                    size += len(chunk)
                probe.cancel()
            total = time.perf_counter() - started
        print(f"    first byte after {first * 1000:.0f} ms; {size / 1e6:.0f} MB in {total:.1f} s")
        if during:
            p50, p95 = percentiles(during) if len(during) > 1 else (during[0] * 1000,) * 2
            base = percentiles(quiet)[0]
            print(
                f"    the inbox meanwhile: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                f"({len(during)} requests; {p50 / base:.1f}x the same page without a download)"
            )
    finally:
        server.should_exit = True
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concerns", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server's URL")
    parser.add_argument(
        "--export-concerns", type=int, default=1_000_000,
        help="grow the register to this many concerns and time a CSV download (0: skip)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(
            measure(args.concerns, args.repeats, args.postgres, Path(folder), args.export_concerns)
        )


if __name__ == "__main__":
    main()
