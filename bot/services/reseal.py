"""`python -m bot reseal`: every sealed value at rest sealed again with the newest data key.

After a new key is put first in DATA_KEY (bot.crypto), new seals use it but everything sealed before
still needs the old one. Resealing walks all that rests: every JSON column of the database (the
submissions' answers, the drafts of the database conversation state, anything else that holds a
{"enc": token}), the conversation state in Redis when REDIS_URL is set, and the registers waiting
for their import (sealed whole). A value already sealed with the newest key is left as it is, so a
second run reseals nothing.

It first opens every sealed value with the configured keys, and writes nothing when one of them
opens with none: dropping a key that is still needed would lose those numbers for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.crypto import SealedWithAnotherKey, Vault, data_keys, is_sealed, vault_for
from bot.services.register_import import pending_dir
from bot.settings import Settings
from storage import sealed as store

REDIS_PATTERN = "fsm:*"  # aiogram's RedisStorage keys (DefaultKeyBuilder's prefix)
REDIS_BATCH = 500


@dataclass
class Place:
    found: int = 0  # sealed values (a kept file counts one)
    resealed: int = 0
    unreadable: list[str] = field(default_factory=list)  # where, for the refusal


@dataclass
class Outcome:
    keys: int
    places: dict[str, Place] = field(default_factory=dict)

    @property
    def unreadable(self) -> list[str]:
        return [where for p in self.places.values() for where in p.unreadable]

    def place(self, name: str) -> Place:
        return self.places.setdefault(name, Place())


def _tokens(value: Any) -> list[str]:
    if is_sealed(value):
        return [value["enc"]]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tokens(v)]
    if isinstance(value, list):
        return [t for v in value for t in _tokens(v)]
    return []


def _resealed(value: Any, vault: Vault) -> Any:
    """The same JSON with every seal not made with the newest key sealed again with it."""
    if is_sealed(value):
        token = value["enc"].encode()
        return value if vault.is_current(token) else {"enc": vault.resealed(token).decode()}
    if isinstance(value, dict):
        return {k: _resealed(v, vault) for k, v in value.items()}
    if isinstance(value, list):
        return [_resealed(v, vault) for v in value]
    return value


def _survey(value: Any, vault: Vault, place: Place, where: str) -> None:
    for token in _tokens(value):
        place.found += 1
        try:
            vault.unseal_bytes(token.encode())
        except SealedWithAnotherKey:
            place.unreadable.append(where)


def _stale(value: Any, vault: Vault) -> int:
    return sum(not vault.is_current(t.encode()) for t in _tokens(value))


# -- where sealed values rest ---------------------------------------------------------------------


async def _database(vault: Vault, outcome: Outcome, write: bool) -> None:
    for model, column in store.json_columns():
        name = store.place(model, column)
        place = outcome.place(name)
        async for key, value in store.values(model, column):
            if not write:
                _survey(value, vault, place, f"{name} {key}")
                continue
            stale = _stale(value, vault)
            if stale and await store.rewrite(model, column, key, lambda v: _resealed(v, vault)):
                place.resealed += stale


async def _redis(url: str, vault: Vault, outcome: Outcome, write: bool) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import WatchError

    place = outcome.place("redis")
    client = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=REDIS_PATTERN, count=REDIS_BATCH):
            value = _json(await client.get(key)) if await client.type(key) == b"string" else None
            if not _tokens(value):
                continue
            if not write:
                _survey(value, vault, place, f"redis {key.decode('utf-8', 'replace')}")
                continue
            # Optimistic: a conversation that moved on meanwhile is read again.
            async with client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        value = _json(await pipe.get(key))
                        stale = _stale(value, vault)
                        if not stale:
                            break
                        pipe.multi()
                        pipe.set(key, json.dumps(_resealed(value, vault), ensure_ascii=False), keepttl=True)
                        await pipe.execute()
                        place.resealed += stale
                        break
                    except WatchError:
                        continue
    finally:
        await client.aclose()


def _json(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _files(folder: Path, vault: Vault, outcome: Outcome, write: bool) -> None:
    place = outcome.place("imports")
    for path in sorted(folder.glob("*.xlsx")) if folder.is_dir() else []:
        try:
            token = path.read_bytes()
        except FileNotFoundError:  # imported or cancelled meanwhile
            continue
        if not write:
            place.found += 1
            try:
                vault.unseal_bytes(token)
            except SealedWithAnotherKey:
                place.unreadable.append(f"file {path}")
        elif not vault.is_current(token):
            fresh = path.with_suffix(".resealing")
            fresh.write_bytes(vault.resealed(token))
            fresh.replace(path)  # whole or not at all; the token in the buttons still names it
            place.resealed += 1


async def reseal(settings: Settings) -> Outcome:
    """Checks every sealed value, then (only when every one opens) reseals the stale ones."""
    vault = vault_for(settings)
    outcome = Outcome(keys=len(data_keys(settings)))
    folder = pending_dir(settings)
    for write in (False, True):
        if write and outcome.unreadable:
            return outcome
        await _database(vault, outcome, write)
        if settings.redis_url:
            await _redis(settings.redis_url, vault, outcome, write)
        _files(folder, vault, outcome, write)
    return outcome
