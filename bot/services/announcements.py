"""公示 and 异议 as use-cases (R6, R19), without Telegram: publish a batch, list what is open, file
and decide an objection, enter a year's holiday arrangement, close what has ended.

`close_due_announcements(now)` is what the scheduler calls on a tick: idempotent, it closes every
announcement whose last day has passed and that has no objection pending, and moves its items on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.clock import Clock, local_today
from bot.rules.lifecycle import Actor
from bot.rules.working_days import ANNOUNCEMENT_DAYS, Window, announcement_window, library_knows, parse_arrangement
from bot.services import staff
from bot.settings import Settings, get_settings
from storage import announcements as store
from storage.models import AnnouncementKind

__all__ = [
    "Preview",
    "close_due_announcements",
    "close_now",
    "decide",
    "enter_arrangement",
    "file_objection",
    "preview",
    "publish",
    "window",
]

# How far ahead staff may set the start of a 公示.
LATEST_START = timedelta(days=60)


async def window(starts_on: date, settings: Settings) -> Window:
    """The window of a 公示 starting on `starts_on`, with staff-entered arrangements applied."""
    if settings.announcement_calendar_days:
        return announcement_window(starts_on, working_days=False)
    # the 5 working days may run into the next year (and, over a long holiday, barely further)
    arrangement = await store.arrangement(range(starts_on.year, starts_on.year + 2))
    return announcement_window(starts_on, days=ANNOUNCEMENT_DAYS, arrangement=arrangement)


@dataclass(frozen=True)
class Preview:
    kind: AnnouncementKind
    items: list[Any]  # storage Submission rows (station, unit prefetched)
    window: Window
    problem: str | None = None  # "past" | "too_far"


async def preview(kind: AnnouncementKind, starts_on: date, clock: Clock, settings: Settings) -> Preview:
    today = local_today(clock, settings.tz)
    items = await store.announceable(kind)
    problem = None
    if starts_on < today:
        problem = "past"
    elif starts_on > today + LATEST_START:
        problem = "too_far"
    return Preview(kind, items, await window(starts_on, settings), problem)


async def publish(kind: AnnouncementKind, starts_on: date, staff_id: int, clock: Clock,
                  settings: Settings) -> tuple[int | None, list[int], Window]:
    """Announce every item now awaiting a 公示; (announcement id or None, the items, the window)."""
    shown = await preview(kind, starts_on, clock, settings)
    if shown.problem is not None or not shown.items:
        return None, [], shown.window
    today = local_today(clock, settings.tz)
    announcement, announced = await store.publish(
        kind, [s.id for s in shown.items], starts_on=starts_on, ends_on=shown.window.ends_on,
        opened=starts_on <= today, created_by=staff_id, now=clock.now(),
    )
    return (announcement.id if announced else None), announced, shown.window


async def open_announcements(clock: Clock, settings: Settings) -> list[store.Listed]:
    return await store.open_announcements(local_today(clock, settings.tz))


async def file_objection(item_id: int, user_id: int, text: str, evidence: dict[str, Any] | None, clock: Clock,
                         settings: Settings) -> store.Filed:
    return await store.file_objection(
        item_id, user_id, text, evidence=evidence, today=local_today(clock, settings.tz), now=clock.now(),
        staff_recipients=await staff.staff_ids(settings),
    )


async def decide(objection_id: int, upheld: bool, staff_id: int, clock: Clock, note: str = "") -> store.Decided:
    return await store.decide_objection(objection_id, upheld=upheld, staff_id=staff_id, note=note, now=clock.now())


@dataclass(frozen=True)
class Entered:
    year: int
    holidays: int
    workdays: int
    library_knows: bool


async def enter_arrangement(year: int, text: str, staff_id: int) -> Entered:
    """Store a year's official arrangement; raises working_days.ArrangementError on bad text."""
    holidays, workdays = parse_arrangement(year, text)
    await store.replace_arrangement(year, holidays, workdays, staff_id)
    return Entered(year, len(holidays), len(workdays), library_knows(year))


async def close_now(announcement_id: int, staff_id: int, clock: Clock, settings: Settings) -> store.Closed:
    """Staff close an ended announcement at once (the tick would do it on its next run)."""
    return await store.close(announcement_id, today=local_today(clock, settings.tz), now=clock.now(),
                             actor=Actor.STAFF, actor_id=staff_id)


async def close_due_announcements(now: datetime, settings: Settings | None = None) -> list[store.Closed]:
    """Open what has started, close what has ended with nothing pending (the scheduler's tick).

    Returns what was closed and what waits for objections to be decided; nothing twice.
    """
    settings = settings or get_settings()
    today = now.astimezone(settings.tz).date()
    await store.open_started(today)
    results = []
    for announcement_id in await store.due_for_closing(today):
        results.append(await store.close(announcement_id, today=today, now=now, actor=Actor.SYSTEM, actor_id=None))
    return results
