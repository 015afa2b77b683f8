"""`python -m bot`: migrate, then run the bot (polling, webhook, or the terminal chat)."""

from __future__ import annotations

import asyncio
from collections import Counter
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.logging_setup import setup_logging
from bot.settings import Settings, get_settings
from storage import db

# The bot's own parts (aiogram, the handlers, the scheduler) are imported where the bot is run:
# the one-shot commands (import-stations, seed-demo, reseal) start in a second instead of five.
if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from scheduler.setup import Scheduler

log = logging.getLogger("bot")


def stop_on_signals(scheduler: Scheduler) -> asyncio.Event:
    """SIGTERM (a container stop) or SIGINT: the outbox sender takes no new notice from now on,
    and the returned event (a bot.shutdown.Stopping, with the deadline for what is in hand) tells
    polling or the webhook server to stop taking updates."""
    from bot.shutdown import Stopping

    stop = Stopping()
    loop = asyncio.get_running_loop()

    def stopping(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("%s: stopping", sig.name)
        scheduler.begin_stop()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping, sig)
    return stop


async def run_polling(bot: Bot, dp: Dispatcher, settings: Settings, stop: asyncio.Event) -> None:
    from bot.commands import register_commands
    from bot.services import staff
    from bot.shutdown import finish_updates_on_shutdown

    await bot.delete_webhook(drop_pending_updates=False)
    await register_commands(bot, await staff.staff_ids(settings))
    # Our own signal handling (stop_on_signals): aiogram's cancels the long poll and returns with
    # the updates in hand still running, and would close the Bot API session under them.
    # The updates in hand were confirmed to Telegram already: they are finished (bot/shutdown.py).
    finish_updates_on_shutdown(dp, stop)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not polling.done():
        try:
            await dp.stop_polling()
        except RuntimeError:  # stopped before polling began
            polling.cancel()
    outcome = (await asyncio.gather(polling, return_exceptions=True))[0]
    if isinstance(outcome, Exception):
        raise outcome


async def run_webhook(bot: Bot, dp: Dispatcher, settings: Settings, stop: asyncio.Event) -> None:
    from aiohttp import web

    from bot.commands import register_commands
    from bot.services import staff
    from bot.shutdown import WebhookHandler

    assert settings.webhook_url
    secret = settings.webhook_secret_token()
    await register_commands(bot, await staff.staff_ids(settings))
    await bot.set_webhook(settings.webhook_url, secret_token=secret, drop_pending_updates=False)
    app = web.Application()
    # Telegram sends the secret in X-Telegram-Bot-Api-Secret-Token; requests without it get 401.
    # Each request is answered once its update is handled, not before (bot/shutdown.py): an update
    # whose 200 never went out is sent again by Telegram instead of being lost.
    handler = WebhookHandler(dp, bot, secret)
    handler.add_routes(app, "/webhook")
    workflow = {"app": app, "dispatcher": dp, **dp.workflow_data, "bot": bot}
    # What the server itself still holds after the handler's own wait is cut off after a second.
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    await dp.emit_startup(**workflow)
    log.info("webhook server on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        await stop.wait()
        # New requests get 503 (Telegram sends them again, to the next process); those in hand
        # are finished.
        await handler.finish(stop.remaining())
    finally:
        await runner.cleanup()
        await dp.emit_shutdown(**workflow)


def console_files_dir(database_url: str) -> Path:
    """Where the terminal chat saves the files the bot sends: beside the SQLite database
    (data/outbox-files by default), else data/outbox-files."""
    from bot.console import FILES_DIR

    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path).parent / FILES_DIR.name
    return FILES_DIR


DEMO_USAGE = "usage: python -m bot seed-demo [--if-empty]"


async def seed_demo(settings: Settings, if_empty: bool) -> int:
    """The demo city (bot.services.demo) in the database of DATABASE_URL, migrated first like the
    bot does; prints what it made. A database with stations is refused (1), or left as it is
    with --if-empty (0)."""
    from bot.clock import SystemClock
    from bot.services.demo import AlreadySeeded, seed_demo as seed

    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    try:
        made = await seed(SystemClock().now(), settings)
    except AlreadySeeded as refused:
        print(f"seed-demo: {refused}" + ("; left as it is." if if_empty else
                                         "; the demo city goes into an empty database only, nothing seeded."),
              file=sys.stdout if if_empty else sys.stderr)
        return 0 if if_empty else 1
    finally:
        await db.close_db()
    print(f"Demo city seeded in {settings.database_url}:")
    print(f"  {made.stations} stations of {made.units} units, {made.contacts} contacts "
          f"(Telegram ids {made.contact_ids[0]}..{made.contact_ids[1]}: /user <id> in the terminal chat)")
    print("  submissions: " + ", ".join(f"{kind} {n}" for kind, n in made.submissions.items()))
    print("  filing obligations: " + ", ".join(f"{state} {n}" for state, n in made.filings.items()))
    print(f"  {made.fundings} funded key projects, {made.announcements} open 公示 with {made.objections} objection")
    print("  waiting for staff: " + ", ".join(f"{what} {ref}" for what, ref in made.pending.items()))
    print(f"  demo staff id: {made.staff_id} (STAFF_IDS={made.staff_id}; the terminal chat's own user)")
    return 0


def seed_demo_command(args: list[str], settings: Settings) -> int:
    flags = set(args[1:])
    if flags - {"--if-empty"}:
        print(DEMO_USAGE, file=sys.stderr)
        return 2
    return asyncio.run(seed_demo(settings, "--if-empty" in flags))


async def run_console(settings: Settings) -> None:
    from bot.client import build_bot
    from bot.clock import OffsetClock
    from bot.console import ConsoleChat, ConsolePrinter
    from bot.local_session import LocalBotApi, LocalSession
    from bot.wiring import build_dispatcher
    from scheduler.setup import build_scheduler

    api = LocalBotApi()
    printer = ConsolePrinter(api, files_dir=console_files_dir(settings.database_url))
    bot = build_bot(settings, LocalSession(api, on_call=printer))
    clock = OffsetClock()  # `/date` moves it: the terminal chat only
    dp = build_dispatcher(settings, clock=clock)
    scheduler = build_scheduler(bot, settings, clock, in_bot=True)
    scheduler.start()
    try:
        await dp.emit_startup(bot=bot)
        await ConsoleChat(bot, dp, api, printer, settings.default_language, clock=clock, tz=settings.tz).run()
        await dp.emit_shutdown(bot=bot)
    finally:
        await scheduler.stop()
        await dp.storage.close()


async def run(settings: Settings) -> None:
    from bot.client import build_bot
    from bot.wiring import build_dispatcher
    from scheduler.setup import build_scheduler

    # Tortoise keeps its state per task context: open it here, before any task starts.
    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    try:
        if settings.bot_token is None:
            await run_console(settings)
            return
        bot = build_bot(settings)
        dp = build_dispatcher(settings)
        scheduler = build_scheduler(bot, settings, in_bot=True)
        scheduler.start()
        stop = stop_on_signals(scheduler)
        try:
            if settings.webhook_url:
                await run_webhook(bot, dp, settings, stop)
            else:
                await run_polling(bot, dp, settings, stop)
        finally:
            # The notices in hand are sent and marked sent, the rest stay queued: within what is
            # left of the bound (at least a second).
            await scheduler.stop(stop.remaining(at_least=1.0))
            await dp.storage.close()
            await bot.session.close()
    finally:
        await db.close_db()
    log.info("stopped")


IMPORT_USAGE = "usage: python -m bot import-stations FILE.xlsx [--dry-run] | python -m bot import-template FILE.xlsx"


async def import_stations(settings: Settings, path: Path, dry_run: bool) -> int:
    """The bureau's register from Excel (bot.services.register_import): prints the report, 1 when refused."""
    from bot.clock import SystemClock
    from bot.services.register_import import import_register, render_report

    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    try:
        report = await import_register(path, settings=settings, clock=SystemClock(), dry_run=dry_run)
    finally:
        await db.close_db()
    print(render_report(report, settings.default_language))
    return 1 if report.rejected else 0


def import_command(args: list[str], settings: Settings) -> int:
    names = [a for a in args[1:] if not a.startswith("--")]
    flags = {a for a in args[1:] if a.startswith("--")}
    if len(names) != 1 or flags - {"--dry-run"} or (args[0] == "import-template" and flags):
        print(IMPORT_USAGE, file=sys.stderr)
        return 2
    path = Path(names[0])
    if args[0] == "import-template":
        from bot.services.register_import import write_template

        write_template(path)
        print(path)
        return 0
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    return asyncio.run(import_stations(settings, path, "--dry-run" in flags))


RESEAL_USAGE = "usage: python -m bot reseal"
RESEAL_NAMES = {"redis": "conversation state in Redis", "imports": "registers waiting for import"}


async def reseal(settings: Settings) -> int:
    """Every sealed value at rest sealed again with DATA_KEY's newest key (bot.services.reseal);
    prints the counts. 1, with nothing changed, when some value opens with none of the keys."""
    from bot.services.reseal import reseal as run_reseal

    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    try:
        outcome = await run_reseal(settings)
    finally:
        await db.close_db()
    unreadable = outcome.unreadable
    if unreadable:
        # One entry per row (or file), with how many of its values no key opens.
        places = list(Counter(unreadable).items())
        shown = ", ".join(f"{where} ({n} values)" if n > 1 else where for where, n in places[:10])
        shown += f" and {len(places) - 10} more" if len(places) > 10 else ""
        print(f"reseal: {len(unreadable)} sealed value(s) open with none of the {outcome.keys} configured key(s), "
              f"in {shown}. Nothing was changed. Put the key they were sealed with back in DATA_KEY "
              "(after the newest) and run reseal again.", file=sys.stderr)
        return 1
    found = sum(p.found for p in outcome.places.values())
    resealed = sum(p.resealed for p in outcome.places.values())
    print(f"reseal: {resealed} of {found} sealed value(s) resealed with the newest of {outcome.keys} key(s); "
          "every sealed value now opens with the newest key alone.")
    for name, place in outcome.places.items():
        if place.found:
            print(f"  {RESEAL_NAMES.get(name, name)}: {place.found} sealed, {place.resealed} resealed")
    return 0


def reseal_command(args: list[str], settings: Settings) -> int:
    if args[1:]:
        print(RESEAL_USAGE, file=sys.stderr)
        return 2
    return asyncio.run(reseal(settings))


def main() -> int:
    try:
        settings = get_settings()
    except ValidationError as exc:
        # A typo in .env or the environment: say which variable, not a traceback.
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]).upper()
            print(f"configuration error: {field}: {error['msg']}", file=sys.stderr)
        return 2
    if sys.argv[1:2] and sys.argv[1] in ("import-stations", "import-template"):
        setup_logging("WARNING")
        return import_command(sys.argv[1:], settings)
    if sys.argv[1:2] == ["reseal"]:
        setup_logging("WARNING")
        return reseal_command(sys.argv[1:], settings)
    if sys.argv[1:2] == ["seed-demo"]:
        setup_logging("WARNING")
        return seed_demo_command(sys.argv[1:], settings)
    # The terminal chat owns stdout; keep the log quiet there unless asked.
    setup_logging(settings.log_level if settings.bot_token else "WARNING")
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
