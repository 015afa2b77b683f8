"""With Redis, a person's lock is a lease: renewed while their update is handled, and free again soon
after the process holding it died (it held aiogram's fixed 60 s before)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from redis.asyncio import Redis

from bot.isolation import LeasedRedisIsolation

pytestmark = pytest.mark.redis

KEY = StorageKey(bot_id=1, chat_id=42, user_id=42, destiny="default")


async def test_a_lock_held_longer_than_its_lease_stays_held(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    isolation = LeasedRedisIsolation(redis, DefaultKeyBuilder(with_destiny=True), lease=0.6)
    order: list[str] = []

    async def first() -> None:
        async with isolation.lock(KEY):
            order.append("first in")
            await asyncio.sleep(1.5)  # more than twice the lease: renewed meanwhile
            order.append("first out")

    async def second() -> None:
        await asyncio.sleep(0.2)
        async with isolation.lock(KEY):
            order.append("second in")

    try:
        await asyncio.gather(first(), second())
    finally:
        await redis.aclose()
    assert order == ["first in", "first out", "second in"]


async def test_a_lock_left_by_a_dead_process_is_free_after_the_lease(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    isolation = LeasedRedisIsolation(redis, DefaultKeyBuilder(with_destiny=True), lease=1.0)
    try:
        # What a killed process leaves: the lock taken, never released, no longer renewed.
        dead = redis.lock(DefaultKeyBuilder(with_destiny=True).build(KEY, "lock"), timeout=1.0)
        assert await dead.acquire(blocking=False)
        started = time.monotonic()
        async with isolation.lock(KEY):
            waited = time.monotonic() - started
    finally:
        await redis.aclose()
    assert 0.5 < waited < 3.0, waited
