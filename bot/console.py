"""The terminal chat: the same Dispatcher and handlers as on Telegram, through a local session.

The bot's messages are printed with their inline buttons numbered `[#1] 返回`. What the person
types is always sent as text - a bare number too, since a question may ask for a number - except
`#N`, which presses button N (so "1" typed on the summary is an answer, never 提交), `/file PATH`
to send a document, `/user ID` to act as another user (e.g. a staff id), and `/quit` or end of
input to leave. Every file the bot sends is saved under data/outbox-files/ and its path printed.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendDocument, SendMessage
from aiogram.types import InlineKeyboardMarkup, Message, User

from bot.clock import OffsetClock
from bot.i18n import t
from bot.local_session import LocalBotApi

CONSOLE_USER_ID = 10001
FILES_DIR = Path("data") / "outbox-files"
_TAG = re.compile(r"<[^>]+>")
BUTTON = re.compile(r"#(\d+)")



def plain(text: str | None) -> str:
    return html.unescape(_TAG.sub("", text or ""))


class ConsolePrinter:
    """Prints what the bot sends and remembers the latest buttons of the chat."""

    def __init__(self, api: LocalBotApi, out: TextIO = sys.stdout, files_dir: Path = FILES_DIR) -> None:
        self.api = api
        self.out = out
        self.chat_id = CONSOLE_USER_ID
        self.files_dir = files_dir

    def __call__(self, method: Any, result: Any) -> None:
        if isinstance(method, SendMessage | EditMessageText | SendDocument | EditMessageReplyMarkup):
            if not isinstance(result, Message):
                return
            if result.chat.id != self.chat_id:
                self._elsewhere(method, result)
                return
            if isinstance(method, SendDocument) and result.document:
                self.out.write(f"bot> [file] {result.document.file_name} ({result.document.file_size} B)\n")
                saved = self._save(result.document.file_id, result.document.file_name or "file")
                if saved is not None:
                    self.out.write(f"     saved to {saved}\n")
                if result.caption:
                    self.out.write(f"     {plain(result.caption)}\n")
            elif isinstance(method, EditMessageReplyMarkup):
                pass
            else:
                marker = "bot (edited)>" if isinstance(method, EditMessageText) else "bot>"
                body = plain(result.text).replace("\n", "\n     ")
                self.out.write(f"{marker} {body}\n")
            self._print_buttons(result.reply_markup)
            self.out.flush()

    def _elsewhere(self, method: Any, result: Message) -> None:
        """A message to another user (a notice to a contact while acting as staff, say): shown
        with its recipient, so one terminal follows both sides; `/user N` to answer as them."""
        if isinstance(method, SendMessage):
            body = plain(result.text).replace("\n", "\n     ")
            self.out.write(f"bot → user {result.chat.id}> {body}\n")
        elif isinstance(method, SendDocument) and result.document:
            self.out.write(f"bot → user {result.chat.id}> [file] {result.document.file_name}\n")
        else:
            return
        self.out.flush()

    def _save(self, file_id: str, file_name: str) -> Path | None:
        """Write a file the bot sent under files_dir; a name already taken by other content gets -2, -3..."""
        stored = self.api.files.get(file_id)
        if stored is None:
            return None
        name = Path(file_name).name or "file"  # never a path out of the folder
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / name
        n = 1
        while path.exists() and path.read_bytes() != stored.content:
            n += 1
            path = self.files_dir / f"{Path(name).stem}-{n}{Path(name).suffix}"
        path.write_bytes(stored.content)
        return path

    def _print_buttons(self, markup: InlineKeyboardMarkup | None) -> None:
        if not markup:
            return
        n = 0
        for row in markup.inline_keyboard:
            cells = []
            for button in row:
                n += 1
                cells.append(f"[#{n}] {button.text}")
            self.out.write("     " + "   ".join(cells) + "\n")


class ConsoleChat:
    def __init__(self, bot: Bot, dp: Dispatcher, api: LocalBotApi, printer: ConsolePrinter, lang: str, *,
                 clock: OffsetClock | None = None, tz: ZoneInfo = ZoneInfo("Asia/Shanghai")) -> None:
        self.clock = clock
        self.tz = tz
        self.bot = bot
        self.dp = dp
        self.api = api
        self.printer = printer
        self.lang = lang
        self.user = self._user(CONSOLE_USER_ID)

    @staticmethod
    def _user(user_id: int) -> User:
        return User(id=user_id, is_bot=False, first_name="终端用户", language_code="zh-hans")

    async def handle_line(self, line: str) -> bool:
        """Feed one typed line to the bot; False when the person wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line.startswith("/user "):
            return self._switch_user(line.removeprefix("/user ").strip())
        if line == "/date" or line.startswith("/date "):
            return self._move_date(line.removeprefix("/date").strip())
        if line.startswith("/file "):
            return await self._send_file(line.removeprefix("/file ").strip())
        button = BUTTON.fullmatch(line)
        if button is not None:
            if not await self._press(int(button.group(1))):
                self.printer.out.write(f"     (no button {line} on the last message)\n")
            return True
        await self.dp.feed_update(self.bot, self.api.user_message(self.user, line))
        return True

    def _switch_user(self, raw: str) -> bool:
        if not raw.isdigit():
            self.printer.out.write("     /user <Telegram user id>\n")
            return True
        self.user = self._user(int(raw))
        self.printer.chat_id = self.user.id
        self.printer.out.write(f"     (user {self.user.id})\n")
        return True

    def _move_date(self, raw: str) -> bool:
        """`/date 2026-12-20` makes that day today for the bot and its scheduler; `/date now` the
        real day again; `/date` says which day it is."""
        if self.clock is None:
            self.printer.out.write("     (this terminal has no movable clock)\n")
            return True
        if raw == "now":
            self.clock.reset()
        elif raw:
            try:
                self.clock.move_to(date.fromisoformat(raw), self.tz)
            except ValueError:
                self.printer.out.write("     /date YYYY-MM-DD | /date now\n")
                return True
        today = self.clock.now().astimezone(self.tz)
        moved = " (moved)" if self.clock.offset else ""
        self.printer.out.write(f"     (today is {today:%Y-%m-%d %H:%M} {self.tz.key}{moved})\n")
        return True

    async def _press(self, number: int) -> bool:
        message = self.api.last_message_with_buttons(self.user.id)
        if message is None or not isinstance(message.reply_markup, InlineKeyboardMarkup):
            return False
        buttons = [b for row in message.reply_markup.inline_keyboard for b in row]
        if not 1 <= number <= len(buttons) or buttons[number - 1].callback_data is None:
            return False
        update = self.api.button_press(self.user, message, buttons[number - 1].callback_data)
        await self.dp.feed_update(self.bot, update)
        return True

    async def _send_file(self, raw_path: str) -> bool:
        path = Path(raw_path).expanduser()
        if not path.is_file():
            self.printer.out.write(f"     {path}: no such file\n")
            return True
        document = self.api.add_file(path.read_bytes(), path.name)
        await self.dp.feed_update(self.bot, self.api.user_message(self.user, document=document))
        return True

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        help_line = t(self.lang, "console.banner", files=self.printer.files_dir)
        self.printer.out.write(help_line + "\n")
        interactive = stdin.isatty()
        while True:
            if interactive:
                self.printer.out.write("you> ")
                self.printer.out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if line == "":  # end of input
                break
            if not await self.handle_line(line):
                break
