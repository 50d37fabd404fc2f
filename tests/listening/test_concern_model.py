"""The concern judgement's model (bot/listening/concerns.py): how a message is cut into parts,
the decision rule, the weights file, and the shipped model on plain cases. Its figures on real
statements are measured by tests/e2e/test_concerns_heard.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.common.categories import CATEGORIES
from bot.listening.concerns import (
    LABELS,
    MAX_PARTS,
    MODEL_FILE,
    PART_CHARACTERS,
    ConcernModelError,
    ConcernWeights,
    Heard,
    ModelConcernJudge,
    decide,
    parts_of,
)
from bot.listening.corpus import folded
from bot.listening.model import CUE_NAMES
from bot.settings import PROJECT_ROOT
from tests.support.dialogue import CATEGORIZER
from tests.support.overlap import repeated


def test_a_short_message_is_one_part() -> None:
    assert parts_of("  Les camions   passent à 5h  ") == ["Les camions passent à 5h"]
    assert parts_of("   ") == []


def test_a_long_statement_is_cut_at_sentence_ends_and_nothing_is_lost() -> None:
    sentences = [
        f"Sentence number {n} says something about the project and the road." for n in range(20)
    ]
    text = " ".join(sentences)
    parts = parts_of(text)
    assert len(parts) > 1
    assert all(len(part) <= PART_CHARACTERS for part in parts)
    assert " ".join(parts) == text


def test_one_huge_sentence_is_cut_and_an_endless_message_is_bounded() -> None:
    assert all(len(p) <= 2 * PART_CHARACTERS for p in parts_of("a" * 5000))
    endless = " ".join(f"Phrase {n}, encore une plainte sur le bruit." for n in range(3000))
    parts = parts_of(endless)
    assert len(parts) == MAX_PARTS
    assert parts[0].startswith("Phrase 0,")
    assert parts[-1].endswith("Phrase 2999, encore une plainte sur le bruit.")


def test_the_decision_rule() -> None:
    worried = Heard(grievance=0.7, objection=0.1, category="water")
    assert decide(worried, intent="faq/environment", threshold=0.75, intent_threshold=0.5,
                  fallback_category="other").concern  # fmt: skip
    assert decide(worried, intent="faq/environment", threshold=0.85, intent_threshold=0.5,
                  fallback_category="other").concern is False  # fmt: skip
    # The dialogue's own report_concern lowers the bar to intent_threshold.
    judged = decide(worried, intent="report_concern", threshold=0.85, intent_threshold=0.5,
                    fallback_category="other")  # fmt: skip
    assert (judged.concern, judged.kind, judged.category) == (True, "grievance", "water")
    opposed = Heard(grievance=0.2, objection=0.7, category="process")
    assert decide(opposed, intent=None, threshold=0.5, intent_threshold=0.5,
                  fallback_category="other").kind == "objection"  # fmt: skip
    # Nothing heard (the model failed): the intent alone decides, as before the model.
    assert decide(None, intent="report_concern", threshold=0.5, intent_threshold=0.5,
                  fallback_category="noise").category == "noise"  # fmt: skip
    assert not decide(None, intent="faq/noise", threshold=0.5, intent_threshold=0.5,
                      fallback_category="noise").concern  # fmt: skip


def test_missing_or_broken_weights_name_the_file_and_how_to_rebuild(tmp_path: Path) -> None:
    with pytest.raises(ConcernModelError, match="missing: rebuild it with `make train`"):
        ConcernWeights.load(tmp_path / "none.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ConcernModelError, match="cannot be read"):
        ConcernWeights.load(broken)


def test_weights_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    features = 384 + len(CUE_NAMES) + 3
    weights = ConcernWeights(
        weights=np.zeros((len(LABELS), features - 1), dtype=np.float32),
        bias=np.zeros(len(LABELS), dtype=np.float32),
        labels=LABELS,
        threshold=0.5,
        intent_threshold=0.5,
        category_weights=np.zeros((len(CATEGORIES), features), dtype=np.float32),
        category_bias=np.zeros(len(CATEGORIES), dtype=np.float32),
        categories=CATEGORIES,
        kind_weights=np.zeros((1, features), dtype=np.float32),
        kind_bias=np.zeros(1, dtype=np.float32),
        sentiment_weights=np.zeros((3, 384), dtype=np.float32),
        sentiment_bias=np.zeros(3, dtype=np.float32),
    )
    path = tmp_path / "wrong.npz"
    weights.save(path)
    with pytest.raises(ConcernModelError, match="weights of shape"):
        ConcernWeights.load(path)


def test_the_shipped_weights_load_and_know_the_contract() -> None:
    weights = ConcernWeights.load(MODEL_FILE)
    assert set(weights.labels) == set(LABELS)
    assert set(weights.categories) <= set(CATEGORIES)
    assert 0 < weights.threshold < 1
    assert weights.metadata["real_statements"] > 0


def test_no_evaluation_text_is_in_the_training_examples() -> None:
    written = yaml.safe_load((PROJECT_ROOT / "bot/listening/data/concerns.yml").read_text())
    texts = {folded(e["text"]) for e in written["examples"]}
    for name in ("concerns_real.yml", "heldout.yml", "heldout_blind.yml", "sentiment_heldout.yml"):
        document = yaml.safe_load((PROJECT_ROOT / "tests/data" / name).read_text())
        evaluation = document.get("statements") or document.get("messages")
        assert not texts & {folded(e["text"]) for e in evaluation}, name


@pytest.fixture(scope="module")
def judge() -> ModelConcernJudge:
    found = ModelConcernJudge(CATEGORIZER)
    found.warm_up()
    return found


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("My well has been dry since you started blasting next door, what are you going to do?", "grievance"),
        ("Depuis que les camions passent devant chez nous, mes enfants ne peuvent plus jouer dehors.", "grievance"),
        ("Je m'oppose à ce projet : il est beaucoup trop gros pour notre petite municipalité.", "objection"),
        ("This consultation is a sham, everything was decided before we were asked.", "objection"),
        ("When do the works start?", None),
        ("Est-ce qu'il y aura du bruit la nuit?", None),
        ("Merci pour les informations, bonne journée!", None),
    ],
)  # fmt: skip
def test_plain_cases(judge: ModelConcernJudge, text: str, kind: str | None) -> None:
    judged = judge.judge(judge.hear(text), intent=None, text=text)
    assert judged.kind == kind if kind else not judged.concern, judged


def test_a_concern_in_the_middle_of_a_long_statement_counts(judge: ModelConcernJudge) -> None:
    text = (
        "Good evening, commissioners. My name is Paul and I have lived on the Miller Road for "
        "thirty-two years with my wife and our three grandchildren who visit every summer. "
        "I have read the project description and attended the two information sessions held "
        "at the community centre last spring, and I thank the staff for their time. "
        "Since the blasting began in March, there are cracks across the foundation of our "
        "house and our well water has turned brown. "
        "I would like to know what the schedule for the next phase is, and who at the company "
        "is responsible for the compensation programme. Thank you for listening."
    )
    assert len(parts_of(text)) > 1
    judged = judge.judge(judge.hear(text), intent="faq/schedule", text=text)
    assert judged.concern
    assert judged.kind == "grievance"


def test_no_gathered_training_statement_repeats_an_evaluation_statement() -> None:
    # Real statements gathered for training come from other sources than the evaluation set's;
    # a quote republished elsewhere (even trimmed differently) must not slip in.
    gathered = PROJECT_ROOT / "bot/listening/data/concerns_real_training.yml"
    if not gathered.exists():
        pytest.skip("no gathered training statements")
    training = [e["text"] for e in yaml.safe_load(gathered.read_text())["examples"]]
    evaluation = yaml.safe_load((PROJECT_ROOT / "tests/data/concerns_real.yml").read_text())
    assert repeated([s["text"] for s in evaluation["statements"]], training) == []
