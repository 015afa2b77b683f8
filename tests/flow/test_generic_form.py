"""A toy form, unknown to the application, runs through the same dialog as the declaration.

It proves that nothing in the engine, the dialog or the submit use-case is bound to the
declaration: its own field kind (registered here), a context check, an async check, a hidden
question, a group of items, a file answer, the summary with "edit item N", the generic texts, a
receipt, a printable form and the staff notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.forms.checks import not_in_past
from bot.forms.context import FormContext
from bot.forms.engine import Choice, Field, Form, Section
from bot.forms.kinds import FieldKind, register_kind
from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec, OnSubmit, Printable, PrintRequest
from bot.i18n import add_texts
from bot.rules.values import Invalid
from chat_harness import STAFF_ID, Chat, make_settings
from storage.models import Notice, Submission, SubmissionStatus

TAKEN_NAMES = {"已占用"}


def _percent(text: str, f: Field, env: Any) -> Any:
    digits = text.strip().removesuffix("%")
    if not digits.isdigit() or not 0 <= int(digits) <= 100:
        return Invalid("toy.percent")
    return int(digits)


register_kind("toy_percent", FieldKind("text", _percent, show=lambda v, f, env: f"{v}%", printable=lambda v, f, env: f"{v} percent"))


async def _name_free(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
    return Invalid("toy.taken") if value in TAKEN_NAMES else None


def _print(request: PrintRequest) -> bytes:
    items = ",".join(i["what"] for i in request.answers["items"])
    return f"{request.reference}|{request.answers['name']}|{request.answers.get('colour', '')}|{items}".encode()


TOY = FormSpec(
    form=Form(
        id="toy",
        sections=(
            Section("one", (
                Field("name", "text", max_length=20, async_checks=("name_free",)),
                Field("likes", "choice", choices=(Choice("yes", "choice.yes"), Choice("no", "choice.no"))),
                Field("colour", "text", visible=lambda a: a.get("likes") == "yes"),
                Field("share", "toy_percent"),
                Field("when", "date", checks=(not_in_past(),)),
            )),
            Section("two", (
                Field("items", "group", subfields=(Field("what", "text"),), min_items=1),
                Field("photo", "document"),
            )),
        ),
    ),
    kind="extension",
    command="toy",
    checks={"name_free": _name_free},
    on_submit=OnSubmit(
        staff_notice_kind="new_toy",
        staff_notice_params=lambda answers, context: {"name": answers["name"]},
        printable=Printable(_print, filename="{reference}-toy.txt", caption_key="form.toy.caption"),
    ),
)

TEXTS = {
    "form.toy.title": "玩具表",
    "form.toy.summary_title": "核对玩具表",
    "form.toy.caption": "玩具表 {reference}",
    "form.toy.section.one": "第一部分",
    "form.toy.section.two": "第二部分",
    "form.toy.name.q": "名字？", "form.toy.name.label": "名字",
    "form.toy.likes.q": "喜欢吗？", "form.toy.likes.label": "喜欢",
    "form.toy.colour.q": "什么颜色？", "form.toy.colour.label": "颜色",
    "form.toy.share.q": "百分比？", "form.toy.share.label": "比例",
    "form.toy.when.q": "哪天？", "form.toy.when.label": "日期",
    "form.toy.items.q": "物品清单", "form.toy.items.label": "物品", "form.toy.items.empty": "还没有物品",
    "form.toy.items.add": "添加物品", "form.toy.items.done": "清单完成",
    "form.toy.items.item_progress": "第{n}件 {question_no}/{questions}", "form.toy.items.what.q": "物品名称？",
    "form.toy.photo.q": "请发照片", "form.toy.photo.label": "照片",
    "invalid.toy.percent": "请输入0到100之间的百分比。",
    "invalid.toy.taken": "这个名字已被占用。",
    "invalid.group.items.too_few": "至少{min}件。",
}


@pytest.fixture
def chat(db: str) -> Chat:
    for language in ("zh", "en"):
        add_texts(language, TEXTS)
    # 09:00 on 27 November 2026 in Shanghai
    return Chat(make_settings(db), clock=FixedClock(datetime(2026, 11, 27, 1, 0, tzinfo=UTC)), specs=(*FORM_SPECS, TOY))


async def say(chat: Chat, *inputs: str) -> str:
    """Type or press (a leading "@") each input; the last text the bot sent."""
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:]) if item.startswith("@") else chat.send(item))
        texts += chat.texts(calls)
    return texts[-1]


async def test_the_toy_form_runs_through_the_generic_dialog(chat: Chat) -> None:
    text = await say(chat, "/toy")
    assert "玩具表 · 第1/2部分 第一部分 · 第1/4题" in text and "名字？" in text
    # an async check of the spec, then its message and the same question
    text = await say(chat, "已占用")
    assert "这个名字已被占用" in text and "名字？" in text
    text = await say(chat, "小明", "@是")
    assert "第3/5题" in text and "什么颜色？" in text  # the hidden question appeared
    text = await say(chat, "红色", "150")
    assert "请输入0到100之间的百分比" in text  # the registered kind's own parser
    text = await say(chat, "30%", "2026-11-26")
    assert "日期不能早于 2026-11-27" in text  # a context check: "today" is the clock's, in Shanghai
    text = await say(chat, "2026-11-27")
    assert "物品清单" in text and "还没有物品" in text
    text = await say(chat, "@清单完成")
    assert "至少1件" in text
    text = await say(chat, "@添加物品", "锤子")
    assert "1. 锤子" in text
    text = await say(chat, "@清单完成")
    assert "请发照片" in text
    text = await say(chat, "不是文件")
    assert "这里需要上传文件" in text
    calls = await chat.send_document(b"\xff\xd8", "cat.jpg")
    summary = chat.texts(calls)[-1]
    assert "核对玩具表" in summary and "4. 比例：30%" in summary and "7. 照片：cat.jpg" in summary
    # edit item 2 from the summary: "no" hides the colour, and the answer is dropped at once
    text = await say(chat, "2", "@否")
    assert "核对玩具表" in text and "颜色" not in text
    draft = await Submission.get(created_by=chat.user.id)
    assert "colour" not in draft.answers
    calls = await chat.press("提交")
    texts = chat.texts(calls)
    assert "<b>玩具表已提交</b>" in texts[0] and "SZJS-2026-0001" in texts[0]  # the generic receipt
    printed = chat.documents(calls)[0]
    assert printed.document.filename == "SZJS-2026-0001-toy.txt" and printed.caption == "玩具表 SZJS-2026-0001"
    content = next(f.content for f in chat.api.files.values() if f.file_name == printed.document.filename)
    assert content.decode() == "SZJS-2026-0001|小明||锤子"
    submission = await Submission.get(created_by=chat.user.id)
    assert submission.status == SubmissionStatus.SUBMITTED and submission.kind == "extension"
    assert set(submission.answers) == {"name", "likes", "share", "when", "items", "_docs"}
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_toy")
    assert notice.params == {"name": "小明", "reference": "SZJS-2026-0001"}


async def test_the_toy_form_saves_and_resumes_with_the_generic_texts(chat: Chat) -> None:
    await say(chat, "/toy", "小红")
    text = await say(chat, "@保存")
    assert text == "草稿已保存。随时发送 /toy 可从中断处继续。"
    calls = await chat.send("/toy")
    assert chat.texts(calls)[0] == "已恢复您上次保存的玩具表草稿。" and "喜欢吗？" in chat.texts(calls)[-1]
    await say(chat, "@放弃")
    text = await say(chat, "@确定放弃")
    assert text == "已放弃玩具表草稿。"


async def test_a_form_that_this_person_may_not_start_says_why(db: str) -> None:
    from dataclasses import replace

    for language in ("zh", "en"):
        add_texts(language, TEXTS)
    closed = replace(TOY, command="toy_closed", may_start=lambda context: Invalid("toy.taken") if context.station is None else None)
    chat = Chat(make_settings(db), specs=(closed,))
    texts = chat.texts(await chat.send("/toy_closed"))
    assert texts == ["⚠️ 这个名字已被占用。"]
    assert await Submission.all().count() == 0
