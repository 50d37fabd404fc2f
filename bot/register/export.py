"""Streamed exports of the grievance register: CSV, XLSX and JSON Lines.

Rows are read with a server-side cursor (a lazily stepped statement on SQLite) and written
as they come, so an export of a million concerns never holds them all in memory. The count
(for the progress bar and the audit) and the rows are read in one snapshot of the database.

Exports are pseudonymised by default: the citizen appears by the pseudonym of the register.
An identified export adds the platform's chat id, a personal identifier, and is recorded in
the audit log before a single row is written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, Literal, TextIO, get_args

import xlsxwriter  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine, func, select
from sqlmodel import Session, col
from tqdm import tqdm

from bot.common.tabular import LineBuffer, neutralise
from bot.register.filters import ConcernFilter
from bot.storage.models import AuditEntry, Concern, Conversation

logger = logging.getLogger(__name__)

ExportFormat = Literal["csv", "xlsx", "jsonl"]
ColumnKind = Literal["text", "datetime", "date", "float", "bool"]

FORMATS: tuple[str, ...] = get_args(ExportFormat)
DELIMITERS = (",", ";")

# Excel's limit is 1,048,576 rows a sheet; one is the header. A larger export goes on in a
# second sheet rather than being cut silently.
XLSX_ROWS_PER_SHEET = 1_048_575


@dataclass(frozen=True)
class ExportColumn:
    """One exported field.

    Attributes:
        header: its name in the header row (CSV, XLSX) and as a JSON key.
        kind: how it is typed: text, datetime (UTC), date, float or bool.
        width: its width in an XLSX sheet, in characters.
    """

    header: str
    kind: ColumnKind
    width: float


_CONCERN_FIELDS: tuple[tuple[ExportColumn, Any], ...] = (
    (ExportColumn("reference", "text", 14), Concern.reference),
    (ExportColumn("received_at", "datetime", 20), Concern.received_at),
    (ExportColumn("channel", "text", 10), Concern.channel),
    (ExportColumn("language", "text", 9), Concern.language),
    (ExportColumn("category", "text", 18), Concern.category),
    (ExportColumn("kind", "text", 10), Concern.kind),
    (ExportColumn("severity", "text", 9), Concern.severity),
    (ExportColumn("sentiment", "float", 10), Concern.sentiment),
    (ExportColumn("status", "text", 13), Concern.status),
    (ExportColumn("outcome", "text", 11), Concern.outcome),
    (ExportColumn("assignee", "text", 18), Concern.assignee),
    (ExportColumn("acknowledge_by", "date", 14), Concern.acknowledge_by),
    (ExportColumn("respond_by", "date", 12), Concern.respond_by),
    (ExportColumn("acknowledged_at", "datetime", 20), Concern.acknowledged_at),
    (ExportColumn("responded_at", "datetime", 20), Concern.responded_at),
    (ExportColumn("closed_at", "datetime", 20), Concern.closed_at),
    (ExportColumn("place", "text", 22), Concern.place),
    (ExportColumn("confidential", "bool", 12), Concern.confidential),
    (ExportColumn("citizen", "text", 22), Concern.citizen_id),
    (ExportColumn("text", "text", 80), Concern.text),
)

EXPORT_COLUMNS: tuple[ExportColumn, ...] = tuple(column for column, _ in _CONCERN_FIELDS)
"""The columns of every export, in order."""

CHAT_ID_COLUMN = ExportColumn("chat_id", "text", 18)
"""The column an identified export adds after `EXPORT_COLUMNS`: the platform's chat id."""


def export_columns(*, identified: bool) -> tuple[ExportColumn, ...]:
    """The columns of an export, with the chat id when it is identified."""
    return (*EXPORT_COLUMNS, CHAT_ID_COLUMN) if identified else EXPORT_COLUMNS


def _finite(value: float | None) -> float | None:
    """A sentiment that is not a number (NaN, infinite) is as good as none: left empty."""
    return value if value is not None and math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------
# Reading


def _query(filter: ConcernFilter, *, identified: bool) -> Any:
    sources = [source for _, source in _CONCERN_FIELDS]
    if identified:
        sources.append(Conversation.external_id)
    query = select(*[col(source) for source in sources]).select_from(Concern)
    if identified:
        # Outer join: a concern is exported even if its conversation were missing.
        query = query.outerjoin(Conversation, col(Concern.conversation_id) == col(Conversation.id))
    query = filter.apply(query)
    return query.order_by(col(Concern.received_at), col(Concern.id))


def _count(connection: Connection, filter: ConcernFilter) -> int:
    query = filter.apply(select(func.count()).select_from(Concern))
    return int(connection.execute(query).scalar_one())


def _rows(
    connection: Connection, filter: ConcernFilter, *, identified: bool, batch: int
) -> Generator[tuple[Any, ...], None, None]:
    # stream_results: a named (server-side) cursor on PostgreSQL; on SQLite the statement is
    # stepped as rows are fetched. yield_per fetches `batch` rows at a time either way.
    result = connection.execution_options(stream_results=True, yield_per=batch).execute(
        _query(filter, identified=identified)
    )
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose statements all see the same state of the database."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        elif connection.dialect.name == "sqlite":
            # pysqlite opens no transaction before a SELECT, so each statement would see the
            # database as it is then; an explicit deferred BEGIN keeps one snapshot (WAL) for
            # the count and the rows. Ended by the rollback when the connection is returned.
            connection.exec_driver_sql("BEGIN")
        yield connection


def count_concerns(engine: Engine, filter: ConcernFilter) -> int:
    """How many concerns `filter` selects.

    Args:
        engine: the database.
        filter: which concerns.

    Returns:
        The number of concerns selected.
    """
    with engine.connect() as connection:
        return _count(connection, filter)


def iter_concerns(
    engine: Engine, filter: ConcernFilter, *, identified: bool, batch: int = 5000
) -> Iterator[tuple[Any, ...]]:
    """The selected concerns as plain tuples, oldest first, read `batch` rows at a time.

    Values are typed: aware UTC datetimes, dates, floats, booleans, strings or None, in the
    order of `export_columns(identified=identified)`.

    Args:
        engine: the database.
        filter: which concerns.
        identified: add the platform's chat id (a personal identifier) as the last value.
        batch: how many rows are fetched from the database at a time.

    Yields:
        One tuple per concern, in received_at then id order.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    with engine.connect() as connection:
        yield from _rows(connection, filter, identified=identified, batch=batch)


# ---------------------------------------------------------------------------------------------
# Writing


def _csv_cell(kind: ColumnKind) -> Callable[[Any], str]:
    if kind == "text":
        return lambda value: "" if value is None else neutralise(value)
    if kind in ("datetime", "date"):
        return lambda value: "" if value is None else value.isoformat()
    if kind == "float":
        return lambda value: "" if _finite(value) is None else repr(float(value))
    return lambda value: "" if value is None else ("true" if value else "false")


def write_csv(
    rows: Iterable[Sequence[Any]],
    stream: TextIO,
    *,
    columns: Sequence[ExportColumn] = EXPORT_COLUMNS,
    delimiter: str = ",",
) -> int:
    """Writes rows as CSV, with a byte order mark so that Excel reads the accents right.

    Texts that could be taken for a formula are prefixed with `'`; fields holding the
    delimiter, quotes or line breaks are quoted (line breaks in a citizen's words are kept).

    Args:
        rows: values in the order of `columns` (as `iter_concerns` yields them).
        stream: a text stream encoding UTF-8, opened with `newline=""`.
        columns: the columns of the rows.
        delimiter: "," or ";" (what Excel expects where the decimal separator is a comma).

    Returns:
        The number of rows written (the header not counted).
    """
    count = -1  # the header
    for piece in csv_pieces(rows, columns=columns, delimiter=delimiter):
        stream.write(piece)
        count += 1
    return count


def csv_pieces(
    rows: Iterable[Sequence[Any]],
    *,
    columns: Sequence[ExportColumn] = EXPORT_COLUMNS,
    delimiter: str = ",",
) -> Iterator[str]:
    """The CSV of `write_csv` as it is made: the header (after the byte order mark), then one
    piece per row."""
    if delimiter not in DELIMITERS:
        raise ValueError(f"the CSV delimiter must be one of {DELIMITERS}")
    line = LineBuffer()
    writer = csv.writer(line, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
    writer.writerow([column.header for column in columns])
    yield "\ufeff" + line.take()
    cells = [_csv_cell(column.kind) for column in columns]
    for row in rows:
        writer.writerow([cell(value) for cell, value in zip(cells, row, strict=True)])
        yield line.take()


# Characters that `str.splitlines` (and some JSON Lines readers) take for line ends, though JSON
# leaves them raw in strings: escaped, every record stays on one line for every reader.
_LINE_SEPARATORS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _json_value(kind: ColumnKind) -> Callable[[Any], Any] | None:
    if kind in ("datetime", "date"):
        return lambda value: None if value is None else value.isoformat()
    if kind == "float":
        return _finite  # JSON has no NaN: the encoder would write invalid JSON
    return None


def write_jsonl(
    rows: Iterable[Sequence[Any]],
    stream: TextIO,
    *,
    columns: Sequence[ExportColumn] = EXPORT_COLUMNS,
) -> int:
    """Writes rows as JSON Lines: one object per line, keyed by the headers, dates in ISO 8601.

    Texts are written as they are stored (no formula prefix: JSON is not opened by
    spreadsheets), non-ASCII characters unescaped.

    Args:
        rows: values in the order of `columns` (as `iter_concerns` yields them).
        stream: a text stream encoding UTF-8.
        columns: the columns of the rows.

    Returns:
        The number of rows written.
    """
    count = 0
    for line in jsonl_pieces(rows, columns=columns):
        stream.write(line)
        count += 1
    return count


def jsonl_pieces(
    rows: Iterable[Sequence[Any]], *, columns: Sequence[ExportColumn] = EXPORT_COLUMNS
) -> Iterator[str]:
    """The lines of `write_jsonl` as they are made (each ends with a line break)."""
    headers = [column.header for column in columns]
    converters = [_json_value(column.kind) for column in columns]
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for row in rows:
        record = {
            header: value if convert is None else convert(value)
            for header, convert, value in zip(headers, converters, row, strict=True)
        }
        line = encode(record)
        if not line.isascii():
            # Three scans in C: far cheaper than str.translate on every accented line.
            for separator, escaped in _LINE_SEPARATORS:
                if separator in line:
                    line = line.replace(separator, escaped)
        yield line + "\n"


def _add_sheet(workbook: Any, columns: Sequence[ExportColumn], header: Any) -> Any:
    number = len(workbook.worksheets()) + 1
    sheet = workbook.add_worksheet("Concerns" if number == 1 else f"Concerns {number}")
    # In constant_memory mode rows are flushed in order: widths and the frozen header row
    # are set before the first row is written.
    for index, column in enumerate(columns):
        sheet.set_column(index, index, column.width)
    sheet.freeze_panes(1, 0)
    for index, column in enumerate(columns):
        sheet.write_string(0, index, column.header, header)
    return sheet


def write_xlsx(
    rows: Iterable[Sequence[Any]],
    path: str | Path,
    *,
    columns: Sequence[ExportColumn] = EXPORT_COLUMNS,
) -> int:
    """Writes rows to an Excel workbook, one row at a time (constant memory).

    Cells are typed: datetimes (UTC) and dates are Excel dates, sentiment a number,
    confidential a boolean, every text a string that Excel never evaluates, prefixed with
    `'` when it could be taken for a formula. The header row is bold and frozen, with an
    autofilter over the data. Beyond Excel's 1,048,576 rows the export goes on in another
    sheet.

    Args:
        rows: values in the order of `columns` (as `iter_concerns` yields them).
        path: the file to write.
        columns: the columns of the rows.

    Returns:
        The number of rows written (headers not counted).
    """
    workbook = xlsxwriter.Workbook(
        str(path),
        # remove_timezone: Excel has no time zones; every value is UTC and written as such.
        {"constant_memory": True, "remove_timezone": True},
    )
    header = workbook.add_format({"bold": True})
    formats = {
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    kinds = [column.kind for column in columns]
    last_column = len(columns) - 1
    count = truncated = row_number = 0
    try:
        sheet = _add_sheet(workbook, columns, header)
        for row in rows:
            if row_number == XLSX_ROWS_PER_SHEET:
                sheet.autofilter(0, 0, row_number, last_column)
                sheet, row_number = _add_sheet(workbook, columns, header), 0
            row_number += 1
            for index, (kind, value) in enumerate(zip(kinds, row, strict=True)):
                if value is None:
                    continue
                if kind == "text":
                    # write_string: stored as a string, never taken for a number or formula.
                    if sheet.write_string(row_number, index, neutralise(value)) == -2:
                        truncated += 1
                elif kind == "datetime" or kind == "date":
                    sheet.write_datetime(row_number, index, value, formats[kind])
                elif kind == "float":
                    if _finite(value) is not None:
                        sheet.write_number(row_number, index, value)
                else:
                    sheet.write_boolean(row_number, index, bool(value))
            count += 1
        sheet.autofilter(0, 0, row_number, last_column)
    finally:
        workbook.close()
    if truncated:
        logger.warning("%d texts were cut to Excel's limit of 32,767 characters", truncated)
    return count


# ---------------------------------------------------------------------------------------------
# Exporting


def _filter_detail(filter: ConcernFilter) -> dict[str, Any]:
    """The filter as JSON values, for the audit log."""
    detail: dict[str, Any] = {}
    for field in fields(filter):
        value = getattr(filter, field.name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Sequence) and not isinstance(value, str):
            value = list(value)
        detail[field.name] = value
    return detail


@contextmanager
def _text_destination(destination: str | Path) -> Iterator[TextIO]:
    """A UTF-8 text stream to `destination`, "-" being standard output."""
    if str(destination) == "-":
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # stdout replaced by a text-only stream
            yield sys.stdout
            return
        sys.stdout.flush()
        stream = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
        try:
            yield stream
        finally:
            stream.flush()
            stream.detach()  # standard output stays open
        return
    with (
        _replacing(destination) as temporary,
        open(temporary, "w", encoding="utf-8", newline="") as stream,
    ):
        yield stream


@contextmanager
def _replacing(destination: str | Path) -> Iterator[Path]:
    """A temporary file beside `destination` that replaces it once complete.

    A failed export leaves neither a partial file nor a changed destination. The file is
    readable by its owner only (mkstemp's mode): it holds citizens' words.
    """
    target = Path(destination)
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _audit(engine: Engine, *, actor: str, detail: dict[str, Any]) -> None:
    with Session(engine) as session:
        session.add(AuditEntry(actor=actor, action="export_identified", detail=detail))
        session.commit()


def export_concerns(
    engine: Engine,
    *,
    filter: ConcernFilter,
    format: ExportFormat,
    destination: str | Path,
    delimiter: str = ",",
    identified: bool = False,
    actor: str,
    progress: bool = False,
    batch: int = 5000,
) -> int:
    """Exports the selected concerns, streamed from the database to `destination`.

    An identified export is first recorded in the audit log (`export_identified`, with the
    format, filter, destination and number of rows); if that record cannot be written,
    nothing is exported.

    Args:
        engine: the database.
        filter: which concerns.
        format: "csv", "xlsx" or "jsonl".
        destination: the file to write, or "-" for standard output (CSV and JSON Lines).
            A file is replaced only once the export is complete.
        delimiter: the CSV delimiter, "," or ";".
        identified: add the platform's chat id of each citizen (a personal identifier).
        actor: who asks for the export (e.g. "staff:camille"), for the audit log.
        progress: show a progress bar on standard error.
        batch: how many rows are read from the database at a time.

    Returns:
        The number of concerns exported.

    Raises:
        ValueError: an unknown format or delimiter, XLSX to standard output, no actor.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: use one of {FORMATS}")
    if delimiter not in DELIMITERS:
        raise ValueError(f"the CSV delimiter must be one of {DELIMITERS}")
    if format == "xlsx" and str(destination) == "-":
        raise ValueError("an XLSX export needs a file, not standard output")
    if not actor.strip():
        raise ValueError("an export needs the name of who asks for it")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    columns = export_columns(identified=identified)
    shown = "-" if str(destination) == "-" else str(Path(destination).resolve())

    # The destination is opened first so that an export that cannot be written fails before
    # it is audited; a file appears under its name only once complete.
    with _snapshot(engine) as connection, _writer(format, destination, columns, delimiter) as write:
        total = _count(connection, filter)
        if identified:
            # Committed on its own connection before any row is read: a crash during the
            # export still leaves the record. The snapshot guarantees `total` rows follow.
            _audit(
                engine,
                actor=actor,
                detail={
                    "format": format,
                    "filter": _filter_detail(filter),
                    "destination": shown,
                    "rows": total,
                },
            )
        with (
            closing(_rows(connection, filter, identified=identified, batch=batch)) as rows,
            tqdm(
                rows,
                total=total,
                unit=" rows",
                file=sys.stderr,
                disable=not progress,
                desc=f"export {format}",
            ) as bar,
        ):
            count = write(bar)

    if count != total:
        logger.warning("counted %d concerns but exported %d", total, count)
    logger.info(
        "exported %d concerns as %s%s", count, format, " with chat ids" if identified else ""
    )
    return count


@contextmanager
def _writer(
    format: ExportFormat,
    destination: str | Path,
    columns: Sequence[ExportColumn],
    delimiter: str,
) -> Iterator[Callable[[Iterable[Sequence[Any]]], int]]:
    """The open destination, as a function that writes rows to it and counts them."""
    if format == "xlsx":
        with _replacing(destination) as temporary:
            yield lambda rows: write_xlsx(rows, temporary, columns=columns)
        return
    with _text_destination(destination) as stream:
        if format == "csv":
            yield lambda rows: write_csv(rows, stream, columns=columns, delimiter=delimiter)
        else:
            yield lambda rows: write_jsonl(rows, stream, columns=columns)


# ---------------------------------------------------------------------------------------------
# Downloading (the web desk)

DOWNLOAD_CHUNK = 64 * 1024
_DONE = object()


class ExportCancelled(Exception):
    """The person downloading went away: the export stopped."""


def stream_concerns(
    engine: Engine,
    *,
    filter: ConcernFilter,
    format: ExportFormat,
    delimiter: str = ",",
    identified: bool = False,
    actor: str,
    reason: str | None = None,
    batch: int = 5000,
) -> Iterator[bytes]:
    """The export as chunks of bytes for a download, produced by a thread of its own (one
    database connection, one snapshot) a few chunks ahead of the reader, so that the first
    bytes of a CSV or JSON Lines export leave at once and the server's event loop never
    waits for the database. An XLSX workbook is complete only when closed: it is written to
    an owner-only temporary file first (never held in memory), then sent and deleted.

    An identified export is audited (`export_identified`, with the reason given) before the
    first row is read. Closing the iterator (the person went away) stops the export.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: use one of {FORMATS}")
    if delimiter not in DELIMITERS:
        raise ValueError(f"the CSV delimiter must be one of {DELIMITERS}")
    if identified and not (reason or "").strip():
        raise ValueError("an identified export needs a reason")
    columns = export_columns(identified=identified)
    chunks: queue.Queue[object] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def hand_over(item: object) -> None:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise ExportCancelled

    def produce() -> None:
        try:
            with _snapshot(engine) as connection:
                total = _count(connection, filter)
                if identified:
                    _audit(
                        engine,
                        actor=actor,
                        detail={
                            "format": format,
                            "filter": _filter_detail(filter),
                            "destination": "desk download",
                            "reason": (reason or "").strip()[:500],
                            "rows": total,
                        },
                    )
                with closing(_rows(connection, filter, identified=identified, batch=batch)) as rows:
                    if format == "xlsx":
                        _send_workbook(rows, columns, hand_over)
                    else:
                        pieces = (
                            csv_pieces(rows, columns=columns, delimiter=delimiter)
                            if format == "csv"
                            else jsonl_pieces(rows, columns=columns)
                        )
                        _send_text(pieces, hand_over)
            hand_over(_DONE)
        except ExportCancelled:
            logger.info("a %s export was left by the person downloading it", format)
        except BaseException as exc:  # handed to the reader, who raises it
            # Broad on purpose: whatever failed, the reader must not wait for ever.
            if not stop.is_set():
                with contextlib.suppress(ExportCancelled):
                    hand_over(exc)

    worker = threading.Thread(target=produce, name=f"export-{format}", daemon=True)
    worker.start()
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()


def _send_text(pieces: Iterable[str], hand_over: Callable[[object], None]) -> None:
    buffered: list[str] = []
    size = 0
    for piece in pieces:
        buffered.append(piece)
        size += len(piece)
        if size >= DOWNLOAD_CHUNK:
            hand_over("".join(buffered).encode("utf-8"))
            buffered, size = [], 0
    if buffered:
        hand_over("".join(buffered).encode("utf-8"))


def _send_workbook(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[ExportColumn],
    hand_over: Callable[[object], None],
) -> None:
    descriptor, name = tempfile.mkstemp(prefix=".desk-export.", suffix=".xlsx")
    os.close(descriptor)
    path = Path(name)
    try:
        write_xlsx(rows, path, columns=columns)
        with path.open("rb") as workbook:
            while chunk := workbook.read(DOWNLOAD_CHUNK):
                hand_over(chunk)
    finally:
        path.unlink(missing_ok=True)


__all__ = [
    "CHAT_ID_COLUMN",
    "EXPORT_COLUMNS",
    "FORMATS",
    "ExportColumn",
    "ExportFormat",
    "count_concerns",
    "csv_pieces",
    "export_columns",
    "export_concerns",
    "iter_concerns",
    "jsonl_pieces",
    "stream_concerns",
    "write_csv",
    "write_jsonl",
    "write_xlsx",
]
