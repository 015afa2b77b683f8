"""Memory: RSS of an idle bot, and with 1,000 drafts in progress.

Runs in a child process of its own (`python -m bench.memory`, started by `python -m bench`), so the
numbers are not those of a process that has just run the throughput benchmark. The bot is the
default build: DatabaseStorage on SQLite (a temp file), SimpleEventIsolation. The fake Bot API
(`BenchBotApi`) keeps nothing per chat, so what grows is the bot's own memory.

Stages: `python`, `aiogram_imported`, `app_imported` - the interpreter, then after `import aiogram`
(its pydantic models of every Telegram type), then after the application's modules; `idle` - imports done, database migrated and open, Bot and Dispatcher built, no update
yet; `warm` - after one user's /declare and first answer (lazy imports, template and locale
caches); `drafts` - after `users` more users each did /declare and answered the first question
(each now at question 2 of the form, a draft row and a dialog stack each). RSS is read from
/proc/self/status (VmRSS) after a full garbage collection.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import sys
import tracemalloc
from typing import Any

# Only the standard library at module level: the first stages measure what the imports cost.

SECOND_QUESTION = re.compile(r"第2/\d+题")


def _rss() -> int:
    gc.collect()
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def import_stages() -> dict[str, int]:
    stages = {"python_kib": _rss()}
    import aiogram  # noqa: F401 - the cost of its import is what is measured
    import aiogram.types  # noqa: F401

    stages["aiogram_imported_kib"] = _rss()
    import bot.wiring  # noqa: F401 - every application module the bot imports
    import handlers  # noqa: F401

    stages["app_imported_kib"] = _rss()
    return stages


async def run(users: int, trace: bool) -> dict[str, Any]:
    from aiogram.types import User

    from bench.common import BenchBotApi, SqliteTemplate, make_settings, orm
    from bot.local_session import LocalSession
    from bot.client import build_bot
    from bot.wiring import build_dispatcher

    template = SqliteTemplate()
    try:
        url = await template.fresh_url("memory")
        async with orm(url):
            settings = make_settings(url)
            last_text: dict[int, str] = {}  # one entry at a time: the harness must not grow

            def on_call(method: Any, result: Any) -> None:
                text = getattr(method, "text", None)
                if text:
                    last_text.clear()
                    last_text[int(method.chat_id)] = text

            api = BenchBotApi()
            bot = build_bot(settings, LocalSession(api, on_call=on_call))
            dp = build_dispatcher(settings)

            async def draft(user_id: int) -> None:
                user = User(id=user_id, is_bot=False, first_name="技师", language_code="zh-hans")
                await dp.feed_update(bot, api.user_message(user, "/declare"))
                await dp.feed_update(bot, api.user_message(user, f"深圳精密制造有限公司{user_id}"))
                if not SECOND_QUESTION.search(last_text.get(user_id, "")):
                    raise RuntimeError(f"user {user_id} is not at question 2: {last_text.get(user_id)!r}")

            idle = _rss()
            await draft(7_300_000)
            warm = _rss()
            if trace:
                tracemalloc.start(1)
                before = tracemalloc.take_snapshot()
            for i in range(users):
                await draft(7_300_001 + i)
            drafts = _rss()
            top: list[str] = []
            if trace:
                after = tracemalloc.take_snapshot()
                tracemalloc.stop()
                stats = after.compare_to(before, "lineno")
                top = [f"{s.size_diff / 1024:.0f} KiB {s.count_diff:+d} {s.traceback[0].filename.split('site-packages/')[-1]}:{s.traceback[0].lineno}" for s in stats[:12]]
            from storage.models import ConversationState, Submission

            rows = {"submission": await Submission.all().count(), "conversation_state": await ConversationState.all().count()}
            await dp.storage.close()
            await bot.session.close()
    finally:
        template.cleanup()
    isolation_keys = len(getattr(dp.fsm.events_isolation, "_locks", {}))
    return {
        "storage": "DatabaseStorage on SQLite",
        "isolation_lock_keys": isolation_keys,
        "users": users,
        "idle_rss_kib": idle,
        "warm_rss_kib": warm,
        "drafts_rss_kib": drafts,
        "growth_kib": drafts - warm,
        "per_draft_kib": round((drafts - warm) / users, 2) if users else None,
        "rows": rows,
        "tracemalloc_top": top,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--trace", action="store_true", help="also list the top allocation growth (tracemalloc)")
    args = parser.parse_args(argv)
    stages = import_stages()
    result = {**stages, **asyncio.run(run(args.users, args.trace))}
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
