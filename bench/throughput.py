"""Update throughput: a bare aiogram echo bot against one step of the declaration.

Every update is fed with `dp.feed_update` (the path polling and the webhook take), one at a time,
through `LocalSession` (no network); each `feed_update` is timed on its own. Updates/s is the
number of updates over the sum of their times, so building the update objects and checking the
answers (the driver's work) is not counted.

The declaration step: `users` users (200 by default) are each taken to the "unit name" question
with /declare (untimed), then served round-robin. Each user alternates two real steps:

* text: types a unit name - validated, saved in the draft (`submission.answers`), the old
  keyboard removed and the next question (统一社会信用代码, 第2/8题) sent;
* back: presses 返回 on that question - the previous question is shown again with its current
  answer (an edit of the same message), the position saved in the draft.

So every timed update is a full step through the Dispatcher, the outer middleware, aiogram-dialog
and the form engine; p50/p99 are also reported for text steps alone. After each step the driver
checks that the expected question came back, so an error path is never measured.

The echo bot is measured in the same run, interleaved with the variant in rounds (echo chunk,
variant chunk, then variant first in the next round, ...): the ratio compares two numbers taken
under the same machine load.

Before timing, a census of 100 untimed steps counts what one step does: SQL statements (by verb),
Redis commands, Bot API calls and asyncio.to_thread calls (aiogram runs synchronous handlers and
filters in a thread).

Variants: sqlite, postgres, redis (the issue's three), each step written in one transaction at the
end of the update (storage.step), SQLite in WAL mode with synchronous=NORMAL; sqlite-before and
postgres-before, the same without the step (every write at once, SQLite with synchronous=FULL), as
the code was before; redis-pg on request; and `floor`, a diagnostic: MemoryStorage, the outer middleware without its query and the draft's
answers kept in memory, i.e. what a step costs when no database round trip is left on the hot path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message, Update, User

from bench.common import (
    ROOT,
    BenchBotApi,
    SqlCounter,
    SqliteTemplate,
    ThreadCounter,
    create_pg_database,
    dedicated_redis_url,
    drop_pg_database,
    flush_redis,
    has_buttons,
    make_settings,
    orm,
    percentile,
)
from bot.i18n import normalise_language
from bot.services import staff
from bot.local_session import LocalSession
from bot.client import build_bot
from bot.wiring import build_dispatcher

FIRST_QUESTION = re.compile(r"第1/\d+题")
SECOND_QUESTION = re.compile(r"第2/\d+题")
UNIT_NAMES = ("深圳精密制造有限公司", "深圳市南山精工科技有限公司", "鹏城智能装备股份有限公司", "前海模具技术有限公司")


class BenchError(RuntimeError):
    """The bot did not answer as a declaration step should: the numbers would be meaningless."""


@dataclass
class Samples:
    """Latencies in seconds, by kind of step."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float) -> None:
        self.by_kind.setdefault(kind, []).append(seconds)

    def all(self) -> list[float]:
        return [s for values in self.by_kind.values() for s in values]


def summarise(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    total = sum(ordered)
    return {
        "updates": len(ordered),
        "seconds": round(total, 4),
        "updates_per_s": round(len(ordered) / total, 1) if total else None,
        "mean_ms": round(1000 * total / len(ordered), 3) if ordered else None,
        "p50_ms": round(1000 * percentile(ordered, 50), 3),
        "p90_ms": round(1000 * percentile(ordered, 90), 3),
        "p99_ms": round(1000 * percentile(ordered, 99), 3),
        "max_ms": round(1000 * ordered[-1], 3) if ordered else None,
    }


def make_users(base: int, n: int) -> list[User]:
    return [User(id=base + i, is_bot=False, first_name=f"技师{i}", language_code="zh-hans") for i in range(n)]


# -- the echo bot -------------------------------------------------------------------------------


def build_echo_dispatcher() -> Dispatcher:
    """The baseline: one router, one message handler behind an async filter, answering the text."""

    async def has_text(message: Message) -> bool:
        return message.text is not None

    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    router = Router(name="echo")
    router.message.register(echo, has_text)
    dp = Dispatcher()
    dp.include_router(router)
    return dp


class EchoBench:
    name = "echo"

    def __init__(self, users: int) -> None:
        self.api = BenchBotApi()
        self.bot = build_bot(make_settings("sqlite://:memory:"), LocalSession(self.api))
        self.dp = build_echo_dispatcher()
        self.users = make_users(7_100_000, users)
        self.seq = 0
        self.samples = Samples()

    def next_update(self) -> tuple[str, Update]:
        user = self.users[self.seq % len(self.users)]
        self.seq += 1
        return "text", self.api.user_message(user, f"{UNIT_NAMES[self.seq % 4]}{self.seq}")

    async def run(self, n: int, record: bool = True) -> None:
        feed = self.dp.feed_update
        bot = self.bot
        for _ in range(n):
            kind, update = self.next_update()
            before = self.api.counts["SendMessage"]
            start = time.perf_counter()
            await feed(bot, update)
            elapsed = time.perf_counter() - start
            if self.api.counts["SendMessage"] != before + 1:
                raise BenchError("the echo bot did not answer")
            if record:
                self.samples.add(kind, elapsed)

    async def close(self) -> None:
        await self.dp.storage.close()
        await self.bot.session.close()


# -- one step of the declaration ----------------------------------------------------------------


class FormBench:
    """Users at the unit-name question, each alternating a typed answer and 返回 (see module doc)."""

    def __init__(self, name: str, settings: Any, users: int, storage: BaseStorage | None = None) -> None:
        self.name = name
        self.api = BenchBotApi()
        self.bot: Bot = build_bot(settings, LocalSession(self.api, on_call=self._on_call))
        self.dp: Dispatcher = build_dispatcher(settings, storage=storage)
        self.users = make_users(7_200_000, users)
        self.visits = [0] * users
        self.seq = 0
        self.buttons_message: dict[int, Message] = {}
        self.last_text: dict[int, str] = {}
        self.samples = Samples()

    def _on_call(self, method: Any, result: Any) -> None:
        if has_buttons(result):
            self.buttons_message[result.chat.id] = result
        text = getattr(method, "text", None)
        if text and getattr(method, "chat_id", None) is not None:  # not a callback's toast
            self.last_text[int(method.chat_id)] = text

    def _check(self, user: User, pattern: re.Pattern[str], what: str) -> None:
        text = self.last_text.get(user.id, "")
        if not pattern.search(text):
            raise BenchError(f"{self.name}: after {what}, user {user.id} read {text[:200]!r}")

    async def prepare(self) -> None:
        """Untimed: every user opens the declaration and sits at its first question."""
        for user in self.users:
            await self.dp.feed_update(self.bot, self.api.user_message(user, "/declare"))
            self._check(user, FIRST_QUESTION, "/declare")

    def next_update(self, index: int | None = None) -> tuple[str, User, Update]:
        """The next step of the round-robin, or of user `index`."""
        if index is None:
            index = self.seq % len(self.users)
        self.seq += 1
        user = self.users[index]
        visit = self.visits[index]
        self.visits[index] += 1
        if visit % 2 == 0:
            return "text", user, self.api.user_message(user, f"{UNIT_NAMES[visit // 2 % 4]}{self.seq}")
        message = self.buttons_message[user.id]
        assert message.reply_markup is not None
        data = next(
            b.callback_data
            for row in message.reply_markup.inline_keyboard
            for b in row
            if b.callback_data and b.callback_data.endswith(("|back", ":back"))  # "…:<screen version>|back"
        )
        return "back", user, self.api.button_press(user, message, data)

    async def run(self, n: int, record: bool = True, index: int | None = None) -> None:
        feed = self.dp.feed_update
        bot = self.bot
        for _ in range(n):
            kind, user, update = self.next_update(index)
            start = time.perf_counter()
            await feed(bot, update)
            elapsed = time.perf_counter() - start
            self._check(user, SECOND_QUESTION if kind == "text" else FIRST_QUESTION, kind)
            if record:
                self.samples.add(kind, elapsed)

    async def census(self, steps: int) -> dict[str, Any]:
        """Untimed: what one step does - SQL, Redis, Bot API calls, threads - per kind of step and "all"."""
        sql = SqlCounter()
        threads = ThreadCounter()
        redis = RedisCounter()
        out: dict[str, Any] = {}
        per_kind: dict[str, Counter[str]] = {}
        # Users in turn, two steps each (a typed answer and 返回, in the order their alternation is
        # at): both kinds are seen, and each user is left at the same point of its alternation.
        for i in range(steps):
            index = (i // 2) % len(self.users)
            kind = "text" if self.visits[index] % 2 == 0 else "back"
            api_before = Counter(self.api.counts)
            threads_before = threads.calls
            sql.reset()
            redis.commands.clear()
            with sql.counting(), threads.counting(), redis.counting():
                await self.run(1, record=False, index=index)
            totals = per_kind.setdefault(kind, Counter())
            totals["steps"] += 1
            totals["sql"] += sql.total
            for verb, count in sql.by_verb.items():
                totals[f"sql_{verb.lower()}"] += count
            totals["threads"] += threads.calls - threads_before
            if redis.commands:
                totals["redis"] += sum(redis.commands.values())
                for command, count in redis.commands.items():
                    totals[f"redis_{command.lower()}"] += count
            for method, count in (Counter(self.api.counts) - api_before).items():
                totals[f"api_{method}"] += count
        overall: Counter[str] = Counter()
        for totals in per_kind.values():
            overall.update(totals)
        per_kind["all"] = overall
        for kind, totals in per_kind.items():
            n = totals.pop("steps")
            out[kind] = {key: round(value / n, 2) for key, value in sorted(totals.items())}
        if threads.callbacks:
            out["to_thread_callbacks"] = dict(threads.callbacks.most_common(5))
        return out

    async def close(self) -> None:
        await self.dp.storage.close()
        await self.bot.session.close()


# -- the variants -------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    description: str
    database: str  # "sqlite" | "postgres"
    redis: bool = False
    floor: bool = False  # diagnostic: no database on the hot path
    targets: bool = True  # whether the targets apply
    before: bool = False  # as before one transaction per step: a write per statement, SQLite fsyncs each


VARIANTS = {
    "sqlite": Variant("sqlite", "DatabaseStorage on SQLite (temp file)", "sqlite"),
    "postgres": Variant("postgres", "DatabaseStorage on PostgreSQL (fresh database)", "postgres"),
    "redis": Variant("redis", "RedisStorage + RedisEventIsolation; ORM on SQLite", "sqlite", redis=True),
    "redis-pg": Variant("redis-pg", "RedisStorage + RedisEventIsolation; ORM on PostgreSQL", "postgres", redis=True),
    "sqlite-before": Variant(
        "sqlite-before", "as before: DatabaseStorage on SQLite, synchronous=FULL, each write at once", "sqlite",
        targets=False, before=True,
    ),
    "postgres-before": Variant(
        "postgres-before", "as before: DatabaseStorage on PostgreSQL, each write at once (and its commit)", "postgres",
        targets=False, before=True,
    ),
    "floor": Variant(
        "floor",
        "diagnostic: MemoryStorage, no query in the middleware, draft answers in memory (no DB on the hot path)",
        "sqlite",
        floor=True,
        targets=False,
    ),
}
DEFAULT_VARIANTS = ("sqlite-before", "sqlite", "postgres-before", "postgres", "redis", "floor")


class NoDatabaseUserContext(BaseMiddleware):
    """For `floor`: what handlers.middlewares.UserContextMiddleware puts in the data, without a query.

    The language comes from Telegram's language_code, the role from the configured ids only.
    """

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        data["lang"] = normalise_language(user.language_code)
        data["is_admin"] = staff.is_admin(self.settings, user.id)
        data["is_staff"] = staff.is_configured_staff(self.settings, user.id)
        data["settings"] = self.settings
        return await handler(event, data)


def replace_user_context_middleware(dp: Dispatcher, settings: Any) -> None:
    """Swap the application's outer middleware for `NoDatabaseUserContext`, in the same place."""
    from handlers.middlewares import UserContextMiddleware

    manager = dp.update.outer_middleware
    index = next(i for i, m in enumerate(manager) if isinstance(m, UserContextMiddleware))
    manager._middlewares[index] = NoDatabaseUserContext(settings)  # type: ignore[attr-defined]


def remove_step_middleware(dp: Dispatcher) -> None:
    """For the `-before` variants: no step, so every write goes to the database at once."""
    from bot.wiring import StepMiddleware

    manager = dp.update.outer_middleware
    manager._middlewares[:] = [m for m in manager if not isinstance(m, StepMiddleware)]  # type: ignore[attr-defined]


@contextlib.contextmanager
def no_database_on_the_hot_path() -> Iterator[None]:
    """For `floor`: the draft's answers (submissions.load_answers/save_answers) kept in memory.

    Together with MemoryStorage and `NoDatabaseUserContext` nothing is left of the database on
    the hot path; what remains is aiogram, aiogram-dialog, the form engine and the fake Bot API -
    what a step costs if every database round trip were free, the upper bound of any storage
    optimisation. /declare itself (draft_of, start_draft) still uses the database, only while
    preparing.
    """
    from storage import submissions
    from storage.models import SubmissionStatus

    real_load, real_save = submissions.load_answers, submissions.save_answers  # AttributeError: renamed
    drafts: dict[int, dict[str, Any]] = {}

    async def load_answers(submission_id: int, user_id: int) -> Any:
        if submission_id not in drafts:
            loaded = await real_load(submission_id, user_id)
            if loaded is None:
                return None
            drafts[submission_id] = loaded[1]
        return SubmissionStatus.DRAFT, json.loads(json.dumps(drafts[submission_id]))

    async def save_answers(submission_id: int, user_id: int, answers: dict[str, Any]) -> bool:
        drafts[submission_id] = json.loads(json.dumps(answers))
        return True

    submissions.load_answers, submissions.save_answers = load_answers, save_answers
    try:
        yield
    finally:
        submissions.load_answers, submissions.save_answers = real_load, real_save


class RedisCounter:
    """Counts Redis commands (the lock scripts included) while active."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()

    @contextlib.contextmanager
    def counting(self) -> Iterator[RedisCounter]:
        from redis.asyncio.client import Redis

        original = Redis.execute_command
        counter = self.commands

        async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
            counter[str(args[0]).upper() if args else "?"] += 1
            return await original(self, *args, **options)

        Redis.execute_command = execute_command  # type: ignore[method-assign]
        try:
            yield self
        finally:
            Redis.execute_command = original  # type: ignore[method-assign]


async def with_variant(
    variant: Variant,
    template: SqliteTemplate,
    users: int,
    body: Callable[[FormBench], Awaitable[Any]],
    redis_db: int = 15,
) -> Any:
    """Set up the variant's databases, build its bot, prepare the users, run `body`, tear down."""
    pg_url = None
    redis_url = dedicated_redis_url(redis_db) if variant.redis else None
    if redis_url:
        await flush_redis(redis_url)
    try:
        if variant.database == "postgres":
            pg_url = await create_pg_database()
            database_url = pg_url
        else:
            database_url = await template.fresh_url(f"throughput-{variant.name}")
            if variant.before:
                database_url += "?synchronous=FULL"
        async with orm(database_url):
            storage = MemoryStorage() if variant.floor else None
            # Flood control counts every update as in production, with a budget a script at
            # machine speed never reaches (each user steps many times a second here).
            settings = make_settings(database_url, redis_url, throttle_rate="100000/second", throttle_burst=100000)
            bench = FormBench(variant.name, settings, users, storage)
            if variant.floor:
                replace_user_context_middleware(bench.dp, settings)
            if variant.before:
                remove_step_middleware(bench.dp)
            hot_path = no_database_on_the_hot_path() if variant.floor else contextlib.nullcontext()
            try:
                with hot_path:
                    await bench.prepare()
                    return await body(bench)
            finally:
                await bench.close()
    finally:
        if pg_url:
            await drop_pg_database(pg_url)
        if redis_url:
            await flush_redis(redis_url)


async def measure_variant(
    variant: Variant, template: SqliteTemplate, updates: int, users: int, rounds: int, redis_db: int
) -> dict[str, Any]:
    async def body(bench: FormBench) -> dict[str, Any]:
        echo = EchoBench(users)
        try:
            # Warm both up (imports, caches, the first statements of each kind) and look at one step.
            # Every user takes one step first: the census then sees the steady state, not the
            # first step after /declare (caches of the application fill there).
            await bench.run(users, record=False)
            census = await bench.census(2 * min(users, 50))
            await echo.run(200, record=False)
            gc.collect()
            base, extra = divmod(updates, rounds)
            for r in range(rounds):
                n = base + (1 if r < extra else 0)
                order = (echo, bench) if r % 2 == 0 else (bench, echo)
                for runner in order:
                    await runner.run(n)
            echo_summary = summarise(echo.samples.all())
        finally:
            await echo.close()
        summary = summarise(bench.samples.all())
        result = {
            "variant": variant.name,
            "description": variant.description,
            **summary,
            "text_step": summarise(bench.samples.by_kind.get("text", [])),
            "back_step": summarise(bench.samples.by_kind.get("back", [])),
            "echo": echo_summary,
            "ratio_to_echo": round(summary["updates_per_s"] / echo_summary["updates_per_s"], 4),
            "per_step": census,
            "users": users,
            "rounds": rounds,
        }
        return result

    return await with_variant(variant, template, users, body, redis_db)


async def profile_variant(
    variant: Variant, template: SqliteTemplate, updates: int, users: int, redis_db: int, html_path: str
) -> dict[str, Any]:
    """pyinstrument over `updates` steps of the variant (after a warm-up); writes the HTML report."""
    from pyinstrument import Profiler, processors
    from pyinstrument.renderers import HTMLRenderer

    async def body(bench: FormBench) -> dict[str, Any]:
        await bench.run(200, record=False)
        profiler = Profiler(interval=0.001, async_mode="enabled")
        profiler.start()
        await bench.run(updates, record=True)
        profiler.stop()
        session = profiler.last_session
        # Repeated calls merged and nodes under 0.1% dropped: a page of a few hundred KB, not 30 MB.
        renderer = HTMLRenderer()
        renderer.preprocessors = [processors.remove_importlib, processors.aggregate_repeated_calls,
                                  processors.remove_irrelevant_nodes]
        renderer.preprocessor_options = {"filter_threshold": 0.001}
        Path(html_path).write_text(profiler.output(renderer), encoding="utf-8")
        return {
            "variant": variant.name,
            "updates": updates,
            "profiled_seconds": round(session.duration, 3) if session else None,
            "tree": profiler.output_text(unicode=True, color=False, show_all=False),
            "flat": profiler.output_text(unicode=True, color=False, flat=True, flat_time="self"),
            "by_package": by_package(profiler),
            "html": html_path,
        }

    return await with_variant(variant, template, users, body, redis_db)


def _package_of(path: str | None) -> str:
    if not path:
        return "?"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    root = str(ROOT) + "/"
    if path.startswith(root):
        return "app:" + path.removeprefix(root).split("/", 1)[0].removesuffix(".py")
    if "/lib/python" in path:
        module = path.split("/lib/python", 1)[1].split("/", 2)[-1]
        return "stdlib:" + module.split("/", 1)[0].removesuffix(".py")
    return path


def by_package(profiler: Any) -> list[tuple[str, float]]:
    """Self time by package (awaiting counted under "await <package>" of the awaiting frame)."""
    session = profiler.last_session
    if session is None:
        return []
    root = session.root_frame()
    totals: Counter[str] = Counter()
    stack = [root] if root else []
    while stack:
        frame = stack.pop()
        children = list(frame.children)
        stack.extend(children)
        if frame.identifier == "[await]":
            parent = frame.parent
            totals["await " + _package_of(parent.file_path if parent else None)] += frame.time
            continue
        if frame.is_synthetic:
            continue
        own = frame.time - sum(c.time for c in children if c.identifier != "[self]")
        totals[_package_of(frame.file_path)] += own
    total = sum(totals.values()) or 1.0
    return [(name, round(100 * seconds / total, 1)) for name, seconds in totals.most_common(15)]

