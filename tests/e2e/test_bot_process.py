"""The real `python -m bot` process, end to end, against the loopback Bot API stub.

Each test starts the bot exactly as a deployment does (`sys.executable -m bot`, configuration
only from the environment, migrations applied by the process itself on a fresh SQLite file) and
plays the Telegram side through :class:`bot_api_stub.BotApiStub`: long polling, the webhook
server, a restart after ``kill -9`` on the same database, and the terminal chat without a token.

The process log (stdout and stderr) goes to a file in ``tmp_path``; it is printed at teardown, so
pytest shows it with any failure, and a process that exits while a test waits on it fails the
test at once with the log tail instead of a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault
from bot_api_stub import BotApiStub, JsonDict

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAE2e-stub-token"
STAFF_ID = 9001
USER_ID = 4242

# Start-up imports aiogram, tortoise and the handlers and migrates a fresh database: a few
# seconds on a quiet machine, much more on a loaded 2-core CI runner.
START_TIMEOUT = 90.0
REPLY_TIMEOUT = 30.0
EXIT_TIMEOUT = 60.0

# A numbered button of the terminal chat, e.g. "     [#1] 📋 办理状态" (typed "#1" presses it).
STATUS_BUTTON = re.compile(r"\[#(\d+)\] 📋 办理状态")

EXPECTED_COMMANDS = {"start", "help", "menu", "status", "cancel", "lang"}

T = TypeVar("T")

# Variables that would change what the process does; each test sets what it needs.
_CONFIG_VARIABLES = (
    "BOT_TOKEN",
    "TELEGRAM_API_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "STAFF_IDS",
    "ADMIN_IDS",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_HOST",
    "WEBHOOK_PORT",
    "AUTO_MIGRATE",
    "DEFAULT_LANGUAGE",
    "DATA_KEY",
    "DATA_KEY_FILE",
    "LOG_LEVEL",
)


def bot_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The process environment: this test's database, no Redis, no webhook unless asked.

    Unwanted settings are set to "" rather than only removed: the process also reads `.env` from
    the repository root, and an empty variable wins over it (the settings treat "" as unset).
    """
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG_VARIABLES}
    env.update(
        BOT_TOKEN="",
        REDIS_URL="",
        WEBHOOK_URL="",
        ADMIN_IDS="",
        DATABASE_URL=f"sqlite://{tmp_path / 'bot.sqlite3'}",
        # Keeps the personal-data key file out of the repository's data/ folder.
        DATA_KEY_FILE=str(tmp_path / "secret.key"),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        # No quiet hours (start == end): these tests run at any time of day and wait for the
        # outbox's notices; tests/unit/test_sender.py proves the quiet hours themselves.
        QUIET_HOURS_START="0",
        QUIET_HOURS_END="0",
        # A script answers faster than any person: flood control would refuse its steps.
        # tests/reliability/test_flood_control.py proves the limit itself.
        THROTTLE_RATE="off",
    )
    env.update(overrides)
    return env


def polling_env(tmp_path: Path, stub: BotApiStub, **overrides: str) -> dict[str, str]:
    return bot_env(
        tmp_path, BOT_TOKEN=stub.token, TELEGRAM_API_URL=stub.url, STAFF_IDS=str(STAFF_ID), **overrides
    )


class BotProcess:
    """One `python -m bot` child process with its log file."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def watch(self, awaitable: Awaitable[T], what: str) -> T:
        """Await while the process runs; fail at once, with its log, if it exits or errs."""
        waiting = asyncio.ensure_future(awaitable)
        exited = asyncio.ensure_future(self.process.wait())
        try:
            await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                try:
                    return waiting.result()
                except TimeoutError as error:
                    pytest.fail(f"{what}: {error}\n--- bot log (tail) ---\n{self.log_tail()}")
            pytest.fail(
                f"{what}: the bot process exited with code {self.process.returncode}\n"
                f"--- bot log (tail) ---\n{self.log_tail()}"
            )
        finally:
            for task in (waiting, exited):
                if not task.done():
                    task.cancel()
            await asyncio.gather(waiting, exited, return_exceptions=True)

    async def kill(self) -> int:
        """kill -9 and reap."""
        if self.running:
            self.process.kill()
        return await self.process.wait()


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[BotApiStub]:
    async with BotApiStub(token=TOKEN) as running:
        yield running


@pytest_asyncio.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Callable[[dict[str, str]], Awaitable[BotProcess]]]:
    """Starts bot processes; every one is killed at teardown and its log printed."""
    started: list[BotProcess] = []

    async def start(env: dict[str, str]) -> BotProcess:
        log_path = tmp_path / f"bot-{len(started) + 1}.log"
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        bot_process = BotProcess(process, log_path)
        started.append(bot_process)
        return bot_process

    try:
        yield start
    finally:
        for number, bot_process in enumerate(started, 1):
            code = await bot_process.kill()
            print(f"--- bot process #{number} (exit code {code}) log: {bot_process.log_path} ---")
            print(bot_process.log())


async def wait_until_polling(bot_process: BotProcess, stub: BotApiStub, since: int) -> None:
    """Ready: the process asked who it is (getMe, just before polling) and a long poll waits.

    getMe is awaited first because after a kill -9 the dead process's long poll may still be
    waiting in the stub, which on its own would look like a ready bot.
    """
    await bot_process.watch(
        stub.wait_for(lambda method, _: method == "getMe", timeout=START_TIMEOUT, since=since),
        "waiting for the bot to call getMe",
    )
    await bot_process.watch(stub.wait_until_polling(timeout=START_TIMEOUT), "waiting for getUpdates")


async def start_polling_bot(
    launch: Callable[[dict[str, str]], Awaitable[BotProcess]],
    stub: BotApiStub,
    env: dict[str, str],
) -> BotProcess:
    since = stub.mark()
    bot_process = await launch(env)
    await wait_until_polling(bot_process, stub, since)
    return bot_process


def failed_calls(stub: BotApiStub) -> list[str]:
    """Calls the stub rejected as Telegram would (bad HTML, unknown query id, ...).

    Reads the stub's private outcome list: there is no public accessor, and "every call the bot
    made was accepted" is worth checking in every test. A 409 on getUpdates is the stub ending a
    killed process's stale long poll, not a mistake of the bot.
    """
    outcomes: list[str | None] = stub._outcomes  # noqa: SLF001
    return [
        f"#{index} {method} -> {outcome}"
        for index, ((method, _), outcome) in enumerate(zip(stub.calls, outcomes, strict=True))
        if outcome and not (method == "getUpdates" and outcome.startswith("409"))
    ]


def texts_to(stub: BotApiStub, chat_id: int) -> list[str]:
    return [
        str(params.get("text"))
        for method, params in stub.calls
        if method == "sendMessage" and params.get("chat_id") == chat_id
    ]


def button_texts(params: JsonDict) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [button["text"] for row in markup.get("inline_keyboard", []) for button in row]


# -- long polling --------------------------------------------------------------------------------


async def test_start_greets_in_chinese_and_shows_the_main_menu(
    stub: BotApiStub, launch: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> None:
    assert not (tmp_path / "bot.sqlite3").exists()
    bot_process = await start_polling_bot(launch, stub, polling_env(tmp_path, stub))
    # The process created and migrated its database on its own.
    assert (tmp_path / "bot.sqlite3").exists()

    stub.push_message(USER_ID, "/start", language_code="zh-hans", first_name="张三")

    greeting = await bot_process.watch(
        stub.wait_for_message(USER_ID, "您好", timeout=REPLY_TIMEOUT), "waiting for the greeting"
    )
    assert greeting["text"].startswith("您好，张三！")
    assert "深圳市技师工作站" in greeting["text"]
    assert "reply_markup" not in greeting

    menu = await bot_process.watch(
        stub.wait_for_message(USER_ID, timeout=REPLY_TIMEOUT), "waiting for the main menu"
    )
    assert "主菜单" in menu["text"]
    assert menu["reply_markup"].keys() == {"inline_keyboard"}
    buttons = button_texts(menu)
    # Features add entries as they ship; these three are always there, in this order.
    assert "📋 办理状态" in buttons
    assert [b for b in buttons if b in ("📋 办理状态", "🌐 语言 / Language", "❓ 帮助")] == [
        "📋 办理状态",
        "🌐 语言 / Language",
        "❓ 帮助",
    ]
    # As the user sees it: the last message in the chat carries the menu.
    shown = stub.last_bot_message(USER_ID)
    assert shown is not None and "📋 办理状态" in button_texts(shown)

    assert texts_to(stub, USER_ID) == [greeting["text"], menu["text"]]
    assert failed_calls(stub) == []


async def test_commands_are_registered_per_language_and_for_staff(
    stub: BotApiStub, launch: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> None:
    await start_polling_bot(launch, stub, polling_env(tmp_path, stub))

    registered = [(params.get("scope"), params.get("language_code"), params["commands"])
                  for method, params in stub.calls if method == "setMyCommands"]
    scopes = {(json.dumps(scope, sort_keys=True), language) for scope, language, _ in registered}
    default = json.dumps({"type": "default"}, sort_keys=True)
    staff = json.dumps({"type": "chat", "chat_id": STAFF_ID}, sort_keys=True)
    assert {(default, None), (default, "en"), (staff, None), (staff, "en")} <= scopes
    for _, _, commands in registered:
        assert EXPECTED_COMMANDS <= {c["command"] for c in commands}

    # What a Telegram client would now show, read back through the API.
    client = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(stub.url)))
    try:
        chinese = await client.get_my_commands(scope=BotCommandScopeDefault())
        english = await client.get_my_commands(scope=BotCommandScopeDefault(), language_code="en")
        staff_zh = await client.get_my_commands(scope=BotCommandScopeChat(chat_id=STAFF_ID))
        staff_en = await client.get_my_commands(
            scope=BotCommandScopeChat(chat_id=STAFF_ID), language_code="en"
        )
        stranger = await client.get_my_commands(scope=BotCommandScopeChat(chat_id=USER_ID))
    finally:
        await client.session.close()

    for commands in (chinese, english, staff_zh, staff_en):
        assert EXPECTED_COMMANDS <= {c.command for c in commands}
    assert {c.command: c.description for c in chinese}["start"] == "开始"
    assert {c.command: c.description for c in chinese}["lang"] == "切换语言"
    assert {c.command: c.description for c in english}["start"] == "Start"
    assert {c.command: c.description for c in english}["lang"] == "Switch language"
    assert {c.command: c.description for c in staff_zh}["help"] == "帮助"
    assert {c.command: c.description for c in staff_en}["help"] == "Help"
    # Only configured staff get a chat-scoped list.
    assert stranger == []
    assert failed_calls(stub) == []


async def test_language_survives_kill_9_and_confirmed_updates_are_not_redelivered(
    stub: BotApiStub, launch: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> None:
    env = polling_env(tmp_path, stub)
    first = await start_polling_bot(launch, stub, env)

    stub.push_message(USER_ID, "/lang", language_code="zh-hans")
    switched = await first.watch(
        stub.wait_for_message(USER_ID, "Language switched to English.", timeout=REPLY_TIMEOUT),
        "waiting for the /lang answer",
    )
    assert switched["text"] == "Language switched to English."
    # The update that carried /lang is confirmed once a later long poll is waiting: aiogram
    # sends the next getUpdates with offset = update_id + 1 right after receiving it, and the
    # poll that delivered it ended before the answer was sent.
    await first.watch(stub.wait_until_polling(timeout=REPLY_TIMEOUT), "waiting for the next poll")

    assert await first.kill() == -signal.SIGKILL

    # Written while the bot is down (the Telegram client still says Chinese): held by the
    # server and delivered to the next process, which must not see /lang again.
    stub.push_message(USER_ID, "/help", language_code="zh-hans")
    since = stub.mark()
    second = await launch(env)
    await wait_until_polling(second, stub, since)

    help_text = await second.watch(
        stub.wait_for_message(USER_ID, "Commands", timeout=REPLY_TIMEOUT),
        "waiting for /help in English after the restart",
    )
    assert help_text["text"].startswith("<b>Commands</b>")
    assert help_text["parse_mode"] == "HTML"

    # A barrier: once /status is answered, anything redelivered before it has been answered too.
    stub.push_message(USER_ID, "/status", language_code="zh-hans")
    status = await second.watch(
        stub.wait_for_message(USER_ID, timeout=REPLY_TIMEOUT), "waiting for /status"
    )
    assert status["text"].startswith("You are not bound to a technician workstation yet.")

    # Exactly one answer per message, across both processes.
    assert texts_to(stub, USER_ID) == [switched["text"], help_text["text"], status["text"]]
    assert failed_calls(stub) == []


async def test_menu_button_answers_the_callback_and_replies(
    stub: BotApiStub, launch: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> None:
    bot_process = await start_polling_bot(launch, stub, polling_env(tmp_path, stub))
    stub.push_message(USER_ID, "/menu")
    menu = await bot_process.watch(
        stub.wait_for_message(USER_ID, "主菜单", timeout=REPLY_TIMEOUT), "waiting for the menu"
    )
    assert "📋 办理状态" in button_texts(menu)

    stub.push_button(USER_ID, "📋 办理状态")
    answered = stub.mark()
    _, params = await bot_process.watch(
        stub.wait_for(lambda m, _: m == "answerCallbackQuery", timeout=REPLY_TIMEOUT),
        "waiting for answerCallbackQuery",
    )
    assert params["callback_query_id"]
    reply = await bot_process.watch(
        stub.wait_for_message(USER_ID, timeout=REPLY_TIMEOUT, since=answered),
        "waiting for the status reply",
    )
    assert reply["text"] == (
        "您尚未绑定任何技师工作站。可发送 /declare 办理设立申报；如需加入已有的工作站，请联系该站的联系人或市人力资源保障局。"
    )

    # Another button on the same menu: help, in Chinese.
    stub.push_button(USER_ID, "❓ 帮助")
    await bot_process.watch(
        stub.wait_for(lambda m, _: m == "answerCallbackQuery", timeout=REPLY_TIMEOUT),
        "waiting for the second answerCallbackQuery",
    )
    help_reply = await bot_process.watch(
        stub.wait_for_message(USER_ID, "常用命令", timeout=REPLY_TIMEOUT), "waiting for help"
    )
    assert help_reply["text"].startswith("<b>常用命令</b>")

    answers = [p for m, p in stub.calls if m == "answerCallbackQuery"]
    assert len(answers) == 2
    assert len({p["callback_query_id"] for p in answers}) == 2
    # The stub rejects unknown callback query ids: none was.
    assert failed_calls(stub) == []


# -- the terminal chat ----------------------------------------------------------------------------


async def run_console(tmp_path: Path, typed: str) -> tuple[int, str, str]:
    stderr_path = tmp_path / "console-stderr.log"
    with stderr_path.open("wb") as stderr_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=REPO_ROOT,
            env=bot_env(tmp_path),  # BOT_TOKEN="" : the terminal chat
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr_file,
        )
        try:
            stdout, _ = await asyncio.wait_for(process.communicate(typed.encode()), EXIT_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(
                f"the terminal chat did not exit within {EXIT_TIMEOUT}s\n"
                f"stderr:\n{stderr_path.read_text(errors='replace')}"
            )
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return process.returncode, stdout.decode("utf-8", errors="replace"), stderr_path.read_text(
        errors="replace"
    )


async def test_terminal_chat_start_prints_greeting_and_numbered_menu(tmp_path: Path) -> None:
    code, out, err = await run_console(tmp_path, "/start\n")

    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "终端对话" in out  # the banner
    assert "您好" in out, out
    assert "深圳市技师工作站" in out
    # Buttons are printed numbered from 1; other entries may come before this one.
    assert re.search(r"^ +\[#1\] ", out, re.MULTILINE), out
    assert STATUS_BUTTON.search(out), out
    # The database was created and migrated by the process; no stray key in the repository.
    assert (tmp_path / "bot.sqlite3").exists()
    assert "Traceback" not in err, err


async def test_terminal_chat_wrong_input_and_quit(tmp_path: Path) -> None:
    code, out, err = await run_console(tmp_path, "/start\nhello\n/quit\n/help\n")

    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "没有理解您的输入" in out, out
    status_button = STATUS_BUTTON.search(out)
    assert status_button is not None, out
    assert status_button.start() < out.index("没有理解您的输入")
    # /quit ends the chat: the line after it is never read.
    assert "常用命令" not in out, out
    assert "Traceback" not in err, err


async def test_terminal_chat_a_number_is_text_and_hash_number_presses_the_button(tmp_path: Path) -> None:
    code, out, err = await run_console(tmp_path, "/start\n1\n")
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "没有理解您的输入" in out, out  # "1" went to the bot as text, not as a press of button 1
    status = STATUS_BUTTON.search(out)
    assert status is not None, out

    code, pressed, err = await run_console(tmp_path, f"/start\n#{status.group(1)}\n")
    assert code == 0, f"stdout:\n{pressed}\nstderr:\n{err}"
    assert "没有理解您的输入" not in pressed, pressed
    assert "Traceback" not in err, err


# -- webhook --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_update(update_id: int, user_id: int, text: str) -> JsonDict:
    user = {"id": user_id, "is_bot": False, "first_name": "李四", "language_code": "zh-hans"}
    message: JsonDict = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "李四"},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"update_id": update_id, "message": message}


async def post_update(
    session: aiohttp.ClientSession, url: str, update: JsonDict, secret: str | None
) -> tuple[int, str]:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with session.post(url, json=update, headers=headers) as response:
        return response.status, await response.text()


async def wait_for_server(bot_process: BotProcess, session: aiohttp.ClientSession, url: str) -> None:
    """Until the webhook port accepts connections (setWebhook is called before it listens)."""

    async def connect() -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while True:
            try:
                # A GET on the POST-only route: 405 proves the server is up, and feeds nothing.
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{url} not accepting connections within {START_TIMEOUT}s")
                await asyncio.sleep(0.1)

    await bot_process.watch(connect(), "waiting for the webhook server")


async def start_webhook_bot(
    stub: BotApiStub, launch: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> tuple[int, BotProcess]:
    """The real process in webhook mode (secret "s3cret") on a free loopback port."""
    port = free_port()
    env = polling_env(
        tmp_path,
        stub,
        WEBHOOK_URL="https://example.invalid/webhook",
        WEBHOOK_SECRET="s3cret",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    return port, await launch(env)


async def test_webhook_mode_registers_checks_the_secret_and_answers(
    stub: BotApiStub, launch: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> None:
    port, bot_process = await start_webhook_bot(stub, launch, tmp_path)

    _, registered = await bot_process.watch(
        stub.wait_for(lambda m, _: m == "setWebhook", timeout=START_TIMEOUT, since=0),
        "waiting for setWebhook",
    )
    assert registered["url"] == "https://example.invalid/webhook"
    assert registered["secret_token"] == "s3cret"
    assert registered.get("drop_pending_updates") in (None, False)
    assert "setWebhook" in stub.unknown_methods

    url = f"http://127.0.0.1:{port}/webhook"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT)) as session:
        await wait_for_server(bot_process, session, url)

        # Wrong or missing secret: refused before the update is even read.
        assert (await post_update(session, url, start_update(1, USER_ID, "/help"), "wrong"))[0] == 401
        assert (await post_update(session, url, start_update(2, USER_ID, "/help"), None))[0] == 401

        since = stub.mark()
        status, body = await post_update(session, url, start_update(3, USER_ID, "/start"), "s3cret")
        assert status == 200, body
        # Answered once the update is handled (bot/shutdown.py); the replies are sendMessage calls
        # to the Bot API, not the HTTP body.
        assert json.loads(body) == {}

        greeting = await bot_process.watch(
            stub.wait_for_message(USER_ID, "您好", timeout=REPLY_TIMEOUT, since=since),
            "waiting for the greeting sent from webhook mode",
        )
        assert greeting["text"].startswith("您好，李四！")
        assert "深圳市技师工作站" in greeting["text"]
        menu = await bot_process.watch(
            stub.wait_for_message(USER_ID, "主菜单", timeout=REPLY_TIMEOUT), "waiting for the menu"
        )
        assert "📋 办理状态" in button_texts(menu)

    # Only the update with the right secret was handled: no help text, nothing polled.
    assert not any("常用命令" in text for text in texts_to(stub, USER_ID))
    assert len(texts_to(stub, USER_ID)) == 2
    assert not any(method == "getUpdates" for method, _ in stub.calls)
    assert failed_calls(stub) == []
