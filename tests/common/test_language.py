"""Language detection on short chat messages, with and without conversation context."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.common.language import LanguageDetector
from bot.common.text import words
from tests.conftest import HELDOUT

DATA = Path(HELDOUT).parent


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("merci", "fr"),  # plain langdetect says Spanish
        ("bruit?", "fr"),  # plain langdetect says Afrikaans
        ("allo", "fr"),
        ("thx", "en"),
        ("chu tanné des trucks", "fr"),
        ("ca fait deja 3 semaines", "fr"),
        ("the trucks wake us up at 5am", "en"),
        ("est-ce que les éoliennes vont faire du bruit la nuit", "fr"),
        ("bon ben bye là", "fr"),
    ],
)
def test_short_and_informal_messages(detector: LanguageDetector, text: str, language: str) -> None:
    assert detector.detect(text).language == language


def test_undecidable_words_follow_the_conversation(detector: LanguageDetector) -> None:
    assert detector.detect("ok", context="en").language == "en"
    assert detector.detect("ok", context="fr").language == "fr"
    guess = detector.detect("👍", context="en")
    assert (guess.language, guess.trusted, guess.method) == ("en", False, "context")


def test_without_any_clue_the_default_language_is_used(detector: LanguageDetector) -> None:
    guess = detector.detect("12345")
    assert (guess.language, guess.method) == ("fr", "default")


def test_detection_is_deterministic(detector: LanguageDetector) -> None:
    text = "ok merci pour la reponse rapide"
    assert len({detector.detect(text).language for _ in range(20)}) == 1


def test_a_single_served_language_is_always_chosen() -> None:
    detector = LanguageDetector(("en",), "en")
    assert detector.detect("bonjour tout le monde").language == "en"


@pytest.mark.parametrize("name", ["heldout.yml", "heldout_blind.yml"])
def test_accuracy_on_held_out_messages(detector: LanguageDetector, name: str) -> None:
    """At least 97% right overall and on one-to-three-word messages, with no context at all."""
    messages = yaml.safe_load((DATA / name).read_text())["messages"]
    right = [detector.detect(m["text"]).language == m["lang"] for m in messages]
    short = [r for r, m in zip(right, messages, strict=True) if len(words(m["text"])) <= 3]
    overall, short_rate = sum(right) / len(right), sum(short) / len(short)
    print(
        f"{name}: language accuracy {overall:.3f} overall, {short_rate:.3f} on {len(short)} short"
    )
    assert overall >= 0.97
    assert short_rate >= 0.97
