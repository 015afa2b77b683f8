"""The terminal chat: a bare number is an answer, `#N` presses button N, files the bot sends are saved."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.client import build_bot
from bot.console import ConsoleChat, ConsolePrinter
from bot.local_session import LocalBotApi, LocalSession
from chat_harness import make_settings

SUMMARY = InlineKeyboardMarkup(inline_keyboard=[
    [InlineKeyboardButton(text="提交", callback_data="submit")],
    [InlineKeyboardButton(text="修改第2项", callback_data="edit:2")],
])


def _console(tmp_path: Path) -> tuple[ConsoleChat, io.StringIO, list[Any]]:
    """A console over a toy bot that shows a 'summary' with 提交 as button 1 and records what it got."""
    got: list[Any] = []
    router = Router()

    @router.callback_query(F.data)
    async def pressed(query: CallbackQuery) -> None:
        got.append(("press", query.data))
        await query.answer()

    @router.message(F.text)
    async def typed(message: Message) -> None:
        got.append(("text", message.text))
        await message.answer("第2/8题 请输入职工人数", reply_markup=SUMMARY)

    dp = Dispatcher()
    dp.include_router(router)
    api = LocalBotApi()
    out = io.StringIO()
    printer = ConsolePrinter(api, out, files_dir=tmp_path / "outbox-files")
    bot = build_bot(make_settings("sqlite://:memory:"), LocalSession(api, on_call=printer))
    return ConsoleChat(bot, dp, api, printer, "zh"), out, got


async def test_a_bare_number_is_an_answer_never_a_button_press(tmp_path: Path) -> None:
    chat, out, got = _console(tmp_path)
    await chat.handle_line("开始")
    assert "[#1] 提交" in out.getvalue()  # buttons are shown with the syntax that presses them
    await chat.handle_line("1")  # "1" typed on a screen whose button 1 is 提交
    await chat.handle_line("2")
    assert got == [("text", "开始"), ("text", "1"), ("text", "2")]


async def test_hash_number_presses_that_button_and_a_missing_one_is_said(tmp_path: Path) -> None:
    chat, out, got = _console(tmp_path)
    await chat.handle_line("开始")
    await chat.handle_line("#2")
    assert got[-1] == ("press", "edit:2")
    await chat.handle_line("#1")
    assert got[-1] == ("press", "submit")
    before = list(got)
    await chat.handle_line("#9")
    assert got == before  # nothing was sent to the bot
    assert "no button #9" in out.getvalue()


async def test_help_line_explains_the_button_syntax(tmp_path: Path) -> None:
    chat, out, _ = _console(tmp_path)
    chat.printer.out = out

    class NoInput(io.StringIO):
        def isatty(self) -> bool:
            return False

    await chat.run(NoInput(""))
    first = out.getvalue().splitlines()[0]
    assert "终端对话" in first and "#1" in first and "outbox-files" in first


async def test_every_file_the_bot_sends_is_saved_and_its_path_printed(tmp_path: Path) -> None:
    chat, out, _ = _console(tmp_path)
    await chat.bot.send_document(chat.printer.chat_id, BufferedInputFile(b"first", "申报表-SZJS-2026-0001.docx"))
    await chat.bot.send_document(chat.printer.chat_id, BufferedInputFile(b"first", "申报表-SZJS-2026-0001.docx"))
    await chat.bot.send_document(chat.printer.chat_id, BufferedInputFile(b"other", "申报表-SZJS-2026-0001.docx"))
    await chat.bot.send_document(chat.printer.chat_id, BufferedInputFile(b"x", "../../escape.txt"))
    folder = tmp_path / "outbox-files"
    saved = folder / "申报表-SZJS-2026-0001.docx"
    assert saved.read_bytes() == b"first"  # the same file again is not copied twice
    assert (folder / "申报表-SZJS-2026-0001-2.docx").read_bytes() == b"other"  # another one never overwrites
    assert (folder / "escape.txt").read_bytes() == b"x"  # a name is never a path out of the folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["申报表-SZJS-2026-0001.docx", "申报表-SZJS-2026-0001-2.docx", "escape.txt"]
    )
    assert f"saved to {saved}" in out.getvalue()


async def test_a_message_to_another_user_is_shown_with_its_recipient(tmp_path: Path) -> None:
    # acting as staff, the contact's notice appears too (without buttons: /user N to answer as them)
    chat, out, _ = _console(tmp_path)
    await chat.bot.send_message(20002, "您的设立申报 SZJS-2026-0001 状态已更新：专家评审中", reply_markup=SUMMARY)
    assert out.getvalue() == "bot → user 20002> 您的设立申报 SZJS-2026-0001 状态已更新：专家评审中\n"


async def test_date_moves_the_terminals_clock_and_now_brings_it_back(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    from bot.clock import FixedClock, OffsetClock, local_today

    shanghai = ZoneInfo("Asia/Shanghai")
    clock = OffsetClock(base=FixedClock(datetime(2026, 12, 4, 22, 30, tzinfo=UTC)))  # 06:30 on the 5th there
    chat, out, got = _console(tmp_path)
    chat.clock, chat.tz = clock, shanghai
    await chat.handle_line("/date 2026-12-21")
    assert local_today(clock, shanghai) == date(2026, 12, 21)
    assert clock.now() == datetime(2026, 12, 20, 22, 30, tzinfo=UTC)  # the time of day is kept
    assert "(today is 2026-12-21 06:30 Asia/Shanghai (moved))" in out.getvalue()
    await chat.handle_line("/date 21 December")
    assert "/date YYYY-MM-DD" in out.getvalue() and local_today(clock, shanghai) == date(2026, 12, 21)
    await chat.handle_line("/date now")
    assert local_today(clock, shanghai) == date(2026, 12, 5)
    assert got == []  # none of it reached the bot
