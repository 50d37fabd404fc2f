"""`bot consultations ...`: consultations from a terminal or a script.

    bot consultations create consultation.yml     (see the README for the file)
    bot consultations list
    bot consultations results K-2026-0001 --format csv|json
    bot consultations close K-2026-0001

Every operation is the `Consultations` method the web desk calls too. The running assistant
delivers what is queued and opens and closes consultations on their dates.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Engine

from bot.knowledge import load_knowledge_base
from bot.participation.consultations import (
    ConsultationError,
    Consultations,
    Draft,
    Option,
)
from bot.settings import Settings
from bot.updates.service import UpdateService


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `consultations` to the `bot` command."""
    parser = commands.add_parser("consultations", help="questions put to the community")
    verbs = parser.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="create a consultation from a YAML file")
    create.add_argument("file", type=Path, help="the consultation (see the README)")
    create.add_argument("--as", dest="actor", default=None, help="who creates (default: login)")
    verbs.add_parser("list", help="the consultations with their participation")
    results = verbs.add_parser("results", help="a consultation's results (no names)")
    results.add_argument("reference", help="e.g. K-2026-0001")
    results.add_argument("--format", choices=("csv", "json"), default="csv")
    close = verbs.add_parser("close", help="close a consultation now and give its result back")
    close.add_argument("reference")
    close.add_argument("--as", dest="actor", default=None, help="who closes (default: login)")


def consultations_for(settings: Settings, engine: Engine) -> Consultations:
    knowledge = load_knowledge_base(settings.knowledge_base)
    return Consultations(
        engine=engine,
        knowledge=knowledge,
        updates=UpdateService.from_settings(settings, engine, knowledge),
        languages=settings.languages,
        default_language=settings.default_language,
    )


def run(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    """Carries out a `consultations` command; returns the exit status (2 when refused)."""
    consultations = consultations_for(settings, engine)
    zone = ZoneInfo(settings.project_timezone)
    try:
        if args.verb == "create":
            draft = read_draft(args.file, zone)
            created = consultations.create(draft, author=f"cli:{args.actor or getpass.getuser()}")
            print(f"{created.reference} created ({created.status}).")
            return 0
        if args.verb == "list":
            for r in consultations.recent():
                print(
                    f"{r.reference}  {r.status:<9}  closes {r.closes_at.astimezone(zone):%Y-%m-%d %H:%M}"
                    f"  {r.participants} answers of {r.invited} asked  {r.question_en}"
                )
            return 0
        if args.verb == "results":
            sys.stdout.write(consultations.export(args.reference, args.format))
            if args.format == "json":
                sys.stdout.write("\n")
            return 0
        if args.verb == "close":
            closed = consultations.close(
                args.reference, actor=f"cli:{args.actor or getpass.getuser()}"
            )
            print(
                f"{closed.reference} closed; the result goes to its {closed.participants} "
                "participants."
            )
            return 0
    except ConsultationError as exc:
        print(exc, file=sys.stderr)
        return 2
    raise AssertionError(f"unknown verb {args.verb}")


def read_draft(path: Path, zone: ZoneInfo) -> Draft:
    """A consultation written as YAML:

    .. code-block:: yaml

        question: {fr: "...", en: "..."}
        options:                       # none: open answers
          - {fr: "...", en: "..."}
        purpose: {fr: "...", en: "..."}  # what the team will do with the result
        audience: subscribers          # topic:<id>, group:telegram:<id>, anyone
        opens: 2027-01-10 09:00        # optional (now); the project's time zone
        closes: 2027-01-24 17:00

    Raises:
        ConsultationError: the file is missing, not YAML, or lacks a field (one sentence).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConsultationError(f"Cannot read {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise ConsultationError(f"{path} is not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConsultationError(f"{path} must hold a mapping (question, options, purpose...).")

    def both(name: str) -> tuple[str, str]:
        value = data.get(name)
        if not isinstance(value, dict) or not value.get("fr") or not value.get("en"):
            raise ConsultationError(
                f"{path}: '{name}' needs a French (fr) and an English (en) text."
            )
        return str(value["fr"]), str(value["en"])

    question, purpose = both("question"), both("purpose")
    options = []
    for number, item in enumerate(data.get("options") or [], 1):
        if not isinstance(item, dict) or not item.get("fr") or not item.get("en"):
            raise ConsultationError(f"{path}: option {number} needs 'fr' and 'en'.")
        options.append(
            Option(fr=str(item["fr"]), en=str(item["en"]), ideas=int(item.get("ideas", 0) or 0))
        )
    if "closes" not in data:
        raise ConsultationError(f"{path}: 'closes' (the closing date and time) is missing.")
    return Draft(
        question_fr=question[0],
        question_en=question[1],
        purpose_fr=purpose[0],
        purpose_en=purpose[1],
        options=tuple(options),
        audience=str(data.get("audience", "subscribers")),
        opens_at=_when(data["opens"], zone, path, "opens") if data.get("opens") else None,
        closes_at=_when(data["closes"], zone, path, "closes"),
    )


def _when(value: Any, zone: ZoneInfo, path: Path, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, 23, 59)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            raise ConsultationError(
                f"{path}: '{name}' is not a date and time (YYYY-MM-DD HH:MM)."
            ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
