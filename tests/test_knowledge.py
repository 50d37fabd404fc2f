"""The knowledge base: complete in both languages, every answer sourced, the domain in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.knowledge import (
    FAQ_TOPICS,
    KnowledgeBaseError,
    cite,
    load_knowledge_base,
    render_domain,
)
from bot.settings import PROJECT_ROOT

KB = PROJECT_ROOT / "knowledge" / "project.yml"
CONTRACT = PROJECT_ROOT.parent / "shared" / "contract" / "intents.yml"


def test_every_contract_topic_has_a_sourced_answer_in_both_languages() -> None:
    kb = load_knowledge_base(KB)
    if CONTRACT.exists():
        assert tuple(yaml.safe_load(CONTRACT.read_text())["faq"]) == FAQ_TOPICS
    for topic in FAQ_TOPICS:
        answer = kb.answers[topic]
        assert answer.sources
        for language in ("fr", "en"):
            assert len(answer.text[language].split()) >= 20


def test_the_demo_is_marked_fictional() -> None:
    kb = load_knowledge_base(KB)
    assert "fictif" in kb.notice["fr"]
    assert "fictional" in kb.notice["en"]


def test_a_cited_answer_names_its_documents_and_dates() -> None:
    kb = load_knowledge_base(KB)
    answer = kb.answers["noise"]
    text = cite(answer, "en")
    for doc in answer.sources:
        assert doc.title["en"] in text
        assert doc.date.isoformat() in text
        assert doc.url in text
    assert "\n\n" not in text  # Rasa's REST channel would split it into two messages


def test_the_generated_domain_is_up_to_date() -> None:
    committed = (PROJECT_ROOT / "domain" / "knowledge.yml").read_text(encoding="utf-8")
    assert committed == render_domain(load_knowledge_base(KB)), "run `bot kb build`"


def test_every_faq_response_has_a_french_and_an_english_variation() -> None:
    domain = yaml.safe_load(render_domain(load_knowledge_base(KB)))
    for topic in FAQ_TOPICS:
        variations = domain["responses"][f"utter_faq/{topic}"]
        languages = {v["condition"][0]["value"] for v in variations if "condition" in v}
        assert languages == {"fr", "en"}


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda d: d["faq"].pop("noise"), "faq.noise is missing"),
        (lambda d: d["faq"]["jobs"]["answer"].pop("en"), "no text in en"),
        (
            lambda d: d["faq"]["traffic"].__setitem__("sources", ["nowhere"]),
            "unknown documents: nowhere",
        ),
        (lambda d: d["faq"]["contact"].__setitem__("sources", []), "names no source"),
    ],
)
def test_an_incomplete_knowledge_base_is_refused(tmp_path: Path, mutation, message: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(KB.read_text())
    mutation(data)
    broken = tmp_path / "kb.yml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True))
    (tmp_path / "documents").symlink_to(KB.parent / "documents")  # the files it lists
    with pytest.raises(KnowledgeBaseError, match=message):
        load_knowledge_base(broken)
