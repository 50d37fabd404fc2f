"""What an operator watches, in Prometheus's text format (`/metrics`, behind the monitoring
token): per process, with the official client (prometheus-client).

Counted as they happen: turns and their duration by channel, the dialogue engine's failures
and time-outs, restarts of the Rasa server the application manages, a platform asking to slow
down (HTTP 429). Read from the database at each scrape (`QueueCollector`): the depth and age
of the intake and the outbox, and the handoffs waiting for a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.storage.models import (
    Handoff,
    HandoffStatus,
    InboundStatus,
    InboundUpdate,
    OutboxMessage,
    OutboxStatus,
    utc_now,
)

TURNS = Counter(
    "voisinage_turns",
    "Citizens' messages handled (answered: false when the dialogue engine could not answer).",
    ["channel", "answered"],
)
TURN_SECONDS = Histogram(
    "voisinage_turn_seconds",
    "How long a citizen's message took, from its arrival in the core to its stored replies.",
    ["channel"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 4.0, 8.0),
)
DIALOGUE_FAILURES = Counter(
    "voisinage_dialogue_failures",
    "Turns the dialogue engine did not answer: unavailable, or too slow (time-out).",
    ["kind"],
)
RASA_RESTARTS = Counter(
    "voisinage_rasa_restarts", "Times the managed Rasa server died and was started again."
)
RATE_LIMITED = Counter(
    "voisinage_platform_rate_limited",
    "Times a chat platform asked to wait before sending more (HTTP 429).",
    ["platform"],
)

# name, help, the rows that wait, the column of their age
_QUEUES: tuple[tuple[str, str, Any, Any], ...] = (
    (
        "voisinage_intake",
        "Platform updates stored and not handled yet",
        col(InboundUpdate.status) == InboundStatus.PENDING,
        InboundUpdate.received_at,
    ),
    (
        "voisinage_outbox",
        "Messages queued and not sent yet",
        col(OutboxMessage.status) == OutboxStatus.PENDING,
        OutboxMessage.created_at,
    ),
    (
        "voisinage_handoffs_waiting",
        "Conversations waiting for a person of the team",
        col(Handoff.status) == HandoffStatus.WAITING,
        Handoff.requested_at,
    ),
)


class QueueCollector(Collector):
    """How much waits, and for how long, read from the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utc_now()
        with Session(self._engine) as session:
            for name, help_text, waiting, since in _QUEUES:
                count, oldest = session.exec(
                    select(func.count(), func.min(since)).where(waiting)
                ).one()
                yield GaugeMetricFamily(name, f"{help_text} (count).", value=count)
                yield GaugeMetricFamily(
                    f"{name}_oldest_seconds",
                    f"{help_text}: how long the oldest has waited (0: none).",
                    value=_age(now, oldest),
                )


class RolesCollector(Collector):
    """The roles this process holds (what one process alone may do among replicas)."""

    def __init__(self, roles: Iterable[str]) -> None:
        self._roles = sorted(roles)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        held = GaugeMetricFamily(
            "voisinage_role_held",
            "Roles this process holds among replicas (1 each; a role held by none is missing).",
            labels=["role"],
        )
        for role in self._roles:
            held.add_metric([role], 1)
        yield held


def exposition(engine: Engine, roles: Iterable[str] = ()) -> bytes:
    """This process's metrics, the roles it holds and the queues of `engine`, in Prometheus's
    text format."""
    queues = CollectorRegistry(auto_describe=False)
    queues.register(QueueCollector(engine))
    queues.register(RolesCollector(roles))
    return generate_latest(REGISTRY) + generate_latest(queues)


def _age(now: datetime, oldest: datetime | str | None) -> float:
    if oldest is None:
        return 0.0
    if isinstance(oldest, str):  # SQLite returns min() of a timestamp as text
        oldest = datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())
