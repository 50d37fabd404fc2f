"""The labelled messages the reader learns from, and the evaluation sets' format.

Two sources, both in the repository:

- `bot/listening/data/sentiment.yml`: short citizen messages written for the reader, each with
  its sentiment and topics;
- the assistant's NLU data (`nlu/`): each intent's examples take the sentiment of the intent
  (`NLU_SENTIMENT`: a report of a concern reads negative, an FAQ question neutral, thanks
  positive), except those listed under `nlu_relabel` in `sentiment.yml`. They also give each
  topic its examples (`topic_examples`): the FAQ questions of `faq/<topic>` and the concerns of a
  category (`# category: <name>` groups of `report_concern`).

Only training, the tests and the benchmark read these files; the running assistant reads the
trained `reader.npz`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from bot.common.categories import read_labelled_examples
from bot.common.text import clean_text, fold
from bot.listening.reading import SENTIMENTS, TOPICS, Sentiment

DATA_DIR = Path(__file__).parent / "data"
WRITTEN_EXAMPLES = DATA_DIR / "sentiment.yml"
CONCERN_FILE = Path("conversation") / "report_concern.yml"
EXCLUDE = "exclude"

# The sentiment an intent's examples usually carry. Intents not listed (out_of_scope: weather,
# hockey, homework...) say nothing about the project and are left out.
NLU_SENTIMENT: dict[str, Sentiment] = {
    "report_concern": "negative",
    "express_support": "positive",
    "thank": "positive",
    "greet": "neutral",
    "goodbye": "neutral",
    "affirm": "neutral",
    "deny": "neutral",
    "bot_challenge": "neutral",
    "change_language": "neutral",
    "ask_human": "neutral",
    "ask_concern_status": "neutral",
    "subscribe_updates": "neutral",
    "unsubscribe_updates": "neutral",
    "forget_me": "neutral",
    "faq": "neutral",
}


class CorpusError(Exception):
    """A labelled-data file is missing or malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Example:
    """One labelled message.

    Attributes:
        text: the message.
        sentiment: its sentiment.
        topics: the topics it speaks of (maybe none).
        language: "fr" or "en" when known (the NLU examples do not say).
        source: "written" (sentiment.yml), "nlu:<intent>", or the evaluation file's name.
    """

    text: str
    sentiment: Sentiment
    topics: tuple[str, ...] = ()
    language: str | None = None
    source: str = "written"


def folded(text: str) -> str:
    """The form two texts are compared in to tell whether they are the same message."""
    return " ".join(fold(clean_text(text)).split())


def text_digest(text: str) -> int:
    """The 8-byte digest of a text's folded form (the trained model keeps these of its training
    texts, so that a test can tell that no evaluation text was trained on)."""
    return int.from_bytes(hashlib.blake2b(folded(text).encode(), digest_size=8).digest(), "big")


def training_data_digest(nlu_dir: Path, evaluation_dir: Path) -> str:
    """A digest of everything training reads: `sentiment.yml`, the NLU files, and the
    evaluation sets (their texts are left out of training). It changes when any of them does."""
    digest = hashlib.sha256()
    files = [
        WRITTEN_EXAMPLES,
        *sorted(nlu_dir.glob("**/*.yml")),
        *sorted(evaluation_dir.glob("*.yml")),
    ]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def load_messages(path: Path, *, source: str | None = None) -> list[Example]:
    """The `messages:` of a labelled file: `{text, lang, sentiment, topics}` entries.

    This is the format of `sentiment.yml` and of the held-out set in `tests/data/`.

    Raises:
        CorpusError: when the file is missing or an entry is malformed.
    """
    document = read_yaml(path)
    entries = document.get("messages")
    if not isinstance(entries, list):
        raise CorpusError(f"{path}: no 'messages:' list")
    examples: list[Example] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CorpusError(f"{path}: message {number} is not a mapping")
        text, sentiment = entry.get("text"), entry.get("sentiment")
        if not isinstance(text, str) or not text.strip():
            raise CorpusError(f"{path}: message {number} has no text")
        if sentiment not in SENTIMENTS:
            raise CorpusError(f"{path}: message {number} has sentiment {sentiment!r}")
        topics = entry.get("topics") or []
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise CorpusError(f"{path}: message {number} has unknown topics {unknown}")
        language = entry.get("lang")
        examples.append(
            Example(
                text=text,
                sentiment=cast(Sentiment, sentiment),
                topics=tuple(topics),
                language=str(language) if language else None,
                source=source or path.name,
            )
        )
    return examples


def written_examples(path: Path = WRITTEN_EXAMPLES) -> list[Example]:
    """The messages written for the reader (`sentiment.yml`)."""
    return load_messages(path, source="written")


def nlu_relabelled(path: Path = WRITTEN_EXAMPLES) -> dict[str, str]:
    """NLU examples whose tone differs from their intent's: folded text -> sentiment or EXCLUDE.

    Raises:
        CorpusError: when an entry is neither a sentiment nor `exclude`.
    """
    entries = read_yaml(path).get("nlu_relabel") or {}
    if not isinstance(entries, dict):
        raise CorpusError(f"{path}: 'nlu_relabel:' is not a mapping")
    relabel: dict[str, str] = {}
    for text, label in entries.items():
        if label != EXCLUDE and label not in SENTIMENTS:
            raise CorpusError(f"{path}: nlu_relabel {text!r} has label {label!r}")
        relabel[folded(str(text))] = str(label)
    return relabel


def nlu_intent_examples(nlu_dir: Path) -> list[tuple[str, str]]:
    """(intent, text) of every example under `nlu_dir` (`faq/<topic>` for FAQ questions).

    Raises:
        CorpusError: when the folder holds no NLU file.
    """
    files = sorted(nlu_dir.glob("**/*.yml"))
    pairs: list[tuple[str, str]] = []
    for path in files:
        for block in read_yaml(path).get("nlu") or []:
            if not isinstance(block, dict) or "intent" not in block:
                continue  # regexes, lookups, synonyms
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    pairs.append((str(block["intent"]), line[2:].strip()))
    if not pairs:
        raise CorpusError(f"{nlu_dir}: no NLU examples found")
    return pairs


def nlu_examples(nlu_dir: Path, relabel: Mapping[str, str] | None = None) -> list[Example]:
    """The NLU examples with the sentiment of their intent (or their `nlu_relabel` entry) and,
    for FAQ questions and concerns, their topic."""
    relabel = nlu_relabelled() if relabel is None else relabel
    categories = _concern_categories(nlu_dir)
    examples: list[Example] = []
    for intent, text in nlu_intent_examples(nlu_dir):
        family = intent.split("/", 1)[0]
        sentiment = relabel.get(folded(text), NLU_SENTIMENT.get(family))
        if sentiment is None or sentiment == EXCLUDE:
            continue
        topics: tuple[str, ...] = ()
        if family == "faq":
            topic = intent.split("/", 1)[1]
            topics = (topic,) if topic in TOPICS else ()
        elif intent == "report_concern":
            category = categories.get(folded(text))
            topics = (category,) if category in TOPICS else ()
        examples.append(
            Example(
                text=text,
                sentiment=cast(Sentiment, sentiment),
                topics=topics,
                source=f"nlu:{intent}",
            )
        )
    return examples


def topic_examples(nlu_dir: Path) -> dict[str, list[str]]:
    """Per topic of `TOPICS`, the NLU examples that speak of it: the FAQ questions of
    `faq/<topic>` and the concerns of the category of that name."""
    by_topic: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    for intent, text in nlu_intent_examples(nlu_dir):
        if intent.startswith("faq/") and intent[4:] in by_topic:
            by_topic[intent[4:]].append(text)
    for text, category in read_labelled_examples(nlu_dir / CONCERN_FILE):
        if category in by_topic:
            by_topic[category].append(text)
    return by_topic


def overlap(texts: Iterable[str], others: Iterable[str]) -> set[str]:
    """The folded texts found in both collections."""
    return {folded(t) for t in texts} & {folded(t) for t in others}


def _concern_categories(nlu_dir: Path) -> dict[str, str]:
    path = nlu_dir / CONCERN_FILE
    if not path.exists():
        return {}
    return {folded(text): category for text, category in read_labelled_examples(path)}


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping a labelled-data YAML file holds.

    Raises:
        CorpusError: when the file is missing, not YAML or not a mapping.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CorpusError(f"{path} is missing") from exc
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise CorpusError(f"{path}: expected a mapping at the top")
    return document
