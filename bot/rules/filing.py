"""The annual filing (年度备案, 八; SPEC R10, R11) and what it reports against 五 (R15–R17), as pure
functions of dates, states and figures.

A station active on 31 December of year Y files its year-Y report from 1 January of Y+1 until the
end of the last day of February (Asia/Shanghai), or until the end of an approved extension; a later
filing is still accepted and marked late. States are the values of the "filing" life cycle
(bot/rules/lifecycle.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.rules.lifecycle import filing_due_on

__all__ = [
    "CHECKLIST", "FILED", "SCHOOL_CHECKLIST", "Shortfall", "checklist_items", "figures_owed", "filing_opens_on",
    "filed_on_time", "filing_reason", "filing_reason_words", "filing_shortfalls", "filing_standing", "years_to_file",
]

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


# -- what the filing shows against 五 (R15–R17) --------------------------------------------------

# 五(一) (R17): what every station keeps, asked in each annual filing; the last only of a
# school-enterprise station (校企合作培养高技能人才的长效机制).
CHECKLIST = ("management_rules", "apprenticeship_plan", "cooperation_plan", "apprentice_files", "mentor_rewards")
SCHOOL_CHECKLIST = ("cooperation_mechanism",)
# 五(二) (R15): each year at least this many major technical transformation or tackling projects
# and highly skilled workers trained; 五(三) (R16): teachers co-trained for the partner college and
# in-station learners (≥1 year in the station) who left qualified.
MIN_MAJOR_PROJECTS = 1
MIN_SKILLED_TRAINED = 10
MIN_TEACHERS_CO_TRAINED = 2
MIN_LEARNERS_QUALIFIED = 5
# 五(二), 五(三): "设立两年后，每年应…". The filings for the founding year (part of a year) and
# for the next one are the station's two years of building up; the filing for the year in which
# its second anniversary falls (recognised_on.year + 2) is the first that reports a year "after
# two years", so from that year on the figures are owed. A whole-year reading (from recognised_on.year
# + 3 unless recognised on 1 January) would leave a station recognised in January three filings
# without a figure owed, which the policy's "每年" does not suggest.
YEARS_BEFORE_FIGURES = 2


@dataclass(frozen=True)
class Shortfall:
    """One requirement of 五 the year's filing does not meet: the rule (R15–R17), the clause of
    the policy, the item (a figure or a checklist entry), and for a figure what was required and
    what was reported."""

    rule: str
    clause: str
    item: str
    required: int | None = None
    reported: int | None = None


def figures_owed(year: int, recognised_on: date | None) -> bool:
    """Whether 五(二) and 五(三) apply to the filing for `year` (see YEARS_BEFORE_FIGURES); a station
    without a recorded recognition date is taken as recognised long before."""
    return recognised_on is None or year >= recognised_on.year + YEARS_BEFORE_FIGURES


def checklist_items(school_enterprise: bool) -> tuple[str, ...]:
    """The 五(一) items a station's filing asks for."""
    return CHECKLIST + (SCHOOL_CHECKLIST if school_enterprise else ())


def filing_shortfalls(
    *,
    year: int,
    recognised_on: date | None,
    school_enterprise: bool,
    major_projects: int,
    skilled_trained: int,
    teachers_co_trained: int | None = None,
    learners_qualified: int | None = None,
    checklist: Mapping[str, bool],
) -> list[Shortfall]:
    """What the filing for `year` falls short of in 五 (R15–R17), in the policy's order: R17 from
    the first year (a checklist item answered no, or not answered, is a shortfall), R15 and, for a
    school-enterprise station, R16 from the year its figures are owed. Empty: all met."""
    shortfalls = [Shortfall("R17", "五(一)", item) for item in checklist_items(school_enterprise) if not checklist.get(item)]
    if not figures_owed(year, recognised_on):
        return shortfalls
    figures = [("R15", "五(二)", "major_projects", MIN_MAJOR_PROJECTS, major_projects),
               ("R15", "五(二)", "skilled_trained", MIN_SKILLED_TRAINED, skilled_trained)]
    if school_enterprise:
        figures += [("R16", "五(三)", "teachers_co_trained", MIN_TEACHERS_CO_TRAINED, teachers_co_trained or 0),
                    ("R16", "五(三)", "learners_qualified", MIN_LEARNERS_QUALIFIED, learners_qualified or 0)]
    shortfalls += [Shortfall(rule, clause, item, required, reported)
                   for rule, clause, item, required, reported in figures if reported < required]
    return shortfalls


def filed_on_time(state: str | None, deadline: date, today: date) -> bool:
    """Whether a filing made on `today` (the bureau's date) meets an obligation in `state` (None:
    not yet written) on time: up to its last day, and only while it is due or extended (an
    obligation already overdue is met late), as storage decides it on submit."""
    return state in (None, "not_due", "due", "extended") and today <= deadline


# The reason the bot records when it moves a station because of a filing (audit rows keep the
# code; a contact's notice says it in words). Written and read here only.
_REASON = re.compile(r"filing:(\d{4})(?: overdue since (\d{4}-\d{2}-\d{2}))?")


def filing_reason(year: int, overdue_since: date | None = None) -> str:
    """The code of a move caused by the filing for `year` (it arrived, or it is overdue), or by
    its being overdue since `overdue_since` (R12's six months)."""
    return f"filing:{year}" + (f" overdue since {overdue_since.isoformat()}" if overdue_since else "")


def filing_reason_words(reason: str) -> dict[str, Any] | None:
    """The text key and params that say a `filing_reason` code in words; None for any other reason."""
    found = _REASON.fullmatch(reason.strip())
    if found is None:
        return None
    year, since = found.groups()
    if since:
        return {"reason_key": "status_change.reason.filing_overdue_since", "year": year, "since": since}
    return {"reason_key": "status_change.reason.filing", "year": year}
