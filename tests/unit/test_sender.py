"""The outbox sender: sends each due notice once, honours retry_after, skips blocked users."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import SendMessage

from bot.local_session import LocalBotApi
from storage import outbox
from storage.models import BotUser, Notice, NoticeStatus
from chat_harness import Chat, make_settings

NOW = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)


class FlakyApi(LocalBotApi):
    """Telegram as seen on a bad day: one chat blocked the bot, one send is rate limited."""

    def __init__(self, retry_after: int = 7) -> None:
        super().__init__()
        self.retry_after_once = True
        self.retry_after = retry_after

    async def answer(self, method: Any) -> Any:
        if isinstance(method, SendMessage) and method.chat_id == 2:
            raise TelegramForbiddenError(method=method, message="Forbidden: bot was blocked by the user")
        if isinstance(method, SendMessage) and method.chat_id == 3 and self.retry_after_once:
            self.retry_after_once = False
            raise TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=self.retry_after)
        return await super().answer(method)


async def test_due_notices_are_sent_once_in_the_recipients_language(db: str) -> None:
    from scheduler.sender import OutboxSender

    chat = Chat(make_settings(db))
    await BotUser.create(id=1, language="en")
    await outbox.enqueue(1, "status_change", "submission:1", "approved", "submission_status.approved", NOW)
    await outbox.enqueue(1, "later", "submission:1", "x", "submission_status.approved", NOW + timedelta(days=1))
    sender = OutboxSender(chat.bot, per_chat_interval=0.01)
    assert await sender.send_due(NOW) == 1
    assert chat.texts(chat.api.calls) == ["approved"]
    assert await sender.send_due(NOW) == 0  # never twice
    assert (await Notice.get(kind="status_change")).status == NoticeStatus.SENT
    assert (await Notice.get(kind="later")).status == NoticeStatus.PENDING


async def test_the_scheduler_sends_nothing_in_quiet_hours_and_everything_at_eight(db: str) -> None:
    """SPEC §6: a notice queued at 22:30 in Shanghai for "now" (a staff decision late at night)
    waits in the outbox until 08:00."""
    from scheduler.sender import OutboxSender

    settings = make_settings(db)
    chat = Chat(settings)
    await BotUser.create(id=4)
    late = datetime(2027, 3, 3, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    await outbox.enqueue(4, "status_change", "submission:9", "t1", "submission_status.approved", late)
    sender = OutboxSender(chat.bot, per_chat_interval=0.01, settings=settings, quiet_hours=True)
    assert await sender.send_due(late) == 0
    assert await sender.send_due(datetime(2027, 3, 3, 23, 59, tzinfo=UTC)) == 0  # 07:59
    assert (await Notice.get(recipient_id=4)).status == NoticeStatus.PENDING
    assert await sender.send_due(datetime(2027, 3, 4, 0, 0, tzinfo=UTC)) == 1  # 08:00
    assert chat.texts(chat.api.calls) == ["评审通过"]


async def test_blocked_user_is_marked_and_retry_after_is_honoured(db: str) -> None:
    from scheduler.sender import OutboxSender

    chat = Chat(make_settings(db), api=FlakyApi(retry_after=1))
    for uid in (2, 3):
        await BotUser.create(id=uid)
        await outbox.enqueue(uid, "k", "s", "p", "submission_status.approved", NOW)
    sender = OutboxSender(chat.bot, per_chat_interval=0.01)
    started = time.monotonic()
    # Telegram's "retry after 1": the sender waits that long, sends the same notice again and goes on.
    assert await sender.send_due(NOW) == 1
    assert time.monotonic() - started >= 1 and sender.retry_after_answers == 1
    blocked = await Notice.get(recipient_id=2)
    assert blocked.status == NoticeStatus.SKIPPED
    assert (await BotUser.get(id=2)).reachable is False
    assert (await Notice.get(recipient_id=3)).status == NoticeStatus.SENT
    assert chat.texts(chat.api.calls) == ["评审通过"]
    assert await sender.send_due(NOW) == 0


class BrokenApi(LocalBotApi):
    """One chat's send fails with something that is not a Telegram error at all."""

    async def answer(self, method: Any) -> Any:
        if isinstance(method, SendMessage) and method.chat_id == 4:
            raise ConnectionResetError("peer went away")
        return await super().answer(method)


async def test_a_notice_that_cannot_be_rendered_or_sent_is_marked_failed_and_the_batch_goes_on(db: str) -> None:
    from scheduler.sender import OutboxSender

    chat = Chat(make_settings(db), api=BrokenApi())
    for uid in (4, 5, 6):
        await BotUser.create(id=uid)
    await outbox.enqueue(4, "k", "s", "p", "submission_status.approved", NOW)  # the send raises
    await outbox.enqueue(5, "k", "s", "p", "no.such.text", NOW)  # rendering raises
    await outbox.enqueue(6, "k", "s", "p", "submission_status.approved", NOW)
    sender = OutboxSender(chat.bot, per_chat_interval=0.01)
    assert await sender.send_due(NOW) == 1
    assert (await Notice.get(recipient_id=4)).status == NoticeStatus.FAILED
    assert (await Notice.get(recipient_id=4)).error == "ConnectionResetError"
    assert (await Notice.get(recipient_id=5)).status == NoticeStatus.FAILED
    assert (await Notice.get(recipient_id=5)).error == "KeyError"
    assert (await Notice.get(recipient_id=6)).status == NoticeStatus.SENT
    assert await Notice.filter(status=NoticeStatus.SENDING).count() == 0  # nothing stuck
    assert await sender.send_due(NOW) == 0  # and nothing sent twice


def test_the_bot_process_can_leave_sending_to_a_separate_scheduler() -> None:
    from bot.client import build_bot
    from scheduler.setup import build_scheduler

    settings = make_settings("sqlite://:memory:")
    bot = build_bot(settings)
    assert [job.id for job in build_scheduler(bot, settings, in_bot=True).get_jobs()] == ["leader", "notice_tick", "outbox"]
    quiet = make_settings("sqlite://:memory:", outbox_sender=False)
    assert build_scheduler(bot, quiet, in_bot=True).get_jobs() == []
    # `python -m scheduler` always ticks and sends (while it leads), whatever the bot processes are told
    assert [job.id for job in build_scheduler(bot, quiet).get_jobs()] == ["leader", "notice_tick", "outbox"]


def test_the_scheduler_process_imports_no_handler_and_no_dialog() -> None:
    import subprocess
    import sys

    code = "import sys, scheduler.__main__; print(sorted(m for m in sys.modules if m.split('.')[0] in ('handlers', 'aiogram_dialog')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
