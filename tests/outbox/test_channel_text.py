"""Long replies are cut where a reader expects it, within each platform's limit."""

from __future__ import annotations

import pytest

from bot.outbox.text import split_message, utf16_length


def test_a_short_reply_is_one_message() -> None:
    assert split_message("  Bonjour!  ", 4096) == ["Bonjour!"]
    assert split_message("   ", 4096) == []


def test_long_replies_are_cut_at_sentence_ends() -> None:
    sentence = "Le chantier commence au printemps et finit à l'automne. "
    text = sentence * 100
    parts = split_message(text, 2000)
    assert len(parts) == 3
    assert all(len(part) <= 2000 for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == text.strip()


def test_paragraphs_are_preferred_to_sentences() -> None:
    first = "Premier paragraphe. " * 40
    second = "Second paragraphe. " * 40
    parts = split_message(f"{first.strip()}\n\n{second.strip()}", 1000)
    assert parts == [first.strip(), second.strip()]


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    parts = split_message("x" * 25, 10)
    assert parts == ["x" * 10, "x" * 10, "x" * 5]


def test_telegram_counts_utf16_units() -> None:
    assert utf16_length("é") == 1
    assert utf16_length("🌬️") == 3  # wind face (surrogate pair) + variation selector
    text = "🌬 " * 3000
    parts = split_message(text, 4096, measure=utf16_length)
    assert all(utf16_length(part) <= 4096 for part in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError):
        split_message("text", limit)
