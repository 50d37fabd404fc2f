"""Staff accounts of the web desk: creating them, signing in and out, throttling guessers,
and `bot staff` as an administrator types it. Every database test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import sys
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bot.cli import main
from bot.staff_web import accounts
from bot.staff_web.accounts import (
    AccountError,
    DuplicateAccount,
    InvalidDisplayName,
    InvalidUsername,
    LoginThrottle,
    UnknownAccount,
    WeakPassword,
    authenticate,
    close_session,
    create_account,
    csrf_ok,
    list_accounts,
    open_session,
    purge_expired_sessions,
    session_for_token,
    set_active,
    set_password,
)
from bot.storage.models import AuditEntry, StaffAccount, StaffSession, utc_now

PASSWORD = "lac-vert au printemps"
HOUR = timedelta(hours=1)


def marie(session: Session) -> StaffAccount:
    return create_account(
        session=session, username="Marie", display_name=" Marie ", password=PASSWORD
    )


def audit(session: Session) -> list[tuple[str, str, dict[str, object]]]:
    return [
        (entry.actor, entry.action, entry.detail)
        for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
    ]


def assert_no_password_in_audit(session: Session, *passwords: str) -> None:
    written = json.dumps(audit(session), ensure_ascii=False)
    for password in passwords:
        assert password not in written


# --- accounts -------------------------------------------------------------------------------


def test_an_account_is_created_with_an_argon2_hash_and_audited(session: Session) -> None:
    account = marie(session)
    assert (account.username, account.display_name, account.active) == ("marie", "Marie", True)
    assert account.last_login_at is None
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert PasswordHasher().verify(account.password_hash, PASSWORD)
    assert audit(session) == [
        ("cli", "staff.add", {"username": "marie", "display_name": "Marie", "role": "agent"})
    ]
    assert [a.username for a in list_accounts(session=session)] == ["marie"]


@pytest.mark.parametrize(
    ("username", "display_name", "password", "error", "message"),
    [
        ("ma rie", "Marie", PASSWORD, InvalidUsername,
         "The username 'ma rie' is not allowed: use 3 to 64 characters among a-z, 0-9, '.', '_' and '-'."),
        ("mj", "Marie", PASSWORD, InvalidUsername, None),
        ("m" * 65, "Marie", PASSWORD, InvalidUsername, None),
        ("marie@example.org", "Marie", PASSWORD, InvalidUsername, None),
        ("marie", "   ", PASSWORD, InvalidDisplayName,
         "The display name must be 1 to 120 characters long."),
        ("marie", "M" * 121, PASSWORD, InvalidDisplayName, None),
        ("marie", "Ma\nrie", PASSWORD, InvalidDisplayName,
         "The display name must not contain control characters."),
        ("marie", "Marie", "lac-vert-11", WeakPassword,
         "The password must be at least 12 characters long."),
        ("marie", "Marie", "x7" * 513, WeakPassword,
         "The password must be at most 1024 characters long."),
        ("marie", "Marie", "MARIE-lac-vert-2026", WeakPassword,
         "The password must not contain the username or the display name."),
        ("marie", "Marie Lefebvre", "marie lefebvre", WeakPassword, None),
        ("marie", "Marie", "Password1234", WeakPassword,
         "This password is too easy to guess; choose a less predictable one."),
        ("marie", "Marie", "abababababab", WeakPassword, None),
        ("marie", "Marie", "abcdefghijklmn", WeakPassword, None),
        ("marie", "Marie", "AZERTYUIOPQSD", WeakPassword, None),
    ],
)  # fmt: skip
def test_each_refusal_is_one_sentence_and_creates_nothing(
    session: Session,
    username: str,
    display_name: str,
    password: str,
    error: type[AccountError],
    message: str | None,
) -> None:
    with pytest.raises(error) as raised:
        create_account(
            session=session, username=username, display_name=display_name, password=password
        )
    assert isinstance(raised.value, ValueError)
    if message is not None:
        assert str(raised.value) == message
    assert str(raised.value).endswith(".")
    assert list_accounts(session=session) == []
    assert audit(session) == []


def test_a_username_is_taken_once_whatever_its_case(session: Session) -> None:
    marie(session)
    with pytest.raises(DuplicateAccount, match=r"^A staff account named marie already exists\.$"):
        create_account(
            session=session, username="MARIE", display_name="Marie B.", password=PASSWORD
        )
    assert len(list_accounts(session=session)) == 1


def test_unknown_accounts_are_refused_by_name(session: Session) -> None:
    with pytest.raises(UnknownAccount, match=r"^There is no staff account named jean\.$"):
        set_active(session=session, username="jean", active=False)
    with pytest.raises(UnknownAccount):
        set_password(session=session, username="jean", password=PASSWORD)


# --- signing in -----------------------------------------------------------------------------


def test_the_right_password_signs_in_and_the_wrong_ones_do_not(session: Session) -> None:
    marie(session)
    assert authenticate(session=session, username="marie", password="wrong password!") is None
    assert authenticate(session=session, username="jean", password=PASSWORD) is None
    assert authenticate(session=session, username="marie", password=PASSWORD.upper()) is None
    before = utc_now()
    account = authenticate(
        session=session, username=" MARIE ", password=PASSWORD, client="10.0.0.7"
    )
    assert account is not None
    assert account.username == "marie"
    assert account.last_login_at is not None
    assert account.last_login_at >= before
    session.expire_all()
    stored = session.exec(select(StaffAccount)).one()
    assert stored.last_login_at == account.last_login_at

    entries = audit(session)[1:]
    assert [(actor, action) for actor, action, _ in entries] == [
        ("staff:web:marie", "desk.login_failed"),
        ("staff:web:jean", "desk.login_failed"),
        ("staff:web:marie", "desk.login_failed"),
        ("staff:web:marie", "desk.login"),
    ]
    assert [detail.get("reason") for _, _, detail in entries] == [
        "wrong_password", "unknown", "wrong_password", None,
    ]  # fmt: skip
    assert entries[-1][2] == {"username": "marie", "client": "10.0.0.7"}
    assert_no_password_in_audit(session, PASSWORD, "wrong password!", PASSWORD.upper())


def test_an_unknown_username_costs_a_password_check_too(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    marie(session)
    checked: list[str] = []
    real_verify = accounts._verify

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", spy)
    assert authenticate(session=session, username="nobody", password=PASSWORD) is None
    assert authenticate(session=session, username="not a valid name!", password=PASSWORD) is None
    assert len(checked) == 2
    assert all(h.startswith("$argon2id$") for h in checked)


def test_a_disabled_account_cannot_sign_in_until_enabled(session: Session) -> None:
    marie(session)
    set_active(session=session, username="marie", active=False)
    assert authenticate(session=session, username="marie", password=PASSWORD) is None
    assert audit(session)[-1][2]["reason"] == "inactive"
    set_active(session=session, username="marie", active=True)
    assert authenticate(session=session, username="marie", password=PASSWORD) is not None
    assert [action for _, action, _ in audit(session)] == [
        "staff.add", "staff.disable", "desk.login_failed", "staff.enable", "desk.login",
    ]  # fmt: skip


def test_an_outdated_hash_is_replaced_at_the_next_login(session: Session) -> None:
    account = marie(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    account.password_hash = weak.hash(PASSWORD)
    old_hash = account.password_hash
    session.add(account)
    session.commit()

    assert authenticate(session=session, username="marie", password="not the password") is None
    session.expire_all()
    assert session.exec(select(StaffAccount)).one().password_hash == old_hash

    assert authenticate(session=session, username="marie", password=PASSWORD) is not None
    session.expire_all()
    new_hash = session.exec(select(StaffAccount)).one().password_hash
    assert new_hash != old_hash
    assert not PasswordHasher().check_needs_rehash(new_hash)
    assert PasswordHasher().verify(new_hash, PASSWORD)


def test_a_new_password_replaces_the_old_one(session: Session) -> None:
    marie(session)
    set_password(session=session, username="Marie", password="sentier des hérons 7")
    assert authenticate(session=session, username="marie", password=PASSWORD) is None
    assert authenticate(session=session, username="marie", password="sentier des hérons 7")
    with pytest.raises(WeakPassword):
        set_password(session=session, username="marie", password="too short")
    assert ("cli", "staff.password") in [(a, b) for a, b, _ in audit(session)]
    assert_no_password_in_audit(session, PASSWORD, "sentier des hérons 7", "too short")


def test_odd_characters_typed_as_a_username_are_audited_safely(session: Session) -> None:
    assert (
        authenticate(session=session, username="ma\x00rie", password=PASSWORD, client="::1") is None
    )
    assert authenticate(session=session, username="x" * 500, password=PASSWORD) is None
    (first, second) = audit(session)
    assert first[1] == "desk.login_failed"
    assert first[2]["username"] == "ma\ufffdrie"
    assert len(str(second[2]["username"])) == 64


# --- sessions -------------------------------------------------------------------------------


def test_a_session_is_found_by_its_token_which_is_never_stored(
    session: Session, database: Engine
) -> None:
    account = marie(session)
    token, row = open_session(session=session, account=account, lifetime=8 * HOUR)
    assert len(token) >= 43
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(row.csrf_token) >= 43
    assert row.expires_at - row.created_at == 8 * HOUR
    with database.connect() as connection:
        stored = [tuple(r) for r in connection.execute(text("SELECT * FROM staff_session"))]
    assert len(stored) == 1
    assert token not in json.dumps(stored, default=str)

    found = session_for_token(session=session, token=token)
    assert found is not None
    assert (found[0].id, found[1].username) == (row.id, "marie")
    assert session_for_token(session=session, token=token + "x") is None
    assert session_for_token(session=session, token="") is None
    assert session_for_token(session=session, token=row.token_hash) is None

    second_token, _ = open_session(session=session, account=account, lifetime=HOUR)
    assert second_token != token


def test_an_expired_session_is_refused_and_deleted(session: Session) -> None:
    token, row = open_session(session=session, account=marie(session), lifetime=HOUR)
    assert session_for_token(
        session=session, token=token, now=row.expires_at - timedelta(seconds=1)
    )
    assert session_for_token(session=session, token=token, now=row.expires_at) is None
    assert session.exec(select(StaffSession)).all() == []


def test_logout_ends_the_session_and_is_audited(session: Session) -> None:
    token, _ = open_session(session=session, account=marie(session), lifetime=HOUR)
    assert close_session(session=session, token=token, client="10.0.0.7") is True
    assert session_for_token(session=session, token=token) is None
    assert close_session(session=session, token=token) is False
    assert audit(session)[-1] == (
        "staff:web:marie", "desk.logout", {"username": "marie", "client": "10.0.0.7"},
    )  # fmt: skip


def test_disabling_an_account_signs_it_out_everywhere(session: Session) -> None:
    account = marie(session)
    jean = create_account(
        session=session, username="jean", display_name="Jean", password="rue des tilleuls 12"
    )
    tokens = [open_session(session=session, account=account, lifetime=HOUR)[0] for _ in range(2)]
    jean_token, _ = open_session(session=session, account=jean, lifetime=HOUR)
    set_active(session=session, username="marie", active=False)
    assert [session_for_token(session=session, token=t) for t in tokens] == [None, None]
    assert audit(session)[-1][2] == {"username": "marie", "sessions_closed": 2}
    set_active(session=session, username="marie", active=True)
    assert [session_for_token(session=session, token=t) for t in tokens] == [None, None]
    assert session_for_token(session=session, token=jean_token) is not None


def test_a_new_password_signs_out_every_other_session(session: Session) -> None:
    account = marie(session)
    kept_token, kept = open_session(session=session, account=account, lifetime=HOUR)
    other_token, _ = open_session(session=session, account=account, lifetime=HOUR)
    set_password(
        session=session, username="marie", password="sentier des hérons 7", keep=kept,
        actor="staff:web:marie",
    )  # fmt: skip
    assert session_for_token(session=session, token=kept_token) is not None
    assert session_for_token(session=session, token=other_token) is None
    assert audit(session)[-1] == (
        "staff:web:marie", "staff.password", {"username": "marie", "sessions_closed": 1},
    )  # fmt: skip


def test_expired_sessions_are_purged(session: Session) -> None:
    account = marie(session)
    now = utc_now()
    open_session(session=session, account=account, lifetime=HOUR, now=now - 2 * HOUR)
    assert purge_expired_sessions(session=session, now=now) == 1
    assert purge_expired_sessions(session=session, now=now) == 0
    open_session(session=session, account=account, lifetime=HOUR, now=now - 2 * HOUR)
    live_token, _ = open_session(session=session, account=account, lifetime=HOUR, now=now)
    # A sign-in purges the sessions that ended too.
    assert len(session.exec(select(StaffSession)).all()) == 1
    assert session_for_token(session=session, token=live_token, now=now) is not None


def test_csrf_tokens_must_match_exactly() -> None:
    assert csrf_ok("abc-123", "abc-123")
    assert not csrf_ok("abc-123", "abc-124")
    assert not csrf_ok("abc-123", "")
    assert not csrf_ok("abc-123", None)
    assert not csrf_ok("", "")
    assert not csrf_ok("abc-123", "abc-123é")


# --- throttle -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


def test_five_failures_lock_a_username_at_an_address_for_fifteen_minutes() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(4):
        throttle.failed(username="marie", client="10.0.0.7")
        clock.advance(1)
    assert throttle.allowed(username="marie", client="10.0.0.7")
    throttle.failed(username="Marie", client="10.0.0.7")
    assert not throttle.allowed(username="marie", client="10.0.0.7")
    assert throttle.retry_after(username="marie", client="10.0.0.7") == 15 * 60
    # Neither the account elsewhere nor the address for a colleague is locked by five failures:
    # a guesser cannot lock an account, nor a typo lock a whole office behind one address.
    assert throttle.allowed(username="MARIE", client="10.9.9.9")
    assert throttle.allowed(username="jean", client="10.0.0.7")
    clock.advance(14)
    assert not throttle.allowed(username="marie", client="10.0.0.7")
    assert throttle.retry_after(username="marie", client="10.0.0.7") == 60
    clock.advance(1)
    assert throttle.allowed(username="marie", client="10.0.0.7")
    throttle.failed(username="marie", client="10.0.0.7")
    assert throttle.allowed(username="marie", client="10.0.0.7")  # counting starts afresh


def test_many_failures_lock_an_address_and_an_account_everywhere() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for number in range(30):  # one machine trying thirty accounts
        throttle.failed(username=f"guess{number}", client="10.0.0.66")
    assert not throttle.allowed(username="jean", client="10.0.0.66")
    for number in range(50):  # fifty machines trying one account
        throttle.failed(username="marie", client=f"10.1.0.{number}")
    assert not throttle.allowed(username="marie", client="10.2.0.1")


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(10):
        throttle.failed(username="marie", client="10.0.0.7")
        clock.advance(4)  # four failures at most in any 15 minutes
    assert throttle.allowed(username="marie", client="10.0.0.7")


def test_a_success_clears_the_counters() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(4):
        throttle.failed(username="marie", client="10.0.0.7")
    throttle.succeeded(username="marie", client="10.0.0.7")
    for _ in range(4):
        throttle.failed(username="marie", client="10.0.0.7")
    assert throttle.allowed(username="marie", client="10.0.0.7")
    throttle.failed(username="marie", client="10.0.0.7")
    assert not throttle.allowed(username="marie", client="10.0.0.7")


def test_the_throttle_does_not_grow_without_bound() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_entries=100)
    for number in range(1000):
        throttle.failed(username=f"guess{number}", client=None)
    assert len(throttle._entries) <= 100
    for _ in range(5):
        throttle.failed(username="marie", client=None)
    assert not throttle.allowed(username="marie", client=None)
    throttle.failed(username="x" * 100_000, client=None)
    assert all(len("".join(key)) < 200 for key in throttle._entries)  # names are cut


def test_attempts_are_counted_when_they_begin() -> None:
    """Forty concurrent wrong passwords: only the first five are checked (finding 5)."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    begun = [throttle.begin(username="marie", client="10.0.0.7") for _ in range(40)]
    assert begun.count(0.0) == 5
    for _ in range(5):
        throttle.failed(username="marie", client="10.0.0.7")
    assert throttle.retry_after(username="marie", client="10.0.0.7") == 15 * 60


# --- bot staff ------------------------------------------------------------------------------


@pytest.fixture
def cli_database(database: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("DATABASE_URL", database.url.render_as_string(hide_password=False))
    return database


def bot(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_staff_accounts_are_managed_from_the_command_line(
    cli_database: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = bot(
        capsys, monkeypatch, "staff", "add", "Marie", "--name", "Marie", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (status, out) == (0, "Staff account marie (Marie, agent) created.\n")
    status, out, err = bot(capsys, monkeypatch, "staff", "list")
    assert status == 0
    assert out.split() == ["marie", "Marie", "agent", "active", "last", "login", "never"]
    assert err.strip() == "1 staff accounts."

    with Session(cli_database) as session:
        assert authenticate(session=session, username="marie", password=PASSWORD) is not None
        token, _ = open_session(
            session=session, account=session.exec(select(StaffAccount)).one(), lifetime=HOUR
        )
    status, out, _ = bot(capsys, monkeypatch, "staff", "list")
    assert "never" not in out
    assert " UTC" in out

    assert bot(capsys, monkeypatch, "staff", "disable", "marie")[:2] == (
        0, "Staff account marie disabled.\n",
    )  # fmt: skip
    assert "disabled" in bot(capsys, monkeypatch, "staff", "list")[1]
    assert bot(capsys, monkeypatch, "staff", "enable", "MARIE")[:2] == (
        0, "Staff account marie enabled.\n",
    )  # fmt: skip
    status, out, _ = bot(
        capsys, monkeypatch, "staff", "password", "marie", "--password-stdin",
        stdin="sentier des hérons 7\r\n",
    )  # fmt: skip
    assert (status, out) == (0, "Password of marie changed; it was signed out everywhere.\n")

    with Session(cli_database) as session:
        assert session_for_token(session=session, token=token) is None  # disabled: signed out
        assert authenticate(session=session, username="marie", password=PASSWORD) is None
        assert authenticate(session=session, username="marie", password="sentier des hérons 7")
        assert [(actor, action) for actor, action, _ in audit(session)] == [
            ("cli", "staff.add"),
            ("staff:web:marie", "desk.login"),
            ("cli", "staff.disable"),
            ("cli", "staff.enable"),
            ("cli", "staff.password"),
            ("staff:web:marie", "desk.login_failed"),
            ("staff:web:marie", "desk.login"),
        ]
        assert_no_password_in_audit(session, PASSWORD, "sentier des hérons 7")


def test_command_line_refusals_are_one_sentence_and_exit_2(
    cli_database: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add = ("staff", "add", "marie", "--name", "Marie", "--password-stdin")
    assert bot(capsys, monkeypatch, *add, stdin="short\n") == (
        2, "", "The password must be at least 12 characters long.\n",
    )  # fmt: skip
    assert bot(capsys, monkeypatch, *add, stdin="") == (
        2, "", "No password was given on standard input.\n",
    )  # fmt: skip
    assert bot(capsys, monkeypatch, *add, stdin=PASSWORD + "\n")[0] == 0
    assert bot(capsys, monkeypatch, *add, stdin=PASSWORD + "\n") == (
        2, "", "A staff account named marie already exists.\n",
    )  # fmt: skip
    status, _, err = bot(capsys, monkeypatch, "staff", "add", "m!", "--name", "M")
    assert status == 2
    assert err.startswith("The username 'm!' is not allowed")
    assert bot(capsys, monkeypatch, "staff", "disable", "jean") == (
        2, "", "There is no staff account named jean.\n",
    )  # fmt: skip
    assert bot(capsys, monkeypatch, "staff", "password", "jean", "--password-stdin") == (
        2, "", "There is no staff account named jean.\n",
    )  # fmt: skip
    # Without a terminal, the password is not read from a pipe unless asked to.
    status, _, err = bot(capsys, monkeypatch, "staff", "password", "marie", stdin=PASSWORD)
    assert status == 2
    assert "--password-stdin" in err
    with Session(cli_database) as session:
        assert [a.username for a in list_accounts(session=session)] == ["marie"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_terminal_the_password_is_typed_twice(
    cli_database: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter([PASSWORD, PASSWORD + "!", PASSWORD, PASSWORD])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return next(typed)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert main(["staff", "add", "marie", "--name", "Marie"]) == 2
    assert capsys.readouterr().err == "The two passwords differ; nothing was changed.\n"
    assert main(["staff", "add", "marie", "--name", "Marie"]) == 0
    assert capsys.readouterr().out == "Staff account marie (Marie, agent) created.\n"
    assert prompts[:2] == ["Password for marie: ", "The same password again: "]
    with Session(cli_database) as session:
        assert authenticate(session=session, username="marie", password=PASSWORD) is not None


def test_roles_are_given_and_changed_from_the_command_line(
    cli_database: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = bot(
        capsys, monkeypatch, "staff", "add", "camille", "--name", "Camille", "--role", "manager",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (status, out) == (0, "Staff account camille (Camille, manager) created.\n")
    status, out, _ = bot(capsys, monkeypatch, "staff", "role", "camille", "agent")
    assert (status, out) == (0, "Staff account camille is now agent.\n")
    status, _, err = bot(capsys, monkeypatch, "staff", "role", "nobody", "agent")
    assert status == 2
    assert "nobody" in err
    with Session(cli_database) as session:
        changes = [a.detail for a in session.exec(select(AuditEntry)) if a.action == "staff.role"]
    assert changes == [{"username": "camille", "before": "manager", "after": "agent"}]
