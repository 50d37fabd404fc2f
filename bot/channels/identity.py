"""Pseudonyms for platform user ids.

A citizen's platform id is needed in clear only where we must write to them (a private chat's
id); everywhere else (who said what in a group, whose concern it is) a keyed hash stands in for
it, so the database and its exports do not carry platform accounts. The key comes from
PSEUDONYM_SECRET, or is generated once per installation and kept in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine
from sqlmodel import Session

from bot.storage import repository


class Pseudonyms:
    """Stable, keyed pseudonyms: the same platform user always gets the same one."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key

    @classmethod
    def for_installation(cls, engine: Engine, configured: str | None = None) -> Pseudonyms:
        """The pseudonyms of this installation: the configured secret, else the stored one."""
        if configured:
            return cls(configured.encode("utf-8"))
        with Session(engine) as session:
            stored = repository.instance_secret(
                session=session, name="pseudonym_key", generate=lambda: secrets.token_hex(32)
            )
        return cls(bytes.fromhex(stored))

    def derived_key(self, label: str) -> bytes:
        """A key for another use (`label`), derived from this one and independent of it."""
        return hmac.new(self._key, f"derived:{label}".encode(), hashlib.sha256).digest()

    def of(self, platform: str, user_id: int | str) -> str:
        """The pseudonym of `user_id` on `platform`, e.g. "tg-3f9c0d…" (20 hex digits)."""
        digest = hmac.new(self._key, f"{platform}:{user_id}".encode(), hashlib.sha256)
        return f"{platform}-{digest.hexdigest()[:20]}"
