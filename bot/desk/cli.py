"""`bot staff ...`: the logins of community managers to the web desk, from a terminal.

Passwords are typed twice at a hidden prompt, or read as one line from standard input with
`--password-stdin` (for scripts); they never appear on the command line. Every change is in
the audit trail with the actor "cli".
"""

from __future__ import annotations

import argparse
import getpass
import sys

import qrcode  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlmodel import Session

from bot.staff_web.accounts import (
    AGENT,
    ROLES,
    AccountError,
    create_account,
    get_account,
    list_accounts,
    new_totp_secret,
    normalise_username,
    set_active,
    set_password,
    set_role,
    set_totp,
    totp_ok,
    totp_uri,
)


class PasswordInputError(Exception):
    """No usable password could be read; the message is one sentence."""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `staff` to the `bot` command."""
    staff = commands.add_parser("staff", help="community managers' logins to the web desk")
    verbs = staff.add_subparsers(dest="verb", required=True)

    add = verbs.add_parser("add", help="add a login (the password is asked for)")
    add.add_argument("username", help="3-64 characters among a-z, 0-9, '.', '_' and '-'")
    add.add_argument("--name", required=True, help="the first name citizens may see")
    add.add_argument(
        "--role",
        choices=ROLES,
        default=AGENT,
        help="agent: answers citizens, works concerns, pseudonymised exports (the default); "
        "manager: also identified exports, publishing reports, staff accounts, audit trail",
    )
    _add_password_stdin(add)
    verbs.add_parser("list", help="every login: username, name, role, active, last login")
    role = verbs.add_parser("role", help="give a login another role (audited)")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    for verb, text_help in (
        ("disable", "refuse its logins and sign it out everywhere"),
        ("enable", "allow its logins again"),
    ):
        verbs.add_parser(verb, help=text_help).add_argument("username")
    password = verbs.add_parser("password", help="set a new password (signs it out everywhere)")
    password.add_argument("username")
    _add_password_stdin(password)
    totp = verbs.add_parser(
        "totp",
        help="turn on two-step sign-in: shows a QR code for an authenticator app, then asks "
        "for its code (signs the account out everywhere)",
    )
    totp.add_argument("username")
    totp.add_argument("--off", action="store_true", help="turn two-step sign-in off")


def run(args: argparse.Namespace, engine: Engine) -> int:
    """Carries out a `staff` command; returns the exit status (2 when refused)."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            return _run(args, session)
    except (AccountError, PasswordInputError) as exc:
        print(exc, file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, session: Session) -> int:
    verb = args.verb
    if verb == "list":
        accounts = list_accounts(session=session)
        for account in accounts:
            last = (
                f"{account.last_login_at:%Y-%m-%d %H:%M} UTC" if account.last_login_at else "never"
            )
            state = "active" if account.active else "disabled"
            print(
                f"{account.username:<20} {account.display_name:<20} {account.role:<8} "
                f"{state:<8}  last login {last}"
            )
        print(f"{len(accounts)} staff accounts.", file=sys.stderr)
        return 0
    if verb == "add":
        # Refuse a wrong username before asking for a password.
        username = normalise_username(args.username)
        account = create_account(
            session=session,
            username=username,
            display_name=args.name,
            password=_read_password(username, from_stdin=args.password_stdin),
            role=args.role,
        )
        print(f"Staff account {account.username} ({account.display_name}, {account.role}) created.")
    elif verb == "role":
        account = set_role(session=session, username=args.username, role=args.role)
        print(f"Staff account {account.username} is now {account.role}.")
    elif verb in ("disable", "enable"):
        account = set_active(session=session, username=args.username, active=verb == "enable")
        print(f"Staff account {account.username} {verb}d.")
    elif verb == "password":
        # Refuse an unknown account before asking for a password.
        username = get_account(session=session, username=args.username).username
        account = set_password(
            session=session,
            username=username,
            password=_read_password(username, from_stdin=args.password_stdin),
        )
        print(f"Password of {account.username} changed; it was signed out everywhere.")
    elif verb == "totp":
        return _totp(session, args.username, off=args.off)
    else:  # pragma: no cover - argparse refuses other verbs
        raise AssertionError(verb)
    return 0


def _totp(session: Session, username: str, *, off: bool) -> int:
    account = get_account(session=session, username=username)
    if off:
        set_totp(session=session, username=account.username, secret=None)
        print(f"Two-step sign-in of {account.username} is off; it was signed out everywhere.")
        return 0
    secret = new_totp_secret()
    uri = totp_uri(secret, account.username, "Voisinage desk")
    print(f"Scan this QR code with an authenticator app, or enter the key {secret}:")
    code = qrcode.QRCode(border=1)
    code.add_data(uri)
    code.print_ascii(out=sys.stdout, invert=True)
    print("Code shown by the app: ", end="", flush=True)
    typed = sys.stdin.readline().strip()
    if not totp_ok(secret, typed):
        print("That code does not match: two-step sign-in stays off.", file=sys.stderr)
        return 2
    set_totp(session=session, username=account.username, secret=secret)
    print(f"Two-step sign-in of {account.username} is on; it was signed out everywhere.")
    return 0


def _add_password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password as one line from standard input instead of asking",
    )


def _read_password(username: str, *, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PasswordInputError("No password was given on standard input.")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise PasswordInputError(
            "Type the password in a terminal, or pass it on standard input with --password-stdin."
        )
    try:
        first = getpass.getpass(f"Password for {username}: ")
        second = getpass.getpass("The same password again: ")
    except EOFError as exc:
        raise PasswordInputError("No password was typed.") from exc
    if first != second:
        raise PasswordInputError("The two passwords differ; nothing was changed.")
    return first
