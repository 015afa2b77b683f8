"""/announcements and /objection: anyone reads the open 公示 and objects to an item while it runs.

```mermaid
stateDiagram-v2
    [*] --> [*]: /announcements (the open ones: title, items, start and end)
    [*] --> choosing: /objection (a button per item of an open announcement)
    [*] --> text: /objection N (item N)
    choosing --> text: an item pressed (refused, with its end date, once the 公示 ended)
    text --> text: anything but text (said why)
    text --> evidence: the objection's text
    evidence --> [*]: a file or photo, or "no evidence" (stored; staff told; refused after the end)
    choosing --> [*]: /cancel
    text --> [*]: /cancel
    evidence --> [*]: /cancel
```
"""

from __future__ import annotations

import html
from datetime import date

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock, local_today
from bot.i18n import t
from bot.services import announcements as service
from bot.settings import Settings
from handlers.uploads import upload_of
from storage import announcements as store
from storage import subscribers

ANNOUNCEMENTS_COMMAND = "announcements"
OBJECTION_COMMAND = "objection"
MAX_TEXT = 3000
MAX_EVIDENCE_BYTES = 20 * 1024 * 1024  # what a bot may download through Telegram's Bot API


class ObjectionSG(StatesGroup):
    choosing = State()
    text = State()
    evidence = State()


class ObjectTo(CallbackData, prefix="ann_obj"):
    item: int


class NoEvidence(CallbackData, prefix="ann_obj_none"):
    item: int


class Subscription(CallbackData, prefix="ann_sub"):
    on: bool


def subscription_markup(lang: str, subscribed: bool) -> InlineKeyboardMarkup:
    """One button: subscribe to the start and end of every 公示, or unsubscribe."""
    key = "announcement.subscription.unsubscribe_button" if subscribed else "announcement.subscription.subscribe_button"
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=t(lang, key), callback_data=Subscription(on=not subscribed).pack())]])


async def on_subscription(query: CallbackQuery, callback_data: Subscription, lang: str, clock: Clock) -> None:
    if callback_data.on:
        await subscribers.subscribe(query.from_user.id, clock.now())
    else:
        await subscribers.unsubscribe(query.from_user.id)
    await query.answer(t(lang, "announcement.subscription.subscribed" if callback_data.on
                         else "announcement.subscription.unsubscribed"))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=subscription_markup(lang, callback_data.on))


def title(lang: str, listed: store.Listed) -> str:
    return t(lang, f"announcement.title.{listed.kind}", year=listed.starts_on.year, number=listed.id)


def item_line(lang: str, item: store.Item) -> str:
    return t(lang, "announcement.item", number=item.id, name=html.escape(item.name), unit=html.escape(item.unit),
             reference=item.reference)


def announcement_text(lang: str, listed: store.Listed) -> str:
    lines = [f"<b>{html.escape(title(lang, listed))}</b>",
             t(lang, "announcement.period", start=listed.starts_on.isoformat(), end=listed.ends_on.isoformat())]
    lines += [item_line(lang, item) for item in listed.items]
    return "\n".join(lines)


async def list_open(message: Message, lang: str, clock: Clock, settings: Settings) -> None:
    shown = await service.open_announcements(clock, settings)
    markup = subscription_markup(lang, await subscribers.is_subscribed(message.from_user.id)) if message.from_user else None
    if not shown:
        await message.answer(t(lang, "announcement.none"), reply_markup=markup)
        return
    text = "\n\n".join([t(lang, "announcement.list_title", count=len(shown)),
                        *(announcement_text(lang, a) for a in shown), t(lang, "announcement.how_to_object")])
    await message.answer(text, reply_markup=markup)


def _ended(lang: str, ends_on: date | None) -> str:
    return t(lang, "objection.ended", end=ends_on.isoformat() if ends_on else "")


async def _check_item(item_id: int, clock: Clock, settings: Settings) -> tuple[str | None, store.Item | None,
                                                                                store.Listed | None]:
    found = await store.item_with_announcement(item_id)
    if found is None:
        return "objection.unknown_item", None, None
    item, listed = found
    today = local_today(clock, settings.tz)
    if listed.state == "closed" or today > listed.ends_on:
        return "ended", item, listed
    if today < listed.starts_on:
        return "objection.not_started", item, listed
    return None, item, listed


async def _ask_text(target: Message, lang: str, state: FSMContext, item: store.Item, listed: store.Listed) -> None:
    await state.set_state(ObjectionSG.text)
    await state.update_data(objection_item=item.id)
    await target.answer(t(lang, "objection.ask_text", number=item.id, name=html.escape(item.name),
                          end=listed.ends_on.isoformat()))


async def start(message: Message, command: CommandObject, lang: str, state: FSMContext, clock: Clock,
                settings: Settings) -> None:
    argument = (command.args or "").strip().lstrip("#")
    if argument.isdigit():
        problem, item, listed = await _check_item(int(argument), clock, settings)
        if problem is None and item and listed:
            await _ask_text(message, lang, state, item, listed)
        else:
            await state.clear()
            await message.answer(_ended(lang, listed.ends_on if listed else None) if problem == "ended" else t(lang, str(problem)))
        return
    shown = await service.open_announcements(clock, settings)
    items = [(a, i) for a in shown for i in a.items if i.status in {"announced", "objection", "objection_dismissed"}]
    if not items:
        await state.clear()
        await message.answer(t(lang, "announcement.none"))
        return
    await state.set_state(ObjectionSG.choosing)
    buttons = [[InlineKeyboardButton(text=t(lang, "objection.item_button", number=i.id, name=i.name),
                                     callback_data=ObjectTo(item=i.id).pack())] for _, i in items]
    await message.answer(t(lang, "objection.choose"), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


async def on_item(query: CallbackQuery, callback_data: ObjectTo, lang: str, state: FSMContext, clock: Clock,
                  settings: Settings) -> None:
    await query.answer()
    if query.message is None:
        return
    problem, item, listed = await _check_item(callback_data.item, clock, settings)
    if problem is None and item and listed:
        await _ask_text(query.message, lang, state, item, listed)
        return
    await state.clear()
    await query.message.answer(_ended(lang, listed.ends_on if listed else None) if problem == "ended" else t(lang, str(problem)))


async def on_text(message: Message, lang: str, state: FSMContext) -> None:
    text = (message.text or "").strip()
    if not text:
        await message.answer(t(lang, "objection.text_expected"))
        return
    if len(text) > MAX_TEXT:
        await message.answer(t(lang, "objection.too_long", limit=MAX_TEXT))
        return
    data = await state.get_data()
    await state.set_state(ObjectionSG.evidence)
    await state.update_data(objection_text=text)
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=t(lang, "objection.no_evidence_button"), callback_data=NoEvidence(item=int(data["objection_item"])).pack()
    )]])
    await message.answer(t(lang, "objection.ask_evidence"), reply_markup=markup)


async def _submit(target: Message, user_id: int, lang: str, state: FSMContext, evidence: dict | None, clock: Clock,
                  settings: Settings) -> None:
    data = await state.get_data()
    item_id, text = data.get("objection_item"), data.get("objection_text")
    await state.clear()
    if item_id is None or not text:
        await target.answer(t(lang, "objection.lost"))
        return
    filed = await service.file_objection(int(item_id), user_id, str(text), evidence, clock, settings)
    if filed.problem == "ended":
        await target.answer(_ended(lang, filed.ends_on))
    elif filed.problem is not None:
        await target.answer(t(lang, f"objection.refused_{filed.problem}"))
    else:
        assert filed.item is not None and filed.ends_on is not None
        await target.answer(t(lang, "objection.received", id=filed.objection_id, name=html.escape(filed.item.name),
                              end=filed.ends_on.isoformat()))


async def on_evidence(message: Message, lang: str, state: FSMContext, clock: Clock, settings: Settings) -> None:
    upload = upload_of(message)
    if upload is None:
        await message.answer(t(lang, "objection.evidence_expected"))
        return
    evidence = {"file_id": upload.file_id, "file_name": upload.file_name, "size": upload.file_size}
    if (evidence["size"] or 0) > MAX_EVIDENCE_BYTES:
        await message.answer(t(lang, "objection.evidence_too_big"))
        return
    await _submit(message, message.from_user.id, lang, state, evidence, clock, settings)


async def on_no_evidence(query: CallbackQuery, lang: str, state: FSMContext, clock: Clock, settings: Settings) -> None:
    await query.answer()
    if query.message is None:
        return
    if await state.get_state() != ObjectionSG.evidence.state:
        await query.message.answer(t(lang, "objection.lost"))
        return
    await _submit(query.message, query.from_user.id, lang, state, None, clock, settings)


async def cancel(message: Message, lang: str, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t(lang, "objection.cancelled"))


def build_router() -> Router:
    router = Router(name="announcements")
    router.message.register(list_open, Command(ANNOUNCEMENTS_COMMAND))
    router.message.register(start, Command(OBJECTION_COMMAND))
    in_objection = StateFilter(ObjectionSG.choosing, ObjectionSG.text, ObjectionSG.evidence)
    router.message.register(cancel, in_objection, Command("cancel"))
    router.callback_query.register(on_item, ObjectTo.filter())
    router.callback_query.register(on_no_evidence, NoEvidence.filter())
    router.callback_query.register(on_subscription, Subscription.filter())
    # other commands go on to their handlers while an objection is being written
    router.message.register(on_text, StateFilter(ObjectionSG.text), ~F.text.startswith("/"))
    router.message.register(on_evidence, StateFilter(ObjectionSG.evidence), ~F.text.startswith("/"))
    return router
