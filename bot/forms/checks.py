"""Checks that need the context, written once and used by forms as data.

Each constructor returns a `Check` (value, answers, context) -> Invalid | None, e.g.

    Field("start", "date", checks=(not_in_past(),))
    Field("months", "count", checks=(at_most(6, reason="extension.too_long"),))
    Field("year", "count", checks=(not_founding_year(),))

Dates arrive as ISO strings (what the "date" kind stores); "today" is the context's, in the
bureau's time zone, never the server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.forms.context import FormContext
from bot.forms.engine import Check
from bot.rules.values import Invalid, add_months


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
