"""`bot perception report ...`: the weekly perception report, written to a file.

    bot perception report --week 2026-W47 --language fr --out rapport.pdf

The format follows the file's extension (``.pdf`` or ``.html``); without ``--week``, the last
complete week; without ``--language``, the project's default language. The knowledge gaps are
grouped with the assistant's own reader (its embedding model loads in a second or two).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.knowledge import load_knowledge_base
from bot.listening.model import ModelReader, ReaderModelError
from bot.perception.queries import PerceptionError, Period, local_today
from bot.perception.report import (
    ReportError,
    build_weekly_report,
    last_complete_week,
    render_html,
    render_pdf,
    weekly_gaps,
)
from bot.settings import Settings

FORMATS = (".pdf", ".html")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `perception` to the `bot` command."""
    perception = commands.add_parser("perception", help="what citizens say: the weekly report")
    verbs = perception.add_subparsers(dest="verb", required=True)
    report = verbs.add_parser("report", help="the weekly perception report (HTML or PDF)")
    report.add_argument("--week", default=None, help="an ISO week such as 2026-W47")
    report.add_argument("--language", choices=["fr", "en"], default=None)
    report.add_argument(
        "--out", "-o", required=True, type=Path, help="the file to write: .pdf or .html"
    )


def run(args: argparse.Namespace, settings: Settings, database: Engine) -> int:
    """Carries out a `perception` command; returns the exit status.

    Raises:
        ReportError: the report cannot be made (a week not started, a wrong file name...).
    """
    out: Path = args.out
    if out.suffix.lower() not in FORMATS:
        raise ReportError(f"Write the report to a .pdf or .html file, not {out.name!r}.")
    zone = ZoneInfo(settings.project_timezone)
    today = local_today(zone)
    try:
        week = Period.iso_week(args.week) if args.week else last_complete_week(today)
    except PerceptionError as exc:
        raise ReportError(str(exc)) from exc
    language = args.language or settings.default_language
    knowledge = load_knowledge_base(settings.knowledge_base)
    try:
        report = build_weekly_report(
            database,
            week=week,
            language=language,
            zone=zone,
            today=today,
            gaps=weekly_gaps(ModelReader()),
        )
    except ReaderModelError as exc:
        # The gaps need the embedding model; the rest of the report does not.
        print(f"The knowledge gaps are left out: {exc}", file=sys.stderr)
        report = build_weekly_report(database, week=week, language=language, zone=zone, today=today)
    name = knowledge.name[language]
    if out.suffix.lower() == ".pdf":
        out.write_bytes(render_pdf(report, project_name=name))
    else:
        out.write_text(render_html(report, project_name=name), encoding="utf-8")
    print(f"Weekly perception report {week.week_name} ({language}) written to {out}.")
    return 0
