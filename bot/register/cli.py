"""`bot concerns ...` and `bot privacy ...`: the register for community managers, in a terminal.

Every operation is the `Register` method the web desk calls too; this module only parses
arguments and prints. The person acting is `--as NAME` (default: the login name), and is
written in the concern's history.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, timedelta
from pathlib import Path

from bot.dialogue.tracker_store import tracker_store_for
from bot.knowledge import load_knowledge_base
from bot.register.export import FORMATS, export_concerns
from bot.register.filters import ConcernFilter
from bot.register.privacy import purge_older_than
from bot.register.report import build_report, render_html, render_markdown
from bot.register.service import Register, RegisterError
from bot.settings import Settings
from bot.storage.models import Concern, ConcernKind, ConcernStatus, utc_now

KINDS = tuple(kind.value for kind in ConcernKind)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `concerns` and `privacy` to the `bot` command."""
    concerns = commands.add_parser("concerns", help="the concern register (grievance log)")
    concerns.add_argument("--as", dest="actor", default=None, help="who acts (default: login)")
    verbs = concerns.add_subparsers(dest="verb", required=True)

    listing = verbs.add_parser("list", help="concerns, newest first, with filters")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    verbs.add_parser("overdue", help="open concerns past a deadline")
    show = verbs.add_parser("show", help="one concern and its whole history")
    show.add_argument("reference")
    for name, text_help in (
        ("ack", "take it up (the citizen is told, with the reply-by date)"),
        ("review", "mark it under review (internal)"),
    ):
        verb = verbs.add_parser(name, help=text_help)
        verb.add_argument("reference")
        verb.add_argument("--message", default=None, help="also sent to the citizen (ack)")
    assign = verbs.add_parser("assign", help="give it to a person of the team")
    assign.add_argument("reference")
    assign.add_argument("assignee")
    note = verbs.add_parser("note", help="an internal note (never shown to the citizen)")
    note.add_argument("reference")
    note.add_argument("text")
    respond = verbs.add_parser("respond", help="send the team's answer to the citizen")
    respond.add_argument("reference")
    respond.add_argument("text")
    close = verbs.add_parser("close", help="close it; the citizen may accept or appeal")
    close.add_argument("reference")
    close.add_argument("--outcome", required=True, choices=["resolved", "unresolved", "withdrawn"])
    close.add_argument("--message", default=None, help="also sent to the citizen")
    reopen = verbs.add_parser("reopen", help="reopen a closed concern (appeal)")
    reopen.add_argument("reference")
    reopen.add_argument("reason")
    confidential = verbs.add_parser("confidential", help="mark it confidential (or --off)")
    confidential.add_argument("reference")
    confidential.add_argument("--off", action="store_true")

    export = verbs.add_parser("export", help="CSV, XLSX or JSON Lines, streamed")
    _add_filters(export)
    export.add_argument("--format", choices=FORMATS, default="csv")
    export.add_argument("--output", "-o", default="-", help="a file, or - for standard output")
    export.add_argument("--delimiter", choices=[",", ";"], default=",")
    export.add_argument(
        "--with-identifiers",
        action="store_true",
        help="add the chat ids (personal data): recorded in the audit trail",
    )
    report = verbs.add_parser("report", help="the periodic public report (anonymised)")
    report.add_argument("--since", type=date.fromisoformat, default=None)
    report.add_argument("--until", type=date.fromisoformat, default=None)
    report.add_argument("--language", choices=["fr", "en"], default=None)
    report.add_argument("--format", choices=["html", "md"], default="html")
    report.add_argument("--output", "-o", default="-")

    privacy = commands.add_parser("privacy", help="retention of personal data")
    privacy_verbs = privacy.add_subparsers(dest="verb", required=True)
    purge = privacy_verbs.add_parser(
        "purge", help="anonymise conversations and concerns older than RETENTION_DAYS"
    )
    purge.add_argument("--days", type=int, default=None, help="instead of RETENTION_DAYS")
    purge.add_argument("--dry-run", action="store_true", help="only count")


def run(args: argparse.Namespace, settings: Settings, register: Register) -> int:
    """Carries out a `concerns` or `privacy` command; returns the exit status."""
    actor = getattr(args, "actor", None) or f"staff:{getpass.getuser()}"
    if not actor.startswith(("staff:", "system")):
        actor = f"staff:{actor}"
    if args.command == "privacy":
        days = args.days or settings.retention_days
        counts = purge_older_than(
            engine=register.engine, days=days, actor=actor, dry_run=args.dry_run
        )
        # What the Rasa server we manage keeps of conversations goes with them.
        tracker_store = tracker_store_for(settings.database_url) if settings.manages_rasa else None
        dialogue_events = (
            tracker_store.purge_before(utc_now() - timedelta(days=days))
            if tracker_store is not None and not args.dry_run
            else 0
        )
        verb, gone = (
            ("would be anonymised", "would be deleted")
            if args.dry_run
            else ("anonymised", "deleted")
        )
        print(
            f"Older than {days} days: {counts['conversations']} conversations and "
            f"{counts['concerns']} concerns {verb}, {counts['heard_messages']} messages heard "
            f"in community groups {gone}"
            + (f", {dialogue_events} dialogue events of Rasa deleted." if dialogue_events else ".")
        )
        return 0
    verb = args.verb
    if verb == "list":
        rows = register.find(_filter(args), limit=args.limit)
        _print_table(rows, today=register.calendar.today())
        return 0
    if verb == "overdue":
        late = register.overdue()
        for concern, which in late:
            due = concern.acknowledge_by if which == "acknowledge" else concern.respond_by
            print(f"{concern.reference}  {which:<11} due {due}  {concern.status:<12} "
                  f"{concern.category:<15} {concern.assignee or '-'}")  # fmt: skip
        print(f"{len(late)} overdue.", file=sys.stderr)
        return 1 if late else 0
    if verb == "show":
        _show(register, args.reference)
        return 0
    if verb == "ack":
        concern = register.acknowledge(args.reference, actor=actor, message=args.message)
    elif verb == "review":
        concern = register.start_review(args.reference, actor=actor, note=args.message)
    elif verb == "assign":
        concern = register.assign(args.reference, actor=actor, assignee=args.assignee)
    elif verb == "note":
        concern = register.note(args.reference, actor=actor, text=args.text)
    elif verb == "respond":
        concern = register.respond(args.reference, actor=actor, text=args.text)
    elif verb == "close":
        concern = register.close(
            args.reference, actor=actor, outcome=args.outcome, message=args.message
        )
    elif verb == "reopen":
        concern = register.reopen(args.reference, actor=actor, reason=args.reason)
    elif verb == "confidential":
        concern = register.set_confidential(args.reference, actor=actor, confidential=not args.off)
    elif verb == "export":
        count = export_concerns(
            register.engine,
            filter=_filter(args),
            format=args.format,
            destination=args.output,
            delimiter=args.delimiter,
            identified=args.with_identifiers,
            actor=actor,
            progress=sys.stderr.isatty(),
        )
        print(f"{count} concerns exported.", file=sys.stderr)
        return 0
    elif verb == "report":
        return _report(args, settings, register)
    else:  # pragma: no cover - argparse refuses other verbs
        raise AssertionError(verb)
    print(
        f"{concern.reference}: {concern.status}"
        + (f" ({concern.outcome})" if concern.outcome else "")
    )
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=date.fromisoformat, help="received on or after (YYYY-MM-DD)"
    )
    parser.add_argument("--until", type=date.fromisoformat, help="received on or before")
    parser.add_argument(
        "--status", action="append", default=[], choices=[s.value for s in ConcernStatus]
    )
    parser.add_argument("--category", action="append", default=[])
    parser.add_argument(
        "--kind", action="append", default=[], help=f"one of {', '.join(KINDS)} (repeatable)"
    )
    parser.add_argument("--channel", action="append", default=[])
    parser.add_argument("--language", action="append", default=[])
    parser.add_argument("--assignee", default=None)


def _filter(args: argparse.Namespace) -> ConcernFilter:
    for kind in args.kind:
        if kind not in KINDS:
            raise RegisterError(f"{kind!r} is not a kind of concern; use {' or '.join(KINDS)}.")
    return ConcernFilter(
        since=args.since,
        until=args.until,
        statuses=tuple(args.status),
        categories=tuple(args.category),
        kinds=tuple(args.kind),
        channels=tuple(args.channel),
        languages=tuple(args.language),
        assignee=args.assignee,
    )


def _print_table(rows: list[Concern], *, today: date) -> None:
    for concern in rows:
        late = (
            concern.status != "closed"
            and concern.responded_at is None
            and concern.respond_by is not None
            and concern.respond_by < today
        )
        print(
            f"{concern.reference}  {concern.received_at:%Y-%m-%d}  {concern.status:<12} "
            f"{concern.category:<15} {concern.kind:<9} {concern.channel:<9} {concern.language}  "
            f"due {concern.respond_by}{' OVERDUE' if late else ''}  {concern.severity:<6} "
            f"{'confidential ' if concern.confidential else ''}{concern.assignee or '-'}"
        )
    print(f"{len(rows)} concerns.", file=sys.stderr)


def _show(register: Register, reference: str) -> None:
    concern = register.get(reference)
    print(
        f"{concern.reference}  {concern.status}"
        + (f" ({concern.outcome})" if concern.outcome else "")
    )
    print(f"received {concern.received_at:%Y-%m-%d %H:%M} UTC on {concern.channel}, "
          f"language {concern.language}, category {concern.category}, kind {concern.kind}, "
          f"severity {concern.severity}")  # fmt: skip
    print(f"acknowledge by {concern.acknowledge_by}, respond by {concern.respond_by}, "
          f"assignee {concern.assignee or '-'}, confidential {'yes' if concern.confidential else 'no'}")  # fmt: skip
    if concern.place:
        print(f"place: {concern.place}")
    print(f"citizen: {concern.citizen_id}\n\n{concern.text}\n")
    for event in register.history(reference):
        change = f" {event.from_status or ''}->{event.to_status}" if event.to_status else ""
        shown = (
            " (sent to the citizen)"
            if event.visible_to_citizen and event.actor != "citizen"
            else ""
        )
        print(f"{event.at:%Y-%m-%d %H:%M}  {event.actor:<20} {event.kind}{change}{shown}")
        if event.text:
            print(f"    {event.text}")


def _report(args: argparse.Namespace, settings: Settings, register: Register) -> int:
    today = register.calendar.today()
    until = args.until or today
    since = args.since or (until - timedelta(days=90))
    language = args.language or settings.default_language
    report = build_report(
        register.engine,
        period_start=since,
        period_end=until,
        today=today,
        language=language,
        acknowledge_days=settings.concern_acknowledge_days,
        respond_days=settings.concern_respond_days,
        objection_respond_days=settings.concern_objection_respond_days,
        timezone=settings.project_timezone,
    )
    name = load_knowledge_base(settings.knowledge_base).name[language]
    text = (
        render_html(report, project_name=name)
        if args.format == "html"
        else render_markdown(report, project_name=name)
    )
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"Report written to {args.output}.", file=sys.stderr)
    return 0
