"""The Rasa server, reached over its HTTP API (the application never imports rasa)."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from sqlalchemy.exc import SQLAlchemyError

from bot.common.text import without_secrets
from bot.common.types import Interpretation
from bot.dialogue.engine import (
    DialogueEngine,
    DialogueReply,
    DialogueUnavailable,
    interpretation_from_parse,
)
from bot.dialogue.tracker_store import TrackerStore

logger = logging.getLogger(__name__)

T = TypeVar("T")

DOWN_FOR = 5.0  # a server that refused a connection is tried last for this many seconds
# An idle connection is dropped after this many seconds, well before any server closes it (Rasa
# after 120 s; 5 s is the shortest common default, uvicorn's and Sanic's): a request sent on a
# connection the server is closing at that moment fails with a read error, and a turn sent to
# the dialogue must not be sent twice, so it could not be retried.
KEEPALIVE_EXPIRY = 2.0


@dataclass
class _Server:
    url: str
    client: httpx.AsyncClient
    down_until: float = 0.0


class RasaEngine(DialogueEngine):
    """A `DialogueEngine` backed by one or several Rasa servers' REST channel and `/model/parse`.

    A turn is one call to the REST channel. Before it, the conversation's `language` slot
    is set with a slot event when it differs from what the conversation's row says Rasa was
    last told (the responses' French and English variations depend on it); after it, the
    tracker's latest message tells what the model understood. Both are cheap HTTP API
    calls; a custom action run on every turn would cost Rasa about twice as much (it
    validates each action answer against a JSON schema).

    With several servers (which must share a tracker store), each conversation has its own
    (a stable hash of its id), and the calls of one turn all go to it; a server that refuses
    the connection (down, restarting) hands its conversations to the next one until it is
    back. Only a refused connection moves a turn: a request that may have reached a server
    is never sent to another, so no message is understood twice.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        token: str | None = None,
        timeout: float = 10.0,
        tracker_store: TrackerStore | None = None,
    ) -> None:
        urls = [servers] if isinstance(servers, str) else list(servers)
        if not urls:
            raise ValueError("a Rasa engine needs at least one server")
        self.urls = [url.rstrip("/") for url in urls]
        # Where the Rasa servers keep their conversations when we manage them (erasure reaches it).
        self._tracker_store = tracker_store
        self._params = {"token": token} if token else {}
        self._servers = [
            _Server(
                url,
                httpx.AsyncClient(
                    base_url=url,
                    timeout=httpx.Timeout(timeout, connect=2.0),
                    limits=httpx.Limits(
                        max_connections=64,
                        max_keepalive_connections=32,
                        keepalive_expiry=KEEPALIVE_EXPIRY,
                    ),
                ),
            )
            for url in self.urls
        ]
        self._next_parse = 0

    @property
    def base_url(self) -> str:
        """The first server's URL (the only one, usually)."""
        return self.urls[0]

    def server_for(self, sender_id: str) -> str:
        """The URL of the server a conversation's turns go to while every server is up."""
        return self._order(sender_id)[0].url

    def _order(self, sender_id: str) -> list[_Server]:
        """The conversation's own server first, then the others; the ones that refused a
        connection lately last."""
        return self._ring(zlib.crc32(sender_id.encode()) % len(self._servers))

    def _ring(self, first: int) -> list[_Server]:
        ring = self._servers[first:] + self._servers[:first]
        now = time.monotonic()
        return sorted(ring, key=lambda server: server.down_until > now)

    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None = None,
    ) -> DialogueReply:
        return await self._on_one_of(
            self._order(sender_id),
            lambda server: self._turn(server, sender_id, text, metadata, told_language),
        )

    async def _on_one_of(
        self, servers: list[_Server], call: Callable[[_Server], Awaitable[T]]
    ) -> T:
        """`call` on the first of `servers` that accepts the connection; one that refuses is
        tried last for a while (`DOWN_FOR`) and the next one takes its place."""
        for index, server in enumerate(servers):
            try:
                return await call(server)
            except _Refused as exc:
                server.down_until = time.monotonic() + DOWN_FOR
                if index == len(servers) - 1:
                    raise DialogueUnavailable(str(exc)) from exc
                logger.warning("%s; %s answers meanwhile", exc, servers[index + 1].url)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _turn(
        self,
        server: _Server,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None,
    ) -> DialogueReply:
        conversation = f"/conversations/{quote(sender_id, safe='')}"
        language = metadata.get("language")
        first = True  # until a request reached the server, the turn may go to another one
        if language and told_language != language:
            event = [{"event": "slot", "name": "language", "value": language}]
            await self._post(server, f"{conversation}/tracker/events", event, first=True,
                             include_events="NONE")  # fmt: skip
            first = False
            if told_language is None:
                # Perhaps a new conversation: Rasa then starts its session after reading the
                # event, so the session's start comes later than the event, and an SQL
                # tracker store reads back only what came after it (the slot would be lost,
                # and the answer given in the default language). Set again, it is kept.
                await self._post(server, f"{conversation}/tracker/events", event,
                                 include_events="NONE")  # fmt: skip
        body = {"sender": sender_id, "message": text, "metadata": dict(metadata)}
        answer = await self._post(server, "/webhooks/rest/webhook", body, first=first)
        if not isinstance(answer, list):
            raise DialogueUnavailable("Rasa's REST channel did not return a list of messages")
        texts = [
            str(item["text"]) for item in answer if isinstance(item, dict) and item.get("text")
        ]
        return DialogueReply(
            texts=texts, interpretation=await self._latest_interpretation(server, conversation)
        )

    async def _latest_interpretation(
        self, server: _Server, conversation: str
    ) -> Interpretation | None:
        try:
            response = await server.client.get(
                f"{conversation}/tracker", params={**self._params, "include_events": "NONE"}
            )
            response.raise_for_status()
            latest = response.json().get("latest_message")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            # The answer is already there; only the record of what was understood is missing.
            logger.warning("could not read what Rasa understood (%s)", without_secrets(repr(exc)))
            return None
        return interpretation_from_parse(latest) if isinstance(latest, dict) else None

    async def parse(self, text: str) -> Interpretation:
        # Parsing touches no conversation: the servers take turns.
        self._next_parse = (self._next_parse + 1) % len(self._servers)
        answer = await self._on_one_of(
            self._ring(self._next_parse),
            lambda server: self._post(server, "/model/parse", {"text": text}, first=True),
        )
        if not isinstance(answer, dict):
            raise DialogueUnavailable("Rasa's /model/parse did not return an object")
        return interpretation_from_parse(answer)

    async def is_ready(self) -> bool:
        """True when at least one server has a model loaded (the others' conversations go to
        it meanwhile)."""
        return any(await self.servers_ready())

    async def servers_ready(self) -> list[bool]:
        """Whether each server has a model loaded, in the order of `urls`."""
        return list(await asyncio.gather(*(self._ready(server) for server in self._servers)))

    async def _ready(self, server: _Server) -> bool:
        try:
            response = await server.client.get("/status", params=self._params)
        except httpx.HTTPError:
            return False
        if response.status_code != httpx.codes.OK:
            return False
        try:
            status = response.json()
        except ValueError:
            return False
        return bool(isinstance(status, dict) and status.get("model_file"))

    async def forget(self, sender_id: str) -> None:
        # Rasa keeps every event of a conversation (the citizen's words among them) and never
        # drops them on its own. In its SQL tracker store (when we manage it) the rows are
        # deleted in its database, as replacing the events through the API only appends there;
        # then the API replaces them by none on every server (a tracker Rasa holds in memory).
        if self._tracker_store is not None:
            try:
                await asyncio.to_thread(self._tracker_store.forget, sender_id)
            except SQLAlchemyError as exc:
                raise DialogueUnavailable(
                    f"Rasa's tracker store could not forget a conversation: {type(exc).__name__}"
                ) from exc
        conversation = f"/conversations/{quote(sender_id, safe='')}"
        for server in self._servers:
            try:
                response = await server.client.put(
                    f"{conversation}/tracker/events",
                    json=[],
                    params={**self._params, "include_events": "NONE"},
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                if self._tracker_store is not None:
                    continue  # down: what it kept is deleted, and it holds nothing in memory
                raise DialogueUnavailable(
                    f"Rasa could not forget a conversation: {without_secrets(repr(exc))}"
                ) from exc

    async def close(self) -> None:
        await asyncio.gather(*(server.client.aclose() for server in self._servers))

    async def _post(self, server: _Server, path: str, body: Any, *, first: bool = False,
                    **params: str) -> Any:  # fmt: skip
        """POSTs to one server. A refused connection raises `_Refused` when `first` (nothing
        of the turn reached the server yet, so another may take it)."""
        try:
            response = await server.client.post(path, json=body, params={**self._params, **params})
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            raise DialogueUnavailable(
                f"Rasa answered {exc.response.status_code} on {path}"
            ) from exc
        except httpx.ConnectError as exc:
            message = f"Rasa unreachable at {server.url}: {without_secrets(repr(exc))}"
            if first:
                raise _Refused(message) from exc
            raise DialogueUnavailable(message) from exc
        except httpx.HTTPError as exc:
            raise DialogueUnavailable(
                f"Rasa unreachable at {server.url}: {without_secrets(repr(exc))}"
            ) from exc
        except ValueError as exc:
            raise DialogueUnavailable(f"Rasa returned invalid JSON on {path}") from exc


class _Refused(Exception):
    """A server refused the connection before anything of the turn reached it."""
