"""Exports of the grievance register, as a community manager would check them: opened in
Excel with the accents right, safe from formulas, filtered to what was asked, pseudonymised
unless asked otherwise (and then audited), and streamed without filling the memory."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from bot.register import export
from bot.register.export import export_concerns, iter_concerns
from bot.register.filters import ConcernFilter
from bot.storage.models import AuditEntry
from tests.support.register import MARCH, add_concern, add_many_concerns

MB = 1024 * 1024
TRICKY = ["=1+1", "+33 6 12 34 56 78", "-2 degrés la nuit", "@SUM(A1:A9)", "\tcalme", "\rretour"]


def export_to(engine: Engine, path: Path, **options: Any) -> int:
    options.setdefault("filter", ConcernFilter())
    options.setdefault("actor", "staff:camille")
    options.setdefault("format", path.suffix.lstrip("."))
    return export_concerns(engine, destination=path, **options)


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    text = content[3:].decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


# --- Reading an XLSX file as Excel would, with nothing but zipfile and ElementTree -----------

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@dataclass
class Cell:
    kind: str  # "string", "number" or "boolean"
    value: Any
    style: int


def _unescape(text: str) -> str:
    """Excel's escapes of control characters in XML (`_x000D_` for a carriage return)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda match: chr(int(match.group(1), 16)), text)


class Workbook:
    def __init__(self, path: Path) -> None:
        self.archive = zipfile.ZipFile(path)
        names = self.archive.namelist()
        self.shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = self.xml("xl/sharedStrings.xml")
            self.shared = [
                _unescape("".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")))
                for si in root.findall("m:si", NS)
            ]
        self.sheets = sorted(n for n in names if n.startswith("xl/worksheets/sheet"))

    def xml(self, name: str) -> ElementTree.Element:
        return ElementTree.fromstring(self.archive.read(name))

    def text(self) -> str:
        return "".join(self.archive.read(name).decode("utf-8") for name in self.archive.namelist())

    def rows(self, sheet: int = 1) -> list[dict[str, Cell]]:
        """Each row as {column letter: cell}."""
        rows = []
        for row in self.xml(f"xl/worksheets/sheet{sheet}.xml").iter(f"{{{NS['m']}}}row"):
            cells = {}
            for c in row.findall("m:c", NS):
                letter = re.sub(r"\d", "", c.get("r", ""))
                style, kind = int(c.get("s", "0")), c.get("t")
                if kind == "inlineStr":
                    words = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
                    cells[letter] = Cell("string", _unescape(words), style)
                elif kind == "s":
                    cells[letter] = Cell(
                        "string", self.shared[int(c.findtext("m:v", "", NS))], style
                    )
                elif kind == "b":
                    cells[letter] = Cell("boolean", c.findtext("m:v", "", NS) == "1", style)
                else:
                    cells[letter] = Cell("number", float(c.findtext("m:v", "", NS)), style)
            rows.append(cells)
        return rows

    def number_format(self, style: int) -> str:
        styles = self.xml("xl/styles.xml")
        xf = styles.findall("m:cellXfs/m:xf", NS)[style]
        formats = {
            f.get("numFmtId"): f.get("formatCode", "")
            for f in styles.findall("m:numFmts/m:numFmt", NS)
        }
        return formats.get(xf.get("numFmtId"), "")

    def is_bold(self, style: int) -> bool:
        styles = self.xml("xl/styles.xml")
        xf = styles.findall("m:cellXfs/m:xf", NS)[style]
        font = styles.findall("m:fonts/m:font", NS)[int(xf.get("fontId", "0"))]
        return font.find("m:b", NS) is not None


def column_of(header: str, rows: list[dict[str, Cell]]) -> str:
    return next(letter for letter, cell in rows[0].items() if cell.value == header)


def excel_serial(moment: datetime) -> float:
    return (moment.replace(tzinfo=None) - datetime(1899, 12, 30)) / timedelta(days=1)


# --- CSV ------------------------------------------------------------------------------------


def test_csv_opens_in_excel_with_accents_and_line_breaks(database: Engine, tmp_path: Path) -> None:
    words = "Poussière sur l'école, «  trop de camions » !\nDeuxième ligne : ça continue."
    add_concern(database, "C-2026-0001", text=words, place="Rue de l'Église")

    assert export_to(database, tmp_path / "register.csv") == 1

    [row] = read_csv(tmp_path / "register.csv")
    assert row["text"] == words
    assert row["place"] == "Rue de l'Église"
    assert row["reference"] == "C-2026-0001"
    assert row["received_at"] == "2026-03-02T08:00:00+00:00"
    assert row["citizen"] == "tg-3f9a1c0b7e"


@pytest.mark.parametrize("format", ["csv", "jsonl", "xlsx"])
def test_every_export_says_whether_a_concern_is_a_grievance_or_an_objection(
    database: Engine, tmp_path: Path, format: str
) -> None:
    add_concern(database, "C-2026-0001", category="property_damage", kind="grievance")
    add_concern(
        database,
        "C-2026-0002",
        received_at=MARCH + timedelta(hours=1),
        category="process",
        kind="objection",
        text="La consultation a été bâclée.",
    )
    path = tmp_path / f"register.{format}"

    export_to(database, path)

    if format == "csv":
        rows = read_csv(path)
        headers = list(rows[0])
        kinds = [(row["category"], row["kind"]) for row in rows]
    elif format == "jsonl":
        records = read_jsonl(path)
        headers = list(records[0])
        kinds = [(record["category"], record["kind"]) for record in records]
    else:
        sheet = Workbook(path).rows()
        headers = [cell.value for cell in sheet[0].values()]
        category, kind = column_of("category", sheet), column_of("kind", sheet)
        kinds = [(row[category].value, row[kind].value) for row in sheet[1:]]
    assert headers[headers.index("category") + 1] == "kind"
    assert kinds == [("property_damage", "grievance"), ("process", "objection")]


def test_csv_with_semicolons_for_french_excel(database: Engine, tmp_path: Path) -> None:
    add_concern(database, "C-2026-0001", text="Trop de bruit; vraiment trop", sentiment=-0.75)

    export_to(database, tmp_path / "register.csv", delimiter=";")

    header = (tmp_path / "register.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("reference;received_at;channel;")
    [row] = read_csv(tmp_path / "register.csv", delimiter=";")
    assert row["text"] == "Trop de bruit; vraiment trop"
    assert row["sentiment"] == "-0.75"  # a number: never prefixed like a formula


def test_csv_refuses_other_delimiters(database: Engine, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        export_to(database, tmp_path / "register.csv", delimiter="|")
    assert not (tmp_path / "register.csv").exists()


def test_formula_like_words_cannot_run_in_a_spreadsheet_csv(
    database: Engine, tmp_path: Path
) -> None:
    for number, words in enumerate(TRICKY, start=1):
        add_concern(database, f"C-2026-{number:04d}", text=words, sentiment=-0.5)

    export_to(database, tmp_path / "register.csv")

    rows = read_csv(tmp_path / "register.csv")
    assert [row["text"] for row in rows] == ["'" + words for words in TRICKY]
    assert {row["sentiment"] for row in rows} == {"-0.5"}


def test_formula_like_words_cannot_run_in_a_spreadsheet_xlsx(
    database: Engine, tmp_path: Path
) -> None:
    for number, words in enumerate(TRICKY, start=1):
        add_concern(database, f"C-2026-{number:04d}", text=words, sentiment=-0.5)
    add_concern(database, "C-2026-0099", text="Rien de spécial", assignee="=HYPERLINK(0)")

    export_to(database, tmp_path / "register.xlsx")

    rows = Workbook(tmp_path / "register.xlsx").rows()
    text, assignee, sentiment = (column_of(h, rows) for h in ("text", "assignee", "sentiment"))
    assert [row[text].value for row in rows[1:]] == [
        *("'" + words for words in TRICKY),
        "Rien de spécial",
    ]
    assert all(row[text].kind == "string" for row in rows[1:])
    assert rows[-1][assignee].value == "'=HYPERLINK(0)"
    assert rows[1][sentiment] == Cell("number", -0.5, 0)


def test_jsonl_keeps_the_words_as_they_were_written(database: Engine, tmp_path: Path) -> None:
    words = "=1+1 puis une\nnouvelle ligne et un séparateur\u2028Unicode"
    add_concern(database, "C-2026-0001", text=words)
    add_concern(database, "C-2026-0002", text="Road works at night", language="en")

    assert export_to(database, tmp_path / "register.jsonl") == 2

    content = (tmp_path / "register.jsonl").read_text(encoding="utf-8")
    assert len(content.splitlines()) == 2  # even readers that split on U+2028
    first, second = read_jsonl(tmp_path / "register.jsonl")
    assert first["text"] == words
    assert first["received_at"] == "2026-03-02T08:00:00+00:00"
    assert first["confidential"] is False
    assert second["language"] == "en"


def test_xlsx_has_a_frozen_bold_header_an_autofilter_and_real_dates(
    database: Engine, tmp_path: Path
) -> None:
    received = datetime(2026, 3, 2, 8, 30, 15, tzinfo=UTC)
    add_concern(
        database,
        "C-2026-0001",
        received_at=received,
        sentiment=0.25,
        confidential=True,
        respond_by=date(2026, 3, 30),
        status="closed",
        outcome="resolved",
        closed_at=received + timedelta(days=3),
    )
    add_concern(database, "C-2026-0002", received_at=received + timedelta(hours=1))

    export_to(database, tmp_path / "register.xlsx")

    book = Workbook(tmp_path / "register.xlsx")
    sheet = book.xml("xl/worksheets/sheet1.xml")
    pane = sheet.find("m:sheetViews/m:sheetView/m:pane", NS)
    assert pane is not None
    assert (pane.get("ySplit"), pane.get("state")) == ("1", "frozen")
    autofilter = sheet.find("m:autoFilter", NS)
    assert autofilter is not None
    assert autofilter.get("ref") == "A1:T3"
    assert all(float(c.get("width", 0)) >= 8 for c in sheet.findall("m:cols/m:col", NS))

    rows = book.rows()
    assert [cell.value for cell in rows[0].values()] == [c.header for c in export.EXPORT_COLUMNS]
    assert all(book.is_bold(cell.style) for cell in rows[0].values())
    first = rows[1]
    received_at = first[column_of("received_at", rows)]
    assert received_at.kind == "number"
    assert received_at.value == pytest.approx(excel_serial(received), abs=1e-6)
    assert "yyyy-mm-dd hh:mm" in book.number_format(received_at.style)
    respond_by = first[column_of("respond_by", rows)]
    assert respond_by.value == excel_serial(datetime(2026, 3, 30, tzinfo=UTC))
    assert book.number_format(respond_by.style) == "yyyy-mm-dd"
    assert first[column_of("closed_at", rows)].kind == "number"
    assert first[column_of("confidential", rows)] == Cell("boolean", True, 0)
    assert first[column_of("sentiment", rows)].value == 0.25
    assert column_of("acknowledged_at", rows) not in first  # empty stays empty


def test_xlsx_larger_than_a_sheet_goes_on_in_another(
    database: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "XLSX_ROWS_PER_SHEET", 3)  # Excel's is 1,048,575
    for number in range(1, 6):
        add_concern(database, f"C-2026-{number:04d}", received_at=MARCH + timedelta(hours=number))

    assert export_to(database, tmp_path / "register.xlsx") == 5

    book = Workbook(tmp_path / "register.xlsx")
    assert len(book.sheets) == 2
    first, second = book.rows(1), book.rows(2)
    assert [row["A"].value for row in first] == [
        "reference",
        *(f"C-2026-000{n}" for n in (1, 2, 3)),
    ]
    assert [row["A"].value for row in second] == ["reference", "C-2026-0004", "C-2026-0005"]


# --- What is exported -------------------------------------------------------------------------


def add_register(database: Engine) -> None:
    """Five concerns from March to April, on every channel, in French and English."""
    add_concern(
        database,
        "C-2026-0001",
        received_at=datetime(2026, 3, 2, 8, tzinfo=UTC),
        channel="web",
        chat_id="web-1",
        category="noise",
    )
    add_concern(
        database,
        "C-2026-0002",
        received_at=datetime(2026, 3, 5, 17, 30, tzinfo=UTC),
        language="en",
        category="dust",
        status="acknowledged",
    )
    add_concern(
        database,
        "C-2026-0003",
        received_at=datetime(2026, 3, 10, 23, 59, tzinfo=UTC),
        channel="discord",
        chat_id="4410",
        category="traffic",
        kind="objection",
        status="closed",
        outcome="resolved",
    )
    add_concern(
        database, "C-2026-0004", received_at=datetime(2026, 3, 11, tzinfo=UTC), status="in_review"
    )
    add_concern(
        database,
        "C-2026-0005",
        received_at=datetime(2026, 4, 1, 12, tzinfo=UTC),
        channel="web",
        chat_id="web-2",
        language="en",
        category="water",
        status="responded",
    )


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (ConcernFilter(), ["0001", "0002", "0003", "0004", "0005"]),
        (ConcernFilter(since=date(2026, 3, 5), until=date(2026, 3, 10)), ["0002", "0003"]),
        (ConcernFilter(statuses=["received", "in_review"]), ["0001", "0004"]),
        (ConcernFilter(categories=["noise"]), ["0001", "0004"]),
        (ConcernFilter(channels=["telegram"]), ["0002", "0004"]),
        (ConcernFilter(languages=["en"]), ["0002", "0005"]),
        (ConcernFilter(categories=["noise"], channels=["telegram"]), ["0004"]),
        (ConcernFilter(kinds=["objection"]), ["0003"]),
        (ConcernFilter(kinds=["grievance"]), ["0001", "0002", "0004", "0005"]),
        (ConcernFilter(since=date(2026, 5, 1)), []),
    ],
)
@pytest.mark.parametrize("format", ["csv", "jsonl", "xlsx"])
def test_filters_select_the_right_concerns(
    database: Engine, tmp_path: Path, selection: ConcernFilter, expected: list[str], format: str
) -> None:
    add_register(database)
    path = tmp_path / f"register.{format}"

    count = export_to(database, path, filter=selection)

    if format == "csv":
        references = [row["reference"] for row in read_csv(path)]
    elif format == "jsonl":
        references = [row["reference"] for row in read_jsonl(path)]
    else:
        references = [row["A"].value for row in Workbook(path).rows()[1:]]
    assert references == [f"C-2026-{number}" for number in expected]
    assert count == len(expected)
    assert export.count_concerns(database, selection) == len(expected)


@pytest.mark.parametrize("format", ["csv", "jsonl", "xlsx"])
def test_exports_are_pseudonymised_by_default(
    database: Engine, tmp_path: Path, format: str
) -> None:
    add_concern(database, "C-2026-0001", chat_id="8812345678", citizen="tg-3f9a1c0b7e")
    path = tmp_path / f"register.{format}"

    export_to(database, path)

    content = Workbook(path).text() if format == "xlsx" else path.read_text(encoding="utf-8")
    assert "tg-3f9a1c0b7e" in content
    assert "8812345678" not in content
    assert "chat_id" not in content
    with Session(database) as session:
        assert session.exec(select(AuditEntry)).all() == []


def test_identified_export_has_the_chat_id_and_is_audited_once(
    database: Engine, tmp_path: Path
) -> None:
    add_concern(database, "C-2026-0001", chat_id="8812345678", category="noise")
    add_concern(
        database, "C-2026-0002", chat_id="-1001987654", category="dust", citizen="tg-77aa01"
    )
    add_concern(database, "C-2026-0003", chat_id="8812345678", category="noise")
    selection = ConcernFilter(since=date(2026, 3, 1), categories=["noise"])

    count = export_to(
        database,
        tmp_path / "register.csv",
        filter=selection,
        identified=True,
        actor="staff:camille",
    )

    rows = read_csv(tmp_path / "register.csv")
    assert [(row["reference"], row["chat_id"]) for row in rows] == [
        ("C-2026-0001", "8812345678"),
        ("C-2026-0003", "8812345678"),
    ]
    with Session(database) as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.action) == ("staff:camille", "export_identified")
    assert entry.detail == {
        "format": "csv",
        "filter": {
            "since": "2026-03-01",
            "until": None,
            "statuses": [],
            "categories": ["noise"],
            "kinds": [],
            "channels": [],
            "languages": [],
            "assignee": None,
            "overdue_on": None,
            "severities": [],
            "confidential": None,
            "words": "",
            "due_by": None,
            "due_from": None,
        },
        "destination": str((tmp_path / "register.csv").resolve()),
        "rows": count,
    }
    assert count == 2


def test_identified_export_lands_nowhere_when_it_cannot_be_audited(
    database: Engine, tmp_path: Path
) -> None:
    add_concern(database, "C-2026-0001", chat_id="8812345678")

    @event.listens_for(database, "before_cursor_execute")
    def audit_log_down(*args: Any) -> None:
        if "INSERT INTO audit_entry" in args[2]:
            raise RuntimeError("the audit log cannot be written")

    exports = tmp_path / "exports"
    exports.mkdir()

    with pytest.raises(RuntimeError, match="audit log"):
        export_to(database, exports / "register.csv", identified=True)
    event.remove(database, "before_cursor_execute", audit_log_down)

    assert list(exports.iterdir()) == []


def test_a_failed_export_leaves_the_previous_file_untouched(
    database: Engine, tmp_path: Path
) -> None:
    add_concern(database, "C-2026-0001")
    exports = tmp_path / "exports"
    exports.mkdir()
    previous = exports / "register.xlsx"
    previous.write_bytes(b"last week's export")

    @event.listens_for(database, "before_cursor_execute")
    def connection_lost(*args: Any) -> None:
        if "ORDER BY concern.received_at" in args[2]:
            raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        export_to(database, previous)
    event.remove(database, "before_cursor_execute", connection_lost)

    assert previous.read_bytes() == b"last week's export"
    assert list(exports.iterdir()) == [previous]


def test_identified_export_to_a_missing_folder_is_refused_before_it_is_audited(
    database: Engine, tmp_path: Path
) -> None:
    add_concern(database, "C-2026-0001", chat_id="8812345678")

    with pytest.raises(FileNotFoundError):
        export_to(database, tmp_path / "no such folder" / "register.csv", identified=True)

    with Session(database) as session:
        assert session.exec(select(AuditEntry)).all() == []


def test_a_sentiment_that_is_not_a_number_is_left_empty(database: Engine, tmp_path: Path) -> None:
    add_concern(database, "C-2026-0001", sentiment=float("nan"))

    export_to(database, tmp_path / "register.jsonl")
    export_to(database, tmp_path / "register.csv")

    line = (tmp_path / "register.jsonl").read_text(encoding="utf-8")
    assert json.loads(line, parse_constant=lambda name: pytest.fail(name))["sentiment"] is None
    assert read_csv(tmp_path / "register.csv")[0]["sentiment"] == ""


def test_anonymised_concerns_are_exported_as_stored(database: Engine, tmp_path: Path) -> None:
    add_concern(
        database,
        "C-2026-0001",
        citizen="",
        text="[anonymised]",
        anonymised_at=MARCH + timedelta(days=30),
    )

    export_to(database, tmp_path / "register.jsonl")

    [row] = read_jsonl(tmp_path / "register.jsonl")
    assert (row["reference"], row["citizen"], row["text"]) == ("C-2026-0001", "", "[anonymised]")


def test_export_to_standard_output(database: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    add_concern(database, "C-2026-0001", text="Odeur de goudron près de l'étang")

    assert (
        export_concerns(
            database, filter=ConcernFilter(), format="jsonl", destination="-", actor="staff:camille"
        )
        == 1
    )

    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["text"] == "Odeur de goudron près de l'étang"


def test_xlsx_cannot_go_to_standard_output(database: Engine) -> None:
    with pytest.raises(ValueError, match="XLSX"):
        export_concerns(
            database,
            filter=ConcernFilter(),
            format="xlsx",
            destination="-",
            actor="staff:camille",
            identified=True,
        )
    with Session(database) as session:
        assert session.exec(select(AuditEntry)).all() == []


def test_iter_concerns_gives_typed_values_oldest_first(database: Engine) -> None:
    add_concern(database, "C-2026-0002", received_at=MARCH + timedelta(days=1), chat_id="2")
    add_concern(database, "C-2026-0001", received_at=MARCH, sentiment=0.5)

    rows = list(iter_concerns(database, ConcernFilter(), identified=True, batch=1))

    assert [row[0] for row in rows] == ["C-2026-0001", "C-2026-0002"]
    assert rows[0][1] == MARCH
    assert rows[0][1].tzinfo is not None
    assert rows[0][7] == 0.5
    assert rows[0][-1] == "7301122334"
    assert len(rows[0]) == len(export.export_columns(identified=True))


# --- A large register ------------------------------------------------------------------------


def test_a_large_register_streams_in_bounded_memory(database: Engine, tmp_path: Path) -> None:
    add_many_concerns(database, 20_000)
    everything = ConcernFilter()
    # What holding the whole register in memory would cost, for comparison.
    tracemalloc.start()
    held = list(iter_concerns(database, everything, identified=False))
    _, holding = tracemalloc.get_traced_memory()
    del held
    tracemalloc.stop()

    for format in ("csv", "jsonl", "xlsx"):
        tracemalloc.start()
        count = export_to(database, tmp_path / f"register.{format}", batch=500)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        assert count == 20_001
        assert peak < 3 * MB, f"{format}: {peak / MB:.1f} MB"
        assert peak < holding / 5, f"{format}: {peak / MB:.1f} MB, holding {holding / MB:.1f} MB"
