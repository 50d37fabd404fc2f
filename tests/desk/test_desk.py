"""Handoffs to a person, read as conversations: when a person is asked to join, the assistant's
silence meanwhile, one owner per conversation, the team's answers reaching the citizen, the
hand-back and the rating, alerts, and restarts in the middle."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours
from bot.common.language import LanguageDetector
from bot.core.conversation import ConversationCore
from bot.desk.hours import DeskSchedule
from bot.desk.relay import CannotDelete, DeskThreads, Relay
from bot.desk.service import AlreadyClaimed, Desk, DeskError, HandoffClosed, parse_outcome
from bot.knowledge import KnowledgeBase
from bot.register.privacy import erase_citizen
from bot.staff_web.accounts import StaffMember
from bot.storage import repository
from bot.storage.models import (
    AuditEntry,
    Conversation,
    DeskThread,
    Handoff,
    HandoffEvent,
    Message,
    MessageStatus,
    OutboxMessage,
)
from tests.support.crash import replies_fail_to_store_once
from tests.support.desk import always_open, says
from tests.support.dialogue import ScriptedDialogue, scripted_core

MARIE = StaffMember(key="staff:web:marie", name="Marie Tremblay", desk="web")
LOUIS = StaffMember(key="staff:telegram:42", name="Louis", desk="telegram")


@pytest.fixture
def desk(database: Engine) -> Desk:
    return Desk(engine=database, schedule=always_open(), typical_wait_minutes=20)


@pytest.fixture
def dialogue() -> ScriptedDialogue:
    return ScriptedDialogue()


@pytest.fixture
def core(
    database: Engine,
    desk: Desk,
    dialogue: ScriptedDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> ConversationCore:
    return scripted_core(database, dialogue, detector, knowledge, desk=desk)


def handoffs(database: Engine) -> list[Handoff]:
    with Session(database) as session:
        return list(session.exec(select(Handoff).order_by(col(Handoff.id))).all())


def conversation_of(database: Engine, key: str = "citizen-1") -> Conversation:
    with Session(database) as session:
        return session.exec(select(Conversation).where(Conversation.external_id == key)).one()


def project_messages(database: Engine, key: str = "citizen-1") -> list[Message]:
    """What the project sent on its own initiative (the citizen's page fetches these)."""
    with Session(database) as session:
        conversation = conversation_of(database, key)
        return list(
            session.exec(
                select(Message)
                .where(
                    Message.conversation_id == conversation.id,
                    col(Message.reply_to).is_(None),
                    Message.direction == "out",
                )
                .order_by(col(Message.id))
            ).all()
        )


# --- when a person steps in ------------------------------------------------------------------


async def test_asking_for_a_person_opens_a_handoff_and_the_assistant_then_stays_silent(
    core: ConversationCore, dialogue: ScriptedDialogue, database: Engine
) -> None:
    asked = await core.handle(says("Je veux parler à quelqu'un"))
    assert "personne de l'équipe du projet" in asked.replies[0].text
    assert "moins de 20 minutes" in asked.replies[0].text
    assert asked.with_person
    [handoff] = handoffs(database)
    assert (handoff.reason, handoff.status) == ("asked_human", "waiting")
    assert handoff.reference.startswith("H-")

    calls = len(dialogue.calls)
    first = await core.handle(says("Mon puits est à sec depuis le dynamitage"))
    second = await core.handle(says("Et j'ai une autre question"))
    assert len(dialogue.calls) == calls  # the assistant is not asked anything meanwhile
    assert handoff.reference in first.replies[0].text  # told once that it reached the team
    assert second.replies == ()  # and not at every message
    with Session(database) as session:
        kept = session.exec(select(Message).where(Message.status == MessageStatus.FOR_DESK)).all()
    assert [m.text for m in kept] == [
        "Mon puits est à sec depuis le dynamitage",
        "Et j'ai une autre question",
    ]


async def test_a_message_to_the_team_cut_short_is_kept_and_acknowledged_on_redelivery(
    core: ConversationCore, database: Engine
) -> None:
    """Marked for the desk and told it reached the team, in one transaction: a platform's
    redelivery after a crash between the two never leaves the citizen without the reminder."""
    await core.handle(says("Je veux parler à quelqu'un", channel="telegram"))
    [handoff] = handoffs(database)
    message = dataclasses.replace(
        says("Mon puits est à sec", channel="telegram"), external_id="citizen-1:7"
    )
    with replies_fail_to_store_once(), pytest.raises(RuntimeError):
        await core.handle(message)
    again = await core.handle(message)
    assert not again.replayed
    assert handoff.reference in again.replies[0].text
    assert (await core.handle(message)).replies == again.replies  # replayed from storage now
    with Session(database) as session:
        kept = session.exec(select(Message).where(Message.status == MessageStatus.FOR_DESK)).all()
    assert [m.text for m in kept] == ["Mon puits est à sec"]


async def test_words_of_danger_bring_a_person_and_say_whom_to_call(
    core: ConversationCore, database: Engine
) -> None:
    result = await core.handle(says("There is a fire behind the site and a worker is injured"))
    assert result.replies[0].text == "Les travaux commencent au printemps."
    told = result.replies[-1].text
    assert "call 911" in told
    assert "danger" in told
    [handoff] = handoffs(database)
    assert handoff.reason == "urgent"
    assert "fire" in (handoff.detail or "")
    assert "injured" in (handoff.detail or "")


async def test_a_question_about_risks_is_answered_without_a_handoff(
    core: ConversationCore, database: Engine
) -> None:
    await core.handle(says("Est-ce que le dynamitage est dangereux pour les maisons ?"))
    assert handoffs(database) == []


async def test_a_strongly_negative_message_brings_a_person(
    core: ConversationCore, database: Engine
) -> None:
    result = await core.handle(says("C'est une honte, vous êtes des menteurs"))
    assert "mérite une réponse d'une personne" in result.replies[-1].text
    assert handoffs(database)[0].reason == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "The dust from the trucks covers my garden every day, it is unacceptable.",
        "Le bruit des camions à 6 h du matin, c'est inacceptable",
        "Je ne suis pas d'accord avec le tracé de la route",
    ],
)
async def test_a_plain_complaint_is_left_to_the_register(
    core: ConversationCore, database: Engine, text: str
) -> None:
    await core.handle(says(text))
    assert handoffs(database) == []


async def test_two_misunderstandings_in_a_row_bring_a_person(
    core: ConversationCore, database: Engine
) -> None:
    await core.handle(says("blorp zzz"))
    assert handoffs(database) == []
    result = await core.handle(says("qwerty uiop"))
    assert "ne comprends pas bien" in result.replies[-1].text
    assert handoffs(database)[0].reason == "not_understood"


async def test_understanding_in_between_resets_the_count(
    core: ConversationCore, database: Engine
) -> None:
    await core.handle(says("blorp zzz"))
    await core.handle(says("Quand commencent les travaux?"))
    await core.handle(says("qwerty uiop"))
    assert handoffs(database) == []


async def test_a_concern_in_a_category_that_needs_a_person_brings_one(
    core: ConversationCore, database: Engine
) -> None:
    result = await core.handle(says("La poussière rend mes enfants malades"))
    texts = " ".join(r.text for r in result.replies)
    assert "C-" in texts  # the concern is recorded with its reference
    assert "santé et sécurité" in texts
    assert "personne" in texts
    assert handoffs(database)[0].reason == "category"


async def test_in_a_group_nobody_takes_over_but_the_emergency_number_is_given(
    core: ConversationCore, database: Engine
) -> None:
    result = await core.handle(
        says("Il y a le feu au chantier!", channel="telegram", key="-100:p1", place="group")
    )
    assert "911" in result.replies[-1].text
    assert handoffs(database) == []


async def test_out_of_office_hours_the_citizen_is_told_when_to_expect_an_answer(
    database: Engine,
    dialogue: ScriptedDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> None:
    desk = Desk(
        engine=database,
        schedule=DeskSchedule(DeskHours.parse("mon-fri 08:30-17:00"), BusinessCalendar()),
        hours_text={"fr": "lundi au vendredi, 8 h 30 à 17 h", "en": "Monday to Friday"},
    )
    # Saturday 2026-11-21 at 10:00 in Québec: the team is back on Monday at 8:30.
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert desk.when_text("fr", now=saturday) == (
        "L'équipe est absente en ce moment (lundi au vendredi, 8 h 30 à 17 h) : attendez-vous "
        "à une réponse à partir du 2026-11-23 à 08 h 30."
    )
    assert "from 2026-11-23 at 08:30" in desk.when_text("en", now=saturday)


# --- one owner, answers, hand back ---------------------------------------------------------


async def test_a_person_joins_answers_and_hands_back_and_the_citizen_rates_the_help(
    core: ConversationCore, desk: Desk, dialogue: ScriptedDialogue, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    reference = handoffs(database)[0].reference
    with desk.session() as session:
        desk.claim(session, reference, MARIE)
        desk.reply(session, reference, MARIE, "Bonjour, je regarde votre dossier.")
    told = [m.text for m in project_messages(database)]
    assert told[0].startswith("Marie s'est joint(e) à la conversation")
    assert told[1] == "Marie : Bonjour, je regarde votre dossier."
    with Session(database) as session:
        reply = session.exec(select(Message).where(Message.author == MARIE.key)).one()
    assert reply.text.endswith("je regarde votre dossier.")

    quiet = await core.handle(says("Merci, j'attends"))
    assert quiet.replies == ()  # a person is there: no reminder either

    with desk.session() as session:
        desk.close(session, reference, MARIE, outcome="resolved")
    told = [m.text for m in project_messages(database)]
    assert told[2].startswith("Marie a quitté la conversation")
    assert "de 1 (pas utile) à 5" in told[3]

    rated = await core.handle(says("4"))
    assert rated.replies[0].text.startswith("Merci pour votre note (4/5)")
    [handoff] = handoffs(database)
    assert (handoff.status, handoff.outcome, handoff.rating) == ("closed", "resolved", 4)

    calls = len(dialogue.calls)
    answered = await core.handle(says("Quand commencent les travaux?"))
    assert len(dialogue.calls) == calls + 1  # the assistant is back
    assert answered.replies[0].text == "Les travaux commencent au printemps."


async def test_the_rating_question_lapses_when_the_citizen_asks_something_else(
    core: ConversationCore, desk: Desk, dialogue: ScriptedDialogue, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    reference = handoffs(database)[0].reference
    with desk.session() as session:
        desk.close(session, reference, MARIE, outcome="unresolved")
    await core.handle(says("Quand commencent les travaux?"))
    late = await core.handle(says("5"))
    assert "note" not in late.replies[0].text
    assert handoffs(database)[0].rating is None


async def test_anonymous_staff_are_a_member_of_the_project_team(
    core: ConversationCore, database: Engine
) -> None:
    desk = Desk(engine=database, schedule=always_open(), staff_anonymous=True)
    await core.handle(says("I want to talk to a person"))
    reference = handoffs(database)[0].reference
    with desk.session() as session:
        desk.claim(session, reference, MARIE)
        desk.reply(session, reference, MARIE, "Hello")
    told = [m.text for m in project_messages(database)]
    assert told[0].startswith("A member of the project team has joined")
    assert told[1] == "A member of the project team: Hello"
    assert "Marie" not in " ".join(told)


async def test_a_reply_to_a_telegram_citizen_is_queued_on_telegram(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("I want to talk to a person", channel="telegram", key="5551"))
    reference = handoffs(database)[0].reference
    with desk.session() as session:
        desk.reply(session, reference, LOUIS, "Hi, Louis here.")
    with Session(database) as session:
        queued = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert [(q.destination, q.text) for q in queued][-2:] == [
        (
            "5551",
            "Louis has joined the conversation. You are now talking with a person, not the automated assistant.",
        ),
        ("5551", "Louis: Hi, Louis here."),
    ]


async def test_exactly_one_of_two_managers_claiming_at_once_wins(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    reference = handoffs(database)[0].reference
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def claim(staff: StaffMember) -> None:
        barrier.wait()
        with desk.session() as session:
            try:
                desk.claim(session, reference, staff)
                outcomes[staff.name] = "won"
            except AlreadyClaimed as exc:
                outcomes[staff.name] = str(exc)

    threads = [threading.Thread(target=claim, args=(s,)) for s in (MARIE, LOUIS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values())[-1] == "won"
    assert list(outcomes.values()).count("won") == 1
    [handoff] = handoffs(database)
    winner = MARIE if outcomes[MARIE.name] == "won" else LOUIS
    assert handoff.owner == winner.key
    joined = [m.text for m in project_messages(database) if "joint(e)" in m.text]
    assert len(joined) == 1  # the citizen hears of one person only


async def test_only_the_owner_answers_or_closes_and_refusals_are_audited(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    reference = handoffs(database)[0].reference
    with desk.session() as session:
        desk.claim(session, reference, MARIE)
        with pytest.raises(AlreadyClaimed, match="Marie Tremblay owns"):
            desk.reply(session, reference, LOUIS, "Je prends le relais")
        with pytest.raises(AlreadyClaimed):
            desk.close(session, reference, LOUIS)
        desk.note(session, reference, LOUIS, "Voisin du lot 12, déjà venu en 2025")
        desk.close(session, reference, MARIE)
        with pytest.raises(HandoffClosed):
            desk.reply(session, reference, MARIE, "encore")
    with Session(database) as session:
        audit = [
            (a.actor, a.action)
            for a in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
        ]
        notes = session.exec(select(HandoffEvent).where(HandoffEvent.kind == "note")).all()
    assert ("staff:telegram:42", "desk.not_owner") in audit
    assert ("staff:web:marie", "desk.claim") in audit
    assert ("staff:web:marie", "desk.close") in audit
    assert ("staff:telegram:42", "desk.note") in audit
    assert [n.text for n in notes] == ["Voisin du lot 12, déjà venu en 2025"]
    assert all("lot 12" not in m.text for m in project_messages(database))  # notes stay inside


async def test_the_first_to_answer_an_unclaimed_conversation_owns_it(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    reference = handoffs(database)[0].reference
    with desk.session() as session:
        desk.reply(session, reference, LOUIS, "Bonjour")
    assert handoffs(database)[0].owner == LOUIS.key


async def test_a_manager_takes_a_conversation_over_on_their_own_initiative(
    core: ConversationCore, desk: Desk, dialogue: ScriptedDialogue, database: Engine
) -> None:
    await core.handle(says("Quand commencent les travaux?"))
    conversation = conversation_of(database)
    with desk.session() as session:
        handoff = desk.take_over(session, conversation.id or 0, MARIE)
    assert (handoff.reason, handoff.status, handoff.owner) == ("staff", "active", MARIE.key)
    calls = len(dialogue.calls)
    await core.handle(says("Ah bonjour Marie"))
    assert len(dialogue.calls) == calls


async def test_the_summary_shows_what_a_manager_needs_before_answering(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("La poussière rend mes enfants malades"))
    await core.handle(says("Et le bruit la nuit aussi"))
    with desk.session() as session:
        handoff = desk.get(session, handoffs(database)[0].reference)
        summary = desk.summary(session, handoff)
    assert summary.language == "fr"
    assert summary.reason == "category"
    assert summary.asked == ("La poussière rend mes enfants malades", "Et le bruit la nuit aussi")
    assert ("report_concern", 1) in summary.intents
    [(reference, category, status)] = summary.open_concerns
    assert reference.startswith("C-")
    assert category == "health_safety"
    assert status == "received"
    text = summary.as_text()
    assert reference in text
    assert "report_concern" in text


async def test_a_handoff_survives_a_restart(
    database: Engine,
    dialogue: ScriptedDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> None:
    first = scripted_core(
        database, dialogue, detector, knowledge, desk=Desk(engine=database, schedule=always_open())
    )
    await first.handle(says("Je veux parler à quelqu'un"))
    # The process stops; a new one starts on the same database.
    desk = Desk(engine=database, schedule=always_open())
    second = scripted_core(database, ScriptedDialogue(), detector, knowledge, desk=desk)
    result = await second.handle(says("Vous êtes là ?"))
    assert result.with_person
    with desk.session() as session:
        desk.claim(session, handoffs(database)[0].reference, MARIE)
        desk.reply(session, handoffs(database)[0].reference, MARIE, "Oui !")
    assert project_messages(database)[-1].text == "Marie : Oui !"


async def test_waiting_conversations_alert_the_staff_again(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    now = datetime.now(UTC)
    assert desk.alerts_due(now=now) == []
    with Session(database) as session:
        session.execute(update(Handoff).values(requested_at=now - timedelta(minutes=16)))
        session.commit()
    [alerted] = desk.alerts_due(now=now)
    assert alerted.alert_count == 1
    assert desk.alerts_due(now=now + timedelta(minutes=5)) == []  # not again at once
    [again] = desk.alerts_due(now=now + timedelta(minutes=16))
    assert again.alert_count == 2
    with desk.session() as session:
        desk.claim(session, alerted.reference, MARIE)
    assert desk.alerts_due(now=now + timedelta(hours=2)) == []  # someone is on it


async def test_no_alerts_while_the_desk_is_closed(database: Engine) -> None:
    desk = Desk(
        engine=database,
        schedule=DeskSchedule(DeskHours.parse("mon-fri 08:30-17:00"), BusinessCalendar()),
    )
    with Session(database, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="web", external_id="c-1", citizen_id="c-1"
        )
        desk.request(session, conversation, reason="asked_human")
    sunday = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    with Session(database) as session:
        session.execute(update(Handoff).values(requested_at=sunday - timedelta(hours=3)))
        session.commit()
    assert desk.alerts_due(now=sunday) == []
    monday = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert len(desk.alerts_due(now=monday)) == 1


def test_the_close_command_reads_outcome_and_rating_words() -> None:
    assert parse_outcome([]) == ("resolved", True)
    assert parse_outcome(["unresolved", "norating"]) == ("unresolved", False)
    assert parse_outcome(["Résolu"]) == ("resolved", True)
    with pytest.raises(DeskError, match="write /close"):
        parse_outcome(["maybe"])


class RefusingThreads(DeskThreads):
    """A chat desk where the bot may open threads and write but not delete (missing rights)."""

    desk = "telegram"

    def __init__(self) -> None:
        self.posted: dict[str, list[str]] = {}
        self.alerts: list[str] = []
        self.notices: list[str] = []

    async def open_thread(self, title: str) -> str:
        thread_id = str(len(self.posted) + 1)
        self.posted[thread_id] = [title]
        return thread_id

    async def post(self, thread_id: str, text: str) -> None:
        self.posted[thread_id].append(text)

    async def set_closed(self, thread_id: str, closed: bool) -> None:
        pass

    async def delete_thread(self, thread_id: str) -> None:
        raise CannotDelete("not enough rights to delete the topic")

    async def alert(self, text: str) -> None:
        self.alerts.append(text)

    async def notice(self, text: str) -> None:
        self.notices.append(text)


async def test_a_thread_the_bot_may_not_delete_after_an_erasure_is_left_to_the_staff(
    core: ConversationCore, desk: Desk, database: Engine
) -> None:
    await core.handle(says("Je veux parler à quelqu'un"))
    threads = RefusingThreads()
    relay = Relay(desk=desk, engine=database, threads=threads)
    await relay.sync()
    [(_thread_id, posted)] = threads.posted.items()
    reference = handoffs(database)[0].reference
    assert reference in posted[0]
    with Session(database) as session:
        erase_citizen(session=session, conversation=conversation_of(database), actor="citizen")

    await relay.sync()
    await relay.sync()  # told once, not at every round
    [alert] = threads.alerts
    assert reference in alert
    assert "delete it by hand" in alert
    assert threads.notices == []
    with Session(database) as session:
        assert session.exec(select(DeskThread)).all() == []
        [audit] = [a for a in session.exec(select(AuditEntry)) if a.action == "desk.thread_erased"]
    assert audit.detail == {"desk": "telegram", "reference": reference, "outcome": "not_deleted"}
    assert handoffs(database)[0].outcome == "erased"
