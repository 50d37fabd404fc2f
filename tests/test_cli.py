"""The `bot` command, run as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import serve_http
from tests.support.fake_rasa import FakeRasa


@pytest.fixture
async def rasa_url() -> AsyncIterator[str]:
    fake = FakeRasa(token="cli-token")
    server, task, port = await serve_http(fake.app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def run_bot(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_parse_prints_one_json_object_per_line(rasa_url: str, tmp_path: Path) -> None:
    code, out, err = await run_bot(
        "parse",
        stdin="Est-ce que ça va faire du bruit la nuit?\nmon puits est à sec depuis le dynamitage\nmerci\n\n",
        env={
            "RASA_URL": rasa_url,
            "RASA_TOKEN": "cli-token",
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        },
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4
    assert lines[0]["intent"] == "faq/noise"
    assert lines[0]["language"] == "fr"
    assert 0 < lines[0]["confidence"] <= 1
    assert lines[0]["concern"] is False
    assert lines[0]["concern_kind"] is None
    # What a live turn would send: the reviewed answer on noise contains what was asked.
    assert (lines[0]["answer"], lines[0]["topic"]) == ("reviewed", "noise")
    assert lines[1]["intent"] == "report_concern"
    assert (lines[1]["answer"], lines[1]["topic"]) == ("none", None)  # not a question
    assert lines[1]["category"] == "water"
    assert (lines[1]["concern"], lines[1]["concern_kind"]) == (True, "grievance")
    assert (lines[2]["text"], lines[2]["language"]) == ("merci", "fr")
    assert lines[2]["concern"] is False
    assert lines[3] == {
        "text": "",
        "language": "fr",
        "intent": None,
        "dialogue_intent": None,
        "confidence": 0.0,
        "concern": False,
        "concern_kind": None,
        "concern_score": 0.0,
        "answer": "none",
        "topic": None,
    }


async def test_parse_takes_arguments(rasa_url: str) -> None:
    code, out, _ = await run_bot(
        "parse",
        "how loud is the noise at night?",
        env={"RASA_URL": rasa_url, "RASA_TOKEN": "cli-token"},
    )
    assert code == 0
    record = json.loads(out)
    assert (record["language"], record["intent"]) == ("en", "faq/noise")


async def test_parse_with_rasa_down_says_so_in_one_line() -> None:
    code, out, err = await run_bot("parse", "allo", env={"RASA_URL": "http://127.0.0.1:9"})
    assert code == 1
    assert out == ""
    assert "Rasa unreachable at http://127.0.0.1:9" in err


async def test_kb_check_and_db_upgrade(tmp_path: Path) -> None:
    code, out, _ = await run_bot("kb", "check")
    assert (code, out.strip()) == (0, "The knowledge base is complete.")
    code, out, _ = await run_bot(
        "db", "upgrade", env={"DATABASE_URL": f"sqlite:///{tmp_path}/new.db"}
    )
    assert code == 0
    assert (tmp_path / "new.db").exists()


async def test_a_missing_rasa_runtime_is_named(tmp_path: Path) -> None:
    no_model = {"MODELS_DIR": str(tmp_path / "models"), "VOISINAGE_CACHE": str(tmp_path / "cache")}
    code, _, err = await run_bot(
        "train", env={"RASA_RUNTIME": str(tmp_path / "nowhere"), **no_model}
    )
    assert code == 1
    assert "The Rasa runtime is missing" in err
    assert "make setup" in err


async def test_with_its_own_rasa_server_it_refuses_to_run_without_an_action_token(
    tmp_path: Path,
) -> None:
    code, _, err = await run_bot(
        "run",
        env={"RASA_URL": "http://127.0.0.1:9", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert code == 2
    assert err.strip().startswith("ACTION_TOKEN is required with RASA_URL")


async def test_a_taken_port_is_named(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await run_bot(
            "run",
            env={"WEB_PORT": str(port), "RASA_URL": "http://127.0.0.1:9", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                 "LOG_LEVEL": "WARNING", "ACTION_TOKEN": "a-long-enough-action-token"},
        )  # fmt: skip
    assert code == 1
    # The sentence ends the output (a warning logged by a model loading meanwhile may precede it).
    assert (
        err.strip().splitlines()[-1]
        == f"Cannot serve the web chat on 127.0.0.1:{port} (WEB_HOST, WEB_PORT): Address already in use."
    )
