"""The boundary between the core and whatever decides the dialogue."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.types import Interpretation


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
        self, *, sender_id: str, text: str, metadata: Mapping[str, Any]
    ) -> DialogueReply:
        """The assistant's replies to one citizen message.

        `metadata` carries at least `language` (the language to answer in) and `message_id`.

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
    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "nlu_fallback")
    confidence = float(intent.get("confidence") or 0.0)
    selector = (parse.get("response_selector") or {}).get(name)
    if selector:
        response = selector.get("response") or {}
        key = response.get("intent_response_key")
        if key:
            name = str(key)
            confidence *= float(response.get("confidence") or 0.0)
    ranking = tuple(
        (str(item.get("name")), float(item.get("confidence") or 0.0))
        for item in (parse.get("intent_ranking") or [])[1:4]
    )
    return Interpretation(intent=name, confidence=confidence, ranking=ranking)
