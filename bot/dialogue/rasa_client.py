"""The Rasa server, reached over its HTTP API (the application never imports rasa)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
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

REMEMBERED_CONVERSATIONS = 50_000


class RasaEngine(DialogueEngine):
    """A `DialogueEngine` backed by a Rasa server's REST channel and `/model/parse`.

    A turn is one call to the REST channel. Before it, the conversation's `language` slot
    is set with a slot event when it differs from what we last set (the responses' French
    and English variations depend on it); after it, the tracker's latest message tells
    what the model understood. Both are cheap HTTP API calls; a custom action run on
    every turn would cost Rasa about twice as much (it validates each action answer
    against a JSON schema).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        tracker_store: TrackerStore | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Where the Rasa server keeps its conversations when we manage it (erasure reaches it).
        self._tracker_store = tracker_store
        self._params = {"token": token} if token else {}
        self._slot_language: OrderedDict[str, str] = OrderedDict()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=2.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def respond(
        self, *, sender_id: str, text: str, metadata: Mapping[str, Any]
    ) -> DialogueReply:
        conversation = f"/conversations/{quote(sender_id, safe='')}"
        language = metadata.get("language")
        if language and self._slot_language.get(sender_id) != language:
            event = [{"event": "slot", "name": "language", "value": language}]
            await self._post(f"{conversation}/tracker/events", event, include_events="NONE")
            if sender_id not in self._slot_language:
                # Perhaps a new conversation: Rasa then starts its session after reading the
                # event, so the session's start comes later than the event, and an SQL
                # tracker store reads back only what came after it (the slot would be lost,
                # and the answer given in the default language). Set again, it is kept.
                await self._post(f"{conversation}/tracker/events", event, include_events="NONE")
            self._remember(sender_id, str(language))
        body = {"sender": sender_id, "message": text, "metadata": dict(metadata)}
        try:
            answer = await self._post("/webhooks/rest/webhook", body)
        except DialogueUnavailable:
            self._slot_language.pop(sender_id, None)  # Rasa may have restarted: set it again
            raise
        if not isinstance(answer, list):
            raise DialogueUnavailable("Rasa's REST channel did not return a list of messages")
        texts = [
            str(item["text"]) for item in answer if isinstance(item, dict) and item.get("text")
        ]
        return DialogueReply(
            texts=texts, interpretation=await self._latest_interpretation(conversation)
        )

    async def _latest_interpretation(self, conversation: str) -> Interpretation | None:
        try:
            response = await self._client.get(
                f"{conversation}/tracker", params={**self._params, "include_events": "NONE"}
            )
            response.raise_for_status()
            latest = response.json().get("latest_message")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            # The answer is already there; only the record of what was understood is missing.
            logger.warning("could not read what Rasa understood (%s)", without_secrets(repr(exc)))
            return None
        return interpretation_from_parse(latest) if isinstance(latest, dict) else None

    def _remember(self, sender_id: str, language: str) -> None:
        self._slot_language[sender_id] = language
        self._slot_language.move_to_end(sender_id)
        while len(self._slot_language) > REMEMBERED_CONVERSATIONS:
            self._slot_language.popitem(last=False)

    async def parse(self, text: str) -> Interpretation:
        answer = await self._post("/model/parse", {"text": text})
        if not isinstance(answer, dict):
            raise DialogueUnavailable("Rasa's /model/parse did not return an object")
        return interpretation_from_parse(answer)

    async def is_ready(self) -> bool:
        try:
            response = await self._client.get("/status", params=self._params)
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
        # then the API replaces them by none (a tracker Rasa holds in memory).
        self._slot_language.pop(sender_id, None)
        if self._tracker_store is not None:
            try:
                await asyncio.to_thread(self._tracker_store.forget, sender_id)
            except SQLAlchemyError as exc:
                raise DialogueUnavailable(
                    f"Rasa's tracker store could not forget a conversation: {type(exc).__name__}"
                ) from exc
        conversation = f"/conversations/{quote(sender_id, safe='')}"
        try:
            response = await self._client.put(
                f"{conversation}/tracker/events",
                json=[],
                params={**self._params, "include_events": "NONE"},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            if self._tracker_store is not None:
                return  # Rasa is down: what it kept is deleted, and it holds nothing in memory
            raise DialogueUnavailable(
                f"Rasa could not forget a conversation: {without_secrets(repr(exc))}"
            ) from exc

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, body: Any, **params: str) -> Any:
        try:
            response = await self._client.post(path, json=body, params={**self._params, **params})
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            raise DialogueUnavailable(
                f"Rasa answered {exc.response.status_code} on {path}"
            ) from exc
        except httpx.HTTPError as exc:
            raise DialogueUnavailable(
                f"Rasa unreachable at {self.base_url}: {without_secrets(repr(exc))}"
            ) from exc
        except ValueError as exc:
            raise DialogueUnavailable(f"Rasa returned invalid JSON on {path}") from exc
