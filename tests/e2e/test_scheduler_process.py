"""`python -m scheduler --at …`: the real process sends what is due as of that time, once."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot_api_stub import BotApiStub
from storage import outbox
from storage.models import BotUser, Notice, NoticeStatus

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DUE = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


async def run_scheduler(stub: BotApiStub, database_url: str, at: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEBHOOK_URL")},
        "BOT_TOKEN": stub.token, "TELEGRAM_API_URL": stub.url, "DATABASE_URL": database_url,
        "STAFF_IDS": "", "ADMIN_IDS": "",
        "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0",  # any time of day: see test_bot_process.bot_env
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scheduler", "--at", at, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_scheduler_at_sends_due_notices_once_in_the_recipients_language(db: str) -> None:
    await BotUser.create(id=71, language="en")
    await outbox.enqueue(71, "status_change", "submission:1", "approved", "submission_status.approved", DUE)
    await outbox.enqueue(71, "reminder", "station:1", "2027-02-15", "submission_status.submitted", DUE + timedelta(days=14))
    async with BotApiStub() as stub:
        before = await run_scheduler(stub, db, "2027-02-01T08:59")  # Asia/Shanghai: a minute early
        assert "sent 0 notice(s)" in before
        first = await run_scheduler(stub, db, "2027-02-01T09:00")
        assert "sent 1 notice(s)" in first
        again = await run_scheduler(stub, db, "2027-02-01T09:30")
        assert "sent 0 notice(s)" in again
        sent = [p for m, p in stub.calls if m == "sendMessage"]
    assert [(p["chat_id"], p["text"]) for p in sent] == [(71, "approved")]
    assert (await Notice.get(kind="status_change")).status == NoticeStatus.SENT
    assert (await Notice.get(kind="reminder")).status == NoticeStatus.PENDING
