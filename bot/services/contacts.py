"""A station's contacts (SPEC §2): one-time invite codes, joining with one, leaving, and the
bureau's binding and unbinding. No Telegram types: the handlers render what these return.

An invite code is 10 characters of an alphabet without look-alikes (no 0/O, no 1/I), shown as
"ABCD-EFGH-JK" and valid 7 days. It is shown once, to whoever issued it; only its SHA-256 is
stored. A typed code is read without case, blanks or dashes, so "abcd efgh jk" works too.

Wrong codes are throttled: after `MAX_FAILURES` wrong codes within `FAILURE_WINDOW`, codes are
not even looked at until the oldest of those falls out of the window. The memory is the audit
log (one `join_failed` row per wrong code), so it holds across restarts and bot instances.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from storage import contacts as store
from storage.contacts import ContactRefused, ContactRow
from storage.models import InviteCode, Station

__all__ = [
    "ALPHABET", "CODE_LENGTH", "ContactRefused", "ContactRow", "FAILURE_WINDOW", "INVITE_VALIDITY", "Issued",
    "JoinOutcome", "MAX_FAILURES", "bind", "bound_station", "code_hash", "contacts_of", "format_code", "issue",
    "issue_for_contact", "join", "leave", "may_leave", "new_code", "normalise", "retry_at", "throttled_until", "unbind",
]

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 characters: no 0/O, no 1/I
CODE_LENGTH = 10  # 50 bits: guessing one of a handful of live codes is hopeless at 5 tries per 15 minutes
INVITE_VALIDITY = timedelta(days=7)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
_IGNORED = re.compile(r"[\s\-_–—]+")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """"ABCDEFGHJK" → "ABCD-EFGH-JK" (groups of four, for reading aloud and typing)."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise(typed: str) -> str:
    """The code as typed, without case, blanks or dashes."""
    return _IGNORED.sub("", typed).upper()


def code_hash(typed: str) -> str:
    return InviteCode.hash_code(normalise(typed))


def retry_at(failures: list[datetime], now: datetime) -> datetime | None:
    """When codes are looked at again: None if not throttled. `failures` are newest first."""
    recent = [at for at in failures if at > now - FAILURE_WINDOW]
    if len(recent) < MAX_FAILURES:
        return None
    # Once the MAX_FAILURES-th newest leaves the window, fewer than MAX_FAILURES remain in it.
    return recent[MAX_FAILURES - 1] + FAILURE_WINDOW


@dataclass(frozen=True)
class Issued:
    code: str  # formatted, to be shown once and never stored
    station: Station
    expires_at: datetime


async def issue(station_id: int, issued_by: int, clock: Clock, *, by_staff: bool = False) -> Issued:
    """A new code for the station, by one of its active contacts or by staff. Raises ContactRefused."""
    now = clock.now()
    expires_at = now + INVITE_VALIDITY
    for attempt in range(3):
        code = new_code()
        try:
            invite = await store.issue_invite(station_id, InviteCode.hash_code(code), issued_by=issued_by,
                                              expires_at=expires_at, now=now, by_staff=by_staff)
        except ContactRefused as refused:
            if refused.code != "code_taken" or attempt == 2:
                raise
            continue
        station = await store.station_of(invite.station_id)
        assert station is not None
        return Issued(format_code(code), station, expires_at)
    raise AssertionError("unreachable")


async def bound_station(user_id: int) -> Station | None:
    return await store.bound_station(user_id)


async def issue_for_contact(user_id: int, clock: Clock) -> Issued:
    """/invite: a code for the station the person is a contact of."""
    station = await store.bound_station(user_id)
    if station is None:
        raise ContactRefused("not_bound")
    return await issue(station.id, user_id, clock)


@dataclass(frozen=True)
class JoinOutcome:
    """code: joined | invalid_code | throttled | already_bound."""

    code: str
    station: Station | None = None
    retry_at: datetime | None = None


async def throttled_until(user_id: int, clock: Clock) -> datetime | None:
    now = clock.now()
    return retry_at(await store.failures_since(user_id, now - FAILURE_WINDOW), now)


async def join(user_id: int, typed: str, clock: Clock) -> JoinOutcome:
    """Redeem a typed code. A wrong, used or expired code is one outcome (`invalid_code`): the
    remedy is the same (ask for a new code), and a guesser learns nothing of which codes exist."""
    now = clock.now()
    if await store.bound_station(user_id) is not None:
        return JoinOutcome("already_bound")
    until = await throttled_until(user_id, clock)
    if until is not None:
        return JoinOutcome("throttled", retry_at=until)
    normalised = normalise(typed)
    if len(normalised) != CODE_LENGTH or any(c not in ALPHABET for c in normalised):
        # Not even shaped like a code: still a wrong code for the throttle.
        await store.record_join_failure(user_id, now)
        return JoinOutcome("invalid_code")
    try:
        done = await store.redeem(InviteCode.hash_code(normalised), user_id, now=now)
    except ContactRefused as refused:
        if refused.code == "already_bound":
            return JoinOutcome("already_bound")
        await store.record_join_failure(user_id, now)
        return JoinOutcome("invalid_code")
    return JoinOutcome("joined", station=done.station)


async def may_leave(user_id: int) -> tuple[Station | None, str | None]:
    """The person's station and why they may not leave it (None: they may)."""
    station = await store.bound_station(user_id)
    if station is None:
        return None, "not_bound"
    if await store.active_count(station.id) <= 1:
        return station, "last_contact"
    return station, None


async def leave(user_id: int, station_id: int, clock: Clock) -> store.Done:
    return await store.leave(station_id, user_id, now=clock.now())


async def contacts_of(station_id: int) -> tuple[Station | None, list[ContactRow]]:
    station = await store.station_of(station_id)
    if station is None:
        return None, []
    return station, await store.contacts_of(station_id)


async def unbind(station_id: int, user_id: int, staff_id: int, clock: Clock) -> store.Done:
    return await store.unbind(station_id, user_id, staff_id=staff_id, now=clock.now())


async def bind(station_id: int, user_id: int, staff_id: int, clock: Clock) -> store.Done:
    return await store.bind(station_id, user_id, staff_id=staff_id, now=clock.now())
