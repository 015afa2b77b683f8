"""Per-user event isolation that forgets a user's lock once nobody holds or waits for it.

aiogram's `SimpleEventIsolation` keeps one `asyncio.Lock` per storage key in a defaultdict and
never removes one: a lock per key ever seen (two per person with aiogram-dialog), for the life of
the process. This one counts who holds or waits for each key's lock and drops the entry when that
count returns to zero; a later update of the same person simply creates a new lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Hashable
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey


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
