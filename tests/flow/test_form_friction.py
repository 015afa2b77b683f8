"""/declare through the real Dispatcher, where a new contact used to stumble: a code confirmed despite
its check character (marked on the summary, the receipt and the staff notice), a file sent at "upload
or type?", text where a file is expected, and a mentor deleted only after a yes."""

from __future__ import annotations

import pytest

from chat_harness import STAFF_ID, Chat, make_settings
from scheduler.sender import OutboxSender
from storage.models import Notice, Submission
from test_declaration import (
    HEAD_ID,
    USCC,
    add_mentor,
    answer,
    fill_unit_and_station,
    upload_all_documents,
    uscc,
)

MARK = "（未通过自动校验，经申报人确认，待人工核验）"
CONDITIONS = (
    "@是", "管理制度健全，连续五年盈利", "@是", "拥有五轴加工中心12台", "@是", "设有独立实训车间和技能津贴",
    "@是", "承担过市级技能大赛", "@是", "50万", "企业自筹专项经费",
)


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def up_to_the_report(chat: Chat, code: str = USCC) -> None:
    await fill_unit_and_station(chat, code)
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成", *CONDITIONS)


async def test_a_report_sent_at_the_mode_question_is_the_upload_and_text_gets_send_a_file(chat: Chat) -> None:
    await up_to_the_report(chat)
    question = chat.last_with_buttons().text
    assert "上传文件，还是在此分项填写？" in question and "也可以直接发送文件" in question
    # the file straight away: no button first
    texts = chat.texts(await chat.send_document(b"%PDF report", "申办报告.pdf"))
    assert "请逐项上传复印件或照片" in texts[-1]  # on to the materials
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["report_mode"] == "upload"
    assert draft.answers["_docs"]["report"][0]["file_name"] == "申办报告.pdf"
    # text where a file is expected
    texts = await answer(chat, "营业执照明天再传")
    assert "这里需要上传文件" in texts[-1] and "请点选下方按钮" not in texts[-1]
    # each upload asks for the next missing one at once
    texts = chat.texts(await chat.send_document(b"%PDF licence", "licence.pdf"))
    assert "✅ 营业执照（licence.pdf）已收到" in texts[-1] and "请发送：负责人身份证" in texts[-1]
    await chat.send_document(b"\xff\xd8 id", "head-id.jpg")
    for _ in range(9):
        await chat.send_document(b"%PDF mentor doc", "mentor.pdf")
    texts = await answer(chat, "@材料齐全")
    assert "申办报告方式：上传申办报告文件" in texts[-1] and "申办报告文件：申办报告.pdf" in texts[-1]
    assert "（未填）" not in texts[-1]


async def test_a_confirmed_code_is_marked_on_the_summary_receipt_and_staff_notice(chat: Chat) -> None:
    wrong = uscc("91440300MA5F00009")
    wrong = wrong[:-1] + ("0" if wrong[-1] != "0" else "1")
    await answer(chat, "/declare", "老企业")
    texts = await answer(chat, wrong)
    assert "校验位不符" in texts[-1] and "我已核对，代码无误" in chat.buttons()
    texts = await answer(chat, "1234")  # another mistake: the offer to confirm the first code goes
    assert "应为18位" in texts[-1] and "我已核对，代码无误" not in chat.buttons()
    await answer(chat, wrong, "@我已核对")
    draft = await Submission.get(created_by=chat.user.id)
    assert draft.answers["uscc"] == wrong and draft.answers["_flags"] == ["uscc_unverified"]
    # the rest of the form, as in test_declaration's fill_unit_and_station
    await answer(
        chat, "@企业", "王大明", "深圳市南山区科技园1号", "精密模具制造", "350", "@自行申请设立",
        "精密模具技师工作站", "李工", HEAD_ID, "13800138000", "总工程师", "陈联络", "13900139000", "@跳过",
    )
    for n in (1, 2, 3):
        await add_mentor(chat, n)
    await answer(chat, "@名单完成", *CONDITIONS, "@在此分六项填写", "两年培养20名高技能人才", "分三期实施建设",
                 "先建章立制再带徒", "与技师学院联合培养", "场地800平方米专职5人", "实行站长负责制")
    await upload_all_documents(chat)
    texts = await answer(chat, "@材料齐全")
    assert f"2. 统一社会信用代码：{wrong}{MARK}" in texts[-1]
    receipt = next(t for t in chat.texts(await chat.press("提交")) if "设立申报已提交" in t)
    assert f"统一社会信用代码：{wrong}{MARK}" in receipt
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_declaration")
    mark = chat.mark()
    assert await OutboxSender(chat.bot).send_due(notice.due_at) == 1
    staff_text = chat.texts(chat.api.calls[mark:])[0]
    assert f"统一社会信用代码：{wrong}{MARK}" in staff_text


async def test_a_verified_code_carries_no_mark(chat: Chat) -> None:
    await up_to_the_report(chat)
    await answer(chat, "@在此分六项填写", "两年培养20名高技能人才", "分三期实施建设", "先建章立制再带徒",
                 "与技师学院联合培养", "场地800平方米专职5人", "实行站长负责制")
    await upload_all_documents(chat)
    await answer(chat, "@材料齐全")
    receipt = next(t for t in chat.texts(await chat.press("提交")) if "设立申报已提交" in t)
    assert f"统一社会信用代码：{USCC}\n" in receipt and "待人工核验" not in receipt


async def test_deleting_a_mentor_asks_first_naming_them(chat: Chat) -> None:
    await fill_unit_and_station(chat)
    await add_mentor(chat, 1)
    await add_mentor(chat, 2)
    texts = await answer(chat, "@删除第2位")
    assert "确定删除第2位：导师2？" in texts[-1]
    assert chat.buttons() == ["🗑 确认删除第2位", "↩️ 保留，不删除"]
    texts = await answer(chat, "@保留，不删除")
    assert "2. 导师2" in texts[-1] and "指导教师 2/3" in texts[-1]
    await answer(chat, "@删除第2位")
    texts = await answer(chat, "@确认删除第2位")
    assert "导师2" not in texts[-1] and "指导教师 1/3" in texts[-1]
    draft = await Submission.get(created_by=chat.user.id)
    assert [m["name"] for m in draft.answers["mentors"]] == ["导师1"]
