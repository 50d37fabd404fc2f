"""Secrets and citizens' words never reach the logs (finding 7 of the hardening issue): Rasa's
`?token=` in an HTTP error's text, a database password in a wrong `DATABASE_URL`, and the values
a failed database statement was writing."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.cli import _WithoutSecrets
from bot.common.text import without_secrets
from bot.settings import SettingsError, load_settings
from bot.storage.database import create_database_engine, migrate
from bot.storage.models import UnansweredQuestion

MARKER = "Zq7-citizen-words-Zq7"


def test_url_passwords_and_token_parameters_are_masked() -> None:
    assert without_secrets("postgresql://voisinage:hunter2@db:5432/v") == (
        "postgresql://voisinage:***@db:5432/v"
    )
    assert without_secrets("GET http://127.0.0.1:5005/status?token=s3cr3t&x=1") == (
        "GET http://127.0.0.1:5005/status?token=***&x=1"
    )
    assert without_secrets("nothing to hide here") == "nothing to hide here"


def test_an_http_error_logged_does_not_show_rasas_token() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:5005/conversations/x/tracker?token=s3cr3t")
    error = httpx.HTTPStatusError(
        "Server error", request=request, response=httpx.Response(500, request=request)
    )
    record = logging.LogRecord("bot", logging.WARNING, __file__, 1, "failed (%r)", (error,), None)
    try:
        raise RuntimeError(f"while calling {request.url}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    line = _WithoutSecrets("%(message)s").format(record)
    assert "s3cr3t" not in line
    assert "token=***" in line


def test_a_wrong_database_url_is_named_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(database_url="mysql://voisinage:hunter2@db/v")
    assert "DATABASE_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_failed_statement_does_not_carry_the_values_it_was_writing(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    with Session(engine) as session:
        # No such conversation: the foreign key refuses the row, with its words as parameters.
        session.add(UnansweredQuestion(conversation_id=999_999, text=MARKER, reason="x"))
        with pytest.raises(IntegrityError) as failed:
            session.commit()
    assert MARKER not in str(failed.value)
