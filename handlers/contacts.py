"""/invite, /join, /leave: a station's contacts invite colleagues, join with a code, leave.

```mermaid
stateDiagram-v2
    [*] --> [*]: /invite (a code for the contact's station, shown once, valid 7 days)
    [*] --> [*]: /join CODE (joined, or one plain refusal; throttled after 5 wrong codes in 15 minutes)
    [*] --> code: /join
    code --> [*]: the code as text (as /join CODE)
    code --> [*]: /cancel
    [*] --> confirm: /leave (not the last active contact)
    confirm --> [*]: confirm (left, the others told) or cancel
```
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.i18n import t
from bot.services import contacts as service
from bot.settings import Settings

COMMANDS = ("invite", "join", "leave")
log = logging.getLogger(__name__)


class JoinSG(StatesGroup):
    code = State()


class LeaveAct(CallbackData, prefix="contact_leave"):
    station: int
    ok: int = 0


def _local(moment: datetime, settings: Settings, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(settings.tz).strftime(fmt)


async def invite(message: Message, lang: str, clock: Clock, settings: Settings) -> None:
    try:
        issued = await service.issue_for_contact(message.from_user.id, clock)
    except service.ContactRefused as refused:
        key = "invite.closed" if refused.code == "closed" else "invite.not_bound"
        await message.answer(t(lang, key))
        return
    await message.answer(t(lang, "invite.issued", code=issued.code, station=escape(issued.station.name),
                           expires=_local(issued.expires_at, settings)))


async def join(message: Message, command: CommandObject, lang: str, state: FSMContext, clock: Clock,
               settings: Settings) -> None:
    typed = (command.args or "").strip()
    if typed:
        await state.set_state(None)
        await _redeem(message, typed, lang, clock, settings)
        return
    user_id = message.from_user.id
    station = await service.bound_station(user_id)
    if station is not None:
        await message.answer(t(lang, "invite.already_bound", station=escape(station.name)))
        return
    until = await service.throttled_until(user_id, clock)
    if until is not None:
        await message.answer(t(lang, "invite.throttled", time=_local(until, settings, "%H:%M")))
        return
    await state.set_state(JoinSG.code)
    await message.answer(t(lang, "invite.join_ask"))


async def on_code(message: Message, lang: str, state: FSMContext, clock: Clock, settings: Settings) -> None:
    if not message.text:
        await message.answer(t(lang, "invite.code_expected"))
        return
    await state.set_state(None)
    await _redeem(message, message.text, lang, clock, settings)


async def _redeem(message: Message, typed: str, lang: str, clock: Clock, settings: Settings) -> None:
    outcome = await service.join(message.from_user.id, typed, clock)
    if outcome.code == "joined":
        assert outcome.station is not None
        await message.answer(t(lang, "invite.joined", station=escape(outcome.station.name)))
    elif outcome.code == "throttled":
        assert outcome.retry_at is not None
        await message.answer(t(lang, "invite.throttled", time=_local(outcome.retry_at, settings, "%H:%M")))
    elif outcome.code == "already_bound":
        station = await service.bound_station(message.from_user.id)
        await message.answer(t(lang, "invite.already_bound", station=escape(station.name if station else "")))
    else:
        await message.answer(t(lang, "invite.invalid"))


async def cancel_join(message: Message, lang: str, state: FSMContext) -> None:
    await state.set_state(None)
    await message.answer(t(lang, "invite.join_cancelled"))


async def leave(message: Message, lang: str) -> None:
    station, problem = await service.may_leave(message.from_user.id)
    if station is None:
        await message.answer(t(lang, "invite.leave_not_bound"))
        return
    if problem == "last_contact":
        await message.answer(t(lang, "invite.leave_last", station=escape(station.name)))
        return
    markup = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=t(lang, "invite.button.leave"), callback_data=LeaveAct(station=station.id, ok=1).pack()),
        InlineKeyboardButton(text=t(lang, "invite.button.stay"), callback_data=LeaveAct(station=station.id).pack()),
    ]])
    await message.answer(t(lang, "invite.leave_confirm", station=escape(station.name)), reply_markup=markup)


async def on_leave(query: CallbackQuery, callback_data: LeaveAct, lang: str, clock: Clock) -> None:
    await query.answer()
    if query.message is None:
        return
    user_id = query.from_user.id
    if not callback_data.ok:
        await query.message.answer(t(lang, "invite.leave_cancelled"))
        return
    # Checked again on the press: the person may have left, or the others gone, since the question.
    try:
        done = await service.leave(user_id, callback_data.station, clock)
    except service.ContactRefused as refused:
        if refused.code == "last_contact" and refused.station is not None:
            await query.message.answer(t(lang, "invite.leave_last", station=escape(refused.station.name)))
        else:
            # Not a contact of the station the button names: a button of one's own old station, or forged.
            log.warning("callback %s refused for user %s: not a contact of the station named (%s)",
                        LeaveAct.__prefix__, user_id, refused.code)
            await query.message.answer(t(lang, "invite.leave_stale"))
        return
    await query.message.answer(t(lang, "invite.left", station=escape(done.station.name)))


def build_router() -> Router:
    router = Router(name="contacts")
    router.message.register(invite, Command("invite"))
    router.message.register(join, Command("join"))
    router.message.register(leave, Command("leave"))
    in_join = StateFilter(JoinSG.code)
    router.message.register(cancel_join, in_join, Command("cancel"))
    # other commands go on to their handlers while the code is asked
    router.message.register(on_code, in_join, ~F.text.startswith("/"))
    router.callback_query.register(on_leave, LeaveAct.filter())
    return router
