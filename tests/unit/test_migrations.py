"""The checked-in migrations build the whole schema on an empty database, constraints included.

DESIGN warns that tortoise's SQLite migrations can silently drop composite unique constraints, so
the constraints are checked by inserting duplicates, on SQLite and on PostgreSQL. A database
filled under 0001 keeps every row through the later migrations. And the columns behave as the
models say: timestamps stored in UTC, naive datetimes refused, updated_at moved by every update.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.exceptions import IntegrityError
from tortoise.migrations.api import migrate as run_migrations
from tortoise.transactions import in_transaction

from conftest import both_databases, create_pg_database, drop_pg_database
from storage import outbox
from storage.db import migrate, tortoise_config
from storage.models import (
    Announcement,
    AnnouncementItem,
    AnnouncementKind,
    BotUser,
    Contact,
    FilingObligation,
    Funding,
    HolidayArrangement,
    InviteCode,
    KeyProjectGrade,
    KeyProjectWindow,
    NaiveDatetimeError,
    Notice,
    Objection,
    ReferenceCounter,
    Station,
    Submission,
    SubmissionKind,
    Unit,
    UnitType,
)

SHANGHAI = timezone(timedelta(hours=8))

NOW = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)


async def _station() -> Station:
    unit = await Unit.create(name="单位", uscc="91440300MA5F000001", unit_type=UnitType.ENTERPRISE)
    return await Station.create(unit=unit, name="工作站", mode="self")


async def _duplicate_rejected(create) -> None:
    # A savepoint: on PostgreSQL a failed statement would otherwise abort the whole transaction.
    with pytest.raises(IntegrityError):
        async with in_transaction():
            await create()


@both_databases
async def test_all_tables_exist_and_migrating_again_changes_nothing(db: str) -> None:
    await migrate(db)  # second run: nothing pending, no error
    for model in (BotUser, Unit, Station, Contact, Submission, Notice, ReferenceCounter):
        assert await model.all().count() == 0


@both_databases
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


@both_databases
async def test_second_filing_for_a_year_is_refused_by_the_database(db: str) -> None:
    station = await _station()
    key = f"annual_filing:{station.id}:2026"
    await Submission.create(kind=SubmissionKind.ANNUAL_FILING, station=station, created_by=1, year=2026, uniqueness_key=key)
    await _duplicate_rejected(
        lambda: Submission.create(
            kind=SubmissionKind.ANNUAL_FILING, station=station, created_by=1, year=2026, uniqueness_key=key
        )
    )


@both_databases
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


@both_databases
async def test_a_notice_is_queued_once_per_recipient_kind_subject_and_period(db: str) -> None:
    args = dict(recipient_id=7, kind="filing_reminder", subject="station:1", period="2026:feb1", text_key="k")
    assert await outbox.enqueue(**args, due_at=NOW) is True
    assert await outbox.enqueue(**args, due_at=NOW) is False
    assert await outbox.enqueue(**{**args, "period": "2026:feb15"}, due_at=NOW) is True
    assert await Notice.all().count() == 2
    await _duplicate_rejected(lambda: Notice.create(**args, due_at=NOW))


@both_databases
async def test_the_new_tables_refuse_duplicates(db: str) -> None:
    station = await _station()
    submission = await Submission.create(kind=SubmissionKind.ANNUAL_FILING, station=station, created_by=1, year=2026)
    await FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28), submission=submission)
    await _duplicate_rejected(lambda: FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28)))
    # the same filing cannot meet two obligations
    await _duplicate_rejected(
        lambda: FilingObligation.create(station=station, year=2027, due_on=date(2028, 2, 29), submission=submission)
    )
    announcement = await Announcement.create(
        kind=AnnouncementKind.ESTABLISHMENT, starts_on=date(2027, 3, 1), ends_on=date(2027, 3, 5), created_by=9
    )
    item = await AnnouncementItem.create(announcement=announcement, submission=submission)
    await _duplicate_rejected(lambda: AnnouncementItem.create(announcement=announcement, submission=submission))
    objection = await Objection.create(item=item, filed_by=5, text="异议", evidence_file_id="F1", evidence_file_name="a.pdf")
    assert (await Objection.get(id=objection.id)).evidence_file_name == "a.pdf"
    code_hash = InviteCode.hash_code(" ab12cd ")
    assert code_hash == InviteCode.hash_code("AB12CD") and len(code_hash) == 64
    expires = datetime(2027, 3, 1, tzinfo=UTC)
    await InviteCode.create(code_hash=code_hash, station=station, issued_by=1, expires_at=expires)
    await _duplicate_rejected(lambda: InviteCode.create(code_hash=code_hash, station=station, issued_by=2, expires_at=expires))
    await HolidayArrangement.create(day=date(2031, 10, 1), is_workday=False, note="国庆节")
    await _duplicate_rejected(lambda: HolidayArrangement.create(day=date(2031, 10, 1), is_workday=True))
    await KeyProjectWindow.create(year=2027, opens_on=date(2027, 4, 1), closes_on=date(2027, 4, 30), opened_by=9)
    await _duplicate_rejected(
        lambda: KeyProjectWindow.create(year=2027, opens_on=date(2027, 5, 1), closes_on=date(2027, 5, 30), opened_by=9)
    )
    project = await Submission.create(kind=SubmissionKind.KEY_PROJECT, station=station, created_by=1, year=2027)
    await Funding.create(submission=project, station=station, level=1, amount=Decimal("300000.00"), recorded_by=9)
    await _duplicate_rejected(
        lambda: Funding.create(submission=project, station=station, level=1, amount=Decimal("1"), recorded_by=9)
    )
    assert (await Funding.get(submission=project)).amount == Decimal("300000.00")


@both_databases
async def test_the_database_keeps_ten_places_per_level_and_year(db: str) -> None:
    """R8 in the database itself: slot 1..10 (CHECK), level 1..3 (CHECK), one project per place."""
    station = await _station()
    projects = [
        await Submission.create(kind=SubmissionKind.KEY_PROJECT, station=station, created_by=1, year=2027) for _ in range(4)
    ]
    now = datetime(2027, 6, 1, tzinfo=UTC)
    await KeyProjectGrade.create(year=2027, level=1, slot=10, submission=projects[0], graded_at=now)
    for level, slot in ((1, 11), (1, 0), (4, 1), (0, 1)):
        await _duplicate_rejected(
            lambda level=level, slot=slot: KeyProjectGrade.create(
                year=2027, level=level, slot=slot, submission=projects[1], graded_at=now
            )
        )
    await _duplicate_rejected(
        lambda: KeyProjectGrade.create(year=2027, level=1, slot=10, submission=projects[1], graded_at=now)
    )
    await _duplicate_rejected(
        lambda: KeyProjectGrade.create(year=2027, level=2, slot=1, submission=projects[0], graded_at=now)
    )
    await KeyProjectGrade.create(year=2028, level=1, slot=10, submission=projects[2], graded_at=now)


# -- a database filled under 0001 -----------------------------------------------------------------


@pytest_asyncio.fixture
async def database_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database migrated to 0001 only."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/old.sqlite3"
    else:
        url = await create_pg_database()
    try:
        async with TortoiseContext():
            await run_migrations(config=tortoise_config(url), target="models.0001_initial")
            await Tortoise.close_connections()
        yield url
    finally:
        if request.param != "sqlite":
            await drop_pg_database(url)


both_old_databases = pytest.mark.parametrize(
    "database_at_0001", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# Rows as 0001 stored them; each table that a later migration touches is here.
OLD_ROWS = {
    "bot_user": [{"id": 7001, "language": "zh", "reachable": True}, {"id": 7002, "language": "en", "reachable": False}],
    "unit": [{"id": 1, "name": "单位", "uscc": "91440300MA5F000001", "unit_type": "enterprise", "legal_representative": "",
              "address": "", "main_field": ""}],
    "station": [{"id": 1, "unit_id": 1, "name": "工作站", "mode": "self", "partner_name": "", "school_enterprise": False,
                 "state": "active"}],
    "contact": [{"id": 1, "user_id": 7001, "station_id": 1, "role": "applicant", "active": True},
                {"id": 2, "user_id": 7002, "station_id": 1, "role": "contact", "active": True}],
    "submission": [{"id": 1, "kind": "establishment", "status": "recognised", "station_id": 1, "unit_id": 1,
                    "created_by": 7001, "year": 2026, "answers": "{}", "reference": "SZJS-2026-0001"}],
    "document": [{"id": 1, "submission_id": 1, "station_id": 1, "kind": "business_licence", "item": "", "file_id": "f",
                  "file_unique_id": "u", "file_name": "", "mime_type": "", "uploaded_by": 7001}],
    "status_transition": [{"id": 1, "subject_type": "submission", "subject_id": 1, "from_status": "draft",
                           "to_status": "submitted", "actor_id": 7001, "reason": ""}],
    "notice": [{"id": 1, "recipient_id": 7001, "kind": "filing_reminder", "subject": "station:1", "period": "p",
                "text_key": "k", "params": "{}", "status": "pending", "attempts": 0, "error": ""}],
    "reference_counter": [{"id": 1, "prefix": "SZJS", "year": 2026, "last_serial": 1}],
    "staff": [{"id": 1, "user_id": 7003, "granted_by": 7004, "active": True}],
}
TIMESTAMPED = {"bot_user", "unit", "station", "contact", "submission", "document", "notice", "staff", "announcement"}
STAMP = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)


async def _fill(url: str, rows: dict[str, list[dict]]) -> None:
    postgres = url.startswith("postgres")
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        connection = Tortoise.get_connection(url.split(":", 1)[0])
        for table, entries in rows.items():
            for entry in entries:
                entry = dict(entry)
                if table in TIMESTAMPED:
                    entry.update(created_at=STAMP, updated_at=STAMP)
                if table == "status_transition":
                    entry["at"] = STAMP
                if table == "notice":
                    entry["due_at"] = STAMP
                names = ", ".join(f'"{name}"' for name in entry)
                marks = ", ".join(f"${i}" if postgres else "?" for i in range(1, len(entry) + 1))
                await connection.execute_query(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(entry.values()))
        await Tortoise.close_connections()


@both_old_databases
async def test_a_database_filled_under_0001_keeps_every_row_and_constraint(database_at_0001: str) -> None:
    await _fill(database_at_0001, OLD_ROWS)
    await migrate(database_at_0001)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_at_0001))
        connection = Tortoise.get_connection(database_at_0001.split(":", 1)[0])
        for table, entries in OLD_ROWS.items():
            rows = await connection.execute_query_dict(f'SELECT COUNT(*) AS n FROM "{table}"')
            assert rows[0]["n"] == len(entries), table
        station = await Station.get(id=1)
        assert (station.state, station.revocation_reason, station.revoked_on) == ("active", "", None)
        assert (await Contact.get(id=1)).user_id == 7001
        # composite unique constraints of the old tables survived
        await _duplicate_rejected(lambda: Contact.create(user_id=7001, station_id=1))
        await _duplicate_rejected(
            lambda: Notice.create(recipient_id=7001, kind="filing_reminder", subject="station:1", period="p",
                                  text_key="k", due_at=STAMP)
        )
        await _duplicate_rejected(lambda: ReferenceCounter.create(prefix="SZJS", year=2026))
        # new users still take the id they are given
        assert (await BotUser.create(id=9_000_000_001)).id == 9_000_000_001
        await Tortoise.close_connections()


@both_old_databases
async def test_the_upgrade_refuses_to_drop_rows_of_a_reshaped_table(database_at_0001: str) -> None:
    rows = {name: OLD_ROWS[name] for name in ("bot_user", "unit", "station", "submission")}
    rows["announcement"] = [{"id": 1, "submission_id": 1, "starts_on": date(2026, 6, 1), "ends_on": date(2026, 6, 5),
                             "state": "open", "created_by": 7003}]
    await _fill(database_at_0001, rows)
    with pytest.raises(RuntimeError, match="announcement holds 1 rows"):
        await migrate(database_at_0001)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_at_0001))
        connection = Tortoise.get_connection(database_at_0001.split(":", 1)[0])
        rows = await connection.execute_query_dict('SELECT COUNT(*) AS n FROM "announcement"')
        assert rows[0]["n"] == 1
        await Tortoise.close_connections()


# -- what the models write -------------------------------------------------------------------------


async def _raw(db: str, sql: str) -> list[dict]:
    return await Tortoise.get_connection(db.split(":", 1)[0]).execute_query_dict(sql)


@both_databases
async def test_timestamps_are_stored_in_utc_whatever_the_clock_that_wrote_them(db: str) -> None:
    station = await _station()
    morning_in_shenzhen = datetime(2027, 2, 28, 7, 30, tzinfo=SHANGHAI)  # 23:30 UTC the day before
    submission = await Submission.create(
        kind=SubmissionKind.ESTABLISHMENT, station=station, created_by=1, submitted_at=morning_in_shenzhen
    )
    later = await Submission.create(
        kind=SubmissionKind.ESTABLISHMENT, station=station, created_by=1,
        submitted_at=datetime(2027, 2, 28, 0, 30, tzinfo=UTC),  # later, though "00:30" < "07:30" as text
    )
    await Submission.filter(id=later.id).update(decided_at=datetime(2027, 3, 1, 8, 0, tzinfo=SHANGHAI))
    if db.startswith("sqlite"):
        stored = {r["id"]: r for r in await _raw(db, "SELECT id, submitted_at, decided_at, created_at FROM submission")}
        assert stored[submission.id]["submitted_at"] == "2027-02-27 23:30:00+00:00"
        assert stored[later.id]["decided_at"] == "2027-03-01 00:00:00+00:00"
        assert all(str(r["created_at"]).endswith("+00:00") for r in stored.values())
    rows = await Submission.filter(station=station).order_by("submitted_at").values_list("id", flat=True)
    assert list(rows) == [submission.id, later.id]
    # filters compare in UTC too
    assert await Submission.filter(submitted_at__lt=datetime(2027, 2, 28, 8, 0, tzinfo=SHANGHAI)).count() == 1
    assert (await Submission.get(id=submission.id)).submitted_at == morning_in_shenzhen


@both_databases
async def test_naive_datetimes_are_refused(db: str) -> None:
    station = await _station()
    naive = datetime(2027, 2, 28, 7, 30)
    with pytest.raises(NaiveDatetimeError):
        await Submission.create(kind=SubmissionKind.ESTABLISHMENT, station=station, created_by=1, submitted_at=naive)
    row = await Submission.create(kind=SubmissionKind.ESTABLISHMENT, station=station, created_by=1)
    with pytest.raises(NaiveDatetimeError):
        await Submission.filter(id=row.id).update(submitted_at=naive)
    with pytest.raises(NaiveDatetimeError):
        await Submission.filter(submitted_at__lt=naive).count()


@both_databases
async def test_updated_at_moves_on_every_kind_of_update(db: str) -> None:
    station = await _station()
    row = await Submission.create(kind=SubmissionKind.ESTABLISHMENT, station=station, created_by=1)
    old = datetime(2020, 1, 1, tzinfo=UTC)

    async def reset() -> None:
        # updated_at given explicitly wins: the one way to set it back for this test
        await Submission.filter(id=row.id).update(updated_at=old)
        assert (await Submission.get(id=row.id)).updated_at == old

    async def moved() -> bool:
        return (await Submission.get(id=row.id)).updated_at > old

    await reset()
    await Submission.filter(id=row.id).update(year=2027)
    assert await moved()
    await reset()
    fresh = await Submission.get(id=row.id)
    fresh.year = 2028
    await fresh.save(update_fields=["year"])
    assert await moved()
    await reset()
    fresh = await Submission.get(id=row.id)
    fresh.year = 2029
    await Submission.bulk_update([fresh], fields=["year"])
    assert await moved()
    await reset()
    fresh = await Submission.get(id=row.id)
    await fresh.save()
    assert await moved()
    assert (await Submission.get(id=row.id)).year == 2029
