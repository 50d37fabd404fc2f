"""The Discord stand-in (tests/support/fake_discord.py) works with the real discord.py client."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.http import Route

from tests.support.fake_discord import (
    EVERYONE_PERMISSIONS,
    PIN_MESSAGES,
    SEND_POLLS,
    FakeDiscord,
    pointed_at,
    running_client,
)

CITIZEN = 810000000000000001


class Bot(discord.Client):
    """A real discord.py client that queues every message and every poll vote it sees."""

    def __init__(
        self, *, message_content: bool = True, guild_polls: bool = True, dm_polls: bool = True
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.guild_polls = guild_polls
        intents.dm_polls = dm_polls
        super().__init__(intents=intents, guild_ready_timeout=0.1)
        self.received: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.votes: asyncio.Queue[tuple[str, discord.RawPollVoteActionEvent]] = asyncio.Queue()

    async def on_message(self, message: discord.Message) -> None:
        await self.received.put(message)

    async def on_raw_poll_vote_add(self, payload: discord.RawPollVoteActionEvent) -> None:
        await self.votes.put(("add", payload))

    async def on_raw_poll_vote_remove(self, payload: discord.RawPollVoteActionEvent) -> None:
        await self.votes.put(("remove", payload))

    async def next_vote(self) -> tuple[str, int, int, int | None, int]:
        """The next vote event (within 5 s): kind, user, answer, guild and message ids."""
        async with asyncio.timeout(5):
            kind, vote = await self.votes.get()
        return kind, vote.user_id, vote.answer_id, vote.guild_id, vote.message_id

    async def next_from(self, user_id: int) -> discord.Message:
        """The next message from `user_id` (within 5 s), skipping the bot's own echoes."""
        async with asyncio.timeout(5):
            while True:
                message = await self.received.get()
                if message.author.id == user_id:
                    return message


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    client = Bot()
    async with running_client(client, fake):
        yield client


async def test_rest_and_gateway_speak_discords_wire_format(fake: FakeDiscord) -> None:
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(fake.api_base + "/users/@me", headers=auth) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["id"] == str(fake.bot_id)
        async with http.get(fake.api_base + "/users/@me") as response:
            assert response.status == 401
            assert await response.json() == {"message": "401: Unauthorized", "code": 0}
        async with http.get(fake.api_base + "/nowhere", headers=auth) as response:
            assert response.status == 404
            assert await response.json() == {"message": "404: Not Found", "code": 0}
        assert ("GET", "/nowhere") in fake.unknown_routes

        fake.fail_next("GET", "/users/@me", retry_after=0.5)
        async with http.get(fake.api_base + "/users/@me", headers=auth) as response:
            assert response.status == 429
            assert response.headers["Via"]
            assert response.headers["X-RateLimit-Remaining"] == "0"
            assert await response.json() == {
                "message": "You are being rate limited.",
                "retry_after": 0.5,
                "global": False,
            }

        # The gateway compresses as a zlib stream when asked, each frame ending in 00 00 ff ff.
        url = fake.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
        async with http.ws_connect(url) as ws:
            inflate = zlib.decompressobj()

            async def receive() -> dict[str, Any]:
                frame = await ws.receive_bytes(timeout=5)
                assert frame.endswith(b"\x00\x00\xff\xff")
                payload: dict[str, Any] = json.loads(inflate.decompress(frame))
                return payload

            hello = await receive()
            assert hello["op"] == 10
            assert hello["d"]["heartbeat_interval"] == fake.heartbeat_interval_ms
            await ws.send_json({"op": 1, "d": None})
            assert (await receive())["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 513}})
            closing = await ws.receive(timeout=5)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == 4004
    assert fake.heartbeats == 1
    assert fake.identifies == 0


async def test_login_ready_and_guild_create_reach_the_client(fake: FakeDiscord, bot: Bot) -> None:
    assert bot.user is not None
    assert bot.user.id == fake.bot_id
    assert bot.application_id == fake.application_id
    guild = bot.get_guild(fake.guild_id)
    assert guild is not None
    assert guild.name == "Trois-Collines citoyens"
    assert sorted(c.name for c in guild.text_channels) == ["general", "parc-eolien"]
    assert guild.me is not None
    assert guild.me.guild_permissions.send_messages
    assert fake.requests[:2] == [
        ("GET", "/users/@me", None),
        ("GET", "/oauth2/applications/@me", None),
    ]
    # A plain Client never asks /gateway/bot: it dials DEFAULT_GATEWAY, with zlib-stream.
    path, query = fake.gateway_connects[0]
    assert path == "/gw"
    assert query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert (fake.identifies, fake.resumes, fake.connections) == (1, 0, 1)
    assert fake.heartbeats >= 1  # discord.py beats once right after HELLO


async def test_dm_and_guild_mention_reach_on_message(fake: FakeDiscord, bot: Bot) -> None:
    fake.dm(user_id=CITIZEN, content="Bonjour, où en est le projet ?", username="amelie")
    dm = await bot.next_from(CITIZEN)
    assert dm.guild is None
    assert isinstance(dm.channel, discord.DMChannel)
    assert dm.content == "Bonjour, où en est le projet ?"
    assert dm.author.name == "amelie"

    await dm.channel.send("Merci pour votre question.")
    (answer,) = await fake.wait_for_messages(1, channel_id=fake.dm_channel_id(CITIZEN))
    assert answer.content == "Merci pour votre question."
    echo = await bot.next_from(fake.bot_id)  # Discord echoes the bot's own message
    assert echo.id == answer.id
    user = await bot.fetch_user(CITIZEN)
    assert (await user.create_dm()).id == fake.dm_channel_id(CITIZEN)

    message_id = fake.post(
        channel="parc-eolien", user_id=CITIZEN, content="quel bruit ?", mention_bot=True
    )
    mention = await bot.next_from(CITIZEN)
    assert mention.id == message_id
    assert mention.channel.id == fake.channel_ids["parc-eolien"]
    assert mention.content == f"<@{fake.bot_id}> quel bruit ?"
    assert bot.user in mention.mentions
    assert isinstance(mention.author, discord.Member)


async def test_message_content_is_privileged(fake: FakeDiscord) -> None:
    bot = Bot(message_content=False)
    async with running_client(bot, fake):
        fake.post(channel="general", user_id=CITIZEN, content="sans mention")
        assert (await bot.next_from(CITIZEN)).content == ""
        fake.post(channel="general", user_id=CITIZEN, content="avec mention", mention_bot=True)
        assert (await bot.next_from(CITIZEN)).content.endswith("avec mention")
        fake.dm(user_id=CITIZEN, content="en privé")
        assert (await bot.next_from(CITIZEN)).content == "en privé"

        channel = bot.get_channel(fake.channel_ids["general"])
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("Réponse du bot")
        fake.post(
            channel="general", user_id=CITIZEN, content="merci !", reply_to_bot_message=sent.id
        )
        reply = await bot.next_from(CITIZEN)
        assert reply.content == "merci !"  # a reply pings the bot, so content is visible
        assert reply.reference is not None
        assert reply.reference.message_id == sent.id

        fake.edit(channel_id=channel.id, message_id=reply.id, content="merci beaucoup !")
        edited = await asyncio.wait_for(bot.wait_for("raw_message_edit"), timeout=5)
        assert edited.message.content == "merci beaucoup !"


async def test_send_records_allowed_mentions_nonce_and_mentions(
    fake: FakeDiscord, bot: Bot
) -> None:
    fake.dm(user_id=CITIZEN, content="coucou")  # makes the user known
    await bot.next_from(CITIZEN)
    channel = bot.get_channel(fake.channel_ids["general"])
    assert isinstance(channel, discord.TextChannel)

    await channel.send(f"<@{CITIZEN}> voici", allowed_mentions=discord.AllowedMentions.none())
    await channel.send(f"<@{CITIZEN}> voilà")
    quiet, loud = await fake.wait_for_messages(2, channel_id=channel.id)
    assert quiet.allowed_mentions == {"parse": []}
    assert quiet.mentioned_user_ids == []
    assert quiet.nonce is not None
    assert quiet.nonce.isdigit()
    assert quiet.enforce_nonce is True
    assert loud.allowed_mentions is None
    assert loud.mentioned_user_ids == [CITIZEN]


async def test_nonce_deduplication_and_validation(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.get_channel(fake.channel_ids["general"])
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("une fois", nonce="retry-42")
    second = await channel.send("une fois", nonce="retry-42")
    assert first.id == second.id
    assert len(fake.messages) == 1
    assert fake.deduplicated == 1

    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    with pytest.raises(discord.HTTPException) as empty:
        await channel.send(embeds=[])
    assert (empty.value.status, empty.value.code) == (400, 50006)
    assert len(fake.messages) == 1


async def test_rate_limit_is_retried_by_discord_py(fake: FakeDiscord, bot: Bot) -> None:
    channel_id = fake.channel_ids["parc-eolien"]
    fake.fail_next("POST", f"/channels/{channel_id}/messages", retry_after=0.2)
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    started = time.monotonic()
    await channel.send("après la limite")
    assert time.monotonic() - started >= 0.2
    posts = [r for r in fake.requests if r[:2] == ("POST", f"/channels/{channel_id}/messages")]
    assert len(posts) == 2
    assert posts[0][2] == posts[1][2]  # the same body (and nonce) is sent again
    assert [m.content for m in fake.messages] == ["après la limite"]


async def test_wrong_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with pointed_at(fake), pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    # Client.start()/login() do not close the HTTP session on failure (only run() does).
    await client.close()
    assert fake.connections == 0

    other = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        async with running_client(other, fake, token="still-not-the-token"):
            pass
    assert other.is_closed()


async def test_dropped_connection_resumes_and_replays(fake: FakeDiscord, bot: Bot) -> None:
    await fake.drop_connection()
    missed = fake.post(channel="general", user_id=CITIZEN, content="pendant la coupure")
    message = await bot.next_from(CITIZEN)
    assert message.id == missed
    assert message.content == "pendant la coupure"
    assert (fake.identifies, fake.resumes) == (1, 1)
    assert fake.replayed >= 1
    assert fake.gateway_connects[-1][0] == "/gw/resume"  # READY's resume_gateway_url

    await fake.request_reconnect()  # op 7
    await fake.wait_until_ready()
    assert (fake.identifies, fake.resumes) == (1, 2)
    fake.dm(user_id=CITIZEN, content="encore là ?")
    assert (await bot.next_from(CITIZEN)).content == "encore là ?"


class ImpatientBot(Bot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every IDENTIFY but the first; not needed on loopback."""


async def test_invalidated_session_reidentifies_and_loses_the_gap(fake: FakeDiscord) -> None:
    bot = ImpatientBot()
    async with running_client(bot, fake):
        fake.invalidate_sessions()
        await fake.drop_connection(code=4000)
        fake.post(channel="general", user_id=CITIZEN, content="perdu")
        await fake.wait_until_ready()
        assert (fake.identifies, fake.resumes, fake.invalid_sessions_sent) == (2, 1, 1)
        # discord.py keeps dialling resume_gateway_url for the new IDENTIFY after an op 9.
        assert [path for path, _ in fake.gateway_connects] == ["/gw", "/gw/resume", "/gw/resume"]
        fake.post(channel="general", user_id=CITIZEN, content="après")
        assert (await bot.next_from(CITIZEN)).content == "après"  # "perdu" never arrives
        assert bot.received.empty()


async def test_slash_commands_through_the_command_tree(fake: FakeDiscord) -> None:
    client = Bot()
    tree = app_commands.CommandTree(client)
    seen: list[discord.Interaction] = []

    @tree.command(name="aide", description="Poser une question")
    async def aide(interaction: discord.Interaction, sujet: str) -> None:
        seen.append(interaction)
        await interaction.response.send_message(f"Aide sur {sujet}", ephemeral=True)

    @tree.command(name="lent", description="Une réponse qui prend du temps")
    async def lent(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("suite")
        await interaction.edit_original_response(content="fini")

    async with running_client(client, fake):
        guild = discord.Object(id=fake.guild_id)
        tree.copy_global_to(guild=guild)
        await tree.sync(guild=guild)
        await tree.sync()
        assert sorted(c["name"] for c in fake.commands[fake.guild_id]) == ["aide", "lent"]
        assert sorted(c["name"] for c in fake.commands[None]) == ["aide", "lent"]

        interaction_id = fake.slash(
            name="aide", user_id=CITIZEN, channel="general", options={"sujet": "éoliennes"}
        )
        (callback,) = await fake.wait_for_interaction_responses(1)
        assert callback["kind"] == "callback"
        assert callback["interaction_id"] == interaction_id
        assert callback["type"] == 4
        assert callback["data"]["content"] == "Aide sur éoliennes"
        assert callback["data"]["flags"] == 64
        assert seen[0].locale is discord.Locale.french
        assert seen[0].guild_id == fake.guild_id
        assert seen[0].user.id == CITIZEN

        fake.slash(name="lent", user_id=CITIZEN)  # in the DM with the citizen
        responses = await fake.wait_for_interaction_responses(4)
        assert [(r["kind"], r["type"]) for r in responses[1:]] == [
            ("callback", 5),
            ("followup", None),
            ("edit_original", None),
        ]
        assert responses[3]["data"]["content"] == "fini"


async def test_threads_are_created_and_carry_messages(fake: FakeDiscord, bot: Bot) -> None:
    started = fake.post(channel="general", user_id=CITIZEN, content="Une question longue")
    message = await bot.next_from(CITIZEN)
    thread = await message.create_thread(name="Suivi de la question")
    assert thread.id == started  # Discord gives a message's thread the message's id
    channel = bot.get_channel(fake.channel_ids["parc-eolien"])
    assert isinstance(channel, discord.TextChannel)
    # THREAD_CREATE, not the REST answer, puts a thread in discord.py's cache.
    created = bot.wait_for("thread_create", check=lambda t: t.name == "Autre", timeout=5)
    other = await channel.create_thread(name="Autre", type=discord.ChannelType.public_thread)
    assert (await created).id == other.id

    assert [(t["name"], int(t["parent_id"]), int(t["owner_id"])) for t in fake.threads] == [
        ("Suivi de la question", fake.channel_ids["general"], fake.bot_id),
        ("Autre", fake.channel_ids["parc-eolien"], fake.bot_id),
    ]
    assert isinstance(bot.get_channel(other.id), discord.Thread)

    fake.post(channel=thread.id, user_id=CITIZEN, content="dans le fil")
    in_thread = await bot.next_from(CITIZEN)
    assert isinstance(in_thread.channel, discord.Thread)
    assert in_thread.channel.id == thread.id
    assert in_thread.channel.parent_id == fake.channel_ids["general"]
    await in_thread.channel.send("réponse dans le fil")
    (posted,) = await fake.wait_for_messages(1, channel_id=thread.id)
    assert posted.content == "réponse dans le fil"


MANAGER = 810000000000000042
STAFF_ROLE = 720000000000000001


@pytest.fixture
async def desk(fake: FakeDiscord) -> AsyncIterator[tuple[Bot, int]]:
    """A bot connected to a guild with a staff channel and a manager holding the staff role."""
    staff_channel = fake.add_channel("accueil-equipe", topic="Demandes des citoyens")
    fake.add_role("Équipe accueil", role_id=STAFF_ROLE, mentionable=True)
    fake.set_roles(fake.guild_id, MANAGER, [STAFF_ROLE], username="claire")
    client = Bot()
    async with running_client(client, fake):
        yield client, staff_channel


async def test_member_roles_reach_messages_and_interactions(
    fake: FakeDiscord, desk: tuple[Bot, int]
) -> None:
    bot, staff_channel = desk
    guild = bot.get_guild(fake.guild_id)
    assert guild is not None
    staff = guild.get_role(STAFF_ROLE)
    assert staff is not None
    assert (staff.name, staff.mentionable) == ("Équipe accueil", True)
    assert [role.id for role in guild.roles] == [fake.guild_id, STAFF_ROLE]
    assert isinstance(guild.get_channel(staff_channel), discord.TextChannel)

    fake.post(channel=staff_channel, user_id=MANAGER, content="Je prends le dossier")
    said = await bot.next_from(MANAGER)
    assert isinstance(said.author, discord.Member)
    assert said.author.name == "claire"
    assert [role.id for role in said.author.roles] == [fake.guild_id, STAFF_ROLE]
    fake.post(channel="general", user_id=CITIZEN, content="bonjour")
    assert [role.id for role in (await bot.next_from(CITIZEN)).author.roles] == [fake.guild_id]

    created = bot.wait_for("guild_role_create", timeout=5)
    elected = fake.add_role("Élus")  # after READY: GUILD_ROLE_CREATE
    assert (await created).id == elected
    fake.set_roles(fake.guild_id, MANAGER, [STAFF_ROLE, elected])
    fake.post(channel=staff_channel, user_id=MANAGER, content="Et j'informe les élus")
    again = await bot.next_from(MANAGER)
    assert isinstance(again.author, discord.Member)
    assert {role.id for role in again.author.roles} == {fake.guild_id, STAFF_ROLE, elected}
    assert [role.id for role in said.author.roles] == [fake.guild_id, STAFF_ROLE]  # a snapshot

    interacted = bot.wait_for("interaction", timeout=5)
    fake.slash(name="prendre", user_id=MANAGER, channel=staff_channel)
    interaction = await interacted
    assert isinstance(interaction.user, discord.Member)
    assert staff in interaction.user.roles
    with pytest.raises(KeyError):
        fake.set_roles(123, MANAGER, [STAFF_ROLE])  # the stand-in has one guild


async def test_threads_without_a_message_are_renamed_archived_and_woken(
    fake: FakeDiscord, desk: tuple[Bot, int]
) -> None:
    bot, staff_channel = desk
    channel = bot.get_channel(staff_channel)
    assert isinstance(channel, discord.TextChannel)
    created = bot.wait_for("thread_create", timeout=5)
    thread = await channel.create_thread(
        name="Amélie — stationnement",
        type=discord.ChannelType.public_thread,
        auto_archive_duration=1440,
    )
    assert (thread.type, thread.parent_id, thread.owner_id) == (
        discord.ChannelType.public_thread,
        staff_channel,
        fake.bot_id,
    )
    assert (await created).id == thread.id  # THREAD_CREATE, as Discord fires it
    assert fake.threads[-1]["starter_message_id"] is None
    assert fake.channel(thread.id)["thread_metadata"]["auto_archive_duration"] == 1440
    # Without a type, Discord makes a private thread (the documented default).
    raw = await bot.http.request(
        Route("POST", "/channels/{channel_id}/threads", channel_id=staff_channel),
        json={"name": "sans type"},
    )
    assert raw["type"] == 12

    fake.post(channel=thread.id, user_id=MANAGER, content="Je m'en occupe")
    in_thread = await bot.next_from(MANAGER)
    assert in_thread.channel.id == thread.id
    assert isinstance(in_thread.author, discord.Member)
    assert STAFF_ROLE in [role.id for role in in_thread.author.roles]
    await thread.send("Merci Claire")
    assert [m.content for m in fake.messages_in(thread.id)] == ["Merci Claire"]

    updated = bot.wait_for("thread_update", timeout=5)
    archived = await thread.edit(name="Amélie — réglé", archived=True)
    assert (archived.name, archived.archived, archived.locked) == ("Amélie — réglé", True, False)
    _, after = await updated
    assert after.archived
    assert bot.get_channel(thread.id) is None  # discord.py forgets archived threads
    with pytest.raises(discord.HTTPException) as refused:
        await thread.edit(name="encore")  # an archived thread must be un-archived first
    assert (refused.value.status, refused.value.code) == (400, 50083)

    rejoined = bot.wait_for("thread_join", check=lambda t: t.id == thread.id, timeout=5)
    await thread.send("Une dernière précision")  # un-archives it, as Discord does
    assert (await rejoined).archived is False
    assert fake.channel(thread.id)["thread_metadata"]["archived"] is False
    fake.post(channel=thread.id, user_id=MANAGER, content="Vu")
    assert (await bot.next_from(MANAGER)).channel.id == thread.id

    await thread.edit(archived=True, locked=True)
    with pytest.raises(discord.HTTPException) as locked:
        await thread.send("Rouvert ?")
    assert (locked.value.status, locked.value.code, locked.value.text) == (
        400,
        50083,
        "Thread is archived",
    )
    with pytest.raises(ValueError, match="archived and locked"):
        fake.post(channel=thread.id, user_id=MANAGER, content="Et moi ?")
    reopened = await thread.edit(archived=False)
    assert (reopened.archived, reopened.locked) == (False, True)
    assert [edit["data"] for edit in fake.channel_edits] == [
        {"name": "Amélie — réglé", "archived": True},
        {"archived": True, "locked": True},
        {"archived": False},
    ]
    assert fake.channel(thread.id)["message_count"] == 4


async def test_a_deleted_thread_is_an_unknown_channel(
    fake: FakeDiscord, desk: tuple[Bot, int]
) -> None:
    bot, staff_channel = desk
    channel = bot.get_channel(staff_channel)
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="Zoé", type=discord.ChannelType.public_thread)
    await thread.send("Première réponse")

    deleted = bot.wait_for("thread_delete", timeout=5)
    fake.delete_channel(thread.id)  # a moderator deletes it in the app
    assert (await deleted).id == thread.id
    with pytest.raises(discord.NotFound) as gone:
        await thread.send("Toujours là ?")
    assert (gone.value.status, gone.value.code, gone.value.text) == (404, 10003, "Unknown Channel")
    with pytest.raises(KeyError):
        fake.post(channel=thread.id, user_id=MANAGER, content="?")
    with pytest.raises(KeyError):
        fake.channel(thread.id)

    own = await channel.create_thread(name="Temporaire", type=discord.ChannelType.public_thread)
    removed = bot.wait_for("raw_thread_delete", timeout=5)
    await own.delete()  # DELETE /channels/{id} by the bot
    assert (await removed).thread_id == own.id
    assert fake.deleted_channels == [thread.id, own.id]
    assert [m.content for m in fake.messages_in(thread.id)] == ["Première réponse"]  # the log


async def test_role_mentions_follow_allowed_mentions_and_permissions(
    fake: FakeDiscord, desk: tuple[Bot, int]
) -> None:
    bot, staff_channel = desk
    channel = bot.get_channel(staff_channel)
    assert isinstance(channel, discord.TextChannel)
    only_staff = discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(STAFF_ROLE)], replied_user=False
    )
    await channel.send(f"<@&{STAFF_ROLE}> nouvelle demande", allowed_mentions=only_staff)
    await channel.send(
        f"<@&{STAFF_ROLE}> pour info", allowed_mentions=discord.AllowedMentions.none()
    )
    pinged, quiet = await fake.wait_for_messages(2, channel_id=staff_channel)
    assert pinged.allowed_mentions == {"parse": [], "roles": [STAFF_ROLE]}
    assert pinged.mentioned_role_ids == [STAFF_ROLE]
    assert quiet.allowed_mentions == {"parse": []}
    assert quiet.mentioned_role_ids == []
    echo = await bot.next_from(fake.bot_id)
    assert [role.id for role in echo.role_mentions] == [STAFF_ROLE]

    # Roles are not mentionable by default: the bot needs MENTION_EVERYONE to ping one.
    elected = fake.add_role("Élus")
    everyone_roles = discord.AllowedMentions(everyone=False, users=False, roles=True)
    await channel.send(f"<@&{elected}> à valider", allowed_mentions=everyone_roles)
    fake.set_roles(fake.guild_id, fake.bot_id, [fake.add_role("Bot", permissions=1 << 17)])
    await channel.send(f"<@&{elected}> à valider", allowed_mentions=everyone_roles)
    unheard, heard = (await fake.wait_for_messages(4, channel_id=staff_channel))[2:]
    assert unheard.allowed_mentions == {"parse": ["roles"], "replied_user": True}
    assert unheard.mentioned_role_ids == []
    assert heard.mentioned_role_ids == [elected]

    with pytest.raises(discord.HTTPException) as exclusive:
        await bot.http.request(
            Route("POST", "/channels/{channel_id}/messages", channel_id=staff_channel),
            json={
                "content": f"<@&{STAFF_ROLE}>",
                "allowed_mentions": {"parse": ["roles"], "roles": [str(STAFF_ROLE)]},
            },
        )
    assert (exclusive.value.status, exclusive.value.code) == (400, 50035)
    assert len(fake.messages_in(staff_channel)) == 4


NEIGHBOUR = 810000000000000002


async def test_pins_need_the_pin_messages_permission(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.get_partial_messageable(fake.channel_ids["parc-eolien"])
    notice = await channel.send("Avis : l'assistant écoute ce salon.")
    with pytest.raises(discord.Forbidden) as refused:
        await notice.pin()
    assert (refused.value.status, refused.value.code) == (403, 50013)
    assert refused.value.text == "Missing Permissions"
    assert fake.pins(notice.channel.id) == []

    pinner = fake.add_role("Épingleur", permissions=PIN_MESSAGES)
    fake.set_roles(fake.guild_id, fake.bot_id, [pinner])
    await notice.pin(reason="avis d'écoute")
    assert fake.pins(notice.channel.id) == [notice.id]
    fetched = await channel.fetch_message(notice.id)
    assert fetched.pinned
    assert (await bot.next_from(fake.bot_id)).id == notice.id  # the notice itself
    system = await bot.next_from(fake.bot_id)  # then Discord says who pinned what
    assert system.type is discord.MessageType.pins_add
    assert system.reference is not None
    assert system.reference.message_id == notice.id
    pins = [message async for message in channel.pins()]
    assert [message.id for message in pins] == [notice.id]

    with pytest.raises(discord.NotFound):
        await channel.get_partial_message(notice.id + 1).pin()
    fake.unpin(channel_id=notice.channel.id, message_id=notice.id)  # a moderator, in the app
    assert not (await channel.fetch_message(notice.id)).pinned
    await notice.unpin()  # unpinning what is not pinned changes nothing
    await notice.pin()
    fake.delete_message(channel_id=notice.channel.id, message_id=notice.id)
    assert fake.pins(notice.channel.id) == []
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(notice.id)


async def test_several_members_write_in_a_server_channel(fake: FakeDiscord, bot: Bot) -> None:
    first = fake.post(channel="parc-eolien", user_id=CITIZEN, content="Les éoliennes, encore?")
    second = fake.post(
        channel="parc-eolien", user_id=NEIGHBOUR, content="Oui, #TroisCollines", username="voisin"
    )
    one = await bot.next_from(CITIZEN)
    two = await bot.next_from(NEIGHBOUR)
    assert (one.id, one.content, one.guild is not None) == (first, "Les éoliennes, encore?", True)
    assert (two.id, two.author.name) == (second, "voisin")
    assert one.channel.id == two.channel.id == fake.channel_ids["parc-eolien"]


def consultation_poll(*, multiple: bool = False) -> discord.Poll:
    """A 24 h poll with three answers, the way the application asks the neighbourhood."""
    poll = discord.Poll(
        question="Où installer le nouveau banc ?", duration=timedelta(hours=24), multiple=multiple
    )
    poll.add_answer(text="Place de l'église", emoji="⛪")
    poll.add_answer(text="Parc des Collines")
    poll.add_answer(text="Devant la mairie")
    return poll


async def test_a_poll_sent_in_a_dm_and_in_a_guild_channel_gets_votes(
    fake: FakeDiscord, bot: Bot
) -> None:
    fake.dm(user_id=CITIZEN, content="Je veux donner mon avis", username="amelie")
    await bot.next_from(CITIZEN)
    dm = await (await bot.fetch_user(CITIZEN)).create_dm()
    sent = await dm.send(poll=consultation_poll())

    assert sent.poll is not None
    assert sent.poll.question == "Où installer le nouveau banc ?"
    assert [(a.id, a.text) for a in sent.poll.answers] == [
        (1, "Place de l'église"),
        (2, "Parc des Collines"),
        (3, "Devant la mairie"),
    ]
    assert str(sent.poll.answers[0].emoji) == "⛪"
    assert sent.poll.duration == timedelta(hours=24)
    assert sent.poll.expires_at is not None
    assert abs(sent.poll.expires_at - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(
        minutes=1
    )
    assert (sent.poll.multiple, sent.poll.is_finalised(), sent.poll.total_votes) == (
        False,
        False,
        0,
    )
    (posted,) = fake.messages_in(dm.id)
    assert posted.poll is not None
    assert posted.poll["duration"] == 24  # discord.py sends 24.0 hours
    assert posted.content == ""  # a poll needs no content

    fake.vote_poll(channel_id=dm.id, message_id=sent.id, user_id=CITIZEN, answer_id=2)
    # on_raw_poll_vote_add, not on_poll_vote_add: without the (privileged) members intent
    # discord.py caches no users, and on_poll_vote_add needs the voter in its cache.
    assert await bot.next_vote() == ("add", CITIZEN, 2, None, sent.id)
    fetched = await dm.fetch_message(sent.id)
    assert fetched.poll is not None
    assert [a.vote_count for a in fetched.poll.answers] == [0, 1, 0]

    channel = bot.get_channel(fake.channel_ids["parc-eolien"])
    assert isinstance(channel, discord.TextChannel)
    public = await channel.send("Consultation ouverte à tous :", poll=consultation_poll())
    assert public.content == "Consultation ouverte à tous :"
    assert public.poll is not None
    assert len(public.poll.answers) == 3
    fake.vote_poll(
        channel_id=channel.id,
        message_id=public.id,
        user_id=NEIGHBOUR,
        answer_id=3,
        guild_id=fake.guild_id,
    )
    assert await bot.next_vote() == ("add", NEIGHBOUR, 3, fake.guild_id, public.id)
    (state,) = fake.polls_in(channel.id)
    assert state.answers == {1: "Place de l'église", 2: "Parc des Collines", 3: "Devant la mairie"}
    assert (state.counts, state.voters[3], state.finalized) == (
        {1: 0, 2: 0, 3: 1},
        [NEIGHBOUR],
        False,
    )
    assert state.answer_id("Devant la mairie") == 3
    with pytest.raises(ValueError, match="guild"):  # a guild channel's vote names its guild
        fake.vote_poll(channel_id=channel.id, message_id=public.id, user_id=CITIZEN, answer_id=1)
    with pytest.raises(ValueError, match="not in the DM"):
        fake.vote_poll(channel_id=dm.id, message_id=sent.id, user_id=NEIGHBOUR, answer_id=1)


async def test_poll_votes_need_the_poll_intents(fake: FakeDiscord) -> None:
    fake.dm(user_id=CITIZEN, content="coucou")  # before any session: makes the user known
    general = fake.channel_ids["general"]
    only_dms = Bot(guild_polls=False)
    async with running_client(only_dms, fake):
        dm = await (await only_dms.fetch_user(CITIZEN)).create_dm()
        in_dm = await dm.send(poll=consultation_poll())
        in_guild = await only_dms.get_partial_messageable(general).send(poll=consultation_poll())
        fake.vote_poll(
            channel_id=general,
            message_id=in_guild.id,
            user_id=NEIGHBOUR,
            answer_id=1,
            guild_id=fake.guild_id,
        )
        fake.vote_poll(channel_id=dm.id, message_id=in_dm.id, user_id=CITIZEN, answer_id=1)
        # The guild vote never arrives: the first event is the DM vote, which came after it.
        assert await only_dms.next_vote() == ("add", CITIZEN, 1, None, in_dm.id)
        assert only_dms.votes.empty()
        assert [s.counts[1] for s in fake.polls_in(general)] == [1]  # counted all the same
    assert not only_dms.intents.guild_polls

    deaf = Bot(guild_polls=False, dm_polls=False)
    async with running_client(deaf, fake):
        fake.unvote_poll(channel_id=dm.id, message_id=in_dm.id, user_id=CITIZEN, answer_id=1)
        fake.dm(user_id=CITIZEN, content="j'ai retiré mon vote")
        assert (await deaf.next_from(CITIZEN)).content == "j'ai retiré mon vote"
        assert deaf.votes.empty()
    assert fake.polls_in(dm.id)[0].counts == {1: 0, 2: 0, 3: 0}


async def test_changing_a_vote_and_multiple_answers(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.get_partial_messageable(fake.channel_ids["general"])
    single = await channel.send(poll=consultation_poll())
    vote = functools.partial(
        fake.vote_poll, channel_id=channel.id, guild_id=fake.guild_id, user_id=CITIZEN
    )
    unvote = functools.partial(
        fake.unvote_poll, channel_id=channel.id, guild_id=fake.guild_id, user_id=CITIZEN
    )
    vote(message_id=single.id, answer_id=1)
    vote(message_id=single.id, answer_id=2)  # changes their mind
    assert [await bot.next_vote() for _ in range(3)] == [
        ("add", CITIZEN, 1, fake.guild_id, single.id),
        ("remove", CITIZEN, 1, fake.guild_id, single.id),
        ("add", CITIZEN, 2, fake.guild_id, single.id),
    ]
    with pytest.raises(ValueError, match="already voted"):
        vote(message_id=single.id, answer_id=2)
    with pytest.raises(KeyError):
        vote(message_id=single.id, answer_id=4)

    several = await channel.send(poll=consultation_poll(multiple=True))
    assert several.poll is not None
    assert several.poll.multiple
    vote(message_id=several.id, answer_id=1)
    vote(message_id=several.id, answer_id=3)
    unvote(message_id=several.id, answer_id=1)
    assert [await bot.next_vote() for _ in range(3)] == [
        ("add", CITIZEN, 1, fake.guild_id, several.id),
        ("add", CITIZEN, 3, fake.guild_id, several.id),
        ("remove", CITIZEN, 1, fake.guild_id, several.id),
    ]
    with pytest.raises(ValueError, match="has not voted"):
        unvote(message_id=several.id, answer_id=1)
    first, second = fake.polls_in(channel.id)
    assert (first.counts, second.counts) == ({1: 0, 2: 1, 3: 0}, {1: 0, 2: 0, 3: 1})
    assert second.allow_multiselect


async def test_ending_a_poll_finalizes_it_and_closes_the_vote(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.get_channel(fake.channel_ids["parc-eolien"])
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send(poll=consultation_poll())
    assert (await bot.next_from(fake.bot_id)).id == sent.id
    vote = functools.partial(
        fake.vote_poll, channel_id=channel.id, message_id=sent.id, guild_id=fake.guild_id
    )
    vote(user_id=CITIZEN, answer_id=2)
    vote(user_id=NEIGHBOUR, answer_id=2, username="voisin")
    vote(user_id=MANAGER, answer_id=1)
    for _ in range(3):
        await bot.next_vote()
    fetched = await channel.fetch_message(sent.id)
    assert fetched.poll is not None
    voters = fetched.poll.get_answer(2)
    assert voters is not None
    assert sorted([user.id async for user in voters.voters()]) == [CITIZEN, NEIGHBOUR]
    assert [user.id async for user in voters.voters(limit=1)] == [CITIZEN]  # by user id

    edited = bot.wait_for("raw_message_edit", timeout=5)
    ended = await sent.end_poll()
    assert ended.poll is not None
    assert ended.poll.is_finalised()
    assert [a.vote_count for a in ended.poll.answers] == [1, 2, 0]
    assert (await edited).message_id == sent.id  # MESSAGE_UPDATE, as Discord fires it
    result = await bot.next_from(fake.bot_id)  # then Discord says the poll has closed
    assert result.type is discord.MessageType.poll_result
    assert result.system_content == (
        f"{fake.bot_name}'s poll Où installer le nouveau banc ? has closed."
    )
    assert result.reference is not None
    assert result.reference.message_id == sent.id
    fields = {f.name: f.value for f in result.embeds[0].fields}
    assert (fields["victor_answer_text"], fields["victor_answer_votes"], fields["total_votes"]) == (
        "Parc des Collines",
        "2",
        "3",
    )
    assert fake.polls_in(channel.id)[0].finalized

    with pytest.raises(discord.HTTPException) as again:
        await sent.end_poll()
    assert (again.value.status, again.value.code, again.value.text) == (400, 520001, "Poll expired")
    with pytest.raises(ValueError, match="has ended"):
        vote(user_id=810000000000000077, answer_id=3)
    with pytest.raises(ValueError, match="has ended"):
        fake.unvote_poll(
            channel_id=channel.id,
            message_id=sent.id,
            guild_id=fake.guild_id,
            user_id=CITIZEN,
            answer_id=2,
        )
    assert fake.polls_in(channel.id)[0].counts == {1: 1, 2: 2, 3: 0}

    with pytest.raises(discord.NotFound) as unknown:
        await channel.get_partial_message(sent.id + 1).end_poll()
    assert (unknown.value.status, unknown.value.code) == (404, 10008)
    plain = await channel.send("Pas un sondage")
    with pytest.raises(discord.HTTPException) as not_a_poll:
        await plain.end_poll()
    assert (not_a_poll.value.status, not_a_poll.value.code) == (400, 520006)


async def test_citizens_polls_are_not_the_bots_to_end(fake: FakeDiscord, bot: Bot) -> None:
    general = fake.channel_ids["general"]
    poll_id = fake.post_poll(
        channel="general",
        user_id=CITIZEN,
        question="Fête des voisins en juin ?",
        answers=["Oui", "Non"],
        duration_hours=48,
    )
    seen = await bot.next_from(CITIZEN)
    assert seen.id == poll_id
    assert seen.poll is not None  # the bot has MESSAGE_CONTENT
    assert [a.text for a in seen.poll.answers] == ["Oui", "Non"]
    assert seen.poll.duration == timedelta(hours=48)
    with pytest.raises(discord.Forbidden) as refused:
        await seen.end_poll()
    assert (refused.value.status, refused.value.code) == (403, 50005)

    fake.vote_poll(
        channel_id=general,
        message_id=poll_id,
        user_id=NEIGHBOUR,
        answer_id=1,
        guild_id=fake.guild_id,
    )
    assert (await bot.next_vote())[:3] == ("add", NEIGHBOUR, 1)
    fake.expire_poll(channel_id=general, message_id=poll_id)  # 48 hours later
    closed = await bot.next_from(CITIZEN)
    assert closed.type is discord.MessageType.poll_result
    assert closed.system_content == "citizen's poll Fête des voisins en juin ? has closed."
    refetched = await bot.get_partial_messageable(general).fetch_message(poll_id)
    assert refetched.poll is not None
    assert refetched.poll.is_finalised()
    with pytest.raises(ValueError):
        fake.post_poll(channel="general", user_id=CITIZEN, question="?", answers=[])


async def test_invalid_polls_are_refused_like_discord(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.get_partial_messageable(fake.channel_ids["general"])
    crowded = discord.Poll(question="Quel jour ?", duration=timedelta(hours=24))
    for day in range(11):
        crowded.add_answer(text=f"Jour {day + 1}")
    with pytest.raises(discord.HTTPException) as too_many:
        await channel.send(poll=crowded)
    assert (too_many.value.status, too_many.value.code) == (400, 50035)
    assert (
        too_many.value.text == "Invalid Form Body\nIn poll.answers: Must be 10 or fewer in length."
    )

    wordy = discord.Poll(question="Quel nom pour la place ?", duration=timedelta(hours=24))
    wordy.add_answer(text="x" * 56)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send(poll=wordy)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert "In poll.answers.0.poll_media.text: Must be between 1 and 55" in too_long.value.text

    quick = discord.Poll(question="Vite ?", duration=timedelta(minutes=30))
    quick.add_answer(text="Oui")
    with pytest.raises(discord.HTTPException) as half_an_hour:
        await channel.send(poll=quick)
    assert "In poll.duration" in half_an_hour.value.text

    endless = discord.Poll(question="Pour toujours ?", duration=timedelta(days=33))
    endless.add_answer(text="Oui")
    with pytest.raises(discord.HTTPException) as too_late:
        await channel.send(poll=endless)
    assert "less than or equal to 768" in too_late.value.text
    assert fake.messages == []
    assert fake.polls_in(channel.id) == []

    month = discord.Poll(question="Tout le mois ?", duration=timedelta(days=32))
    month.add_answer(text="Oui")
    assert (await channel.send(poll=month)).poll is not None  # 768 hours is the maximum


async def test_poll_sends_go_through_blocks_permissions_and_rate_limits() -> None:
    fake = FakeDiscord(everyone_permissions=EVERYONE_PERMISSIONS & ~SEND_POLLS)
    bot = Bot()
    async with fake, running_client(bot, fake):
        fake.dm(user_id=CITIZEN, content="bonjour")
        await bot.next_from(CITIZEN)
        dm = await (await bot.fetch_user(CITIZEN)).create_dm()
        general = bot.get_partial_messageable(fake.channel_ids["general"])
        with pytest.raises(discord.Forbidden) as no_polls:
            await general.send(poll=consultation_poll())
        assert (no_polls.value.status, no_polls.value.code) == (403, 50013)
        await general.send("Un simple message passe")  # SEND_POLLS only matters for polls
        assert (await dm.send(poll=consultation_poll())).poll is not None  # DMs: no permissions

        fake.set_roles(
            fake.guild_id, fake.bot_id, [fake.add_role("Sondeur", permissions=SEND_POLLS)]
        )
        fake.fail_next("POST", f"/channels/{general.id}/messages", retry_after=0.1)
        retried = await general.send(poll=consultation_poll())
        assert retried.poll is not None
        assert [s.message_id for s in fake.polls_in(general.id)] == [retried.id]  # one poll

        fake.block_bot(CITIZEN)
        with pytest.raises(discord.Forbidden) as blocked:
            await dm.send(poll=consultation_poll())
        assert (blocked.value.status, blocked.value.code, blocked.value.text) == (
            403,
            50007,
            "Cannot send messages to this user",
        )
        with pytest.raises(discord.Forbidden):
            await dm.send("Et un message ?")
        fake.unblock_bot(CITIZEN)
        await dm.send("De nouveau joignable")
        assert [len(fake.polls_in(dm.id)), len(fake.messages_in(dm.id))] == [1, 2]
