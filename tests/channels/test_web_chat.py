"""The web chat page and its API, served on loopback, with a fake dialogue engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlmodel import select

from bot.app import serve_http
from bot.channels.web.app import create_app
from bot.channels.web.conversations import WebConversations
from bot.common.calendar import BusinessCalendar
from bot.core.actions import ActionServer
from bot.core.conversation import ConversationCore
from bot.knowledge import load_knowledge_base
from bot.outbox.outbound import send_to_conversation
from bot.register.service import Register
from bot.settings import PROJECT_ROOT
from bot.storage import repository
from bot.storage.models import Conversation
from tests.support.dialogue import FakeDialogue

KB = load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")
WEB_IDS = WebConversations.ephemeral()


@pytest.fixture
async def web(
    core: ConversationCore, fake_dialogue: FakeDialogue, database
) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    actions = ActionServer(
        engine=database,
        knowledge=KB,
        register=Register(engine=database, calendar=BusinessCalendar()),
        languages=("fr", "en"),
        default_language="fr",
    )
    app = create_app(
        core=core,
        actions=actions,
        dialogue=fake_dialogue,
        knowledge=KB,
        action_token="t",
        conversations=WEB_IDS,
    )
    server, task, port = await serve_http(app, "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    server.should_exit = True
    await task


async def test_the_page_and_its_assets_are_served(web: httpx.AsyncClient) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    assert "chat.js" in page.text
    script = await web.get("/static/chat.js")
    assert "textContent" in script.text
    assert "innerHTML" not in script.text  # citizens' text is never rendered as markup


async def test_the_introduction_says_it_is_a_bot(web: httpx.AsyncClient) -> None:
    fr = (await web.get("/api/intro", params={"language": "fr"})).json()
    en = (await web.get("/api/intro", params={"language": "en"})).json()
    assert "robot" in fr["text"]
    assert "bot, not a person" in en["text"]
    assert "fictional" in en["text"]


async def test_a_message_gets_replies(web: httpx.AsyncClient) -> None:
    answer = await web.post(
        "/api/messages",
        json={"text": "hello there, how are you doing?"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["language"] == "en"
    assert body["answered"] is True
    assert body["replies"] == [{"text": "echo[en]: hello there, how are you doing?", "choices": []}]


async def test_a_language_button_choice_is_honoured(web: httpx.AsyncClient) -> None:
    body = (await web.post("/api/messages", json={"text": "ok", "language": "en"})).json()
    assert body["language"] == "en"


@pytest.mark.parametrize(
    "payload",
    [
        {"conversation": "x" * 129, "text": "hi"},  # conversation id too long
        {"text": "a" * 20_001},
        {"text": "hi", "language": "de"},
        {"conversation": "browser-123"},
    ],
)
async def test_malformed_requests_are_refused_clearly(
    web: httpx.AsyncClient, payload: dict[str, object]
) -> None:
    answer = await web.post("/api/messages", json=payload)
    assert answer.status_code == 422
    assert answer.json()["detail"]


async def test_health_reports_the_dialogue(
    web: httpx.AsyncClient, fake_dialogue: FakeDialogue
) -> None:
    assert (await web.get("/api/health")).json() == {
        "status": "ok",
        "dialogue_ready": True,
        "channels": {},
    }
    assert (await web.get("/api/health/ready")).status_code == 200
    fake_dialogue.failing = True
    health = (await web.get("/api/health")).json()
    assert (health["status"], health["dialogue_ready"]) == ("degraded", False)
    assert (await web.get("/api/health/ready")).status_code == 503
    assert (await web.get("/api/health/live")).json() == {"status": "alive"}


async def test_one_dialogue_server_down_of_several_is_degraded_but_ready(
    web: httpx.AsyncClient, fake_dialogue: FakeDialogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def one_of_two() -> list[bool]:
        return [True, False]

    monkeypatch.setattr(fake_dialogue, "servers_ready", one_of_two)
    health = (await web.get("/api/health")).json()
    # The other server answers for it: citizens are served, operators see it.
    assert (health["status"], health["dialogue_ready"]) == ("degraded", True)


async def test_the_conversation_comes_back_after_a_reload(web: httpx.AsyncClient) -> None:
    first = await web.post("/api/messages", json={"text": "hello there, are you a bot?"})
    conversation = first.json()["conversation"]
    again = await web.post(
        "/api/messages", json={"conversation": conversation, "text": "and who made you?"}
    )
    assert again.json()["conversation"] == conversation  # the same conversation goes on
    history = (
        await web.get("/api/conversation/messages", headers={"X-Conversation": conversation})
    ).json()
    assert history == [
        {"from_citizen": True, "text": "hello there, are you a bot?"},
        {"from_citizen": False, "text": "echo[en]: hello there, are you a bot?"},
        {"from_citizen": True, "text": "and who made you?"},
        {"from_citizen": False, "text": "echo[en]: and who made you?"},
    ]
    other = (await web.post("/api/messages", json={"text": "hello"})).json()["conversation"]
    assert other != conversation


async def test_a_conversation_id_the_server_did_not_issue_is_never_honoured(
    web: httpx.AsyncClient, core: ConversationCore
) -> None:
    """Finding 3 of the hardening issue: the browser used to pick its id (`aaaaaaaa` was
    accepted), and that bearer secret was stored, exported and used in URL paths."""
    first = (await web.post("/api/messages", json={"text": "le bruit la nuit"})).json()
    issued = first["conversation"]
    forged = issued[:-2] + ("AA" if not issued.endswith("AA") else "BB")
    for picked in ("aaaaaaaa", forged):
        answer = await web.post("/api/messages", json={"conversation": picked, "text": "allo"})
        assert answer.status_code == 200  # answered, in a new conversation
        assert answer.json()["conversation"] not in (picked, issued)
        history = await web.get("/api/conversation/messages", headers={"X-Conversation": picked})
        assert history.status_code == 401
    assert (await web.get("/api/conversation/messages")).status_code == 401
    with core.session() as session:
        stored = {c.external_id for c in session.exec(select(Conversation))}
        citizens = {c.citizen_id for c in session.exec(select(Conversation))}
    assert issued not in stored | citizens  # only its pseudonym is kept
    assert WEB_IDS.key_of(issued) in stored


async def test_a_team_answer_written_later_reaches_the_open_page(
    web: httpx.AsyncClient, core: ConversationCore
) -> None:
    conversation_id = (await web.post("/api/messages", json={"text": "Allo"})).json()[
        "conversation"
    ]
    header = {"X-Conversation": conversation_id}
    assert (await web.get("/api/conversation/notices", headers=header)).json() == []
    with core.session() as session:
        conversation = repository.get_or_create_conversation(
            session=session,
            channel="web",
            external_id=WEB_IDS.key_of(conversation_id),
            citizen_id="x",
        )
        send_to_conversation(
            session=session,
            conversation=conversation,
            texts=["Réponse de l'équipe du projet à votre préoccupation C-2026-0001 :"],
            language="fr",
        )
    (notice,) = (await web.get("/api/conversation/notices", headers=header)).json()
    assert notice["text"].startswith("Réponse de l'équipe")
    later = await web.get(f"/api/conversation/notices?after={notice['id']}", headers=header)
    assert later.json() == []
