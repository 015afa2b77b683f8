"""The outbox sender: sends each due notice once, honours retry_after, skips blocked users."""

from __future__ import annotations

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

    def __init__(self) -> None:
        super().__init__()
        self.retry_after_once = True

    async def answer(self, method: Any) -> Any:
        if isinstance(method, SendMessage) and method.chat_id == 2:
            raise TelegramForbiddenError(method=method, message="Forbidden: bot was blocked by the user")
        if isinstance(method, SendMessage) and method.chat_id == 3 and self.retry_after_once:
            self.retry_after_once = False
            raise TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=7)
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


async def test_blocked_user_is_marked_and_retry_after_is_honoured(db: str) -> None:
    from scheduler.sender import OutboxSender

    chat = Chat(make_settings(db), api=FlakyApi())
    for uid in (2, 3):
        await BotUser.create(id=uid)
        await outbox.enqueue(uid, "k", "s", "p", "submission_status.approved", NOW)
    sender = OutboxSender(chat.bot, per_chat_interval=0.01)
    assert await sender.send_due(NOW) == 0
    blocked = await Notice.get(recipient_id=2)
    assert blocked.status == NoticeStatus.SKIPPED
    assert (await BotUser.get(id=2)).reachable is False
    limited = await Notice.get(recipient_id=3)
    assert limited.status == NoticeStatus.PENDING and limited.due_at == NOW + timedelta(seconds=7)
    assert await sender.send_due(NOW) == 0  # not yet
    assert await sender.send_due(NOW + timedelta(seconds=7)) == 1
    assert chat.texts(chat.api.calls)[-1] == "评审通过"
