"""Turn latency and throughput of the web chat endpoint against the real Rasa server.

Starts a local Rasa server (training the model first if needed) and the application
as a separate process pointed at it, then measures, in the same run:

1. the floor: Rasa's own `/model/parse`, one request at a time;
2. 20 concurrent conversations at a typing pace (each citizen reads the answer and
   types for 3-10 s before the next message): the latency a citizen sees;
3. 20 concurrent conversations at a hurried pace (0.5-1.5 s between messages, about
   fifteen messages a second in all);
4. 20 concurrent conversations with no pause at all: the saturation throughput.

Prints p50/p95/p99 turn latency and messages per second, with ratios to the floor. Every run
uses the same messages: the held-out chat messages, the real statements of the development half
of `tests/data/concerns_real.yml` (several sentences, up to 500 characters) and the real questions
of the development half of `tests/data/questions_real.yml`. The whole measure is made four times
in one run: without the concern judgement, the answer relevance check nor the intent reader (the
baseline), with the concern judgement (`HEAR_CONCERNS`), with the answer check too
(`CHECK_ANSWERS`), then with the intent reader too (`HEAR_IDEAS`); the differences of the p95s
are printed.
Run it with `make bench`; it is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.app import rasa_runtime
from bot.settings import PROJECT_ROOT, load_settings

# Chat messages (the Telegram benchmark's), then those and real statements (this benchmark's).
CHAT_MESSAGES = [
    m["text"]
    for m in yaml.safe_load((PROJECT_ROOT / "tests/data/heldout.yml").read_text())["messages"]
]
_REAL = yaml.safe_load((PROJECT_ROOT / "tests/data/concerns_real.yml").read_text())
_DEV = {source["id"] for source in _REAL["sources"] if source["split"] == "dev"}
_QUESTIONS = yaml.safe_load((PROJECT_ROOT / "tests/data/questions_real.yml").read_text())
_QUESTIONS_DEV = {source["id"] for source in _QUESTIONS["sources"] if source["split"] == "dev"}
MESSAGES = (
    CHAT_MESSAGES
    + [s["text"] for s in _REAL["statements"] if s["source"] in _DEV]
    + [q["text"] for q in _QUESTIONS["questions"] if q["source"] in _QUESTIONS_DEV]
)
VARIANTS = {
    "baseline": (
        "without the concern judgement, the answer check nor the intent reader (baseline)",
        {"HEAR_CONCERNS": "false", "CHECK_ANSWERS": "false", "HEAR_IDEAS": "false"},
    ),
    "concerns": (
        "with the concern judgement",
        {"HEAR_CONCERNS": "true", "CHECK_ANSWERS": "false", "HEAR_IDEAS": "false"},
    ),
    "answers": (
        "with the concern judgement and the answer relevance check",
        {"HEAR_CONCERNS": "true", "CHECK_ANSWERS": "true", "HEAR_IDEAS": "false"},
    ),
    "ideas": (
        "with the concern judgement, the answer check and the intent reader (as deployed)",
        {"HEAR_CONCERNS": "true", "CHECK_ANSWERS": "true", "HEAR_IDEAS": "true"},
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cut[49] * 1000, "p95": cut[94] * 1000, "p99": cut[98] * 1000}


async def parse_floor(url: str, token: str, count: int) -> list[float]:
    samples = []
    async with httpx.AsyncClient(base_url=url, params={"token": token}, timeout=30) as client:
        for i in range(count):
            text = MESSAGES[i % len(MESSAGES)]
            started = time.perf_counter()
            response = await client.post("/model/parse", json={"text": text})
            response.raise_for_status()
            samples.append(time.perf_counter() - started)
    return samples


async def conversations(
    web_url: str,
    *,
    users: int,
    turns: int,
    think: tuple[float, float],
    messages: list[str] = MESSAGES,
) -> tuple[list[float], float, int]:
    samples: list[float] = []
    failures = 0
    rng = random.Random(42)

    async def citizen(client: httpx.AsyncClient, index: int) -> None:
        nonlocal failures
        conversation: str | None = None  # issued by the server with the first answer
        # Every simulated citizen has an address of their own, behind the (trusted) local proxy.
        address = {
            "X-Forwarded-For": f"10.{index // 250}.{index % 250}.{secrets.randbelow(250) + 1}"
        }
        for turn in range(turns):
            if think[1] > 0:
                await asyncio.sleep(rng.uniform(*think))
            text = messages[(index * turns + turn) % len(messages)]
            sent = {"text": text} | ({"conversation": conversation} if conversation else {})
            started = time.perf_counter()
            response = await client.post("/api/messages", json=sent, headers=address)
            samples.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json()["answered"]:
                failures += 1
            else:
                conversation = response.json()["conversation"]

    limits = httpx.Limits(max_connections=users * 2)
    async with httpx.AsyncClient(base_url=web_url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(citizen(client, i) for i in range(users)))
        elapsed = time.perf_counter() - started
    return samples, len(samples) / elapsed, failures


def report(
    name: str, samples: list[float], rate: float | None, floor: dict[str, float], failures: int = 0
) -> None:
    p = percentiles(samples)
    ratios = "  ".join(f"{k}/floor {p[k] / floor[k]:.1f}x" for k in ("p50", "p95"))
    rate_text = f"{rate:7.1f} msg/s" if rate is not None else " " * 13
    print(
        f"{name:<44} n={len(samples):4d}  p50 {p['p50']:6.1f} ms  p95 {p['p95']:6.1f} ms  "
        f"p99 {p['p99']:6.1f} ms  {rate_text}  {ratios}  failed={failures}"
    )


@dataclass
class Stack:
    """A local Rasa server and the application (a separate process) pointed at it."""

    model: Path
    rasa_url: str
    rasa_token: str
    web_url: str
    database_url: str
    app_pid: int = 0
    rasa_pids: tuple[int, ...] = ()


@contextlib.asynccontextmanager
async def running_stack(
    extra_env: dict[str, str] | None = None,
    *,
    ready: Callable[[dict[str, Any]], bool] | None = None,
    rasa_servers: int = 1,
) -> AsyncIterator[Stack]:
    """Starts Rasa (training if needed; `rasa_servers` of them, listed in RASA_URL) and `bot
    run` on a fresh SQLite database; waits until `/api/health` satisfies `ready` (default: the
    dialogue is ready)."""
    settings = load_settings()
    runtime = rasa_runtime(settings)
    model = await runtime.ensure_model()
    web_port = free_port()
    action_token = secrets.token_urlsafe(16)
    servers = runtime.servers(
        rasa_servers,
        action_url=f"http://127.0.0.1:{web_port}/actions/webhook", action_token=action_token,
        startup_timeout=settings.rasa_startup_timeout,
    )  # fmt: skip
    server = servers[0]
    for each in servers:
        await each.start(model)
    is_ready = ready or (lambda health: bool(health.get("dialogue_ready")))
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "RASA_URL": ",".join(each.url for each in servers),
            "RASA_TOKEN": server.token,
            "ACTION_TOKEN": action_token,
            "WEB_PORT": str(web_port),
            "LOG_LEVEL": "WARNING",
            "TRUSTED_PROXIES": "127.0.0.1",
            # This measures throughput: no per-client limit (bench/flood.py measures those).
            "WEB_MESSAGES_PER_MINUTE": "100000",
            "WEB_CONVERSATIONS_PER_HOUR": "100000",
            "WEB_TURNS_IN_FLIGHT": "10000",
            **(extra_env or {}),
        }
        app = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        web_url = f"http://127.0.0.1:{web_port}"
        try:
            async with httpx.AsyncClient(base_url=web_url, timeout=5) as client:
                for _ in range(240):
                    try:
                        if is_ready((await client.get("/api/health")).json()):
                            break
                    except (httpx.HTTPError, KeyError):
                        pass
                    await asyncio.sleep(0.5)
            yield Stack(
                model=model,
                rasa_url=server.url,
                rasa_token=server.token,
                web_url=web_url,
                database_url=env["DATABASE_URL"],
                app_pid=app.pid,
                rasa_pids=tuple(each.pid or 0 for each in servers),
            )
        finally:
            if app.returncode is None:
                app.terminate()
            await app.wait()
            for each in servers:
                await each.stop()


async def measure(users: int, turns: int, *, variant: str) -> dict[str, dict[str, float]]:
    """One full measure of a variant (`VARIANTS`); prints it, returns the percentiles."""
    name, env = VARIANTS[variant]
    async with running_stack(env) as stack:
        web_url, model = stack.web_url, stack.model
        await conversations(web_url, users=4, turns=5, think=(0, 0))  # warm-up
        floor_samples = await parse_floor(stack.rasa_url, stack.rasa_token, 300)
        floor = percentiles(floor_samples)
        typing = await conversations(
            web_url, users=users, turns=max(turns // 2, 1), think=(3.0, 10.0)
        )
        hurried = await conversations(web_url, users=users, turns=turns, think=(0.5, 1.5))
        burst = await conversations(web_url, users=users, turns=turns, think=(0, 0))
        print(f"\nTurn latency {name}, {os.cpu_count()} cores, model {model.name}")
        report("floor: Rasa /model/parse, sequential", floor_samples, None, floor)
        report(
            f"{users} conversations, typing pace (3-10 s)",
            typing[0],
            typing[1],
            floor,
            typing[2],
        )
        report(
            f"{users} conversations, hurried pace (0.5-1.5 s)",
            hurried[0],
            hurried[1],
            floor,
            hurried[2],
        )
        report(f"{users} conversations, no pause (saturation)", burst[0], burst[1], floor, burst[2])
        return {
            "typing": percentiles(typing[0]),
            "hurried": percentiles(hurried[0]),
            "saturation": percentiles(burst[0]),
        }


async def main(users: int, turns: int) -> None:
    measured = {variant: await measure(users, turns, variant=variant) for variant in VARIANTS}
    for what, before_variant, after_variant in (
        ("the concern judgement", "baseline", "concerns"),
        ("the answer relevance check", "concerns", "answers"),
        ("the intent reader (ideas, offers to help)", "answers", "ideas"),
    ):
        print(f"\nCost of {what} (same messages, same run):")
        for pace in ("typing", "hurried", "saturation"):
            before = measured[before_variant][pace]["p95"]
            after = measured[after_variant][pace]["p95"]
            print(f"  {pace:<11} p95 {before:6.1f} ms -> {after:6.1f} ms  "
                  f"({after - before:+.1f} ms, {after / before:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.turns))
