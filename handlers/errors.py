"""Last line: log what failed without personal data, and tell the user plainly."""

from __future__ import annotations

import logging
import traceback

from aiogram import Bot, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent
from aiogram_dialog.api.exceptions import OutdatedIntent, UnknownIntent

from bot.clock import Clock, SystemClock
from bot.i18n import t
from storage import outbox

log = logging.getLogger(__name__)
async def on_error(event: ErrorEvent, bot: Bot, lang: str = "zh", clock: Clock | None = None) -> bool:
    exc = event.exception
    if isinstance(exc, TelegramForbiddenError):
        # The person blocked the bot (or left the chat): nothing to tell them, nothing failed here.
        # Marked unreachable like the sender does; writing to the bot again makes them reachable.
        chat_id = _chat_of(event)
        if chat_id is not None and chat_id > 0:
            await outbox.mark_unreachable(chat_id, (clock or SystemClock()).now())
        log.info("update %s: the chat refuses the bot's messages (blocked)", event.update.update_id)
        return True
    if isinstance(exc, UnknownIntent | OutdatedIntent):
        # A button of a form that is already closed (submitted, discarded, or on an old message).
        log.info("update %s: button of a closed form", event.update.update_id)
        await _tell(event, bot, t(lang, "error.outdated"))
        return True
    # Only the exception's type and where it was raised: its message may quote what the user typed.
    where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    log.error("update %s failed: %s\n%s", event.update.update_id, type(exc).__name__, where)
    await _tell(event, bot, t(lang, "error.generic"))
    return True


async def _tell(event: ErrorEvent, bot: Bot, text: str) -> None:
    chat_id = _chat_of(event)
    if chat_id is None:
        return
    try:
        if event.update.callback_query is not None:
            await event.update.callback_query.answer()
        await bot.send_message(chat_id, text)
    except Exception as send_exc:  # the apology itself must never raise again
        log.warning("could not tell chat about the failure: %s", type(send_exc).__name__)


def _chat_of(event: ErrorEvent) -> int | None:
    update = event.update
    if update.message:
        return update.message.chat.id
    if update.callback_query and update.callback_query.message:
        return update.callback_query.message.chat.id
    return None


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
