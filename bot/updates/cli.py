"""`bot updates ...`: publishing project news and following its delivery, from a terminal.

Every operation is the `UpdateService` method the web desk calls too; this module only parses
arguments, asks for confirmation and prints. The running assistant sends what is queued
(it looks at the outbox every few seconds), within Telegram's and Discord's limits.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.knowledge import load_knowledge_base
from bot.settings import Settings
from bot.updates.service import Audience, Counts, UpdateError, UpdateService, UpdateSummary

Confirm = Callable[[str], bool]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `updates` to the `bot` command."""
    updates = commands.add_parser("updates", help="project news to subscribers")
    verbs = updates.add_subparsers(dest="verb", required=True)

    publish = verbs.add_parser(
        "publish", help="send an update in French and English to its subscribers"
    )
    publish.add_argument("--fr", required=True, help="the French text, or a file holding it")
    publish.add_argument("--en", required=True, help="the English text, or a file holding it")
    publish.add_argument(
        "--topic", default=None, help="an update topic of the knowledge base (default: all)"
    )
    publish.add_argument("--yes", action="store_true", help="publish without asking to confirm")
    publish.add_argument("--as", dest="actor", default=None, help="who publishes (default: login)")
    listing = verbs.add_parser("list", help="the latest updates with their delivery counts")
    listing.add_argument("--limit", type=_positive, default=20, help="how many (default 20)")
    show = verbs.add_parser("show", help="one update: texts, counts and failures")
    show.add_argument("reference", help="e.g. U-2026-0001")
    send = verbs.add_parser(
        "send", help="send an update to the subscribers it has not reached (after an interruption)"
    )
    send.add_argument("reference")
    send.add_argument("--as", dest="actor", default=None, help="who sends (default: login)")
    verbs.add_parser("subscribers", help="active subscriptions by channel, language and topic")


def run(
    args: argparse.Namespace,
    settings: Settings,
    engine: Engine,
    *,
    confirm: Confirm | None = None,
) -> int:
    """Carries out an `updates` command; returns the exit status (2 when refused).

    Args:
        args: the parsed command line.
        settings: the application's settings (knowledge base, languages, time zone).
        engine: the database.
        confirm: asks the person a yes/no question (default: on the terminal).
    """
    service = UpdateService.from_settings(
        settings, engine, load_knowledge_base(settings.knowledge_base)
    )
    zone = ZoneInfo(settings.project_timezone)
    try:
        if args.verb == "publish":
            return _publish(args, service, zone, confirm or _ask)
        if args.verb == "list":
            for summary in service.updates(limit=args.limit):
                print(_line(summary, zone))
            return 0
        if args.verb == "show":
            _show(service, args.reference, zone)
            return 0
        if args.verb == "send":
            summary = service.send(args.reference, actor=_actor(args))
            print(f"{summary.reference}: {_counts(summary.counts)}.")
            return 0
        if args.verb == "subscribers":
            _subscribers(service)
            return 0
    except UpdateError as exc:
        print(exc, file=sys.stderr)
        return 2
    raise AssertionError(args.verb)  # pragma: no cover - argparse refuses other verbs


def _publish(
    args: argparse.Namespace, service: UpdateService, zone: tzinfo, confirm: Confirm
) -> int:
    text_fr, text_en, topic = service.check(
        text_fr=_text(args.fr, "--fr"), text_en=_text(args.en, "--en"), topic=args.topic
    )
    audience = service.audience(topic)
    about = f"on {service.catalog.name(topic, 'en')}" if topic else "for every subscriber"
    print(f"Update {about}:\n")
    print(f"[fr] {text_fr}\n\n[en] {text_en}\n")
    print(f"It would reach {_audience(audience)}.")
    if not args.yes and not confirm(f"Publish it to {_subscribers_word(audience.total)}?"):
        print("Nothing was published.")
        return 1
    published = service.publish(text_fr=text_fr, text_en=text_en, topic=topic, author=_actor(args))
    summary = published.summary
    if not published.new:
        print(
            f"The same update was published at {_local(summary.created_at, zone)} as "
            f"{summary.reference}: it was not sent twice."
        )
    print(f"{summary.reference} published: {_counts(summary.counts)}.")
    if summary.counts.queued:
        print(
            "The running assistant sends the queued messages within Telegram's and Discord's "
            f"limits; `bot updates show {summary.reference}` follows them."
        )
    return 0


def _show(service: UpdateService, reference: str, zone: tzinfo) -> None:
    report = service.report(reference)
    summary = report.summary
    topic = service.catalog.name(summary.topic, "en") if summary.topic else "all subscribers"
    print(f"{summary.reference}  {topic}")
    print(f"written by {summary.author} on {_local(summary.created_at, zone)}")
    if summary.published_at is None:
        print(f"sending was interrupted: `bot updates send {summary.reference}` finishes it")
    print(f"{_counts(summary.counts)}\n")
    print(f"[fr] {summary.text_fr}\n\n[en] {summary.text_en}\n")
    if not report.failures:
        print("No failure.")
        return
    print(f"Not delivered ({len(report.failures)}):")
    for failure in report.failures:
        state = "subscription paused" if failure.paused else "subscribed again since"
        print(
            f"  {failure.channel:<9} {failure.place:<8} {failure.language}  {failure.error}  ({state})"
        )


def _subscribers(service: UpdateService) -> None:
    counts = service.subscribers()
    print(
        f"{counts.total} active subscriptions, {counts.destinations} destinations "
        "(a group counts once)."
    )
    print(f"By channel: {_mapping(counts.by_channel)}")
    print(f"By language: {_mapping(counts.by_language)}")
    topics = {
        ("all news" if topic == "all" else service.catalog.name(topic, "en")): count
        for topic, count in counts.by_topic.items()
    }
    print(f"By topic: {_mapping(topics)}")
    if counts.paused:
        print(
            f"Paused because a platform refused an update (blocked bot, group left): "
            f"{counts.paused}."
        )


def _text(value: str, option: str) -> str:
    """The text itself, or the content of the file it names."""
    path = Path(value)
    if "\n" not in value and len(value) < 4096 and path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UpdateError(f"Cannot read {option} {value}: {exc}.") from exc
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        print(
            "Standard input is not a terminal: add --yes to publish without a question.",
            file=sys.stderr,
        )
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes", "o", "oui")


def _actor(args: argparse.Namespace) -> str:
    who = getattr(args, "actor", None) or getpass.getuser()
    return who if who.startswith(("cli:", "staff:")) else f"cli:{who}"


def _line(summary: UpdateSummary, zone: tzinfo) -> str:
    counts = summary.counts
    state = "" if summary.published_at else "  INTERRUPTED"
    return (
        f"{summary.reference}  {_local(summary.created_at, zone)}  {summary.topic or 'all':<22}"
        f"reached {counts.reached:<5} queued {counts.queued:<5} failed {counts.failed:<4} "
        f"of {counts.total}{state}"
    )


def _counts(counts: Counts) -> str:
    return (
        f"{_subscribers_word(counts.total)}: {counts.sent} sent, {counts.stored} stored for the "
        f"web chat, {counts.queued} queued, {counts.failed} failed"
    )


def _audience(audience: Audience) -> str:
    if not audience.total:
        return "no subscriber"
    return (
        f"{_subscribers_word(audience.total)} ({_mapping(audience.by_channel)}; "
        f"{_mapping(audience.by_language)})"
    )


def _subscribers_word(count: int) -> str:
    return f"{count} subscriber{'' if count == 1 else 's'}"


def _mapping(counts: Mapping[str, int]) -> str:
    if not counts:
        return "none"
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {count}" for name, count in ordered)


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
