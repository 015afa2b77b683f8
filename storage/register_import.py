"""Writing an imported register (bot.services.register_import): the whole run in one transaction,
so a failure anywhere leaves the database as it was.

A new station is written as the real flows leave one: its unit, the station with its life-cycle
rows (applying, then active, then revoked or deregistered where the register says so; actor
system, reason "import"), a recognised establishment declaration holding its mentors in the
declaration form's shape (ID numbers sealed by the caller), its filing obligations, its graded or
funded key projects with their grade places and funding, and its contacts: bound at once when the
register has their Telegram id, else an invite code (only its hash is stored here).

Each imported declaration, key project and filing obligation past its initial state gets one
status_transition row from that initial state to the state the register gives (no action: the
register is not one of the life cycle's moves; actor system, reason "import"), so every state
is explained by its audit rows as for items that went through the bot; the declarations and key
projects take a reference of their series (the year recognised, the project's year), so staff
find them by it like any other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from storage.submissions import reserve_references
from storage.models import (
    AuditLog,
    BotUser,
    Contact,
    ContactRole,
    EstablishmentMode,
    FilingObligation,
    FilingState,
    Funding,
    InviteCode,
    KeyProjectGrade,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)

REASON = "import"
# The reference series of what the import writes (bot/forms/*: each spec's reference prefix).
DECLARATION_PREFIX = "SZJS"
KEY_PROJECT_PREFIX = "SZXM"


@dataclass
class NewStation:
    row: int
    unit_name: str
    uscc: str
    unit_type: UnitType
    mode: EstablishmentMode
    partner_name: str | None
    school_enterprise: bool
    name: str
    recognised_on: date
    head: str | None
    state: StationState


@dataclass
class NewContact:
    uscc: str
    name: str
    telegram_id: int | None
    invite_code: str | None = None  # drawn by the caller; only its hash is stored


@dataclass
class NewMentor:
    uscc: str
    answers: dict[str, Any]


@dataclass
class NewFiling:
    uscc: str
    year: int
    due_on: date
    extended_due_on: date | None
    state: str
    owed: bool = False  # not on the sheet: owed since recognition (R10)


@dataclass
class NewKeyProject:
    uscc: str
    year: int
    level: int
    amount: Decimal
    answers: dict[str, Any]


@dataclass
class Plan:
    stations: list[NewStation] = field(default_factory=list)
    contacts: list[NewContact] = field(default_factory=list)
    mentors: list[NewMentor] = field(default_factory=list)
    filings: list[NewFiling] = field(default_factory=list)
    key_projects: list[NewKeyProject] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"stations": len(self.stations), "contacts": len(self.contacts), "mentors": len(self.mentors),
                "filings": sum(not f.owed for f in self.filings), "owed": sum(f.owed for f in self.filings),
                "key_projects": len(self.key_projects)}


@dataclass(frozen=True)
class Present:
    station_id: int
    recognised_on: date | None


async def present_stations(usccs: list[str]) -> dict[str, Present]:
    """The stations of these USCCs already in the database (the latest of each unit)."""
    out: dict[str, Present] = {}
    for chunk in range(0, len(usccs), 500):
        rows = await Station.filter(unit__uscc__in=usccs[chunk:chunk + 500]).order_by("id").values_list(
            "id", "recognised_on", "unit__uscc")
        for station_id, recognised_on, uscc in rows:
            out[uscc] = Present(station_id, recognised_on)
    # A unit without a station yet (a declaration in progress) is there too: leave it alone.
    for chunk in range(0, len(usccs), 500):
        for uscc in await Unit.filter(uscc__in=usccs[chunk:chunk + 500]).values_list("uscc", flat=True):
            out.setdefault(uscc, Present(0, None))
    return out


async def bound_users(user_ids: list[int]) -> set[int]:
    """Who of these is an active contact of a station already."""
    out: set[int] = set()
    for chunk in range(0, len(user_ids), 500):
        out.update(await Contact.filter(user_id__in=user_ids[chunk:chunk + 500], active=True)
                   .values_list("user_id", flat=True))
    return out


async def grade_places_taken() -> dict[tuple[int, int], int]:
    """(year, level) -> places held (R8)."""
    out: dict[tuple[int, int], int] = {}
    for year, level in await KeyProjectGrade.all().values_list("year", "level"):
        out[(year, level)] = out.get((year, level), 0) + 1
    return out


def _at(day: date) -> datetime:
    return datetime.combine(day, time(1, 0), tzinfo=UTC)


def _entry(subject: str, subject_id: int, before: str, after: str, at: datetime) -> StatusTransition:
    """The audit row of an item entering its life cycle from the register."""
    return StatusTransition(subject_type=subject, subject_id=subject_id, action="", from_status=before,
                            to_status=after, actor_kind="system", reason=REASON, at=at)


async def _references(plan: Plan) -> dict[tuple[str, int], list[str]]:
    """Every reference the plan's declarations and key projects take, per series and year, in the
    order they are written: one reservation per series and year, not one per item."""
    wanted = Counter([(DECLARATION_PREFIX, s.recognised_on.year) for s in plan.stations]
                     + [(KEY_PROJECT_PREFIX, p.year) for p in plan.key_projects])
    return {(prefix, year): await reserve_references(year, prefix, n) for (prefix, year), n in sorted(wanted.items())}


async def write(plan: Plan, *, actor_id: int, now: datetime, expires_at: datetime) -> None:
    now = now.astimezone(UTC)
    async with in_transaction():
        stations: dict[str, Station] = {}
        entries: list[StatusTransition] = []  # each imported item's audit row, written at the end
        references = await _references(plan)
        mentors: dict[str, list[dict[str, Any]]] = {}
        for mentor in plan.mentors:
            mentors.setdefault(mentor.uscc, []).append(mentor.answers)
        for new in plan.stations:
            unit = await Unit.create(name=new.unit_name, uscc=new.uscc, unit_type=new.unit_type)
            station = await Station.create(
                unit=unit, name=new.name, mode=new.mode, partner_name=new.partner_name or "",
                school_enterprise=new.school_enterprise, recognised_on=new.recognised_on, state=new.state,
            )
            stations[new.uscc] = station
            at = _at(new.recognised_on)
            moves = [(None, StationState.APPLYING.value, "", at),
                     (StationState.APPLYING.value, StationState.ACTIVE.value, "recognise", at)]
            if new.state != StationState.ACTIVE:  # revoked or deregistered: when, the register does not say
                moves.append((StationState.ACTIVE.value, new.state.value, "", now))
            await StatusTransition.bulk_create([
                StatusTransition(subject_type="station", subject_id=station.id, action=action, from_status=before,
                                 to_status=after, actor_kind="system", reason=REASON, at=when)
                for before, after, action, when in moves
            ])
            declaration = await Submission.create(
                kind=SubmissionKind.ESTABLISHMENT, status=SubmissionStatus.RECOGNISED, unit=unit, station=station,
                created_by=actor_id,
                answers={"unit_name": new.unit_name, "uscc": new.uscc, "station_name": new.name,
                         "head_name": new.head or "",
                         "mentors": mentors.get(new.uscc, [])},
                uniqueness_key=f"establishment:{new.uscc}", submitted_at=at, decided_at=at,
                reference=references[(DECLARATION_PREFIX, new.recognised_on.year)].pop(0),
            )
            entries.append(_entry("submission", declaration.id, SubmissionStatus.DRAFT.value,
                                  SubmissionStatus.RECOGNISED.value, at))
        await FilingObligation.bulk_create([
            FilingObligation(station_id=stations[f.uscc].id, year=f.year, due_on=f.due_on,
                             extended_due_on=f.extended_due_on, state=f.state)
            for f in plan.filings
        ])
        imported_ids = [station.id for station in stations.values()]
        for chunk in range(0, len(imported_ids), 500):
            for obligation_id, state in await FilingObligation.filter(
                    station_id__in=imported_ids[chunk:chunk + 500]).exclude(state=FilingState.NOT_DUE).values_list("id", "state"):
                entries.append(_entry("filing", obligation_id, FilingState.NOT_DUE.value, str(state), now))
        slots: dict[tuple[int, int], int] = {}
        for project in plan.key_projects:
            station = stations[project.uscc]
            funded = project.amount > 0
            submission = await Submission.create(
                kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.FUNDED if funded else SubmissionStatus.GRADED,
                unit_id=station.unit_id, station=station, created_by=actor_id, year=project.year, level=project.level,
                answers=project.answers, uniqueness_key=f"key_project:{station.id}:{project.year}",
                submitted_at=now, decided_at=now, reference=references[(KEY_PROJECT_PREFIX, project.year)].pop(0),
            )
            entries.append(_entry("submission", submission.id, SubmissionStatus.DRAFT.value, str(submission.status.value), now))
            key = (project.year, project.level)
            if key not in slots:
                used = await KeyProjectGrade.filter(year=project.year, level=project.level).values_list("slot", flat=True)
                slots[key] = max(used, default=0)
            slots[key] += 1
            await KeyProjectGrade.create(year=project.year, level=project.level, slot=slots[key], submission=submission,
                                         graded_by=actor_id, graded_at=now)
            if funded:
                await Funding.create(submission=submission, station=station, level=project.level, amount=project.amount,
                                     recorded_by=actor_id)
        for contact in plan.contacts:
            station = stations[contact.uscc]
            if contact.telegram_id is not None:
                user, _ = await BotUser.get_or_create(id=contact.telegram_id)
                await Contact.create(user=user, station=station, role=ContactRole.CONTACT, active=True)
            else:
                assert contact.invite_code
                await InviteCode.create(code_hash=InviteCode.hash_code(contact.invite_code), station=station,
                                        issued_by=actor_id, expires_at=expires_at.astimezone(UTC))
        await StatusTransition.bulk_create(entries)
        await AuditLog.create(actor_id=actor_id, action="register.imported", subject_type="register", subject_id=None,
                              before=None, after=plan.counts(), at=now)
