"""九 as pure rules: when a station that has not filed becomes a candidate for revocation (R12),
and the grounds on which the bureau revokes (R12, R13).

无正当理由不参加年度备案逾期6个月以上: the filing for a year is due at the end of February of the
next year (R10), or at the end of an approved extension (R11). "More than 6 months" past that day:
on the day exactly 6 calendar months later the station is not yet a candidate; the day after, it is.
A month end is kept (31 August + 6 months = 28/29 February).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

__all__ = [
    "GRACE_MONTHS",
    "REVOCATION_GROUNDS",
    "add_months",
    "candidate_from",
    "effective_due_on",
    "is_revocation_candidate",
]

GRACE_MONTHS = 6
_ONE_DAY = timedelta(days=1)

# 九: the grounds of a revocation, in the order staff are offered them.
#   no_filing        无正当理由不参加年度备案逾期6个月以上 (R12)
#   duties           核查发现未能履行职责 (R13)
#   fraud            核查发现弄虚作假 (R13)
#   unlawful         存在违法违规情形
#   cannot_operate   无法正常经营等不适合继续承担人才培训载体功能
REVOCATION_GROUNDS = ("no_filing", "duties", "fraud", "unlawful", "cannot_operate")


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def effective_due_on(due_on: date, extended_due_on: date | None = None) -> date:
    """The day the filing is due: the approved extension's date when there is one (R11)."""
    if extended_due_on is not None and extended_due_on > due_on:
        return extended_due_on
    return due_on


def candidate_from(due_on: date, extended_due_on: date | None = None) -> date:
    """The first day on which an unfiled filing makes its station a revocation candidate."""
    return add_months(effective_due_on(due_on, extended_due_on), GRACE_MONTHS) + _ONE_DAY


def is_revocation_candidate(due_on: date, today: date, extended_due_on: date | None = None, *, filed: bool = False) -> bool:
    """R12: not filed, and today more than 6 months past the (extended) due date."""
    return not filed and today >= candidate_from(due_on, extended_due_on)

