"""Rows as the real flows leave them, for tests that start after those flows.

A recognised station is what an establishment declaration becomes once staff recognised it (授牌):
its unit, the station (active, with its recognition date and, when co-built with a college,
school-enterprise), the applicant as its first contact, and the station's life-cycle rows
(applying, then active). Tests of the station's later acts (filing, extension, key project,
deregistration, invites) start from here instead of walking the declaration again.
`with_declaration=True` adds the recognised declaration itself, with its life-cycle rows, for tests
that check the database as a whole (tests/reliability/invariants.py).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import Workbook

from storage.models import (
    BotUser,
    Contact,
    ContactRole,
    EstablishmentMode,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)


async def recognised_station(
    contact_id: int,
    *,
    name: str = "精密模具技师工作站",
    uscc: str = "91440300MA5F00009X",
    recognised_on: date = date(2023, 5, 1),
    school_enterprise: bool = False,
    state: StationState = StationState.ACTIVE,
    with_declaration: bool = False,
) -> Station:
    unit = await Unit.create(name=name.replace("技师工作站", "有限公司"), uscc=uscc, unit_type=UnitType.ENTERPRISE)
    station = await Station.create(
        unit=unit,
        name=name,
        mode=EstablishmentMode.CO_BUILT if school_enterprise else EstablishmentMode.SELF,
        partner_name="深圳技师学院" if school_enterprise else "",
        school_enterprise=school_enterprise,
        recognised_on=recognised_on,
        state=state,
    )
    user, _ = await BotUser.get_or_create(id=contact_id)
    await Contact.create(user=user, station=station, role=ContactRole.APPLICANT)
    at = datetime(recognised_on.year, recognised_on.month, recognised_on.day, 1, 0, tzinfo=UTC)
    await StatusTransition.create(subject_type="station", subject_id=station.id, from_status=None,
                                  to_status=StationState.APPLYING.value, actor_id=contact_id, at=at)
    await StatusTransition.create(subject_type="station", subject_id=station.id, action="recognise",
                                  from_status=StationState.APPLYING.value, to_status=StationState.ACTIVE.value,
                                  actor_kind="system", at=at)
    if state not in (StationState.ACTIVE, StationState.APPLYING):
        await StatusTransition.create(subject_type="station", subject_id=station.id, from_status=StationState.ACTIVE.value,
                                      to_status=state.value, actor_kind="system", at=at)
    if with_declaration:
        await _recognised_declaration(station, unit, contact_id, at)
    return station


# The path a declaration takes from draft to 授牌 (bot.rules.lifecycle.ESTABLISHMENT).
DECLARATION_PATH = (
    ("submit", "draft", "submitted", "contact"),
    ("accept_for_review", "submitted", "under_review", "staff"),
    ("record_review_pass", "under_review", "approved", "staff"),
    ("announce", "approved", "announced", "staff"),
    ("recognise", "announced", "recognised", "system"),
)


async def _recognised_declaration(station: Station, unit: Unit, contact_id: int, at: datetime) -> Submission:
    """The establishment declaration a recognised station came from, with its life-cycle rows."""
    declaration = await Submission.create(
        kind=SubmissionKind.ESTABLISHMENT, status=SubmissionStatus.RECOGNISED, unit=unit, station=station,
        created_by=contact_id, year=at.year, answers={"unit_name": unit.name, "uscc": unit.uscc, "station_name": station.name},
        reference=f"SZJS-{at.year}-{station.id:04d}", submitted_at=at, decided_at=at,
    )
    for action, before, after, actor in DECLARATION_PATH:
        await StatusTransition.create(subject_type="submission", subject_id=declaration.id, action=action,
                                      from_status=before, to_status=after, actor_kind=actor,
                                      actor_id=contact_id if actor == "contact" else None, at=at)
    return declaration


def register_workbook(rows: dict[str, list[list[object]]]) -> bytes:
    """The bureau's register as staff send it: every sheet with the template's headers, and these rows."""
    from bot.services.register_import import SHEETS

    wb = Workbook()
    wb.remove(wb.active)
    for sheet in SHEETS:
        ws = wb.create_sheet(sheet.title)
        ws.append([c.header for c in sheet.columns])
        for row in rows.get(sheet.title, []):
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
