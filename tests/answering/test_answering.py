"""Answer only what was asked (bot.answering): the project's documents cut into passages that
keep their page, the relevance decision and what the citizen reads, and the core's answer step
(a reviewed answer only when it contains what was asked; else a quoted passage or an honest "no
reviewed answer", kept as a knowledge gap). The live decision against the real Rasa server and
its figures on real questions are in tests/e2e/test_answers_relevance.py."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.answering import train_relevance
from bot.answering.documents import (
    DocumentError,
    DocumentIndex,
    Passage,
    build_index,
    cut,
    read_pages,
)
from bot.answering.relevance import (
    FEATURES,
    AnswerChoice,
    Evidence,
    GuardedAnswerer,
    ModelAnswerer,
    RelevanceModelError,
    RelevanceWeights,
    decide,
    references,
    reply,
    statements,
)
from bot.common.calendar import BusinessCalendar
from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage
from bot.core.conversation import ConversationCore
from bot.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.listening.model import Embedder
from bot.register.service import Register
from bot.settings import PROJECT_ROOT
from bot.storage.models import UnansweredQuestion
from tests.support.dialogue import FakeDialogue

DOCUMENTS = PROJECT_ROOT / "knowledge" / "documents"


class HashEmbedder(Embedder):
    """Deterministic unit vectors from the words of a text (no model): texts sharing words are
    close, which is all these tests need."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def encode(self, texts: Any, prefix: Any) -> np.ndarray:  # type: ignore[override]
        self.calls += 1
        rows = np.zeros((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in str(text).lower().split():
                digest = hashlib.blake2b(word.strip(".,?!").encode(), digest_size=4).digest()
                rows[i, int.from_bytes(digest, "big") % 384] += 1.0
            norm = np.linalg.norm(rows[i])
            if norm:
                rows[i] /= norm
        return rows


# --- the documents ---------------------------------------------------------------------------


def test_every_demo_document_has_its_pdf_in_both_languages(knowledge: KnowledgeBase) -> None:
    for document in knowledge.documents.values():
        assert set(document.files) == {"fr", "en"}, document.id
        for language, path in document.files.items():
            pages = read_pages(path)
            assert 3 <= len(pages) <= 10, path
            # The first page starts with the document's title, as the knowledge base names it.
            assert " ".join(pages[0].split()).startswith(document.title[language][:30]), path


def test_passages_keep_their_page_and_heading_and_leave_out_the_title_block() -> None:
    pages = [
        "Noise modelling study\nVoisinage — 2025\n1. Introduction\n1.1 Purpose\n"
        "This study predicts the noise of the wind farm at every home. It follows the "
        "Quebec guideline.\nNoise modelling study — page 1 of 2",
        "2. Results\nThe most exposed home would receive 38 dBA at night. That is below the "
        "limit of 40 dBA that applies near homes at night.\nNoise modelling study — page 2 of 2",
    ]
    passages = cut("etude-bruit-2025", "en", pages, footer="Noise modelling study")
    assert [p.page for p in passages] == [1, 2]
    assert passages[0].section == "1.1 Purpose"
    assert passages[0].text.startswith("This study predicts the noise")
    assert "Voisinage — 2025" not in passages[0].text  # the title block answers nothing
    assert passages[1].section == "2. Results"
    assert "page 2 of 2" not in passages[1].text  # nor the running footer
    assert "38 dBA at night" in passages[1].text


def test_long_text_is_cut_in_overlapping_windows_of_whole_sentences() -> None:
    sentences = [f"Sentence number {i} says one thing about the wind farm here." for i in range(30)]
    passages = cut("d", "en", ["1. Section\n" + " ".join(sentences)], paged=True)
    assert len(passages) > 3
    for passage in passages:
        assert passage.text.endswith(".")
        assert len(passage.text.split()) <= 80
    # Consecutive windows share a sentence, so an answer spanning two is found whole.
    first, second = passages[0].text, passages[1].text
    assert first.rsplit(". ", 1)[-1] in second


def test_an_html_document_is_one_unpaged_page(tmp_path: Path) -> None:
    page = tmp_path / "faq.html"
    page.write_text(
        "<html><head><style>p{}</style></head><body><nav>Menu</nav><h2>1. Heights</h2>"
        "<p>The towers would be 120 m high and the blades 80 m long, for 200 m in all.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    passages = cut("x", "en", read_pages(page), paged=False)
    assert len(passages) == 1
    assert passages[0].page is None
    assert passages[0].section == "1. Heights"
    assert "Menu" not in passages[0].text


def test_an_unreadable_document_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 this is not a PDF")
    with pytest.raises(DocumentError, match=r"broken\.pdf"):
        read_pages(broken)


def _kb_with_one_document(tmp_path: Path, text: str) -> KnowledgeBase:
    source = PROJECT_ROOT / "knowledge" / "project.yml"
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    page = tmp_path / "documents" / "note.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(f"<p>{text}</p>", encoding="utf-8")
    for document in raw["documents"]:
        document.pop("files", None)
    raw["documents"][0]["files"] = {"en": "documents/note.html"}
    path = tmp_path / "project.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_knowledge_base(path)


def test_the_index_is_kept_and_rebuilt_only_when_a_document_changes(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    kb = _kb_with_one_document(tmp_path, "The towers would be 120 m high, with 80 m blades.")
    first = build_index(kb, embedder, tmp_path / "var")
    calls = embedder.calls
    again = build_index(kb, embedder, tmp_path / "var")
    assert embedder.calls == calls  # read from var/, nothing embedded again
    assert again.passages == first.passages
    assert np.allclose(again.vectors, first.vectors)
    changed = _kb_with_one_document(tmp_path, "The towers would be 135 m high, with 85 m blades.")
    rebuilt = build_index(changed, embedder, tmp_path / "var")
    assert embedder.calls > calls
    assert "135 m" in rebuilt.passages[0].text
    assert len(list((tmp_path / "var").glob("document-index-*.npz"))) == 1


def test_a_missing_document_file_stops_with_one_sentence(tmp_path: Path) -> None:
    source = PROJECT_ROOT / "knowledge" / "project.yml"
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["documents"][0]["files"] = {"fr": "documents/absent.pdf"}
    path = tmp_path / "project.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"absent\.pdf does not exist"):
        load_knowledge_base(path)
    raw["documents"][0]["files"] = {"de": "x.pdf"}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="must map a language"):
        load_knowledge_base(path)


# --- what the citizen reads ------------------------------------------------------------------


def test_a_reviewed_answer_leads_with_the_statements_that_answer(knowledge: KnowledgeBase) -> None:
    said = statements(knowledge.answers["noise"].text["en"])
    blasting = next(s for s in said if "blasting" in s)
    text = reply(knowledge, AnswerChoice(kind="reviewed", topic="noise", lead=(blasting,)), "en")
    assert text.startswith(blasting)
    assert "\nAlso: In Quebec, the noise guideline" in text
    for sentence in said:  # nothing of the reviewed answer is lost or rewritten
        assert sentence in text
    assert "Sources: Noise modelling study (2025-08-29)" in text
    assert "Answer reviewed on 2026-10-15." in text


def test_a_reviewed_answer_that_already_starts_with_the_answer_is_sent_as_written(
    knowledge: KnowledgeBase,
) -> None:
    first = statements(knowledge.answers["noise"].text["fr"])[0]
    text = reply(knowledge, AnswerChoice(kind="reviewed", topic="noise", lead=(first,)), "fr")
    assert text.startswith(knowledge.answers["noise"].text["fr"])
    assert "Aussi" not in text


def test_a_passage_is_quoted_word_for_word_with_its_document_page_and_link(
    knowledge: KnowledgeBase,
) -> None:
    passage = Passage(
        document="etude-bruit-2025",
        language="fr",
        page=3,
        section="3.2 Infrasons",
        text="Les infrasons mesurés à 300 m sont inférieurs au seuil d'audition.",
    )
    text = reply(knowledge, AnswerChoice(kind="passage", passage=passage), "fr")
    assert "pas de réponse révisée" in text
    assert "« Les infrasons mesurés à 300 m sont inférieurs au seuil d'audition. »" in text
    assert "« Étude de modélisation sonore » (2025-08-29), page 3" in text
    assert "etude-bruit-2025.pdf#page=3" in text
    assert "pas une réponse révisée" in text
    assert "parler à une personne" in text


def test_without_a_reviewed_answer_the_assistant_says_so_and_offers_a_person(
    knowledge: KnowledgeBase,
) -> None:
    text = reply(knowledge, AnswerChoice(kind="none"), "en")
    assert "no answer reviewed by the project team" in text
    assert "passed it on to the team" in text
    assert "talk to a person" in text


# --- the decision rule -----------------------------------------------------------------------


def _weights(knowledge: KnowledgeBase, **changes: Any) -> RelevanceWeights:
    n = len(FEATURES)
    base = RelevanceWeights(
        topics=tuple(knowledge.answers),
        coef=np.eye(n, dtype=np.float32)[0] * 10,  # the closest statement decides
        intercept=-5.0,
        threshold=0.5,
        passage_threshold=0.8,
        lead_margin=0.02,
        example_vectors=np.zeros((0, 384), np.float32),
        example_topics=np.zeros(0, np.int32),
        written_vectors=np.zeros((0, 384), np.float32),
        written_topics=np.zeros(0, np.int32),
        written_answered=np.zeros(0, np.bool_),
    )
    return replace(base, **changes)


def test_the_best_topic_is_sent_above_the_threshold_else_a_close_passage_else_nothing(
    knowledge: KnowledgeBase,
) -> None:
    weights = _weights(knowledge)
    refs = references(knowledge, weights, HashEmbedder(), DocumentIndex((), np.zeros((0, 384))))
    query = np.zeros(384, np.float32)
    rows = np.zeros((len(weights.topics), len(FEATURES)), np.float32)
    rows[weights.topics.index("traffic"), 0] = 0.9
    passage = Passage("plan-circulation-2026", "en", 2, "", "Convoys would run at night.")
    evidence = Evidence(rows=rows, passages=[(passage, 0.85)])
    chosen = decide(evidence, weights, refs, query, "en")
    assert (chosen.kind, chosen.topic) == ("reviewed", "traffic")
    rows[weights.topics.index("traffic"), 0] = 0.3
    chosen = decide(evidence, weights, refs, query, "en")
    assert (chosen.kind, chosen.passage, chosen.answered_with) == (
        "passage",
        passage,
        "plan-circulation-2026 p. 2",
    )
    chosen = decide(Evidence(rows=rows, passages=[(passage, 0.7)]), weights, refs, query, "en")
    assert chosen.kind == "none"


def test_weights_for_other_topics_are_refused_with_how_to_rebuild(
    knowledge: KnowledgeBase,
) -> None:
    weights = _weights(knowledge, topics=("noise", "traffic"))
    with pytest.raises(RelevanceModelError, match="make train"):
        references(knowledge, weights, HashEmbedder(), DocumentIndex((), np.zeros((0, 384))))


def test_missing_weights_say_how_to_rebuild_them(tmp_path: Path) -> None:
    with pytest.raises(RelevanceModelError, match="are missing: rebuild it with `make train`"):
        RelevanceWeights.load(tmp_path / "relevance.npz")


def test_weights_round_trip(knowledge: KnowledgeBase, tmp_path: Path) -> None:
    weights = _weights(knowledge, metadata={"data_digest": "x"})
    weights.save(tmp_path / "w.npz")
    loaded = RelevanceWeights.load(tmp_path / "w.npz")
    assert loaded.topics == weights.topics
    assert np.allclose(loaded.coef, weights.coef)
    assert (loaded.threshold, loaded.passage_threshold) == (0.5, 0.8)
    assert loaded.metadata == {"data_digest": "x"}


def test_the_shipped_weights_fit_the_knowledge_base_and_its_data() -> None:
    weights = RelevanceWeights.load()
    kb = load_knowledge_base(PROJECT_ROOT / "knowledge" / "project.yml")
    assert weights.topics == tuple(kb.answers)
    # Trained on the data as it is now (`make train` retrains when it changes).
    assert weights.metadata["data_digest"] == train_relevance.data_digest()
    assert weights.metadata["trained_on"]["training"] >= 300
    assert 0.5 <= weights.threshold < 1.0


def test_no_blind_question_is_trained_on() -> None:
    real = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / "questions_real.yml").read_text())
    blind_sources = {s["id"] for s in real["sources"] if s["split"] == "blind"}
    blind = {q["text"].casefold() for q in real["questions"] if q["source"] in blind_sources}
    used = train_relevance._questions(train_relevance.TRAINING_FILE) + train_relevance._questions(
        train_relevance.WRITTEN_FILE, source="written"
    )
    assert not blind & {q.text.casefold() for q in used}
    development = train_relevance._questions(train_relevance.REAL_FILE, split="dev")
    assert not blind & {q.text.casefold() for q in development}
    training_urls = {
        s["url"] for s in yaml.safe_load(train_relevance.TRAINING_FILE.read_text())["sources"]
    }
    assert not training_urls & {s["url"] for s in real["sources"]}


# --- the core's answer step ------------------------------------------------------------------


class ScriptedAnswerer:
    """Chooses what its script says (by the start of the question)."""

    def __init__(self, knowledge: KnowledgeBase, script: dict[str, AnswerChoice]) -> None:
        self.knowledge = knowledge
        self.script = script
        self.failing: Exception | None = None
        self.asked: list[tuple[str, str]] = []
        self.busy_loading = False

    def choose(self, text: str, language: str) -> AnswerChoice:
        self.asked.append((text, language))
        if self.failing is not None:
            raise self.failing
        for start, choice in self.script.items():
            if text.startswith(start):
                return choice
        return AnswerChoice(kind="none")

    def reply(self, choice: AnswerChoice, language: str) -> str:
        return reply(self.knowledge, choice, language)


PASSAGE = Passage("description-projet-2025", "en", 3, "3.1 Turbines", "Towers would be 120 m high.")


@pytest.fixture
def answerer(knowledge: KnowledgeBase) -> ScriptedAnswerer:
    return ScriptedAnswerer(
        knowledge,
        {
            "Will there be noise": AnswerChoice(kind="reviewed", topic="noise"),
            "How tall": AnswerChoice(kind="passage", passage=PASSAGE),
        },
    )


@pytest.fixture
def answering_core(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    answerer: ScriptedAnswerer,
) -> ConversationCore:
    fake_dialogue.answer = lambda text, metadata: ["the dialogue's reviewed answer on noise"]
    return ConversationCore(
        engine=database,
        dialogue=fake_dialogue,
        detector=detector,
        turn_timeout=1.0,
        register=Register(engine=database, calendar=BusinessCalendar()),
        first_contact_notice=False,
        answers=GuardedAnswerer(cast(ModelAnswerer, answerer)),
    )


def web(text: str) -> IncomingMessage:
    return IncomingMessage(channel="web", conversation_key="c-1", sender_key="c-1", text=text)


def gaps(database: Engine) -> list[UnansweredQuestion]:
    with Session(database) as session:
        return list(session.exec(select(UnansweredQuestion)))


async def test_a_reviewed_answer_that_answers_is_sent(
    answering_core: ConversationCore, database: Engine
) -> None:
    result = await answering_core.handle(web("Will there be noise at night near my home?"))
    assert result.replies[0].text.startswith("In Quebec, the noise guideline")
    assert "Sources:" in result.replies[0].text
    assert gaps(database) == []


async def test_a_question_no_reviewed_answer_contains_gets_the_honest_answer_and_is_kept(
    answering_core: ConversationCore, database: Engine
) -> None:
    result = await answering_core.handle(web("How will the blades be recycled at the end?"))
    [text] = [r.text for r in result.replies]
    assert "no answer reviewed by the project team" in text
    assert "reviewed answer on noise" not in text  # the unrelated answer is not sent
    [gap] = gaps(database)
    assert (gap.reason, gap.intent, gap.answered_with) == ("no_reviewed_answer", "faq/noise", None)
    assert gap.text == "How will the blades be recycled at the end?"


async def test_a_passage_is_quoted_and_the_question_kept_with_it(
    answering_core: ConversationCore, database: Engine
) -> None:
    result = await answering_core.handle(web("How tall will the towers be?"))
    assert "“Towers would be 120 m high.”" in result.replies[0].text
    assert "page 3" in result.replies[0].text
    [gap] = gaps(database)
    assert (gap.reason, gap.answered_with) == ("passage", "description-projet-2025 p. 3")


async def test_only_reviewed_answers_are_checked(
    answering_core: ConversationCore, fake_dialogue: FakeDialogue, answerer: ScriptedAnswerer
) -> None:
    fake_dialogue.intent = "greet"
    fake_dialogue.answer = lambda text, metadata: ["Hello!"]
    result = await answering_core.handle(web("hello there"))
    assert [r.text for r in result.replies] == ["Hello!"]
    assert answerer.asked == []


async def test_when_the_decision_fails_the_dialogue_answer_stands(
    answering_core: ConversationCore, answerer: ScriptedAnswerer, caplog: pytest.LogCaptureFixture
) -> None:
    answerer.failing = RelevanceModelError("The answer relevance weights x are missing: rebuild.")
    first = await answering_core.handle(web("How tall will the towers be?"))
    second = await answering_core.handle(web("How tall are they?"))
    assert [r.text for r in first.replies] == ["the dialogue's reviewed answer on noise"]
    assert [r.text for r in second.replies] == ["the dialogue's reviewed answer on noise"]
    assert sum("relevance weights" in r.message for r in caplog.records) == 1  # said once


async def test_while_the_decision_loads_the_dialogue_answer_stands(
    answering_core: ConversationCore, answerer: ScriptedAnswerer
) -> None:
    answerer.busy_loading = True  # the first start indexes the documents in the background
    result = await answering_core.handle(web("How tall will the towers be?"))
    assert [r.text for r in result.replies] == ["the dialogue's reviewed answer on noise"]
    assert answerer.asked == []


# --- the trained decision, on a few plain questions ------------------------------------------


@pytest.fixture(scope="module")
def model(knowledge: KnowledgeBase) -> ModelAnswerer:
    found = ModelAnswerer(knowledge)
    found.warm_up()
    return found


@pytest.mark.parametrize(
    ("question", "language", "topic"),
    [
        ("Will there be noise at night?", "en", "noise"),
        ("Combien de camions vont passer sur nos routes ?", "fr", "traffic"),
        ("How much money goes to the community fund every year?", "en", "benefits"),
        ("Quand les travaux vont-ils commencer ?", "fr", "schedule"),
    ],
)
def test_plain_questions_get_the_reviewed_answer_that_contains_them(
    model: ModelAnswerer, question: str, language: str, topic: str
) -> None:
    chosen = model.choose(question, language)
    assert (chosen.kind, chosen.topic) == ("reviewed", topic), chosen


def test_a_question_only_a_document_answers_gets_its_passage(model: ModelAnswerer) -> None:
    chosen = model.choose("Quel balisage lumineux est exigé par Transport Canada ?", "fr")
    assert chosen.kind == "passage", chosen
    assert chosen.passage is not None
    assert "balisage" in chosen.passage.text
    assert chosen.passage.language == "fr"
