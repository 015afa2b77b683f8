"""The outbox worker: sends due notices within Telegram's limits.

One rate budget per bot token (about 25 messages/s overall with a burst of at most 5, so no
second ever sees more than Telegram's 30) and at most one message a second
to each chat; every sender of the process that uses the same token shares it. Notices go out
concurrently (a few at a time), so one chat waiting for its second does not hold up the others.

At-most-once: a notice is claimed (pending -> sending) just before its message is sent and never
sent again once claimed; a crash between the claim and the request loses that notice (it stays
`sending`) rather than sending it twice. At most `concurrency` notices are in that window (one per
worker); sent ones are marked in groups of CONFIRM_GROUP, so a crash may also leave up to that
many delivered notices `sending` (delivered once, never again).

`TelegramRetryAfter`: the whole sender pauses for the time Telegram asks, then sends the same
notice again (Telegram did not accept it, so this is no second delivery) and goes on with the
batch. A user who blocked the bot (`TelegramForbiddenError`) is marked unreachable and skipped.

Stopping (`request_stop`, on SIGTERM): each worker finishes the notice it is sending (sent and
marked sent) and takes no other; a notice not yet claimed stays pending for the next process, and
`send_due` returns once the sent ones are marked. A notice refused with 429 while stopping goes
back to pending instead of waiting.

Content built when sent: a notice whose params name `digest` ("daily" or "weekly") carries the
staff digest as of its `at`, built from the database at send time in the recipient's language;
the weekly one also sends its .xlsx as a document (bot.services.digest).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile
from aiolimiter import AsyncLimiter

from bot.i18n import t
from bot.rules.notices import in_quiet_hours
from bot.settings import Settings, get_settings
from storage import outbox
from storage.models import Notice, NoticeStatus

log = logging.getLogger(__name__)

BATCH = 500  # notices read per query
CONFIRM_GROUP = 20  # sent notices marked per statement
MAX_RETRY_AFTER = 3  # 429 answers for one notice before it is put back for later


def render(notice: Notice, language: str) -> str:
    """Params ending in `_key` name a text, rendered in the recipient's own language with the
    notice's other params (a reason "the filing for {year}" says its year)."""
    plain = {name: value for name, value in notice.params.items() if not name.endswith("_key")}
    params = dict(plain)
    for name, value in notice.params.items():
        if name.endswith("_key"):
            params[name.removesuffix("_key")] = t(language, str(value), **plain)
    return t(language, notice.text_key, **params)


@dataclass
class Content:
    text: str
    document: tuple[str, bytes] | None = None  # (file name, content)
    caption: str | None = None


class Budget:
    """The rate budget of one bot token: overall and per chat."""

    def __init__(self, rate_per_second: float, per_chat_interval: float) -> None:
        # A burst of at most five messages: 25/s with a burst of 5 never puts more than Telegram's
        # 30 into any one second, and a late wake-up of the event loop costs no throughput.
        burst = max(1.0, min(5.0, rate_per_second / 5))
        self.rate = rate_per_second
        self.overall = AsyncLimiter(burst, burst / rate_per_second)
        self.per_chat_interval = per_chat_interval
        self._chats: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self.paused_until = 0.0  # time.monotonic() before which nothing is sent (429)

    def chat(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.pop(chat_id, None) or AsyncLimiter(1, self.per_chat_interval)
        self._chats[chat_id] = limiter
        while len(self._chats) > 10_000:
            self._chats.popitem(last=False)
        return limiter

    async def wait_if_paused(self) -> None:
        while (delay := self.paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)


_BUDGETS: dict[tuple[int, str, float, float], Budget] = {}


def budget_for(token: str, rate_per_second: float, per_chat_interval: float) -> Budget:
    """One budget per bot token (and configured rate) in this process's event loop."""
    key = (id(asyncio.get_running_loop()), token, rate_per_second, per_chat_interval)
    if key not in _BUDGETS:
        _BUDGETS[key] = Budget(rate_per_second, per_chat_interval)
    return _BUDGETS[key]


@dataclass
class _Batch:
    now: datetime
    recipients: dict[int, tuple[str, bool]]
    contents: dict[tuple[str, str, str], Content] = field(default_factory=dict)
    sent: int = 0
    unconfirmed: list[int] = field(default_factory=list)  # sent, not yet marked so


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        rate_per_second: float = 25.0,
        per_chat_interval: float | None = None,
        *,
        settings: Settings | None = None,
        concurrency: int = 16,
        quiet_hours: bool = False,
    ) -> None:
        self.bot = bot
        self.settings = settings or get_settings()
        # SPEC §6: nothing goes out between QUIET_HOURS_START and QUIET_HOURS_END (21:00-08:00)
        # but replies, which the handlers send themselves. A notice queued at night for "now" (a
        # staff decision at 22:00) waits in the outbox for the morning.
        self.quiet_hours = quiet_hours
        interval = per_chat_interval if per_chat_interval is not None else self.settings.send_per_chat_interval
        self._budget_key = (bot.token, rate_per_second, interval)
        self.concurrency = concurrency
        self.retry_after_answers = 0  # 429s seen, for the benchmark and the logs
        self.stopping = False
        self._queue: asyncio.Queue[Notice | None] | None = None

    def request_stop(self) -> None:
        """Finish the notices being sent, take no other (synchronous: called from a signal
        handler)."""
        self.stopping = True
        queue = self._queue
        if queue is None:
            return
        # Nothing queued is taken any more, and each idle worker wakes up to its end.
        while not queue.empty():
            queue.get_nowait()
        for _ in range(self.concurrency):
            queue.put_nowait(None)

    async def send_due(self, now: datetime) -> int:
        """Send everything due as of `now`; returns how many were sent. The next batch is read
        while the workers send the current one."""
        if self.stopping or (self.quiet_hours and in_quiet_hours(now, self.settings.notice_rules())):
            return 0
        self.budget = budget_for(*self._budget_key)
        batch = _Batch(now, {})
        queue: asyncio.Queue[Notice | None] = asyncio.Queue(maxsize=BATCH)
        self._queue = queue
        workers = [asyncio.create_task(self._worker(queue, batch)) for _ in range(self.concurrency)]
        try:
            after: tuple[datetime, int] | None = None
            while not self.stopping:
                notices = await outbox.due_notices(now, limit=BATCH, after=after)
                if not notices:
                    break
                after = (notices[-1].due_at, notices[-1].id)
                batch.recipients.update(await outbox.recipient_languages(list({n.recipient_id for n in notices})))
                for notice in notices:
                    if self.stopping:
                        break
                    await queue.put(notice)
            if not self.stopping:
                for _ in workers:
                    await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            self._queue = None
            for worker in workers:
                worker.cancel()
            await self._flush(batch)
        return batch.sent

    async def _worker(self, queue: asyncio.Queue[Notice | None], batch: _Batch) -> None:
        while not self.stopping and (notice := await queue.get()) is not None:
            if self.stopping:
                return
            await self._deliver(notice, batch)

    async def _deliver(self, notice: Notice, batch: _Batch) -> None:
        language, reachable = batch.recipients.get(notice.recipient_id, ("zh", True))
        if not reachable:
            if await outbox.claim(notice.id):
                await outbox.mark_failed(notice, NoticeStatus.SKIPPED, "unreachable")
            return
        claimed = text_sent = False
        for _ in range(MAX_RETRY_AFTER):
            try:
                content = await self._content(notice, language, batch)
                await self.budget.wait_if_paused()
                async with self.budget.chat(notice.recipient_id):
                    await self.budget.wait_if_paused()
                    await self.budget.overall.acquire()
                    if not claimed:
                        if self.stopping:  # its turn came too late: it stays pending
                            return
                        # Claimed once its turn has come, just before the request: a crash loses
                        # only the notices whose request is under way (at most one a worker).
                        if not await outbox.claim(notice.id):
                            return
                        claimed = True
                    if not text_sent:
                        await self.bot.send_message(notice.recipient_id, content.text)
                        text_sent = True
                if content.document is not None:
                    name, data = content.document
                    async with self.budget.chat(notice.recipient_id), self.budget.overall:
                        await self.bot.send_document(notice.recipient_id, BufferedInputFile(data, filename=name),
                                                     caption=content.caption)
            except TelegramRetryAfter as exc:
                # Telegram refused this message: pause everyone, then send it again.
                self.retry_after_answers += 1
                self.budget.paused_until = max(self.budget.paused_until, time.monotonic() + exc.retry_after)
                log.warning("Telegram asked to wait %ss; sending resumes then", exc.retry_after)
                if self.stopping:
                    break
                continue
            except TelegramForbiddenError:
                await outbox.mark_unreachable(notice.recipient_id, batch.now)
                await outbox.mark_failed(notice, NoticeStatus.SKIPPED, "forbidden")
                return
            except Exception as exc:  # noqa: BLE001 - one bad notice must not stop the batch
                # A missing text key, a bad parameter, a network error, a Bot API refusal: the
                # notice is marked failed with the error's type (never its message, which may
                # quote personal data) instead of staying claimed forever, and the batch goes on.
                if claimed or await outbox.claim(notice.id):
                    await outbox.mark_failed(notice, NoticeStatus.FAILED, type(exc).__name__)
                log.warning("notice %s failed: %s", notice.id, type(exc).__name__)
                return
            else:
                await self._confirm(notice, batch)
                return
        # Still refused after several waits: back to pending, for the next round.
        if claimed and not text_sent:
            await outbox.mark_retry(notice, batch.now + timedelta(seconds=max(1.0, self.budget.paused_until - time.monotonic())))
        elif claimed:
            await outbox.mark_failed(notice, NoticeStatus.FAILED, "TelegramRetryAfter")

    async def _confirm(self, notice: Notice, batch: _Batch) -> None:
        """Sent: confirmed in groups of CONFIRM_GROUP (one statement each); a crash before the
        group is written leaves those rows `sending`: delivered, and never sent again."""
        batch.sent += 1
        batch.unconfirmed.append(notice.id)
        if len(batch.unconfirmed) >= CONFIRM_GROUP:
            await self._flush(batch)

    @staticmethod
    async def _flush(batch: _Batch) -> None:
        ids, batch.unconfirmed = batch.unconfirmed, []
        await outbox.mark_sent_many(ids, batch.now)

    async def _content(self, notice: Notice, language: str, batch: _Batch) -> Content:
        digest = notice.params.get("digest")
        if digest is None:
            return Content(render(notice, language))
        key = (str(digest), str(notice.params.get("at")), language)
        if key not in batch.contents:  # one build per digest and language, whatever the number of staff
            batch.contents[key] = await _digest_content(notice.params, language, self.settings)
        return batch.contents[key]


async def _digest_content(params: dict[str, Any], language: str, settings: Settings) -> Content:
    from bot.services import digest as digests  # noqa: PLC0415 - only digest notices need it

    at = datetime.fromisoformat(str(params["at"]))
    weekly = params.get("digest") == "weekly"
    built = await digests.build_digest(settings, at, weekly=weekly)
    text = digests.render_text(built, language)
    if not weekly:
        return Content(text)
    name, data = await digests.workbook(built, settings)
    return Content(text, (name, data), t(language, "digest.xlsx_caption"))
