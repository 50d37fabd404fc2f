"""Turn latency on Telegram (durable intake, outbox, rate limits) beside the web chat.

Starts a local Rasa server (training the model first if needed), a loopback stand-in of
the Telegram Bot API (the one the tests use) and the application as a separate process
with TELEGRAM_TOKEN pointing at the stand-in. Then, in the same run, the same citizens
write the same messages at a hurried pace (0.5-1.5 s between messages):

1. through the web chat endpoint (the baseline: one HTTP call per turn);
2. through Telegram: from the update reaching the Bot API to the first reply being sent
   (long polling, stored before confirmed, handled, queued, sent within the limits), and
   to the last reply of the turn.

Prints p50/p95/p99 and the ratios to the web chat. `make bench-channels`; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time

from bot.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))
from bench.turn_latency import CHAT_MESSAGES, conversations, percentiles, running_stack
from tests.support.fake_telegram import FakeTelegram

# A handoff's reference in the notice the citizen gets ("... passed on to the team (H-2026-0006)").
HANDOFF = re.compile(r"\bH-\d{4}-\d{4,}\b")


async def telegram_citizens(
    fake: FakeTelegram, *, users: int, turns: int, think: tuple[float, float]
) -> tuple[list[float], list[float]]:
    """Latency to the first reply and to the last reply of each turn, in seconds."""
    first: list[float] = []
    last: list[float] = []
    handed: list[int] = []
    rng = random.Random(42)

    async def citizen(index: int) -> None:
        chat = 5000 + index
        for turn in range(turns):
            if chat in handed:
                return  # with a person now: the assistant is silent, as designed
            await asyncio.sleep(rng.uniform(*think))
            before = len(fake.sent_to(chat))
            started = time.perf_counter()
            fake.send_text(
                chat_id=chat,
                user_id=chat,
                text=CHAT_MESSAGES[(index * turns + turn) % len(CHAT_MESSAGES)],
            )
            await fake.wait_for_sent(before + 1, chat_id=chat, timeout=60)
            to_first = time.perf_counter() - started
            first.append(to_first)
            # The rest of the turn: replies keep coming less than 1.5 s apart.
            count, quiet_since = len(fake.sent_to(chat)), time.perf_counter()
            while time.perf_counter() - quiet_since < 1.5:
                await asyncio.sleep(0.02)
                if len(fake.sent_to(chat)) != count:
                    count, quiet_since = len(fake.sent_to(chat)), time.perf_counter()
            replies = fake.sent_to(chat)[before:]
            last.append(to_first + replies[-1].at - replies[0].at)
            if any(HANDOFF.search(reply.text) for reply in replies):
                handed.append(chat)

    await asyncio.gather(*(citizen(i) for i in range(users)))
    if handed:
        print(
            f"({len(handed)} of {users} Telegram citizens were handed to a person by what they "
            "wrote; the assistant then stays silent, so their later turns were not sent)"
        )
    return first, last


def line(name: str, samples: list[float], base: dict[str, float]) -> None:
    p = percentiles(samples)
    ratios = "  ".join(f"{k}/web {p[k] / base[k]:.1f}x" for k in ("p50", "p95"))
    print(
        f"{name:<46} n={len(samples):4d}  p50 {p['p50']:7.1f} ms  p95 {p['p95']:7.1f} ms  "
        f"p99 {p['p99']:7.1f} ms  {ratios}"
    )


async def main(users: int, turns: int) -> None:
    fake = FakeTelegram(token="123456:AAFakeTokenForTheBenchmarkOnly_0123")
    fake.enforce_rate_limits = True  # answers 429 like Telegram when a chat is flooded
    await fake.start()
    telegram_env = {"TELEGRAM_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url}
    try:
        async with running_stack(
            telegram_env, ready=lambda health: health["channels"]["telegram"]["state"] == "running"
        ) as stack:
            await conversations(
                stack.web_url, users=4, turns=5, think=(0, 0), messages=CHAT_MESSAGES
            )  # warm-up
            await telegram_citizens(fake, users=2, turns=2, think=(0, 0.1))
            web = await conversations(
                stack.web_url, users=users, turns=turns, think=(0.5, 1.5), messages=CHAT_MESSAGES
            )
            first, last = await telegram_citizens(fake, users=users, turns=turns, think=(0.5, 1.5))
            base = percentiles(web[0])
            print(
                f"\nTelegram beside the web chat, {os.cpu_count()} cores, model {stack.model.name}"
            )
            line(f"web chat, {users} citizens, hurried (baseline)", web[0], base)
            line(f"Telegram, {users} citizens, first reply", first, base)
            line(f"Telegram, {users} citizens, whole answer", last, base)
            print(f"429 answers from the Bot API stand-in: {len(fake.rate_limited)}")
    finally:
        await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.turns))
