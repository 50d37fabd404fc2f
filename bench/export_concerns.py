"""Time and memory of the register exports on a million concerns, beside a plain dump.

Generates a register in a temporary SQLite file (one million concerns by default: French and
English words with accents, line breaks and formula-like starts, ten categories, every
status), then exports it, each export in a fresh process so that its peak memory is its own:

1. the baseline: a "COPY-style" dump, `sqlite3` rows straight into `csv.writer`, no formatting;
2. our CSV export; 3. our XLSX export; 4. our JSON Lines export.

Prints rows, seconds, rows per second, peak RSS, and the ratios to the baseline. Run it from
the project root: `.venv/bin/python bench/export_concerns.py [--rows N] [--keep PATH]`.
It is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MODES = ("baseline", "csv", "xlsx", "jsonl")
SUFFIX = {"baseline": "csv", "csv": "csv", "xlsx": "xlsx", "jsonl": "jsonl"}
CHUNK = 20_000
COLUMNS = (
    "reference, received_at, channel, language, category, severity, sentiment, status, "
    "outcome, assignee, acknowledge_by, respond_by, acknowledged_at, responded_at, closed_at, "
    "place, confidential, citizen_id, text"
)

CATEGORIES = (
    "noise",
    "dust",
    "traffic",
    "water",
    "safety",
    "land",
    "employment",
    "compensation",
    "environment",
    "other",
)
STATUSES = (
    ("received", 30),
    ("acknowledged", 20),
    ("in_review", 15),
    ("responded", 15),
    ("closed", 20),
)
OUTCOMES = ("resolved", "unresolved", "withdrawn")
CHANNELS = ("web", "telegram", "discord")
PLACES = ("Rue des Tilleuls", "Chemin de l'Étang", "Place de l'Église", "Route de Saint-Géry", None)
ASSIGNEES = ("staff:camille", "staff:théo", "staff:amélie", "staff:noah", None)

FRENCH = (
    "Les camions passent devant l'école dès 6 h, le bruit réveille tout le quartier.",
    "La poussière du chantier recouvre nos fenêtres et le potager ; c'est insupportable.",
    "Le puits de la ferme est trouble depuis le forage, qui contrôle la qualité de l'eau ?",
    "Les enfants traversent la départementale sans passage piéton, c'est dangereux.",
    "On m'avait promis une indemnisation pour la haie arrachée, je n'ai rien reçu.",
    "Est-ce que l'entreprise embauche des gens du village ? Mon fils cherche du travail.",
    "Les projecteurs restent allumés toute la nuit, les chouettes ont déserté le bois.",
    "La clôture a été déplacée de deux mètres sur notre parcelle sans prévenir.",
)
ENGLISH = (
    "Trucks idle outside the school from 6 am and the noise wakes the whole street.",
    "Dust from the site covers our windows and the vegetable garden every single day.",
    "Our well water has been cloudy since the drilling started; who is testing it?",
    "Children cross the main road with no crossing, it is only a matter of time.",
    "I was promised compensation for the hedge that was removed and got nothing.",
    "Is the company hiring locally? My daughter has been looking for work for months.",
)
FOLLOW_UPS = (
    " Merci de me répondre rapidement.",
    " Ça dure depuis des semaines.",
    "\nDeuxième message : toujours rien de changé.",
    " Please call me back.",
    " Photos available on request.",
    "",
)
FORMULA_STARTS = ("=SOMME(A1:A9) ", "+33 6 12 34 56 78 ", "-2 degrés ce matin, ", "@mairie ")


def generate(path: Path, rows: int, *, seed: int = 7) -> None:
    """Writes `rows` varied concerns (and their conversations) to a new SQLite database."""
    from sqlalchemy import insert

    from bot.storage.database import open_database
    from bot.storage.models import Concern, Conversation

    engine = open_database(f"sqlite:///{path}")
    rng = random.Random(seed)
    citizens = max(1, rows // 20)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=3 * 365).total_seconds())
    statuses = [status for status, weight in STATUSES for _ in range(weight)]
    with engine.begin() as connection:
        for first in range(0, citizens, CHUNK):
            connection.execute(
                insert(Conversation),
                [
                    {
                        "public_id": f"p{number:08d}",
                        "channel": CHANNELS[number % 3],
                        "external_id": str(5_000_000_000 + number * 7919),
                        "citizen_id": f"{CHANNELS[number % 3][:2]}-{rng.getrandbits(48):012x}",
                        "language_pinned": False,
                        "created_at": start,
                        "last_message_at": start,
                    }
                    for number in range(first, min(first + CHUNK, citizens))
                ],
            )
        for first in range(0, rows, CHUNK):
            batch = [
                _concern(rng, number, citizens, start, span, statuses)
                for number in range(first, min(first + CHUNK, rows))
            ]
            connection.execute(insert(Concern), batch)
    with engine.connect() as connection:
        # The exports read the database file, not a WAL of several hundred megabytes.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def _concern(
    rng: random.Random, number: int, citizens: int, start: datetime, span: int, statuses: list[str]
) -> dict[str, Any]:
    conversation = rng.randrange(citizens)
    received = start + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))
    english = rng.random() < 0.3
    words = " ".join(rng.choice(ENGLISH if english else FRENCH) for _ in range(rng.randint(1, 4)))
    words += rng.choice(FOLLOW_UPS)
    if rng.random() < 0.02:
        words = rng.choice(FORMULA_STARTS) + words
    status = rng.choice(statuses)
    step = timedelta(days=rng.randint(1, 20))
    acknowledged = received + step if status != "received" else None
    responded = received + 2 * step if status in ("responded", "closed") else None
    anonymised = rng.random() < 0.01
    return {
        "reference": f"C-{received.year}-{number:07d}",
        "conversation_id": conversation + 1,
        "citizen_id": "" if anonymised else f"tg-{conversation:010x}",
        "channel": CHANNELS[conversation % 3],
        "language": "en" if english else "fr",
        "category": rng.choice(CATEGORIES),
        "text": "[anonymised]" if anonymised else words,
        "place": rng.choice(PLACES),
        "sentiment": round(rng.uniform(-1, 1), 3) if rng.random() < 0.9 else None,
        "severity": rng.choice(("low", "medium", "medium", "high")),
        "confidential": rng.random() < 0.05,
        "status": status,
        "outcome": rng.choice(OUTCOMES) if status == "closed" else None,
        "assignee": rng.choice(ASSIGNEES) if status != "received" else None,
        "received_at": received,
        "acknowledge_by": (received + timedelta(days=5)).date(),
        "respond_by": (received + timedelta(days=30)).date(),
        "acknowledged_at": acknowledged,
        "responded_at": responded,
        "closed_at": responded + step if status == "closed" and responded else None,
        "anonymised_at": received + timedelta(days=400) if anonymised else None,
        "updated_at": received,
    }


# --- Each measured export runs in a child process (`--child MODE`) ------------------------


def _peak_kb() -> int:
    """The process's peak resident memory, in kilobytes.

    Linux carries `ru_maxrss` over fork and exec: a child started by this (large) parent
    would report the parent's peak. VmHWM belongs to the process's own address space.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(mode: str, database: Path, output: Path) -> dict[str, Any]:
    """One export, measured from inside the process that makes it."""
    if mode == "baseline":
        import csv
        import sqlite3

        start_kb = _peak_kb()
        started = time.perf_counter()
        connection = sqlite3.connect(database)
        cursor = connection.execute(f"SELECT {COLUMNS} FROM concern ORDER BY received_at, id")
        with output.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow([name.strip() for name in COLUMNS.split(",")])
            writer.writerows(cursor)
        count = connection.execute("SELECT count(*) FROM concern").fetchone()[0]
        connection.close()
    else:
        from bot.register.export import export_concerns
        from bot.register.filters import ConcernFilter
        from bot.storage.database import create_database_engine

        engine = create_database_engine(f"sqlite:///{database}")
        start_kb = _peak_kb()
        started = time.perf_counter()
        count = export_concerns(
            engine,
            filter=ConcernFilter(),
            format=mode,  # type: ignore[arg-type]
            destination=output,
            actor="bench",
            progress=False,
        )
    seconds = time.perf_counter() - started
    return {"rows": count, "seconds": seconds, "peak_kb": _peak_kb(), "start_kb": start_kb}


def measure(mode: str, database: Path, output: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--db", str(database), "--out", str(output)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["size_mb"] = output.stat().st_size / 1e6
    output.unlink()
    return result


def report(results: dict[str, dict[str, Any]]) -> None:
    base = results["baseline"]
    print()
    print(
        f"{'export':<9} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12} "
        f"{'at start MB':>12} {'file MB':>8} {'× time':>7} {'× memory':>9}"
    )
    for mode, result in results.items():
        peak, start = result["peak_kb"] / 1024, result["start_kb"] / 1024
        print(
            f"{mode:<9} {result['rows']:>9,} {result['seconds']:>8.1f} "
            f"{result['rows'] / result['seconds']:>9,.0f} {peak:>12.1f} {start:>12.1f} "
            f"{result['size_mb']:>8.0f} {result['seconds'] / base['seconds']:>7.2f} "
            f"{result['peak_kb'] / base['peak_kb']:>9.2f}"
        )
    print(
        "\npeak RSS: the high-water mark of the export's own process; at start: the same mark "
        "once its imports were done and before the export began."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="concerns to generate")
    parser.add_argument("--keep", type=Path, help="keep the generated database at this path")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db, args.out)))
        return

    with tempfile.TemporaryDirectory(prefix="export-bench-") as folder:
        database = args.keep or Path(folder) / "register.db"
        if database.exists():
            print(f"Using the existing register in {database}")
        else:
            started = time.perf_counter()
            print(f"Generating {args.rows:,} concerns in {database}...", flush=True)
            generate(database, args.rows)
            print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
        results = {}
        for mode in MODES:
            print(f"Exporting: {mode}...", flush=True)
            results[mode] = measure(mode, database, Path(folder) / f"export.{SUFFIX[mode]}")
        report(results)


if __name__ == "__main__":
    main()
