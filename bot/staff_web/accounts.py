"""Staff accounts of the web desk: who may sign in, their passwords and their sessions.

Passwords are stored as Argon2 hashes (argon2-cffi's defaults), and a hash made with older
parameters is replaced at the next successful login. A browser session is a random token in
a cookie; the table keeps only its SHA-256, so a copy of the database signs nobody in. Every
change to an account and every login attempt (never the password) goes to the audit trail.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.storage.models import AuditEntry, StaffAccount, StaffSession, utc_now

USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,64}")
DISPLAY_NAME_MAX = 120
PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # Argon2 takes any length; this only keeps absurd inputs out
CLI_ACTOR = "cli"
AGENT = "agent"
MANAGER = "manager"
ROLES = (AGENT, MANAGER)
"""Desk roles, least to most allowed: an agent answers citizens, works concerns and exports
them pseudonymised; a manager also exports with identifiers, publishes reports, manages staff
accounts and reads the audit trail."""


def may(role: str, needed: str) -> bool:
    """Whether an account with `role` may do what needs `needed`."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


# Passwords of 12 characters or more that still come first in every guessing list.
_COMMON_PASSWORDS = frozenset(
    {
        "password1234", "password12345", "password123!", "passw0rd1234", "p@ssw0rd1234",
        "motdepasse12", "motdepasse123", "motdepasse1234", "123456789012", "1234567890123",
        "12345678901234", "iloveyou1234", "welcome12345", "bienvenue123", "bienvenue1234",
        "letmein12345", "changeme1234", "administrator", "admin1234567", "voisinage123",
        "voisinage1234", "qwerty123456", "azerty123456", "123456qwerty", "123456azerty",
        "football1234", "soleil123456", "trustno11234", "abc123abc123", "secret123456",
    }
)  # fmt: skip
# Runs of a keyboard or of the alphabet: any slice of these is refused.
_SEQUENCES = (
    "01234567890123456789",
    "98765432109876543210",
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "qwertyuiopasdfghjklzxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
)

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A staff account operation was refused; the message is one sentence for a person."""


class InvalidUsername(AccountError):
    """The username is not 3-64 characters among a-z, 0-9, '.', '_' and '-'."""


class InvalidDisplayName(AccountError):
    """The display name is empty, too long or holds control characters."""


class WeakPassword(AccountError):
    """The password is too short, too long, too common or too close to the account's names."""


class DuplicateAccount(AccountError):
    """An account with this username already exists."""


class InvalidRole(AccountError):
    """Not one of the desk's roles."""


class UnknownAccount(AccountError):
    """No account has this username."""


# --- accounts -------------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    """The username as stored: lower case, without surrounding spaces.

    Raises:
        InvalidUsername: when it is not 3-64 characters among a-z, 0-9, '.', '_' and '-'.
    """
    name = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidUsername(
            f"The username {_shown(username)!r} is not allowed: use 3 to 64 characters "
            "among a-z, 0-9, '.', '_' and '-'."
        )
    return name


def create_account(
    *,
    session: Session,
    username: str,
    display_name: str,
    password: str,
    role: str = AGENT,
    actor: str = CLI_ACTOR,
) -> StaffAccount:
    """Adds a community manager who may sign in to the web desk.

    Args:
        session: the database session; the account and its audit entry are committed.
        username: the login, normalised to lower case.
        display_name: the first name citizens may see (1-120 characters).
        password: at least 12 characters, not a common password nor the username.
        role: "agent" or "manager" (see `ROLES`).
        actor: who adds it, for the audit trail ("cli" or "staff:web:<username>").

    Raises:
        AccountError: one of its subclasses, with one sentence saying what to change.
    """
    _check_role(role)
    name = normalise_username(username)
    shown_name = _check_display_name(display_name)
    _check_password(password, username=name, display_name=shown_name)
    if _find(session, name) is not None:
        raise DuplicateAccount(f"A staff account named {name} already exists.")
    account = StaffAccount(
        username=name, display_name=shown_name, password_hash=_hasher.hash(password), role=role
    )
    session.add(account)
    _audit(
        session, actor=actor, action="staff.add", username=name, display_name=shown_name,
        role=role,
    )  # fmt: skip
    try:
        session.commit()
    except IntegrityError as exc:
        # Added by someone else between our check and our write.
        session.rollback()
        raise DuplicateAccount(f"A staff account named {name} already exists.") from exc
    session.refresh(account)
    return account


def get_account(*, session: Session, username: str) -> StaffAccount:
    """The account of `username` (any case).

    Raises:
        UnknownAccount: when there is none.
    """
    account = _find(session, username.strip().lower())
    if account is None:
        raise UnknownAccount(f"There is no staff account named {_shown(username)}.")
    return account


def list_accounts(*, session: Session) -> list[StaffAccount]:
    """Every staff account, active or not, by username."""
    return list(session.exec(select(StaffAccount).order_by(col(StaffAccount.username))))


def set_password(
    *,
    session: Session,
    username: str,
    password: str,
    actor: str = CLI_ACTOR,
    keep: StaffSession | None = None,
) -> StaffAccount:
    """Gives the account a new password and signs it out everywhere (except `keep`, the
    session of a person changing their own password).

    Raises:
        UnknownAccount: when there is no such account.
        WeakPassword: when the new password is refused.
    """
    account = get_account(session=session, username=username)
    _check_password(password, username=account.username, display_name=account.display_name)
    account.password_hash = _hasher.hash(password)
    session.add(account)
    closed = _delete_sessions(session, account, keep=keep)
    _audit(
        session, actor=actor, action="staff.password", username=account.username,
        sessions_closed=closed,
    )  # fmt: skip
    session.commit()
    session.refresh(account)
    return account


def set_active(
    *, session: Session, username: str, active: bool, actor: str = CLI_ACTOR
) -> StaffAccount:
    """Enables or disables an account; disabling also signs it out everywhere.

    Raises:
        UnknownAccount: when there is no such account.
    """
    account = get_account(session=session, username=username)
    account.active = active
    session.add(account)
    closed = 0 if active else _delete_sessions(session, account, keep=None)
    _audit(
        session,
        actor=actor,
        action="staff.enable" if active else "staff.disable",
        username=account.username,
        sessions_closed=closed,
    )
    session.commit()
    session.refresh(account)
    return account


def set_role(*, session: Session, username: str, role: str, actor: str = CLI_ACTOR) -> StaffAccount:
    """Gives an account another role (it applies from its next request); audited with the
    role it had.

    Raises:
        InvalidRole: `role` is not one of `ROLES`.
        UnknownAccount: when there is no such account.
    """
    _check_role(role)
    account = get_account(session=session, username=username)
    before = account.role
    if before == role:
        return account
    account.role = role
    session.add(account)
    _audit(session, actor=actor, action="staff.role", username=account.username,
           before=before, after=role)  # fmt: skip
    session.commit()
    session.refresh(account)
    return account


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRole(f"The role must be one of {', '.join(ROLES)}, not {_shown(role)}.")


def authenticate(
    *,
    session: Session,
    username: str,
    password: str,
    client: str | None = None,
    now: datetime | None = None,
    code: str | None = None,
) -> StaffAccount | None:
    """The active account whose username and password (and, when it has a second factor, the
    authenticator app's current `code`) these are, or None.

    The password is checked against a hash even when the username is unknown, so the time
    taken does not tell whether an account exists. A success updates `last_login_at` and
    replaces a hash made with outdated parameters. Both outcomes are audited with the
    username and the client address, never the password.

    Args:
        session: the database session; the login and its audit entry are committed.
        username: as typed (any case).
        password: as typed.
        client: the address the attempt came from, for the audit trail.
        now: the current time (tests).
    """
    name = _shown(username.strip().lower())
    account = _find(session, name) if USERNAME_PATTERN.fullmatch(name) else None
    if account is None:
        _verify(_dummy_hash(), password)
        reason = "unknown"
    elif not _verify(account.password_hash, password):
        reason = "wrong_password"
    elif not account.active:
        reason = "inactive"
    elif account.totp_secret is not None and not totp_ok(account.totp_secret, code, now):
        reason = "wrong_code"
    else:
        if _hasher.check_needs_rehash(account.password_hash):
            account.password_hash = _hasher.hash(password)
        account.last_login_at = now or utc_now()
        session.add(account)
        _audit(
            session, actor=f"staff:web:{name}", action="desk.login", username=name,
            client=_client(client),
        )  # fmt: skip
        session.commit()
        session.refresh(account)
        return account
    _audit(
        session, actor=f"staff:web:{name}", action="desk.login_failed", username=name,
        client=_client(client), reason=reason,
    )  # fmt: skip
    session.commit()
    return None


# --- sessions -------------------------------------------------------------------------------


def totp_ok(secret: str, code: str | None, now: datetime | None = None) -> bool:
    """Whether `code` is the authenticator app's code for `secret` now (or 30 s either side,
    for a clock a little off)."""
    digits = "".join((code or "").split())
    if not digits.isdigit() or len(digits) != 6:
        return False
    return bool(pyotp.TOTP(secret).verify(digits, for_time=now or utc_now(), valid_window=1))


def new_totp_secret() -> str:
    """A fresh second-factor secret (160 bits, base32)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app scans (as a QR code) to add the account."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def set_totp(
    *, session: Session, username: str, secret: str | None, actor: str = CLI_ACTOR
) -> StaffAccount:
    """Turns the second factor on (`secret`) or off (None), signing the account out everywhere.

    Raises:
        UnknownAccount: when no account has this username.
    """
    account = get_account(session=session, username=username)
    account.totp_secret = secret
    session.add(account)
    _delete_sessions(session, account, keep=None)
    _audit(
        session, actor=actor, action="staff.totp_on" if secret else "staff.totp_off",
        username=account.username,
    )  # fmt: skip
    session.commit()
    session.refresh(account)
    return account


def open_session(
    *,
    session: Session,
    account: StaffAccount,
    lifetime: timedelta,
    now: datetime | None = None,
) -> tuple[str, StaffSession]:
    """Signs `account` in for `lifetime`.

    Returns:
        The token for the cookie (only its SHA-256 is stored) and the stored session, whose
        `csrf_token` forms must send back.
    """
    if account.id is None:
        raise ValueError("the account has not been stored yet")
    started = now or utc_now()
    purge_expired_sessions(session=session, now=started)  # ended sessions do not pile up
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=_token_hash(token),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=started,
        expires_at=started + lifetime,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return token, row


# A session's last use is written at most this often (not at every page of the desk).
LAST_SEEN_EVERY = timedelta(minutes=1)


def session_for_token(
    *, session: Session, token: str, now: datetime | None = None, idle: timedelta | None = None
) -> tuple[StaffSession, StaffAccount] | None:
    """The session a cookie's token stands for and its account; None when the token is
    unknown, the session expired or went unused for longer than `idle` (it is then deleted),
    or the account is disabled."""
    if not token or len(token) > 256:
        return None
    row = session.exec(
        select(StaffSession).where(StaffSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    moment = now or utc_now()
    last = row.last_seen_at or row.created_at
    if row.expires_at <= moment or (idle is not None and moment - last > idle):
        session.delete(row)
        session.commit()
        return None
    if moment - last >= LAST_SEEN_EVERY:
        row.last_seen_at = moment
        session.add(row)
        session.commit()
    account = session.get(StaffAccount, row.account_id)
    if account is None or not account.active:
        return None
    return row, account


def close_session(*, session: Session, token: str, client: str | None = None) -> bool:
    """Signs out the session of this token (logout); False when there was none."""
    found = session_for_token(session=session, token=token)
    if found is None:
        return False
    row, account = found
    session.delete(row)
    _audit(
        session, actor=f"staff:web:{account.username}", action="desk.logout",
        username=account.username, client=_client(client),
    )  # fmt: skip
    session.commit()
    return True


def purge_expired_sessions(*, session: Session, now: datetime | None = None) -> int:
    """Deletes the sessions that have expired; returns how many."""
    result = session.execute(
        delete(StaffSession).where(col(StaffSession.expires_at) <= (now or utc_now()))
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def csrf_ok(expected: str, given: str | None) -> bool:
    """Whether a form's CSRF token is the session's, compared in constant time."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


# --- throttle -------------------------------------------------------------------------------


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    pending: int = 0  # attempts being checked right now (Argon2 takes a while)


# Usernames are keys in memory: longer ones are cut (no account has a name that long).
USERNAME_KEY_CHARS = 64


class LoginThrottle:
    """Refuses logins for a while after repeated failures, atomically.

    Three counters, each with its own limit of failures within `window`, lock for `lockout`:
    - an account from one client address (`max_failures`, 5): a guesser at one machine;
    - one client address, whatever the account (`max_client_failures`, 30): one machine trying
      many accounts, set high enough that a whole office behind one address is not locked out
      by a few mistyped passwords;
    - one account, whatever the address (`max_account_failures`, 50): guessing spread over many
      machines, set high enough that anyone knowing a username cannot lock it with a few tries.
    An attempt is counted when it begins (`begin`), before the slow password check, so that
    concurrent attempts cannot all slip under the limit. A success clears the counters of its
    account and address. The state lives in memory: one instance per web application.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        max_client_failures: int = 30,
        max_account_failures: int = 50,
        window: timedelta = timedelta(minutes=15),
        lockout: timedelta = timedelta(minutes=15),
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self._limits = {
            "pair": max_failures,
            "client": max_client_failures,
            "user": max_account_failures,
        }
        self.window = window.total_seconds()
        self.lockout = lockout.total_seconds()
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[tuple[str, ...], _Failures] = {}
        # Sync routes of the web app run in a thread pool.
        self._lock = threading.Lock()

    def retry_after(self, *, username: str, client: str | None) -> float:
        """Seconds before this username from this client may try again; 0 when it may now."""
        now = self._clock()
        with self._lock:
            return self._wait(now, self._keys(username, client))

    def allowed(self, *, username: str, client: str | None) -> bool:
        """Whether a login of this username from this client may be tried now."""
        return self.retry_after(username=username, client=client) == 0.0

    def begin(self, *, username: str, client: str | None) -> float:
        """Counts an attempt that is about to be checked; returns 0 when it may go on (then call
        `failed` or `succeeded`), else the seconds to wait (nothing is counted)."""
        now = self._clock()
        keys = self._keys(username, client)
        with self._lock:
            wait = self._wait(now, keys)
            if wait > 0:
                return wait
            if len(self._entries) >= self._max_entries:
                self._forget_stale(now)
            for key in keys:
                self._entries.setdefault(key, _Failures()).pending += 1
            return 0.0

    def failed(self, *, username: str, client: str | None) -> None:
        """Counts a failed login (begun with `begin`, or not)."""
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._forget_stale(now)
            for key in self._keys(username, client):
                entry = self._entries.setdefault(key, _Failures())
                entry.pending = max(0, entry.pending - 1)
                self._expire(entry, now)
                entry.times.append(now)
                if len(entry.times) >= self._limits[key[0]]:
                    entry.locked_until = now + self.lockout
                    entry.times.clear()

    def succeeded(self, *, username: str, client: str | None) -> None:
        """Clears the counters of this username and client after a successful login."""
        with self._lock:
            for key in self._keys(username, client):
                self._entries.pop(key, None)

    def _wait(self, now: float, keys: list[tuple[str, ...]]) -> float:
        waits = [0.0]
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            if entry.locked_until > now:
                waits.append(entry.locked_until - now)
                continue
            self._expire(entry, now)
            if len(entry.times) + entry.pending >= self._limits[key[0]]:
                # The limit would be reached by attempts still being checked: wait for them.
                waits.append(1.0)
        return max(waits)

    def _expire(self, entry: _Failures, now: float) -> None:
        while entry.times and entry.times[0] <= now - self.window:
            entry.times.popleft()

    @staticmethod
    def _keys(username: str, client: str | None) -> list[tuple[str, ...]]:
        user = username.strip().lower()[:USERNAME_KEY_CHARS]
        keys: list[tuple[str, ...]] = [("user", user), ("pair", user, client or "")]
        if client:
            keys.append(("client", client))
        return keys

    def _forget_stale(self, now: float) -> None:
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.locked_until <= now
            and entry.pending == 0
            and (not entry.times or entry.times[-1] <= now - self.window)
        ]
        for key in stale:
            del self._entries[key]
        # Still full (a flood of distinct names): drop the oldest half rather than grow.
        if len(self._entries) >= self._max_entries:
            for key in list(self._entries)[: len(self._entries) // 2]:
                del self._entries[key]


# --- helpers --------------------------------------------------------------------------------


def _find(session: Session, username: str) -> StaffAccount | None:
    return session.exec(select(StaffAccount).where(StaffAccount.username == username)).first()


def _check_display_name(display_name: str) -> str:
    shown = display_name.strip()
    if not 1 <= len(shown) <= DISPLAY_NAME_MAX:
        raise InvalidDisplayName(
            f"The display name must be 1 to {DISPLAY_NAME_MAX} characters long."
        )
    if not shown.isprintable():
        raise InvalidDisplayName("The display name must not contain control characters.")
    return shown


def _check_password(password: str, *, username: str, display_name: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"The password must be at least {PASSWORD_MIN} characters long.")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"The password must be at most {PASSWORD_MAX} characters long.")
    folded = password.casefold()
    if username in folded or folded == display_name.casefold():
        raise WeakPassword("The password must not contain the username or the display name.")
    if (
        folded in _COMMON_PASSWORDS
        or len(set(folded)) < 4
        or any(folded in sequence for sequence in _SEQUENCES)
    ):
        raise WeakPassword("This password is too easy to guess; choose a less predictable one.")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password with the current parameters, to spend on unknown users."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _delete_sessions(session: Session, account: StaffAccount, *, keep: StaffSession | None) -> int:
    query = delete(StaffSession).where(col(StaffSession.account_id) == account.id)
    if keep is not None:
        query = query.where(col(StaffSession.id) != keep.id)
    result = session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


def _shown(text: str, limit: int = 64) -> str:
    """Text typed by someone, safe for the audit trail: no control characters (PostgreSQL
    refuses NUL), at most `limit` characters."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)[:limit]


def _client(client: str | None) -> str | None:
    return None if client is None else _shown(client)


def _audit(session: Session, *, actor: str, action: str, **detail: Any) -> None:
    session.add(AuditEntry(actor=actor[:120], action=action, detail=detail))


@dataclass(frozen=True)
class StaffMember:
    """A community manager acting on one desk.

    Attributes:
        key: stable identity, ``staff:<desk>:<id>`` (web username, Telegram or Discord user id).
        name: the first name citizens may see (unless staff are anonymous).
        desk: web, telegram or discord.
    """

    key: str
    name: str
    desk: str
