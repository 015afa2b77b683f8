"""The main menu as data: each entry names its text, callback and who sees it.

A feature adds its entry here when it ships; the menu never offers what does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t


class MenuAction(CallbackData, prefix="menu"):
    action: str


@dataclass(frozen=True)
class MenuEntry:
    action: str
    text_key: str
    roles: frozenset[str]  # "public", "contact", "staff"


EVERYONE = frozenset({"public", "contact", "staff"})

MENU: list[MenuEntry] = [
    MenuEntry("declare", "menu.declare", frozenset({"public"})),
    MenuEntry("status", "menu.status", EVERYONE),
    MenuEntry("lang", "menu.lang", EVERYONE),
    MenuEntry("help", "menu.help", EVERYONE),
]


def role_of(*, is_staff: bool, has_station: bool) -> str:
    if is_staff:
        return "staff"
    return "contact" if has_station else "public"


def main_menu(lang: str, role: str) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(text=t(lang, e.text_key), callback_data=MenuAction(action=e.action).pack())]
        for e in MENU
        if role in e.roles
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
