"""The figures of perception, read from the database for a period and a scope.

What citizens wrote comes from two sources: their chats with the assistant (`Message`,
incoming, edits left out so that a corrected message counts once) and the community groups
where the assistant listens (`HeardMessage`). Each message was read when it arrived
(`bot.listening`): a sentiment (negative, neutral, positive), a score from -1 to 1 and the
topics it speaks of. A message not read (stored before listening existed, a photo without
text) counts in the volume as "not assessed", never as neutral.

* `read_sentiment`: messages per day, week or month by sentiment, with the mean score; and
  the same for the whole period by channel, by language and by source.
* `read_concerns`: concerns received per day, week or month by category and by kind
  (grievance or objection).
* `read_questions`: the FAQ topics citizens asked about most (`Message.intent` ``faq/*``),
  and how many questions the assistant could not answer.

Every figure comes with the previous period of the same length, for comparison.

Days are the project's calendar days (`zone`): a period runs from midnight of its first day
to midnight after its last day in the project's zone, so a message written at 11 p.m. local
time on the 3rd counts on the 3rd, whatever its UTC date, summer time included. Counting is
done in the database, on SQLite and PostgreSQL alike, by comparing the stored UTC moments
with the UTC moments of those midnights: the bucket of a row is found by a balanced CASE over
the boundaries (about log2 of their number comparisons per row), then rows are grouped by
bucket. Only the grouped counts leave the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final, Literal

from sqlalchemy import Connection, Engine, Integer, func, literal_column, select
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import case
from sqlmodel import col

from bot.common.phrases import CATEGORY_NAMES, KIND_NAMES
from bot.storage.models import (
    Concern,
    Conversation,
    Direction,
    HeardMessage,
    Message,
    UnansweredQuestion,
)

Source = Literal["all", "chats", "groups"]
SOURCES: Final[tuple[Source, ...]] = ("all", "chats", "groups")
CHANNELS: Final = ("web", "telegram", "discord")
SENTIMENTS: Final = ("negative", "neutral", "positive")
UNKNOWN_LANGUAGE: Final = "unknown"
FAQ_PREFIX: Final = "faq/"
LONGEST_PERIOD_DAYS: Final = 3 * 366
"""A period longer than this is refused (about three years of months on one chart)."""


class PerceptionError(ValueError):
    """A period or a filter the figures cannot be read for; the message says why."""


# --- what is looked at ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which messages are looked at.

    Attributes:
        channel: only this channel (web, telegram, discord); None: all.
        language: only messages in this language (fr, en); None: all.
        source: "chats" (with the assistant), "groups" (heard in community groups) or "all".
    """

    channel: str | None = None
    language: str | None = None
    source: Source = "all"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise PerceptionError(
                f"The source is one of {', '.join(SOURCES)}, not {self.source!r}."
            )

    @property
    def chats(self) -> bool:
        """Whether chats with the assistant are looked at."""
        return self.source in ("all", "chats")

    @property
    def groups(self) -> bool:
        """Whether messages heard in community groups are looked at (there are none on the
        web chat)."""
        return self.source in ("all", "groups") and self.channel != "web"


class Step(StrEnum):
    """How long one bar of a trend is."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, order=True)
class Period:
    """Calendar days of the project, from `start` to `end` included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PerceptionError("The period ends before it starts.")
        if self.days > LONGEST_PERIOD_DAYS:
            raise PerceptionError(
                f"The period is {self.days} days long; choose at most {LONGEST_PERIOD_DAYS}."
            )

    @classmethod
    def last(cls, days: int, today: date) -> Period:
        """The last `days` days, today included."""
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def iso_week(cls, text: str) -> Period:
        """An ISO week written like ``2026-W47`` (Monday to Sunday).

        Raises:
            PerceptionError: the text is not a week.
        """
        year, separator, week = text.strip().upper().partition("-W")
        try:
            if not separator or len(year) != 4:
                raise ValueError(text)
            monday = date.fromisocalendar(int(year), int(week), 1)
        except ValueError as exc:
            raise PerceptionError(f"{text!r} is not a week such as 2026-W47.") from exc
        return cls(monday, monday + timedelta(days=6))

    @property
    def days(self) -> int:
        """How many days it has."""
        return (self.end - self.start).days + 1

    @property
    def week_name(self) -> str:
        """The ISO week it starts in, as ``2026-W47``."""
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    def previous(self) -> Period:
        """The period of the same length just before."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def step(self) -> Step:
        """The natural bar length of its trend: days up to a month, weeks up to half a year,
        months beyond (a chart of 10 to 40 bars)."""
        if self.days <= 31:
            return Step.DAY
        return Step.WEEK if self.days <= 186 else Step.MONTH

    def buckets(self, step: Step | None = None) -> tuple[Period, ...]:
        """The days, weeks (Monday to Sunday) or months of the period, the first and last
        cut to the period."""
        step = step or self.step
        found: list[Period] = []
        day = self.start
        while day <= self.end:
            if step == Step.DAY:
                last = day
            elif step == Step.WEEK:
                last = day + timedelta(days=6 - day.weekday())
            else:
                following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
                last = following - timedelta(days=1)
            last = min(last, self.end)
            found.append(Period(day, last))
            day = last + timedelta(days=1)
        return tuple(found)


def midnight(day: date, zone: tzinfo) -> datetime:
    """The moment `day` starts in the project's zone, in UTC (how moments are stored)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def local_today(zone: tzinfo, now: datetime | None = None) -> date:
    """Today in the project's calendar."""
    return (now or datetime.now(UTC)).astimezone(zone).date()


# --- what is counted -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Messages counted by sentiment.

    Attributes:
        negative: messages read as negative.
        neutral: read as neutral.
        positive: read as positive.
        unread: not read (no sentiment), counted in the volume only.
        score_sum: the sum of the scores of the messages that have one.
        scored: how many have one.
    """

    negative: int = 0
    neutral: int = 0
    positive: int = 0
    unread: int = 0
    score_sum: float = 0.0
    scored: int = 0

    @property
    def read(self) -> int:
        """Messages with a sentiment."""
        return self.negative + self.neutral + self.positive

    @property
    def total(self) -> int:
        """Every message: the volume."""
        return self.read + self.unread

    @property
    def mean_score(self) -> float | None:
        """The mean score, from -1 to 1; None without any score."""
        return self.score_sum / self.scored if self.scored else None

    @property
    def negative_share(self) -> float | None:
        """The share of the read messages that are negative; None when none was read."""
        return self.negative / self.read if self.read else None

    def count(self, sentiment: str) -> int:
        """The messages of one sentiment (or "unread")."""
        return int(getattr(self, sentiment))

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            negative=self.negative + other.negative,
            neutral=self.neutral + other.neutral,
            positive=self.positive + other.positive,
            unread=self.unread + other.unread,
            score_sum=self.score_sum + other.score_sum,
            scored=self.scored + other.scored,
        )


@dataclass(frozen=True)
class SentimentFigures:
    """How messages read over a period.

    Attributes:
        period: the period.
        step: the length of one bucket of the trend.
        buckets: the days, weeks or months of the period.
        trend: one tally per bucket.
        total: the whole period.
        previous: the period of the same length just before.
        by_channel: the period by channel (channels in `CHANNELS` order, then others).
        by_language: the period by language ("unknown" when not detected).
        by_source: the period by source ("chats", "groups"), for the sources looked at.
    """

    period: Period
    step: Step
    buckets: tuple[Period, ...]
    trend: tuple[Tally, ...]
    total: Tally
    previous: Tally
    by_channel: Mapping[str, Tally]
    by_language: Mapping[str, Tally]
    by_source: Mapping[str, Tally]


@dataclass(frozen=True)
class ConcernFigures:
    """Concerns received over a period, by category and by kind.

    Attributes:
        buckets: the days, weeks or months of the period.
        by_category: category → count per bucket (categories of the contract in its order,
            only those with a concern in the period).
        total: concerns received in the period.
        previous: in the period of the same length just before.
        by_kind: kind → count per bucket (every kind of the contract in its order,
            "grievance" then "objection", even without a concern).
    """

    buckets: tuple[Period, ...]
    by_category: Mapping[str, tuple[int, ...]]
    total: int
    previous: int
    by_kind: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def per_category(self) -> dict[str, int]:
        """The period's total per category."""
        return {category: sum(counts) for category, counts in self.by_category.items()}

    @property
    def per_kind(self) -> dict[str, int]:
        """The period's total per kind (grievance, objection)."""
        return {kind: sum(counts) for kind, counts in self.by_kind.items()}


@dataclass(frozen=True)
class QuestionCount:
    """How often one FAQ topic was asked."""

    topic: str
    count: int
    previous: int


@dataclass(frozen=True)
class QuestionFigures:
    """What citizens asked the assistant.

    Attributes:
        topics: FAQ topics asked in the period or the one before, most asked first.
        total: questions answered from the FAQ in the period.
        previous: in the period before.
        unanswered: questions the assistant could not answer in the period.
        unanswered_previous: in the period before.
    """

    topics: tuple[QuestionCount, ...]
    total: int
    previous: int
    unanswered: int
    unanswered_previous: int


@dataclass(frozen=True)
class Figures:
    """Everything the dashboard shows for one period and scope but the weak signals."""

    period: Period
    scope: Scope
    sentiment: SentimentFigures
    concerns: ConcernFigures
    questions: QuestionFigures


# --- reading -------------------------------------------------------------------------------


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One connection whose queries all see the same state of the database (on PostgreSQL a
    repeatable-read transaction; SQLite reads in one transaction), so figures add up."""
    with engine.connect() as connection:
        postgresql = engine.dialect.name == "postgresql"
        if postgresql:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            if postgresql:
                # PostgreSQL guesses 100 topics per message (it cannot know a JSON list's
                # length), hence a million rows, hence compiles the topic queries, which
                # takes longer than running them (20,000 messages: 210 ms, 50 without).
                connection.exec_driver_sql("SET LOCAL jit = off")
            yield connection


def read_figures(
    engine: Engine, *, period: Period, scope: Scope, zone: tzinfo, step: Step | None = None
) -> Figures:
    """The sentiment, concerns and questions of a period, read in one snapshot.

    Args:
        engine: the database.
        period: the days looked at.
        scope: the channel, language and source looked at.
        zone: the project's time zone (its calendar days).
        step: the bar length of the trends; by default the period's natural one.
    """
    with snapshot(engine) as connection:
        return figures_in(connection, period=period, scope=scope, zone=zone, step=step)


def figures_in(
    connection: Connection,
    *,
    period: Period,
    scope: Scope,
    zone: tzinfo,
    step: Step | None = None,
) -> Figures:
    """`read_figures` on an open connection (to share a snapshot with other figures)."""
    return Figures(
        period=period,
        scope=scope,
        sentiment=read_sentiment(connection, period=period, scope=scope, zone=zone, step=step),
        concerns=read_concerns(connection, period=period, scope=scope, zone=zone, step=step),
        questions=read_questions(connection, period=period, scope=scope, zone=zone),
    )


def read_sentiment(
    connection: Connection,
    *,
    period: Period,
    scope: Scope,
    zone: tzinfo,
    step: Step | None = None,
) -> SentimentFigures:
    """How the messages of a period read, per bucket and by channel, language and source.

    Args:
        connection: the database.
        period: the days looked at.
        scope: the channel, language and source looked at.
        zone: the project's time zone.
        step: the bar length of the trend; by default the period's natural one.
    """
    step = step or period.step
    buckets = period.buckets(step)
    boundaries = _boundaries(period, buckets, zone)
    trend = [Tally() for _ in buckets]
    previous = Tally()
    by_channel: dict[str, Tally] = {}
    by_language: dict[str, Tally] = {}
    by_source: dict[str, Tally] = {}
    for source, rows in _sentiment_rows(connection, boundaries, scope):
        for bucket, channel, language, sentiment, count, score_sum, scored in rows:
            tally = _tally(sentiment, int(count), float(score_sum or 0.0), int(scored))
            if bucket == 0:
                previous += tally
                continue
            trend[bucket - 1] += tally
            language = language or UNKNOWN_LANGUAGE
            by_channel[channel] = by_channel.get(channel, Tally()) + tally
            by_language[language] = by_language.get(language, Tally()) + tally
            by_source[source] = by_source.get(source, Tally()) + tally
    total = sum(trend, Tally())
    return SentimentFigures(
        period=period,
        step=step,
        buckets=buckets,
        trend=tuple(trend),
        total=total,
        previous=previous,
        by_channel=_ordered(by_channel, CHANNELS),
        by_language=_ordered(by_language, ("fr", "en")),
        by_source=_ordered(by_source, ("chats", "groups")),
    )


def read_concerns(
    connection: Connection,
    *,
    period: Period,
    scope: Scope,
    zone: tzinfo,
    step: Step | None = None,
) -> ConcernFigures:
    """Concerns received in a period per bucket, by category and by kind (none when the scope
    looks at community groups only: concerns are raised in chats)."""
    step = step or period.step
    buckets = period.buckets(step)
    counts: dict[str, list[int]] = {}
    kinds: dict[str, list[int]] = {kind: [0] * len(buckets) for kind in KIND_NAMES}
    previous = 0
    if scope.chats:
        boundaries = _boundaries(period, buckets, zone)
        received_at = col(Concern.received_at)
        inner = (
            select(
                bucket_index(received_at, boundaries).label("bucket"),
                col(Concern.category).label("category"),
                col(Concern.kind).label("kind"),
            )
            .where(
                received_at >= boundaries[0],
                received_at < boundaries[-1],
                *scope_filters(scope, col(Concern.channel), col(Concern.language)),
            )
            .subquery()
        )
        rows = connection.execute(
            select(inner.c.bucket, inner.c.category, inner.c.kind, func.count()).group_by(
                inner.c.bucket, inner.c.category, inner.c.kind
            )
        ).all()
        for bucket, category, kind, count in rows:
            if bucket == 0:
                previous += int(count)
                continue
            key = category if category in CATEGORY_NAMES else "other"
            counts.setdefault(key, [0] * len(buckets))[bucket - 1] += int(count)
            kinds.setdefault(kind, [0] * len(buckets))[bucket - 1] += int(count)
    by_category = {key: tuple(counts[key]) for key in CATEGORY_NAMES if key in counts}
    return ConcernFigures(
        buckets=buckets,
        by_category=by_category,
        total=sum(sum(values) for values in by_category.values()),
        previous=previous,
        by_kind={key: tuple(values) for key, values in kinds.items()},
    )


def read_questions(
    connection: Connection, *, period: Period, scope: Scope, zone: tzinfo
) -> QuestionFigures:
    """The FAQ topics asked in a period and the one before, and the questions left
    unanswered (none when the scope looks at community groups only)."""
    if not scope.chats:
        return QuestionFigures(topics=(), total=0, previous=0, unanswered=0, unanswered_previous=0)
    boundaries = [midnight(day, zone) for day in (period.previous().start, period.start)]
    boundaries.append(midnight(period.end + timedelta(days=1), zone))
    asked = (
        incoming_messages(
            [
                bucket_index(col(Message.created_at), boundaries).label("bucket"),
                col(Message.intent).label("intent"),
            ],
            scope=scope,
            start=boundaries[0],
            end=boundaries[-1],
        )
        .where(col(Message.intent).like(f"{FAQ_PREFIX}%"))
        .subquery()
    )
    counts: dict[str, list[int]] = {}
    for bucket, intent, count in connection.execute(
        select(asked.c.bucket, asked.c.intent, func.count()).group_by(
            asked.c.bucket, asked.c.intent
        )
    ):
        topic = str(intent)[len(FAQ_PREFIX) :]
        counts.setdefault(topic, [0, 0])[int(bucket)] += int(count)
    topics = sorted(
        (QuestionCount(topic=t, count=now, previous=before) for t, (before, now) in counts.items()),
        key=lambda q: (-q.count, -q.previous, q.topic),
    )
    question_at = col(UnansweredQuestion.created_at)
    unanswered = (
        select(bucket_index(question_at, boundaries).label("bucket"))
        .select_from(UnansweredQuestion)
        .join(Conversation, col(Conversation.id) == col(UnansweredQuestion.conversation_id))
        .where(
            question_at >= boundaries[0],
            question_at < boundaries[-1],
            *scope_filters(scope, col(Conversation.channel), col(UnansweredQuestion.language)),
        )
        .subquery()
    )
    missed = [0, 0]
    for bucket, count in connection.execute(
        select(unanswered.c.bucket, func.count()).group_by(unanswered.c.bucket)
    ):
        missed[int(bucket)] = int(count)
    return QuestionFigures(
        topics=tuple(topics),
        total=sum(q.count for q in topics),
        previous=sum(q.previous for q in topics),
        unanswered=missed[1],
        unanswered_previous=missed[0],
    )


# --- the SQL they share ----------------------------------------------------------------------


def _boundaries(period: Period, buckets: Sequence[Period], zone: tzinfo) -> list[datetime]:
    """The UTC moments that start the previous period, each bucket, and end the period:
    bucket 0 of a query is the previous period, bucket i the period's i-th."""
    days = [period.previous().start, *(bucket.start for bucket in buckets)]
    return [midnight(day, zone) for day in days] + [midnight(period.end + timedelta(days=1), zone)]


def bucket_index(column: Any, boundaries: Sequence[datetime]) -> ColumnElement[int]:
    """The index i such that ``boundaries[i] <= column < boundaries[i + 1]``, as a balanced
    CASE (rows outside the boundaries must be filtered out by the query)."""

    def within(low: int, high: int) -> ColumnElement[int]:
        if high - low == 1:
            return literal_column(str(low), Integer)
        middle = (low + high) // 2
        return case((column < boundaries[middle], within(low, middle)), else_=within(middle, high))

    return within(0, len(boundaries) - 1)


def scope_filters(scope: Scope, channel: Any, language: Any) -> list[ColumnElement[bool]]:
    """The conditions of `scope` on the given channel and language columns."""
    found: list[ColumnElement[bool]] = []
    if scope.channel:
        found.append(channel == scope.channel)
    if scope.language:
        found.append(language == scope.language)
    return found


def incoming_messages(
    columns: Sequence[Any],
    *,
    scope: Scope,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Any]:
    """Citizens' messages to the assistant written in [start, end) (whenever, without
    bounds) in the scope, edits left out, joined with their conversation, selecting
    `columns`."""
    return (
        select(*columns)
        .select_from(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            col(Message.direction) == Direction.INCOMING,
            col(Message.edit_of).is_(None),
            *_between(col(Message.created_at), start, end),
            *scope_filters(scope, col(Conversation.channel), col(Message.language)),
        )
    )


def heard_messages(
    columns: Sequence[Any],
    *,
    scope: Scope,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Any]:
    """Messages heard in community groups in [start, end) (whenever, without bounds) in the
    scope, selecting `columns`."""
    return select(*columns).where(
        *_between(col(HeardMessage.created_at), start, end),
        *scope_filters(scope, col(HeardMessage.channel), col(HeardMessage.language)),
    )


def _between(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    found = []
    if start is not None:
        found.append(column >= start)
    if end is not None:
        found.append(column < end)
    return found


def _sentiment_rows(
    connection: Connection, boundaries: Sequence[datetime], scope: Scope
) -> Iterator[tuple[str, Sequence[Any]]]:
    start, end = boundaries[0], boundaries[-1]
    sources: list[tuple[str, Select[Any]]] = []
    if scope.chats:
        sources.append(
            (
                "chats",
                incoming_messages(
                    [
                        bucket_index(col(Message.created_at), boundaries).label("bucket"),
                        col(Conversation.channel).label("channel"),
                        col(Message.language).label("language"),
                        col(Message.sentiment).label("sentiment"),
                        col(Message.sentiment_score).label("score"),
                    ],
                    scope=scope,
                    start=start,
                    end=end,
                ),
            )
        )
    if scope.groups:
        sources.append(
            (
                "groups",
                heard_messages(
                    [
                        bucket_index(col(HeardMessage.created_at), boundaries).label("bucket"),
                        col(HeardMessage.channel).label("channel"),
                        col(HeardMessage.language).label("language"),
                        col(HeardMessage.sentiment).label("sentiment"),
                        col(HeardMessage.sentiment_score).label("score"),
                    ],
                    scope=scope,
                    start=start,
                    end=end,
                ),
            )
        )
    for source, query in sources:
        inner = query.subquery()
        keys = (inner.c.bucket, inner.c.channel, inner.c.language, inner.c.sentiment)
        rows = connection.execute(
            select(
                *keys, func.count(), func.sum(inner.c.score), func.count(inner.c.score)
            ).group_by(*keys)
        ).all()
        yield source, rows


def _tally(sentiment: str | None, count: int, score_sum: float, scored: int) -> Tally:
    if sentiment in SENTIMENTS:
        return Tally(**{str(sentiment): count}, score_sum=score_sum, scored=scored)
    return Tally(unread=count, score_sum=score_sum, scored=scored)


def _ordered(counts: Mapping[str, Tally], order: Sequence[str]) -> dict[str, Tally]:
    """The keys of `order` found, in that order, then the others alphabetically."""
    keys = [key for key in order if key in counts]
    keys += sorted(key for key in counts if key not in order)
    return {key: counts[key] for key in keys}
