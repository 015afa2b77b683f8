"""/declare through the real `python -m bot` process, end to end, against the loopback Bot API stub.

What only a real process can show: a half-filled form survives ``kill -9`` (the answers and the
aiogram-dialog stack are in the database, not in memory), a whole declaration with uploaded
documents ends in a receipt, a generated 申报表.docx and a staff notice sent by the scheduler's
outbox tick. (SIGTERM, in polling and webhook mode: tests/reliability/test_shutdown.py and
test_webhook.py.)

The fixtures and helpers come from ``test_bot_process`` (tests/e2e has no ``__init__.py``, so the
module is importable by name). Inputs follow ``tests/flow/test_declaration.py``: a leading "@"
presses the newest inline button whose label contains the rest.
"""

from __future__ import annotations

import asyncio
import io
import re
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import pytest
from bot_api_stub import BotApiStub, JsonDict, UploadedFile
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from bot.rules.values import add_months
from test_bot_process import (  # noqa: F401 - stub and launch are fixtures used by name
    REPLY_TIMEOUT,
    STAFF_ID,
    USER_ID,
    BotProcess,
    button_texts,
    failed_calls,
    launch,
    polling_env,
    start_polling_bot,
    stub,
    texts_to,
    wait_until_polling,
)

pytestmark = pytest.mark.e2e

Launch = Callable[[dict[str, str]], Awaitable[BotProcess]]

OTHER_USER_ID = USER_ID + 1
# Time for the dialog's context to be written after its answer was sent: aiogram-dialog's
# context_saver_middleware saves the context and stack only after the handler returned, i.e. after
# the reply reached the stub. A kill -9 inside that gap leaves the stored context one step behind
# (the form itself still resumes correctly, its position comes from the saved answers, but the new
# process then edits the keyboard of an already-replaced window and gets a 400 "not modified").
SETTLE_SECONDS = 2.0


def uscc(body: str) -> str:
    return body + stdnum_uscc.calc_check_digit(body)


def resident_id(body: str) -> str:
    # stdnum's calc_check_digit expects the number with a (placeholder) check digit.
    return body + stdnum_ric.calc_check_digit(body + "0")


USCC = uscc("91440300MA5F00001")
OTHER_USCC = uscc("91440300MA5F00003")
HEAD_ID = resident_id("44030119800101123")
MENTOR_IDS = [resident_id(f"4403011975010{n}123") for n in range(1, 4)]
UNIT_NAME = "深圳精密制造有限公司"
STATION_NAME = "精密模具技师工作站"

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def is_window(user_id: int, method: str, params: JsonDict) -> bool:
    """A message the dialog shows: sent or edited, to this user, with inline buttons."""
    return (
        method in ("sendMessage", "editMessageText")
        and params.get("chat_id") == user_id
        and bool(button_texts(params))
    )


async def step(
    bot_process: BotProcess, stub: BotApiStub, user_id: int, item: str, expect: str | None = None
) -> str:
    """Type ``item`` (or press the button "@label") and wait for the dialog's next window.

    Returns that window's text. With ``expect`` the window must contain it. Every form screen has
    inline buttons (back, save, discard...), so "a message with buttons" is the end of one step.
    """
    since = stub.mark()
    if item.startswith("@"):
        stub.push_button(user_id, item[1:])
    else:
        stub.push_message(user_id, item)
    _, params = await bot_process.watch(
        stub.wait_for(
            lambda method, params: is_window(user_id, method, params)
            and (expect is None or expect in str(params.get("text"))),
            timeout=REPLY_TIMEOUT,
            since=since,
        ),
        f"waiting for the answer to {item!r}" + (f" containing {expect!r}" if expect else ""),
    )
    return str(params["text"])


async def upload(
    bot_process: BotProcess, stub: BotApiStub, user_id: int, content: bytes, name: str, mime: str
) -> str:
    since = stub.mark()
    stub.push_message(user_id, document=stub.add_file(content, name, mime))
    _, params = await bot_process.watch(
        stub.wait_for(lambda m, p: is_window(user_id, m, p), timeout=REPLY_TIMEOUT, since=since),
        f"waiting for the checklist after uploading {name}",
    )
    return str(params["text"])


async def steps(bot_process: BotProcess, stub: BotApiStub, user_id: int, *items: str) -> str:
    text = ""
    for item in items:
        text = await step(bot_process, stub, user_id, item)
    return text


# -- kill -9 in the middle of the form ------------------------------------------------------------


async def answer_first_questions(bot_process: BotProcess, stub: BotApiStub, user_id: int, code: str) -> None:
    """Unit name, USCC, unit type and legal representative: the next question is the address."""
    await step(bot_process, stub, user_id, "/declare", "请输入申办单位名称")
    await step(bot_process, stub, user_id, f"测试单位{user_id}", "请输入统一社会信用代码")
    await step(bot_process, stub, user_id, code, "请选择单位类型")
    await step(bot_process, stub, user_id, "@企业")
    await step(bot_process, stub, user_id, "王大明", "请输入注册地址")


async def test_a_half_filled_declaration_survives_kill_9(
    stub: BotApiStub, launch: Launch, tmp_path: Path
) -> None:
    # One env for both processes: the same database and the same personal-data key file.
    env = polling_env(tmp_path, stub)
    first = await start_polling_bot(launch, stub, env)

    await answer_first_questions(first, stub, USER_ID, USCC)
    await answer_first_questions(first, stub, OTHER_USER_ID, OTHER_USCC)
    # The last update is confirmed once the next long poll waits (its offset moves past it).
    await first.watch(stub.wait_until_polling(timeout=REPLY_TIMEOUT), "waiting for the next poll")
    await asyncio.sleep(SETTLE_SECONDS)

    assert await first.kill() == -signal.SIGKILL

    restarted = stub.mark()
    second = await launch(env)
    await wait_until_polling(second, stub, restarted)

    # A user who comes back with /declare is told the draft was resumed, and gets the next
    # unanswered question, not the first one.
    since = stub.mark()
    stub.push_message(USER_ID, "/declare")
    resumed = await second.watch(
        stub.wait_for_message(USER_ID, "已恢复您上次保存的申报草稿", timeout=REPLY_TIMEOUT, since=since),
        "waiting for the resumed-draft notice after the restart",
    )
    assert not button_texts(resumed)
    _, question = await second.watch(
        stub.wait_for(lambda m, p: is_window(USER_ID, m, p), timeout=REPLY_TIMEOUT, since=since),
        "waiting for the next question after /declare",
    )
    assert "请输入注册地址" in question["text"], question["text"]
    positions = {id(params): index for index, (_, params) in enumerate(stub.calls)}
    assert positions[id(resumed)] < positions[id(question)]  # the notice comes first

    # A user who was in the middle of the form just types the next answer: the new process
    # finds the dialog (its state is in the database) and moves on.
    since = stub.mark()
    stub.push_message(OTHER_USER_ID, "深圳市南山区科技园1号")
    # The first reply, whatever it is: a process that lost the dialog answers at once with the
    # "not understood" fallback, which must fail here rather than after a timeout.
    next_question = await second.watch(
        stub.wait_for_message(OTHER_USER_ID, timeout=REPLY_TIMEOUT, since=since),
        "waiting for the answer to the address typed after the restart",
    )
    assert "请输入单位主要生产领域" in next_question["text"], next_question["text"]
    assert button_texts(next_question), next_question
    # Going back shows the stored answers: the address typed to this process, and before it the
    # legal representative typed to the killed one.
    text = await step(second, stub, OTHER_USER_ID, "@返回", "请输入注册地址")
    assert "深圳市南山区科技园1号" in text
    text = await step(second, stub, OTHER_USER_ID, "@返回")
    assert "王大明" in text, text

    # Nothing the first process handled was delivered again: since the restart each user got
    # answers to what they sent after it, and nobody got the "not understood" fallback.
    after_restart = [
        (p.get("chat_id"), str(p.get("text")))
        for m, p in stub.calls[restarted:]
        if m == "sendMessage"
    ]
    assert [text for chat, text in after_restart if chat == USER_ID] == [
        resumed["text"],
        question["text"],
    ]
    assert all("没有理解" not in text for _, text in after_restart)
    assert failed_calls(stub) == []


# -- a whole declaration with uploads -------------------------------------------------------------


def contract_running_today() -> tuple[str, str]:
    """A two-year contract (both days counted) that started a year ago in Shanghai: the real
    process judges R2 on its own today, so the dates move with it."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    start = add_months(today, -12)
    return start.isoformat(), (add_months(start, 24) - timedelta(days=1)).isoformat()


async def fill_the_whole_form(bot_process: BotProcess, stub: BotApiStub, user_id: int) -> str:
    """From /declare to the summary, as in tests/flow/test_declaration.py; returns the summary."""
    go = lambda *items: steps(bot_process, stub, user_id, *items)  # noqa: E731
    await step(bot_process, stub, user_id, "/declare", "请输入申办单位名称")
    await go(
        UNIT_NAME, USCC, "@企业", "王大明", "深圳市南山区科技园1号",
        "精密模具制造", "350", "@合作共建", "深圳技师学院", "@是",
        STATION_NAME, "李工", HEAD_ID, "+86 138-0013-8000", "总工程师",
        "陈联络", "139 0013 9000", "@跳过",
    )
    for n in (1, 2, 3):
        external = n == 3
        items = ["@添加指导教师", f"导师{n}", MENTOR_IDS[n - 1], "模具工", "@高级技师" if external else "@技师",
                 "@职业资格证书", f"Z{n:05d}", "@技工院校"]
        items += ["@外聘", *contract_running_today()] if external else ["@本单位"]
        await go(*items)
    await step(bot_process, stub, user_id, "@名单完成", "单位经营管理状况是否良好")
    await go(
        "@是", "管理制度健全，连续五年盈利", "@是", "拥有五轴加工中心12台", "@是", "设有独立实训车间和技能津贴",
        "@是", "承担过市级技能大赛", "@是", "50万", "企业自筹专项经费",
        "@在此分六项填写", "两年培养20名高技能人才", "分三期实施建设", "先建章立制再带徒", "与技师学院联合培养",
        "场地800平方米专职5人", "实行站长负责制",
    )
    # Each upload fills the first missing slot: the licence, the head's ID, then 3 per mentor.
    text = await upload(bot_process, stub, user_id, PDF, "licence.pdf", "application/pdf")
    assert "licence.pdf" in text, text
    text = await upload(bot_process, stub, user_id, JPG, "head-id.jpg", "image/jpeg")
    assert "head-id.jpg" in text, text
    for n in range(9):
        await upload(bot_process, stub, user_id, PDF, f"mentor-{n + 1}.pdf", "application/pdf")
    return await step(bot_process, stub, user_id, "@材料齐全", "请核对设立申报内容")


async def test_a_whole_declaration_with_uploads_is_submitted(
    stub: BotApiStub, launch: Launch, tmp_path: Path
) -> None:
    bot_process = await start_polling_bot(launch, stub, polling_env(tmp_path, stub))

    summary = await fill_the_whole_form(bot_process, stub, USER_ID)
    assert f"1. 单位名称：{UNIT_NAME}" in summary
    assert f"2. 统一社会信用代码：{USCC}" in summary
    assert HEAD_ID not in summary  # masked
    assert "指导教师：3名：导师1、导师2、导师3" in summary

    submitted = stub.mark()
    stub.push_button(USER_ID, "提交")
    receipt = await bot_process.watch(
        stub.wait_for_message(USER_ID, "设立申报已提交", timeout=REPLY_TIMEOUT, since=submitted),
        "waiting for the receipt",
    )
    match = re.search(r"SZJS-\d{4}-\d{4}", receipt["text"])
    assert match, receipt["text"]
    reference = match.group()

    _, sent = await bot_process.watch(
        stub.wait_for(
            lambda m, p: m == "sendDocument" and p.get("chat_id") == USER_ID,
            timeout=REPLY_TIMEOUT,
            since=submitted,
        ),
        "waiting for the 申报表 document",
    )
    form = sent["document"]
    assert isinstance(form, UploadedFile), form
    assert form.filename.endswith("申报表.docx"), form.filename
    assert form.filename.startswith(reference), form.filename
    assert form.content.startswith(b"PK")
    document = docx.Document(io.BytesIO(form.content))
    text = "\n".join(p.text for p in document.paragraphs) + "\n".join(
        cell.text for table in document.tables for row in table.rows for cell in row.cells
    )
    assert UNIT_NAME in text and USCC in text and "导师3" in text
    assert HEAD_ID in text  # the unit's own signed form: numbers in full (README, bot/documents)

    # The staff member hears of it through the outbox, sent by the scheduler's tick.
    notice = await bot_process.watch(
        stub.wait_for_message(STAFF_ID, "新的设立申报", timeout=REPLY_TIMEOUT, since=submitted),
        "waiting for the staff notice from the outbox",
    )
    assert UNIT_NAME in notice["text"] and STATION_NAME in notice["text"]
    assert reference in notice["text"]
    # ... once: a couple more ticks (every 2 s) must not send it again.
    await asyncio.sleep(5)
    assert bot_process.running, bot_process.log_tail()
    assert sum("新的设立申报" in t for t in texts_to(stub, STAFF_ID)) == 1
    assert sum("设立申报已提交" in t for t in texts_to(stub, USER_ID)) == 1

    # 六(一)1: the receipt asks for the signed and stamped form; the scan comes back by /stamped.
    assert "/stamped" in receipt["text"]
    since = stub.mark()
    stub.push_message(USER_ID, "/stamped")
    await bot_process.watch(
        stub.wait_for_message(USER_ID, f"请发送设立申报 {reference} 的盖章申报表", timeout=REPLY_TIMEOUT, since=since),
        "waiting for /stamped to ask for the scan",
    )
    stub.push_message(USER_ID, document=stub.add_file(PDF, "盖章申报表.pdf", "application/pdf"))
    await bot_process.watch(
        stub.wait_for_message(USER_ID, f"已收到设立申报 {reference} 的盖章申报表（第1版）", timeout=REPLY_TIMEOUT,
                              since=since),
        "waiting for the stamped form's receipt",
    )
    await bot_process.watch(
        stub.wait_for_message(STAFF_ID, "已上传盖章申报表（第1版）", timeout=REPLY_TIMEOUT, since=since),
        "waiting for the staff notice of the stamped form",
    )
    assert failed_calls(stub) == []
