"""The intent reader (bot/listening/intents.py): ideas and offers to help heard beside the
dialogue's intent in short messages, the rule of which intent a turn acts on, the weights file,
and the shipped model on plain cases. Its figures on held-out messages of other writers are
measured with the dialogue by tests/e2e/test_nlu.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.listening.corpus import folded
from bot.listening.intents import (
    HEARD_INTENTS,
    KEPT_INTENTS,
    MODEL_FILE,
    YIELDING_INTENTS,
    GuardedIntentReader,
    HeardIntent,
    IntentModelError,
    IntentReader,
    IntentWeights,
    acted_intent,
    opening_sentence,
    yields,
)
from bot.listening.model import CUE_NAMES
from bot.listening.train_concerns import TrainingDataError, evaluation_texts
from bot.listening.train_intents import (
    DEVELOPMENT_SETS,
    REAL_TRAINING_FILE,
    WRITTEN_TRAINING_FILE,
    data_digest,
    development_examples,
    examples,
    real_examples,
)
from bot.settings import PROJECT_ROOT
from tests.support.overlap import repeated


def _weights(weights: np.ndarray, bias: np.ndarray, labels: tuple[str, ...]) -> IntentWeights:
    """Weights with these arrays and the shipped settings' values."""
    return IntentWeights(
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        labels=labels,
        threshold=0.7,
        idea_threshold=0.4,
        volunteer_threshold=0.6,
        max_words=25,
        long_words=40,
        long_threshold=0.9,
    )


def test_missing_or_broken_weights_name_the_file_and_how_to_rebuild(tmp_path: Path) -> None:
    with pytest.raises(IntentModelError, match="missing: rebuild them with `make train`"):
        IntentWeights.load(tmp_path / "none.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(IntentModelError, match="cannot be read"):
        IntentWeights.load(broken)
    wrong = tmp_path / "wrong.npz"
    _weights(np.zeros((2, 384 + len(CUE_NAMES) - 1)), np.zeros(2), HEARD_INTENTS).save(wrong)
    with pytest.raises(IntentModelError, match="do not match this version"):
        IntentWeights.load(wrong)


async def test_without_usable_weights_nothing_is_heard_and_it_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = GuardedIntentReader(IntentReader(tmp_path / "none.npz"))
    assert await guarded.hear("J'ai une idée : une patinoire couverte") is None
    assert await guarded.hear("Idée : un sentier entre les éoliennes") is None
    assert len([r for r in caplog.records if "intent reader" in r.getMessage()]) == 1
    assert await GuardedIntentReader(None).hear("idea: a rink") is None


def test_the_shipped_weights_are_those_of_the_repositorys_examples() -> None:
    weights = IntentWeights.load(MODEL_FILE)
    assert set(HEARD_INTENTS) <= set(weights.labels)
    assert weights.metadata["data_digest"] == data_digest(), "run `make train`"
    assert 0.5 <= weights.threshold < 1
    assert 0.3 <= weights.idea_threshold < weights.volunteer_threshold <= weights.threshold
    assert weights.threshold < weights.long_threshold < 1
    assert weights.max_words == 25 < weights.long_words


def _weights_that_say(tmp_path: Path, probabilities: dict[str, float]) -> IntentReader:
    """A reader whose weights give every message these probabilities (by their bias alone)."""
    labels = tuple(probabilities)
    path = tmp_path / "intents.npz"
    bias = np.log(np.array([probabilities[label] for label in labels]))
    _weights(np.zeros((len(labels), 384 + len(CUE_NAMES))), bias, labels).save(path)
    return IntentReader(path)


@pytest.mark.parametrize(
    ("probabilities", "heard"),
    [
        ({"share_idea": 0.8, "faq": 0.15, "volunteer": 0.05}, ("share_idea", True)),
        ({"share_idea": 0.5, "faq": 0.45, "volunteer": 0.05}, ("share_idea", False)),
        ({"share_idea": 0.35, "faq": 0.33, "volunteer": 0.32}, None),
        ({"volunteer": 0.8, "faq": 0.15, "share_idea": 0.05}, ("volunteer", True)),
        ({"volunteer": 0.65, "faq": 0.3, "share_idea": 0.05}, ("volunteer", False)),
        ({"volunteer": 0.5, "faq": 0.45, "share_idea": 0.05}, None),
        ({"faq": 0.55, "share_idea": 0.42, "volunteer": 0.03}, None),
    ],
)
def test_a_proposal_and_an_offer_to_help_are_heard_from_their_thresholds_firmly_from_0_7(
    tmp_path: Path, probabilities: dict[str, float], heard: tuple[str, bool] | None
) -> None:
    found = _weights_that_say(tmp_path, probabilities).hear("why not a bench on the hill?")
    assert (None if found is None else (found.intent, found.firm)) == heard


@pytest.mark.parametrize(
    ("words", "probability", "heard"),
    [
        (25, 0.5, True),
        (26, 0.5, False),
        (26, 0.89, False),
        (26, 0.92, True),
        (40, 0.92, True),
        (41, 0.99, False),
    ],
)
def test_a_longer_message_is_heard_only_when_the_reader_is_sure_and_a_long_one_never(
    tmp_path: Path, words: int, probability: float, heard: bool
) -> None:
    rest = (1 - probability) / 2
    reader = _weights_that_say(
        tmp_path, {"share_idea": probability, "faq": rest, "volunteer": rest}
    )
    assert (reader.hear(" ".join(["idée"] * words)) is not None) == heard


@pytest.mark.parametrize(
    ("opening", "rest", "probability", "heard"),
    [
        (8, 60, 0.92, True),  # a long message heard by its chat-length opening sentence
        (8, 60, 0.89, False),  # ... only when the reader is sure
        (25, 60, 0.99, True),
        (26, 60, 0.99, False),  # an opening sentence that is itself long is not read
    ],
)
def test_a_long_message_is_heard_by_its_opening_sentence_only_when_the_reader_is_sure(
    tmp_path: Path, opening: int, rest: int, probability: float, heard: bool
) -> None:
    other = (1 - probability) / 2
    reader = _weights_that_say(
        tmp_path, {"volunteer": probability, "faq": other, "share_idea": other}
    )
    text = " ".join(["aide"] * opening) + ". " + " ".join(["Voilà pourquoi."] * (rest // 2))
    assert len(text.split()) > 40
    assert (reader.hear(text) is not None) == heard


def test_the_opening_sentence_ends_at_the_first_full_stop_question_or_exclamation_mark() -> None:
    assert opening_sentence("Count me in! I farm on range 5. Call me.") == "Count me in!"
    assert opening_sentence("Je peux aider… J'ai un tracteur.") == "Je peux aider…"
    assert opening_sentence("no full stop at all") == "no full stop at all"


@pytest.mark.parametrize(
    ("dialogue", "heard", "acted"),
    [
        ("faq/traffic", "share_idea", "share_idea"),
        ("out_of_scope", "volunteer", "volunteer"),
        ("volunteer", "share_idea", "share_idea"),
        ("faq/traffic", None, "faq/traffic"),
        ("share_idea", "volunteer", "volunteer"),  # a firm offer to help: joining offered too
        ("share_idea", "weak share_idea", "share_idea"),
        ("volunteer", "weak share_idea", "volunteer"),  # needs the firm threshold
        ("faq/traffic", "weak share_idea", "share_idea"),
        ("ask_human", "share_idea", "ask_human"),  # a person was asked for: that stands
        ("forget_me", "volunteer", "forget_me"),
        ("unsubscribe_updates", "volunteer", "unsubscribe_updates"),
        # An offer to interpret, or to hand out the newsletter, is not a language or news request.
        ("change_language", "volunteer", "volunteer"),
        ("subscribe_updates", "share_idea", "share_idea"),
        ("change_language", "weak share_idea", "change_language"),  # needs the firm threshold
        ("subscribe_updates", "weak share_idea", "subscribe_updates"),
    ],
)
def test_which_intent_a_turn_acts_on(dialogue: str, heard: str | None, acted: str) -> None:
    if heard is None:
        found = None
    elif heard.startswith("weak "):
        found = HeardIntent(heard.removeprefix("weak "), 0.5, firm=False)
    else:
        found = HeardIntent(heard, 0.9)
    assert acted_intent(dialogue, found) == acted


def test_the_kept_intents_have_acted_already() -> None:
    assert {"ask_human", "forget_me", "ask_concern_status", "affirm", "deny"} <= KEPT_INTENTS
    assert not {"out_of_scope", "nlu_fallback", "express_support", "share_idea"} & KEPT_INTENTS
    assert not YIELDING_INTENTS & KEPT_INTENTS


@pytest.mark.parametrize(
    ("dialogue", "heard", "gives_way"),
    [
        ("change_language", HeardIntent("volunteer", 0.9), True),
        ("subscribe_updates", HeardIntent("share_idea", 0.9), True),
        ("subscribe_updates", HeardIntent("share_idea", 0.5, firm=False), False),
        ("subscribe_updates", None, False),
        ("faq/traffic", HeardIntent("share_idea", 0.9), False),  # the core takes it, not an action
        ("ask_human", HeardIntent("volunteer", 0.9), False),
    ],
)
def test_which_requests_give_way_to_an_idea_or_an_offer_to_help(
    dialogue: str, heard: HeardIntent | None, gives_way: bool
) -> None:
    assert yields(dialogue, heard) is gives_way


@pytest.fixture(scope="module")
def reader() -> IntentReader:
    found = IntentReader()
    found.warm_up()
    return found


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("J'ai une idée pour le fonds communautaire : une patinoire couverte pour les jeunes", "share_idea"),
        ("Suggestion: use part of the community fund to fix up the outdoor rink", "share_idea"),
        ("Je veux m'impliquer dans le comité de suivi, comment faire?", "volunteer"),
        ("How can I help with the project?", "volunteer"),
        ("When do the works start?", None),
        ("Est-ce qu'il y aura du bruit la nuit?", None),
        ("Les camions passent devant chez nous et j'ai peur pour mes enfants", None),
    ],
)  # fmt: skip
def test_plain_cases(reader: IntentReader, text: str, intent: str | None) -> None:
    heard = reader.hear(text)
    assert (heard.intent if heard else None) == intent


def test_a_long_statement_is_read_by_its_opening_sentence_alone(reader: IntentReader) -> None:
    offer = "I'd like to put my name forward for a resident seat on the follow-up committee."
    story = " ".join(["We have lived on this road for thirty years."] * 4)
    assert len(f"{offer} {story}".split()) > 40
    heard = reader.hear(f"{offer} {story}")
    assert heard is not None
    assert heard.intent == "volunteer"
    # Said after the story, the same offer is not heard: the long message is not read whole.
    assert reader.hear(f"{story} {offer}") is None


def _address(url: str) -> str:
    return url.split("://", 1)[-1].removeprefix("www.").rstrip("/")


def test_the_real_training_statements_share_no_source_or_words_with_an_evaluation_set() -> None:
    gathered = yaml.safe_load(REAL_TRAINING_FILE.read_text())
    addresses = {_address(source["url"]) for source in gathered["sources"]}
    assert {e["source"] for e in gathered["examples"]} <= {s["id"] for s in gathered["sources"]}
    evaluation = PROJECT_ROOT / "tests" / "data"
    evaluated: list[str] = []
    for path in sorted(evaluation.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        for source in document.get("sources") or []:
            assert _address(source["url"]) not in addresses, (path.name, source["url"])
        for key in ("messages", "statements", "questions", "paraphrases"):
            evaluated += [e["text"] for e in document.get(key) or [] if isinstance(e, dict)]
    assert repeated(evaluated, [text for _, text in real_examples()]) == []
    # The examples written for the reader alone were written after reading two evaluation sets.
    written = real_examples(WRITTEN_TRAINING_FILE)
    assert {label for label, _ in written} == {"share_idea", "volunteer"}
    assert repeated(evaluated, [text for _, text in written]) == []


def test_the_reader_never_trains_on_a_set_it_is_measured_on() -> None:
    trained = {folded(text) for _, text in examples()}
    assert not trained & evaluation_texts(trained_on=DEVELOPMENT_SETS)
    assert {folded(text) for _, text in development_examples()} - trained  # shared ones left out


def test_a_malformed_development_message_is_named(tmp_path: Path) -> None:
    for name in DEVELOPMENT_SETS:
        (tmp_path / name).write_text(
            "messages:\n  - {text: 'why not a rink?', intent: share_idea}\n"
        )
    (tmp_path / DEVELOPMENT_SETS[-1]).write_text("messages:\n  - {text: 'hm'}\n")
    with pytest.raises(
        TrainingDataError, match=r"blind6\.yml: message 1 needs a text and an intent"
    ):
        development_examples(tmp_path)


def test_a_malformed_real_statement_is_named(tmp_path: Path) -> None:
    path = tmp_path / "real.yml"
    path.write_text(
        "examples:\n  - {text: 'why not a rink?', intent: share_idea}\n  - {text: 'hm'}\n"
    )
    with pytest.raises(TrainingDataError, match=r"real\.yml: entry 2 needs a text and an intent"):
        real_examples(path)
    path.write_text("sources: []\n")
    with pytest.raises(TrainingDataError, match="no 'examples:' list"):
        real_examples(path)
