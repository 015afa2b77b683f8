"""/filing through the real `python -m bot` process, end to end, against the loopback Bot API stub.

A recognised station is written to the database before the process starts (the `db` fixture's
SQLite file is the one `polling_env` names); its contact then files last year's report to the
receipt, the 年度备案表.docx and the staff notice sent by the scheduler's outbox tick. The process
runs on the real clock: last year's obligation is seeded as extended to well after today, so the
filing is on time whatever the day the test runs.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import pytest
from bot_api_stub import BotApiStub, UploadedFile

from bot.rules.lifecycle import filing_due_on
from factories import recognised_station
from storage.models import FilingObligation, FilingState, Submission
from test_bot_process import (  # noqa: F401 - stub and launch are fixtures used by name
    REPLY_TIMEOUT,
    STAFF_ID,
    USER_ID,
    failed_calls,
    launch,
    polling_env,
    start_polling_bot,
    stub,
)
from test_declaration_process import PDF, Launch, step, steps, upload

pytestmark = pytest.mark.e2e

STATION_NAME = "精密模具技师工作站"


async def test_a_contact_files_last_years_report(db: str, stub: BotApiStub, launch: Launch, tmp_path: Path) -> None:
    assert db == f"sqlite://{tmp_path / 'bot.sqlite3'}"  # the database the process will open
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    year = today.year - 1
    station = await recognised_station(USER_ID, name=STATION_NAME, recognised_on=date(year - 2, 5, 1))
    await FilingObligation.create(station=station, year=year, due_on=filing_due_on(year), state=FilingState.EXTENDED,
                                  extended_due_on=today + timedelta(days=60))
    bot_process = await start_polling_bot(launch, stub, polling_env(tmp_path, stub))

    first = await step(bot_process, stub, USER_ID, "/filing", f"{year}年度备案")
    assert "已过截止日期" not in first
    await steps(bot_process, stub, USER_ID, "2", "数控机床改造项目", "14", "1", "全市模具技能竞赛", "30万",
                *("@是",) * 5)
    checklist = await upload(bot_process, stub, USER_ID, PDF, "建设情况报告.pdf", "application/pdf")
    assert "建设情况报告.pdf" in checklist, checklist
    await step(bot_process, stub, USER_ID, "@材料齐全", "请核对年度备案内容")

    submitted = stub.mark()
    stub.push_button(USER_ID, "提交")
    receipt = await bot_process.watch(
        stub.wait_for_message(USER_ID, "年度备案已提交", timeout=REPLY_TIMEOUT, since=submitted),
        "waiting for the receipt",
    )
    match = re.search(rf"SZBA-{today.year}-\d{{4}}", receipt["text"])
    assert match, receipt["text"]
    reference = match.group()
    assert "按时备案" in receipt["text"] and "达到《实施方案》五的各项要求" in receipt["text"]

    _, sent = await bot_process.watch(
        stub.wait_for(lambda m, p: m == "sendDocument" and p.get("chat_id") == USER_ID, timeout=REPLY_TIMEOUT,
                      since=submitted),
        "waiting for the 年度备案表 document",
    )
    form = sent["document"]
    assert isinstance(form, UploadedFile) and form.filename == f"{reference}-年度备案表.docx", form
    document = docx.Document(io.BytesIO(form.content))
    text = "\n".join(p.text for p in document.paragraphs) + "\n".join(
        cell.text for table in document.tables for row in table.rows for cell in row.cells
    )
    assert STATION_NAME in text and f"{year}年度" in text and "数控机床改造项目" in text and "300,000.00 元" in text

    notice = await bot_process.watch(
        stub.wait_for_message(STAFF_ID, "新的年度备案", timeout=REPLY_TIMEOUT, since=submitted),
        "waiting for the staff notice from the outbox",
    )
    assert STATION_NAME in notice["text"] and reference in notice["text"] and "按时" in notice["text"]

    filed = await Submission.get(reference=reference)
    assert filed.year == year and filed.station_id == station.id
    assert (await FilingObligation.get(station_id=station.id, year=year)).state == FilingState.FILED_ON_TIME
    assert failed_calls(stub) == []
