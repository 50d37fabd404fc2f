"""The set-up scripts: finding Python 3.10 for the Rasa runtime, or saying what to install."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "find-python310.sh"


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )


def _fake_uv(tmp_path: Path) -> Path:
    """A uv that has no Python 3.10 and cannot download one (no network)."""
    uv = tmp_path / "uv"
    uv.write_text("#!/bin/sh\necho 'error: no network' >&2\nexit 2\n")
    uv.chmod(0o755)
    return uv


def test_nothing_found_says_what_to_install(tmp_path: Path) -> None:
    if any(Path(d, "python3.10").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("this machine has a system Python 3.10")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv"),
           "UV": str(_fake_uv(tmp_path))}  # fmt: skip
    result = run(env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "install Python 3.10" in lines[0]


def test_a_wrong_rasa_python_is_named(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "RASA_PYTHON": "/bin/sh",
        "UV": str(_fake_uv(tmp_path)),
    }
    result = run(env)
    assert result.returncode == 1
    assert "RASA_PYTHON=/bin/sh is not a Python 3.10 interpreter" in result.stderr


def test_pyenv_versions_are_searched(tmp_path: Path) -> None:
    real = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
    fake_root = tmp_path / "pyenv"
    bin_dir = fake_root / "versions" / "3.10.99" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3.10").symlink_to(real)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYENV_ROOT": str(fake_root),
        "UV": str(_fake_uv(tmp_path)),
    }
    result = run(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bin_dir / "python3.10")
    assert os.access(result.stdout.strip(), os.X_OK)
