"""Every message is heard for a concern, apart from its intent: a concern is recorded and
acknowledged first, then the question asked with it is answered (bot.register.hearing, run by the
core). The judge here is scripted; the trained model has its own tests (test_concern_model.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours
from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage
from bot.core.conversation import ConversationCore
from bot.desk.hours import DeskSchedule
from bot.desk.service import Desk
from bot.knowledge import KnowledgeBase
from bot.listening.concerns import Heard
from bot.listening.model import ReaderModelError
from bot.register.hearing import ConcernHearing
from bot.register.service import Register
from bot.storage.models import Concern, Message
from tests.support.dialogue import CATEGORIZER, FakeDialogue, ScriptedJudge

NOISE_ANSWER = "Le bruit des éoliennes respecte 40 dBA la nuit. Source : étude de bruit."


def web(text: str, key: str = "conv-1", **extra: Any) -> IncomingMessage:
    return IncomingMessage(channel="web", conversation_key=key, sender_key=key, text=text, **extra)


def telegram_group(text: str) -> IncomingMessage:
    return IncomingMessage(
        channel="telegram",
        conversation_key="-500:7",
        sender_key="tg-7",
        text=text,
        place="group",
        private_link="https://t.me/trois_collines_bot?start=private",
    )


@pytest.fixture
def judge() -> ScriptedJudge:
    return ScriptedJudge(
        {
            "The blasting last week cracked": (0.93, 0.03, "property_damage"),
            "Les camions vont passer": (0.88, 0.05, "traffic"),
            "I object to this project": (0.08, 0.9, "process"),
            "Les camions brisent": (0.9, 0.02, "traffic"),
            "ça me fâche": (0.3, 0.1, "other"),
        }
    )


def core_hearing_with(
    judge: ScriptedJudge,
    database: Engine,
    dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    desk: Desk | None = None,
) -> ConversationCore:
    """The core answering through `dialogue`, hearing concerns with `judge`; grievances are
    answered within 21 business days, objections 30."""
    register = Register(
        engine=database, calendar=BusinessCalendar(), respond_days=21, objection_respond_days=30
    )
    return ConversationCore(
        engine=database,
        dialogue=dialogue,
        detector=detector,
        turn_timeout=1.0,
        register=register,
        first_contact_notice=False,
        desk=desk,
        hearing=ConcernHearing(
            register=register, judge=judge, categorizer=CATEGORIZER, knowledge=knowledge
        ),
    )


@pytest.fixture
def heard_core(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    judge: ScriptedJudge,
) -> ConversationCore:
    return core_hearing_with(judge, database, fake_dialogue, detector, knowledge)


def concerns(core: ConversationCore) -> list[Concern]:
    with core.session() as session:
        return list(session.exec(select(Concern).order_by(Concern.id)))  # type: ignore[arg-type]


async def test_a_grievance_with_a_question_is_recorded_then_the_question_answered(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.intent = "faq/noise"
    fake_dialogue.answer = lambda text, metadata: [
        "Blasting is limited to 7 a.m.-7 p.m. Source: noise study."
    ]
    result = await heard_core.handle(
        web(
            "The blasting last week cracked the foundation of my house on Miller Road. Who pays for this?"
        )
    )
    texts = [r.text for r in result.replies]
    [concern] = concerns(heard_core)
    assert (concern.kind, concern.category, concern.place) == (
        "grievance",
        "property_damage",
        "Miller Road",
    )
    # The acknowledgement first, with the reference and the reply-by date; then the answer.
    assert concern.reference in texts[0]
    assert concern.respond_by is not None
    assert concern.respond_by.isoformat() in texts[0]
    assert "property damage" in texts[0]
    assert texts[1:] == [
        "As for your question:",
        "Blasting is limited to 7 a.m.-7 p.m. Source: noise study.",
    ]


async def test_a_neutral_question_stays_a_question(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue, judge: ScriptedJudge
) -> None:
    fake_dialogue.intent = "faq/noise"
    fake_dialogue.answer = lambda text, metadata: [NOISE_ANSWER]
    result = await heard_core.handle(web("Will there be noise at night?"))
    assert [r.text for r in result.replies] == [NOISE_ANSWER]
    assert concerns(heard_core) == []
    assert judge.heard == ["Will there be noise at night?"]


async def test_an_objection_gets_its_own_words_and_its_own_reply_by_date(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.intent = "faq/overview"
    fake_dialogue.answer = lambda text, metadata: ["The project has 28 turbines."]
    result = await heard_core.handle(
        web("I object to this project, it is too big and takes top-grade farmland.")
    )
    [concern] = concerns(heard_core)
    assert (concern.kind, concern.category) == ("objection", "process")
    assert "recorded your objection" in result.replies[0].text
    calendar = BusinessCalendar()
    assert concern.respond_by == calendar.add_business_days(concern.received_at, 30)


async def test_a_concern_understood_by_the_dialogue_gets_the_reviewed_answer_on_its_subject(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.intent = "report_concern"
    fake_dialogue.answer = lambda text, metadata: []  # Rasa's action says nothing
    result = await heard_core.handle(
        web("Les camions vont passer devant chez nous sur le rang 4, j'ai peur pour mes enfants")
    )
    texts = [r.text for r in result.replies]
    [concern] = concerns(heard_core)
    assert (concern.kind, concern.category, concern.language) == ("grievance", "traffic", "fr")
    assert concern.reference in texts[0]
    assert "circulation" in texts[0]
    assert texts[1] == "En attendant, voici ce que disent les documents du projet à ce sujet :"
    assert "Source" in texts[2]
    assert result.answered


async def test_the_intent_lowers_the_bar_but_does_not_decide_alone(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.intent = "report_concern"
    fake_dialogue.answer = lambda text, metadata: []
    # 0.4 heard: under the threshold (0.5), over the one with the intent (0.25).
    result = await heard_core.handle(web("ça me fâche un peu tout ça"))
    assert len(concerns(heard_core)) == 1
    # Heard as nothing at all: the dialogue's guess alone records nothing, and says how.
    result = await heard_core.handle(web("hmm ok je vois", key="conv-2"))
    assert len(concerns(heard_core)) == 1
    assert "décrivez-le-moi" in result.replies[0].text


async def test_the_whole_message_is_heard_and_kept_when_the_dialogue_reads_a_shortened_copy(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue, judge: ScriptedJudge
) -> None:
    whole = "Les camions brisent le chemin. " * 300
    fake_dialogue.intent = "faq/traffic"
    await heard_core.handle(web(whole))
    assert len(fake_dialogue.calls[0][1]) <= 2000
    assert judge.heard == [whole.strip()]
    [concern] = concerns(heard_core)
    assert concern.text == whole.strip()


async def test_a_second_message_on_the_same_subject_is_added_to_the_open_concern(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.intent = "report_concern"
    fake_dialogue.answer = lambda text, metadata: []
    await heard_core.handle(web("Les camions vont passer devant chez nous, j'ai peur"))
    again = await heard_core.handle(web("Les camions brisent le chemin tous les jours"))
    [concern] = concerns(heard_core)
    assert f"ajouté ce message à votre préoccupation {concern.reference}" in again.replies[0].text
    assert len(again.replies) == 1  # the answer on the subject was given the first time


async def test_a_concern_is_recorded_even_when_the_dialogue_engine_is_down(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.failing = True
    result = await heard_core.handle(
        web("The blasting last week cracked the foundation of my house.")
    )
    [concern] = concerns(heard_core)
    texts = [r.text for r in result.replies]
    assert concern.reference in texts[0]
    assert "cannot answer right now" in texts[1]
    assert not result.answered  # and the message waits for a person


async def test_when_the_model_fails_the_intent_decides_as_before(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue, judge: ScriptedJudge
) -> None:
    judge.failing = ReaderModelError("the weights are missing")
    fake_dialogue.intent = "faq/traffic"
    await heard_core.handle(web("Les camions vont passer devant chez nous, j'ai peur"))
    assert concerns(heard_core) == []
    fake_dialogue.intent = "report_concern"
    fake_dialogue.answer = lambda text, metadata: []
    judge.failing = RuntimeError("anything else")
    result = await heard_core.handle(web("mon puits est à sec depuis le dynamitage", key="c3"))
    [concern] = concerns(heard_core)
    assert (concern.kind, concern.category) == ("grievance", "water")
    assert concern.reference in result.replies[0].text


async def test_in_a_group_the_reference_is_given_without_the_words_and_the_answer_kept(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.intent = "faq/noise"
    fake_dialogue.answer = lambda text, metadata: ["Blasting: 7 a.m.-7 p.m. Source: noise study."]
    result = await heard_core.handle(
        telegram_group(
            "The blasting last week cracked the foundation of my house on Miller Road. Who pays?"
        )
    )
    texts = [r.text for r in result.replies]
    [concern] = concerns(heard_core)
    assert concern.reference in texts[0]
    assert "https://t.me/trois_collines_bot?start=private" in texts[0]
    assert not any("Miller" in t or "foundation" in t for t in texts)
    assert texts[-1] == "Blasting: 7 a.m.-7 p.m. Source: noise study."


async def test_a_category_that_needs_a_person_brings_one_after_the_acknowledgement(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    judge: ScriptedJudge,
) -> None:
    desk = Desk(
        engine=database,
        schedule=DeskSchedule(DeskHours.parse("always"), BusinessCalendar()),
        handoff_categories=("property_damage",),
    )
    core = core_hearing_with(judge, database, fake_dialogue, detector, knowledge, desk)
    fake_dialogue.intent = "faq/noise"
    result = await core.handle(web("The blasting last week cracked the foundation of my house."))
    texts = [r.text for r in result.replies]
    [concern] = concerns(core)
    assert concern.reference in texts[0]
    assert result.with_person
    with core.session() as session:
        assert desk.open_handoff(session, concern.conversation_id) is not None


async def test_hearing_runs_beside_the_dialogue_not_after_it(
    heard_core: ConversationCore, fake_dialogue: FakeDialogue, judge: ScriptedJudge
) -> None:
    order: list[str] = []
    hear = judge.hear

    def slow_hear(text: str) -> Heard:
        order.append("hearing started")
        import time

        time.sleep(0.2)
        return hear(text)

    judge.hear = slow_hear  # type: ignore[method-assign]
    original = fake_dialogue.respond

    async def respond(**kwargs: Any) -> Any:
        await asyncio.sleep(0.05)
        order.append("dialogue answered")
        return await original(**kwargs)

    fake_dialogue.respond = respond  # type: ignore[method-assign]
    await heard_core.handle(web("Will there be noise at night?"))
    assert order == ["hearing started", "dialogue answered"]
    with heard_core.session() as session:
        assert session.exec(select(Message)).first() is not None
