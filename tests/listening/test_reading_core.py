"""Every citizen's message is read: after its turn, off the event loop, the reading (sentiment,
score, topics) is stored on the message and its score on the concerns recorded from it. A reader
that fails or is slow never costs the citizen their message or their answer."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.common.language import LanguageDetector
from bot.common.types import Attachment, IncomingMessage
from bot.core.conversation import ConversationCore
from bot.desk.service import Desk
from bot.knowledge import KnowledgeBase
from bot.listening.reading import Reading
from bot.storage.models import Concern, Direction, Message, MessageStatus, utc_now
from tests.support.desk import always_open, says
from tests.support.dialogue import FakeDialogue, ScriptedDialogue, scripted_core

WORRY = "la poussière rend mes enfants malades"  # the scripted dialogue records it as a concern


class ScriptedReader:
    """Reads "malades", "dust" and "bruit" as negative, "merci" as positive, anything else as
    neutral; its topics are the ones it is told (intent, category). Can fail or wait on demand."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str | None]] = []
        self.failure: Exception | None = None
        self.release = threading.Event()
        self.release.set()

    def read(
        self,
        text: str,
        language: str | None,
        *,
        intent: str | None = None,
        category: str | None = None,
    ) -> Reading:
        self.calls.append(
            {
                "text": text,
                "language": language,
                "intent": intent,
                "category": category,
                "thread": threading.current_thread().name,
            }
        )
        self.release.wait(10)
        if self.failure is not None:
            raise self.failure
        faq_topic = intent.removeprefix("faq/") if intent and intent.startswith("faq/") else None
        topics = tuple(t for t in (faq_topic, category) if t is not None)
        if any(word in text.lower() for word in ("malades", "dust", "bruit")):
            return Reading("negative", -0.75, topics)
        if "merci" in text.lower():
            return Reading("positive", 0.9, topics)
        return Reading("neutral", 0.05, topics)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.zeros((len(texts), 4), dtype=np.float32)


@pytest.fixture
def reader() -> ScriptedReader:
    return ScriptedReader()


@pytest.fixture
def desk(database: Engine) -> Desk:
    return Desk(engine=database, schedule=always_open(), typical_wait_minutes=20)


@pytest.fixture
def reading_core(
    database: Engine,
    desk: Desk,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    reader: ScriptedReader,
) -> ConversationCore:
    """The core with the scripted dialogue of the desk tests (real actions: concerns, handoffs)."""
    return scripted_core(
        database, ScriptedDialogue(), detector, knowledge, desk=desk, reader=reader
    )


def incoming(database: Engine) -> list[Message]:
    with Session(database) as session:
        return list(
            session.exec(
                select(Message)
                .where(Message.direction == Direction.INCOMING)
                .order_by(col(Message.id))
            ).all()
        )


async def test_a_question_is_stored_with_its_reading_made_in_a_worker_thread(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    await reading_core.handle(says("Quand est-ce que les travaux commencent?"))
    await reading_core.settle_readings()

    [message] = incoming(database)
    assert (message.sentiment, message.sentiment_score, message.topics) == (
        "neutral",
        0.05,
        ["schedule"],
    )
    [call] = reader.calls
    assert call["intent"] == "faq/schedule"  # the intent the turn understood
    assert call["language"] == "fr"
    assert call["category"] is None
    assert call["thread"] != threading.main_thread().name


async def test_a_concern_gets_the_score_of_the_message_it_was_recorded_from(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    result = await reading_core.handle(says(WORRY))
    await reading_core.settle_readings()

    with Session(database) as session:
        concern = session.exec(select(Concern)).one()
        message = session.get(Message, result.message_id)
    assert message is not None
    assert concern.message_id == result.message_id
    assert concern.sentiment == -0.75
    assert message.sentiment == "negative"
    assert reader.calls[0]["intent"] == "report_concern"
    assert reader.calls[0]["category"] == concern.category
    assert message.topics == [concern.category]


async def test_messages_written_to_a_person_during_a_handoff_are_read_too(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    await reading_core.handle(says("je veux parler à quelqu'un"))
    result = await reading_core.handle(says("merci, j'attends votre appel"))
    assert result.with_person
    await reading_core.settle_readings()

    latest = incoming(database)[-1]
    assert latest.text == "merci, j'attends votre appel"
    assert (latest.sentiment, latest.sentiment_score) == ("positive", 0.9)
    [call] = [c for c in reader.calls if c["text"] == "merci, j'attends votre appel"]
    assert call["intent"] is None  # the assistant did not interpret it


async def test_a_failing_reader_loses_nothing_and_logs_no_words(
    reading_core: ConversationCore,
    reader: ScriptedReader,
    database: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader.failure = RuntimeError("the model is broken: " + WORRY)
    caplog.set_level(logging.INFO)

    result = await reading_core.handle(says(WORRY))
    await reading_core.settle_readings()

    assert result.answered
    assert result.replies
    [message] = incoming(database)
    assert message.text == WORRY
    assert message.status == MessageStatus.ANSWERED
    assert (message.sentiment, message.sentiment_score, message.topics) == (None, None, None)
    with Session(database) as session:
        assert session.exec(select(Concern)).one().sentiment is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(f"read-message-{result.message_id}" in r.getMessage() for r in warnings)
    assert all(
        "poussière" not in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
    )


async def test_a_slow_reader_does_not_hold_up_the_answer(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    reader.release.clear()  # the reader waits until told
    started = asyncio.get_running_loop().time()
    result = await reading_core.handle(says("the dust is everywhere"))
    took = asyncio.get_running_loop().time() - started

    assert result.replies
    assert took < 2
    assert incoming(database)[0].sentiment is None  # not read yet
    reader.release.set()
    await reading_core.settle_readings()
    assert incoming(database)[0].sentiment == "negative"


async def test_a_message_erased_while_it_was_read_keeps_no_reading(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    reader.release.clear()
    result = await reading_core.handle(says("the dust is everywhere"))
    with Session(database) as session:
        session.execute(
            update(Message).where(col(Message.id) == result.message_id).values(text="[erased]")
        )
        session.commit()
    reader.release.set()
    await reading_core.settle_readings()

    [message] = incoming(database)
    assert (message.text, message.sentiment, message.topics) == ("[erased]", None, None)


async def test_a_photo_without_words_is_not_read(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    photo = IncomingMessage(
        channel="telegram",
        conversation_key="chat-9",
        sender_key="chat-9",
        text="",
        attachments=(Attachment(kind="photo"),),
    )
    await reading_core.handle(photo)
    await reading_core.settle_readings()

    assert reader.calls == []
    assert incoming(database)[0].sentiment is None


async def test_a_message_kept_for_a_person_is_read(
    database: Engine, detector: LanguageDetector, reader: ScriptedReader
) -> None:
    core = ConversationCore(
        engine=database,
        dialogue=FakeDialogue(),
        detector=detector,
        first_contact_notice=False,
        reader=reader,
    )
    result = await core.keep_for_person(says("Le bruit des camions la nuit"), "engine_unavailable")
    await core.settle_readings()

    [message] = incoming(database)
    assert message.id == result.message_id
    assert (message.sentiment, message.sentiment_score) == ("negative", -0.75)
    assert reader.calls[0]["intent"] is None


async def test_a_reading_that_never_happened_is_made_by_the_sweep(
    reading_core: ConversationCore, reader: ScriptedReader, database: Engine
) -> None:
    """The reader failed (or the process stopped before the reading): the sweep reads the
    message later; a message with nothing to read (a photo) is passed over, not read again."""
    reader.failure = RuntimeError("the model is not there yet")
    await reading_core.handle(says(WORRY))
    await reading_core.handle(
        dataclasses.replace(says(""), attachments=(Attachment(kind="photo", details={}),))
    )
    await reading_core.settle_readings()
    assert [m.sentiment for m in incoming(database)] == [None, None]
    reader.failure = None

    assert reading_core.read_missed() == 0  # a turn of a moment ago may still be reading
    with Session(database) as session:
        session.execute(update(Message).values(created_at=utc_now() - timedelta(hours=1)))
        session.commit()
    assert reading_core.read_missed() == 1  # the photo has nothing to read
    await reading_core.settle_readings()
    worry, photo = incoming(database)
    assert (worry.sentiment, worry.sentiment_score) == ("negative", -0.75)
    assert photo.sentiment is None
    calls = len(reader.calls)
    assert reading_core.read_missed() == 0  # each message is looked at once
    assert len(reader.calls) == calls
