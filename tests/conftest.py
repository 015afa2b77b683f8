"""Shared fixtures: real databases (SQLite, PostgreSQL), real Redis, and the in-process bot.

PostgreSQL and Redis are named by TEST_DATABASE_URL and TEST_REDIS_URL. When one is unreachable,
a test that needs it is skipped with the reason, except under CI=true, where it fails: CI must
prove the code against both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from storage.db import create_scratch_database, drop_scratch_database, migrate, tortoise_config

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_unavailable(what: str, url: str, error: BaseException) -> None:
    reason = f"{what} at {url} unreachable: {type(error).__name__}: {error}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not be skipped)")
    pytest.skip(reason)


# -- PostgreSQL ---------------------------------------------------------------------------------


SCRATCH_PREFIX = "szjs_test_"


async def create_pg_database() -> str:
    """A fresh, empty PostgreSQL database beside TEST_DATABASE_URL; returns its URL."""
    try:
        return await create_scratch_database(TEST_DATABASE_URL, SCRATCH_PREFIX)
    except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - any failure to connect
        service_unavailable("PostgreSQL", TEST_DATABASE_URL, exc)
        raise


async def drop_pg_database(url: str) -> None:
    await drop_scratch_database(TEST_DATABASE_URL, url, SCRATCH_PREFIX)


# -- the database under test --------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file once; each test gets a copy (fast, and still the real migrations)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    asyncio.run(migrate(f"sqlite://{path}"))
    return path


@pytest_asyncio.fixture
async def database_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh migrated database: SQLite by default, PostgreSQL when parametrised."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        path = tmp_path / "bot.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite://{path}"
        return
    url = await create_pg_database()
    try:
        await migrate(url)
        yield url
    finally:
        await drop_pg_database(url)


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """The ORM opened on a fresh database for this test."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        yield database_url
        await Tortoise.close_connections()


both_databases = pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


# -- Redis --------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def redis_url() -> AsyncIterator[str]:
    """A Redis database emptied before and after the test."""
    from redis.asyncio import Redis

    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it
        await client.aclose()
        service_unavailable("Redis", TEST_REDIS_URL, exc)
    await client.flushdb()
    try:
        yield TEST_REDIS_URL
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings come only from what the test sets: no developer .env, no leaked variables."""
    for name in ("BOT_TOKEN", "REDIS_URL", "STAFF_IDS", "ADMIN_IDS", "WEBHOOK_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
