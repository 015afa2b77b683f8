"""Each Telegram update handled once, across every instance of the bot: claims on update ids.

Telegram may deliver one update more than once: a webhook request that timed out is retried, and
long polling hands out again every update whose offset was not confirmed (after a crash, a
restart). Before an update is handled it is claimed here by its `update_id`; a second delivery
of a claimed update is not handled again.

**The choice: an in-progress claim with a short lease, made final only when the update was
handled.** A claim is first written as "being handled, until <lease>" and renewed while the
handler runs (every third of the lease). Then:

- handled (the step's writes committed, replies sent): the claim becomes final ("handled") and
  stays for `KEEP` (24 hours), after which it is purged; a redelivery within that time is dropped;
- the handler raised: the claim is removed at once, so a redelivery is handled again;
- the process died (kill -9, power loss) while handling: nobody renews the lease, and once it has
  run out (`lease` seconds, 10 by default, after the last renewal) the next delivery takes the
  claim over and is handled. No answer is lost; the redelivery waits for the lease first;
- a second delivery arriving while the first is being handled (two instances, a webhook retry)
  waits, polling the claim, until the first is handled (then it is dropped), failed (then it is
  handled) or its lease ran out (then it takes over).

**The window.** Between the last write of the handled update (its step's commit, its replies) and
the claim becoming final there is one round trip to the database or Redis. A process killed in
exactly that window has done the work but not said so: the redelivered update is handled again
(at least once, never lost). Likewise a process frozen for longer than the lease (no renewal)
while a duplicate arrives lets the duplicate take over. Nothing else is handled twice.

With Redis (REDIS_URL) a claim is a key set with NX and an expiry (the lease, then `KEEP`); with
the database it is a row of `update_claim` (`UpdateClaim`): `lease_until` set while handled,
NULL once handled.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Protocol

KEEP = timedelta(hours=24)
LEASE_SECONDS = 10.0
# How often a waiting duplicate looks at the claim again (seconds).
POLL_SECONDS = 0.05
# Expired claims are purged at most this often per process (seconds), by the claim that comes due.
PURGE_EVERY = 600.0

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Claim(Enum):
    MINE = "mine"  # handle it
    HANDLED = "handled"  # already handled: drop it
    BUSY = "busy"  # being handled elsewhere, lease still running: wait and ask again


class UpdateClaims(Protocol):
    lease: float

    async def claim(self, update_id: int) -> Claim: ...

    async def renew(self, update_id: int) -> None: ...

    async def handled(self, update_id: int) -> None: ...

    async def release(self, update_id: int) -> None: ...


async def claim_or_wait(claims: UpdateClaims, update_id: int) -> bool:
    """True: this caller handles the update (and must call `handled` or `release`); False: it was
    handled already. A claim held by a live handler elsewhere is waited for."""
    delay = POLL_SECONDS
    while True:
        outcome = await claims.claim(update_id)
        if outcome is Claim.MINE:
            return True
        if outcome is Claim.HANDLED:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


# -- the database -------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    # SQLite compares timestamps as text: always the same shape, always UTC.
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")


# A new claim, or the take-over of one whose lease ran out; nothing when it is handled or leased.
_SQLITE_CLAIM = (
    'INSERT INTO "update_claim" ("update_id", "claimed_at", "lease_until") VALUES (?, ?, ?) '
    'ON CONFLICT ("update_id") DO UPDATE SET "claimed_at" = excluded."claimed_at", '
    '"lease_until" = excluded."lease_until" '
    'WHERE "update_claim"."lease_until" IS NOT NULL AND "update_claim"."lease_until" < excluded."claimed_at" '
    "RETURNING 1"
)
# PostgreSQL: a claim's transaction does not wait for the disk at commit (as a step's, see
# storage.step): a claim lost with the server means at most that a redelivery is handled again.
_PG_NO_WAIT = "WITH cfg AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
_PG_CLAIM = (
    _PG_NO_WAIT
    + 'INSERT INTO "update_claim" ("update_id", "claimed_at", "lease_until") SELECT $1, $2, $3 FROM cfg '
    'ON CONFLICT ("update_id") DO UPDATE SET "claimed_at" = excluded."claimed_at", '
    '"lease_until" = excluded."lease_until" '
    'WHERE "update_claim"."lease_until" IS NOT NULL AND "update_claim"."lease_until" < excluded."claimed_at" '
    "RETURNING 1"
)


class DatabaseClaims:
    """Claims as rows of `update_claim`, through the models' connection."""

    def __init__(self, lease: float = LEASE_SECONDS, now: Now = utc_now) -> None:
        self.lease = lease
        self.now = now
        self._purged_at: float | None = None

    @staticmethod
    def _db() -> Any:
        from storage.models import UpdateClaim

        return UpdateClaim._meta.db

    def _params(self, values: list[Any], db: Any) -> list[Any]:
        if db.capabilities.dialect == "postgres":
            return values
        return [_stamp(v) if isinstance(v, datetime) else v for v in values]

    def _sql(self, db: Any, sqlite: str) -> str:
        if db.capabilities.dialect != "postgres":
            return sqlite
        parts = sqlite.split("?")
        return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))

    async def claim(self, update_id: int) -> Claim:
        db = self._db()
        now = self.now()
        await self._purge_now_and_then(db, now)
        sql = _PG_CLAIM if db.capabilities.dialect == "postgres" else _SQLITE_CLAIM
        # execute_query_dict: it reads the RETURNING rows on both dialects.
        rows = await db.execute_query_dict(sql, self._params([update_id, now, now + timedelta(seconds=self.lease)], db))
        if rows:
            return Claim.MINE
        _, rows = await db.execute_query(
            self._sql(db, 'SELECT "lease_until" FROM "update_claim" WHERE "update_id" = ?'), [update_id]
        )
        if not rows:  # released between the two statements: ask again
            return Claim.BUSY
        return Claim.HANDLED if rows[0][0] is None else Claim.BUSY

    async def renew(self, update_id: int) -> None:
        db = self._db()
        until = self.now() + timedelta(seconds=self.lease)
        await db.execute_query(
            self._sql(db, 'UPDATE "update_claim" SET "lease_until" = ? WHERE "update_id" = ? AND "lease_until" IS NOT NULL'),
            self._params([until, update_id], db),
        )

    async def handled(self, update_id: int) -> None:
        db = self._db()
        if db.capabilities.dialect == "postgres":
            sql = _PG_NO_WAIT + 'UPDATE "update_claim" SET "lease_until" = NULL FROM cfg WHERE "update_id" = $1'
        else:
            sql = 'UPDATE "update_claim" SET "lease_until" = NULL WHERE "update_id" = ?'
        await db.execute_query(sql, [update_id])

    async def release(self, update_id: int) -> None:
        db = self._db()
        await db.execute_query(
            self._sql(db, 'DELETE FROM "update_claim" WHERE "update_id" = ? AND "lease_until" IS NOT NULL'),
            [update_id],
        )

    async def purge(self, now: datetime | None = None) -> int:
        """Forget handled claims older than `KEEP` (and in-progress ones abandoned that long ago)."""
        db = self._db()
        before = (now or self.now()) - KEEP
        count, _ = await db.execute_query(
            self._sql(db, 'DELETE FROM "update_claim" WHERE "claimed_at" < ?'), self._params([before], db)
        )
        return int(count or 0)

    async def _purge_now_and_then(self, db: Any, now: datetime) -> None:
        tick = time.monotonic()
        if self._purged_at is not None and tick - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = tick
        await self.purge(now)


# -- Redis --------------------------------------------------------------------------------------

_HANDLED = "handled"
# Renew or release only a claim this process still holds (its token), not one taken over since.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisClaims:
    """Claims as Redis keys: `SET NX PX <lease>` with this claim's token, then "handled" for `KEEP`.
    An abandoned claim simply expires with its lease."""

    def __init__(self, redis_url: str, lease: float = LEASE_SECONDS, prefix: str = "update_claim") -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(redis_url, decode_responses=True)
        self.lease = lease
        self.prefix = prefix
        self.tokens: dict[int, str] = {}
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    def _key(self, update_id: int) -> str:
        return f"{self.prefix}:{update_id}"

    async def claim(self, update_id: int) -> Claim:
        token = uuid.uuid4().hex
        if await self.redis.set(self._key(update_id), token, nx=True, px=int(self.lease * 1000)):
            self.tokens[update_id] = token
            return Claim.MINE
        value = await self.redis.get(self._key(update_id))
        return Claim.HANDLED if value == _HANDLED else Claim.BUSY

    async def renew(self, update_id: int) -> None:
        token = self.tokens.get(update_id)
        if token is not None:
            await self._renew(keys=[self._key(update_id)], args=[token, int(self.lease * 1000)])

    async def handled(self, update_id: int) -> None:
        self.tokens.pop(update_id, None)
        await self.redis.set(self._key(update_id), _HANDLED, ex=int(KEEP.total_seconds()))

    async def release(self, update_id: int) -> None:
        token = self.tokens.pop(update_id, None)
        if token is not None:
            await self._release(keys=[self._key(update_id)], args=[token])

    async def close(self) -> None:
        await self.redis.aclose()
