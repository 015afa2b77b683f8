"""Conversation state: the database storage (default) and Redis, both keyed with the dialog destiny.

The cross-process tests write state in one Python process and read it in a fresh one, which is what
"the draft survives a restart" rests on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from conftest import both_databases
from storage.fsm import DatabaseStorage

ROOT = Path(__file__).resolve().parents[2]
KEY = StorageKey(bot_id=1, chat_id=501, user_id=501, destiny="aiogd:stack")
OTHER_DESTINY = StorageKey(bot_id=1, chat_id=501, user_id=501, destiny="default")

# Runs in a child process: open the storage the application would open for these settings,
# then either write or read the key above.
CHILD = """
import asyncio, json, sys
from aiogram.fsm.storage.base import StorageKey
from bot.settings import Settings
from bot.wiring import build_storage
from storage import db

async def main(action):
    settings = Settings(_env_file=None)
    await db.init_db(settings.database_url, auto_migrate=False)
    storage, _ = build_storage(settings)
    key = StorageKey(bot_id=1, chat_id=501, user_id=501, destiny="aiogd:stack")
    if action == "write":
        await storage.set_state(key, "Declaration:unit_name")
        await storage.set_data(key, {"answers": {"unit_name": "深圳精密制造有限公司"}, "step": 3})
    else:
        print(json.dumps({"state": await storage.get_state(key), "data": await storage.get_data(key)}, ensure_ascii=False))
    await storage.close()
    await db.close_db()

asyncio.run(main(sys.argv[1]))
"""


def _child(action: str, env: dict[str, str]) -> str:
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, action], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _assert_state_crosses_processes(env: dict[str, str]) -> None:
    _child("write", env)
    seen = json.loads(_child("read", env))
    assert seen == {
        "state": "Declaration:unit_name",
        "data": {"answers": {"unit_name": "深圳精密制造有限公司"}, "step": 3},
    }


@both_databases
async def test_database_storage_keeps_state_and_data_apart_per_destiny(db: str) -> None:
    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}
    await storage.set_state(KEY, "Form:first")
    await storage.set_data(KEY, {"a": 1})
    await storage.set_state(KEY, "Form:second")  # changing the state keeps the data
    assert await storage.get_data(KEY) == {"a": 1}
    assert await storage.update_data(KEY, {"b": [1, "二"]}) == {"a": 1, "b": [1, "二"]}
    assert await storage.get_state(KEY) == "Form:second"
    assert await storage.get_state(OTHER_DESTINY) is None
    await storage.set_state(KEY, None)
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {"a": 1, "b": [1, "二"]}


@both_databases
async def test_database_state_written_by_one_process_is_read_by_a_new_one(database_url: str) -> None:
    _assert_state_crosses_processes({"DATABASE_URL": database_url})


async def test_redis_state_written_by_one_process_is_read_by_a_new_one(redis_url: str, database_url: str) -> None:
    _assert_state_crosses_processes({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
    # and it really lives in Redis, under a key that carries the destiny
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = {k.decode() for k in await client.keys("fsm:*")}
    finally:
        await client.aclose()
    assert "fsm:501:501:aiogd:stack:state" in keys


def test_redis_is_chosen_when_redis_url_is_set() -> None:
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.settings import Settings
    from bot.wiring import build_storage

    storage, _ = build_storage(Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0"))
    assert isinstance(storage, RedisStorage)
    assert storage.key_builder.with_destiny is True
    default, _ = build_storage(Settings(_env_file=None))
    assert isinstance(default, DatabaseStorage)





@both_databases
async def test_database_storage_copies_protect_what_is_stored_and_a_new_process_sees_every_write(db: str) -> None:
    storage = DatabaseStorage()
    await storage.set_data(KEY, {"answers": {"a": 1}})
    got = await storage.get_data(KEY)
    got["answers"]["a"] = 2  # a caller mutating what it read
    assert await storage.get_data(KEY) == {"answers": {"a": 1}}
    await storage.set_data(KEY, {"answers": {"a": 1}})  # unchanged: nothing to write
    await storage.set_state(KEY, "Form:x")
    fresh = DatabaseStorage()  # what another process (after a restart) would read
    assert await fresh.get_state(KEY) == "Form:x"
    assert await fresh.get_data(KEY) == {"answers": {"a": 1}}
