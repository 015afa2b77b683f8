"""The 申报表 the bot sends after /declare … 提交, and again on /form, read back from the .docx."""

from __future__ import annotations

import io

import docx
from docx.document import Document as DocumentObject
from docx.table import Table
from docx.text.paragraph import Paragraph

import pytest

from chat_harness import Chat, make_settings
from storage.models import Document, Submission
from test_declaration import HEAD_ID, HEAD_MOBILE, MENTOR_IDS, USCC, reach_summary


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


def sent_form(chat: Chat, calls: list) -> DocumentObject:
    sent = chat.documents(calls)
    assert len(sent) == 1 and sent[0].document.filename.endswith("-申报表.docx")
    # the latest file of that name: /form sends one named like the first
    stored = [f for f in chat.api.files.values() if f.file_name == sent[0].document.filename][-1]
    return docx.Document(io.BytesIO(stored.content))


def table_after(document: DocumentObject, heading: str) -> list[list[str]]:
    seen = False
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph) and block.text == heading:
            seen = True
        elif seen and isinstance(block, Table):
            return [[cell.text for cell in row.cells] for row in block.rows]
    raise AssertionError(f"no table after {heading!r}")


async def test_the_form_sent_after_submit_carries_every_answer_in_words_and_in_full(chat: Chat) -> None:
    await reach_summary(chat)
    document = sent_form(chat, await chat.press("提交"))
    assert document.paragraphs[1].text == "申报编号：SZJS-2026-0001　　　　提交日期：2026年11月27日"
    unit = dict(map(tuple, table_after(document, "一、申办单位基本情况")))
    assert unit["统一社会信用代码"] == USCC
    assert unit["单位类型"] == "企业" and unit["设立方式"] == "合作共建" and unit["是否校企合作"] == "是"
    assert unit["职工人数（人）"] == "350"
    station = dict(map(tuple, table_after(document, "二、技师工作站基本情况")))
    assert station["负责人证件号码"] == HEAD_ID and station["负责人手机"] == HEAD_MOBILE
    assert station["联系人手机"] == "13900139000" and station["联系人邮箱"] == "无"
    mentors = table_after(document, "三、指导教师名单")
    assert mentors[1] == ["1", "导师1", MENTOR_IDS[0], "模具工", "技师", "职业资格证书", "Z00001", "技工院校", "本单位", "—", "—"]
    assert mentors[3] == ["3", "导师3", MENTOR_IDS[2], "模具工", "高级技师", "职业资格证书", "Z00003", "技工院校", "外聘",
                          "2026-03-01", "2028-02-29"]
    conditions = dict(map(tuple, table_after(document, "四、设立条件")))
    assert conditions["能为高技能人才提供较好的工作条件"] == "是"
    assert conditions["工作条件情况说明"] == "设有独立实训车间和技能津贴"
    assert conditions["运作经费金额"] == "500,000.00 元"
    materials = table_after(document, "六、申报材料清单")
    assert [row[1:] for row in materials[1:4]] == [
        ["《深圳市技师工作站设立申报表》（签字盖章）", "未提交（本表打印、签字盖章后上传）"],
        ["申办报告", "已填写（见本表“五、申办报告”）"],
        ["营业执照", "已提交"],
    ]
    assert {row[2] for row in materials[3:-1]} == {"已提交"} and materials[-1][2] == "无"
    # the same form again on request
    again = sent_form(chat, await chat.send("/form"))
    assert table_after(again, "三、指导教师名单") == mentors


async def test_the_stamped_form_uploaded_after_submit_is_listed_as_submitted(chat: Chat) -> None:
    await reach_summary(chat)
    await chat.press("提交")
    submission = await Submission.get(created_by=chat.user.id)
    await Document.create(submission=submission, kind="stamped_form", file_id="f", file_unique_id="u",
                          file_name="盖章申报表.pdf", uploaded_by=chat.user.id)
    materials = table_after(sent_form(chat, await chat.send("/form")), "六、申报材料清单")
    assert materials[1] == ["1", "《深圳市技师工作站设立申报表》（签字盖章）", "已提交"]
    assert len(materials) == 1 + 1 + 1 + 2 + 9 + 1  # header, the form, report, licence and head's ID, mentors', awards
