"""How a message reads: its sentiment and the topics of the contract it speaks of.

`Reading` is what every citizen's message (and every message heard in a community group) is
stored with. A `Reader` produces it; the one the assistant runs is `bot.listening.model`'s,
offline. Tests of the parts that only store or show readings use a scripted reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from bot.common.categories import CATEGORIES
from bot.knowledge import FAQ_TOPICS

Sentiment = Literal["negative", "neutral", "positive"]
SENTIMENTS: tuple[Sentiment, ...] = ("negative", "neutral", "positive")

# The topics of the contract: the FAQ topics and the concern categories, one flat list (a name
# both share, such as "noise", means the same thing in both). "other" is not a topic.
TOPICS: tuple[str, ...] = tuple(
    dict.fromkeys([*FAQ_TOPICS, *(c for c in CATEGORIES if c != "other")])
)


@dataclass(frozen=True)
class Reading:
    """How one message reads.

    Attributes:
        sentiment: negative, neutral or positive.
        score: from -1 (most negative) to 1 (most positive): the probability of positive minus
            the probability of negative.
        topics: the topics of `TOPICS` the message speaks of, most likely first (maybe none).
    """

    sentiment: Sentiment
    score: float
    topics: tuple[str, ...] = ()


class Reader(Protocol):
    """Reads messages, and turns texts into sentence embeddings to group similar ones."""

    def read(
        self,
        text: str,
        language: str | None,
        *,
        intent: str | None = None,
        category: str | None = None,
    ) -> Reading:
        """How `text` reads. `intent` (e.g. "faq/noise") and `category` (of a concern) are what
        the assistant understood, when it did: they name a topic for sure."""
        ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised row per text (cosine similarity is a dot product)."""
        ...
