"""The concern register on the web desk, over HTTP: an agent and a manager work concerns,
export them and publish the public report; roles are checked on every route and refusals are
audited; a colleague's concurrent change is refused and nothing typed is lost."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pyotp
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours
from bot.common.language import LanguageDetector
from bot.desk.hours import DeskSchedule
from bot.desk.service import Desk
from bot.knowledge import KnowledgeBase
from bot.register.reports_web import reports_section
from bot.register.service import Register
from bot.register.web import register_section
from bot.staff_web.managers import staff_section
from bot.storage.models import AuditEntry, Concern, ConcernEvent, OutboxMessage, StaffAccount
from tests.support.desk import Stage, add_staff, client_for, desk_app, sign_in
from tests.support.dialogue import FakeDialogue
from tests.support.register import add_concern

MANAGER_PASSWORD = "lac-des-sables-2026"
AGENT_PASSWORD = "rang-saint-joseph-9"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class Desks:
    """The web application with the register's sections, and a client per person."""

    def __init__(self, stage: Stage, register: Register, dialogue: FakeDialogue) -> None:
        self.stage = stage
        self.register = register
        self.app = desk_app(
            stage,
            dialogue,
            sections=[
                register_section(register),
                reports_section(register, knowledge=stage.knowledge),
                staff_section(engine=stage.database),
            ],
        )

    @property
    def database(self) -> Engine:
        return self.stage.database


@pytest.fixture
def desks(
    database: Engine, fake_dialogue: FakeDialogue, detector: LanguageDetector,
    knowledge: KnowledgeBase,
) -> Desks:  # fmt: skip
    from bot.core.conversation import ConversationCore

    desk = Desk(
        engine=database, schedule=DeskSchedule(DeskHours.parse("always"), BusinessCalendar())
    )
    register = Register(engine=database, calendar=BusinessCalendar())
    core = ConversationCore(
        engine=database, dialogue=fake_dialogue, detector=detector, register=register,
        first_contact_notice=False, desk=desk,
    )  # fmt: skip
    add_staff(database, "camille", MANAGER_PASSWORD, "Camille", role="manager")
    add_staff(database, "sam", AGENT_PASSWORD, "Sam", role="agent")
    return Desks(Stage(database=database, desk=desk, core=core, knowledge=knowledge), register,
                 fake_dialogue)  # fmt: skip


@pytest.fixture
def fake_dialogue() -> FakeDialogue:
    return FakeDialogue()


@pytest.fixture
async def agent(desks: Desks) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with client_for(desks.app) as client:
        yield client, await sign_in(client, "sam", AGENT_PASSWORD)


@pytest.fixture
async def manager(desks: Desks) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with client_for(desks.app) as client:
        yield client, await sign_in(client, "camille", MANAGER_PASSWORD)


def version_of(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, "the page has no version field"
    return found.group(1)


def flashes(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', page)]


def audit(database: Engine, action: str) -> list[AuditEntry]:
    with Session(database) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def history(database: Engine, reference: str) -> list[tuple[str, str, str | None, bool]]:
    with Session(database) as session:
        concern = session.exec(select(Concern).where(Concern.reference == reference)).one()
        return [
            (e.actor, e.kind, e.text, e.visible_to_citizen)
            for e in session.exec(
                select(ConcernEvent)
                .where(ConcernEvent.concern_id == concern.id)
                .order_by(col(ConcernEvent.id))
            )
        ]


def some_concerns(database: Engine) -> None:
    today = datetime.now(UTC)
    add_concern(database, "C-2026-0001", text="Le bruit des camions la nuit", category="noise",
                received_at=today - timedelta(days=40), respond_by=date.today() - timedelta(days=5))  # fmt: skip
    add_concern(database, "C-2026-0002", text="De la poussière sur le linge", category="dust",
                received_at=today - timedelta(days=2), respond_by=date.today() + timedelta(days=3),
                chat_id="7300000002", citizen="tg-0002")  # fmt: skip
    add_concern(database, "C-2026-0003", text="Je m'oppose au tracé", category="process",
                kind="objection", received_at=today - timedelta(days=1), status="closed",
                outcome="resolved", chat_id="7300000003", citizen="tg-0003")  # fmt: skip


# --- the list ----------------------------------------------------------------------------


async def test_the_list_filters_counts_and_marks_overdue(
    desks: Desks, agent: tuple[httpx.AsyncClient, str]
) -> None:
    some_concerns(desks.database)
    web, _ = agent
    page = (await web.get("/desk/concerns")).text
    assert re.findall(r'href="/desk/concerns/(C-[\d-]+)"', page) == [
        "C-2026-0003", "C-2026-0002", "C-2026-0001",
    ]  # fmt: skip
    assert re.search(r"received <span class=\"count\">2</span>", page)
    assert re.search(r"closed <span class=\"count\">1</span>", page)
    assert page.count('class="overdue"') == 1
    assert "late: answer" in page

    def shown(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        return re.findall(r'href="/desk/concerns/(C-[\d-]+)"', answer.text)

    assert shown(await web.get("/desk/concerns?overdue=1")) == ["C-2026-0001"]
    assert shown(await web.get("/desk/concerns?words=POUSSIÈRE")) == ["C-2026-0002"]
    assert shown(await web.get("/desk/concerns?words=100%25")) == []
    assert shown(await web.get("/desk/concerns?kind=objection")) == ["C-2026-0003"]
    assert shown(await web.get("/desk/concerns?status=received&sort=oldest")) == [
        "C-2026-0001", "C-2026-0002",
    ]  # fmt: skip
    assert shown(await web.get("/desk/concerns?view=week")) == ["C-2026-0002"]
    assert shown(await web.get("/desk/concerns?assignee=none&category=dust")) == ["C-2026-0002"]
    assert (await web.get("/desk/concerns?sort=evil")).status_code == 400
    assert (await web.get("/desk/concerns?page=0")).status_code == 400


async def test_the_list_pages_fifty_at_a_time(
    desks: Desks, agent: tuple[httpx.AsyncClient, str]
) -> None:
    for number in range(1, 121):
        add_concern(desks.database, f"C-2026-{number:04d}", chat_id=f"73{number:08d}",
                    citizen=f"tg-{number:04d}", received_at=datetime(2026, 3, 1, tzinfo=UTC)
                    + timedelta(minutes=number))  # fmt: skip
    web, _ = agent
    first = (await web.get("/desk/concerns")).text
    third = (await web.get("/desk/concerns?page=3")).text
    assert len(re.findall(r'href="/desk/concerns/C-', first)) == 50
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    assert len(re.findall(r'href="/desk/concerns/C-', third)) == 20
    assert 'rel="next"' not in third
    assert '<span class="count">120</span>' in first


# --- working a concern -------------------------------------------------------------------


async def test_an_agent_works_a_concern_end_to_end(
    desks: Desks, agent: tuple[httpx.AsyncClient, str]
) -> None:
    some_concerns(desks.database)
    web, csrf = agent
    url = "/desk/concerns/C-2026-0002"

    async def post(action: str, **data: str) -> str:
        page = (await web.get(url)).text
        answer = await web.post(
            f"{url}/{action}", data={"csrf": csrf, "version": version_of(page), **data}
        )
        assert answer.status_code == 303, answer.text
        return (await web.get(url)).text

    page = await post("acknowledge", message="Nous regardons cela cette semaine.")
    assert "Acknowledged: the citizen was told." in flashes(page)
    await post("assign", assignee="sam")
    await post("classify", category="health_safety", severity="high")
    await post("note", text="Vérifier le calendrier des camions.")
    await post("answer", text="Un arrosage des chemins commence lundi.")
    page = await post("close", outcome="resolved", message="Merci de votre patience.")
    assert "Closed: the citizen was told how to accept or appeal." in flashes(page)

    with Session(desks.database) as session:
        concern = session.exec(select(Concern).where(Concern.reference == "C-2026-0002")).one()
        sent = [m.text for m in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))]
    assert (concern.status, concern.outcome, concern.assignee) == ("closed", "resolved", "sam")
    assert (concern.category, concern.severity) == ("health_safety", "high")
    assert "Un arrosage des chemins commence lundi." in sent  # on the citizen's channel
    lines = history(desks.database, "C-2026-0002")
    assert ("staff:web:sam", "assignment", "sam", False) in lines
    assert ("staff:web:sam", "classification", "category: dust → health_safety; severity: medium → high", False) in lines  # fmt: skip
    assert ("staff:web:sam", "note", "Vérifier le calendrier des camions.", False) in lines
    assert ("staff:web:sam", "response", "Un arrosage des chemins commence lundi.", True) in lines
    # The page shows the whole history, and what the citizen saw as such.
    assert page.count("seen by the citizen") >= 1
    assert "Un arrosage des chemins commence lundi." in page

    reopened = await post("reopen", reason="Appel reçu par téléphone.")
    assert "Reopened for review." in flashes(reopened)


async def test_a_colleagues_change_in_between_is_refused_and_nothing_typed_is_lost(
    desks: Desks, agent: tuple[httpx.AsyncClient, str], manager: tuple[httpx.AsyncClient, str]
) -> None:
    some_concerns(desks.database)
    (sam, sam_csrf), (camille, camille_csrf) = agent, manager
    url = "/desk/concerns/C-2026-0002"
    seen_by_sam = version_of((await sam.get(url)).text)
    seen_by_camille = version_of((await camille.get(url)).text)
    assert seen_by_sam == seen_by_camille

    first = await camille.post(f"{url}/classify", data={
        "csrf": camille_csrf, "version": seen_by_camille, "category": "traffic", "severity": "low",
    })  # fmt: skip
    assert first.status_code == 303
    second = await sam.post(f"{url}/answer", data={
        "csrf": sam_csrf, "version": seen_by_sam, "text": "Ma réponse soignée au citoyen.",
    })  # fmt: skip
    assert second.status_code == 409
    assert "was changed by someone else meanwhile" in html.unescape(second.text)
    assert "Ma réponse soignée au citoyen." in html.unescape(second.text)  # still in the box
    with Session(desks.database) as session:
        concern = session.exec(select(Concern).where(Concern.reference == "C-2026-0002")).one()
        assert (concern.category, concern.status) == ("traffic", "received")
        assert session.exec(select(OutboxMessage)).all() == []
    # Sent again from the fresh page, it goes through.
    again = await sam.post(f"{url}/answer", data={
        "csrf": sam_csrf, "version": version_of(second.text), "text": "Ma réponse soignée au citoyen.",
    })  # fmt: skip
    assert again.status_code == 303


# --- exports -----------------------------------------------------------------------------


async def test_exports_are_pseudonymised_for_everyone_and_identified_only_for_a_manager(
    desks: Desks, agent: tuple[httpx.AsyncClient, str], manager: tuple[httpx.AsyncClient, str]
) -> None:
    some_concerns(desks.database)
    (sam, sam_csrf), (camille, camille_csrf) = agent, manager

    plain = await sam.get("/desk/concerns/export?format=csv-semicolon&status=received")
    assert plain.status_code == 200
    assert plain.headers["content-disposition"].startswith('attachment; filename="concerns-')
    text = plain.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert sorted(r["reference"] for r in rows) == ["C-2026-0001", "C-2026-0002"]
    assert "chat_id" not in rows[0]
    assert "7300000002" not in text
    lines = (await sam.get("/desk/concerns/export?format=jsonl")).text.splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["reference"]
    workbook = await sam.get("/desk/concerns/export?format=xlsx")
    assert workbook.content[:2] == b"PK"

    refused = await sam.post("/desk/concerns/export", data={
        "csrf": sam_csrf, "reason": "curious", "format": "csv",
    })  # fmt: skip
    assert refused.status_code == 403
    [refusal] = audit(desks.database, "desk.refused")
    assert refusal.actor == "staff:web:sam"
    assert refusal.detail["action"] == "export with identifiers"

    # A manager without two-step sign-in is refused too (issue 13: required for identified data).
    without = await camille.post("/desk/concerns/export", data={
        "csrf": camille_csrf, "reason": "Audit du prêteur", "format": "csv",
    })  # fmt: skip
    assert without.status_code == 403
    assert "two-step" in without.text.lower()

    with Session(desks.database) as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.username == "camille")).one()
        account.totp_secret = TOTP_SECRET
        session.add(account)
        session.commit()
    async with client_for(desks.app) as web:
        form = await web.get("/desk/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token
        signed = await web.post("/desk/login", data={
            "username": "camille", "password": MANAGER_PASSWORD, "csrf": token.group(1),
            "code": pyotp.TOTP(TOTP_SECRET).now(),
        })  # fmt: skip
        assert signed.status_code == 303
        page = (await web.get("/desk/concerns?status=received")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        no_reason = await web.post("/desk/concerns/export?status=received", data={
            "csrf": csrf.group(1), "reason": " ", "format": "csv",
        })  # fmt: skip
        assert no_reason.status_code == 303
        identified = await web.post("/desk/concerns/export?status=received", data={
            "csrf": csrf.group(1), "reason": "Demande du prêteur (audit annuel)", "format": "csv",
        })  # fmt: skip
    assert identified.status_code == 200
    rows = list(csv.DictReader(io.StringIO(identified.text.lstrip("\ufeff"))))
    assert sorted((r["reference"], r["chat_id"]) for r in rows) == [
        ("C-2026-0001", "7301122334"), ("C-2026-0002", "7300000002"),
    ]  # fmt: skip
    [record] = audit(desks.database, "export_identified")
    assert record.actor == "staff:web:camille"
    assert record.detail["reason"] == "Demande du prêteur (audit annuel)"
    assert record.detail["rows"] == 2
    assert record.detail["filter"]["statuses"] == ["received"]


# --- public reports ------------------------------------------------------------------------


async def test_a_report_is_drafted_reviewed_and_published_by_a_manager(
    desks: Desks, agent: tuple[httpx.AsyncClient, str], manager: tuple[httpx.AsyncClient, str]
) -> None:
    some_concerns(desks.database)
    (sam, sam_csrf), (camille, camille_csrf) = agent, manager
    today = date.today()
    drafted = await sam.post("/desk/reports", data={
        "csrf": sam_csrf, "since": (today - timedelta(days=90)).isoformat(),
        "until": today.isoformat(), "language": "fr",
    })  # fmt: skip
    assert drafted.status_code == 303
    url = drafted.headers["location"]
    page = (await sam.get(url)).text
    markdown = html.unescape(
        re.search(r'<textarea id="markdown"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    )  # type: ignore[union-attr]
    assert markdown.startswith("# ")
    # The draft stays on the desk: nothing to download before it is published.
    assert (await sam.get(f"{url}/report.html")).status_code == 404
    edited = markdown + "\nMerci à Jean Tremblay <script>alert(1)</script> pour sa patience.\n"
    edited = edited.replace("Jean Tremblay", "un résident")  # the reviewer removes a name
    saved = await sam.post(url, data={"csrf": sam_csrf, "markdown": edited})
    assert saved.status_code == 303
    preview = (await sam.get(url)).text
    assert "un résident &lt;script&gt;" in preview  # text, never markup
    assert "<script>alert(1)</script>" not in preview

    refused = await sam.post(f"{url}/publish", data={"csrf": sam_csrf})
    assert refused.status_code == 403
    assert [e.detail["action"] for e in audit(desks.database, "desk.refused")] == [
        "publish a public report"
    ]
    published = await camille.post(f"{url}/publish", data={"csrf": camille_csrf})
    assert published.status_code == 303
    [record] = audit(desks.database, "report.publish")
    assert record.actor == "staff:web:camille"
    # Published: it no longer changes, and can be downloaded again as HTML and PDF.
    late = await sam.post(url, data={"csrf": sam_csrf, "markdown": "# Autre chose"})
    assert late.status_code == 303
    assert "Only a draft can be edited" in " ".join(flashes((await sam.get(url)).text))
    page_html = await sam.get(f"{url}/report.html")
    assert page_html.status_code == 200
    assert "un résident" in page_html.text
    assert "Jean Tremblay" not in page_html.text
    assert '<html lang="fr">' in page_html.text
    pdf = await sam.get(f"{url}/report.pdf")
    assert pdf.content.startswith(b"%PDF")
    listing = (await camille.get("/desk/reports")).text
    assert "published by staff:web:camille" in listing


# --- managers' pages -----------------------------------------------------------------------


async def test_roles_are_managed_from_the_desk_and_audited(
    desks: Desks, agent: tuple[httpx.AsyncClient, str], manager: tuple[httpx.AsyncClient, str]
) -> None:
    (sam, sam_csrf), (camille, camille_csrf) = agent, manager
    for url in ("/desk/staff", "/desk/audit", "/desk/audit/export.csv"):
        assert (await sam.get(url)).status_code == 403, url
    assert (await sam.post("/desk/staff/sam/role", data={"csrf": sam_csrf, "role": "manager"})).status_code == 403  # fmt: skip
    assert len(audit(desks.database, "desk.refused")) == 4
    staff = (await camille.get("/desk/staff")).text
    assert "sam" in staff
    assert "camille" in staff
    # The last manager cannot be demoted.
    last = await camille.post(
        "/desk/staff/camille/role", data={"csrf": camille_csrf, "role": "agent"}
    )
    assert "is the last manager" in " ".join(flashes((await camille.get("/desk/staff")).text))
    assert last.status_code == 303
    promoted = await camille.post(
        "/desk/staff/sam/role", data={"csrf": camille_csrf, "role": "manager"}
    )
    assert promoted.status_code == 303
    [change] = audit(desks.database, "staff.role")
    assert (change.actor, change.detail) == (
        "staff:web:camille", {"username": "sam", "before": "agent", "after": "manager"},
    )  # fmt: skip
    # It applies from Sam's next request.
    assert (await sam.get("/desk/staff")).status_code == 200
    trail = (await camille.get("/desk/audit?action=staff.role")).text
    assert "staff:web:camille" in trail
    assert "desk.refused" not in trail
    exported = await camille.get("/desk/audit/export.csv?action=desk.refused")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 4
    assert {r["action"] for r in rows} == {"desk.refused"}


async def test_an_export_streams_while_the_server_answers_others(
    desks: Desks, database: Engine
) -> None:
    """Over a real socket: the first bytes of a large export arrive long before its end (the
    producer is still reading the database), and another request is answered meanwhile."""
    import asyncio
    import threading

    from bot.app import serve_http
    from tests.support.register import add_many_concerns

    add_many_concerns(database, 40_000)  # about 7 MB of CSV
    server, task, port = await serve_http(desks.app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as web:
            await sign_in(web, "sam", AGENT_PASSWORD)
            async with web.stream("GET", "/desk/concerns/export?format=csv") as download:
                assert download.status_code == 200
                chunks = download.aiter_bytes()
                first = await anext(chunks)
                assert first.startswith("\ufeff".encode())
                # Not built before sending: the export's thread is still at work.
                assert any(t.name == "export-csv" for t in threading.enumerate())
                other = await asyncio.wait_for(web.get("/desk/concerns?page=2"), timeout=5)
                assert other.status_code == 200
                size = len(first) + sum([len(chunk) async for chunk in chunks])
        assert size > 5_000_000
    finally:
        server.should_exit = True
        await task


async def test_a_form_without_the_version_it_was_made_from_changes_nothing(
    desks: Desks, agent: tuple[httpx.AsyncClient, str]
) -> None:
    some_concerns(desks.database)
    web, csrf = agent
    answer = await web.post(
        "/desk/concerns/C-2026-0002/answer", data={"csrf": csrf, "text": "Sans version."}
    )
    assert answer.status_code == 400
    with Session(desks.database) as session:
        assert session.exec(select(OutboxMessage)).all() == []
