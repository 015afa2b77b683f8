"""/export: one .xlsx of everything, opened with openpyxl and checked against the database. The
declaration is made by walking the real conversation, so the answers are stored as the flow
stores them; masked for staff, in full for an admin who asks (audited, and the file says so)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from openpyxl.workbook import Workbook

from bot.rules.identifiers import mask_mobile, mask_resident_id
from chat_harness import NOW, STAFF_ID, Chat, make_settings
from conftest import both_databases
from storage.models import (
    Announcement,
    AnnouncementItem,
    AuditLog,
    FilingObligation,
    Funding,
    KeyProjectGrade,
    Objection,
    Station,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from test_declaration import HEAD_ID, HEAD_MOBILE, MENTOR_IDS, USCC, reach_summary

ADMIN_ID = 5559100
CONTACT_MOBILE = "13900139000"
SHEETS = ["工作站", "设立申报", "重点建设项目申报", "年度备案", "延期备案申请", "注销申请", "其他申请", "备案义务", "重点建设项目", "公示", "异议", "操作日志"]
LOCAL_NOW = datetime(2026, 11, 27, 9, 0)  # NOW in the bureau's zone, as Excel holds it


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db, admin_ids=frozenset({ADMIN_ID})))


async def declare(chat: Chat) -> Submission:
    await reach_summary(chat)
    await chat.press("提交")
    return await Submission.get(created_by=chat.user.id)


async def export(chat: Chat, user_id: int, text: str = "/export") -> tuple[list[str], str, Workbook]:
    calls = await chat.send(text, user=chat.as_user(user_id))
    [sent] = chat.documents(calls)
    content = sent.document.data  # the bytes the bot sent
    return chat.texts(calls), sent.document.filename, load_workbook(io.BytesIO(content))


def table(book: Workbook, sheet: str) -> list[dict[str, object]]:
    rows = list(book[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def every_value(book: Workbook) -> str:
    return "\n".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None)


@both_databases
async def test_staff_export_matches_the_database_with_personal_numbers_masked(chat: Chat) -> None:
    submission = await declare(chat)
    station = await Station.get(unit__uscc=USCC).prefetch_related("unit")
    texts, filename, book = await export(chat, STAFF_ID)
    assert texts == ["正在生成导出文件……"]
    assert filename == "技师工作站数据_20261127_0900.xlsx"
    assert book.sheetnames == SHEETS
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert all(cell.font.bold for cell in ws[1])

    [row] = table(book, "工作站")
    assert row["工作站ID"] == station.id and row["工作站名称"] == station.name == "精密模具技师工作站"
    assert row["统一社会信用代码"] == USCC and row["申办单位"] == station.unit.name
    assert row["状态"] == "申报中" and row["设立方式"] == "合作共建" and row["校企合作"] == "是"
    created = station.created_at.astimezone(chat.settings.tz).replace(tzinfo=None, microsecond=0)
    assert row["联系人数"] == 1 and row["创建时间"] == created

    [row] = table(book, "设立申报")
    answers = submission.answers
    assert row["编号"] == submission.reference == "SZJS-2026-0001" and row["年度"] == 2026
    assert row["状态"] == "已提交" and row["提交时间"] == LOCAL_NOW and row["决定时间"] is None
    # one column per question, named as the form names it, real numbers and dates
    assert row["单位名称"] == answers["unit_name"] and row["统一社会信用代码"] == answers["uscc"] == USCC
    assert row["单位类型"] == "企业" and row["职工人数（人）"] == answers["employees"] == 350
    assert Decimal(str(row["运作经费金额"])) == Decimal(answers["funds_amount"]) == Decimal("500000")
    assert book["设立申报"].cell(row=1, column=list(row).index("运作经费金额") + 1).value == "运作经费金额"
    assert row["负责人证件号码（已脱敏）"] == mask_resident_id(HEAD_ID)
    assert row["负责人手机（已脱敏）"] == mask_mobile(HEAD_MOBILE)
    assert row["指导教师1·姓名"] == "导师1" and row["指导教师1·技能等级"] == "技师"
    assert row["指导教师1·身份证号码（已脱敏）"] == mask_resident_id(MENTOR_IDS[0])
    assert row["指导教师3·聘期结束"] == datetime(2028, 2, 29) and row["指导教师1·聘期结束"] is None
    assert row["申报材料（份）"] == sum(len(v) for v in answers["_docs"].values()) == 11
    assert book["设立申报"].cell(row=2, column=6).number_format == "yyyy-mm-dd hh:mm"
    # Chinese headers get room
    assert book["设立申报"].column_dimensions["A"].width >= 14
    for number in (*MENTOR_IDS, HEAD_ID, HEAD_MOBILE, CONTACT_MOBILE):
        assert number not in every_value(book)

    assert table(book, "其他申请") == [] and table(book, "备案义务") == []
    assert not await AuditLog.filter(action="export.full").exists()  # a masked export is not audited


async def test_an_admin_full_export_is_audited_and_marked(chat: Chat) -> None:
    submission = await declare(chat)
    texts, filename, book = await export(chat, ADMIN_ID, "/export full")
    assert texts == ["正在生成含完整个人信息的导出文件，本次导出已记入操作日志……"]
    assert filename == "技师工作站数据_20261127_0900_含个人信息.xlsx"
    [audit] = await AuditLog.filter(action="export.full")
    assert (audit.actor_id, audit.subject_type, audit.at, audit.after) == (ADMIN_ID, "export", NOW, {"file": filename})
    [row] = table(book, "设立申报")
    assert row["编号"] == submission.reference
    assert row["负责人证件号码【含个人信息】"] == HEAD_ID
    assert row["负责人手机【含个人信息】"] == HEAD_MOBILE
    assert [row[f"指导教师{n}·身份证号码【含个人信息】"] for n in (1, 2, 3)] == MENTOR_IDS[:3]
    assert "含完整个人信息" in book.properties.title
    # the export itself is in the audit sheet
    assert [(r["操作人"], r["操作"]) for r in table(book, "操作日志")] == [(ADMIN_ID, "export.full")]
    # staff who are not admins get no full export, and nothing is written
    calls = await chat.send("/export full", user=chat.as_user(STAFF_ID))
    assert chat.texts(calls) == ["含完整个人信息的导出仅限管理员（ADMIN_IDS）。发送 /export 可导出脱敏版本。"]
    assert chat.documents(calls) == [] and await AuditLog.filter(action="export.full").count() == 1


async def test_filings_key_projects_announcements_and_objections_as_the_tables_hold_them(chat: Chat) -> None:
    declaration = await declare(chat)
    station = await Station.get(unit__uscc=USCC)
    await FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28), state="due")
    project = await Submission.create(kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.GRADED, station=station,
                                      created_by=chat.user.id, year=2026, reference="SZJS-2026-0002", level=2, submitted_at=NOW)
    await KeyProjectGrade.create(year=2026, level=2, slot=1, submission=project, graded_by=STAFF_ID, graded_at=NOW)
    await Funding.create(submission=project, station=station, level=2, amount=Decimal("250000.00"),
                         paid_on=date(2026, 12, 1), recorded_by=STAFF_ID)
    announcement = await Announcement.create(kind="establishment", starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 7),
                                             state="open", created_by=STAFF_ID)
    item = await AnnouncementItem.create(announcement=announcement, submission=declaration)
    await Objection.create(item=item, filed_by=7007, text="导师资格存疑")
    _, _, book = await export(chat, STAFF_ID)
    assert table(book, "备案义务") == [{"工作站名称": "精密模具技师工作站", "年度": 2026, "截止日期": datetime(2027, 2, 28),
                                    "延期至": None, "备案状态": "待备案", "编号": None}]
    [row] = table(book, "重点建设项目")
    assert (row["编号"], row["等级"], row["等级内序号"], row["资助金额（元）"], row["拨付日期"]) == (
        "SZJS-2026-0002", 2, 1, 250000, datetime(2026, 12, 1))
    assert book["重点建设项目"].cell(row=2, column=7).number_format == "#,##0.00"
    [row] = table(book, "重点建设项目申报")  # the form's sheet: its answers beside the row
    assert (row["编号"], row["类别"], row["年度"], row["状态"]) == ("SZJS-2026-0002", "重点建设项目", 2026, "已定级")
    [row] = table(book, "公示")
    assert (row["公示批次"], row["公示开始"], row["公示状态"], row["编号"]) == (
        announcement.id, datetime(2026, 12, 1), "公示中", "SZJS-2026-0001")
    [row] = table(book, "异议")
    assert (row["编号"], row["异议内容"], row["异议状态"]) == ("SZJS-2026-0001", "导师资格存疑", "待处理")
