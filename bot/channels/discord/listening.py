"""Listening in Discord server channels (LISTEN_DISCORD_CHANNELS) and their threads.

A guild message not addressed to the assistant is stored by the intake only when listening
records it: as a `GroupMessage` (no username, no Discord id of the author) when it mentions the
project, as "forget that one" when an edit no longer does; otherwise nothing is stored at all.
/optout and /optin are slash commands (answered so that only the member sees it), and also
understood typed as a message in a listened channel or a direct message.

The notice is posted and pinned by the bot, which needs the Pin Messages permission in the
channel; at each start it checks that its notice still exists (a deleted notice is posted again)
and reports, without pinning it again, a notice someone unpinned: moderators decide what stays
pinned, `bot listen renotice` asks for a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord import app_commands
from sqlmodel import Session

from bot.channels.base import ListeningProblems
from bot.listening import store
from bot.listening.groups import GroupMessage, Listener, forget_payload
from bot.listening.phrases import LISTENING_COMMANDS, OPT_COMMANDS
from bot.outbox.delivery import Outgoing
from bot.outbox.text import split_for
from bot.storage.models import ListeningGroup

logger = logging.getLogger(__name__)

PLATFORM = "discord"
PAYLOAD = "listening"  # what the intake keeps for listening: a message to hear or to forget
COMMAND_PAYLOAD = "listening_command"  # /optout or /optin typed as a message
NO_PINGS = discord.AllowedMentions.none()


class DiscordListening:
    """The assistant listening in some Discord channels."""

    def __init__(
        self, *, listener: Listener, channels: Sequence[int], recheck_every: float = 60.0
    ) -> None:
        """Args:
        listener: what hears and keeps the messages.
        channels: the ids of the listened channels (their threads are listened to as well).
        recheck_every: seconds between two checks of the notices.
        """
        self.listener = listener
        self._db = listener.database
        self.channels = tuple(dict.fromkeys(channels))
        self._recheck_every = recheck_every
        self.checks = 0  # rounds of checks of every group done since the channel started

    def listens(self, channel_id: int) -> bool:
        """Whether the channel `channel_id` (a thread's parent) is listened to."""
        return channel_id in self.channels

    def owns(self, payload: dict[str, Any]) -> bool:
        """Whether an intake payload is listening's to handle."""
        return PAYLOAD in payload or COMMAND_PAYLOAD in payload

    # --- intake ----------------------------------------------------------------------------

    def take(
        self, message: discord.Message, *, home: int, member: str, edited: bool
    ) -> tuple[str, dict[str, Any]] | None:
        """What the intake keeps of a message not addressed to the assistant, with its update
        key; None when nothing is to be kept. `home` is the channel (a thread's parent)."""
        private = message.guild is None
        if not private and not self.listens(home):
            return None
        key = f"{message.channel.id}:{message.id}"
        if edited:
            stamp = message.edited_at.isoformat() if message.edited_at else "0"
            key = f"{key}:edit:{stamp}"
        command = typed_command(message.content)
        if command is not None:
            if edited:
                return None
            return key, {
                COMMAND_PAYLOAD: {
                    "name": command,
                    "channel_id": message.channel.id,
                    "message_id": message.id,
                    "member": member,
                    "private": private,
                }
            }
        if private:
            return None
        heard = GroupMessage(
            channel=PLATFORM,
            group_key=str(home),
            external_id=str(message.id),
            member=member,
            text=message.content,
            sent_at=message.created_at,
            title=_title(message.channel),
        )
        if self.listener.keeps(heard):
            return key, {PAYLOAD: heard.payload()}
        if edited:
            return key, {
                PAYLOAD: forget_payload(
                    channel=PLATFORM, group_key=heard.group_key, external_id=heard.external_id
                )
            }
        return None

    async def handle(self, payload: dict[str, Any]) -> list[Outgoing]:
        """Hears (or forgets) what `take` kept, or carries out a typed /optout or /optin."""
        if PAYLOAD in payload:
            await self.listener.handle(payload[PAYLOAD])
            return []
        command = payload[COMMAND_PAYLOAD]
        text = self._opt(command["name"], command["member"], None)
        options = {} if command["private"] else {"reply_to": command["message_id"]}
        return [
            Outgoing(destination=str(command["channel_id"]), text=part, options=options)
            for part in split_for(PLATFORM, text)
        ]

    def _opt(self, name: str, member: str, language: str | None) -> str:
        if name == "optout":
            self.listener.opt_out(channel=PLATFORM, member=member)
        else:
            self.listener.opt_in(channel=PLATFORM, member=member)
        return self.listener.opt_answer(name, language)

    # --- slash commands --------------------------------------------------------------------

    def slash_commands(
        self, member_of: Callable[[int], str]
    ) -> list[app_commands.Command[Any, Any, Any]]:
        """/optout and /optin, answered so that only the member sees the answer."""
        commands: list[app_commands.Command[Any, Any, Any]] = []
        for command in LISTENING_COMMANDS:
            commands.append(
                app_commands.Command(
                    name=command.name,
                    description=app_commands.locale_str(
                        command.description["en"][:100], descriptions=command.description
                    ),
                    callback=self._slash_callback(command.name, member_of),
                )
            )
        return commands

    def _slash_callback(
        self, name: str, member_of: Callable[[int], str]
    ) -> Callable[[discord.Interaction], Any]:
        async def callback(interaction: discord.Interaction) -> None:
            text = self._opt(name, member_of(interaction.user.id), str(interaction.locale))
            parts = split_for(PLATFORM, text)
            await interaction.response.send_message(
                parts[0], ephemeral=True, allowed_mentions=NO_PINGS
            )
            for part in parts[1:]:
                await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_PINGS)

        return callback

    # --- the notices -----------------------------------------------------------------------

    async def keep_notices(self, client: discord.Client, problems: ListeningProblems) -> None:
        """Once connected: checks the notices posted before, posts and pins the missing ones,
        and looks again every `recheck_every` seconds. Runs until cancelled."""
        await client.wait_until_ready()
        await self._retire_unlisted(client)
        verify = True
        while True:
            for channel_id in self.channels:
                await self._check_channel(client, channel_id, problems, verify=verify)
            verify = False
            self.checks += 1
            await asyncio.sleep(self._recheck_every)

    async def _check_channel(
        self,
        client: discord.Client,
        channel_id: int,
        problems: ListeningProblems,
        *,
        verify: bool,
    ) -> None:
        key = str(channel_id)
        known = client.get_channel(channel_id)
        with Session(self._db) as session:
            group = store.ensure_group(
                session=session, channel=PLATFORM, group_key=key, title=_title(known)
            )
        target = client.get_partial_messageable(channel_id)
        step = "notice"
        try:
            if verify and group.notice_message_id is not None:
                group = await self._verify_notice(target, group, problems)
            if group.notice_message_id is None:
                sent = await target.send(
                    self.listener.notice(platform=PLATFORM), allowed_mentions=NO_PINGS
                )
                group = self._recorded(group, notice=str(sent.id))
                problems.solved(key, "notice")
                problems.solved(key, "unpinned")
                logger.info("Discord: the listening notice is posted in channel %s", channel_id)
            if group.notice_pinned_at is None:
                step = "pin"
                assert group.notice_message_id is not None
                notice = target.get_partial_message(int(group.notice_message_id))
                await notice.pin(reason="Notice: the assistant listens to this channel")
                group = self._recorded(group, pinned=True)
                problems.solved(key, "pin")
                logger.info("Discord: the listening notice is pinned in channel %s", channel_id)
        except discord.Forbidden as exc:
            if step == "pin":
                problems.report(
                    key,
                    "pin",
                    f"the notice is posted but cannot be pinned ({exc.text or exc.status}): give "
                    "the bot the Pin Messages permission in this channel.",
                )
            else:
                problems.report(
                    key,
                    "notice",
                    f"the bot cannot post its notice ({exc.text or exc.status}): give it View "
                    "Channel, Send Messages and Read Message History in this channel.",
                )
        except discord.NotFound as exc:
            problems.report(
                key,
                step,
                f"Discord does not know this channel or message ({exc.text}): check "
                "LISTEN_DISCORD_CHANNELS.",
            )
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            problems.report(key, step, f"Discord refused or failed ({exc}).")

    async def _verify_notice(
        self,
        target: discord.PartialMessageable,
        group: ListeningGroup,
        problems: ListeningProblems,
    ) -> ListeningGroup:
        """A notice posted before: still there? still pinned?"""
        assert group.notice_message_id is not None
        assert group.id is not None
        key = group.group_key
        try:
            notice = await target.fetch_message(int(group.notice_message_id))
        except discord.NotFound:
            logger.info("Discord: the listening notice of channel %s was deleted", key)
            with Session(self._db) as session:
                return store.clear_notice(session=session, group_id=group.id)
        if notice.pinned:
            problems.solved(key, "unpinned")
            return group if group.notice_pinned_at else self._recorded(group, pinned=True)
        if group.notice_pinned_at is not None:
            problems.report(
                key,
                "unpinned",
                "someone unpinned the notice that says the assistant listens: pin it again, or "
                f"run `bot listen renotice discord {key}` to post a new one.",
            )
        return group

    def _recorded(
        self, group: ListeningGroup, *, notice: str | None = None, pinned: bool = False
    ) -> ListeningGroup:
        assert group.id is not None
        with Session(self._db) as session:
            if notice is not None:
                return store.record_notice(
                    session=session,
                    group_id=group.id,
                    message_id=notice,
                    languages=self.listener.languages,
                )
            if pinned:
                return store.record_pin(session=session, group_id=group.id)
        return group

    async def _retire_unlisted(self, client: discord.Client) -> None:
        """A channel no longer listed is not listened to: its notice is unpinned (a new one is
        posted if it is listed again)."""
        with Session(self._db) as session:
            groups = store.groups_of(session=session, channel=PLATFORM)
        for group in groups:
            if int(group.group_key) in self.channels or group.notice_message_id is None:
                continue
            assert group.id is not None
            target = client.get_partial_messageable(int(group.group_key))
            with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, OSError):
                # Already unpinned or deleted, or no access any more: nothing more to do there.
                await target.get_partial_message(int(group.notice_message_id)).unpin(
                    reason="The assistant no longer listens to this channel"
                )
            with Session(self._db) as session:
                store.clear_notice(session=session, group_id=group.id)
            logger.info("Discord: channel %s is no longer listened to", group.group_key)


def typed_command(content: str) -> str | None:
    """ "optout" or "optin" when a message is exactly that command typed ("/optout")."""
    word = content.strip().lower()
    if word.startswith("/") and word[1:] in OPT_COMMANDS:
        return word[1:]
    return None


def _title(channel: Any) -> str | None:
    """The name of a channel (a thread's parent), if discord.py knows it."""
    parent = getattr(channel, "parent", None)
    name = getattr(parent or channel, "name", None)
    return str(name) if name else None
