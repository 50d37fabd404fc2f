"""The document model both reports are written in (the register's public report and the weekly
perception report), their label tables, and the Jinja environment they are rendered with.

A report is first said as a `Document` (a title, a line under it, sections of paragraphs,
charts, tables, notes and groups of lines) in one language; the renderers (HTML, Markdown,
PDF) only lay it out. The label tables give every sentence in every language the report is
written in, checked when the module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar

from jinja2 import ChoiceLoader, Environment, FileSystemLoader

KIT_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
LANGUAGES: Final = ("fr", "en")


class Figure(Protocol):
    """What a section needs of a chart: an id unique in the page, and what it shows."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...


ChartT = TypeVar("ChartT", bound=Figure)


@dataclass(frozen=True)
class Table:
    """The figures behind a chart (or a table of their own), as a report shows them."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


class Line(Protocol):
    """A line of a group (e.g. an answer the team gave), in the language it was written in."""

    @property
    def text(self) -> str: ...

    @property
    def language(self) -> str: ...


@dataclass(frozen=True)
class Group:
    """Lines under a heading of their own (e.g. the answers given on one category)."""

    heading: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Section(Generic[ChartT]):
    """A section of a report: its heading, then paragraphs, charts, tables, notes and groups,
    in that order; `empty` is said when there is nothing to show."""

    id: str
    heading: str
    paragraphs: tuple[str, ...] = ()
    charts: tuple[ChartT, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    groups: tuple[Group, ...] = ()
    empty: str | None = None


@dataclass(frozen=True)
class Document(Generic[ChartT]):
    """A whole report in one language, ready to be laid out."""

    language: str
    title: str
    subtitle: str  # the period it covers, and when the figures were taken
    sections: tuple[Section[ChartT], ...] = field(default_factory=tuple)

    @property
    def charts(self) -> tuple[ChartT, ...]:
        return tuple(chart for section in self.sections for chart in section.charts)


SHARED_LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "about": {"fr": "À propos de ces chiffres", "en": "About these figures"},
    "col_category": {"fr": "Catégorie", "en": "Category"},
    "col_channel": {"fr": "Canal", "en": "Channel"},
    "col_language": {"fr": "Langue", "en": "Language"},
}
"""What every report says the same way."""


class Labels:
    """A report's sentences in every language it is written in: ``labels("title", "fr",
    project=...)``, its own and the shared ones (`SHARED_LABELS`). A sentence missing in one
    language, or a shared one said again, stops the import."""

    def __init__(
        self, own: Mapping[str, Mapping[str, str]], languages: tuple[str, ...] = LANGUAGES
    ) -> None:
        again = sorted(set(own) & set(SHARED_LABELS))
        if again:
            raise ValueError(f"report sentences already shared: {', '.join(again)}")
        table = {**SHARED_LABELS, **own}
        missing = [
            f"{key} ({language})"
            for key, sentences in table.items()
            for language in languages
            if not sentences.get(language)
        ]
        if missing:
            raise ValueError(f"report sentences missing: {', '.join(missing)}")
        self._table = table
        self.languages = languages

    def __call__(self, key: str, language: str, **values: Any) -> str:
        return self._table[key][language].format(**values)

    def __getitem__(self, key: str) -> Mapping[str, str]:
        return self._table[key]

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def get(self, key: str) -> Mapping[str, str] | None:
        return self._table.get(key)

    def check_language(self, language: str) -> None:
        """Raises ValueError for a language the report is not written in."""
        if language not in self.languages:
            raise ValueError(
                f"The report is written in {' or '.join(self.languages)}, not {language!r}."
            )


def templates(directory: Path) -> Environment:
    """The Jinja environment of a report's templates (in `directory`), with the kit's own
    (``kit.html.j2``: a section's charts and tables) beside them; every value escaped."""
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(directory), FileSystemLoader(KIT_TEMPLATES)]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
