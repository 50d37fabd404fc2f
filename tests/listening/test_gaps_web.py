"""The knowledge gaps on the web desk, read as a community manager's visit: signing in, the
groups of unanswered questions (a hostile one shown as text), drafting an FAQ entry from a
group with the form's CSRF token, a refused draft given back with what was typed, and the
drafts waiting for review. Over HTTP against the whole web application (httpx's ASGI
transport), on SQLite and PostgreSQL; the knowledge base is a copy of the repository's."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.common.language import LanguageDetector
from bot.knowledge import KnowledgeBase
from bot.listening.faq_drafts import KnowledgeFiles
from bot.listening.gaps_web import gaps_section
from bot.settings import PROJECT_ROOT
from bot.storage.models import FaqDraft, UnansweredQuestion, utc_now
from tests.support.desk import (
    MARIE_PASSWORD,
    SECURITY_HEADERS,
    Stage,
    build_stage,
    client_for,
    csrf_of,
    desk_app,
    shown_flash,
    sign_in,
)
from tests.support.dialogue import FakeDialogue
from tests.support.gaps import E5Reader, asks, citizen, group

PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
HOSTILE = f"Qui va payer pour démanteler les éoliennes? {PAYLOAD}"
READER = E5Reader()


@pytest.fixture
def files(tmp_path: Path) -> KnowledgeFiles:
    copy = tmp_path / "repo"
    for folder in ("knowledge", "nlu", "domain"):
        shutil.copytree(PROJECT_ROOT / folder, copy / folder)
    return KnowledgeFiles(knowledge_base=copy / "knowledge" / "project.yml", rasa_project=copy)


@pytest.fixture
def stage(
    database: Engine,
    fake_dialogue: FakeDialogue,
    detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Stage:
    return build_stage(database, fake_dialogue, detector, knowledge)


def gaps_app(
    stage: Stage, dialogue: FakeDialogue, files: KnowledgeFiles, reader: E5Reader
) -> object:
    """The web application with the knowledge gaps section of the desk."""
    section = gaps_section(engine=stage.database, reader=reader, files=files)
    return desk_app(stage, dialogue, sections=[section])


@pytest.fixture
async def web(
    stage: Stage, fake_dialogue: FakeDialogue, files: KnowledgeFiles
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(gaps_app(stage, fake_dialogue, files, READER)) as client:
        yield client


def citizens_ask_about_decommissioning(database: Engine) -> None:
    """Five citizens ask who pays to take the turbines down (one with a hostile payload), and
    two ask for a joke."""
    asked = [
        ("fr", HOSTILE),
        ("fr", "qu'est-ce qui arrive aux eoliennes apres 30 ans, on les enleve?"),
        ("en", "Who pays to take the turbines down at the end of their life?"),
        ("en", "what happens to the turbines after 30 years?"),
        ("fr", "Qui va démanteler les éoliennes quand elles seront trop vieilles?"),
    ]
    for minutes, (language, text) in enumerate(asked):
        asks(
            database,
            citizen(database),
            text,
            language,
            at=utc_now() - timedelta(minutes=60 - minutes),
        )
    for language, text in group("tell_joke")[:2]:
        asks(database, citizen(database, channel="telegram"), text, language, reason="out_of_scope")


def draft_link(page: str) -> str:
    found = re.search(r'href="(/desk/gaps/draft\?[^"]+)"', page)
    assert found, "the page offers no draft"
    return html.unescape(found.group(1))


def form_fields(page: str) -> list[tuple[str, str]]:
    """The hidden fields of the draft form, as a browser sends them."""
    return [
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    ]


def textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, f"no text box {name}"
    return html.unescape(found.group(1))


def as_form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields as httpx sends them (a name given several times keeps every value)."""
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


DRAFT = {
    "topic": "decommissioning",
    "answer_fr": "Les éoliennes seraient démantelées aux frais du promoteur, qui dépose une garantie.",
    "answer_en": "The turbines would be taken down at the promoter's expense, who posts a guarantee.",
}


# --- signing in ---------------------------------------------------------------------------------


async def test_the_gaps_ask_to_sign_in_first(web: httpx.AsyncClient, stage: Stage) -> None:
    for path in ("/desk/gaps", "/desk/gaps/draft?question=1"):
        answer = await web.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/desk/login")
    posted = await web.post("/desk/gaps/drafts", data={"question": "1", "csrf": "x", **DRAFT})
    assert (posted.status_code, posted.headers["location"]) == (303, "/desk/login")
    with Session(stage.database) as session:
        assert session.exec(select(FaqDraft)).all() == []


# --- the gaps --------------------------------------------------------------------------------------


async def test_the_gaps_show_every_question_as_text(web: httpx.AsyncClient, stage: Stage) -> None:
    citizens_ask_about_decommissioning(stage.database)
    await sign_in(web, "marie", MARIE_PASSWORD)

    page = await web.get("/desk/gaps")

    assert page.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert value in page.headers[name]
    assert PAYLOAD not in page.text
    assert str(escape(HOSTILE)) in page.text
    about, outside = page.text.split('id="outside"')
    assert "5</span>\n      questions from 5 citizens" in about
    assert "EN, FR · web" in about
    assert "Draft an FAQ entry" in about
    assert "tell me a joke" not in about.lower()
    assert "Judged outside the project" in outside
    assert "Raconte-moi une blague" in outside
    assert "No draft is waiting for review." in page.text
    assert "bot kb adopt" in page.text  # adoption is on the command line, and the page says so


async def test_the_gaps_show_what_citizens_got_instead_of_a_reviewed_answer(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    asks(
        stage.database, citizen(stage.database), "How tall will the towers be?", "en",
        reason="passage", answered_with="description-projet-2025 p. 3",
    )  # fmt: skip
    asks(
        stage.database, citizen(stage.database), "How high will the turbines stand?", "en",
        reason="no_reviewed_answer",
    )  # fmt: skip
    await sign_in(web, "marie", MARIE_PASSWORD)

    page = await web.get("/desk/gaps")

    assert "How tall will the towers be?" in page.text
    assert "quoted description-projet-2025 p. 3" in page.text
    assert "How high will the turbines stand?" in page.text
    assert "told no reviewed answer" in page.text


async def test_the_gaps_can_be_filtered(web: httpx.AsyncClient, stage: Stage) -> None:
    citizens_ask_about_decommissioning(stage.database)
    await sign_in(web, "marie", MARIE_PASSWORD)

    english = await web.get("/desk/gaps", params={"language": "en"})
    assert "Who pays to take the turbines down" in english.text
    assert "Qui va payer" not in english.text
    on_telegram = await web.get("/desk/gaps", params={"channel": "telegram"})
    assert "Raconte-moi une blague" in on_telegram.text
    assert "Who pays to take the turbines down" not in on_telegram.text
    today = utc_now().date()
    earlier = await web.get(
        "/desk/gaps",
        params={"start": (today - timedelta(days=60)).isoformat(), "end": (today - timedelta(days=31)).isoformat()},
    )  # fmt: skip
    assert "No unanswered question about the project in this period." in earlier.text
    backwards = await web.get(
        "/desk/gaps", params={"start": today.isoformat(), "end": (today - timedelta(days=1)).isoformat()}
    )  # fmt: skip
    assert backwards.status_code == 400
    assert "The period ends before it starts" in backwards.text
    nonsense = await web.get("/desk/gaps", params={"language": "de"})
    assert nonsense.status_code == 400


# --- drafting an entry -----------------------------------------------------------------------------


async def test_a_manager_drafts_an_faq_entry_from_a_gap(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    citizens_ask_about_decommissioning(stage.database)
    await sign_in(web, "marie", MARIE_PASSWORD)
    gaps = await web.get("/desk/gaps")

    form = await web.get(draft_link(gaps.text))

    assert form.status_code == 200
    assert PAYLOAD not in form.text
    assert str(escape(HOSTILE)) in form.text  # the gap's questions, shown as text
    french = textarea(form.text, "questions_fr").splitlines()
    english = textarea(form.text, "questions_en").splitlines()
    assert french[0] == HOSTILE  # to edit: it becomes a training question once saved
    assert "Who pays to take the turbines down at the end of their life?" in english
    assert 'value="etude-impact-2025"' in form.text
    fields = form_fields(form.text)
    csrf = csrf_of(form.text)
    linked_ids = [int(value) for name, value in fields if name == "question_ids"]
    assert len(linked_ids) == 5

    # A form without its token does nothing.
    forged = [(n, v) for n, v in fields if n != "csrf"] + [("csrf", "forged"), *DRAFT.items()]
    refused = await web.post("/desk/gaps/drafts", data=as_form(forged))
    assert refused.status_code == 403
    with Session(stage.database) as session:
        assert session.exec(select(FaqDraft)).all() == []

    questions_fr = "\n".join(
        ["Qui va payer pour démanteler les éoliennes?", *french[1:], "qui paie le démantèlement?"]
    )
    posted = await web.post(
        "/desk/gaps/drafts",
        data=as_form([
            *fields, *DRAFT.items(), ("sources", "etude-impact-2025"),
            ("sources", "rapport-bape-2026"), ("questions_fr", questions_fr),
            ("questions_en", "\n".join([*english, "who takes the wind farm apart when it is old"])),
        ]),
    )  # fmt: skip
    assert csrf in dict(fields).values()
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"].startswith("/desk/gaps?start=")
    assert posted.headers["location"].endswith("#drafts")

    with Session(stage.database) as session:
        [draft] = session.exec(select(FaqDraft)).all()
        linked = session.exec(
            select(UnansweredQuestion.id).where(UnansweredQuestion.faq_draft_id == draft.id)
        ).all()
    assert (draft.topic, draft.status, draft.author) == (
        "decommissioning",
        "draft",
        "staff:web:marie",
    )
    assert draft.sources == ["etude-impact-2025", "rapport-bape-2026"]
    assert "qui paie le démantèlement?" in draft.questions
    assert sorted(linked) == sorted(linked_ids)

    after = await web.get(posted.headers["location"])
    assert shown_flash(after.text) == [
        f"Draft #{draft.id} (faq/decommissioning) is saved and waits for review. A person "
        f"adopts it on the command line: bot kb adopt {draft.id}."
    ]
    drafts = after.text.split('id="drafts"')[1]
    assert f"#{draft.id} faq/decommissioning" in drafts
    assert str(escape(DRAFT["answer_en"])) in drafts
    assert f"bot kb adopt {draft.id}" in drafts
    about = after.text.split('id="outside"')[0]
    assert f"draft #{draft.id} faq/decommissioning, waiting for review" in about
    assert "Draft an FAQ entry" not in about  # every question of the gap is in the draft


async def test_a_refused_draft_comes_back_with_every_problem_and_what_was_typed(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    citizens_ask_about_decommissioning(stage.database)
    await sign_in(web, "marie", MARIE_PASSWORD)
    form = await web.get(draft_link((await web.get("/desk/gaps")).text))
    fields = form_fields(form.text)

    answer = await web.post(
        "/desk/gaps/drafts",
        data=as_form([
            *fields, ("topic", "noise"), ("answer_fr", DRAFT["answer_fr"]), ("answer_en", ""),
            ("questions_fr", "Qui paie?"), ("questions_en", "who pays?\nbond?\nteardown?"),
            ("sources", "etude-impact-2025"),
        ]),
    )  # fmt: skip

    assert answer.status_code == 400
    assert shown_flash(answer.text) == [
        "The knowledge base already has the topic “noise”: choose another name, or improve that "
        "answer in knowledge/project.yml instead.",
        "The English answer is empty.",
        "Write at least 3 questions in French (1 given): the model learns to recognise the "
        "topic from them, in each language.",
    ]
    assert textarea(answer.text, "answer_fr") == DRAFT["answer_fr"]
    assert textarea(answer.text, "questions_en") == "who pays?\nbond?\nteardown?"
    assert 'value="etude-impact-2025" checked' in answer.text
    assert PAYLOAD not in answer.text
    assert csrf_of(answer.text) == dict(fields)["csrf"]
    with Session(stage.database) as session:
        assert session.exec(select(FaqDraft)).all() == []
        assert all(q.faq_draft_id is None for q in session.exec(select(UnansweredQuestion)))


async def test_a_question_no_longer_in_the_period_has_no_draft_form(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    citizens_ask_about_decommissioning(stage.database)
    await sign_in(web, "marie", MARIE_PASSWORD)
    with Session(stage.database) as session:
        last = session.exec(
            select(UnansweredQuestion.id).order_by(col(UnansweredQuestion.id).desc())
        ).first()

    missing = await web.get("/desk/gaps/draft", params={"question": (last or 0) + 100})

    assert missing.status_code == 404
    assert "This question is not among the period's unanswered questions any more" in html.unescape(
        missing.text
    )


async def test_a_reader_that_cannot_read_is_said_on_the_page(
    stage: Stage, fake_dialogue: FakeDialogue, files: KnowledgeFiles
) -> None:
    class Missing(E5Reader):
        def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            raise OSError("reader.npz: no such file")

    citizens_ask_about_decommissioning(stage.database)
    async with client_for(gaps_app(stage, fake_dialogue, files, Missing())) as client:
        await sign_in(client, "marie", MARIE_PASSWORD)
        page = await client.get("/desk/gaps")
    assert page.status_code == 503
    assert "The questions cannot be read right now: reader.npz: no such file" in page.text
