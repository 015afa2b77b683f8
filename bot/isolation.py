"""Per-user event isolation: in process, a lock forgotten once nobody holds or waits for it; across
instances (Redis), a lock held as a renewed lease, so a crashed process does not hold it for long.

aiogram's `SimpleEventIsolation` keeps one `asyncio.Lock` per storage key in a defaultdict and
never removes one: a lock per key ever seen (two per person with aiogram-dialog), for the life of
the process. This one counts who holds or waits for each key's lock and drops the entry when that
count returns to zero; a later update of the same person simply creates a new lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Hashable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiogram.fsm.storage.base import BaseEventIsolation, KeyBuilder, StorageKey

if TYPE_CHECKING:  # redis is imported only where it is used (REDIS_URL set): a faster start without
    from redis.asyncio.lock import Lock

log = logging.getLogger(__name__)


class ReleasingEventIsolation(BaseEventIsolation):
    def __init__(self) -> None:
        # key -> [its lock, how many tasks hold it or wait for it]
        self._locks: dict[Hashable, list] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            # `close()` at shutdown may have dropped the entry while it was held.
            if entry[1] == 0 and self._locks.get(key) is entry:
                del self._locks[key]

    def held(self) -> int:
        """Keys with a lock held or awaited right now."""
        return len(self._locks)

    async def close(self) -> None:
        self._locks.clear()


class LeasedRedisIsolation(BaseEventIsolation):
    """The person's lock across instances, in Redis, held as a lease renewed while the update is handled.

    aiogram's `RedisEventIsolation` holds the lock for a fixed 60 s: a process killed (kill -9, power
    loss) while handling someone's update leaves their lock held that long, and everything they send
    meanwhile waits. Here the lock expires `lease` seconds after its last renewal (every third of the
    lease while the handler runs), so after a crash the person's next update waits at most `lease`.
    """

    def __init__(self, redis: Any, key_builder: KeyBuilder, lease: float) -> None:
        self.redis = redis
        self.key_builder = key_builder
        self.lease = lease

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        from redis.asyncio.lock import Lock

        held = self.redis.lock(name=self.key_builder.build(key, "lock"), timeout=self.lease, lock_class=Lock)
        async with held:
            renewal = asyncio.create_task(self._renew(held))
            try:
                yield
            finally:
                renewal.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewal

    async def _renew(self, held: Lock) -> None:
        from redis.exceptions import LockError

        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await held.reacquire()
            except LockError:
                log.warning("a person's lock ran out while their update was handled (frozen longer than %ss)",
                            self.lease)
                return

    async def close(self) -> None:
        pass
