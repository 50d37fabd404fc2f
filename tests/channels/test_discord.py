"""Discord, end to end through the real discord.py client and a loopback Discord stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.channels.base import keep_running
from bot.channels.discord.chat import DiscordChannel
from bot.channels.identity import Pseudonyms
from bot.core.conversation import ConversationCore
from bot.storage.models import Conversation, InboundUpdate, Message
from tests.support.dialogue import FakeDialogue
from tests.support.fake_discord import FakeDiscord, pointed_at
from tests.support.waiting import until

CITIZEN = 810000000000000001
NEIGHBOUR = 810000000000000002


class World:
    def __init__(self, fake: FakeDiscord, channel: DiscordChannel, database: Engine) -> None:
        self.fake = fake
        self.channel = channel
        self.database = database

    async def settled(self) -> None:
        async with asyncio.timeout(15):
            await asyncio.sleep(0.05)
            await self.channel.intake.drained()
            await self.channel.outbox.drained()

    def stored_texts(self) -> list[str]:
        with Session(self.database) as session:
            return [m.text for m in session.exec(select(Message).order_by(Message.id))]


@pytest.fixture
async def world(database: Engine, core: ConversationCore) -> AsyncIterator[World]:
    async with FakeDiscord() as fake:
        with pointed_at(fake):
            channel = DiscordChannel(
                token=fake.token,
                core=core,
                engine=database,
                pseudonyms=Pseudonyms(b"discord-test-key-0123"),
                channels=[fake.channel_ids["parc-eolien"]],
                guild_ready_timeout=0.1,
            )
            task = asyncio.create_task(keep_running(channel, retry_base=0.01))
            await until(lambda: channel.sessions >= 1, "the channel is ready")
            try:
                yield World(fake, channel, database)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def test_a_direct_message_is_answered_in_french_without_pings(world: World) -> None:
    world.fake.dm(user_id=CITIZEN, content="Est-ce que les éoliennes feront du bruit la nuit?")
    (reply,) = await world.fake.wait_for_messages(1)
    assert reply.channel_id == world.fake.dm_channel_id(CITIZEN)
    assert reply.content == "echo[fr]: Est-ce que les éoliennes feront du bruit la nuit?"
    assert reply.allowed_mentions is not None
    assert reply.allowed_mentions["parse"] == []
    assert reply.nonce
    assert reply.enforce_nonce
    await world.settled()
    with Session(world.database) as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.place == "private"
    assert str(CITIZEN) not in conversation.citizen_id  # pseudonymised


async def test_a_direct_message_in_english_is_answered_in_english(world: World) -> None:
    world.fake.dm(user_id=CITIZEN, content="When will the construction work start on the site?")
    (reply,) = await world.fake.wait_for_messages(1)
    assert reply.content.startswith("echo[en]:")


async def test_citizen_text_can_never_ping_anyone(world: World) -> None:
    world.fake.dm(user_id=CITIZEN, content="@everyone venez voir <@810000000000000002>")
    (reply,) = await world.fake.wait_for_messages(1)
    assert "@everyone" in reply.content
    assert not reply.mention_everyone
    assert reply.mentioned_user_ids == []


async def test_guild_chatter_not_for_the_assistant_is_neither_answered_nor_kept(
    world: World,
) -> None:
    world.fake.post(channel="general", user_id=CITIZEN, content="Quelqu'un va au souper?")
    await asyncio.sleep(0.3)
    await world.settled()
    assert world.fake.messages == []
    assert world.stored_texts() == []


async def test_a_mention_opens_a_thread_and_the_thread_goes_on_without_mentions(
    world: World, fake_dialogue: FakeDialogue
) -> None:
    asked = world.fake.post(
        channel="general", user_id=CITIZEN, content="Où sera le poste électrique?", mention_bot=True
    )
    (first,) = await world.fake.wait_for_messages(1)
    (thread,) = world.fake.threads
    assert int(thread["id"]) == asked  # a thread started on the citizen's message
    assert first.channel_id == asked
    assert first.content == "echo[fr]: Où sera le poste électrique?"  # the mention is removed
    world.fake.post(channel=asked, user_id=CITIZEN, content="Et à quelle distance des maisons?")
    second = (await world.fake.wait_for_messages(2))[1]
    assert second.channel_id == asked
    await world.settled()
    with Session(world.database) as session:
        conversations = session.exec(select(Conversation)).all()
    assert len(conversations) == 1  # the channel and its thread: one conversation
    assert conversations[0].place == "group"


async def test_a_configured_channel_is_answered_without_a_mention(world: World) -> None:
    world.fake.post(channel="parc-eolien", user_id=CITIZEN, content="Combien d'éoliennes?")
    (reply,) = await world.fake.wait_for_messages(1)
    assert reply.content == "echo[fr]: Combien d'éoliennes?"


async def test_a_concern_in_a_guild_is_not_repeated_there(
    world: World, fake_dialogue: FakeDialogue, core: ConversationCore
) -> None:
    from tests.core.test_conversation_platforms import records_a_concern

    records_a_concern(fake_dialogue, core)
    world.fake.post(
        channel="parc-eolien",
        user_id=CITIZEN,
        content="Mon puits est contaminé depuis les travaux",
    )
    (reply,) = await world.fake.wait_for_messages(1)
    assert "C-2026-0001" in reply.content
    assert "puits" not in reply.content
    assert "https://discord.com/users/" in reply.content


async def test_long_answers_are_cut_at_2000_characters_in_order(
    world: World, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.answer = lambda text, metadata: ["Une phrase du document. " * 200]
    world.fake.dm(user_id=CITIZEN, content="Parlez-moi de l'étude d'impact")
    replies = await world.fake.wait_for_messages(3)
    await world.settled()
    assert len(world.fake.messages) == 3
    assert all(len(r.content) <= 2000 for r in replies)
    assert " ".join(r.content for r in replies) == ("Une phrase du document. " * 200).strip()


async def test_slash_commands_are_registered_in_both_languages(world: World) -> None:
    commands = {c["name"]: c for c in world.fake.commands[None]}
    assert set(commands) == {
        "start",
        "help",
        "language",
        "subscribe",
        "unsubscribe",
        "vote",
        "volunteer",
        "forget",
    }
    assert commands["help"]["description"] == "What the assistant can do"
    assert commands["help"]["description_localizations"]["fr"] == "Ce que l'assistant sait faire"
    assert commands["language"]["options"][0]["name"] == "language"


async def test_slash_help_answers_only_the_citizen_in_a_guild(world: World) -> None:
    world.fake.slash(name="help", user_id=CITIZEN, channel="general", locale="fr")
    (response,) = await world.fake.wait_for_interaction_responses(1)
    assert "/language" in response["data"]["content"]
    assert response["data"]["flags"] & 64  # ephemeral


async def test_slash_language_switches_the_conversation(
    world: World, fake_dialogue: FakeDialogue
) -> None:
    world.fake.slash(name="language", user_id=CITIZEN, options={"language": "en"})
    (response,) = await world.fake.wait_for_interaction_responses(1)
    assert response["data"]["content"].startswith("All right")
    world.fake.dm(user_id=CITIZEN, content="ok")
    (reply,) = await world.fake.wait_for_messages(1)
    assert reply.content.startswith("echo[en]")


async def test_an_edited_direct_message_is_answered_again(world: World) -> None:
    asked = world.fake.dm(user_id=CITIZEN, content="Quand comence le chantier?")
    await world.fake.wait_for_messages(1)
    world.fake.edit(
        channel_id=world.fake.dm_channel_id(CITIZEN),
        message_id=asked,
        content="Quand commence le chantier?",
    )
    second = (await world.fake.wait_for_messages(2))[1]
    assert second.content == "echo[fr]: Quand commence le chantier?"


async def test_a_rate_limited_send_is_retried_and_posted_once(world: World) -> None:
    world.fake.fail_next("POST", "/channels/", status=429, retry_after=0.3)
    world.fake.dm(user_id=CITIZEN, content="Y aura-t-il des emplois locaux?")
    await world.fake.wait_for_messages(1)
    await world.settled()
    await asyncio.sleep(0.5)
    assert len(world.fake.messages) == 1


async def test_a_dropped_connection_resumes_and_nothing_is_missed(world: World) -> None:
    await world.fake.drop_connection()
    world.fake.dm(user_id=CITIZEN, content="Message envoyé pendant la coupure")
    (reply,) = await world.fake.wait_for_messages(1, timeout=20)
    assert reply.content == "echo[fr]: Message envoyé pendant la coupure"
    await until(lambda: world.fake.resumes >= 1, "a RESUME")
    assert world.fake.identifies == 1


async def test_a_gap_that_cannot_be_resumed_is_read_back(world: World) -> None:
    world.fake.dm(user_id=CITIZEN, content="Premier message")
    await world.fake.wait_for_messages(1)
    world.fake.invalidate_sessions()
    await world.fake.drop_connection()
    world.fake.dm(user_id=CITIZEN, content="Écrit pendant la coupure")
    replies = await world.fake.wait_for_messages(2, timeout=30)
    assert replies[1].content == "echo[fr]: Écrit pendant la coupure"
    assert world.fake.identifies == 2
    await world.settled()
    with Session(world.database) as session:
        assert len(session.exec(select(InboundUpdate)).all()) == 2


async def test_a_rejected_token_stops_discord_alone_with_one_sentence(
    database: Engine, core: ConversationCore
) -> None:
    async with FakeDiscord() as fake:
        with pointed_at(fake):
            channel = DiscordChannel(
                token="not.the.right-token",
                core=core,
                engine=database,
                pseudonyms=Pseudonyms(b"discord-test-key-0123"),
            )
            async with asyncio.timeout(10):
                await keep_running(channel)
    assert channel.status.state == "stopped"
    assert "DISCORD_TOKEN" in channel.status.detail
    assert "not.the.right-token" not in channel.status.detail


async def test_an_unreachable_discord_is_retried(database: Engine, core: ConversationCore) -> None:
    async with FakeDiscord() as fake:
        pass  # started and stopped: its port now refuses connections
    with pointed_at(fake):
        channel = DiscordChannel(
            token=fake.token,
            core=core,
            engine=database,
            pseudonyms=Pseudonyms(b"discord-test-key-0123"),
        )
        task = asyncio.create_task(keep_running(channel, retry_base=0.01))
        await until(lambda: channel.status.state == "retrying", "a retry")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "cannot be reached" in channel.status.detail


async def test_without_the_message_content_intent_discord_stops_and_says_what_to_enable(
    database: Engine, core: ConversationCore
) -> None:
    async with FakeDiscord(enabled_privileged_intents=0) as fake:
        with pointed_at(fake):
            channel = DiscordChannel(
                token=fake.token,
                core=core,
                engine=database,
                pseudonyms=Pseudonyms(b"discord-test-key-0123"),
                guild_ready_timeout=0.1,
            )
            async with asyncio.timeout(15):
                await keep_running(channel)
    assert channel.status.state == "stopped"
    assert "Message Content intent" in channel.status.detail
