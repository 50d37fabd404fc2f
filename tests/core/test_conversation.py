"""The conversation core, with a fake dialogue engine: what is stored, what the citizen reads."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session, col, select

from bot.common.types import IncomingMessage
from bot.core.conversation import ConversationCore
from bot.dialogue.engine import DialogueReply
from bot.storage.models import (
    Conversation,
    Direction,
    HumanRequest,
    Message,
    MessageStatus,
    UnansweredQuestion,
)
from tests.support.dialogue import FakeDialogue


def said(text: str, conversation: str = "browser-1", **extra: str) -> IncomingMessage:
    return IncomingMessage(
        channel="web", conversation_key=conversation, sender_key=conversation, text=text, **extra
    )


def transcript(core: ConversationCore) -> list[tuple[str, str, str | None]]:
    with core.session() as session:
        rows = session.exec(select(Message).order_by(col(Message.id))).all()
        return [(m.direction.value, m.text, m.status.value if m.status else None) for m in rows]


async def test_a_turn_is_stored_both_ways(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    result = await core.handle(said("Est-ce que les travaux vont faire du bruit la nuit?"))
    assert result.answered
    assert result.language == "fr"
    assert [r.text for r in result.replies] == [
        "echo[fr]: Est-ce que les travaux vont faire du bruit la nuit?"
    ]
    with core.session() as session:
        incoming = session.exec(
            select(Message).where(Message.direction == Direction.INCOMING)
        ).one()
        assert (incoming.intent, incoming.confidence) == ("faq/noise", 0.8)
    assert transcript(core) == [
        ("in", "Est-ce que les travaux vont faire du bruit la nuit?", "answered"),
        ("out", "echo[fr]: Est-ce que les travaux vont faire du bruit la nuit?", None),
    ]
    sender, _, metadata = fake_dialogue.calls[0]
    assert metadata["language"] == "fr"
    assert metadata["message_id"] == result.message_id
    assert sender == result.conversation_id


async def test_short_replies_keep_the_conversation_language(core: ConversationCore) -> None:
    await core.handle(said("When will the construction work start on my road?"))
    result = await core.handle(said("ok"))
    assert result.language == "en"


async def test_an_explicit_choice_holds_over_short_messages(core: ConversationCore) -> None:
    await core.handle(said("hello", language_choice="fr"))
    assert (await core.handle(said("thanks"))).language == "fr"
    moved = await core.handle(said("Actually I would like the answers in English about the noise"))
    assert moved.language == "en"


async def test_what_the_engine_was_told_is_read_from_the_database(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    """Every replica reads the language the dialogue engine holds from the conversation's row:
    none of them remembers it alone."""
    await core.handle(said("When will the construction work start on my road?"))
    await core.handle(said("And how long will the works last on the road?"))
    assert fake_dialogue.told == [None, "en"]
    another_replica = FakeDialogue()
    core._dialogue = another_replica
    await core.handle(said("Will there be trucks at night on the road?"))
    assert another_replica.told == ["en"]
    another_replica.failing = True  # it may lose the conversation: tell it again next time
    await core.handle(said("Will there be trucks on Sunday on the road?"))
    another_replica.failing = False
    await core.handle(said("Will there be trucks on Saturday on the road?"))
    assert another_replica.told == ["en", "en", None]
    with core.session() as session:
        assert session.exec(select(Conversation.dialogue_language)).one() == "en"


async def test_engine_down_gets_an_honest_answer_and_reaches_a_person(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.failing = True
    result = await core.handle(said("Mon puits est à sec depuis le dynamitage"))
    assert not result.answered
    assert "une personne de l'équipe" in result.replies[0].text
    with core.session() as session:
        message = session.exec(select(Message).where(Message.direction == Direction.INCOMING)).one()
        assert message.status == MessageStatus.UNANSWERED
        assert message.text == "Mon puits est à sec depuis le dynamitage"
        unanswered = session.exec(select(UnansweredQuestion)).one()
        assert unanswered.reason == "engine_unavailable"
        assert session.exec(select(HumanRequest)).one().reason == "engine_unavailable"


async def test_engine_too_slow_answers_within_the_timeout(database, detector) -> None:  # type: ignore[no-untyped-def]
    class Slow(FakeDialogue):
        async def respond(self, **kwargs):  # type: ignore[no-untyped-def,override]
            await asyncio.sleep(30)
            return DialogueReply(["too late"])

    core = ConversationCore(engine=database, dialogue=Slow(), detector=detector, turn_timeout=0.2)
    started = asyncio.get_running_loop().time()
    result = await core.handle(said("when do the works start on the main road?"))
    assert asyncio.get_running_loop().time() - started < 2
    assert not result.answered
    assert "cannot answer right now" in result.replies[0].text


async def test_nothing_said_by_the_engine_is_treated_as_unanswered(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.answer = lambda text, metadata: []
    result = await core.handle(said("bonjour, une question sur le projet"))
    assert not result.answered
    assert transcript(core)[0][2] == "unanswered"


@pytest.mark.parametrize(
    ("text", "engine_sees"),
    [
        ("", None),
        ("   \n\t  ", None),
        ("\x00\x07\x1b", None),
        ("👍🌬️🙏", "👍🌬️🙏"),
        ("bonjour\x00 les\x1b voisins", "bonjour les voisins"),
        (
            "Hello, je voudrais know when the travaux start",
            "Hello, je voudrais know when the travaux start",
        ),
    ],
)
async def test_bad_input_gets_an_answer_and_is_stored(
    core: ConversationCore, fake_dialogue: FakeDialogue, text: str, engine_sees: str | None
) -> None:
    result = await core.handle(said(text))
    assert result.replies
    assert result.replies[0].text
    if engine_sees is None:
        assert fake_dialogue.calls == []
        assert "aucun texte" in result.replies[0].text or "any text" in result.replies[0].text
    else:
        assert fake_dialogue.calls[0][1] == engine_sees
    stored = transcript(core)
    assert stored[0][:2] == ("in", text.replace("\x00", "\ufffd"))  # PostgreSQL cannot hold NUL
    assert stored[1][0] == "out"


async def test_a_very_long_message_is_stored_whole_and_shortened_for_the_engine(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    text = "Les camions passent devant chez nous toute la journée. " * 182  # ~10,000 characters
    result = await core.handle(said(text))
    assert result.answered
    assert len(fake_dialogue.calls[0][1]) <= 2000
    assert transcript(core)[0][1] == text


async def test_turns_of_one_conversation_keep_their_order(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    async def slow_echo(text: str) -> DialogueReply:
        await asyncio.sleep(0.05 if text.endswith("1") else 0)
        return DialogueReply([f"re: {text}"])

    class Ordered(FakeDialogue):
        async def respond(self, *, sender_id, text, metadata, told_language=None):  # type: ignore[no-untyped-def,override]
            return await slow_echo(text)

    core._dialogue = Ordered()
    await asyncio.gather(*(core.handle(said(f"message numéro {i}")) for i in range(1, 4)))
    outgoing = [text for direction, text, _ in transcript(core) if direction == "out"]
    assert outgoing == [f"re: message numéro {i}" for i in range(1, 4)]


async def test_channels_and_conversations_are_kept_apart(core: ConversationCore) -> None:
    a = await core.handle(said("bonjour", conversation="alice-browser"))
    b = await core.handle(said("bonjour", conversation="bob-browser"))
    c = await core.handle(
        IncomingMessage(
            channel="terminal", conversation_key="alice-browser", sender_key="x", text="hi"
        )
    )
    assert len({a.conversation_id, b.conversation_id, c.conversation_id}) == 3
    with Session(core._db) as session:
        assert len(session.exec(select(Conversation)).all()) == 3


@pytest.mark.parametrize(("threads", "loop_free"), [(None, True), (0, False)])
async def test_a_turn_s_database_work_leaves_the_event_loop_free(
    core: ConversationCore,
    monkeypatch: pytest.MonkeyPatch,
    threads: int | None,
    loop_free: bool,
) -> None:
    """While a turn stores its message (here a database that takes 0.3 s), the event loop goes
    on serving the others: the work is in a database thread (unless DATABASE_THREADS=0)."""
    import time

    from bot.storage import repository

    if threads == 0:
        core._db_threads = None
    slow_store = repository.add_message

    def add_message(**kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return slow_store(**kwargs)

    monkeypatch.setattr(repository, "add_message", add_message)
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    await asyncio.sleep(0.02)
    before = ticks
    result = await core.handle(said("When will the construction work start on my road?"))
    during = ticks - before
    ticker.cancel()
    assert result.answered
    assert (during >= 10) is loop_free, during
