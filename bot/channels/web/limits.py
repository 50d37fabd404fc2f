"""Backpressure for the web chat: one client cannot flood the assistant.

- **Per client** (its address, `X-Forwarded-For` believed only from TRUSTED_PROXIES): a leaky
  bucket of messages (aiolimiter) and one of new conversations. Beyond them the client gets 429
  with `Retry-After` and a sentence saying so; nothing is stored, no request for a person is
  opened, and the other citizens never notice.
- **Per conversation**: a bucket of messages too, so a script reusing one conversation id from
  many addresses is slowed as well.
- **In front of the dialogue**: at most `max_in_flight` web turns at once. Beyond, a turn is shed
  at once with 503 and `Retry-After` (the page says to try again in a moment) rather than queued
  until every citizen's turn times out.
- **Request bodies** are limited before they are read (`BodyLimit`): a 50 MB body is refused
  by its announced length, or as soon as the bytes received pass the limit.

The buckets live in memory, bounded (the least recently used are forgotten); each replica has
its own.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from aiolimiter import AsyncLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Rate:
    """`burst` events at once, then one every `period / burst` seconds."""

    burst: int
    period: float  # seconds

    @property
    def interval(self) -> float:
        return self.period / self.burst

    @classmethod
    def per(cls, count: int, period: float, *, bursts: int = 6) -> Rate:
        """`count` events per `period` seconds, at most a `bursts`-th of them at once (a client
        that sends its whole minute's share in one second would still swamp the dialogue)."""
        burst = max(2, count // bursts)
        return cls(burst=burst, period=period * burst / count)


# A citizen types a message every few seconds at most; an office or a school behind one address
# is a few citizens at once (WEB_MESSAGES_PER_MINUTE, WEB_CONVERSATIONS_PER_HOUR and
# WEB_TURNS_IN_FLIGHT change these).
MESSAGES_PER_CLIENT = Rate.per(30, 60)
MESSAGES_PER_CONVERSATION = Rate.per(30, 60)
CONVERSATIONS_PER_CLIENT = Rate.per(30, 3600)
MAX_IN_FLIGHT = 32
MAX_TRACKED = 20_000


class _Buckets:
    """One leaky bucket per key, the least recently used forgotten beyond `size`."""

    def __init__(self, rate: Rate, size: int = MAX_TRACKED) -> None:
        self._rate = rate
        self._size = size
        self._buckets: OrderedDict[str, AsyncLimiter] = OrderedDict()

    async def take(self, key: str) -> float:
        """0 when `key` may go on now (and it is counted), else the seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = AsyncLimiter(self._rate.burst, self._rate.period)
            while len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        if not bucket.has_capacity():
            return self._rate.interval
        await bucket.acquire()  # immediate: there is capacity
        return 0.0


class WebLimits:
    """The web chat's buckets and its admission limit (see the module's docstring)."""

    def __init__(
        self,
        *,
        per_client: Rate = MESSAGES_PER_CLIENT,
        per_conversation: Rate = MESSAGES_PER_CONVERSATION,
        conversations: Rate = CONVERSATIONS_PER_CLIENT,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._clients = _Buckets(per_client)
        self._conversations = _Buckets(per_conversation)
        self._new_conversations = _Buckets(conversations)
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def message(self, client: str | None, conversation: str | None) -> float:
        """0 when this message may be handled now, else the seconds to wait."""
        wait = await self._clients.take(client or "?")
        if wait == 0.0 and conversation is not None:
            wait = await self._conversations.take(conversation)
        return wait

    async def new_conversation(self, client: str | None) -> float:
        """0 when this client may start another conversation now, else the seconds to wait."""
        return await self._new_conversations.take(client or "?")

    def admit(self) -> bool:
        """Takes a place for one turn (False: all are taken; call `release` after a True)."""
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)


class BodyLimit:
    """ASGI middleware refusing request bodies larger than `limit` bytes (`limits` by path
    prefix) with 413, before they are read whole."""

    def __init__(self, app: ASGIApp, *, limit: int, limits: dict[str, int] | None = None) -> None:
        self._app = app
        self._limit = limit
        self._limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))

    def _limit_of(self, path: str) -> int:
        return next((size for prefix, size in self._limits if path.startswith(prefix)), self._limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._limit_of(str(scope.get("path", "")))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = limit + 1
                if announced > limit:
                    await _too_large(send, limit)
                    return
        # Read the body here, up to the limit, before the application sees any of it (a body
        # within the limit is small: it is then replayed to the application whole).
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self._app(scope, _replay(None, message, receive), send)  # disconnected
                return
            body = message.get("body", b"")
            received += len(body)
            if received > limit:
                await _too_large(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self._app(scope, _replay(b"".join(chunks), None, receive), send)


def _replay(body: bytes | None, first: Message | None, receive: Receive) -> Receive:
    """A `receive` giving the body already read (or `first`), then what the client sends next
    (a disconnect, which a streamed response listens for)."""
    pending: list[Message] = (
        [first] if first is not None else [{"type": "http.request", "body": body or b""}]
    )

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"The request is larger than {limit} bytes."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
