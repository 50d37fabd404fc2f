"""The boundary between the core and whatever decides the dialogue."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.common.types import Interpretation


class DialogueUnavailable(Exception):
    """The dialogue engine could not answer in time (down, starting, overloaded or broken)."""


@dataclass(frozen=True)
class DialogueReply:
    """What the engine answered to one turn, and what it understood of the message."""

    texts: list[str]
    interpretation: Interpretation | None = None


class DialogueEngine(ABC):
    """Decides how the assistant answers a turn. The core knows nothing more of it."""

    @abstractmethod
    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        metadata: Mapping[str, Any],
        told_language: str | None = None,
    ) -> DialogueReply:
        """The assistant's replies to one citizen message.

        `metadata` carries at least `language` (the language to answer in) and `message_id`.
        `told_language` is the language the engine was last told for this conversation (kept
        in our database, so that every replica knows it; None: never, or not since it may have
        lost it); the engine is told `metadata["language"]` first when it differs.

        Raises:
            DialogueUnavailable: when no answer can be had in time.
        """

    @abstractmethod
    async def parse(self, text: str) -> Interpretation:
        """What the NLU understands of `text`, without touching any conversation.

        Raises:
            DialogueUnavailable: when no answer can be had in time.
        """

    @abstractmethod
    async def is_ready(self) -> bool:
        """True when the engine has a model loaded and answers."""

    async def servers_ready(self) -> list[bool]:
        """Whether each of the engine's servers answers (one, unless it has several)."""
        return [await self.is_ready()]

    async def forget(self, sender_id: str) -> None:  # noqa: B027 (optional hook)
        """Erases what the engine keeps of a conversation (its tracker: every message and slot),
        when the citizen asked to be forgotten.

        Raises:
            DialogueUnavailable: when the engine cannot be reached.
        """

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Releases connections."""


def interpretation_from_parse(parse: Mapping[str, Any]) -> Interpretation:
    """Reads Rasa parse data (from `/model/parse` or a tracker's latest message).

    A retrieval intent such as `faq` is resolved to its full name (`faq/noise`) with the
    response selector's choice; its confidence is the product of both stages.
    """
    intent = _mapping(parse.get("intent"))
    name = str(intent.get("name") or "nlu_fallback")
    confidence = _number(intent.get("confidence"))
    selector = _mapping(_mapping(parse.get("response_selector")).get(name))
    response = _mapping(selector.get("response"))
    key = response.get("intent_response_key")
    if key:
        name = str(key)
        confidence *= _number(response.get("confidence"))
    ranked = parse.get("intent_ranking")
    ranking = tuple(
        (str(item.get("name")), _number(item.get("confidence")))
        for item in (ranked if isinstance(ranked, list) else [])[1:4]
        if isinstance(item, Mapping)
    )
    return Interpretation(intent=name, confidence=confidence, ranking=ranking)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
