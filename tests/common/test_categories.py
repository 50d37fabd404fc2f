"""Concern categories: trained on the labelled NLU examples, checked on held-out concerns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.common.categories import CATEGORIES, ConcernCategorizer, read_labelled_examples
from bot.settings import PROJECT_ROOT

CONCERNS = PROJECT_ROOT / "nlu" / "conversation" / "report_concern.yml"
CONTRACT = PROJECT_ROOT.parent / "shared" / "contract" / "intents.yml"


@pytest.fixture(scope="module")
def categorizer() -> ConcernCategorizer:
    return ConcernCategorizer.from_nlu_file(CONCERNS)


def test_categories_are_the_contracts() -> None:
    if not CONTRACT.exists():
        pytest.skip("the shared contract is not beside this checkout")
    contract = yaml.safe_load(CONTRACT.read_text())
    assert tuple(contract["concern_categories"]) == CATEGORIES


def test_every_category_has_training_examples() -> None:
    examples = read_labelled_examples(CONCERNS)
    assert {category for _, category in examples} == set(CATEGORIES)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("j'ai peur pour mon puits", "water"),
        ("your trucks are destroying our road", "traffic"),
        ("on entend les éoliennes toute la nuit", "noise"),
        ("ma maison vaut plus rien depuis l'annonce", "property_value"),
        ("personne nous a consultés, c'est décidé d'avance", "process"),
        ("the red lights blinking at night ruin the view", "landscape"),
    ],
)
def test_clear_cases(categorizer: ConcernCategorizer, text: str, category: str) -> None:
    assert categorizer.categorize(text).category == category


def test_nothing_recognisable_is_other(categorizer: ConcernCategorizer) -> None:
    assert categorizer.categorize("zzzz qqqq").category == "other"


def test_unknown_category_label_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "concerns.yml"
    bad.write_text(
        "nlu:\n# category: weather\n- intent: report_concern\n  examples: |\n    - rain\n"
    )
    with pytest.raises(ValueError, match="weather"):
        read_labelled_examples(bad)


@pytest.mark.parametrize("name", ["heldout.yml", "heldout_blind.yml"])
def test_accuracy_on_held_out_concerns(categorizer: ConcernCategorizer, name: str) -> None:
    messages = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / name).read_text())["messages"]
    concerns = [m for m in messages if m["intent"] == "report_concern"]
    right = sum(categorizer.categorize(m["text"]).category == m["category"] for m in concerns)
    print(f"{name}: category accuracy {right / len(concerns):.3f} on {len(concerns)} concerns")
    assert right / len(concerns) >= 0.80
