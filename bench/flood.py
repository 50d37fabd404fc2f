"""One hostile client against everybody else, through the web chat and the real Rasa server.

Starts the same stack as the turn benchmark (a local Rasa server, the application as its own
process behind a trusted local "proxy" so that every simulated citizen has an address), then
measures in one run:

1. 20 citizens at a typing pace, alone (the baseline);
2. the same 20 citizens while one client sends 200 messages in 20 s, each in a new
   conversation (what the hardening issue found: every other citizen got "I cannot answer
   right now", and the desk a request for a person per message).

Prints the citizens' p50/p95 in both runs and their ratio, what the flooding client got (200,
429, 503) and how many requests for a person were opened. Run it with `make bench-flood`; it is
not a test and asserts nothing (tests/security/test_flood.py checks the behaviour).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter

import httpx

from bench.turn_latency import conversations, percentiles, running_stack

FLOOD_MESSAGES = 200
FLOOD_SECONDS = 20.0


async def flood(web_url: str) -> Counter[int]:
    """One client, 200 messages in 20 s, each in a new conversation."""
    statuses: Counter[int] = Counter()
    headers = {"X-Forwarded-For": "198.51.100.66"}
    async with httpx.AsyncClient(base_url=web_url, timeout=60) as client:

        async def one(number: int) -> None:
            await asyncio.sleep(number * FLOOD_SECONDS / FLOOD_MESSAGES)
            try:
                response = await client.post(
                    "/api/messages", json={"text": f"spam spam spam {number}"}, headers=headers
                )
                statuses[response.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1

        await asyncio.gather(*(one(n) for n in range(FLOOD_MESSAGES)))
    return statuses


async def requests_for_a_person(database_url: str) -> tuple[Counter[str], int]:
    """(requests opened in the flooding client's conversations, by reason; how many in the
    citizens' ones)."""
    from sqlmodel import Session, col, select

    from bot.storage.database import create_database_engine
    from bot.storage.models import HumanRequest, Message

    engine = create_database_engine(database_url)
    with Session(engine) as session:
        flooded = set(
            session.exec(
                select(Message.conversation_id).where(col(Message.text).startswith("spam spam"))
            )
        )
        opened = session.exec(select(HumanRequest)).all()
    engine.dispose()
    by_flood = Counter(r.reason for r in opened if r.conversation_id in flooded)
    return by_flood, len(opened) - sum(by_flood.values())


async def main() -> None:
    # The assistant's defaults (the turn benchmark lifts them to measure throughput).
    defaults = {
        "WEB_MESSAGES_PER_MINUTE": "30",
        "WEB_CONVERSATIONS_PER_HOUR": "30",
        "WEB_TURNS_IN_FLIGHT": "32",
    }
    async with running_stack(defaults) as stack:
        await conversations(stack.web_url, users=4, turns=3, think=(0, 0))  # warm-up
        alone = await conversations(stack.web_url, users=20, turns=6, think=(3.0, 10.0))
        _, citizens_alone = await requests_for_a_person(stack.database_url)
        flooding = asyncio.create_task(flood(stack.web_url))
        await asyncio.sleep(1.0)  # the flood is under way
        beside = await conversations(stack.web_url, users=20, turns=6, think=(3.0, 10.0))
        statuses = await flooding
        by_flood, citizens_total = await requests_for_a_person(stack.database_url)
    quiet, loud = percentiles(alone[0]), percentiles(beside[0])
    print(f"\nOne client flooding the web chat, {os.cpu_count()} cores, model {stack.model.name}")
    print(f"20 citizens, typing pace, alone:           p50 {quiet['p50']:6.1f} ms  "
          f"p95 {quiet['p95']:6.1f} ms  failed={alone[2]}")  # fmt: skip
    print(f"20 citizens, typing pace, beside a flood:  p50 {loud['p50']:6.1f} ms  "
          f"p95 {loud['p95']:6.1f} ms  failed={beside[2]}  "
          f"p95 ratio {loud['p95'] / quiet['p95']:.2f}x")  # fmt: skip
    shown = ", ".join(f"{code or 'error'}: {n}" for code, n in sorted(statuses.items()))
    print(f"the flooding client ({FLOOD_MESSAGES} messages in {FLOOD_SECONDS:.0f} s): {shown}")
    reasons = ", ".join(f"{reason} {n}" for reason, n in by_flood.most_common()) or "none"
    print(f"requests for a person opened by the flood: {reasons}; by the 20 citizens' own "
          f"messages: {citizens_alone} alone, {citizens_total - citizens_alone} beside the flood")  # fmt: skip


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main())
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
