"""The perception dashboard on the web desk, and the weekly report.

* ``/desk/perception``: for a period (the last 7, 30 or 90 days, or chosen dates), a channel,
  a language and a source (chats with the assistant, community groups, or both): headline
  figures against the period before, the sentiment trend with the volume, sentiment by
  source, channel and language, concerns by category over time, the most asked FAQ topics,
  the weak signals with the messages behind them, and a link to the knowledge gaps. Every
  chart has the table of its figures beside it.
* ``/desk/perception/report?week=2026-W47&language=fr``: the weekly report inside the desk,
  with ``report.html`` (the file to send) and ``report.pdf`` next to it.

Everything sits behind the desk's login and security headers (`bot.staff_web.shell.DeskPages`): the
pages use no script and no inline style, charts are inline SVG. Citizens' words (the messages
behind a signal) are shown as text by the autoescaping templates. Figures are read and drawn
in a worker thread, so that the event loop keeps answering citizens meanwhile; nothing is
cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import Engine

from bot.common.phrases import CATEGORY_NAMES, KIND_NAMES, long_date
from bot.perception import charts
from bot.perception.queries import (
    CHANNELS,
    Figures,
    PerceptionError,
    Period,
    Scope,
    Source,
    Tally,
    figures_in,
    local_today,
    snapshot,
)
from bot.perception.report import (
    REPORT_CSS,
    GapsReader,
    ReportError,
    build_weekly_report,
    last_complete_week,
    render_body,
    render_html,
    render_pdf,
)
from bot.perception.signals import (
    BASELINE_WEEKS,
    MIN_HISTORY_WEEKS,
    RECENT_DAYS,
    Signal,
    Signals,
    signals_in,
)
from bot.perception.words import (
    CHANNEL_NAMES,
    LANGUAGE_NAMES,
    SENTIMENT_NAMES,
    SOURCE_NAMES,
    name_of,
    topic_name,
)
from bot.reports.formatting import number, percent, signed
from bot.staff_web.shell import DeskPages, DeskSection, Staff

PERCEPTION_URL: Final = "/desk/perception"
GAPS_URL: Final = "/desk/gaps"
PERIODS: Final = {"7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days", "custom": "Dates"}
REPORT_WEEKS: Final = 12
"""How many past weeks the report form offers."""
WEEK_PATTERN: Final = r"^\d{4}-W\d{2}$"
EN: Final = "en"  # the desk speaks English; the report is written in either language

PeriodChoice = Literal["7", "30", "90", "custom"]
ChannelChoice = Literal["", "web", "telegram", "discord"]
LanguageChoice = Literal["", "fr", "en"]


@dataclass(frozen=True)
class Headline:
    """One headline figure of the period, beside the period before."""

    label: str
    value: str
    previous: str
    change: str
    tone: str = ""  # "up" or "down" when the change is worth a colour
    link: str | None = None
    detail: str = ""  # what the figure is made of, e.g. "3 grievances · 1 objection"


@dataclass(frozen=True)
class ShownExample:
    """A message behind a signal, as the page shows it."""

    text: str
    where: str
    when: str
    sentiment: str


@dataclass(frozen=True)
class ShownSignal:
    """A weak signal, as the page shows it."""

    topic: str
    why: str
    recent: str
    examples: tuple[ShownExample, ...]
    more: int  # messages of the window not shown


def perception_section(
    *,
    engine: Engine,
    project_name: Mapping[str, str],
    gaps: GapsReader | None = None,
    consultations: Callable[[datetime, datetime], Sequence[Mapping[str, Any]]] | None = None,
) -> DeskSection:
    """The perception section of the desk.

    Args:
        engine: the database.
        project_name: the project's name in each language (the report's title).
        gaps: reads a week's knowledge gaps for the report, when that part of the desk exists.
        consultations: the consultations open or closed in a period (reference, question,
            status, participants, the leading option and its share), shown beside the
            perception: what the community chose when it was asked.
    """

    def add(router: APIRouter, pages: DeskPages) -> None:
        zone = pages.zone

        @router.get(PERCEPTION_URL)
        async def dashboard(
            me: Staff,
            period: Annotated[PeriodChoice, Query()] = "30",
            start: Annotated[str, Query(max_length=10)] = "",
            end: Annotated[str, Query(max_length=10)] = "",
            channel: Annotated[ChannelChoice, Query()] = "",
            language: Annotated[LanguageChoice, Query()] = "",
            source: Annotated[Source, Query()] = "all",
        ) -> Response:
            today = local_today(zone)
            chosen, problem = _period(period, start, end, today)
            scope = Scope(channel=channel or None, language=language or None, source=source)
            view = await asyncio.to_thread(_dashboard, engine, chosen, scope, zone, today)
            asked: Sequence[Mapping[str, Any]] = ()
            if consultations is not None:
                start_at = datetime.combine(chosen.start, time.min, tzinfo=zone)
                end_at = datetime.combine(chosen.end + timedelta(days=1), time.min, tzinfo=zone)
                asked = await asyncio.to_thread(consultations, start_at, end_at)
            flash = pages.take_flashes(me)
            if problem:
                flash.append(("error", problem))
            return pages.page(
                "perception.html",
                me=me,
                flash=flash,
                filters={
                    "period": period if not problem else "30",
                    "start": chosen.start.isoformat(),
                    "end": chosen.end.isoformat(),
                    "channel": channel,
                    "language": language,
                    "source": source,
                },
                periods=PERIODS,
                channels={"": "All channels", **{k: CHANNEL_NAMES[k][EN] for k in CHANNELS}},
                languages={"": "All languages", "fr": "French", "en": "English"},
                sources={
                    "all": "Chats and community groups",
                    "chats": "Chats with the assistant",
                    "groups": "Community groups",
                },
                weeks=_weeks(today),
                report_week=last_complete_week(today).week_name,
                gaps_url=GAPS_URL,
                consultations=asked,
                **view,
            )

        @router.get(f"{PERCEPTION_URL}/report")
        async def report_page(
            me: Staff,
            week: Annotated[str, Query(pattern=WEEK_PATTERN)] = "",
            language: Annotated[Literal["fr", "en"], Query()] = "en",
        ) -> Response:
            today = local_today(zone)
            try:
                chosen = Period.iso_week(week) if week else last_complete_week(today)
                body = await asyncio.to_thread(
                    lambda: render_body(
                        build_weekly_report(
                            engine,
                            week=chosen,
                            language=language,
                            zone=zone,
                            today=today,
                            gaps=gaps,
                        ),
                        project_name=project_name[language],
                    )
                )
            except (PerceptionError, ReportError) as exc:
                return pages.problem("Report not available", str(exc), status_code=400)
            return pages.page(
                "perception_report.html",
                me=me,
                flash=pages.take_flashes(me),
                body=body,
                week=chosen.week_name,
                language=language,
                weeks=_weeks(today),
            )

        @router.get(f"{PERCEPTION_URL}/report.html")
        async def report_file(
            _: Staff,
            week: Annotated[str, Query(pattern=WEEK_PATTERN)] = "",
            language: Annotated[Literal["fr", "en"], Query()] = "en",
        ) -> Response:
            return await _report_download(week, language, "html")

        @router.get(f"{PERCEPTION_URL}/report.pdf")
        async def report_pdf(
            _: Staff,
            week: Annotated[str, Query(pattern=WEEK_PATTERN)] = "",
            language: Annotated[Literal["fr", "en"], Query()] = "en",
        ) -> Response:
            return await _report_download(week, language, "pdf")

        @router.get(f"{PERCEPTION_URL}/report.css")
        async def report_css() -> Response:
            # The report's own stylesheet, which the file sent inlines: served, not inlined,
            # inside the desk, whose pages forbid inline styles.
            return Response(REPORT_CSS.read_text(encoding="utf-8"), media_type="text/css")

        async def _report_download(
            week: str, language: str, kind: Literal["html", "pdf"]
        ) -> Response:
            today = local_today(zone)
            try:
                chosen = Period.iso_week(week) if week else last_complete_week(today)

                def made() -> bytes:
                    report = build_weekly_report(
                        engine, week=chosen, language=language, zone=zone, today=today, gaps=gaps
                    )
                    name = project_name[language]
                    if kind == "pdf":
                        return render_pdf(report, project_name=name)
                    return render_html(report, project_name=name).encode("utf-8")

                content = await asyncio.to_thread(made)
            except (PerceptionError, ReportError) as exc:
                return pages.problem("Report not available", str(exc), status_code=400)
            filename = f"perception-{chosen.week_name}-{language}.{kind}"
            # The HTML file is for sending, not for viewing inside the desk (it has inline
            # styles the desk's policy refuses): the browser saves it.
            disposition = "attachment" if kind == "html" else "inline"
            return Response(
                content,
                media_type="application/pdf" if kind == "pdf" else "text/html; charset=utf-8",
                headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
            )

    return add


def _period(choice: str, start: str, end: str, today: date) -> tuple[Period, str | None]:
    """The period asked for, and a sentence when the dates could not be used (the last 30
    days are shown instead)."""
    if choice != "custom":
        return Period.last(int(choice), today), None
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        return Period.last(30, today), "Choose a start and an end date: showing the last 30 days."
    if first > today:
        return Period.last(30, today), "The start date is in the future: showing the last 30 days."
    try:
        return Period(first, min(last, today)), None
    except PerceptionError as exc:
        return Period.last(30, today), f"{exc} Showing the last 30 days."


def _weeks(today: date) -> list[str]:
    """The weeks the report form offers: the current one and the ones before."""
    monday = today - timedelta(days=today.weekday())
    return [
        Period(
            monday - timedelta(weeks=n), monday - timedelta(weeks=n) + timedelta(days=6)
        ).week_name
        for n in range(REPORT_WEEKS)
    ]


# --- what the dashboard shows ----------------------------------------------------------------


def _dashboard(
    engine: Engine, period: Period, scope: Scope, zone: tzinfo, today: date
) -> dict[str, Any]:
    """Reads and draws everything the page shows (in a worker thread)."""
    with snapshot(engine) as connection:  # figures that add up, even while citizens write
        figures = figures_in(connection, period=period, scope=scope, zone=zone)
        signals = signals_in(connection, as_of=min(period.end, today), scope=scope, zone=zone)
    return {
        "period_text": f"{long_date(period.start, EN)} to {long_date(period.end, EN)}",
        "previous_text": (
            f"{long_date(period.previous().start, EN)} to {long_date(period.previous().end, EN)}"
        ),
        "headlines": _headlines(figures, signals),
        "charts": _charts(figures, signals),
        "trend_rows": _trend_rows(figures),
        "breakdown_rows": _breakdown_rows(figures),
        "concern_rows": [
            (name_of(CATEGORY_NAMES, key, EN).capitalize(), number(count, EN))
            for key, count in figures.concerns.per_category.items()
        ],
        "question_rows": [
            (
                topic_name(q.topic, EN).capitalize(),
                number(q.count, EN),
                number(q.previous, EN),
                _change(q.count, q.previous),
            )
            for q in figures.questions.topics
        ],
        "chats": scope.chats,
        "signals": signals,
        "signal_window": (
            f"{long_date(signals.window.start, EN)} to {long_date(signals.window.end, EN)}"
        ),
        "baseline_text": (
            f"the {BASELINE_WEEKS} weeks before ({long_date(signals.baseline.start, EN)} to "
            f"{long_date(signals.baseline.end, EN)})"
        ),
        "shown_signals": [_shown_signal(signal, zone) for signal in signals.signals],
        "levels": [
            (
                topic_name(level.topic, EN).capitalize(),
                number(level.recent, EN),
                number(round(level.usual, 1), EN),
                percent(level.negative_share, EN),
            )
            for level in signals.levels
        ],
        "recent_days": RECENT_DAYS,
        "history_needed": MIN_HISTORY_WEEKS,
    }


def _change(now: float, before: float) -> str:
    if before == 0:
        return "new" if now else "—"
    change = round(100 * (now - before) / before)
    return "=" if change == 0 else f"{change:+d}%"


def _headlines(figures: Figures, signals: Signals) -> list[Headline]:
    total, previous = figures.sentiment.total, figures.sentiment.previous
    concerns, questions = figures.concerns, figures.questions

    def share_change(now: float | None, before: float | None) -> tuple[str, str]:
        if now is None or before is None:
            return "—", ""
        points = round(100 * (now - before))
        if points == 0:
            return "=", ""
        return f"{points:+d} points", "up" if points > 0 else "down"

    def score(value: float | None) -> str:
        return signed(value, EN) if value is not None else "—"

    negative_change, negative_tone = share_change(total.negative_share, previous.negative_share)
    score_change = (
        signed(total.mean_score - previous.mean_score, EN)
        if total.mean_score is not None and previous.mean_score is not None
        else "—"
    )
    found = [
        Headline(
            "Messages from citizens",
            number(total.total, EN),
            number(previous.total, EN),
            _change(total.total, previous.total),
        ),
        Headline(
            "Negative",
            percent(total.negative_share, EN),
            percent(previous.negative_share, EN),
            negative_change,
            negative_tone,
        ),
        Headline(
            "Mean score (−1 to +1)",
            score(total.mean_score),
            score(previous.mean_score),
            score_change,
        ),
    ]
    if figures.scope.chats:
        found += [
            Headline(
                "Concerns received",
                number(concerns.total, EN),
                number(concerns.previous, EN),
                _change(concerns.total, concerns.previous),
                detail=_kinds(concerns.per_kind),
            ),
            Headline(
                "FAQ questions",
                number(questions.total, EN),
                number(questions.previous, EN),
                _change(questions.total, questions.previous),
            ),
            Headline(
                "Unanswered questions",
                number(questions.unanswered, EN),
                number(questions.unanswered_previous, EN),
                _change(questions.unanswered, questions.unanswered_previous),
                link=GAPS_URL,
            ),
        ]
    found.append(
        Headline(
            f"Weak signals (last {RECENT_DAYS} days)",
            number(len(signals.signals), EN),
            "",
            "",
            "up" if signals.signals else "",
        )
    )
    return found


def _kinds(per_kind: Mapping[str, int]) -> str:
    """The concerns by kind, in words: "3 grievances · 1 objection"."""
    return " · ".join(
        f"{number(count, EN)} {name_of(KIND_NAMES, kind, EN)}{'' if count == 1 else 's'}"
        for kind, count in per_kind.items()
    )


def _charts(figures: Figures, signals: Signals) -> dict[str, Markup]:
    sentiment, concerns, questions = figures.sentiment, figures.concerns, figures.questions
    drawn: dict[str, Markup] = {}
    if sentiment.total.total:
        drawn["trend"] = charts.sentiment_trend(
            sentiment.buckets, sentiment.step, sentiment.trend, EN
        ).svg()
        drawn["breakdown"] = charts.sentiment_breakdown(
            sentiment.by_source, sentiment.by_channel, sentiment.by_language, EN
        ).svg()
    if concerns.by_category:
        drawn["concerns"] = charts.concerns_over_time(
            concerns.buckets,
            sentiment.step,
            concerns.by_category,
            {key: names[EN] for key, names in CATEGORY_NAMES.items()},
            EN,
        ).svg()
    asked = [(q.topic, q.count, q.previous) for q in questions.topics if q.count][:10]
    if asked:
        drawn["faq"] = charts.faq_topics(asked, EN).svg()
    if signals.signals:
        drawn["signals"] = charts.weak_signals(signals.signals, EN).svg()
    return drawn


def _trend_rows(figures: Figures) -> list[tuple[str, ...]]:
    sentiment = figures.sentiment
    return [
        (
            charts.bucket_label(bucket, sentiment.step, EN),
            number(tally.total, EN),
            number(tally.negative, EN),
            number(tally.neutral, EN),
            number(tally.positive, EN),
            number(tally.unread, EN),
            signed(tally.mean_score, EN) if tally.mean_score is not None else "—",
        )
        for bucket, tally in zip(sentiment.buckets, sentiment.trend, strict=True)
    ]


def _breakdown_rows(figures: Figures) -> list[tuple[str, ...]]:
    sentiment = figures.sentiment
    rows: list[tuple[str, ...]] = []
    for group, names, tallies in (
        ("Source", SOURCE_NAMES, sentiment.by_source),
        ("Channel", CHANNEL_NAMES, sentiment.by_channel),
        ("Language", LANGUAGE_NAMES, sentiment.by_language),
    ):
        for key, tally in tallies.items():
            rows.append(_breakdown_row(f"{group}: {name_of(names, key, EN)}", tally))
    return rows


def _breakdown_row(label: str, tally: Tally) -> tuple[str, ...]:
    def share(count: int) -> str:
        return percent(count / tally.read if tally.read else None, EN)

    return (
        label,
        number(tally.total, EN),
        share(tally.negative),
        share(tally.neutral),
        share(tally.positive),
        signed(tally.mean_score, EN) if tally.mean_score is not None else "—",
    )


def _shown_signal(signal: Signal, zone: tzinfo) -> ShownSignal:
    level, verdict = signal.level, signal.assessment
    reasons = []
    if verdict.rising:
        reasons.append(f"{level.recent} messages against {level.usual:.1f} a week usually")
    if verdict.more_negative:
        reasons.append(
            f"{percent(level.negative_share, EN)} negative against "
            f"{percent(level.usual_negative_share, EN)} usually"
        )
    return ShownSignal(
        topic=topic_name(level.topic, EN).capitalize(),
        why="; ".join(reasons),
        recent=number(level.recent, EN),
        examples=tuple(
            ShownExample(
                text=example.text,
                where=(
                    f"{name_of(CHANNEL_NAMES, example.channel, EN)}, "
                    f"{'group' if example.source == 'groups' else 'chat'}"
                    + (f", {example.language.upper()}" if example.language else "")
                ),
                when=example.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                sentiment=name_of(SENTIMENT_NAMES, example.sentiment or "unread", EN),
            )
            for example in signal.examples
        ),
        more=max(0, level.recent - len(signal.examples)),
    )
