"""九 (R12, R13) as use-cases, without Telegram: the revocation candidates, a station's supervision
record, revoking a station, and the records that follow (plaque, funding recovery, judicial
referral, 核查).

A revocation is the station's "revoke" transition through `storage.transitions.apply_transition`
(status, status_transition, audit_log and the contacts' notices in one transaction); the other
records go through storage.supervision, each with its audit row. Refusals come back as codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from bot.i18n import t
from bot.rules.lifecycle import Actor, lifecycle_of
from bot.rules.supervision import REVOCATION_GROUNDS, candidate_from, is_revocation_candidate
from storage import supervision as store
from storage.models import Funding, Inspection, Station
from storage.transitions import TransitionRefused, apply_transition

__all__ = [
    "Candidate",
    "Outcome",
    "Record",
    "candidates",
    "is_revocable",
    "parse_amount",
    "record",
    "revoke",
    "station_record",
]


@dataclass(frozen=True)
class Candidate:
    """A station that has not filed for more than 6 months past a due date (R12)."""

    station_id: int
    name: str
    state: str
    years: tuple[int, ...]  # the years not filed, oldest first
    due_on: date  # the (extended) due date of the oldest of them
    extended: bool  # that date is an approved extension's
    candidate_since: date


async def candidates(today: date, obligations: list[store.UnfiledObligation] | None = None) -> list[Candidate]:
    """Every station that is a revocation candidate on `today`, longest overdue first.
    `obligations`: the unfiled obligations already read (with a due date before `today`, or
    later: those are not candidates), to spare reading them again."""
    by_station: dict[int, list[store.UnfiledObligation]] = {}
    for o in obligations if obligations is not None else await store.unfiled_obligations(due_before=today):
        if is_revocation_candidate(o.due_on, today, o.extended_due_on):
            by_station.setdefault(o.station_id, []).append(o)
    found = []
    for station_id, rows in by_station.items():
        first = min(rows, key=lambda o: candidate_from(o.due_on, o.extended_due_on))
        since = candidate_from(first.due_on, first.extended_due_on)
        found.append(Candidate(
            station_id=station_id, name=first.station_name, state=first.station_state,
            years=tuple(sorted(o.year for o in rows)),
            due_on=first.extended_due_on if first.extended_due_on and first.extended_due_on > first.due_on else first.due_on,
            extended=first.extended_due_on is not None and first.extended_due_on > first.due_on,
            candidate_since=since,
        ))
    return sorted(found, key=lambda c: (c.candidate_since, c.station_id))


def is_revocable(state: str) -> bool:
    return lifecycle_of("station").find("revoke", state) is not None


@dataclass(frozen=True)
class Record:
    station: Station
    candidate: Candidate | None
    fundings: list[Funding] = field(default_factory=list)
    inspections: list[Inspection] = field(default_factory=list)


async def station_record(station_id: int, today: date) -> Record | None:
    station = await Station.filter(id=station_id).first()
    if station is None:
        return None
    candidate = next((c for c in await candidates(today) if c.station_id == station_id), None)
    return Record(station, candidate, await store.fundings_of(station_id), await store.inspections_of(station_id))


@dataclass(frozen=True)
class Outcome:
    ok: bool
    code: str | None = None
    state: str = ""
    notified: int = 0


def reason_text(ground: str, text: str) -> str:
    """What the contacts read as the reason: the ground (in the bureau's language) and the text."""
    return f"{t('zh', f'supervision.ground.{ground}')}：{text.strip()}"


async def revoke(station_id: int, ground: str, text: str, *, staff_id: int, expected_state: str, now: datetime,
                 today: date) -> Outcome:
    """撤销并收回牌匾: the station is revoked on `today` on one of the grounds of 九; its contacts are told."""
    if ground not in REVOCATION_GROUNDS:
        return Outcome(False, "unknown_ground")
    if not text.strip():
        return Outcome(False, "reason_required")
    try:
        result = await apply_transition(
            "station", station_id, "revoke", actor_id=staff_id, actor=Actor.STAFF, now=now,
            reason=reason_text(ground, text), expected_state=expected_state,
            changes={"revoked_on": today, "revocation_reason": ground},
        )
    except TransitionRefused as refused:
        return Outcome(False, refused.code, refused.current or "")
    return Outcome(True, state=result.to_state, notified=len(result.notified))


def parse_amount(text: str) -> Decimal | None:
    try:
        amount = Decimal(text.replace(",", "").replace("，", "").strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 and amount == amount.quantize(Decimal("0.01")) else None


async def record(what: str, subject_id: int, *, staff_id: int, now: datetime, today: date, text: str = "",
                 amount: Decimal | None = None, on: date | None = None) -> Outcome:
    """One supervision record: plaque, referral, inspection (station id) or recovery, recovered (funding id)."""
    try:
        if what == "plaque":
            await store.record_plaque_returned(subject_id, on or today, staff_id=staff_id, now=now)
        elif what == "referral":
            await store.record_judicial_referral(subject_id, on or today, text, staff_id=staff_id, now=now)
        elif what == "inspection":
            if not text.strip():
                return Outcome(False, "reason_required")
            await store.record_inspection(subject_id, on or today, text, staff_id=staff_id, now=now)
        elif what == "recovery":
            if amount is None:
                return Outcome(False, "too_much")
            await store.require_recovery(subject_id, amount, text, staff_id=staff_id, now=now)
        elif what == "recovered":
            await store.record_recovered(subject_id, on or today, staff_id=staff_id, now=now)
        else:
            return Outcome(False, "unknown")
    except store.SupervisionRefused as refused:
        return Outcome(False, refused.code)
    return Outcome(True)
