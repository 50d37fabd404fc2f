"""What a second replica buys on this machine: the web chat's turn latency and throughput on
PostgreSQL with one application process and its Rasa server (its turns' database work on the
event loop, then in database threads as by default), then with one application process
and two Rasa servers (RASA_URL lists both; each conversation goes to its own), then with two of
each sharing the database (each citizen always on the same application process, as a proxy
with sticky sessions does), measured
in the same run with the same messages as `make bench` (the full turn: concern judgement and
answer check on).

Uses the PostgreSQL of BENCH_POSTGRES_URL, or starts a throw-away one (scripts/test-postgres.sh).
Run it with `make bench-replicas`; it is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.settings import PROJECT_ROOT
from bot.storage.database import sqlalchemy_url

sys.path.insert(0, str(PROJECT_ROOT))
from bench.turn_latency import Stack, conversations, parse_floor, percentiles, running_stack


def fresh_database(server: str, name: str) -> str:
    admin = create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for database in (name, f"{name}_rasa"):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


@contextlib.asynccontextmanager
async def replicas(
    count: int, database: str, rasa_servers: int = 1, env: dict[str, str] | None = None
) -> AsyncIterator[list[Stack]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                running_stack({"DATABASE_URL": database, **(env or {})}, rasa_servers=rasa_servers)
            )
            for _ in range(count)
        ]


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user + system, all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Measured = tuple[list[float], float, int, float, float]


async def load(stacks: list[Stack], users: int, turns: int, think: tuple[float, float]) -> Measured:
    """`users` citizens spread over the replicas, each always on the same one; with the CPU
    time the application processes and the Rasa servers used meanwhile."""
    share = users // len(stacks)
    apps = [s.app_pid for s in stacks]
    rasas = [pid for s in stacks for pid in s.rasa_pids]
    app_cpu, rasa_cpu = sum(map(cpu_seconds, apps)), sum(map(cpu_seconds, rasas))
    started = time.perf_counter()
    results = await asyncio.gather(
        *(conversations(s.web_url, users=share, turns=turns, think=think) for s in stacks)
    )
    elapsed = time.perf_counter() - started
    app_cpu = sum(map(cpu_seconds, apps)) - app_cpu
    rasa_cpu = sum(map(cpu_seconds, rasas)) - rasa_cpu
    samples = [sample for result in results for sample in result[0]]
    return samples, len(samples) / elapsed, sum(result[2] for result in results), app_cpu, rasa_cpu


def line(name: str, measured: Measured) -> dict[str, float]:
    samples, rate, failed, app_cpu, rasa_cpu = measured
    p = percentiles(samples)
    turns = max(len(samples), 1)
    print(
        f"{name:<48} n={len(samples):4d}  p50 {p['p50']:7.1f} ms  p95 {p['p95']:7.1f} ms  "
        f"{rate:6.1f} turns/s  failed={failed}  CPU a turn: application "
        f"{1000 * app_cpu / turns:5.1f} ms, Rasa {1000 * rasa_cpu / turns:5.1f} ms"
    )
    return {**p, "rate": rate}


CONFIGURATIONS = {  # name: (application processes, Rasa servers each, settings)
    "one, database work on the event loop": (1, 1, {"DATABASE_THREADS": "0"}),
    "one": (1, 1, {}),
    "one app, two Rasa": (1, 2, {}),
    "two": (2, 1, {}),
}


async def main(server: str, users: int, turns: int) -> None:
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for index, (name, (count, rasas, env)) in enumerate(CONFIGURATIONS.items()):
        database = fresh_database(server, f"voisinage_bench_replicas_{index}")
        async with replicas(count, database, rasas, env) as stacks:
            await load(stacks, 4, 5, (0, 0))  # warm-up
            print(f"\n{name}: {count} application process(es) with {rasas} Rasa server(s) "
                  f"each, PostgreSQL, {os.cpu_count()} cores")  # fmt: skip
            figures[name] = {
                "hurried": line(
                    f"{users} citizens, hurried pace (0.5-1.5 s)",
                    await load(stacks, users, turns, (0.5, 1.5)),
                ),
                "saturation": line(
                    f"{users} citizens, no pause (saturation)",
                    await load(stacks, users, turns, (0, 0)),
                ),
            }
            if name == "one":
                # Where a turn's CPU goes in Rasa: understanding the message alone (its NLU
                # pipeline) against the whole turn (the tracker store, the policies, the
                # action call-backs besides).
                stack = stacks[0]
                before = sum(map(cpu_seconds, stack.rasa_pids))
                calls = len(await parse_floor(stack.rasa_url, stack.rasa_token, 200))
                parse_cpu = sum(map(cpu_seconds, stack.rasa_pids)) - before
                print(f"{'Rasa /model/parse alone, sequential':<48} n={calls:4d}  CPU a call: "
                      f"Rasa {1000 * parse_cpu / max(calls, 1):5.1f} ms")  # fmt: skip
    for base, name in (
        ("one, database work on the event loop", "one"),
        ("one", "one app, two Rasa"),
        ("one", "two"),
    ):
        one, other = figures[base], figures[name]
        print(f"\n{name} against {base} (same run):")
        for pace in ("hurried", "saturation"):
            print(
                f"  {pace:<10}  p95 {one[pace]['p95']:7.1f} -> {other[pace]['p95']:7.1f} ms "
                f"({other[pace]['p95'] / one[pace]['p95']:.2f}x)   "
                f"{one[pace]['rate']:.1f} -> {other[pace]['rate']:.1f} turns/s "
                f"({other[pace]['rate'] / one[pace]['rate']:.2f}x)"
            )


def run(users: int, turns: int) -> None:
    server = os.environ.get("BENCH_POSTGRES_URL")
    script = ["bash", "scripts/test-postgres.sh"]
    if server:
        asyncio.run(main(server, users, turns))
        return
    # A server already running for this checkout (the tests') is used and left running.
    ours = subprocess.run([*script, "running"], cwd=PROJECT_ROOT, check=False).returncode != 0
    server = subprocess.run(
        [*script, "start"], cwd=PROJECT_ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        asyncio.run(main(server, users, turns))
    finally:
        if ours:
            subprocess.run([*script, "stop"], cwd=PROJECT_ROOT, check=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=15)
    options = parser.parse_args()
    run(options.users, options.turns)
