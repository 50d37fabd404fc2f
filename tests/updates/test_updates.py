"""Project updates, from a community manager's text to each subscriber's screen: Telegram and
Discord through the real client libraries and the loopback stand-ins, the web chat, a citizen
who blocked the bot, topics, idempotence, large audiences, and the `bot updates` command."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from bot.cli import main
from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage
from bot.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.register.privacy import erase_citizen
from bot.settings import PROJECT_ROOT
from bot.storage.database import open_database
from bot.storage.models import (
    AuditEntry,
    Conversation,
    Message,
    OutboxMessage,
    Subscription,
    UpdateDelivery,
    utc_now,
)
from bot.updates.service import (
    MAX_TEXT_CHARS,
    Counts,
    Failure,
    UpdateError,
    UpdateNotFound,
    UpdateService,
)
from tests.support.channels import BothChannels, both_channels
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import FakeTelegram
from tests.support.updates import BLASTING_EN, BLASTING_FR, news_core, subscribe

YEAR = utc_now().year
KNOWLEDGE_BASE = PROJECT_ROOT / "knowledge" / "project.yml"
MARIE = "staff:web:marie"

MARC = 1001  # Telegram, French, all news
BLOCKED = 1002  # Telegram, blasting, then blocks the bot
ROADS = 1003  # Telegram, road closures only
GONE = 1004  # Telegram, subscribed then unsubscribed
GROUP = -100300  # a Telegram group where two members subscribed
LEA, PAUL = 2001, 2002
ALICE = 810000000000000011  # Discord, English, blasting
JULIE = "julie-web-0001"  # web chat, French, all news


def service_for(database: Engine, knowledge: KnowledgeBase, **extra: Any) -> UpdateService:
    return UpdateService(
        engine=database,
        knowledge=knowledge,
        languages=("fr", "en"),
        default_language="fr",
        **extra,
    )


@dataclass
class Neighbourhood(BothChannels):
    """Citizens on Telegram, Discord and the web chat, one assistant, one update service."""

    service: UpdateService

    def attempts_to(self, chat_id: int) -> int:
        return len([c for c in self.telegram.calls_of("sendMessage") if c["chat_id"] == chat_id])

    def on_web(self, key: str) -> list[str]:
        return [text for _, text in self.core.notices(channel="web", conversation_key=key)]


@pytest.fixture
async def neighbourhood(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> AsyncIterator[Neighbourhood]:
    core = news_core(database, detector, knowledge)
    async with (
        FakeTelegram() as telegram,
        FakeDiscord() as discord,
        both_channels(core, database, telegram, discord) as channels,
    ):
        yield Neighbourhood(**vars(channels), service=service_for(database, knowledge))


async def everyone_subscribes(hood: Neighbourhood) -> None:
    tg = hood.telegram
    tg.send_text(chat_id=MARC, user_id=MARC, text="/subscribe")
    tg.send_text(chat_id=BLOCKED, user_id=BLOCKED, text="/subscribe dynamitage")
    tg.send_text(chat_id=ROADS, user_id=ROADS, text="/subscribe fermetures de routes")
    tg.send_text(chat_id=GONE, user_id=GONE, text="/subscribe")
    tg.send_text(chat_id=GROUP, user_id=LEA, text="/subscribe", chat_type="supergroup")
    tg.send_text(chat_id=GROUP, user_id=PAUL, text="/subscribe", chat_type="supergroup")
    hood.discord.dm(user_id=ALICE, content="Keep me posted about blasting")
    await hood.core.handle(
        IncomingMessage(
            channel="web", conversation_key=JULIE, sender_key=JULIE, text="Tenez-moi au courant"
        )
    )
    await hood.settled()
    tg.send_text(chat_id=GONE, user_id=GONE, text="/unsubscribe")
    await hood.settled()
    assert "sur : dynamitage" in hood.on_telegram(BLOCKED)[-1]
    assert "all project news" not in hood.on_discord(ALICE)[-1]
    assert "project news here on: blasting" in hood.on_discord(ALICE)[-1]
    assert "tous ses membres les verront" in hood.on_telegram(GROUP)[-1]
    assert (
        hood.on_telegram(GONE)[-1]
        == "C'est fait : vous ne recevrez plus les nouvelles du projet ici."
    )


async def test_an_update_reaches_each_subscriber_on_their_channel_in_their_language(
    neighbourhood: Neighbourhood, database: Engine
) -> None:
    hood = neighbourhood
    await everyone_subscribes(hood)
    hood.telegram.block_chat(BLOCKED)
    before = {chat: len(hood.on_telegram(chat)) for chat in (ROADS, GONE)}

    audience = hood.service.audience("blasting")
    assert audience.total == 5  # Marc, the blocked chat, the group once, Alice, Julie
    assert audience.by_channel == {"telegram": 3, "discord": 1, "web": 1}
    assert audience.by_language == {"fr": 4, "en": 1}

    published = hood.service.publish(
        text_fr=BLASTING_FR, text_en=BLASTING_EN, topic="blasting", author=MARIE
    )
    reference = published.summary.reference
    assert published.new
    assert reference == f"U-{YEAR}-0001"
    assert published.summary.counts == Counts(total=5, stored=1, queued=4)
    await hood.settled()

    # What each citizen sees.
    assert hood.on_telegram(MARC)[-1] == (
        f"📢 Nouvelles du projet Parc éolien des Trois-Collines · dynamitage ({reference}) :\n"
        f"{BLASTING_FR}\n\n"
        "Pour ne plus recevoir ces nouvelles, écrivez « désabonnez-moi » ou /unsubscribe."
    )
    assert hood.on_discord(ALICE)[-1] == (
        f"📢 Trois-Collines Wind Farm news · blasting ({reference}):\n{BLASTING_EN}\n\n"
        'To stop receiving this news, write "unsubscribe" or /unsubscribe.'
    )
    assert [t for t in hood.on_telegram(GROUP) if BLASTING_FR in t] != []
    assert len([t for t in hood.on_telegram(GROUP) if BLASTING_FR in t]) == 1  # once, not twice
    assert hood.on_web(JULIE)[-1].endswith(
        f"{BLASTING_FR}\n\nPour ne plus recevoir ces nouvelles, écrivez « désabonnez-moi »."
    )
    # Road closures only, and unsubscribed: nothing new.
    assert {chat: len(hood.on_telegram(chat)) for chat in (ROADS, GONE)} == before

    # The blocked chat: recorded as failed, and its subscription paused.
    report = hood.service.report(reference)
    assert report.summary.counts == Counts(total=5, sent=3, stored=1, failed=1)
    assert report.summary.counts.reached == 4
    assert report.failures == [
        Failure(
            channel="telegram",
            language="fr",
            place="private",
            error="Forbidden: bot was blocked by the user",
            paused=True,
        )
    ]
    with Session(database) as session:
        blocked = session.exec(
            select(Subscription)
            .join(Conversation, col(Conversation.id) == col(Subscription.conversation_id))
            .where(Conversation.external_id == str(BLOCKED))
        ).one()
        assert blocked.active is False
        actions = [(a.actor, a.action) for a in session.exec(select(AuditEntry))]
    assert (MARIE, "updates.publish") in actions
    assert ("system", "updates.pause") in actions
    assert hood.service.subscribers().paused == 1

    # The next update (for everyone) does not try the blocked chat again.
    attempts = hood.attempts_to(BLOCKED)
    second = hood.service.publish(
        text_fr="Séance d'information le 3 décembre à 19 h à la salle municipale.",
        text_en="Information session on December 3 at 7 p.m. at the town hall.",
        topic=None,
        author=MARIE,
    )
    await hood.settled()
    assert second.summary.counts.total == 5  # Marc, Roads, the group, Alice, Julie
    assert hood.on_telegram(ROADS)[-1].startswith(
        f"📢 Nouvelles du projet Parc éolien des Trois-Collines (U-{YEAR}-0002) :\n"
        "Séance d'information"
    )
    assert hood.attempts_to(BLOCKED) == attempts
    assert hood.service.report(second.summary.reference).summary.counts == Counts(
        total=5, sent=4, stored=1
    )


async def test_publishing_again_sends_nothing_twice(neighbourhood: Neighbourhood) -> None:
    hood = neighbourhood
    hood.telegram.send_text(chat_id=MARC, user_id=MARC, text="/subscribe")
    await hood.settled()
    first = hood.service.publish(
        text_fr=BLASTING_FR, text_en=BLASTING_EN, topic="blasting", author=MARIE
    )
    await hood.settled()
    sent = len(hood.on_telegram(MARC))

    # The same form sent twice, or the same command run again: the same update.
    again = hood.service.publish(
        text_fr=BLASTING_FR + "\n", text_en=BLASTING_EN, topic="blasting", author=MARIE
    )
    assert not again.new
    assert again.summary.reference == first.summary.reference
    # Sending an update again only reaches who it has not reached.
    resent = hood.service.send(first.summary.reference, actor=MARIE)
    await hood.settled()
    assert resent.counts.total == 1
    assert len(hood.on_telegram(MARC)) == sent


# --- without the platforms: the rules of the fan-out -----------------------------------------


def count(database: Engine, model: type[Any]) -> int:
    with Session(database) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_a_large_audience_is_reached_in_batches_once(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    for n in range(10):
        subscribe(database, knowledge, "web", f"web-citizen-{n:04d}")
    subscribe(database, knowledge, "telegram", "7001", language="en")
    subscribe(database, knowledge, "discord", "dm:7002")
    service = service_for(database, knowledge, batch_size=3)

    published = service.publish(text_fr="Bonjour", text_en="Hello", topic=None, author=MARIE)
    assert published.summary.counts == Counts(total=12, stored=10, queued=2)
    with Session(database) as session:
        outbox = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))
        english = session.exec(select(Message).where(Message.id == outbox[0].message_id)).one()
    assert [(o.channel, o.destination) for o in outbox] == [
        ("telegram", "7001"),
        ("discord", "7002"),
    ]
    assert english.language == "en"
    assert "\nHello\n" in english.text

    service.send(published.summary.reference, actor=MARIE)
    assert count(database, UpdateDelivery) == 12
    assert count(database, OutboxMessage) == 2


def test_two_processes_sending_the_same_update_reach_each_citizen_once(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    for n in range(4):
        subscribe(database, knowledge, "telegram", f"80{n}")
    for member in ("lea", "paul"):
        subscribe(database, knowledge, "telegram", f"-100900:{member}", place="group")
    service = service_for(database, knowledge, batch_size=2)
    published = service.publish(text_fr="Bonjour", text_en="Hello", topic=None, author=MARIE)
    messages = count(database, Message)

    # A second process started before the first one's deliveries were visible to it.
    other = service_for(database, knowledge, batch_size=2)
    real = other._already_reached
    calls = 0

    def stale(session: Session, update_id: int) -> tuple[set[int], set[tuple[str, str]]]:
        nonlocal calls
        calls += 1
        return (set(), set()) if calls == 1 else real(session, update_id)

    other._already_reached = stale  # type: ignore[method-assign]
    summary = other.send(published.summary.reference, actor="cli:louis")
    assert calls >= 2  # it met the first one's deliveries and looked again
    assert summary.counts.total == 5  # four private chats and the group once
    assert count(database, Message) == messages
    assert count(database, OutboxMessage) == 5


def test_topics_erased_citizens_and_languages_decide_who_receives_it(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    blasting = subscribe(database, knowledge, "web", "blasting-0001", "dynamitage")
    subscribe(database, knowledge, "web", "roads-000001", "fermetures de routes")
    everything = subscribe(database, knowledge, "web", "all-00000001", language="en")
    unknown = subscribe(database, knowledge, "web", "xx-000000001", language="es")
    erased = subscribe(database, knowledge, "web", "erased-00001")
    with Session(database, expire_on_commit=False) as session:
        erase_citizen(session=session, conversation=erased, actor="citizen")
    service = service_for(database, knowledge)

    published = service.publish(
        text_fr=BLASTING_FR, text_en=BLASTING_EN, topic="BLASTING", author=MARIE
    )
    assert published.summary.topic == "blasting"
    with Session(database) as session:
        reached = {d.conversation_id: d.language for d in session.exec(select(UpdateDelivery))}
    assert reached == {blasting.id: "fr", everything.id: "en", unknown.id: "fr"}


def test_a_group_receives_an_update_once_in_its_first_subscriber_language(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    first = subscribe(database, knowledge, "telegram", "-100500:lea", language="en", place="group")
    subscribe(database, knowledge, "telegram", "-100500:paul", place="group")
    subscribe(database, knowledge, "discord", "9001:alice", place="group")  # a server channel
    subscribe(database, knowledge, "discord", "9001:bob", "dynamitage", place="group")
    service = service_for(database, knowledge)

    assert service.audience(None).total == 2
    service.publish(text_fr="Bonjour", text_en="Hello", topic=None, author=MARIE)
    with Session(database) as session:
        deliveries = list(session.exec(select(UpdateDelivery)))
        destinations = sorted(o.destination for o in session.exec(select(OutboxMessage)))
    assert destinations == ["-100500", "9001"]
    assert {d.conversation_id: d.language for d in deliveries}[first.id] == "en"
    counts = service.subscribers()
    assert (counts.total, counts.destinations) == (4, 2)
    assert counts.by_topic == {"all": 3, "blasting": 1}


@pytest.mark.parametrize(
    ("text_fr", "text_en", "topic", "why"),
    [
        ("", "Hello", None, "The French text is empty: an update goes out in both languages."),
        ("Bonjour", "  \n ", None, "The English text is empty"),
        ("x" * (MAX_TEXT_CHARS + 1), "Hello", None, "shorten it to 3000"),
        ("Bonjour", "Hello", "weather", "There is no update topic 'weather'; the topics are: "),
    ],
)
def test_a_refused_update_says_why_and_stores_nothing(
    database: Engine, knowledge: KnowledgeBase, text_fr: str, text_en: str, topic: str, why: str
) -> None:
    with pytest.raises(UpdateError) as refused:
        service_for(database, knowledge).publish(
            text_fr=text_fr, text_en=text_en, topic=topic, author=MARIE
        )
    assert why in str(refused.value)
    assert count(database, UpdateDelivery) == 0
    with Session(database) as session:
        assert session.exec(select(AuditEntry)).first() is None


def test_texts_are_stored_as_written_without_stray_characters(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    service = service_for(database, knowledge)
    fr, en, topic = service.check(
        text_fr="  Avis\r\n\r\n\r\n\r\nFermeture\x00 du chemin\t\n",
        text_en="Notice",
        topic=" Road_Closures ",
    )
    assert (fr, en, topic) == ("Avis\n\nFermeture du chemin", "Notice", "road_closures")


def test_the_projects_hashtag_ends_each_update_once(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    service = service_for(database, knowledge, hashtag="#TroisCollines")
    fr = service.render(
        text="Dynamitage jeudi à 11 h.", language="fr", channel="web", topic=None, reference="U-1"
    )
    assert fr == (
        "📢 Nouvelles du projet Parc éolien des Trois-Collines (U-1) :\n"
        "Dynamitage jeudi à 11 h.\n\n"
        "Pour en parler ailleurs et suivre la conversation : #TroisCollines\n\n"
        "Pour ne plus recevoir ces nouvelles, écrivez « désabonnez-moi »."
    )
    en = service.render(
        text="Blasting on Thursday. #troiscollines",
        language="en",
        channel="telegram",
        topic="blasting",
        reference="U-2",
    )
    assert "follow the conversation" not in en  # the manager already wrote it
    assert "Follow" not in service_for(database, knowledge).render(
        text="Blasting.", language="en", channel="web", topic=None, reference="U-3"
    )


def test_an_unknown_reference_is_said_plainly(database: Engine, knowledge: KnowledgeBase) -> None:
    with pytest.raises(UpdateNotFound, match="There is no update 'U-2026-0099'"):
        service_for(database, knowledge).report("U-2026-0099")


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, knowledge: KnowledgeBase
) -> Engine:
    url = f"sqlite:///{tmp_path / 'updates.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = open_database(url)
    subscribe(engine, knowledge, "telegram", "1001")
    subscribe(engine, knowledge, "telegram", "1002", "dynamitage", language="en")
    subscribe(engine, knowledge, "web", "web-citizen-01", "routes")
    return engine


def bot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_publishing_from_the_command_line(
    cli_database: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    french = tmp_path / "avis.txt"
    french.write_text(BLASTING_FR + "\n", encoding="utf-8")
    status, out, _ = bot(
        capsys, "updates", "publish", "--fr", str(french), "--en", BLASTING_EN,
        "--topic", "blasting", "--yes", "--as", "louis",
    )  # fmt: skip
    assert status == 0
    assert f"[fr] {BLASTING_FR}\n" in out
    assert "It would reach 2 subscribers (telegram 2; en 1, fr 1)." in out
    assert f"U-{YEAR}-0001 published: 2 subscribers: 0 sent, 0 stored for the web chat, " in out
    assert "2 queued, 0 failed." in out

    status, out, _ = bot(capsys, "updates", "list")
    assert status == 0
    assert out.startswith(f"U-{YEAR}-0001  ")
    assert "blasting" in out
    assert "reached 0     queued 2     failed 0    of 2" in out

    status, out, _ = bot(capsys, "updates", "show", f"u-{YEAR}-0001")
    assert status == 0
    assert f"U-{YEAR}-0001  blasting\nwritten by cli:louis on " in out
    assert "No failure." in out

    status, out, _ = bot(capsys, "updates", "subscribers")
    assert out.splitlines() == [
        "3 active subscriptions, 3 destinations (a group counts once).",
        "By channel: telegram 2, web 1",
        "By language: fr 2, en 1",
        "By topic: all news 1, blasting 1, road closures 1",
    ]
    with Session(cli_database) as session:
        audit = session.exec(select(AuditEntry)).one()
    assert (audit.actor, audit.action) == ("cli:louis", "updates.publish")


def test_the_command_line_asks_before_publishing(
    cli_database: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not on a terminal and without --yes: it does not guess.
    status, out, err = bot(capsys, "updates", "publish", "--fr", "Bonjour", "--en", "Hello")
    assert status == 1
    assert "It would reach 3 subscribers" in out
    assert "Nothing was published." in out
    assert "add --yes to publish without a question" in err
    assert count(cli_database, UpdateDelivery) == 0


def test_the_command_line_refuses_bad_input_in_one_sentence(
    cli_database: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = bot(
        capsys, "updates", "publish", "--fr", "Bonjour", "--en", "", "--topic", "blasting", "--yes"
    )
    assert (status, err.strip()) == (
        2,
        "The English text is empty: an update goes out in both languages.",
    )
    status, _, err = bot(capsys, "updates", "show", "U-2020-0001")
    assert (status, err.strip()) == (2, "There is no update 'U-2020-0001'.")


def test_the_list_limit_must_be_a_positive_number(
    cli_database: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["updates", "list", "--limit", "-5"])
    assert refused.value.code == 2
    assert "'-5' is not a positive whole number" in capsys.readouterr().err


# --- the knowledge base's topics ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (
            lambda topics: topics[1]["keywords"]["fr"].append("Route"),
            "update_topics.blasting: the keyword 'Route' also belongs to "
            "update_topics.road_closures; a keyword may name one topic only.",
        ),
        (
            lambda topics: topics[0].update(id="Road closures"),
            "update_topics[0].id must be 2 to 64 characters among a-z, 0-9 and _, starting "
            "with a letter (found 'Road closures').",
        ),
        (
            lambda topics: topics[2]["name"].pop("en"),
            "update_topics.works_schedule.name has no text in en.",
        ),
        (
            lambda topics: topics[3].update(keywords={"fr": "réunion", "en": []}),
            "update_topics.consultation_meetings.keywords.fr must be a list of words or phrases.",
        ),
        (
            lambda topics: topics.append(dict(topics[4])),
            "update_topics[5].id jobs is used twice.",
        ),
    ],
)
def test_a_wrong_update_topic_in_the_knowledge_base_is_refused_in_one_sentence(
    tmp_path: Path, change: Callable[[list[dict[str, Any]]], None], sentence: str
) -> None:
    raw = yaml.safe_load(KNOWLEDGE_BASE.read_text(encoding="utf-8"))
    change(raw["update_topics"])
    edited = tmp_path / "project.yml"
    edited.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    (tmp_path / "documents").symlink_to(KNOWLEDGE_BASE.parent / "documents")
    with pytest.raises(KnowledgeBaseError) as refused:
        load_knowledge_base(edited)
    assert str(refused.value) == sentence


def test_a_knowledge_base_without_update_topics_still_loads(tmp_path: Path) -> None:
    raw = yaml.safe_load(KNOWLEDGE_BASE.read_text(encoding="utf-8"))
    del raw["update_topics"]
    edited = tmp_path / "project.yml"
    edited.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    (tmp_path / "documents").symlink_to(KNOWLEDGE_BASE.parent / "documents")
    assert load_knowledge_base(edited).update_topics == ()
