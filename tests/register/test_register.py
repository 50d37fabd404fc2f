"""The concern register as a community manager and a citizen live it: deadlines, lifecycle,
history nobody can rewrite, answers that reach the citizen, erasure and retention."""

from __future__ import annotations

import multiprocessing
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from bot.common.calendar import BusinessCalendar
from bot.common.text import ERASED
from bot.core.conversation import ConversationCore
from bot.register.filters import ConcernFilter
from bot.register.privacy import erase_citizen, purge_older_than
from bot.register.service import (
    ConcernNotFound,
    Register,
    RegisterError,
    StaleConcern,
    TransitionRefused,
    find_place,
    severity_of,
)
from bot.storage import repository
from bot.storage.database import open_database
from bot.storage.models import (
    AuditEntry,
    Concern,
    ConcernEvent,
    Conversation,
    HeardMessage,
    ListeningGroup,
    Message,
    OutboxMessage,
)
from tests.support.crash import dies_once_while_writing
from tests.support.dialogue import FakeDialogue
from tests.support.telegram import telegram

QC = BusinessCalendar(timezone="America/Toronto", country="CA", subdivision="QC")


# --- deadlines ------------------------------------------------------------------------------


def test_deadlines_skip_weekends_and_quebec_holidays() -> None:
    friday_evening = datetime(2026, 6, 19, 22, 30, tzinfo=UTC)  # 18:30 in Québec
    assert QC.add_business_days(friday_evening, 2) == date(2026, 6, 23)  # Mon, Tue
    before_fete = datetime(2026, 6, 23, 15, 0, tzinfo=UTC)  # Tuesday; 24 June is a holiday
    assert QC.add_business_days(before_fete, 2) == date(2026, 6, 26)
    assert QC.add_business_days(datetime(2026, 12, 23, 15, tzinfo=UTC), 2) == date(2026, 12, 28)


def test_the_project_time_zone_decides_the_day() -> None:
    late_in_quebec = datetime(2026, 3, 3, 4, 30, tzinfo=UTC)  # still Monday 23:30 in Québec
    assert QC.local_day(late_in_quebec) == date(2026, 3, 2)
    assert QC.add_business_days(late_in_quebec, 1) == date(2026, 3, 3)


def test_extra_days_off_count_as_holidays() -> None:
    calendar = BusinessCalendar(extra_holidays=[date(2026, 3, 3)])
    assert calendar.add_business_days(datetime(2026, 3, 2, 15, tzinfo=UTC), 1) == date(2026, 3, 4)


# --- recording from the chat --------------------------------------------------------------------


def citizen(session: Session, key: str = "1001", channel: str = "telegram") -> Conversation:
    return repository.get_or_create_conversation(
        session=session, channel=channel, external_id=key, citizen_id=f"tg-{key}", place="private"
    )


def heard(session: Session, member: str, words: str, *, at: datetime | None = None) -> None:
    """`member` said `words` in a Telegram community group the assistant listens to."""
    group = session.exec(select(ListeningGroup)).first()
    if group is None:
        group = ListeningGroup(channel="telegram", group_key="-100777")
        session.add(group)
        session.flush()
    assert group.id is not None
    count = len(session.exec(select(HeardMessage)).all())
    session.add(
        HeardMessage(
            group_id=group.id,
            channel="telegram",
            external_id=str(count + 1),
            member=member,
            text=words,
            language="fr",
            **({"created_at": at} if at else {}),
        )
    )
    session.commit()


def record(register: Register, session: Session, conversation: Conversation, words: str,
           category: str = "noise", language: str = "fr") -> Concern:  # fmt: skip
    message = repository.add_message(
        session=session, conversation=conversation, direction="in",  # type: ignore[arg-type]
        text=words, language=language,
    )  # fmt: skip
    return register.record(
        session=session, conversation=conversation, message_id=message.id, text=words,
        language=language, category=category,
    ).concern  # fmt: skip


@pytest.fixture
def register(database: Engine) -> Register:
    return Register(engine=database, calendar=QC, acknowledge_days=2, respond_days=21)


def test_a_recorded_concern_has_its_deadlines_place_and_severity(
    register: Register, session: Session
) -> None:
    concern = record(
        register, session, citizen(session),
        "Les camions passent sur le rang Saint-Joseph à 5 h, c'est dangereux pour les enfants",
        category="traffic",
    )  # fmt: skip
    assert re.fullmatch(r"C-\d{4}-0001", concern.reference)
    assert concern.status == "received"
    assert concern.citizen_id == "tg-1001"
    assert concern.place == "rang Saint-Joseph"
    assert concern.severity == "high"
    received = QC.local_day(concern.received_at)
    assert concern.acknowledge_by == QC.add_business_days(concern.received_at, 2)
    assert concern.respond_by == QC.add_business_days(concern.received_at, 21)
    assert concern.respond_by is not None
    assert concern.respond_by > received + timedelta(days=27)
    (event,) = register.history(concern.reference)
    assert (event.kind, event.actor, event.to_status) == ("received", "citizen", "received")


def test_a_message_on_the_same_open_subject_is_attached_not_duplicated(
    register: Register, session: Session
) -> None:
    conversation = citizen(session)
    first = record(register, session, conversation, "Le bruit des éoliennes la nuit")
    again = record(register, session, conversation, "Encore ce bruit cette nuit, 3 h du matin")
    other = record(register, session, conversation, "Mon puits est trouble", category="water")
    assert again.reference == first.reference
    assert other.reference != first.reference
    kinds = [e.kind for e in register.history(first.reference)]
    assert kinds == ["received", "detail"]
    assert len(session.exec(select(Concern)).all()) == 2


def test_a_request_for_confidentiality_is_recorded(register: Register, session: Session) -> None:
    concern = record(
        register, session, citizen(session),
        "Je vous écris en toute confidentialité : le bruit m'empêche de dormir",
    )  # fmt: skip
    assert concern.confidential
    plain = record(register, session, citizen(session, key="2"), "Le bruit la nuit")
    assert not plain.confidential


def test_places_and_severity_are_hints_from_the_words() -> None:
    assert find_place("Il y a de la poussière sur le chemin du Lac-Vert") == "chemin du Lac-Vert"
    assert find_place("Trucks speed on Miller Road every morning") == "Miller Road"
    assert find_place("Le lot 12 du rang 4 est inondé") == "lot 12"
    assert find_place("le bruit est insupportable") is None
    assert severity_of("l'eau du puits est contaminée!", "environment") == "high"
    assert severity_of("le paysage sera gâché", "landscape") == "low"
    assert severity_of("trop de bruit", "noise") == "medium"


# --- the team's side ---------------------------------------------------------------------------


def test_the_lifecycle_is_kept_with_who_and_when(register: Register, session: Session) -> None:
    concern = record(register, session, citizen(session), "Le bruit la nuit")
    ref = concern.reference
    register.acknowledge(ref, actor="staff:marie")
    register.assign(ref, actor="staff:marie", assignee="Jean")
    register.start_review(ref, actor="staff:jean")
    register.note(ref, actor="staff:jean", text="Mesure sonore prévue le 12")
    register.respond(ref, actor="staff:jean", text="Nous avons bridé l'éolienne T4 la nuit.")
    closed = register.close(ref, actor="staff:jean", outcome="resolved")
    assert (closed.status, closed.outcome) == ("closed", "resolved")
    assert closed.acknowledged_at is not None
    assert closed.responded_at is not None
    assert closed.closed_at is not None
    history = register.history(ref)
    assert [(e.kind, e.actor, e.to_status) for e in history] == [
        ("received", "citizen", "received"),
        ("transition", "staff:marie", "acknowledged"),
        ("assignment", "staff:marie", None),
        ("transition", "staff:jean", "in_review"),
        ("note", "staff:jean", None),
        ("transition", "staff:jean", "responded"),
        ("response", "staff:jean", None),
        ("transition", "staff:jean", "closed"),
    ]
    assert not next(e for e in history if e.kind == "note").visible_to_citizen


def test_an_appeal_gets_its_own_reply_by_date(register: Register, session: Session) -> None:
    concern = record(register, session, citizen(session), "Le bruit la nuit")
    register.respond(concern.reference, actor="staff:a", text="Nous avons bridé T4.")
    register.close(concern.reference, actor="staff:a", outcome="unresolved")
    reopened = register.reopen(concern.reference, actor="staff:a", reason="appel par téléphone")
    assert reopened.status == "in_review"
    assert reopened.responded_at is None
    assert reopened.respond_by == QC.add_business_days(datetime.now(UTC), 21)
    assert register.overdue(today=QC.today()) == []


def test_impossible_transitions_are_refused_in_one_sentence(
    register: Register, session: Session
) -> None:
    concern = record(register, session, citizen(session), "Le bruit la nuit")
    register.close(concern.reference, actor="staff:a", outcome="resolved")
    with pytest.raises(TransitionRefused, match="is closed; it cannot become responded"):
        register.respond(concern.reference, actor="staff:a", text="Trop tard")
    with pytest.raises(ConcernNotFound, match="There is no concern C-1999-0001"):
        register.get("c-1999-0001")
    with pytest.raises(RegisterError, match="outcome must be one of"):
        register.close(concern.reference, actor="staff:a", outcome="fixed")


def test_the_history_cannot_be_rewritten(
    register: Register, session: Session, database: Engine
) -> None:
    concern = record(register, session, citizen(session), "Le bruit la nuit")
    with database.connect() as connection:
        for statement in (
            "UPDATE concern_event SET actor = 'staff:someone-else'",
            "UPDATE concern_event SET to_status = 'closed'",
            "DELETE FROM concern_event",
        ):
            with pytest.raises((DBAPIError, IntegrityError)):
                connection.execute(text(statement))
            connection.rollback()
    assert len(register.history(concern.reference)) == 1


def test_a_staff_answer_reaches_the_citizen_on_telegram_in_their_language(
    register: Register, session: Session
) -> None:
    conversation = citizen(session)
    concern = record(register, session, conversation, "Too much dust on my road", category="traffic",
                     language="en")  # fmt: skip
    register.respond(concern.reference, actor="staff:jean", text="We will water the road daily.")
    outbox = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert [(m.destination, m.text) for m in outbox] == [
        ("1001", f"The project team's answer to your concern {concern.reference}:"),
        ("1001", "We will water the road daily."),
    ]


@pytest.mark.parametrize("step", ["acknowledge", "respond", "close"])
def test_a_staff_step_and_what_the_citizen_is_told_of_it_are_one_transaction(
    register: Register, session: Session, step: str
) -> None:
    """A crash while the message to the citizen is queued leaves the concern as it was (the
    team does the step again), never marked answered in the register with the citizen untold."""
    conversation = citizen(session)
    concern = record(register, session, conversation, "Mon puits est à sec", category="water")
    steps = {
        "acknowledge": lambda: register.acknowledge(concern.reference, actor="staff:jean"),
        "respond": lambda: register.respond(
            concern.reference, actor="staff:jean", text="Nous testerons votre puits lundi."
        ),
        "close": lambda: register.close(
            concern.reference, actor="staff:jean", outcome="resolved", message="Puits réparé."
        ),
    }
    with (
        dies_once_while_writing("the outbox", lambda row: isinstance(row, OutboxMessage)),
        pytest.raises(RuntimeError),
    ):
        steps[step]()
    assert register.get(concern.reference).status == "received"
    assert len(register.history(concern.reference)) == 1  # received, nothing more
    assert session.exec(select(OutboxMessage)).all() == []
    done = steps[step]()
    assert done.status == {"acknowledge": "acknowledged", "respond": "responded"}.get(
        step, "closed"
    )
    assert [m.destination for m in session.exec(select(OutboxMessage))] != []


def test_in_a_group_the_answer_is_not_posted_there(register: Register, session: Session) -> None:
    group = repository.get_or_create_conversation(
        session=session, channel="telegram", external_id="-500:tg-1001", citizen_id="tg-1001",
        place="group",
    )  # fmt: skip
    concern = record(register, session, group, "Le bruit la nuit")
    register.respond(concern.reference, actor="staff:jean", text="Détail personnel de la réponse")
    (notice,) = session.exec(select(OutboxMessage)).all()
    assert notice.destination == "-500"
    assert "Détail personnel" not in notice.text
    assert concern.reference in notice.text


def test_overdue_concerns_are_listed_with_the_deadline_missed(
    register: Register, session: Session
) -> None:
    concern = record(register, session, citizen(session), "Le bruit la nuit")
    assert register.overdue(today=QC.local_day(concern.received_at)) == []
    late = register.overdue(today=(concern.acknowledge_by or date.min) + timedelta(days=1))
    assert [(c.reference, which) for c, which in late] == [(concern.reference, "acknowledge")]
    register.acknowledge(concern.reference, actor="staff:a")
    later = register.overdue(today=(concern.respond_by or date.min) + timedelta(days=1))
    assert [(c.reference, which) for c, which in later] == [(concern.reference, "respond")]
    assert register.find(
        ConcernFilter(overdue_on=(concern.respond_by or date.min) + timedelta(days=1))
    )


# --- concurrent writers --------------------------------------------------------------------------


def _record_many(url: str, prefix: str, count: int) -> list[str]:
    engine = open_database(url)
    register = Register(engine=engine, calendar=QC)
    references = []
    with Session(engine, expire_on_commit=False) as session:
        for n in range(count):
            conversation = citizen(session, key=f"{prefix}{n}")
            references.append(
                record(register, session, conversation, f"bruit {prefix} {n}").reference
            )
    engine.dispose()
    return references


def _acknowledge_all(url: str, references: list[str], actor: str) -> int:
    engine = open_database(url)
    register = Register(engine=engine, calendar=QC)
    done = 0
    for reference in references:
        try:
            register.acknowledge(reference, actor=actor)
            done += 1
        except TransitionRefused:
            pass
    engine.dispose()
    return done


def test_two_processes_never_share_a_reference_or_lose_a_transition(
    database: Engine, tmp_path: Path
) -> None:
    url = database.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        batches = pool.starmap(_record_many, [(url, "a", 25), (url, "b", 25)])
    references = [r for batch in batches for r in batch]
    assert len(references) == len(set(references)) == 50
    with context.Pool(2) as pool:
        done = pool.starmap(
            _acknowledge_all, [(url, references, "staff:one"), (url, references, "staff:two")]
        )
    assert sum(done) == 50  # each concern acknowledged exactly once, by one of them
    with Session(database) as session:
        transitions = session.exec(
            select(ConcernEvent).where(ConcernEvent.to_status == "acknowledged")
        ).all()
        assert len(transitions) == 50
        assert {c.status for c in session.exec(select(Concern))} == {"acknowledged"}


def _change_all_seen_at_one(url: str, references: list[str], who: str) -> int:
    """Changes every concern as a person who read it at version 1 would (the desk's forms)."""
    engine = open_database(url)
    register = Register(engine=engine, calendar=QC)
    done = 0
    for reference in references:
        try:
            if who == "camille":
                register.classify(reference, actor=who, severity="high", seen=1)
            else:
                register.assign(reference, actor=who, assignee=who, seen=1)
            done += 1
        except StaleConcern:
            pass
    engine.dispose()
    return done


def test_two_staff_changing_one_concern_at_once_one_wins_the_other_is_told(
    database: Engine,
) -> None:
    url = database.url.render_as_string(hide_password=False)
    references = _record_many(url, "c", 30)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        done = pool.starmap(
            _change_all_seen_at_one, [(url, references, "camille"), (url, references, "sam")]
        )
    assert sum(done) == 30  # each concern changed once; the later change refused, not lost
    with Session(database) as session:
        for concern in session.exec(select(Concern)):
            changes = session.exec(
                select(ConcernEvent).where(
                    ConcernEvent.concern_id == concern.id,
                    col(ConcernEvent.kind).in_(["classification", "assignment"]),
                )
            ).all()
            assert len(changes) == 1
            assert concern.version == 2
            # The row holds exactly the change the history records.
            if changes[0].kind == "assignment":
                assert (concern.assignee, concern.severity) == ("sam", "medium")
            else:
                assert (concern.assignee, concern.severity) == (None, "high")


# --- privacy -----------------------------------------------------------------------------------


def test_erasure_keeps_an_anonymous_concern_and_writes_the_audit(
    register: Register, session: Session
) -> None:
    conversation = citizen(session)
    concern = record(register, session, conversation, "Mon puits au 12 rang Saint-Joseph est à sec")
    register.respond(concern.reference, actor="staff:a", text="Nous viendrons voir votre puits.")
    heard(session, conversation.citizen_id, "Le parc éolien a asséché mon puits")
    heard(session, "tg-2002", "Les éoliennes, moi ça me va")
    receipt = erase_citizen(session=session, conversation=conversation, actor="citizen")
    assert receipt.concerns == 1
    assert receipt.receipt.startswith("E-")
    session.expire_all()
    kept = session.exec(select(Concern)).one()
    assert kept.text == ERASED
    assert kept.place is None
    assert kept.citizen_id == "erased"
    assert (kept.category, kept.status) == ("noise", "responded")  # the counts stay true
    assert all(e.text is None for e in session.exec(select(ConcernEvent)))
    assert {m.text for m in session.exec(select(Message))} == {ERASED}
    # What they said in a listened group went too; a neighbour's words stay.
    assert [h.member for h in session.exec(select(HeardMessage))] == ["tg-2002"]
    erased = session.exec(select(Conversation)).one()
    assert erased.erased_at is not None
    assert "1001" not in erased.external_id + erased.citizen_id
    (audit,) = session.exec(select(AuditEntry)).all()
    assert audit.action == "erase"
    assert audit.detail["receipt"] == receipt.receipt


def test_retention_purges_old_conversations_but_keeps_open_concerns_workable(
    register: Register, session: Session, database: Engine
) -> None:
    old = citizen(session, key="old")
    open_concern = record(register, session, old, "Le bruit la nuit")
    closed_concern = record(register, session, old, "Poussière", category="traffic")
    register.close(closed_concern.reference, actor="staff:a", outcome="resolved")
    recent = citizen(session, key="recent")
    record(register, session, recent, "Le bruit la nuit aussi")
    later = datetime.now(UTC) + timedelta(days=800)
    recent.last_message_at = later
    session.add(recent)
    session.commit()
    heard(session, "tg-3003", "Les éoliennes de Trois-Collines")
    heard(session, "tg-3003", "Encore les éoliennes", at=later)
    assert purge_older_than(engine=database, days=730, actor="system", dry_run=True, now=later) == {
        "conversations": 1,
        "concerns": 1,
        "heard_messages": 1,
    }
    counts = purge_older_than(engine=database, days=730, actor="system", now=later)
    assert counts == {"conversations": 1, "concerns": 1, "heard_messages": 1}
    assert [h.text for h in session.exec(select(HeardMessage))] == ["Encore les éoliennes"]
    session.expire_all()
    assert session.get(Concern, closed_concern.id).text == ERASED  # type: ignore[union-attr]
    assert session.get(Concern, open_concern.id).text == "Le bruit la nuit"  # type: ignore[union-attr]
    assert session.get(Conversation, recent.id).erased_at is None  # type: ignore[union-attr]


# --- the citizen's side, in the chat ---------------------------------------------------------


async def test_the_citizen_withdraws_appeals_and_accepts_by_reference(
    core: ConversationCore, register: Register, fake_dialogue: FakeDialogue
) -> None:
    with core.session() as session:
        concern = record(register, session, citizen(session), "Le bruit la nuit")
    ref = concern.reference
    register.close(ref, actor="staff:a", outcome="unresolved")
    appeal = await core.handle(telegram(f"Je fais appel pour {ref}, rien n'a changé"))
    assert "rouverte" in appeal.replies[0].text
    assert register.get(ref).status == "in_review"
    withdrawn = await core.handle(telegram(f"Finalement je retire {ref}"))
    assert "retirée" in withdrawn.replies[0].text
    assert (register.get(ref).status, register.get(ref).outcome) == ("closed", "withdrawn")
    accepted = await core.handle(telegram(f"J'accepte la réponse pour {ref}"))
    assert "vous acceptez" in accepted.replies[0].text
    someone_else = await core.handle(telegram(f"je retire {ref}", key="2002"))
    assert "parmi les vôtres" in someone_else.replies[0].text
    assert not fake_dialogue.calls  # none of this needed the dialogue engine
    kinds = [(e.kind, e.actor) for e in register.history(ref)]
    assert ("appeal", "citizen") in kinds
    assert ("accepted", "citizen") in kinds


async def test_forget_me_needs_a_yes_then_erases_with_a_receipt(
    core: ConversationCore, register: Register, database: Engine
) -> None:
    with core.session() as session:
        conversation = citizen(session)
        record(register, session, conversation, "Mon puits est à sec")
        conversation.erase_requested_at = datetime.now(UTC)  # what action_forget_me does
        session.add(conversation)
        session.commit()
    done = await core.handle(telegram("oui"))
    assert re.search(r"reçu d'effacement : E-[0-9A-F]{8}", done.replies[0].text)
    with Session(database) as session:
        assert session.exec(select(Concern)).one().text == ERASED


async def test_a_no_cancels_the_erasure_and_a_late_yes_erases_nothing(
    core: ConversationCore, database: Engine
) -> None:
    with core.session() as session:
        conversation = citizen(session)
        conversation.erase_requested_at = datetime.now(UTC)
        session.add(conversation)
        session.commit()
    cancelled = await core.handle(telegram("non"))
    assert cancelled.replies[0].text == "D'accord, je n'efface rien."
    with core.session() as session:
        conversation = citizen(session)
        conversation.erase_requested_at = datetime.now(UTC) - timedelta(hours=2)
        session.add(conversation)
        session.commit()
    late = await core.handle(telegram("oui"))
    assert late.replies[0].text.startswith("echo[fr]")
    with Session(database) as session:
        assert session.exec(select(Conversation)).one().erased_at is None


async def test_first_contact_on_a_platform_says_what_is_kept_and_for_how_long(
    core: ConversationCore,
    database: Engine,
    detector,
    knowledge,  # type: ignore[no-untyped-def]
) -> None:
    noticed = ConversationCore(
        engine=database, dialogue=core._dialogue, detector=detector, retention_days=365
    )
    first = await noticed.handle(telegram("Bonjour, une question sur le projet"))
    assert "365 jours" in first.replies[0].text
    assert "robot" in first.replies[0].text
    second = await noticed.handle(telegram("Et une autre question"))
    assert all("365 jours" not in r.text for r in second.replies)


def test_two_turns_of_one_message_at_once_record_one_concern(
    register: Register, database: Engine
) -> None:
    """Two turns of the same message on two processes (a redelivery racing its original): both
    find no concern yet and both write one; the database's unique index keeps the first, and
    the second turn gets it back, so the citizen has one reference."""
    with Session(database, expire_on_commit=False) as session:
        conversation = citizen(session)
        message = repository.add_message(
            session=session, conversation=conversation, direction="in",  # type: ignore[arg-type]
            text="Les camions passent la nuit", language="fr",
        )  # fmt: skip
    both_writing = threading.Barrier(2, timeout=10)

    def turn() -> str:
        with Session(database, expire_on_commit=False) as session:

            @event.listens_for(session, "before_flush")
            def together(flushing: Session, *_: object) -> None:
                if any(isinstance(row, Concern) for row in flushing.new):
                    both_writing.wait()  # both have looked, found nothing, and now write

            return register.record(
                session=session, conversation=conversation, message_id=message.id,
                text="Les camions passent la nuit", language="fr", category="traffic",
            ).concern.reference  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        references = list(pool.map(lambda _: turn(), range(2)))
    assert references[0] == references[1]
    with Session(database) as session:
        concerns = session.exec(select(Concern)).all()
        received = session.exec(select(ConcernEvent).where(ConcernEvent.kind == "received")).all()
    assert len(concerns) == 1
    assert len(received) == 1
    with Session(database) as session:
        session.add(Concern(**{**concerns[0].model_dump(), "id": None, "reference": "C-2099-9999"}))
        with pytest.raises(IntegrityError):  # the index itself refuses a second one
            session.commit()
