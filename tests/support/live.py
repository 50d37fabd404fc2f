"""The whole assistant running for real (local Rasa server included) in a background thread."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot.app import Assistant, running_assistant, wait_for_dialogue
from bot.dialogue.rasa_runtime import LocalRasaServer
from bot.settings import PROJECT_ROOT, Settings, load_settings

T = TypeVar("T")


def live_settings(folder: Path, database_url: str | None = None) -> Settings:
    """The settings of a whole assistant for a test: its database (SQLite in `folder` unless
    `database_url`), its pseudonym key in `folder`, any free port, and the test's citizens
    coming through this machine as if through a reverse proxy (each with an address of its
    own in X-Forwarded-For, for the per-client limits)."""
    return load_settings(
        database_url=database_url or f"sqlite:///{folder / 'live.db'}",
        pseudonym_key_file=folder / "secrets" / "pseudonym.key",
        web_port=0,
        trusted_proxies=("127.0.0.1",),
    )


class LiveAssistant:
    """Starts `running_assistant` + the Rasa server in a thread with its own event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.assistant: Assistant | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="live-assistant", daemon=True)

    def start(self, timeout: float = 900) -> Assistant:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the assistant did not start in time")
        if self._error is not None:
            raise RuntimeError("the assistant failed to start") from self._error
        assert self.assistant is not None
        return self.assistant

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    def call(self, coroutine: Awaitable[T], timeout: float = 60) -> T:
        """Runs `coroutine` in the assistant's event loop (from the test's thread)."""
        if self._loop is None:
            raise RuntimeError("the assistant is not running")

        async def wrapped() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout)

    @property
    def rasa_url(self) -> str:
        assert self.assistant is not None
        assert self.assistant.rasa_server is not None
        return self.assistant.rasa_server.url

    @property
    def rasa_token(self) -> str:
        assert self.assistant is not None
        assert self.assistant.rasa_server is not None
        return self.assistant.rasa_server.token

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running_assistant(self.settings) as assistant:
                await wait_for_dialogue(assistant)
                self.assistant = assistant
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()


def offer_of_a_person_pending(citizen: Citizen) -> None:
    """An English conversation in which the assistant, not understanding twice, asks whether
    to pass the message to a person (a question pending in Rasa's tracker)."""
    first = citizen.says("Will the trucks drive past the school during the works?")
    assert first["language"] == "en"
    offer = citizen.reads("blorp flim flam")
    assert "Would you like me to pass it to a person" in offer


def kill(server: LocalRasaServer) -> int:
    """SIGKILLs a local Rasa server and waits until its supervisor saw it die; returns its pid."""
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.pid == pid and server.running and time.monotonic() < deadline:
        time.sleep(0.1)
    return pid


def database_path(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'test.db'}"


def bot_parse(live: LiveAssistant, lines: Sequence[str]) -> list[dict[str, Any]]:
    """What `bot parse` prints for each line, against the live assistant's Rasa server (one
    message per line: the lines must hold no line break)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "parse"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "RASA_URL": live.rasa_url, "RASA_TOKEN": live.rasa_token},
        timeout=900,
        check=True,
    )
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(printed) == len(lines)
    return printed


class Citizen:
    """One browser talking to the web chat."""

    def __init__(self, web: httpx.Client) -> None:
        self.web = web
        self.conversation: str | None = None  # issued by the server with the first answer
        # Each citizen has an address of their own, behind the (trusted) local proxy.
        self.address = (
            f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
        )

    def says(self, text: str) -> dict[str, object]:
        sent: dict[str, str] = {"text": text}
        if self.conversation is not None:
            sent["conversation"] = self.conversation
        answer = self.web.post(
            "/api/messages", json=sent, headers={"X-Forwarded-For": self.address}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        self.conversation = str(body["conversation"])
        return body

    def reads(self, text: str) -> str:
        body = self.says(text)
        replies = body["replies"]
        assert isinstance(replies, list)
        assert replies, f"no reply to {text!r}"
        return "\n".join(str(r["text"]) for r in replies)


class TrainingBeside:
    """The Rasa model trained in a background process at the lowest CPU priority while the
    tests that need no Rasa server run (they use one core and leave the other mostly idle): the
    first live test then finds the model trained, or waits for the training under way (the
    runtime trains a model once for every process that needs it). With the model already
    trained or cached, the process finds it and ends at once."""

    def __init__(self) -> None:
        self.wanted = False  # some tests of the run need a Rasa server
        self.process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        """Starts the training (once)."""
        if self.process is not None:
            return
        # With the settings the live tests have: none from the environment or a `.env` file
        # (it runs in an empty folder), as in the tests' isolated environment.
        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        log = PROJECT_ROOT / "var" / "tests-training.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        code = (
            "import asyncio, logging\n"
            "from bot.app import rasa_runtime\n"
            "from bot.settings import load_settings\n"
            "logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')\n"
            "print(asyncio.run(rasa_runtime(load_settings()).ensure_model()))\n"
        )
        self._folder = tempfile.TemporaryDirectory(prefix="voisinage-training-")
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                ["nice", "-n", "19", sys.executable, "-c", code],
                cwd=self._folder.name, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        """Stops a training still under way (the tests were interrupted or deselected)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._folder is not None:
            self._folder.cleanup()
