"""Whether a text repeats another, even trimmed differently (for training data gathered beside an
evaluation set: a quote republished elsewhere must not slip into training)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.listening.corpus import folded


def five_grams(text: str) -> set[str]:
    """The runs of five words of a text's folded form (the whole text when shorter)."""
    words = folded(text).split()
    return {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def repeated(texts: Iterable[str], others: Iterable[str]) -> list[str]:
    """The texts that share at least 3 five-word runs, and half of the shorter one's, with one of
    `others`."""
    grams = [five_grams(other) for other in others]
    found = []
    for text in texts:
        mine = five_grams(text)
        if any(
            len(mine & other) >= 3 and len(mine & other) / min(len(mine), len(other)) >= 0.5
            for other in grams
        ):
            found.append(text)
    return found
