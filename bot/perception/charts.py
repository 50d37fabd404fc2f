"""The charts of perception, drawn once with matplotlib and written either as accessible inline
SVG (the dashboard, the HTML report) or as PNG (the PDF report): the same figure for both.

Each chart comes with a title and its data in words (the SVG's description, the PDF image's
alternative text). Figures are laid out by hand, not by matplotlib's layout engines, which
would double the drawing time; nothing is cached, so a chart always shows the figures it
was given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path
from matplotlib.ticker import MaxNLocator, NullLocator

from bot.perception.queries import Period, Step, Tally
from bot.perception.signals import Signal
from bot.perception.words import (
    CHANNEL_NAMES,
    LANGUAGE_NAMES,
    SENTIMENT_NAMES,
    SOURCE_NAMES,
    month_name,
    name_of,
    short_date,
    topic_name,
)
from bot.reports.charts import chart_style, png_bytes, svg_markup
from bot.reports.formatting import number, percent, signed

# Okabe-Ito colours, told apart with any colour vision: vermilion, grey, blue.
SENTIMENT_COLOURS: Final = {
    "negative": "#d55e00",
    "neutral": "#a8b0b8",
    "positive": "#0072b2",
    "unread": "#e4e7ea",
}
# One colour per category of the contract, so that no two share one on a chart.
CATEGORY_COLOURS: Final = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#8c6d31",
    "#999999",
    "#882255",
)
_BAR: Final = "#1f6f5c"
_USUAL: Final = "#b9c8c3"
_INK: Final = "#222222"
_WIDTH: Final = 8.0  # inches; the page scales the SVG, the PDF places it at its text width
_CHAR: Final = 0.08  # inches per character of a 10 pt label (DejaVu Sans), for margins
_MAX_TICKS: Final = 12

WORDS: Final[dict[str, dict[str, str]]] = {
    "trend_title": {
        "fr": "Messages par {step} selon leur tonalité, et score moyen",
        "en": "Messages per {step} by sentiment, and mean score",
    },
    "day": {"fr": "jour", "en": "day"},
    "week": {"fr": "semaine", "en": "week"},
    "month": {"fr": "mois", "en": "month"},
    "messages": {"fr": "Messages", "en": "Messages"},
    "mean_score": {"fr": "Score moyen", "en": "Mean score"},
    "breakdown_title": {
        "fr": "Tonalité des messages par source, canal et langue",
        "en": "Sentiment of messages by source, channel and language",
    },
    "share_read": {"fr": "Part des messages évalués", "en": "Share of assessed messages"},
    "source": {"fr": "Source", "en": "Source"},
    "channel": {"fr": "Canal", "en": "Channel"},
    "language": {"fr": "Langue", "en": "Language"},
    "concerns_title": {
        "fr": "Préoccupations reçues par {step} et par catégorie",
        "en": "Concerns received per {step} by category",
    },
    "concerns": {"fr": "Préoccupations", "en": "Concerns"},
    "faq_title": {
        "fr": "Sujets les plus demandés (questions de la FAQ)",
        "en": "Most asked topics (FAQ questions)",
    },
    "questions": {"fr": "Questions", "en": "Questions"},
    "previous": {"fr": "période précédente", "en": "previous period"},
    "this_period": {"fr": "cette période", "en": "this period"},
    "this_week": {"fr": "cette semaine", "en": "this week"},
    "previous_week": {"fr": "semaine précédente", "en": "previous week"},
    "signals_title": {
        "fr": "Signaux faibles : messages des 7 derniers jours et niveau habituel",
        "en": "Weak signals: messages of the last 7 days and usual level",
    },
    "last_7_days": {"fr": "7 derniers jours", "en": "last 7 days"},
    "usual": {"fr": "habituel (moyenne de 8 semaines)", "en": "usual (8-week mean)"},
    "usual_short": {"fr": "habituel", "en": "usual"},
    "negative_share": {"fr": "négatifs", "en": "negative"},
    "no_score": {"fr": "pas de score", "en": "no score"},
    "of": {"fr": "sur", "en": "of"},
}


@dataclass(frozen=True)
class Chart:
    """A drawn chart, ready to be written for a page or a PDF.

    Attributes:
        id: unique in a page (prefixes the SVG's ids).
        title: what it shows.
        description: its data in words.
        figure: the matplotlib figure.
    """

    id: str
    title: str
    description: str
    figure: Figure

    def svg(self) -> Markup:
        """The chart as accessible inline SVG."""
        return svg_markup(
            self.figure, chart_id=self.id, title=self.title, description=self.description
        )

    def png(self, dpi: int = 160) -> bytes:
        """The chart as a PNG image."""
        return png_bytes(self.figure, dpi=dpi)


def _word(key: str, language: str, **values: str) -> str:
    return WORDS[key][language].format(**values)


def bucket_label(bucket: Period, step: Step, language: str) -> str:
    """How a day, week or month is named on an axis (a week by its first day)."""
    if step == Step.MONTH:
        return month_name(bucket.start, language)
    return short_date(bucket.start, language)


def _figure(height: float, *, left: float, right: float = 0.3, top: float, bottom: float) -> Figure:
    """A figure with margins in inches (a layout engine would double the drawing time)."""
    figure = Figure(figsize=(_WIDTH, height))
    figure.subplots_adjust(
        left=left / _WIDTH,
        right=1 - right / _WIDTH,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=0.25,
    )
    return figure


def _bars(
    axes: Axes,
    positions: Sequence[float],
    lengths: Sequence[float],
    *,
    start: Sequence[float] | None = None,
    thickness: float = 0.8,
    colour: str,
    horizontal: bool = False,
) -> None:
    """Bars of one colour as a single compound path, from `start` (0 by default) over
    `lengths`, vertical unless `horizontal`: one SVG element instead of one per bar, which
    makes drawing several times faster."""
    base = start if start is not None else [0.0] * len(lengths)
    half = thickness / 2
    vertices: list[tuple[float, float]] = []
    for position, length, offset in zip(positions, lengths, base, strict=True):
        if not length:
            continue
        low, high, end = position - half, position + half, offset + length
        corners = (
            [(offset, low), (end, low), (end, high), (offset, high)]
            if horizontal
            else [(low, offset), (high, offset), (high, end), (low, end)]
        )
        vertices += [*corners, corners[0]]
    codes = [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]
    path = Path(vertices or [(0.0, 0.0)], codes * (len(vertices) // 5) or None)
    axes.add_patch(PathPatch(path, facecolor=colour, edgecolor="none"))


def _key(
    axes: Axes,
    items: Sequence[tuple[str, str]],
    *,
    symbol: Sequence[str] | None = None,
    beside: bool = False,
) -> None:
    """The chart's key: a coloured mark and a name per item, in a row above the axes or, when
    `beside`, in a column to their right. Drawn as plain texts: matplotlib's legend boxes
    cost as much to lay out as the rest of a chart."""
    dpi = axes.figure.dpi
    width, height = axes.bbox.width / dpi, axes.bbox.height / dpi  # inches
    marks = symbol or ["■"] * len(items)
    x, y = (1.02, 1.0) if beside else (0.0, 1.0 + 0.08 / height)
    for (label, colour), mark in zip(items, marks, strict=True):
        axes.text(x, y, mark, color=colour, fontsize=10, transform=axes.transAxes,
                  va="top" if beside else "bottom")  # fmt: skip
        axes.text(x + 0.16 / width, y, label, color=_INK, fontsize=8.5 if beside else 9,
                  transform=axes.transAxes, va="top" if beside else "bottom")  # fmt: skip
        if beside:
            y -= 0.2 / height
        else:
            x += (0.3 + _CHAR * 0.9 * len(label)) / width


def _tidy(axes: Axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(length=3)


def _thin_ticks(axes: Axes, labels: Sequence[str]) -> None:
    """Names as many buckets as fit side by side, evenly spaced, at most `_MAX_TICKS` (one
    tick costs as much as ten bars to draw)."""
    available = axes.get_position().width * _WIDTH
    label_width = _CHAR * max((len(label) for label in labels), default=1) + 0.12
    fitting = max(1, min(_MAX_TICKS, int(available / label_width)))
    every = max(1, math.ceil(len(labels) / fitting))
    named = range(0, len(labels), every)
    axes.set_xticks(list(named), [labels[i] for i in named])


def sentiment_trend(
    buckets: Sequence[Period], step: Step, trend: Sequence[Tally], language: str
) -> Chart:
    """Stacked bars of messages per bucket by sentiment (their height is the volume), above
    a line of the mean score from -1 to 1."""
    labels = [bucket_label(bucket, step, language) for bucket in buckets]
    positions = range(len(buckets))
    with chart_style():
        figure = _figure(3.6, left=0.75, top=0.45, bottom=0.45)
        grid = figure.add_gridspec(2, 1, height_ratios=(3, 1))
        bars = figure.add_subplot(grid[0])
        line = figure.add_subplot(grid[1])
        bottom = [0] * len(trend)
        kinds = ["negative", "neutral", "positive"]
        if any(tally.unread for tally in trend):
            kinds.append("unread")
        for kind in kinds:
            heights = [tally.count(kind) for tally in trend]
            _bars(
                bars,
                positions,
                heights,
                start=bottom,
                colour=SENTIMENT_COLOURS[kind],
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        bars.set_ylim(0, max([*bottom, 1]) * 1.05)
        bars.set_ylabel(_word("messages", language))
        bars.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        _key(
            bars,
            [(name_of(SENTIMENT_NAMES, k, language), SENTIMENT_COLOURS[k]) for k in kinds],
        )
        bars.xaxis.set_major_locator(NullLocator())  # the score's axis below names the days
        _tidy(bars)
        scores = [tally.mean_score for tally in trend]
        line.axhline(0, color="#888888", linewidth=0.8)
        line.plot(
            positions,
            [math.nan if s is None else s for s in scores],
            color=_INK,
            marker="o",
            markersize=3,
            linewidth=1.2,
        )
        line.set_ylim(-1, 1)
        line.set_yticks([-1, 0, 1], ["−1", "0", "+1"])
        line.set_ylabel(_word("mean_score", language), fontsize=8)
        for axes in (bars, line):
            axes.set_xlim(-0.6, len(buckets) - 0.4)
        _thin_ticks(line, labels)
        _tidy(line)
    step_word = _word(step.value, language)
    description = "; ".join(
        f"{label}: {number(tally.total, language)} "
        + f"({', '.join(f'{number(tally.count(k), language)} {name_of(SENTIMENT_NAMES, k, language)}' for k in kinds)}), "
        + (
            f"{_word('mean_score', language).lower()} {signed(tally.mean_score, language)}"
            if tally.mean_score is not None
            else _word("no_score", language)
        )
        for label, tally in zip(labels, trend, strict=True)
    )
    return Chart(
        id="chart-trend",
        title=_word("trend_title", language, step=step_word),
        description=description,
        figure=figure,
    )


def sentiment_breakdown(
    by_source: Mapping[str, Tally],
    by_channel: Mapping[str, Tally],
    by_language: Mapping[str, Tally],
    language: str,
) -> Chart:
    """Horizontal bars, one per source, channel and language, split into the shares of
    negative, neutral and positive messages, with their number and mean score."""
    rows: list[tuple[str, Tally]] = []
    colon = "\u00a0: " if language == "fr" else ": "  # French puts a space before a colon
    for group, names, tallies in (
        ("source", SOURCE_NAMES, by_source),
        ("channel", CHANNEL_NAMES, by_channel),
        ("language", LANGUAGE_NAMES, by_language),
    ):
        for key, tally in tallies.items():
            rows.append((f"{_word(group, language)}{colon}{name_of(names, key, language)}", tally))
    labels = [label for label, _ in rows]
    notes = [_breakdown_note(tally, language) for _, tally in rows]
    height = 0.9 + 0.32 * len(rows)
    left = 0.25 + _CHAR * max(len(label) for label in labels)
    right = 0.25 + _CHAR * max(len(note) for note in notes)
    with chart_style():
        figure = _figure(height, left=left, right=right, top=0.4, bottom=0.45)
        axes = figure.add_subplot()
        positions = range(len(rows))
        start = [0.0] * len(rows)
        for kind in ("negative", "neutral", "positive"):
            shares = [tally.count(kind) / tally.read if tally.read else 0.0 for _, tally in rows]
            _bars(
                axes,
                positions,
                shares,
                start=start,
                thickness=0.65,
                colour=SENTIMENT_COLOURS[kind],
                horizontal=True,
            )
            for position, share, offset in zip(positions, shares, start, strict=True):
                if share >= 0.09:
                    axes.text(
                        offset + share / 2,
                        position,
                        percent(share, language),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="#ffffff" if kind != "neutral" else _INK,
                    )
            start = [s + v for s, v in zip(start, shares, strict=True)]
        for position, note in zip(positions, notes, strict=True):
            axes.text(1.02, position, note, va="center", fontsize=8.5, color=_INK)
        axes.set_yticks(list(positions), labels)
        axes.set_ylim(len(rows) - 0.5, -0.5)  # the first row on top
        axes.set_xlim(0, 1)
        axes.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25", "50", "75", "100 %"])
        axes.set_xlabel(_word("share_read", language))
        _key(
            axes,
            [
                (name_of(SENTIMENT_NAMES, k, language), SENTIMENT_COLOURS[k])
                for k in ("negative", "neutral", "positive")
            ],
        )
        _tidy(axes)
    description = "; ".join(
        f"{label}: {number(tally.total, language)} messages, "
        + ", ".join(
            f"{percent(tally.count(k) / tally.read if tally.read else None, language)} "
            + name_of(SENTIMENT_NAMES, k, language)
            for k in ("negative", "neutral", "positive")
        )
        + f", {note}"
        for (label, tally), note in zip(rows, notes, strict=True)
    )
    return Chart(
        id="chart-breakdown",
        title=_word("breakdown_title", language),
        description=description,
        figure=figure,
    )


def _breakdown_note(tally: Tally, language: str) -> str:
    score = tally.mean_score
    mean = signed(score, language) if score is not None else "—"
    return f"n = {number(tally.total, language)} · {mean}"


def concerns_over_time(
    buckets: Sequence[Period],
    step: Step,
    by_category: Mapping[str, Sequence[int]],
    category_names: Mapping[str, str],
    language: str,
) -> Chart:
    """Stacked bars of concerns received per bucket, one colour per category."""
    labels = [bucket_label(bucket, step, language) for bucket in buckets]
    positions = range(len(buckets))
    with chart_style():
        figure = _figure(3.2, left=0.75, right=2.1, top=0.2, bottom=0.45)
        axes = figure.add_subplot()
        bottom = [0] * len(buckets)
        for index, counts in enumerate(by_category.values()):
            _bars(
                axes,
                positions,
                counts,
                start=bottom,
                colour=CATEGORY_COLOURS[index % len(CATEGORY_COLOURS)],
            )
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        axes.set_ylim(0, max([*bottom, 1]) * 1.05)
        axes.set_ylabel(_word("concerns", language))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        axes.set_xlim(-0.6, len(buckets) - 0.4)
        _thin_ticks(axes, labels)
        # Top to bottom as the bars are stacked.
        _key(
            axes,
            [
                (category_names[category], CATEGORY_COLOURS[index % len(CATEGORY_COLOURS)])
                for index, category in enumerate(by_category)
            ][::-1],
            beside=True,
        )
        _tidy(axes)
    description = "; ".join(
        f"{category_names[category]}: {number(sum(counts), language)} ("
        + ", ".join(
            f"{label} {number(count, language)}"
            for label, count in zip(labels, counts, strict=True)
            if count
        )
        + ")"
        for category, counts in by_category.items()
    )
    return Chart(
        id="chart-concerns",
        title=_word("concerns_title", language, step=_word(step.value, language)),
        description=description,
        figure=figure,
    )


def faq_topics(
    rows: Sequence[tuple[str, int, int]], language: str, *, weekly: bool = False
) -> Chart:
    """Horizontal bars of the most asked FAQ topics, (topic, count, previous) in the order
    given, with a mark at the previous period's (or `weekly`, week's) count."""
    key_now, key_before = ("this_week", "previous_week") if weekly else ("this_period", "previous")
    labels = [topic_name(topic, language) for topic, _, _ in rows]
    counts = [count for _, count, _ in rows]
    before = [previous for _, _, previous in rows]
    top = max([*counts, *before, 1])
    height = 0.9 + 0.3 * len(rows)
    left = 0.25 + _CHAR * max(len(label) for label in labels)
    with chart_style():
        figure = _figure(height, left=left, right=0.6, top=0.35, bottom=0.45)
        axes = figure.add_subplot()
        positions = range(len(rows))
        _bars(
            axes,
            positions,
            counts,
            thickness=0.6,
            colour=_BAR,
            horizontal=True,
        )
        axes.scatter(
            before,
            positions,
            marker="|",
            s=180,
            linewidths=2,
            color=_INK,
            zorder=3,
        )
        for position, count in zip(positions, counts, strict=True):
            axes.text(count + top * 0.015, position - 0.33, number(count, language), fontsize=8)
        axes.set_yticks(list(positions), labels)
        axes.set_ylim(len(rows) - 0.5, -0.5)
        axes.set_xlim(0, top * 1.12)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        axes.set_xlabel(_word("questions", language))
        _key(
            axes,
            [(_word(key_now, language), _BAR), (_word(key_before, language), _INK)],
            symbol=["■", "|"],
        )
        _tidy(axes)
    description = "; ".join(
        f"{label}: {number(count, language)} ({_word(key_before, language)}: "
        f"{number(previous, language)})"
        for label, count, previous in zip(labels, counts, before, strict=True)
    )
    return Chart(
        id="chart-faq", title=_word("faq_title", language), description=description, figure=figure
    )


def weak_signals(signals: Sequence[Signal], language: str) -> Chart:
    """For each signal, its messages of the last 7 days beside its usual weekly level, and
    the share of them that read as negative."""
    labels = [topic_name(signal.level.topic, language) for signal in signals]
    recent = [signal.level.recent for signal in signals]
    usual = [signal.level.usual for signal in signals]
    notes = [_signal_note(signal, language) for signal in signals]
    top = max([*recent, *usual, 1.0])
    height = 0.9 + 0.42 * len(signals)
    left = 0.25 + _CHAR * max(len(label) for label in labels)
    right = 0.25 + _CHAR * max(len(note) for note in notes)
    with chart_style():
        figure = _figure(height, left=left, right=right, top=0.35, bottom=0.45)
        axes = figure.add_subplot()
        positions = list(range(len(signals)))
        _bars(
            axes,
            [p - 0.17 for p in positions],
            recent,
            thickness=0.34,
            colour=SENTIMENT_COLOURS["negative"],
            horizontal=True,
        )
        _bars(
            axes,
            [p + 0.17 for p in positions],
            usual,
            thickness=0.34,
            colour=_USUAL,
            horizontal=True,
        )
        for position, note in zip(positions, notes, strict=True):
            axes.text(top * 1.04, position, note, va="center", fontsize=8.5, color=_INK)
        axes.set_yticks(positions, labels)
        axes.set_ylim(len(signals) - 0.5, -0.5)
        axes.set_xlim(0, top * 1.03)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        axes.set_xlabel(_word("messages", language))
        _key(
            axes,
            [
                (_word("last_7_days", language), SENTIMENT_COLOURS["negative"]),
                (_word("usual", language), _USUAL),
            ],
        )
        _tidy(axes)
    description = "; ".join(f"{label}: {note}" for label, note in zip(labels, notes, strict=True))
    return Chart(
        id="chart-signals",
        title=_word("signals_title", language),
        description=description,
        figure=figure,
    )


def _signal_note(signal: Signal, language: str) -> str:
    level = signal.level
    usual = number(round(level.usual, 1), language)
    share = percent(level.negative_share, language)
    return (
        f"{number(level.recent, language)} ({_word('usual_short', language)} {usual}), "
        f"{share} {_word('negative_share', language)}"
    )
