"""The notice tick: what the calendar makes due as of `now`, from the database, into the outbox.

One tick, in order: open and close 公示 (`close_due_announcements`); write the obligations of last
year's filing for every station holding its plaque (from 1 January); apply the calendar's
life-cycle moves through `apply_transition` (mark_due, mark_overdue, flag_revocation); then queue
the notices `bot.rules.notices` finds due, one per recipient, under the outbox's unique key.

The facts are read in a fixed number of set-based queries whatever the number of stations; only
the moves (a few a day, 10,000 once a year on 1 January) and the insert batches are written one
statement each. Re-running a tick, or two instances ticking at once, queues nothing twice: the
unique key (recipient, kind, subject, period) settles it in the database.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from bot.rules import notices as rules
from bot.rules.decisions import ApplicationWindow
from bot.rules.lifecycle import Actor, filing_due_on
from bot.services import digest, staff
from bot.services.announcements import close_due_announcements
from bot.settings import Settings
from storage.models import (
    Announcement,
    AnnouncementItem,
    AnnouncementSubscriber,
    Contact,
    FilingObligation,
    KeyProjectWindow,
    Notice,
    Station,
    Submission,
    SubmissionKind,
)
from storage.transitions import TransitionRefused, apply_transition

log = logging.getLogger(__name__)

TEXT_KEYS = {
    "filing_window_open": "notice.scheduled.filing_window_open",
    "filing_reminder": "notice.scheduled.filing_reminder",
    "filing_overdue": "notice.scheduled.filing_overdue",
    "revocation_warning": "notice.scheduled.revocation_warning",
    "revocation_candidate": "notice.scheduled.revocation_candidate",
    "extension_expiry": "notice.scheduled.extension_expiry",
    "key_project_window_closing": "notice.scheduled.key_project_window_closing",
    "announcement_start": "notice.scheduled.announcement_start",
    "announcement_end": "notice.scheduled.announcement_end",
}
# Staff get their own wording of the revocation warning (the station, not "your station").
STAFF_TEXT_KEYS = {"revocation_warning": "notice.scheduled.revocation_warning_staff"}
BATCH = 500


@dataclass(frozen=True)
class Queued:
    recipient: int
    kind: str
    subject: str
    period: str
    due_at: datetime

    def as_json(self, tz: Any) -> dict[str, Any]:
        return {"recipient": self.recipient, "kind": self.kind, "subject": self.subject, "period": self.period,
                "due_at": self.due_at.astimezone(tz).isoformat()}


@dataclass
class TickResult:
    queued: list[Queued]  # everything the tick queued: the moves' status_change notices first
    moves: list[rules.Move]


async def tick(now: datetime, settings: Settings) -> TickResult:
    """Run one tick as of `now` (aware); returns the notices it queued and the moves it made."""
    if now.utcoffset() is None:
        raise ValueError("tick needs an aware datetime")
    notice_rules = settings.notice_rules()
    today = now.astimezone(settings.tz).date()
    await close_due_announcements(now, settings)

    stations = {
        sid: rules.StationFacts(sid, str(state), recognised_on, name)
        for sid, state, recognised_on, name in await Station.filter(
            state__in=sorted(rules.HOLDS_PLAQUE)
        ).values_list("id", "state", "recognised_on", "name")
    }
    await _write_obligations(today, stations.values())

    obligations = [
        rules.ObligationFacts(oid, station_id, year, str(state), due_on, extended)
        for oid, station_id, year, state, due_on, extended in await FilingObligation.filter(
            state__in=sorted(rules.UNFILED), station_id__in=list(stations)
        ).values_list("id", "station_id", "year", "state", "due_on", "extended_due_on")
    ] if stations else []
    moves = rules.filing_moves(today, obligations)
    told = await _apply(moves, now)
    moved = {m.subject_id: m for m in moves}
    obligations = [_after(o, moved.get(o.id)) for o in obligations]
    station_moves = rules.station_moves(today, stations.values(), obligations, notice_rules)
    told += await _apply(station_moves, now)
    for m in station_moves:
        s = stations[m.subject_id]
        stations[m.subject_id] = rules.StationFacts(s.id, _target(m), s.recognised_on, s.name)

    due = rules.due_filing_notices(now, obligations, stations, notice_rules)
    due += await _window_notices(now, today, notice_rules)
    due += await _announcement_notices(now, today, notice_rules)
    queued = await _enqueue(due, settings)
    # The staff digests (SPEC §6: daily 09:00, weekly Monday 09:00) are due like any notice.
    queued += [Queued(*key, due_at=now) for key in await digest.queue_digests(now, settings)]
    return TickResult(told + queued, moves + station_moves)


async def dry_run(now: datetime, settings: Settings) -> TickResult:
    """What `tick(now)` would queue and move, computed by running it in a transaction that is
    rolled back: the output is the real tick's, and nothing is written."""

    class _Rollback(Exception):
        pass

    result: TickResult | None = None
    try:
        async with in_transaction():
            result = await tick(now, settings)
            raise _Rollback
    except _Rollback:
        pass
    assert result is not None
    return result


def _target(move: rules.Move) -> str:
    return {"mark_due": "due", "mark_overdue": "overdue", "flag_revocation": "revocation_candidate"}[move.action]


def _after(o: rules.ObligationFacts, move: rules.Move | None) -> rules.ObligationFacts:
    if move is None:
        return o
    return rules.ObligationFacts(o.id, o.station_id, o.year, _target(move), o.due_on, o.extended_due_on)


async def _write_obligations(today: date, stations: Any) -> None:
    """The filing obligations for last year, written (state not_due) where missing."""
    year = today.year - 1
    existing = await FilingObligation.filter(year=year).values_list("station_id", flat=True)
    year, owing = rules.obligations_to_create(today, stations, existing)
    if owing:
        await FilingObligation.bulk_create(
            [FilingObligation(station_id=sid, year=year, due_on=filing_due_on(year)) for sid in owing],
            batch_size=BATCH, ignore_conflicts=True,
        )


async def _apply(moves: list[rules.Move], now: datetime) -> list[Queued]:
    """Apply the moves; returns the status_change notices the transitions queued."""
    told = []
    for move in moves:
        try:
            done = await apply_transition(move.subject, move.subject_id, move.action, actor_id=None,
                                          actor=Actor.SYSTEM, now=now, expected_state=move.from_state,
                                          reason=move.reason)
        except TransitionRefused as refused:
            # another instance, or a contact filing this very moment, moved it first
            log.info("tick: %s %s %s skipped (%s)", move.subject, move.subject_id, move.action, refused.code)
            continue
        told += [Queued(user_id, "status_change", f"{move.subject}:{move.subject_id}", f"t{done.transition_id}",
                        now.astimezone(UTC)) for user_id in done.notified]
    return told


async def _window_notices(now: datetime, today: date, notice_rules: rules.NoticeRules) -> list[rules.DueNotice]:
    out: list[rules.DueNotice] = []
    windows = await KeyProjectWindow.filter(closed_at__isnull=True, closes_on__gte=today).values_list(
        "year", "opens_on", "closes_on")
    for year, opens_on, closes_on in windows:  # one a year at most
        window = ApplicationWindow(year, opens_on, closes_on)
        if not rules.window_notices(now, window, [rules.StationFacts(0, "active")], [], notice_rules):
            continue  # not its moment: spare the station queries
        stations = [rules.StationFacts(sid, str(state), recognised_on) for sid, state, recognised_on in
                    await Station.filter(state="active").values_list("id", "state", "recognised_on")]
        applied = await Submission.filter(kind=SubmissionKind.KEY_PROJECT, year=year,
                                          uniqueness_key__not_isnull=True).values_list("station_id", flat=True)
        out += rules.window_notices(now, window, stations, applied, notice_rules)
    return out


async def _announcement_notices(now: datetime, today: date, notice_rules: rules.NoticeRules) -> list[rules.DueNotice]:
    horizon = today - timedelta(days=notice_rules.announcement_end_useful_days + 1)
    rows = await Announcement.filter(starts_on__lte=today, ends_on__gte=horizon).values_list(
        "id", "kind", "starts_on", "ends_on")
    if not rows:
        return []
    stations: dict[int, set[int]] = defaultdict(set)
    for announcement_id, station_id in await AnnouncementItem.filter(
        announcement_id__in=[r[0] for r in rows]
    ).values_list("announcement_id", "submission__station_id"):
        if station_id is not None:
            stations[announcement_id].add(station_id)
    facts = [rules.AnnouncementFacts(aid, str(kind), starts_on, ends_on, tuple(sorted(stations[aid])))
             for aid, kind, starts_on, ends_on in rows]
    return rules.announcement_notices(now, facts, notice_rules)


async def _enqueue(due: list[rules.DueNotice], settings: Settings) -> list[Queued]:
    """Resolve recipients (in three queries) and insert what was not queued before."""
    if not due:
        return []
    station_ids = sorted({sid for d in due for sid in d.station_ids})
    contacts: dict[int, set[int]] = defaultdict(set)
    for i in range(0, len(station_ids), BATCH * 4):
        chunk = station_ids[i:i + BATCH * 4]
        for station_id, user_id in await Contact.filter(station_id__in=chunk, active=True).values_list(
                "station_id", "user_id"):
            contacts[station_id].add(user_id)
    staff_ids = await staff.staff_ids(settings) if any(d.to_staff for d in due) else frozenset()
    subscribers = (set(await AnnouncementSubscriber.all().values_list("user_id", flat=True))
                   if any(d.to_subscribers for d in due) else set())

    rows: dict[tuple[int, str, str, str], Notice] = {}
    for d in due:
        recipients: dict[int, str] = {}
        for sid in d.station_ids:
            for user_id in contacts.get(sid, ()):
                recipients.setdefault(user_id, TEXT_KEYS[d.kind])
        if d.to_subscribers:
            for user_id in subscribers:
                recipients.setdefault(user_id, TEXT_KEYS[d.kind])
        if d.to_staff:
            for user_id in staff_ids:
                recipients.setdefault(user_id, STAFF_TEXT_KEYS.get(d.kind, TEXT_KEYS[d.kind]))
        for user_id, text_key in recipients.items():
            key = (user_id, d.kind, d.subject, d.period)
            rows.setdefault(key, Notice(recipient_id=user_id, kind=d.kind, subject=d.subject, period=d.period,
                                        text_key=text_key, params=dict(d.params), due_at=d.due_at.astimezone(UTC)))
    if not rows:
        return []
    before = await _existing_keys(list(rows))
    new = [row for key, row in rows.items() if key not in before]
    for i in range(0, len(new), BATCH):
        # a second instance may insert the same keys meanwhile: the unique key settles it
        await Notice.bulk_create(new[i:i + BATCH], ignore_conflicts=True)
    return sorted((Queued(n.recipient_id, n.kind, n.subject, n.period, n.due_at) for n in new),
                  key=lambda q: (q.due_at, q.kind, q.subject, q.period, q.recipient))


async def _existing_keys(keys: list[tuple[int, str, str, str]]) -> set[tuple[int, str, str, str]]:
    """The keys among `keys` already in the outbox, in one query per (kind, period) pair."""
    found: set[tuple[int, str, str, str]] = set()
    by_kind_period: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, kind, subject, period in keys:
        by_kind_period[(kind, period)].add(subject)
    wanted = set(keys)
    for (kind, period), subjects in by_kind_period.items():
        subject_list = sorted(subjects)
        for i in range(0, len(subject_list), BATCH * 4):
            for row in await Notice.filter(kind=kind, period=period, subject__in=subject_list[i:i + BATCH * 4]).values_list(
                    "recipient_id", "kind", "subject", "period"):
                if row in wanted:
                    found.add(row)
    return found
