"""The "Project news" section of the web desk: the updates published with their delivery
counts, writing a new one in French and English with a preview of who it will reach and a
confirm step, and a page per update with what was not delivered and why.

The pages live under ``/desk/news`` behind the desk's login, CSRF check and security headers
(see `bot.staff_web.shell.DeskPages`). Publishing, which may write thousands of rows, runs in a
worker thread so the event loop keeps serving citizens meanwhile.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, tzinfo
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi import Path as PathParam
from fastapi.responses import Response

from bot.staff_web.shell import DeskPages, DeskSection, SignedIn, Staff, StaffForm
from bot.updates.service import (
    MAX_TEXT_CHARS,
    REFERENCE_PATTERN,
    UpdateError,
    UpdateNotFound,
    UpdateService,
    UpdateSummary,
)

NEWS_URL = "/desk/news"
LIST_LIMIT = 50
SAMPLE_REFERENCE = "U-····-····"  # what the preview shows until the update gets its reference


def news_section(service: UpdateService) -> DeskSection:
    """The desk section publishing project updates with `service`."""

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        def compose(
            me: SignedIn,
            *,
            text_fr: str = "",
            text_en: str = "",
            topic: str = "",
            error: str | None = None,
            status_code: int = 200,
        ) -> Response:
            flash = pages.take_flashes(me)
            if error is not None:
                flash.append(("error", error))
            summaries = service.updates(limit=LIST_LIMIT)
            subscribers = service.subscribers()
            return pages.page(
                "updates.html",
                status_code=status_code,
                me=me,
                flash=flash,
                updates=[_row(s, service, zone) for s in summaries],
                subscribers=subscribers,
                topic_names={
                    topic_id: service.catalog.name(topic_id, "en")
                    for topic_id in service.catalog.ids
                },
                text_fr=text_fr,
                text_en=text_en,
                topic=topic,
                max_chars=MAX_TEXT_CHARS,
            )

        @router.get(NEWS_URL)
        async def news(
            me: Staff,
        ) -> Response:
            return await asyncio.to_thread(compose, me)

        @router.post(f"{NEWS_URL}/preview")
        async def preview(
            me: StaffForm,
            text_fr: Annotated[str, Form()] = "",
            text_en: Annotated[str, Form()] = "",
            topic: Annotated[str, Form(max_length=64)] = "",
        ) -> Response:
            try:
                fr, en, chosen = service.check(text_fr=text_fr, text_en=text_en, topic=topic)
            except UpdateError as exc:
                return await asyncio.to_thread(
                    compose,
                    me,
                    text_fr=text_fr,
                    text_en=text_en,
                    topic=topic,
                    error=str(exc),
                    status_code=400,
                )
            audience = await asyncio.to_thread(service.audience, chosen)
            return pages.page(
                "updates_preview.html",
                me=me,
                text_fr=fr,
                text_en=en,
                topic=chosen or "",
                topic_name=service.catalog.name(chosen, "en") if chosen else None,
                audience=audience,
                messages=[
                    (
                        label,
                        service.render(
                            text=fr if language == "fr" else en,
                            language=language,
                            channel=channel,
                            topic=chosen,
                            reference=SAMPLE_REFERENCE,
                        ),
                    )
                    for label, language, channel in (
                        ("In French, on Telegram and Discord", "fr", "telegram"),
                        ("In English, on Telegram and Discord", "en", "telegram"),
                        ("In French, in the web chat", "fr", "web"),
                    )
                ],
            )

        @router.post(f"{NEWS_URL}/edit")
        async def edit(
            me: StaffForm,
            text_fr: Annotated[str, Form()] = "",
            text_en: Annotated[str, Form()] = "",
            topic: Annotated[str, Form(max_length=64)] = "",
        ) -> Response:
            return await asyncio.to_thread(
                compose, me, text_fr=text_fr, text_en=text_en, topic=topic
            )

        @router.post(f"{NEWS_URL}/publish")
        async def publish(
            me: StaffForm,
            text_fr: Annotated[str, Form()] = "",
            text_en: Annotated[str, Form()] = "",
            topic: Annotated[str, Form(max_length=64)] = "",
        ) -> Response:
            try:
                published = await asyncio.to_thread(
                    service.publish,
                    text_fr=text_fr,
                    text_en=text_en,
                    topic=topic,
                    author=me.staff.key,
                )
            except UpdateError as exc:
                return await asyncio.to_thread(
                    compose,
                    me,
                    text_fr=text_fr,
                    text_en=text_en,
                    topic=topic,
                    error=str(exc),
                    status_code=400,
                )
            summary = published.summary
            if published.new:
                counts = summary.counts
                pages.flash(
                    me,
                    "done",
                    f"{summary.reference} is published: {counts.total} subscribers "
                    f"({counts.queued} queued on Telegram and Discord, {counts.stored} in the "
                    "web chat). The counts below follow the delivery.",
                )
            else:
                pages.flash(
                    me,
                    "info",
                    f"This update was already published as {summary.reference} at "
                    f"{_local(summary.created_at, zone)}: nothing was sent twice.",
                )
            return pages.back(f"{NEWS_URL}/{summary.reference}")

        @router.get(NEWS_URL + "/{reference}")
        async def update_page(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: Staff,
        ) -> Response:
            try:
                report = await asyncio.to_thread(service.report, reference)
            except UpdateNotFound as exc:
                return pages.problem("Not found", str(exc), status_code=404)
            summary = report.summary
            return pages.page(
                "updates_one.html",
                me=me,
                flash=pages.take_flashes(me),
                update=_row(summary, service, zone),
                failures=report.failures,
                messages=[
                    (
                        label,
                        service.render(
                            text=summary.text_fr if language == "fr" else summary.text_en,
                            language=language,
                            channel="telegram",
                            topic=summary.topic,
                            reference=summary.reference,
                        ),
                    )
                    for label, language in (("French", "fr"), ("English", "en"))
                ],
            )

        @router.post(NEWS_URL + "/{reference}/send")
        async def send(
            reference: Annotated[str, PathParam(pattern=REFERENCE_PATTERN)],
            me: StaffForm,
        ) -> Response:
            try:
                summary = await asyncio.to_thread(service.send, reference, actor=me.staff.key)
            except UpdateNotFound as exc:
                return pages.problem("Not found", str(exc), status_code=404)
            pages.flash(
                me, "done", f"{summary.reference} now reaches {summary.counts.total} subscribers."
            )
            return pages.back(f"{NEWS_URL}/{summary.reference}")

    return add


def _row(summary: UpdateSummary, service: UpdateService, zone: tzinfo) -> dict[str, object]:
    """What the pages show of an update."""
    return {
        "reference": summary.reference,
        "topic": service.catalog.name(summary.topic, "en") if summary.topic else "All subscribers",
        "author": summary.author,
        "created": _local(summary.created_at, zone),
        "published": _local(summary.published_at, zone) if summary.published_at else None,
        "counts": summary.counts,
        "text_fr": summary.text_fr,
        "text_en": summary.text_en,
    }


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
