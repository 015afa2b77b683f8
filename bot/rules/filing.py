"""The annual filing (年度备案, 八; SPEC R10, R11) as pure functions of dates and states.

A station active on 31 December of year Y files its year-Y report from 1 January of Y+1 until the
end of the last day of February (Asia/Shanghai), or until the end of an approved extension; a later
filing is still accepted and marked late. States are the values of the "filing" life cycle
(bot/rules/lifecycle.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from bot.rules.lifecycle import filing_due_on

__all__ = ["FILED", "filing_opens_on", "filing_standing", "years_to_file"]

FILED = frozenset({"filed_on_time", "filed_late"})


def filing_opens_on(year: int) -> date:
    """The first day on which the filing for `year` may be made: 1 January of year+1."""
    return date(year + 1, 1, 1)


def years_to_file(recognised_on: date | None, today: date, obligations: Mapping[int, str]) -> list[int]:
    """The years the station owes a filing for and has not filed, whose window has opened, oldest
    first. `obligations` maps a year to its obligation's state, as written so far (by the scheduler,
    an extension or a filing). Last year is owed even when not yet written, by a station
    recognised before its end (one without a recorded recognition date is taken as such); earlier
    years only where an obligation was written: the bot does not reach back before it came."""
    years = {year for year, state in obligations.items() if state not in FILED and filing_opens_on(year) <= today}
    last = today.year - 1
    if (recognised_on is None or recognised_on.year <= last) and obligations.get(last) not in FILED:
        years.add(last)
    return sorted(years)


def filing_standing(year: int, state: str | None, deadline: date | None, today: date) -> str:
    """Where the filing for `year` stands on `today`: filed_on_time, filed_late, overdue, extended,
    due, or not_due; `deadline` is the end of the approved extension or of February (None: R10's)."""
    if state in FILED:
        return str(state)
    if today < filing_opens_on(year):
        return "not_due"
    if today > (deadline or filing_due_on(year)):
        return "overdue"
    return "extended" if state == "extended" else "due"
