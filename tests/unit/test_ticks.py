"""scheduler/ticks.py against the database: each notice reaches exactly the right people once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from conftest import both_databases
from factories import recognised_station
from scheduler import ticks
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

SETTINGS = Settings(staff_ids=frozenset({900}), admin_ids=frozenset(), _env_file=None)


def sh(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)


async def outbox() -> set[tuple[int, str, str, str]]:
    """The deadline notices queued so far (the staff digests the same ticks queue are
    tests/flow/test_digest.py's)."""
    rows = await Notice.exclude(kind__startswith="digest_").values_list("recipient_id", "kind", "subject", "period")
    return set(rows)


async def city() -> tuple[Station, Station, Station]:
    a = await recognised_station(101, recognised_on=date(2025, 5, 1))
    b = await recognised_station(201, name="第二技师工作站", uscc="91440300MA5F00017R", recognised_on=date(2026, 3, 1))
    await Contact.create(user_id=(await _user(202)), station=b)
    c = await recognised_station(301, name="新站技师工作站", uscc="91440300MA5F0002XK", recognised_on=date(2027, 1, 5))
    return a, b, c


async def _user(uid: int) -> int:
    from storage.models import BotUser

    await BotUser.get_or_create(id=uid)
    return uid


@both_databases
async def test_a_year_of_ticks_queues_each_filing_notice_once_to_the_right_people(db: str) -> None:
    a, b, c = await city()
    seen: list[set] = []
    for moment in (sh(2027, 1, 1, 0, 5), sh(2027, 1, 2), sh(2027, 1, 2, 9, 1)):
        await ticks.tick(moment, SETTINGS)
        seen.append(await outbox())
    # obligations for 2026 for the two stations recognised by 31 December, not for the new one
    assert sorted(await FilingObligation.all().values_list("station_id", "year", "state")) == [
        (a.id, 2026, "due"), (b.id, 2026, "due")]
    assert seen[0] == set()
    window = {(101, "filing_window_open", f"station:{a.id}", "2026"), (201, "filing_window_open", f"station:{b.id}", "2026"),
              (202, "filing_window_open", f"station:{b.id}", "2026")}
    assert seen[1] == window and seen[2] == window  # the re-run a minute later queues nothing
    # b files; only a hears the reminders
    ob = await FilingObligation.get(station_id=b.id)
    await FilingObligation.filter(id=ob.id).update(state="filed_on_time")
    await ticks.tick(sh(2027, 2, 1), SETTINGS)
    assert await outbox() - seen[2] == {(101, "filing_reminder", f"station:{a.id}", "2026:feb01")}
    result = await ticks.tick(sh(2027, 2, 15, 10), SETTINGS)
    assert [(q.recipient, q.period) for q in result.queued if not q.kind.startswith("digest_")] == [(101, "2026:feb15")]
    assert (await ticks.tick(sh(2027, 2, 15, 10, 1), SETTINGS)).queued == []
    await ticks.tick(sh(2027, 3, 1, 0, 1), SETTINGS)
    assert (await Station.get(id=a.id)).state == "overdue"
    assert (await Station.get(id=b.id)).state == "active"
    await ticks.tick(sh(2027, 3, 1), SETTINGS)
    after = await outbox()
    assert (101, "filing_overdue", f"station:{a.id}", "2026:m1") in after
    assert not any(r in (201, 202) and k != "filing_window_open" for r, k, _, _ in after)
    await ticks.tick(sh(2027, 8, 1), SETTINGS)
    await ticks.tick(sh(2027, 9, 1), SETTINGS)
    assert (await Station.get(id=a.id)).state == "revocation_candidate"
    final = await outbox()
    assert {(r, k) for r, k, s, _ in final if k.startswith("revocation")} == {
        (101, "revocation_warning"), (900, "revocation_warning"), (900, "revocation_candidate")}
    again = await ticks.tick(sh(2027, 9, 1, 9, 30), SETTINGS)
    assert again.queued == [] and again.moves == []
    assert await Notice.exclude(kind__startswith="digest_").count() == len(final)


@both_databases
async def test_two_overlapping_ticks_queue_no_duplicate(db: str) -> None:
    await city()
    await ticks.tick(sh(2027, 1, 2), SETTINGS)
    first, second = await asyncio.gather(ticks.tick(sh(2027, 3, 2), SETTINGS), ticks.tick(sh(2027, 3, 2), SETTINGS))
    rows = await Notice.all().values_list("recipient_id", "kind", "subject", "period")
    assert len(rows) == len(set(rows))
    assert {q.kind for q in first.queued + second.queued} >= {"filing_overdue"}


async def test_window_closing_and_announcements_reach_contacts_and_subscribers_once(db: str) -> None:
    a, b, c = await city()
    for station in (a, b):  # filed: still active in April
        await FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28), state="filed_on_time")
    await KeyProjectWindow.create(year=2027, opens_on=date(2027, 3, 1), closes_on=date(2027, 4, 30), opened_by=900)
    await Submission.create(kind=SubmissionKind.KEY_PROJECT, station=b, created_by=201, year=2027, status="submitted",
                            uniqueness_key=f"key_project:{b.id}:2027")
    await ticks.tick(sh(2027, 4, 23), SETTINGS)
    closing = {(r, s) for r, k, s, _ in await outbox() if k == "key_project_window_closing"}
    # a may declare; b applied; c was recognised in 2027 (R7)
    assert closing == {(101, "key_project_window:2027")}

    await Notice.all().delete()
    declaration = await Submission.create(kind=SubmissionKind.ESTABLISHMENT, station=c, created_by=301, status="announced")
    announcement = await Announcement.create(kind="establishment", starts_on=date(2027, 5, 10), ends_on=date(2027, 5, 14),
                                             state="open", created_by=900)
    await AnnouncementItem.create(announcement=announcement, submission=declaration)
    await AnnouncementSubscriber.create(user_id=555, subscribed_at=sh(2027, 5, 1))
    await AnnouncementSubscriber.create(user_id=301, subscribed_at=sh(2027, 5, 1))  # also the item's contact
    await ticks.tick(sh(2027, 5, 10), SETTINGS)
    await ticks.tick(sh(2027, 5, 10, 12), SETTINGS)
    await ticks.tick(sh(2027, 5, 15), SETTINGS)
    rows = [(r, k) for r, k, s, _ in await Notice.all().values_list("recipient_id", "kind", "subject", "period")
            if k.startswith("announcement")]
    assert sorted(rows) == [(301, "announcement_end"), (301, "announcement_start"),
                            (555, "announcement_end"), (555, "announcement_start")]


async def test_a_dry_run_writes_nothing_and_lists_what_the_tick_then_queues(db: str) -> None:
    await city()
    planned = await ticks.dry_run(sh(2027, 3, 2), SETTINGS)
    assert await Notice.all().count() == 0 and await FilingObligation.all().count() == 0
    done = await ticks.tick(sh(2027, 3, 2), SETTINGS)
    strip = lambda qs: sorted((q.recipient, q.kind, q.subject, q.due_at) for q in qs)  # noqa: E731
    assert strip(planned.queued) == strip(done.queued)
    assert [(m.subject, m.subject_id, m.action) for m in planned.moves] == [
        (m.subject, m.subject_id, m.action) for m in done.moves]
