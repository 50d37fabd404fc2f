"""The Rasa client against a stand-in Rasa HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import serve_http
from bot.dialogue.engine import DialogueUnavailable
from bot.dialogue.rasa_client import KEEPALIVE_EXPIRY, RasaEngine
from tests.support.fake_rasa import FakeRasa


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[FakeRasa, str]]:
    fake = FakeRasa(token="tok-123")
    server, task, port = await serve_http(fake.app, "127.0.0.1", 0)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_respond_sends_text_and_metadata_and_keeps_text_replies(
    rasa: tuple[FakeRasa, str],
) -> None:
    fake, url = rasa
    engine = RasaEngine(url, token="tok-123")
    reply = await engine.respond(
        sender_id="abc", text="bonjour", metadata={"language": "fr", "message_id": 7}
    )
    assert reply.texts == ["[fr] bonjour"]
    assert reply.interpretation is not None
    assert (reply.interpretation.intent, reply.interpretation.confidence) == ("greet", 0.99)
    assert fake.received[0] == {
        "sender": "abc",
        "message": "bonjour",
        "metadata": {"language": "fr", "message_id": 7},
    }
    await engine.close()


async def test_the_language_slot_is_set_only_when_it_differs_from_what_was_told(
    rasa: tuple[FakeRasa, str],
) -> None:
    fake, url = rasa
    engine = RasaEngine(url, token="tok-123")
    told = None  # what the conversation's row says (the core keeps it there)
    for language in ("fr", "fr", "en", "en", "fr"):
        reply = await engine.respond(
            sender_id="abc", text="allo", metadata={"language": language}, told_language=told
        )
        assert reply.texts == [f"[{language}] allo"]
        told = language
    # Twice the first time (a new conversation's session starts after the first: see the
    # client), then only when it changes.
    assert [events[0]["value"] for _, events in fake.events_received] == ["fr", "fr", "en", "fr"]
    await engine.close()


async def test_what_was_told_is_not_remembered_by_the_engine(rasa: tuple[FakeRasa, str]) -> None:
    """Another replica told Rasa "en" (it says so in the row): this one does not tell it again;
    told nothing (a row that says so after a failure), it tells it again."""
    fake, url = rasa
    engine = RasaEngine(url, token="tok-123")
    await engine.respond(sender_id="abc", text="allo", metadata={"language": "en"},
                         told_language="en")  # fmt: skip
    assert fake.events_received == []
    await engine.respond(sender_id="abc", text="allo", metadata={"language": "en"})
    assert [events[0]["value"] for _, events in fake.events_received] == ["en", "en"]
    await engine.close()


async def test_parse_gives_the_full_retrieval_intent(rasa: tuple[FakeRasa, str]) -> None:
    _, url = rasa
    engine = RasaEngine(url, token="tok-123")
    interpretation = await engine.parse("trop de bruit?")
    assert interpretation.intent == "faq/noise"
    assert interpretation.confidence == pytest.approx(0.72)
    assert interpretation.ranking == (("report_concern", 0.1),)
    assert await engine.is_ready()
    await engine.close()


@pytest.mark.parametrize("mode", ["error", "garbage"])
async def test_a_broken_server_is_unavailable(rasa: tuple[FakeRasa, str], mode: str) -> None:
    fake, url = rasa
    fake.mode = mode
    engine = RasaEngine(url, token="tok-123")
    with pytest.raises(DialogueUnavailable):
        await engine.respond(sender_id="abc", text="allo", metadata={"language": "fr"})
    assert not await engine.is_ready()
    await engine.close()


async def test_a_wrong_token_is_unavailable_not_a_crash(rasa: tuple[FakeRasa, str]) -> None:
    _, url = rasa
    engine = RasaEngine(url, token="wrong")
    with pytest.raises(DialogueUnavailable, match="401"):
        await engine.parse("allo")
    await engine.close()


async def test_a_server_that_is_down_is_unavailable() -> None:
    engine = RasaEngine("http://127.0.0.1:9", timeout=1)
    with pytest.raises(DialogueUnavailable, match="unreachable"):
        await engine.parse("allo")
    assert not await engine.is_ready()
    await engine.close()


async def test_a_slow_server_times_out(rasa: tuple[FakeRasa, str]) -> None:
    fake, url = rasa
    fake.mode = "slow"
    engine = RasaEngine(url, token="tok-123", timeout=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(DialogueUnavailable):
        await engine.parse("allo")
    assert asyncio.get_running_loop().time() - started < 2
    await engine.close()


@pytest.fixture
async def two_rasas() -> AsyncIterator[tuple[list[FakeRasa], list[str], list[Any]]]:
    fakes = [FakeRasa(token="tok-123"), FakeRasa(token="tok-123")]
    started = [await serve_http(fake.app, "127.0.0.1", 0) for fake in fakes]
    yield fakes, [f"http://127.0.0.1:{port}" for _, _, port in started], started
    for server, task, _ in started:
        server.should_exit = True
        await task


async def test_conversations_are_spread_over_servers_and_a_turn_stays_on_one(
    two_rasas: tuple[list[FakeRasa], list[str], list[Any]],
) -> None:
    fakes, urls, _ = two_rasas
    engine = RasaEngine(urls, token="tok-123")
    senders = [f"citizen-{i}" for i in range(20)]
    for sender in senders:
        await engine.respond(sender_id=sender, text="allo", metadata={"language": "en"})
    for fake, url in zip(fakes, urls, strict=True):
        mine = {s for s in senders if engine.server_for(s) == url}
        assert 3 <= len(mine) <= 17  # both have a share
        # Every call of a conversation's turn (slot events, message, tracker) went to its own.
        assert {body["sender"] for body in fake.received} == mine
        assert {sender for sender, _ in fake.events_received} == mine
        assert set(fake.trackers_read) == mine
    await engine.close()


async def test_a_server_that_refuses_hands_its_conversations_to_another(
    two_rasas: tuple[list[FakeRasa], list[str], list[Any]],
) -> None:
    fakes, urls, started = two_rasas
    engine = RasaEngine(urls, token="tok-123")
    sender = next(f"c{i}" for i in range(100) if engine.server_for(f"c{i}") == urls[0])
    server, task, _ = started[0]
    server.should_exit = True  # the first server goes away
    await task
    reply = await engine.respond(sender_id=sender, text="allo", metadata={"language": "fr"})
    assert reply.texts == ["[fr] allo"]
    assert [body["sender"] for body in fakes[1].received] == [sender]
    assert await engine.is_ready()  # one is enough to answer
    assert await engine.servers_ready() == [False, True]
    assert (await engine.parse("du bruit")).intent == "faq/noise"
    await engine.close()


async def test_a_server_that_fails_after_receiving_the_turn_is_not_replaced(
    two_rasas: tuple[list[FakeRasa], list[str], list[Any]],
) -> None:
    """A 500 (or a time-out) may come after Rasa understood the message: sending it to another
    server could act on it twice, so the turn fails honestly instead."""
    fakes, urls, _ = two_rasas
    engine = RasaEngine(urls, token="tok-123")
    sender = next(f"c{i}" for i in range(100) if engine.server_for(f"c{i}") == urls[0])
    fakes[0].mode = "error"
    with pytest.raises(DialogueUnavailable, match="500"):
        await engine.respond(sender_id=sender, text="allo", metadata={"language": "fr"})
    assert fakes[1].received == []
    await engine.close()


async def test_every_server_down_is_unavailable() -> None:
    engine = RasaEngine(["http://127.0.0.1:9", "http://127.0.0.1:7"], timeout=1)
    with pytest.raises(DialogueUnavailable, match="unreachable"):
        await engine.respond(sender_id="abc", text="allo", metadata={"language": "fr"})
    with pytest.raises(DialogueUnavailable, match="unreachable"):
        await engine.parse("allo")
    assert not await engine.is_ready()
    await engine.close()


async def test_an_idle_connection_is_not_reused_once_a_server_may_be_closing_it() -> None:
    """A server closes a connection idle for its keep-alive time (5 s at the shortest, usually);
    a request that arrives on it just then is lost with a read error, and a turn cannot be sent
    twice. This server drops the request that arrives on a connection idle for longer than the
    client keeps one (`KEEPALIVE_EXPIRY`): the client opens a new connection instead."""
    dropped: list[float] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last = asyncio.get_running_loop().time()
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                idle = asyncio.get_running_loop().time() - last
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = json.loads(await reader.readexactly(length))
                if idle > KEEPALIVE_EXPIRY + 0.1:
                    dropped.append(idle)
                    return  # closing: the request on it is lost
                intent = {"name": "greet", "confidence": 0.9}
                answer = json.dumps({"text": body["text"], "intent": intent}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                await writer.drain()
                last = asyncio.get_running_loop().time()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = RasaEngine(f"http://127.0.0.1:{port}")
    try:
        assert (await engine.parse("bonjour")).intent == "greet"
        await asyncio.sleep(KEEPALIVE_EXPIRY + 0.5)
        assert (await engine.parse("encore")).intent == "greet"
        assert dropped == []
    finally:
        await engine.close()
        server.close()
        await server.wait_closed()
