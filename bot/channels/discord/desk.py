"""The Discord staff desk: a staff channel where each conversation handed to a person has its
own thread, named with the handoff's reference and the citizen's language.

Only members with the role DESK_DISCORD_ROLE can act there; alerts mention that role. The bot
needs to create public threads, send messages in threads and manage threads (to archive them)
in that channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.desk.relay import (
    CannotDelete,
    DeskThreads,
    DeskUnavailable,
    ThreadGone,
    answer_staff,
)
from bot.desk.service import Desk
from bot.outbox.delivery import Outgoing
from bot.outbox.text import split_for
from bot.staff_web.accounts import StaffMember

if TYPE_CHECKING:
    from sqlalchemy import Engine

logger = logging.getLogger(__name__)

DESK = "discord"
NO_PINGS = discord.AllowedMentions.none()
UNKNOWN_CHANNEL = 10003


class DiscordDeskThreads(DeskThreads):
    """Threads of the staff channel."""

    desk = DESK

    def __init__(
        self, client: Callable[[], discord.Client], channel_id: int, role_id: int | None
    ) -> None:
        self._client = client
        self.channel_id = channel_id
        self.role_id = role_id

    async def open_thread(self, title: str) -> str:
        try:
            channel = await self._channel()
            if not isinstance(channel, discord.TextChannel):
                raise DeskUnavailable(
                    f"DESK_DISCORD_CHANNEL {self.channel_id} is not a text channel"
                )
            thread = await channel.create_thread(
                name=title[:100],
                type=discord.ChannelType.public_thread,
                auto_archive_duration=10080,
            )
        except (discord.DiscordServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeskUnavailable(str(exc)) from exc
        return str(thread.id)

    async def post(self, thread_id: str, text: str) -> None:
        target = self._client().get_partial_messageable(int(thread_id))
        for part in split_for(DESK, text):
            try:
                await target.send(part, allowed_mentions=NO_PINGS)
            except discord.NotFound as exc:
                raise ThreadGone(str(exc)) from exc
            except (discord.DiscordServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise DeskUnavailable(str(exc)) from exc

    async def set_closed(self, thread_id: str, closed: bool) -> None:
        try:
            thread = await self._client().fetch_channel(int(thread_id))
            if isinstance(thread, discord.Thread):
                await thread.edit(archived=closed)
        except discord.HTTPException as exc:
            logger.info("Discord thread %s not archived/unarchived: %s", thread_id, exc)

    async def delete_thread(self, thread_id: str) -> None:
        try:
            thread = await self._client().fetch_channel(int(thread_id))
            if not isinstance(thread, discord.Thread):
                raise CannotDelete(f"{thread_id} is not a thread")
            await thread.delete(reason="the citizen's data was erased")
        except discord.NotFound:
            return  # deleted already (by a person)
        except discord.Forbidden as exc:
            raise CannotDelete(str(exc)) from exc
        except (discord.DiscordServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeskUnavailable(str(exc)) from exc

    async def notice(self, text: str) -> None:
        channel = self._client().get_partial_messageable(self.channel_id)
        try:
            await channel.send(text[:2000], allowed_mentions=NO_PINGS)
        except (discord.DiscordServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeskUnavailable(str(exc)) from exc

    async def alert(self, text: str) -> None:
        channel = self._client().get_partial_messageable(self.channel_id)
        mention = f"<@&{self.role_id}> " if self.role_id else ""
        roles = [discord.Object(self.role_id)] if self.role_id else False
        try:
            await channel.send(
                f"{mention}{text}"[:2000],
                allowed_mentions=discord.AllowedMentions(everyone=False, users=False, roles=roles),
            )
        except (discord.DiscordServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeskUnavailable(str(exc)) from exc

    async def _channel(self) -> Any:
        client = self._client()
        return client.get_channel(self.channel_id) or await client.fetch_channel(self.channel_id)


def is_desk_message(message: discord.Message, desk_channel: int | None) -> bool:
    """Whether the message was written in the staff channel or one of its threads."""
    if desk_channel is None:
        return False
    channel = message.channel
    if isinstance(channel, discord.Thread):
        return channel.parent_id == desk_channel
    return bool(channel.id == desk_channel)


def desk_payload(message: discord.Message) -> dict[str, Any]:
    """What the intake keeps of a staff message."""
    author = message.author
    roles = [role.id for role in getattr(author, "roles", [])]
    return {
        "desk": True,
        "id": message.id,
        "channel_id": message.channel.id,
        "in_thread": isinstance(message.channel, discord.Thread),
        "author_id": author.id,
        "author_name": author.global_name or author.display_name or author.name,
        "roles": roles,
        "content": message.content,
    }


def staff_message(
    payload: dict[str, Any], *, desk: Desk, engine: Engine, role_id: int | None
) -> Sequence[Outgoing]:
    """What a person wrote in a staff thread: an answer or a command for that conversation;
    refused politely (and audited) without the community managers' role."""
    if not payload.get("in_thread"):
        return []  # the channel itself is the staff's own chat
    thread = str(payload["channel_id"])
    staff = StaffMember(
        key=f"staff:{DESK}:{payload['author_id']}", name=str(payload["author_name"]), desk=DESK
    )
    return answer_staff(
        desk,
        engine,
        desk_name=DESK,
        destination=thread,
        thread_id=thread,
        staff=staff if role_id is not None and role_id in payload.get("roles", []) else None,
        who=str(payload["author_id"]),
        text=str(payload["content"]),
        options={"reply_to": payload["id"]},
    )
