"""The Rasa server, reached over its HTTP API (the application never imports rasa)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.types import Interpretation
from bot.dialogue.engine import DialogueEngine, DialogueUnavailable, interpretation_from_parse

logger = logging.getLogger(__name__)


class RasaEngine(DialogueEngine):
    """A `DialogueEngine` backed by a Rasa server's REST channel and `/model/parse`."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._params = {"token": token} if token else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=2.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def respond(self, *, sender_id: str, text: str, metadata: Mapping[str, Any]) -> list[str]:
        body = {"sender": sender_id, "message": text, "metadata": dict(metadata)}
        answer = await self._post("/webhooks/rest/webhook", body)
        if not isinstance(answer, list):
            raise DialogueUnavailable("Rasa's REST channel did not return a list of messages")
        return [str(item["text"]) for item in answer if isinstance(item, dict) and item.get("text")]

    async def parse(self, text: str) -> Interpretation:
        answer = await self._post("/model/parse", {"text": text})
        if not isinstance(answer, dict):
            raise DialogueUnavailable("Rasa's /model/parse did not return an object")
        return interpretation_from_parse(answer)

    async def parse_raw(self, text: str) -> dict[str, Any]:
        """Rasa's full parse result for `text`."""
        answer = await self._post("/model/parse", {"text": text})
        if not isinstance(answer, dict):
            raise DialogueUnavailable("Rasa's /model/parse did not return an object")
        return answer

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

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        try:
            response = await self._client.post(path, json=body, params=self._params)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            raise DialogueUnavailable(
                f"Rasa answered {exc.response.status_code} on {path}"
            ) from exc
        except httpx.HTTPError as exc:
            raise DialogueUnavailable(f"Rasa unreachable at {self.base_url}: {exc!r}") from exc
        except ValueError as exc:
            raise DialogueUnavailable(f"Rasa returned invalid JSON on {path}") from exc
