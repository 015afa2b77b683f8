"""The APScheduler instance: an in-memory job store and a few stateless ticks.

Each tick reads the database, works out what is due and writes the outbox; nothing about the
schedule itself is stored, so a missed tick is simply caught up by the next one.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock, SystemClock
from bot.settings import Settings
from scheduler.sender import OutboxSender

log = logging.getLogger(__name__)


async def outbox_tick(sender: OutboxSender, clock: Clock) -> None:
    await sender.send_due(clock.now())


def build_scheduler(bot: Bot, settings: Settings, clock: Clock | None = None, *, in_bot: bool = False) -> AsyncIOScheduler:
    """The scheduler with its jobs. Inside a bot process (`in_bot`) the outbox sender runs only
    when OUTBOX_SENDER is on; deployments with a separate `python -m scheduler` turn it off."""
    clock = clock or SystemClock()
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    if settings.outbox_sender or not in_bot:
        sender = OutboxSender(bot, settings.send_rate_per_second)
        scheduler.add_job(
            outbox_tick,
            "interval",
            seconds=2,
            args=[sender, clock],
            id="outbox",
            max_instances=1,
            coalesce=True,
            next_run_time=clock.now(),
        )
    return scheduler


async def run_once(bot: Bot, settings: Settings, now: datetime) -> int:
    """Fire everything due as of `now` once (python -m scheduler --at ...)."""
    return await OutboxSender(bot, settings.send_rate_per_second).send_due(now)
