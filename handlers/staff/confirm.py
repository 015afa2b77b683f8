"""What every irreversible staff act shares: the confirm/cancel step and the typed reason.

An act's CallbackData carries a `step` field: "y" confirms, "n" cancels (`confirm_keyboard`). A
reason or comment is asked in a state of the act's module; `take_text` keeps the typed text under
the act's key in the FSM data (`texts_key`) and clears the pending act (`pending_key`), and
`drop_pending` is /cancel while it is asked.
"""

from __future__ import annotations

from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import t

MAX_TEXT = 1000


def confirm_keyboard(lang: str, data: CallbackData) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t(lang, "staff.review.button.confirm"), callback_data=data.model_copy(update={"step": "y"}))
    kb.button(text=t(lang, "staff.review.button.cancel"), callback_data=data.model_copy(update={"step": "n"}))
    kb.adjust(2)
    return kb.as_markup()


def confirm_text(lang: str, act: str, reference: str, text: str) -> str:
    """"Confirm <act> on <reference>?", the reason or comment if any, and that it cannot be undone."""
    lines = [t(lang, "staff.review.confirm", act=act, reference=reference)]
    if text:
        lines.append(t(lang, "staff.review.confirm_text", text=escape(text)))
    lines.append(t(lang, "staff.review.irreversible"))
    return "\n".join(lines)


async def take_text(message: Message, lang: str, state: FSMContext, *, pending_key: str) -> tuple[str, str] | None:
    """The packed act waiting for a text and the text typed for it; None when nothing was waiting
    or the message had no text (then it is asked again). `keep_text` then stores it."""
    data = await state.get_data()
    packed = data.get(pending_key)
    text = (message.text or "").strip()[:MAX_TEXT]
    if not packed:
        await state.set_state(None)
        return None
    if not text:
        await message.answer(t(lang, "staff.review.text_expected"))
        return None
    return packed, text


async def keep_text(state: FSMContext, *, pending_key: str, texts_key: str, key: str, text: str) -> None:
    texts = dict((await state.get_data()).get(texts_key, {}))
    texts[key] = text
    await state.update_data({texts_key: texts, pending_key: None})
    await state.set_state(None)


async def drop_pending(message: Message, lang: str, state: FSMContext, *, pending_key: str) -> None:
    """/cancel while a reason or comment is asked: nothing is done."""
    await state.update_data({pending_key: None})
    await state.set_state(None)
    await message.answer(t(lang, "staff.review.cancelled"))
