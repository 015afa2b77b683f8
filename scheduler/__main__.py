"""`python -m scheduler`: the scheduler alone (deployments with several bot instances).

`--at 2027-02-01T09:00` fires once what is due as of that time and exits.
"""

from __future__ import annotations

import argparse
import asyncio
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
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)
        return 0
    finally:
        await bot.session.close()
        await db.close_db()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler")
    parser.add_argument("--at", type=datetime.fromisoformat, help="fire once what is due as of this time, then exit")
    args = parser.parse_args()
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
