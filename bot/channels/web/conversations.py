"""Web chat conversations: ids issued by the server, stored only as keyed pseudonyms.

A browser's conversation id is a bearer secret: whoever holds it reads the conversation,
withdraws or appeals its concerns, or erases it. So the server issues it (128 random bits,
signed with a key of the installation: an id the server did not issue is refused, and nobody can
pick one), the browser keeps it and sends it in a header or the message body (never in a URL
path, which proxies log), and the database, the register and every export hold only its keyed
pseudonym (`web-3f9c0d…`), from which the id cannot be found again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from bot.channels.identity import Pseudonyms

_RANDOM_BYTES = 16
_SIGNATURE_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class WebConversations:
    """Issues and checks web conversation ids; gives the pseudonym each is stored under."""

    def __init__(self, pseudonyms: Pseudonyms) -> None:
        self._pseudonyms = pseudonyms
        self._signing_key = pseudonyms.derived_key("web-conversation-id")

    @classmethod
    def ephemeral(cls) -> WebConversations:
        """Ids valid for this process only (tests, and apps built without an installation)."""
        return cls(Pseudonyms(secrets.token_bytes(32)))

    def issue(self) -> str:
        """A new conversation id."""
        random = secrets.token_bytes(_RANDOM_BYTES)
        return f"{_b64(random)}.{_b64(self._sign(random))}"

    def is_valid(self, conversation: str | None) -> bool:
        """Whether `conversation` is an id this installation issued."""
        if not conversation or len(conversation) > 64 or conversation.count(".") != 1:
            return False
        body, signature = conversation.split(".")
        try:
            random = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, TypeError):
            return False
        if len(random) != _RANDOM_BYTES:
            return False
        return hmac.compare_digest(
            signature.encode("ascii", "replace"), _b64(self._sign(random)).encode()
        )

    def key_of(self, conversation: str) -> str:
        """The pseudonym a conversation is stored under ("web-" and 20 hex digits)."""
        return self._pseudonyms.of("web", conversation)

    def _sign(self, random: bytes) -> bytes:
        return hmac.new(self._signing_key, random, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
