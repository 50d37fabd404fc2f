"""Telegram, end to end through the real python-telegram-bot and a loopback Bot API stand-in."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from bot.app import serve_http
from bot.channels.base import keep_running
from bot.channels.telegram.chat import TelegramChannel
from bot.core.conversation import ConversationCore
from bot.storage.models import (
    Conversation,
    HumanRequest,
    InboundStatus,
    InboundUpdate,
    Message,
    OutboxMessage,
    OutboxStatus,
)
from tests.support.dialogue import FakeDialogue
from tests.support.fake_telegram import FakeTelegram
from tests.support.telegram import channel_for, running
from tests.support.waiting import until

CITIZEN = 1001
GROUP = -100200300


class World:
    def __init__(self, fake: FakeTelegram, channel: TelegramChannel, database: Engine) -> None:
        self.fake = fake
        self.channel = channel
        self.database = database

    async def settled(self) -> None:
        async with asyncio.timeout(15):
            await asyncio.sleep(0.1)
            await self.channel.intake.drained()
            await self.channel.outbox.drained()

    def stored(self) -> list[Message]:
        with Session(self.database) as session:
            return list(session.exec(select(Message).order_by(Message.id)))


@pytest.fixture
async def world(database: Engine, core: ConversationCore) -> AsyncIterator[World]:
    async with FakeTelegram() as fake:
        channel = channel_for(fake, database, core)
        async with running(channel):
            yield World(fake, channel, database)


async def test_a_private_conversation_in_french(world: World) -> None:
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Est-ce que ça fera du bruit?")
    (reply,) = await world.fake.wait_for_sent(1)
    assert reply.chat_id == CITIZEN
    assert reply.entities_text == "echo[fr]: Est-ce que ça fera du bruit?"
    assert reply.parse_mode == "HTML"
    await world.settled()
    with Session(world.database) as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.external_id == str(CITIZEN)  # needed in clear to answer
    assert str(CITIZEN) not in conversation.citizen_id  # pseudonymised


async def test_a_private_conversation_in_english(world: World) -> None:
    world.fake.send_text(
        chat_id=CITIZEN, user_id=CITIZEN, text="Will the trucks use my road during the works?"
    )
    (reply,) = await world.fake.wait_for_sent(1)
    assert reply.entities_text.startswith("echo[en]:")


async def test_text_is_escaped_for_html(world: World, fake_dialogue: FakeDialogue) -> None:
    fake_dialogue.answer = lambda text, metadata: ["Bruit < 40 dB & vibrations <b>faibles</b>"]
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Quel niveau de bruit?")
    (reply,) = await world.fake.wait_for_sent(1)
    assert reply.entities_text == "Bruit < 40 dB & vibrations <b>faibles</b>"


async def test_long_answers_are_cut_at_sentences_in_order(
    world: World, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.answer = lambda text, metadata: ["Une phrase de l'étude d'impact. " * 300]
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Résumez l'étude d'impact")
    replies = await world.fake.wait_for_sent(3)
    await world.settled()
    assert len(world.fake.sent) == 3
    assert all(r.entities_text.endswith(".") for r in replies)
    assert (
        " ".join(r.entities_text for r in replies)
        == ("Une phrase de l'étude d'impact. " * 300).strip()
    )


async def test_start_says_it_is_a_bot_and_offers_the_languages(world: World) -> None:
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="/start", language_code="en")
    intro, choice = await world.fake.wait_for_sent(2)
    assert "automated assistant" in intro.entities_text
    assert "a bot, not a person" in intro.entities_text
    buttons = [b["callback_data"] for row in choice.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert buttons == ["language:fr", "language:en"]
    world.fake.press_button(
        chat_id=CITIZEN, user_id=CITIZEN, message_id=choice.message_id, data="language:fr"
    )
    confirmation = (await world.fake.wait_for_sent(3))[2]
    assert confirmation.entities_text.startswith("D'accord")
    assert world.fake.callback_answers
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="ok")
    assert (await world.fake.wait_for_sent(4))[3].entities_text.startswith("echo[fr]")


async def test_commands_are_registered_in_each_language(world: World) -> None:
    by_language = {language: commands for (_, language), commands in world.fake.commands.items()}
    assert set(by_language) == {None, "fr", "en"}
    assert [c["command"] for c in by_language["en"]] == [
        "start",
        "help",
        "language",
        "subscribe",
        "unsubscribe",
        "vote",
        "volunteer",
        "forget",
    ]
    assert by_language["en"][1]["description"] == "What the assistant can do"
    assert by_language["fr"][1]["description"] == "Ce que l'assistant sait faire"


async def test_help_and_language_commands(world: World) -> None:
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="/help")
    (help_text,) = await world.fake.wait_for_sent(1)
    assert "/language" in help_text.entities_text
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="/language en")
    assert (await world.fake.wait_for_sent(2))[1].entities_text.startswith("All right")


async def test_in_a_group_only_messages_for_the_assistant_are_answered(world: World) -> None:
    world.fake.send_text(
        chat_id=GROUP, user_id=CITIZEN, chat_type="supergroup", text="Salut tout le monde"
    )
    world.fake.send_text(
        chat_id=GROUP, user_id=CITIZEN, chat_type="supergroup", text="/help@other_bot"
    )
    world.fake.send_text(
        chat_id=GROUP,
        user_id=CITIZEN,
        chat_type="supergroup",
        text="Le chantier commence quand?",
        mention_bot=True,
    )
    (reply,) = await world.fake.wait_for_sent(1)
    assert reply.entities_text == "echo[fr]: Le chantier commence quand?"
    assert reply.reply_to_message_id is not None
    await world.settled()
    assert next(m.text for m in world.stored()) == "Le chantier commence quand?"
    assert len(world.stored()) == 2  # the chatter and the other bot's command were not kept
    world.fake.send_text(
        chat_id=GROUP,
        user_id=CITIZEN,
        chat_type="supergroup",
        text="Et ça finit quand?",
        reply_to_bot=True,
    )
    world.fake.send_text(
        chat_id=GROUP, user_id=CITIZEN, chat_type="supergroup", text="/help@trois_collines_bot"
    )
    replies = await world.fake.wait_for_sent(3)
    assert replies[1].entities_text == "echo[fr]: Et ça finit quand?"
    assert "/language" in replies[2].entities_text


async def test_a_concern_in_a_group_is_not_repeated_and_continues_in_private(
    world: World, fake_dialogue: FakeDialogue, core: ConversationCore
) -> None:
    from tests.core.test_conversation_platforms import records_a_concern

    records_a_concern(fake_dialogue, core)
    world.fake.send_text(
        chat_id=GROUP,
        user_id=CITIZEN,
        chat_type="group",
        text="Mon puits est à sec depuis le dynamitage",
        mention_bot=True,
    )
    (reply,) = await world.fake.wait_for_sent(1)
    assert "C-2026-0001" in reply.entities_text
    assert "puits" not in reply.entities_text
    assert "https://t.me/trois_collines_bot?start=private" in reply.entities_text


async def test_media_get_a_polite_answer_and_are_kept_with_their_metadata(world: World) -> None:
    for kind in ("photo", "voice", "location"):
        world.fake.send_media(chat_id=CITIZEN, user_id=CITIZEN, kind=kind, language_code="en")
    world.fake.send_media(chat_id=CITIZEN, user_id=CITIZEN, kind="sticker")
    replies = await world.fake.wait_for_sent(4)
    assert "cannot read your photo" in replies[0].entities_text
    assert "cannot read your voice message" in replies[1].entities_text
    assert "cannot read your location" in replies[2].entities_text
    assert "only understand text" in replies[3].entities_text
    await world.settled()
    incoming = [m for m in world.stored() if m.direction == "in"]
    assert [a["kind"] for m in incoming for a in m.attachments or []] == [
        "photo",
        "voice",
        "location",
        "sticker",
    ]
    assert incoming[0].attachments
    assert incoming[0].attachments[0]["file_id"]
    assert incoming[2].attachments
    assert "latitude" in incoming[2].attachments[0]
    with Session(world.database) as session:
        assert len(session.exec(select(HumanRequest)).all()) == 1  # one open request per thread


async def test_an_edited_question_is_answered_again(world: World) -> None:
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Ou sont les éolienes?")
    await world.fake.wait_for_sent(1)
    world.fake.edit_text(
        chat_id=CITIZEN,
        message_id=world.fake.last_citizen_message_id(CITIZEN),
        text="Où sont les éoliennes?",
    )
    assert (await world.fake.wait_for_sent(2))[
        1
    ].entities_text == "echo[fr]: Où sont les éoliennes?"


async def test_a_429_is_waited_out_and_nothing_is_dropped_or_reordered(world: World) -> None:
    world.fake.fail_next("sendMessage", status=429, retry_after=1)
    for text in ("Première question?", "Deuxième question?"):
        world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text=text)
    replies = await world.fake.wait_for_sent(2)
    assert [r.entities_text for r in replies] == [
        "echo[fr]: Première question?",
        "echo[fr]: Deuxième question?",
    ]
    await world.settled()
    assert len(world.fake.sent) == 2


async def test_telegram_rate_limits_are_respected(world: World) -> None:
    world.fake.enforce_rate_limits = True
    for n in range(4):
        world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text=f"Question numéro {n}?")
    replies = await world.fake.wait_for_sent(4, timeout=20)
    assert [r.entities_text for r in replies] == [
        f"echo[fr]: Question numéro {n}?" for n in range(4)
    ]
    assert world.fake.rate_limited == []  # our outbox kept under the limit: no 429 needed


async def test_a_blocked_citizen_leaves_the_message_failed_for_a_person(world: World) -> None:
    world.fake.block_chat(CITIZEN)
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Bonjour")
    await until(
        lambda: any(m.get("chat_id") == CITIZEN for m in world.fake.calls_of("sendMessage"))
    )
    await world.settled()
    with Session(world.database) as session:
        row = session.exec(select(OutboxMessage)).one()
    assert row.status == OutboxStatus.FAILED
    assert "blocked" in (row.last_error or "")


async def test_no_update_is_lost_or_answered_twice_across_a_crash(
    database: Engine, core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    async with FakeTelegram() as fake:
        # First run: the dialogue hangs, then the process "crashes" (its tasks are cancelled).
        stuck = asyncio.Event()
        original = fake_dialogue.respond

        async def hanging_respond(**kwargs: Any) -> Any:
            await stuck.wait()
            return await original(**kwargs)

        fake_dialogue.respond = hanging_respond  # type: ignore[method-assign]
        first = channel_for(fake, database, core)
        async with running(first):
            for n in range(3):
                fake.send_text(chat_id=CITIZEN + n, user_id=CITIZEN + n, text=f"Question {n}?")
            await until(lambda: not fake.pending_update_ids(), timeout=10)  # all confirmed
        assert fake.sent == []
        with Session(database) as session:
            stored = session.exec(select(InboundUpdate)).all()
        assert len(stored) == 3  # stored before Telegram was told it could forget them
        assert {row.status for row in stored} == {InboundStatus.PENDING}

        # Second run: everything stored is answered, once.
        fake_dialogue.respond = original  # type: ignore[method-assign]
        second = channel_for(fake, database, core)
        async with running(second):
            await fake.wait_for_sent(3)
            await asyncio.sleep(0.3)
            await second.intake.drained()
            await second.outbox.drained()
        assert sorted(r.entities_text for r in fake.sent) == [
            f"echo[fr]: Question {n}?" for n in range(3)
        ]


async def test_a_redelivered_update_is_answered_once_and_its_raw_data_dropped(
    world: World,
) -> None:
    update = {
        "update_id": 777,
        "message": {
            "message_id": 1,
            "date": 1_790_000_000,
            "chat": {"id": CITIZEN, "type": "private", "first_name": "Marie"},
            "from": {"id": CITIZEN, "is_bot": False, "first_name": "Marie"},
            "text": "Bonjour!",
        },
    }
    assert world.channel.accept(update)
    await world.fake.wait_for_sent(1)
    await world.settled()
    assert not world.channel.accept(update)  # Telegram sends it again after a crash
    await world.settled()
    assert len(world.fake.sent) == 1
    with Session(world.database) as session:
        stored = session.exec(select(InboundUpdate)).one()
    assert stored.status == InboundStatus.DONE
    assert stored.payload == {}  # names and platform ids are not kept once handled
    # The chat id (a private chat's is the citizen's, needed to answer), then a pseudonym.
    assert (stored.conversation_key or "").split(":")[1].startswith("tg-")


async def test_webhook_mode_stores_before_answering_and_checks_the_secret(
    database: Engine, core: ConversationCore
) -> None:
    from fastapi import FastAPI

    async with FakeTelegram() as fake:
        app = FastAPI()
        server, task, port = await serve_http(app, "127.0.0.1", 0)
        try:
            channel = channel_for(
                fake,
                database,
                core,
                webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
                webhook_secret="s3cret-webhook_token",
            )
            app.include_router(channel.webhook_router())
            async with running(channel):
                await until(lambda: bool(fake.calls_of("setWebhook")))
                assert fake.calls_of("setWebhook")[0]["secret_token"] == "s3cret-webhook_token"
                fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Où trouver l'étude?")
                (reply,) = await fake.wait_for_sent(1)
                assert reply.entities_text == "echo[fr]: Où trouver l'étude?"
                async with httpx.AsyncClient() as client:
                    forged = await client.post(
                        f"http://127.0.0.1:{port}/telegram/webhook",
                        json={"update_id": 1, "message": {}},
                        headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                    )
                assert forged.status_code == 403
                assert fake.webhook_deliveries[0][1] == 200
        finally:
            server.should_exit = True
            await task
    with Session(database) as session:
        assert len(session.exec(select(InboundUpdate)).all()) == 1


async def test_a_rejected_token_stops_telegram_alone_with_one_sentence(
    database: Engine, core: ConversationCore
) -> None:
    async with FakeTelegram() as fake:
        channel = channel_for(fake, database, core, token="999:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        async with asyncio.timeout(10):
            await keep_running(channel)
    assert channel.status.state == "stopped"
    assert "TELEGRAM_TOKEN" in channel.status.detail
    assert "AAAAAAAA" not in channel.status.detail


async def test_an_unreachable_telegram_is_retried(database: Engine, core: ConversationCore) -> None:
    async with FakeTelegram() as fake:
        pass  # stopped: its port refuses connections
    channel = channel_for(fake, database, core)
    task = asyncio.create_task(keep_running(channel, retry_base=0.01))
    await until(lambda: channel.status.state == "retrying")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert "cannot be reached" in channel.status.detail


async def test_a_message_that_cannot_be_handled_is_kept_and_the_citizen_told(
    world: World, core: ConversationCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(message: Any) -> Any:
        raise RuntimeError("a bug in the core")

    monkeypatch.setattr(core, "handle", broken)
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Bonjour, une question")
    (reply,) = await world.fake.wait_for_sent(1, timeout=20)
    assert "une personne de l'équipe du projet y donnera suite" in reply.entities_text
    await world.settled()
    with Session(world.database) as session:
        update = session.exec(select(InboundUpdate)).one()
        request = session.exec(select(HumanRequest)).one()
        message = session.exec(select(Message).where(Message.direction == "in")).one()
    assert update.status == InboundStatus.FAILED
    assert "a bug in the core" in (update.last_error or "")
    assert request.reason == "handling_failed"
    assert message.text == "Bonjour, une question"


async def test_two_quick_edits_are_each_answered_once(world: World) -> None:
    world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Ou est le parc?")
    await world.fake.wait_for_sent(1)
    asked = world.fake.last_citizen_message_id(CITIZEN)
    world.fake.edit_text(chat_id=CITIZEN, message_id=asked, text="Où est le parc?")
    world.fake.edit_text(chat_id=CITIZEN, message_id=asked, text="Où est le parc éolien?")
    replies = await world.fake.wait_for_sent(3)
    await world.settled()
    assert [r.entities_text for r in replies] == [
        "echo[fr]: Ou est le parc?",
        "echo[fr]: Où est le parc?",
        "echo[fr]: Où est le parc éolien?",
    ]
    assert len(world.fake.sent) == 3


async def test_a_message_costs_a_few_database_transactions(world: World) -> None:
    """The path of one private message, from the Bot API to the reply sent: stored, the turn
    (conversation, message, replies), handled, sent. Rows just written are not read again,
    and the channel does not look up the conversation the core already had (the architecture
    issue measured 15 transactions for it; then 8, not counting the queues' own polling; 9 since
    a message may answer a consultation or an offer to join the engaged members, which is read
    in one more)."""
    await world.settled()
    begun: list[str] = []

    def on_begin(*_: object) -> None:
        frames = [f.name for f in traceback.extract_stack() if "/bot/" in f.filename]
        begun.append(frames[-1] if frames else "?")

    event.listen(Session, "after_begin", on_begin)
    try:
        world.fake.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Est-ce que ça fera du bruit?")
        await world.fake.wait_for_sent(1)
        await world.settled()
    finally:
        event.remove(Session, "after_begin", on_begin)
    own = [name for name in begun if name not in ("pending_updates", "pending_outbox")]
    print(f"{len(own)} transactions: {', '.join(own)}")
    assert len(own) <= 9, own
