"""/start, /help, /menu, /lang, /cancel, /status and the main-menu buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram_dialog import DialogManager, ShowMode

from bot.i18n import t
from handlers.menu import MenuAction, main_menu, role_of
from storage import queries
from storage.models import StationState

# The menu buttons answered here; conversations answer their own ("declare", ...).
COMMON_ACTIONS = ("status", "lang", "help")


async def _role(user_id: int, is_staff: bool) -> str:
    has_station = False if is_staff else await queries.station_of_user(user_id) is not None
    return role_of(is_staff=is_staff, has_station=has_station)


async def _send_menu(message: Message, user_id: int, lang: str, is_staff: bool) -> None:
    role = await _role(user_id, is_staff)
    await message.answer(
        t(lang, "menu.title", role=t(lang, f"role.{role}")) + "\n" + t(lang, "start.menu_hint"),
        reply_markup=main_menu(lang, role),
    )


async def start(message: Message, lang: str, is_staff: bool) -> None:
    user = message.from_user
    name = user.full_name if user else ""
    await message.answer(t(lang, "start.greeting", name=name) + "\n" + t(lang, "start.about"))
    await _send_menu(message, message.chat.id if user is None else user.id, lang, is_staff)


async def menu(message: Message, lang: str, is_staff: bool) -> None:
    await _send_menu(message, message.from_user.id, lang, is_staff)


async def help_(message: Message, lang: str, is_staff: bool) -> None:
    await message.answer(_help_text(lang, is_staff))


def _help_text(lang: str, is_staff: bool) -> str:
    text = t(lang, "help.text")
    return text + "\n\n" + t(lang, "help.staff") if is_staff else text


async def switch_language(message: Message, lang: str, dialog_manager: DialogManager) -> None:
    new_lang = await _toggle_language(message.from_user.id, lang)
    await message.answer(t(new_lang, "lang.changed"))
    if dialog_manager.has_context():
        # In the middle of a form: draw the current question again in the new language.
        dialog_manager.middleware_data["lang"] = new_lang
        dialog_manager.dialog_data.pop("screen", None)
        await dialog_manager.show(ShowMode.SEND)


async def _toggle_language(user_id: int, lang: str) -> str:
    """Switch zh <-> en for this user; returns the new language."""
    new = "en" if lang == "zh" else "zh"
    await queries.set_language(user_id, new)
    return new


async def cancel(message: Message, lang: str, dialog_manager: DialogManager) -> None:
    if dialog_manager.has_context():
        # Leaving a form only closes the windows: its draft is stored apart and stays.
        await dialog_manager.reset_stack()
        await message.answer(t(lang, "cancel.done"))
    else:
        await message.answer(t(lang, "cancel.nothing"))


async def status(message: Message, lang: str, is_staff: bool) -> None:
    await message.answer(await status_text(message.from_user.id, lang, is_staff))


async def status_text(user_id: int, lang: str, is_staff: bool) -> str:
    if is_staff:
        o = await queries.overview()
        return "\n".join(
            [
                t(lang, "status.staff_title"),
                t(
                    lang,
                    "status.staff_stations",
                    active=o.stations[StationState.ACTIVE],
                    applying=o.stations[StationState.APPLYING],
                    overdue=o.stations[StationState.OVERDUE],
                    candidates=o.stations[StationState.REVOCATION_CANDIDATE],
                ),
                t(lang, "status.staff_pending", pending=o.pending),
            ]
        )
    station = await queries.station_of_user(user_id)
    if station is None:
        lines = [t(lang, "status.no_station")]
        submissions = await queries.submissions_of_user(user_id)
    else:
        lines = [
            t(
                lang,
                "status.station",
                station=station.name,
                unit=station.unit.name,
                state=t(lang, f"station_state.{station.state.value}"),
            )
        ]
        if station.recognised_on:
            lines.append(t(lang, "status.recognised_on", date=station.recognised_on.isoformat()))
        submissions = await queries.submissions_of_station(station.id)
    if submissions:
        lines.append(t(lang, "status.submissions_title"))
        lines += [
            t(
                lang,
                "status.submission_line",
                kind=t(lang, f"submission_kind.{s.kind.value}"),
                reference=s.reference or "",
                status=t(lang, f"submission_status.{s.status.value}"),
            )
            for s in submissions
        ]
    elif station is not None:
        lines.append(t(lang, "status.no_submissions"))
    return "\n".join(lines)


async def on_menu(query: CallbackQuery, callback_data: MenuAction, lang: str, is_staff: bool) -> None:
    user_id = query.from_user.id
    if callback_data.action == "status":
        text = await status_text(user_id, lang, is_staff)
    elif callback_data.action == "lang":
        text = t(await _toggle_language(user_id, lang), "lang.changed")
    else:
        text = _help_text(lang, is_staff)
    await query.answer()
    if query.message is not None:
        await query.message.answer(text)


async def fallback(message: Message, lang: str) -> None:
    """Anything no conversation claimed: say so, never stay silent."""
    await message.answer(t(lang, "error.unknown_input"))


def build_router() -> Router:
    """A new router each time: a router can belong to one Dispatcher only (tests build many)."""
    router = Router(name="common")
    router.message.register(start, CommandStart())
    router.message.register(menu, Command("menu"))
    router.message.register(help_, Command("help"))
    router.message.register(switch_language, Command("lang"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(status, Command("status"))
    router.callback_query.register(on_menu, MenuAction.filter(F.action.in_(COMMON_ACTIONS)))
    return router


def build_fallback_router() -> Router:
    """Last of all: anything no command and no conversation claimed."""
    router = Router(name="fallback")
    router.message.register(fallback)
    return router
