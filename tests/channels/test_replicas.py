"""Two `bot run` processes on one PostgreSQL database, with the Telegram Bot API and Rasa stood
in for on loopback: one of them holds the Telegram channel (polling, intake, outbox), so every
citizen's message is answered once, in order in each chat, and Telegram's limits hold in
aggregate (the stand-in enforces them: no 429); killed, its role is taken over by the other
within 15 seconds and the messages that follow are answered once too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import serve_http
from tests.conftest import _empty_postgres
from tests.support.fake_rasa import FakeRasa
from tests.support.fake_telegram import FakeTelegram

TOKEN = "monitoring-token-0123456789"
ROLE = "channel-telegram"
FIRST, SECOND, THIRD = range(0, 60), range(60, 120), range(120, 180)


class Replica:
    def __init__(self, process: asyncio.subprocess.Process, web_url: str) -> None:
        self.process = process
        self.web_url = web_url

    async def roles(self) -> list[str]:
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                answer = await client.get(
                    f"{self.web_url}/api/health/details",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            except httpx.HTTPError:
                return []
        return list(answer.json().get("roles", [])) if answer.status_code == 200 else []


async def start(env: dict[str, str]) -> Replica:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    web_url, lines = None, []
    async with asyncio.timeout(180):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, "".join(lines)
            lines.append(line)
            if line.startswith("Web chat:"):
                web_url = line.split()[2]
            if "The assistant is ready" in line:
                break
    assert web_url is not None
    # The rest of its output is read (and dropped) so that it never blocks on a full pipe.
    asyncio.get_running_loop().create_task(process.stdout.read())
    return Replica(process, web_url)


async def holder(replicas: list[Replica], deadline: float) -> Replica:
    while True:
        held = [r for r in replicas if ROLE in await r.roles()]
        assert len(held) <= 1, "two processes hold the Telegram channel"
        if held:
            return held[0]
        assert time.monotonic() < deadline, "nobody took the Telegram channel"
        await asyncio.sleep(0.2)


def answers(telegram: FakeTelegram, numbers: range, word: str = "bonjour") -> Counter[int]:
    """How many times each message of `numbers` was answered."""
    return Counter(n for m in telegram.sent for n in numbers if m.text.endswith(f"{word} {n}"))


async def answered_once(telegram: FakeTelegram, numbers: range, word: str = "bonjour") -> None:
    """Waits until every message of `numbers` is answered, then a moment more: none twice."""
    async with asyncio.timeout(60):
        while len(answers(telegram, numbers, word)) < len(numbers):
            await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # a second answer, if any, would come in this time
    assert set(answers(telegram, numbers, word).values()) == {1}, answers(telegram, numbers, word)


@contextlib.asynccontextmanager
async def fake_rasa() -> AsyncIterator[str]:
    rasa = FakeRasa(token="rasa-token")
    rasa.delay = 0.5  # turns take a while: work stays pending long enough for both to see it
    server, task, port = await serve_http(rasa.app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_two_replicas_answer_every_message_once_and_take_over_a_dead_one(
    tmp_path: Path,
) -> None:
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        pytest.skip("TEST_POSTGRES_URL is not set")
    database = _empty_postgres(server)
    replicas: list[Replica] = []
    async with (
        fake_rasa() as rasa_url,
        FakeTelegram(token="123456:replica-test-token-abcdefgh") as telegram,
    ):
        telegram.enforce_rate_limits = True  # ~1/s per chat, 20/min per group, 30/s overall
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "RASA_URL": rasa_url,
            "RASA_TOKEN": "rasa-token",
            "ACTION_TOKEN": "action-token-0123456789",
            "TELEGRAM_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.base_url,
            "WEB_PORT": "0",
            "HEALTH_TOKEN": TOKEN,
            "PSEUDONYM_KEY_FILE": str(tmp_path / "secrets" / "pseudonym.key"),
            "HEAR_CONCERNS": "false",
            "CHECK_ANSWERS": "false",
        }
        try:
            replicas = list(await asyncio.gather(start(env), start(env)))
            leader = await holder(replicas, time.monotonic() + 30)
            for n in FIRST:
                telegram.send_text(chat_id=5000 + n, user_id=5000 + n, text=f"bonjour {n}")
            await answered_once(telegram, FIRST)

            leader.process.send_signal(signal.SIGKILL)
            await leader.process.wait()
            killed = time.monotonic()
            survivor = next(r for r in replicas if r is not leader)
            assert await holder([survivor], killed + 15) is survivor
            took = time.monotonic() - killed
            for n in SECOND:  # two messages in each chat: answered in the order they came
                telegram.send_text(chat_id=5000 + n, user_id=5000 + n, text=f"bonjour {n}")
                telegram.send_text(chat_id=5000 + n, user_id=5000 + n, text=f"encore {n}")
            await answered_once(telegram, SECOND)
            await answered_once(telegram, SECOND, "encore")
            for n in SECOND:
                said = [
                    m.text.split()[-2]
                    for m in telegram.sent_to(5000 + n)
                    if m.text.endswith((f"bonjour {n}", f"encore {n}"))
                ]
                assert said == ["bonjour", "encore"], said
            print(f"the Telegram channel was taken over {took:.1f} s after its holder died")

            # Killed in the middle of a burst: nothing is lost; a message whose answer was
            # being sent at that instant may be sent twice (Telegram has no idempotency key).
            replicas.append(await start(env))
            for n in THIRD:
                telegram.send_text(chat_id=5000 + n, user_id=5000 + n, text=f"bonjour {n}")
            async with asyncio.timeout(60):
                while len(answers(telegram, THIRD)) < len(THIRD) // 3:
                    await asyncio.sleep(0.05)
            survivor.process.send_signal(signal.SIGKILL)
            await survivor.process.wait()
            killed = time.monotonic()
            await holder([replicas[-1]], killed + 15)
            async with asyncio.timeout(90):
                while len(answers(telegram, THIRD)) < len(THIRD):
                    await asyncio.sleep(0.2)
            await asyncio.sleep(3)
            twice = sorted(n for n, count in answers(telegram, THIRD).items() if count > 1)
            print(f"killed mid-burst: all {len(THIRD)} answered, {len(twice)} twice: {twice}")
            assert max(answers(telegram, THIRD).values()) <= 2
            # One sender at a time paced every reply: Telegram never had to refuse one.
            assert telegram.rate_limited == [], [  # (chat, sends in the second before)
                (chat, sum(1 for m in telegram.sent if at - 1 < m.at <= at))
                for chat, at in telegram.rate_limited
            ]
        finally:
            for replica in replicas:
                if replica.process.returncode is None:
                    replica.process.terminate()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(30):
                            await replica.process.wait()
