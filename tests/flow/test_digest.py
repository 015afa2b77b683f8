"""The staff digests on a seeded database at a fixed moment: each section as staff read it, no
personal data, the weekly .xlsx opened with openpyxl; the notices queued once per staff member and
period; /digest for staff only; `python -m scheduler digest --print` through the real CLI."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook

from bot.services import digest
from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from bot.clock import FixedClock
from factories import recognised_station
from storage import outbox
from storage.models import (
    Announcement,
    AnnouncementItem,
    AnnouncementKind,
    AnnouncementState,
    BotUser,
    FilingObligation,
    FilingState,
    Notice,
    Staff,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 3, 10, 1, 0, tzinfo=UTC)  # Wednesday 09:00 in Shanghai
MONDAY = datetime(2027, 3, 8, 1, 0, tzinfo=UTC)
BLOCKED_USER = 123456789
GRANTED = 5559002


async def seed() -> None:
    a = await recognised_station(BLOCKED_USER, name="甲技师工作站", uscc="91440300MA5F00001X", state=StationState.OVERDUE)
    b = await recognised_station(601, name="乙技师工作站", uscc="91440300MA5F00002X")
    c = await recognised_station(602, name="丙技师工作站", uscc="91440300MA5F00003X", state=StationState.OVERDUE)
    await recognised_station(603, name="丁技师工作站", uscc="91440300MA5F00004X", recognised_on=date(2027, 1, 15))
    await FilingObligation.create(station=a, year=2026, due_on=date(2027, 2, 28), state=FilingState.OVERDUE)
    await FilingObligation.create(station=b, year=2026, due_on=date(2027, 2, 28), extended_due_on=date(2027, 4, 30),
                                  state=FilingState.EXTENDED)
    await FilingObligation.create(station=c, year=2025, due_on=date(2026, 2, 28), state=FilingState.OVERDUE)
    await BotUser.filter(id=BLOCKED_USER).update(reachable=False, unreachable_since=datetime(2027, 3, 1, 2, tzinfo=UTC))
    old = await Submission.create(kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.SUBMITTED, station=b, created_by=601,
                                  year=2027, reference="SZJS-2027-0001", submitted_at=datetime(2027, 3, 1, 2, tzinfo=UTC))
    await Submission.create(kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.SUBMITTED, station=c, created_by=602,
                            year=2027, reference="SZJS-2027-0002", submitted_at=datetime(2027, 3, 9, 4, tzinfo=UTC))
    announcement = await Announcement.create(kind=AnnouncementKind.KEY_PROJECT, starts_on=date(2027, 3, 4),
                                             ends_on=date(2027, 3, 11), state=AnnouncementState.OPEN, created_by=STAFF_ID)
    await AnnouncementItem.create(announcement=announcement, submission=old)
    if digest._shortfall_function() is not None:
        await Submission.create(kind=SubmissionKind.ANNUAL_FILING, status=SubmissionStatus.SUBMITTED, station=a, created_by=BLOCKED_USER,
                                year=2026, reference="SZJS-2027-0003", submitted_at=datetime(2027, 3, 9, 5, tzinfo=UTC),
                                answers={"major_projects": 0, "skilled_trained": 12, "management_rules": "yes",
                                         "apprenticeship_plan": "yes", "cooperation_plan": "yes", "apprentice_files": "yes",
                                         "mentor_rewards": "no"})


@both_databases
async def test_the_daily_digest_as_staff_read_it(db: str) -> None:
    await seed()
    settings = make_settings(db)
    text = digest.render_text(await digest.build_digest(settings, NOW), "en")
    lines = text.split("\n")
    assert lines[0] == "📋 <b>Daily digest</b> 2027-03-10 (as of 2027-03-10 09:00)"
    # New since the last digest (none before: the day before), by kind.
    new = 2 if digest._shortfall_function() else 1
    assert f"<b>New submissions</b> since 2027-03-09 09:00: {new}" in lines
    assert "  · Key project: 1" in lines
    # The queue with the age of its oldest item.
    assert "  · Key project · submitted: 2, the oldest waiting 8 day(s)" in lines
    assert "  · No. 1 (Key project) ends 2027-03-11, 1 item(s)" in lines
    assert "<b>Annual filings</b>: 2 overdue, 1 extended, 0 due" in lines
    assert lines.index("  · 丙技师工作站: 2025, due 2026-02-28, 375 day(s) overdue") < lines.index(
        "  · 甲技师工作站: 2026, due 2027-02-28, 10 day(s) overdue")
    assert "  · 乙技师工作站: 2026, extended to 2027-04-30" in lines
    assert "<b>Revocation candidates</b> (filing more than 6 months overdue): 1" in lines
    assert any(x.startswith("  · 丙技师工作站: not filed for 2025") for x in lines)
    # Unreachable contacts: the station and a masked id, never the id itself.
    assert "  · 甲技师工作站: contact ******789, since 2027-03-01" in lines
    assert str(BLOCKED_USER) not in text
    assert "1 station(s) recognised in 2027 (about 15 a year; 3 by now on pace); 4 stations in force (target 150)" in text
    if digest._shortfall_function() is None:
        assert "R15" not in text  # no annual filing form: nothing evaluated, no section
    else:
        assert "<b>Filings short of 五 (R15–R17)</b>, among the filings since the last digest: 1" in text
        assert "  · SZJS-2027-0003 甲技师工作站: R15. 0 major technical transformation or tackling project(s); at least 1 a year required (Implementation Plan 五(二))" in lines
        assert "No mentor reward scheme yet" in text


async def test_since_the_last_digest_and_the_list_limit(db: str) -> None:
    await seed()
    settings = make_settings(db, digest_list_limit=1)
    await outbox.enqueue(STAFF_ID, digest.DAILY, digest.SUBJECT, "2027-03-09", digest.TEXT_KEY,
                         datetime(2027, 3, 9, 8, tzinfo=UTC))  # yesterday 16:00
    built = await digest.build_digest(settings, NOW)
    text = digest.render_text(built, "zh")
    assert built.since == datetime(2027, 3, 9, 16, tzinfo=settings.tz)
    assert "<b>新提交</b>（2027-03-09 16:00 以来）：0 件" in text
    assert "  ……另有 2 项" in text  # two overdue filings and an extended one: one shown


async def test_the_weekly_workbook_masked(db: str) -> None:
    await seed()
    settings = make_settings(db)
    built = await digest.build_digest(settings, MONDAY, weekly=True)
    assert built.period == "2027-W10"
    name, content = await digest.workbook(built, settings)
    assert name == "每周工作摘要_2027-W10_已脱敏.xlsx"
    book = load_workbook(io.BytesIO(content))
    assert "已脱敏" in book.properties.title
    rows = list(book["年度备案"].iter_rows(values_only=True))
    assert rows[0] == ("工作站ID", "工作站名称", "年度", "备案状态", "截止日期", "逾期天数")
    assert [r[1:4] for r in rows[1:]] == [("丙技师工作站", 2025, "逾期未备案"), ("甲技师工作站", 2026, "逾期未备案"),
                                         ("乙技师工作站", 2026, "已延期")]
    unreachable = list(book["无法联系的联系人"].iter_rows(values_only=True))
    assert "已脱敏" in unreachable[0][2]
    assert unreachable[1][1:3] == ("甲技师工作站", "******789")
    queues = list(book["待处理队列"].iter_rows(values_only=True))
    assert queues[1][:3] == ("重点建设项目申报", "已提交", 2) or queues[1][2] == 2
    assert all(str(BLOCKED_USER) not in str(cell) for ws in book for row in ws.iter_rows(values_only=True) for cell in row)


async def test_digests_queued_once_per_staff_member_and_period(db: str) -> None:
    await Staff.create(user_id=GRANTED, granted_by=STAFF_ID)
    settings = make_settings(db)
    early = datetime(2027, 3, 8, 0, 59, tzinfo=UTC)  # Monday 08:59
    assert len(await digest.queue_digests(early, settings)) == 0
    assert len(await digest.queue_digests(MONDAY, settings)) == 4  # Monday 09:00: daily and weekly, to both
    assert len(await digest.queue_digests(MONDAY, settings)) == 0
    assert len(await digest.queue_digests(datetime(2027, 3, 8, 13, 30, tzinfo=UTC), settings)) == 0  # 21:30: quiet
    assert len(await digest.queue_digests(NOW, settings)) == 2  # Wednesday: the daily one (the weekly is done)
    rows = await Notice.filter(recipient_id=GRANTED).order_by("id").values_list("kind", "subject", "period")
    assert rows == [("digest_daily", "digest", "2027-03-08"), ("digest_weekly", "digest", "2027-W10"),
                    ("digest_daily", "digest", "2027-03-10")]
    weekly = await Notice.get(recipient_id=STAFF_ID, kind="digest_weekly")
    assert weekly.period == "2027-W10" and weekly.params == {"digest": "weekly", "at": "2027-03-08T09:00:00+08:00"}


async def test_digest_command_is_for_staff_only(db: str) -> None:
    await seed()
    chat = Chat(make_settings(db), clock=FixedClock(NOW))
    refused = chat.texts(await chat.send("/digest"))
    assert len(refused) == 1 and "每日工作摘要" not in refused[0]
    shown = chat.texts(await chat.send("/digest", user=chat.as_user(STAFF_ID)))
    assert shown[0].startswith("📋 <b>每日工作摘要</b> 2027-03-10")
    assert "甲技师工作站" in shown[0] and str(BLOCKED_USER) not in "".join(shown)
    assert USER_ID != STAFF_ID


async def test_scheduler_digest_print_through_the_cli(db: str, tmp_path: Path) -> None:
    await seed()
    env = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_TOKEN")}, "DATABASE_URL": db,
           "STAFF_IDS": "", "ADMIN_IDS": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scheduler", "digest", "--weekly", "--at", "2027-03-08T09:00", "--print",
        "--output", str(tmp_path), "--lang", "en", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert text.startswith("📋 Weekly digest 2027-W10 (as of 2027-03-08 09:00)")
    assert "Annual filings: 2 overdue, 1 extended, 0 due" in text
    path = Path(text.strip().splitlines()[-1].removeprefix("Written: "))
    assert path.parent == tmp_path and load_workbook(path)["年度备案"].max_row == 4
    assert await Notice.all().count() == 0  # printing sends nothing
