"""/declare end to end through the real Dispatcher: what the person reads, and what the database holds."""

from __future__ import annotations

import json


import pytest
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from chat_harness import STAFF_ID, Chat, make_settings
from conftest import both_databases
from scheduler.sender import OutboxSender
from storage.models import (
    Contact,
    Document,
    Notice,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionStatus,
    Unit,
)


def uscc(body: str = "91440300MA5F00001") -> str:
    return body + stdnum_uscc.calc_check_digit(body)


def resident_id(body: str) -> str:
    # stdnum's calc_check_digit expects the number with a (placeholder) check digit.
    return body + stdnum_ric.calc_check_digit(body + "0")


USCC = uscc()
LETTER_USCC = uscc("N1440300MA5F00002")  # registration authority N: stdnum alone rejects it
HEAD_ID = resident_id("44030119800101123")
MENTOR_IDS = [resident_id(f"4403011975010{n}123") for n in range(1, 5)]
HEAD_MOBILE = "13800138000"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def answer(chat: Chat, *inputs: str) -> list[str]:
    """Type or press each input in turn; a leading '@' presses the button with that label."""
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:]) if item.startswith("@") else chat.send(item))
        texts += chat.texts(calls)
    return texts


async def fill_unit_and_station(chat: Chat, code: str = USCC) -> None:
    await answer(
        chat, "/declare", "深圳精密制造有限公司", code, "@企业", "王大明", "深圳市南山区科技园1号",
        "精密模具制造", "350", "@合作共建", "深圳技师学院", "@是",
        "精密模具技师工作站", "李工", HEAD_ID, "+86 138-0013-8000", "总工程师",
        "陈联络", "139 0013 9000", "@跳过",
    )


async def add_mentor(chat: Chat, n: int, *, external: bool = False) -> None:
    steps = ["@添加指导教师", f"导师{n}", MENTOR_IDS[n - 1], "模具工", "@高级技师" if external else "@技师",
             "@职业资格证书", f"Z{n:05d}", "@技工院校"]
    # R2: two years with both days counted
    steps += ["@外聘", "2026-03-01", "2028-02-29"] if external else ["@本单位"]
    await answer(chat, *steps)


async def fill_conditions_and_report(chat: Chat) -> None:
    await answer(
        chat, "@是", "管理制度健全，连续五年盈利", "@是", "拥有五轴加工中心12台", "@是", "设有独立实训车间和技能津贴",
        "@是", "承担过市级技能大赛", "@是", "50万", "企业自筹专项经费",
        "@在此分六项填写", "两年培养20名高技能人才", "分三期实施建设", "先建章立制再带徒", "与技师学院联合培养",
        "场地800平方米专职5人", "实行站长负责制",
    )


async def upload_all_documents(chat: Chat, mentors: int = 3) -> None:
    await chat.send_document(b"%PDF-1.4 licence", "licence.pdf")  # goes to the first missing slot
    await chat.send_document(b"\xff\xd8 id", "head-id.jpg")
    for _ in range(mentors * 3):
        await chat.send_document(b"%PDF mentor doc", "mentor.pdf")


async def reach_summary(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    for n in (1, 2, 3):
        await add_mentor(chat, n, external=(n == 3))
    await answer(chat, "@名单完成")
    await fill_conditions_and_report(chat)
    await upload_all_documents(chat)
    texts = await answer(chat, "@材料齐全")
    assert "请核对设立申报内容" in texts[-1]


@both_databases
async def test_happy_path_from_declare_to_receipt(chat: Chat) -> None:
    await reach_summary(chat)
    summary = chat.api.last_message_with_buttons(chat.user.id).text
    assert "1. 单位名称：深圳精密制造有限公司" in summary
    assert f"2. 统一社会信用代码：{USCC}" in summary
    assert "440301********1239"[:6] in summary and HEAD_ID not in summary  # masked
    assert "138****8000" in summary and HEAD_MOBILE not in summary
    assert "指导教师：3名：导师1、导师2、导师3" in summary
    assert "运作经费：500,000.00 元" in summary

    calls = await chat.press("提交")
    texts = chat.texts(calls)
    receipt = next(t for t in texts if "设立申报已提交" in t)
    submission = await Submission.get(created_by=chat.user.id)
    year = 2026  # the chat's clock: 27 November 2026
    assert submission.reference == f"SZJS-{year}-0001"
    assert f"申报编号：<b>SZJS-{year}-0001</b>" in receipt
    assert "专家评审" in receipt and "公示5个工作日" in receipt and "授牌" in receipt
    # the printable form
    sent = chat.documents(calls)
    assert len(sent) == 1 and sent[0].document.filename.endswith("申报表.docx")
    # the database
    assert submission.status == SubmissionStatus.SUBMITTED
    assert submission.uniqueness_key == f"establishment:{USCC}"
    assert "_at" not in submission.answers
    stored = json.dumps(submission.answers, ensure_ascii=False)
    assert HEAD_ID not in stored and HEAD_MOBILE not in stored and MENTOR_IDS[0] not in stored  # sealed at rest
    unit = await Unit.get(uscc=USCC)
    station = await Station.get(unit=unit)
    assert station.state == StationState.APPLYING and station.school_enterprise is True
    assert await Contact.filter(user_id=chat.user.id, station=station, role="applicant").exists()
    assert await Document.filter(submission=submission).count() == 2 + 9
    assert await StatusTransition.filter(subject_type="submission", subject_id=submission.id, to_status="submitted").exists()
    # staff hear of it at once, through the outbox
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_declaration")
    # the receipt is the submitter's notice: no status_change is queued to them as well
    assert not await Notice.filter(recipient_id=chat.user.id).exists()
    assert notice.subject == f"submission:{submission.id}"
    mark = chat.mark()
    assert await OutboxSender(chat.bot).send_due(notice.due_at) == 1
    staff_text = chat.texts(chat.api.calls[mark:])[0]
    assert f"新的设立申报：深圳精密制造有限公司（精密模具技师工作站），编号 SZJS-{year}-0001" in staff_text
    # /status shows it
    status = chat.texts(await chat.send("/status"))[0]
    assert f"设立申报 SZJS-{year}-0001：已提交" in status and "申报中" in status


async def test_double_submit_submits_once(chat: Chat) -> None:
    await reach_summary(chat)
    summary = chat.last_with_buttons()
    submit_data = next(b.callback_data for row in summary.reply_markup.inline_keyboard for b in row if "提交" in b.text)
    first = await chat.press_data(submit_data, message=summary)
    second = await chat.press_data(submit_data, message=summary)
    assert any("设立申报已提交" in t for t in chat.texts(first))
    assert chat.texts(second) == ["这个页面已经结束或过期。请发送 /menu 打开主菜单，未办完的事项从那里继续。"]
    assert await Submission.filter(created_by=chat.user.id).count() == 1
    assert await Station.all().count() == 1
    assert await Notice.filter(kind="new_declaration").count() == 1


async def test_a_second_declaration_for_the_same_uscc_is_refused(chat: Chat) -> None:
    await reach_summary(chat)
    await chat.press("提交")
    other = chat.as_user(5550002, first_name="赵四")
    await chat.send("/declare", user=other)
    texts = chat.texts(await chat.send("另一家公司", user=other))
    texts = chat.texts(await chat.send(USCC, user=other))
    assert "该单位已有一份正在办理的设立申报，不能重复申报" in texts[-1]
    assert "第2/8题" in texts[-1]  # the same question again


async def test_unit_with_an_active_station_cannot_declare(chat: Chat) -> None:
    unit = await Unit.create(name="已有站单位", uscc=LETTER_USCC, unit_type="enterprise")
    await Station.create(unit=unit, name="站", mode="self", state=StationState.ACTIVE)
    await answer(chat, "/declare", "已有站单位")
    texts = await answer(chat, LETTER_USCC)
    assert "已有在册的技师工作站" in texts[-1]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("12345", "统一社会信用代码应为18位（现在是5位）"),
        (USCC[:-1] + ("0" if USCC[-1] != "0" else "1"), "校验位不符"),
        ("91440300MA5F0000IO", "不含 I、O、S、V、Z"),
    ],
)
async def test_bad_uscc_gets_a_clear_message_and_the_same_question(chat: Chat, typed: str, expected: str) -> None:
    await answer(chat, "/declare", "某公司")
    texts = await answer(chat, typed)
    assert expected in texts[-1]
    assert "请输入统一社会信用代码" in texts[-1]
    # nothing typed before is lost
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["unit_name"] == "某公司"


async def test_letter_first_uscc_is_accepted(chat: Chat) -> None:
    texts = await answer(chat, "/declare", "协会", LETTER_USCC)
    assert "请选择单位类型" in texts[-1]


async def test_a_real_code_failing_the_check_can_be_confirmed_and_is_flagged(chat: Chat) -> None:
    wrong = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
    await answer(chat, "/declare", "老企业", wrong)
    texts = await answer(chat, "@我已核对")
    assert "请选择单位类型" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["uscc"] == wrong and "uscc_unverified" in draft.answers["_flags"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("4403011980010112", "身份证号码应为18位（现在是16位）"),
        (HEAD_ID[:-1] + ("0" if HEAD_ID[-1] != "0" else "1"), "校验位不符"),
        (resident_id("44030120991231123"), "出生日期晚于今天"),
        (resident_id("44030119800230123"), "不是有效日期"),
    ],
)
async def test_bad_id_numbers(chat: Chat, typed: str, expected: str) -> None:
    await answer(chat, "/declare", "公司", USCC, "@企业", "法人", "地址", "领域", "10", "@自行申请设立", "站名", "李工")
    texts = await answer(chat, typed)
    assert expected in texts[-1] and "负责人的居民身份证号码" in texts[-1]


async def test_hk_permit_and_foreigner_ids_are_accepted(chat: Chat) -> None:
    await answer(chat, "/declare", "公司", USCC, "@企业", "法人", "地址", "领域", "10", "@自行申请设立", "站名", "李工")
    texts = await answer(chat, resident_id("81000019800101123"))
    assert "负责人手机号码" in texts[-1]
    await answer(chat, "@返回")
    texts = await answer(chat, resident_id("94484019850101123"))
    assert "负责人手机号码" in texts[-1]


@pytest.mark.parametrize("typed", ["1380013800", "12800138000", "0755-12345678"])
async def test_bad_mobiles(chat: Chat, typed: str) -> None:
    await answer(chat, "/declare", "公司", USCC, "@企业", "法人", "地址", "领域", "10", "@自行申请设立", "站名", "李工", HEAD_ID)
    texts = await answer(chat, typed)
    assert "请输入11位中国大陆手机号码" in texts[-1]


async def test_sticker_or_voice_where_text_is_needed(chat: Chat) -> None:
    await answer(chat, "/declare")
    from aiogram.types import Sticker

    update = chat.api.user_message(chat.user, None)
    message = update.message.model_copy(
        update={"sticker": Sticker(file_id="s", file_unique_id="s", type="regular", width=1, height=1, is_animated=False, is_video=False)}
    )
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, update.model_copy(update={"message": message}))
    texts = chat.texts(chat.api.calls[mark:])
    assert "这里需要输入文字" in texts[-1] and "申办单位名称" in texts[-1]


async def test_employees_must_be_a_count(chat: Chat) -> None:
    await answer(chat, "/declare", "公司", USCC, "@企业", "法人", "地址", "领域")
    texts = await answer(chat, "很多")
    assert "请输入一个整数" in texts[-1]
    texts = await answer(chat, "-5")
    assert "数量不能小于 1" in texts[-1]
    texts = await answer(chat, "0")  # a unit with no employees has no production field
    assert "数量不能小于 1" in texts[-1] and "请输入职工人数" in texts[-1]
    texts = await answer(chat, "1,200")
    assert "请选择设立方式" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["employees"] == 1200


async def test_mentor_rules(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    # fewer than three: the list cannot be closed
    await add_mentor(chat, 1)
    texts = await answer(chat, "@名单完成")
    assert "至少3名技师或高级技师，目前只有1名" in texts[-1]
    # an external technician is refused at once
    texts = await answer(chat, "@添加指导教师", "外聘甲", MENTOR_IDS[1], "钳工", "@技师", "@职业资格证书", "Z1", "@本科", "@外聘")
    assert "只有高级技师（或特级技师、首席技师）可以从外单位聘用" in texts[-1]
    assert "本单位职工还是外聘" in texts[-1]
    # going back to the level and choosing senior, then a contract under two years (both days count)
    texts = await answer(chat, "@返回", "@返回", "@返回", "@返回", "@高级技师", "@保持不变", "@保持不变", "@保持不变",
                         "@外聘", "2026-01-01")
    texts = await answer(chat, "2027-12-30")
    assert "聘用期不得少于两年" in texts[-1] and "结束日期最早为 2027-12-31" in texts[-1]
    texts = await answer(chat, "2027-12-31")
    assert "1. 导师1" in texts[-1] and "2. 外聘甲" in texts[-1]
    await add_mentor(chat, 3)
    texts = await answer(chat, "@删除第1位")
    assert "确定删除第1位：导师1？" in texts[-1]  # asked first
    texts = await answer(chat, "@确认删除第1位")
    assert "导师1" not in texts[-1]
    texts = await answer(chat, "@名单完成")
    assert "至少3名" in texts[-1] and "目前只有2名" in texts[-1]
    await add_mentor(chat, 4)
    texts = await answer(chat, "@名单完成")
    assert "单位经营管理状况是否良好" in texts[-1]


async def test_back_returns_to_the_previous_question_with_its_answer(chat: Chat) -> None:
    await answer(chat, "/declare", "第一家公司")
    texts = await answer(chat, "@返回")
    assert "请输入申办单位名称" in texts[-1] and "当前答案：第一家公司" in texts[-1]
    texts = await answer(chat, "@保持不变")
    assert "请输入统一社会信用代码" in texts[-1]


async def test_edit_item_from_the_summary_returns_to_the_summary(chat: Chat) -> None:
    await reach_summary(chat)
    texts = await answer(chat, "1")
    assert "请输入申办单位名称" in texts[-1]
    texts = await answer(chat, "深圳精密智造有限公司")
    assert "请核对设立申报内容" in texts[-1] and "1. 单位名称：深圳精密智造有限公司" in texts[-1]
    texts = await answer(chat, "99")
    assert "请输入要修改的项目编号" in texts[-1]


async def test_switching_to_co_built_in_edit_asks_the_new_questions(chat: Chat) -> None:
    await reach_summary(chat)
    summary = chat.api.last_message_with_buttons(chat.user.id).text
    number = next(line.split(".")[0] for line in summary.splitlines() if "设立方式" in line)
    await answer(chat, number, "@自行申请设立")
    summary = chat.api.last_message_with_buttons(chat.user.id).text
    assert "合作单位" not in summary
    await answer(chat, number, "@合作共建")
    texts = await answer(chat, "新伙伴")
    assert "校企合作" in texts[-1]


async def test_save_and_finish_later_then_resume(chat: Chat, db: str) -> None:
    await answer(chat, "/declare", "保存测试公司", USCC)
    texts = await answer(chat, "@保存")
    assert "草稿已保存" in texts[-1]
    # a brand-new bot process on the same database (the in-memory parts are gone)
    restarted = Chat(make_settings(db))
    restarted.user = chat.user
    texts = chat.texts(await restarted.send("/declare"))
    assert "已恢复您上次保存的申报草稿" in texts[0]
    assert "请选择单位类型" in texts[-1]


async def test_cancel_keeps_the_draft(chat: Chat) -> None:
    await answer(chat, "/declare", "取消测试公司")
    texts = await answer(chat, "/cancel")
    assert "草稿已保存" in texts[-1]
    texts = await answer(chat, "/declare")
    assert "请输入统一社会信用代码" in texts[-1]


async def test_discard_deletes_the_draft_after_confirmation(chat: Chat) -> None:
    await answer(chat, "/declare", "放弃测试公司")
    texts = await answer(chat, "@放弃")
    assert "确定放弃这份申报草稿吗" in texts[-1]
    texts = await answer(chat, "@继续填写")
    assert "请输入统一社会信用代码" in texts[-1]
    await answer(chat, "@放弃")
    texts = await answer(chat, "@确定放弃")
    assert "已放弃申报草稿" in texts[-1]
    assert await Submission.filter(created_by=chat.user.id).count() == 0


async def test_documents_checklist_and_file_rules(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成")
    await fill_conditions_and_report(chat)
    texts = await answer(chat, "@材料齐全")
    assert "以下材料还未上传：营业执照、负责人身份证、第1位导师身份证、第1位导师职业资格证书" in texts[-1]
    calls = await chat.send_document(b"x" * 10, "virus.exe", "application/octet-stream")
    assert "不支持此文件类型" in chat.texts(calls)[-1]
    big = chat.api.add_file(b"x", "huge.pdf")
    big = big.model_copy(update={"file_size": 40 * 1024 * 1024})
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, chat.api.user_message(chat.user, document=big))
    assert "文件太大（40.0 MB）" in chat.texts(chat.api.calls[mark:])[-1]
    texts = await answer(chat, "@第2位导师职业资格证书")
    assert "请发送：第2位导师职业资格证书" in texts[-1]
    await chat.send_document(b"%PDF", "cert2.pdf")
    text = chat.api.last_message_with_buttons(chat.user.id).text
    assert "✅ 第2位导师职业资格证书（cert2.pdf）" in text
    assert "请发送：营业执照" in text  # the next missing one, at once
    texts = await answer(chat, "@查看材料清单（已上传1/12项）")
    assert "✅ 第2位导师职业资格证书（cert2.pdf）" in texts[-1] and "❌ 营业执照" in texts[-1]


async def test_the_menu_button_starts_the_declaration(chat: Chat) -> None:
    await chat.send("/start")
    texts = await answer(chat, "@设立申报")
    assert "请输入申办单位名称" in texts[-1]


async def test_a_condition_answered_no_cites_the_clause_in_the_users_language(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成")
    texts = await answer(chat, "@否")
    assert "设立标准（《实施方案》四(二)）要求具备此条件" in texts[-1] and "单位经营管理状况是否良好" in texts[-1]
    assert "方案四" not in texts[-1].replace("实施方案》四", "")  # never "方案四(二)", which reads as "option 4"
    texts = await answer(chat, "/lang")
    assert texts[0] == "Language switched to English."
    # the question again, in English
    assert "Is the unit well run and managed (the Implementation Plan, §4(2))?" in texts[-1]
    assert "No" in chat.buttons()
    texts = await answer(chat, "@No")
    assert "The establishment criteria (the Implementation Plan, §4(2)) require this" in texts[-1]


async def test_a_photo_is_accepted_as_a_document(chat: Chat) -> None:
    from aiogram.types import PhotoSize

    await fill_unit_and_station(chat)
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成")
    await fill_conditions_and_report(chat)
    small = PhotoSize(file_id="p-small", file_unique_id="ps", width=90, height=90, file_size=1_000)
    large = PhotoSize(file_id="p-large", file_unique_id="pl", width=1280, height=960, file_size=200_000)
    update = chat.api.user_message(chat.user, None)
    update = update.model_copy(update={"message": update.message.model_copy(update={"photo": [small, large]})})
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, update)
    text = chat.texts(chat.api.calls[mark:])[-1]
    assert "✅ 营业执照（photo_pl.jpg）" in text
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["_docs"]["business_licence"][0]["file_id"] == "p-large"


async def test_switching_back_to_self_established_leaves_no_partner_on_the_station(chat: Chat) -> None:
    await reach_summary(chat)
    summary = chat.api.last_message_with_buttons(chat.user.id).text
    number = next(line.split(".")[0] for line in summary.splitlines() if "设立方式" in line)
    await answer(chat, number, "@自行申请设立")
    await chat.press("提交")
    submission = await Submission.get(created_by=chat.user.id)
    assert "partner_name" not in submission.answers and "partner_is_college" not in submission.answers
    station = await Station.get(id=submission.station_id)
    assert station.partner_name == "" and station.school_enterprise is False


async def test_the_reference_year_is_the_bureaus_not_the_servers(db: str) -> None:
    # 00:30 on 1 January 2027 in Shanghai is still 31 December 2026 in UTC.
    from datetime import UTC, datetime

    from bot.clock import FixedClock

    chat = Chat(make_settings(db), clock=FixedClock(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)))
    await reach_summary(chat)
    receipt = chat.texts(await chat.press("提交"))[0]
    assert "SZJS-2027-0001" in receipt and "提交时间：2027-01-01 00:30" in receipt
    submission = await Submission.get(created_by=chat.user.id)
    assert submission.submitted_at == datetime(2026, 12, 31, 16, 30, tzinfo=UTC)


# -- the points of 四(一)-(四) and 六(一), and answers that used to get through ------------------------

CHILD_ID = resident_id("44030120150101123")  # born 1 January 2015: 11 on the chat's day, 2026-11-27


async def start_external_mentor(chat: Chat, n: int = 1, level: str = "@高级技师") -> list[str]:
    """Add a mentor up to the contract dates: an external hire with a skill level certificate."""
    return await answer(chat, "@添加指导教师", f"外聘{n}", MENTOR_IDS[n - 1], "数控车工", level,
                        "@职业技能等级证书", f"G{n:05d}", "@本科", "@外聘")


async def test_r2_a_contract_counts_both_days_and_must_not_have_ended(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    texts = await start_external_mentor(chat)
    assert "请输入聘用开始日期" in texts[-1]
    texts = await answer(chat, "1926-03-01")  # another century
    assert "请输入 1990-01-01 至 2099-12-31 之间的日期" in texts[-1] and "请输入聘用开始日期" in texts[-1]
    # 自2024年3月1日起至2026年2月28日止 is two years, but it ended before today (2026-11-27)
    texts = await answer(chat, "2024年3月1日")
    assert "请输入聘用结束日期" in texts[-1]
    texts = await answer(chat, "2026年2月28日")
    assert "在申报之日（2026-11-27）已经结束" in texts[-1] and "结束日期最早为 2026-11-27" in texts[-1]
    assert "请输入聘用结束日期" in texts[-1]  # the same question again
    texts = await answer(chat, "2023-03-01")
    assert "结束日期早于开始日期 2024-03-01" in texts[-1] and "结束日期最早为 2026-11-27" in texts[-1]
    texts = await answer(chat, "2206-03-01")
    assert "1990-01-01 至 2099-12-31" in texts[-1] and "结束日期最早为 2026-11-27" in texts[-1]
    # a contract from 2026-03-01: ending 2028-02-28 is a day short; 2028-02-29 makes two years
    await answer(chat, "@返回", "自2026年3月1日起")
    texts = await answer(chat, "2028-02-28")
    assert "聘用期不得少于两年" in texts[-1] and "结束日期最早为 2028-02-29" in texts[-1]
    texts = await answer(chat, "至2028年2月29日止")
    assert "1. 外聘1" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["mentors"][0]["contract_start"] == "2026-03-01"
    assert draft.answers["mentors"][0]["contract_end"] == "2028-02-29"


async def test_r1_the_same_person_cannot_be_listed_twice(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    await add_mentor(chat, 1)
    await add_mentor(chat, 2)
    # the first mentor's number again, typed with a space and a dash
    again = MENTOR_IDS[0][:6] + " " + MENTOR_IDS[0][6:14] + "-" + MENTOR_IDS[0][14:]
    texts = await answer(chat, "@添加指导教师", "换个名字", again)
    assert "这个身份证号码与第1位指导教师相同" in texts[-1] and "同一人只能登记一次" in texts[-1]
    assert "请输入指导教师身份证号码" in texts[-1]
    texts = await answer(chat, MENTOR_IDS[2])
    assert "请输入指导教师的职业（工种）" in texts[-1]
    await answer(chat, "焊工", "@技师", "@职业资格证书", "Z3", "@大专", "@本单位")
    # a mentor edited with their own number is no duplicate of themselves
    texts = await answer(chat, "@修改第2位", "@保持不变", MENTOR_IDS[1])
    assert "请输入指导教师的职业（工种）" in texts[-1]
    await answer(chat, *["@保持不变"] * 6)
    texts = await answer(chat, "@名单完成")
    assert "单位经营管理状况是否良好" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert [m["occupation"] for m in draft.answers["mentors"]] == ["模具工", "模具工", "焊工"]


async def test_r1_levels_up_to_chief_technician_and_either_certificate(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    texts = await answer(chat, "@添加指导教师", "首席甲", MENTOR_IDS[0])
    assert "请输入指导教师的职业（工种）" in texts[-1]
    texts = await answer(chat, "数控车工")
    assert "请选择技能等级" in texts[-1]
    assert chat.buttons()[:4] == ["技师", "高级技师", "特级技师", "首席技师"]
    texts = await answer(chat, "@首席技师")
    assert "持有哪一种证书" in texts[-1]
    assert chat.buttons()[:2] == ["职业资格证书", "职业技能等级证书"]
    # a chief technician counts as at least senior: may be hired from outside
    texts = await answer(chat, "@职业技能等级证书", "S2023-001", "@本科", "@外聘", "2026-03-01", "2028-02-29")
    assert "1. 首席甲" in texts[-1] and "首席技师" in texts[-1] and "职业技能等级证书" in texts[-1]
    await add_mentor(chat, 2)
    await start_external_mentor(chat, 3, level="@特级技师")
    await answer(chat, "2026-03-01", "2028-02-29")
    await answer(chat, "@名单完成")
    await fill_conditions_and_report(chat)
    texts = await answer(chat, "@材料齐全")
    assert "第1位导师职业技能等级证书" in texts[-1] and "第2位导师职业资格证书" in texts[-1]
    assert "第3位导师职业技能等级证书" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert [m["level"] for m in draft.answers["mentors"]] == ["chief", "technician", "special_grade"]


async def test_r3_working_conditions_and_running_funds_above_zero(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成")
    texts = await answer(chat, "@是", "管理制度健全规范", "@是", "五轴加工中心12台")
    assert "单位能否为高技能人才提供较好的工作条件（《实施方案》四(二)）" in texts[-1]
    texts = await answer(chat, "@否")
    assert "设立标准（《实施方案》四(二)）要求具备此条件" in texts[-1]
    texts = await answer(chat, "@是", "有")
    assert "内容太短" in texts[-1] and "为高技能人才提供的工作条件" in texts[-1]
    texts = await answer(chat, "设有独立实训车间", "@是", "承担过市级技能大赛", "@是")
    assert "请输入单位为工作站提供的运作经费金额（元）" in texts[-1] and "每年" not in texts[-1]
    texts = await answer(chat, "0")
    assert "金额应大于0元" in texts[-1] and "运作经费金额" in texts[-1]
    texts = await answer(chat, "50万")
    assert "经费来源和用途" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["work_conditions_ok"] == "yes" and draft.answers["work_conditions_desc"] == "设有独立实训车间"
    assert draft.answers["funds_amount"] == "500000.00"


async def test_r5_the_registration_certificate_follows_the_unit_type(chat: Chat) -> None:
    texts = await answer(chat, "/declare", "深圳市模具行业协会")
    assert "企业、企业集团为营业执照" in texts[-1] and "行业协会为社会团体法人登记证书" in texts[-1]
    assert "科研生产型事业单位为事业单位法人证书" in texts[-1]
    await answer(
        chat, USCC, "@行业协会", "王大明", "深圳市南山区科技园1号", "模具行业服务", "35", "@自行申请设立",
        "模具技师工作站", "李工", HEAD_ID, HEAD_MOBILE, "秘书长", "陈联络", "139 0013 9000", "@跳过",
    )
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成")
    await fill_conditions_and_report(chat)
    texts = await answer(chat, "@材料齐全")
    assert "以下材料还未上传：社会团体法人登记证书、负责人身份证" in texts[-1]
    assert "营业执照" not in texts[-1]
    texts = await answer(chat, "/lang")
    assert "Social organisation legal person registration certificate" in texts[-1]
    await answer(chat, "/lang")
    await upload_all_documents(chat)
    await answer(chat, "@材料齐全")
    # the code question, asked again from the summary, names the association's certificate
    texts = await answer(chat, "2")
    assert "请输入统一社会信用代码（18位），印在单位的社会团体法人登记证书上" in texts[-1]


async def test_the_receipt_names_the_bureau_in_full_first_and_cites_the_plan(chat: Chat) -> None:
    await reach_summary(chat)
    receipt = next(t for t in chat.texts(await chat.press("提交")) if "设立申报已提交" in t)
    first = receipt.index("深圳市人力资源和社会保障局")
    assert receipt.index("市人力资源保障局网站") > first
    assert "《实施方案》六(二)" in receipt and "《实施方案》六(三)" in receipt and "《实施方案》六(四)" in receipt
    assert "方案六" not in receipt.replace("《实施方案》六", "")


async def test_a_head_or_mentor_under_sixteen_is_refused(chat: Chat) -> None:
    await answer(chat, "/declare", "公司", USCC, "@企业", "法人", "地址", "领域", "10", "@自行申请设立", "站名", "李工")
    texts = await answer(chat, CHILD_ID)
    assert "生于 2015-01-01" in texts[-1] and "未满16周岁" in texts[-1]
    assert "负责人的居民身份证号码" in texts[-1]  # the same question again
    await answer(chat, HEAD_ID, HEAD_MOBILE, "总工程师", "陈联络", "139 0013 9000", "@跳过")
    texts = await answer(chat, "@添加指导教师", "小明", CHILD_ID)
    assert "未满16周岁" in texts[-1] and "请输入指导教师身份证号码" in texts[-1]


async def test_an_id_number_may_be_grouped_with_dashes_or_spaces_like_a_uscc(chat: Chat) -> None:
    from bot.crypto import vault_for

    grouped_uscc = f"{USCC[:4]}-{USCC[4:8]} {USCC[8:]}"
    await answer(chat, "/declare", "公司", grouped_uscc, "@企业", "法人", "地址", "领域", "10", "@自行申请设立", "站名", "李工")
    texts = await answer(chat, f"{HEAD_ID[:6]}-{HEAD_ID[6:14]}-{HEAD_ID[14:]}")
    assert "负责人手机号码" in texts[-1]
    await answer(chat, "@返回")
    texts = await answer(chat, f"{HEAD_ID[:6]} {HEAD_ID[6:14]} {HEAD_ID[14:]}")
    assert "负责人手机号码" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["uscc"] == USCC
    assert vault_for(chat.settings).unseal(draft.answers["head_id_number"]) == HEAD_ID


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (resident_id("10030119800101123"), "前6位是地区代码，其开头两位“10”不是有效的省级代码"),
        (resident_id("81010019800101123"), "前6位应为 810000（香港）、820000（澳门）或 830000（台湾）"),
        (resident_id("98184019800101123"), "第2、3位是受理地的省级代码，“81”不是有效的省级代码"),
    ],
)
async def test_a_bad_region_code_is_said_of_the_digits_that_are_wrong(chat: Chat, typed: str, expected: str) -> None:
    await answer(chat, "/declare", "公司", USCC, "@企业", "法人", "地址", "领域", "10", "@自行申请设立", "站名", "李工")
    texts = await answer(chat, typed)
    assert expected in texts[-1] and "负责人的居民身份证号码" in texts[-1]
    assert "前两位不是有效的地区代码" not in texts[-1]


async def test_a_typed_answer_matching_a_button_is_taken(chat: Chat) -> None:
    await answer(chat, "/declare", "公司", USCC)
    texts = await answer(chat, "也许")
    assert "请点选下方按钮作答" in texts[-1] and "请选择单位类型" in texts[-1]
    texts = await answer(chat, "企业")
    assert "请输入法定代表人姓名" in texts[-1]
    texts = await answer(chat, "法人", "地址", "领域", "10", "合作共建", "深圳技师学院", "“是”")
    assert "请输入技师工作站名称" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert (draft.answers["unit_type"], draft.answers["mode"], draft.answers["partner_is_college"]) == (
        "enterprise", "co_built", "yes")
    await answer(chat, "精密模具技师工作站", "李工", HEAD_ID, HEAD_MOBILE, "总工程师", "陈联络", "139 0013 9000", "@跳过")
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成")
    texts = await answer(chat, "否")  # typed: refused for the reason, as if pressed
    assert "设立标准（《实施方案》四(二)）要求具备此条件" in texts[-1]
    await answer(chat, "/lang")
    texts = await answer(chat, "ＹＥＳ")  # full-width, in the other language
    assert "describe how the unit is run and managed" in texts[-1]
