"""Two local Rasa servers (RASA_WORKERS=2) sharing the tracker store beside our database and
Redis as their lock store: conversations are spread over them, and when the server of a
conversation dies (SIGKILL) the other one takes its next message at once, where it was (the
question the assistant had asked still pending, in its language), while the dead one is
started again."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from bot.storage.models import Conversation, Handoff
from tests.support.live import (
    Citizen,
    LiveAssistant,
    kill,
    live_settings,
    offer_of_a_person_pending,
)

pytestmark = pytest.mark.rasa


def redis_commands(url: str) -> dict[str, int]:
    """How many times the Redis server at `url` ran each command (INFO commandstats)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 6379), 5) as s:
        s.sendall(b"INFO commandstats\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 2:
            data += s.recv(65536)
        header, _, rest = data.partition(b"\r\n")
        size = int(header[1:])
        while len(rest) < size:
            rest += s.recv(65536)
    counts = {}
    for line in rest[:size].decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, stats = line.partition(":")
            counts[name.removeprefix("cmdstat_")] = int(stats.split(",")[0].split("=")[1])
    return counts


def test_two_rasa_servers_share_the_conversations_and_stand_in_for_each_other(
    tmp_path: Path,
) -> None:
    redis = os.environ.get("TEST_REDIS_URL")
    if not redis:
        pytest.skip("TEST_REDIS_URL is not set (scripts/run-tests.sh starts a Redis server)")
    settings = live_settings(tmp_path).model_copy(update={"rasa_workers": 2, "redis_url": redis})
    before = redis_commands(redis)
    live = LiveAssistant(settings)
    assistant = live.start()
    try:
        servers = assistant.rasa_servers
        assert len(servers) == 2
        assert all(server.running for server in servers)
        with httpx.Client(base_url=assistant.web_url, timeout=30) as web:
            assert web.get("/api/health").json()["status"] == "ok"
            citizen = Citizen(web)
            offer_of_a_person_pending(citizen)
            # Rasa locked the conversation's turns in Redis.
            used = redis_commands(redis)
            assert used.get("set", 0) > before.get("set", 0)
            assert used.get("del", 0) > before.get("del", 0)

            with Session(assistant.database) as session:
                sender = session.exec(select(Conversation.public_id)).one()
            url = assistant.dialogue.server_for(sender)
            own = next(server for server in servers if server.url == url)
            pid = kill(own)

            # The other server answers at once, where the conversation was: "yes" to the offer
            # brings a person in, in English.
            accepted = citizen.says("yes")
            assert accepted["answered"] is True
            assert accepted["language"] == "en"
            health = web.get("/api/health").json()
            assert (health["status"], health["dialogue_ready"]) == ("degraded", True)
            assert web.get("/api/health/ready").status_code == 200

            deadline = time.monotonic() + 240
            while web.get("/api/health").json()["status"] != "ok" or own.restarts < 1:
                assert time.monotonic() < deadline, f"Rasa was not started again (see {own.log})"
                time.sleep(0.5)
            assert own.pid != pid
        with Session(assistant.database) as session:
            handoffs = session.exec(select(Handoff)).all()
        assert [(h.reason, h.status) for h in handoffs] == [("asked_human", "waiting")]
    finally:
        live.stop()
