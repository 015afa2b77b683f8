"""The main menu as data: each entry names its action, text and who sees it.

The forms' buttons come from their specs (`FormSpec.menu_action`, text "menu.<action>" or the
form's title); the others are answered in handlers/common.py. The menu never offers what does not
exist: a test presses every button of every role through the real Dispatcher. Nor what the person
may not do now: a form's button is shown only when its spec's `may_start` lets this person start it
(the caller passes the actions allowed, bot.services.status.startable); `FORM_ROLES` only keeps
staff out of the contacts' forms and the declaration for those without a station.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.i18n import has_text, t


class MenuAction(CallbackData, prefix="menu"):
    action: str


@dataclass(frozen=True)
class MenuEntry:
    action: str
    text_key: str
    roles: frozenset[str]  # "public", "contact", "staff"
    form: bool = False  # a form's button: offered only when its may_start allows it


EVERYONE = frozenset({"public", "contact", "staff"})
APPLICANTS = frozenset({"public"})  # not yet bound to a station
CONTACTS = frozenset({"public", "contact"})

# The buttons answered in handlers/common.py, after the forms'.
COMMON_ENTRIES: tuple[MenuEntry, ...] = (
    MenuEntry("status", "menu.status", EVERYONE),
    MenuEntry("lang", "menu.lang", EVERYONE),
    MenuEntry("help", "menu.help", EVERYONE),
)

# Who sees a form's button; a form not named here is offered to applicants and contacts. The
# establishment declaration is for units that have no station yet.
FORM_ROLES: dict[str, frozenset[str]] = {"declare": APPLICANTS}


def menu_entries(specs: Iterable[FormSpec] = FORM_SPECS) -> tuple[MenuEntry, ...]:
    forms = tuple(
        MenuEntry(
            spec.menu_action,
            f"menu.{spec.menu_action}" if has_text(f"menu.{spec.menu_action}") else spec.text("title"),
            FORM_ROLES.get(spec.menu_action, CONTACTS),
            form=True,
        )
        for spec in specs
        if spec.menu_action
    )
    return forms + COMMON_ENTRIES


MENU: tuple[MenuEntry, ...] = menu_entries()


def role_of(*, is_staff: bool, has_station: bool) -> str:
    if is_staff:
        return "staff"
    return "contact" if has_station else "public"


def main_menu(lang: str, role: str, entries: Iterable[MenuEntry] = MENU,
              allowed: Collection[str] | None = None) -> InlineKeyboardMarkup:
    """The role's buttons; of the forms' only those in `allowed` (their actions), when given."""
    rows = [
        [InlineKeyboardButton(text=t(lang, e.text_key), callback_data=MenuAction(action=e.action).pack())]
        for e in entries
        if role in e.roles and (not e.form or allowed is None or e.action in allowed)
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
