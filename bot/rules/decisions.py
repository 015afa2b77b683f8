"""The policy behind the bureau's decisions on key projects, extensions and deregistrations, as
pure functions (SPEC §3: R7, R9, R11).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = [
    "ApplicationWindow",
    "FUNDING_CNY",
    "MAX_EXTENSION_MONTHS",
    "NORMAL_EXTENSION_MONTHS",
    "extended_due_on",
    "extension_needs_reason",
    "funding_for",
    "may_declare_key_project",
]

# 七(四), R9: the funding of a key project follows its level.
FUNDING_CNY: dict[int, Decimal] = {1: Decimal("300000.00"), 2: Decimal("250000.00"), 3: Decimal("200000.00")}

# 八, R11: an extension is normally at most 6 months; longer only with a recorded reason. Twelve is
# the most the bot offers at all (a year's filing postponed past the next one makes no sense).
NORMAL_EXTENSION_MONTHS = 6
MAX_EXTENSION_MONTHS = 12


def funding_for(level: int) -> Decimal:
    """R9: 一级 300,000, 二级 250,000, 三级 200,000 CNY."""
    try:
        return FUNDING_CNY[int(level)]
    except (KeyError, ValueError):
        raise ValueError(f"no key project level {level!r}") from None


@dataclass(frozen=True)
class ApplicationWindow:
    """The key-project application window of a year (七(一)), as staff set it: the form asks whether
    it is open, the scheduler when it closes."""

    year: int
    opens_on: date
    closes_on: date
    closed: bool = False  # closed by staff before its last day

    def is_open(self, today: date) -> bool:
        return not self.closed and self.opens_on <= today <= self.closes_on


def may_declare_key_project(recognised_on: date | None, year: int) -> bool:
    """R7: a station recognised in year Y cannot declare a key project for Y (one without a
    recorded recognition date, e.g. imported, is taken as recognised before)."""
    return recognised_on is None or recognised_on.year < year


def extended_due_on(due_on: date, months: int) -> date:
    """R11: the filing is due at the end of the approved extension, `months` after `due_on`. A due
    date at the end of its month (the end of February, R10) moves to the end of the later month."""
    if months < 1:
        raise ValueError("an extension is at least one month")
    month_index = due_on.year * 12 + due_on.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    at_month_end = due_on.day == calendar.monthrange(due_on.year, due_on.month)[1]
    return date(year, month, last if at_month_end else min(due_on.day, last))


def extension_needs_reason(months: int, requested: int | None) -> bool:
    """R11: more than the normal six months, or less than the station asked for (shortened), is
    decided with a reason the station reads."""
    return months > NORMAL_EXTENSION_MONTHS or (requested is not None and months < requested)
