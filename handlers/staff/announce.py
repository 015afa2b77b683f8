"""Staff: publish a 公示, decide objections, enter a year's holidays, close an ended 公示 now.

- `/announce [key] [YYYY-MM-DD]`: what awaits a 公示 (declarations that passed the expert review;
  `key`: graded key projects), the window from that start (today if none) to its computed end,
  a warning when a year's holidays are unknown, and a button to publish; the announcements not
  yet closed, with a button to close one that has ended.
- `/objections`: each pending objection with 成立 / 不成立 (and its evidence file).
- `/holidays YEAR` shows what the bot knows of a year; `/holidays YEAR` followed by lines
  `休 2027-01-01~2027-01-03` / `班 2027-02-20` stores that year's official arrangement.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram_dialog import DialogManager

from bot.clock import Clock, local_today
from bot.i18n import t
from bot.rules.working_days import ArrangementError, Window, library_knows
from bot.services import announcements as service
from bot.settings import Settings
from handlers.announcements import announcement_text, item_line
from handlers.staff.calendar import date_picker_dialog
from storage import announcements as store
from storage.models import AnnouncementKind

ANNOUNCE_COMMAND = "announce"
OBJECTIONS_COMMAND = "objections"
HOLIDAYS_COMMAND = "holidays"
COMMANDS = (ANNOUNCE_COMMAND, OBJECTIONS_COMMAND, HOLIDAYS_COMMAND)


class StaffAnnounce(CallbackData, prefix="staff_ann"):
    action: str  # "publish" | "close"
    kind: str = "establishment"
    day: str = ""  # the start, YYYYMMDD
    id: int = 0


class StaffObjection(CallbackData, prefix="staff_obj"):
    action: str  # "uphold" | "dismiss" | "file"
    id: int


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def window_lines(lang: str, window: Window) -> list[str]:
    mode = "staff.announce.working_days" if window.working_days else "staff.announce.calendar_days"
    lines = [t(lang, "staff.announce.window", start=window.starts_on.isoformat(), end=window.ends_on.isoformat(),
               mode=t(lang, mode))]
    for year in window.assumed_years:
        lines.append(t(lang, "staff.announce.weekends_only", year=year))
    return lines


async def announce(message: Message, command: CommandObject, lang: str, clock: Clock, settings: Settings) -> None:
    words = (command.args or "").split()
    kind = AnnouncementKind.ESTABLISHMENT
    if words and words[0].lower() in ("key", "key_project", "项目"):
        kind = AnnouncementKind.KEY_PROJECT
        words = words[1:]
    starts_on = local_today(clock, settings.tz)
    if words:
        parsed = _parse_day(words[0])
        if parsed is None:
            await message.answer(t(lang, "staff.announce.bad_date"))
            return
        starts_on = parsed
    await _preview(message, lang, kind, starts_on, clock, settings)


async def _preview(message: Message, lang: str, kind: AnnouncementKind, starts_on: date, clock: Clock,
                   settings: Settings) -> None:
    today = local_today(clock, settings.tz)
    shown = await service.preview(kind, starts_on, clock, settings)
    markup = None
    lines = [t(lang, f"staff.announce.title.{kind.value}")]
    if not shown.items:
        lines.append(t(lang, "staff.announce.nothing"))
    else:
        for s in shown.items:
            name = s.station.name if s.station else ""
            unit = s.unit.name if s.unit else ""
            lines.append(t(lang, "staff.announce.candidate", reference=s.reference or "", name=html.escape(name),
                           unit=html.escape(unit)))
        lines += window_lines(lang, shown.window)
        if shown.problem is not None:
            lines.append(t(lang, f"staff.announce.start_{shown.problem}"))
        else:
            lines.append(t(lang, "staff.announce.other_start"))
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=t(lang, "staff.announce.publish_button", count=len(shown.items)),
                callback_data=StaffAnnounce(action="publish", kind=kind.value, day=starts_on.strftime("%Y%m%d")).pack(),
            )]])
        pick = InlineKeyboardButton(text=t(lang, "staff.announce.pick_button"),
                                    callback_data=StaffAnnounce(action="pick", kind=kind.value).pack())
        markup = InlineKeyboardMarkup(inline_keyboard=[*(markup.inline_keyboard if markup else []), [pick]])
    await message.answer("\n".join(lines), reply_markup=markup)
    await _undecided(message, lang, today)


async def _undecided(message: Message, lang: str, today: date) -> None:
    running = await store.undecided_announcements()
    if not running:
        return
    for listed in running:
        text = announcement_text(lang, listed)
        markup = None
        if listed.ends_on < today:
            text += "\n" + t(lang, "staff.announce.ended")
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=t(lang, "staff.announce.close_button", number=listed.id),
                callback_data=StaffAnnounce(action="close", id=listed.id).pack(),
            )]])
        await message.answer(text, reply_markup=markup)


async def on_announce(query: CallbackQuery, callback_data: StaffAnnounce, lang: str, clock: Clock,
                      settings: Settings, dialog_manager: DialogManager) -> None:
    await query.answer()
    if query.message is None:
        return
    if callback_data.action == "pick":
        try:
            kind = AnnouncementKind(callback_data.kind)
        except ValueError:
            return
        await dialog_manager.start(AnnounceStartSG.pick, data={"kind": kind.value})
        return
    if callback_data.action == "publish":
        try:
            starts_on = date(int(callback_data.day[:4]), int(callback_data.day[4:6]), int(callback_data.day[6:]))
            kind = AnnouncementKind(callback_data.kind)
        except ValueError:
            await query.message.answer(t(lang, "staff.announce.bad_date"))
            return
        announcement_id, items, window = await service.publish(kind, starts_on, query.from_user.id, clock, settings)
        if announcement_id is None:
            await query.message.answer(t(lang, "staff.announce.nothing_published"))
            return
        lines = [t(lang, "staff.announce.published", number=announcement_id, count=len(items))]
        lines += window_lines(lang, window)
        await query.message.answer("\n".join(lines))
    elif callback_data.action == "close":
        closed = await service.close_now(callback_data.id, query.from_user.id, clock, settings)
        if closed.problem is None:
            await query.message.answer(t(lang, "staff.announce.closed", number=closed.announcement_id,
                                         count=len(closed.moved_on), items="、".join(closed.moved_on) or "—"))
        else:
            end = closed.ends_on.isoformat() if closed.ends_on else ""
            await query.message.answer(t(lang, f"staff.announce.close_{closed.problem}", number=closed.announcement_id,
                                         end=end, pending=closed.pending))


async def objections(message: Message, lang: str, settings: Settings) -> None:
    pending = await store.pending_objections()
    if not pending:
        await message.answer(t(lang, "staff.announce.no_objections"))
        return
    for o in pending:
        text = t(lang, "staff.announce.objection", id=o.id, item=item_line(lang, o.item),
                 filed=o.filed_on.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"), text=html.escape(o.text),
                 evidence=t(lang, "objection.with_evidence" if o.has_evidence else "objection.without_evidence"))
        row = [
            InlineKeyboardButton(text=t(lang, "staff.announce.uphold_button"),
                                 callback_data=StaffObjection(action="uphold", id=o.id).pack()),
            InlineKeyboardButton(text=t(lang, "staff.announce.dismiss_button"),
                                 callback_data=StaffObjection(action="dismiss", id=o.id).pack()),
        ]
        rows = [row]
        if o.has_evidence:
            rows.append([InlineKeyboardButton(text=t(lang, "staff.announce.evidence_button"),
                                              callback_data=StaffObjection(action="file", id=o.id).pack())])
        await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def on_objection(query: CallbackQuery, callback_data: StaffObjection, lang: str, clock: Clock) -> None:
    await query.answer()
    if query.message is None:
        return
    if callback_data.action == "file":
        found = next((o for o in await store.pending_objections() if o.id == callback_data.id), None)
        if found is None or not found.evidence_file_id:
            await query.message.answer(t(lang, "staff.announce.objection_decided"))
            return
        await query.message.answer_document(found.evidence_file_id)
        return
    if callback_data.action not in ("uphold", "dismiss"):
        return
    decided = await service.decide(callback_data.id, callback_data.action == "uphold", query.from_user.id, clock)
    if decided.problem is not None:
        await query.message.answer(t(lang, "staff.announce.objection_decided"))
        return
    assert decided.item is not None
    key = "staff.announce.upheld" if decided.upheld else (
        "staff.announce.dismissed" if decided.item_moved else "staff.announce.dismissed_others_pending")
    await query.message.answer(t(lang, key, id=callback_data.id, reference=decided.item.reference,
                                 name=html.escape(decided.item.name)))


async def holidays(message: Message, command: CommandObject, lang: str) -> None:
    first, _, rest = (command.args or "").strip().partition("\n")
    words = first.split(maxsplit=1)
    if not words or not words[0].isdigit() or not 2000 <= int(words[0]) <= 2100:
        await message.answer(t(lang, "staff.announce.holidays_usage"))
        return
    year = int(words[0])
    text = "\n".join(part for part in (words[1] if len(words) > 1 else "", rest) if part.strip())
    if not text.strip():
        stored_holidays, stored_workdays = await store.stored_arrangement(year)
        known = "staff.announce.holidays_library" if library_knows(year) else "staff.announce.holidays_unknown"
        lines = [t(lang, known, year=year)]
        if stored_holidays or stored_workdays:
            lines.append(t(lang, "staff.announce.holidays_stored", year=year,
                           holidays=", ".join(d.isoformat() for d in stored_holidays) or "—",
                           workdays=", ".join(d.isoformat() for d in stored_workdays) or "—"))
        lines.append(t(lang, "staff.announce.holidays_usage"))
        await message.answer("\n".join(lines))
        return
    try:
        entered = await service.enter_arrangement(year, text, message.from_user.id)
    except ArrangementError as error:
        await message.answer(t(lang, f"staff.announce.holidays_error.{error.code}", detail=html.escape(error.detail),
                               year=year))
        return
    await message.answer(t(lang, "staff.announce.holidays_saved", year=year, holidays=entered.holidays,
                           workdays=entered.workdays))


class AnnounceStartSG(StatesGroup):
    pick = State()


async def on_start_picked(query: CallbackQuery, manager: DialogManager, day: date, start_data: Any) -> None:
    """The start picked on the calendar: the same preview as `/announce YYYY-MM-DD`."""
    data = manager.middleware_data
    kind = AnnouncementKind((start_data or {}).get("kind", AnnouncementKind.ESTABLISHMENT.value))
    if isinstance(query.message, Message):
        await _preview(query.message, data.get("lang", "zh"), kind, day, data["clock"], data["settings"])


def build_router() -> Router:
    router = Router(name="staff-announce")
    router.include_router(date_picker_dialog(AnnounceStartSG.pick, "staff.announce.pick_title", on_start_picked))
    router.message.register(announce, Command(ANNOUNCE_COMMAND))
    router.message.register(objections, Command(OBJECTIONS_COMMAND))
    router.message.register(holidays, Command(HOLIDAYS_COMMAND))
    router.callback_query.register(on_announce, StaffAnnounce.filter())
    router.callback_query.register(on_objection, StaffObjection.filter())
    return router
