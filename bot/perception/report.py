"""The weekly perception report: what citizens said about the project during one week, for
the promoter's team, in French or in English, as one self-contained HTML page (inline CSS and
SVG charts) or as a PDF with the same charts (PNG renders of the same figures).

A community manager sends it as it is, and it may be forwarded beyond the team, so it holds
figures only: **no citizen's words, name, reference or platform id**. Weak signals are given
by topic with their counts, usual level and share of negative messages; the messages behind
them stay on the desk (`/desk/perception`), for the team's eyes. Counts are exact (no "< 3"
as in the register's public report): they describe messages, not people, and a rising topic
with four messages is what the team must see.

What the week is compared with: headline figures with the week before; the sentiment trend
and concerns over the week and the 8 before; weak signals with the 8 weeks before (see
`bot.perception.signals`). Weeks are ISO weeks (Monday to Sunday) of the project's calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Final

from markupsafe import Markup
from sqlalchemy import Engine

from bot.common.phrases import CATEGORY_NAMES, long_date
from bot.common.text import capitalised
from bot.listening.gaps import knowledge_gaps
from bot.listening.reading import Reader
from bot.perception import charts
from bot.perception.queries import (
    ConcernFigures,
    Period,
    QuestionFigures,
    Scope,
    SentimentFigures,
    Step,
    Tally,
    local_today,
    midnight,
    read_concerns,
    read_questions,
    read_sentiment,
    snapshot,
)
from bot.perception.signals import (
    BASELINE_WEEKS,
    MIN_HISTORY_WEEKS,
    Signals,
    signals_in,
)
from bot.perception.words import (
    CHANNEL_NAMES,
    LANGUAGE_NAMES,
    LANGUAGES,
    SOURCE_NAMES,
    name_of,
    topic_name,
)
from bot.reports.document import Document, Labels, Section, Table, templates
from bot.reports.formatting import number, percent, signed
from bot.reports.pdf import document_pdf

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
REPORT_CSS: Final = TEMPLATES / "report.css"
TOP_QUESTIONS: Final = 10


class ReportError(ValueError):
    """A report that cannot be made (a week not started yet, a language not served)."""


@dataclass(frozen=True)
class KnowledgeGap:
    """A group of similar questions the knowledge base does not answer yet, as the report
    shows it: counts, and the FAQ entry drafted from it if any, never the citizens' words.

    Attributes:
        questions: distinct questions in the group.
        citizens: distinct citizens who asked them.
        languages: the languages they were asked in.
        draft: the topic of the FAQ entry drafted from the group, if one was.
    """

    questions: int
    citizens: int
    languages: tuple[str, ...]
    draft: str | None = None


GapsReader = Callable[[Engine, datetime, datetime], Sequence[KnowledgeGap]]
"""Reads the knowledge gaps of the questions asked from a moment to another (UTC)."""

MAX_GAPS: Final = 10
"""The largest gaps the report lists."""


def weekly_gaps(reader: Reader) -> GapsReader:
    """The knowledge gaps (`bot.listening.gaps`) as the report shows them: the largest
    first, those the assistant judged unrelated to the project left out.

    Args:
        reader: embeds the questions to group them (the assistant's reader).
    """

    def read(engine: Engine, since: datetime, until: datetime) -> list[KnowledgeGap]:
        found = knowledge_gaps(engine, reader, since=since, until=until, limit=None)
        return [
            KnowledgeGap(
                questions=gap.size,
                citizens=gap.citizens,
                languages=gap.languages,
                draft=next((d.topic for d in gap.drafts if d.status != "dropped"), None),
            )
            for gap in found
            if not gap.out_of_scope
        ][:MAX_GAPS]

    return read


@dataclass(frozen=True)
class WeeklyReport:
    """The figures of one week.

    Attributes:
        language: the language of the report ("fr" or "en").
        week: the ISO week.
        today: the day the figures are as of.
        week_sentiment: the week's messages (headline, by channel, language, source), with
            the week before.
        trend: the week and the 8 before, week by week.
        concerns: concerns received over the same 9 weeks, week by week.
        questions: the week's FAQ topics and unanswered questions, with the week before.
        signals: the weak signals of the week (messages are never rendered).
        gaps: the knowledge gaps of the week, when they can be read.
    """

    language: str
    week: Period
    today: date
    week_sentiment: SentimentFigures
    trend: SentimentFigures
    concerns: ConcernFigures
    questions: QuestionFigures
    signals: Signals
    gaps: tuple[KnowledgeGap, ...] | None = None

    @property
    def finished(self) -> bool:
        """Whether the week was over on `today`."""
        return self.today > self.week.end


def last_complete_week(today: date) -> Period:
    """The ISO week before the one `today` is in."""
    monday = today - timedelta(days=today.weekday())
    return Period(monday - timedelta(days=7), monday - timedelta(days=1))


def build_weekly_report(
    engine: Engine,
    *,
    week: Period,
    language: str,
    zone: tzinfo,
    today: date | None = None,
    gaps: GapsReader | None = None,
) -> WeeklyReport:
    """Reads the figures of one week, in one snapshot of the database.

    Args:
        engine: the database.
        week: the ISO week (`Period.iso_week`).
        language: "fr" or "en".
        zone: the project's time zone.
        today: the day the figures are as of (by default today, in the project's calendar).
        gaps: reads the week's knowledge gaps, when that part of the desk exists.

    Raises:
        ReportError: the language is not served, or the week has not started.
    """
    if language not in LANGUAGES:
        raise ReportError(f"The report is written in {' or '.join(LANGUAGES)}, not {language!r}.")
    today = today or local_today(zone)
    if week.start > today:
        raise ReportError(f"The week {week.week_name} has not started yet.")
    span = Period(week.start - timedelta(weeks=BASELINE_WEEKS), week.end)
    everything = Scope()
    with snapshot(engine) as connection:
        week_sentiment = read_sentiment(
            connection, period=week, scope=everything, zone=zone, step=Step.DAY
        )
        trend = read_sentiment(connection, period=span, scope=everything, zone=zone, step=Step.WEEK)
        concerns = read_concerns(
            connection, period=span, scope=everything, zone=zone, step=Step.WEEK
        )
        questions = read_questions(connection, period=week, scope=everything, zone=zone)
        signals = signals_in(connection, as_of=week.end, scope=everything, zone=zone, examples=0)
    return WeeklyReport(
        language=language,
        week=week,
        today=today,
        week_sentiment=week_sentiment,
        trend=trend,
        concerns=concerns,
        questions=questions,
        signals=signals,
        gaps=(
            tuple(
                gaps(
                    engine, midnight(week.start, zone), midnight(week.end + timedelta(days=1), zone)
                )
            )
            if gaps is not None
            else None
        ),
    )


# --- what the report says, for both renderings ----------------------------------------------

LABELS: Final = Labels(
    {
        "title": {
            "fr": "{project} : rapport hebdomadaire de perception",
            "en": "{project}: weekly perception report",
        },
        "week": {
            "fr": "Semaine {number} de {year}, du {start} au {end}.",
            "en": "Week {number} of {year}, {start} to {end}.",
        },
        "as_of": {"fr": "Chiffres au {today}.", "en": "Figures as of {today}."},
        "not_over": {
            "fr": "La semaine n'est pas terminée : chiffres au {today}.",
            "en": "The week is not over: figures as of {today}.",
        },
        "glance": {"fr": "En bref", "en": "At a glance"},
        "glance_caption": {
            "fr": "La semaine comparée à la précédente",
            "en": "The week compared with the one before",
        },
        "col_figure": {"fr": "Indicateur", "en": "Figure"},
        "col_week": {"fr": "Cette semaine", "en": "This week"},
        "col_previous": {"fr": "Semaine précédente", "en": "Previous week"},
        "col_change": {"fr": "Évolution", "en": "Change"},
        "messages": {"fr": "Messages de citoyens", "en": "Messages from citizens"},
        "in_groups": {
            "fr": "dont entendus dans les groupes de la communauté",
            "en": "of which heard in community groups",
        },
        "negative_share": {"fr": "Part de messages négatifs", "en": "Share of negative messages"},
        "mean_score": {"fr": "Score moyen (de −1 à +1)", "en": "Mean score (−1 to +1)"},
        "concerns": {"fr": "Préoccupations reçues", "en": "Concerns received"},
        "concerns_grievance": {"fr": "dont plaintes", "en": "of which grievances"},
        "concerns_objection": {"fr": "dont objections", "en": "of which objections"},
        "faq": {"fr": "Questions répondues par la FAQ", "en": "Questions answered from the FAQ"},
        "unanswered": {"fr": "Questions restées sans réponse", "en": "Questions left unanswered"},
        "signals_count": {"fr": "Signaux faibles", "en": "Weak signals"},
        "points": {"fr": "points", "en": "points"},
        "no_messages": {
            "fr": "Aucun message de citoyen cette semaine.",
            "en": "No message from citizens this week.",
        },
        "trend": {"fr": "La perception sur neuf semaines", "en": "Perception over nine weeks"},
        "trend_text": {
            "fr": (
                "Chaque message d'un citoyen est lu automatiquement à son arrivée : négatif, "
                "neutre ou positif, avec un score de −1 (très négatif) à +1 (très positif). La "
                "hauteur d'une barre est le nombre de messages de la semaine."
            ),
            "en": (
                "Every citizen's message is read automatically when it arrives: negative, neutral "
                "or positive, with a score from −1 (most negative) to +1 (most positive). The "
                "height of a bar is the number of messages of the week."
            ),
        },
        "trend_table": {"fr": "Messages par semaine", "en": "Messages per week"},
        "col_week_of": {"fr": "Semaine du", "en": "Week of"},
        "col_messages": {"fr": "Messages", "en": "Messages"},
        "col_negative": {"fr": "Négatifs", "en": "Negative"},
        "col_neutral": {"fr": "Neutres", "en": "Neutral"},
        "col_positive": {"fr": "Positifs", "en": "Positive"},
        "col_score": {"fr": "Score moyen", "en": "Mean score"},
        "where": {"fr": "Par source, canal et langue", "en": "By source, channel and language"},
        "where_table": {
            "fr": "Messages de la semaine par source, canal et langue",
            "en": "The week's messages by source, channel and language",
        },
        "col_group": {"fr": "Groupe", "en": "Group"},
        "col_negative_share": {"fr": "Négatifs", "en": "Negative"},
        "source": {"fr": "Source", "en": "Source"},
        "concerns_section": {"fr": "Préoccupations par catégorie", "en": "Concerns by category"},
        "concerns_table": {
            "fr": "Préoccupations reçues par catégorie",
            "en": "Concerns received by category",
        },
        "col_nine_weeks": {"fr": "Neuf semaines", "en": "Nine weeks"},
        "no_concerns": {
            "fr": "Aucune préoccupation reçue en neuf semaines.",
            "en": "No concern received in nine weeks.",
        },
        "questions": {"fr": "Questions les plus posées", "en": "Most asked questions"},
        "questions_table": {
            "fr": "Questions répondues par la FAQ, par sujet",
            "en": "Questions answered from the FAQ, by topic",
        },
        "col_topic": {"fr": "Sujet", "en": "Topic"},
        "no_questions": {
            "fr": "Aucune question de la FAQ cette semaine.",
            "en": "No FAQ question this week.",
        },
        "signals": {"fr": "Signaux faibles", "en": "Weak signals"},
        "signals_text": {
            "fr": (
                "Un sujet est un signal faible quand on en parle nettement plus que d'habitude "
                "(au moins 5 messages, une fois et demie son niveau habituel des 8 semaines "
                "précédentes, et un nombre que le hasard n'atteindrait qu'une semaine sur mille), "
                "ou quand ses messages sont nettement plus négatifs que d'habitude. Les messages "
                "eux-mêmes ne figurent pas dans ce rapport : l'équipe les consulte sur le poste "
                "de travail."
            ),
            "en": (
                "A topic is a weak signal when it is spoken of clearly more than usual (at least "
                "5 messages, one and a half times its usual level over the previous 8 weeks, and "
                "a count chance would reach only one week in a thousand), or when its messages "
                "are clearly more negative than usual. The messages themselves are not in this "
                "report: the team reads them on the desk."
            ),
        },
        "signals_table": {"fr": "Signaux faibles de la semaine", "en": "Weak signals of the week"},
        "col_recent": {"fr": "Messages", "en": "Messages"},
        "col_usual": {"fr": "Habituel", "en": "Usual"},
        "col_negative_now": {"fr": "Négatifs", "en": "Negative"},
        "col_negative_usual": {"fr": "Négatifs d'habitude", "en": "Usually negative"},
        "col_why": {"fr": "Pourquoi", "en": "Why"},
        "rising": {"fr": "en hausse", "en": "rising"},
        "more_negative": {"fr": "plus négatif", "en": "more negative"},
        "no_signals": {
            "fr": "Aucun sujet n'a nettement dépassé son niveau habituel cette semaine.",
            "en": "No topic rose clearly above its usual level this week.",
        },
        "not_assessed": {
            "fr": (
                "Pas encore assez d'historique pour repérer des signaux faibles : {n} semaine(s) "
                "de messages avant celle-ci, {needed} sont nécessaires."
            ),
            "en": (
                "Not enough history yet to find weak signals: {n} week(s) of messages before "
                "this one, {needed} are needed."
            ),
        },
        "gaps": {"fr": "Lacunes de la base de connaissances", "en": "Knowledge gaps"},
        "gaps_text": {
            "fr": (
                "Questions semblables auxquelles l'assistant n'a pas su répondre cette semaine, "
                "regroupées : autant de nouvelles entrées possibles pour la FAQ. Les questions "
                "elles-mêmes ne figurent pas dans ce rapport : l'équipe les consulte sur le poste "
                "de travail."
            ),
            "en": (
                "Similar questions the assistant could not answer this week, grouped: each group "
                "is a possible new FAQ entry. The questions themselves are not in this report: "
                "the team reads them on the desk."
            ),
        },
        "gaps_table": {
            "fr": "Groupes de questions sans réponse",
            "en": "Unanswered question groups",
        },
        "col_gap": {"fr": "Groupe", "en": "Group"},
        "col_citizens": {"fr": "Citoyens", "en": "Citizens"},
        "col_languages": {"fr": "Langues", "en": "Languages"},
        "col_draft": {"fr": "Entrée de FAQ rédigée", "en": "FAQ entry drafted"},
        "no_draft": {"fr": "pas encore", "en": "not yet"},
        "col_questions": {"fr": "Questions", "en": "Questions"},
        "no_gaps": {
            "fr": "Aucune question sans réponse à regrouper cette semaine.",
            "en": "No unanswered question to group this week.",
        },
        "about_text": {
            "fr": (
                "Les messages sont ceux que les citoyens ont écrits à l'assistant (site web, "
                "Telegram, Discord) et ceux entendus dans les groupes de la communauté où "
                "l'assistant écoute ; une modification d'un message compte une fois. La tonalité "
                "est lue par un modèle automatique, qui peut se tromper sur un message mais donne "
                "une tendance fiable. Les semaines vont du lundi au dimanche, à l'heure du projet."
            ),
            "en": (
                "Messages are those citizens wrote to the assistant (web chat, Telegram, Discord) "
                "and those heard in the community groups where the assistant listens; an edited "
                "message counts once. Sentiment is read by an automatic model, which may misread "
                "a message but gives a reliable trend. Weeks run from Monday to Sunday, in the "
                "project's time zone."
            ),
        },
        "privacy": {
            "fr": (
                "Ce rapport ne contient que des chiffres : aucun nom, identifiant ni propos de "
                "citoyen. Il peut être transmis tel quel."
            ),
            "en": (
                "This report contains figures only: no name, identifier or words of a citizen. "
                "It can be forwarded as it is."
            ),
        },
        "page": {"fr": "Page {n} sur {total}", "en": "Page {n} of {total}"},
    }
)


def _document(report: WeeklyReport, project_name: str) -> Document[charts.Chart]:
    language = report.language

    def label(key: str, **values: Any) -> str:
        return LABELS(key, language, **values)

    def count(value: float) -> str:
        return number(value, language)

    def day(value: date) -> str:
        return long_date(value, language)

    week, trend, concerns, questions = (
        report.week_sentiment,
        report.trend,
        report.concerns,
        report.questions,
    )
    this_week, previous_week = week.total, week.previous
    concerns_now = sum(counts[-1] for counts in concerns.by_category.values())
    concerns_before = sum(counts[-2] for counts in concerns.by_category.values())
    groups_now = week.by_source.get("groups", Tally()).total
    signal_count = len(report.signals.signals)

    def change(now: float, before: float) -> str:
        if before == 0:
            return "—" if now == 0 else "+" + count(now)
        return _arrow(100 * (now - before) / before, language, unit="%")

    def share_change(now: float | None, before: float | None) -> str:
        if now is None or before is None:
            return "—"
        return _arrow(100 * (now - before), language, unit=label("points"))

    def score(value: float | None) -> str:
        return signed(value, language) if value is not None else "—"

    def score_change(now: float | None, before: float | None) -> str:
        if now is None or before is None:
            return "—"
        return signed(now - before, language)

    glance_rows = (
        (
            label("messages"),
            count(this_week.total),
            count(previous_week.total),
            change(this_week.total, previous_week.total),
        ),
        (label("in_groups"), count(groups_now), "—", "—"),
        (
            label("negative_share"),
            percent(this_week.negative_share, language),
            percent(previous_week.negative_share, language),
            share_change(this_week.negative_share, previous_week.negative_share),
        ),
        (
            label("mean_score"),
            score(this_week.mean_score),
            score(previous_week.mean_score),
            score_change(this_week.mean_score, previous_week.mean_score),
        ),
        (
            label("concerns"),
            count(concerns_now),
            count(concerns_before),
            change(concerns_now, concerns_before),
        ),
        *(
            (
                label(f"concerns_{kind}"),
                count(counts[-1]),
                count(counts[-2]),
                change(counts[-1], counts[-2]),
            )
            for kind, counts in concerns.by_kind.items()
            if f"concerns_{kind}" in LABELS
        ),
        (
            label("faq"),
            count(questions.total),
            count(questions.previous),
            change(questions.total, questions.previous),
        ),
        (
            label("unanswered"),
            count(questions.unanswered),
            count(questions.unanswered_previous),
            change(questions.unanswered, questions.unanswered_previous),
        ),
        (label("signals_count"), count(signal_count), "—", "—"),
    )
    sections: list[Section[charts.Chart]] = [
        Section(
            id="glance",
            heading=label("glance"),
            tables=(
                Table(
                    caption=label("glance_caption"),
                    columns=(
                        label("col_figure"),
                        label("col_week"),
                        label("col_previous"),
                        label("col_change"),
                    ),
                    rows=glance_rows,
                ),
            ),
        ),
        Section(
            id="trend",
            heading=label("trend"),
            paragraphs=(label("trend_text"),),
            charts=_one(charts.sentiment_trend(trend.buckets, trend.step, trend.trend, language)),
            tables=(
                Table(
                    caption=label("trend_table"),
                    columns=(
                        label("col_week_of"),
                        label("col_messages"),
                        label("col_negative"),
                        label("col_neutral"),
                        label("col_positive"),
                        label("col_score"),
                    ),
                    rows=tuple(
                        (
                            day(bucket.start),
                            count(tally.total),
                            count(tally.negative),
                            count(tally.neutral),
                            count(tally.positive),
                            score(tally.mean_score),
                        )
                        for bucket, tally in zip(trend.buckets, trend.trend, strict=True)
                    ),
                ),
            ),
        ),
    ]
    breakdown = [
        (label(group), names, tallies)
        for group, names, tallies in (
            ("source", SOURCE_NAMES, week.by_source),
            ("col_channel", CHANNEL_NAMES, week.by_channel),
            ("col_language", LANGUAGE_NAMES, week.by_language),
        )
    ]
    sections.append(
        Section(
            id="where",
            heading=label("where"),
            charts=_one(
                charts.sentiment_breakdown(
                    week.by_source, week.by_channel, week.by_language, language
                )
                if this_week.total
                else None
            ),
            tables=(
                Table(
                    caption=label("where_table"),
                    columns=(
                        label("col_group"),
                        label("col_messages"),
                        label("col_negative_share"),
                        label("col_score"),
                    ),
                    rows=tuple(
                        (
                            f"{group_label} · {name_of(names, key, language)}",
                            count(tally.total),
                            percent(tally.negative_share, language),
                            score(tally.mean_score),
                        )
                        for group_label, names, tallies in breakdown
                        for key, tally in tallies.items()
                    ),
                ),
            )
            if this_week.total
            else (),
            empty=None if this_week.total else label("no_messages"),
        )
    )
    category_names = {key: names[language] for key, names in CATEGORY_NAMES.items()}
    sections.append(
        Section(
            id="concerns",
            heading=label("concerns_section"),
            charts=_one(
                charts.concerns_over_time(
                    concerns.buckets, Step.WEEK, concerns.by_category, category_names, language
                )
                if concerns.by_category
                else None
            ),
            tables=(
                Table(
                    caption=label("concerns_table"),
                    columns=(
                        label("col_category"),
                        label("col_week"),
                        label("col_previous"),
                        label("col_nine_weeks"),
                    ),
                    rows=tuple(
                        (
                            capitalised(category_names[key]),
                            count(counts[-1]),
                            count(counts[-2]),
                            count(sum(counts)),
                        )
                        for key, counts in concerns.by_category.items()
                    ),
                ),
            )
            if concerns.by_category
            else (),
            empty=None if concerns.by_category else label("no_concerns"),
        )
    )
    top = [q for q in questions.topics if q.count][:TOP_QUESTIONS]
    sections.append(
        Section(
            id="questions",
            heading=label("questions"),
            charts=_one(
                charts.faq_topics(
                    [(q.topic, q.count, q.previous) for q in top], language, weekly=True
                )
                if top
                else None
            ),
            tables=(
                Table(
                    caption=label("questions_table"),
                    columns=(label("col_topic"), label("col_week"), label("col_previous")),
                    rows=tuple(
                        (
                            capitalised(topic_name(q.topic, language)),
                            count(q.count),
                            count(q.previous),
                        )
                        for q in top
                    ),
                ),
            )
            if top
            else (),
            empty=None if top else label("no_questions"),
        )
    )
    signals = report.signals
    if not signals.assessed:
        signals_empty: str | None = label(
            "not_assessed", n=signals.history_weeks, needed=MIN_HISTORY_WEEKS
        )
    else:
        signals_empty = None if signals.signals else label("no_signals")
    sections.append(
        Section(
            id="signals",
            heading=label("signals"),
            paragraphs=(label("signals_text"),),
            charts=_one(
                charts.weak_signals(signals.signals, language) if signals.signals else None
            ),
            tables=(
                Table(
                    caption=label("signals_table"),
                    columns=(
                        label("col_topic"),
                        label("col_recent"),
                        label("col_usual"),
                        label("col_negative_now"),
                        label("col_negative_usual"),
                        label("col_why"),
                    ),
                    rows=tuple(
                        (
                            capitalised(topic_name(signal.level.topic, language)),
                            count(signal.level.recent),
                            number(round(signal.level.usual, 1), language),
                            percent(signal.level.negative_share, language),
                            percent(signal.level.usual_negative_share, language),
                            ", ".join(
                                label(key)
                                for key, flagged in (
                                    ("rising", signal.assessment.rising),
                                    ("more_negative", signal.assessment.more_negative),
                                )
                                if flagged
                            ),
                        )
                        for signal in signals.signals
                    ),
                ),
            )
            if signals.signals
            else (),
            empty=signals_empty,
        )
    )
    if report.gaps is not None:
        sections.append(
            Section(
                id="gaps",
                heading=label("gaps"),
                paragraphs=(label("gaps_text"),),
                tables=(
                    Table(
                        caption=label("gaps_table"),
                        columns=(
                            label("col_gap"),
                            label("col_questions"),
                            label("col_citizens"),
                            label("col_languages"),
                            label("col_draft"),
                        ),
                        rows=tuple(
                            (
                                count(number_),
                                count(gap.questions),
                                count(gap.citizens),
                                ", ".join(
                                    name_of(LANGUAGE_NAMES, code, language)
                                    for code in gap.languages
                                ),
                                gap.draft or label("no_draft"),
                            )
                            for number_, gap in enumerate(report.gaps, start=1)
                        ),
                    ),
                )
                if report.gaps
                else (),
                empty=None if report.gaps else label("no_gaps"),
            )
        )
    sections.append(
        Section(
            id="about",
            heading=label("about"),
            paragraphs=(label("about_text"), label("privacy")),
        )
    )
    year, week_number, _ = report.week.start.isocalendar()
    return Document(
        language=language,
        title=label("title", project=project_name),
        subtitle=" ".join(
            (
                label(
                    "week",
                    number=week_number,
                    year=year,
                    start=day(report.week.start),
                    end=day(report.week.end),
                ),
                label("as_of" if report.finished else "not_over", today=day(report.today)),
            )
        ),
        sections=tuple(sections),
    )


def _arrow(change: float, language: str, *, unit: str) -> str:
    """A change with an arrow: ▲ +12 %, ▼ −3 points, = (no change once rounded)."""
    rounded = round(change)
    if rounded == 0:
        return "="
    sign = "▲ +" if rounded > 0 else "▼ −"
    # French puts a no-break space before "%", English none; a word always follows a space.
    space = "\u00a0" if language == "fr" or unit != "%" else ""
    return f"{sign}{number(abs(rounded), language)}{space}{unit}"


# --- HTML ----------------------------------------------------------------------------------

_ENVIRONMENT: Final = templates(TEMPLATES)


def render_body(report: WeeklyReport, *, project_name: str) -> Markup:
    """The report's content (title, sections, charts as inline SVG), without a page around
    it: the desk shows it inside its own page, styled by ``report.css``.

    Args:
        report: the figures, from `build_weekly_report`.
        project_name: the project's name in the report's language.
    """
    document = _document(report, project_name)
    svgs = {chart.id: chart.svg() for chart in document.charts}
    body = _ENVIRONMENT.get_template("weekly_report_body.html.j2").render(
        document=document, charts=svgs
    )
    # Trusted markup: the template escapes every text; the SVG is matplotlib's, escaped too.
    return Markup(body)  # noqa: S704


def render_html(report: WeeklyReport, *, project_name: str) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG charts, nothing fetched
    from elsewhere), ready to be sent.

    Args:
        report: the figures, from `build_weekly_report`.
        project_name: the project's name in the report's language.
    """
    body = render_body(report, project_name=project_name)
    document = _document_head(report, project_name)
    return _ENVIRONMENT.get_template("weekly_report.html.j2").render(
        language=report.language,
        title=document,
        css=Markup(REPORT_CSS.read_text(encoding="utf-8")),  # noqa: S704 - our own stylesheet
        body=body,
    )


def _document_head(report: WeeklyReport, project_name: str) -> str:
    title = LABELS["title"][report.language].format(project=project_name)
    return f"{title} — {report.week.week_name}"


# --- PDF -----------------------------------------------------------------------------------


def render_pdf(report: WeeklyReport, *, project_name: str) -> bytes:
    """The report as a PDF: the same sections, tables and charts as the HTML page (the charts
    as PNG images of the same figures, each with its data in words as alternative text).

    Args:
        report: the figures, from `build_weekly_report`.
        project_name: the project's name in the report's language.
    """
    return document_pdf(
        _document(report, project_name),
        title=_document_head(report, project_name),
        footer_text=LABELS["page"][report.language],
    )


def _one(chart: charts.Chart | None) -> tuple[charts.Chart, ...]:
    return () if chart is None else (chart,)
