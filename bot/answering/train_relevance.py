"""Trains the answer relevance decision and writes `bot/answering/data/relevance.npz`.

    .venv/bin/python -m bot.answering.train_relevance     # a minute or two on 2 cores
    make train                                            # this, the concern model, then Rasa

Needs the dev dependencies (scikit-learn); the assistant itself never imports this module.

1. Reference examples, embedded once and kept in the weights: the NLU examples of each FAQ topic
   and the questions written for each reviewed answer (`data/questions_written.yml`: questions it
   answers, and near misses on its subject that no reviewed answer answers).
2. Labelled questions: real questions from public sources (`data/questions_training.yml`) and the
   development half of `tests/data/questions_real.yml` (the blind half is never read here), each
   with the topic whose reviewed answer contains what was asked, or none; the written questions
   too, each compared with the others but not with itself.
3. Features (`relevance.FEATURES`) of every (question, topic); a logistic regression says whether
   that topic's answer answers the question.
4. Settings and the threshold are chosen on out-of-fold scores of the real questions (folds by
   source; the written questions are always in the training folds): the best balance of the
   three figures against their floors (the lowest of precision / 0.90, coverage / 0.85 and
   honest / 0.85), since a precision of 0.90 alone is reached only by answering almost nothing.
   The passage threshold: the lowest at which the passages quoted to development questions are
   the labelled page at least `MIN_PASSAGE_PRECISION` of the time.
5. The final model is fitted on everything and saved with its figures (`metadata`).

Everything is seeded: two runs on the same data write the same weights.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from bot.answering.documents import build_index
from bot.answering.relevance import (
    CACHE_DIR,
    FEATURES,
    MODEL_FILE,
    AnswerChoice,
    References,
    RelevanceWeights,
    references,
)
from bot.knowledge import load_knowledge_base
from bot.listening.corpus import CorpusError, nlu_intent_examples, read_yaml
from bot.listening.model import Embedder, FloatArray
from bot.listening.train_concerns import (
    CachedEmbeddings,
    say,
    training_arguments,
    up_to_date,
)
from bot.settings import PROJECT_ROOT

SEED = 20261206
FOLDS = 5
MIN_PASSAGE_PRECISION = 0.33
LEAD_MARGIN = 0.02
KB_FILE = PROJECT_ROOT / "knowledge" / "project.yml"
DATA_DIR = Path(__file__).parent / "data"
WRITTEN_FILE = DATA_DIR / "questions_written.yml"
TRAINING_FILE = DATA_DIR / "questions_training.yml"
REAL_FILE = PROJECT_ROOT / "tests" / "data" / "questions_real.yml"
NLU_DIR = PROJECT_ROOT / "nlu"
CACHE_FILE = CACHE_DIR / "question-embeddings.npz"
SETTINGS = [{"C": c, "written_weight": w} for c in (0.3, 1.0, 3.0) for w in (0.5, 1.0)]


@dataclass(frozen=True)
class Question:
    text: str
    language: str
    topic: str  # a topic, or "none"
    theme: str
    source: str  # "written" for the written questions
    document: str | None = None  # the labelled page, for the development questions
    page: int | None = None


def _questions(
    path: Path, *, split: str | None = None, source: str | None = None
) -> list[Question]:
    data = read_yaml(path)
    splits = {s["id"]: s.get("split") for s in data.get("sources") or []}
    found = []
    for entry in data.get("questions") or []:
        origin = source or str(entry["source"])
        if split is not None and splits.get(origin) != split:
            continue
        doc = entry.get("doc")
        found.append(
            Question(
                text=str(entry["text"]),
                language=str(entry["lang"]),
                topic=str(entry["topic"]),
                theme=str(entry.get("theme") or entry["topic"]),
                source=origin,
                document=None if doc in (None, "none") else str(doc),
                page=int(entry["page"]) if entry.get("page") is not None else None,
            )
        )
    return found


def data_digest() -> str:
    """A digest of everything training reads (the weights say which data they were made from)."""
    digest = hashlib.sha256()
    documents = sorted((PROJECT_ROOT / "knowledge" / "documents").glob("*.*"))
    inputs = [KB_FILE, WRITTEN_FILE, TRAINING_FILE, REAL_FILE, *documents]
    for path in [*inputs, *sorted(NLU_DIR.glob("faq/*.yml"))]:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(",".join(FEATURES).encode())
    return digest.hexdigest()[:16]


def figures(gold: Sequence[Question], chosen: Sequence[AnswerChoice]) -> dict[str, float | int]:
    """The three figures of the issue on labelled questions and what was chosen for them:
    `precision` (reviewed answers sent that answer the question), `coverage` (covered questions
    that get their reviewed answer), `honest` (uncovered questions that get no reviewed answer,
    or a passage of the labelled page)."""
    sent = [(q, c) for q, c in zip(gold, chosen, strict=True) if c.kind == "reviewed"]
    covered = [(q, c) for q, c in zip(gold, chosen, strict=True) if q.topic != "none"]
    uncovered = [(q, c) for q, c in zip(gold, chosen, strict=True) if q.topic == "none"]
    quoted = [(q, c) for q, c in zip(gold, chosen, strict=True) if c.kind == "passage"]

    def right_passage(q: Question, c: AnswerChoice) -> bool:
        p = c.passage
        return p is not None and (p.document, p.page) == (q.document, q.page)

    return {
        "precision": _share(q.topic == c.topic for q, c in sent),
        "coverage": _share(q.topic == c.topic for q, c in covered),
        "honest": _share(
            c.kind == "none" or (c.kind == "passage" and right_passage(q, c)) for q, c in uncovered
        ),
        "passage_precision": _share(right_passage(q, c) for q, c in quoted),
        "sent": len(sent),
        "quoted": len(quoted),
        "questions": len(gold),
    }


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else 0.0


def main(argv: Iterable[str] | None = None) -> int:
    args = training_arguments(__doc__ or "", MODEL_FILE, argv)
    digest = data_digest()
    if args.if_changed and up_to_date(args.out, RelevanceWeights.load, digest):
        say("The answer relevance decision is up to date.")
        return 0
    say("Training the answer relevance decision (reviewed answers, document passages)...")
    try:
        kb = load_knowledge_base(KB_FILE)
        written = _questions(WRITTEN_FILE, source="written")
        training = _questions(TRAINING_FILE)
        development = _questions(REAL_FILE, split="dev")
        nlu = [
            (i.split("/", 1)[1], t) for i, t in nlu_intent_examples(NLU_DIR) if i.startswith("faq/")
        ]
    except (CorpusError, KeyError, ValueError, TypeError) as exc:
        say(f"Cannot read the training data: {exc}")
        return 1
    topics = tuple(kb.answers)
    embed = CachedEmbeddings(CACHE_FILE)
    embedder = Embedder()
    say("  indexing the documents' passages (kept in var/ until a document changes)")
    index = build_index(kb, embedder, CACHE_DIR)
    example_vectors = embed([t for _, t in nlu], "NLU examples")
    written_vectors = embed([q.text for q in written], "written questions")
    skeleton = RelevanceWeights(
        topics=topics,
        coef=np.zeros(len(FEATURES), np.float32),
        intercept=0.0,
        threshold=1.0,
        passage_threshold=1.0,
        lead_margin=LEAD_MARGIN,
        example_vectors=example_vectors,
        example_topics=np.array([topics.index(t) for t, _ in nlu], np.int32),
        written_vectors=written_vectors,
        written_topics=np.array([topics.index(q.theme) for q in written], np.int32),
        written_answered=np.array([q.topic != "none" for q in written], np.bool_),
    )
    refs = references(kb, skeleton, embedder, index)
    real = training + development
    real_vectors = embed([q.text for q in real], "real questions")
    say("  comparing every question with the answers, examples and passages")
    real_rows = [refs.evidence(v, q.language) for q, v in zip(real, real_vectors, strict=True)]
    written_rows = [
        _without_self(refs, skeleton, i, v, q.language)
        for i, (q, v) in enumerate(zip(written, written_vectors, strict=True))
    ]

    def pairs(rows: Sequence[Any], gold: Sequence[Question]) -> tuple[FloatArray, FloatArray]:
        x = np.vstack([r.rows for r in rows])
        y = np.concatenate([[q.topic == t for t in topics] for q in gold]).astype(np.float32)
        return x, y

    xw, yw = pairs(written_rows, written)
    groups = sorted({q.source for q in real})
    rng = np.random.default_rng(SEED)
    rng.shuffle(groups)
    fold_of = {g: i % FOLDS for i, g in enumerate(groups)}
    best: tuple[float, dict[str, Any], np.ndarray] | None = None
    for setting in SETTINGS:
        scores = np.zeros((len(real), len(topics)), np.float32)
        for fold in range(FOLDS):
            train = [i for i, q in enumerate(real) if fold_of[q.source] != fold]
            test = [i for i, q in enumerate(real) if fold_of[q.source] == fold]
            model = _fit(
                xw, yw, *pairs([real_rows[i] for i in train], [real[i] for i in train]), setting
            )
            for i in test:
                scores[i] = model.predict_proba(real_rows[i].rows)[:, 1]
        threshold, measured = _threshold(real, scores, topics)
        objective = _objective(measured)
        say(f"  C={setting['C']}, written weight {setting['written_weight']}: threshold "
            f"{threshold:.2f}, {_describe(measured)}")  # fmt: skip
        if best is None or objective > best[0]:
            best = (objective, {**setting, "threshold": threshold, **measured}, scores)
    assert best is not None
    _, chosen_setting, oof = best
    threshold = float(chosen_setting["threshold"])
    passage_threshold, passage_figures = _passage_threshold(
        development, real, real_rows, oof, threshold
    )
    say(f"  chosen: C={chosen_setting['C']}, threshold {threshold:.2f}; passages quoted from "
        f"{passage_threshold:.3f} ({_describe(passage_figures)})")  # fmt: skip
    final = _fit(xw, yw, *pairs(real_rows, real), chosen_setting)
    weights = RelevanceWeights(
        topics=topics,
        coef=final.coef_[0].astype(np.float32),
        intercept=float(final.intercept_[0]),
        threshold=threshold,
        passage_threshold=passage_threshold,
        lead_margin=LEAD_MARGIN,
        example_vectors=skeleton.example_vectors,
        example_topics=skeleton.example_topics,
        written_vectors=skeleton.written_vectors,
        written_topics=skeleton.written_topics,
        written_answered=skeleton.written_answered,
        metadata={
            "data_digest": digest,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "setting": {
                "C": chosen_setting["C"],
                "written_weight": chosen_setting["written_weight"],
            },
            "cross_validated": {k: chosen_setting[k] for k in ("precision", "coverage", "honest")},
            "passages_on_development": passage_figures,
            "trained_on": {
                "written": len(written),
                "training": len(training),
                "development": len(development),
                "nlu_examples": len(nlu),
            },
        },
    )
    weights.save(args.out)
    say(f"  written {args.out}")
    return 0


def _without_self(
    refs: References, weights: RelevanceWeights, i: int, vector: FloatArray, language: str
) -> Any:
    """A written question's evidence, compared with every written question but itself."""
    keep = np.ones(len(weights.written_vectors), bool)
    keep[i] = False
    n = len(weights.topics)
    own = References(
        topics=refs.topics,
        statements=refs.statements,
        statement_vectors=refs.statement_vectors,
        examples=refs.examples,
        answered=[
            weights.written_vectors[keep & (weights.written_topics == t) & weights.written_answered]
            for t in range(n)
        ],
        missed=[
            weights.written_vectors[
                keep & (weights.written_topics == t) & ~weights.written_answered
            ]
            for t in range(n)
        ],
        index=refs.index,
    )
    return own.evidence(vector, language)


def _fit(
    xw: FloatArray, yw: FloatArray, xr: FloatArray, yr: FloatArray, setting: dict[str, Any]
) -> LogisticRegression:
    x = np.vstack([xw, xr])
    y = np.concatenate([yw, yr])
    weight = np.concatenate([np.full(len(yw), setting["written_weight"]), np.ones(len(yr))])
    model = LogisticRegression(C=setting["C"], class_weight="balanced", max_iter=5000)
    return model.fit(x, y, sample_weight=weight)


def _choices(scores: np.ndarray, topics: Sequence[str], threshold: float) -> list[AnswerChoice]:
    return [
        AnswerChoice(kind="reviewed", topic=topics[int(row.argmax())])
        if row.max() >= threshold
        else AnswerChoice(kind="none")
        for row in scores
    ]


def _threshold(
    real: Sequence[Question], scores: np.ndarray, topics: Sequence[str]
) -> tuple[float, dict[str, float | int]]:
    candidates = []
    for threshold in np.arange(0.30, 0.991, 0.01):
        measured = figures(real, _choices(scores, topics, float(threshold)))
        candidates.append((round(float(threshold), 2), measured))
    return max(candidates, key=lambda c: (_objective(c[1]), -c[0]))


def _objective(measured: dict[str, float | int]) -> float:
    """The balance of the three figures against their floors (0.90, 0.85, 0.85)."""
    return min(
        float(measured["precision"]) / 0.90,
        float(measured["coverage"]) / 0.85,
        float(measured["honest"]) / 0.85,
    )


def _passage_threshold(
    development: Sequence[Question],
    real: Sequence[Question],
    rows: Sequence[Any],
    scores: np.ndarray,
    threshold: float,
) -> tuple[float, dict[str, float | int]]:
    """The lowest passage similarity at which the passages quoted to development questions (those
    with page labels) are the labelled page often enough."""
    offset = len(real) - len(development)
    dev_rows = rows[offset:]
    dev_scores = scores[offset:]
    best_topic_prob = dev_scores.max(axis=1)
    for candidate in np.arange(0.80, 0.951, 0.005):
        chosen = []
        for _q, r, p in zip(development, dev_rows, best_topic_prob, strict=True):
            if p >= threshold:
                chosen.append(AnswerChoice(kind="reviewed", topic="?"))
            elif r.passages and r.passages[0][1] >= candidate:
                chosen.append(AnswerChoice(kind="passage", passage=r.passages[0][0]))
            else:
                chosen.append(AnswerChoice(kind="none"))
        measured = figures(development, chosen)
        if measured["quoted"] >= 3 and measured["passage_precision"] >= MIN_PASSAGE_PRECISION:
            return round(float(candidate), 3), measured
    return 1.0, {"quoted": 0}


def _describe(measured: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in measured.items()
    )


if __name__ == "__main__":
    sys.exit(main())
