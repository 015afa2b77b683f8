"""The checked-in migrations build the whole schema on an empty database, constraints included.

DESIGN warns that tortoise's SQLite migrations can silently drop composite unique constraints, so
the constraints are checked by inserting duplicates, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from conftest import both_databases
from storage import outbox
from storage.models import (
    BotUser,
    Contact,
    Notice,
    ReferenceCounter,
    Station,
    Submission,
    SubmissionKind,
    Unit,
    UnitType,
)

pytestmark = both_databases

NOW = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)


async def _station() -> Station:
    unit = await Unit.create(name="单位", uscc="91440300MA5F000001", unit_type=UnitType.ENTERPRISE)
    return await Station.create(unit=unit, name="工作站", mode="self")


async def _duplicate_rejected(create) -> None:
    # A savepoint: on PostgreSQL a failed statement would otherwise abort the whole transaction.
    with pytest.raises(IntegrityError):
        async with in_transaction():
            await create()


async def test_all_tables_exist_and_migrating_again_changes_nothing(db: str) -> None:
    from storage.db import migrate

    await migrate(db)  # second run: nothing pending, no error
    for model in (BotUser, Unit, Station, Contact, Submission, Notice, ReferenceCounter):
        assert await model.all().count() == 0


async def test_second_key_project_in_a_year_is_refused_by_the_database(db: str) -> None:
    station = await _station()
    key = f"key_project:{station.id}:2027"
    await Submission.create(kind=SubmissionKind.KEY_PROJECT, station=station, created_by=1, year=2027, uniqueness_key=key)
    await _duplicate_rejected(
        lambda: Submission.create(
            kind=SubmissionKind.KEY_PROJECT, station=station, created_by=1, year=2027, uniqueness_key=key
        )
    )
    # drafts carry no key and do not collide
    await Submission.create(kind=SubmissionKind.KEY_PROJECT, station=station, created_by=1, year=2027)
    await Submission.create(kind=SubmissionKind.KEY_PROJECT, station=station, created_by=1, year=2027)


async def test_second_filing_for_a_year_is_refused_by_the_database(db: str) -> None:
    station = await _station()
    key = f"annual_filing:{station.id}:2026"
    await Submission.create(kind=SubmissionKind.ANNUAL_FILING, station=station, created_by=1, year=2026, uniqueness_key=key)
    await _duplicate_rejected(
        lambda: Submission.create(
            kind=SubmissionKind.ANNUAL_FILING, station=station, created_by=1, year=2026, uniqueness_key=key
        )
    )


async def test_unit_uscc_reference_and_contact_are_unique(db: str) -> None:
    station = await _station()
    await _duplicate_rejected(
        lambda: Unit.create(name="x", uscc="91440300MA5F000001", unit_type=UnitType.GROUP)
    )
    await Submission.create(kind=SubmissionKind.ESTABLISHMENT, created_by=1, reference="SZJS-2026-0001")
    await _duplicate_rejected(
        lambda: Submission.create(kind=SubmissionKind.ESTABLISHMENT, created_by=2, reference="SZJS-2026-0001")
    )
    user = await BotUser.create(id=42)
    await Contact.create(user=user, station=station)
    await _duplicate_rejected(lambda: Contact.create(user=user, station=station))
    await ReferenceCounter.create(prefix="SZJS", year=2026)
    await _duplicate_rejected(lambda: ReferenceCounter.create(prefix="SZJS", year=2026))


async def test_a_notice_is_queued_once_per_recipient_kind_subject_and_period(db: str) -> None:
    args = dict(recipient_id=7, kind="filing_reminder", subject="station:1", period="2026:feb1", text_key="k")
    assert await outbox.enqueue(**args, due_at=NOW) is True
    assert await outbox.enqueue(**args, due_at=NOW) is False
    assert await outbox.enqueue(**{**args, "period": "2026:feb15"}, due_at=NOW) is True
    assert await Notice.all().count() == 2
    await _duplicate_rejected(lambda: Notice.create(**args, due_at=NOW))
