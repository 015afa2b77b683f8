"""A station's contacts in the tables: invite codes, joining, leaving, binding and unbinding.

Every act is one transaction with its `audit_log` row and its notices (storage.outbox), so a
contact is never bound without the code being spent, and nobody is told of what did not happen.
Only the SHA-256 of an invite code is stored (`InviteCode.hash_code`); nothing here sees or keeps
the code itself, and no audit row names one.

Notices go under the subject `station:<id>`, with the period naming the event and its audit row
(`joined:<audit id>`, `left:<audit id>`, ...): the outbox key keeps one act from being told twice,
and a person who leaves and joins again is told of again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage import outbox
from storage.models import AuditLog, BotUser, Contact, ContactRole, InviteCode, NaiveDatetimeError, Station, StationState

NOTICE_KIND = "status_change"
JOIN_FAILED = "join_failed"  # the throttle counts these rows (bot.services.contacts)

# A station in one of these states takes no new contacts and issues no codes.
CLOSED_STATES = (StationState.REVOKED, StationState.DEREGISTERED, StationState.NOT_ESTABLISHED)


class ContactRefused(Exception):
    """An act that does not fit the rows as found. `code` is stable: no_station, closed, not_bound,
    already_bound, bound_elsewhere, last_contact, invalid_code, already_handled, code_taken."""

    def __init__(self, code: str, station: Station | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.station = station


@dataclass(frozen=True)
class ContactRow:
    user_id: int
    role: str
    active: bool
    since: datetime  # when the row last changed: bound, or unbound (nothing else updates a contact)


@dataclass(frozen=True)
class Done:
    station: Station
    told: tuple[int, ...]  # who was sent a notice


def _utc(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise NaiveDatetimeError(f"now={now!r} has no time zone")
    return now.astimezone(UTC)


def _subject(station_id: int) -> str:
    return f"station:{station_id}"


async def _audit(actor_id: int, action: str, station_id: int | None, before: dict[str, Any] | None,
                 after: dict[str, Any] | None, now: datetime, subject_type: str = "station") -> AuditLog:
    return await AuditLog.create(actor_id=actor_id, action=action, subject_type=subject_type, subject_id=station_id,
                                 before=before, after=after, at=_utc(now))


async def _tell(user_ids: list[int], station: Station, period: str, text_key: str, now: datetime,
                params: dict[str, Any]) -> tuple[int, ...]:
    told = []
    for user_id in sorted(set(user_ids)):
        if await outbox.enqueue(user_id, NOTICE_KIND, _subject(station.id), period, text_key, now,
                                {"station": station.name, "station_id": station.id, **params}):
            told.append(user_id)
    return tuple(told)


async def _active_user_ids(station_id: int, *, besides: int | None = None) -> list[int]:
    query = Contact.filter(station_id=station_id, active=True)
    if besides is not None:
        query = query.exclude(user_id=besides)
    return list(await query.values_list("user_id", flat=True))


# -- reading ----------------------------------------------------------------------------------------


async def station_of(station_id: int) -> Station | None:
    return await Station.filter(id=station_id).first()


async def bound_station(user_id: int) -> Station | None:
    """The station the person is an active contact of (the latest, should there be several)."""
    contact = await Contact.filter(user_id=user_id, active=True).order_by("-created_at").select_related("station").first()
    return contact.station if contact else None


async def contacts_of(station_id: int) -> list[ContactRow]:
    rows = await Contact.filter(station_id=station_id).order_by("-active", "id")
    return [ContactRow(user_id=c.user_id, role=str(c.role.value), active=c.active, since=c.updated_at) for c in rows]


async def active_count(station_id: int) -> int:
    return await Contact.filter(station_id=station_id, active=True).count()


async def failures_since(user_id: int, since: datetime) -> list[datetime]:
    """When the person's wrong codes were typed since `since`, newest first."""
    return list(await AuditLog.filter(action=JOIN_FAILED, actor_id=user_id, at__gte=_utc(since))
                .order_by("-at").values_list("at", flat=True))


# -- invite codes -----------------------------------------------------------------------------------


async def issue_invite(station_id: int, code_hash: str, *, issued_by: int, expires_at: datetime, now: datetime,
                       by_staff: bool) -> InviteCode:
    """Store a code (its hash) for the station; a contact issues for their own station only.
    `code_taken`: the hash is there already (one draw in 2^50); the caller draws another."""
    try:
        return await _issue_invite(station_id, code_hash, issued_by=issued_by, expires_at=expires_at, now=now,
                                   by_staff=by_staff)
    except IntegrityError:
        raise ContactRefused("code_taken") from None


async def _issue_invite(station_id: int, code_hash: str, *, issued_by: int, expires_at: datetime, now: datetime,
                        by_staff: bool) -> InviteCode:
    async with in_transaction():
        station = await station_of(station_id)
        if station is None:
            raise ContactRefused("no_station")
        if station.state in CLOSED_STATES:
            raise ContactRefused("closed", station)
        if not by_staff and not await Contact.filter(station_id=station_id, user_id=issued_by, active=True).exists():
            raise ContactRefused("not_bound", station)
        invite = await InviteCode.create(code_hash=code_hash, station_id=station_id, issued_by=issued_by,
                                         expires_at=_utc(expires_at), created_at=_utc(now), updated_at=_utc(now))
        await _audit(issued_by, "contact.invite_issued", station_id, None,
                     {"invite_id": invite.id, "expires_at": _utc(expires_at).isoformat(), "by": "staff" if by_staff else "contact"},
                     now)
    return invite


async def record_join_failure(user_id: int, now: datetime) -> None:
    """A wrong, used or expired code: a row the throttle counts. The code typed is not kept."""
    await _audit(user_id, JOIN_FAILED, None, None, None, now, subject_type="invite")


async def _lock_person(user_id: int) -> None:
    """Hold the person's row until the transaction ends: a code redeemed on one instance and a
    staff /bind on another (two people acting, so no per-user conversation lock between them)
    would both find the person unbound and bind them to two stations."""
    await BotUser.get_or_create(id=user_id)
    await BotUser.filter(id=user_id).select_for_update().first()


async def redeem(code_hash: str, user_id: int, *, now: datetime) -> Done:
    """Bind the person to the code's station and spend the code, in one transaction."""
    moment = _utc(now)
    async with in_transaction():
        await _lock_person(user_id)
        if await bound_station(user_id) is not None:
            raise ContactRefused("already_bound")
        invite = await InviteCode.filter(code_hash=code_hash).select_related("station").first()
        if invite is None or invite.used_by is not None or invite.expires_at <= moment \
                or invite.station.state in CLOSED_STATES:
            raise ContactRefused("invalid_code")
        # Two people with one code at once: the first update wins, the second finds it used.
        spent = await InviteCode.filter(id=invite.id, used_by__isnull=True).update(used_by=user_id, used_at=moment,
                                                                                    updated_at=moment)
        if spent != 1:
            raise ContactRefused("invalid_code")
        station = invite.station
        await _bind_row(station.id, user_id, moment)
        act = await _audit(user_id, "contact.joined", station.id, None,
                     {"user_id": user_id, "role": ContactRole.CONTACT.value, "invite_id": invite.id}, now)
        others = await _active_user_ids(station.id, besides=user_id)
        told = await _tell(others, station, f"joined:{act.id}", "invite.notice.joined", now, {"user_id": user_id})
    return Done(station, told)


async def _bind_row(station_id: int, user_id: int, moment: datetime) -> None:
    """Make the person an active contact: a new row, or their old row of this station active again."""
    await BotUser.get_or_create(id=user_id)
    again = await Contact.filter(station_id=station_id, user_id=user_id, active=False).update(active=True, updated_at=moment)
    if again:
        return
    try:
        async with in_transaction():  # a savepoint (PostgreSQL aborts a transaction on a refused insert)
            contact = await Contact.create(user_id=user_id, station_id=station_id, role=ContactRole.CONTACT, active=True,
                                           created_at=moment)
    except IntegrityError:
        raise ContactRefused("already_handled") from None
    # `auto_now` writes the machine's time on create; "since when" is the injected clock's.
    await Contact.filter(id=contact.id).update(updated_at=moment)


# -- leaving, unbinding, binding ---------------------------------------------------------------------


async def leave(station_id: int, user_id: int, *, now: datetime) -> Done:
    """The contact leaves; the last active contact cannot (the bureau unbinds instead)."""
    moment = _utc(now)
    async with in_transaction():
        station = await Station.filter(id=station_id).select_for_update().first()
        if station is None:
            raise ContactRefused("no_station")
        if not await Contact.filter(station_id=station_id, user_id=user_id, active=True).exists():
            raise ContactRefused("not_bound", station)
        if await active_count(station_id) <= 1:
            raise ContactRefused("last_contact", station)
        await Contact.filter(station_id=station_id, user_id=user_id, active=True).update(active=False, updated_at=moment)
        act = await _audit(user_id, "contact.left", station_id, {"user_id": user_id, "active": True},
                     {"user_id": user_id, "active": False}, now)
        told = await _tell(await _active_user_ids(station_id), station, f"left:{act.id}", "invite.notice.left", now,
                           {"user_id": user_id})
    return Done(station, told)


async def unbind(station_id: int, user_id: int, *, staff_id: int, now: datetime) -> Done:
    """Staff unbind a contact, the last one too; the contact is told."""
    moment = _utc(now)
    async with in_transaction():
        station = await Station.filter(id=station_id).select_for_update().first()
        if station is None:
            raise ContactRefused("no_station")
        row = await Contact.filter(station_id=station_id, user_id=user_id).first()
        if row is None:
            raise ContactRefused("not_bound", station)
        if not await Contact.filter(id=row.id, active=True).update(active=False, updated_at=moment):
            raise ContactRefused("already_handled", station)
        act = await _audit(staff_id, "contact.unbound", station_id, {"user_id": user_id, "role": row.role.value, "active": True},
                     {"user_id": user_id, "role": row.role.value, "active": False}, now)
        told = await _tell([user_id], station, f"unbound:{act.id}", "invite.notice.unbound", now, {"user_id": user_id})
    return Done(station, told)


async def bind(station_id: int, user_id: int, *, staff_id: int, now: datetime) -> Done:
    """Staff bind a person to a station directly; someone bound elsewhere is unbound there first."""
    moment = _utc(now)
    async with in_transaction():
        station = await Station.filter(id=station_id).select_for_update().first()
        if station is None:
            raise ContactRefused("no_station")
        if station.state in CLOSED_STATES:
            raise ContactRefused("closed", station)
        await _lock_person(user_id)
        current = await bound_station(user_id)
        if current is not None:
            raise ContactRefused("already_handled" if current.id == station_id else "bound_elsewhere", current)
        await _bind_row(station_id, user_id, moment)
        act = await _audit(staff_id, "contact.bound", station_id, None,
                     {"user_id": user_id, "role": ContactRole.CONTACT.value, "active": True}, now)
        told = await _tell([user_id], station, f"bound:{act.id}", "invite.notice.bound", now, {"user_id": user_id})
    return Done(station, told)
