"""Stopping the bot process on SIGTERM without losing what it has in hand.

Polling: aiogram's `Dispatcher.start_polling` handles each update in a task of its own and, on a
signal, only cancels the long poll; it neither waits for those tasks nor cancels them, and closes
the Bot API session under them. The update in hand was already confirmed to Telegram (the long
poll after it carries its offset), so a task cut off there is an update lost: its reply, its
conversation state, its draft's answers. `finish_updates_on_shutdown` waits for those tasks
instead, before the dispatcher's shutdown closes the conversation storage.

Webhook: `WebhookHandler` answers Telegram only once the update has been handled (aiogram's
`handle_in_background=False`): an update whose request got no 200 (the process died, it was
stopped, a handler is still running) is sent again by Telegram, and a second delivery is not
handled twice (handlers/delivery.py). With aiogram's default (`handle_in_background=True`) the 200
goes out before the handler runs and an update cut off by a crash or a restart is lost for good.
On SIGTERM it refuses new requests with 503 (Telegram sends them again, to the next process) and
waits for the requests in hand.

Everything in hand (the updates, then the scheduler's jobs and the notices being sent) gets
SHUTDOWN_TIMEOUT seconds from the signal, together: 8 s, inside the 10 s a container stop waits
before it kills (Docker's default), leaving time to close the database and exit. A handler or job
still running then is abandoned, and the log says how many (never what they held).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

log = logging.getLogger("bot.shutdown")

SHUTDOWN_TIMEOUT = 8.0  # seconds from the signal for everything in hand


class Stopping(asyncio.Event):
    """Set on SIGTERM or SIGINT; what is in hand must be finished by `deadline`."""

    def __init__(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout
        self.deadline: float | None = None

    def set(self) -> None:
        if self.deadline is None:
            self.deadline = asyncio.get_running_loop().time() + self.timeout
        super().set()

    def remaining(self, at_least: float = 0.0) -> float:
        """Seconds left until the deadline (the whole bound when no signal came)."""
        if self.deadline is None:
            return max(at_least, self.timeout)
        return max(at_least, self.deadline - asyncio.get_running_loop().time())


async def finish_updates(tasks: Iterable[asyncio.Task[Any]], timeout: float = SHUTDOWN_TIMEOUT) -> int:
    """Wait up to `timeout` for the tasks handling updates; returns how many were abandoned."""
    pending = {task for task in tasks if not task.done()}
    if not pending:
        return 0
    log.info("stopping: finishing %d update(s) in hand", len(pending))
    _, still = await asyncio.wait(pending, timeout=timeout)
    if still:
        log.warning("stopping: %d update(s) still being handled after %.1fs, abandoned", len(still), timeout)
    return len(still)


def finish_updates_on_shutdown(dp: Dispatcher, stop: Stopping) -> None:
    """Make the dispatcher's shutdown wait for the polling updates in hand first: `start_polling`
    emits it as soon as the long poll is cancelled, and its first handler (aiogram's own) closes
    the conversation storage and the per-user locks those updates are still using."""

    async def finish() -> None:
        await finish_updates(polling_tasks(dp), stop.remaining())

    dp.shutdown.handlers.insert(0, HandlerObject(callback=finish))


def polling_tasks(dp: Dispatcher) -> set[asyncio.Task[Any]]:
    """The tasks `start_polling` runs updates in: aiogram keeps them in this set (a strong
    reference, removed when done) and offers no public view of it."""
    return set(dp._handle_update_tasks)  # noqa: SLF001


class WebhookHandler(SimpleRequestHandler):
    """aiogram's request handler, answering only once the update is handled, with 400 for a body
    that is not an Update and 503 while stopping. Register it with `add_routes`, not aiogram's
    `register`: that one closes the Bot API session when the server starts to stop, under the
    requests still in hand."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, secret_token: str) -> None:
        super().__init__(dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=secret_token)
        self.stopping = False
        self.in_hand = 0  # requests being handled
        self._idle = asyncio.Event()
        self._idle.set()

    def add_routes(self, app: web.Application, path: str) -> None:
        app.router.add_route("POST", path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if self.stopping:
            return web.Response(status=503, text="Service Unavailable")
        bot = self.bot
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), bot):
            log.warning("webhook: a request without the right secret token refused (401)")
            return web.Response(status=401, text="Unauthorized")
        try:
            update = Update.model_validate(await request.json(loads=bot.session.json_loads), context={"bot": bot})
        except (ValueError, ValidationError) as exc:
            # The body may hold personal data: only that it was refused, and why in one word.
            log.warning("webhook: a body that is not an Update refused (400): %s", type(exc).__name__)
            return web.Response(status=400, text="Bad Request")
        if self.stopping:  # the signal came while the body was being read
            return web.Response(status=503, text="Service Unavailable")
        self.in_hand += 1
        self._idle.clear()
        try:
            result = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        finally:
            self.in_hand -= 1
            if not self.in_hand:
                self._idle.set()
        return web.Response(body=self._build_response_writer(bot=bot, result=result))

    async def finish(self, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        """Refuse new requests, wait for those in hand; returns how many were abandoned."""
        self.stopping = True
        if not self.in_hand:
            return 0
        log.info("stopping: finishing %d update(s) in hand", self.in_hand)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("stopping: %d update(s) still being handled after %.1fs, abandoned", self.in_hand, timeout)
            return self.in_hand
        return 0
