"""`python -m scheduler`: the scheduler alone (deployments with several bot instances).

    python -m scheduler                      run the ticks and the sender (while this instance leads)
    python -m scheduler --at ISO             send once what the outbox holds due as of that time
    python -m scheduler tick --at ISO [--dry-run] [--json]
                                             queue what is due as of that time (the tick); with
                                             --dry-run nothing is written; --json prints one object
                                             per notice and line. Needs no BOT_TOKEN: it sends nothing.

A time without an offset is local (TZ_NAME, Asia/Shanghai).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import datetime

from bot.logging_setup import setup_logging
from bot.settings import get_settings
from bot.client import build_bot
from scheduler.setup import build_scheduler, run_once
from storage import db


async def run(at: datetime | None) -> int:
    settings = get_settings()
    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    bot = build_bot(settings)
    try:
        if at is not None:
            when = at if at.tzinfo else at.replace(tzinfo=settings.tz)
            sent = await run_once(bot, settings, when)
            print(f"sent {sent} notice(s) due as of {when.isoformat()}")
            return 0
        scheduler = build_scheduler(bot, settings)
        scheduler.start()
        # SIGTERM (a container stop) or SIGINT: no new job, no new notice; the notices in hand are
        # sent and marked sent before the database closes (Scheduler.stop), the rest stay queued.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:
            scheduler.begin_stop()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping)
        try:
            await stop.wait()
        finally:
            await scheduler.stop()
        return 0
    finally:
        await bot.session.close()
        await db.close_db()


async def run_tick(at: datetime, dry_run: bool, as_json: bool) -> int:
    import json

    from scheduler import ticks

    settings = get_settings()
    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    try:
        when = at if at.tzinfo else at.replace(tzinfo=settings.tz)
        result = await (ticks.dry_run if dry_run else ticks.tick)(when, settings)
    finally:
        await db.close_db()
    if as_json:
        for queued in result.queued:
            print(json.dumps(queued.as_json(settings.tz), ensure_ascii=False))
    else:
        verb = "would queue" if dry_run else "queued"
        print(f"{verb} {len(result.queued)} notice(s) and {len(result.moves)} move(s) due as of {when.isoformat()}")
        for move in result.moves:
            print(f"  move {move.subject} {move.subject_id}: {move.action}")
        for q in result.queued:
            print(f"  {q.due_at.astimezone(settings.tz).isoformat()} {q.kind} {q.subject} {q.period} -> {q.recipient}")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["digest"]:  # scheduler/digest_cli.py
        return __import__("scheduler.digest_cli", fromlist=["main"]).main(sys.argv[2:])
    argv = sys.argv[1:]
    if argv[:1] == ["tick"]:
        tick_parser = argparse.ArgumentParser(prog="python -m scheduler tick")
        tick_parser.add_argument("--at", type=datetime.fromisoformat, required=True, help="the moment to tick as of")
        tick_parser.add_argument("--dry-run", action="store_true", help="compute only, write nothing")
        tick_parser.add_argument("--json", action="store_true", help="one JSON object per notice and line")
        tick_args = tick_parser.parse_args(argv[1:])
        setup_logging(get_settings().log_level)
        return asyncio.run(run_tick(tick_args.at, tick_args.dry_run, tick_args.json))
    parser = argparse.ArgumentParser(prog="python -m scheduler")
    parser.add_argument("--at", type=datetime.fromisoformat, help="send once what the outbox holds due as of this time, then exit")
    args = parser.parse_args(argv)
    if get_settings().bot_token is None:
        # Without a token there is no one to send to; the terminal chat (python -m bot) runs
        # the scheduler itself.
        parser.error("BOT_TOKEN is not set: the scheduler alone needs the bot's token to send notices")
    setup_logging(get_settings().log_level)
    try:
        return asyncio.run(run(args.at))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
