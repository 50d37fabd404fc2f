"""The periodic public report ("you said, we did") on the web desk: drafted from the register,
reviewed and edited by a person, then published by a manager.

* ``/desk/reports``: the drafts and the published reports; a form to draft a new one (a
  period and a language). The draft is the report's Markdown (`render_markdown`): tables,
  headings and the team's answers as text a person can correct (a name left in an answer, a
  wording) before anyone outside reads it.
* ``/desk/reports/<id>``: a draft's editor with its preview (the Markdown rendered with raw
  HTML disabled: nothing typed becomes markup), and "Publish" for a manager; a published
  report is shown as published, who published it and when, and can be downloaded again as
  HTML or PDF (``/desk/reports/<id>/report.html``, ``.pdf``). A published report never
  changes; a draft is never downloadable (it stays on the desk until published).

Publishing is audited (``report.publish``); drafting and editing are recorded on the report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Form
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.knowledge import KnowledgeBase
from bot.register.report import build_report, render_markdown
from bot.register.service import Register
from bot.reports.document import templates
from bot.reports.pdf import html_pdf
from bot.staff_web.accounts import MANAGER
from bot.staff_web.shell import DeskPages, DeskSection, Staff, StaffForm
from bot.storage.models import AuditEntry, PublicReport, utc_now

REPORTS_URL: Final = "/desk/reports"
MAX_MARKDOWN: Final = 200_000
LONGEST_PERIOD_DAYS: Final = 731
HERE = Path(__file__).resolve().parent

# CommonMark with tables; raw HTML is off: what a person types stays text.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_published = templates(HERE / "templates")


def to_html(markdown: str) -> Markup:
    """The report's Markdown as HTML (raw HTML in it is shown as text, never run)."""
    return Markup(_markdown.render(markdown))  # noqa: S704 (markdown-it escapes; html=False)


def published_page(report: PublicReport, title: str) -> str:
    """The standalone HTML page of a published report."""
    return _published.get_template("published_report.html.j2").render(
        language=report.language, title=title, body=to_html(report.markdown), report=report
    )


def published_pdf(report: PublicReport, title: str) -> bytes:
    """The PDF of a published report (fpdf2 writes the rendered HTML with a Unicode font)."""
    return html_pdf(str(to_html(report.markdown)), language=report.language, title=title)


def reports_section(
    register: Register,
    *,
    knowledge: KnowledgeBase,
    more: Callable[[datetime, datetime, str], str] | None = None,
) -> DeskSection:
    """The public reports' pages, for `desk_router(sections=[...])`; `more(since, until,
    language)` adds Markdown of other parts of the project's dialogue to each draft (the
    consultations' results)."""
    engine = register.engine

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        def find(session: Session, report_id: int) -> PublicReport | None:
            return session.get(PublicReport, report_id)

        @router.get(REPORTS_URL)
        async def list_reports(
            me: Staff,
        ) -> Response:
            with Session(engine) as session:
                reports = session.exec(
                    select(PublicReport).order_by(col(PublicReport.id).desc()).limit(200)
                ).all()
            today = register.calendar.today()
            return pages.page(
                "reports.html",
                me=me,
                flash=pages.take_flashes(me),
                drafts=[r for r in reports if r.status == "draft"],
                published=[r for r in reports if r.status == "published"],
                since=(today - timedelta(days=90)).isoformat(),
                until=today.isoformat(),
                zone=zone,
            )

        @router.post(REPORTS_URL)
        async def draft_report(
            me: StaffForm,
            since: Annotated[date, Form()] = date(2000, 1, 1),
            until: Annotated[date, Form()] = date(2000, 1, 1),
            language: Annotated[Literal["fr", "en"], Form()] = "fr",
        ) -> Response:
            if until < since or (until - since).days > LONGEST_PERIOD_DAYS:
                pages.flash(me, "error", "Choose a period of at most two years, start first.")
                return pages.back(REPORTS_URL)
            report = build_report(
                engine,
                period_start=since,
                period_end=until,
                today=register.calendar.today(),
                language=language,
                acknowledge_days=register.acknowledge_days,
                respond_days=register.respond_days,
                objection_respond_days=register.objection_respond_days,
                timezone=str(zone),
            )
            markdown = render_markdown(report, project_name=knowledge.name[language])
            if more is not None:
                start = datetime.combine(since, time.min, tzinfo=zone)
                end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone)
                extra = more(start, end, language)
                if extra:
                    markdown = markdown.rstrip() + "\n\n" + extra
            with Session(engine) as session:
                draft = PublicReport(
                    language=language, since=since, until=until, markdown=markdown,
                    created_by=me.staff.key,
                )  # fmt: skip
                session.add(draft)
                session.commit()
                session.refresh(draft)
            pages.flash(me, "done", "Draft ready: read it, correct it, then publish it.")
            return pages.back(f"{REPORTS_URL}/{draft.id}")

        @router.get(REPORTS_URL + "/{report_id}")
        async def show_report(
            report_id: Annotated[int, PathParam(ge=1)],
            me: Staff,
        ) -> Response:
            with Session(engine) as session:
                report = find(session, report_id)
            if report is None:
                return pages.problem("No such report", "There is no such report.", status_code=404)
            return pages.page(
                "report.html",
                me=me,
                flash=pages.take_flashes(me),
                report=report,
                preview=to_html(report.markdown),
                zone=zone,
                max_chars=MAX_MARKDOWN,
            )

        @router.post(REPORTS_URL + "/{report_id}")
        async def save_report(
            report_id: Annotated[int, PathParam(ge=1)],
            me: StaffForm,
            markdown: Annotated[str, Form(max_length=MAX_MARKDOWN)] = "",
        ) -> Response:
            if not markdown.strip():
                pages.flash(me, "error", "The report cannot be empty.")
                return pages.back(f"{REPORTS_URL}/{report_id}")
            with Session(engine) as session:
                saved = session.execute(
                    update(PublicReport)
                    .where(col(PublicReport.id) == report_id, col(PublicReport.status) == "draft")
                    .values(
                        markdown=markdown.replace("\r\n", "\n"),
                        edited_by=me.staff.key,
                        edited_at=utc_now(),
                    )
                )
                session.commit()
            if getattr(saved, "rowcount", 0) != 1:
                pages.flash(me, "error", "Only a draft can be edited; a published report stays.")
            else:
                pages.flash(me, "done", "Draft saved.")
            return pages.back(f"{REPORTS_URL}/{report_id}")

        @router.post(REPORTS_URL + "/{report_id}/publish")
        async def publish_report(
            report_id: Annotated[int, PathParam(ge=1)],
            me: StaffForm,
        ) -> Response:
            pages.require(me, MANAGER, "publish a public report")
            with Session(engine) as session:
                done = session.execute(
                    update(PublicReport)
                    .where(col(PublicReport.id) == report_id, col(PublicReport.status) == "draft")
                    .values(status="published", published_by=me.staff.key, published_at=utc_now())
                )
                if getattr(done, "rowcount", 0) == 1:
                    session.add(
                        AuditEntry(
                            actor=me.staff.key,
                            action="report.publish",
                            detail={"report": report_id},
                        )
                    )
                session.commit()
            if getattr(done, "rowcount", 0) != 1:
                pages.flash(me, "error", "This report is not a draft (published already?).")
            else:
                pages.flash(me, "done", "Published: download it below to put it online.")
            return pages.back(f"{REPORTS_URL}/{report_id}")

        @router.get(REPORTS_URL + "/{report_id}/report.{extension}")
        async def download_report(
            report_id: Annotated[int, PathParam(ge=1)],
            extension: Annotated[Literal["html", "pdf"], PathParam()],
            _: Staff,
        ) -> Response:
            with Session(engine) as session:
                report = find(session, report_id)
            if report is None or report.status != "published":
                return pages.problem(
                    "Not published",
                    "Only a published report can be downloaded; a draft stays on the desk.",
                    status_code=404,
                )
            name = f"report-{report.since}-{report.until}-{report.language}"
            title = knowledge.name[report.language]
            if extension == "html":
                return HTMLResponse(
                    published_page(report, title),
                    headers={"Content-Disposition": f'attachment; filename="{name}.html"'},
                )
            return Response(
                published_pdf(report, title),
                media_type="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
            )

    return add
