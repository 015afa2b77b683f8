"""What reaches the handlers at all: each update once (`OnceOnly`), and no more than a person's
share of updates (`Throttle`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from bot.i18n import normalise_language, t
from storage.update_claims import UpdateClaims, claim_or_wait

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class OnceOnly(BaseMiddleware):
    """An update delivered twice is handled once (see storage.update_claims for the claim, its
    lease and the one window where a redelivery is handled again). An update whose handling
    raised is released, so its redelivery is handled."""

    def __init__(self, claims: UpdateClaims) -> None:
        self.claims = claims

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        if not await claim_or_wait(self.claims, update_id):
            log.info("update %s delivered again: already handled, dropped", update_id)
            return None
        keeper = asyncio.create_task(self._keep(update_id))
        try:
            result = await handler(event, data)
        except BaseException:
            keeper.cancel()
            with contextlib.suppress(BaseException):
                await self.claims.release(update_id)
            raise
        keeper.cancel()
        try:
            await self.claims.handled(update_id)
        except Exception:  # noqa: BLE001 - the person has their answer; the lease runs out
            # Not final: a redelivery after the lease would be handled again (at least once).
            log.warning("update %s handled, but its claim was not made final", update_id, exc_info=True)
        return result

    async def _keep(self, update_id: int) -> None:
        """Renew the lease while the handler runs: a live handler's claim is never taken over."""
        while True:
            await asyncio.sleep(self.claims.lease / 3)
            try:
                await self.claims.renew(update_id)
            except Exception:  # noqa: BLE001 - a failed renewal only shortens the lease
                log.warning("update %s: lease not renewed", update_id, exc_info=True)


def burst_limit(rate: str, burst: int) -> Any:
    """The per-person limit: `rate` on average (THROTTLE_RATE, "5/second"), up to `burst` updates
    at once (an album of 10 documents arrives as 10 messages together): `burst` per the time
    in which `rate` allows that many, e.g. 10 per 2 seconds."""
    from limits import RateLimitItemPerSecond, parse

    item = parse(rate)
    amount = max(burst, item.amount)
    seconds = math.ceil(amount * item.get_expiry() / item.amount)
    return RateLimitItemPerSecond(amount, seconds)


class Throttle(BaseMiddleware):
    """At most the person's share of updates (`burst_limit`), counted in the `limits` storage
    (Redis when REDIS_URL is set: one budget across instances; memory otherwise). Over it, the
    update is dropped: the first one of the throttled period is answered politely, in the
    person's language (nothing typed so far is lost, wait a moment); the rest silently; a
    pressed button is always answered, so it stops spinning. Staff are throttled too."""

    def __init__(self, rate: str, burst: int, redis_url: str | None = None) -> None:
        from limits import RateLimitItemPerSecond
        from limits.aio.strategies import FixedWindowRateLimiter

        if redis_url:
            from limits.aio.storage import RedisStorage

            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage: Any = RedisStorage(uri, implementation="redispy", key_prefix="throttle")
        else:
            from limits.aio.storage import MemoryStorage

            storage = MemoryStorage()
        self.storage = storage
        # A fixed window that opens with a person's first update: one counter per person. Not the
        # moving window, whose in-memory storage sends every expiry sweep through a thread
        # (asyncio.to_thread), nor the sliding window counter, whose windows follow the clock (a
        # burst across a boundary would be counted in two).
        self.limiter = FixedWindowRateLimiter(storage)
        self.limit = burst_limit(rate, burst)
        # One polite answer per throttled period: a limit of one per the limit's window.
        self.told = RateLimitItemPerSecond(1, self.limit.get_expiry())

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        if await self.limiter.hit(self.limit, "updates", str(user.id)):
            return await handler(event, data)
        tell = await self.limiter.hit(self.told, "told", str(user.id))
        log.info("updates over the rate limit dropped (%s)", "told" if tell else "silently")
        language = data.get("lang") or normalise_language(user.language_code)
        text = t(language, "throttle.slow_down")
        inner = event.event if isinstance(event, Update) else event
        bot = data.get("bot")
        if isinstance(inner, CallbackQuery):
            await inner.answer(text if tell else None)
        elif tell and isinstance(inner, Message) and bot is not None:
            await bot.send_message(inner.chat.id, text)
        return None
