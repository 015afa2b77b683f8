"""A date picked from aiogram-dialog's Calendar, in the person's language and the bureau's today.

`date_picker_dialog(state, title_key, on_picked)` builds a one-window dialog: a title, the calendar
(opening on the month of the injected clock's today, not the machine's) and 取消.
`on_picked(query, manager, day, start_data)` gets the date and what the dialog was started with;
the dialog is closed first. Week days and months come from the locale, so the picker reads the same
in Chinese and English.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from aiogram.fsm.state import State
from aiogram.types import CallbackQuery
from aiogram_dialog import Dialog, DialogManager, Window
from aiogram_dialog.widgets.kbd import Calendar, Cancel
from aiogram_dialog.widgets.kbd.calendar_kbd import (
    CalendarDaysView,
    CalendarMonthView,
    CalendarScope,
    CalendarScopeView,
    CalendarYearsView,
)
from aiogram_dialog.widgets.text import Format, Text

from bot.clock import local_today
from bot.i18n import t
from handlers.dialog_scope import scoped

OnPicked = Callable[[CallbackQuery, DialogManager, date, Any], Awaitable[None]]  # ..., the dialog's start data
CALENDAR_ID = "day"


def _lang(manager: DialogManager) -> str:
    return manager.middleware_data.get("lang", "zh")


class WeekDay(Text):
    """周一 … 周日 / Mon … Sun from the locale (the widget's own uses the machine's C locale)."""

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        return t(_lang(manager), f"calendar.weekday_{data['date'].weekday()}")


class LocalText(Text):
    """A locale text with the date's fields: {year}, {month}, {day}."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        day: date = data["date"]
        return t(_lang(manager), self.key, year=day.year, month=day.month, day=day.day)


class LocalCalendar(Calendar):
    def _init_views(self) -> dict[CalendarScope, CalendarScopeView]:
        return {
            CalendarScope.DAYS: CalendarDaysView(
                self._item_callback_data,
                weekday_text=WeekDay(),
                header_text=LocalText("calendar.month_header"),
                prev_month_text=LocalText("calendar.prev_month"),
                next_month_text=LocalText("calendar.next_month"),
            ),
            CalendarScope.MONTHS: CalendarMonthView(
                self._item_callback_data,
                month_text=LocalText("calendar.month"),
                this_month_text=LocalText("calendar.this_month"),
                header_text=LocalText("calendar.year_header"),
            ),
            CalendarScope.YEARS: CalendarYearsView(self._item_callback_data),
        }


def date_picker_dialog(state: State, title_key: str, on_picked: OnPicked) -> Dialog:
    async def on_date(query: CallbackQuery, widget: Any, manager: DialogManager, day: date) -> None:
        start_data = manager.start_data  # gone with the dialog
        await manager.done()
        await on_picked(query, manager, day, start_data)

    async def on_start(start_data: Any, manager: DialogManager) -> None:
        data = manager.middleware_data
        today = local_today(data["clock"], data["settings"].tz)
        manager.find(CALENDAR_ID).set_offset(today)  # type: ignore[union-attr]

    async def texts(dialog_manager: DialogManager, **_: Any) -> dict[str, str]:
        lang = _lang(dialog_manager)
        return {"title": t(lang, title_key), "cancel": t(lang, "calendar.cancel")}

    return scoped(Dialog(
        Window(
            Format("{title}"),
            LocalCalendar(id=CALENDAR_ID, on_click=on_date),
            Cancel(Format("{cancel}")),
            getter=texts,
            state=state,
        ),
        on_start=on_start,
    ))

