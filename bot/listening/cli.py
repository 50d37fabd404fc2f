"""`bot listen ...`: the community groups the assistant listens to, from a terminal.

`bot listen status` lists the groups, their notice and how many messages are kept;
`bot listen renotice PLATFORM GROUP` forgets a group's notice (deleted, or unpinned on
purpose): the running assistant posts and pins a new one within a minute (at its next start if
it is not running).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine
from sqlmodel import Session

from bot.knowledge import load_knowledge_base
from bot.listening import store
from bot.settings import Settings

PLATFORMS = ("telegram", "discord")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `listen` to the `bot` command."""
    listen = commands.add_parser("listen", help="the community groups the assistant listens to")
    verbs = listen.add_subparsers(dest="verb", required=True)
    verbs.add_parser("status", help="groups, notices, messages kept, opt-outs, keywords")
    renotice = verbs.add_parser(
        "renotice", help="post and pin a new notice in a group (the old one was deleted?)"
    )
    renotice.add_argument("platform", choices=PLATFORMS)
    renotice.add_argument("group", help="the Telegram group id or the Discord channel id")


def run(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    """Carries out a `listen` command; returns the exit status (2 when refused)."""
    if args.verb == "renotice":
        return _renotice(args.platform, str(args.group).strip(), settings, engine)
    _status(settings, engine)
    return 0


def _listed(settings: Settings) -> dict[str, tuple[str, ...]]:
    return {
        "telegram": tuple(str(chat) for chat in settings.listen_telegram_chats),
        "discord": tuple(str(channel) for channel in settings.listen_discord_channels),
    }


def _renotice(platform: str, group_key: str, settings: Settings, engine: Engine) -> int:
    if group_key not in _listed(settings)[platform]:
        variable = "LISTEN_TELEGRAM_CHATS" if platform == "telegram" else "LISTEN_DISCORD_CHANNELS"
        print(f"Group {group_key} is not in {variable}: it is not listened to.", file=sys.stderr)
        return 2
    with Session(engine) as session:
        group = store.group_by_key(session=session, channel=platform, group_key=group_key)
        if group is not None and group.id is not None:
            store.clear_notice(session=session, group_id=group.id)
    print(
        f"A new notice will be posted and pinned in {platform} group {group_key} within a minute "
        "by the running assistant (or when it starts)."
    )
    return 0


def _status(settings: Settings, engine: Engine) -> None:
    names = load_knowledge_base(settings.knowledge_base).name
    keywords, hashtags, origin = settings.listened_terms(names)
    print(f"Listening for ({origin}): {', '.join((*keywords, *hashtags))}")
    listed = _listed(settings)
    with Session(engine) as session:
        counts = store.heard_counts(session=session)
        opted_out = store.opt_out_counts(session=session)
        for platform in PLATFORMS:
            known = {g.group_key: g for g in store.groups_of(session=session, channel=platform)}
            keys = list(dict.fromkeys([*listed[platform], *known]))
            if not keys:
                continue
            print(f"\n{platform.capitalize()} ({opted_out.get(platform, 0)} member(s) opted out)")
            for key in keys:
                group = known.get(key)
                state = "listened" if key in listed[platform] else "no longer listed"
                if group is None:
                    print(f"  {key}: {state}, notice not posted yet, 0 messages kept")
                    continue
                notice = "notice not posted yet"
                if group.notice_message_id is not None:
                    pinned = (
                        f"pinned {group.notice_pinned_at:%Y-%m-%d %H:%M} UTC"
                        if group.notice_pinned_at
                        else "NOT pinned"
                    )
                    notice = f"notice {group.notice_message_id} {pinned}"
                title = f" ({group.title})" if group.title else ""
                kept = counts.get(group.id or 0, 0)
                print(f"  {key}{title}: {state}, {notice}, {kept} messages kept")
