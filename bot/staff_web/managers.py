"""The managers' pages of the web desk: staff accounts and their roles, and the audit trail.

* ``/desk/staff``: every account (name, role, two-step sign-in, last login) and a form to
  change an account's role. A manager cannot remove the last manager (the desk would have
  no one left to manage it). Each change is audited (``staff.role``).
* ``/desk/audit``: who did what and when (exports, erasures, role changes, logins,
  refusals...), newest first, filtered by who, what and dates, paged; exportable as CSV
  (streamed, with a byte order mark; texts that could be formulas neutralised).

Both refuse (403, audited as ``desk.refused``) anyone who is not a manager.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.common.tabular import LineBuffer, neutralise
from bot.staff_web.accounts import MANAGER, ROLES, AccountError, list_accounts, set_role
from bot.staff_web.shell import DeskPages, DeskSection, Staff, StaffForm
from bot.storage.models import AuditEntry

STAFF_URL: Final = "/desk/staff"
AUDIT_URL: Final = "/desk/audit"
AUDIT_PAGE: Final = 100
USERNAME_PATTERN: Final = r"^[a-z0-9._-]{3,64}$"
FILTER_PATTERN: Final = r"^[A-Za-z0-9:._@-]{0,120}$"


def staff_section(*, engine: Engine) -> DeskSection:
    """The staff and audit pages, for `desk_router(sections=[...])`."""

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        @router.get(STAFF_URL)
        async def staff_page(
            me: Staff,
        ) -> Response:
            pages.require(me, MANAGER, "see the staff accounts")
            with Session(engine) as session:
                accounts = list_accounts(session=session)
            return pages.page(
                "staff.html",
                me=me,
                flash=pages.take_flashes(me),
                accounts=accounts,
                roles=ROLES,
                zone=zone,
            )

        @router.post(STAFF_URL + "/{username}/role")
        async def change_role(
            username: Annotated[str, PathParam(pattern=USERNAME_PATTERN)],
            me: StaffForm,
            role: Annotated[str, Form(max_length=16)] = "",
        ) -> Response:
            pages.require(me, MANAGER, "change a staff account's role")
            with Session(engine, expire_on_commit=False) as session:
                managers = [
                    a.username
                    for a in list_accounts(session=session)
                    if a.role == MANAGER and a.active
                ]
                if role != MANAGER and managers == [username]:
                    pages.flash(me, "error", f"{username} is the last manager: name another first.")
                    return pages.back(STAFF_URL)
                try:
                    account = set_role(
                        session=session, username=username, role=role, actor=me.staff.key
                    )
                except AccountError as exc:
                    pages.flash(me, "error", str(exc))
                else:
                    pages.flash(me, "done", f"{account.username} is now {account.role}.")
            return pages.back(STAFF_URL)

        @router.get(AUDIT_URL)
        async def audit_page(
            me: Staff,
            actor: Annotated[str, Query(max_length=120, pattern=FILTER_PATTERN)] = "",
            action: Annotated[str, Query(max_length=32, pattern=FILTER_PATTERN)] = "",
            since: Annotated[date | None, Query()] = None,
            until: Annotated[date | None, Query()] = None,
            page: Annotated[int, Query(ge=1, le=100000)] = 1,
        ) -> Response:
            pages.require(me, MANAGER, "read the audit trail")
            query = _audit_query(actor, action, since, until)
            with Session(engine) as session:
                found = list(
                    session.exec(
                        query.order_by(col(AuditEntry.id).desc())
                        .offset((page - 1) * AUDIT_PAGE)
                        .limit(AUDIT_PAGE + 1)
                    )
                )
            filters = {
                "actor": actor,
                "action": action,
                "since": since.isoformat() if since else "",
                "until": until.isoformat() if until else "",
            }
            shown = {k: v for k, v in filters.items() if v}
            return pages.page(
                "audit.html",
                me=me,
                entries=[
                    (
                        e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                        e.actor,
                        e.action,
                        json.dumps(e.detail, ensure_ascii=False, sort_keys=True),
                    )
                    for e in found[:AUDIT_PAGE]
                ],
                filters=filters,
                page=page,
                more=len(found) > AUDIT_PAGE,
                query=urlencode(shown),
            )

        @router.get(AUDIT_URL + "/export.csv")
        async def audit_export(
            me: Staff,
            actor: Annotated[str, Query(max_length=120, pattern=FILTER_PATTERN)] = "",
            action: Annotated[str, Query(max_length=32, pattern=FILTER_PATTERN)] = "",
            since: Annotated[date | None, Query()] = None,
            until: Annotated[date | None, Query()] = None,
        ) -> Response:
            pages.require(me, MANAGER, "export the audit trail")
            query = _audit_query(actor, action, since, until).order_by(col(AuditEntry.id))

            def rows() -> Iterator[bytes]:
                line = LineBuffer()
                writer = csv.writer(line)
                writer.writerow(["at_utc", "actor", "action", "detail"])
                yield ("\ufeff" + line.take()).encode("utf-8")
                with Session(engine) as session:
                    result = session.exec(query.execution_options(yield_per=1000))
                    for entry in result:
                        writer.writerow([
                            entry.at.astimezone(UTC).isoformat(),
                            neutralise(entry.actor),
                            neutralise(entry.action),
                            neutralise(json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)),
                        ])  # fmt: skip
                        yield line.take().encode("utf-8")

            stamp = datetime.now().strftime("%Y%m%d-%H%M")
            return StreamingResponse(
                rows(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
            )

    return add


def _audit_query(actor: str, action: str, since: date | None, until: date | None) -> Any:
    query = select(AuditEntry)
    if actor:
        query = query.where(col(AuditEntry.actor) == actor)
    if action:
        query = query.where(col(AuditEntry.action) == action)
    if since:
        query = query.where(col(AuditEntry.at) >= datetime.combine(since, time(0), UTC))
    if until:
        end = datetime.combine(until + timedelta(days=1), time(0), UTC)
        query = query.where(col(AuditEntry.at) < end)
    return query
