"""The outbox sender against the loopback Bot API stub enforcing Telegram's limits: 429 answers
are waited out and the batch resumes (nothing dropped, nothing twice); a user who blocked the bot
(403) is marked unreachable and skipped; kill -9 of the sender mid-batch duplicates nothing and
loses only the notices it had claimed and not yet confirmed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.client import build_bot
from bot.settings import Settings
from bot_api_stub import BotApiStub, RateLimits
from conftest import both_databases
from scheduler.sender import OutboxSender
from storage import outbox
from storage.models import BotUser, Notice, NoticeStatus

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)


async def queue(n: int, chats: int, base: int = 500) -> None:
    await BotUser.bulk_create([BotUser(id=base + c, language="en") for c in range(chats)])
    await Notice.bulk_create([
        Notice(recipient_id=base + i % chats, kind="status_change", subject=f"submission:{i}", period="approved",
               text_key="submission_status.approved", params={}, due_at=NOW)
        for i in range(n)
    ])


@both_databases
async def test_429_is_waited_out_and_403_marks_the_user_unreachable(db: str) -> None:
    await queue(12, chats=3)
    await BotUser.create(id=999, language="zh")
    await outbox.enqueue(999, "status_change", "submission:99", "approved", "submission_status.approved", NOW)
    async with BotApiStub() as stub:
        # Telegram's limits at 4 messages a second; our budget twice that, so the stub says 429.
        stub.limits = RateLimits(overall_per_second=4, overall_burst=2, per_chat_interval=0.25, retry_after=1)
        stub.blocked_chats.add(999)
        settings = Settings(_env_file=None, bot_token=SecretStr(stub.token), telegram_api_url=stub.url)
        bot = build_bot(settings)
        try:
            sender = OutboxSender(bot, 8.0, 0.1, settings=settings, concurrency=4)
            sent = await sender.send_due(NOW)
            # A notice refused three times running is put back for when Telegram allows (never
            # dropped); the next round sends it.
            sent += await sender.send_due(NOW + timedelta(minutes=1))
        finally:
            await bot.session.close()
        delivered = [len(stub.bot_messages(500 + c)) for c in range(3)]
        assert stub.too_many_requests > 0 and sender.retry_after_answers == stub.too_many_requests
    assert sent == 12
    assert delivered == [4, 4, 4]  # each notice once, none dropped
    statuses = Counter(await Notice.all().values_list("status", flat=True))
    assert statuses == {NoticeStatus.SENT: 12, NoticeStatus.SKIPPED: 1}
    blocked = await BotUser.get(id=999)
    assert not blocked.reachable and blocked.unreachable_since == NOW
    assert (await Notice.get(recipient_id=999)).error == "forbidden"


async def test_kill_9_mid_batch_duplicates_nothing_and_loses_only_the_claimed(db: str) -> None:
    n = 200
    await queue(n, chats=n)  # one notice per chat: each message is distinguishable
    env = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEBHOOK_URL")},
           "DATABASE_URL": db, "STAFF_IDS": "", "ADMIN_IDS": "", "SEND_RATE_PER_SECOND": "25",
           "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0"}  # any time of day: see test_bot_process.bot_env
    async with BotApiStub() as stub:
        stub.limits = RateLimits()
        env.update(BOT_TOKEN=stub.token, TELEGRAM_API_URL=stub.url)

        async def run() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "scheduler", "--at", "2027-02-01T09:00", cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        first = await run()
        await stub.wait_for(lambda m, p: m == "sendMessage", timeout=60)
        await asyncio.sleep(1.0)  # mid-batch
        first.send_signal(signal.SIGKILL)
        await first.wait()
        received_before = [c for c in range(500, 500 + n) if stub.bot_messages(c)]
        assert 0 < len(received_before) < n
        claimed = await Notice.filter(status=NoticeStatus.SENDING).values_list("recipient_id", flat=True)
        # At-most-once: what was claimed and not confirmed stays claimed: at most one a worker not
        # yet sent, and a group of sent ones not yet marked.
        assert len(claimed) <= 16 + 20
        assert len([c for c in claimed if not stub.bot_messages(c)]) <= 16

        second = await run()
        out, err = await asyncio.wait_for(second.communicate(), timeout=120)
        assert second.returncode == 0, err.decode()
        received = Counter({c: len(stub.bot_messages(c)) for c in range(500, 500 + n) if stub.bot_messages(c)})
        assert stub.too_many_requests == 0
    assert max(received.values()) == 1, "a notice was sent twice"
    sent = set(await Notice.filter(status=NoticeStatus.SENT).values_list("recipient_id", flat=True))
    assert sent <= set(received)
    lost = [c for c in claimed if c not in received]
    # Everything is either delivered, or lost because it was claimed when the sender died.
    assert len(received) + len(lost) == n
    assert await Notice.filter(status=NoticeStatus.PENDING).count() == 0
    print(f"kill -9: {len(received_before)} delivered before the kill, {len(claimed)} claimed and unconfirmed, "
          f"{len(claimed) - len(lost)} of those delivered, {len(lost)} lost")


async def test_the_weekly_digest_goes_out_as_text_and_its_xlsx(db: str) -> None:
    import io

    from openpyxl import load_workbook

    from bot.services.digest import queue_digests

    monday = datetime(2027, 3, 8, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    await BotUser.create(id=71, language="en")
    async with BotApiStub() as stub:
        stub.limits = RateLimits()
        settings = Settings(_env_file=None, bot_token=SecretStr(stub.token), telegram_api_url=stub.url,
                            staff_ids=frozenset({71, 72}))
        assert len(await queue_digests(monday, settings)) == 4  # daily and weekly, to each
        bot = build_bot(settings)
        try:
            assert await OutboxSender(bot, 25.0, settings=settings).send_due(monday) == 4
        finally:
            await bot.session.close()
        texts = [m["text"] for m in stub.bot_messages(71) if "text" in m]
        documents = [m["document"] for c in (71, 72) for m in stub.bot_messages(c) if "document" in m]
        assert stub.too_many_requests == 0
    assert sorted(t.split(" (")[0] for t in texts) == ["📋 Daily digest 2027-03-08", "📋 Weekly digest 2027-W10"]
    assert [d["file_name"] for d in documents] == ["每周工作摘要_2027-W10_已脱敏.xlsx"] * 2
    book = load_workbook(io.BytesIO(stub.file_content(documents[0]["file_id"])))
    assert "已脱敏" in book.properties.title
    assert set(await Notice.all().values_list("status", flat=True)) == {NoticeStatus.SENT}
