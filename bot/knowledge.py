"""The project's knowledge base: the reviewed answers the assistant may give.

`knowledge/project.yml` is what a promoter edits. From it we generate
`domain/knowledge.yml`, the Rasa responses `utter_faq/<topic>` (each answer in
French and English, followed by its source documents and review date) and the
greeting that names the project. The generated file is committed so that
`rasa data validate` and reviews see it; `bot kb build` rewrites it and the
managed Rasa runtime rebuilds it before every training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.common.hours import DeskHours, DeskHoursError
from bot.common.text import fold

FAQ_TOPICS = (
    "overview",
    "schedule",
    "location",
    "consultation",
    "environment",
    "noise",
    "jobs",
    "benefits",
    "traffic",
    "health_safety",
    "documents",
    "contact",
)
LANGUAGES = ("fr", "en")
GENERATED_HEADER = "# GENERATED from knowledge/project.yml by `bot kb build`: edit the knowledge base, not this file.\n"


class KnowledgeBaseError(Exception):
    """The knowledge base file is missing or incomplete; the message says where."""


@dataclass(frozen=True)
class Document:
    """A reviewed source document that answers cite."""

    id: str
    title: dict[str, str]
    date: date
    url: str
    # The document's text, per language, when the promoter put the file beside the knowledge
    # base: its passages can then be quoted (bot.answering.documents).
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """The reviewed answer to one FAQ topic."""

    topic: str
    text: dict[str, str]
    sources: tuple[Document, ...]
    reviewed: date


@dataclass(frozen=True)
class Contact:
    """How citizens reach the project team."""

    email: str
    phone: str
    office: dict[str, str]
    hours: dict[str, str]  # in words, from `opening_hours`
    opening_hours: str = ""  # e.g. "mon-thu 09:00-16:30; fri 09:00-12:00": the team's hours


@dataclass(frozen=True)
class UpdateTopic:
    """A subject of project news citizens can subscribe to (road closures, blasting...).

    Attributes:
        id: what the team types (`bot updates publish --topic blasting`) and what is stored.
        name: what citizens read, per language.
        keywords: words and phrases that recognise the topic in a message, per language (the
            names and the id recognise it too).
    """

    id: str
    name: dict[str, str]
    keywords: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the assistant knows about the project."""

    name: dict[str, str]
    promoter: dict[str, str]
    notice: dict[str, str]
    contact: Contact
    documents: dict[str, Document]
    answers: dict[str, Answer]
    update_topics: tuple[UpdateTopic, ...] = ()


def _bilingual(node: Any, where: str) -> dict[str, str]:
    if not isinstance(node, dict):
        raise KnowledgeBaseError(f"{where} must have a French and an English text (fr:, en:).")
    missing = [lang for lang in LANGUAGES if not str(node.get(lang) or "").strip()]
    if missing:
        raise KnowledgeBaseError(f"{where} has no text in {', '.join(missing)}.")
    return {lang: " ".join(str(node[lang]).split()) for lang in LANGUAGES}


def _opening_hours(node: Any) -> dict[str, Any]:
    """The team's hours: one spec (``mon-thu 09:00-16:30; fri 09:00-12:00``) that the desk
    keeps and that citizens are told in words, so the two can never disagree."""
    if not isinstance(node, str) or not node.strip():
        raise KnowledgeBaseError(
            "project.contact.hours must be the team's opening hours written like "
            "'mon-thu 09:00-16:30; fri 09:00-12:00' (the desk keeps them and citizens are "
            "told them in their language)."
        )
    try:
        hours = DeskHours.parse(node)
    except DeskHoursError as exc:
        raise KnowledgeBaseError(f"project.contact.hours: {exc}.") from exc
    return {
        "hours": {language: hours.describe(language) for language in LANGUAGES},
        "opening_hours": " ".join(node.split()),
    }


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise KnowledgeBaseError(f"{where} must be a date like 2026-01-31.") from exc


def _document_files(node: Any, base: Path, where: str) -> dict[str, Path]:
    """The document's files per language (paths relative to the knowledge base file)."""
    if node is None:
        return {}
    if not isinstance(node, dict) or any(lang not in LANGUAGES for lang in node):
        raise KnowledgeBaseError(
            f"{where}.files must map a language ({', '.join(LANGUAGES)}) to a PDF or HTML file."
        )
    files: dict[str, Path] = {}
    for lang, name in node.items():
        file = (base / str(name)).resolve()
        if not file.is_file():
            raise KnowledgeBaseError(f"{where}.files.{lang}: {file} does not exist.")
        if file.suffix.lower() not in (".pdf", ".html", ".htm"):
            raise KnowledgeBaseError(
                f"{where}.files.{lang}: {file.name} is not a PDF or HTML file."
            )
        files[str(lang)] = file
    return files


def load_knowledge_base(path: Path) -> KnowledgeBase:
    """Reads and checks the knowledge base.

    Raises:
        KnowledgeBaseError: when the file is unreadable or any topic, language or source is missing.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeBaseError(f"Cannot read the knowledge base {path}: {exc}.") from exc
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"The knowledge base {path} is not a YAML mapping.")
    project = raw.get("project") or {}
    contact = project.get("contact") or {}
    documents: dict[str, Document] = {}
    for index, doc in enumerate(raw.get("documents") or []):
        where = f"documents[{index}]"
        if not isinstance(doc, dict) or not doc.get("id") or not doc.get("url"):
            raise KnowledgeBaseError(f"{where} needs an id and a url.")
        documents[str(doc["id"])] = Document(
            id=str(doc["id"]),
            title=_bilingual(doc.get("title"), f"{where}.title"),
            date=_date(doc.get("date"), f"{where}.date"),
            url=str(doc["url"]),
            files=_document_files(doc.get("files"), path.parent, where),
        )
    faq = raw.get("faq") or {}
    answers: dict[str, Answer] = {}
    for topic in (*FAQ_TOPICS, *_added_faq_topics(faq)):
        entry = faq.get(topic)
        if not isinstance(entry, dict):
            raise KnowledgeBaseError(
                f"faq.{topic} is missing: every contract topic needs an answer."
            )
        source_ids = entry.get("sources") or []
        if not source_ids:
            raise KnowledgeBaseError(f"faq.{topic} names no source document.")
        unknown = [str(s) for s in source_ids if str(s) not in documents]
        if unknown:
            raise KnowledgeBaseError(f"faq.{topic} cites unknown documents: {', '.join(unknown)}.")
        answers[topic] = Answer(
            topic=topic,
            text=_bilingual(entry.get("answer"), f"faq.{topic}.answer"),
            sources=tuple(documents[str(s)] for s in source_ids),
            reviewed=_date(entry.get("reviewed"), f"faq.{topic}.reviewed"),
        )
    return KnowledgeBase(
        name=_bilingual(project.get("name"), "project.name"),
        promoter=_bilingual(project.get("promoter"), "project.promoter"),
        notice=_bilingual(
            project.get("fictional_notice") or project.get("notice"), "project.fictional_notice"
        ),
        contact=Contact(
            email=str(contact.get("email") or ""),
            phone=str(contact.get("phone") or ""),
            office=_bilingual(contact.get("office"), "project.contact.office"),
            **_opening_hours(contact.get("hours")),
        ),
        documents=documents,
        answers=answers,
        update_topics=_update_topics(raw.get("update_topics")),
    )


_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def _update_topics(node: Any) -> tuple[UpdateTopic, ...]:
    """The `update_topics` section: optional; each topic with an id, bilingual names and
    keywords, no keyword shared by two topics."""
    if node is None:
        return ()
    if not isinstance(node, list):
        raise KnowledgeBaseError("update_topics must be a list of topics (- id: ...).")
    topics: list[UpdateTopic] = []
    owner: dict[str, str] = {}  # folded keyword -> topic id
    for index, entry in enumerate(node):
        where = f"update_topics[{index}]"
        if not isinstance(entry, dict):
            raise KnowledgeBaseError(f"{where} must be a mapping with an id, a name and keywords.")
        topic_id = str(entry.get("id") or "")
        if not _TOPIC_ID.match(topic_id):
            raise KnowledgeBaseError(
                f"{where}.id must be 2 to 64 characters among a-z, 0-9 and _, starting with a "
                f"letter (found {topic_id!r})."
            )
        if any(t.id == topic_id for t in topics):
            raise KnowledgeBaseError(f"{where}.id {topic_id} is used twice.")
        where = f"update_topics.{topic_id}"
        name = _bilingual(entry.get("name"), f"{where}.name")
        raw_keywords = entry.get("keywords") or {}
        if not isinstance(raw_keywords, dict):
            raise KnowledgeBaseError(f"{where}.keywords must have a list per language (fr:, en:).")
        keywords: dict[str, tuple[str, ...]] = {}
        for language in LANGUAGES:
            listed = raw_keywords.get(language) or []
            if not isinstance(listed, list) or not all(
                isinstance(k, str) and k.strip() for k in listed
            ):
                raise KnowledgeBaseError(
                    f"{where}.keywords.{language} must be a list of words or phrases."
                )
            keywords[language] = tuple(" ".join(k.split()) for k in listed)
        every = {topic_id.replace("_", " "), *name.values()}
        every.update(k for listed in keywords.values() for k in listed)
        for keyword in every:
            folded = fold(" ".join(keyword.split()))
            if owner.setdefault(folded, topic_id) != topic_id:
                raise KnowledgeBaseError(
                    f"{where}: the keyword {keyword!r} also belongs to update_topics."
                    f"{owner[folded]}; a keyword may name one topic only."
                )
        topics.append(UpdateTopic(id=topic_id, name=name, keywords=keywords))
    return tuple(topics)


FAQ_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
"""What a FAQ topic added to the contract's may be called (it becomes the intent faq/<topic>)."""
MIN_TRAINING_EXAMPLES = 2  # below this, Rasa warns that training may fail


def _added_faq_topics(faq: Any) -> list[str]:
    """The FAQ topics beyond the contract's (added with `bot kb adopt`), checked like them."""
    if not isinstance(faq, dict):
        raise KnowledgeBaseError("faq must be a mapping of topics (topic: answer, sources...).")
    added = [str(topic) for topic in faq if str(topic) not in FAQ_TOPICS]
    for topic in added:
        if not FAQ_TOPIC_ID.match(topic):
            raise KnowledgeBaseError(
                f"faq.{topic}: a topic is 2 to 40 characters among a-z, 0-9 and _, starting "
                "with a letter."
            )
        if not isinstance(faq[topic], dict):
            raise KnowledgeBaseError(f"faq.{topic} needs an answer, sources and a reviewed date.")
    return added


def training_examples(nlu_dir: Path) -> dict[str, list[str]]:
    """Every intent's training examples in the Rasa NLU files under `nlu_dir`.

    Raises:
        KnowledgeBaseError: when a file is unreadable.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(nlu_dir.rglob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KnowledgeBaseError(f"Cannot read the training data {path}: {exc}.") from exc
        items = data.get("nlu") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "intent" in item:
                lines = str(item.get("examples") or "").splitlines()
                examples = [line.strip()[2:].strip() for line in lines if line.strip()[:2] == "- "]
                found.setdefault(str(item["intent"]), []).extend(examples)
    return found


def check_training_examples(kb: KnowledgeBase, nlu_dir: Path) -> None:
    """Checks that every FAQ topic beyond the contract's has training examples.

    Raises:
        KnowledgeBaseError: naming the first topic the model could not learn to recognise.
    """
    examples = training_examples(nlu_dir)
    for topic in kb.answers:
        count = len(examples.get(f"faq/{topic}", []))
        if topic not in FAQ_TOPICS and count < MIN_TRAINING_EXAMPLES:
            raise KnowledgeBaseError(
                f"faq.{topic} has {count} training examples in {nlu_dir}; the model needs at "
                f"least {MIN_TRAINING_EXAMPLES} (nlu/faq/{topic}.yml, intent faq/{topic})."
            )


_SOURCE_LABEL = {"fr": "Source", "en": "Source"}
_SOURCES_LABEL = {"fr": "Sources", "en": "Sources"}
_REVIEWED = {"fr": "Réponse révisée le {date}.", "en": "Answer reviewed on {date}."}


def cite(answer: Answer, language: str) -> str:
    """The answer in `language` followed by its sources and review date."""
    label = (_SOURCE_LABEL if len(answer.sources) == 1 else _SOURCES_LABEL)[language]
    separator = " : " if language == "fr" else ": "
    sources = "; ".join(
        f"{doc.title[language]} ({doc.date.isoformat()}), {doc.url}" for doc in answer.sources
    )
    reviewed = _REVIEWED[language].format(date=answer.reviewed.isoformat())
    # One line break, not two: Rasa's REST channel splits a text into messages at blank lines.
    return f"{answer.text[language]}\n{label}{separator}{sources}. {reviewed}"


def contact_line(kb: KnowledgeBase, language: str) -> str:
    """One sentence with the team's contact details."""
    c = kb.contact
    if language == "fr":
        return f"{c.email}, {c.phone}, {c.office['fr']} ({c.hours['fr']})"
    return f"{c.email}, {c.phone}, {c.office['en']} ({c.hours['en']})"


_GREETING = {
    "fr": (
        "Bonjour! Je suis l'assistant automatisé (un robot, pas une personne) du projet {name}. "
        "Je réponds aux questions sur le projet à partir de documents révisés, en citant mes sources, "
        "et je note vos préoccupations pour l'équipe du projet. Vous pouvez aussi demander à parler "
        "à une personne. Écrivez-moi en français ou en anglais. {notice}"
    ),
    "en": (
        "Hello! I am the automated assistant (a bot, not a person) of the {name} project. "
        "I answer questions about the project from reviewed documents, citing my sources, and I log "
        "your concerns for the project team. You can also ask to talk to a person. You can write to "
        "me in English or French. {notice}"
    ),
}
_IAMABOT = {
    "fr": (
        "Oui, je suis un robot : l'assistant automatisé du projet {name}. Je ne réponds qu'à partir "
        "des documents révisés du projet et je vous dis quand je ne sais pas. Si vous préférez "
        "une personne de l'équipe, dites « parler à quelqu'un »."
    ),
    "en": (
        "Yes, I am a bot: the automated assistant of the {name} project. I only answer from the "
        "project's reviewed documents and I tell you when I don't know. If you would rather talk "
        'to a person from the team, say "talk to a person".'
    ),
}


def _variations(texts: dict[str, str]) -> list[dict[str, Any]]:
    variations: list[dict[str, Any]] = [
        {"text": texts[lang], "condition": [{"type": "slot", "name": "language", "value": lang}]}
        for lang in LANGUAGES
    ]
    # Without a language slot (a turn Rasa saw before ours set it), French is the default.
    variations.append({"text": texts["fr"]})
    return variations


def render_domain(kb: KnowledgeBase) -> str:
    """The Rasa domain file generated from the knowledge base."""
    responses: dict[str, Any] = {
        "utter_greet": _variations(
            {
                lang: _GREETING[lang].format(name=kb.name[lang], notice=kb.notice[lang])
                for lang in LANGUAGES
            }
        ),
        "utter_iamabot": _variations(
            {lang: _IAMABOT[lang].format(name=kb.name[lang]) for lang in LANGUAGES}
        ),
    }
    for topic, answer in kb.answers.items():
        responses[f"utter_faq/{topic}"] = _variations(
            {lang: cite(answer, lang) for lang in LANGUAGES}
        )
    body = yaml.safe_dump(
        {"version": "3.1", "intents": ["faq"], "responses": responses},
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )
    return GENERATED_HEADER + body


def build_domain_file(kb_path: Path, domain_path: Path, *, nlu_dir: Path | None = None) -> bool:
    """Writes the generated domain file; returns True when its content changed.

    Args:
        kb_path: the knowledge base.
        domain_path: the generated file, ``<Rasa project>/domain/knowledge.yml``.
        nlu_dir: the training data (default: the Rasa project's ``nlu``), where every FAQ
            topic beyond the contract's must have examples.

    Raises:
        KnowledgeBaseError: when the knowledge base is incomplete or a topic has no examples.
    """
    kb = load_knowledge_base(kb_path)
    check_training_examples(kb, nlu_dir or domain_path.parent.parent / "nlu")
    content = render_domain(kb)
    if domain_path.exists() and domain_path.read_text(encoding="utf-8") == content:
        return False
    domain_path.parent.mkdir(parents=True, exist_ok=True)
    domain_path.write_text(content, encoding="utf-8")
    return True
