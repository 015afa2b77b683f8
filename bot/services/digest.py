"""The staff digests (SPEC §6): daily at 09:00, weekly on Monday 09:00 with an .xlsx.

`build_digest(settings, now, weekly=...)` gathers plain data from storage (a fixed number of
statements, whatever the number of stations); `render_text(digest, lang)` makes the short text
staff read (the longest lists cut to DIGEST_LIST_LIMIT lines); `workbook(digest, settings)` the
weekly .xlsx with every row (bot.services.export builds it; columns from `SHEETS` below, their
headers the export's own). No personal data: an unreachable contact is shown by station and a
masked id, and the workbook says it is masked. `queue_digests(now, settings)` puts one notice a
staff member into the outbox (kinds digest_daily and digest_weekly, subject "digest", period the
local date or the ISO week); its content is built when it is sent (scheduler/sender.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from bot.i18n import has_text, t
from bot.rules.filing import filing_standing
from bot.services import review, supervision
from bot.services.export import Column, Sheet, build_workbook
from bot.services.staff import staff_ids
from bot.settings import Settings
from storage import digest as store
from storage import outbox
from storage import supervision as supervision_store

DAILY = "digest_daily"
WEEKLY = "digest_weekly"
SUBJECT = "digest"
TEXT_KEY = "digest.notice"  # what a digest notice would say if its content could not be built
FILING_STANDINGS = ("overdue", "extended", "due")  # the ones the digest lists, most urgent first


@dataclass(frozen=True)
class QueueAge:
    kind: str
    status: str
    count: int
    oldest: datetime | None
    age_days: int | None


@dataclass(frozen=True)
class FilingRow:
    station_id: int
    station_name: str
    year: int
    standing: str  # overdue | extended | due
    deadline: date
    days_overdue: int


@dataclass(frozen=True)
class ShortfallRow:
    reference: str
    station_name: str
    year: int | None
    rule: str
    clause: str
    item: str
    required: int | None
    reported: int | None


@dataclass(frozen=True)
class UnreachableRow:
    station_id: int
    station_name: str
    contact: str  # masked id
    since: date | None


@dataclass(frozen=True)
class Targets:
    year: int
    new_this_year: int
    per_year: int
    expected_by_now: int  # the per-year target prorated to today
    in_force: int
    total: int


@dataclass
class Digest:
    weekly: bool
    at: datetime  # local
    since: datetime  # local: the previous digest of this kind (or a day / a week before)
    period: str
    new_by_kind: dict[str, int]
    queues: list[QueueAge]
    objections: tuple[int, int | None]  # pending, the oldest's age in days
    announcements: list[store.EndingAnnouncement]
    filings: list[FilingRow]
    candidates: list[supervision.Candidate]
    shortfalls: list[ShortfallRow] | None  # None: no annual filing form to evaluate with
    unreachable: list[UnreachableRow]
    targets: Targets
    counts: dict[str, int] = field(default_factory=dict)  # filings by standing
    limit: int = 5  # lines per section in the text


def period_of(at: datetime, weekly: bool) -> str:
    if weekly:
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.date().isoformat()


def mask_id(user_id: int) -> str:
    text = str(user_id)
    return "*" * max(0, len(text) - 3) + text[-3:]


def _age(now: datetime, moment: datetime | None) -> int | None:
    return None if moment is None else max(0, (now - moment).days)


async def build_digest(settings: Settings, now: datetime, *, weekly: bool = False) -> Digest:
    tz = settings.tz
    local = now.astimezone(tz)
    today = local.date()
    kind = WEEKLY if weekly else DAILY
    previous = await store.last_digest_before(kind, now)
    since = (previous or now - timedelta(days=7 if weekly else 1)).astimezone(tz)

    queues_wanted = review.review_queues()
    ages = await store.queue_ages(queues_wanted)
    queues = [QueueAge(k, s, ages[(k, s)][0], ages[(k, s)][1], _age(now, ages[(k, s)][1]))
              for k, s in queues_wanted if ages[(k, s)][0]]
    queues.sort(key=lambda q: (q.oldest is None, q.oldest or now))
    objections, oldest_objection = await store.pending_objections()

    obligations = await supervision_store.unfiled_obligations(due_before=date(today.year, 12, 31))
    filings, counts = _filings(obligations, today)
    return Digest(
        weekly=weekly, at=local, since=since, period=period_of(local, weekly),
        new_by_kind=await store.new_submissions(since, now),
        queues=queues, objections=(objections, _age(now, oldest_objection)),
        announcements=await store.announcements_ending(today + timedelta(days=settings.digest_announcement_days)),
        filings=filings, counts=counts,
        candidates=await supervision.candidates(today, obligations),
        shortfalls=await _shortfalls(since, now, today, settings),
        unreachable=[UnreachableRow(u.station_id, u.station_name, mask_id(u.user_id),
                                    u.since.astimezone(tz).date() if u.since else None)
                     for u in await store.unreachable_contacts()],
        targets=await _targets(settings, today), limit=settings.digest_list_limit,
    )


def _filings(obligations: list[supervision_store.UnfiledObligation], today: date) -> tuple[list[FilingRow], dict[str, int]]:
    """Filings due, extended and overdue, by station: the most overdue first."""
    rows = []
    standings: dict[tuple[int, str | None, date], str] = {}  # few distinct (year, state, deadline)
    for o in obligations:
        deadline = max(o.due_on, o.extended_due_on) if o.extended_due_on else o.due_on
        key = (o.year, "extended" if o.extended_due_on and o.extended_due_on > o.due_on else None, deadline)
        if key not in standings:
            standings[key] = filing_standing(key[0], key[1], deadline, today)
        standing = standings[key]
        if standing in FILING_STANDINGS:
            rows.append(FilingRow(o.station_id, o.station_name, o.year, standing, deadline, max(0, (today - deadline).days)))
    rows.sort(key=lambda r: (FILING_STANDINGS.index(r.standing), r.deadline, r.station_id, r.year))
    counts = {s: sum(1 for r in rows if r.standing == s) for s in FILING_STANDINGS}
    return rows, counts


def _shortfall_function() -> Callable[..., Any] | None:
    """The annual filing form's own evaluation (R15–R17) when that form exists."""
    try:
        from bot.forms.annual_filing import shortfalls_of  # noqa: PLC0415 - the form may not be there
    except ImportError:
        return None
    return shortfalls_of


async def _shortfalls(since: datetime, now: datetime, today: date, settings: Settings) -> list[ShortfallRow] | None:
    evaluate = _shortfall_function()
    if evaluate is None:
        return None
    from bot.forms.context import FormContext, StationView  # noqa: PLC0415

    found = []
    for f in await store.recent_filings(since, now):
        station = StationView(id=f.station_id, name=f.station_name, state=f.station_state,
                              recognised_on=f.recognised_on, school_enterprise=f.school_enterprise)
        context = FormContext(today=today, now=now, station=station, year=f.year)
        for s in evaluate(f.answers, context):
            found.append(ShortfallRow(f.reference, f.station_name, f.year, s.rule, s.clause, s.item, s.required, s.reported))
    return found


async def _targets(settings: Settings, today: date) -> Targets:
    new, in_force = await store.station_progress(today.year)
    days = (date(today.year, 12, 31) - date(today.year, 1, 1)).days + 1
    expected = round(settings.target_new_stations_per_year * today.timetuple().tm_yday / days)
    return Targets(today.year, new, settings.target_new_stations_per_year, expected, in_force, settings.target_stations_total)


# -- the text -------------------------------------------------------------------------------------


def _d(key: str, lang: str, **params: Any) -> str:
    return t(lang, f"digest.{key}", **params)


def _limited(lines: list[str], total: int, limit: int, lang: str) -> list[str]:
    shown = lines[:limit]
    if total > len(shown):
        shown.append(_d("more", lang, n=total - len(shown)))
    return shown


def render_text(d: Digest, lang: str) -> str:
    """The digest as staff read it: each section a heading and a few lines; empty ones say so."""
    limit = d.limit
    fmt = "%Y-%m-%d %H:%M"
    out = [_d("title_weekly" if d.weekly else "title_daily", lang, period=d.period, at=d.at.strftime(fmt))]

    new_total = sum(d.new_by_kind.values())
    out.append(_d("new_head", lang, since=d.since.strftime(fmt), n=new_total))
    out += [_d("new_line", lang, kind=t(lang, f"submission_kind.{k}"), n=n) for k, n in sorted(d.new_by_kind.items())]

    waiting = sum(q.count for q in d.queues)
    out.append(_d("queues_head", lang, n=waiting))
    lines = [_d("queue_line", lang, kind=t(lang, f"submission_kind.{q.kind}"), status=t(lang, f"submission_status.{q.status}"),
                n=q.count, days=q.age_days if q.age_days is not None else "-") for q in d.queues]
    if d.objections[0]:
        lines.append(_d("objections_line", lang, n=d.objections[0], days=d.objections[1] if d.objections[1] is not None else "-"))
    out += _limited(lines, len(lines), limit, lang) + [_d("queues_command", lang)] if lines else []

    out.append(_d("announcements_head", lang, n=len(d.announcements)))
    out += _limited([_d("announcement_line", lang, id=a.id, kind=t(lang, f"submission_kind.{a.kind}"),
                        ends_on=a.ends_on.isoformat(), items=a.items) for a in d.announcements[:limit]],
                    len(d.announcements), limit, lang)

    out.append(_d("filings_head", lang, overdue=d.counts.get("overdue", 0), extended=d.counts.get("extended", 0),
                  due=d.counts.get("due", 0)))
    out += _limited([_d(f"filing_{r.standing}", lang, station=escape(r.station_name), year=r.year,
                        deadline=r.deadline.isoformat(), days=r.days_overdue) for r in d.filings[:limit]],
                    len(d.filings), limit, lang)

    out.append(_d("candidates_head", lang, n=len(d.candidates)))
    out += _limited([_d("candidate_line", lang, station=escape(c.name), years=", ".join(map(str, c.years)),
                        since=c.candidate_since.isoformat()) for c in d.candidates[:limit]],
                    len(d.candidates), limit, lang)
    if d.candidates:
        out.append(_d("candidates_command", lang))

    if d.shortfalls is not None:
        out.append(_d("shortfalls_head", lang, n=len({s.reference for s in d.shortfalls})))
        out += _limited([_d("shortfall_line", lang, reference=escape(s.reference), station=escape(s.station_name),
                            text=_shortfall_text(s, lang)) for s in d.shortfalls[:limit]], len(d.shortfalls), limit, lang)

    out.append(_d("unreachable_head", lang, n=len(d.unreachable)))
    out += _limited([_d("unreachable_line", lang, station=escape(u.station_name), contact=u.contact,
                        since=u.since.isoformat() if u.since else "-") for u in d.unreachable[:limit]],
                    len(d.unreachable), limit, lang)

    g = d.targets
    out.append(_d("targets", lang, year=g.year, new=g.new_this_year, per_year=g.per_year, expected=g.expected_by_now,
                  in_force=g.in_force, total=g.total))
    if d.weekly:
        out.append(_d("xlsx_note", lang))
    return "\n".join(out)


def _shortfall_text(s: ShortfallRow, lang: str) -> str:
    """The annual filing form's own sentence for the shortfall (its receipt says the same)."""
    key = f"form.annual_filing.shortfall.{s.item}"
    if not has_text(key):
        return f"{s.rule} {s.clause} {s.item}"
    return t(lang, key, n=s.rule, reported=s.reported, required=s.required, clause=s.clause)


# -- the weekly workbook --------------------------------------------------------------------------

# Each sheet: its title key, the rows it takes from the digest, and its columns as (attribute,
# header key of the export's columns or of [digest.col], kind). Headers and cell types come from
# these definitions only.
ColumnDef = tuple[str, str, str]
SHEETS: list[tuple[str, Callable[[Digest], list[Any]], list[ColumnDef]]] = [
    ("digest.sheet.queues", lambda d: d.queues, [
        ("kind", "staff.export.col.kind", "text"), ("status", "staff.export.col.status", "text"),
        ("count", "digest.col.count", "int"), ("oldest", "staff.export.col.submitted_at", "datetime"),
        ("age_days", "digest.col.age_days", "int")]),
    ("digest.sheet.filings", lambda d: d.filings, [
        ("station_id", "staff.export.col.station_id", "int"), ("station_name", "staff.export.col.station_name", "text"),
        ("year", "staff.export.col.year", "int"), ("standing", "staff.export.col.filing_state", "text"),
        ("deadline", "staff.export.col.due_on", "date"), ("days_overdue", "digest.col.days_overdue", "int")]),
    ("digest.sheet.candidates", lambda d: d.candidates, [
        ("station_id", "staff.export.col.station_id", "int"), ("name", "staff.export.col.station_name", "text"),
        ("years", "staff.export.col.year", "text"), ("due_on", "staff.export.col.due_on", "date"),
        ("candidate_since", "digest.col.candidate_since", "date")]),
    ("digest.sheet.announcements", lambda d: d.announcements, [
        ("id", "staff.export.col.announcement_id", "int"), ("kind", "staff.export.col.announcement_kind", "text"),
        ("ends_on", "staff.export.col.ends_on", "date"), ("items", "digest.col.count", "int")]),
    ("digest.sheet.shortfalls", lambda d: d.shortfalls or [], [
        ("reference", "staff.export.col.reference", "text"), ("station_name", "staff.export.col.station_name", "text"),
        ("year", "staff.export.col.year", "int"), ("rule", "digest.col.rule", "text"), ("item", "digest.col.item", "text"),
        ("required", "digest.col.required", "int"), ("reported", "digest.col.reported", "int")]),
    ("digest.sheet.unreachable", lambda d: d.unreachable, [
        ("station_id", "staff.export.col.station_id", "int"), ("station_name", "staff.export.col.station_name", "text"),
        ("contact", "digest.col.contact", "masked"), ("since", "digest.col.unreachable_since", "date")]),
]
XLSX_LANGUAGE = "zh"
# Values shown in words in the workbook: attribute -> locale table.
WORDS = {"kind": "submission_kind", "status": "submission_status", "standing": "staff.export.filing_state"}


def _cell(row: Any, attribute: str, kind: str, sheet: str) -> Any:
    value = getattr(row, attribute)
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if attribute in WORDS and value and not (sheet == "digest.sheet.announcements"):
        return t(XLSX_LANGUAGE, f"{WORDS[attribute]}.{value}")
    if sheet == "digest.sheet.announcements" and attribute == "kind":
        return t(XLSX_LANGUAGE, f"staff.export.announcement_kind.{value}")
    return value


def sheets_of(d: Digest, settings: Settings) -> list[Sheet]:
    sheets = []
    for title_key, rows_of, columns in SHEETS:
        if title_key == "digest.sheet.shortfalls" and d.shortfalls is None:
            continue
        cols = [Column(t(XLSX_LANGUAGE, "staff.export.personal_masked", label=t(XLSX_LANGUAGE, key)) if kind == "masked"
                       else t(XLSX_LANGUAGE, key), "text" if kind == "masked" else kind, kind == "masked")
                for _, key, kind in columns]
        sheet = Sheet(t(XLSX_LANGUAGE, title_key), cols)
        for row in rows_of(d):
            sheet.rows.append([_cell(row, attribute, kind, title_key) for attribute, _, kind in columns])
        sheets.append(sheet)
    return sheets


async def workbook(d: Digest, settings: Settings) -> tuple[str, bytes]:
    """(file name, .xlsx) of the weekly digest: every row, personal data masked (and said so)."""
    title = t(XLSX_LANGUAGE, "digest.xlsx_title", period=d.period)
    content = await asyncio.to_thread(build_workbook, sheets_of(d, settings), title=title, full=False)
    return t(XLSX_LANGUAGE, "digest.xlsx_filename", period=d.period), content


# -- queueing -------------------------------------------------------------------------------------


def _digest_moments(now: datetime, settings: Settings) -> list[tuple[str, datetime]]:
    """The digests whose time has come as of `now` and that are still worth sending: today's
    daily from DIGEST_HOUR until quiet hours begin; this week's weekly from its day and hour
    until the end of the week, outside quiet hours."""
    local = now.astimezone(settings.tz)
    quiet = local.hour >= settings.quiet_hours_start or local.hour < settings.quiet_hours_end
    if quiet:
        return []
    found = []
    today_at = local.replace(hour=settings.digest_hour, minute=0, second=0, microsecond=0)
    if local >= today_at:
        found.append((DAILY, today_at))
    week_day = today_at - timedelta(days=(local.weekday() - settings.digest_weekday) % 7)
    if local >= week_day:
        found.append((WEEKLY, week_day))
    return found


async def queue_digests(now: datetime, settings: Settings) -> list[tuple[int, str, str, str]]:
    """Queue the digests due as of `now`, one notice per staff member (configured and granted);
    safe to call at every tick (scheduler/ticks.py does): the outbox's unique key keeps one per
    (staff, kind, period). Returns the keys (recipient, kind, subject, period) that were new."""
    moments = _digest_moments(now, settings)
    if not moments:
        return []
    queued: list[tuple[int, str, str, str]] = []
    for recipient in sorted(await staff_ids(settings)):
        for kind, moment in moments:
            weekly = kind == WEEKLY
            params = {"digest": "weekly" if weekly else "daily", "at": moment.isoformat()}
            period = period_of(moment, weekly)
            if await outbox.enqueue(recipient, kind, SUBJECT, period, TEXT_KEY, now, params):
                queued.append((recipient, kind, SUBJECT, period))
    return queued
