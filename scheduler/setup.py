"""The APScheduler instance: an in-memory job store and a few stateless ticks.

Each tick reads the database, works out what is due and writes the outbox; nothing about the
schedule itself is stored, so a missed tick is simply caught up by the next one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.settings import Settings
from scheduler.sender import OutboxSender

log = logging.getLogger(__name__)


async def outbox_tick(sender: OutboxSender) -> None:
    await sender.send_due(datetime.now(UTC))


def build_scheduler(bot: Bot, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    sender = OutboxSender(bot, settings.send_rate_per_second)
    scheduler.add_job(
        outbox_tick,
        "interval",
        seconds=2,
        args=[sender],
        id="outbox",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(settings.tz),
    )
    return scheduler


async def run_once(bot: Bot, settings: Settings, now: datetime) -> int:
    """Fire everything due as of `now` once (python -m scheduler --at ...)."""
    return await OutboxSender(bot, settings.send_rate_per_second).send_due(now)
