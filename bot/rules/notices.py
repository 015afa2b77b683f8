"""Which scheduled notices are due (SPEC §6), and which life-cycle moves the calendar makes, as
pure functions of a moment and plain facts. No ORM: the scheduler's tick (scheduler/ticks.py)
reads the facts in a few queries, applies the moves and queues what these functions return.

Every notice has a stable key (kind, subject, period) per recipient; the outbox refuses a key it
has seen, so a tick run twice, or by two instances, queues nothing twice. Subjects and periods:

| kind | subject | period | when (local time, defaults) |
|---|---|---|---|
| filing_window_open | station:<id> | <Y> | 2 Jan of Y+1 |
| filing_reminder | station:<id> | <Y>:feb01, <Y>:feb15, <Y>:d7, <Y>:d1 | 1 Feb, 15 Feb (ordinary deadline only), 7 and 1 days before the deadline |
| filing_overdue | station:<id> | <Y>:m1, <Y>:m2 … | the day after the deadline (m1), then monthly; m6 is replaced by the revocation warning |
| revocation_warning | station:<id> | <Y> | 5 months overdue: contacts and staff |
| revocation_candidate | station:<id> | <Y> | 6 months overdue: staff |
| extension_expiry | station:<id> | <Y>:d14:<date>, <Y>:d3:<date> | 14 and 3 days before the extended date |
| key_project_window_closing | key_project_window:<Y> | <Y>:closing | 7 days before it closes |
| announcement_start / _end | announcement:<id> | start / end | its first day; the day after its last |

(`key_project_window_open` is queued by storage/windows.py when staff open the window, subject
key_project_window:<Y>, period <Y>.) A period that depends on an extended deadline carries that
date (`<Y>:d7:2027-08-31`, `<Y>:m1:2027-08-31`), so a new deadline starts its own series.

Catch-up: of the notices of one series whose moment has passed, only the latest is due (a tick
after a week down sends one reminder, not three), and only while it is still useful: a reminder or
the window notice until the end of the deadline day, the revocation warning until the station
becomes a candidate, an announcement's start until its last day and its end for a week.

Quiet hours: nothing is due between `quiet_start` and `quiet_end` local time; a notice whose
moment falls then, or that is queued then, is due at `quiet_end` (08:00).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.rules.decisions import ApplicationWindow, may_declare_key_project
from bot.rules.filing import filing_reason

__all__ = [
    "AnnouncementFacts",
    "DueNotice",
    "Move",
    "NoticeRules",
    "ObligationFacts",
    "StationFacts",
    "add_months",
    "announcement_notices",
    "due_filing_notices",
    "filing_moves",
    "obligations_to_create",
    "in_quiet_hours",
    "quiet_adjusted",
    "station_moves",
    "window_notices",
]

UNFILED = frozenset({"not_due", "due", "extended", "overdue"})
# A station holding its plaque: it owes its filings (R10) and hears about them.
HOLDS_PLAQUE = frozenset({"active", "overdue", "revocation_candidate", "deregistration_requested"})


@dataclass(frozen=True)
class NoticeRules:
    """The offsets and hours of SPEC §6 (bot.settings builds one from the configuration)."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    notice_hour: int = 9  # date-based notices go out at this local hour
    quiet_start: int = 21
    quiet_end: int = 8
    window_open_day: tuple[int, int] = (1, 2)  # (month, day) of Y+1
    reminder_days: tuple[tuple[int, int], ...] = ((2, 1), (2, 15))  # (month, day) of Y+1
    reminder_days_before: tuple[int, ...] = (7, 1)
    extension_days_before: tuple[int, ...] = (14, 3)
    warning_months: int = 5
    candidate_months: int = 6
    window_closing_days: int = 7
    announcement_end_useful_days: int = 7


@dataclass(frozen=True)
class StationFacts:
    id: int
    state: str
    recognised_on: date | None = None
    name: str = ""


@dataclass(frozen=True)
class ObligationFacts:
    id: int
    station_id: int
    year: int
    state: str
    due_on: date
    extended_due_on: date | None = None

    @property
    def deadline(self) -> date:
        return self.extended_due_on or self.due_on


@dataclass(frozen=True)
class AnnouncementFacts:
    id: int
    kind: str
    starts_on: date
    ends_on: date
    station_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class DueNotice:
    """One notice, before its recipients are known: the contacts of `station_ids`, staff when
    `to_staff`, the subscribers of /announcements when `to_subscribers`."""

    kind: str
    subject: str
    period: str
    due_at: datetime  # aware, UTC
    station_ids: tuple[int, ...] = ()
    to_staff: bool = False
    to_subscribers: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Move:
    """A life-cycle move the calendar makes: `action` on `subject` `subject_id`."""

    subject: str  # "filing" | "station"
    subject_id: int
    action: str
    from_state: str
    reason: str = ""


# -- time -----------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, kept within the month (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_first - timedelta(days=1)).day))


def _at(day: date, rules: NoticeRules, hour: int | None = None) -> datetime:
    return datetime.combine(day, time(rules.notice_hour if hour is None else hour), rules.tz).astimezone(UTC)


def _end_of(day: date, rules: NoticeRules) -> datetime:
    """The first instant after `day`, local time: a deadline day ends then."""
    return _at(day + timedelta(days=1), rules, 0)


def in_quiet_hours(moment: datetime, rules: NoticeRules) -> bool:
    hour = moment.astimezone(rules.tz).hour
    if rules.quiet_start > rules.quiet_end:
        return hour >= rules.quiet_start or hour < rules.quiet_end
    return rules.quiet_start <= hour < rules.quiet_end


def quiet_adjusted(moment: datetime, rules: NoticeRules) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (08:00 local)."""
    if not in_quiet_hours(moment, rules):
        return moment.astimezone(UTC)
    local = moment.astimezone(rules.tz)
    day = local.date() if local.hour < rules.quiet_end else local.date() + timedelta(days=1)
    return _at(day, rules, rules.quiet_end)


def _due_at(moment: datetime, now: datetime, rules: NoticeRules) -> datetime:
    due = quiet_adjusted(moment, rules)
    if due <= now and in_quiet_hours(now, rules):
        due = quiet_adjusted(now, rules)  # caught up at night: wait for the morning
    return due


def _latest(series: Iterable[tuple[str, datetime]], now: datetime) -> tuple[str, datetime] | None:
    passed = [(moment, label) for label, moment in series if moment <= now]
    if not passed:
        return None
    moment, label = max(passed)
    return label, moment


# -- life-cycle moves -----------------------------------------------------------------------------


def obligations_to_create(today: date, stations: Iterable[StationFacts], existing: Iterable[int]) -> tuple[int, list[int]]:
    """(year, station ids): from 1 January of Y+1 every station holding its plaque on 31 December
    of Y, recognised by then, owes a filing for Y (R10); `existing` are the stations that already
    have that year's obligation. Earlier years are not reached back for."""
    year = today.year - 1
    have = set(existing)
    owing = [
        s.id
        for s in stations
        if s.state in HOLDS_PLAQUE and (s.recognised_on is None or s.recognised_on <= date(year, 12, 31)) and s.id not in have
    ]
    return year, sorted(owing)


def filing_moves(today: date, obligations: Iterable[ObligationFacts]) -> list[Move]:
    """mark_due from 1 January of Y+1; mark_overdue from the day after the deadline (R10, R11)."""
    moves = []
    for o in obligations:
        if o.state == "not_due" and today >= date(o.year + 1, 1, 1):
            if today > o.deadline:
                # first due, then overdue: the tick applies both in order
                moves.append(Move("filing", o.id, "mark_due", "not_due"))
                moves.append(Move("filing", o.id, "mark_overdue", "due"))
            else:
                moves.append(Move("filing", o.id, "mark_due", "not_due"))
        elif o.state in ("due", "extended") and today > o.deadline:
            moves.append(Move("filing", o.id, "mark_overdue", o.state))
    return moves


def _overdue_since(o: ObligationFacts) -> date:
    return o.deadline + timedelta(days=1)


def station_moves(today: date, stations: Iterable[StationFacts], obligations: Iterable[ObligationFacts],
                  rules: NoticeRules = NoticeRules()) -> list[Move]:
    """A station with a filing past its deadline becomes overdue; `candidate_months` months past it,
    a revocation candidate for staff to confirm (R12). `obligations` as they stand after
    `filing_moves` (an unfiled one past its deadline counts, whatever its stored state)."""
    late: dict[int, list[ObligationFacts]] = {}
    for o in obligations:
        if o.state in UNFILED and today > o.deadline:
            late.setdefault(o.station_id, []).append(o)
    moves = []
    for s in stations:
        owed = late.get(s.id)
        if not owed:
            continue
        oldest = min(owed, key=lambda o: o.deadline)
        flag = today >= add_months(_overdue_since(oldest), rules.candidate_months)
        reason = filing_reason(oldest.year, _overdue_since(oldest))
        if s.state == "active":
            moves.append(Move("station", s.id, "mark_overdue", "active", reason=filing_reason(oldest.year)))
            if flag:
                moves.append(Move("station", s.id, "flag_revocation", "overdue", reason=reason))
        elif s.state == "overdue" and flag:
            moves.append(Move("station", s.id, "flag_revocation", "overdue", reason=reason))
    return moves


# -- notices --------------------------------------------------------------------------------------


def due_filing_notices(now: datetime, obligations: Iterable[ObligationFacts], stations: Mapping[int, StationFacts],
                       rules: NoticeRules = NoticeRules()) -> list[DueNotice]:
    """The filing notices due as of `now` for unfiled obligations of stations holding a plaque."""
    out: list[DueNotice] = []
    for o in obligations:
        station = stations.get(o.station_id)
        if o.state not in UNFILED or station is None or station.state not in HOLDS_PLAQUE:
            continue
        out.extend(_filing_notices(now, o, station, rules))
    return out


def _filing_notices(now: datetime, o: ObligationFacts, station: StationFacts, rules: NoticeRules) -> list[DueNotice]:
    subject = f"station:{o.station_id}"
    deadline = o.deadline
    extended = o.extended_due_on is not None
    suffix = f":{deadline.isoformat()}" if extended else ""
    end = _end_of(deadline, rules)
    params = {"year": o.year, "deadline": deadline.isoformat(), "station": station.name}
    out = []

    def notice(kind: str, period: str, moment: datetime, **extra: Any) -> DueNotice:
        return DueNotice(kind, subject, period, _due_at(moment, now, rules), (o.station_id,),
                         params={**params, **extra})

    if now < end:
        series = [(f"{o.year}:d{n}{suffix}", _at(deadline - timedelta(days=n), rules)) for n in rules.reminder_days_before]
        if not extended:
            series += [(f"{o.year}:{_month_label(m, d)}", _at(date(o.year + 1, m, d), rules)) for m, d in rules.reminder_days]
        latest = _latest(((label, moment) for label, moment in series if moment < end), now)
        first = _at(date(o.year + 1, *rules.window_open_day), rules)
        if first <= now and latest is None:
            # once a reminder is due it says all the window notice would
            out.append(notice("filing_window_open", str(o.year), first))
        if latest:
            out.append(notice("filing_reminder", *latest))
        if extended:
            series = [(f"{o.year}:d{n}{suffix}", _at(deadline - timedelta(days=n), rules)) for n in rules.extension_days_before]
            latest = _latest(series, now)
            if latest:
                out.append(notice("extension_expiry", *latest))
        return out

    since = _overdue_since(o)
    warning = _at(add_months(since, rules.warning_months), rules)
    candidate = _at(add_months(since, rules.candidate_months), rules)
    months = [(k, _at(add_months(since, k), rules)) for k in range(0, 12 * 10)]
    passed = [(k, moment) for k, moment in months if moment <= now]
    if passed and passed[-1][0] != rules.warning_months:  # that month, the warning says it
        k, moment = passed[-1]
        out.append(notice("filing_overdue", f"{o.year}:m{k + 1}{suffix}", moment, overdue_since=since.isoformat()))
    if warning <= now < candidate:
        extra = {"overdue_since": since.isoformat(), "revocation_on": add_months(since, rules.candidate_months).isoformat()}
        out.append(DueNotice("revocation_warning", subject, f"{o.year}{suffix}", _due_at(warning, now, rules),
                             (o.station_id,), to_staff=True, params={**params, **extra}))
    if candidate <= now:
        out.append(DueNotice("revocation_candidate", subject, f"{o.year}{suffix}", _due_at(candidate, now, rules),
                             (), to_staff=True, params={**params, "overdue_since": since.isoformat(),
                                                        "station_id": o.station_id}))
    return out


def _month_label(month: int, day: int) -> str:
    return f"{date(2000, month, day):%b}".lower() + f"{day:02d}"


def window_notices(now: datetime, window: ApplicationWindow | None, stations: Iterable[StationFacts],
                   applied: Iterable[int], rules: NoticeRules = NoticeRules()) -> list[DueNotice]:
    """`key_project_window_closing`, `window_closing_days` before an open window closes, to the
    stations that may declare for its year (active, R7) and have not applied (`applied`)."""
    if window is None or window.closed:
        return []
    moment = _at(window.closes_on - timedelta(days=rules.window_closing_days), rules)
    if not (moment <= now < _end_of(window.closes_on, rules)):
        return []
    done = set(applied)
    eligible = tuple(sorted(
        s.id for s in stations
        if s.state == "active" and may_declare_key_project(s.recognised_on, window.year) and s.id not in done
    ))
    if not eligible:
        return []
    return [DueNotice("key_project_window_closing", f"key_project_window:{window.year}", f"{window.year}:closing",
                      _due_at(moment, now, rules), eligible,
                      params={"year": window.year, "closes_on": window.closes_on.isoformat()})]


def announcement_notices(now: datetime, announcements: Iterable[AnnouncementFacts],
                         rules: NoticeRules = NoticeRules()) -> list[DueNotice]:
    """`announcement_start` on its first day (while it runs) and `announcement_end` the day after
    its last (for a week), to the announced items' contacts and the subscribers."""
    out = []
    for a in announcements:
        params = {"kind_key": f"notice.scheduled.announcement_kind.{a.kind}", "starts_on": a.starts_on.isoformat(),
                  "ends_on": a.ends_on.isoformat()}
        start = _at(a.starts_on, rules)
        if start <= now < _end_of(a.ends_on, rules):
            out.append(DueNotice("announcement_start", f"announcement:{a.id}", "start", _due_at(start, now, rules),
                                 a.station_ids, to_subscribers=True, params=params))
        end = _at(a.ends_on + timedelta(days=1), rules)
        if end <= now < end + timedelta(days=rules.announcement_end_useful_days):
            out.append(DueNotice("announcement_end", f"announcement:{a.id}", "end", _due_at(end, now, rules),
                                 a.station_ids, to_subscribers=True, params=params))
    return out
