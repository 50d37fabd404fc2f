"""The local Rasa runtime, managed for the user when no external RASA_URL is set.

Rasa 3.6 runs in its own Python 3.10 virtual environment (`.venv-rasa`, made by
`make`). We train a model only when the training data changed (models are named
by a fingerprint of the data and also kept in a cache folder shared by clones on
the same machine), start `rasa run` on loopback, wait until it has loaded the
model, and stop it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.dialogue.tracker_store import RASA_POOL
from bot.knowledge import build_domain_file
from bot.metrics import RASA_RESTARTS

logger = logging.getLogger(__name__)

TRAINING_INPUTS = ("config.yml", "domain", "nlu", "stories")
KEEP_MODELS = 3


class RasaRuntimeError(Exception):
    """The local Rasa runtime cannot be trained or started; the message says why."""


def rasa_environment() -> dict[str, str]:
    """The environment for Rasa processes: no telemetry, quiet TensorFlow, bounded cache."""
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_MAX_CACHE_SIZE": env.get("RASA_MAX_CACHE_SIZE", "300"),
            "PYTHONWARNINGS": "ignore",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        }
    )
    for name, value in RASA_POOL.items():  # a small pool for a tracker store on PostgreSQL
        env.setdefault(name, value)
    return env


def training_fingerprint(project: Path) -> str:
    """A hash of everything a model is trained from."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        root = project / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.suffix not in {".yml", ".yaml"}:
                continue
            digest.update(str(path.relative_to(project)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


_COMPONENT = re.compile(rb"Starting to train component '([^']+)'")
_EPOCH = re.compile(rb"Epochs:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+) \[([0-9:]+)<([0-9:?]+)")
PROGRESS_EVERY = 10.0


def training_progress(log_tail: bytes) -> str | None:
    """What Rasa's training log says it is doing: the component, and for a neural one the epoch
    and the time left by its progress bar ("DIETClassifier: epoch 48 of 80, about 40 s left")."""
    components = _COMPONENT.findall(log_tail)
    if not components:
        return None
    component: str = bytes(components[-1]).decode(errors="replace")
    last_start = log_tail.rfind(b"Starting to train component")
    epochs = _EPOCH.findall(log_tail[last_start:])
    if not epochs:
        return component
    done, total, _, left = epochs[-1]
    seconds = _seconds(left.decode())
    remaining = f", about {seconds} s left" if seconds is not None else ""
    return f"{component}: epoch {int(done)} of {int(total)}{remaining}"


def _seconds(clock: str) -> int | None:
    try:
        parts = [int(p) for p in clock.split(":")]
    except ValueError:
        return None
    total = 0
    for part in parts:
        total = total * 60 + part
    return total


async def _report_training_progress(log: Path, started: float) -> None:
    """Says every few seconds what the training is doing (read from its log), so that a first
    `make run` or `make train` does not look stuck for minutes."""
    said = None
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        try:
            with log.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 200_000))
                tail = handle.read()
        except OSError:
            continue
        now = training_progress(tail) or "preparing the training data"
        if now != said:
            logger.info(
                "training the Rasa model: %s (%.0f s so far)", now, time.monotonic() - started
            )
            said = now


def _copy_whole(source: Path, target: Path) -> None:
    """Copies `source` to `target` under another name first: another process never sees a
    half-copied model."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(source, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def _exclusive(lock: Path, name: str) -> AsyncIterator[None]:
    """Holds an exclusive lock on the file `lock` (released when the process dies, however it
    dies), saying so when another process holds it."""
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("another process is training the model %s: waiting for it", name)
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _die_with_parent() -> None:
    """Runs in the Rasa child before exec: on Linux it gets SIGTERM if we die without stopping
    it (a SIGKILL, a crash), so no orphaned server keeps 1.2 GB and a port."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def new_token() -> str:
    """A secret for a local Rasa server's HTTP API (hex: an argument starting with "-" would
    break its command line)."""
    return secrets.token_hex(16)


class RasaRuntime:
    """Trains models and runs a local Rasa server from the Rasa virtual environment."""

    def __init__(
        self,
        *,
        runtime: Path,
        project: Path,
        models_dir: Path,
        knowledge_base: Path,
        cache_dir: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.project = project
        self.models_dir = models_dir
        self.knowledge_base = knowledge_base
        self.cache_dir = cache_dir
        self.log_dir = log_dir or project / "var"

    @property
    def rasa(self) -> Path:
        """The `rasa` command of the runtime."""
        return self.runtime / "bin" / "rasa"

    def check(self) -> None:
        """Raises RasaRuntimeError when the runtime is not installed."""
        if not self.rasa.exists():
            raise RasaRuntimeError(
                f"The Rasa runtime is missing at {self.runtime}: run `make setup` "
                "(or set RASA_URL to an external Rasa server)."
            )

    def model_path(self) -> Path:
        """Where the model for the current training data is (or will be)."""
        build_domain_file(self.knowledge_base, self.project / "domain" / "knowledge.yml")
        return self.models_dir / f"{training_fingerprint(self.project)}.tar.gz"

    async def ensure_model(self) -> Path:
        """The model for the current training data, trained first if there is none. Two
        processes needing the same model (a `make train` and a first `make run`, the tests and
        the training started beside them) train it once: the second waits for the first."""
        model = self.model_path()
        if model.exists():
            return model
        cached = self.cache_dir / "models" / model.name if self.cache_dir else None
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if cached is not None and self._reuse(cached, model):
            return model
        self.check()
        folder = cached.parent if cached is not None else self.models_dir
        folder.mkdir(parents=True, exist_ok=True)
        async with _exclusive(folder / f".{model.name}.lock", model.name):
            if model.exists() or (cached is not None and self._reuse(cached, model)):
                return model  # trained by the process this one waited for
            await self._train(model)
            if cached is not None:
                _copy_whole(model, cached)
        self._prune()
        return model

    def _reuse(self, cached: Path, model: Path) -> bool:
        if not cached.exists():
            return False
        _copy_whole(cached, model)
        logger.info("reused the cached model %s", model.name)
        return True

    async def _train(self, model: Path) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / "rasa-train.log"
        logger.info("training the Rasa model %s (a few minutes); log: %s", model.name, log)
        started = time.monotonic()
        # Written aside, then moved: another process never sees a half-written model.
        staging = self.models_dir / f".training-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                str(self.rasa), "train",
                "--domain", "domain", "--config", "config.yml", "--data", "nlu", "stories",
                "--out", str(staging), "--fixed-model-name", model.name.removesuffix(".tar.gz"),
                cwd=self.project, env=rasa_environment(), stdout=out, stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
            watching = asyncio.create_task(_report_training_progress(log, started))
            try:
                code = await process.wait()
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
        trained = staging / model.name
        if code != 0 or not trained.exists():
            shutil.rmtree(staging, ignore_errors=True)
            raise RasaRuntimeError(f"Training the Rasa model failed (see {log}):\n{_tail(log)}")
        trained.replace(model)
        shutil.rmtree(staging, ignore_errors=True)
        logger.info("trained %s in %.0f s", model.name, time.monotonic() - started)

    def _prune(self) -> None:
        models = sorted(self.models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        for old in models[:-KEEP_MODELS]:
            old.unlink(missing_ok=True)

    def server(
        self,
        *,
        action_url: str | None,
        action_token: str | None,
        port: int = 0,
        startup_timeout: float = 240.0,
        tracker_store: dict[str, Any] | None = None,
        lock_store: dict[str, Any] | None = None,
        number: int = 1,
        token: str | None = None,
    ) -> LocalRasaServer:
        """A Rasa server (not started yet) calling our action endpoint at `action_url`, keeping
        its conversations in `tracker_store` and locking them in `lock_store` (the endpoints'
        sections; None: in its memory). `number` tells several servers' logs apart."""
        self.check()
        return LocalRasaServer(
            runtime=self,
            action_url=action_url,
            action_token=action_token,
            port=port or _free_port(),
            startup_timeout=startup_timeout,
            tracker_store=tracker_store,
            lock_store=lock_store,
            number=number,
            token=token,
        )

    def servers(
        self,
        count: int,
        *,
        action_url: str | None,
        action_token: str | None,
        port: int = 0,
        startup_timeout: float = 240.0,
        tracker_store: dict[str, Any] | None = None,
        lock_store: dict[str, Any] | None = None,
    ) -> list[LocalRasaServer]:
        """`count` Rasa servers sharing one tracker store and one API token (on `port` and the
        next ones, or free ports)."""
        token = new_token()
        return [
            self.server(
                action_url=action_url,
                action_token=action_token,
                port=port + index if port else 0,
                startup_timeout=startup_timeout,
                tracker_store=tracker_store,
                lock_store=lock_store,
                number=index + 1,
                token=token,
            )
            for index in range(count)
        ]


class LocalRasaServer:
    """A `rasa run` process on 127.0.0.1: started, supervised (started again when it dies),
    stopped."""

    def __init__(
        self,
        *,
        runtime: RasaRuntime,
        action_url: str | None,
        action_token: str | None,
        port: int,
        startup_timeout: float,
        tracker_store: dict[str, Any] | None = None,
        lock_store: dict[str, Any] | None = None,
        number: int = 1,
        token: str | None = None,
    ) -> None:
        self._runtime = runtime
        self.action_url = action_url
        self._action_token = action_token
        self.port = port
        self.token = token or new_token()
        self._startup_timeout = startup_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._model: Path | None = None
        self._tracker_store = tracker_store
        self._lock_store = lock_store
        self.number = number
        suffix = "" if number == 1 else f"-{number}"
        self.log = runtime.log_dir / f"rasa-server{suffix}.log"
        self._endpoints = runtime.log_dir / f"rasa-endpoints{suffix}.yml"
        self.restarts = 0  # how many times it was started again after dying
        self.last_exit: int | None = None  # the exit code of the last unexpected death

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def _write_endpoints(self) -> Path:
        path = self._endpoints
        endpoints: dict[str, object] = {}
        if self.action_url:
            action: dict[str, object] = {"url": self.action_url}
            if self._action_token:
                action["token"] = self._action_token
            endpoints["action_endpoint"] = action
        if self._tracker_store:
            endpoints["tracker_store"] = self._tracker_store
        if self._lock_store:
            endpoints["lock_store"] = self._lock_store
        path.write_text(yaml.safe_dump(endpoints), encoding="utf-8")
        path.chmod(0o600)
        return path

    @property
    def pid(self) -> int | None:
        """The server process's id (None when it is not started)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server's process is alive (it may still be loading its model)."""
        return self._process is not None and self._process.returncode is None

    def status(self) -> dict[str, Any]:
        """For the health details: whether it runs, how often it was started again."""
        return {
            "managed": True,
            "url": self.url,
            "running": self.running,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "conversations_kept": "in memory" if not self._tracker_store else "tracker store",
            "locks": "in memory" if not self._lock_store else "redis",
        }

    async def start(self, model: Path) -> None:
        """Starts the server on `model` and waits until the model is loaded.

        Raises:
            RasaRuntimeError: when it exits early or is not ready within the start-up timeout.
        """
        self._model = model
        await self._launch(model)

    async def supervise(self, *, longest_wait: float = 60.0) -> None:
        """Runs until cancelled: when the server dies without having been stopped, starts it
        again on the same port and model, waiting 1, 2, 4... seconds (at most `longest_wait`)
        between failed attempts. Meanwhile turns fail fast and citizens are told honestly that
        the assistant cannot answer (their messages are kept for a person); conversations
        continue where they were once it is back (the tracker store keeps them)."""
        while True:
            process = self._process
            if process is None or self._model is None:
                await asyncio.sleep(0.5)  # not started yet, or stopped
                continue
            code = await process.wait()
            if self._process is not process:
                continue  # stopped (or replaced) on purpose
            self.last_exit = code
            logger.error(
                "the Rasa server died (exit code %s, see %s): starting it again; until it is "
                "back, its conversations go to the other servers, or without any, citizens "
                "are told the assistant cannot answer and their messages are kept for a person",
                code,
                self.log,
            )
            wait = 1.0
            while True:
                try:
                    await self._launch(self._model)
                    break
                except RasaRuntimeError as exc:
                    logger.error("the Rasa server could not start again (%s); next try in "
                                 "%.0f s", exc, wait)  # fmt: skip
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, longest_wait)
                    if self._process is None:
                        break  # stopped meanwhile
            if self._process is not None:
                self.restarts += 1
                RASA_RESTARTS.inc()
                logger.warning("the Rasa server is back (restart %d)", self.restarts)

    async def _launch(self, model: Path) -> None:
        self._runtime.log_dir.mkdir(parents=True, exist_ok=True)
        endpoints = self._write_endpoints()
        logger.info("starting Rasa on %s (log: %s)", self.url, self.log)
        with self.log.open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(
                str(self._runtime.rasa), "run", "--enable-api",
                "--interface", "127.0.0.1", "--port", str(self.port),
                "--model", str(model), "--endpoints", str(endpoints),
                "--credentials", "credentials.yml", f"--auth-token={self.token}",
                cwd=self._runtime.project, env=rasa_environment(),
                stdout=out, stderr=asyncio.subprocess.STDOUT, preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + self._startup_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise RasaRuntimeError(
                        f"The Rasa server exited with code {self._process.returncode} "
                        f"(see {self.log}):\n{_tail(self.log)}"
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = await client.get(f"{self.url}/status", params={"token": self.token})
                    if response.status_code == httpx.codes.OK and response.json().get("model_file"):
                        logger.info("Rasa is ready on %s", self.url)
                        return
                await asyncio.sleep(0.5)
        await _end(self._process)
        raise RasaRuntimeError(
            f"The Rasa server was not ready within {self._startup_timeout:.0f} s (see {self.log})."
        )

    async def stop(self) -> None:
        """Stops the server: SIGTERM, then SIGKILL after 15 s."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        await _end(process)
        logger.info("Rasa stopped")


async def _end(process: asyncio.subprocess.Process) -> None:
    """Ends a process: SIGTERM, then SIGKILL after 15 s."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=15)
    except TimeoutError:
        process.kill()
        await process.wait()
