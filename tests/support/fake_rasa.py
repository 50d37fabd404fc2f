"""A stand-in for a Rasa server's HTTP API on loopback, answering like Rasa 3.6 does."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse


class FakeRasa:
    """Programmable: `mode` is "ok", "slow", "error" or "garbage"; `token` is required if set."""

    def __init__(self, token: str | None = None) -> None:
        self.mode = "ok"
        self.token = token
        self.delay = 0.0  # seconds each turn takes (a busy server)
        self.received: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.add_api_route("/status", self.status, methods=["GET"])
        self.app.add_api_route("/model/parse", self.parse, methods=["POST"])
        self.app.add_api_route("/webhooks/rest/webhook", self.webhook, methods=["POST"])
        self.app.add_api_route(
            "/conversations/{sender}/tracker/events", self.events, methods=["POST"]
        )
        self.app.add_api_route("/conversations/{sender}/tracker", self.tracker, methods=["GET"])
        self.slots: dict[str, dict[str, Any]] = {}
        self.events_received: list[tuple[str, list[dict[str, Any]]]] = []
        self.latest: dict[str, dict[str, Any]] = {}
        self.trackers_read: list[str] = []

    async def _refuse(self, request: Request) -> JSONResponse | PlainTextResponse | None:
        if self.token is not None and request.query_params.get("token") != self.token:
            return JSONResponse(
                {"status": "failure", "reason": "NotAuthenticated"}, status_code=401
            )
        if self.mode == "slow":
            await asyncio.sleep(3)
        if self.mode == "error":
            return JSONResponse({"status": "failure"}, status_code=500)
        if self.mode == "garbage":
            return PlainTextResponse("<html>proxy error</html>")
        return None

    async def status(self, request: Request) -> Any:
        refused = await self._refuse(request)
        return refused or {"model_file": "models/fake.tar.gz", "model_id": "fake"}

    async def parse(self, request: Request) -> Any:
        refused = await self._refuse(request)
        if refused:
            return refused
        return understood((await request.json())["text"])

    async def events(self, sender: str, request: Request) -> Any:
        refused = await self._refuse(request)
        if refused:
            return refused
        events = await request.json()
        self.events_received.append((sender, events))
        for event in events:
            if event["event"] == "slot":
                self.slots.setdefault(sender, {})[event["name"]] = event["value"]
        return {"sender_id": sender, "slots": self.slots.get(sender, {})}

    async def tracker(self, sender: str, request: Request) -> Any:
        refused = await self._refuse(request)
        if refused:
            return refused
        self.trackers_read.append(sender)
        return {
            "sender_id": sender,
            "slots": self.slots.get(sender, {}),
            "latest_message": self.latest.get(sender),
        }

    async def webhook(self, request: Request) -> Any:
        refused = await self._refuse(request)
        if refused:
            return refused
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append(body)
        self.latest[body["sender"]] = understood(body["message"])
        language = self.slots.get(body["sender"], {}).get("language", "none")
        return [
            {"recipient_id": body["sender"], "text": f"[{language}] {body['message']}"},
            {"recipient_id": body["sender"], "image": "https://example.org/x.png"},
        ]


def understood(text: str) -> dict[str, Any]:
    """What the stand-in understands of `text` (as `/model/parse` and a tracker's latest
    message say): the noise FAQ, a concern about a well, or a greeting."""
    if "bruit" in text or "noise" in text:
        return {
            "text": text,
            "intent": {"name": "faq", "confidence": 0.9},
            "intent_ranking": [
                {"name": "faq", "confidence": 0.9},
                {"name": "report_concern", "confidence": 0.1},
            ],
            "response_selector": {
                "faq": {"response": {"intent_response_key": "faq/noise", "confidence": 0.8}}
            },
        }
    if "puits" in text or "well" in text:
        return {
            "text": text,
            "intent": {"name": "report_concern", "confidence": 0.97},
            "intent_ranking": [],
        }
    return {"text": text, "intent": {"name": "greet", "confidence": 0.99}, "intent_ranking": []}


def serve(port: int, token: str, delay: float) -> None:
    """Runs a stand-in on 127.0.0.1:`port` in this process until it is stopped (a process of
    its own carries a load test's dialogue without slowing the test's other stand-ins)."""
    import uvicorn

    fake = FakeRasa(token=token)
    fake.delay = delay
    # Idle connections are kept 120 s, as Rasa keeps them (rasa.core.constants.
    # DEFAULT_KEEP_ALIVE_TIMEOUT); uvicorn's default is 5 s.
    uvicorn.run(
        fake.app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        timeout_keep_alive=120,
    )  # fmt: skip
