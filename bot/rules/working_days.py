"""How long a 公示 runs (R19): 5 working days by default, calendar days by configuration.

Shenzhen counts 公示5个工作日: public holidays are skipped, the weekend days worked instead of a
holiday (调休, make-up working days) are counted. The official arrangement of each year comes from
the `chinese_calendar` package; for a year it does not know yet (it raises NotImplementedError),
staff enter that year's arrangement in the bot (`Arrangement`), and until they do only weekends
are skipped and the result says which years were assumed (`Window.assumed_years`).

The start day counts as the first day when it is a working day; otherwise the count starts on the
next working day. The window ends at the end of its last day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

__all__ = [
    "ANNOUNCEMENT_DAYS",
    "Arrangement",
    "ArrangementError",
    "Window",
    "announcement_window",
    "is_working_day",
    "library_knows",
    "parse_arrangement",
]

ANNOUNCEMENT_DAYS = 5  # 六(三), 七(三): 公示5日


@dataclass(frozen=True)
class Arrangement:
    """Holidays and make-up working days entered by staff, for the years in `years`."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()

    @classmethod
    def of(cls, holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> Arrangement:
        h, w = frozenset(holidays), frozenset(workdays)
        return cls(h, w, frozenset(d.year for d in h | w))


@dataclass(frozen=True)
class Window:
    starts_on: date
    ends_on: date
    working_days: bool  # False: calendar days
    # years counted by weekends only: neither the library nor staff know their holidays
    assumed_years: tuple[int, ...] = field(default=())


def library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date, arrangement: Arrangement = Arrangement()) -> tuple[bool, bool]:
    """(is it a working day, was it assumed from the weekday alone)."""
    if day in arrangement.holidays:
        return False, False
    if day in arrangement.workdays:
        return True, False
    if day.year in arrangement.years:
        return day.weekday() < 5, False
    try:
        return bool(chinese_calendar.is_workday(day)), False
    except NotImplementedError:
        return day.weekday() < 5, True


def announcement_window(
    starts_on: date,
    *,
    days: int = ANNOUNCEMENT_DAYS,
    working_days: bool = True,
    arrangement: Arrangement = Arrangement(),
) -> Window:
    """The last day of a 公示 starting on `starts_on` (R19)."""
    if days < 1:
        raise ValueError("an announcement lasts at least one day")
    if not working_days:
        return Window(starts_on, starts_on + timedelta(days=days - 1), False)
    assumed: set[int] = set()
    day, counted = starts_on, 0
    while True:
        working, guessed = is_working_day(day, arrangement)
        if guessed:
            assumed.add(day.year)
        if working:
            counted += 1
            if counted == days:
                return Window(starts_on, day, True, tuple(sorted(assumed)))
        day += timedelta(days=1)


class ArrangementError(ValueError):
    """Text that is no holiday arrangement; `code` names what is wrong, `detail` the culprit."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


_HOLIDAY_WORDS = ("休", "假", "holiday", "holidays", "off")
_WORKDAY_WORDS = ("班", "补班", "workday", "workdays", "work")
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_TOKEN = re.compile(rf"({_DATE})(?:\s*(?:~|～|\.\.|至|to)\s*({_DATE}))?")


def _date(text: str) -> date:
    try:
        y, m, d = (int(p) for p in text.split("-"))
        return date(y, m, d)
    except ValueError:
        raise ArrangementError("bad_date", text) from None


def parse_arrangement(year: int, text: str) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days) of `year` from lines such as

        休 2027-01-01, 2027-02-06~2027-02-12
        班 2027-02-14 2027-02-20

    A line starts with 休/假/holiday(s)/off or 班/补班/workday(s)/work, then dates (YYYY-MM-DD) and
    ranges (A~B, A..B, A至B). Every date must fall in `year`; a make-up working day must be a
    Saturday or Sunday; no date may be both.
    """
    holidays: set[date] = set()
    workdays: set[date] = set()
    for raw in text.replace("；", "\n").replace(";", "\n").splitlines():
        line = raw.strip().replace("：", " ").replace(":", " ")
        if not line:
            continue
        word, _, rest = line.partition(" ")
        word = word.lower()
        if word in _HOLIDAY_WORDS:
            target = holidays
        elif word in _WORKDAY_WORDS:
            target = workdays
        else:
            raise ArrangementError("bad_line", raw.strip())
        leftover = _TOKEN.sub("", rest).replace(",", " ").replace("，", " ").replace("、", " ").strip()
        if leftover:
            raise ArrangementError("bad_date", leftover.split()[0])
        for first, last in _TOKEN.findall(rest):
            start = _date(first)
            end = _date(last) if last else start
            if end < start:
                raise ArrangementError("bad_range", f"{first}~{last}")
            while start <= end:
                target.add(start)
                start += timedelta(days=1)
    if not holidays and not workdays:
        raise ArrangementError("empty")
    for day in sorted(holidays | workdays):
        if day.year != year:
            raise ArrangementError("wrong_year", day.isoformat())
    both = holidays & workdays
    if both:
        raise ArrangementError("both", min(both).isoformat())
    for day in sorted(workdays):
        if day.weekday() < 5:
            raise ArrangementError("weekday_workday", day.isoformat())
    return frozenset(holidays), frozenset(workdays)
