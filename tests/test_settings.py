"""Settings: defaults work with no configuration; a wrong value stops with one sentence naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.manages_rasa
    assert settings.languages == ("fr", "en")
    assert settings.action_token  # generated for the local Rasa server


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("WEB_PORT", "70000", "WEB_PORT"),
        ("WEB_PORT", "eighty", "WEB_PORT"),
        ("DATABASE_URL", "mysql://localhost/db", "DATABASE_URL"),
        ("RASA_URL", "localhost:5005", "RASA_URL"),
        ("RASA_URL", "http://rasa-1:5005,rasa-2:5005", "RASA_URL"),
        ("RASA_WORKERS", "0", "RASA_WORKERS"),
        ("RASA_WORKERS", "9", "RASA_WORKERS"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL"),
        ("DATABASE_THREADS", "-1", "DATABASE_THREADS"),
        ("REDIS_URL", "redis://localhost:port/0", "REDIS_URL"),
        ("REDIS_URL", "redis://localhost:6379/zero", "REDIS_URL"),
        ("LANGUAGES", "fr,de", "LANGUAGES"),
        ("DEFAULT_LANGUAGE", "es", "DEFAULT_LANGUAGE"),
        ("RASA_TOKEN", "changeme", "RASA_TOKEN"),
        ("RASA_TURN_TIMEOUT", "-1", "RASA_TURN_TIMEOUT"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
    ],
)
def test_a_wrong_value_is_named_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert message.endswith(".")


def test_several_rasa_servers_are_listed_in_rasa_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", " http://rasa-1:5005/, https://rasa-2 ,")
    assert load_settings().rasa_urls == ["http://rasa-1:5005", "https://rasa-2"]
    monkeypatch.setenv("RASA_WORKERS", "2")  # workers are local servers: not with RASA_URL
    with pytest.raises(SettingsError, match="RASA_WORKERS"):
        load_settings()
    monkeypatch.delenv("RASA_URL")
    assert load_settings().rasa_workers == 2


def test_default_language_must_be_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGES", "en")
    with pytest.raises(SettingsError, match="DEFAULT_LANGUAGE"):
        load_settings()


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEB_PORT=8765\nRASA_URL=http://rasa.internal:5005/\n")
    settings = load_settings()
    assert settings.web_port == 8765
    assert settings.rasa_url == "http://rasa.internal:5005"
    assert not settings.manages_rasa


def test_the_command_stops_with_the_sentence(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin", "WEB_PORT": "99999", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Setting WEB_PORT is invalid")
    assert len(result.stderr.strip().splitlines()) == 1


def test_env_example_documents_every_setting() -> None:
    from bot.settings import PROJECT_ROOT, Settings

    documented = (PROJECT_ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in documented, f"{name.upper()} is missing from .env.example"


def test_desk_settings_are_checked_with_one_sentence_each() -> None:
    with pytest.raises(SettingsError, match="DESK_HOURS is invalid: cannot read 'sometimes'"):
        load_settings(desk_hours="sometimes")
    with pytest.raises(SettingsError, match="HANDOFF_CATEGORIES is invalid: 'weather' is not"):
        load_settings(handoff_categories="health_safety,weather")
    with pytest.raises(SettingsError, match="DESK_TELEGRAM_CHAT needs TELEGRAM_TOKEN"):
        load_settings(desk_telegram_chat="-100123")
    assert load_settings(handoff_categories="water, health_safety").handoff_categories == (
        "water",
        "health_safety",
    )


@pytest.mark.parametrize(
    ("host", "secure", "expected"),
    [
        ("127.0.0.1", "", False),  # a browser on the same machine, plain HTTP
        ("0.0.0.0", "", True),  # reached from elsewhere: behind HTTPS
        ("0.0.0.0", "false", False),  # a trial on a trusted network, said explicitly
        ("127.0.0.1", "true", True),  # a reverse proxy on the same machine
    ],
)
def test_desk_cookies_are_secure_off_loopback_unless_said_otherwise(
    monkeypatch: pytest.MonkeyPatch, host: str, secure: str, expected: bool
) -> None:
    monkeypatch.setenv("WEB_HOST", host)
    monkeypatch.setenv("DESK_SECURE_COOKIES", secure)
    assert load_settings().desk_cookies_secure is expected
