"""`bot concerns` and `bot privacy`, as a community manager types them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.cli import main
from bot.common.calendar import BusinessCalendar
from bot.register.service import Register
from bot.storage import repository
from bot.storage.database import open_database
from bot.storage.models import AuditEntry, OutboxMessage


@pytest.fixture
def reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = open_database(url)
    register = Register(engine=engine, calendar=BusinessCalendar())
    with Session(engine, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="4242", citizen_id="tg-5d06cf3a6b74eb1f026f",
            place="private",
        )  # fmt: skip
        recorded = register.record(
            session=session, conversation=conversation, message_id=None, language="fr",
            text="=HYPERLINK(\"x\") la poussière du chemin du Lac-Vert", category="traffic",
        )  # fmt: skip
    engine.dispose()
    return recorded.concern.reference


def bot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_a_concern_goes_through_its_life_from_the_command_line(
    reference: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = bot(capsys, "concerns", "list", "--status", "received")
    assert status == 0
    assert reference in out
    assert bot(capsys, "concerns", "--as", "marie", "ack", reference)[1].strip() == (
        f"{reference}: acknowledged"
    )
    bot(capsys, "concerns", "--as", "marie", "assign", reference, "Jean")
    bot(capsys, "concerns", "--as", "jean", "note", reference, "Voir avec le transporteur")
    bot(capsys, "concerns", "--as", "jean", "respond", reference, "Nous arroserons le chemin.")
    status, out, _ = bot(
        capsys, "concerns", "--as", "jean", "close", reference, "--outcome", "resolved"
    )
    assert out.strip() == f"{reference}: closed (resolved)"
    status, out, _ = bot(capsys, "concerns", "show", reference)
    assert "staff:marie" in out
    assert "staff:jean" in out
    assert "note" in out
    assert "Nous arroserons le chemin." in out  # the history shows what was sent
    assert "(sent to the citizen)" in out
    assert "place: chemin du Lac-Vert" in out
    engine = open_database(f"sqlite:///{tmp_path / 'register.db'}")
    with Session(engine) as session:
        sent = [m.text for m in session.exec(select(OutboxMessage))]
    engine.dispose()
    assert "Nous arroserons le chemin." in sent  # the answer goes to the citizen's Telegram
    assert "Voir avec le transporteur" not in sent  # an internal note never does


def test_wrong_references_and_transitions_are_one_sentence(
    reference: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = bot(capsys, "concerns", "show", "C-1999-0042")
    assert status == 1
    assert err.strip() == "There is no concern C-1999-0042."
    bot(capsys, "concerns", "close", reference, "--outcome", "resolved")
    status, _, err = bot(capsys, "concerns", "respond", reference, "Trop tard")
    assert status == 1
    assert err.strip() == f"Concern {reference} is closed; it cannot become responded."


def record_objection(tmp_path: Path) -> str:
    """A second citizen objects to the project itself, beside the fixture's grievance."""
    engine = open_database(f"sqlite:///{tmp_path / 'register.db'}")
    register = Register(engine=engine, calendar=BusinessCalendar())
    with Session(engine, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="web", external_id="web-77", citizen_id="web-77aa01",
            place="private",
        )  # fmt: skip
        recorded = register.record(
            session=session, conversation=conversation, message_id=None, language="fr",
            text="La consultation publique a été bâclée.", category="process", kind="objection",
        )  # fmt: skip
    engine.dispose()
    return recorded.concern.reference


def test_the_kind_of_a_concern_is_listed_shown_and_filtered(
    reference: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    objection = record_objection(tmp_path)

    status, out, _ = bot(capsys, "concerns", "list")
    assert status == 0
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert "grievance" in lines[reference]
    assert "objection" in lines[objection]

    status, out, err = bot(capsys, "concerns", "list", "--kind", "objection")
    assert status == 0
    assert objection in out
    assert reference not in out
    assert err.strip() == "1 concerns."

    status, out, _ = bot(capsys, "concerns", "show", objection)
    assert "category process, kind objection," in out
    status, out, _ = bot(capsys, "concerns", "show", reference)
    assert "category traffic, kind grievance," in out

    target = tmp_path / "grievances.csv"
    bot(capsys, "concerns", "export", "--kind", "grievance", "-o", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert [(row["reference"], row["kind"]) for row in rows] == [(reference, "grievance")]


def test_an_unknown_kind_is_refused_in_one_sentence(
    reference: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for verb in ("list", "export"):
        status, out, err = bot(capsys, "concerns", verb, "--kind", "complaint")
        assert status == 1
        assert out == ""
        assert err.strip() == "'complaint' is not a kind of concern; use grievance or objection."


def test_export_is_pseudonymised_and_neutralises_formulas(
    reference: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "concerns.csv"
    status, _, err = bot(
        capsys, "concerns", "export", "--format", "csv", "--delimiter", ";", "-o", str(target)
    )
    assert status == 0
    assert "1 concerns exported." in err
    content = target.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content), delimiter=";"))
    assert rows[0]["reference"] == reference
    assert rows[0]["text"].startswith("'=HYPERLINK")
    assert "4242" not in content  # no chat id without --with-identifiers
    bot(capsys, "concerns", "--as", "marie", "export", "--with-identifiers", "-o", str(target))
    assert "4242" in target.read_text(encoding="utf-8-sig")
    engine = open_database(f"sqlite:///{tmp_path / 'register.db'}")
    with Session(engine) as session:
        (audit,) = session.exec(select(AuditEntry)).all()
    engine.dispose()
    assert (audit.actor, audit.action) == ("staff:marie", "export_identified")


def test_the_public_report_and_the_retention_purge(
    reference: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    status, _, _ = bot(capsys, "concerns", "report", "--format", "md", "-o", str(report))
    assert status == 0
    text = report.read_text(encoding="utf-8")
    assert "Trois-Collines" in text
    assert reference not in text
    status, out, _ = bot(capsys, "privacy", "purge", "--days", "30", "--dry-run")
    assert status == 0
    assert out.strip() == (
        "Older than 30 days: 0 conversations and 0 concerns would be anonymised, "
        "0 messages heard in community groups would be deleted."
    )


def test_overdue_exits_non_zero_when_something_is_late(
    reference: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = bot(capsys, "concerns", "overdue")
    assert status == 0
    assert err.strip() == "0 overdue."
