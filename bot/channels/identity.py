"""Pseudonyms for platform user ids.

A citizen's platform id is needed in clear only where we must write to them (a private chat's
id); everywhere else (who said what in a group, whose concern it is) a keyed hash stands in for
it, so the database and its exports do not carry platform accounts. The key comes from
PSEUDONYM_SECRET, or is generated once per installation into PSEUDONYM_KEY_FILE (owner-only),
never into the database: a copy of the database alone cannot link a pseudonym to an account
by trying ids. An older installation's key, once kept in the database, moves to the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from bot.common.keys import KEY_PATTERN
from bot.storage import repository
from bot.storage.database import overwrite_freed_pages

STORED_KEY = "pseudonym_key"  # where an older installation kept its key (instance_secret)


class Pseudonyms:
    """Stable, keyed pseudonyms: the same platform user always gets the same one."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key

    @classmethod
    def for_installation(
        cls, engine: Engine, configured: str | None = None, *, key_file: Path
    ) -> Pseudonyms:
        """The pseudonyms of this installation: the configured secret, else the key of
        `key_file` (generated there, or moved there from the database, on first use)."""
        if configured:
            return cls(configured.encode("utf-8"))
        return cls(bytes.fromhex(_installation_key(engine, key_file)))

    def derived_key(self, label: str) -> bytes:
        """A key for another use (`label`), derived from this one and independent of it."""
        return hmac.new(self._key, f"derived:{label}".encode(), hashlib.sha256).digest()

    def of(self, platform: str, user_id: int | str) -> str:
        """The pseudonym of `user_id` on `platform`, e.g. "tg-3f9c0d…" (20 hex digits)."""
        digest = hmac.new(self._key, f"{platform}:{user_id}".encode(), hashlib.sha256)
        return f"{platform}-{digest.hexdigest()[:20]}"


def _installation_key(engine: Engine, key_file: Path) -> str:
    """The key in `key_file`; created (owner-only, atomically: processes starting together
    agree on one) from the key an older version kept in the database, else a new one. The
    database's copy is then deleted."""
    while True:
        with contextlib.suppress(FileNotFoundError):
            value = key_file.read_text(encoding="ascii").strip()
            if not KEY_PATTERN.fullmatch(value):
                raise ValueError(
                    f"PSEUDONYM_KEY_FILE {key_file} does not hold a key (64 hex digits)"
                )
            _forget_stored_key(engine)
            return value
        with Session(engine) as session:
            value = repository.instance_secret_if_any(session=session, name=STORED_KEY) or (
                secrets.token_hex(32)
            )
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = key_file.with_name(f".{key_file.name}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, key_file)  # fails if another process wrote its key first: theirs holds
        except FileExistsError:
            pass
        finally:
            draft.unlink()


def _forget_stored_key(engine: Engine) -> None:
    with Session(engine) as session:
        if repository.delete_instance_secret(session=session, name=STORED_KEY):
            overwrite_freed_pages(session)
