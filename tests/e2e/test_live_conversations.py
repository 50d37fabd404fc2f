"""Conversations through the web chat endpoint, against the real trained model and Rasa server."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.channels.identity import Pseudonyms
from bot.channels.web.conversations import WebConversations
from bot.common.text import ERASED
from bot.storage.models import (
    Concern,
    Conversation,
    Direction,
    Handoff,
    Message,
    MessageStatus,
    UnansweredQuestion,
)
from tests.support.live import Citizen, LiveAssistant

pytestmark = pytest.mark.rasa
REFERENCE = re.compile(r"C-\d{4}-\d{4}")


def conversation_of(session: Session, citizen: Citizen, live: LiveAssistant) -> Conversation:
    """The stored conversation: under the pseudonym of the id the citizen's browser holds."""
    assert citizen.conversation is not None
    key = WebConversations(
        Pseudonyms.for_installation(session.get_bind(), key_file=live.settings.pseudonym_key_file)
    ).key_of(citizen.conversation)
    return session.exec(select(Conversation).where(Conversation.external_id == key)).one()


def stored_messages(live: LiveAssistant, citizen: Citizen) -> list[Message]:
    with db(live) as session:
        return list(
            session.exec(
                select(Message)
                .where(Message.conversation_id == conversation_of(session, citizen, live).id)
                .order_by(col(Message.id))
            )
        )


def db(live: LiveAssistant) -> Session:
    assert live.assistant is not None
    return Session(live.assistant.database)


def test_a_french_question_is_answered_with_its_source(web: httpx.Client) -> None:
    answer = Citizen(web).reads("Quand est-ce que les travaux de construction vont commencer?")
    assert "Source" in answer
    assert "révisée le" in answer
    assert "https://" in answer


def test_an_english_question_is_answered_with_its_source(web: httpx.Client) -> None:
    answer = Citizen(web).reads("How loud will the wind turbines be at night near my house?")
    assert "Source" in answer
    assert "reviewed on" in answer
    assert "dBA" in answer or "dB" in answer


def test_a_concern_is_recorded_and_its_reference_quoted(
    web: httpx.Client, live: LiveAssistant
) -> None:
    citizen = Citizen(web)
    answer = citizen.reads(
        "Your trucks are destroying our road and the dust is everywhere, it's unacceptable"
    )
    found = REFERENCE.search(answer)
    assert found, answer
    with db(live) as session:
        concern = session.exec(select(Concern).where(Concern.reference == found.group(0))).one()
        assert concern.category == "traffic"
        assert (concern.language, concern.channel) == ("en", "web")
        assert "destroying our road" in concern.text
    status = citizen.reads(f"what is the status of {found.group(0)}?")
    assert found.group(0) in status
    assert "received" in status


def test_a_french_concern_is_recorded(web: httpx.Client, live: LiveAssistant) -> None:
    answer = Citizen(web).reads("J'ai vraiment peur que le dynamitage contamine l'eau de mon puits")
    found = REFERENCE.search(answer)
    assert found, answer
    assert "préoccupation" in answer
    assert "voici ce que disent les documents du projet" in answer
    assert "Source" in answer
    assert "révisée le" in answer  # the French variation of the reviewed answer
    with db(live) as session:
        concern = session.exec(select(Concern).where(Concern.reference == found.group(0))).one()
        assert (concern.category, concern.language) == ("water", "fr")


@pytest.mark.parametrize(
    ("said", "category", "status_question", "source_word"),
    [
        (
            "The blasting last week cracked the foundation of my house on Miller Road. "
            "Who pays for this?",
            "property_damage",
            "what's the status of my complaint?",
            "Source",
        ),
        (
            "Les camions vont passer devant chez nous sur le rang 4, j'ai peur pour mes enfants",
            "traffic",
            "des nouvelles de ma plainte?",
            "Source",
        ),
    ],
)
def test_a_grievance_asked_with_a_question_is_recorded_and_answered(
    web: httpx.Client,
    live: LiveAssistant,
    said: str,
    category: str,
    status_question: str,
    source_word: str,
) -> None:
    citizen = Citizen(web)
    answer = citizen.reads(said)
    found = REFERENCE.search(answer)
    assert found, answer
    # The acknowledgement comes first, then a reviewed answer with its source.
    assert answer.index(found.group(0)) < answer.index(source_word)
    with db(live) as session:
        concern = session.exec(select(Concern).where(Concern.reference == found.group(0))).one()
        assert (concern.kind, concern.category) == ("grievance", category)
    status = citizen.reads(status_question)
    assert found.group(0) in status


def test_a_neutral_question_is_not_recorded_as_a_concern(
    web: httpx.Client, live: LiveAssistant
) -> None:
    citizen = Citizen(web)
    answer = citizen.reads("Will there be noise at night?")
    assert "Source" in answer
    assert not REFERENCE.search(answer)
    with db(live) as session:
        conversation = conversation_of(session, citizen, live)
        assert not session.exec(
            select(Concern).where(Concern.conversation_id == conversation.id)
        ).all()


@pytest.mark.parametrize(
    ("question", "expected"),
    [("es-tu un robot?", "robot"), ("am I talking to a real person or a bot?", "I am a bot")],
)
def test_it_says_it_is_a_bot(web: httpx.Client, question: str, expected: str) -> None:
    assert expected in Citizen(web).reads(question)


def test_an_out_of_scope_question_is_declined_and_kept(
    web: httpx.Client, live: LiveAssistant
) -> None:
    answer = Citizen(web).reads("Can you tell me a joke about penguins?")
    assert "only answer questions about" in answer
    with db(live) as session:
        kept = session.exec(
            select(UnansweredQuestion).order_by(col(UnansweredQuestion.id).desc())
        ).first()
        assert kept is not None
        assert (kept.reason, kept.text) == (
            "out_of_scope",
            "Can you tell me a joke about penguins?",
        )


@pytest.mark.parametrize(
    ("question", "document", "words"),
    [
        (
            # "... sur les éoliennes", as the English one says "on the turbines": without it, the
            # model trained with the common project's intents (issue 17) reads the question as
            # out of scope (about Transport Canada), which the team can judge fair.
            "Quel balisage lumineux est exigé par Transport Canada sur les éoliennes ?",
            "Inventaires des oiseaux et des chauves-souris 2024-2025",
            ("extrait", "mot pour mot", "page", "pas une réponse révisée"),
        ),
        (
            "What lighting does Transport Canada require on the turbines?",
            "Environmental impact assessment",
            ("excerpt", "word for word", "page", "not an answer reviewed"),
        ),
    ],
)
def test_a_question_only_a_document_answers_gets_the_quoted_passage(
    web: httpx.Client, live: LiveAssistant, question: str, document: str, words: tuple[str, ...]
) -> None:
    answer = Citizen(web).reads(question)
    assert document in answer
    assert "#page=" in answer
    for word in words:
        assert word in answer
    with db(live) as session:
        kept = session.exec(
            select(UnansweredQuestion).where(UnansweredQuestion.text == question)
        ).one()
        assert kept.reason == "passage"
        assert kept.answered_with is not None
        assert " p. " in kept.answered_with


@pytest.mark.parametrize(
    ("question", "words"),
    [
        (
            "Est-ce que ma réception de télé sera affectée ?",
            ("pas de réponse révisée", "transmise à l'équipe", "parler à une personne"),
        ),
        (
            "Will my TV reception be affected?",
            ("no answer reviewed", "passed it on to the team", "talk to a person"),
        ),
    ],
)
def test_a_question_nothing_reviewed_answers_gets_the_honest_answer_and_a_gap_entry(
    web: httpx.Client, live: LiveAssistant, question: str, words: tuple[str, ...]
) -> None:
    answer = Citizen(web).reads(question)
    for word in words:
        assert word in answer
    assert "Source" not in answer  # no unrelated reviewed answer
    with db(live) as session:
        kept = session.exec(
            select(UnansweredQuestion).where(UnansweredQuestion.text == question)
        ).one()
        assert (kept.reason, kept.answered_with) == ("no_reviewed_answer", None)
        assert (kept.intent or "").startswith("faq/")


def test_asking_for_a_person_opens_a_request(web: httpx.Client, live: LiveAssistant) -> None:
    citizen = Citizen(web)
    answer = citizen.reads("je veux parler à une vraie personne svp")
    assert "une personne de l'équipe" in answer
    with db(live) as session:
        conversation = conversation_of(session, citizen, live)
        handoff = session.exec(
            select(Handoff).where(Handoff.conversation_id == conversation.id)
        ).one()
        assert (handoff.reason, handoff.status) == ("asked_human", "waiting")
    # While the team is asked, the assistant stays silent: the message is kept for the desk.
    meanwhile = citizen.says("C'est à propos du bruit du chantier la nuit")
    replies = meanwhile["replies"]
    assert isinstance(replies, list)
    assert all("préoccupation" not in str(r["text"]) for r in replies)
    [kept] = [m for m in stored_messages(live, citizen) if m.text.startswith("C'est à propos")]
    assert kept.status == MessageStatus.FOR_DESK


def test_an_insulting_concern_is_recorded_and_a_person_asked(
    web: httpx.Client, live: LiveAssistant
) -> None:
    citizen = Citizen(web)
    answer = citizen.reads(
        "You are liars, the blasting cracked the walls of my house and nobody answers"
    )
    found = REFERENCE.search(answer)
    assert found, answer  # the concern is in the register, whatever happens next
    with db(live) as session:
        conversation = conversation_of(session, citizen, live)
        handoff = session.exec(
            select(Handoff).where(Handoff.conversation_id == conversation.id)
        ).one()
        assert (handoff.reason, handoff.detail) == ("negative", "liars")
    assert "deserves an answer from a person" in answer


def test_the_citizen_can_switch_language(web: httpx.Client) -> None:
    citizen = Citizen(web)
    assert "Bonjour" in citizen.reads("bonjour")
    switched = citizen.says("can you answer in English please?")
    assert switched["language"] == "en"
    after = citizen.says("merci")
    assert after["language"] == "en"


def test_every_message_is_stored_with_what_was_understood(
    web: httpx.Client, live: LiveAssistant
) -> None:
    citizen = Citizen(web)
    citizen.reads("Y'a-tu des jobs pour le monde de la place sur le chantier?")
    messages = stored_messages(live, citizen)
    assert [m.direction for m in messages] == [Direction.INCOMING, Direction.OUTGOING]
    assert messages[0].intent == "faq/jobs"
    assert messages[0].confidence is not None
    assert messages[0].language == "fr"
    assert "Source" in messages[1].text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n  ",
        "Les camions passent toute la journée devant l'école. " * 190,
        "🌬️🌬️🙏",
        "allo\x00\x1b\x07 ça va",
        "Hello, je voudrais savoir when the works start sur le rang 5",
    ],
    ids=["empty", "whitespace", "10k-chars", "emoji", "control-chars", "mixed-languages"],
)
def test_bad_input_gets_a_sensible_answer_and_is_stored(
    web: httpx.Client, live: LiveAssistant, text: str
) -> None:
    citizen = Citizen(web)
    body = citizen.says(text)
    replies = body["replies"]
    assert isinstance(replies, list)
    assert replies
    assert all(str(r["text"]).strip() for r in replies)
    assert body["answered"] is True
    stored = stored_messages(live, citizen)
    assert stored[0].text == text.replace("\x00", "\ufffd")  # PostgreSQL cannot hold NUL
    assert stored[0].direction == Direction.INCOMING
    assert len(stored) == 1 + len(replies)


def test_bot_chat_in_the_terminal(live: LiveAssistant, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RASA_URL": live.rasa_url,
        "RASA_TOKEN": live.rasa_token,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "WEB_PORT": "0",
        "ACTION_TOKEN": "terminal-chat-action-token",  # required with RASA_URL
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="bonjour\nam I talking to a bot?\n",
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    replies = [line for line in result.stdout.splitlines() if line.startswith("bot> ")]
    assert len(replies) == 2
    assert "Bonjour" in replies[0]
    assert "I am a bot" in replies[1]


def test_a_concern_gets_its_reply_by_date_and_its_status_shows_it(web: httpx.Client) -> None:
    citizen = Citizen(web)
    answer = citizen.reads(
        "Les camions du chantier font trembler ma maison tous les matins, c'est insupportable."
    )
    reference = REFERENCE.search(answer)
    assert reference, answer
    assert re.search(r"au plus tard le \d{4}-\d{2}-\d{2}", answer)
    status = citizen.reads(f"Où en est ma plainte {reference.group()}?")
    assert reference.group() in status
    assert re.search(r"Réponse promise au plus tard le \d{4}-\d{2}-\d{2}", status)


def test_erase_my_data_asks_to_confirm_then_gives_a_receipt(
    web: httpx.Client, live: LiveAssistant
) -> None:
    citizen = Citizen(web)
    marker = "Zq" + secrets.token_hex(6)  # a word nobody else writes
    recorded = citizen.reads(
        f"The dust from the trucks covers my garden on {marker} road every day, it is unacceptable."
    )
    reference = REFERENCE.search(recorded)
    assert reference, recorded
    with db(live) as session:
        public_id = conversation_of(session, citizen, live).public_id
    tracker = f"{live.rasa_url}/conversations/{public_id}/tracker"
    params = {"token": live.rasa_token}
    assert marker in httpx.get(tracker, params=params).text  # Rasa holds the words too
    confirm = citizen.reads("Please delete all the data you have about me")
    assert "confirm" in confirm
    receipt = citizen.reads("yes")
    assert re.search(r"Erasure receipt number: E-[0-9A-F]{8}", receipt)
    with db(live) as session:
        concern = session.exec(select(Concern).where(Concern.reference == reference.group())).one()
    assert concern.text == ERASED  # the words are gone; the anonymous concern stays counted
    assert concern.anonymised_at is not None
    # Rasa's copy goes too (in the background: the receipt is not held up for it), and the
    # database file and its write-ahead log no longer hold the words anywhere.
    for _ in range(50):
        if marker not in httpx.get(tracker, params=params).text:
            break
        time.sleep(0.1)
    assert marker not in httpx.get(tracker, params=params).text
    assert live.assistant is not None
    path = Path(live.assistant.database.url.database or "")
    rasa = path.with_name(f"{path.stem}-rasa.db")  # Rasa's tracker store, beside ours
    assert rasa.exists()
    for file in (
        path,
        path.with_name(path.name + "-wal"),
        rasa,
        rasa.with_name(rasa.name + "-wal"),
    ):
        if file.exists():
            assert marker.encode() not in file.read_bytes(), file
