"""The outbox worker: sends due notices within Telegram's limits.

One rate budget per bot token (about 25 messages/s overall) and at most one message a second to
each chat. `TelegramRetryAfter` puts the notice back for when Telegram allows; a user who blocked
the bot (`TelegramForbiddenError`) is marked unreachable and skipped, never a crash.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiolimiter import AsyncLimiter

from bot.i18n import t
from storage import outbox
from storage.models import Notice, NoticeStatus

log = logging.getLogger(__name__)


def render(notice: Notice, language: str) -> str:
    """Params ending in `_key` name a text, rendered in the recipient's own language."""
    params = {}
    for name, value in notice.params.items():
        if name.endswith("_key"):
            params[name.removesuffix("_key")] = t(language, str(value))
        else:
            params[name] = value
    return t(language, notice.text_key, **params)


class OutboxSender:
    def __init__(self, bot: Bot, rate_per_second: float = 25.0, per_chat_interval: float = 1.0) -> None:
        self.bot = bot
        self.overall = AsyncLimiter(rate_per_second, 1)
        self.per_chat_interval = per_chat_interval
        self._chat_limiters: OrderedDict[int, AsyncLimiter] = OrderedDict()

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chat_limiters.pop(chat_id, None) or AsyncLimiter(1, self.per_chat_interval)
        self._chat_limiters[chat_id] = limiter
        while len(self._chat_limiters) > 10_000:
            self._chat_limiters.popitem(last=False)
        return limiter

    async def send_due(self, now: datetime) -> int:
        """Send what is due as of `now`; returns how many were sent."""
        notices = await outbox.due_notices(now)
        if not notices:
            return 0
        recipients = await outbox.recipient_languages(list({n.recipient_id for n in notices}))
        sent = 0
        for notice in notices:
            if not await outbox.claim(notice.id):
                continue
            language, reachable = recipients.get(notice.recipient_id, ("zh", True))
            if not reachable:
                await outbox.mark_failed(notice, NoticeStatus.SKIPPED, "unreachable")
                continue
            try:
                text = render(notice, language)
                async with self.overall, self._chat_limiter(notice.recipient_id):
                    await self.bot.send_message(notice.recipient_id, text)
            except TelegramRetryAfter as exc:
                await outbox.mark_retry(notice, now + timedelta(seconds=exc.retry_after))
                log.warning("Telegram asked to wait %ss; notice %s put back", exc.retry_after, notice.id)
                break
            except TelegramForbiddenError:
                await outbox.mark_unreachable(notice.recipient_id, now)
                await outbox.mark_failed(notice, NoticeStatus.SKIPPED, "forbidden")
            except Exception as exc:  # noqa: BLE001 - one bad notice must not stop the batch
                # A missing text key, a bad parameter, a network error, a Bot API refusal: the
                # notice is marked failed with the error's type (never its message, which may
                # quote personal data) instead of staying claimed forever, and the batch goes on.
                await outbox.mark_failed(notice, NoticeStatus.FAILED, type(exc).__name__)
                log.warning("notice %s failed: %s", notice.id, type(exc).__name__)
            else:
                await outbox.mark_sent(notice, now)
                sent += 1
        return sent
