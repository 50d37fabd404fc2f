"""The "Consultations" section of the web desk: consultations with their live counts (by
channel and language, participation, concentration), writing one (managers), closing one;
the idea box grouped by meaning, from which a group of ideas becomes an option; and the list
of engaged members, whom the team can invite with a message.

The pages live under ``/desk/consultations`` behind the desk's login, CSRF check and security
headers (`bot.staff_web.shell.DeskPages`); creating and closing need the manager role. Work
that may write many rows (delivering, closing) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, tzinfo
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import Engine

from bot.participation import volunteers
from bot.participation.consultations import (
    MAX_OPTION_CHARS,
    MAX_OPTIONS,
    ConsultationError,
    ConsultationNotFound,
    Consultations,
    Draft,
    Option,
    Results,
)
from bot.participation.ideas import IdeaBox, IdeasError
from bot.staff_web.shell import DeskPages, DeskSection, SignedIn, Staff, StaffForm
from bot.storage.models import utc_now

URL = "/desk/consultations"
REFERENCE = r"^[Kk]-\d{4}-\d{4,6}$"


def participation_section(
    consultations: Consultations, ideas: IdeaBox, engine: Engine
) -> DeskSection:
    """The desk section of consultations, ideas and engaged members."""

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        def listing(
            me: SignedIn, *, form: dict[str, str] | None = None, error: str | None = None,
            status_code: int = 200,
        ) -> Response:  # fmt: skip
            flash = pages.take_flashes(me)
            if error is not None:
                flash.append(("error", error))
            now = utc_now().astimezone(zone)
            defaults = {
                "question_fr": "", "question_en": "", "options": "", "purpose_fr": "",
                "purpose_en": "", "audience": "subscribers", "ideas_used": "",
                "opens": now.strftime("%Y-%m-%dT%H:%M"),
                "closes": (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"),
            }  # fmt: skip
            return pages.page(
                "consultations.html",
                status_code=status_code,
                me=me,
                flash=flash,
                consultations=[_row(r, zone) for r in consultations.recent()],
                form={**defaults, **(form or {})},
                max_options=MAX_OPTIONS,
                max_option_chars=MAX_OPTION_CHARS,
            )

        @router.get(URL)
        async def consultations_page(me: Staff) -> Response:
            return await asyncio.to_thread(listing, me)

        @router.post(URL)
        async def create(
            me: StaffForm,
            question_fr: Annotated[str, Form(max_length=2_000)] = "",
            question_en: Annotated[str, Form(max_length=2_000)] = "",
            options: Annotated[str, Form(max_length=10_000)] = "",
            purpose_fr: Annotated[str, Form(max_length=4_000)] = "",
            purpose_en: Annotated[str, Form(max_length=4_000)] = "",
            audience: Annotated[str, Form(max_length=160)] = "subscribers",
            opens: Annotated[str, Form(max_length=40)] = "",
            closes: Annotated[str, Form(max_length=40)] = "",
            ideas_used: Annotated[str, Form(max_length=20_000)] = "",
        ) -> Response:
            pages.require(me, "manager", "create a consultation")
            form = {
                "question_fr": question_fr, "question_en": question_en, "options": options,
                "purpose_fr": purpose_fr, "purpose_en": purpose_en, "audience": audience,
                "opens": opens, "closes": closes, "ideas_used": ideas_used,
            }  # fmt: skip
            try:
                draft = Draft(
                    question_fr=question_fr,
                    question_en=question_en,
                    purpose_fr=purpose_fr,
                    purpose_en=purpose_en,
                    options=parse_options(options),
                    audience=audience,
                    opens_at=_moment(opens, zone, "opening") if opens.strip() else None,
                    closes_at=_moment(closes, zone, "closing"),
                )
                created = await asyncio.to_thread(consultations.create, draft, author=me.staff.key)
            except ConsultationError as exc:
                return await asyncio.to_thread(
                    listing, me, form=form, error=str(exc), status_code=400
                )
            used = [int(i) for i in ideas_used.split(",") if i.strip().isdigit()]
            if used and created.id is not None:
                await asyncio.to_thread(ideas.mark_used, used, created.id)
            pages.flash(
                me,
                "done",
                f"{created.reference} is {created.status}: "
                + (
                    "it was put to its audience now."
                    if created.status == "open"
                    else "it will be put to its audience when it opens."
                ),
            )
            return pages.back(f"{URL}/{created.reference}")

        @router.get(URL + "/ideas")
        async def ideas_page(me: Staff) -> Response:
            try:
                groups = await asyncio.to_thread(ideas.groups)
                error = None
            except IdeasError as exc:
                groups, error = [], str(exc)
            flash = pages.take_flashes(me)
            if error:
                flash.append(("error", error))
            return pages.page("ideas.html", me=me, flash=flash, groups=groups, zone=zone)

        @router.post(URL + "/ideas/draft")
        async def ideas_to_options(
            me: StaffForm,
            chosen: Annotated[list[str] | None, Form()] = None,
        ) -> Response:
            # The chosen groups become the options of a new consultation's form, crediting the
            # citizens who suggested each ("suggested by 14 of you"); the team words them.
            groups = await asyncio.to_thread(ideas.groups)
            picked = [g for g in groups if str(g.representative.id) in set(chosen or ())]
            if not picked:
                pages.flash(me, "error", "Choose at least one group of ideas.")
                return pages.back(URL + "/ideas")
            lines = [
                f"{_short(g.representative.text)} | {_short(g.representative.text)} | {g.citizens}"
                for g in picked
            ]
            used = ",".join(str(i.id) for g in picked for i in g.ideas)
            return await asyncio.to_thread(
                listing, me, form={"options": "\n".join(lines), "ideas_used": used}
            )

        @router.get(URL + "/members")
        async def members_page(me: Staff) -> Response:
            found = await asyncio.to_thread(volunteers.members, engine)
            return pages.page(
                "members.html",
                me=me,
                flash=pages.take_flashes(me),
                members=found,
                zone=zone,
            )

        @router.post(URL + "/members/invite")
        async def invite_members(
            me: StaffForm,
            text_fr: Annotated[str, Form(max_length=3_000)] = "",
            text_en: Annotated[str, Form(max_length=3_000)] = "",
        ) -> Response:
            pages.require(me, "manager", "invite the engaged members")
            if not text_fr.strip() or not text_en.strip():
                pages.flash(me, "error", "Write the invitation in French and in English.")
                return pages.back(URL + "/members")
            sent = await asyncio.to_thread(
                volunteers.invite, engine, text_fr=text_fr, text_en=text_en, actor=me.staff.key
            )
            pages.flash(me, "done", f"The invitation was sent to {sent} engaged members.")
            return pages.back(URL + "/members")

        @router.get(URL + "/{reference}")
        async def consultation_page(
            reference: Annotated[str, PathParam(pattern=REFERENCE)], me: Staff
        ) -> Response:
            try:
                results = await asyncio.to_thread(consultations.results, reference)
            except ConsultationNotFound as exc:
                return pages.problem("Not found", str(exc), status_code=404)
            return pages.page(
                "consultation.html",
                me=me,
                flash=pages.take_flashes(me),
                c=_row(results, zone),
                results=results,
                invitation_fr=consultations.invitation_text(
                    consultations.get(reference), "fr", how="text"
                ),
                result_fr=consultations.result_text(results, "fr"),
                result_en=consultations.result_text(results, "en"),
            )

        @router.post(URL + "/{reference}/close")
        async def close(
            reference: Annotated[str, PathParam(pattern=REFERENCE)], me: StaffForm
        ) -> Response:
            pages.require(me, "manager", "close a consultation")
            try:
                results = await asyncio.to_thread(
                    consultations.close, reference, actor=me.staff.key
                )
            except ConsultationNotFound as exc:
                return pages.problem("Not found", str(exc), status_code=404)
            except ConsultationError as exc:
                pages.flash(me, "error", str(exc))
                return pages.back(f"{URL}/{reference.upper()}")
            pages.flash(
                me,
                "done",
                f"{results.reference} is closed; its result was sent to the "
                f"{results.participants} participants in their language.",
            )
            return pages.back(f"{URL}/{results.reference}")

    return add


def parse_options(text: str) -> tuple[Option, ...]:
    """Options written one per line as ``French | English`` (``| n`` more: suggested by n
    citizens); a line without ``|`` is used in both languages.

    Raises:
        ConsultationError: a line has more parts than that, or a count that is not a number.
    """
    options = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) > 3:
            raise ConsultationError(
                f"Option line {number} has {len(parts)} parts: write 'French | English' "
                "(and '| n' for the number of citizens who suggested it)."
            )
        fr = parts[0]
        en = parts[1] if len(parts) > 1 and parts[1] else fr
        ideas = 0
        if len(parts) == 3:
            if not parts[2].isdigit():
                raise ConsultationError(
                    f"Option line {number}: {parts[2]!r} is not a number of citizens."
                )
            ideas = int(parts[2])
        options.append(Option(fr=fr, en=en, ideas=ideas))
    return tuple(options)


def _moment(text: str, zone: tzinfo, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConsultationError(
            f"The {what} date {text.strip()!r} is not a date and time (YYYY-MM-DDTHH:MM)."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _row(results: Results, zone: tzinfo) -> dict[str, object]:
    return {
        "reference": results.reference,
        "status": results.status,
        "question": results.question_en,
        "audience": results.audience,
        "opens": results.opens_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "closes": results.closes_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "participants": results.participants,
        "invited": results.invited,
        "kind": "open answers" if results.open_answers else f"{len(results.options)} options",
    }


def _short(text: str) -> str:
    """An idea's words as a first draft of an option (the team shortens them)."""
    words = " ".join(text.split()).replace("|", "/")
    return words if len(words) <= MAX_OPTION_CHARS else words[: MAX_OPTION_CHARS - 1] + "…"
