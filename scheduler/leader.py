"""One leader across instances: only the leader runs the ticks and the outbox sender.

- REDIS_URL set: a lease, `SET key <instance> NX PX <lease>`, renewed every third of the lease
  while it is still ours (compare-and-set in a Lua script) and deleted on stop. A leader that dies
  stops renewing; its lease runs out and another instance takes it (within the lease plus one
  retry interval: 30 s + 10 s by default).
- PostgreSQL: `pg_try_advisory_lock` held on a dedicated asyncpg connection (tortoise's pool resets
  its connections, which would release the lock at once: DESIGN, known traps). A leader that dies
  loses its connection and the server releases the lock; the others retry every few seconds.
- SQLite: one instance by construction, always the leader.

The outbox's unique key still prevents duplicate notices if two leaders ever overlap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any, Protocol

log = logging.getLogger(__name__)

REDIS_KEY = "szjs:scheduler:leader"
ADVISORY_LOCK_ID = 0x535A4A53  # "SZJS"

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Leadership(Protocol):
    async def try_acquire(self) -> bool:
        """Take or keep the leadership; True while this instance leads."""
        ...

    async def release(self) -> None: ...


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AlwaysLeader:
    """SQLite: a single instance."""

    async def try_acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    def __init__(self, redis_url: str, lease_seconds: float = 30.0, key: str = REDIS_KEY) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(redis_url, socket_connect_timeout=5)
        self.key = key
        self.lease_ms = int(lease_seconds * 1000)
        self.me = instance_id()
        self.held = False

    async def try_acquire(self) -> bool:
        try:
            if self.held and await self.redis.eval(_RENEW, 1, self.key, self.me, self.lease_ms):
                return True
            self.held = bool(await self.redis.set(self.key, self.me, nx=True, px=self.lease_ms))
        except Exception as exc:  # noqa: BLE001 - Redis away: lead no more until it is back
            log.warning("leader lease: %s", type(exc).__name__)
            self.held = False
        return self.held

    async def release(self) -> None:
        try:
            if self.held:
                await self.redis.eval(_RELEASE, 1, self.key, self.me)
        finally:
            self.held = False
            await self.redis.aclose()


class PostgresAdvisoryLock:
    def __init__(self, database_url: str, lock_id: int = ADVISORY_LOCK_ID) -> None:
        self.dsn = _asyncpg_dsn(database_url)
        self.lock_id = lock_id
        self.conn: Any = None
        self.held = False

    async def try_acquire(self) -> bool:
        import asyncpg

        try:
            if self.conn is None or self.conn.is_closed():
                self.held = False
                self.conn = await asyncpg.connect(self.dsn, timeout=5)
            if self.held:
                await self.conn.execute("SELECT 1")  # the lock lives as long as this connection
                return True
            self.held = bool(await self.conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_id))
        except Exception as exc:  # noqa: BLE001 - connection lost: the lock went with it
            log.warning("leader lock: %s", type(exc).__name__)
            self.held = False
            if self.conn is not None and not self.conn.is_closed():
                self.conn.terminate()
            self.conn = None
        return self.held

    async def release(self) -> None:
        conn, self.conn, self.held = self.conn, None, False
        if conn is not None and not conn.is_closed():
            try:
                await conn.execute("SELECT pg_advisory_unlock_all()")
            finally:
                await conn.close()


def _asyncpg_dsn(url: str) -> str:
    from storage.db import _asyncpg_dsn as dsn

    return dsn(url)


def leadership_for(database_url: str, redis_url: str | None, lease_seconds: float = 30.0) -> Leadership:
    if redis_url:
        return RedisLease(redis_url, lease_seconds)
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://", "psycopg://")):
        return PostgresAdvisoryLock(database_url)
    return AlwaysLeader()


class Leader:
    """Keeps asking for the leadership every `interval` seconds; `is_leader` says the latest answer."""

    def __init__(self, leadership: Leadership, interval: float = 10.0) -> None:
        self.leadership = leadership
        self.interval = interval
        self.is_leader = False
        self._asked = False
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        was = self.is_leader
        self._asked = True
        self.is_leader = await self.leadership.try_acquire()
        if self.is_leader != was:
            log.info("scheduler leadership %s", "taken" if self.is_leader else "lost")
        return self.is_leader

    async def leading(self) -> bool:
        """Whether this instance leads, asking once when it never has."""
        if not self._asked:
            await self.check()
        return self.is_leader

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.is_leader = False
        await self.leadership.release()
