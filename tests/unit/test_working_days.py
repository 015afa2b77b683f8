"""R19: the 公示 window in working days (chinese_calendar), its fallback and staff-entered years."""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from bot.rules.working_days import (
    Arrangement,
    ArrangementError,
    announcement_window,
    is_working_day,
    library_knows,
    parse_arrangement,
)


def test_the_library_knows_the_spring_festival_of_2026() -> None:
    # 春节 2026: off 15–23 February, make-up working days on Saturday 14 and Saturday 28 February
    assert chinese_calendar.is_workday(date(2026, 2, 14)) and chinese_calendar.is_workday(date(2026, 2, 28))
    assert not any(chinese_calendar.is_workday(date(2026, 2, d)) for d in range(15, 24))
    assert chinese_calendar.is_workday(date(2026, 2, 24))


def test_five_working_days_across_the_spring_festival_of_2026() -> None:
    # Thu 12, Fri 13, Sat 14 (make-up), then the holiday, Tue 24, Wed 25
    window = announcement_window(date(2026, 2, 12))
    assert window.ends_on == date(2026, 2, 25)
    assert window.working_days and window.assumed_years == ()


def test_calendar_days_by_configuration() -> None:
    window = announcement_window(date(2026, 2, 12), working_days=False)
    assert window.ends_on == date(2026, 2, 16) and not window.working_days


def test_a_start_on_a_holiday_counts_from_the_next_working_day() -> None:
    # Sun 15 Feb 2026 is in the holiday: Tue 24 … Sat 28 (make-up) are the five days
    assert announcement_window(date(2026, 2, 15)).ends_on == date(2026, 2, 28)
    # an ordinary week: Monday to Friday
    assert announcement_window(date(2026, 3, 2)).ends_on == date(2026, 3, 6)


def test_a_year_the_library_does_not_know_counts_weekends_only_and_says_so() -> None:
    assert library_knows(2026) and not library_knows(2027)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 1))
    # Wed 30 Dec 2026, Thu 31, Fri 1 Jan 2027 (counted: nobody knows it is New Year's Day), Mon 4, Tue 5
    window = announcement_window(date(2026, 12, 30))
    assert window.ends_on == date(2027, 1, 5)
    assert window.assumed_years == (2027,)


def test_a_staff_entered_arrangement_for_that_year_is_used() -> None:
    holidays, workdays = parse_arrangement(2027, "休 2027-01-01~2027-01-03")
    window = announcement_window(date(2026, 12, 30), arrangement=Arrangement.of(holidays, workdays))
    assert window.ends_on == date(2027, 1, 6)  # 30, 31 Dec, Mon 4, Tue 5, Wed 6 Jan
    assert window.assumed_years == ()


def test_make_up_working_days_entered_by_staff_are_counted() -> None:
    holidays, workdays = parse_arrangement(2027, "休 2027-02-08..2027-02-12\n班 2027-02-06；班 2027-02-20")
    arrangement = Arrangement.of(holidays, workdays)
    assert is_working_day(date(2027, 2, 6), arrangement) == (True, False)  # a Saturday worked
    assert is_working_day(date(2027, 2, 7), arrangement) == (False, False)  # an ordinary Sunday, known year
    assert is_working_day(date(2027, 2, 9), arrangement) == (False, False)
    # Thu 4, Fri 5, Sat 6 (make-up), holiday 8–12, Mon 15, Tue 16
    assert announcement_window(date(2027, 2, 4), arrangement=arrangement).ends_on == date(2027, 2, 16)


def test_what_staff_type_is_checked() -> None:
    for text, code in [
        ("", "empty"),
        ("maybe 2027-01-01", "bad_line"),
        ("休 2027-13-01", "bad_date"),
        ("休 soon", "bad_date"),
        ("休 2028-01-01", "wrong_year"),
        ("休 2027-01-05~2027-01-01", "bad_range"),
        ("休 2027-01-02\n班 2027-01-02", "both"),
        ("班 2027-01-04", "weekday_workday"),  # a Monday is a working day anyway
    ]:
        with pytest.raises(ArrangementError) as error:
            parse_arrangement(2027, text)
        assert error.value.code == code, text
    holidays, workdays = parse_arrangement(2027, "holidays: 2027-10-01 to 2027-10-07\nworkdays: 2027-09-26, 2027-10-09")
    assert len(holidays) == 7 and workdays == {date(2027, 9, 26), date(2027, 10, 9)}
