"""Weekly opening hours ("mon-thu 09:00-16:30; fri 09:00-12:00"): read from the knowledge base
or a setting, and said to citizens in words in their language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FRENCH_DAYS = {"lun": "mon", "mar": "tue", "mer": "wed", "jeu": "thu", "ven": "fri"}
_FRENCH_DAYS |= {"sam": "sat", "dim": "sun"}
_PART = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})\s*$"
)


class DeskHoursError(ValueError):
    """The opening hours cannot be read; the message says how to write them."""


@dataclass(frozen=True)
class Opening:
    """Hours of one weekday (0 is Monday)."""

    weekday: int
    opens: time
    closes: time


@dataclass(frozen=True)
class DeskHours:
    """The team's weekly opening hours, e.g. ``mon-fri 08:30-17:00; sat 09:00-12:00``."""

    openings: tuple[Opening, ...]

    @classmethod
    def parse(cls, spec: str) -> DeskHours:
        """Reads opening hours; `always` means the desk is always staffed.

        Raises:
            DeskHoursError: when a part cannot be read.
        """
        if spec.strip().lower() in ("always", "24/7"):
            return cls(tuple(Opening(day, time(0, 0), time(23, 59, 59)) for day in range(7)))
        openings: list[Opening] = []
        for part in filter(str.strip, spec.lower().replace(",", ";").split(";")):
            match = _PART.match(part)
            if match is None:
                raise DeskHoursError(
                    f"cannot read {part.strip()!r}: write days and hours like 'mon-fri 08:30-17:00'"
                )
            first, last = (_day(match["first"]), _day(match["last"] or match["first"]))
            opens, closes = _time(match["open"]), _time(match["close"])
            if closes <= opens:
                raise DeskHoursError(f"in {part.strip()!r} the desk closes before it opens")
            days = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
            openings.extend(Opening(day, opens, closes) for day in days)
        if not openings:
            raise DeskHoursError("no opening hours given: write e.g. 'mon-fri 08:30-17:00'")
        return cls(tuple(sorted(openings, key=lambda o: (o.weekday, o.opens))))

    def describe(self, language: str) -> str:
        """The hours in words, for citizens: "Monday to Thursday 9 a.m. to 4:30 p.m., Friday
        9 a.m. to noon" / "du lundi au jeudi de 9 h à 16 h 30, le vendredi de 9 h à 12 h"."""
        french = language == "fr"
        by_day: dict[int, tuple[tuple[time, time], ...]] = {}
        for opening in self.openings:
            by_day[opening.weekday] = (
                *by_day.get(opening.weekday, ()),
                (opening.opens, opening.closes),
            )
        if len(by_day) == 7 and all(
            spans == ((time(0, 0), time(23, 59, 59)),) for spans in by_day.values()
        ):
            return "en tout temps" if french else "at any time"
        runs: list[tuple[int, int, tuple[tuple[time, time], ...]]] = []
        for day in sorted(by_day):
            spans = by_day[day]
            if runs and runs[-1][1] == day - 1 and runs[-1][2] == spans:
                runs[-1] = (runs[-1][0], day, spans)
            else:
                runs.append((day, day, spans))
        names = _DAY_NAMES_FR if french else _DAY_NAMES_EN
        parts = []
        for first, last, spans in runs:
            hours = (" et " if french else " and ").join(
                (
                    f"de {_clock_fr(a)} à {_clock_fr(b)}"
                    if french
                    else f"{_clock_en(a)} to {_clock_en(b)}"
                )
                for a, b in spans
            )
            if first == last:
                days = f"le {names[first]}" if french else names[first]
            elif french:
                days = f"du {names[first]} au {names[last]}"
            else:
                days = f"{names[first]} to {names[last]}"
            parts.append(f"{days} {hours}")
        return ", ".join(parts)


_DAY_NAMES_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NAMES_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def _clock_fr(moment: time) -> str:
    if moment >= time(23, 59):
        return "minuit"
    return f"{moment.hour} h" + (f" {moment.minute:02d}" if moment.minute else "")


def _clock_en(moment: time) -> str:
    if moment >= time(23, 59):
        return "midnight"
    if moment == time(12, 0):
        return "noon"
    hour = moment.hour % 12 or 12
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{hour}{minutes} {'a.m.' if moment.hour < 12 else 'p.m.'}"


def _day(name: str) -> int:
    name = _FRENCH_DAYS.get(name, name)
    if name not in DAYS:
        raise DeskHoursError(f"{name!r} is not a day: use mon, tue, wed, thu, fri, sat, sun")
    return DAYS.index(name)


def _time(value: str) -> time:
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes == 0:
        return time(23, 59, 59)
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise DeskHoursError(f"{value!r} is not a time of day")
    return time(hours, minutes)
