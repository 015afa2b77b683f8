"""Webhook mode (WEBHOOK_URL set) of the real `python -m bot` process, as Telegram drives it.

Telegram posts each update to the webhook with the secret token in a header, over up to 40
connections at once (setWebhook's max_connections), and sends an update again until it gets a 2xx.
So: a body that is not an Update is refused with 400 and logged in one line without its content;
each request is answered only once its update is handled, so a burst of a thousand updates from
two hundred people loses none and answers none twice; and on SIGTERM the request in hand is
finished while a new one gets 503 (Telegram sends it again, to the next process). The secret
token itself (401 without it) is tests/e2e/test_bot_process.py's.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from bot_api_stub import BotApiStub  # noqa: E402
from test_bot_process import (  # noqa: E402,F401 - stub and launch are fixtures used by name
    REPLY_TIMEOUT,
    START_TIMEOUT,
    USER_ID,
    failed_calls,
    launch,
    post_update,
    start_update,
    start_webhook_bot,
    stub,
    texts_to,
    wait_for_server,
)
from test_declaration_process import Launch  # noqa: E402

pytestmark = pytest.mark.e2e

SECRET = "s3cret"  # start_webhook_bot's
PEOPLE = 200
UPDATES_EACH = 5
CONNECTIONS = 40  # Telegram's default max_connections
EXIT_TIMEOUT = 40.0
# Stands for what a body may carry: it must not reach the log.
PRIVATE = "张三 13800138000 440301198001011234"


async def post_raw(session: aiohttp.ClientSession, url: str, body: bytes, secret: str) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def test_webhook_refuses_bad_bodies_answers_a_burst_once_each_and_finishes_on_sigterm(
    stub: BotApiStub, launch: Launch, tmp_path: Path
) -> None:
    port, bot_process = await start_webhook_bot(stub, launch, tmp_path)
    await bot_process.watch(
        stub.wait_for(lambda m, _: m == "setWebhook", timeout=START_TIMEOUT, since=0), "waiting for setWebhook"
    )
    url = f"http://127.0.0.1:{port}/webhook"
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await wait_for_server(bot_process, session, url)

        # -- bodies that are not an Update: 400, one log line each, nothing handled ------------------
        malformed = [
            f"not JSON at all: {PRIVATE}".encode(),  # not JSON
            f'["{PRIVATE}"]'.encode(),  # JSON, not an object
            f'{{"message": {{"text": "{PRIVATE}"}}}}'.encode(),  # an object without update_id
            f'{{"update_id": "x{PRIVATE}"}}'.encode(),  # a wrong update_id
        ]
        for body in malformed:
            assert await post_raw(session, url, body, SECRET) == 400
        # The secret is checked before the body is even read.
        assert await post_raw(session, url, malformed[0], "wrong") == 401

        # -- a burst: every update answered once --------------------------------------------------
        updates = [
            start_update(1000 + n, 700_000 + n % PEOPLE, "/help") for n in range(PEOPLE * UPDATES_EACH)
        ]
        since = stub.mark()
        started = time.monotonic()
        results = await asyncio.gather(*(post_update(session, url, update, SECRET) for update in updates))
        took = time.monotonic() - started
        assert Counter(status for status, _ in results) == {200: len(updates)}, Counter(s for s, _ in results)
        # Answered only once handled: every reply is already at Telegram when the 200 comes back.
        replies = Counter(
            p["chat_id"] for m, p in stub.calls[since:] if m == "sendMessage" and "常用命令" in str(p.get("text"))
        )
        assert replies == {700_000 + n: UPDATES_EACH for n in range(PEOPLE)}
        assert sum(1 for m, _ in stub.calls[since:] if m == "sendMessage") == len(updates)

        # -- SIGTERM with a request in hand --------------------------------------------------------
        stub.delay_next("sendMessage", 1.0)
        in_hand = asyncio.create_task(post_update(session, url, start_update(5000, USER_ID, "/help"), SECRET))
        await bot_process.watch(stub.wait_held(timeout=REPLY_TIMEOUT), "waiting for the reply to be in flight")
        stopping = time.monotonic()
        bot_process.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        # A new update while it stops: refused with 503, so Telegram sends it again later (or the
        # server is already closed; either way not a 200 for an update nobody handled).
        try:
            late = (await post_update(session, url, start_update(5001, USER_ID, "/status"), SECRET))[0]
        except aiohttp.ClientConnectionError:
            late = None
        assert late in (503, None), late
        status, _ = await asyncio.wait_for(in_hand, REPLY_TIMEOUT)
        assert status == 200
        try:
            code = await asyncio.wait_for(bot_process.process.wait(), EXIT_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"no exit within {EXIT_TIMEOUT}s of SIGTERM\n{bot_process.log_tail()}")
        stopped_in = time.monotonic() - stopping

    log = bot_process.log()
    assert code == 0, log
    assert "Traceback" not in log and " ERROR " not in log, log
    assert "abandoned" not in log, log
    assert "Unclosed client session" not in log, log  # the Bot API session closed, not dropped
    assert not any(method == "getUpdates" for method, _ in stub.calls)  # a webhook bot, never polling
    # The request in hand got its reply; the one refused while stopping was not handled.
    assert [t for t in texts_to(stub, USER_ID)] == [texts_to(stub, 700_000)[0]]
    # One line for each refused body, and none of what it held.
    assert sum("refused (400)" in line for line in log.splitlines()) == len(malformed), log
    assert "13800138000" not in log and "张三" not in log and "440301198001011234" not in log
    assert failed_calls(stub) == []
    print(f"webhook burst: {len(updates)} updates from {PEOPLE} people over {CONNECTIONS} connections in "
          f"{took:.1f}s ({len(updates) / took:.0f} updates/s); SIGTERM with a request in hand: exit 0 in "
          f"{stopped_in:.1f}s")
