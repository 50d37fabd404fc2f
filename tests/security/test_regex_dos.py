"""No regular expression applied to citizens' words can stall a turn (finding 1 of the hardening
issue: "A-" 9,000 times after a concern froze the event loop for 2 to 4 s).

Every compiled pattern of the `bot` package (module constants, and those in module-level tuples)
is searched in adversarial texts of the longest message accepted (20,000 characters): long runs
of one character, of a word and a separator, of what a pattern expects but never completes. A
linear pattern takes milliseconds; a backtracking one takes seconds. The bound is generous (a
noisy machine cannot make a linear search take a quarter of a second), so the test only fails
on the quadratic kind.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Iterator

import pytest

import bot
from bot.channels.web.app import MAX_MESSAGE_CHARS

BOUND_SECONDS = 0.25
UNITS = [
    "A-", "a", "A ", "Aa'", "1", "1 ", "1-", "1(", "é", "a.", "a@", "a@a.", "x" * 50 + " ",
    "Road ", "rang A ", "chemin du ", "! ", "no ", "C-2026-", "http://a.", "<a ", "&#", "  ",
    "\n", "ab-", "'", "’", "+1 ", "(819) ", "lot 1", "Miller ",
]  # fmt: skip


def adversarial_texts() -> Iterator[str]:
    for unit in UNITS:
        run = unit * (MAX_MESSAGE_CHARS // len(unit))
        yield run
        yield "Le dynamitage a fissuré ma maison. " + run[: MAX_MESSAGE_CHARS - 40] + "!"


def patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if "migrations" in module.name or module.name.endswith("__main__"):
            continue
        found = importlib.import_module(module.name)
        for name, value in vars(found).items():
            candidates = value if isinstance(value, tuple) else (value,)
            for candidate in candidates:
                if isinstance(candidate, tuple):
                    candidate = next((c for c in candidate if isinstance(c, re.Pattern)), None)
                if isinstance(candidate, re.Pattern) and isinstance(candidate.pattern, str):
                    yield f"{module.name}.{name}", candidate


def test_there_are_patterns_to_check() -> None:
    names = {name for name, _ in patterns()}
    assert len(names) >= 40
    assert "bot.register.service._PLACE" in names
    assert "bot.common.text.EMAIL" in names
    assert "bot.register.service._FOLLOW_UPS" in names


@pytest.mark.parametrize(("name", "pattern"), list(patterns()), ids=lambda p: str(p))
def test_no_pattern_backtracks_on_long_adversarial_text(
    name: str, pattern: re.Pattern[str]
) -> None:
    slowest, worst = 0.0, ""
    for text in adversarial_texts():
        started = time.perf_counter()
        pattern.search(text)
        spent = time.perf_counter() - started
        if spent > slowest:
            slowest, worst = spent, text[:40]
    assert slowest < BOUND_SECONDS, f"{name} took {slowest:.2f} s on {worst!r}..."


def test_the_place_is_still_found() -> None:
    from bot.register.service import find_place

    assert find_place("The blasting cracked my house on Miller Road last week") == "Miller Road"
    assert find_place("Les camions passent sur le rang Saint-Joseph tous les jours") == (
        "rang Saint-Joseph"
    )
    assert find_place("près du chemin du Lac-Vert") == "chemin du Lac-Vert"
    assert find_place("A-" * 9000) is None
