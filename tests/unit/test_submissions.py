"""Submitting is idempotent, all-or-nothing, and the receipt numbers never repeat, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import both_databases
from storage import submissions
from storage.models import BotUser, Notice, Station, Submission, SubmissionKind, SubmissionStatus
from storage.submissions import StaffNotice

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
# What FormSession.final_answers() gives for a declaration: no navigation keys.
ANSWERS = {
    "unit_name": "单位", "uscc": "91440300MA5F000010", "unit_type": "enterprise", "mode": "self",
    "station_name": "站",
}
STAFF = StaffNotice(frozenset({900, 901}), "new_declaration", "notice.new_declaration", {"unit": "单位", "station": "站"})

pytestmark = both_databases


async def _submit(draft_id: int, user_id: int, answers: dict, year: int = 2026) -> submissions.SubmitResult:
    return await submissions.submit(
        draft_id, user_id, answers, uniqueness_key=f"establishment:{answers['uscc']}", reference_year=year,
        now=NOW, staff_notice=STAFF,
    )


async def test_two_concurrent_submits_of_one_draft_make_one_submission(db: str) -> None:
    await BotUser.create(id=1)
    draft = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    first, second = await asyncio.gather(_submit(draft.id, 1, ANSWERS), _submit(draft.id, 1, ANSWERS))
    assert sorted([first.already, second.already]) == [False, True]
    assert first.reference == second.reference == "SZJS-2026-0001"
    assert await Station.all().count() == 1
    stored = await Submission.get(id=draft.id)
    assert stored.status == SubmissionStatus.SUBMITTED and stored.answers == ANSWERS
    # staff are told in the same transaction, once each
    assert sorted(await Notice.filter(kind="new_declaration").values_list("recipient_id", flat=True)) == [900, 901]
    assert (await Notice.get(recipient_id=900)).params["reference"] == "SZJS-2026-0001"


async def test_references_count_up_per_year_and_a_second_unit_declaration_is_blocked(db: str) -> None:
    await BotUser.create(id=1)
    await BotUser.create(id=2)
    one = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    two = await submissions.start_draft(2, SubmissionKind.ESTABLISHMENT)
    other = {**ANSWERS, "uscc": "91440300MA5F000029"}
    assert (await _submit(one.id, 1, ANSWERS)).reference == "SZJS-2026-0001"
    blocked = await _submit(two.id, 2, ANSWERS)
    assert blocked.blocked == "duplicate"
    # the refused submit wrote nothing: still a draft, no station, no staff notice, no number used
    assert (await Submission.get(id=two.id)).status == SubmissionStatus.DRAFT
    assert await Station.all().count() == 1
    assert await Notice.filter(subject=f"submission:{two.id}").count() == 0
    assert (await _submit(two.id, 2, other)).reference == "SZJS-2026-0002"
    three = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    third = {**ANSWERS, "uscc": "91440300MA5F000037"}
    assert (await _submit(three.id, 1, third, year=2027)).reference == "SZJS-2027-0001"


async def test_another_user_cannot_touch_or_submit_a_draft(db: str) -> None:
    draft = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    assert await submissions.load_answers(draft.id, 2) is None
    assert await submissions.save_answers(draft.id, 2, {"unit_name": "x"}) is False
    await submissions.discard_draft(draft.id, 2)
    assert await Submission.filter(id=draft.id).exists()
    assert (await _submit(draft.id, 2, ANSWERS)).blocked == "missing"
    assert (await Submission.get(id=draft.id)).status == SubmissionStatus.DRAFT


async def test_a_contact_who_moved_gets_the_forms_of_the_station_they_act_for_now(db: str) -> None:
    """/form, /filingform, /projectform print the latest submission of the contact's current station,
    not one the person sent earlier for a station they have left."""
    from storage.models import Contact, EstablishmentMode, Unit, UnitType  # noqa: PLC0415

    await BotUser.create(id=7)
    old, new = [await Station.create(unit=await Unit.create(name=f"单位{n}", uscc=f"9144030000000000{n}X",
                                                            unit_type=UnitType.ENTERPRISE),
                                     name=f"站{n}", mode=EstablishmentMode.SELF, state="active") for n in (1, 2)]
    mine = await Submission.create(kind=SubmissionKind.ANNUAL_FILING, status=SubmissionStatus.SUBMITTED, station=old,
                                   created_by=7, year=2025, reference="SZBA-2026-0001", submitted_at=NOW)
    colleague = await Submission.create(kind=SubmissionKind.ANNUAL_FILING, status=SubmissionStatus.SUBMITTED,
                                        station=new, created_by=8, year=2025, reference="SZBA-2026-0002",
                                        submitted_at=NOW.replace(hour=8))
    await Contact.create(user_id=7, station=old, active=False)  # left the old station
    assert (await submissions.latest_submitted(7, SubmissionKind.ANNUAL_FILING)).id == mine.id  # bound nowhere: own
    await Contact.create(user_id=7, station=new)
    assert (await submissions.latest_submitted(7, SubmissionKind.ANNUAL_FILING)).id == colleague.id
