"""`bot run` manages the local Rasa server: starts it, and stops it on SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.rasa


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_bot_run_starts_and_stops_its_rasa_server(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}", "WEB_PORT": "0"}
    # Started the way a service manager or a shell script starts it: SIGINT ignored by default.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "The assistant is ready." in line:
            break
    output = "".join(lines)
    assert "The assistant is ready." in output, output
    url = next(line.split()[2] for line in lines if line.startswith("Web chat:"))
    answer = httpx.post(
        f"{url}/api/messages",
        json={"text": "es-tu un robot?"},
        timeout=30,
    )
    assert "robot" in answer.json()["replies"][0]["text"]
    rasa = _children(process.pid)
    assert rasa, "no Rasa server process was started"

    process.send_signal(sig)
    assert process.wait(timeout=60) == 0
    rest = process.stdout.read()
    assert "Stopping..." in rest
    for pid in rasa:
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
        assert not _alive(pid), f"the Rasa server {pid} outlived the application"
