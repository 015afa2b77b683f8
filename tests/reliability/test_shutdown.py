"""SIGTERM to the real `python -m bot` process while it is busy: what it had in hand is finished.

A container stop, a deploy, a scale-down all send SIGTERM. The process must then finish the update
it is handling (the reply sent, the conversation's state and the draft's answers written: the
update was confirmed to Telegram when the next long poll went out, so it would not come again),
let the outbox sender finish the notices it is sending (sent and marked so; the rest stay queued
for the next process), close the database and exit 0, within a bounded time. The stub holds the
bot's request to Telegram (a slow Telegram) so that the signal arrives while it is in flight.

In process: the sender's stop on both databases (a notice Telegram answers with 429 while stopping
goes back to the queue rather than holding the stop up), and the bound itself (a handler or a job
still running after it is abandoned, and the log says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from aiohttp import web
from pydantic import SecretStr
from tortoise import Tortoise
from tortoise.context import TortoiseContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from bot_api_stub import BotApiStub, JsonDict  # noqa: E402
from test_bot_process import (  # noqa: E402,F401 - stub and launch are fixtures used by name
    REPLY_TIMEOUT,
    REPO_ROOT,
    TOKEN,
    USER_ID,
    BotProcess,
    failed_calls,
    launch,
    polling_env,
    post_update,
    start_polling_bot,
    start_update,
    stub,
)
from test_declaration_process import UNIT_NAME, USCC, Launch, is_window  # noqa: E402

from tests.conftest import both_databases  # noqa: E402

from bot.client import build_bot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.shutdown import WebhookHandler  # noqa: E402
from scheduler.leader import Leader, leadership_for  # noqa: E402
from scheduler.sender import OutboxSender  # noqa: E402
from scheduler.setup import Scheduler  # noqa: E402
from storage.db import migrate, tortoise_config  # noqa: E402
from storage.models import BotUser, Notice, NoticeStatus  # noqa: E402

pytestmark = pytest.mark.e2e

# The process's own bound is 8 s from the signal for what it has in hand (bot/shutdown.py
# SHUTDOWN_TIMEOUT); what the test allows on a loaded 2-core runner on top of that.
EXIT_TIMEOUT = 40.0
HOLD_SECONDS = 1.0  # how long the stub holds each message the bot sends: a slow Telegram
FIRST_CHAT = 600  # the notices' recipients: one notice each, so each message is distinguishable
NOTICES = 60


async def sigterm_and_wait(bot_process: BotProcess) -> tuple[int, float]:
    """SIGTERM; the exit code and the seconds it took. Fails with the log if there is no exit."""
    started = time.monotonic()
    bot_process.process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(bot_process.process.wait(), EXIT_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"no exit within {EXIT_TIMEOUT}s of SIGTERM\n{bot_process.log_tail()}")
    return code, time.monotonic() - started


def rows(database: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql, params).fetchall()


async def queue_notices(database_url: str) -> None:
    """One notice to each of NOTICES chats, due now, in the database the process will open."""
    await migrate(database_url)
    due = datetime.now(UTC) - timedelta(minutes=1)  # the process judges "due" by its own clock
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        await BotUser.bulk_create([BotUser(id=FIRST_CHAT + c, language="en") for c in range(NOTICES)])
        await Notice.bulk_create([
            Notice(recipient_id=FIRST_CHAT + c, kind="status_change", subject=f"submission:{c}", period="approved",
                   text_key="submission_status.approved", params={}, due_at=due)
            for c in range(NOTICES)
        ])
        await Tortoise.close_connections()


def notice_statuses(database: Path) -> dict[int, str]:
    return dict(rows(database, "SELECT recipient_id, status FROM notice WHERE recipient_id BETWEEN ? AND ?",
                     FIRST_CHAT, FIRST_CHAT + NOTICES - 1))


def received(stub: BotApiStub) -> Counter[int]:
    """Notices delivered, by recipient."""
    return Counter(c for c in range(FIRST_CHAT, FIRST_CHAT + NOTICES) for _ in stub.bot_messages(c))


def is_notice(method: str, params: JsonDict) -> bool:
    return method == "sendMessage" and FIRST_CHAT <= params.get("chat_id", 0) < FIRST_CHAT + NOTICES


async def test_sigterm_mid_update_and_mid_batch_finishes_what_is_in_hand(
    stub: BotApiStub, launch: Launch, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    await queue_notices(f"sqlite://{database}")
    env = polling_env(tmp_path, stub)
    # Every message takes Telegram a second to accept: the outbox sender has a batch of notices in
    # hand for a while, and each reply is in flight for a second.
    stub.delay_next("sendMessage", HOLD_SECONDS, times=1000)
    first = await start_polling_bot(launch, stub, env)
    since = stub.mark()
    stub.push_message(USER_ID, "/declare")
    await first.watch(
        stub.wait_for(lambda m, p: is_window(USER_ID, m, p) and "请输入申办单位名称" in p["text"],
                      timeout=REPLY_TIMEOUT, since=since),
        "waiting for the first question",
    )
    # The answer to the first question: SIGTERM while the bot's next question is in flight, and
    # while notices are being sent.
    stub.push_message(USER_ID, UNIT_NAME)
    await first.watch(stub.wait_held(lambda m, p: p.get("chat_id") == USER_ID and "信用代码" in str(p.get("text")),
                                     timeout=REPLY_TIMEOUT), "waiting for the next question to be in flight")
    await first.watch(stub.wait_held(is_notice, timeout=REPLY_TIMEOUT), "waiting for the sender to start")
    code, took = await sigterm_and_wait(first)

    log = first.log()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "abandoned" not in log, log  # within the bound: nothing left behind
    assert " ERROR " not in log, log  # the update in hand was handled to its end, not cut off
    assert "Unclosed client session" not in log, log
    # The reply reached Telegram, and every call the bot made was answered and accepted.
    replies = [p["text"] for m, p in stub.calls[since:] if is_window(USER_ID, m, p)]
    assert "请输入统一社会信用代码" in replies[-1], replies
    assert failed_calls(stub) == []
    # The draft holds the answer, written before the process exited.
    drafts = rows(database, "SELECT answers FROM submission WHERE created_by = ? AND status = 'draft'", USER_ID)
    assert len(drafts) == 1 and UNIT_NAME in str(drafts[0][0]), drafts
    # The notices the sender had in hand were finished: delivered and marked sent, none left
    # claimed and unconfirmed; the rest are still queued.
    statuses = notice_statuses(database)
    before = received(stub)
    sent = {chat for chat, status in statuses.items() if status == NoticeStatus.SENT}
    assert sent == set(before), (sorted(sent), sorted(before))
    assert 0 < len(sent) < NOTICES
    assert Counter(statuses.values()) == {NoticeStatus.SENT: len(sent), NoticeStatus.PENDING: NOTICES - len(sent)}
    # Every notice request it started was answered before it exited: none was cut off.
    assert Counter(p["chat_id"] for m, p in stub.held if is_notice(m, p)) == before

    # The next process: the conversation goes on at the next question (the unit name was handled
    # once, by the first process), and the queued notices go out, each once.
    stub.clear_delays()
    second = await start_polling_bot(launch, stub, env)
    since = stub.mark()
    stub.push_message(USER_ID, USCC)
    reply = await second.watch(
        stub.wait_for_message(USER_ID, timeout=REPLY_TIMEOUT, since=since), "waiting for the answer to the USCC"
    )
    assert "请选择单位类型" in reply["text"], reply["text"]
    asked_for_uscc = [p for m, p in stub.calls if is_window(USER_ID, m, p) and "请输入统一社会信用代码" in p["text"]]
    assert len(asked_for_uscc) == 1

    async def all_sent() -> None:
        while set(notice_statuses(database).values()) != {NoticeStatus.SENT}:
            await asyncio.sleep(0.2)

    await second.watch(asyncio.wait_for(all_sent(), REPLY_TIMEOUT), "waiting for the rest of the notices")
    assert received(stub) == {FIRST_CHAT + c: 1 for c in range(NOTICES)}, "a notice was lost or sent twice"
    assert failed_calls(stub) == []
    print(f"SIGTERM while busy: exit 0 in {took:.1f}s; {len(sent)} of {NOTICES} notices in hand finished, "
          f"{NOTICES - len(sent)} left queued and sent by the next process")


async def test_sigterm_stops_the_separate_scheduler_process_with_its_notices_in_hand_finished(
    stub: BotApiStub, tmp_path: Path
) -> None:
    """`python -m scheduler` (deployments with several bot instances) stops the same way."""
    database = tmp_path / "bot.sqlite3"
    await queue_notices(f"sqlite://{database}")
    stub.delay_next("sendMessage", HOLD_SECONDS, times=NOTICES)
    log_path = tmp_path / "scheduler.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scheduler", cwd=REPO_ROOT, env=polling_env(tmp_path, stub),
            stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )
    scheduler = BotProcess(process, log_path)
    try:
        await scheduler.watch(stub.wait_held(is_notice, timeout=REPLY_TIMEOUT), "waiting for the sender to start")
        code, took = await sigterm_and_wait(scheduler)
    finally:
        await scheduler.kill()
    log = scheduler.log()
    assert code == 0, log
    assert "Traceback" not in log and "abandoned" not in log, log
    statuses = notice_statuses(database)
    sent = {chat for chat, status in statuses.items() if status == NoticeStatus.SENT}
    assert sent == set(received(stub)) and 0 < len(sent) < NOTICES, (sorted(sent), received(stub))
    assert Counter(statuses.values()) == {NoticeStatus.SENT: len(sent), NoticeStatus.PENDING: NOTICES - len(sent)}
    assert Counter(p["chat_id"] for m, p in stub.held if is_notice(m, p)) == received(stub)
    print(f"python -m scheduler, SIGTERM mid-batch: exit 0 in {took:.1f}s, {len(sent)} notices finished")


# -- the outbox sender's stop, in process, on both databases -------------------------------------


@both_databases
async def test_a_stopped_sender_finishes_the_notices_in_hand_and_puts_back_one_refused_with_429(db: str) -> None:
    now = datetime.now(UTC)
    await BotUser.bulk_create([BotUser(id=FIRST_CHAT + c, language="en") for c in range(NOTICES)])
    await Notice.bulk_create([
        Notice(recipient_id=FIRST_CHAT + c, kind="status_change", subject=f"submission:{c}", period="approved",
               text_key="submission_status.approved", params={}, due_at=now)
        for c in range(NOTICES)
    ])
    async with BotApiStub() as api:
        settings = Settings(_env_file=None, bot_token=SecretStr(api.token), telegram_api_url=api.url)
        api.delay_next("sendMessage", 0.5, times=NOTICES)
        # The first message Telegram takes in asks to wait half a minute: while stopping, that
        # notice goes back to the queue instead of holding the stop up.
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
        bot = build_bot(settings)
        try:
            sender = OutboxSender(bot, 25.0, settings=settings, concurrency=4)
            sending = asyncio.create_task(sender.send_due(now))
            await api.wait_held(timeout=10)
            started = time.monotonic()
            sender.request_stop()
            sent = await asyncio.wait_for(sending, 10)
            took = time.monotonic() - started
            assert await sender.send_due(now) == 0  # a stopped sender sends nothing more
        finally:
            await bot.session.close()
        delivered = received(api)
    assert took < 5, took  # not the 30 s Telegram asked for
    statuses = Counter(await Notice.all().values_list("status", flat=True))
    assert 0 < sent == len(delivered) < NOTICES and max(delivered.values()) == 1
    assert statuses == {NoticeStatus.SENT: sent, NoticeStatus.PENDING: NOTICES - sent}
    sent_to = set(await Notice.filter(status=NoticeStatus.SENT).values_list("recipient_id", flat=True))
    assert sent_to == set(delivered)
    # The refused one is pending again, due once Telegram's wait is over.
    put_back = await Notice.filter(status=NoticeStatus.PENDING, due_at__gt=now).values_list("recipient_id", flat=True)
    assert len(put_back) == 1 and put_back[0] not in delivered


# -- the bound: what is still running after it is abandoned, and the log says so -----------------


async def test_what_still_runs_after_the_bound_is_abandoned_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # A webhook update whose handler hangs, and a scheduler job that hangs.
    dp = Dispatcher()

    @dp.message()
    async def hang(message: Message) -> None:
        await asyncio.sleep(60)

    bot = Bot(TOKEN)
    handler = WebhookHandler(dp, bot, "s3cret")
    app = web.Application()
    handler.add_routes(app, "/webhook")
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]

    scheduler = Scheduler()
    scheduler.leader = Leader(leadership_for("sqlite://:memory:", None))
    scheduler.add_job(scheduler.tracked(asyncio.sleep), args=[60], id="hang")
    caplog.set_level(logging.INFO)
    scheduler.start()
    try:
        async with aiohttp.ClientSession() as session:
            posting = asyncio.create_task(
                post_update(session, f"http://{host}:{port}/webhook", start_update(1, USER_ID, "hello"), "s3cret")
            )
            while not handler.in_hand:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            assert await handler.finish(timeout=0.3) == 1
            await scheduler.stop(timeout=0.3)
            took = time.monotonic() - started
            await runner.cleanup()  # the hanging request is cut off with the server
            with contextlib.suppress(aiohttp.ClientError):
                await posting
    finally:
        await bot.session.close()
    assert took < 2, took
    said = [r.getMessage() for r in caplog.records if "abandoned" in r.getMessage()]
    assert said == [
        "stopping: 1 update(s) still being handled after 0.3s, abandoned",
        "stopping: 1 scheduler job(s) still running after 0.3s, abandoned",
    ], said
