"""Two-step sign-in for the desk (the hardening issue's second factor): with an authenticator
app's secret on an account, its password alone no longer signs in; `bot staff totp` shows a QR
code and turns it on only once the app's code matches."""

from __future__ import annotations

import io
from pathlib import Path

import pyotp
import pytest
from sqlmodel import Session, select

from bot.cli import main
from bot.staff_web.accounts import authenticate, create_account, set_totp
from bot.storage.database import open_database
from bot.storage.models import StaffAccount

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PASSWORD = "lac-vert au printemps"


def test_with_a_second_factor_the_password_alone_does_not_sign_in(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'totp.db'}")
    with Session(engine, expire_on_commit=False) as session:
        create_account(session=session, username="marie", display_name="Marie", password=PASSWORD)
        set_totp(session=session, username="marie", secret=SECRET)
        assert authenticate(session=session, username="marie", password=PASSWORD) is None
        assert (
            authenticate(session=session, username="marie", password=PASSWORD, code="000000")
            is None
        )
        code = pyotp.TOTP(SECRET).now()
        found = authenticate(session=session, username="marie", password=PASSWORD, code=code)
        assert found is not None
        assert authenticate(session=session, username="marie", password="wrong", code=code) is None
    engine.dispose()


def test_bot_staff_totp_turns_it_on_only_with_a_matching_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'totp.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = open_database(url)
    with Session(engine) as session:
        create_account(session=session, username="marie", display_name="Marie", password=PASSWORD)
    monkeypatch.setattr("bot.desk.cli.new_totp_secret", lambda: SECRET)
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    assert main(["staff", "totp", "marie"]) == 2
    assert "does not match" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(pyotp.TOTP(SECRET).now() + "\n"))
    assert main(["staff", "totp", "marie"]) == 0
    out = capsys.readouterr().out
    assert SECRET in out  # the key, for an app that cannot scan
    assert "is on" in out
    with Session(engine) as session:
        account = session.exec(select(StaffAccount)).one()
        assert account.totp_secret == SECRET
    assert main(["staff", "totp", "marie", "--off"]) == 0
    with Session(engine) as session:
        account = session.exec(select(StaffAccount)).one()
        assert account.totp_secret is None
    engine.dispose()
