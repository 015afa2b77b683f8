"""/export: the whole database as one .xlsx (staff); /export full with personal numbers (admins).

The workbook is built by bot.services.export (in a thread) and sent as a document. A full export
writes an audit_log row first; its file name and its personal columns say what it holds.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.clock import Clock
from bot.i18n import t
from bot.services import export as service
from bot.settings import Settings

COMMAND = "export"
FULL = ("full", "完整")


async def on_command(message: Message, command: CommandObject, lang: str, is_admin: bool, settings: Settings,
                     clock: Clock) -> None:
    args = (command.args or "").strip().lower()
    if args and args not in FULL:
        await message.answer(t(lang, "staff.export.usage"))
        return
    full = bool(args)
    if full and not is_admin:
        await message.answer(t(lang, "staff.export.full_admins_only"))
        return
    await message.answer(t(lang, "staff.export.preparing_full" if full else "staff.export.preparing"))
    result = await service.export(settings, clock, actor_id=message.from_user.id, full=full)
    caption = t(lang, "staff.export.caption_full" if full else "staff.export.caption", sheets=len(result.sheets))
    await message.answer_document(BufferedInputFile(result.content, filename=result.filename), caption=caption)


def build_router() -> Router:
    router = Router(name="staff-export")
    router.message.register(on_command, Command(COMMAND))
    return router
