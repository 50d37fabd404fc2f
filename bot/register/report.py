"""The periodic public report of the concern register, for the community and for lenders.

`build_report` reads one period of the register into a `RegisterReport`: what was raised
(by category, kind, status, channel and language), what is still open and for how long, whether
the team kept its deadlines, how closed concerns ended, and "you said, we did": the team's
responses to concerns resolved in the period. `render_markdown` and `render_html` write it
out in the report's language (French or English); the HTML page is self-contained (inline
CSS and SVG charts, nothing fetched from elsewhere) so it can be published or mailed as is.

The report is public, so it holds anonymised aggregates only:

* No reference, citizen id, chat id or citizen's words ever enter a `RegisterReport`.
* Small-count suppression: in every breakdown (by category, kind, status, channel, language,
  age band and outcome) a count of 1 or 2 is published as "< 3" (`SMALL_COUNT`), so that nobody
  can be recognised from a rare combination ("the only English-speaking person on Discord
  who wrote about water"). Zero is published as 0: it describes nobody. Rows come in a fixed
  order (never sorted by count), which would otherwise tell a 2 from a 1. Totals and the
  team's own performance (deadlines kept, overdue concerns, median times) are published
  exactly: they describe the team, and hiding one late answer is what a lender must not
  miss. Known limit: when a breakdown has a single "< 3" row, the total lets a reader work
  it out (1 or 2 instead of "< 3"); it still names nobody.
* "You said, we did" quotes the team's latest response visible to the citizen, for concerns
  closed as resolved in the period, except those marked confidential, anonymised, or whose
  citizen asked to be forgotten. Before it is shown, a response loses its salutation and
  sign-off (names), references, e-mail addresses and phone numbers, any run of five words
  it shares with what the citizen wrote, and is cut to about 400 characters. This is a
  safety net, not a licence: the team writes responses knowing they may be published.

Days are the project's calendar days (`timezone`, the zone deadlines are computed in by
`bot.common.calendar`), so a concern acknowledged at 10 p.m. on its due day is on time.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sqlalchemy import Engine, Select, and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from bot.common.phrases import CATEGORY_NAMES, KIND_NAMES, OUTCOME_NAMES, long_date
from bot.common.text import capitalised, fold, redact_personal_data
from bot.reports.charts import chart_style, svg_markup
from bot.reports.document import Document, Group, Labels, Section, Table, templates
from bot.reports.formatting import number, percent
from bot.storage.models import (
    Concern,
    ConcernEvent,
    ConcernOutcome,
    ConcernStatus,
    Conversation,
)

SMALL_COUNT: Final = "< 3"
"""How a count of 1 or 2 is published in a breakdown."""
PublishedCount = int | Literal["< 3"]
"""A count as published: exact, or `SMALL_COUNT` when it is 1 or 2."""

MIN_PUBLISHED_COUNT: Final = 3
RESPONSE_LIMIT: Final = 400
AGE_BANDS: Final = ("0-7", "8-30", "31-90", "90+")
UNRECORDED_OUTCOME: Final = "unrecorded"

# A run of this many words shared with what the citizen wrote is taken as quoting them.
_QUOTE_WORDS = 5
_STATUSES = tuple(status.value for status in ConcernStatus)
_OUTCOMES = tuple(outcome.value for outcome in ConcernOutcome)
_TEMPLATES = Path(__file__).resolve().parent / "templates"

LABELS: Final = Labels(
    {
        "title": {
            "fr": "{project} : registre des préoccupations, rapport public",
            "en": "{project}: concern register, public report",
        },
        "period": {
            "fr": "Période du {start} au {end}. Données arrêtées au {today}.",
            "en": "Period from {start} to {end}. Figures as of {today}.",
        },
        "mechanism": {"fr": "Comment fonctionne le mécanisme", "en": "How the mechanism works"},
        "mechanism_text": {
            "fr": (
                "Toute personne peut faire part d'une préoccupation au sujet du projet, en français "
                "ou en anglais, à l'assistant de dialogue ou à l'équipe du projet. Chaque "
                "préoccupation est consignée dans un registre, comme plainte (un tort ou une "
                "nuisance subis par la personne ou la collectivité) ou comme objection (au projet "
                "ou à sa démarche), avec un numéro de suivi remis à la personne. L'équipe en accuse "
                "réception dans un délai de {acknowledge} et répond à une plainte dans un délai de "
                "{respond}, à une objection dans un délai de {objection_respond}. Si la réponse ne "
                "vous satisfait pas, vous pouvez faire appel : votre préoccupation est alors "
                "rouverte et examinée de nouveau."
            ),
            "en": (
                "Anyone can raise a concern about the project, in French or in English, with the "
                "dialogue assistant or with the project team. Each concern is logged in a register, "
                "as a grievance (a harm or nuisance to the person or the community) or as an "
                "objection (to the project or its process), and the person receives a reference "
                "number. The team acknowledges it within {acknowledge} and responds within "
                "{respond} to a grievance and within {objection_respond} to an objection. If you "
                "are not satisfied with the response, you can appeal: your concern is then reopened "
                "and looked into again."
            ),
        },
        "privacy": {
            "fr": (
                "Ce rapport ne contient que des chiffres anonymes : aucun nom, numéro de suivi ni "
                "propos d'un citoyen. Dans les tableaux, un nombre de 1 ou 2 est indiqué « < 3 » "
                "afin que personne ne puisse être reconnu."
            ),
            "en": (
                "This report contains anonymous figures only: no name, reference number or words "
                "of a citizen. In the tables, a number of 1 or 2 is shown as “< 3” so that nobody "
                "can be recognised."
            ),
        },
        "business_day": {"fr": "{n} jour ouvrable", "en": "{n} business day"},
        "business_days": {"fr": "{n} jours ouvrables", "en": "{n} business days"},
        "day": {"fr": "{n} jour", "en": "{n} day"},
        "days": {"fr": "{n} jours", "en": "{n} days"},
        "received": {
            "fr": "Préoccupations reçues pendant la période",
            "en": "Concerns received in the period",
        },
        "received_total": {"fr": "Préoccupations reçues : {n}.", "en": "Concerns received: {n}."},
        "by_category": {
            "fr": "Préoccupations reçues par catégorie",
            "en": "Concerns received by category",
        },
        "by_kind": {"fr": "Préoccupations reçues par type", "en": "Concerns received by kind"},
        "by_status": {
            "fr": "Préoccupations reçues, par état actuel",
            "en": "Concerns received, by current status",
        },
        "by_channel": {
            "fr": "Préoccupations reçues par canal",
            "en": "Concerns received by channel",
        },
        "by_language": {
            "fr": "Préoccupations reçues par langue",
            "en": "Concerns received by language",
        },
        "col_kind": {"fr": "Type", "en": "Kind"},
        "col_status": {"fr": "État", "en": "Status"},
        "col_age": {"fr": "Ancienneté", "en": "Age"},
        "col_outcome": {"fr": "Issue", "en": "Outcome"},
        "col_count": {"fr": "Nombre", "en": "Number"},
        "col_commitment": {"fr": "Engagement", "en": "Commitment"},
        "col_assessed": {"fr": "Échéances évaluées", "en": "Deadlines assessed"},
        "col_on_time": {"fr": "Respectées", "en": "Kept"},
        "col_rate": {"fr": "Taux", "en": "Rate"},
        "open": {"fr": "Préoccupations en cours", "en": "Open concerns"},
        "open_total": {
            "fr": "Préoccupations en cours au {today} : {n}.",
            "en": "Concerns open on {today}: {n}.",
        },
        "by_age": {
            "fr": "Préoccupations en cours par ancienneté (jours depuis la réception)",
            "en": "Open concerns by age (days since received)",
        },
        "age_0-7": {"fr": "0 à 7 jours", "en": "0 to 7 days"},
        "age_8-30": {"fr": "8 à 30 jours", "en": "8 to 30 days"},
        "age_31-90": {"fr": "31 à 90 jours", "en": "31 to 90 days"},
        "age_90+": {"fr": "plus de 90 jours", "en": "more than 90 days"},
        "deadlines": {"fr": "Respect des délais", "en": "Deadlines kept"},
        "deadlines_text": {
            "fr": (
                "Sont évaluées les préoccupations dont l'échéance tombait pendant la période et "
                "qui ont été traitées, ou dont l'échéance est passée sans qu'elles le soient. Une "
                "préoccupation fermée (par exemple retirée) avant son échéance n'est pas comptée."
            ),
            "en": (
                "Assessed: concerns whose deadline fell in the period and that were handled, or "
                "whose deadline passed without it. A concern closed (for example withdrawn) before "
                "its deadline is not counted."
            ),
        },
        "deadlines_table": {"fr": "Délais respectés", "en": "Deadlines kept"},
        "acknowledge_row": {
            "fr": "Accusé de réception en {days}",
            "en": "Acknowledged within {days}",
        },
        "respond_row": {"fr": "Réponse en {days}", "en": "Response within {days}"},
        "respond_row_by_kind": {
            "fr": "Réponse en {grievance} (plainte) ou en {objection} (objection)",
            "en": "Response within {grievance} (grievance) or {objection} (objection)",
        },
        "acknowledge_short": {"fr": "Accusé de réception", "en": "Acknowledgement"},
        "respond_short": {"fr": "Réponse", "en": "Response"},
        "pending": {
            "fr": "Échéances de la période pas encore arrivées : {acknowledge} accusé(s) de réception, {respond} réponse(s).",
            "en": "Deadlines of the period not reached yet: {acknowledge} acknowledgement(s), {respond} response(s).",
        },
        "overdue": {
            "fr": (
                "Sans réponse après leur échéance, au {today} : {period} préoccupation(s) dont "
                "l'échéance tombait pendant la période, {total} dans tout le registre."
            ),
            "en": (
                "Without a response past their deadline on {today}: {period} concern(s) due in "
                "the period, {total} in the whole register."
            ),
        },
        "closed": {
            "fr": "Préoccupations fermées pendant la période",
            "en": "Concerns closed in the period",
        },
        "closed_total": {"fr": "Préoccupations fermées : {n}.", "en": "Concerns closed: {n}."},
        "by_outcome": {
            "fr": "Préoccupations fermées par issue",
            "en": "Concerns closed by outcome",
        },
        "median_respond": {
            "fr": "Délai médian de première réponse : {days} ({n} préoccupation(s) ayant reçu une première réponse pendant la période).",
            "en": "Median time to a first response: {days} ({n} concern(s) first responded to in the period).",
        },
        "median_close": {
            "fr": "Délai médian de fermeture : {days} ({n} préoccupation(s) fermée(s) pendant la période).",
            "en": "Median time to close: {days} ({n} concern(s) closed in the period).",
        },
        "no_data": {"fr": "aucune donnée", "en": "no data"},
        "you_said": {"fr": "Vous avez dit, nous avons fait", "en": "You said, we did"},
        "you_said_text": {
            "fr": (
                "Les réponses de l'équipe aux préoccupations résolues pendant la période, par "
                "catégorie, sauf celles que leurs auteurs ont demandé de garder confidentielles. "
                "Ce sont les mots de l'équipe, abrégés ; numéros de suivi, coordonnées et propos "
                "des citoyens en sont retirés (…)."
            ),
            "en": (
                "The team's responses to concerns resolved in the period, by category, except "
                "those their authors asked to keep confidential. These are the team's words, "
                "shortened; reference numbers, contact details and citizens' words are removed (…)."
            ),
        },
        "you_said_none": {
            "fr": "Aucune réponse à publier pour cette période.",
            "en": "No response to publish for this period.",
        },
        "about_text": {
            "fr": (
                "Les jours sont des jours civils du projet ; l'ancienneté d'une préoccupation est "
                "le nombre de jours depuis sa réception. Les délais médians sont en jours civils."
            ),
            "en": (
                "Days are the project's calendar days; the age of a concern is the number of days "
                "since it was received. Median times are in calendar days."
            ),
        },
        "chart_by_category": {
            "fr": "Préoccupations reçues par catégorie",
            "en": "Concerns received by category",
        },
        "chart_by_age": {
            "fr": "Préoccupations en cours par ancienneté",
            "en": "Open concerns by age",
        },
        "chart_compliance": {
            "fr": "Part des délais respectés (en %)",
            "en": "Share of deadlines kept (in %)",
        },
        "axis_count": {"fr": "Nombre de préoccupations", "en": "Number of concerns"},
        "axis_percent": {"fr": "Pourcentage", "en": "Percentage"},
        "status_received": {"fr": "reçue", "en": "received"},
        "status_acknowledged": {"fr": "prise en charge", "en": "acknowledged"},
        "status_in_review": {"fr": "à l'étude", "en": "in review"},
        "status_responded": {"fr": "répondue", "en": "responded"},
        "status_closed": {"fr": "fermée", "en": "closed"},
        "outcome_unrecorded": {"fr": "non précisée", "en": "not recorded"},
        "channel_web": {"fr": "site web", "en": "website"},
        "channel_telegram": {"fr": "Telegram", "en": "Telegram"},
        "channel_discord": {"fr": "Discord", "en": "Discord"},
        "channel_terminal": {"fr": "terminal", "en": "terminal"},
        "language_fr": {"fr": "français", "en": "French"},
        "language_en": {"fr": "anglais", "en": "English"},
    }
)


@dataclass(frozen=True)
class DeadlineCompliance:
    """How one commitment (acknowledge, or respond) was kept for the concerns due in the period.

    Attributes:
        assessed: concerns whose deadline fell in the period and that were handled, or whose
            deadline passed without it (a concern closed before its deadline without the step,
            e.g. withdrawn, owed nothing and is not counted).
        on_time: of those, handled on or before their due day.
        pending: due in the period, not handled yet, but the due day has not passed.
    """

    assessed: int
    on_time: int
    pending: int

    @property
    def share(self) -> float | None:
        """The share handled on time (0 to 1); None when nothing could be assessed."""
        return None if self.assessed == 0 else self.on_time / self.assessed

    @property
    def percent(self) -> float | None:
        """The same in percent (0 to 100), for the charts' scale."""
        return None if self.share is None else 100 * self.share


@dataclass(frozen=True)
class ResponseLine:
    """One line of "you said, we did": the team's response, cleaned for publication.

    Attributes:
        text: the team's words, without names, references, contact details or quotes of the
            citizen, at most about 400 characters.
        language: the language the response was written in (the citizen's).
    """

    text: str
    language: str


@dataclass(frozen=True)
class RegisterReport:
    """The anonymised figures of one period of the register (see the module's privacy rules).

    Breakdowns are `PublishedCount`s (1 and 2 appear as "< 3"); totals and deadline figures
    are exact.

    Attributes:
        language: the language the report is written in ("fr" or "en").
        period_start: first day of the period (the project's calendar day).
        period_end: last day of the period, included.
        today: the day the figures are as of (open concerns, ages, overdue).
        acknowledge_days: business days the team has to acknowledge a concern.
        respond_days: business days the team has to respond to a grievance.
        objection_respond_days: business days the team has to respond to an objection.
        received_total: concerns received in the period.
        received_by_category: those by category, every category in the contract's order.
        received_by_kind: those by kind (grievance, objection), in the contract's order.
        received_by_status: those by their current status, in lifecycle order.
        received_by_channel: those by channel, in alphabetical order.
        received_by_language: those by language, in alphabetical order.
        open_total: concerns open on `today` (received, not closed), whenever received.
        open_by_age: those by days since received: "0-7", "8-30", "31-90", "90+".
        acknowledgement: the acknowledge deadline, for concerns due to be acknowledged in the
            period.
        response: the respond deadline, for concerns due to be responded to in the period.
        overdue_in_period: concerns due to be responded to in the period, still open and
            without a response on `today`, past their reply-by date.
        overdue_total: the same over the whole register, whatever their reply-by date.
        closed_total: concerns closed in the period.
        closed_by_outcome: those by outcome (resolved, unresolved, withdrawn; and
            "unrecorded" when some were closed without one).
        first_responses: concerns that got their first response in the period.
        median_days_to_respond: calendar days from receipt to the first response, median over
            `first_responses`; None when there is none.
        median_days_to_close: calendar days from receipt to closure, median over the concerns
            closed in the period; None when there is none.
        you_said_we_did: category → the team's responses to concerns resolved in the period
            (categories in the contract's order, only those with a response to publish).
    """

    language: str
    period_start: date
    period_end: date
    today: date
    acknowledge_days: int
    respond_days: int
    objection_respond_days: int
    received_total: int
    received_by_category: Mapping[str, PublishedCount]
    received_by_kind: Mapping[str, PublishedCount]
    received_by_status: Mapping[str, PublishedCount]
    received_by_channel: Mapping[str, PublishedCount]
    received_by_language: Mapping[str, PublishedCount]
    open_total: int
    open_by_age: Mapping[str, PublishedCount]
    acknowledgement: DeadlineCompliance
    response: DeadlineCompliance
    overdue_in_period: int
    overdue_total: int
    closed_total: int
    closed_by_outcome: Mapping[str, PublishedCount]
    first_responses: int
    median_days_to_respond: float | None
    median_days_to_close: float | None
    you_said_we_did: Mapping[str, tuple[ResponseLine, ...]] = field(default_factory=dict)


def published(count: int) -> PublishedCount:
    """A breakdown's count as it may be published: 1 and 2 become "< 3", others stay.

    Args:
        count: the exact number of concerns.

    Returns:
        `count`, or `SMALL_COUNT` when it is 1 or 2.
    """
    return SMALL_COUNT if 0 < count < MIN_PUBLISHED_COUNT else count


def build_report(
    engine: Engine,
    *,
    period_start: date,
    period_end: date,
    today: date,
    language: str,
    acknowledge_days: int = 2,
    respond_days: int = 21,
    objection_respond_days: int = 30,
    timezone: str = "America/Toronto",
) -> RegisterReport:
    """Reads the register's figures for one period, anonymised for publication.

    Breakdowns are counted in the database (GROUP BY); only the dates of the concerns due,
    responded to or closed in the period, and the resolved ones' responses, are loaded.

    Args:
        engine: the register's database.
        period_start: first day of the period, in the project's calendar.
        period_end: last day of the period, included.
        today: the day the report is as of (open concerns, ages, overdue, deadlines passed).
        language: the language of the report's labels ("fr" or "en").
        acknowledge_days: business days the team commits to acknowledge a concern in.
        respond_days: business days the team commits to respond to a grievance in.
        objection_respond_days: business days the team commits to respond to an objection in.
        timezone: the project's time zone (IANA name), whose calendar days the deadlines
            were computed in.

    Returns:
        The period's figures, with small counts of breakdowns suppressed.

    Raises:
        ValueError: the period ends before it starts, or the language is not served.
    """
    if period_end < period_start:
        raise ValueError("The period ends before it starts.")
    LABELS.check_language(language)
    clock = _Clock(ZoneInfo(timezone), today)
    start, end = clock.midnight(period_start), clock.midnight(period_end + timedelta(days=1))
    received_at = col(Concern.received_at)
    received = [received_at >= start, received_at < end]
    closed_in_period = [
        col(Concern.status) == ConcernStatus.CLOSED.value,
        col(Concern.closed_at) >= start,
        col(Concern.closed_at) < end,
    ]
    # The first response the citizen received, not `responded_at` (the latest one, moved
    # again after an appeal), is what the respond deadline is about.
    first_response = (
        select(
            col(ConcernEvent.concern_id).label("concern_id"),
            func.min(col(ConcernEvent.at)).label("at"),
        )
        .where(col(ConcernEvent.kind) == "response", col(ConcernEvent.visible_to_citizen).is_(True))
        .group_by(col(ConcernEvent.concern_id))
        .subquery()
    )
    responded_at = func.coalesce(first_response.c.at, col(Concern.responded_at))

    def with_first_response(*columns: Any) -> Select[Any]:
        return (
            select(*columns)
            .select_from(Concern)
            .outerjoin(first_response, first_response.c.concern_id == col(Concern.id))
        )

    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            # One snapshot for every query, so that the published figures add up even while
            # the team works in the register.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        by_category = _count_by(session, col(Concern.category), received)
        by_kind = _count_by(session, col(Concern.kind), received)
        by_status = _count_by(session, col(Concern.status), received)
        by_channel = _count_by(session, col(Concern.channel), received)
        by_language = _count_by(session, col(Concern.language), received)
        open_total, open_by_age = _open_by_age(session, clock)
        by_outcome = _count_by(session, col(Concern.outcome), closed_in_period)

        acknowledge_rows = session.execute(
            with_first_response(
                col(Concern.acknowledge_by),
                col(Concern.acknowledged_at),
                responded_at,
                col(Concern.closed_at),
                col(Concern.status),
            ).where(
                col(Concern.acknowledge_by) >= period_start,
                col(Concern.acknowledge_by) <= period_end,
            )
        ).all()
        respond_rows = session.execute(
            with_first_response(
                col(Concern.respond_by),
                responded_at,
                col(Concern.closed_at),
                col(Concern.status),
            ).where(
                col(Concern.respond_by) >= period_start,
                col(Concern.respond_by) <= period_end,
            )
        ).all()
        overdue_total = session.execute(
            with_first_response(func.count()).where(
                received_at < clock.end_of_today,
                col(Concern.respond_by) < today,
                or_(responded_at.is_(None), responded_at >= clock.end_of_today),
                clock.open_on_today(),
            )
        ).scalar_one()
        to_respond = session.execute(
            with_first_response(received_at, responded_at).where(
                responded_at >= start, responded_at < end
            )
        ).all()
        to_close = session.execute(
            select(received_at, col(Concern.closed_at)).where(*closed_in_period)
        ).all()
        you_said = _you_said_we_did(session, closed_in_period)

    acknowledgement, _ = _compliance(
        clock,
        ((due, (ack, resp), closed, status) for due, ack, resp, closed, status in acknowledge_rows),
    )
    response, overdue_in_period = _compliance(
        clock, ((due, (resp,), closed, status) for due, resp, closed, status in respond_rows)
    )
    return RegisterReport(
        language=language,
        period_start=period_start,
        period_end=period_end,
        today=today,
        acknowledge_days=acknowledge_days,
        respond_days=respond_days,
        objection_respond_days=objection_respond_days,
        received_total=sum(by_category.values()),
        received_by_category=_breakdown(_categories(by_category), tuple(CATEGORY_NAMES)),
        received_by_kind=_breakdown(by_kind, tuple(KIND_NAMES)),
        received_by_status=_breakdown(by_status, _STATUSES),
        received_by_channel=_breakdown(by_channel, ()),
        received_by_language=_breakdown(by_language, ()),
        open_total=open_total,
        open_by_age=_breakdown(open_by_age, AGE_BANDS),
        acknowledgement=acknowledgement,
        response=response,
        overdue_in_period=overdue_in_period,
        overdue_total=int(overdue_total),
        closed_total=len(to_close),
        closed_by_outcome=_breakdown(
            {(key or UNRECORDED_OUTCOME): n for key, n in by_outcome.items()}, _OUTCOMES
        ),
        first_responses=len(to_respond),
        median_days_to_respond=_median_days(clock, to_respond),
        median_days_to_close=_median_days(clock, to_close),
        you_said_we_did=you_said,
    )


# --- reading the register ---------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    """The project's calendar: which day a moment falls on, when a day starts."""

    zone: ZoneInfo
    today: date

    def midnight(self, day: date) -> datetime:
        """The moment `day` starts in the project's zone, in UTC (how moments are stored)."""
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(UTC)

    def day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    @property
    def end_of_today(self) -> datetime:
        return self.midnight(self.today + timedelta(days=1))

    def open_on_today(self) -> ColumnElement[bool]:
        """Not closed at the end of `today` (a concern closed later was still open then)."""
        return or_(
            col(Concern.status) != ConcernStatus.CLOSED.value,
            col(Concern.closed_at) >= self.end_of_today,
        )


def _count_by(
    session: Session, column: Any, where: Sequence[ColumnElement[bool]]
) -> dict[str | None, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return {key: int(count) for key, count in rows}


def _categories(counts: Mapping[str | None, int]) -> dict[str | None, int]:
    # A category the contract no longer has (or never had) is counted as "other", so that the
    # table keeps the contract's rows and its total matches the concerns received.
    merged: dict[str | None, int] = {}
    for key, count in counts.items():
        known = key if key in CATEGORY_NAMES else "other"
        merged[known] = merged.get(known, 0) + count
    return merged


def _breakdown(counts: Mapping[str | None, int], order: Sequence[str]) -> dict[str, PublishedCount]:
    """Every key of `order` (0 if absent), then the others alphabetically; small counts
    suppressed. Never sorted by count: the order would tell a 2 from a 1."""
    exact = {str(key): count for key, count in counts.items()}
    keys = [*order, *sorted(key for key in exact if key not in order)]
    return {key: published(exact.get(key, 0)) for key in keys}


def _open_by_age(session: Session, clock: _Clock) -> tuple[int, dict[str | None, int]]:
    received_at = col(Concern.received_at)
    today = clock.today
    # Age is counted in days since the day of receipt: 0-7 days old means received on or after
    # the day a week ago, hence comparisons with the midnights of those days.
    week, month, quarter = (clock.midnight(today - timedelta(days=n)) for n in (7, 30, 90))
    bands = {
        "0-7": received_at >= week,
        "8-30": and_(received_at >= month, received_at < week),
        "31-90": and_(received_at >= quarter, received_at < month),
        "90+": received_at < quarter,
    }
    row = session.execute(
        select(func.count(), *(_sum_of(condition) for condition in bands.values())).where(
            received_at < clock.end_of_today, clock.open_on_today()
        )
    ).one()
    total, *counts = (int(value) for value in row)
    return total, dict(zip(bands, counts, strict=True))


def _sum_of(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _compliance(
    clock: _Clock,
    rows: Iterable[tuple[date | None, Sequence[datetime | None], datetime | None, str]],
) -> tuple[DeadlineCompliance, int]:
    """The deadline figures of the concerns due in the period, and how many are overdue.

    Each row is (due day, moments the step was done, closed at, status); a later step done
    counts for an earlier one (a response acknowledges).
    """
    assessed = on_time = pending = overdue = 0
    for due, moments, closed_at, status in rows:
        if due is None:
            continue
        done_days = [clock.day(moment) for moment in moments if moment is not None]
        done = min((day for day in done_days if day <= clock.today), default=None)
        if closed_at is not None:
            closed_day: date | None = clock.day(closed_at)
        elif status == ConcernStatus.CLOSED.value:
            closed_day = date.min  # closed, we do not know when: it owed nothing any more
        else:
            closed_day = None
        if closed_day is not None and closed_day > clock.today:
            closed_day = None
        if done is not None:
            assessed += 1
            on_time += done <= due
        elif closed_day is not None:
            if closed_day > due:  # closed after its deadline, without ever doing the step
                assessed += 1
        elif due < clock.today:
            assessed += 1
            overdue += 1
        else:
            pending += 1
    return DeadlineCompliance(assessed=assessed, on_time=on_time, pending=pending), overdue


def _median_days(clock: _Clock, rows: Sequence[Any]) -> float | None:
    days = [(clock.day(end) - clock.day(start)).days for start, end in rows if end is not None]
    return float(statistics.median(days)) if days else None


# --- "you said, we did" -------------------------------------------------------------------

_REFERENCE = re.compile(r"\b[cC]-?\d{4}-?\d{1,6}\b")
# North American numbers (the project's), not dates or amounts: 819 555-0100, (819) 555 0100...
_SALUTATION = re.compile(
    r"^\s*(?:bonjour|bonsoir|allô|allo|salut|hello|hi|dear|cher|chère|chers|chères|madame|"
    r"monsieur|mesdames|messieurs|mme|mr|mrs|ms)\b[^,:;!\n]{0,60}[,:;!\n]\s*",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    # Bounded white space: `\s*` after every line break made 20,000 of them take 30 s.
    r"(?:^|(?<=[.!?\n]))\s{0,20}+(?:cordialement|bien à vous|(?:meilleures |sincères )?salutations|"
    r"best regards|kind regards|regards|sincerely|yours truly)\b.{0,100}$",
    re.IGNORECASE | re.DOTALL,
)
_WORD = re.compile(r"\w+")


def _you_said_we_did(
    session: Session, closed_in_period: Sequence[ColumnElement[bool]]
) -> dict[str, tuple[ResponseLine, ...]]:
    concerns = session.execute(
        select(col(Concern.id), col(Concern.category), col(Concern.language), col(Concern.text))
        .join(Conversation, col(Conversation.id) == col(Concern.conversation_id))
        .where(
            *closed_in_period,
            col(Concern.outcome) == ConcernOutcome.RESOLVED.value,
            col(Concern.confidential).is_(False),
            col(Concern.anonymised_at).is_(None),
            col(Conversation.erased_at).is_(None),
        )
        .order_by(col(Concern.closed_at), col(Concern.id))
    ).all()
    if not concerns:
        return {}
    events = session.execute(
        select(
            col(ConcernEvent.concern_id),
            col(ConcernEvent.kind),
            col(ConcernEvent.actor),
            col(ConcernEvent.visible_to_citizen),
            col(ConcernEvent.text),
        )
        .where(col(ConcernEvent.concern_id).in_([row[0] for row in concerns]))
        .order_by(col(ConcernEvent.at), col(ConcernEvent.id))
    ).all()
    latest: dict[int, str] = {}
    citizen_words: dict[int, list[str]] = {}
    for concern_id, kind, actor, visible, text in events:
        if not text:
            continue
        if kind == "response" and visible:
            latest[concern_id] = text  # ordered by time: the last one wins
        elif actor == "citizen":
            citizen_words.setdefault(concern_id, []).append(text)
    lines: dict[str, list[ResponseLine]] = {}
    for concern_id, category, language, text in concerns:
        if concern_id not in latest:
            continue
        cleaned = publishable_response(
            latest[concern_id], citizen_texts=[text, *citizen_words.get(concern_id, [])]
        )
        key = category if category in CATEGORY_NAMES else "other"
        found = lines.setdefault(key, [])
        if cleaned and all(line.text != cleaned for line in found):
            found.append(ResponseLine(text=cleaned, language=language))
    return {key: tuple(lines[key]) for key in CATEGORY_NAMES if lines.get(key)}


def publishable_response(text: str, *, citizen_texts: Sequence[str]) -> str:
    """A team's response as it may appear in the public report (best effort, see the module).

    Args:
        text: the response the citizen received.
        citizen_texts: what the citizen wrote about the concern, never to be quoted.

    Returns:
        The response without salutation, sign-off, references, e-mail addresses, phone
        numbers or runs of words quoted from the citizen, spaces folded, cut to about 400
        characters; "" when nothing meaningful is left.
    """
    cleaned = _SALUTATION.sub("", text.strip())
    cleaned = _SIGN_OFF.sub("", cleaned)
    cleaned = redact_personal_data(_REFERENCE.sub("…", cleaned))
    cleaned = _without_quotes(cleaned, citizen_texts)
    cleaned = " ".join(cleaned.split())
    if not any(character.isalnum() for character in cleaned):
        return ""
    # Without its greeting a response may start mid-sentence ("merci de..."): a capital reads
    # as the start it now is.
    return _shortened(capitalised(cleaned), RESPONSE_LIMIT)


def _without_quotes(text: str, citizen_texts: Sequence[str]) -> str:
    """`text` with every run of `_QUOTE_WORDS` words also found in the citizen's texts
    replaced by "…" (words compared without case or accents)."""
    quoted: set[tuple[str, ...]] = set()
    for source in citizen_texts:
        words = [fold(word) for word in _WORD.findall(source or "")]
        quoted.update(
            tuple(words[i : i + _QUOTE_WORDS]) for i in range(len(words) - _QUOTE_WORDS + 1)
        )
    matches = list(_WORD.finditer(text))
    words = [fold(match.group()) for match in matches]
    hidden = [False] * len(matches)
    for i in range(len(words) - _QUOTE_WORDS + 1):
        if tuple(words[i : i + _QUOTE_WORDS]) in quoted:
            hidden[i : i + _QUOTE_WORDS] = [True] * _QUOTE_WORDS
    if not any(hidden):
        return text
    parts: list[str] = []
    position = i = 0
    while i < len(matches):
        if not hidden[i]:
            i += 1
            continue
        last = i
        while last + 1 < len(matches) and hidden[last + 1]:
            last += 1
        parts += [text[position : matches[i].start()], "…"]
        position = matches[last].end()
        i = last + 1
    parts.append(text[position:])
    return "".join(parts)


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # end on a whole word, unless that loses half the text
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


# --- what the report says, for both renderings ---------------------------------------------


@dataclass(frozen=True)
class _Chart:
    id: str
    title: str
    axis: str
    labels: tuple[str, ...]
    values: tuple[float | None, ...]  # None: nothing to draw (a suppressed count, no data)
    texts: tuple[str, ...]  # what is written at the end of each bar
    percent: bool = False

    @property
    def description(self) -> str:
        return "; ".join(
            f"{label}: {text}" for label, text in zip(self.labels, self.texts, strict=True)
        )


def _document(report: RegisterReport, project_name: str) -> Document[_Chart]:
    language = report.language
    LABELS.check_language(language)

    def label(key: str, **values: Any) -> str:
        return LABELS(key, language, **values)

    def name(prefix: str, key: str) -> str:
        if prefix == "outcome" and key in OUTCOME_NAMES:
            return OUTCOME_NAMES[key][language]
        found = LABELS.get(f"{prefix}_{key}")
        return found[language] if found else key

    def count(value: PublishedCount) -> str:
        return value if isinstance(value, str) else number(value, language)

    def table(
        caption: str,
        column: str,
        counts: Mapping[str, PublishedCount],
        names: Callable[[str], str],
    ) -> Table:
        return Table(
            caption=caption,
            columns=(column, label("col_count")),
            rows=tuple((names(key), count(value)) for key, value in counts.items()),
        )

    def chart(
        id_: str, title: str, labels: Sequence[str], counts: Sequence[PublishedCount]
    ) -> _Chart:
        return _Chart(
            id=id_,
            title=title,
            axis=label("axis_count"),
            labels=tuple(labels),
            values=tuple(value if isinstance(value, int) else None for value in counts),
            texts=tuple(count(value) for value in counts),
        )

    def category(key: str) -> str:
        return CATEGORY_NAMES[key][language]

    def kind(key: str) -> str:
        return KIND_NAMES[key][language] if key in KIND_NAMES else key

    def day(value: date) -> str:
        return long_date(value, language)

    def days(value: float | None) -> str:
        if value is None:
            return label("no_data")
        # French counts 0 and 1.5 as singular ("0 jour", "1,5 jour"); English only 1.
        singular = value < 2 if language == "fr" else value == 1
        return label("day" if singular else "days", n=number(value, language))

    def business_days(n: int) -> str:
        return label("business_day" if n == 1 else "business_days", n=n)

    acknowledge, respond, objection_respond = (
        business_days(report.acknowledge_days),
        business_days(report.respond_days),
        business_days(report.objection_respond_days),
    )
    respond_row = (
        label("respond_row", days=respond)
        if report.objection_respond_days == report.respond_days
        else label("respond_row_by_kind", grievance=respond, objection=objection_respond)
    )
    age_names = [name("age", band) for band in report.open_by_age]
    compliance = (report.acknowledgement, report.response)
    sections: tuple[Section[_Chart], ...] = (
        Section(
            id="mechanism",
            heading=label("mechanism"),
            paragraphs=(
                label(
                    "mechanism_text",
                    acknowledge=acknowledge,
                    respond=respond,
                    objection_respond=objection_respond,
                ),
            ),
        ),
        Section(
            id="received",
            heading=label("received"),
            paragraphs=(label("received_total", n=number(report.received_total, language)),),
            charts=(
                chart(
                    "chart-category",
                    label("chart_by_category"),
                    [category(key) for key in report.received_by_category],
                    list(report.received_by_category.values()),
                ),
            ),
            tables=(
                table(
                    label("by_category"),
                    label("col_category"),
                    report.received_by_category,
                    category,
                ),
                table(
                    label("by_kind"),
                    label("col_kind"),
                    report.received_by_kind,
                    kind,
                ),
                table(
                    label("by_status"),
                    label("col_status"),
                    report.received_by_status,
                    lambda key: name("status", key),
                ),
                table(
                    label("by_channel"),
                    label("col_channel"),
                    report.received_by_channel,
                    lambda key: name("channel", key),
                ),
                table(
                    label("by_language"),
                    label("col_language"),
                    report.received_by_language,
                    lambda key: name("language", key),
                ),
            ),
        ),
        Section(
            id="open",
            heading=label("open"),
            paragraphs=(
                label("open_total", today=day(report.today), n=number(report.open_total, language)),
            ),
            charts=(
                chart(
                    "chart-age",
                    label("chart_by_age"),
                    age_names,
                    list(report.open_by_age.values()),
                ),
            ),
            tables=(
                Table(
                    caption=label("by_age"),
                    columns=(label("col_age"), label("col_count")),
                    rows=tuple(
                        (age, count(value))
                        for age, value in zip(age_names, report.open_by_age.values(), strict=True)
                    ),
                ),
            ),
        ),
        Section(
            id="deadlines",
            heading=label("deadlines"),
            paragraphs=(label("deadlines_text"),),
            charts=(
                _Chart(
                    id="chart-compliance",
                    title=label("chart_compliance"),
                    axis=label("axis_percent"),
                    labels=(label("acknowledge_short"), label("respond_short")),
                    values=tuple(item.percent for item in compliance),
                    texts=tuple(percent(item.share, language) for item in compliance),
                    percent=True,
                ),
            ),
            tables=(
                Table(
                    caption=label("deadlines_table"),
                    columns=(
                        label("col_commitment"),
                        label("col_assessed"),
                        label("col_on_time"),
                        label("col_rate"),
                    ),
                    rows=tuple(
                        (
                            row_label,
                            number(item.assessed, language),
                            number(item.on_time, language),
                            percent(item.share, language),
                        )
                        for row_label, item in zip(
                            (
                                label("acknowledge_row", days=acknowledge),
                                respond_row,
                            ),
                            compliance,
                            strict=True,
                        )
                    ),
                ),
            ),
            notes=(
                label(
                    "overdue",
                    today=day(report.today),
                    period=number(report.overdue_in_period, language),
                    total=number(report.overdue_total, language),
                ),
                label(
                    "pending",
                    acknowledge=number(report.acknowledgement.pending, language),
                    respond=number(report.response.pending, language),
                ),
            ),
        ),
        Section(
            id="closed",
            heading=label("closed"),
            paragraphs=(label("closed_total", n=number(report.closed_total, language)),),
            tables=(
                table(
                    label("by_outcome"),
                    label("col_outcome"),
                    report.closed_by_outcome,
                    lambda key: name("outcome", key),
                ),
            ),
            notes=(
                label(
                    "median_respond",
                    days=days(report.median_days_to_respond),
                    n=number(report.first_responses, language),
                ),
                label(
                    "median_close",
                    days=days(report.median_days_to_close),
                    n=number(report.closed_total, language),
                ),
            ),
        ),
        Section(
            id="you-said-we-did",
            heading=label("you_said"),
            paragraphs=(label("you_said_text"),),
            groups=tuple(
                Group(heading=capitalised(category(key)), lines=lines)
                for key, lines in report.you_said_we_did.items()
            ),
            empty=label("you_said_none"),
        ),
        Section(
            id="about",
            heading=label("about"),
            paragraphs=(label("privacy"), label("about_text")),
        ),
    )
    return Document(
        language=language,
        title=label("title", project=project_name),
        subtitle=label(
            "period",
            start=day(report.period_start),
            end=day(report.period_end),
            today=day(report.today),
        ),
        sections=sections,
    )


# --- Markdown -----------------------------------------------------------------------------

# Characters that Markdown (CommonMark, GitHub tables) would read as markup in a cell or a
# line of text; a backslash makes each literal. "<" only starts markup before a letter, "/",
# "!" or "?", so "< 3" stays readable.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]>|#]|<(?=[A-Za-z/!?]))")


def _md(text: str) -> str:
    # Line breaks would end a table row or a list item; no-break spaces stay (French "67 %").
    return _MARKDOWN_SPECIAL.sub(r"\\\1", re.sub(r"[ \t\r\n]+", " ", text).strip())


def _md_table(table: Table) -> list[str]:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md(cell) for cell in cells) + " |"

    alignment = "| --- |" + " ---: |" * (len(table.columns) - 1)
    return [f"**{_md(table.caption)}**", "", row(table.columns), alignment] + [
        row(cells) for cells in table.rows
    ]


def render_markdown(report: RegisterReport, *, project_name: str) -> str:
    """The report as Markdown (CommonMark with tables), in the report's language.

    Args:
        report: the figures, from `build_report`.
        project_name: the project's name in the report's language.

    Returns:
        The Markdown text: a title, the period, then one section per part of the report,
        with tables instead of charts. Every text from the register is escaped (`|`, `*`...).

    Raises:
        ValueError: the report's language is not one the report is written in.
    """
    document = _document(report, project_name)
    lines = [f"# {_md(document.title)}", "", _md(document.subtitle), ""]
    for section in document.sections:
        lines += [f"## {_md(section.heading)}", ""]
        for paragraph in section.paragraphs:
            lines += [_md(paragraph), ""]
        for table in section.tables:
            lines += [*_md_table(table), ""]
        for note in section.notes:
            lines += [_md(note), ""]
        for group in section.groups:
            lines += [f"### {_md(group.heading)}", ""]
            lines += [f"- {_md(line.text)}" for line in group.lines]
            lines.append("")
        if section.empty and not section.groups:
            lines += [_md(section.empty), ""]
    return "\n".join(lines).rstrip() + "\n"


# --- HTML ---------------------------------------------------------------------------------

_ENVIRONMENT: Final = templates(_TEMPLATES)
_BAR_COLOUR = "#2a6496"


def render_html(report: RegisterReport, *, project_name: str) -> str:
    """The report as one self-contained HTML page, in the report's language.

    The page has its CSS inline and its charts as inline SVG (bars by category, open
    concerns by age, deadlines kept), each with a `<title>` and a `<desc>` giving its data
    in words, next to the same figures in tables; nothing is fetched from elsewhere.

    Args:
        report: the figures, from `build_report`.
        project_name: the project's name in the report's language.

    Returns:
        The HTML document (every text escaped by the template).

    Raises:
        ValueError: the report's language is not one the report is written in.
    """
    document = _document(report, project_name)
    charts = {chart.id: _svg(chart) for chart in document.charts}
    template = _ENVIRONMENT.get_template("public_report.html.j2")
    return template.render(document=document, charts=charts)


def _svg(chart: _Chart) -> Markup:
    """A horizontal bar chart as inline SVG, made accessible and with ids of its own."""
    drawn = [value or 0.0 for value in chart.values]
    top = 100.0 if chart.percent else max([*drawn, 1.0])
    with chart_style():
        figure = Figure(figsize=(6.4, 0.9 + 0.34 * len(chart.labels)), layout="constrained")
        axes = figure.add_subplot()
        positions = list(range(len(chart.labels)))
        axes.barh(positions, drawn, height=0.6, color=_BAR_COLOUR)
        axes.set_yticks(positions, list(chart.labels))
        axes.invert_yaxis()
        axes.set_xlim(0, top * 1.15)
        axes.set_xlabel(chart.axis)
        if not chart.percent:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        for position, value, text in zip(positions, drawn, chart.texts, strict=True):
            axes.text(value + top * 0.015, position, text, va="center", fontsize=9)
    return svg_markup(figure, chart_id=chart.id, title=chart.title, description=chart.description)
