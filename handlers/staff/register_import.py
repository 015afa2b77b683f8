"""/import: the bureau's register from Excel, in the chat (staff). The same use-case as
`python -m bot import-stations` (bot/services/register_import.py).

The staff member sends /import, then the .xlsx. It is checked as a dry run and the report sent
back; when no row is refused, the report carries "正式导入" / "取消". The file waits server-side
(under the data directory, sealed with the data key like every personal number at rest, named by a
random token that the buttons carry) until one of them is
pressed, and is deleted then: "正式导入" runs the real import from the very same bytes, a replayed
press finds no file and is told the import was already handled. A refused dry run offers no import
and waits for a corrected file; /cancel leaves the step.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.clock import Clock
from bot.i18n import t
from bot.crypto import SealedWithAnotherKey, vault_for
from bot.services.register_import import import_register, pending_dir, render_report
from bot.settings import Settings
from handlers.staff.digest import chunks

log = logging.getLogger(__name__)

COMMAND = "import"
MAX_BYTES = 5 * 1024 * 1024
STALE_AFTER = 24 * 3600  # seconds: a file whose buttons were never pressed is removed after a day


class ImportSG(StatesGroup):
    file = State()


class ImportAct(CallbackData, prefix="staff_import"):
    token: str
    step: str  # y: import, n: cancel


def _path(settings: Settings, token: str) -> Path | None:
    if not token.isalnum():
        return None
    return pending_dir(settings) / f"{token}.xlsx"


def _keep(settings: Settings, content: bytes) -> str:
    folder = pending_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*.xlsx"):
        try:
            if now - old.stat().st_mtime > STALE_AFTER:
                old.unlink()
        except OSError:
            pass
    token = secrets.token_hex(8)
    (folder / f"{token}.xlsx").write_bytes(vault_for(settings).seal_bytes(content))  # ID numbers, mobiles
    return token


def _take(settings: Settings, token: str) -> bytes | None:
    """The kept workbook, claimed once: renaming it first makes a second press find nothing."""
    path = _path(settings, token)
    if path is None:
        return None
    claimed = path.with_suffix(f".taken-{secrets.token_hex(4)}")
    try:
        os.rename(path, claimed)
    except OSError:
        return None
    try:
        return vault_for(settings).unseal_bytes(claimed.read_bytes())
    except SealedWithAnotherKey:  # kept before the key it was sealed with was dropped
        return None
    finally:
        claimed.unlink(missing_ok=True)


async def _send(bot: Bot, chat_id: int, text: str, markup: object = None) -> None:
    parts = chunks(text)
    for i, part in enumerate(parts):
        await bot.send_message(chat_id, part, reply_markup=markup if i == len(parts) - 1 else None)


async def on_command(message: Message, lang: str, state: FSMContext) -> None:
    await state.set_state(ImportSG.file)
    await message.answer(t(lang, "import.bot.ask"))


async def on_document(message: Message, lang: str, bot: Bot, state: FSMContext, settings: Settings,
                      clock: Clock) -> None:
    document = message.document
    name = (document.file_name or "").lower()
    if not name.endswith(".xlsx") or (document.file_size or 0) > MAX_BYTES:
        await message.answer(t(lang, "import.bot.not_xlsx", mb=MAX_BYTES // (1024 * 1024)) + "\n" + t(lang, "import.bot.ask"))
        return
    downloaded = await bot.download(document.file_id)
    content = downloaded.read() if downloaded is not None else b""
    if len(content) > MAX_BYTES:
        await message.answer(t(lang, "import.bot.not_xlsx", mb=MAX_BYTES // (1024 * 1024)) + "\n" + t(lang, "import.bot.ask"))
        return
    await message.answer(t(lang, "import.bot.checking"))
    report = await import_register(content, settings=settings, clock=clock, dry_run=True, actor_id=message.from_user.id)
    if report.rejected:
        await _send(bot, message.chat.id, render_report(report, lang) + "\n" + t(lang, "import.bot.fix_and_resend"))
        return  # still waiting for a file: the corrected one
    await state.clear()
    token = _keep(settings, content)
    kb = InlineKeyboardBuilder()
    kb.button(text=t(lang, "import.bot.button.import"), callback_data=ImportAct(token=token, step="y"))
    kb.button(text=t(lang, "import.bot.button.cancel"), callback_data=ImportAct(token=token, step="n"))
    text = render_report(report, lang, dry_run_note="import.bot.dry_run_ok")
    await _send(bot, message.chat.id, text, kb.as_markup())


async def on_other(message: Message, lang: str) -> None:
    await message.answer(t(lang, "import.bot.ask"))


async def on_cancel(message: Message, lang: str, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t(lang, "import.bot.cancelled"))


async def on_button(query: CallbackQuery, callback_data: ImportAct, lang: str, bot: Bot, settings: Settings,
                    clock: Clock) -> None:
    content = _take(settings, callback_data.token)
    if content is None:
        await query.answer(t(lang, "import.bot.already_handled"), show_alert=True)
        return
    if query.message is not None:
        await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.step != "y":
        await query.answer(t(lang, "import.bot.cancelled"))
        await bot.send_message(query.from_user.id, t(lang, "import.bot.cancelled"))
        return
    await query.answer(t(lang, "import.bot.importing"))
    report = await import_register(content, settings=settings, clock=clock, dry_run=False, actor_id=query.from_user.id)
    log.info("register imported by staff %s: %s", query.from_user.id, "refused" if report.rejected else report.imported)
    await _send(bot, query.from_user.id, render_report(report, lang))


def build_router() -> Router:
    router = Router(name="staff-import")
    router.message.register(on_command, Command(COMMAND))
    router.message.register(on_cancel, StateFilter(ImportSG.file), Command("cancel"))
    router.message.register(on_document, StateFilter(ImportSG.file), F.document)
    router.message.register(on_other, StateFilter(ImportSG.file), ~F.text.startswith("/"))
    router.callback_query.register(on_button, ImportAct.filter())
    return router
