"""New FAQ entries from the knowledge base's gaps: a draft refused with clear sentences, a draft
saved with the gap's questions linked, and its adoption writing the knowledge base and the
training data, in a copy of the repository's files (the real ones are never touched), which
the knowledge base loader and `bot kb build` then accept. Database tests run on SQLite and
PostgreSQL; the `bot kb` commands run as a user runs them."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.knowledge import (
    KnowledgeBaseError,
    build_domain_file,
    check_training_examples,
    load_knowledge_base,
    training_examples,
)
from bot.listening.faq_drafts import (
    ADOPTED,
    DRAFT,
    DROPPED,
    DraftError,
    DraftRefused,
    KnowledgeFiles,
    Proposal,
    adopt_draft,
    drop_draft,
    list_drafts,
    prefilled_questions,
    save_draft,
    with_faq_entry,
)
from bot.listening.gaps import DraftMark, Gap, GapQuestion
from bot.settings import PROJECT_ROOT
from bot.storage.database import open_database
from bot.storage.models import AuditEntry, FaqDraft, UnansweredQuestion, utc_now
from tests.support.gaps import asks, citizen

TODAY = date(2026, 11, 21)
MARIE = "staff:web:marie"
REAL_FILES = ("knowledge/project.yml", "nlu/faq/noise.yml", "domain/knowledge.yml")


def fingerprint() -> dict[str, str]:
    return {
        name: hashlib.sha256((PROJECT_ROOT / name).read_bytes()).hexdigest() for name in REAL_FILES
    }


@pytest.fixture
def files(tmp_path: Path) -> KnowledgeFiles:
    """A copy of the repository's knowledge base, training data and domain."""
    copy = tmp_path / "repo"
    for folder in ("knowledge", "nlu", "domain"):
        shutil.copytree(PROJECT_ROOT / folder, copy / folder)
    return KnowledgeFiles(knowledge_base=copy / "knowledge" / "project.yml", rasa_project=copy)


@pytest.fixture(autouse=True)
def _real_files_untouched() -> object:
    before = fingerprint()
    yield
    assert fingerprint() == before, "a test changed the repository's own files"


def decommissioning(**changes: object) -> Proposal:
    proposal = Proposal(
        topic="decommissioning",
        answer_fr=(
            "À la fin de leur vie utile, après environ 30 ans, les éoliennes seraient démantelées "
            "aux frais du promoteur, qui doit déposer une garantie financière auprès de la MRC."
        ),
        answer_en=(
            "At the end of their useful life, after about 30 years, the turbines would be taken "
            "down at the promoter's expense, which must post a financial guarantee with the MRC."
        ),
        sources=("etude-impact-2025", "rapport-bape-2026"),
        questions_fr=(
            "Qui va payer pour démanteler les éoliennes?",
            "qu'est-ce qui arrive aux eoliennes apres 30 ans",
            "Y a-t-il une garantie financière pour le démantèlement?",
        ),
        questions_en=(
            "Who pays to take the turbines down at the end of their life?",
            "is there a decommissioning bond",
            "what happens to the turbines after 30 years?",
        ),
    )
    return replace(proposal, **changes)  # type: ignore[arg-type]


def refused(database: Engine, files: KnowledgeFiles, proposal: Proposal) -> tuple[str, ...]:
    with pytest.raises(DraftRefused) as caught:
        save_draft(database, proposal, files=files, author=MARIE, question_ids=[])
    with Session(database) as session:
        assert session.exec(select(FaqDraft)).all() == []
    return caught.value.problems


# --- a draft is checked ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"topic": "noise"},
            "The knowledge base already has the topic “noise”: choose another name, or improve "
            "that answer in knowledge/project.yml instead.",
        ),
        (
            {"topic": "greet"},
            "“greet” is an intent of the dialogue (contract): choose another topic name.",
        ),
        (
            {"topic": "Démantèlement"},
            "The topic name “Démantèlement” must be 2 to 40 characters among a-z, 0-9 and _, "
            "starting with a letter (such as decommissioning).",
        ),
        ({"topic": ""}, "Give the new topic a name, such as decommissioning."),
        (
            {"sources": ("etude-impact-2025", "rapport-secret-2027")},
            "The knowledge base has no document “rapport-secret-2027”: add it to the documents "
            "of knowledge/project.yml first, or choose one of its documents.",
        ),
        (
            {"sources": ()},
            "Choose 1 to 3 source documents of the knowledge base: an answer without a source "
            "is not shown.",
        ),
        (
            {
                "sources": (
                    "etude-impact-2025",
                    "rapport-bape-2026",
                    "carte-projet-2026",
                    "description-projet-2025",
                )
            },
            "Choose at most 3 source documents (4 chosen).",
        ),
        ({"answer_en": ""}, "The English answer is empty."),
        ({"answer_fr": "   "}, "The French answer is empty."),
        (
            {"answer_fr": "mot " * 400},
            "The French answer is 1,599 characters long; keep it under 1,200 (one chat message).",
        ),
        (
            {"questions_en": ("Who pays to take the turbines down?", "decommissioning bond")},
            "Write at least 3 questions in English (2 given): the model learns to recognise the "
            "topic from them, in each language.",
        ),
        (
            {"questions_en": ("noise levels", "who pays to dismantle", "is there a bond")},
            "“noise levels” is already a training example of faq/noise: remove it, or the model "
            "cannot tell the two apart.",
        ),
        (
            {"questions_en": ("who pays [decommissioning](topic)", "is there a bond", "who pays")},
            "“who pays [decommissioning](topic)”: remove the square brackets and braces, which "
            "Rasa reads as entity marks.",
        ),
        (
            {"questions_en": ("call me at 819 555 0123 about the bond", "bond?", "who pays")},
            "“call me at 819 555 0123 about the bond” seems to contain an email address or a "
            "phone number: training questions are published with the project's files; remove it.",
        ),
    ],
)
def test_a_draft_that_does_not_fit_is_refused_with_a_clear_sentence(
    database: Engine, files: KnowledgeFiles, changes: dict[str, object], sentence: str
) -> None:
    problems = refused(database, files, decommissioning(**changes))
    assert sentence in problems, problems


def test_every_problem_is_said_at_once(database: Engine, files: KnowledgeFiles) -> None:
    problems = refused(
        database, files, decommissioning(topic="noise", answer_fr="", sources=("nowhere",))
    )
    assert len(problems) == 3


def test_a_topic_another_draft_proposes_is_refused(database: Engine, files: KnowledgeFiles) -> None:
    first = save_draft(database, decommissioning(), files=files, author=MARIE, question_ids=[])
    with pytest.raises(DraftRefused) as caught:
        save_draft(
            database, decommissioning(), files=files, author="staff:web:louis", question_ids=[]
        )
    assert caught.value.problems == (
        f"Draft #{first.id} already proposes the topic “decommissioning”: choose another name, "
        "or drop that draft first (bot kb drop).",
    )


def test_questions_from_a_form_are_one_a_line_without_repeats() -> None:
    proposal = Proposal.from_form(
        topic=" decommissioning ",
        answer_fr="  À la fin\r\nde leur vie ",
        answer_en="At the end",
        sources=["etude-impact-2025", "", "etude-impact-2025"],
        questions_fr="- Qui paie?\r\n\r\nqui paie?\n  Y a-t-il une garantie?  ",
        questions_en="",
    )
    assert proposal.topic == "decommissioning"
    assert proposal.answer_fr == "À la fin de leur vie"
    assert proposal.sources == ("etude-impact-2025",)
    assert proposal.questions_fr == ("Qui paie?", "Y a-t-il une garantie?")
    assert proposal.questions_en == ()


def test_the_form_is_prefilled_with_the_gaps_questions_not_yet_drafted() -> None:
    now = utc_now()

    def question(
        qid: int, text: str, language: str | None, draft: int | None = None
    ) -> GapQuestion:
        return GapQuestion(
            id=qid, ids=(qid,), text=text, language=language, channel="web",
            reason="low_confidence", answered_with=None, first_asked=now, last_asked=now, times=1,
            faq_draft_id=draft,
        )  # fmt: skip

    gap = Gap(
        representative=question(1, "Qui paie le démantèlement?", "fr"),
        questions=(
            question(1, "Qui paie le démantèlement?", "fr"),
            question(2, "who pays [for] the\nteardown {now}", "en"),
            question(3, "Already drafted?", "en", draft=7),
            question(4, "ok mais qui paie", None),
        ),
        size=4, citizens=4, first_asked=now, last_asked=now, languages=("en", "fr"),
        channels=("web",), out_of_scope=False, drafts=(DraftMark(7, "teardown", "draft"),),
    )  # fmt: skip
    assert prefilled_questions(gap) == {
        "fr": ("Qui paie le démantèlement?", "ok mais qui paie"),
        "en": ("who pays for the teardown now",),
    }


# --- a draft is saved ---------------------------------------------------------------------------


def test_a_draft_is_saved_and_the_gaps_questions_are_linked_to_it(
    database: Engine, files: KnowledgeFiles
) -> None:
    louise = citizen(database)
    first = asks(database, louise, "Qui va payer pour démanteler les éoliennes?", "fr")
    second = asks(database, louise, "who pays to take them down?", "en", reason="out_of_scope")
    down = asks(database, louise, "qui paie le démantèlement?", "fr", reason="engine_unavailable")
    other = save_draft(
        database, decommissioning(topic="bond"), files=files, author=MARIE, question_ids=[]
    )
    taken = asks(database, louise, "is there a bond", "en")
    with Session(database) as session:
        row = session.get(UnansweredQuestion, taken.id)
        assert row is not None
        row.faq_draft_id = other.id
        session.add(row)
        session.commit()

    draft = save_draft(
        database,
        decommissioning(),
        files=files,
        author=MARIE,
        question_ids=[first.id or 0, second.id or 0, down.id or 0, taken.id or 0],
    )

    assert (draft.status, draft.topic, draft.author) == (DRAFT, "decommissioning", MARIE)
    assert draft.questions == [*decommissioning().questions_fr, *decommissioning().questions_en]
    assert draft.sources == ["etude-impact-2025", "rapport-bape-2026"]
    with Session(database) as session:
        links = {q.id: q.faq_draft_id for q in session.exec(select(UnansweredQuestion))}
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.action == "faq_draft.created")
        ).all()
    assert links == {first.id: draft.id, second.id: draft.id, down.id: None, taken.id: other.id}
    assert audit[-1].actor == MARIE
    assert audit[-1].detail == {
        "draft": draft.id,
        "topic": "decommissioning",
        "questions_linked": 2,
    }
    assert [d.id for d in list_drafts(database)] == [other.id, draft.id]


# --- adoption --------------------------------------------------------------------------------------


def test_adoption_writes_the_entry_and_its_training_questions(
    database: Engine, files: KnowledgeFiles
) -> None:
    before = files.knowledge_base.read_text(encoding="utf-8")
    question = asks(database, citizen(database), "Qui va payer pour démanteler?", "fr")
    draft = save_draft(
        database, decommissioning(answer_fr='Le « démantèlement » : "payé" par le promoteur.'),
        files=files, author=MARIE, question_ids=[question.id or 0],
    )  # fmt: skip
    assert draft.id is not None

    adoption = adopt_draft(database, draft.id, files=files, actor="cli:marie", today=TODAY)

    # The knowledge base: the old text untouched, the entry added at the end of `faq`.
    lines = files.knowledge_base.read_text(encoding="utf-8").splitlines()
    at = lines.index("  decommissioning:")
    assert lines[:at] + lines[at + 6 :] == before.splitlines()
    assert lines[at : at + 6] == [
        "  decommissioning:",
        "    answer:",
        '      fr: "Le « démantèlement » : \\"payé\\" par le promoteur."',
        f'      en: "{decommissioning().answer_en}"',
        "    sources: [etude-impact-2025, rapport-bape-2026]",
        "    reviewed: 2026-11-21",
    ]
    assert lines[at - 1] == "    reviewed: 2026-10-15"  # right after the last topic's entry
    assert all(
        line.startswith((" ", "#")) or not line for line in lines[lines.index("faq:") + 1 : at]
    )
    kb = load_knowledge_base(files.knowledge_base)
    answer = kb.answers["decommissioning"]
    assert answer.text["fr"] == 'Le « démantèlement » : "payé" par le promoteur.'
    assert [doc.id for doc in answer.sources] == ["etude-impact-2025", "rapport-bape-2026"]
    assert answer.reviewed == TODAY

    # The training data: the layout of the other FAQ files.
    assert adoption.nlu_file == files.rasa_project / "nlu" / "faq" / "decommissioning.yml"
    written = adoption.nlu_file.read_text(encoding="utf-8")
    assert written.startswith(
        'version: "3.1"\nnlu:\n- intent: faq/decommissioning\n  examples: |\n    - '
    )
    noise = (files.rasa_project / "nlu" / "faq" / "noise.yml").read_text(encoding="utf-8")
    assert noise.startswith('version: "3.1"\nnlu:\n- intent: faq/noise\n  examples: |\n    - ')
    examples = training_examples(files.rasa_project / "nlu")
    assert examples["faq/decommissioning"] == draft.questions
    check_training_examples(kb, files.rasa_project / "nlu")

    # `bot kb build` generates its response, in both languages, with its sources.
    domain_file = files.rasa_project / "domain" / "knowledge.yml"
    assert build_domain_file(files.knowledge_base, domain_file)
    responses = yaml.safe_load(domain_file.read_text(encoding="utf-8"))["responses"]
    variations = responses["utter_faq/decommissioning"]
    assert {v["condition"][0]["value"] for v in variations if "condition" in v} == {"fr", "en"}
    english = next(
        v["text"] for v in variations if v.get("condition", [{}])[0].get("value") == "en"
    )
    assert english.startswith(decommissioning().answer_en)
    assert "Environmental impact assessment (2025-09-15)" in english
    assert "Answer reviewed on 2026-11-21." in english

    # The draft is adopted; its citizens' questions stay linked.
    with Session(database) as session:
        stored = session.get(FaqDraft, draft.id)
        assert stored is not None
        assert stored.status == ADOPTED
        assert stored.adopted_at is not None
        assert session.get(UnansweredQuestion, question.id).faq_draft_id == draft.id  # type: ignore[union-attr]
        assert session.exec(
            select(AuditEntry.actor).where(AuditEntry.action == "faq_draft.adopted")
        ).all() == ["cli:marie"]


def test_a_draft_that_no_longer_fits_is_not_adopted_and_nothing_is_written(
    database: Engine, files: KnowledgeFiles
) -> None:
    draft = save_draft(database, decommissioning(), files=files, author=MARIE, question_ids=[])
    assert draft.id is not None
    # Meanwhile someone cited a document that was then removed from the knowledge base.
    text = files.knowledge_base.read_text(encoding="utf-8")
    with Session(database) as session:
        stored = session.get(FaqDraft, draft.id)
        assert stored is not None
        stored.sources = ["etude-impact-2025", "retired-2024"]
        session.add(stored)
        session.commit()

    with pytest.raises(DraftRefused) as caught:
        adopt_draft(database, draft.id, files=files, actor="cli:marie", today=TODAY)

    assert caught.value.problems == (
        "The knowledge base has no document “retired-2024”: add it to the documents of "
        "knowledge/project.yml first, or choose one of its documents.",
    )
    assert files.knowledge_base.read_text(encoding="utf-8") == text
    assert not files.nlu_file("decommissioning").exists()
    assert [d.status for d in list_drafts(database)] == [DRAFT]


def test_a_failed_adoption_puts_the_files_back(
    database: Engine, files: KnowledgeFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = save_draft(database, decommissioning(), files=files, author=MARIE, question_ids=[])
    assert draft.id is not None
    text = files.knowledge_base.read_text(encoding="utf-8")

    def broken(*args: object, **kwargs: object) -> None:
        raise DraftError("The written files do not fit together: simulated.")

    monkeypatch.setattr("bot.listening.faq_drafts._check_training_data", broken)
    with pytest.raises(DraftError, match="simulated"):
        adopt_draft(database, draft.id, files=files, actor="cli:marie", today=TODAY)

    assert files.knowledge_base.read_text(encoding="utf-8") == text
    assert not files.nlu_file("decommissioning").exists()
    assert [d.status for d in list_drafts(database)] == [DRAFT]


def test_dropping_a_draft_unlinks_its_questions(database: Engine, files: KnowledgeFiles) -> None:
    question = asks(database, citizen(database), "Qui va payer pour démanteler?", "fr")
    draft = save_draft(
        database, decommissioning(), files=files, author=MARIE, question_ids=[question.id or 0]
    )
    assert draft.id is not None

    dropped = drop_draft(database, draft.id, actor="cli:marie")

    assert dropped.status == DROPPED
    with Session(database) as session:
        assert session.get(UnansweredQuestion, question.id).faq_draft_id is None  # type: ignore[union-attr]
    with pytest.raises(DraftError, match=f"Draft #{draft.id} was dropped"):
        adopt_draft(database, draft.id, files=files, actor="cli:marie", today=TODAY)
    # The topic is free again.
    again = save_draft(database, decommissioning(), files=files, author=MARIE, question_ids=[])
    adopt_draft(database, again.id or 0, files=files, actor="cli:marie", today=TODAY)
    with pytest.raises(DraftError, match=r"was adopted \(.*\) as faq/decommissioning"):
        drop_draft(database, again.id or 0, actor="cli:marie")
    with pytest.raises(DraftError, match="There is no FAQ draft #999"):
        drop_draft(database, 999, actor="cli:marie")


# --- the entry's place in the file -----------------------------------------------------------------


def _draft(**changes: object) -> FaqDraft:
    fields: dict[str, object] = {
        "topic": "bond", "questions": ["q"], "answer_fr": "Oui.", "answer_en": "Yes.",
        "sources": ["doc-a"], "author": MARIE,
    }  # fmt: skip
    return FaqDraft(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_entry_goes_at_the_end_of_faq_before_the_next_sections_comments() -> None:
    text = (
        "# header\nfaq:  # the answers\n    overview:\n        answer: {fr: a, en: b}\n"
        "    # a comment inside faq\n    noise:\n        sources: [doc-a]\n\n"
        "# --- the next section ---\nupdate_topics:\n- id: roads\n"
    )
    assert with_faq_entry(text, _draft(), TODAY) == (
        "# header\nfaq:  # the answers\n    overview:\n        answer: {fr: a, en: b}\n"
        "    # a comment inside faq\n    noise:\n        sources: [doc-a]\n"
        '    bond:\n        answer:\n            fr: "Oui."\n            en: "Yes."\n'
        "        sources: [doc-a]\n        reviewed: 2026-11-21\n"
        "\n# --- the next section ---\nupdate_topics:\n- id: roads\n"
    )


def test_the_entry_is_appended_when_faq_ends_the_file_without_a_line_break() -> None:
    text = "faq:\n  overview:\n    sources: [doc-a]"
    assert with_faq_entry(text, _draft(sources=["2025", "true"]), TODAY).endswith(
        '    sources: [doc-a]\n  bond:\n    answer:\n      fr: "Oui."\n      en: "Yes."\n'
        '    sources: ["2025", "true"]\n    reviewed: 2026-11-21\n'
    )


def test_a_faq_section_in_flow_style_is_left_to_a_person() -> None:
    with pytest.raises(DraftError, match="no “faq:” section written as a block"):
        with_faq_entry("faq: {overview: {sources: [a]}}\n", _draft(), TODAY)


# --- the knowledge base accepts topics beyond the contract's --------------------------------------


def test_an_added_topic_without_training_examples_stops_the_build(files: KnowledgeFiles) -> None:
    data = yaml.safe_load(files.knowledge_base.read_text(encoding="utf-8"))
    data["faq"]["decommissioning"] = {
        "answer": {"fr": "Oui.", "en": "Yes."},
        "sources": ["etude-impact-2025"],
        "reviewed": TODAY,
    }
    files.knowledge_base.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert "decommissioning" in load_knowledge_base(files.knowledge_base).answers
    with pytest.raises(KnowledgeBaseError, match=r"faq\.decommissioning has 0 training examples"):
        build_domain_file(files.knowledge_base, files.rasa_project / "domain" / "knowledge.yml")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"answer": {"fr": "Oui.", "en": "Yes."}, "reviewed": TODAY}, "names no source"),
        ({"answer": {"fr": "Oui."}, "sources": ["etude-impact-2025"]}, "no text in en"),
        ("just a string", "needs an answer, sources and a reviewed date"),
    ],
)
def test_an_added_topic_must_be_complete(
    files: KnowledgeFiles, entry: object, message: str
) -> None:
    data = yaml.safe_load(files.knowledge_base.read_text(encoding="utf-8"))
    data["faq"]["decommissioning"] = entry
    files.knowledge_base.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=message):
        load_knowledge_base(files.knowledge_base)


def test_an_added_topic_must_have_a_plain_name(files: KnowledgeFiles) -> None:
    data = yaml.safe_load(files.knowledge_base.read_text(encoding="utf-8"))
    data["faq"]["Bad Name"] = data["faq"]["noise"]
    files.knowledge_base.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"faq\.Bad Name: a topic is 2 to 40 characters"):
        load_knowledge_base(files.knowledge_base)


# --- the command line ------------------------------------------------------------------------------


def test_bot_kb_lists_shows_adopts_and_drops_drafts(
    files: KnowledgeFiles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KNOWLEDGE_BASE", str(files.knowledge_base))
    monkeypatch.setenv("RASA_PROJECT", str(files.rasa_project))
    database = open_database(url)
    try:
        kept = save_draft(database, decommissioning(), files=files, author=MARIE, question_ids=[])
        other = save_draft(
            database, decommissioning(topic="bond"), files=files, author=MARIE, question_ids=[]
        )
    finally:
        database.dispose()

    assert main(["kb", "drafts"]) == 0
    listed = capsys.readouterr().out
    assert f"#{kept.id}  draft    faq/decommissioning  by {MARIE}" in listed
    assert "6 training questions, 0 citizens' questions linked" in listed
    assert f"#{other.id}  draft    faq/bond" in listed

    assert main(["kb", "drafts", str(kept.id)]) == 0
    shown = capsys.readouterr().out
    assert decommissioning().answer_en in shown
    assert "  - is there a decommissioning bond\n" in shown

    assert main(["kb", "adopt"]) == 2
    assert "Say which draft: bot kb adopt ID" in capsys.readouterr().err

    assert main(["kb", "adopt", str(kept.id)]) == 0
    said = capsys.readouterr().out
    assert (
        f"Draft #{kept.id} adopted: faq/decommissioning was added to knowledge/project.yml" in said
    )
    assert "nlu/faq/decommissioning.yml" in said
    assert "run `bot kb build`, then retrain the model (`bot train`" in said
    assert "decommissioning" in load_knowledge_base(files.knowledge_base).answers
    assert main(["kb", "check"]) == 0
    assert main(["kb", "build"]) == 0
    assert "domain/knowledge.yml updated" in capsys.readouterr().out

    assert main(["kb", "adopt", str(kept.id)]) == 1
    assert "was adopted" in capsys.readouterr().err
    assert main(["kb", "drop", str(other.id)]) == 0
    assert f"Draft #{other.id} (faq/bond) was dropped" in capsys.readouterr().out
    assert main(["kb", "drafts"]) == 0
    assert "No FAQ draft is waiting for review" in capsys.readouterr().out
    assert main(["kb", "drafts", "--all"]) == 0
    every = capsys.readouterr().out
    assert f"#{kept.id}  adopted  faq/decommissioning" in every
    assert f"#{other.id}  dropped  faq/bond" in every


def test_adopting_a_draft_that_no_longer_fits_lists_why(
    files: KnowledgeFiles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KNOWLEDGE_BASE", str(files.knowledge_base))
    monkeypatch.setenv("RASA_PROJECT", str(files.rasa_project))
    database = open_database(url)
    try:
        draft = save_draft(database, decommissioning(), files=files, author=MARIE, question_ids=[])
    finally:
        database.dispose()
    # Someone added the training file by hand meanwhile.
    files.nlu_file("decommissioning").write_text('version: "3.1"\nnlu: []\n', encoding="utf-8")

    assert main(["kb", "adopt", str(draft.id)]) == 1
    assert capsys.readouterr().err == (
        f"Draft #{draft.id} cannot be adopted as it is:\n"
        "- nlu/faq/decommissioning.yml already exists: choose another topic name.\n"
    )
