"""The Rasa client against a stand-in Rasa HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import serve_http
from bot.dialogue.engine import DialogueUnavailable
from bot.dialogue.rasa_client import RasaEngine
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
    assert (reply.interpretation.intent, reply.interpretation.confidence) == ("greet", 0.97)
    assert fake.received[0] == {
        "sender": "abc",
        "message": "bonjour",
        "metadata": {"language": "fr", "message_id": 7},
    }
    await engine.close()


async def test_the_language_slot_is_set_only_when_it_changes(rasa: tuple[FakeRasa, str]) -> None:
    fake, url = rasa
    engine = RasaEngine(url, token="tok-123")
    for language in ("fr", "fr", "en", "en", "fr"):
        reply = await engine.respond(sender_id="abc", text="allo", metadata={"language": language})
        assert reply.texts == [f"[{language}] allo"]
    # Twice the first time (a new conversation's session starts after the first: see the
    # client), then only when it changes.
    assert [events[0]["value"] for _, events in fake.events_received] == ["fr", "fr", "en", "fr"]
    await engine.close()


async def test_after_a_failure_the_language_is_set_again(rasa: tuple[FakeRasa, str]) -> None:
    fake, url = rasa
    engine = RasaEngine(url, token="tok-123")
    await engine.respond(sender_id="abc", text="allo", metadata={"language": "en"})
    fake.mode = "error"
    with pytest.raises(DialogueUnavailable):
        await engine.respond(sender_id="abc", text="allo", metadata={"language": "en"})
    fake.mode = "ok"
    fake.slots.clear()  # as if Rasa had restarted and lost its trackers
    reply = await engine.respond(sender_id="abc", text="allo", metadata={"language": "en"})
    assert reply.texts == ["[en] allo"]
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
