"""九 in the tables: what the revocation-candidate list reads, and the supervision records that are no
change of state (plaque returned, funding to recover and recovered, judicial referral, 核查).

A revocation itself is a station transition (storage.transitions.apply_transition). Each record
here is written with its `audit_log` row (who, what, when, before/after) in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from storage.models import (
    AuditLog,
    FilingObligation,
    FilingState,
    Funding,
    Inspection,
    NaiveDatetimeError,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

__all__ = [
    "SupervisionRefused",
    "UnfiledObligation",
    "inspections_of",
    "record_inspection",
    "record_judicial_referral",
    "record_plaque_returned",
    "record_recovered",
    "require_recovery",
    "unfiled_obligations",
]

# A station that may still be revoked for not filing (lifecycle: revoke starts from these).
SUPERVISED_STATES = (StationState.ACTIVE, StationState.OVERDUE, StationState.REVOCATION_CANDIDATE)
UNFILED_STATES = (FilingState.NOT_DUE, FilingState.DUE, FilingState.EXTENDED, FilingState.OVERDUE)


class SupervisionRefused(Exception):
    """A record that does not fit the row as found: `code` is stable (unknown, not_revoked,
    already_recorded, not_required, too_much)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class UnfiledObligation:
    station_id: int
    station_name: str
    station_state: str
    year: int
    due_on: date
    extended_due_on: date | None  # the later of the obligation's and an approved extension request's


async def unfiled_obligations(due_before: date) -> list[UnfiledObligation]:
    """Unfiled filing obligations of supervised stations whose original due date is before
    `due_before` (a cheap bound; bot.rules.supervision decides), with any approved extension."""
    rows = await FilingObligation.filter(
        state__in=list(UNFILED_STATES), due_on__lt=due_before, station__state__in=list(SUPERVISED_STATES)
    ).values("station_id", "station__name", "station__state", "year", "due_on", "extended_due_on")
    if not rows:
        return []
    # By year, not by station: the approved extensions are few, and a list of every station's id
    # as bound parameters costs more than it saves (bench/notices.py, the digest at scale).
    extensions = await Submission.filter(
        kind=SubmissionKind.EXTENSION, status=SubmissionStatus.APPROVED,
        year__in=sorted({r["year"] for r in rows}), due_on__isnull=False,
    ).values("station_id", "year", "due_on")
    approved: dict[tuple[int, int], date] = {}
    for e in extensions:
        key = (e["station_id"], e["year"])
        approved[key] = max(approved.get(key, e["due_on"]), e["due_on"])
    found = []
    for r in rows:
        extended = [d for d in (r["extended_due_on"], approved.get((r["station_id"], r["year"]))) if d is not None]
        found.append(UnfiledObligation(
            station_id=r["station_id"], station_name=r["station__name"], station_state=str(r["station__state"]),
            year=r["year"], due_on=r["due_on"], extended_due_on=max(extended) if extended else None,
        ))
    return sorted(found, key=lambda o: (o.due_on, o.station_id, o.year))


def _utc(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise NaiveDatetimeError(f"now={now!r} has no time zone")
    return now.astimezone(UTC)


def _json(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _audit(actor_id: int, action: str, subject_type: str, subject_id: int, before: dict[str, Any],
                 after: dict[str, Any], now: datetime) -> None:
    await AuditLog.create(
        actor_id=actor_id, action=action, subject_type=subject_type, subject_id=subject_id,
        before={k: _json(v) for k, v in before.items()}, after={k: _json(v) for k, v in after.items()}, at=_utc(now),
    )


async def _station(station_id: int) -> Station:
    station = await Station.filter(id=station_id).first()
    if station is None:
        raise SupervisionRefused("unknown", f"no station {station_id}")
    return station


async def record_plaque_returned(station_id: int, on: date, *, staff_id: int, now: datetime) -> None:
    """收回牌匾: the plaque of a revoked (or deregistered) station is back."""
    async with in_transaction():
        station = await _station(station_id)
        if station.state not in (StationState.REVOKED, StationState.DEREGISTERED):
            raise SupervisionRefused("not_revoked", f"station {station_id} is {station.state}")
        if station.plaque_returned_on is not None:
            raise SupervisionRefused("already_recorded", "plaque returned already")
        if not await Station.filter(id=station_id, plaque_returned_on__isnull=True).update(plaque_returned_on=on):
            raise SupervisionRefused("already_recorded", "plaque returned already")
        await _audit(staff_id, "station.plaque_returned", "station", station_id,
                     {"plaque_returned_on": None}, {"plaque_returned_on": on}, now)


async def record_judicial_referral(station_id: int, on: date, note: str, *, staff_id: int, now: datetime) -> None:
    """涉嫌犯罪的，移交司法机关: the day of the referral, and a note in the audit row."""
    async with in_transaction():
        station = await _station(station_id)
        if station.judicial_referral_on is not None:
            raise SupervisionRefused("already_recorded", "referred already")
        if not await Station.filter(id=station_id, judicial_referral_on__isnull=True).update(judicial_referral_on=on):
            raise SupervisionRefused("already_recorded", "referred already")
        await _audit(staff_id, "station.judicial_referral", "station", station_id,
                     {"judicial_referral_on": None}, {"judicial_referral_on": on, "note": note.strip()}, now)


async def require_recovery(funding_id: int, amount: Decimal, reason: str, *, staff_id: int, now: datetime) -> None:
    """涉及资助经费予以追回: how much of a paid funding is to be recovered, and why."""
    async with in_transaction():
        funding = await Funding.filter(id=funding_id).first()
        if funding is None:
            raise SupervisionRefused("unknown", f"no funding {funding_id}")
        if funding.recovered_on is not None:
            raise SupervisionRefused("already_recorded", "recovered already")
        if amount <= 0 or amount > funding.amount:
            raise SupervisionRefused("too_much", f"{amount} of {funding.amount}")
        before = {"recovery_required": funding.recovery_required, "recovery_amount": funding.recovery_amount,
                  "recovery_reason": funding.recovery_reason}
        after = {"recovery_required": True, "recovery_amount": amount, "recovery_reason": reason.strip()}
        if not await Funding.filter(id=funding_id, recovered_on__isnull=True).update(**after):
            raise SupervisionRefused("already_recorded", "recovered already")
        await _audit(staff_id, "funding.require_recovery", "funding", funding_id, before, after, now)


async def record_recovered(funding_id: int, on: date, *, staff_id: int, now: datetime) -> None:
    """The amount to recover has come back (追回)."""
    async with in_transaction():
        funding = await Funding.filter(id=funding_id).first()
        if funding is None:
            raise SupervisionRefused("unknown", f"no funding {funding_id}")
        if not funding.recovery_required:
            raise SupervisionRefused("not_required", "no recovery was required")
        if funding.recovered_on is not None:
            raise SupervisionRefused("already_recorded", "recovered already")
        if not await Funding.filter(id=funding_id, recovered_on__isnull=True).update(recovered_on=on):
            raise SupervisionRefused("already_recorded", "recovered already")
        await _audit(staff_id, "funding.recovered", "funding", funding_id, {"recovered_on": None}, {"recovered_on": on}, now)


async def record_inspection(station_id: int, on: date, finding: str, *, staff_id: int, now: datetime) -> Inspection:
    """核查 of a station by the bureau and what it found."""
    async with in_transaction():
        if not await Station.filter(id=station_id).exists():
            raise SupervisionRefused("unknown", f"no station {station_id}")
        inspection = await Inspection.create(station_id=station_id, inspected_on=on, finding=finding.strip(),
                                             inspected_by=staff_id)
        await _audit(staff_id, "station.inspection", "inspection", inspection.id, {},
                     {"station_id": station_id, "inspected_on": on, "finding": finding.strip()}, now)
    return inspection


async def inspections_of(station_id: int) -> list[Inspection]:
    return await Inspection.filter(station_id=station_id).order_by("-inspected_on", "-id")


async def fundings_of(station_id: int) -> list[Funding]:
    return await Funding.filter(station_id=station_id).order_by("id")
