"""The intent reader (bot/listening/intents.py): ideas and offers to help heard beside the
dialogue's intent in short messages, the rule of which intent a turn acts on, the weights file,
and the shipped model on plain cases. Its figures on held-out messages of other writers are
measured with the dialogue by tests/e2e/test_nlu.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.listening.intents import (
    HEARD_INTENTS,
    KEPT_INTENTS,
    MODEL_FILE,
    GuardedIntentReader,
    HeardIntent,
    IntentModelError,
    IntentReader,
    IntentWeights,
    acted_intent,
)
from bot.listening.model import CUE_NAMES
from bot.listening.train_intents import data_digest


def test_missing_or_broken_weights_name_the_file_and_how_to_rebuild(tmp_path: Path) -> None:
    with pytest.raises(IntentModelError, match="missing: rebuild them with `make train`"):
        IntentWeights.load(tmp_path / "none.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(IntentModelError, match="cannot be read"):
        IntentWeights.load(broken)
    wrong = tmp_path / "wrong.npz"
    IntentWeights(
        weights=np.zeros((2, 384 + len(CUE_NAMES) - 1), dtype=np.float32),
        bias=np.zeros(2, dtype=np.float32),
        labels=HEARD_INTENTS,
        threshold=0.7,
        max_words=25,
    ).save(wrong)
    with pytest.raises(IntentModelError, match="do not match this version"):
        IntentWeights.load(wrong)


async def test_without_usable_weights_nothing_is_heard_and_it_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = GuardedIntentReader(IntentReader(tmp_path / "none.npz"))
    assert await guarded.hear("J'ai une idée : une patinoire couverte") is None
    assert await guarded.hear("Idée : un sentier entre les éoliennes") is None
    assert len([r for r in caplog.records if "intent reader" in r.getMessage()]) == 1
    assert await GuardedIntentReader(None).hear("idea: a rink") is None


def test_the_shipped_weights_are_those_of_the_repositorys_examples() -> None:
    weights = IntentWeights.load(MODEL_FILE)
    assert set(HEARD_INTENTS) <= set(weights.labels)
    assert weights.metadata["data_digest"] == data_digest(), "run `make train`"
    assert 0.5 <= weights.threshold < 1
    assert weights.max_words == 25


@pytest.mark.parametrize(
    ("dialogue", "heard", "acted"),
    [
        ("faq/traffic", "share_idea", "share_idea"),
        ("out_of_scope", "volunteer", "volunteer"),
        ("volunteer", "share_idea", "share_idea"),
        ("faq/traffic", None, "faq/traffic"),
        ("share_idea", "volunteer", "share_idea"),  # the idea is already recorded
        ("ask_human", "share_idea", "ask_human"),  # a person was asked for: that stands
        ("forget_me", "volunteer", "forget_me"),
    ],
)
def test_which_intent_a_turn_acts_on(dialogue: str, heard: str | None, acted: str) -> None:
    found = HeardIntent(heard, 0.9) if heard else None
    assert acted_intent(dialogue, found) == acted


def test_the_kept_intents_have_acted_already() -> None:
    assert {"ask_human", "forget_me", "ask_concern_status", "affirm", "deny"} <= KEPT_INTENTS
    assert not {"out_of_scope", "nlu_fallback", "express_support"} & KEPT_INTENTS


@pytest.fixture(scope="module")
def reader() -> IntentReader:
    found = IntentReader()
    found.warm_up()
    return found


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("J'ai une idée pour le fonds communautaire : une patinoire couverte pour les jeunes", "share_idea"),
        ("Suggestion: use part of the community fund to fix up the outdoor rink", "share_idea"),
        ("Je veux m'impliquer dans le comité de suivi, comment faire?", "volunteer"),
        ("How can I help with the project?", "volunteer"),
        ("When do the works start?", None),
        ("Est-ce qu'il y aura du bruit la nuit?", None),
        ("Les camions passent devant chez nous et j'ai peur pour mes enfants", None),
    ],
)  # fmt: skip
def test_plain_cases(reader: IntentReader, text: str, intent: str | None) -> None:
    heard = reader.hear(text)
    assert (heard.intent if heard else None) == intent


def test_a_long_statement_is_not_read(reader: IntentReader) -> None:
    idea = "J'ai une idée pour le fonds communautaire : une patinoire couverte pour les jeunes."
    assert reader.hear(idea) is not None
    long = idea + " " + " ".join(["Nous vivons ici depuis trente ans."] * 4)
    assert len(long.split()) > 25
    assert reader.hear(long) is None
