"""Database configuration, start-up and migrations."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as run_migrations

log = logging.getLogger(__name__)

MODELS_MODULE = "storage.models"
MIGRATIONS_MODULE = "storage.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    # The connection is named after the dialect: tortoise caches prepared INSERT statements by
    # connection name, so a process that opens SQLite and then PostgreSQL (the test suite) would
    # otherwise reuse SQLite's placeholders on PostgreSQL.
    connection = database_url.split(":", 1)[0]
    return {
        "connections": {connection: _connection_config(database_url)},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": connection,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# SQLite: the write-ahead log, and no fsync at each commit (only at checkpoints). A committed step
# survives a crash of the process; a power loss or an OS crash may lose the last transactions,
# never corrupt the file. Tortoise applies these to every connection it opens (the app's, the
# migrations', a transaction's, which reuses the app's). A URL that names a pragma keeps its value.
SQLITE_PRAGMAS: dict[str, Any] = {"journal_mode": "WAL", "synchronous": "NORMAL"}


def _connection_config(database_url: str) -> str | dict[str, Any]:
    if not database_url.startswith("sqlite://"):
        return database_url
    config = expand_db_url(database_url)
    for pragma, value in SQLITE_PRAGMAS.items():
        config["credentials"].setdefault(pragma, value)
    return config


def ensure_sqlite_folder(database_url: str) -> None:
    """`sqlite://data/bot.sqlite3` must just work on a fresh clone: create its folder."""
    if not database_url.startswith("sqlite://"):
        return
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def migrate(database_url: str) -> None:
    """Apply every pending migration (creates the SQLite file if missing)."""
    ensure_sqlite_folder(database_url)
    # A context of its own: the migration API re-initialises the ORM, which must not disturb a
    # context the caller already has open.
    async with TortoiseContext():
        try:
            await run_migrations(config=tortoise_config(database_url))
        finally:
            # An open aiosqlite thread would keep the process alive after the work is done.
            await Tortoise.close_connections()
    log.info("database migrated")


async def init_db(database_url: str, *, auto_migrate: bool = True) -> None:
    """Open the ORM in the current task's context; call before starting the scheduler."""
    if auto_migrate:
        await migrate(database_url)
    ensure_sqlite_folder(database_url)
    await Tortoise.init(config=tortoise_config(database_url))


async def close_db() -> None:
    await Tortoise.close_connections()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def create_scratch_database(server_url: str, prefix: str) -> str:
    """Create an empty PostgreSQL database named `<prefix><random>` on the server of
    `server_url` and return its URL (tests and the benchmark each work in their own)."""
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(server_url), timeout=5)
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


async def drop_scratch_database(server_url: str, url: str, prefix: str) -> None:
    """Drop a database made by `create_scratch_database`, and nothing else."""
    import asyncpg

    name = url.rsplit("/", 1)[1]
    if not name.startswith(prefix):
        raise ValueError(f"refusing to drop {name!r}: not a scratch database")
    conn = await asyncpg.connect(_asyncpg_dsn(server_url), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
