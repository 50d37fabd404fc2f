"""The common project read as conversations: a consultation put to subscribers on every
channel, answered in plain text and through the platforms' polls, changed, closed and given
back; the audience "anyone"; the idea box; the engaged members; erasure; the command."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.cli import main
from bot.common.language import LanguageDetector
from bot.common.text import ERASED
from bot.common.types import IncomingMessage, Place
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.listening.intents import GuardedIntentReader, HeardIntent, IntentReader
from bot.participation import volunteers
from bot.participation.consultations import (
    ConsultationError,
    Consultations,
    Draft,
    Option,
    choice_index,
)
from bot.participation.ideas import IdeaBox, record_idea
from bot.participation.service import Participation
from bot.participation.web import parse_options
from bot.register.privacy import erase_citizen
from bot.storage.models import (
    AuditEntry,
    Concern,
    ConsultationInvite,
    ConsultationVote,
    Conversation,
    Idea,
    Message,
    OutboxMessage,
    Subscription,
    Volunteer,
    utc_now,
)
from bot.updates.service import UpdateService
from tests.support.crash import dies_once_while_writing
from tests.support.dialogue import ScriptedDialogue, ScriptedJudge, scripted_core
from tests.support.gaps import E5Reader
from tests.support.updates import subscribe

ROUTES = (
    Option(fr="Par le rang 4", en="By Rang 4"),
    Option(fr="Par la route 132", en="By Route 132"),
    Option(fr="Aucune préférence", en="No preference"),
)


def consultations_for(database: Engine, knowledge: KnowledgeBase) -> Consultations:
    return Consultations(
        engine=database,
        knowledge=knowledge,
        updates=UpdateService(
            engine=database, knowledge=knowledge, languages=("fr", "en"), default_language="fr"
        ),
        languages=("fr", "en"),
        default_language="fr",
    )


def draft(**changes: object) -> Draft:
    values: dict[str, object] = {
        "question_fr": "Par où les camions devraient-ils passer l'été prochain?",
        "question_en": "Which way should the trucks go next summer?",
        "purpose_fr": "L'équipe retiendra le trajet préféré dans le plan de circulation.",
        "purpose_en": "The team will adopt the preferred route in the traffic plan.",
        "options": ROUTES,
        "closes_at": utc_now() + timedelta(days=7),
    }
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


@pytest.fixture
def consultations(database: Engine, knowledge: KnowledgeBase) -> Consultations:
    return consultations_for(database, knowledge)


@pytest.fixture
def core(
    database: Engine,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    consultations: Consultations,
) -> ConversationCore:
    return scripted_core(
        database,
        ScriptedDialogue(),
        detector,
        knowledge,
        participation=Participation(consultations),
    )


class Citizen:
    """Someone writing to the assistant on one channel."""

    def __init__(
        self, core: ConversationCore, channel: str, key: str, *, place: Place = "private"
    ) -> None:
        self.core, self.channel, self.key, self.place = core, channel, key, place
        self.count = 0

    def message(self, text: str) -> IncomingMessage:
        self.count += 1
        return IncomingMessage(
            channel=self.channel,
            conversation_key=self.key,
            sender_key=f"{self.channel}-{self.key.split(':')[-1]}",
            text=text,
            external_id=f"{self.key}:{self.count}",
            place=self.place,
        )

    async def says(self, text: str) -> list[str]:
        result = await self.core.handle(self.message(text))
        return [reply.text for reply in result.replies]

    async def command(self, name: str, argument: str = "") -> list[str]:
        result = await self.core.command(self.message(f"/{name} {argument}"), name, argument)
        return [reply.text for reply in result.replies]


def votes(database: Engine) -> list[ConsultationVote]:
    with Session(database) as session:
        return list(session.exec(select(ConsultationVote).order_by(col(ConsultationVote.id))))


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"options": ROUTES[:1]}, "2 to 10 options"),
        ({"options": tuple(Option(fr=f"o{n}", en=f"o{n}") for n in range(11))}, "2 to 10"),
        ({"options": (Option(fr="x" * 56, en="y"), ROUTES[1])}, "55"),
        ({"options": (ROUTES[0], ROUTES[0])}, "same text"),
        ({"question_en": " "}, "English question is empty"),
        ({"purpose_fr": ""}, "French purpose is empty"),
        ({"audience": "everyone please"}, "is not one of"),
        ({"audience": "topic:fishing"}, "no update topic 'fishing'"),
        ({"closes_at": utc_now() - timedelta(hours=1)}, "closes before it opens"),
        ({"closes_at": utc_now() + timedelta(days=40)}, "at most 32 days"),
    ],
)
def test_a_consultation_that_cannot_work_is_refused_with_one_sentence(
    consultations: Consultations, database: Engine, changes: dict[str, object], said: str
) -> None:
    with pytest.raises(ConsultationError, match=said):
        consultations.create(draft(**changes), author="staff:web:marie")
    with Session(database) as session:
        assert session.exec(select(ConsultationInvite)).first() is None


def test_options_are_read_in_both_languages_with_the_citizens_who_suggested_them() -> None:
    assert parse_options("Par le rang 4 | By Rang 4 | 14\nAucune\n\n") == (
        Option(fr="Par le rang 4", en="By Rang 4", ideas=14),
        Option(fr="Aucune", en="Aucune"),
    )
    with pytest.raises(ConsultationError, match="not a number"):
        parse_options("a | b | many")


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("2", 1),
        ("2.", 1),
        ("option 3", 2),
        ("Option B", 1),
        ("je vote pour 1", 0),
        ("I vote for 2", 1),
        ("mon choix : 3", 2),
        ("2. By Route 132", 1),
        ("par la route 132", 1),
        ("BY RANG 4", 0),
        ("b", 1),
        ("12", 11),
        ("a bit of everything", None),
        ("2 camions ont passé ce matin", None),
        ("Il y a 2 problèmes", None),
    ],
)
def test_a_plain_text_answer_names_its_option(text: str, index: int | None) -> None:
    assert choice_index(text, ROUTES) == index


# --- delivering, answering, closing -------------------------------------------------------------


async def test_a_consultation_reaches_each_subscriber_where_they_are_and_is_answered_and_given_back(
    database: Engine,
    knowledge: KnowledgeBase,
    consultations: Consultations,
    core: ConversationCore,
) -> None:
    web = subscribe(database, knowledge, "web", "w-1", language="fr")
    telegram = subscribe(database, knowledge, "telegram", "5001", language="en")
    group = subscribe(database, knowledge, "telegram", "-1009:tg-77", language="fr", place="group")
    discord = subscribe(database, knowledge, "discord", "dm:7001", language="fr")

    created = consultations.create(draft(), author="staff:web:marie")
    assert created.status == "open"
    assert created.reference.startswith("K-")
    with Session(database) as session:
        invites = {i.conversation_id: i for i in session.exec(select(ConsultationInvite))}
        outbox = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))
        web_text = session.get(Message, invites[web.id].message_id)
    assert {invites[web.id].how, invites[telegram.id].how, invites[discord.id].how} == {
        "text",
        "poll",
    }
    assert invites[telegram.id].how == invites[discord.id].how == "poll"
    assert invites[group.id].how == "group_notice"
    # The web chat keeps the question with its options; the platforms get it and a native poll.
    assert web_text is not None
    assert "1. Par le rang 4" in web_text.text
    polls = [row for row in outbox if row.options.get("poll")]
    assert {(row.channel, row.destination) for row in polls} == {
        ("telegram", "5001"),
        ("discord", "7001"),
    }
    english = next(row for row in polls if row.channel == "telegram").options["poll"]
    assert english["question"] == "Which way should the trucks go next summer?"
    assert english["options"] == ["By Rang 4", "By Route 132", "No preference"]
    group_notice = next(row for row in outbox if row.destination == "-1009")
    assert "/vote " + created.reference in group_notice.text  # to answer in private
    assert consultations.deliver(consultations.get(created.reference)) == 0  # nobody twice

    # Plain text on the web chat, a change of mind, and the citizen's own view of their choice.
    citizen = Citizen(core, "web", "w-1")
    said = await citizen.says("2")
    assert "« 2. Par la route 132 »" in said[0]
    assert "changer d'avis" in said[-1]
    said = await citizen.says("option 1")
    assert "maintenant « 1. Par le rang 4 »" in said[0]
    said = await citizen.command("vote")
    assert any("votre choix actuel est « 1. Par le rang 4 »" in s for s in said)
    # A vote in the Telegram poll, then changed there; a Discord vote withdrawn.
    assert (
        consultations.record_poll_vote(
            channel="telegram", poll_id="unknown", voter="tg-1", option_ids=[0]
        )
        is False
    )
    consultations.poll_sent(invites[telegram.id].id or 0, poll_id="P-1", poll_message_id="41")
    consultations.poll_sent(invites[discord.id].id or 0, poll_id="900", poll_message_id="900")
    assert consultations.record_poll_vote(
        channel="telegram", poll_id="P-1", voter="telegram-5001", option_ids=[0]
    )
    consultations.record_poll_vote(
        channel="telegram", poll_id="P-1", voter="telegram-5001", option_ids=[1]
    )
    consultations.record_poll_vote(
        channel="discord", poll_id="900", voter="discord-7001", option_ids=[2]
    )
    consultations.withdraw_poll_vote(
        channel="discord", poll_id="900", voter="discord-7001", option_id=2
    )
    live = consultations.results(created.reference)
    assert live.counts == (1, 1, 0)
    assert live.participants == 2
    assert live.changes == 2
    assert live.by_channel == {"web": 1, "telegram": 1}
    assert live.by_language == {"fr": 1, "en": 1}
    # A member of the group is sent to the private chat, where nobody sees their choice.
    member = Citizen(core, "telegram", "-1009:tg-77", place="group")
    said = await member.command("vote", f"{created.reference} 2")
    assert "en privé" in said[0]
    assert consultations.results(created.reference).participants == 2

    closed = consultations.close(created.reference, actor="staff:web:marie")
    assert closed.status == "closed"
    with Session(database) as session:
        stops = list(session.exec(select(OutboxMessage).where(col(OutboxMessage.text) == "")))
        results_to = {
            row.conversation_id: row.text
            for row in session.exec(select(Message))
            if row.text.startswith("📊")
        }
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.action == "consultation.close")
        ).one()
    assert sorted(row.options["stop_poll"] for row in stops) == ["41", "900"]
    assert "1. Par le rang 4 : 1 (50%)" in results_to[web.id]
    assert "pas un sondage représentatif" in results_to[web.id]
    assert "2. By Route 132: 1 (50%)" in results_to[telegram.id]
    assert "not a representative survey" in results_to[telegram.id]
    assert "2 people answered (Telegram 1, web 1)" in results_to[telegram.id]
    assert group.id in results_to  # the group hears the result once, without any name
    assert discord.id not in results_to  # withdrew: not a participant
    assert audit.detail == {"consultation": created.reference}
    said = await citizen.says("3")
    assert "est fermée" in said[0]
    assert consultations.results(created.reference).counts == (1, 1, 0)
    with pytest.raises(ConsultationError, match="already closed"):
        consultations.close(created.reference, actor="staff:web:marie")


async def test_a_consultation_for_anyone_is_asked_once_after_an_answer_with_buttons(
    consultations: Consultations, core: ConversationCore
) -> None:
    created = consultations.create(draft(audience="anyone"), author="cli:marie")
    citizen = Citizen(core, "web", "w-9")
    result = await citizen.core.handle(citizen.message("Quand commencent les travaux?"))
    assert result.replies[0].text == "Les travaux commencent au printemps."
    invitation = result.replies[-1]
    assert created.reference in invitation.text
    assert [c.label for c in invitation.choices] == [
        "1. Par le rang 4",
        "2. Par la route 132",
        "3. Aucune préférence",
    ]
    assert invitation.choices[1].value == f"vote:{created.reference} 2"  # a Telegram button
    said = await citizen.says("2. Par la route 132")  # the web chat's button sends its label
    assert "« 2. Par la route 132 »" in said[0]
    again = await citizen.core.handle(citizen.message("Et le bruit?"))
    assert all(created.reference not in r.text for r in again.replies)  # asked once


async def test_numbers_are_not_votes_unless_the_question_was_just_asked(
    consultations: Consultations, core: ConversationCore, database: Engine
) -> None:
    consultations.create(draft(audience="anyone"), author="cli:marie")
    citizen = Citizen(core, "web", "w-10")
    await citizen.says("Bonjour")  # asked after this answer
    await citizen.says("Quand commencent les travaux?")  # then talked of something else
    said = await citizen.says("2")
    assert said == ["Les travaux commencent au printemps."]
    assert votes(database) == []
    said = await citizen.says("je vote 2")  # explicit: a vote
    assert "Par la route 132" in said[0]


async def test_open_answers_take_the_message_after_the_question(
    consultations: Consultations, core: ConversationCore, database: Engine
) -> None:
    created = consultations.create(draft(options=(), audience="anyone"), author="cli:marie")
    citizen = Citizen(core, "web", "w-11")
    said = await citizen.says("Bonjour")
    assert "Répondez simplement à ce message" in said[-1]
    said = await citizen.says("Un trottoir devant l'école, svp.")
    assert "votre réponse à la consultation" in said[0]
    said = await citizen.says("réponse : un trottoir et des arbres")
    results = consultations.results(created.reference)
    assert results.participants == 1
    assert results.answers == ("un trottoir et des arbres",)
    assert json.loads(consultations.export(created.reference, "json"))["representative"] is False

    # A question just after the open question is answered, not counted; the answer says how to
    # answer the consultation instead, and only once.
    other = Citizen(core, "web", "w-13")
    await other.says("Bonjour")
    said = await other.says("Qui paiera pour le trottoir?")
    assert "est enregistrée" not in " ".join(said)
    assert f"Si c'était votre réponse à la consultation {created.reference}" in said[-1]
    said = await other.says("Merci")
    assert "Si c'était votre réponse" not in " ".join(said)
    assert consultations.results(created.reference).participants == 1


async def test_a_concern_given_as_an_answer_is_recorded_as_a_concern_too(
    database: Engine,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    consultations: Consultations,
) -> None:
    # The message after an open question is taken as the answer, and still heard: a grievance
    # in it gets its reference in the register, never only a place among the answers.
    judge = ScriptedJudge({"Les camions brisent": (0.9, 0.02, "traffic")})
    heard_core = scripted_core(
        database,
        ScriptedDialogue(),
        detector,
        knowledge,
        judge=judge,
        participation=Participation(consultations),
    )
    created = consultations.create(draft(options=(), audience="anyone"), author="cli:marie")
    citizen = Citizen(heard_core, "web", "w-12")
    await citizen.says("Bonjour")
    said = await citizen.says("Les camions brisent la chaussée devant chez moi, faites un détour.")
    assert "J'ai enregistré votre préoccupation" in said[0]
    assert "votre réponse à la consultation" in said[-1]
    with Session(database) as session:
        concerns = list(session.exec(select(Concern)))
    assert [(c.kind, c.category) for c in concerns] == [("grievance", "traffic")]
    assert consultations.results(created.reference).participants == 1
    # The whole message was heard, as any other.
    assert judge.heard[-1].startswith("Les camions brisent")


async def test_participation_concentrated_in_one_channel_is_pointed_out(
    consultations: Consultations, database: Engine, knowledge: KnowledgeBase
) -> None:
    created = consultations.create(draft(audience="anyone"), author="cli:marie")
    with Session(database) as session:
        consultation = consultations._get(session, created.reference)
        for n in range(12):
            channel = "telegram" if n < 10 else "web"
            conversation = Conversation(
                public_id=f"p{n}", channel=channel, external_id=str(n), citizen_id=f"c{n}"
            )
            session.add(conversation)
            session.commit()
            consultations._cast(session, consultation, conversation, "fr", option=n % 3)
    results = consultations.results(created.reference)
    assert results.participants == 12
    assert results.concentration is not None
    assert "10 of the 12 answers" in results.concentration


def test_opening_and_closing_happen_on_their_dates_once_across_processes(
    database: Engine, knowledge: KnowledgeBase
) -> None:
    first, second = consultations_for(database, knowledge), consultations_for(database, knowledge)
    subscribe(database, knowledge, "telegram", "5002", language="fr")
    now = utc_now()
    created = first.create(
        draft(opens_at=now + timedelta(hours=1), closes_at=now + timedelta(days=2)),
        author="cli:marie",
    )
    assert created.status == "scheduled"
    assert first.tick(now) == ([], [])
    later = now + timedelta(hours=2)
    opened = [first.tick(later)[0], second.tick(later)[0]]
    assert sorted(opened, key=len) == [[], [created.reference]]
    with Session(database) as session:
        assert len(list(session.exec(select(ConsultationInvite)))) == 1
    end = now + timedelta(days=3)
    closed = [second.tick(end)[1], first.tick(end)[1]]
    assert sorted(closed, key=len) == [[], [created.reference]]


def test_a_result_cut_short_at_closing_is_given_at_the_next_tick_once(
    database: Engine, knowledge: KnowledgeBase, consultations: Consultations
) -> None:
    """Closing takes no more votes at once; the polls stopped and the result to every
    participant are then one transaction, which a crash leaves due (not half given): the next
    tick, in any process, gives it, once."""
    subscribe(database, knowledge, "telegram", "5003", language="fr")
    created = consultations.create(draft(), author="staff:web:marie")
    with Session(database) as session:
        invite = session.exec(select(ConsultationInvite)).one()
    consultations.poll_sent(invite.id or 0, poll_id="P-3", poll_message_id="43")
    assert consultations.record_poll_vote(
        channel="telegram", poll_id="P-3", voter="telegram-5003", option_ids=[0]
    )

    def queued() -> tuple[list[str], list[str]]:
        """(where a result is queued, which polls are to be stopped)."""
        with Session(database) as session:
            rows = list(session.exec(select(OutboxMessage)))
        return (
            [row.destination for row in rows if row.text.startswith("📊")],
            [row.options["stop_poll"] for row in rows if "stop_poll" in row.options],
        )

    result = lambda row: isinstance(row, OutboxMessage) and row.text.startswith("📊")  # noqa: E731
    with dies_once_while_writing("the result", result), pytest.raises(RuntimeError):
        consultations.close(created.reference, actor="staff:web:marie")
    assert consultations.get(created.reference).status == "closed"  # no vote taken from now on
    assert queued() == ([], [])
    second = consultations_for(database, knowledge)  # another process
    second.tick()
    consultations.tick()
    assert queued() == (["5003"], ["43"])


# --- ideas and engaged members -----------------------------------------------------------------


async def test_ideas_are_recorded_with_a_reference_and_grouped_by_meaning(
    core: ConversationCore, database: Engine
) -> None:
    said = await Citizen(core, "web", "w-20").says(
        "J'ai une idée : une patinoire avec le fonds communautaire"
    )
    assert said[0].startswith("Merci pour votre idée")
    assert "I-" in said[0]
    await Citizen(core, "telegram", "5020").says("Idea: a skating rink paid by the community fund")
    await Citizen(core, "web", "w-21").says("Suggestion : une piste cyclable sous la ligne")
    for key, text in (
        ("w-22", "What about a bike path along the power line?"),
        ("w-23", "Ce serait bien de planter des arbres le long du rang 4"),
        ("w-24", "Hold the information meetings in the evening please"),
    ):
        await Citizen(core, "web", key).says(text)  # answered by the dialogue: not ideas
        idea_box_record(database, key, text)
    groups = IdeaBox(engine=database, reader=E5Reader()).groups()  # type: ignore[arg-type]
    sizes = sorted(g.size for g in groups)
    assert sizes == [1, 1, 2, 2]
    rink = next(g for g in groups if g.size == 2)
    assert rink.citizens == 2
    assert {i.language for i in rink.ideas} == {"fr", "en"}


class ScriptedIntentReader(IntentReader):
    """Hears what its script says, by the start of the text."""

    def __init__(self, script: dict[str, str]) -> None:
        super().__init__()
        self.script = script

    def hear(self, text: str) -> HeardIntent | None:
        for start, intent in self.script.items():
            if text.startswith(start):
                return HeardIntent(intent, 0.9)
        return None


HearingCore = Callable[[dict[str, str]], ConversationCore]


@pytest.fixture
def hearing_core(
    database: Engine,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
    consultations: Consultations,
) -> HearingCore:
    """Makes a conversation core whose intent reader hears what a script says."""

    def make(script: dict[str, str]) -> ConversationCore:
        reader = GuardedIntentReader(ScriptedIntentReader(script))
        return scripted_core(
            database,
            ScriptedDialogue(),
            detector,
            knowledge,
            participation=Participation(consultations, reader),
        )

    return make


async def test_an_idea_the_dialogue_took_for_a_question_is_recorded_and_the_question_answered(
    database: Engine, hearing_core: HearingCore
) -> None:
    heard_core = hearing_core(
        {
            "Pourquoi pas faire passer": "share_idea",
            "blorp": "volunteer",
            "je veux parler": "share_idea",
        }
    )
    citizen = Citizen(heard_core, "web", "w-21")
    # The dialogue answered a question on the schedule; the reader heard a proposal.
    said = await citizen.says("Pourquoi pas faire passer les camions par le rang 6 l'été prochain?")
    assert said[0].startswith("Merci pour votre idée")
    assert said[1:] == ["Quant à votre question :", "Les travaux commencent au printemps."]
    # Not understood by the dialogue, heard as an offer to help: what joining means.
    said = await citizen.says("blorp zzz")
    assert said == [volunteers.say("volunteer_offer", "fr")]
    # A person asked for stays a person asked for.
    said = await citizen.says("Je veux parler à quelqu'un")
    assert not any("idée" in text for text in said)
    with Session(database) as session:
        ideas = list(session.exec(select(Idea)))
        intents = [
            m.intent
            for m in session.exec(
                select(Message).where(Message.direction == "in").order_by(col(Message.id))
            )
        ]
    assert [i.text for i in ideas] == [
        "Pourquoi pas faire passer les camions par le rang 6 l'été prochain?"
    ]
    assert intents[:2] == ["share_idea", "volunteer"]


async def test_an_offer_to_help_the_dialogue_took_for_an_idea_keeps_the_idea_and_offers_to_join(
    database: Engine, hearing_core: HearingCore
) -> None:
    # "I have design skills and would be happy to make your posters": the dialogue recorded an
    # idea, the reader is sure it is an offer to help.
    heard_core = hearing_core({"J'ai une idée : une patinoire": "volunteer"})
    said = await Citizen(heard_core, "web", "w-22").says(
        "J'ai une idée : une patinoire avec le fonds communautaire"
    )
    assert said[0].startswith("Merci pour votre idée")
    assert said[1:] == [volunteers.say("volunteer_offer", "fr")]
    with Session(database) as session:
        assert len(list(session.exec(select(Idea)))) == 1  # recorded by the dialogue, kept
        message = session.exec(select(Message).where(Message.direction == "in")).one()
    assert message.intent == "volunteer"


async def test_an_offer_or_idea_the_dialogue_took_for_a_language_or_news_request_changes_neither(
    database: Engine, hearing_core: HearingCore
) -> None:
    # "I can interpret into English at the meetings" is an offer to help, not "speak English";
    # "I can hand out the newsletter" is not "send me the news".
    heard_core = hearing_core(
        {
            "Je peux interpréter": "volunteer",
            "Je peux distribuer": "volunteer",
            "Avez-vous pensé": "share_idea",
        }
    )
    citizen = Citizen(heard_core, "web", "w-23")
    said = await citizen.says("Je peux interpréter en anglais aux séances")
    assert said == [volunteers.say("volunteer_offer", "fr")]
    said = await citizen.says("Je peux distribuer l'infolettre aux aînés du rang 4")
    assert said == [volunteers.say("volunteer_offer", "fr")]
    said = await citizen.says("Avez-vous pensé à un babillard des nouvelles au dépanneur?")
    assert len(said) == 1
    assert said[0].startswith("Merci pour votre idée")
    with Session(database) as session:
        conversation = session.exec(select(Conversation)).one()
        assert (conversation.language, conversation.language_pinned) == ("fr", False)
        assert session.exec(select(Subscription)).first() is None
        ideas = list(session.exec(select(Idea)))
        intents = [
            m.intent
            for m in session.exec(
                select(Message).where(Message.direction == "in").order_by(col(Message.id))
            )
        ]
    # Recorded once (by the action that gave way), not a second time by the turn.
    assert [i.text for i in ideas] == ["Avez-vous pensé à un babillard des nouvelles au dépanneur?"]
    assert intents == ["volunteer", "volunteer", "share_idea"]

    # Asked plainly, each still acts.
    said = await citizen.says("Abonnez-moi aux nouvelles")
    assert not any("idée" in text for text in said)
    said = await citizen.says("Parle-moi en anglais")
    with Session(database) as session:
        assert session.exec(select(Subscription)).one().active
        conversation = session.exec(select(Conversation)).one()
        assert (conversation.language, conversation.language_pinned) == ("en", True)


async def test_a_citizen_joins_the_engaged_members_with_consent_shares_and_leaves(
    core: ConversationCore, database: Engine
) -> None:
    citizen = Citizen(core, "telegram", "5030")
    said = await citizen.says("Je veux m'impliquer")
    assert "Voulez-vous rejoindre la liste" in said[0]
    assert "quitter la liste" in said[0]
    assert volunteers.members(database) == []  # nothing without consent
    said = await citizen.says("oui")
    assert said[0].startswith("Bienvenue parmi les membres engagés")
    said = await citizen.says("partager : Julie, disponible les soirs pour le comité")
    members = volunteers.members(database)
    assert [(m.channel, m.shared) for m in members] == [
        ("telegram", "Julie, disponible les soirs pour le comité")
    ]
    assert members[0].citizen_id == "telegram-5030"  # the pseudonymous identity
    sent = volunteers.invite(
        database, text_fr="Visite du chantier samedi", text_en="Site visit Saturday", actor="m"
    )
    assert sent == 1
    said = await citizen.says("Je voudrais quitter la liste")
    assert "ne faites plus partie" in said[0]
    assert volunteers.members(database) == []
    with Session(database) as session:
        assert session.exec(select(Volunteer)).first() is None


async def test_a_supporter_is_told_how_to_get_involved_and_no_means_nothing_is_kept(
    core: ConversationCore, database: Engine
) -> None:
    supporter = Citizen(core, "web", "w-31")
    said = await supporter.says("Bravo pour le projet")
    assert said[0] == "Merci de votre message."
    assert "je veux m'impliquer" in said[-1]
    english = Citizen(core, "discord", "dm:8031")
    said = await english.says("How can I help?")
    assert "Would you like to join the list?" in said[0]
    said = await english.says("no thanks")
    assert "nothing is recorded" in said[0]
    assert volunteers.members(database) == []


def idea_box_record(database: Engine, key: str, text: str) -> None:
    with Session(database, expire_on_commit=False) as session:
        conversation = session.exec(
            select(Conversation).where(Conversation.external_id == key)
        ).one()
        record_idea(
            session=session, conversation=conversation, message_id=None, text=text, language=(
                "fr" if "rang" in text else "en"
            ),
        )  # fmt: skip


# --- privacy -----------------------------------------------------------------------------------


async def test_erasure_removes_votes_ideas_and_membership_while_counts_stay(
    consultations: Consultations, core: ConversationCore, database: Engine
) -> None:
    created = consultations.create(draft(audience="anyone"), author="cli:marie")
    citizen = Citizen(core, "web", "w-40")
    await citizen.says("J'ai une idée : une patinoire avec le fonds communautaire")
    await citizen.says("je vote 3")
    await citizen.says("Je veux m'impliquer")
    await citizen.says("oui")
    with Session(database, expire_on_commit=False) as session:
        conversation = session.exec(
            select(Conversation).where(Conversation.external_id == "w-40")
        ).one()
        erase_citizen(session=session, conversation=conversation, actor="citizen")
    results = consultations.results(created.reference)
    assert results.counts == (0, 0, 1)
    assert results.participants == 1
    (vote,) = votes(database)
    assert vote.voter is None
    assert vote.conversation_id is None
    assert vote.answer is None
    with Session(database) as session:
        (idea,) = session.exec(select(Idea)).all()
        assert idea.text == ERASED
        assert idea.conversation_id is None
        assert idea.erased_at
        assert session.exec(select(Volunteer)).first() is None


# --- the command -------------------------------------------------------------------------------


def test_the_consultations_command_creates_lists_exports_and_closes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database: Engine,
    knowledge: KnowledgeBase,
) -> None:
    monkeypatch.setenv("DATABASE_URL", str(database.url.render_as_string(hide_password=False)))
    spec = tmp_path / "routes.yml"
    closes = (utc_now() + timedelta(days=5)).strftime("%Y-%m-%d %H:%M")
    spec.write_text(
        'question: {fr: "Quel trajet?", en: "Which route?"}\n'
        "options:\n  - {fr: Rang 4, en: Rang 4}\n  - {fr: Route 132, en: Route 132, ideas: 3}\n"
        "purpose: {fr: Le plan suivra le choix., en: The plan will follow the choice.}\n"
        f"closes: {closes}\n",
        encoding="utf-8",
    )
    assert main(["consultations", "create", str(spec), "--as", "marie"]) == 0
    reference = capsys.readouterr().out.split()[0]
    assert reference.startswith("K-")
    assert main(["consultations", "list"]) == 0
    assert "0 answers of 0 asked  Which route?" in capsys.readouterr().out
    assert main(["consultations", "results", reference, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("consultation,option,text_fr,text_en,suggested_by,count,share")
    assert rows[2].startswith(f"{reference},2,Route 132,Route 132,3,0,")
    assert main(["consultations", "close", reference]) == 0
    assert "closed" in capsys.readouterr().out
    assert main(["consultations", "close", reference]) == 2
    assert "already closed" in capsys.readouterr().err
    spec.write_text('question: {fr: "Quel trajet?"}\n', encoding="utf-8")
    assert main(["consultations", "create", str(spec)]) == 2
    assert "needs a French (fr) and an English (en) text" in capsys.readouterr().err


async def test_results_go_to_the_public_report_and_the_perception_dashboard(
    consultations: Consultations, core: ConversationCore
) -> None:
    routes = (ROUTES[0], Option(fr="Par la route 132", en="By Route 132", ideas=14), ROUTES[2])
    created = consultations.create(draft(audience="anyone", options=routes), author="cli:marie")
    for n, choice in enumerate(("2", "2", "1")):
        citizen = Citizen(core, "web", f"w-5{n}")
        await citizen.says("Bonjour")
        await citizen.says(choice)
    before = utc_now() - timedelta(hours=1)
    shown = consultations.in_period(before, utc_now() + timedelta(days=1))
    assert shown == [
        {
            "reference": created.reference,
            "question": "Which way should the trucks go next summer?",
            "status": "open",
            "participants": 3,
            "leading": "By Route 132 (67%)",
        }
    ]
    assert consultations.report_markdown(before, utc_now() + timedelta(days=1), "fr") == ""
    consultations.close(created.reference, actor="cli:marie")
    markdown = consultations.report_markdown(before, utc_now() + timedelta(days=1), "fr")
    assert "## Consultations de la communauté" in markdown
    assert "pas des sondages représentatifs" in markdown
    assert "- Par la route 132 (suggéré par 14 citoyens): 2 (67%)" in markdown
    assert "3 participants (web 3)." in markdown
    english = consultations.report_markdown(before, utc_now() + timedelta(days=1), "en")
    assert "- By Rang 4: 1 (33%)" in english
    assert "What the team will do: The team will adopt the preferred route" in english
