"""The dialogue contract (../shared/contract/intents.yml): every name exists in the NLU
data, the domain and the knowledge base, spelled exactly."""

from __future__ import annotations

import pytest
import yaml

from bot.settings import PROJECT_ROOT

CONTRACT = PROJECT_ROOT.parent / "shared" / "contract" / "intents.yml"


def _nlu_intents() -> set[str]:
    found = set()
    for path in (PROJECT_ROOT / "nlu").rglob("*.yml"):
        for item in yaml.safe_load(path.read_text()).get("nlu", []):
            if "intent" in item:
                found.add(item["intent"])
    return found


@pytest.fixture(scope="module")
def contract() -> dict[str, object]:
    if not CONTRACT.exists():
        pytest.skip("the shared contract is not beside this checkout")
    loaded: dict[str, object] = yaml.safe_load(CONTRACT.read_text())
    return loaded


def test_every_contract_intent_has_training_examples(contract: dict[str, object]) -> None:
    expected = set(contract["conversation"]) | {f"faq/{topic}" for topic in contract["faq"]}  # type: ignore[call-overload]
    assert expected <= _nlu_intents()


def test_every_conversation_intent_is_in_the_domain(contract: dict[str, object]) -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "dialogue.yml").read_text())
    assert set(contract["conversation"]) <= set(domain["intents"])  # type: ignore[call-overload]


def test_every_faq_topic_has_a_response(contract: dict[str, object]) -> None:
    responses = yaml.safe_load((PROJECT_ROOT / "domain" / "knowledge.yml").read_text())["responses"]
    assert {f"utter_faq/{topic}" for topic in contract["faq"]} <= set(responses)  # type: ignore[attr-defined]
