"""A declaration from submitted to recognised through the real `python -m bot` process: the contact
walks the form and uploads the stamped 申报表, a staff member (in STAFF_IDS) accepts it for review,
records the experts' pass, publishes the 公示 and closes it, and the contact is told at each step
by the in-process outbox sender; /status then shows the active station.

The 公示 lasts 5 working days from a start that /announce does not allow in the past, and the real
process reads the system clock. So the test lets the days pass the only way it can: it moves the
stored window of the published announcement back in the process's own SQLite file (as the days
would have); everything else goes through the real commands and buttons.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from bot_api_stub import BotApiStub
from test_bot_process import (  # noqa: F401 - stub and launch are fixtures used by name
    REPLY_TIMEOUT,
    STAFF_ID,
    USER_ID,
    BotProcess,
    failed_calls,
    launch,
    polling_env,
    start_polling_bot,
    stub,
    texts_to,
)
from test_declaration_process import PDF, STATION_NAME, fill_the_whole_form

pytestmark = pytest.mark.e2e

Launch = Callable[[dict[str, str]], Awaitable[BotProcess]]


async def said(bot_process: BotProcess, stub: BotApiStub, chat_id: int, text: str, since: int) -> dict:
    return await bot_process.watch(
        stub.wait_for_message(chat_id, text, timeout=REPLY_TIMEOUT, since=since), f"waiting for {text!r} to {chat_id}"
    )


async def staff_presses(bot_process: BotProcess, stub: BotApiStub, label: str, expect: str) -> dict:
    since = stub.mark()
    stub.push_button(STAFF_ID, label)
    return await said(bot_process, stub, STAFF_ID, expect, since)


async def test_a_declaration_goes_from_submitted_to_recognised(
    stub: BotApiStub, launch: Launch, tmp_path: Path
) -> None:
    bot_process = await start_polling_bot(launch, stub, polling_env(tmp_path, stub))
    await fill_the_whole_form(bot_process, stub, USER_ID)
    since = stub.mark()
    stub.push_button(USER_ID, "提交")
    receipt = await said(bot_process, stub, USER_ID, "设立申报已提交", since)
    reference = re.search(r"SZJS-\d{4}-\d{4}", receipt["text"]).group()  # type: ignore[union-attr]
    stub.push_message(USER_ID, "/stamped")
    await said(bot_process, stub, USER_ID, "的盖章申报表", since)
    stub.push_message(USER_ID, document=stub.add_file(PDF, "盖章申报表.pdf", "application/pdf"))
    await said(bot_process, stub, USER_ID, "（第1版）", since)

    # /review and the act buttons: accepted for review, then the experts' pass with their comment
    since = stub.mark()
    stub.push_message(STAFF_ID, f"/review {reference}")
    await said(bot_process, stub, STAFF_ID, reference, since)
    await staff_presses(bot_process, stub, "受理，送专家评审", "确认")
    since = stub.mark()
    stub.push_button(STAFF_ID, "确认执行")
    await said(bot_process, stub, USER_ID, f"🔔 设立申报 {reference}：专家评审中", since)

    since = stub.mark()
    stub.push_message(STAFF_ID, f"/review {reference}")
    await said(bot_process, stub, STAFF_ID, reference, since)
    await staff_presses(bot_process, stub, "专家评审结果：通过", "专家评审意见")
    since = stub.mark()
    stub.push_message(STAFF_ID, "材料齐全，建设方案可行")
    await said(bot_process, stub, STAFF_ID, "确认", since)
    stub.push_button(STAFF_ID, "确认执行")
    await said(bot_process, stub, USER_ID, f"🔔 设立申报 {reference}：评审通过", since)

    # the 公示 from today
    since = stub.mark()
    stub.push_message(STAFF_ID, "/announce")
    await said(bot_process, stub, STAFF_ID, reference, since)
    await staff_presses(bot_process, stub, "发布", "已发布公示")
    await said(bot_process, stub, USER_ID, f"🔔 设立申报 {reference}：公示中", since)

    # ... and its 5 working days pass: the stored window moves back by three weeks
    weeks = timedelta(days=21)
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        rows = db.execute("SELECT id, starts_on, ends_on FROM announcement").fetchall()
        for number, starts_on, ends_on in rows:
            db.execute(
                "UPDATE announcement SET starts_on = ?, ends_on = ? WHERE id = ?",
                ((datetime.fromisoformat(starts_on) - weeks).date().isoformat(),
                 (datetime.fromisoformat(ends_on) - weeks).date().isoformat(), number),
            )
    since = stub.mark()
    stub.push_message(STAFF_ID, "/announce")
    await said(bot_process, stub, STAFF_ID, "公示期已结束", since)
    await staff_presses(bot_process, stub, "结束公示", "予以认定")
    await said(bot_process, stub, USER_ID, f"🔔 设立申报 {reference}：已授牌", since)

    since = stub.mark()
    stub.push_message(USER_ID, "/status")
    status = await said(bot_process, stub, USER_ID, STATION_NAME, since)
    assert "在册运行" in status["text"], status["text"]
    # one notice per step of the declaration, from the outbox, none sent twice
    notices = [text for text in texts_to(stub, USER_ID) if text.startswith(f"🔔 设立申报 {reference}")]
    assert [n.split("：")[1].split("。")[0] for n in notices] == ["专家评审中", "评审通过", "公示中", "已授牌"], notices
    assert failed_calls(stub) == []
