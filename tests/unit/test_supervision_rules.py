"""R12 (九): a station becomes a revocation candidate the day after it is 6 months past its filing due date."""

from __future__ import annotations

from datetime import date

import pytest

from bot.rules.lifecycle import filing_due_on
from bot.rules.supervision import REVOCATION_GROUNDS, add_months, candidate_from, effective_due_on, is_revocation_candidate


def test_exactly_six_months_is_not_yet_a_candidate_one_day_more_is() -> None:
    due = filing_due_on(2026)  # 2027-02-28
    assert due == date(2027, 2, 28)
    assert not is_revocation_candidate(due, date(2027, 8, 28))
    assert is_revocation_candidate(due, date(2027, 8, 29))
    assert candidate_from(due) == date(2027, 8, 29)


def test_an_approved_extension_moves_the_boundary() -> None:
    due, extended = date(2027, 2, 28), date(2027, 6, 30)
    assert is_revocation_candidate(due, date(2027, 9, 1))
    assert not is_revocation_candidate(due, date(2027, 9, 1), extended)
    assert not is_revocation_candidate(due, date(2027, 12, 30), extended)
    assert is_revocation_candidate(due, date(2027, 12, 31), extended)
    # an "extension" to an earlier day moves nothing
    assert effective_due_on(due, date(2027, 1, 1)) == due


def test_a_filed_obligation_is_never_a_candidate() -> None:
    assert not is_revocation_candidate(date(2027, 2, 28), date(2030, 1, 1), filed=True)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 2, 28), 6, date(2027, 8, 28)),
        (date(2027, 12, 15), 1, date(2028, 1, 15)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
    ],
)
def test_add_months_keeps_month_ends(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_the_grounds_of_clause_nine() -> None:
    assert REVOCATION_GROUNDS == ("no_filing", "duties", "fraud", "unlawful", "cannot_operate")
