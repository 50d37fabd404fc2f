"""Listening in community groups, through the real python-telegram-bot and discord.py and the
stand-ins of Telegram and Discord: what is heard and kept, what leaves no trace, the pinned
notice, opting out and in, and messages addressed to the assistant."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from bot.channels.base import keep_running
from bot.channels.discord.chat import DiscordChannel
from bot.channels.discord.listening import DiscordListening
from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.channels.telegram.listening import TelegramListening
from bot.common.language import LanguageDetector
from bot.common.matching import Matcher
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.listening import cli as listen_cli
from bot.listening.groups import Listener, listener_for
from bot.listening.phrases import NoticeFacts
from bot.listening.reading import Reading
from bot.settings import load_settings
from bot.storage.models import (
    HeardMessage,
    InboundUpdate,
    ListeningGroup,
    ListeningOptOut,
    Message,
)
from tests.support.fake_discord import PIN_MESSAGES, FakeDiscord, pointed_at
from tests.support.fake_telegram import FakeTelegram, SentMessage
from tests.support.waiting import until

KEYWORDS = ["éolien", "éoliennes", "Trois-Collines", "wind farm", "turbines", "dynamitage"]
HASHTAGS = ["#TroisCollines", "#ParcÉolien"]

GROUP = -1001000000042  # "Voisins de Saint-Aubin", a supergroup
OTHER_GROUP = -1001000000043
ALICE, BOB, CAROL = 5001, 5002, 5003

CITIZEN = 810000000000000001
NEIGHBOUR = 810000000000000002

TELEGRAM_KEY = b"telegram-test-key-012"
DISCORD_KEY = b"discord-test-key-0123"


class ScriptedReader:
    """Reads like the model would, by rules the tests can predict; fails on demand."""

    def __init__(self) -> None:
        self.failing = False
        self.threads: list[str] = []

    def read(
        self,
        text: str,
        language: str | None,
        *,
        intent: str | None = None,
        category: str | None = None,
    ) -> Reading:
        self.threads.append(threading.current_thread().name)
        if self.failing:
            raise RuntimeError(f"the model could not read {text!r}")
        lowered = text.lower()
        if "bruit" in lowered or "noise" in lowered:
            return Reading("negative", -0.82, ("noise",))
        if "emplois" in lowered or "jobs" in lowered:
            return Reading("positive", 0.64, ("jobs",))
        return Reading("neutral", 0.05, ())

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.zeros((len(texts), 4), dtype=np.float32)


@pytest.fixture
def reader() -> ScriptedReader:
    return ScriptedReader()


@pytest.fixture
def listener(
    database: Engine, reader: ScriptedReader, detector: LanguageDetector, knowledge: KnowledgeBase
) -> Iterator[Listener]:
    found = Listener(
        engine=database,
        matcher=Matcher(KEYWORDS, HASHTAGS),
        reader=reader,
        detector=detector,
        notice=NoticeFacts(
            project=dict(knowledge.name),
            contact=(knowledge.contact.email, knowledge.contact.phone),
        ),
    )
    yield found
    found.close()


@pytest.fixture
def written(database: Engine) -> Iterator[list[str]]:
    """Every statement and its parameters sent to the database during the test."""
    seen: list[str] = []

    def capture(*args: Any) -> None:
        _connection, _cursor, statement, parameters = args[:4]
        seen.append(f"{statement} {parameters!r}")

    event.listen(database, "before_cursor_execute", capture)
    yield seen
    event.remove(database, "before_cursor_execute", capture)


def heard(database: Engine) -> list[HeardMessage]:
    """What is kept, in the order it was written (platform message ids grow with time)."""
    with Session(database) as session:
        rows = list(session.exec(select(HeardMessage)))
    return sorted(rows, key=lambda h: (h.created_at, h.group_id, int(h.external_id)))


def groups(database: Engine) -> dict[str, ListeningGroup]:
    with Session(database) as session:
        return {g.group_key: g for g in session.exec(select(ListeningGroup))}


# --- Telegram ---------------------------------------------------------------------------------


class TelegramGroups:
    """The assistant listening in two Telegram supergroups where it is an administrator."""

    def __init__(
        self, fake: FakeTelegram, database: Engine, core: ConversationCore, listener: Listener
    ) -> None:
        self.fake = fake
        self.database = database
        self.core = core
        self.listener = listener
        self.channel: TelegramChannel | None = None
        self.listening: TelegramListening | None = None
        self._task: asyncio.Task[None] | None = None
        self.pseudonyms = Pseudonyms(TELEGRAM_KEY)

    async def start(self, chats: Sequence[int] = (GROUP, OTHER_GROUP)) -> None:
        self.listening = TelegramListening(listener=self.listener, chats=chats, recheck_every=0.05)
        self.channel = TelegramChannel(
            token=self.fake.token,
            core=self.core,
            engine=self.database,
            pseudonyms=self.pseudonyms,
            base_url=self.fake.base_url,
            poll_timeout=1,
            retry_base=0.01,
            listening=self.listening,
        )
        self._task = asyncio.create_task(keep_running(self.channel, retry_base=0.01))
        listening = self.listening
        await until(lambda: listening.checks >= 2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def restart(self, chats: Sequence[int] = (GROUP, OTHER_GROUP)) -> None:
        await self.stop()
        await self.start(chats)

    async def settled(self) -> None:
        assert self.channel is not None
        async with asyncio.timeout(15):
            await asyncio.sleep(0.1)
            await self.channel.intake.drained()
            await self.channel.outbox.drained()

    def say(self, user_id: int, text: str, *, chat: int = GROUP, **extra: Any) -> int:
        """A member writes in a group; returns the message id."""
        self.fake.send_text(
            chat_id=chat, user_id=user_id, chat_type="supergroup", text=text, **extra
        )
        return self.fake.last_citizen_message_id(chat)

    def notices(self) -> list[SentMessage]:
        return [m for m in self.fake.sent if m.entities_text.startswith("🤖")]

    def answers(self) -> list[SentMessage]:
        """What the bot sent that is not a notice."""
        return [m for m in self.fake.sent if not m.entities_text.startswith("🤖")]

    def member(self, user_id: int) -> str:
        return self.pseudonyms.of("tg", user_id)


@pytest.fixture
async def telegram(
    database: Engine, core: ConversationCore, listener: Listener
) -> AsyncIterator[TelegramGroups]:
    async with FakeTelegram() as fake:
        fake.privacy_mode = False  # turned off with BotFather, as the README says
        fake.enforce_privacy_mode = True
        for chat in (GROUP, OTHER_GROUP):
            fake.set_bot_rights(chat, can_pin_messages=True)
        world = TelegramGroups(fake, database, core, listener)
        await world.start()
        try:
            yield world
        finally:
            await world.stop()


async def test_messages_that_mention_the_project_are_heard_and_not_answered(
    telegram: TelegramGroups, written: list[str]
) -> None:
    telegram.say(ALICE, "Les ÉOLIENNES font trop de bruit la nuit, on dort mal", language_code="fr")
    telegram.say(BOB, "The wind farm will bring jobs to #TroisCollines", language_code="en")
    telegram.say(CAROL, "Qui vient au souper samedi?")
    await telegram.settled()

    alice, bob = heard(telegram.database)
    assert alice.text == "Les ÉOLIENNES font trop de bruit la nuit, on dort mal"
    assert (alice.keywords, alice.language) == (["éoliennes"], "fr")
    assert (alice.sentiment, alice.sentiment_score, alice.topics) == ("negative", -0.82, ["noise"])
    assert (bob.keywords, bob.language) == (
        ["wind farm", "#TroisCollines", "Trois-Collines"],  # the hashtag names it too
        "en",
    )
    assert (bob.sentiment, bob.topics) == ("positive", ["jobs"])
    assert alice.member == telegram.member(ALICE)  # a pseudonym, the same as in conversations
    assert str(ALICE) not in alice.member
    assert alice.member != bob.member
    assert groups(telegram.database)[str(GROUP)].title == "Group 1001000000042"

    assert telegram.answers() == []  # nothing said in the group
    with Session(telegram.database) as session:
        assert session.exec(select(Message)).all() == []  # not conversations
        assert [u.payload for u in session.exec(select(InboundUpdate))] == [{}, {}, {}]
    assert any("on dort mal" in statement for statement in written)
    assert not any("souper" in statement for statement in written)  # never written, anywhere


async def test_accents_case_plurals_and_hashtags_written_any_way_are_heard(
    telegram: TelegramGroups,
) -> None:
    telegram.say(ALICE, "une eolienne de plus sur le rang")
    telegram.say(BOB, "#parc_eolien, vraiment?")
    telegram.say(CAROL, "TROIS COLLINES en parle ce matin")
    telegram.say(ALICE, "Les éolienneries du voisin")  # another word: not heard
    telegram.say(BOB, "Dynamitages à #TroisCollines", chat=OTHER_GROUP)
    telegram.fake.push_update(  # another bot of the group: never heard
        {
            "message": {
                "message_id": 900,
                "from": {"id": 777, "is_bot": True, "first_name": "Météo", "username": "meteo_bot"},
                "chat": {"id": GROUP, "type": "supergroup", "title": "Voisins"},
                "date": 1_790_000_000,
                "text": "Vents forts près des éoliennes demain",
            }
        }
    )
    await telegram.settled()
    assert [(h.group_id, h.keywords) for h in heard(telegram.database)] == [
        (groups(telegram.database)[str(GROUP)].id, ["éoliennes"]),
        (groups(telegram.database)[str(GROUP)].id, ["#ParcÉolien", "éolien"]),
        (groups(telegram.database)[str(GROUP)].id, ["Trois-Collines"]),
        (
            groups(telegram.database)[str(OTHER_GROUP)].id,
            ["dynamitage", "#TroisCollines", "Trois-Collines"],
        ),
    ]


async def test_the_notice_is_posted_once_pinned_silently_and_not_again_after_a_restart(
    telegram: TelegramGroups,
) -> None:
    first, second = telegram.notices()
    assert {first.chat_id, second.chat_id} == {GROUP, OTHER_GROUP}
    text = first.entities_text
    for expected in (
        "l'assistant automatisé du projet Parc éolien des Trois-Collines écoute ce groupe",
        "the automated assistant of the Trois-Collines Wind Farm project listens to this group",
        "sans votre nom ni votre compte",
        "/optout",
        "/optin",
        "@trois_collines_bot",
        "info@trois-collines.example.org",
        "1-555-010-2025",
    ):
        assert expected in text
    pins = telegram.fake.calls_of("pinChatMessage")
    assert [(p["chat_id"], p["message_id"], p["disable_notification"]) for p in pins] == [
        (first.chat_id, first.message_id, True),
        (second.chat_id, second.message_id, True),
    ]
    assert telegram.fake.pins[GROUP] == [
        first.message_id if first.chat_id == GROUP else second.message_id
    ]
    group = groups(telegram.database)[str(GROUP)]
    assert group.notice_message_id is not None
    assert group.notice_pinned_at is not None
    assert group.notice_language == "fr,en"
    menus = [
        [c["command"] for c in call["commands"]]
        for call in telegram.fake.calls_of("setMyCommands")
        if (call.get("scope") or {}).get("chat_id") == GROUP
    ]
    assert menus
    assert all("optout" in menu and "optin" in menu and "help" in menu for menu in menus)

    await telegram.restart()
    assert len(telegram.notices()) == 2  # not posted again
    assert len(telegram.fake.calls_of("pinChatMessage")) == 2
    assert telegram.channel is not None
    assert telegram.channel.status.listening == ""


async def test_opting_out_deletes_what_was_heard_and_stops_it_and_opting_in_undoes_it(
    telegram: TelegramGroups, written: list[str]
) -> None:
    telegram.say(ALICE, "Les éoliennes, c'est trop près de l'école", language_code="fr")
    telegram.say(ALICE, "Encore du dynamitage ce matin", chat=OTHER_GROUP, language_code="fr")
    telegram.say(BOB, "The turbines look fine to me", language_code="en")
    await telegram.settled()
    assert len(heard(telegram.database)) == 3

    asked = telegram.say(ALICE, "/optout", language_code="fr")
    confirmation = (await telegram.fake.wait_for_sent(3))[2]
    assert confirmation.chat_id == GROUP
    assert confirmation.reply_to_message_id == asked
    assert confirmation.entities_text.startswith(
        "C'est noté : vos messages ne sont plus enregistrés"
    )
    assert "école" not in confirmation.entities_text
    await telegram.settled()
    assert [h.member for h in heard(telegram.database)] == [telegram.member(BOB)]
    with Session(telegram.database) as session:
        (opted_out,) = session.exec(select(ListeningOptOut)).all()
    assert (opted_out.channel, opted_out.member) == ("telegram", telegram.member(ALICE))

    telegram.say(ALICE, "Les éoliennes, encore et toujours", language_code="fr")
    await telegram.settled()
    assert len(heard(telegram.database)) == 1
    assert not any("encore et toujours" in statement for statement in written)

    telegram.say(ALICE, "/optin@trois_collines_bot", chat=OTHER_GROUP, language_code="fr")
    welcome_back = (await telegram.fake.wait_for_sent(4))[3]
    assert welcome_back.chat_id == OTHER_GROUP
    assert "sont de nouveau enregistrés" in welcome_back.entities_text
    telegram.say(ALICE, "Les éoliennes, la suite", language_code="fr")
    await telegram.settled()
    assert [h.text for h in heard(telegram.database)][-1] == "Les éoliennes, la suite"

    telegram.say(BOB, "/optout", language_code="en")
    in_english = (await telegram.fake.wait_for_sent(5))[4]
    assert in_english.entities_text.startswith("Done: your messages are no longer recorded")

    telegram.fake.send_text(chat_id=CAROL, user_id=CAROL, text="/optout")  # in private, too
    in_private = (await telegram.fake.wait_for_sent(6))[5]
    assert (in_private.chat_id, in_private.reply_to_message_id) == (CAROL, None)
    assert "C'est noté" in in_private.entities_text  # no language known: both
    assert "Done:" in in_private.entities_text


async def test_messages_addressed_to_the_assistant_are_answered_not_heard(
    telegram: TelegramGroups,
) -> None:
    telegram.say(ALICE, "Quand commence le chantier des éoliennes?", mention_bot=True)
    reply = (await telegram.fake.wait_for_sent(3))[2]
    assert reply.entities_text == "echo[fr]: Quand commence le chantier des éoliennes?"
    telegram.say(BOB, "And the turbines, how tall?", reply_to_bot=True)
    assert (await telegram.fake.wait_for_sent(4))[3].entities_text.startswith("echo[en]:")
    await telegram.settled()
    assert heard(telegram.database) == []
    with Session(telegram.database) as session:
        texts = [m.text for m in session.exec(select(Message).order_by(col(Message.id)))]
    assert "Quand commence le chantier des éoliennes?" in texts


async def test_edits_update_what_was_heard_or_forget_it(telegram: TelegramGroups) -> None:
    kept = telegram.say(ALICE, "Les éoliennes sont belles au coucher du soleil")
    said = telegram.say(CAROL, "Salut tout le monde")
    await telegram.settled()
    (first,) = heard(telegram.database)
    assert first.sentiment == "neutral"

    telegram.fake.edit_text(chat_id=GROUP, message_id=kept, text="Les éoliennes font du bruit")
    telegram.fake.edit_text(chat_id=GROUP, message_id=said, text="Salut, et le #TroisCollines?")
    await telegram.settled()
    edited, now_heard = heard(telegram.database)
    assert (edited.id, edited.text, edited.sentiment) == (
        first.id,
        "Les éoliennes font du bruit",
        "negative",
    )
    assert edited.created_at == first.created_at  # when it was first written
    assert (now_heard.text, now_heard.keywords) == (
        "Salut, et le #TroisCollines?",
        ["#TroisCollines", "Trois-Collines"],
    )

    telegram.fake.edit_text(chat_id=GROUP, message_id=kept, text="Oubliez ça")
    await telegram.settled()
    assert [h.text for h in heard(telegram.database)] == ["Salut, et le #TroisCollines?"]
    assert telegram.answers() == []


async def test_a_reader_that_fails_keeps_the_message_unread(
    telegram: TelegramGroups, reader: ScriptedReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reader.failing = True
    telegram.say(ALICE, "Le dynamitage d'hier a fissuré mon solage")
    await telegram.settled()
    (unread,) = heard(telegram.database)
    assert (unread.text, unread.keywords, unread.language) == (
        "Le dynamitage d'hier a fissuré mon solage",
        ["dynamitage"],
        "fr",
    )
    assert (unread.sentiment, unread.sentiment_score, unread.topics) == (None, None, None)
    assert "kept unread" in caplog.text
    assert "fissuré" not in caplog.text  # the citizen's words stay out of the logs

    reader.failing = False
    telegram.say(BOB, "The turbines make noise")
    await telegram.settled()
    assert heard(telegram.database)[-1].sentiment == "negative"
    assert set(reader.threads) == {"listening-reader_0"}  # beside the event loop, one at a time


async def test_renotice_asks_for_a_new_notice_and_status_tells_the_groups(
    telegram: TelegramGroups, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(
        telegram_token="123456:" + "A" * 30,
        listen_telegram_chats=f"{GROUP},{OTHER_GROUP}",
        listen_keywords=",".join(KEYWORDS),
    )
    telegram.say(ALICE, "Les éoliennes!")
    await telegram.settled()
    status = listen_cli.run(argparse.Namespace(verb="status"), settings, telegram.database)
    printed = capsys.readouterr().out
    assert status == 0
    assert "Listening for (LISTEN_KEYWORDS, LISTEN_HASHTAGS): éolien, éoliennes" in printed
    assert f"{GROUP} (Group 1001000000042): listened, notice" in printed
    assert "1 messages kept" in printed

    refused = listen_cli.run(
        argparse.Namespace(verb="renotice", platform="telegram", group="-1009"),
        settings,
        telegram.database,
    )
    assert refused == 2
    done = listen_cli.run(
        argparse.Namespace(verb="renotice", platform="telegram", group=str(GROUP)),
        settings,
        telegram.database,
    )
    assert done == 0
    await until(lambda: len(telegram.notices()) == 3)
    newest = telegram.notices()[-1]
    assert newest.chat_id == GROUP
    await until(lambda: telegram.fake.pins[GROUP][-1] == newest.message_id)


async def test_a_group_no_longer_listed_gets_its_notice_unpinned(
    telegram: TelegramGroups,
) -> None:
    assert telegram.fake.pins[OTHER_GROUP]
    await telegram.restart(chats=(GROUP,))
    assert telegram.fake.pins[OTHER_GROUP] == []
    assert groups(telegram.database)[str(OTHER_GROUP)].notice_message_id is None
    telegram.say(ALICE, "Les éoliennes", chat=OTHER_GROUP)
    await telegram.settled()
    assert heard(telegram.database) == []  # not listened to any more


async def test_a_refused_pin_still_posts_the_notice_and_says_so(
    database: Engine,
    core: ConversationCore,
    listener: Listener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeTelegram() as fake:
        fake.privacy_mode = False
        world = TelegramGroups(fake, database, core, listener)
        await world.start(chats=(GROUP,))  # a plain member: it may write, not pin
        try:
            (notice,) = world.notices()
            assert fake.pins.get(GROUP, []) == []
            assert world.channel is not None
            problem = world.channel.status.listening
            assert f"Group {GROUP}: the notice is posted but cannot be pinned" in problem
            assert "make the bot an administrator allowed to pin messages" in problem
            assert sum("cannot be pinned" in r.message for r in caplog.records) == 1  # once
            assert groups(database)[str(GROUP)].notice_pinned_at is None

            # Someone deletes the notice; later the bot is allowed to pin: a new one is posted.
            fake.delete_by_person(chat_id=GROUP, message_id=notice.message_id)
            fake.set_bot_rights(GROUP, can_pin_messages=True)
            await until(lambda: len(world.notices()) == 2 and bool(fake.pins.get(GROUP)))
            assert fake.pins[GROUP] == [world.notices()[1].message_id]
            await until(lambda: world.channel is not None and world.channel.status.listening == "")
        finally:
            await world.stop()


async def test_a_bot_that_cannot_read_every_message_says_so(
    database: Engine,
    core: ConversationCore,
    listener: Listener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeTelegram() as fake:
        fake.enforce_privacy_mode = True  # group privacy left on, as BotFather sets it
        world = TelegramGroups(fake, database, core, listener)
        await world.start(chats=(GROUP,))
        try:
            assert world.channel is not None
            problem = world.channel.status.listening
            assert "the bot cannot read every message" in problem
            assert "BotFather (/setprivacy, Disable)" in problem
            assert "or make it an administrator" in problem
            assert any("BotFather" in r.message for r in caplog.records if r.levelname == "WARNING")
            world.say(ALICE, "Les éoliennes font du bruit")
            await world.settled()
            assert heard(database) == []  # Telegram never sent it

            fake.set_bot_rights(GROUP, can_pin_messages=True)  # an administrator reads it all
            await until(lambda: world.channel is not None and world.channel.status.listening == "")
            world.say(ALICE, "Les éoliennes font encore du bruit")
            await world.settled()
            assert [h.text for h in heard(database)] == ["Les éoliennes font encore du bruit"]
        finally:
            await world.stop()


# --- Discord ----------------------------------------------------------------------------------


class DiscordChannels:
    """The assistant listening in the #parc-eolien channel of a Discord server."""

    def __init__(
        self, fake: FakeDiscord, database: Engine, core: ConversationCore, listener: Listener
    ) -> None:
        self.fake = fake
        self.database = database
        self.core = core
        self.listener = listener
        self.listened = fake.channel_ids["parc-eolien"]
        self.channel: DiscordChannel | None = None
        self.listening: DiscordListening | None = None
        self._task: asyncio.Task[None] | None = None
        self.pseudonyms = Pseudonyms(DISCORD_KEY)

    async def start(self) -> None:
        self.listening = DiscordListening(
            listener=self.listener, channels=[self.listened], recheck_every=0.05
        )
        self.channel = DiscordChannel(
            token=self.fake.token,
            core=self.core,
            engine=self.database,
            pseudonyms=self.pseudonyms,
            guild_ready_timeout=0.1,
            listening=self.listening,
        )
        self._task = asyncio.create_task(keep_running(self.channel, retry_base=0.01))
        listening = self.listening
        await until(lambda: listening.checks >= 2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def settled(self) -> None:
        assert self.channel is not None
        async with asyncio.timeout(15):
            await asyncio.sleep(0.15)
            await self.channel.intake.drained()
            await self.channel.outbox.drained()

    def say(self, user_id: int, content: str, **extra: Any) -> int:
        return self.fake.post(channel="parc-eolien", user_id=user_id, content=content, **extra)

    def notices(self) -> list[int]:
        return [m.id for m in self.fake.messages if m.content.startswith("🤖")]

    def answers(self) -> list[str]:
        return [m.content for m in self.fake.messages if m.id not in self.notices()]


@contextlib.asynccontextmanager
async def discord_world(
    database: Engine, core: ConversationCore, listener: Listener, *, may_pin: bool = True
) -> AsyncIterator[DiscordChannels]:
    async with FakeDiscord() as fake:
        with pointed_at(fake):
            if may_pin:
                role = fake.add_role("Assistant", permissions=PIN_MESSAGES)
                fake.set_roles(fake.guild_id, fake.bot_id, [role])
            world = DiscordChannels(fake, database, core, listener)
            await world.start()
            try:
                yield world
            finally:
                await world.stop()


@pytest.fixture
async def discord(
    database: Engine, core: ConversationCore, listener: Listener
) -> AsyncIterator[DiscordChannels]:
    async with discord_world(database, core, listener) as world:
        yield world


async def test_discord_messages_that_mention_the_project_are_heard_and_not_answered(
    discord: DiscordChannels, written: list[str]
) -> None:
    discord.say(CITIZEN, "Les éoliennes font un bruit terrible depuis lundi")
    discord.say(NEIGHBOUR, "The #TroisCollines wind farm brings jobs", username="voisin")
    discord.say(NEIGHBOUR, "Quelqu'un va au souper?")
    discord.fake.post(channel="general", user_id=CITIZEN, content="Les éoliennes, ailleurs")
    await discord.settled()

    citizen, neighbour = heard(discord.database)
    assert (citizen.text, citizen.keywords, citizen.language) == (
        "Les éoliennes font un bruit terrible depuis lundi",
        ["éoliennes"],
        "fr",
    )
    assert (citizen.sentiment, citizen.topics) == ("negative", ["noise"])
    assert (neighbour.keywords, neighbour.language, neighbour.sentiment) == (
        ["#TroisCollines", "Trois-Collines", "wind farm"],
        "en",
        "positive",
    )
    assert citizen.member == discord.pseudonyms.of("dc", CITIZEN)
    assert str(CITIZEN) not in citizen.member
    assert groups(discord.database)[str(discord.listened)].title == "parc-eolien"
    assert discord.answers() == []
    with Session(discord.database) as session:
        assert len(session.exec(select(InboundUpdate)).all()) == 2  # chatter: nothing stored
    assert not any("souper" in statement for statement in written)
    assert not any("ailleurs" in statement for statement in written)  # a channel not listened


async def test_discord_notice_is_pinned_once_and_checked_at_each_start(
    discord: DiscordChannels, caplog: pytest.LogCaptureFixture
) -> None:
    (notice_id,) = discord.notices()
    notice = next(m for m in discord.fake.messages if m.id == notice_id)
    assert "écoute ce groupe" in notice.content
    assert "envoyez-moi un message privé" in notice.content
    assert "send me a direct message" in notice.content
    assert len(notice.content) <= 2000
    assert notice.allowed_mentions is not None
    assert notice.allowed_mentions["parse"] == []
    assert discord.fake.pins(discord.listened) == [notice_id]
    commands = {c["name"] for c in discord.fake.commands[None]}
    assert {"optout", "optin", "help"} <= commands

    await discord.restart()
    assert discord.notices() == [notice_id]  # still there, still pinned: nothing to do

    discord.fake.unpin(channel_id=discord.listened, message_id=notice_id)  # a moderator
    await discord.restart()
    assert discord.fake.pins(discord.listened) == []  # moderators decide: not pinned again
    assert discord.channel is not None
    assert "someone unpinned the notice" in discord.channel.status.listening
    assert "bot listen renotice discord" in discord.channel.status.listening

    discord.fake.delete_message(channel_id=discord.listened, message_id=notice_id)
    await discord.restart()
    (new_notice,) = discord.notices()[1:]
    assert discord.fake.pins(discord.listened) == [new_notice]
    assert discord.channel.status.listening == ""


async def test_discord_refused_pin_still_posts_the_notice_and_says_so(
    database: Engine, core: ConversationCore, listener: Listener
) -> None:
    async with discord_world(database, core, listener, may_pin=False) as world:
        (notice_id,) = world.notices()
        assert world.fake.pins(world.listened) == []
        assert world.channel is not None
        problem = world.channel.status.listening
        assert f"Group {world.listened}: the notice is posted but cannot be pinned" in problem
        assert "give the bot the Pin Messages permission" in problem

        role = world.fake.add_role("Épingleur", permissions=PIN_MESSAGES)
        world.fake.set_roles(world.fake.guild_id, world.fake.bot_id, [role])
        await until(lambda: world.fake.pins(world.listened) == [notice_id])
        await until(lambda: world.channel is not None and world.channel.status.listening == "")


async def test_discord_opt_out_by_slash_command_or_typed_and_opt_in(
    discord: DiscordChannels,
) -> None:
    discord.say(CITIZEN, "Les éoliennes, trop près")
    discord.say(NEIGHBOUR, "Le dynamitage me réveille")
    await discord.settled()
    assert len(heard(discord.database)) == 2

    discord.fake.slash(name="optout", user_id=CITIZEN, channel="parc-eolien", locale="fr")
    (response,) = await discord.fake.wait_for_interaction_responses(1)
    assert response["data"]["content"].startswith("C'est noté : vos messages ne sont plus")
    assert response["data"]["flags"] & 64  # only the member sees it
    assert [h.member for h in heard(discord.database)] == [discord.pseudonyms.of("dc", NEIGHBOUR)]
    discord.say(CITIZEN, "Les éoliennes, encore")
    await discord.settled()
    assert len(heard(discord.database)) == 1

    typed = discord.say(CITIZEN, "/optin")
    answer = (await discord.fake.wait_for_messages(2))[1]
    assert answer.message_reference is not None
    assert int(answer.message_reference["message_id"]) == typed
    assert "de nouveau enregistrés" in answer.content
    assert "records again" not in answer.content
    assert "recorded again" in answer.content  # Discord does not say the member's language
    discord.say(CITIZEN, "Les éoliennes, la suite")
    await discord.settled()
    assert [h.text for h in heard(discord.database)][-1] == "Les éoliennes, la suite"

    discord.fake.dm(user_id=NEIGHBOUR, content="/optout")  # in private, too
    in_private = (await discord.fake.wait_for_messages(3))[2]
    assert in_private.channel_id == discord.fake.dm_channel_id(NEIGHBOUR)
    assert in_private.message_reference is None
    assert "no longer recorded" in in_private.content
    assert [h.member for h in heard(discord.database)] == [discord.pseudonyms.of("dc", CITIZEN)]


async def test_discord_messages_addressed_to_the_assistant_are_answered_not_heard(
    discord: DiscordChannels,
) -> None:
    discord.say(CITIZEN, "Où seront les éoliennes?", mention_bot=True)
    await until(lambda: len(discord.answers()) == 1)
    assert discord.answers() == ["echo[fr]: Où seront les éoliennes?"]
    await discord.settled()
    assert heard(discord.database) == []


async def test_discord_edits_update_what_was_heard_or_forget_it(
    discord: DiscordChannels,
) -> None:
    said = discord.say(CITIZEN, "Les éoliennes sont belles")
    await discord.settled()
    discord.fake.edit(
        channel_id=discord.listened, message_id=said, content="Les éoliennes font du bruit"
    )
    await discord.settled()
    (edited,) = heard(discord.database)
    assert (edited.text, edited.sentiment) == ("Les éoliennes font du bruit", "negative")
    discord.fake.edit(channel_id=discord.listened, message_id=said, content="Rien à voir")
    await discord.settled()
    assert heard(discord.database) == []
    assert discord.answers() == []


def test_without_keywords_the_listener_hears_the_project_names(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> None:
    settings = load_settings(telegram_token="123456:" + "A" * 30, listen_telegram_chats=str(GROUP))
    found = listener_for(
        settings, database=database, knowledge=knowledge, detector=detector, reader=ScriptedReader()
    )
    assert found is not None
    assert found.matcher.find("On se voit à la réunion sur Trois-Collines?") == ("Trois-Collines",)
    assert found.matcher.find("Les éoliennes") == ()  # generic words are the promoter's choice
    assert (
        listener_for(
            load_settings(),
            database=database,
            knowledge=knowledge,
            detector=detector,
            reader=ScriptedReader(),
        )
        is None
    )
    found.close()


async def test_the_settings_make_the_telegram_channel_listen(
    database: Engine,
    core: ConversationCore,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> None:
    from bot.app import chat_channels

    async with FakeTelegram() as fake:
        fake.privacy_mode = False
        fake.set_bot_rights(GROUP, can_pin_messages=True)
        settings = load_settings(
            telegram_token="123456:" + "A" * 30,
            telegram_api_url=fake.base_url,
            listen_telegram_chats=str(GROUP),
            pseudonym_secret="a-test-secret-of-32-characters!!",
        )
        fake.token = settings.telegram_token or ""
        listener = listener_for(
            settings,
            database=database,
            knowledge=knowledge,
            detector=detector,
            reader=ScriptedReader(),
        )
        (channel,) = chat_channels(settings, core=core, database=database, listener=listener)
        task = asyncio.create_task(keep_running(channel, retry_base=0.01))
        try:
            await until(lambda: bool(fake.pins.get(GROUP)))
            (notice,) = fake.sent
            assert notice.chat_id == GROUP
            assert "Trois-Collines" in notice.entities_text  # the project's names, by default
            fake.send_text(
                chat_id=GROUP, user_id=ALICE, chat_type="supergroup", text="Trois-Collines, encore"
            )
            await until(lambda: len(heard(database)) == 1)
            assert heard(database)[0].keywords == ["Trois-Collines"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if listener is not None:
                listener.close()
