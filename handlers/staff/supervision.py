"""Staff: supervision of stations (九, R12, R13).

- `/supervision`: the revocation candidates (stations more than 6 months past a filing due date,
  an approved extension counted), each a button to its supervision card.
- `/supervision <station id>`: the card: state, revocation, plaque, judicial referral, what is not
  filed, funding and its recovery, 核查; buttons for what may be recorded next.
- 撤销: a ground of 九, then the reason as text, then a confirmation; the station is revoked and
  its contacts told. Plaque returned, referral and recovered are recorded after a confirmation;
  a required recovery ("amount reason") and a 核查 ("[YYYY-MM-DD] finding") are typed.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock, local_today
from bot.i18n import t
from bot.rules.supervision import REVOCATION_GROUNDS
from bot.services import supervision as service
from bot.settings import Settings

COMMAND = "supervision"
COMMANDS = (COMMAND,)
PENDING = "supervision_pending"
TYPED = ("revoke", "inspection", "recovery")  # records that ask for a text
CONFIRMED = ("plaque", "referral", "recovered")  # one press, then a confirmation


class SupAct(CallbackData, prefix="staff_sup"):
    action: str  # card | revoke | ground | confirm_revoke | plaque | referral | recovered | inspection | recovery | cancel
    id: int  # the station (funding for recovery, recovered)
    ground: str = ""
    state: str = ""  # the station's state as shown
    ok: int = 0


class SupervisionTextSG(StatesGroup):
    text = State()


def _button(text: str, data: SupAct) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _money(value: Any) -> str:
    return f"{value:,.2f}" if value is not None else ""


def _day(value: date | None) -> str:
    return value.isoformat() if value else "—"


async def supervision(message: Message, command: CommandObject, lang: str, clock: Clock, settings: Settings,
                      state: FSMContext) -> None:
    await _leave_text(state)
    today = local_today(clock, settings.tz)
    args = (command.args or "").strip()
    if args:
        if not args.isdigit():
            await message.answer(t(lang, "supervision.usage"))
            return
        await _send_card(message, int(args), lang, today)
        return
    found = await service.candidates(today)
    if not found:
        await message.answer(t(lang, "supervision.no_candidates", today=today.isoformat()))
        return
    lines = [t(lang, "supervision.candidates_title", n=len(found), today=today.isoformat())]
    for c in found:
        lines.append(t(lang, "supervision.candidate_line", name=escape(c.name), id=c.station_id,
                       state=t(lang, f"station_state.{c.state}"), years="、".join(map(str, c.years)),
                       due=c.due_on.isoformat(), extended=t(lang, "supervision.extended") if c.extended else "",
                       since=c.candidate_since.isoformat()))
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [_button(f"{c.name}（{c.station_id}）", SupAct(action="card", id=c.station_id))] for c in found
    ])
    await message.answer("\n".join(lines), reply_markup=markup)


def card_text(lang: str, record: service.Record) -> str:
    s = record.station
    lines = [
        t(lang, "supervision.card_title", name=escape(s.name), id=s.id),
        t(lang, "supervision.state", state=t(lang, f"station_state.{s.state.value}")),
    ]
    if s.revoked_on:
        ground = s.revocation_reason
        label = t(lang, f"supervision.ground.{ground}") if ground in REVOCATION_GROUNDS else escape(ground)
        lines.append(t(lang, "supervision.revoked", day=_day(s.revoked_on), ground=label))
    lines.append(t(lang, "supervision.plaque", day=_day(s.plaque_returned_on)))
    lines.append(t(lang, "supervision.referral", day=_day(s.judicial_referral_on)))
    c = record.candidate
    if c is not None:
        lines.append(t(lang, "supervision.is_candidate", years="、".join(map(str, c.years)), due=c.due_on.isoformat(),
                       since=c.candidate_since.isoformat()))
    lines += ["", t(lang, "supervision.fundings")]
    for f in record.fundings:
        line = t(lang, "supervision.funding_line", id=f.id, level=f.level, amount=_money(f.amount), paid=_day(f.paid_on))
        if f.recovery_required:
            line += t(lang, "supervision.recovery_line", amount=_money(f.recovery_amount),
                      reason=escape(f.recovery_reason), recovered=_day(f.recovered_on))
        lines.append(line)
    if not record.fundings:
        lines.append(t(lang, "staff.stations.none"))
    lines += ["", t(lang, "supervision.inspections")]
    lines += [t(lang, "supervision.inspection_line", day=_day(i.inspected_on), finding=escape(i.finding))
              for i in record.inspections] or [t(lang, "staff.stations.none")]
    return "\n".join(lines)


def card_keyboard(lang: str, record: service.Record) -> InlineKeyboardMarkup:
    s = record.station
    state = s.state.value
    rows = []
    if service.is_revocable(state):
        rows.append([_button(t(lang, "supervision.button.revoke"), SupAct(action="revoke", id=s.id, state=state))])
    if state in ("revoked", "deregistered") and s.plaque_returned_on is None:
        rows.append([_button(t(lang, "supervision.button.plaque"), SupAct(action="plaque", id=s.id))])
    if s.judicial_referral_on is None:
        rows.append([_button(t(lang, "supervision.button.referral"), SupAct(action="referral", id=s.id))])
    rows.append([_button(t(lang, "supervision.button.inspection"), SupAct(action="inspection", id=s.id))])
    for f in record.fundings:
        if f.recovered_on is not None:
            continue
        if f.recovery_required:
            rows.append([_button(t(lang, "supervision.button.recovered", id=f.id), SupAct(action="recovered", id=f.id))])
        else:
            rows.append([_button(t(lang, "supervision.button.recovery", id=f.id), SupAct(action="recovery", id=f.id))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _send_card(message: Message, station_id: int, lang: str, today: date) -> None:
    record = await service.station_record(station_id, today)
    if record is None:
        await message.answer(t(lang, "supervision.no_station", id=station_id))
        return
    await message.answer(card_text(lang, record), reply_markup=card_keyboard(lang, record))


async def _leave_text(state: FSMContext) -> None:
    if await state.get_state() == SupervisionTextSG.text.state:
        await state.set_state(None)
    await state.update_data({PENDING: None})


def _confirm_keyboard(lang: str, data: SupAct, label_key: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        _button(t(lang, label_key), SupAct(action=data.action, id=data.id, ground=data.ground, state=data.state, ok=1)),
        _button(t(lang, "supervision.button.cancel"), SupAct(action="cancel", id=data.id)),
    ]])


async def on_action(query: CallbackQuery, callback_data: SupAct, lang: str, clock: Clock, settings: Settings,
                    state: FSMContext) -> None:
    await query.answer()
    message = query.message
    if message is None:
        return
    chat_id = query.from_user.id
    bot = query.bot
    today = local_today(clock, settings.tz)
    data = callback_data
    if data.action == "card":
        await _leave_text(state)
        await _send_card_to(bot, chat_id, data.id, lang, today)
    elif data.action == "cancel":
        await _leave_text(state)
        await bot.send_message(chat_id, t(lang, "supervision.cancelled"))
    elif data.action == "revoke":
        await _leave_text(state)
        rows = [[_button(t(lang, f"supervision.ground.{g}"), SupAct(action="ground", id=data.id, ground=g, state=data.state))]
                for g in REVOCATION_GROUNDS]
        rows.append([_button(t(lang, "supervision.button.cancel"), SupAct(action="cancel", id=data.id))])
        await bot.send_message(chat_id, t(lang, "supervision.choose_ground", id=data.id),
                               reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
    elif data.action in ("ground", "inspection", "recovery"):
        pending = {"action": data.action, "id": data.id, "ground": data.ground, "state": data.state}
        await state.set_state(SupervisionTextSG.text)
        await state.update_data({PENDING: pending})
        key = {"ground": "supervision.ask.revoke", "inspection": "supervision.ask.inspection",
               "recovery": "supervision.ask.recovery"}[data.action]
        await bot.send_message(chat_id, t(lang, key, id=data.id,
                                          ground=t(lang, f"supervision.ground.{data.ground}") if data.ground else ""))
    elif data.action == "confirm_revoke":
        pending = (await state.get_data()).get(PENDING) or {}
        if pending.get("action") != "confirm_revoke" or pending.get("id") != data.id or not data.ok:
            await bot.send_message(chat_id, t(lang, "supervision.expired"))
            return
        await _leave_text(state)
        outcome = await service.revoke(data.id, pending["ground"], pending["text"], staff_id=chat_id,
                                       expected_state=pending["state"], now=clock.now(), today=today)
        if outcome.ok:
            await bot.send_message(chat_id, t(lang, "supervision.revoked_done", id=data.id, n=outcome.notified))
            await _send_card_to(bot, chat_id, data.id, lang, today)
        else:
            await bot.send_message(chat_id, t(lang, "supervision.refused", code=outcome.code,
                                              state=t(lang, f"station_state.{outcome.state}") if outcome.state else ""))
    elif data.action in CONFIRMED:
        if not data.ok:
            await bot.send_message(chat_id, t(lang, f"supervision.confirm.{data.action}", id=data.id),
                                   reply_markup=_confirm_keyboard(lang, data, "supervision.button.confirm"))
            return
        outcome = await service.record(data.action, data.id, staff_id=chat_id, now=clock.now(), today=today)
        await _report(bot, chat_id, lang, data.action, data.id, outcome)


async def _send_card_to(bot: Any, chat_id: int, station_id: int, lang: str, today: date) -> None:
    record = await service.station_record(station_id, today)
    if record is None:
        await bot.send_message(chat_id, t(lang, "supervision.no_station", id=station_id))
        return
    await bot.send_message(chat_id, card_text(lang, record), reply_markup=card_keyboard(lang, record))


async def _report(bot: Any, chat_id: int, lang: str, what: str, subject_id: int, outcome: service.Outcome) -> None:
    if outcome.ok:
        await bot.send_message(chat_id, t(lang, f"supervision.done.{what}", id=subject_id, today=""))
    else:
        await bot.send_message(chat_id, t(lang, f"supervision.record_refused.{outcome.code}"))


def _split_day(text: str) -> tuple[date | None, str]:
    head, _, rest = text.strip().partition(" ")
    try:
        return date.fromisoformat(head), rest.strip()
    except ValueError:
        return None, text.strip()


async def on_text(message: Message, lang: str, clock: Clock, settings: Settings, state: FSMContext) -> None:
    pending = (await state.get_data()).get(PENDING) or {}
    text = (message.text or "").strip()
    today = local_today(clock, settings.tz)
    action = pending.get("action")
    if action == "ground":
        pending = {**pending, "action": "confirm_revoke", "text": text}
        await state.set_state(None)
        await state.update_data({PENDING: pending})
        confirm = SupAct(action="confirm_revoke", id=pending["id"], ground=pending["ground"], state=pending["state"])
        await message.answer(
            t(lang, "supervision.confirm.revoke", id=pending["id"], ground=t(lang, f"supervision.ground.{pending['ground']}"),
              text=escape(text)),
            reply_markup=_confirm_keyboard(lang, confirm, "supervision.button.confirm_revoke"),
        )
    elif action == "inspection":
        day, finding = _split_day(text)
        if day is not None and day > today:
            await message.answer(t(lang, "supervision.future_day"))
            return
        await _leave_text(state)
        outcome = await service.record("inspection", pending["id"], staff_id=message.from_user.id, now=clock.now(),
                                       today=today, text=finding, on=day)
        await _report(message.bot, message.chat.id, lang, "inspection", pending["id"], outcome)
    elif action == "recovery":
        amount_text, _, reason = text.partition(" ")
        amount = service.parse_amount(amount_text)
        if amount is None or not reason.strip():
            await message.answer(t(lang, "supervision.bad_recovery"))
            return
        await _leave_text(state)
        outcome = await service.record("recovery", pending["id"], staff_id=message.from_user.id, now=clock.now(),
                                       today=today, text=reason, amount=amount)
        await _report(message.bot, message.chat.id, lang, "recovery", pending["id"], outcome)
    else:
        await _leave_text(state)


async def cancel_text(message: Message, lang: str, state: FSMContext) -> None:
    await _leave_text(state)
    await message.answer(t(lang, "supervision.cancelled"))


def build_router() -> Router:
    router = Router(name="staff-supervision")
    router.message.register(cancel_text, StateFilter(SupervisionTextSG.text), Command("cancel"))
    router.message.register(supervision, Command(COMMAND))
    router.message.register(on_text, StateFilter(SupervisionTextSG.text), F.text, ~F.text.startswith("/"))
    router.callback_query.register(on_action, SupAct.filter())
    return router
