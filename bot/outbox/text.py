"""Cutting long replies into messages a platform accepts."""

from __future__ import annotations

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"[.!?…»\"')\]](?=\s)")
_SPACE = re.compile(r"\s")


def utf16_length(text: str) -> int:
    """The length of `text` in UTF-16 code units, the way Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """Cuts `text` into parts of at most `limit` (as `measure` counts), at the best boundary.

    Boundaries are tried in order: a blank line, a line break, the end of a sentence, a
    space; a part is cut mid-word only when a single word is longer than the limit. A
    boundary is used only if it keeps at least half a part, so parts stay readable.

    Returns:
        The parts, stripped, in order; empty when `text` is only whitespace.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while rest and measure(rest) > limit:
        window = _longest_prefix(rest, limit, measure)
        cut = _best_cut(window)
        part = rest[:cut].rstrip()
        if not part:  # only whitespace before the cut: cut hard
            part, cut = window, len(window)
        parts.append(part)
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> str:
    """The longest prefix of `text` that measures at most `limit` (binary search)."""
    low, high = 1, min(len(text), limit * 2)
    while measure(text[:high]) > limit and high > low:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:high]


def _best_cut(window: str) -> int:
    """Where to cut `window` (an index into it), preferring the most natural boundary."""
    half = len(window) // 2
    for finder in (
        lambda w: w.rfind("\n\n"),
        lambda w: w.rfind("\n"),
        lambda w: max((m.end() for m in _SENTENCE_END.finditer(w)), default=-1),
        lambda w: max((m.start() for m in _SPACE.finditer(w)), default=-1),
    ):
        position = finder(window)
        if position >= half:
            return position
    return len(window)


# What one message may hold on each platform, as the platform counts.
PLATFORM_LIMITS: dict[str, tuple[int, Callable[[str], int]]] = {
    "telegram": (4096, utf16_length),
    "discord": (2000, len),
}


def split_for(channel: str, text: str) -> list[str]:
    """`text` cut into messages the chat platform `channel` accepts."""
    limit, measure = PLATFORM_LIMITS[channel]
    return split_message(text, limit, measure=measure)
