"""New FAQ entries drafted from the knowledge base's gaps, and their adoption.

A community manager drafts an entry from a gap (`bot.listening.gaps`) on the web desk: a new
topic, the answer in French and in English, 1 to 3 source documents of the knowledge base and
the questions the model will learn the topic from. The draft is kept as a `FaqDraft` and the
gap's questions are linked to it. Nothing reaches citizens until a person adopts it on the
command line, where the knowledge base files live (``bot kb drafts``, ``bot kb adopt ID``,
``bot kb drop ID``): adopting appends the entry to ``knowledge/project.yml`` (its comments and
layout kept, the result parsed again and checked before it replaces the file) and writes the
training examples to ``nlu/faq/<topic>.yml``. The model learns the new topic at the next
training (``bot kb build``, then ``bot train``; ``make run`` retrains when the data changed).

Rasa needs at least 2 examples of an intent to train; the contract's topics have about 35
each, in both languages. A draft needs at least `MIN_QUESTIONS_PER_LANGUAGE` in each language.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, TextIO

import yaml
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.common.text import has_personal_data
from bot.knowledge import (
    FAQ_TOPIC_ID,
    FAQ_TOPICS,
    LANGUAGES,
    KnowledgeBase,
    KnowledgeBaseError,
    check_training_examples,
    load_knowledge_base,
    render_domain,
    training_examples,
)
from bot.listening.gaps import GAP_REASONS, Gap
from bot.settings import Settings
from bot.storage.models import AuditEntry, FaqDraft, UnansweredQuestion, utc_now

logger = logging.getLogger(__name__)

MIN_QUESTIONS_PER_LANGUAGE: Final = 3
MAX_QUESTIONS: Final = 80
MAX_QUESTION_CHARS: Final = 200
MAX_ANSWER_CHARS: Final = 1_200
MAX_SOURCES: Final = 3
MAX_LINKED_QUESTIONS: Final = 5_000
# Intent names Rasa itself uses: a topic of that name would only confuse a reader.
RESERVED_NAMES: Final = frozenset({"faq", "nlu_fallback", "out_of_scope"})

DRAFT: Final = "draft"
ADOPTED: Final = "adopted"
DROPPED: Final = "dropped"

_ENTITY_MARKS = re.compile(r"[\[\]{}]")


class DraftError(Exception):
    """A draft cannot be saved, adopted or dropped; the message says why."""


class DraftRefused(DraftError):
    """A proposed entry is incomplete or would clash; `problems` holds one sentence each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class KnowledgeFiles:
    """Where the knowledge base and the Rasa training data live.

    Attributes:
        knowledge_base: ``knowledge/project.yml``.
        rasa_project: the Rasa project (``domain/``, ``nlu/``).
    """

    knowledge_base: Path
    rasa_project: Path

    @property
    def nlu_dir(self) -> Path:
        """Every training file."""
        return self.rasa_project / "nlu"

    @property
    def dialogue_domain(self) -> Path:
        """The domain file that lists the conversation intents."""
        return self.rasa_project / "domain" / "dialogue.yml"

    @classmethod
    def from_settings(cls, settings: Settings) -> KnowledgeFiles:
        """The files the settings name."""
        return cls(knowledge_base=settings.knowledge_base, rasa_project=settings.rasa_project)

    def nlu_file(self, topic: str) -> Path:
        """The training file of a FAQ topic."""
        return self.nlu_dir / "faq" / f"{topic}.yml"

    def shown(self, path: Path) -> str:
        """`path` relative to the Rasa project when it is inside it (for messages)."""
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self.rasa_project))
        return str(path)


@dataclass(frozen=True)
class Proposal:
    """A new FAQ entry as a community manager wrote it.

    Attributes:
        topic: the new topic's id (the intent faq/<topic>).
        answer_fr: the answer in French.
        answer_en: the answer in English.
        sources: ids of the knowledge base's documents it cites (1 to 3).
        questions_fr: training questions in French.
        questions_en: training questions in English.
    """

    topic: str
    answer_fr: str
    answer_en: str
    sources: tuple[str, ...]
    questions_fr: tuple[str, ...]
    questions_en: tuple[str, ...]

    @classmethod
    def from_form(
        cls,
        *,
        topic: str,
        answer_fr: str,
        answer_en: str,
        sources: Iterable[str],
        questions_fr: str,
        questions_en: str,
    ) -> Proposal:
        """A proposal from text boxes (one question a line; blank lines and "- " ignored)."""
        return cls(
            topic=topic.strip(),
            answer_fr=_one_line(answer_fr),
            answer_en=_one_line(answer_en),
            sources=tuple(dict.fromkeys(s.strip() for s in sources if s.strip())),
            questions_fr=question_lines(questions_fr),
            questions_en=question_lines(questions_en),
        )


@dataclass(frozen=True)
class Adoption:
    """What adopting a draft wrote.

    Attributes:
        draft: the draft, now adopted.
        knowledge_base: the knowledge base file the entry was added to.
        nlu_file: the new training file.
        reviewed: the review date written with the entry.
    """

    draft: FaqDraft
    knowledge_base: Path
    nlu_file: Path
    reviewed: date


# --- writing a draft ------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def question_lines(text: str) -> tuple[str, ...]:
    """Questions typed one a line: trimmed, a leading "- " dropped, blank lines and repeats
    (ignoring case and spacing) left out."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        question = _one_line(line)
        if question.startswith("- "):
            question = question[2:].strip()
        if question:
            found.setdefault(question.casefold(), question)
    return tuple(found.values())


def prefilled_questions(gap: Gap) -> dict[str, tuple[str, ...]]:
    """The gap's questions not yet drafted, per language, ready to edit into training
    questions (one line each, without the square brackets and braces Rasa reads as entity
    marks). A question of unknown language goes with the first language's."""
    per_language: dict[str, list[str]] = {language: [] for language in LANGUAGES}
    for question in gap.undrafted:
        language = question.language if question.language in per_language else LANGUAGES[0]
        per_language[language].append(_one_line(_ENTITY_MARKS.sub(" ", question.text)))
    return {language: question_lines("\n".join(texts)) for language, texts in per_language.items()}


def taken_names(files: KnowledgeFiles, kb: KnowledgeBase) -> dict[str, str]:
    """Names a new topic may not take, each with the sentence that says why."""
    taken: dict[str, str] = {}
    for name in RESERVED_NAMES:
        taken[name] = f"“{name}” is a name Rasa uses itself: choose another topic name."
    try:
        domain = yaml.safe_load(files.dialogue_domain.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DraftError(
            f"Cannot read the dialogue domain {files.dialogue_domain}: {exc}."
        ) from exc
    for intent in domain.get("intents") or []:
        name = str(next(iter(intent))) if isinstance(intent, dict) else str(intent)
        taken[name] = (
            f"“{name}” is an intent of the dialogue (contract): choose another topic name."
        )
    for topic in (*FAQ_TOPICS, *kb.answers):
        taken[topic] = (
            f"The knowledge base already has the topic “{topic}”: choose another name, or "
            "improve that answer in knowledge/project.yml instead."
        )
    return taken


def check_proposal(
    proposal: Proposal, *, files: KnowledgeFiles, session: Session, draft_id: int | None = None
) -> list[str]:
    """What is wrong with a proposal, one sentence per problem (empty: it can be saved).

    Args:
        proposal: the entry.
        files: the knowledge base and training data it must fit in.
        session: to look for other drafts of the same topic.
        draft_id: the draft being checked again (at adoption), not a clash with itself.

    Raises:
        DraftError: when the knowledge base or the training data cannot be read.
    """
    kb, examples = _knowledge(files)
    per_language = {"French": proposal.questions_fr, "English": proposal.questions_en}
    problems = _entry_problems(proposal, files=files, kb=kb, session=session, draft_id=draft_id)
    for language, questions in per_language.items():
        if len(questions) < MIN_QUESTIONS_PER_LANGUAGE:
            problems.append(
                f"Write at least {MIN_QUESTIONS_PER_LANGUAGE} questions in {language} "
                f"({len(questions)} given): the model learns to recognise the topic from them, "
                "in each language."
            )
    every = (*proposal.questions_fr, *proposal.questions_en)
    repeated = {q.casefold() for q in proposal.questions_fr} & {
        q.casefold() for q in proposal.questions_en
    }
    for question in every:
        if question.casefold() in repeated:
            repeated.discard(question.casefold())
            problems.append(f"“{_shown(question)}” is in both languages' lists: keep it once.")
    return problems + _question_problems(every, examples)


def _knowledge(files: KnowledgeFiles) -> tuple[KnowledgeBase, dict[str, list[str]]]:
    try:
        return load_knowledge_base(files.knowledge_base), training_examples(files.nlu_dir)
    except KnowledgeBaseError as exc:
        raise DraftError(str(exc)) from exc


def _shown(question: str) -> str:
    return question if len(question) <= 60 else question[:59] + "…"


def _entry_problems(
    proposal: Proposal,
    *,
    files: KnowledgeFiles,
    kb: KnowledgeBase,
    session: Session,
    draft_id: int | None,
) -> list[str]:
    problems: list[str] = []
    topic = proposal.topic
    if not topic:
        problems.append("Give the new topic a name, such as decommissioning.")
    elif not FAQ_TOPIC_ID.match(topic):
        problems.append(
            f"The topic name “{topic}” must be 2 to 40 characters among a-z, 0-9 and _, "
            "starting with a letter (such as decommissioning)."
        )
    elif topic in (taken := taken_names(files, kb)):
        problems.append(taken[topic])
    elif files.nlu_file(topic).exists():
        problems.append(
            f"{files.shown(files.nlu_file(topic))} already exists: choose another topic name."
        )
    else:
        other = session.exec(
            select(FaqDraft).where(FaqDraft.topic == topic, FaqDraft.status == DRAFT)
        ).first()
        if other is not None and other.id != draft_id:
            problems.append(
                f"Draft #{other.id} already proposes the topic “{topic}”: choose another name, "
                "or drop that draft first (bot kb drop)."
            )
    for language, answer in (("French", proposal.answer_fr), ("English", proposal.answer_en)):
        answer = _one_line(answer)
        if not answer:
            problems.append(f"The {language} answer is empty.")
        elif len(answer) > MAX_ANSWER_CHARS:
            problems.append(
                f"The {language} answer is {len(answer):,} characters long; keep it under "
                f"{MAX_ANSWER_CHARS:,} (one chat message)."
            )
    if not proposal.sources:
        problems.append(
            f"Choose 1 to {MAX_SOURCES} source documents of the knowledge base: an answer "
            "without a source is not shown."
        )
    elif len(proposal.sources) > MAX_SOURCES:
        problems.append(
            f"Choose at most {MAX_SOURCES} source documents ({len(proposal.sources)} chosen)."
        )
    for source in proposal.sources:
        if source not in kb.documents:
            problems.append(
                f"The knowledge base has no document “{source}”: add it to the documents of "
                "knowledge/project.yml first, or choose one of its documents."
            )
    return problems


def _question_problems(questions: Sequence[str], examples: dict[str, list[str]]) -> list[str]:
    problems: list[str] = []
    if len(questions) > MAX_QUESTIONS:
        problems.append(f"Keep at most {MAX_QUESTIONS} questions ({len(questions)} given).")
    known = {
        " ".join(example.casefold().split()): intent
        for intent, listed in examples.items()
        for example in listed
    }
    for question in questions:
        shown = _shown(question)
        if len(question) > MAX_QUESTION_CHARS:
            problems.append(
                f"“{shown}” is {len(question)} characters long: write it as a question of at "
                f"most {MAX_QUESTION_CHARS} characters."
            )
        if _ENTITY_MARKS.search(question):
            problems.append(
                f"“{shown}”: remove the square brackets and braces, which Rasa reads as entity "
                "marks."
            )
        if has_personal_data(question):
            problems.append(
                f"“{shown}” seems to contain an email address or a phone number: training "
                "questions are published with the project's files; remove it."
            )
        if " ".join(question.casefold().split()) in known:
            problems.append(
                f"“{shown}” is already a training example of "
                f"{known[' '.join(question.casefold().split())]}: remove it, or the model "
                "cannot tell the two apart."
            )
    return problems


def save_draft(
    engine: Engine,
    proposal: Proposal,
    *,
    files: KnowledgeFiles,
    author: str,
    question_ids: Iterable[int],
) -> FaqDraft:
    """Saves a proposal as a draft waiting for review and links the gap's questions to it.

    Args:
        engine: the database.
        proposal: the entry.
        files: the knowledge base and training data it must fit in.
        author: who wrote it (``staff:web:<username>``).
        question_ids: the unanswered questions it answers; those already linked to another
            draft, or kept for another reason than a gap, are left alone.

    Raises:
        DraftRefused: with every problem of the proposal.
        DraftError: when the knowledge base cannot be read.
    """
    ids = sorted(set(question_ids))[:MAX_LINKED_QUESTIONS]
    with Session(engine, expire_on_commit=False) as session:
        problems = check_proposal(proposal, files=files, session=session)
        if problems:
            raise DraftRefused(problems)
        draft = FaqDraft(
            topic=proposal.topic,
            questions=[*proposal.questions_fr, *proposal.questions_en],
            answer_fr=_one_line(proposal.answer_fr),
            answer_en=_one_line(proposal.answer_en),
            sources=list(proposal.sources),
            author=author[:120],
            status=DRAFT,
        )
        session.add(draft)
        session.flush()
        linked = 0
        if ids:
            result = session.execute(
                update(UnansweredQuestion)
                .where(
                    col(UnansweredQuestion.id).in_(ids),
                    col(UnansweredQuestion.faq_draft_id).is_(None),
                    col(UnansweredQuestion.reason).in_(GAP_REASONS),
                )
                .values(faq_draft_id=draft.id)
            )
            linked = int(getattr(result, "rowcount", 0) or 0)
        session.add(
            AuditEntry(
                actor=author[:120],
                action="faq_draft.created",
                detail={"draft": draft.id, "topic": draft.topic, "questions_linked": linked},
            )
        )
        session.commit()
    logger.info("FAQ draft %s (%s) saved with %d questions linked", draft.id, draft.topic, linked)
    return draft


def list_drafts(engine: Engine, *, statuses: Iterable[str] = (DRAFT,)) -> list[FaqDraft]:
    """Drafts in these statuses, the oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.exec(
                select(FaqDraft)
                .where(col(FaqDraft.status).in_(list(statuses)))
                .order_by(col(FaqDraft.created_at), col(FaqDraft.id))
            )
        )


def linked_question_count(engine: Engine, draft_id: int) -> int:
    """How many unanswered questions are linked to a draft."""
    with Session(engine) as session:
        return len(
            session.exec(
                select(UnansweredQuestion.id).where(UnansweredQuestion.faq_draft_id == draft_id)
            ).all()
        )


def _get(session: Session, draft_id: int) -> FaqDraft:
    draft = session.get(FaqDraft, draft_id)
    if draft is None:
        raise DraftError(f"There is no FAQ draft #{draft_id} (bot kb drafts lists them).")
    return draft


# --- adopting a draft -------------------------------------------------------------------------


def adopt_draft(
    engine: Engine, draft_id: int, *, files: KnowledgeFiles, actor: str, today: date
) -> Adoption:
    """Writes a draft into the knowledge base and the training data, and marks it adopted.

    The entry is appended at the end of the knowledge base's ``faq`` section, leaving the rest
    of the file as it was (comments included); the new file is parsed again and checked
    (`load_knowledge_base`, the generated domain, training examples) before it replaces the old
    one. If anything fails, both files are as they were and the draft is still a draft.

    Args:
        engine: the database.
        draft_id: the draft.
        files: the knowledge base and training data.
        actor: who adopts it (``cli:<user>``).
        today: the review date written with the entry.

    Raises:
        DraftError: when the draft is not waiting for review, no longer fits the knowledge base
            (`DraftRefused`), or the files cannot be written.
    """
    with Session(engine, expire_on_commit=False) as session:
        draft = _get(session, draft_id)
        if draft.status != DRAFT:
            raise DraftError(_not_waiting(draft))
        problems = _recheck(draft, files=files, session=session)
        if problems:
            raise DraftRefused(problems)
        old_text = _read(files.knowledge_base)
        new_text = with_faq_entry(old_text, draft, today)
        nlu_file = files.nlu_file(draft.topic)
        nlu_text = nlu_file_text(draft.topic, draft.questions)
        _check_written(files, new_text, nlu_text, draft)
        _write_new(nlu_file, nlu_text)
        try:
            _replace(files.knowledge_base, new_text)
            _check_training_data(files)
            done = session.execute(
                update(FaqDraft)
                .where(col(FaqDraft.id) == draft.id, col(FaqDraft.status) == DRAFT)
                .values(status=ADOPTED, adopted_at=utc_now())
            )
            if int(getattr(done, "rowcount", 0) or 0) != 1:
                raise DraftError(f"Draft #{draft.id} was adopted or dropped meanwhile.")
            session.add(
                AuditEntry(
                    actor=actor[:120],
                    action="faq_draft.adopted",
                    detail={"draft": draft.id, "topic": draft.topic, "reviewed": today.isoformat()},
                )
            )
            session.commit()
        except BaseException:
            # Put the files back as they were: the draft stays a draft.
            session.rollback()
            if _read(files.knowledge_base) == new_text:
                _replace(files.knowledge_base, old_text)
            nlu_file.unlink(missing_ok=True)
            raise
        session.refresh(draft)
    logger.info("FAQ draft %s adopted as faq/%s", draft.id, draft.topic)
    return Adoption(
        draft=draft, knowledge_base=files.knowledge_base, nlu_file=nlu_file, reviewed=today
    )


def drop_draft(engine: Engine, draft_id: int, *, actor: str) -> FaqDraft:
    """Drops a draft waiting for review; its questions show as not drafted again.

    Raises:
        DraftError: when there is no such draft or it is not waiting for review.
    """
    with Session(engine, expire_on_commit=False) as session:
        draft = _get(session, draft_id)
        if draft.status != DRAFT:
            raise DraftError(_not_waiting(draft))
        draft.status = DROPPED
        session.add(draft)
        session.execute(
            update(UnansweredQuestion)
            .where(col(UnansweredQuestion.faq_draft_id) == draft.id)
            .values(faq_draft_id=None)
        )
        session.add(
            AuditEntry(
                actor=actor[:120],
                action="faq_draft.dropped",
                detail={"draft": draft.id, "topic": draft.topic},
            )
        )
        session.commit()
        session.refresh(draft)
    return draft


def _recheck(draft: FaqDraft, *, files: KnowledgeFiles, session: Session) -> list[str]:
    """What stops a saved draft from being adopted now (the knowledge base or the training
    data may have changed since it was saved; its languages were checked then)."""
    kb, examples = _knowledge(files)
    proposal = Proposal(
        topic=draft.topic,
        answer_fr=draft.answer_fr,
        answer_en=draft.answer_en,
        sources=tuple(draft.sources),
        questions_fr=(),
        questions_en=(),
    )
    problems = _entry_problems(proposal, files=files, kb=kb, session=session, draft_id=draft.id)
    if len(draft.questions) < 2 * MIN_QUESTIONS_PER_LANGUAGE:
        problems.append(
            f"The draft has {len(draft.questions)} training questions; it needs at least "
            f"{2 * MIN_QUESTIONS_PER_LANGUAGE}."
        )
    return problems + _question_problems(draft.questions, examples)


def _not_waiting(draft: FaqDraft) -> str:
    if draft.status == ADOPTED:
        when = draft.adopted_at.date().isoformat() if draft.adopted_at else "earlier"
        return (
            f"Draft #{draft.id} was adopted ({when}) as faq/{draft.topic}: change the entry in "
            "knowledge/project.yml and nlu/faq/ by hand if it must change."
        )
    return f"Draft #{draft.id} was dropped: draft the entry again from the gap on the desk."


def _yaml_string(text: str) -> str:
    # JSON strings are YAML double-quoted scalars; the answers are on one line already.
    return json.dumps(text, ensure_ascii=False)


_PLAIN_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def _yaml_id(value: str) -> str:
    plain = _PLAIN_ID.match(value) and value.lower() not in ("true", "false", "yes", "no", "null")
    return value if plain else _yaml_string(value)


def _blank_or_comment(line: str, *, unindented: bool = False) -> bool:
    if not line.strip():
        return True
    return line.startswith("#") if unindented else line.lstrip().startswith("#")


def with_faq_entry(text: str, draft: FaqDraft, reviewed: date) -> str:
    """The knowledge base's text with the draft's entry added at the end of its ``faq``
    section, every other line kept as it was.

    Raises:
        DraftError: when the file has no block-style ``faq:`` section to add to.
    """
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^faq:[ \t]*(#.*)?$", line.rstrip("\r\n"))),
        None,
    )
    if start is None:
        raise DraftError(
            "The knowledge base has no “faq:” section written as a block (one topic a line): "
            "add the entry by hand."
        )
    end = len(lines)
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            end = index  # the next top-level key
            break
    insert = end
    # Blank lines and unindented comments just before the next section belong to it.
    while insert > start + 1 and _blank_or_comment(lines[insert - 1], unindented=True):
        insert -= 1
    body = [line for line in lines[start + 1 : insert] if not _blank_or_comment(line)]
    unit = (len(body[0]) - len(body[0].lstrip(" "))) if body else 0
    pad = " " * (unit or 2)
    sources = ", ".join(_yaml_id(s) for s in draft.sources)
    entry = [
        f"{pad}{draft.topic}:\n",
        f"{pad * 2}answer:\n",
        f"{pad * 3}fr: {_yaml_string(_one_line(draft.answer_fr))}\n",
        f"{pad * 3}en: {_yaml_string(_one_line(draft.answer_en))}\n",
        f"{pad * 2}sources: [{sources}]\n",
        f"{pad * 2}reviewed: {reviewed.isoformat()}\n",
    ]
    before = lines[:insert]
    if before and not before[-1].endswith("\n"):
        before[-1] += "\n"
    return "".join([*before, *entry, *lines[insert:]])


def nlu_file_text(topic: str, questions: Sequence[str]) -> str:
    """The training file of a new topic, in the layout of the other ``nlu/faq`` files."""
    examples = "".join(f"    - {_one_line(q)}\n" for q in questions)
    return f'version: "3.1"\nnlu:\n- intent: faq/{topic}\n  examples: |\n{examples}'


def _check_written(files: KnowledgeFiles, kb_text: str, nlu_text: str, draft: FaqDraft) -> None:
    """Parses what is about to be written and checks it says exactly what the draft says."""
    old = yaml.safe_load(_read(files.knowledge_base))
    new = yaml.safe_load(kb_text)
    expected_entry: dict[str, Any] = {
        "answer": {"fr": _one_line(draft.answer_fr), "en": _one_line(draft.answer_en)},
        "sources": list(draft.sources),
    }
    entry = dict((new.get("faq") or {}).get(draft.topic) or {})
    entry.pop("reviewed", None)
    rest_new = {k: v for k, v in new.items() if k != "faq"}
    rest_old = {k: v for k, v in old.items() if k != "faq"}
    faq_others = {k: v for k, v in (new.get("faq") or {}).items() if k != draft.topic}
    if entry != expected_entry or rest_new != rest_old or faq_others != (old.get("faq") or {}):
        raise DraftError(
            "Adding the entry would change the knowledge base in another way than intended; "
            "nothing was written. Add it by hand."
        )
    parsed = yaml.safe_load(nlu_text)
    examples = [line[2:] for line in parsed["nlu"][0]["examples"].splitlines()]
    if examples != [_one_line(q) for q in draft.questions]:
        raise DraftError(
            "The training questions would not read back as written; nothing was written."
        )
    # The whole knowledge base must still load and render, with the new topic's examples.
    probe = files.knowledge_base.with_name(f".{files.knowledge_base.name}.adopting")
    try:
        probe.write_text(kb_text, encoding="utf-8")
        kb = load_knowledge_base(probe)
        render_domain(kb)
    except (OSError, KnowledgeBaseError) as exc:
        raise DraftError(f"The knowledge base with the new entry does not load: {exc}") from exc
    finally:
        probe.unlink(missing_ok=True)
    if draft.topic not in kb.answers:
        raise DraftError("The new entry is missing from the knowledge base once written.")


def _check_training_data(files: KnowledgeFiles) -> None:
    """Checks, once both files are written, that every topic has its training examples."""
    try:
        check_training_examples(load_knowledge_base(files.knowledge_base), files.nlu_dir)
    except KnowledgeBaseError as exc:
        raise DraftError(f"The written files do not fit together: {exc}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DraftError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _replace(path: Path, text: str) -> None:
    """Replaces a file's content at once (a reader sees the old file or the new one)."""
    temporary = path.with_name(f".{path.name}.new")
    try:
        temporary.write_text(text, encoding="utf-8")
        with contextlib.suppress(OSError):
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DraftError(f"Cannot write {path}: {exc.strerror or exc}.") from exc


def _write_new(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError as exc:
        raise DraftError(f"{path} already exists: nothing was written.") from exc
    except OSError as exc:
        raise DraftError(f"Cannot write {path}: {exc.strerror or exc}.") from exc


# --- the command line -------------------------------------------------------------------------


def print_drafts(engine: Engine, *, every: bool, out: TextIO) -> None:
    """``bot kb drafts``: the drafts waiting for review (with `every`, all of them)."""
    statuses = (DRAFT, ADOPTED, DROPPED) if every else (DRAFT,)
    found = list_drafts(engine, statuses=statuses)
    if not found:
        out.write(
            "No FAQ draft is waiting for review (drafts are written from the gaps on the web "
            "desk, /desk/gaps).\n"
            if not every
            else "There is no FAQ draft yet.\n"
        )
        return
    for draft in found:
        assert draft.id is not None
        out.write(
            f"#{draft.id}  {draft.status:<8} faq/{draft.topic}  by {draft.author}, "
            f"{draft.created_at.date().isoformat()}  {len(draft.questions)} training questions, "
            f"{linked_question_count(engine, draft.id)} citizens' questions linked  "
            f"sources: {', '.join(draft.sources)}\n"
        )
    if not every:
        out.write("Read one in full: bot kb drafts ID. Then: bot kb adopt ID, or bot kb drop ID.\n")


def print_draft(engine: Engine, draft_id: int, *, out: TextIO) -> None:
    """``bot kb drafts ID``: one draft in full, as it would be written.

    Raises:
        DraftError: when there is no such draft.
    """
    with Session(engine) as session:
        draft = _get(session, draft_id)
    out.write(
        f"Draft #{draft.id} ({draft.status}): faq/{draft.topic}, by {draft.author} on "
        f"{draft.created_at.date().isoformat()}\n\n"
        f"Answer (fr): {draft.answer_fr}\n\nAnswer (en): {draft.answer_en}\n\n"
        f"Sources: {', '.join(draft.sources)}\n\nTraining questions:\n"
    )
    out.write("".join(f"  - {q}\n" for q in draft.questions))


def adoption_summary(adoption: Adoption, files: KnowledgeFiles) -> str:
    """What `bot kb adopt` says once done, and what comes next."""
    draft = adoption.draft
    return (
        f"Draft #{draft.id} adopted: faq/{draft.topic} was added to "
        f"{files.shown(adoption.knowledge_base)} (reviewed {adoption.reviewed.isoformat()}) and "
        f"its {len(draft.questions)} training questions to {files.shown(adoption.nlu_file)}.\n"
        "Next: review the change (git diff), run `bot kb build`, then retrain the model "
        "(`bot train`; `make run` retrains when the data changed). Until then the assistant "
        "does not know the new topic.\n"
    )


KB_ACTIONS: Final = ("drafts", "adopt", "drop")
"""The `bot kb` actions on drafts (the others, build and check, are the knowledge base's)."""


def run_kb(
    action: str,
    draft_id: int | None,
    *,
    every: bool,
    files: KnowledgeFiles,
    engine: Engine,
    actor: str,
    today: date,
    out: TextIO,
    err: TextIO,
) -> int:
    """Carries out ``bot kb drafts [ID] [--all]``, ``bot kb adopt ID`` or ``bot kb drop ID``.

    Returns:
        The exit status: 0 when done, 1 when refused (the reason is written to `err`), 2 when
        a draft id is missing.
    """
    if action != "drafts" and draft_id is None:
        err.write(f"Say which draft: bot kb {action} ID (bot kb drafts lists them).\n")
        return 2
    try:
        if action == "drafts":
            if draft_id is None:
                print_drafts(engine, every=every, out=out)
            else:
                print_draft(engine, draft_id, out=out)
        elif action == "adopt":
            assert draft_id is not None
            adoption = adopt_draft(engine, draft_id, files=files, actor=actor, today=today)
            out.write(adoption_summary(adoption, files))
        elif action == "drop":
            assert draft_id is not None
            dropped = drop_draft(engine, draft_id, actor=actor)
            out.write(
                f"Draft #{dropped.id} (faq/{dropped.topic}) was dropped; its questions show as "
                "not drafted again on the desk.\n"
            )
        else:
            err.write(f"Unknown action {action!r}: one of {', '.join(KB_ACTIONS)}.\n")
            return 2
    except DraftRefused as exc:
        err.write(f"Draft #{draft_id} cannot be adopted as it is:\n")
        err.write("".join(f"- {problem}\n" for problem in exc.problems))
        return 1
    except DraftError as exc:
        err.write(f"{exc}\n")
        return 1
    return 0
