"""Which concerns a list, an export or a report is about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col

from bot.common.text import fold
from bot.storage.models import Concern


@dataclass(frozen=True)
class ConcernFilter:
    """A selection of concerns; every field left empty selects everything.

    Attributes:
        since: received on or after this day (UTC).
        until: received on or before this day (UTC).
        statuses: any of these statuses ("received", "closed", ...).
        categories: any of these contract categories.
        kinds: any of these kinds ("grievance", "objection").
        channels: any of these channels ("web", "telegram", "discord", ...).
        languages: any of these languages.
        assignee: assigned to this person ("" for: assigned to nobody).
        overdue_on: open and past their reply-by date on this day.
        severities: any of these severities ("low", "medium", "high").
        confidential: only those the citizen asked to keep confidential (True) or not (False).
        words: contains these words, as typed (case-insensitive).
        due_by: not answered yet, reply-by date on or before this day.
        due_from: not answered yet, reply-by date on or after this day.
    """

    since: date | None = None
    until: date | None = None
    statuses: Sequence[str] = ()
    categories: Sequence[str] = ()
    kinds: Sequence[str] = ()
    channels: Sequence[str] = ()
    languages: Sequence[str] = ()
    assignee: str | None = None
    overdue_on: date | None = None
    severities: Sequence[str] = ()
    confidential: bool | None = None
    words: str = ""
    due_by: date | None = None
    due_from: date | None = None

    def apply(self, query: Any) -> Any:
        """`query` (a select over `Concern`) restricted to this selection."""
        if self.since is not None:
            query = query.where(col(Concern.received_at) >= _start_of(self.since))
        if self.until is not None:
            query = query.where(
                col(Concern.received_at) < _start_of(self.until + timedelta(days=1))
            )
        if self.statuses:
            query = query.where(col(Concern.status).in_(list(self.statuses)))
        if self.categories:
            query = query.where(col(Concern.category).in_(list(self.categories)))
        if self.kinds:
            query = query.where(col(Concern.kind).in_(list(self.kinds)))
        if self.channels:
            query = query.where(col(Concern.channel).in_(list(self.channels)))
        if self.languages:
            query = query.where(col(Concern.language).in_(list(self.languages)))
        if self.assignee == "":
            query = query.where(col(Concern.assignee).is_(None))
        elif self.assignee is not None:
            query = query.where(col(Concern.assignee) == self.assignee)
        if self.severities:
            query = query.where(col(Concern.severity).in_(list(self.severities)))
        if self.confidential is not None:
            query = query.where(col(Concern.confidential) == self.confidential)
        if self.words.strip():
            # Folded on both sides: "POUSSIÈRE" finds "poussière" on SQLite as on PostgreSQL.
            query = query.where(
                col(Concern.search_text).contains(fold(self.words.strip()), autoescape=True)
            )
        if self.due_by is not None or self.due_from is not None:
            query = query.where(
                col(Concern.status) != "closed", col(Concern.responded_at).is_(None)
            )
        if self.due_by is not None:
            query = query.where(col(Concern.respond_by) <= self.due_by)
        if self.due_from is not None:
            query = query.where(col(Concern.respond_by) >= self.due_from)
        if self.overdue_on is not None:
            query = query.where(
                col(Concern.status) != "closed",
                col(Concern.respond_by) < self.overdue_on,
                col(Concern.responded_at).is_(None),
            )
        return query


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
