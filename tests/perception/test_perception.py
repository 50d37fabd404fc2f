"""The figures of perception, read like a community manager would check them by hand: which
messages count on which day of the project's calendar, how they read, what the filters keep,
which topics rise above their usual level (and which do not), with the messages behind them.
Every test that reads the database runs on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.common.phrases import CATEGORY_NAMES
from bot.perception.charts import CATEGORY_COLOURS
from bot.perception.queries import (
    Figures,
    PerceptionError,
    Period,
    Scope,
    Step,
    Tally,
    read_figures,
)
from bot.perception.signals import (
    Level,
    assess,
    binomial_tail,
    negative_binomial_tail,
    poisson_tail,
    read_signals,
)
from tests.support.perception import (
    Community,
    _numbers,  # noqa: F401
)

TORONTO = ZoneInfo("America/Toronto")


# --- a community's messages, written by hand ------------------------------------------------


@pytest.fixture
def community(session: Session) -> Community:
    return Community(session)


def toronto(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment given in the project's local time, as stored (UTC)."""
    return datetime(year, month, day, hour, minute, tzinfo=TORONTO).astimezone(UTC)


def figures(database: Engine, start: date, end: date, **scope: str) -> Figures:
    return read_figures(
        database,
        period=Period(start, end),
        scope=Scope(**scope),
        zone=TORONTO,  # type: ignore[arg-type]
    )


# --- periods -------------------------------------------------------------------------------


def test_a_period_has_days_weeks_or_months_cut_to_its_bounds() -> None:
    month = Period(date(2026, 10, 8), date(2026, 11, 6))
    assert month.days == 30
    assert month.step == Step.DAY
    assert month.previous() == Period(date(2026, 9, 8), date(2026, 10, 7))
    weeks = Period(date(2026, 9, 3), date(2026, 11, 21)).buckets(Step.WEEK)
    # Weeks run Monday to Sunday; the first and last are cut to the period.
    assert weeks[0] == Period(date(2026, 9, 3), date(2026, 9, 6))
    assert weeks[1] == Period(date(2026, 9, 7), date(2026, 9, 13))
    assert weeks[-1] == Period(date(2026, 11, 16), date(2026, 11, 21))
    assert Period(date(2026, 9, 3), date(2026, 11, 21)).step == Step.WEEK
    year = Period(date(2025, 11, 22), date(2026, 11, 21))
    assert year.step == Step.MONTH
    months = year.buckets()
    assert (months[0], months[1].start, months[-1]) == (
        Period(date(2025, 11, 22), date(2025, 11, 30)),
        date(2025, 12, 1),
        Period(date(2026, 11, 1), date(2026, 11, 21)),
    )
    assert sum(bucket.days for bucket in months) == year.days


def test_a_week_is_written_the_iso_way() -> None:
    week = Period.iso_week("2026-W47")
    assert (week.start, week.end, week.week_name) == (
        date(2026, 11, 16),
        date(2026, 11, 22),
        "2026-W47",
    )
    assert Period.iso_week("2021-w01").start == date(2021, 1, 4)
    for wrong in ("2026-47", "2026-W54", "W47", "26-W47"):
        with pytest.raises(PerceptionError, match="is not a week such as 2026-W47"):
            Period.iso_week(wrong)
    with pytest.raises(PerceptionError, match="ends before it starts"):
        Period(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(PerceptionError, match="choose at most"):
        Period(date(2020, 1, 1), date(2026, 11, 1))
    with pytest.raises(PerceptionError, match="source is one of"):
        Scope(source="everything")  # type: ignore[arg-type]


# --- how messages read, day by day -----------------------------------------------------------


def test_a_message_counts_on_its_day_in_the_project_s_time_zone(
    database: Engine, community: Community, session: Session
) -> None:
    # Summer time ends in Quebec at 2 a.m. on Sunday 1 November 2026.
    community.says(toronto(2026, 10, 31, 23, 30), sentiment="negative", score=-0.5)  # 03:30 UTC
    community.says(toronto(2026, 11, 1, 0, 30), sentiment="positive", score=0.5)  # 04:30 UTC
    community.says(toronto(2026, 11, 1, 23, 59), sentiment="neutral", score=0.0)  # 04:59 UTC
    community.says(toronto(2026, 11, 2, 0, 1), sentiment="neutral", score=0.1)  # 05:01 UTC
    session.commit()
    read = figures(database, date(2026, 10, 31), date(2026, 11, 2))
    trend = dict(zip([b.start for b in read.sentiment.buckets], read.sentiment.trend, strict=True))
    assert trend[date(2026, 10, 31)] == Tally(negative=1, score_sum=-0.5, scored=1)
    assert trend[date(2026, 11, 1)] == Tally(neutral=1, positive=1, score_sum=0.5, scored=2)
    assert trend[date(2026, 11, 2)] == Tally(neutral=1, score_sum=0.1, scored=1)
    # A period ending on the 1st leaves the message written at 00:01 on the 2nd out.
    assert figures(database, date(2026, 11, 1), date(2026, 11, 1)).sentiment.total.total == 2


def test_the_trend_counts_citizens_messages_by_sentiment_with_volume_and_mean_score(
    database: Engine, community: Community, session: Session
) -> None:
    monday = date(2026, 11, 16)
    for hour, (sentiment, score) in enumerate(
        [("negative", -0.8), ("negative", -0.4), ("neutral", 0.0), ("positive", 0.6)]
    ):
        community.says(toronto(2026, 11, 16, 9 + hour), sentiment=sentiment, score=score)
    unread = community.says(toronto(2026, 11, 17, 10), sentiment=None, score=None)
    community.edits(unread, toronto(2026, 11, 17, 10, 5))  # an edit counts once: not again
    community.answers(toronto(2026, 11, 16, 9, 1))  # the assistant's replies are not citizens'
    community.heard(toronto(2026, 11, 17, 20), sentiment="negative", score=-0.6)
    community.says(toronto(2026, 11, 12, 9), sentiment="positive", score=0.9)  # the week before
    session.commit()

    read = figures(database, monday, monday + timedelta(days=6))
    sentiment = read.sentiment
    assert sentiment.step == Step.DAY
    assert [tally.total for tally in sentiment.trend] == [4, 2, 0, 0, 0, 0, 0]
    monday_tally = sentiment.trend[0]
    assert (monday_tally.negative, monday_tally.neutral, monday_tally.positive) == (2, 1, 1)
    assert monday_tally.mean_score == pytest.approx(-0.15)
    assert monday_tally.negative_share == pytest.approx(0.5)
    tuesday = sentiment.trend[1]
    assert (tuesday.unread, tuesday.negative, tuesday.read) == (1, 1, 1)  # one chat, one heard
    assert sentiment.total.total == 6
    assert sentiment.previous == Tally(positive=1, score_sum=0.9, scored=1)
    assert {key: t.total for key, t in sentiment.by_source.items()} == {"chats": 5, "groups": 1}
    assert {key: t.total for key, t in sentiment.by_channel.items()} == {"web": 5, "telegram": 1}
    assert list(sentiment.by_language) == ["fr"]


def test_filters_keep_one_channel_one_language_or_one_source(
    database: Engine, community: Community, session: Session
) -> None:
    day = toronto(2026, 11, 18)
    community.says(day, channel="web", language="fr")
    community.says(day, channel="telegram", language="en", sentiment="negative", score=-0.7)
    community.says(day, channel="telegram", language="fr")
    community.says(day, channel="discord", language=None, sentiment=None, score=None)
    community.heard(day, channel="telegram", language="en")
    community.heard(day, channel="discord", language="fr")
    session.commit()
    start = end = date(2026, 11, 18)

    def total(**scope: str) -> int:
        return figures(database, start, end, **scope).sentiment.total.total

    assert total() == 6
    assert total(channel="telegram") == 3
    assert total(channel="telegram", language="en") == 2
    assert total(language="en", source="chats") == 1
    assert total(source="groups") == 2
    assert total(source="groups", channel="web") == 0  # the web chat has no groups
    assert total(source="chats") == 4
    undetermined = figures(database, start, end, channel="discord", source="chats").sentiment
    assert dict(undetermined.by_language) == {"unknown": Tally(unread=1)}


def test_concerns_are_counted_by_category_and_kind_over_time(
    database: Engine, community: Community, session: Session
) -> None:
    community.concern(toronto(2026, 11, 2), "noise")
    community.concern(toronto(2026, 11, 3), "noise", kind="objection")
    community.concern(
        toronto(2026, 11, 10), "water", channel="telegram", language="en", kind="objection"
    )
    community.concern(toronto(2026, 11, 11), "dust_from_a_retired_category")
    community.concern(toronto(2026, 10, 20), "noise")  # the period before
    session.commit()
    start, end = date(2026, 10, 26), date(2026, 11, 22)  # four weeks, Monday to Sunday
    concerns = read_figures(
        database, period=Period(start, end), scope=Scope(), zone=TORONTO, step=Step.WEEK
    ).concerns
    assert [b.start for b in concerns.buckets] == [
        date(2026, 10, 26),
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    assert dict(concerns.by_category) == {
        "noise": (0, 2, 0, 0),
        "water": (0, 0, 1, 0),
        "other": (0, 0, 1, 0),  # a category the contract no longer has
    }
    assert (concerns.total, concerns.previous) == (4, 1)
    assert dict(concerns.by_kind) == {
        "grievance": (0, 1, 1, 0),
        "objection": (0, 1, 1, 0),
    }
    assert concerns.per_kind == {"grievance": 2, "objection": 2}
    english = figures(database, start, end, language="en").concerns
    assert dict(english.per_category) == {"water": 1}
    assert english.per_kind == {"grievance": 0, "objection": 1}
    in_groups = figures(database, start, end, source="groups").concerns
    assert in_groups.total == 0
    assert in_groups.per_kind == {"grievance": 0, "objection": 0}


def test_every_category_has_a_colour_of_its_own_on_the_charts() -> None:
    assert len(set(CATEGORY_COLOURS)) >= len(CATEGORY_NAMES)


def test_the_most_asked_faq_topics_come_first_with_the_period_before(
    database: Engine, community: Community, session: Session
) -> None:
    for _ in range(3):
        community.says(toronto(2026, 11, 20), intent="faq/noise")
    community.says(toronto(2026, 11, 19), intent="faq/schedule")
    community.says(toronto(2026, 11, 19), intent="report_concern")
    community.says(toronto(2026, 11, 12), intent="faq/schedule")  # the week before
    community.says(toronto(2026, 11, 12), intent="faq/schedule")
    community.unanswered(toronto(2026, 11, 18))
    community.unanswered(toronto(2026, 11, 18), channel="telegram")
    community.unanswered(toronto(2026, 11, 10))
    session.commit()
    questions = figures(database, date(2026, 11, 16), date(2026, 11, 22)).questions
    assert [(q.topic, q.count, q.previous) for q in questions.topics] == [
        ("noise", 3, 0),
        ("schedule", 1, 2),
    ]
    assert (questions.total, questions.previous) == (4, 2)
    assert (questions.unanswered, questions.unanswered_previous) == (2, 1)
    web = figures(database, date(2026, 11, 16), date(2026, 11, 22), channel="web").questions
    assert web.unanswered == 1
    groups = figures(database, date(2026, 11, 16), date(2026, 11, 22), source="groups")
    assert groups.questions.topics == ()


# --- the weak-signal rule ----------------------------------------------------------------------


def test_the_tails_are_the_laws_probabilities() -> None:
    def poisson(k: int, mean: float) -> float:
        return 1 - sum(math.exp(-mean) * mean**j / math.factorial(j) for j in range(k))

    assert poisson_tail(5, 0.5) == pytest.approx(poisson(5, 0.5), rel=1e-9)
    assert poisson_tail(30, 10) == pytest.approx(poisson(30, 10), rel=1e-6)
    assert poisson_tail(0, 3) == 1.0
    assert binomial_tail(3, 3, 0.5) == pytest.approx(0.125)
    assert binomial_tail(2, 4, 0.5) == pytest.approx(11 / 16)
    assert binomial_tail(5, 4, 0.5) == 0.0
    # A negative binomial with the variance of a Poisson law's mean is close to it...
    assert negative_binomial_tail(12, mean=5, variance=5.0001) == pytest.approx(
        poisson_tail(12, 5), rel=1e-3
    )
    # ...and wider when the variance is larger.
    assert negative_binomial_tail(12, mean=5, variance=20) > 10 * poisson_tail(12, 5)


def test_a_topic_far_above_its_usual_level_is_rising_and_one_at_it_is_not() -> None:
    usual = (10, 12, 9, 11, 10, 8, 12, 10)
    rising = assess(Level("traffic", recent=30, weekly=usual))
    assert rising.rising
    assert rising.signal
    assert rising.chance < 0.001
    steady = assess(Level("noise", recent=13, weekly=usual))
    assert not steady.rising
    assert not steady.signal
    assert steady.chance > 0.05


def test_a_new_topic_needs_five_messages() -> None:
    never = (0,) * 8
    assert not assess(Level("water", recent=4, weekly=never)).rising
    assert assess(Level("water", recent=5, weekly=never)).rising


def test_a_bursty_topic_must_jump_higher_than_a_steady_one() -> None:
    bursty = (0, 0, 20, 0, 0, 18, 0, 0)  # the same mean as a steady 4.75 a week
    assert poisson_tail(16, 4.75) < 0.001  # a Poisson law alone would cry wolf
    assert not assess(Level("landscape", recent=16, weekly=bursty)).rising
    assert assess(Level("landscape", recent=16, weekly=(5, 4, 5, 5, 4, 5, 5, 5))).rising


def test_a_large_topic_must_rise_by_half_to_be_news() -> None:
    large = (900, 910, 890, 905, 895, 900, 910, 890)
    verdict = assess(Level("noise", recent=1_200, weekly=large))
    assert verdict.chance < 1e-9  # certain, statistically...
    assert not verdict.rising  # ...but a third more is not a weak signal
    assert assess(Level("noise", recent=1_400, weekly=large)).rising


def test_a_topic_turning_negative_is_a_signal_even_at_its_usual_level() -> None:
    angry = Level(
        "traffic",
        recent=20,
        weekly=(20, 19, 21, 20, 22, 18, 20, 20),
        negative_recent=15,
        read_recent=20,
        negative_before=32,
        read_before=160,
    )
    verdict = assess(angry)
    assert (verdict.rising, verdict.more_negative, verdict.signal) == (False, True, True)
    assert angry.usual_negative_share == pytest.approx(33 / 162)
    calm = Level(
        "traffic",
        recent=20,
        weekly=(20, 19, 21, 20, 22, 18, 20, 20),
        negative_recent=6,
        read_recent=20,
        negative_before=32,
        read_before=160,
    )
    assert not assess(calm).more_negative


# --- weak signals in the database --------------------------------------------------------------

AS_OF = date(2026, 11, 21)  # a Saturday: the window is 15 to 21 November


def write_eight_usual_weeks(community: Community) -> None:
    """Noise: 6 messages a week, traffic: 1, for the 8 weeks before the window (and a
    message without topics each week)."""
    for week in range(1, 9):
        first = AS_OF - timedelta(days=6 + 7 * week)
        for n in range(6):
            day = first + timedelta(days=n)
            community.says(toronto(day.year, day.month, day.day), topics=["noise"])
        community.says(
            toronto(first.year, first.month, first.day, 15),
            topics=["traffic"],
            sentiment="negative",
            score=-0.5,
        )
        community.says(toronto(first.year, first.month, first.day, 16), topics=None)


def test_a_rising_topic_comes_with_the_messages_behind_it(
    database: Engine, community: Community, session: Session
) -> None:
    write_eight_usual_weeks(community)
    for n in range(7):  # noise as usual in the window
        community.says(toronto(2026, 11, 15 + n, 9), topics=["noise"])
    for n in range(6):  # trucks: six chats, three heard in groups
        community.says(
            toronto(2026, 11, 16 + n, 7, 30),
            text=f"Camions à 6 h devant l'école, jour {n + 1}",
            topics=["traffic"],
            sentiment="negative",
            score=-0.8,
            channel="telegram" if n % 2 else "web",
        )
    for n in range(3):
        community.heard(toronto(2026, 11, 18 + n, 21), topics=["traffic", "noise"])
    community.says(
        toronto(2026, 11, 21, 22),
        text="[effacé / erased]",
        topics=["traffic"],
        sentiment="negative",
        score=-0.9,
        erased=True,
    )
    session.commit()

    signals = read_signals(database, as_of=AS_OF, scope=Scope(), zone=TORONTO, examples=5)
    assert (signals.window.start, signals.window.end) == (date(2026, 11, 15), AS_OF)
    assert signals.baseline == Period(date(2026, 9, 20), date(2026, 11, 14))
    assert (signals.assessed, signals.history_weeks) == (True, 8)
    assert [signal.level.topic for signal in signals.signals] == ["traffic"]
    traffic = signals.signals[0]
    assert (traffic.level.recent, traffic.level.weekly) == (10, (1,) * 8)
    assert traffic.assessment.rising
    levels = {level.topic: level for level in signals.levels}
    assert (levels["noise"].recent, levels["noise"].usual) == (10, 6.0)  # 7 chats + 3 heard
    assert "noise" not in {signal.level.topic for signal in signals.signals}
    # The newest first, at most five; the erased citizen's message is never shown.
    examples = traffic.examples
    assert [(e.source, e.channel) for e in examples[:3]] == [
        ("chats", "telegram"),
        ("groups", "telegram"),
        ("chats", "web"),
    ]
    assert examples[0].text == "Camions à 6 h devant l'école, jour 6"
    assert examples[0].at == toronto(2026, 11, 21, 7, 30)
    assert examples[0].sentiment == "negative"
    assert len(examples) == 5
    assert all("effacé" not in e.text for e in examples)

    web_only = read_signals(
        database, as_of=AS_OF, scope=Scope(channel="web"), zone=TORONTO, examples=5
    )
    assert web_only.signals == ()  # three trucks on the web are not a signal
    assert {level.topic: level.recent for level in web_only.levels}["traffic"] == 4


def test_without_three_weeks_of_history_no_topic_is_assessed(
    database: Engine, community: Community, session: Session
) -> None:
    community.says(toronto(2026, 11, 5), topics=["noise"])  # the assistant started then
    for n in range(12):
        community.says(toronto(2026, 11, 16, 8 + n), topics=["water"], sentiment="negative")
    session.commit()
    signals = read_signals(database, as_of=AS_OF, scope=Scope(), zone=TORONTO)
    assert (signals.assessed, signals.history_weeks, signals.signals) == (False, 2, ())
    assert {level.topic: level.recent for level in signals.levels} == {"water": 12, "noise": 0}
