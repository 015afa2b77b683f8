"""/project end to end through the real Dispatcher (七(一), R7): who may apply and when, the
questions, the receipt, the stored submission, the staff notice, the printed 申报表 and /projectform."""

from __future__ import annotations

import io
from datetime import date

import pytest
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile, Sticker
from docx import Document as Docx
from docx.document import Document as DocxDocument

from bot.rules.lifecycle import Actor
from bot.services.key_projects import close_window, open_window
from chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from factories import recognised_station
from storage.models import Document, Notice, StationState, Submission, SubmissionStatus
from storage.transitions import apply_transition

YEAR = 2026  # the chat's clock: 27 November 2026, 09:00 in Shenzhen
OTHER_CONTACT = 5550077
PROJECT = "精密模具寿命提升攻关"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def window(opens_on: date = date(YEAR, 11, 20), closes_on: date = date(YEAR, 12, 15)) -> None:
    outcome = await open_window(YEAR, opens_on, closes_on, staff_id=STAFF_ID, now=NOW)
    assert outcome.ok


async def say(chat: Chat, *inputs: str) -> list[str]:
    """Type or press (a leading "@") each input in turn; everything the bot said."""
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:]) if item.startswith("@") else chat.send(item))
        texts += chat.texts(calls)
    return texts


CONTENT = (
    "两年内把模具平均寿命提高三成", "分三期：调研、攻关、推广，每期六个月", "高级技师3名、技师5名任指导教师",
    "五轴加工中心2台和热处理实训线1条", "30万", "站长负责，按季度考核进度和成果", "与深圳技师学院联合培养，与两家模具企业共建试验",
)
OUTPUTS = ("25", "技术骨干和青年技工，均为本单位职工", "40", "3", "企业标准2项、培训课程1门")
BASIS = ("上年度完成模具钢热处理工艺改进，培训技工30名",)


async def reach_summary(chat: Chat) -> str:
    await say(chat, "/project", "@技术攻关", PROJECT, *CONTENT, *OUTPUTS, *BASIS)
    await chat.send_document(b"%PDF-1.4 statement", "申报说明.pdf")  # the first missing slot
    texts = await say(chat, "@材料齐全")
    assert "请核对重点建设项目申报内容</b>（2026年度）" in texts[-1]
    return texts[-1]


async def submitted_project(station_id: int, status: str, *, year: int = YEAR) -> Submission:
    project = await Submission.create(
        kind="key_project", status=SubmissionStatus.SUBMITTED, station_id=station_id, created_by=USER_ID, year=year,
        reference=f"SZXM-{year}-0099", uniqueness_key=f"key_project:{station_id}:{year}", submitted_at=NOW,
        answers={"category": "research", "project_name": "上一个项目"},
    )
    if status == "withdrawn":
        await apply_transition("submission", project.id, "withdraw", actor_id=USER_ID, actor=Actor.CONTACT, now=NOW,
                               expected_state="submitted")
    return project


@both_databases
async def test_a_full_application_while_the_window_is_open(chat: Chat) -> None:
    station = await recognised_station(USER_ID, recognised_on=date(2024, 6, 1))
    await window()
    first = (await say(chat, "/project"))[-1]
    assert "重点建设项目申报 · 第1/5部分 项目 · 第1/2题" in first and "2026年度重点建设项目的类别" in first
    categories = chat.buttons()
    assert "技师（预备技师）研修提升培训" in categories and "向社会开放培训平台" in categories
    assert len([b for b in categories if b in {"职业技能竞赛", "公益培训", "校企合作", "技术攻关"}]) == 4
    await say(chat, "/cancel")
    summary = await reach_summary(chat)
    assert "项目类别：技术攻关" in summary and f"项目名称：{PROJECT}" in summary
    assert "配套经费：300,000.00 元" in summary

    calls = await chat.press("提交")
    receipt = next(t for t in chat.texts(calls) if "重点建设项目申报已提交" in t)
    assert f"申报编号：<b>SZXM-{YEAR}-0001</b>" in receipt
    assert f"项目名称：{PROJECT}" in receipt and "项目类别：技术攻关" in receipt and "申报年度：2026年度" in receipt
    assert "2026-12-15 截止" in receipt and "专家评审" in receipt and "七(二)" in receipt
    assert "公示5个工作日" in receipt and "七(三)" in receipt

    submission = await Submission.get(created_by=USER_ID, kind="key_project")
    assert submission.status == SubmissionStatus.SUBMITTED and submission.reference == f"SZXM-{YEAR}-0001"
    assert submission.year == YEAR and submission.station_id == station.id and submission.unit_id == station.unit_id
    assert submission.uniqueness_key == f"key_project:{station.id}:{YEAR}"
    answers = submission.answers
    assert answers["category"] == "technical_breakthrough" and answers["project_name"] == PROJECT
    assert answers["matching_funds"] == "300000.00" and answers["participants_count"] == 25
    assert answers["trained_count"] == 40 and answers["problems_solved"] == 3
    assert answers["standards_courses"] == "企业标准2项、培训课程1门" and answers["last_year_basis"] == BASIS[0]
    assert await Document.filter(submission=submission, kind="kp_statement").count() == 1

    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_key_project")
    assert notice.params["project"] == PROJECT and notice.params["station"] == station.name

    sent = chat.documents(calls)
    assert len(sent) == 1 and sent[0].document.filename == f"SZXM-{YEAR}-0001-重点建设项目申报表.docx"
    printed = "\n".join(cell.text for table in _docx(sent[0]).tables for row in table.rows for cell in row.cells)
    assert "技术攻关" in printed and PROJECT in printed and "300,000.00 元" in printed
    heading = "\n".join(p.text for p in _docx(sent[0]).paragraphs)
    assert "深圳市技师工作站重点建设项目申报表" in heading
    assert f"工作站：{station.name}" in heading and "申报年度：2026年度" in heading

    # /projectform sends it again
    again = chat.documents(await chat.send("/projectform"))
    assert len(again) == 1 and again[0].document.filename == sent[0].document.filename

    # staff see it on /review, with its answers and the key-project acts
    review = chat.texts(await chat.send(f"/review SZXM-{YEAR}-0001", user=chat.as_user(STAFF_ID)))
    assert any(f"项目名称：{PROJECT}" in t and "项目类别：技术攻关" in t for t in review)
    assert any("重点建设项目申报说明：申报说明.pdf" in t for t in review)
    acts = chat.buttons(chat.as_user(STAFF_ID))
    assert "✅ 受理，送专家评审" in acts and any("申报表" in b for b in acts)


def _docx(sent: SendDocument) -> DocxDocument:
    assert isinstance(sent.document, BufferedInputFile)
    return Docx(io.BytesIO(sent.document.data))


async def test_no_window_announced_yet(chat: Chat) -> None:
    await recognised_station(USER_ID)
    text = (await say(chat, "/project"))[-1]
    assert "2026年度重点建设项目申报尚未开放" in text and "会在此通知本站" in text
    assert not await Submission.filter(kind="key_project").exists()


async def test_window_not_yet_open(chat: Chat) -> None:
    await recognised_station(USER_ID)
    await window(date(YEAR, 12, 1), date(YEAR, 12, 20))
    text = (await say(chat, "/project"))[-1]
    assert "将于 2026-12-01 开放，2026-12-20 截止" in text


async def test_window_ended(chat: Chat) -> None:
    await recognised_station(USER_ID)
    await window(date(YEAR, 10, 1), date(YEAR, 10, 31))
    text = (await say(chat, "/project"))[-1]
    assert "已于 2026-10-31 截止" in text


async def test_founding_year(chat: Chat) -> None:
    await recognised_station(USER_ID, recognised_on=date(YEAR, 3, 1))
    await window()
    text = (await say(chat, "/project"))[-1]
    assert "新设立的技师工作站不能申报当年度重点项目" in text and "本站于2026年认定" in text


@both_databases
async def test_one_project_a_year_a_withdrawn_one_does_not_count(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    await window()
    withdrawn = await submitted_project(station.id, "withdrawn")
    assert withdrawn.uniqueness_key is not None
    await reach_summary(chat)  # a withdrawn application frees the year
    await chat.press("提交")
    assert await Submission.filter(kind="key_project", status=SubmissionStatus.SUBMITTED).count() == 1
    text = (await say(chat, "/project"))[-1]
    assert "本站2026年度已申报过重点建设项目" in text


@pytest.mark.parametrize("state", [None, StationState.REVOKED])
async def test_only_a_contact_of_a_recognised_station(chat: Chat, state: StationState | None) -> None:
    if state is not None:
        await recognised_station(USER_ID, state=state)
    await window()
    text = (await say(chat, "/project"))[-1]
    assert "只有已认定的技师工作站可以申报重点建设项目" in text


@both_databases
async def test_the_window_closing_while_the_draft_is_open(chat: Chat) -> None:
    await recognised_station(USER_ID)
    await window()
    await reach_summary(chat)
    assert (await close_window(YEAR, staff_id=STAFF_ID, now=NOW)).ok
    texts = chat.texts(await chat.press("提交"))
    assert any("申报已由市人力资源保障局截止" in t for t in texts)
    draft = await Submission.get(kind="key_project")
    assert draft.status == SubmissionStatus.DRAFT and draft.reference is None
    assert not await Notice.filter(kind="new_key_project").exists()


async def test_wrong_answers_get_the_reason_and_the_same_question(chat: Chat) -> None:
    await recognised_station(USER_ID)
    await window()
    await say(chat, "/project", "@技术攻关", PROJECT, *CONTENT[:4])
    text = (await say(chat, "abc"))[-1]
    assert "请输入金额（元）" in text and "配套经费" in text
    update = chat.api.user_message(chat.user, None)
    sticker = Sticker(file_id="s", file_unique_id="s", type="regular", width=1, height=1, is_animated=False, is_video=False)
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, update.model_copy(update={"message": update.message.model_copy(update={"sticker": sticker})}))
    text = chat.texts(chat.api.calls[mark:])[-1]
    assert "这里需要输入文字" in text and "配套经费" in text
    text = (await say(chat, "0"))[-1]
    assert "管理措施" in text  # 0 is allowed: the next question


async def test_another_station_cannot_see_the_project(chat: Chat) -> None:
    await recognised_station(USER_ID)
    await recognised_station(OTHER_CONTACT, name="数控技师工作站", uscc="91440300MA5F00010X")
    await window()
    await reach_summary(chat)
    await chat.press("提交")
    other = chat.as_user(OTHER_CONTACT)
    calls = await chat.send("/projectform", user=other)
    assert not chat.documents(calls)
    assert "还没有您可查看的已提交重点建设项目申报" in chat.texts(calls)[-1]
