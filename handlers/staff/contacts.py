"""Staff: a station's contacts.

- `/contacts <station id>`: the contacts (Telegram user id, role, since when, active or not), with a
  button to issue an invite code for the station (shown to the staff member once) and one to unbind
  each active contact (after a confirmation; staff may unbind the last one).
- `/bind <station id> <user id>`: bind a person to the station directly.

Every act writes its audit row and tells the contact concerned (storage.contacts). Each press is
checked again against the tables: a button pressed after the act was done answers "already handled".
"""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.i18n import t
from bot.services import contacts as service
from bot.settings import Settings

COMMANDS = ("contacts", "bind")


class ContactsAct(CallbackData, prefix="staff_contacts"):
    action: str  # issue | unbind | list
    station: int
    user: int = 0
    step: str = ""  # unbind: "" asks, "y" confirms, "n" cancels


def _button(text: str, data: ContactsAct) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _refusal(lang: str, refused: service.ContactRefused, station_id: int) -> str:
    station = refused.station
    if refused.code == "no_station":
        return t(lang, "invite.staff.no_station", id=station_id)
    if refused.code == "closed" and station is not None:
        return t(lang, "invite.staff.closed", station=escape(station.name))
    if refused.code == "bound_elsewhere" and station is not None:
        return t(lang, "invite.staff.bound_elsewhere", station=escape(station.name), id=station.id)
    return t(lang, "invite.staff.already_handled")


async def _render(lang: str, station_id: int, settings: Settings) -> tuple[str, InlineKeyboardMarkup | None]:
    station, rows = await service.contacts_of(station_id)
    if station is None:
        return t(lang, "invite.staff.no_station", id=station_id), None
    lines = [t(lang, "invite.staff.title", station=escape(station.name), id=station.id,
               state=t(lang, f"station_state.{station.state.value}"))]
    lines += [t(lang, "invite.staff.line", user_id=r.user_id, role=t(lang, f"invite.staff.role.{r.role}"),
                since=r.since.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
                active=t(lang, "invite.staff.active" if r.active else "invite.staff.inactive"))
              for r in rows] or [t(lang, "invite.staff.none")]
    buttons = [[_button(t(lang, "invite.staff.button.issue"), ContactsAct(action="issue", station=station.id))]]
    buttons += [[_button(t(lang, "invite.staff.button.unbind", user_id=r.user_id),
                         ContactsAct(action="unbind", station=station.id, user=r.user_id))] for r in rows if r.active]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def contacts(message: Message, command: CommandObject, lang: str, settings: Settings) -> None:
    args = (command.args or "").strip()
    if not args.isdigit():
        await message.answer(t(lang, "invite.staff.usage_contacts"))
        return
    text, markup = await _render(lang, int(args), settings)
    await message.answer(text, reply_markup=markup)


async def bind(message: Message, command: CommandObject, lang: str, clock: Clock) -> None:
    args = (command.args or "").split()
    if len(args) != 2 or not all(a.isdigit() for a in args):
        await message.answer(t(lang, "invite.staff.usage_bind"))
        return
    station_id, user_id = int(args[0]), int(args[1])
    try:
        done = await service.bind(station_id, user_id, message.from_user.id, clock)
    except service.ContactRefused as refused:
        await message.answer(_refusal(lang, refused, station_id))
        return
    await message.answer(t(lang, "invite.staff.bound", user_id=user_id, station=escape(done.station.name)))


async def on_act(query: CallbackQuery, callback_data: ContactsAct, lang: str, clock: Clock, settings: Settings) -> None:
    await query.answer()
    if query.message is None:
        return
    data, staff_id = callback_data, query.from_user.id
    answer = query.message.answer
    if data.action == "issue":
        try:
            issued = await service.issue(data.station, staff_id, clock, by_staff=True)
        except service.ContactRefused as refused:
            await answer(_refusal(lang, refused, data.station))
            return
        await answer(t(lang, "invite.staff.issued", station=escape(issued.station.name), code=issued.code,
                       expires=issued.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")))
    elif data.action == "unbind" and data.step == "":
        station, rows = await service.contacts_of(data.station)
        row = next((r for r in rows if r.user_id == data.user), None)
        if station is None or row is None or not row.active:
            await answer(t(lang, "invite.staff.already_handled"))
            return
        last = sum(r.active for r in rows) == 1
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            _button(t(lang, "invite.staff.button.confirm"), data.model_copy(update={"step": "y"})),
            _button(t(lang, "invite.staff.button.cancel"), data.model_copy(update={"step": "n"})),
        ]])
        await answer(t(lang, "invite.staff.confirm_unbind", user_id=data.user, station=escape(station.name),
                       last=t(lang, "invite.staff.last_warning") if last else ""), reply_markup=markup)
    elif data.action == "unbind" and data.step == "n":
        await answer(t(lang, "invite.staff.cancelled"))
    elif data.action == "unbind" and data.step == "y":
        try:
            done = await service.unbind(data.station, data.user, staff_id, clock)
        except service.ContactRefused as refused:
            await answer(_refusal(lang, refused, data.station))
            return
        await answer(t(lang, "invite.staff.unbound", user_id=data.user, station=escape(done.station.name)))
    else:
        await answer(t(lang, "invite.staff.already_handled"))


def build_router() -> Router:
    router = Router(name="staff-contacts")
    router.message.register(contacts, Command("contacts"))
    router.message.register(bind, Command("bind"))
    router.callback_query.register(on_act, ContactsAct.filter())
    return router
