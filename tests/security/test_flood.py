"""One hostile client cannot flood the assistant (finding 2 of the hardening issue): beyond its
share it gets 429 with a sentence and Retry-After, nothing of it is stored and no request for a
person is opened, while another citizen is answered normally; a saturated assistant sheds turns
at once with 503; a body is refused by its size before it is read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.channels.web.limits import Rate, WebLimits
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase
from bot.storage.models import Conversation, HumanRequest, Message
from tests.support.dialogue import FakeDialogue
from tests.support.web import chat_app

FLOODER = ("198.51.100.66", 40000)
NEIGHBOUR = ("203.0.113.5", 40001)


def app_for(
    core: ConversationCore, dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase,
    **extra: Any,
) -> Any:  # fmt: skip
    return chat_app(core, dialogue, knowledge, **extra)


def client(app: Any, address: tuple[str, int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://chat.test")


async def test_a_flooding_client_is_slowed_down_and_its_neighbour_is_not(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase
) -> None:
    app = app_for(core, fake_dialogue, database, knowledge)
    async with client(app, FLOODER) as flooder, client(app, NEIGHBOUR) as neighbour:
        # 200 messages, each in a new conversation, as fast as it can.
        flood = await asyncio.gather(
            *(flooder.post("/api/messages", json={"text": f"spam {n}"}) for n in range(200))
        )
        statuses = [r.status_code for r in flood]
        first = await neighbour.post("/api/messages", json={"text": "Will there be noise?"})
        conversation = first.json()["conversation"]
        second = await neighbour.post(
            "/api/messages", json={"conversation": conversation, "text": "And at night?"}
        )
    refused = [r for r in flood if r.status_code == 429]
    assert statuses.count(200) <= 10  # a burst of 5 (conversations: of 5), then the rate
    assert len(refused) >= 190
    assert int(refused[0].headers["retry-after"]) >= 1
    assert "wait" in refused[0].json()["detail"]
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["replies"]
    with Session(database) as session:
        stored = session.exec(select(Message).where(Message.text.startswith("spam"))).all()  # type: ignore[attr-defined]
        conversations = session.exec(select(Conversation)).all()
        requests = session.exec(select(HumanRequest)).all()
    assert len(stored) == statuses.count(200)  # what was refused was never stored
    assert len(conversations) <= 11
    assert requests == []  # the flood opened no request for a person


async def test_a_saturated_assistant_sheds_turns_at_once(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase
) -> None:
    release = asyncio.Event()
    slow: list[str] = []

    def answer(text: str, metadata: Mapping[str, Any]) -> list[str]:
        slow.append(text)
        return [f"echo: {text}"]

    original = fake_dialogue.respond

    async def respond(**kwargs: Any) -> Any:
        await release.wait()
        return await original(**kwargs)

    fake_dialogue.answer = answer
    fake_dialogue.respond = respond  # type: ignore[method-assign]
    limits = WebLimits(max_in_flight=1, per_client=Rate(100, 60), per_conversation=Rate(100, 60))
    app = app_for(core, fake_dialogue, database, knowledge, limits=limits)
    async with client(app, NEIGHBOUR) as web:
        first = asyncio.create_task(web.post("/api/messages", json={"text": "premier"}))
        while limits.in_flight == 0:
            await asyncio.sleep(0.01)
        shed = await web.post("/api/messages", json={"text": "second"})
        release.set()
        answered = await first
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "5"
    assert answered.status_code == 200
    assert limits.in_flight == 0


async def test_a_huge_body_is_refused_by_its_announced_length_without_reading_it(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase
) -> None:
    app = app_for(core, fake_dialogue, database, knowledge)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/messages", "raw_path": b"/api/messages",
        "query_string": b"", "root_path": "", "client": NEIGHBOUR, "server": ("chat.test", 80),
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"50000000")],
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent[0]["status"] == 413


async def test_a_huge_streamed_body_is_refused_once_it_passes_the_limit(
    core: ConversationCore, fake_dialogue: FakeDialogue, database: Engine, knowledge: KnowledgeBase
) -> None:
    app = app_for(core, fake_dialogue, database, knowledge)
    chunk = b'{"text": "' + b"a" * 1_000_000
    read = 0

    async def stream() -> Any:
        nonlocal read
        for _ in range(50):
            read += 1
            yield chunk

    async with client(app, NEIGHBOUR) as web:
        answer = await web.post(
            "/api/messages", content=stream(), headers={"content-type": "application/json"}
        )
    assert answer.status_code == 413
