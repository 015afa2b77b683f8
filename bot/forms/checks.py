"""Checks that need the context, written once and used by forms as data.

Each constructor returns a `Check` (value, answers, context) -> Invalid | None, e.g.

    Field("start", "date", checks=(not_in_past(),))
    Field("months", "count", checks=(at_most(6, reason="extension.too_long"),))
    Field("year", "count", checks=(not_founding_year(),))
    Field("head_id_number", "resident_id", checks=(of_working_age(),))

Dates arrive as ISO strings (what the "date" kind stores); "today" is the context's, in the
bureau's time zone, never the server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from stdnum.exceptions import ValidationError

from bot.forms.context import FormContext
from bot.forms.engine import Check
from bot.rules.identifiers import birth_date
from bot.rules.values import Invalid, add_months, age_on

# Dates a person may mean in these forms; a year outside is a typo (2206, 1926), not a plan.
PLAUSIBLE_FROM = date(1990, 1, 1)
PLAUSIBLE_TO = date(2099, 12, 31)
# 《劳动法》第十五条: no employer may take on anyone under 16.
WORKING_AGE = 16


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def not_in_past() -> Check:
    """A date from today on."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        return Invalid("date.too_early", {"not_before": context.today}) if _as_date(value) < context.today else None

    return check


def not_in_future() -> Check:
    """A date up to today."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        return Invalid("date.too_late", {"not_after": context.today}) if _as_date(value) > context.today else None

    return check


def within_months_of_today(months: int) -> Check:
    """A date no later than today plus `months` months (R11: an extension of at most 6 months)."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        limit = add_months(context.today, months)
        return Invalid("date.too_late", {"not_after": limit}) if _as_date(value) > limit else None

    return check


def at_most(maximum: int, reason: str = "count.too_large") -> Check:
    """A number no greater than `maximum` (R11: at most 6 months)."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        return Invalid(reason, {"maximum": maximum}) if int(value) > maximum else None

    return check


def not_founding_year() -> Check:
    """七(一), R7: a station recognised in year Y may not apply for a key project of year Y."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        station = context.station
        if station is not None and station.recognised_on is not None and int(value) == station.recognised_on.year:
            return Invalid("key_project.founding_year", {"year": station.recognised_on.year})
        return None

    return check


def once_per_year(kind: str, reason: str) -> Check:
    """At most one submission of `kind` per year for the station (R7: one key project a year)."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        taken = {h.year for h in context.history_of(kind) if h.status not in ("draft", "rejected", "refused", "withdrawn")}
        return Invalid(reason, {"year": int(value)}) if int(value) in taken else None

    return check


def plausible_date(not_before: date = PLAUSIBLE_FROM, not_after: date = PLAUSIBLE_TO) -> Check:
    """A date within [not_before, not_after] (by default 1990-2099): no other century."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        day = _as_date(value)
        if not not_before <= day <= not_after:
            return Invalid("date.out_of_range", {"not_before": not_before, "not_after": not_after})
        return None

    return check


def of_working_age(minimum: int = WORKING_AGE) -> Check:
    """An ID number (the parsed, unsealed value) whose holder is at least `minimum` years old today:
    a station head or a mentor works for the unit."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        try:
            born = birth_date(str(value))
        except ValidationError:
            return Invalid("ric.birth_date")  # the parser refuses these first; kept for safety
        if age_on(born, context.today) < minimum:
            return Invalid("ric.too_young", {"born": born, "minimum_age": minimum})
        return None

    return check


def more_than_zero(reason: str) -> Check:
    """An amount or a count above zero (the kinds already refuse negatives)."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        return Invalid(reason) if Decimal(str(value)) <= 0 else None

    return check
