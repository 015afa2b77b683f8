"""Extension requests (R11) and deregistration requests (R14) on the bureau's side: the item of a
submitted request (/review) offers the decisions.

Extension: approve with a number of months (a picker, 1–6; 7–12 behind a further button), where
more than six or fewer than asked (shortened) asks for the reason first; or refuse with a reason.
Deregistration: approve (the station is deregistered, the plaque recorded as handed back) or
refuse with a reason. Each button carries the item and the state it was shown in (`staff_dec`).

```mermaid
stateDiagram-v2
    [*] --> item: /review (submitted)
    item --> months: approve extension
    months --> text: >6 months, or shortened
    item --> text: refuse
    months --> confirm: 1–6 months as asked
    text --> confirm: the reason
    item --> confirm: approve deregistration
    confirm --> item: done, or refused (stale, reason missing)
```
"""

from __future__ import annotations


from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.clock import Clock, local_today
from bot.i18n import t
from bot.rules.decisions import MAX_EXTENSION_MONTHS, NORMAL_EXTENSION_MONTHS, extended_due_on, extension_needs_reason
from bot.rules.lifecycle import filing_due_on
from bot.services import extensions as service
from bot.services.review import ItemView
from bot.settings import Settings
from handlers.staff import queue
from handlers.staff.confirm import confirm_keyboard, confirm_text, drop_pending, keep_text, take_text
from storage.models import FilingObligation, Submission

EXTENSION_APPROVE, EXTENSION_REFUSE = "xa", "xr"
DEREGISTRATION_APPROVE, DEREGISTRATION_REFUSE = "da", "dr"
WITH_REASON = frozenset({EXTENSION_REFUSE, DEREGISTRATION_REFUSE})


class DecisionAct(CallbackData, prefix="staff_dec"):
    id: int
    op: str  # xa, xr, da, dr
    months: int  # xa: the months chosen (0: not yet)
    state: str  # the state the item was shown in
    step: str  # a: ask, more: longer months, y: confirm, n: cancel


class DecisionTextSG(StatesGroup):
    text = State()


# Where a typed reason waits in the FSM data (handlers/staff/confirm.py).
PENDING_KEY = "decision_pending"
TEXTS_KEY = "decision_texts"


def item_buttons(lang: str, view: ItemView) -> list[tuple[str, CallbackData]]:
    if view.status != "submitted" or view.kind not in ("extension", "deregistration"):
        return []
    ops = (EXTENSION_APPROVE, EXTENSION_REFUSE) if view.kind == "extension" else (DEREGISTRATION_APPROVE, DEREGISTRATION_REFUSE)
    return [(t(lang, f"staff.decide.button.{op}"), DecisionAct(id=view.id, op=op, months=0, state=view.status, step="a"))
            for op in ops]


def _key(data: DecisionAct) -> str:
    return f"{data.id}:{data.op}:{data.months}"


async def _due_now(submission: dict) -> tuple[int | None, object]:
    requested = service.requested_months(submission["answers"])
    found = await FilingObligation.filter(station_id=submission["station_id"], year=submission["year"]).first()
    due = found.due_on if found else filing_due_on(submission["year"])
    return requested, due


def _act_name(lang: str, data: DecisionAct, due: object = None) -> str:
    if data.op == EXTENSION_APPROVE:
        return t(lang, "staff.decide.act.xa_months", months=data.months, due=due)
    return t(lang, f"staff.decide.act.{data.op}")


async def _confirm(bot: Bot, chat_id: int, lang: str, data: DecisionAct, reference: str, row: dict, text: str) -> None:
    due = None
    if data.op == EXTENSION_APPROVE:
        _, current = await _due_now(row)
        due = extended_due_on(current, data.months).isoformat()
    await bot.send_message(chat_id, confirm_text(lang, _act_name(lang, data, due), reference, text),
                           reply_markup=confirm_keyboard(lang, data))


async def _ask_text(bot: Bot, chat_id: int, lang: str, data: DecisionAct, reference: str, state: FSMContext) -> None:
    await state.set_state(DecisionTextSG.text)
    await state.update_data({PENDING_KEY: data.pack()})
    kb = InlineKeyboardBuilder()
    kb.button(text=t(lang, "staff.review.button.cancel"), callback_data=data.model_copy(update={"step": "n"}))
    key = "staff.decide.ask_text.xa" if data.op == EXTENSION_APPROVE else f"staff.decide.ask_text.{data.op}"
    await bot.send_message(chat_id, t(lang, key, reference=reference, months=data.months), reply_markup=kb.as_markup())


async def _months_picker(bot: Bot, chat_id: int, lang: str, data: DecisionAct, reference: str, row: dict, longer: bool) -> None:
    requested, due = await _due_now(row)
    kb = InlineKeyboardBuilder()
    months = range(NORMAL_EXTENSION_MONTHS + 1, MAX_EXTENSION_MONTHS + 1) if longer else range(1, NORMAL_EXTENSION_MONTHS + 1)
    for n in months:
        label = t(lang, "staff.decide.months_button", months=n, due=extended_due_on(due, n).isoformat())
        if n == requested:
            label += t(lang, "staff.decide.requested_mark")
        kb.button(text=label, callback_data=data.model_copy(update={"months": n, "step": "a"}))
    if not longer:
        kb.button(text=t(lang, "staff.decide.longer_button", months=NORMAL_EXTENSION_MONTHS),
                  callback_data=data.model_copy(update={"step": "more"}))
    kb.button(text=t(lang, "staff.review.button.cancel"), callback_data=data.model_copy(update={"step": "n"}))
    kb.adjust(1)
    await bot.send_message(chat_id, t(lang, "staff.decide.months_question", reference=reference,
                                      requested=requested or "—", due=due.isoformat(), normal=NORMAL_EXTENSION_MONTHS),
                           reply_markup=kb.as_markup())


async def on_decision(query: CallbackQuery, callback_data: DecisionAct, lang: str, bot: Bot, state: FSMContext,
                      clock: Clock, settings: Settings) -> None:
    chat_id = query.from_user.id
    data = callback_data
    if data.step == "n":
        texts = dict((await state.get_data()).get(TEXTS_KEY, {}))
        texts.pop(_key(data), None)
        await state.update_data({TEXTS_KEY: texts, PENDING_KEY: None})
        if await state.get_state() == DecisionTextSG.text.state:
            await state.set_state(None)
        await query.answer(t(lang, "staff.review.cancelled"))
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        await bot.send_message(chat_id, t(lang, "staff.review.cancelled"))
        return
    await query.answer()
    found = await Submission.filter(id=data.id).values("reference", "status", "kind", "answers", "station_id", "year")
    if not found:
        await bot.send_message(chat_id, t(lang, "staff.review.not_found"))
        return
    row = found[0]
    reference = row["reference"] or f"#{data.id}"
    if data.step in ("a", "more"):
        if str(row["status"]) != data.state:
            await bot.send_message(chat_id, t(lang, "staff.review.refused.stale", reference=reference,
                                              status=t(lang, f"submission_status.{row['status']}")))
            return
        if data.op == EXTENSION_APPROVE and (data.months == 0 or data.step == "more"):
            await _months_picker(bot, chat_id, lang, data, reference, row, longer=data.step == "more")
        elif data.op in WITH_REASON or (
            data.op == EXTENSION_APPROVE and extension_needs_reason(data.months, service.requested_months(row["answers"]))
        ):
            await _ask_text(bot, chat_id, lang, data, reference, state)
        else:
            await _confirm(bot, chat_id, lang, data, reference, row, "")
        return
    # step "y": the decision itself
    texts = dict((await state.get_data()).get(TEXTS_KEY, {}))
    reason = texts.pop(_key(data), "")
    now = clock.now()
    if data.op == EXTENSION_APPROVE:
        outcome = await service.approve_extension(data.id, data.months, staff_id=chat_id, expected_state=data.state,
                                                  reason=reason, now=now, today=local_today(clock, settings.tz))
    elif data.op == EXTENSION_REFUSE:
        outcome = await service.refuse_extension(data.id, staff_id=chat_id, expected_state=data.state, reason=reason, now=now)
    elif data.op == DEREGISTRATION_APPROVE:
        outcome = await service.approve_deregistration(data.id, staff_id=chat_id, expected_state=data.state,
                                                       today=local_today(clock, settings.tz), now=now)
    else:
        outcome = await service.refuse_deregistration(data.id, staff_id=chat_id, expected_state=data.state,
                                                      reason=reason, now=now)
    if outcome.ok:
        await state.update_data({TEXTS_KEY: texts})
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        due = outcome.due_on.isoformat() if outcome.due_on else None
        await bot.send_message(chat_id, t(lang, "staff.review.done", act=_act_name(lang, data, due), reference=reference,
                                          status=t(lang, f"submission_status.{outcome.status}"), n=outcome.notified))
        await queue.send_item(bot, chat_id, data.id, lang, clock, settings)
        return
    if outcome.code in ("stale", "not_allowed"):
        status = t(lang, f"submission_status.{outcome.status}") if outcome.status else "—"
        message = t(lang, "staff.review.refused.stale", reference=reference, status=status)
    elif outcome.code == "station_cannot_follow":
        message = t(lang, "staff.decide.refused.station_cannot_follow", reference=reference,
                    state=t(lang, f"station_state.{outcome.status}") if outcome.status else "—")
    elif outcome.code in ("reason_required", "filing_not_extendable", "bad_months", "no_filing"):
        message = t(lang, f"staff.decide.refused.{outcome.code}", reference=reference, normal=NORMAL_EXTENSION_MONTHS)
    else:
        message = t(lang, "staff.review.refused.unknown", reference=reference)
    await bot.send_message(chat_id, message)


async def on_text(message: Message, lang: str, bot: Bot, state: FSMContext) -> None:
    taken = await take_text(message, lang, state, pending_key=PENDING_KEY)
    if taken is None:
        return
    packed, text = taken
    act = DecisionAct.unpack(packed)
    await keep_text(state, pending_key=PENDING_KEY, texts_key=TEXTS_KEY, key=_key(act), text=text)
    found = await Submission.filter(id=act.id).values("reference", "status", "kind", "answers", "station_id", "year")
    if not found:
        await message.answer(t(lang, "staff.review.not_found"))
        return
    await _confirm(bot, message.chat.id, lang, act, found[0]["reference"] or f"#{act.id}", found[0], text)


async def cancel_text(message: Message, lang: str, state: FSMContext) -> None:
    await drop_pending(message, lang, state, pending_key=PENDING_KEY)


def build_router() -> Router:
    if item_buttons not in queue.ITEM_BUTTONS:
        queue.ITEM_BUTTONS.append(item_buttons)
    router = Router(name="staff-decisions")
    router.message.register(cancel_text, StateFilter(DecisionTextSG.text), Command("cancel"))
    router.callback_query.register(on_decision, DecisionAct.filter())
    router.message.register(on_text, StateFilter(DecisionTextSG.text), F.text, ~F.text.startswith("/"))
    return router
