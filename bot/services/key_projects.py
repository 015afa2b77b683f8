"""The bureau's key-project acts (R7–R9), without Telegram: the application window of a year,
grading an application (R8's caps are kept by the database: a refused grade comes back with the
counts), and recording the funding paid at the level's amount (R9).

Refusals come back as codes, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from bot.rules.decisions import funding_for
from bot.rules.lifecycle import Actor
from storage import funding as funding_store
from storage import windows
from storage.key_projects import MAX_PER_YEAR, grade_counts
from storage.models import KEY_PROJECT_SLOTS_PER_LEVEL, Submission, SubmissionKind
from storage.transitions import TransitionRefused, apply_transition

__all__ = ["GradeOutcome", "MAX_PER_YEAR", "PaymentOutcome", "WindowOutcome", "close_window", "grade", "open_window",
           "record_payment", "PER_LEVEL"]

PER_LEVEL = KEY_PROJECT_SLOTS_PER_LEVEL
GRADE_ACTION = "grade"


@dataclass(frozen=True)
class WindowOutcome:
    ok: bool
    year: int
    code: str | None = None  # already_open | not_open | bad_dates
    opens_on: date | None = None
    closes_on: date | None = None
    notified: int = 0


async def open_window(year: int, opens_on: date, closes_on: date, *, staff_id: int, now: datetime) -> WindowOutcome:
    try:
        window, told = await windows.open_window(year, opens_on, closes_on, staff_id=staff_id, now=now)
    except windows.WindowRefused as refused:
        found = refused.window
        return WindowOutcome(False, year, refused.code, found.opens_on if found else None, found.closes_on if found else None)
    return WindowOutcome(True, year, None, window.opens_on, window.closes_on, len(told))


async def close_window(year: int, *, staff_id: int, now: datetime) -> WindowOutcome:
    try:
        window = await windows.close_window(year, staff_id=staff_id, now=now)
    except windows.WindowRefused as refused:
        return WindowOutcome(False, year, refused.code)
    return WindowOutcome(True, year, None, window.opens_on, window.closes_on)


async def accepts_applications(year: int, today: date) -> bool:
    """For the key-project form: may a station declare for `year` on `today` (the window is open)?"""
    return await windows.is_open(year, today)


@dataclass(frozen=True)
class GradeOutcome:
    ok: bool
    reference: str = ""
    status: str = ""
    code: str | None = None  # a TransitionRefused code: cap_reached, stale, not_allowed ...
    year: int | None = None
    level: int | None = None
    counts: dict[int, int] = field(default_factory=dict)  # places taken per level, after the act or when refused
    notified: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def grade(submission_id: int, level: int, *, staff_id: int, expected_state: str, now: datetime) -> GradeOutcome:
    """七(二): grade the application at `level` (1..3). The place is taken in the same transaction
    as the state (storage.key_projects): past a cap the grade is refused with the counts."""
    row = await Submission.filter(id=submission_id, kind=SubmissionKind.KEY_PROJECT).values("reference", "year")
    if not row:
        return GradeOutcome(False, code="unknown")
    reference, year = row[0]["reference"] or f"#{submission_id}", row[0]["year"]
    if level not in (1, 2, 3) or year is None:
        return GradeOutcome(False, reference, code="not_allowed", year=year)
    try:
        result = await apply_transition(
            "submission", submission_id, GRADE_ACTION, actor_id=staff_id, actor=Actor.STAFF, now=now,
            changes={"level": level, "decided_at": now}, expected_state=expected_state,
        )
    except TransitionRefused as refused:
        counts = refused.details.get("counts") or await grade_counts(year)
        return GradeOutcome(False, reference, refused.current or "", refused.code, year, level, dict(counts))
    return GradeOutcome(True, reference, result.to_state, None, year, level, await grade_counts(year), len(result.notified))


@dataclass(frozen=True)
class PaymentOutcome:
    ok: bool
    reference: str = ""
    code: str | None = None  # unknown | not_funded | already_paid
    status: str = ""
    level: int | None = None
    amount: Decimal | None = None
    paid_on: date | None = None
    notified: int = 0


async def record_payment(submission_id: int, *, staff_id: int, today: date, now: datetime) -> PaymentOutcome:
    """七(四), R9: the funding of the project's level was paid today."""
    found = await Submission.filter(id=submission_id).values_list("reference", flat=True)
    reference = (found[0] if found else None) or f"#{submission_id}"
    try:
        row, told = await funding_store.record_payment(submission_id, staff_id=staff_id, paid_on=today, now=now)
    except funding_store.FundingRefused as refused:
        existing = await funding_store.funding_of(submission_id)
        return PaymentOutcome(False, reference, refused.code, refused.status,
                              existing.level if existing else None, existing.amount if existing else None,
                              existing.paid_on if existing else None)
    return PaymentOutcome(True, reference, None, "funded", row.level, row.amount, row.paid_on, len(told))


def amount_for(level: int) -> Decimal:
    return funding_for(level)
