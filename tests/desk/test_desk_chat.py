"""The chat desks, end to end: citizens and community managers on Telegram and Discord at once,
through the real client libraries and the loopback stand-ins of both platforms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.common.language import LanguageDetector
from bot.core.conversation import ConversationCore
from bot.desk.service import Desk
from bot.knowledge import KnowledgeBase
from bot.storage.models import AuditEntry, DeskThread, Handoff
from tests.support.channels import both_channels
from tests.support.desk import always_open
from tests.support.dialogue import ScriptedDialogue, scripted_core
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import FakeTelegram
from tests.support.waiting import until

CITIZEN = 1001
STAFF_GROUP = -100999
LOUIS = 4242  # a community manager on Telegram
STRANGER = 777
MARIE = 5151  # a community manager on Discord
DISCORD_CITIZEN = 6161


class Desks:
    """Both platforms, one assistant, one desk."""

    def __init__(
        self, telegram: FakeTelegram, discord: FakeDiscord, database: Engine, core: ConversationCore
    ) -> None:
        self.telegram = telegram
        self.discord = discord
        self.database = database
        self.core = core
        self.staff_channel = discord.channel_ids["equipe"]
        self.role = discord.role_id("gestionnaires")

    def topics_text(self) -> list[str]:
        return [
            m.text
            for topic in self.telegram.topics(STAFF_GROUP)
            for m in self.telegram.sent_to_topic(STAFF_GROUP, topic.thread_id)
        ]

    def thread_ids(self) -> list[int]:
        with Session(self.database) as session:
            return [
                int(t.thread_id)
                for t in session.exec(select(DeskThread).where(DeskThread.desk == "discord"))
            ]

    def discord_thread_text(self) -> list[str]:
        return [m.content for t in self.thread_ids() for m in self.discord.messages_in(t)]

    def to_citizen_on_telegram(self) -> list[str]:
        return [m.text for m in self.telegram.sent_to(CITIZEN)]

    def handoff(self) -> Handoff:
        with Session(self.database) as session:
            return session.exec(select(Handoff)).one()


@pytest.fixture
async def desks(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> AsyncIterator[Desks]:
    desk = Desk(engine=database, schedule=always_open())
    core = scripted_core(database, ScriptedDialogue(), detector, knowledge, desk=desk)
    async with FakeTelegram() as telegram, FakeDiscord() as discord:
        telegram.add_forum(STAFF_GROUP, title="Équipe du projet")
        staff_channel = discord.add_channel("equipe")
        role = discord.add_role("gestionnaires")
        discord.set_roles(discord.guild_id, MARIE, [role], username="marie")
        async with both_channels(
            core, database, telegram, discord,
            telegram_options={"desk": desk, "desk_chat": STAFF_GROUP, "desk_staff": (LOUIS,)},
            discord_options={"desk": desk, "desk_channel": staff_channel, "desk_role": role},
        ):  # fmt: skip
            yield Desks(telegram, discord, database, core)


async def test_a_telegram_citizen_is_answered_from_a_discord_thread_and_handed_back(
    desks: Desks,
) -> None:
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Je veux parler à quelqu'un")
    await until(
        lambda: any("personne de l'équipe" in t for t in desks.to_citizen_on_telegram()),
        "the citizen told a person is asked",
    )
    # A thread opens in the Discord staff channel with the summary.
    await until(desks.thread_ids, "a staff thread")
    summary = await until(
        lambda: [t for t in desks.discord_thread_text() if t.startswith("🔔")], "the summary"
    )
    reference = desks.handoff().reference
    assert reference in summary[0]
    assert "asked_human" in summary[0]
    [thread] = desks.thread_ids()

    # The citizen writes meanwhile: it reaches the thread, and the assistant stays silent.
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Mon puits est à sec")
    await until(
        lambda: "👤 Mon puits est à sec" in desks.discord_thread_text(), "the message in the thread"
    )

    # Marie (with the role) answers in the thread: the citizen receives it on Telegram.
    desks.discord.post(
        channel=thread, user_id=MARIE, content="Bonjour, ici Marie.", username="marie"
    )
    await until(
        lambda: "marie : Bonjour, ici Marie." in desks.to_citizen_on_telegram(),
        "Marie's answer on Telegram",
    )
    assert any(t.startswith("marie s'est joint(e)") for t in desks.to_citizen_on_telegram())
    assert desks.handoff().owner == f"staff:discord:{MARIE}"

    # Someone without the role is refused politely, and it is audited.
    desks.discord.post(channel=thread, user_id=STRANGER, content="Je réponds moi aussi")
    await until(
        lambda: any(
            "only the project's community managers" in t for t in desks.discord_thread_text()
        ),
        "the refusal",
    )
    assert "Je réponds moi aussi" not in " ".join(desks.to_citizen_on_telegram())

    # Marie hands back; the citizen may rate; the assistant answers the next question again.
    desks.discord.post(channel=thread, user_id=MARIE, content="/close resolved", username="marie")
    await until(
        lambda: any("a quitté la conversation" in t for t in desks.to_citizen_on_telegram()),
        "the hand-back",
    )
    assert desks.handoff().status == "closed"
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Quand commencent les travaux?")
    await until(
        lambda: "Les travaux commencent au printemps." in desks.to_citizen_on_telegram(),
        "the assistant answering again",
    )
    with Session(desks.database) as session:
        actions = {a.action for a in session.exec(select(AuditEntry))}
    assert {"desk.claim", "desk.reply", "desk.close", "desk.refused"} <= actions


async def test_a_discord_citizen_is_answered_from_a_telegram_topic(desks: Desks) -> None:
    desks.discord.dm(user_id=DISCORD_CITIZEN, content="I want to talk to a person")
    dm = desks.discord.dm_channel_id(DISCORD_CITIZEN)
    await until(
        lambda: any(
            "person from the project team" in m.content for m in desks.discord.messages_in(dm)
        ),
        "the citizen told a person is asked",
    )
    [topic] = await until(lambda: desks.telegram.topics(STAFF_GROUP), "a staff topic")
    reference = desks.handoff().reference
    assert topic.name.startswith(f"{reference} · EN · discord")
    await until(
        lambda: any(reference in t for t in desks.topics_text()), "the summary in the topic"
    )

    # A stranger in the staff group is refused; Louis answers in the topic.
    desks.telegram.send_text(
        chat_id=STAFF_GROUP, user_id=STRANGER, text="hello", thread_id=topic.thread_id
    )
    await until(
        lambda: any("only the project's community managers" in t for t in desks.topics_text()),
        "the refusal",
    )
    desks.telegram.send_text(
        chat_id=STAFF_GROUP,
        user_id=LOUIS,
        first_name="Louis",
        text="Hi, Louis from the project team here.",
        thread_id=topic.thread_id,
    )
    await until(
        lambda: any(
            m.content == "Louis: Hi, Louis from the project team here."
            for m in desks.discord.messages_in(dm)
        ),
        "Louis's answer in the citizen's DM",
    )
    desks.telegram.send_text(
        chat_id=STAFF_GROUP, user_id=LOUIS, first_name="Louis", text="/note called back at 3 pm",
        thread_id=topic.thread_id,
    )  # fmt: skip
    desks.telegram.send_text(
        chat_id=STAFF_GROUP, user_id=LOUIS, first_name="Louis", text="/close unresolved norating",
        thread_id=topic.thread_id,
    )  # fmt: skip
    await until(lambda: desks.handoff().status == "closed", "the hand-back")
    handoff = desks.handoff()
    assert (handoff.outcome, handoff.rating_requested_at) == ("unresolved", None)
    # The staff group is paced under Telegram's 20 messages a minute per group.
    await until(
        lambda: desks.telegram.topic(STAFF_GROUP, topic.thread_id).closed,
        "topic closed",
        timeout=60,
    )
    assert all("called back" not in m.content for m in desks.discord.messages_in(dm))


async def test_a_deleted_staff_topic_is_opened_again(desks: Desks) -> None:
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Je veux parler à quelqu'un")
    [topic] = await until(lambda: desks.telegram.topics(STAFF_GROUP), "a staff topic")
    desks.telegram.delete_topic(chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Toujours là ?")
    fresh = await until(
        lambda: [t for t in desks.telegram.topics(STAFF_GROUP) if not t.deleted], "a new topic"
    )
    await until(
        lambda: any(
            m.text == "👤 Toujours là ?"
            for m in desks.telegram.sent_to_topic(STAFF_GROUP, fresh[0].thread_id)
        ),
        "the citizen's message in the new topic",
        timeout=60,  # summary and recent transcript first, paced at 20 a minute per group
    )


async def test_an_answer_to_a_citizen_who_blocked_the_bot_is_reported_in_the_thread(
    desks: Desks,
) -> None:
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Je veux parler à quelqu'un")
    await until(desks.thread_ids, "a staff thread")
    [thread] = desks.thread_ids()
    desks.telegram.block_chat(CITIZEN)
    desks.discord.post(channel=thread, user_id=MARIE, content="Bonjour ?", username="marie")
    await until(
        lambda: any(t.startswith("⚠️ Not delivered") for t in desks.discord_thread_text()),
        "the failed delivery shown to the staff",
    )


async def test_erasing_a_citizen_deletes_the_staff_copies_on_both_desks(desks: Desks) -> None:
    """Hardening, finding 4: what the desks copied of a citizen (their words, the summary, what
    staff answered them) goes from Telegram and Discord when the citizen asks to be erased."""
    marker = "Zq8puits8qZ"
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Je veux parler à quelqu'un")
    [topic] = await until(lambda: desks.telegram.topics(STAFF_GROUP), "a staff topic")
    [thread] = await until(desks.thread_ids, "a staff thread")
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text=f"Mon puits {marker} est sec")
    desks.telegram.send_text(
        chat_id=STAFF_GROUP, user_id=LOUIS, first_name="Louis",
        text=f"Bonjour, je note pour le puits {marker}.", thread_id=topic.thread_id,
    )  # fmt: skip
    await until(lambda: any(marker in t for t in desks.to_citizen_on_telegram()), "Louis's answer")
    desks.discord.post(
        channel=thread, user_id=MARIE, content=f"Je connais {marker}.", username="marie"
    )
    await until(
        lambda: (
            marker in desks.telegram.still_visible(STAFF_GROUP)
            and desks.discord.still_visible().count(marker) >= 3
        ),
        "copies on both desks (the citizen's words, Louis's answer, Marie's note)",
        timeout=60,
    )
    reference = desks.handoff().reference

    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="/forget")
    await until(
        lambda: any("effacer" in t.lower() for t in desks.to_citizen_on_telegram()),
        "the confirmation question",
    )
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="oui")
    await until(
        lambda: (
            desks.telegram.topic(STAFF_GROUP, topic.thread_id).deleted
            and thread in desks.discord.deleted_channels
        ),
        "both staff threads deleted",
        timeout=60,
    )
    assert marker not in desks.telegram.still_visible(STAFF_GROUP)
    assert marker not in desks.discord.still_visible()
    handoff = desks.handoff()
    assert (handoff.status, handoff.outcome) == ("closed", "erased")
    await until(
        lambda: (
            any(
                reference in t and "erased" in t
                for t in desks.telegram.still_visible(STAFF_GROUP).splitlines()
            )
            and any(
                reference in m.content and "erased" in m.content
                for m in desks.discord.messages_in(desks.staff_channel)
            )
        ),
        "the staff told, in the general topic and the staff channel",
    )
    with Session(desks.database) as session:
        assert not session.exec(select(DeskThread)).all()
        erased = [
            a.detail for a in session.exec(select(AuditEntry))
            if a.action == "desk.thread_erased"
        ]  # fmt: skip
    assert sorted(d["desk"] for d in erased) == ["discord", "telegram"]
    assert {d["outcome"] for d in erased} == {"deleted"}
    # The citizen writes again: a new conversation, no thread opened again for the old one.
    desks.telegram.send_text(chat_id=CITIZEN, user_id=CITIZEN, text="Quand commencent les travaux?")
    await until(
        lambda: "Les travaux commencent au printemps." in desks.to_citizen_on_telegram(),
        "the assistant answering",
    )
    await asyncio.sleep(0.5)
    assert [t.deleted for t in desks.telegram.topics(STAFF_GROUP)] == [True]
