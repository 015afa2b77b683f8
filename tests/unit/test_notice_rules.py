"""bot/rules/notices.py: which scheduled notices are due, travelling through whole years.

Times are given in UTC (the server's zone) and read in Asia/Shanghai (UTC+8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.rules.decisions import ApplicationWindow
from bot.rules.notices import (
    AnnouncementFacts,
    NoticeRules,
    ObligationFacts,
    StationFacts,
    add_months,
    announcement_notices,
    due_filing_notices,
    filing_moves,
    obligations_to_create,
    quiet_adjusted,
    station_moves,
    window_notices,
)

RULES = NoticeRules()
STATION = StationFacts(1, "active", date(2025, 5, 1), "模具站")
STATIONS = {1: STATION}


def sh(y: int, m: int, d: int, hh: int = 9, mm: int = 0, ss: int = 0) -> datetime:
    """A Shanghai wall-clock time, as the UTC instant the server sees."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC) - timedelta(hours=8)


def keys(now: datetime, o: ObligationFacts, station: StationFacts = STATION) -> set[tuple[str, str]]:
    return {(n.kind, n.period) for n in due_filing_notices(now, [o], {station.id: station}, RULES)}


def travel(o: ObligationFacts, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)) -> dict:
    """Tick hourly from start to end: each key once, with when it first became due."""
    first: dict[tuple[str, str], datetime] = {}
    now = start
    while now <= end:
        for n in due_filing_notices(now, [o], STATIONS, RULES):
            first.setdefault((n.kind, n.period), n.due_at)
        now += step
    return first


def test_a_leap_year_is_travelled_with_every_filing_notice_once_at_its_moment() -> None:
    o = ObligationFacts(1, 1, 2027, "due", date(2028, 2, 29))
    seen = travel(o, sh(2028, 1, 1, 0), sh(2028, 10, 1, 0))
    at9 = lambda y, m, d: sh(y, m, d)  # noqa: E731
    assert seen == {
        ("filing_window_open", "2027"): at9(2028, 1, 2),
        ("filing_reminder", "2027:feb01"): at9(2028, 2, 1),
        ("filing_reminder", "2027:feb15"): at9(2028, 2, 15),
        ("filing_reminder", "2027:d7"): at9(2028, 2, 22),
        ("filing_reminder", "2027:d1"): at9(2028, 2, 28),
        ("filing_overdue", "2027:m1"): at9(2028, 3, 1),
        ("filing_overdue", "2027:m2"): at9(2028, 4, 1),
        ("filing_overdue", "2027:m3"): at9(2028, 5, 1),
        ("filing_overdue", "2027:m4"): at9(2028, 6, 1),
        ("filing_overdue", "2027:m5"): at9(2028, 7, 1),
        ("revocation_warning", "2027"): at9(2028, 8, 1),  # 5 months: replaces that month's notice
        ("filing_overdue", "2027:m7"): at9(2028, 9, 1),
        ("revocation_candidate", "2027"): at9(2028, 9, 1),
    }


def test_the_deadline_is_the_end_of_the_last_day_of_february_in_shanghai() -> None:
    o = ObligationFacts(1, 1, 2027, "due", date(2028, 2, 29))
    last_second = sh(2028, 2, 29, 23, 59, 59)  # 15:59:59 UTC
    assert last_second == datetime(2028, 2, 29, 15, 59, 59, tzinfo=UTC)
    assert keys(last_second, o) == {("filing_reminder", "2027:d1")}
    assert filing_moves(last_second.astimezone(RULES.tz).date(), [o]) == []
    midnight = sh(2028, 3, 1, 0)  # still 29 February in UTC
    assert midnight.date() == date(2028, 2, 29)
    assert keys(midnight, o) == set()  # no reminder after the deadline; the overdue notice waits for 09:00
    assert [m.action for m in filing_moves(midnight.astimezone(RULES.tz).date(), [o])] == ["mark_overdue"]
    assert keys(sh(2028, 3, 1, 9), o) == {("filing_overdue", "2027:m1")}


def test_a_common_year_ends_on_28_february() -> None:
    o = ObligationFacts(1, 1, 2026, "due", date(2027, 2, 28))
    assert keys(sh(2027, 2, 28, 23, 59, 59), o) == {("filing_reminder", "2026:d1")}
    assert keys(sh(2027, 3, 1, 9), o) == {("filing_overdue", "2026:m1")}


def test_catch_up_queues_only_the_latest_still_useful_notice() -> None:
    o = ObligationFacts(1, 1, 2026, "due", date(2027, 2, 28))
    # down from 1 January to 23 February: one reminder, not the window notice and three reminders
    assert keys(sh(2027, 2, 23, 10), o) == {("filing_reminder", "2026:d7")}
    # down over the deadline: the reminder is not sent late, the overdue notice is
    assert keys(sh(2027, 3, 3, 10), o) == {("filing_overdue", "2026:m1")}
    # down for half a year: the warning is past its use, the candidate and the latest overdue notice are not
    assert keys(sh(2027, 9, 20), o) == {("filing_overdue", "2026:m7"), ("revocation_candidate", "2026")}


def test_a_filed_obligation_or_a_station_without_a_plaque_hears_nothing() -> None:
    for state in ("filed_on_time", "filed_late"):
        assert keys(sh(2027, 2, 15), ObligationFacts(1, 1, 2026, state, date(2027, 2, 28))) == set()
    revoked = StationFacts(1, "revoked", date(2025, 5, 1))
    assert keys(sh(2027, 2, 15), ObligationFacts(1, 1, 2026, "due", date(2027, 2, 28)), revoked) == set()


def test_an_extended_due_date_has_its_own_series_and_the_expiry_notices() -> None:
    o = ObligationFacts(1, 1, 2026, "extended", date(2027, 2, 28), date(2027, 8, 31))
    seen = travel(o, sh(2027, 1, 1, 0), sh(2027, 10, 2, 0))
    assert set(seen) == {
        ("filing_window_open", "2026"),
        ("extension_expiry", "2026:d14:2027-08-31"),
        ("extension_expiry", "2026:d3:2027-08-31"),
        ("filing_reminder", "2026:d7:2027-08-31"),
        ("filing_reminder", "2026:d1:2027-08-31"),
        ("filing_overdue", "2026:m1:2027-08-31"),
        ("filing_overdue", "2026:m2:2027-08-31"),
    }
    assert seen[("extension_expiry", "2026:d14:2027-08-31")] == sh(2027, 8, 17)
    assert seen[("extension_expiry", "2026:d3:2027-08-31")] == sh(2027, 8, 28)
    assert seen[("filing_overdue", "2026:m1:2027-08-31")] == sh(2027, 9, 1)
    # no February reminders for a deadline in August, and nothing overdue on 1 March
    assert keys(sh(2027, 3, 1, 12), o) == {("filing_window_open", "2026")}


def test_quiet_hours_move_a_notice_to_eight_in_the_morning() -> None:
    assert quiet_adjusted(sh(2027, 2, 1, 21, 0), RULES) == sh(2027, 2, 2, 8)
    assert quiet_adjusted(sh(2027, 2, 1, 7, 59), RULES) == sh(2027, 2, 1, 8)
    assert quiet_adjusted(sh(2027, 2, 1, 20, 59), RULES) == sh(2027, 2, 1, 20, 59)
    late = NoticeRules(notice_hour=22)
    o = ObligationFacts(1, 1, 2026, "due", date(2027, 2, 28))
    [n] = due_filing_notices(sh(2027, 2, 1, 22, 30), [o], STATIONS, late)
    assert (n.period, n.due_at) == ("2026:feb01", sh(2027, 2, 2, 8))
    # a catch-up at night (down since the morning) waits for the morning too
    [n] = due_filing_notices(sh(2027, 2, 1, 23, 0), [o], STATIONS, RULES)
    assert n.due_at == sh(2027, 2, 2, 8)
    [n] = due_filing_notices(sh(2027, 2, 1, 15, 0), [o], STATIONS, RULES)
    assert n.due_at == sh(2027, 2, 1, 9)


def test_five_and_six_months_go_to_the_right_people() -> None:
    o = ObligationFacts(1, 1, 2026, "overdue", date(2027, 2, 28))
    by_kind = {n.kind: n for n in due_filing_notices(sh(2027, 8, 1), [o], STATIONS, RULES)}
    assert set(by_kind) == {"revocation_warning"}
    assert by_kind["revocation_warning"].station_ids == (1,) and by_kind["revocation_warning"].to_staff
    assert by_kind["revocation_warning"].params["revocation_on"] == "2027-09-01"
    by_kind = {n.kind: n for n in due_filing_notices(sh(2027, 9, 1), [o], STATIONS, RULES)}
    candidate = by_kind["revocation_candidate"]
    assert candidate.station_ids == () and candidate.to_staff
    assert not by_kind["filing_overdue"].to_staff


def test_the_calendar_moves_the_obligation_and_the_station() -> None:
    stations = [StationFacts(1, "active", date(2025, 5, 1)), StationFacts(2, "active", date(2026, 12, 31)),
                StationFacts(3, "active", date(2027, 1, 1)), StationFacts(4, "revoked", date(2020, 1, 1)),
                StationFacts(5, "overdue", None)]
    assert obligations_to_create(date(2027, 1, 1), stations, existing=[5]) == (2026, [1, 2])
    o = ObligationFacts(7, 1, 2026, "not_due", date(2027, 2, 28))
    assert [m.action for m in filing_moves(date(2026, 12, 31), [o])] == []
    assert [m.action for m in filing_moves(date(2027, 1, 1), [o])] == ["mark_due"]
    assert [m.action for m in filing_moves(date(2027, 3, 2), [o])] == ["mark_due", "mark_overdue"]
    late = ObligationFacts(7, 1, 2026, "overdue", date(2027, 2, 28))
    assert [m.action for m in station_moves(date(2027, 3, 1), stations[:1], [late])] == ["mark_overdue"]
    assert station_moves(date(2027, 8, 31), [StationFacts(1, "overdue")], [late]) == []
    [flag] = station_moves(date(2027, 9, 1), [StationFacts(1, "overdue")], [late])
    assert (flag.action, flag.reason) == ("flag_revocation", "filing:2026 overdue since 2027-03-01")
    assert station_moves(date(2027, 3, 1), stations[:1], [ObligationFacts(7, 1, 2026, "filed_late", date(2027, 2, 28))]) == []


def test_the_key_project_window_closing_goes_to_eligible_stations_that_have_not_applied() -> None:
    window = ApplicationWindow(2027, date(2027, 3, 1), date(2027, 4, 30))
    stations = [StationFacts(1, "active", date(2025, 5, 1)), StationFacts(2, "active", date(2027, 2, 1)),
                StationFacts(3, "overdue", date(2025, 1, 1)), StationFacts(4, "active", None),
                StationFacts(5, "active", date(2026, 1, 1))]
    assert window_notices(sh(2027, 4, 23, 8, 59), window, stations, [5], RULES) == []
    [n] = window_notices(sh(2027, 4, 23, 9), window, stations, [5], RULES)
    assert (n.kind, n.subject, n.period, n.station_ids) == (
        "key_project_window_closing", "key_project_window:2027", "2027:closing", (1, 4))
    assert window_notices(sh(2027, 5, 1, 0), window, stations, [], RULES) == []  # closed by its date
    closed = ApplicationWindow(2027, date(2027, 3, 1), date(2027, 4, 30), closed=True)
    assert window_notices(sh(2027, 4, 25), closed, stations, [], RULES) == []


def test_announcements_start_and_end() -> None:
    a = AnnouncementFacts(3, "establishment", date(2027, 5, 10), date(2027, 5, 14), (1, 2))
    assert announcement_notices(sh(2027, 5, 10, 8, 59), [a], RULES) == []
    [start] = announcement_notices(sh(2027, 5, 10, 9), [a], RULES)
    assert (start.kind, start.subject, start.period, start.station_ids, start.to_subscribers) == (
        "announcement_start", "announcement:3", "start", (1, 2), True)
    assert [n.kind for n in announcement_notices(sh(2027, 5, 14, 23, 59, 59), [a], RULES)] == ["announcement_start"]
    assert announcement_notices(sh(2027, 5, 15, 8), [a], RULES) == []
    [end] = announcement_notices(sh(2027, 5, 15, 9), [a], RULES)
    assert (end.kind, end.period, end.due_at) == ("announcement_end", "end", sh(2027, 5, 15, 9))
    assert announcement_notices(sh(2027, 5, 22, 9), [a], RULES) == []  # a week later: no longer news


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2028, 3, 1), 5, date(2028, 8, 1)),
    (date(2027, 1, 31), 1, date(2027, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2027, 9, 1), 4, date(2028, 1, 1)),
])
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected
