"""Weak signals: the topics citizens speak of clearly more than usual, or more negatively.

Every message is stored with the topics it speaks of (`Message.topics`,
`HeardMessage.topics`). For each topic, the messages of the **recent window** (the last 7
days of the project's calendar) are compared with its **usual level**: its weekly counts over
the **8 weeks before** (7-day windows back from the recent one).

A topic is **rising** when all three hold:

1. at least `MIN_COUNT` (5) messages in the recent window: two or three messages are no
   signal, however rare the topic;
2. at least `MIN_RATIO` (1.5) times its usual weekly count: with large counts a small rise
   (900 → 1,000) is statistically certain but not news;
3. a count that chance alone would reach less than once in a thousand weeks
   (`SIGNIFICANCE`): the probability of at least that many messages if the topic stayed at its
   usual level. Messages arriving independently at a steady rate follow a Poisson law whose
   mean is the usual weekly count. Citizens' talk comes in bursts, though: when the 8 weeks
   varied more than a Poisson law allows (variance above the mean), a negative binomial law
   with the observed mean and variance is used instead, so that a topic that often jumps
   must jump higher. The usual count is taken as at least `EXPECTED_FLOOR` (0.5 a week), so
   that a topic never spoken of before needs `MIN_COUNT` messages, not one. About 20 topics
   are checked each week: at one in a thousand, a false alarm comes about once a year.

A topic is **more negative** when at least `MIN_COUNT` of its recent messages read as
negative, their share is at least `NEGATIVE_RISE` (15 points) above its usual share, and a
binomial law at the usual share would give that many negative messages less than once in a
thousand. The usual share is (negative + 1) / (read + 2) over the 8 weeks, which stays sound
when the topic had few messages.

Weeks before the first message in the scope are not part of the usual level (the assistant
was not running), and with fewer than `MIN_HISTORY_WEEKS` (3) such weeks no topic is
assessed: everything would look new.

The messages behind each signal (its text, channel, time and sentiment) are for the project
team's eyes only, on the desk; messages of citizens who asked to be forgotten are never
shown. Nothing here is cached: figures are read again on every call.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final

from sqlalchemy import Connection, Engine, FromClause, func, literal, null, select, true, union_all
from sqlalchemy.sql.expression import case
from sqlmodel import col

from bot.listening.reading import TOPICS
from bot.perception.queries import (
    Period,
    Scope,
    bucket_index,
    heard_messages,
    incoming_messages,
    midnight,
    snapshot,
)
from bot.storage.models import Conversation, HeardMessage, Message

RECENT_DAYS: Final = 7
BASELINE_WEEKS: Final = 8
MIN_COUNT: Final = 5
MIN_RATIO: Final = 1.5
SIGNIFICANCE: Final = 0.001
EXPECTED_FLOOR: Final = 0.5
NEGATIVE_RISE: Final = 0.15
MIN_HISTORY_WEEKS: Final = 3
EXAMPLES: Final = 20
"""How many messages behind each signal are shown, newest first."""


# --- the rule ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """A topic's messages in the recent window beside its usual level.

    Attributes:
        topic: the topic (a name of `bot.listening.reading.TOPICS`).
        recent: messages in the recent window.
        weekly: its messages in each baseline week with history, oldest first.
        negative_recent: recent messages read as negative.
        read_recent: recent messages with a sentiment.
        negative_before: negative messages in the baseline weeks.
        read_before: messages with a sentiment in the baseline weeks.
    """

    topic: str
    recent: int
    weekly: tuple[int, ...]
    negative_recent: int = 0
    read_recent: int = 0
    negative_before: int = 0
    read_before: int = 0

    @property
    def usual(self) -> float:
        """The mean weekly count of the baseline weeks (0 without any)."""
        return statistics.fmean(self.weekly) if self.weekly else 0.0

    @property
    def negative_share(self) -> float | None:
        """The recent share of negative messages; None when none was read."""
        return self.negative_recent / self.read_recent if self.read_recent else None

    @property
    def usual_negative_share(self) -> float:
        """The usual share of negative messages, (negative + 1) / (read + 2)."""
        return (self.negative_before + 1) / (self.read_before + 2)


@dataclass(frozen=True)
class Assessment:
    """What the rule says of a `Level`.

    Attributes:
        rising: the topic is spoken of clearly more than usual.
        chance: the probability of at least that many recent messages at the usual level.
        more_negative: its messages are clearly more negative than usual.
        negative_chance: the probability of at least that many negative messages at the
            usual share.
    """

    rising: bool
    chance: float
    more_negative: bool
    negative_chance: float

    @property
    def signal(self) -> bool:
        """Whether the topic is a weak signal (rising, more negative, or both)."""
        return self.rising or self.more_negative


def assess(level: Level) -> Assessment:
    """Applies the module's rule to one topic.

    Args:
        level: the topic's recent count and usual level.

    Returns:
        Whether it rises or turned more negative, and how likely that was by chance.
    """
    expected = max(level.usual, EXPECTED_FLOOR)
    variance = statistics.variance(level.weekly) if len(level.weekly) >= 2 else 0.0
    if variance > expected:
        chance = negative_binomial_tail(level.recent, mean=expected, variance=variance)
    else:
        chance = poisson_tail(level.recent, expected)
    rising = (
        level.recent >= MIN_COUNT and level.recent >= MIN_RATIO * expected and chance < SIGNIFICANCE
    )
    usual_share = level.usual_negative_share
    negative_chance = binomial_tail(level.negative_recent, level.read_recent, usual_share)
    share = level.negative_share
    more_negative = (
        level.negative_recent >= MIN_COUNT
        and share is not None
        and share >= usual_share + NEGATIVE_RISE
        and negative_chance < SIGNIFICANCE
    )
    return Assessment(
        rising=rising, chance=chance, more_negative=more_negative, negative_chance=negative_chance
    )


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X following a Poisson law of this mean."""
    if k <= 0:
        return 1.0
    log_mean = math.log(mean)
    return _upper_tail(lambda j: j * log_mean - mean - math.lgamma(j + 1), k, mean)


def negative_binomial_tail(k: int, *, mean: float, variance: float) -> float:
    """P(X >= k) for X following a negative binomial law of this mean and variance (which
    must exceed the mean)."""
    if k <= 0:
        return 1.0
    size = mean * mean / (variance - mean)
    log_p, log_q = math.log(size / (size + mean)), math.log(mean / (size + mean))
    base = -math.lgamma(size)

    def log_pmf(j: int) -> float:
        return math.lgamma(j + size) + base - math.lgamma(j + 1) + size * log_p + j * log_q

    return _upper_tail(log_pmf, k, mean)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X following a binomial law of n trials of probability p (0 < p < 1)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)

    def log_pmf(j: int) -> float:
        return log_n - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q

    return _upper_tail(log_pmf, k, n * p, last=n)


def _upper_tail(
    log_pmf: Callable[[int], float], k: int, mean: float, last: int | None = None
) -> float:
    """Σ pmf(j) for j >= k, summed upwards until the terms past the mean stop counting."""
    total = 0.0
    j = k
    while last is None or j <= last:
        term = math.exp(log_pmf(j))
        total += term
        if j > mean and term <= total * 1e-17:
            break
        j += 1
    return min(1.0, total)


# --- reading the topics --------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A message behind a signal, for the project team's eyes only.

    Attributes:
        topic: the signal's topic.
        text: the citizen's words.
        source: "chats" or "groups".
        channel: web, telegram or discord.
        language: as detected (None when it was not).
        at: when it was written (UTC).
        sentiment: how it read (None when it was not read).
    """

    topic: str
    text: str
    source: str
    channel: str
    language: str | None
    at: datetime
    sentiment: str | None


@dataclass(frozen=True)
class Signal:
    """A topic that rose above its usual level or turned more negative.

    Attributes:
        level: its counts.
        assessment: what the rule said.
        examples: the newest messages behind it (at most `EXAMPLES`).
    """

    level: Level
    assessment: Assessment
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Signals:
    """The weak signals as of a day.

    Attributes:
        window: the recent window (7 days, its last day included).
        baseline: the weeks of the usual level (8 weeks, some maybe without history).
        history_weeks: how many baseline weeks had messages to compare with.
        assessed: whether there was enough history to assess topics.
        levels: every topic spoken of in the window or the baseline, most recent messages
            first.
        signals: the signals, the least likely by chance first.
    """

    window: Period
    baseline: Period
    history_weeks: int
    assessed: bool
    levels: tuple[Level, ...]
    signals: tuple[Signal, ...]


def read_signals(
    engine: Engine,
    *,
    as_of: date,
    scope: Scope,
    zone: tzinfo,
    examples: int = EXAMPLES,
) -> Signals:
    """The weak signals of the 7 days ending on `as_of`, in one snapshot of the database.

    Args:
        engine: the database.
        as_of: the last day of the recent window (the project's calendar).
        scope: the channel, language and source looked at.
        zone: the project's time zone.
        examples: how many messages to give behind each signal.
    """
    with snapshot(engine) as connection:
        return signals_in(connection, as_of=as_of, scope=scope, zone=zone, examples=examples)


def signals_in(
    connection: Connection,
    *,
    as_of: date,
    scope: Scope,
    zone: tzinfo,
    examples: int = EXAMPLES,
) -> Signals:
    """`read_signals` on an open connection (to share a snapshot with other figures)."""
    days = [as_of + timedelta(days=1 - RECENT_DAYS * n) for n in range(BASELINE_WEEKS + 1, -1, -1)]
    boundaries = [midnight(day, zone) for day in days]
    window = Period(days[-2], as_of)
    baseline = Period(days[0], days[-2] - timedelta(days=1))
    first = _first_message(connection, scope)
    # Baseline weeks that end before the first message: the assistant was not listening yet.
    with_history = [
        week for week in range(BASELINE_WEEKS) if first is not None and boundaries[week + 1] > first
    ]
    counts: dict[str, dict[int, list[int]]] = {}  # topic → bucket → [messages, negative, read]
    for bucket, topic, sentiment, count in _topic_rows(connection, boundaries, scope):
        if topic not in TOPICS:
            continue
        cell = counts.setdefault(topic, {}).setdefault(int(bucket), [0, 0, 0])
        cell[0] += int(count)
        if sentiment is not None:
            cell[2] += int(count)
            if sentiment == "negative":
                cell[1] += int(count)
    recent = BASELINE_WEEKS
    levels = [
        Level(
            topic=topic,
            recent=by_bucket.get(recent, [0, 0, 0])[0],
            weekly=tuple(by_bucket.get(week, [0, 0, 0])[0] for week in with_history),
            negative_recent=by_bucket.get(recent, [0, 0, 0])[1],
            read_recent=by_bucket.get(recent, [0, 0, 0])[2],
            negative_before=sum(by_bucket.get(week, [0, 0, 0])[1] for week in with_history),
            read_before=sum(by_bucket.get(week, [0, 0, 0])[2] for week in with_history),
        )
        for topic, by_bucket in counts.items()
    ]
    levels.sort(key=lambda level: (-level.recent, -level.usual, level.topic))
    assessed = len(with_history) >= MIN_HISTORY_WEEKS
    found: list[tuple[Level, Assessment]] = []
    if assessed:
        found = [(level, assess(level)) for level in levels]
        found = [(level, verdict) for level, verdict in found if verdict.signal]
        found.sort(
            key=lambda pair: (
                min(pair[1].chance, pair[1].negative_chance),
                -pair[0].recent,
                pair[0].topic,
            )
        )
    behind = (
        _examples(connection, [level.topic for level, _ in found], boundaries, scope, examples)
        if found
        else {}
    )
    return Signals(
        window=window,
        baseline=baseline,
        history_weeks=len(with_history),
        assessed=assessed,
        levels=tuple(levels),
        signals=tuple(
            Signal(level=level, assessment=verdict, examples=behind.get(level.topic, ()))
            for level, verdict in found
        ),
    )


def _first_message(connection: Connection, scope: Scope) -> datetime | None:
    """When the first message in the scope was written (whenever), or None."""
    firsts: list[datetime] = []
    if scope.chats:
        found = connection.execute(
            incoming_messages([func.min(col(Message.created_at))], scope=scope)
        ).scalar()
        if found is not None:
            firsts.append(found)
    if scope.groups:
        found = connection.execute(
            heard_messages([func.min(col(HeardMessage.created_at))], scope=scope)
        ).scalar()
        if found is not None:
            firsts.append(found)
    return min(firsts, default=None)


def _topic_table(column: Any, dialect: str) -> FromClause:
    """The topics of a JSON list column as a table of one column, ``value``, joined row by
    row (SQLite's ``json_each``, PostgreSQL's ``json_array_elements_text``)."""
    if dialect == "postgresql":
        # A JSON null (a message stored without topics) is not an array: it gives no row.
        only_arrays = case((func.json_typeof(column) == "array", column), else_=null())
        return (
            func.json_array_elements_text(only_arrays)
            .table_valued("value")
            .render_derived(name="topic")
        )
    return func.json_each(column).table_valued("value").alias("topic")


def _topic_rows(connection: Connection, boundaries: Sequence[datetime], scope: Scope) -> list[Any]:
    """(bucket, topic, sentiment, count) over both sources."""
    dialect = connection.dialect.name
    parts = []
    start, end = boundaries[0], boundaries[-1]
    if scope.chats:
        topic = _topic_table(col(Message.topics), dialect)
        parts.append(
            incoming_messages(
                [
                    bucket_index(col(Message.created_at), boundaries).label("bucket"),
                    topic.c.value.label("topic"),
                    col(Message.sentiment).label("sentiment"),
                ],
                scope=scope,
                start=start,
                end=end,
            ).join(topic, true())
        )
    if scope.groups:
        topic = _topic_table(col(HeardMessage.topics), dialect)
        parts.append(
            heard_messages(
                [
                    bucket_index(col(HeardMessage.created_at), boundaries).label("bucket"),
                    topic.c.value.label("topic"),
                    col(HeardMessage.sentiment).label("sentiment"),
                ],
                scope=scope,
                start=start,
                end=end,
            ).join(topic, true())
        )
    if not parts:
        return []
    rows = union_all(*parts).subquery()
    keys = (rows.c.bucket, rows.c.topic, rows.c.sentiment)
    return list(
        connection.execute(
            select(*keys, func.count()).where(rows.c.topic.is_not(None)).group_by(*keys)
        )
    )


def _examples(
    connection: Connection,
    topics: Sequence[str],
    boundaries: Sequence[datetime],
    scope: Scope,
    limit: int,
) -> dict[str, tuple[Example, ...]]:
    """The newest messages of the recent window on each topic, at most `limit` each."""
    dialect = connection.dialect.name
    start, end = boundaries[-2], boundaries[-1]
    parts = []
    if scope.chats:
        topic = _topic_table(col(Message.topics), dialect)
        parts.append(
            incoming_messages(
                [
                    topic.c.value.label("topic"),
                    col(Message.text).label("text"),
                    col(Message.created_at).label("at"),
                    col(Conversation.channel).label("channel"),
                    col(Message.language).label("language"),
                    col(Message.sentiment).label("sentiment"),
                    literal("chats").label("source"),
                ],
                scope=scope,
                start=start,
                end=end,
            )
            .join(topic, true())
            # A citizen who asked to be forgotten: their words are gone, and stay unshown.
            .where(col(Conversation.erased_at).is_(None), topic.c.value.in_(topics))
        )
    if scope.groups:
        topic = _topic_table(col(HeardMessage.topics), dialect)
        parts.append(
            heard_messages(
                [
                    topic.c.value.label("topic"),
                    col(HeardMessage.text).label("text"),
                    col(HeardMessage.created_at).label("at"),
                    col(HeardMessage.channel).label("channel"),
                    col(HeardMessage.language).label("language"),
                    col(HeardMessage.sentiment).label("sentiment"),
                    literal("groups").label("source"),
                ],
                scope=scope,
                start=start,
                end=end,
            )
            .join(topic, true())
            .where(topic.c.value.in_(topics))
        )
    rows = union_all(*parts).subquery()
    rank = (
        func.row_number()
        .over(partition_by=rows.c.topic, order_by=(rows.c.at.desc(), rows.c.text))
        .label("rank")
    )
    ranked = select(*rows.c, rank).subquery()
    found: dict[str, list[Example]] = {}
    query = (
        select(*(ranked.c[name] for name in _EXAMPLE_COLUMNS))
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.topic, ranked.c.rank)
    )
    for topic_name, text, at, channel, language, sentiment, source in connection.execute(query):
        found.setdefault(topic_name, []).append(
            Example(
                topic=topic_name,
                text=text,
                source=source,
                channel=channel,
                language=language,
                at=at if at.tzinfo else at.replace(tzinfo=UTC),
                sentiment=sentiment,
            )
        )
    return {topic: tuple(items) for topic, items in found.items()}


_EXAMPLE_COLUMNS: Final = ("topic", "text", "at", "channel", "language", "sentiment", "source")
