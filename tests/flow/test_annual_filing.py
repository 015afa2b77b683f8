"""/filing (年度备案, 八; R10, R15–R17) through the real Dispatcher: what the contact reads, and what
the database holds. The clock is in UTC; the bureau's day is Asia/Shanghai (UTC+8)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from docx import Document as Docx

from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from factories import recognised_station
from bot.clock import FixedClock
from bot.forms.annual_filing import ANNUAL_FILING_SPEC
from bot.services import forms as service
from storage.models import (
    BotUser,
    Contact,
    ContactRole,
    FilingObligation,
    FilingState,
    Notice,
    Station,
    StationState,
    Submission,
    SubmissionStatus,
)

# The filing for 2027 is due at the end of 2028-02-29 in Shanghai (a leap year): 16:00 UTC.
LAST_SECOND = datetime(2028, 2, 29, 15, 59, 59, tzinfo=UTC)
PAST_IT = datetime(2028, 2, 29, 16, 0, 0, tzinfo=UTC)
OTHER_USER = 5550002


def chat_at(db: str, at: datetime) -> Chat:
    return Chat(make_settings(db), clock=FixedClock(at))


async def answer(chat: Chat, *inputs: str) -> list[str]:
    """Type or press each input in turn; a leading '@' presses the button with that label."""
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:]) if item.startswith("@") else chat.send(item))
        texts += chat.texts(calls)
    return texts


async def fill_to_summary(chat: Chat, *, checklist: tuple[str, ...] = ("是",) * 5) -> list[str]:
    texts = await answer(chat, "/filing", "2", "数控机床改造项目\n模具寿命攻关项目", "12", "1", "全市模具技能竞赛一场",
                         "30万", *(f"@{x}" for x in checklist))
    texts += chat.texts(await chat.send_document(b"%PDF-1.4 report", "2027年度建设情况报告.pdf"))
    texts += await answer(chat, "@材料齐全")
    return texts


@both_databases
async def test_a_full_filing_on_the_last_second_is_on_time(db: str) -> None:
    station = await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    chat = chat_at(db, LAST_SECOND)
    texts = await fill_to_summary(chat)
    assert "2027年度备案" in texts[0] and "2028-02-29" in texts[0] and "逾期" not in texts[0]
    assert "请核对年度备案内容" in texts[-1]
    calls = await chat.press("提交")
    receipt = chat.texts(calls)[-1]
    assert "SZBA-2028-0001" in receipt and "2027年度" in receipt and "按时备案" in receipt
    # A station recognised in 2025 owes 五(二) for 2027 and meets it; 五(一) all yes.
    assert "达到《实施方案》五的各项要求" in receipt

    submission = await Submission.get(reference="SZBA-2028-0001")
    assert submission.status == SubmissionStatus.SUBMITTED and submission.year == 2027
    assert submission.station_id == station.id
    assert submission.answers["major_projects"] == 2 and submission.answers["skilled_trained"] == 12
    assert submission.answers["funds_spent"] == "300000.00" and submission.answers["management_rules"] == "yes"
    assert "teachers_co_trained" not in submission.answers  # not school-enterprise: never asked
    obligation = await FilingObligation.get(station_id=station.id, year=2027)
    assert obligation.state == FilingState.FILED_ON_TIME and obligation.submission_id == submission.id
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_filing")
    assert notice.params["year"] == 2027 and notice.params["shortfalls"] == 0
    assert notice.params["timeliness_key"] == "form.annual_filing.notice_on_time"

    [document] = chat.documents(calls)
    assert document.document.filename == "SZBA-2028-0001-年度备案表.docx"
    text = _docx_text(document.document.data)
    for expected in ("深圳市技师工作站年度备案表", "精密模具技师工作站", "2027年度", "数控机床改造项目", "12",
                     "300,000.00 元", "年度建设情况报告"):
        assert expected in text

    # /filingform sends it again; a second /filing has nothing to file for 2027.
    again = chat.documents(await chat.send("/filingform"))
    assert again and again[0].document.filename == "SZBA-2028-0001-年度备案表.docx"
    # Printed for the year it was filed for, not the one the form would be for now.
    assert "工作站：精密模具技师工作站　　备案年度：2027年度" in _docx_text(again[0].document.data)
    refused = chat.texts(await chat.send("/filing"))[-1]
    assert "没有需要办理的年度备案" in refused and "2028-01-01" not in refused


@both_databases
async def test_a_second_later_is_late_and_the_shortfalls_are_named(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    chat = chat_at(db, PAST_IT)
    texts = await answer(chat, "/filing", "0", "9", "0", "10万", "@是", "@否", "@是", "@是", "@是")
    assert "已过截止日期" in texts[0] and "记为逾期" in texts[0]
    await chat.send_document(b"%PDF-1.4 report", "report.pdf")
    await answer(chat, "@材料齐全")
    receipt = chat.texts(await chat.press("提交"))[-1]
    assert "逾期备案" in receipt and "2028-02-29" in receipt
    assert "备案已接收；以下事项未达到《实施方案》要求：" in receipt
    assert "1. 尚未制定名师带徒工作计划（《实施方案》五(一)）" in receipt
    assert "2. 重大技术改造或技术攻关项目 0 项，要求每年至少 1 项（《实施方案》五(二)）" in receipt
    assert "3. 培养高技能人才 9 名，要求每年不少于 10 名（《实施方案》五(二)）" in receipt
    obligation = await FilingObligation.get(year=2027)
    assert obligation.state == FilingState.FILED_LATE
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_filing")
    assert notice.params["shortfalls"] == 3 and notice.params["timeliness_key"] == "form.annual_filing.notice_late"


@both_databases
async def test_an_extended_filing_is_on_time_until_the_extension_ends(db: str) -> None:
    station = await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    await FilingObligation.create(station=station, year=2027, due_on=date(2028, 2, 29),
                                  extended_due_on=date(2028, 6, 30), state=FilingState.EXTENDED)
    chat = chat_at(db, datetime(2028, 6, 30, 15, 0, tzinfo=UTC))
    texts = await fill_to_summary(chat)
    assert "2028-06-30" in texts[0] and "已过截止日期" not in texts[0]
    receipt = chat.texts(await chat.press("提交"))[-1]
    assert "按时备案（截止日期 2028-06-30）" in receipt
    assert (await FilingObligation.get(station_id=station.id, year=2027)).state == FilingState.FILED_ON_TIME


async def test_the_window_opens_at_midnight_in_shanghai(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2027, 3, 1))
    # 2027-12-31T15:59:59Z is still 31 December in Shanghai: nothing to file for 2027 yet.
    before = chat_at(db, datetime(2027, 12, 31, 15, 59, 59, tzinfo=UTC))
    said = before.texts(await before.send("/filing"))
    assert said == ["⚠️ 现在没有需要办理的年度备案。下一次是2027年度备案：2028-01-01 起可以办理，截止日期 2028-02-29（《实施方案》八）。"]
    after = chat_at(db, datetime(2027, 12, 31, 16, 0, 0, tzinfo=UTC))
    first = after.texts(await after.send("/filing"))[-1]
    assert "2027年度备案" in first and "截止日期：2028-02-29" in first


async def test_a_school_enterprise_station_is_asked_about_its_partner_college(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2024, 9, 1), school_enterprise=True)
    chat = chat_at(db, datetime(2028, 1, 10, 2, 0, tzinfo=UTC))
    texts = await answer(chat, "/filing", "1", "攻关项目", "10", "1", "6", "0", "5万", *("@是",) * 5)
    assert "合作培养了多少名师资" in texts[3] and "合格出站" in texts[4]
    assert "校企合作培养高技能人才的长效机制" in texts[-1]
    await answer(chat, "@否")
    await chat.send_document(b"%PDF-1.4 report", "report.pdf")
    await answer(chat, "@材料齐全")
    calls = await chat.press("提交")
    receipt = chat.texts(calls)[-1]
    assert "1. 尚未建立校企合作培养高技能人才的长效机制（《实施方案》五(一)）" in receipt
    assert "2. 为合作院校合作培养师资 1 名，要求每年不少于 2 名（《实施方案》五(三)）" in receipt
    submission = await Submission.get(year=2027)
    assert submission.answers["teachers_co_trained"] == 1 and submission.answers["learners_qualified"] == 6
    text = _docx_text(chat.documents(calls)[0].document.data)
    assert "为合作院校合作培养师资" in text and "校企合作长效机制" in text


async def test_a_draft_resumes_after_a_restart(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    first = chat_at(db, LAST_SECOND)
    await answer(first, "/filing", "0", "15")
    # A new process on the same database: the draft continues at the next question.
    second = chat_at(db, LAST_SECOND)
    texts = await answer(second, "/filing")
    assert texts[0] == "已恢复您上次保存的年度备案草稿。"
    assert "举办了多少次技能竞赛" in texts[-1]
    texts = await answer(second, "0", "5万", *("@是",) * 5)
    await second.send_document(b"%PDF-1.4 report", "report.pdf")
    await answer(second, "@材料齐全")
    receipt = second.texts(await second.press("提交"))[-1]
    assert "SZBA-2028-0001" in receipt and "重大技术改造或技术攻关项目 0 项" in receipt


async def test_a_wrong_answer_gets_the_reason_and_the_same_question(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    chat = chat_at(db, LAST_SECOND)
    await chat.send("/filing")
    said = chat.texts(await chat.send("-3"))[-1]
    assert said.startswith("⚠️ 数量不能小于 0") and "重大技术改造或技术攻关项目" in said
    said = chat.texts(await chat.send("很多"))[-1]
    assert "请输入一个整数" in said and "第1/2题" in said


async def test_a_colleague_cannot_file_the_same_year_twice(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    chat = chat_at(db, LAST_SECOND)
    colleague = chat.as_user(OTHER_USER)
    user, _ = await BotUser.get_or_create(id=OTHER_USER)
    await Contact.create(user=user, station=await Station.first(), role=ContactRole.CONTACT)
    await answer(chat, "/filing", "1", "攻关项目", "10")
    await chat.send("/filing", user=colleague)
    await fill_to_summary(chat)  # resumes and finishes the first contact's draft
    assert "SZBA-2028-0001" in chat.texts(await chat.press("提交"))[-1]
    for text in ("0", "10", "0", "5万"):
        await chat.send(text, user=colleague)
    for _ in range(5):
        await chat.press("是", user=colleague)
    await chat.send_document(b"%PDF-1.4 report", "report.pdf", user=colleague)
    await chat.press("材料齐全", user=colleague)
    refused = chat.texts(await chat.press("提交", user=colleague))[-1]
    assert "没有需要办理的年度备案" in refused
    assert await Submission.filter(kind="annual_filing").exclude(status=SubmissionStatus.DRAFT).count() == 1


async def test_a_contact_of_another_station_cannot_get_the_filing_form(db: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    await recognised_station(OTHER_USER, name="汽车电子技师工作站", uscc="91440300MA5F00010X", recognised_on=date(2025, 6, 1))
    chat = chat_at(db, LAST_SECOND)
    await fill_to_summary(chat)
    await chat.press("提交")
    other = chat.as_user(OTHER_USER)
    calls = await chat.send("/filingform", user=other)
    assert not chat.documents(calls)
    assert chat.texts(calls) == ["本站还没有已提交的年度备案。发送 /filing 办理。"]


@pytest.mark.parametrize(
    ("state", "said"),
    [
        (StationState.APPLYING, "设立申报尚在办理中"),
        (StationState.REVOKED, "已被撤销"),
        (StationState.DEREGISTRATION_REQUESTED, "注销申请正在办理中"),
        (StationState.DEREGISTERED, "已注销"),
    ],
)
async def test_a_station_that_does_not_file_is_told_why(db: str, state: StationState, said: str) -> None:
    await recognised_station(USER_ID, recognised_on=date(2025, 6, 1), state=state)
    chat = chat_at(db, LAST_SECOND)
    texts = chat.texts(await chat.send("/filing"))
    assert len(texts) == 1 and said in texts[0]


async def test_someone_without_a_station_is_told_filings_are_for_contacts(db: str) -> None:
    chat = chat_at(db, LAST_SECOND)
    assert "您尚未绑定工作站" in chat.texts(await chat.send("/filing"))[-1]


def _docx_text(data: bytes) -> str:
    doc = Docx(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    parts += [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    return "\n".join(parts)


@both_databases
async def test_two_contacts_submitting_at_once_make_one_filing(db: str) -> None:
    # Both sessions were loaded (and asked may_start) before either was submitted: the database's
    # one-filing-per-station-and-year key decides.
    station = await recognised_station(USER_ID, recognised_on=date(2025, 6, 1))
    user, _ = await BotUser.get_or_create(id=OTHER_USER)
    await Contact.create(user=user, station=station, role=ContactRole.CONTACT)
    chat = chat_at(db, LAST_SECOND)
    await fill_to_summary(chat)
    colleague = Chat(chat.settings, chat.api, clock=chat.clock)
    colleague.user = colleague.as_user(OTHER_USER)
    await fill_to_summary(colleague)
    sessions = []
    for user_id in (USER_ID, OTHER_USER):
        draft = await Submission.get(created_by=user_id, status=SubmissionStatus.DRAFT)
        session = await service.load(ANNUAL_FILING_SPEC, draft.id, user_id, "zh", chat.clock, chat.settings)
        assert session is not None and session.context.year == 2027
        sessions.append((draft.id, user_id, session))
    first = await service.submit(ANNUAL_FILING_SPEC, sessions[0][2], sessions[0][0], USER_ID, chat.clock, chat.settings)
    assert first.reference == "SZBA-2028-0001"
    second = await service.submit(ANNUAL_FILING_SPEC, sessions[1][2], sessions[1][0], OTHER_USER, chat.clock, chat.settings)
    assert second.error is not None and second.error.reason == "annual_filing.duplicate"
    assert await Submission.filter(kind="annual_filing", status=SubmissionStatus.SUBMITTED).count() == 1
    assert await Submission.filter(created_by=OTHER_USER, status=SubmissionStatus.DRAFT).exists()


@both_databases
async def test_a_late_filing_puts_an_overdue_station_back_in_good_standing(db: str) -> None:
    """九: the late filing arrived. The station the tick marked overdue is active again, and its
    contact reads why in words (the bot's coded reason, "filing:2027", never shows)."""
    from scheduler.sender import render  # noqa: PLC0415 - the notice as the contact reads it

    station = await recognised_station(USER_ID, recognised_on=date(2025, 6, 1), state=StationState.OVERDUE)
    await FilingObligation.create(station=station, year=2027, due_on=date(2028, 2, 29), state=FilingState.OVERDUE)
    chat = chat_at(db, datetime(2028, 4, 2, 1, 0, tzinfo=UTC))
    await fill_to_summary(chat)
    assert "逾期备案" in chat.texts(await chat.press("提交"))[-1]
    assert (await Station.get(id=station.id)).state == StationState.ACTIVE
    assert (await FilingObligation.get(station_id=station.id, year=2027)).state == FilingState.FILED_LATE
    notice = await Notice.get(recipient_id=USER_ID, subject=f"station:{station.id}", kind="status_change")
    assert render(notice, "zh") == "🔔 技师工作站 精密模具技师工作站：在册运行。\n说明：涉及2027年度备案\n发送 /status 查看。"
    assert "filing:" not in render(notice, "en") and "the annual filing for 2027" in render(notice, "en")
