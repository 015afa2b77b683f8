"""/pending and /review: the staff review queues, an item, and the review acts (R6).

The queues are an aiogram-dialog dialog (a Select per queue, a ScrollingGroup of the items, oldest
first). Choosing an item sends it as a message of its own with buttons of prefixed callback data
(`staff_item`, `staff_act`): each act button carries the item, the act and the state the item was
shown in, so a second press, a replayed button or a colleague who acted first is answered "already
handled" by the state check of `apply_transition`, whatever dialog or conversation is open.

```mermaid
stateDiagram-v2
    [*] --> queues: /pending
    queues --> items: a queue
    items --> item: an item (a new message); /review <reference>
    item --> text: an act that records a reason or a comment
    text --> confirm: the text
    item --> confirm: an act without text
    confirm --> item: confirmed (done, or refused: stale, materials missing)
    confirm --> [*]: cancelled
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Back, Cancel, Column, ScrollingGroup, Select
from aiogram_dialog.widgets.text import Format

from bot.clock import Clock, local_today
from bot.i18n import t
from bot.services import review
from bot.settings import Settings
from handlers.dialog_scope import scoped
from handlers.staff.confirm import confirm_keyboard, confirm_text, drop_pending, keep_text, take_text
from storage.models import Submission

PENDING_COMMAND = "pending"
REVIEW_COMMAND = "review"
COMMANDS = (PENDING_COMMAND, REVIEW_COMMAND)
MESSAGE_LIMIT = 3500  # characters per message (Telegram allows 4096)

# Further act buttons of an item, from the modules that own those acts (grading, extension and
# deregistration decisions): each gets (lang, view) and returns (label, callback data) pairs.
ITEM_BUTTONS: list[Callable[[str, review.ItemView], list[tuple[str, CallbackData]]]] = []


class QueueSG(StatesGroup):
    queues = State()
    items = State()


class ReviewTextSG(StatesGroup):
    """Waiting for the reason (or the experts' comment) of an act."""

    text = State()


# Where a typed reason waits in the FSM data (handlers/staff/confirm.py).
PENDING_KEY = "review_pending"
TEXTS_KEY = "review_texts"


class ItemAction(CallbackData, prefix="staff_item"):
    id: int
    op: str  # open | reveal | docs | print


class ReviewAct(CallbackData, prefix="staff_act"):
    id: int
    action: str
    state: str  # the state the item was shown in
    step: str  # a: ask, y: confirm, n: cancel


# -- the queues (dialog) ------------------------------------------------------------------------


def _lang(manager: DialogManager) -> str:
    return manager.middleware_data.get("lang", "zh")


def _queue_label(lang: str, kind: str, status: str) -> str:
    return t(lang, "staff.queue.queue", kind=t(lang, f"submission_kind.{kind}"),
             status=t(lang, f"submission_status.{status}"))


async def queues_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    lang = _lang(dialog_manager)
    data = dialog_manager.middleware_data
    submission_queues, extra = await review.queues(local_today(data["clock"], data["settings"].tz))
    lines = [t(lang, "staff.queue.title")]
    buttons = []
    for queue in submission_queues:
        if queue.count:
            label = t(lang, "staff.queue.count", queue=_queue_label(lang, queue.kind, queue.status), n=queue.count)
            lines.append(f"· {label}")
            buttons.append((f"{queue.kind}|{queue.status}", label))
    for source, n in extra:
        lines.append("· " + t(lang, "staff.queue.extra", label=t(lang, source.label_key), n=n, command=source.command))
    if len(lines) == 1:
        lines.append(t(lang, "staff.queue.empty"))
    else:
        lines.append(t(lang, "staff.queue.choose"))
    return {"overview": "\n".join(lines), "queues": buttons, "close": t(lang, "staff.queue.close")}


async def items_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    lang = _lang(dialog_manager)
    settings: Settings = dialog_manager.middleware_data["settings"]
    kind, _, status = str(dialog_manager.dialog_data.get("queue", "")).partition("|")
    items = await review.queue_items(kind, status)
    buttons = []
    for item in items:
        at = item.submitted_at.astimezone(settings.tz).strftime("%m-%d") if item.submitted_at else ""
        name = item.unit_name or item.station_name
        buttons.append((str(item.id), f"{item.reference} · {name} · {at}"))
    title = t(lang, "staff.queue.items", queue=_queue_label(lang, kind, status), n=len(items))
    if len(items) >= review.QUEUE_LIMIT:
        title += "\n" + t(lang, "staff.queue.limited", n=review.QUEUE_LIMIT)
    if not items:
        title += "\n" + t(lang, "staff.queue.empty")
    return {"title": title, "items": buttons, "back": t(lang, "staff.queue.back")}


async def on_queue(query: CallbackQuery, widget: Any, manager: DialogManager, item_id: str) -> None:
    manager.dialog_data["queue"] = item_id
    await manager.switch_to(QueueSG.items)


async def on_item(query: CallbackQuery, widget: Any, manager: DialogManager, item_id: str) -> None:
    data = manager.middleware_data
    await send_item(data["bot"], query.from_user.id, int(item_id), _lang(manager), data["clock"], data["settings"])
    manager.show_mode = ShowMode.NO_UPDATE  # the list stays as it is above the item


def queue_dialog() -> Dialog:
    return scoped(Dialog(
        Window(
            Format("{overview}"),
            Column(Select(Format("{item[1]}"), id="q", item_id_getter=lambda x: x[0], items="queues", on_click=on_queue)),
            Cancel(Format("{close}")),
            getter=queues_getter,
            state=QueueSG.queues,
        ),
        Window(
            Format("{title}"),
            ScrollingGroup(
                Select(Format("{item[1]}"), id="i", item_id_getter=lambda x: x[0], items="items", on_click=on_item),
                id="page", width=1, height=8, hide_on_single_page=True,
            ),
            Back(Format("{back}")),
            getter=items_getter,
            state=QueueSG.items,
        ),
    ))


async def pending(message: Message, dialog_manager: DialogManager) -> None:
    await dialog_manager.start(QueueSG.queues, mode=StartMode.RESET_STACK)


async def review_command(message: Message, command: CommandObject, lang: str, bot: Bot, clock: Clock,
                         settings: Settings) -> None:
    reference = (command.args or "").strip().upper()
    found = await Submission.filter(reference=reference).values_list("id", flat=True) if reference else []
    if not found:
        await message.answer(t(lang, "staff.review.usage"))
        return
    await send_item(bot, message.chat.id, found[0], lang, clock, settings)


# -- one item -----------------------------------------------------------------------------------


def _chunks(text: str) -> list[str]:
    chunks, current = [], ""
    for line in text.split("\n"):
        while len(line) > MESSAGE_LIMIT:  # one very long answer
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:MESSAGE_LIMIT])
            line = line[MESSAGE_LIMIT:]
        if current and len(current) + 1 + len(line) > MESSAGE_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _item_keyboard(lang: str, view: review.ItemView) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for action in view.actions:
        kb.button(text=t(lang, f"staff.review.act.{action}"),
                  callback_data=ReviewAct(id=view.id, action=action, state=view.status, step="a"))
    for buttons in ITEM_BUTTONS:
        for label, data in buttons(lang, view):
            kb.button(text=label, callback_data=data)
    if view.has_personal:
        op = "open" if view.revealed else "reveal"
        kb.button(text=t(lang, f"staff.review.button.{op}"), callback_data=ItemAction(id=view.id, op=op))
    if view.documents:
        kb.button(text=t(lang, "staff.review.button.docs", n=len(view.documents)),
                  callback_data=ItemAction(id=view.id, op="docs"))
    if view.printable:
        kb.button(text=t(lang, "staff.review.button.print"), callback_data=ItemAction(id=view.id, op="print"))
    kb.button(text=t(lang, "staff.review.button.refresh"), callback_data=ItemAction(id=view.id, op="open"))
    kb.adjust(1)
    return kb.as_markup()


async def _send_view(bot: Bot, chat_id: int, lang: str, view: review.ItemView) -> None:
    chunks = _chunks(view.text)
    for chunk in chunks[:-1]:
        await bot.send_message(chat_id, chunk)
    await bot.send_message(chat_id, chunks[-1], reply_markup=_item_keyboard(lang, view))


async def send_item(bot: Bot, chat_id: int, submission_id: int, lang: str, clock: Clock, settings: Settings) -> None:
    view = await review.item_view(submission_id, lang, clock, settings)
    if view is None:
        await bot.send_message(chat_id, t(lang, "staff.review.not_found"))
        return
    await _send_view(bot, chat_id, lang, view)


async def on_item_action(query: CallbackQuery, callback_data: ItemAction, lang: str, bot: Bot, clock: Clock,
                         settings: Settings) -> None:
    await query.answer()
    chat_id = query.from_user.id
    if callback_data.op == "reveal":
        view = await review.reveal(callback_data.id, query.from_user.id, lang, clock, settings)
        if view is None:
            await bot.send_message(chat_id, t(lang, "staff.review.not_found"))
            return
        await _send_view(bot, chat_id, lang, view)
    elif callback_data.op == "docs":
        view = await review.item_view(callback_data.id, lang, clock, settings)
        if view is None:
            await bot.send_message(chat_id, t(lang, "staff.review.not_found"))
            return
        for doc in view.documents:
            caption = t(lang, "staff.review.doc_caption", reference=view.reference, label=doc.label)
            if doc.is_photo:
                await bot.send_photo(chat_id, doc.file_id, caption=caption)
            else:
                await bot.send_document(chat_id, doc.file_id, caption=caption)
    elif callback_data.op == "print":
        printed = await review.printed(callback_data.id, lang, clock, settings)
        if printed is None:
            await bot.send_message(chat_id, t(lang, "staff.review.not_found"))
            return
        await bot.send_document(chat_id, BufferedInputFile(printed.content, filename=printed.filename),
                                caption=t(lang, printed.caption_key, reference=printed.reference))
    else:
        await send_item(bot, chat_id, callback_data.id, lang, clock, settings)


# -- the acts -----------------------------------------------------------------------------------


def _act_name(lang: str, action: str) -> str:
    return t(lang, f"staff.review.act.{action}")


def _text_key(data: ReviewAct) -> str:
    return f"{data.id}:{data.action}"


async def _ask_confirm(bot: Bot, chat_id: int, lang: str, data: ReviewAct, reference: str, text: str) -> None:
    await bot.send_message(chat_id, confirm_text(lang, _act_name(lang, data.action), reference, text),
                           reply_markup=confirm_keyboard(lang, data))


async def _reference(submission_id: int) -> str:
    found = await Submission.filter(id=submission_id).values_list("reference", flat=True)
    return (found[0] if found else None) or f"#{submission_id}"


async def on_act(query: CallbackQuery, callback_data: ReviewAct, lang: str, bot: Bot, state: FSMContext,
                 clock: Clock, settings: Settings) -> None:
    chat_id = query.from_user.id
    if callback_data.step == "n":
        texts = dict((await state.get_data()).get(TEXTS_KEY, {}))
        texts.pop(_text_key(callback_data), None)
        await state.update_data({TEXTS_KEY: texts})
        if await state.get_state() == ReviewTextSG.text.state:
            await state.set_state(None)
        await query.answer(t(lang, "staff.review.cancelled"))
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        await bot.send_message(chat_id, t(lang, "staff.review.cancelled"))
        return
    if callback_data.step == "a":
        await query.answer()
        current = await Submission.filter(id=callback_data.id).values_list("status", flat=True)
        reference = await _reference(callback_data.id)
        if not current or str(current[0]) != callback_data.state:
            now = t(lang, f"submission_status.{current[0]}") if current else "—"
            await bot.send_message(chat_id, t(lang, "staff.review.refused.stale", reference=reference, status=now))
            return
        if review.needs_text(callback_data.action):
            await state.set_state(ReviewTextSG.text)
            await state.update_data({PENDING_KEY: callback_data.pack()})
            kb = InlineKeyboardBuilder()
            kb.button(text=t(lang, "staff.review.button.cancel"), callback_data=callback_data.model_copy(update={"step": "n"}))
            await bot.send_message(
                chat_id, t(lang, f"staff.review.ask_text.{callback_data.action}", reference=reference),
                reply_markup=kb.as_markup(),
            )
            return
        await _ask_confirm(bot, chat_id, lang, callback_data, reference, "")
        return
    # step "y": the act itself
    await query.answer()
    texts = dict((await state.get_data()).get(TEXTS_KEY, {}))
    text = texts.pop(_text_key(callback_data), "")
    outcome = await review.act(callback_data.id, callback_data.action, staff_id=query.from_user.id,
                               expected_state=callback_data.state, reason=text, now=clock.now())
    if outcome.ok:
        await state.update_data({TEXTS_KEY: texts})
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        await bot.send_message(chat_id, t(lang, "staff.review.done", act=_act_name(lang, callback_data.action),
                                          reference=outcome.reference,
                                          status=t(lang, f"submission_status.{outcome.status}"),
                                          n=outcome.notified))
        await send_item(bot, chat_id, callback_data.id, lang, clock, settings)
        return
    code = outcome.code or "unknown"
    if code == "materials_missing":
        missing = "、".join(t(lang, "staff.review.stamped_form") if kind == "stamped_form" else kind
                           for kind in outcome.missing)
        message = t(lang, "staff.review.refused.materials_missing", reference=outcome.reference, missing=missing)
    elif code in ("stale", "not_allowed"):
        status = t(lang, f"submission_status.{outcome.status}") if outcome.status else "—"
        message = t(lang, "staff.review.refused.stale", reference=outcome.reference, status=status)
    else:
        message = t(lang, f"staff.review.refused.{code}", reference=outcome.reference)
    await bot.send_message(chat_id, message)


async def on_text(message: Message, lang: str, bot: Bot, state: FSMContext) -> None:
    taken = await take_text(message, lang, state, pending_key=PENDING_KEY)
    if taken is None:
        return
    packed, text = taken
    act = ReviewAct.unpack(packed)
    await keep_text(state, pending_key=PENDING_KEY, texts_key=TEXTS_KEY, key=_text_key(act), text=text)
    await _ask_confirm(bot, message.chat.id, lang, act.model_copy(update={"step": "a"}), await _reference(act.id), text)


async def cancel_text(message: Message, lang: str, state: FSMContext) -> None:
    await drop_pending(message, lang, state, pending_key=PENDING_KEY)


def build_router() -> Router:
    router = Router(name="staff-queue")
    router.message.register(cancel_text, StateFilter(ReviewTextSG.text), Command("cancel"))
    router.message.register(pending, Command(PENDING_COMMAND))
    router.message.register(review_command, Command(REVIEW_COMMAND))
    router.callback_query.register(on_item_action, ItemAction.filter())
    router.callback_query.register(on_act, ReviewAct.filter())
    # the reason or comment: any text but a command (commands go on to their handlers)
    router.message.register(on_text, StateFilter(ReviewTextSG.text), F.text, ~F.text.startswith("/"))
    router.include_router(queue_dialog())
    return router
