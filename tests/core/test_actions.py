"""Rasa's custom actions, called as Rasa calls them (the action-server protocol)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import serve_http
from bot.channels.web.app import create_app
from bot.common.calendar import BusinessCalendar
from bot.common.categories import ConcernCategorizer
from bot.core.actions import ActionServer, UnknownAction
from bot.core.conversation import ConversationCore
from bot.knowledge import load_knowledge_base
from bot.register.service import Register
from bot.settings import PROJECT_ROOT
from bot.storage import repository
from bot.storage.models import (
    Concern,
    Conversation,
    HumanRequest,
    MessageStatus,
    Subscription,
    UnansweredQuestion,
)
from bot.storage.models import Direction as D

KB = load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")
CATEGORIZER = ConcernCategorizer.from_nlu_file(
    PROJECT_ROOT / "nlu" / "conversation" / "report_concern.yml"
)


@pytest.fixture
def actions(database: Engine) -> ActionServer:
    return ActionServer(
        engine=database,
        knowledge=KB,
        register=Register(engine=database, calendar=BusinessCalendar()),
        languages=("fr", "en"),
        default_language="fr",
    )


@pytest.fixture
def citizen(database: Engine) -> Conversation:
    with Session(database, expire_on_commit=False) as session:
        return repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="chat-1", citizen_id="citizen-1"
        )


def stored_message(database: Engine, conversation: Conversation, text: str) -> int:
    with Session(database, expire_on_commit=False) as session:
        message = repository.add_message(
            session=session,
            conversation=conversation,
            direction=D.INCOMING,
            text=text,
            language="fr",
        )
        assert message.id is not None
        return message.id


def call(
    action: str, conversation: Conversation, text: str, *, intent: str, language: str = "fr",
    message_id: int | None = None, faq: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    # The shape Rasa 3.6 sends (its response selector lists its retrieval intents first).
    latest: dict[str, Any] = {
        "text": text,
        "message_id": "4f0b8c",
        "intent": {"name": intent, "confidence": 0.93},
        "intent_ranking": [{"name": intent, "confidence": 0.93}],
        "entities": [],
        "metadata": {"language": language, "message_id": message_id},
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "default": {"response": {"responses": None, "confidence": 0.0}, "ranking": []},
        },
    }
    if faq:
        latest["response_selector"]["faq"] = {
            "response": {"intent_response_key": f"faq/{faq}", "confidence": 0.5},
            "ranking": [{"intent_response_key": f"faq/{faq}", "confidence": 0.5}],
        }
    return {
        "next_action": action,
        "sender_id": conversation.public_id,
        "tracker": {"sender_id": conversation.public_id, "slots": {}, "latest_message": latest},
        "domain": {},
        "version": "3.6.21",
    }


async def test_the_concern_action_only_marks_the_turn(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    # Recording is the core's concern step (bot.register.hearing), for every intent: the action
    # Rasa runs for `report_concern` says nothing and records nothing, so nothing is done twice.
    text = "J'ai peur pour mon puits depuis que vous dynamitez"
    message_id = stored_message(database, citizen, text)
    answer = await actions.run(
        call("action_record_concern", citizen, text, intent="report_concern", message_id=message_id)
    )
    assert answer == {"events": [], "responses": []}
    with Session(database) as session:
        assert session.exec(select(Concern)).all() == []


async def test_status_shows_only_the_citizens_own_concerns(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    with Session(database, expire_on_commit=False) as session:
        mine = repository.record_concern(
            session=session,
            conversation=citizen,
            message_id=None,
            category="noise",
            language="en",
            text="noise",
        )
        stranger = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="chat-2", citizen_id="citizen-2"
        )
        theirs = repository.record_concern(
            session=session,
            conversation=stranger,
            message_id=None,
            category="water",
            language="en",
            text="well",
        )
    answer = await actions.run(
        call("action_concern_status", citizen, f"where are {mine.reference} and {theirs.reference}?",
             intent="ask_concern_status", language="en")
    )  # fmt: skip
    texts = [r["text"] for r in answer["responses"]]
    assert any(mine.reference in t and "received" in t for t in texts)
    assert any(theirs.reference in t and "cannot find" in t for t in texts)
    assert not any("well" in t for t in texts)

    listing = await actions.run(
        call(
            "action_concern_status",
            citizen,
            "des nouvelles de ma plainte?",
            intent="ask_concern_status",
        )
    )
    assert [mine.reference in r["text"] for r in listing["responses"]] == [True]


async def test_status_without_any_concern_says_so(
    actions: ActionServer, citizen: Conversation
) -> None:
    answer = await actions.run(
        call("action_concern_status", citizen, "ma plainte?", intent="ask_concern_status")
    )
    assert "aucune préoccupation" in answer["responses"][0]["text"]


async def test_an_unknown_question_is_recorded_and_a_person_offered(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    answer = await actions.run(
        call(
            "action_unknown_question",
            citizen,
            "blorp the zorb?",
            intent="nlu_fallback",
            language="en",
        )
    )
    assert "not sure" in answer["responses"][0]["text"]
    assert "person" in answer["responses"][0]["text"]
    accepted = await actions.run(
        call("action_request_human", citizen, "yes", intent="affirm", language="en")
    )
    assert "person from the project team" in accepted["responses"][0]["text"]
    assert KB.contact.email in accepted["responses"][0]["text"]
    with Session(database) as session:
        assert session.exec(select(UnansweredQuestion)).one().reason == "low_confidence"
        assert session.exec(select(HumanRequest)).one().reason == "unknown_question"


async def test_asking_for_a_person_twice_opens_one_request(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    for _ in range(2):
        await actions.run(
            call("action_request_human", citizen, "un humain svp", intent="ask_human")
        )
    with Session(database) as session:
        assert len(session.exec(select(HumanRequest)).all()) == 1


async def test_change_language_switches_and_pins(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    answer = await actions.run(
        call(
            "action_change_language",
            citizen,
            "can we speak english please",
            intent="change_language",
        )
    )
    assert answer["events"][0]["value"] == "en"
    assert "English" in answer["responses"][0]["text"]
    with Session(database) as session:
        stored = session.get(Conversation, citizen.id)
        assert stored is not None
        assert (stored.language, stored.language_pinned) == ("en", True)


async def test_subscribe_and_unsubscribe(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    first = await actions.run(
        call("action_subscribe", citizen, "abonnez-moi", intent="subscribe_updates")
    )
    again = await actions.run(
        call("action_subscribe", citizen, "abonnez-moi", intent="subscribe_updates")
    )
    stop = await actions.run(
        call("action_unsubscribe", citizen, "stop", intent="unsubscribe_updates")
    )
    assert "nouvelles du projet ici" in first["responses"][0]["text"]
    assert "déjà abonné" in again["responses"][0]["text"]
    assert "ne recevrez plus" in stop["responses"][0]["text"]
    with Session(database) as session:
        assert session.exec(select(Subscription)).one().active is False


async def test_forget_me_asks_to_confirm_before_erasing(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    answer = await actions.run(
        call("action_forget_me", citizen, "effacez mes données", intent="forget_me")
    )
    assert "Confirmez-vous l'effacement" in answer["responses"][0]["text"]
    with Session(database) as session:
        stored = session.get(Conversation, citizen.id)
        assert stored is not None
        assert stored.erase_requested_at is not None
        assert stored.erased_at is None  # nothing is erased before the citizen confirms


async def test_an_unknown_action_is_refused(actions: ActionServer, citizen: Conversation) -> None:
    with pytest.raises(UnknownAction):
        await actions.run(call("action_launch_rockets", citizen, "go", intent="greet"))


async def test_the_endpoint_checks_the_token_and_speaks_the_protocol(
    actions: ActionServer, citizen: Conversation, core: ConversationCore, fake_dialogue: Any
) -> None:
    app = create_app(
        core=core,
        actions=actions,
        dialogue=fake_dialogue,
        knowledge=KB,
        action_token="s3cret-token",
    )
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            payload = call(
                "action_subscribe",
                citizen,
                "keep me posted",
                intent="subscribe_updates",
                language="en",
            )
            assert (await client.post("/actions/webhook", json=payload)).status_code == 401
            assert (
                await client.post("/actions/webhook?token=wrong", json=payload)
            ).status_code == 401
            ok = await client.post("/actions/webhook?token=s3cret-token", json=payload)
            assert ok.status_code == 200
            assert "project news" in ok.json()["responses"][0]["text"]
            unknown = await client.post(
                "/actions/webhook?token=s3cret-token", json={**payload, "next_action": "nope"}
            )
            assert unknown.status_code == 404
            assert unknown.json()["action_name"] == "nope"
            bad = await client.post("/actions/webhook?token=s3cret-token", content=b"not json")
            assert bad.status_code == 400
    finally:
        server.should_exit = True
        await task


def test_every_custom_action_of_the_domain_is_implemented(actions: ActionServer) -> None:
    import yaml

    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "dialogue.yml").read_text())
    assert sorted(domain["actions"]) == actions.action_names


async def test_an_action_arriving_after_its_turn_was_given_up_does_nothing(
    actions: ActionServer, citizen: Conversation, database: Engine
) -> None:
    """Rasa answered too late: the citizen was told the assistant could not answer and a person
    will follow up; the action Rasa still runs must not act behind them (finding 10)."""
    message_id = stored_message(database, citizen, "un humain svp")
    with Session(database) as session:
        repository.finish_incoming(
            session=session, message_id=message_id, status=MessageStatus.UNANSWERED,
            intent=None, confidence=None,
        )  # fmt: skip
    late = await actions.run(
        call("action_request_human", citizen, "un humain svp", intent="ask_human",
             message_id=message_id)
    )  # fmt: skip
    assert late == {"events": [], "responses": []}
    with Session(database) as session:
        assert session.exec(select(HumanRequest)).all() == []
    on_time = await actions.run(
        call("action_request_human", citizen, "un humain svp", intent="ask_human",
             message_id=stored_message(database, citizen, "un humain svp"))
    )  # fmt: skip
    assert on_time["responses"]
