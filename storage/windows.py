"""The key-project application window of a year (七(一)): staff open it with its dates and close
it; the contacts of the stations that may declare are told when it opens.

Opening writes the window, an audit row and one `key_project_window_open` notice per contact of an
eligible station (active, not recognised in the window's year: R7) in one transaction; the notice
key (recipient, kind, "key_project_window:<year>", "<year>") keeps a reopened window from telling
anyone twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from tortoise.transactions import in_transaction

from bot.rules.decisions import may_declare_key_project
from storage import outbox
from storage.models import AuditLog, Contact, KeyProjectWindow, Station, StationState

NOTICE_KIND = "key_project_window_open"
NOTICE_TEXT = "decision_notice.key_project_window_open"


class WindowRefused(Exception):
    """code: already_open | not_open | bad_dates"""

    def __init__(self, code: str, window: KeyProjectWindow | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.window = window


async def window_of(year: int) -> KeyProjectWindow | None:
    return await KeyProjectWindow.filter(year=year).first()


async def is_open(year: int, today: date) -> bool:
    """Whether a key project for `year` may be declared on `today`: the window is open (not closed
    by staff) and `today` is within its dates."""
    window = await window_of(year)
    return window is not None and window.closed_at is None and window.opens_on <= today <= window.closes_on


async def eligible_contacts(year: int) -> list[int]:
    """The active contacts of every station that may declare for `year` (active, R7)."""
    stations = await Station.filter(state=StationState.ACTIVE).values_list("id", "recognised_on")
    ids = [sid for sid, recognised_on in stations if may_declare_key_project(recognised_on, year)]
    if not ids:
        return []
    users = await Contact.filter(station_id__in=ids, active=True).values_list("user_id", flat=True)
    return sorted(set(users))


async def open_window(year: int, opens_on: date, closes_on: date, *, staff_id: int, now: datetime) -> tuple[KeyProjectWindow, tuple[int, ...]]:
    """Open (or reopen, after it was closed) the window of `year`; returns it and who was told."""
    if closes_on < opens_on:
        raise WindowRefused("bad_dates")
    moment = now.astimezone(UTC)
    async with in_transaction():
        window = await window_of(year)
        if window is not None and window.closed_at is None:
            raise WindowRefused("already_open", window)
        before = None
        if window is None:
            window = await KeyProjectWindow.create(year=year, opens_on=opens_on, closes_on=closes_on, opened_by=staff_id)
        else:
            before = {"opens_on": window.opens_on.isoformat(), "closes_on": window.closes_on.isoformat(), "closed": True}
            updated = await KeyProjectWindow.filter(id=window.id, closed_at__not_isnull=True).update(
                opens_on=opens_on, closes_on=closes_on, opened_by=staff_id, closed_at=None
            )
            if updated != 1:
                raise WindowRefused("already_open", window)
            window = await KeyProjectWindow.get(id=window.id)
        await AuditLog.create(
            actor_id=staff_id, action="key_project_window.open", subject_type="kp_window", subject_id=window.id,
            before=before, after={"year": year, "opens_on": opens_on.isoformat(), "closes_on": closes_on.isoformat()},
            at=moment,
        )
        params = {"year": year, "opens_on": opens_on.isoformat(), "closes_on": closes_on.isoformat()}
        told = []
        for user_id in await eligible_contacts(year):
            if await outbox.enqueue(user_id, NOTICE_KIND, f"key_project_window:{year}", str(year), NOTICE_TEXT, now, params):
                told.append(user_id)
    return window, tuple(told)


async def close_window(year: int, *, staff_id: int, now: datetime) -> KeyProjectWindow:
    """Close the open window of `year` now; no declaration for the year is taken after this."""
    moment = now.astimezone(UTC)
    async with in_transaction():
        window = await window_of(year)
        if window is None or window.closed_at is not None:
            raise WindowRefused("not_open", window)
        updated = await KeyProjectWindow.filter(id=window.id, closed_at__isnull=True).update(closed_at=moment)
        if updated != 1:
            raise WindowRefused("not_open", window)
        await AuditLog.create(
            actor_id=staff_id, action="key_project_window.close", subject_type="kp_window", subject_id=window.id,
            before={"closed": False}, after={"closed": True}, at=moment,
        )
        return await KeyProjectWindow.get(id=window.id)
