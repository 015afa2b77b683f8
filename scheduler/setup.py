"""The APScheduler instance: an in-memory job store and a few stateless ticks.

Each tick reads the database, works out what is due and writes the outbox; nothing about the
schedule itself is stored, so a missed tick is simply caught up by the next one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock, SystemClock
from bot.settings import Settings
from scheduler import ticks
from scheduler.leader import Leader, leadership_for
from scheduler.sender import OutboxSender

log = logging.getLogger(__name__)


STOP_TIMEOUT = 8.0  # seconds the jobs running at a stop get to finish (within a container stop's 10)


class Scheduler(AsyncIOScheduler):
    """The AsyncIOScheduler with the leadership its jobs run under; `await stop()` releases it.

    APScheduler's own shutdown cancels the jobs running at that moment: an outbox round cut off
    mid-message leaves that notice claimed and never sent. `stop()` starts no new job, lets the
    sender finish the notices in hand (the rest stay queued), waits for the running jobs (at most
    STOP_TIMEOUT seconds), then shuts down."""

    leader: Leader
    sender: OutboxSender | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._jobs_running: set[asyncio.Task[Any]] = set()

    def tracked(self, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """The job, its runs known to `stop()`."""

        @functools.wraps(job)
        async def run(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._jobs_running.add(task)
            try:
                return await job(*args, **kwargs)
            finally:
                self._jobs_running.discard(task)

        return run

    def begin_stop(self) -> None:
        """No new job from now on, no new notice taken by the sender (synchronous: a signal
        handler calls it)."""
        if self.running:
            self.pause()
        if self.sender is not None:
            self.sender.request_stop()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.running:
            self.begin_stop()
            running = {task for task in self._jobs_running if not task.done()}
            if running:
                _, still = await asyncio.wait(running, timeout=timeout)
                if still:
                    log.warning("stopping: %d scheduler job(s) still running after %.1fs, abandoned",
                                len(still), timeout)
            self.shutdown(wait=False)
        await self.leader.stop()


async def outbox_tick(sender: OutboxSender, clock: Clock, leader: Leader | None = None) -> None:
    if leader is not None and not await leader.leading():
        return
    await sender.send_due(clock.now())


# Further ticks run after the notice tick, under the same leadership and with the same moment:
# `async def f(now: datetime, settings: Settings) -> Any`, idempotent like it. (The staff digests
# are part of the tick itself, so `python -m scheduler tick` lists them too.)
EXTRA_TICKS: list[Callable[[datetime, Settings], Awaitable[Any]]] = []


async def notice_tick(settings: Settings, clock: Clock, leader: Leader | None = None) -> None:
    """What the calendar makes due now, into the outbox (scheduler/ticks.py)."""
    if leader is not None and not await leader.leading():
        return
    now = clock.now()
    result = await ticks.tick(now, settings)
    if result.queued or result.moves:
        log.info("tick: %d notice(s) queued, %d move(s)", len(result.queued), len(result.moves))
    for extra in EXTRA_TICKS:
        await extra(now, settings)


def build_scheduler(bot: Bot, settings: Settings, clock: Clock | None = None, *, in_bot: bool = False,
                    leader: Leader | None = None) -> Scheduler:
    """The scheduler with its jobs: the notice tick, the outbox sender, and the renewal of the
    leadership; the first two run only while this instance leads (scheduler/leader.py). Inside a
    bot process (`in_bot`) they run only when OUTBOX_SENDER is on; deployments with a separate
    `python -m scheduler` turn it off."""
    clock = clock or SystemClock()
    scheduler = Scheduler(timezone=settings.tz)
    scheduler.leader = leader or Leader(
        leadership_for(settings.database_url, settings.redis_url, settings.leader_lease_seconds),
        interval=max(1.0, settings.leader_lease_seconds / 3),
    )
    if settings.outbox_sender or not in_bot:
        scheduler.add_job(
            scheduler.leader.check, "interval", seconds=scheduler.leader.interval, id="leader",
            max_instances=1, coalesce=True, next_run_time=clock.now(),
        )
        scheduler.add_job(
            scheduler.tracked(notice_tick), "interval", seconds=settings.tick_interval_seconds, args=[settings, clock, scheduler.leader],
            id="notice_tick", max_instances=1, coalesce=True, next_run_time=clock.now() + timedelta(seconds=1),
        )
        sender = scheduler.sender = OutboxSender(bot, settings.send_rate_per_second, settings=settings,
                                                 quiet_hours=True)
        scheduler.add_job(
            scheduler.tracked(outbox_tick),
            "interval",
            seconds=2,
            args=[sender, clock, scheduler.leader],
            id="outbox",
            max_instances=1,
            coalesce=True,
            next_run_time=clock.now() + timedelta(seconds=2),
        )
    return scheduler


async def run_once(bot: Bot, settings: Settings, now: datetime) -> int:
    """Fire everything due as of `now` once (python -m scheduler --at ...)."""
    return await OutboxSender(bot, settings.send_rate_per_second, settings=settings, quiet_hours=True).send_due(now)
