"""What staff read cannot be turned against them (finding 11 of the hardening issue): a concern's
words cannot become a spreadsheet formula after leading spaces or a line break, nor rewrite a
staff member's terminal with escape sequences."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from bot.cli import main
from bot.common.calendar import BusinessCalendar
from bot.common.tabular import neutralise
from bot.common.text import for_terminal
from bot.register.service import Register
from bot.storage import repository
from bot.storage.database import open_database

ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mrouge\rfake line\u202eevil"


@pytest.mark.parametrize("text", ["=cmd", " =cmd", "\n=cmd", "  \n+SUM(A1)", "\u00a0@x", "\t=x"])
def test_a_formula_is_neutralised_even_after_leading_blanks(text: str) -> None:
    assert neutralise(text).startswith("'")


def test_plain_text_is_left_alone() -> None:
    assert neutralise("la poussière = problème") == "la poussière = problème"


def test_control_characters_are_shown_not_obeyed() -> None:
    shown = for_terminal(ESCAPES + "\nnext line\tcolumn")
    assert "\x1b" not in shown
    assert "\r" not in shown
    assert "\u202e" not in shown
    assert "\x07" not in shown
    assert shown.endswith("\nnext line\tcolumn")


def test_bot_concerns_show_prints_no_escape_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = open_database(url)
    with Session(engine, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="web", external_id="browser-escape", citizen_id="web-1",
            place="private",
        )  # fmt: skip
        recorded = Register(engine=engine, calendar=BusinessCalendar()).record(
            session=session, conversation=conversation, message_id=None, language="fr",
            text="Le bruit " + ESCAPES, category="noise",
        )  # fmt: skip
    engine.dispose()
    assert main(["concerns", "show", recorded.concern.reference]) == 0
    assert main(["concerns", "list"]) == 0
    out = capsys.readouterr().out
    assert "Le bruit" in out
    assert "\x1b" not in out
    assert "\r" not in out
    assert "\ufffd" in out
