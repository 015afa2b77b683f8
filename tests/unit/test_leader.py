"""scheduler/leader.py: one leader at a time on PostgreSQL and with Redis; a dead one is replaced."""

from __future__ import annotations

import asyncio

import pytest

from conftest import create_pg_database, drop_pg_database
from scheduler.leader import AlwaysLeader, Leader, PostgresAdvisoryLock, RedisLease, leadership_for


@pytest.mark.postgres
async def test_two_instances_on_postgresql_one_leads_until_it_stops() -> None:
    url = await create_pg_database()
    first, second = PostgresAdvisoryLock(url), PostgresAdvisoryLock(url)
    try:
        assert await first.try_acquire() is True
        assert await second.try_acquire() is False
        assert await first.try_acquire() is True  # kept on its own connection
        assert await second.try_acquire() is False
        first.conn.terminate()  # the leader dies: the server frees the lock with its connection
        await asyncio.sleep(0.2)
        assert await second.try_acquire() is True
        assert await first.try_acquire() is False
    finally:
        await first.release()
        await second.release()
        await drop_pg_database(url)


@pytest.mark.redis
async def test_two_instances_with_redis_one_holds_the_lease_and_a_dead_one_is_replaced(redis_url: str) -> None:
    first, second = RedisLease(redis_url, lease_seconds=0.5), RedisLease(redis_url, lease_seconds=0.5)
    try:
        results = await asyncio.gather(first.try_acquire(), second.try_acquire())
        assert sorted(results) == [False, True]
        leader, other = (first, second) if results[0] else (second, first)
        await asyncio.sleep(0.3)
        assert await leader.try_acquire() is True  # renewed
        await asyncio.sleep(0.3)
        assert await other.try_acquire() is False  # the renewal kept it
        await asyncio.sleep(0.6)  # the leader died (stopped renewing): its lease runs out
        assert await other.try_acquire() is True
        assert await leader.try_acquire() is False
        await other.release()  # released on stop: the next one takes it at once
        assert await leader.try_acquire() is True
    finally:
        await first.release()
        await second.release()


async def test_sqlite_is_a_single_instance_and_always_leads() -> None:
    assert isinstance(leadership_for("sqlite://data/bot.sqlite3", None), AlwaysLeader)
    leader = Leader(AlwaysLeader())
    assert await leader.leading() is True
    await leader.stop()
    assert leader.is_leader is False
