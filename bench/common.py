"""What every part of the benchmark shares: settings, databases, counters, the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiogram.methods import TelegramMethod
from aiogram.types import Chat, InlineKeyboardMarkup, Message
from cryptography.fernet import Fernet
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from bot.local_session import BOT_USER, LocalBotApi
from bot.settings import Settings
from storage.db import create_scratch_database, drop_scratch_database, migrate, tortoise_config

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent

# The same services the tests use (tests/conftest.py), overridable the same way.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"
)
REDIS_URL = (
    os.environ.get("BENCH_REDIS_URL")
    or os.environ.get("REDIS_URL")
    or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
)
DATA_KEY = Fernet.generate_key().decode()


def make_settings(database_url: str, redis_url: str | None = None, **overrides: Any) -> Settings:
    """Settings from nothing but these arguments (a developer's .env or REDIS_URL must not leak in)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "staff_ids": frozenset(),
        "admin_ids": frozenset(),
        "data_key": DATA_KEY,
        "auto_migrate": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# -- numbers ------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("aiogram", "aiogram-dialog", "tortoise-orm", "pydantic", "redis", "asyncpg", "aiosqlite", "pyinstrument"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
        "packages": versions,
    }


# -- counting what one update does --------------------------------------------------------------


_SQL_VERBS = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "PRAGMA", "CREATE", "ALTER", "DROP", "BEGIN",
              "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "REPLACE"}


class SqlCounter(logging.Handler):
    """Counts the statements tortoise sends, from its "tortoise.db_client" DEBUG log.

    Every execute_query/execute_insert/execute_query_dict/execute_many/execute_script of every
    backend logs the statement there once before running it. BEGIN/COMMIT of a transaction are not
    logged by tortoise and so are not counted. Only active inside `counting()`: DEBUG records cost a
    few microseconds each, so the timed loops run without it.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_verb: Counter[str] = Counter()
        self.statements: list[str] = []
        self.keep_text = False

    def emit(self, record: logging.LogRecord) -> None:
        query = record.args[0] if record.args else record.msg
        if not isinstance(query, str):
            return
        verb = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
        if verb not in _SQL_VERBS:  # "Created connection ...", "Closed connection pool ..."
            return
        self.by_verb[verb] += 1
        if self.keep_text:
            self.statements.append(query)

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())

    def reset(self) -> None:
        self.by_verb.clear()
        self.statements.clear()

    @contextlib.contextmanager
    def counting(self, keep_text: bool = False) -> Iterator[SqlCounter]:
        logger = logging.getLogger("tortoise.db_client")
        old_level = logger.level
        self.keep_text = keep_text
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(old_level)
            self.keep_text = False


class ThreadCounter:
    """Counts asyncio.to_thread calls: aiogram runs every synchronous handler or filter that way."""

    def __init__(self) -> None:
        self.calls = 0
        self.callbacks: Counter[str] = Counter()

    @contextlib.contextmanager
    def counting(self) -> Iterator[ThreadCounter]:
        original = asyncio.to_thread

        async def to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            inner = getattr(func, "func", func)
            self.callbacks[getattr(inner, "__qualname__", repr(inner))[:80]] += 1
            return await original(func, *args, **kwargs)

        asyncio.to_thread = to_thread  # type: ignore[assignment]
        try:
            yield self
        finally:
            asyncio.to_thread = original  # type: ignore[assignment]


# -- the Bot API side ---------------------------------------------------------------------------


@dataclass
class BenchBotApi(LocalBotApi):
    """`LocalBotApi` that holds nothing per chat, so neither time nor memory grows with the run.

    The bot's calls are counted by method instead of kept; sent messages are not stored, and an
    edit of a message it does not hold answers as Telegram would for an existing message (the bot
    only edits its own last message). The driver keeps what it needs (the last message with
    buttons of each user) from `on_call`.
    """

    counts: Counter[str] = field(default_factory=Counter)

    async def answer(self, method: TelegramMethod[Any]) -> Any:
        result = await super().answer(method)
        self.calls.clear()
        self.messages.clear()
        self.counts[type(method).__name__] += 1
        return result

    def _bot_message(self, chat_id: int, **fields: Any) -> Message:
        return Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            **fields,
        )

    def _stored(self, chat_id: int | str | None, message_id: int | None, method: str) -> Message:
        return Message(
            message_id=int(message_id or 0),
            date=datetime.now(UTC),
            chat=Chat(id=int(chat_id or 0), type="private"),
            from_user=BOT_USER,
        )


def has_buttons(result: Any) -> bool:
    return isinstance(result, Message) and isinstance(result.reply_markup, InlineKeyboardMarkup)


# -- databases ----------------------------------------------------------------------------------


class SqliteTemplate:
    """Migrate one SQLite file once; each use gets a copy (the real migrations, fast)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="szjs-bench-"))
        self._template: Path | None = None

    async def fresh_url(self, name: str) -> str:
        if self._template is None:
            self._template = self.dir / "template.sqlite3"
            await migrate(f"sqlite://{self._template}")
        path = self.dir / f"{name}.sqlite3"
        shutil.copy(self._template, path)
        return f"sqlite://{path}"

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


SCRATCH_PREFIX = "szjs_bench_"


async def create_pg_database() -> str:
    """A fresh, migrated PostgreSQL database beside DATABASE_URL; returns its URL."""
    url = await create_scratch_database(DATABASE_URL, SCRATCH_PREFIX)
    await migrate(url)
    return url


async def drop_pg_database(url: str) -> None:
    await drop_scratch_database(DATABASE_URL, url, SCRATCH_PREFIX)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def pg_server_version() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(_asyncpg_dsn(DATABASE_URL), timeout=5)
    except Exception:  # noqa: BLE001 - reported as unavailable
        return None
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def dedicated_redis_url(db_index: int) -> str:
    """REDIS_URL with its database index replaced: the benchmark flushes that index."""
    parts = urlsplit(REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_index}", parts.query, parts.fragment))


async def flush_redis(url: str) -> str:
    """Empty the dedicated index; returns the server version."""
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.flushdb()
        info = await client.info("server")
        return str(info.get("redis_version", "?"))
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def orm(database_url: str) -> AsyncIterator[None]:
    """The ORM opened on `database_url` in a context of its own, closed afterwards."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        try:
            yield
        finally:
            await Tortoise.close_connections()


def add_import_paths() -> None:
    """The declaration inputs come from the flow tests: make tests/ and tests/flow importable."""
    for sub in ("tests/flow", "tests", ""):
        path = str(ROOT / sub) if sub else str(ROOT)
        if path not in sys.path:
            sys.path.insert(0, path)
