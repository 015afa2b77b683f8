"""/start, /help, /menu, /lang, /cancel, /status and the main-menu buttons.

What /start, /help and the menu offer is derived from what is registered: the forms' specs (their
commands, menu buttons and titles) and the command list of bot/commands.py, so neither can offer
an act that has no handler (tests/flow/test_common.py presses and sends every one of them).
"""

from __future__ import annotations

import html
import logging
from decimal import Decimal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram_dialog import DialogManager, ShowMode

from bot.commands import contact_commands, staff_commands
from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.i18n import LANGUAGES, has_text, t
from bot.clock import Clock
from bot.rules.lifecycle import GRADED_KEY_PROJECT_STATES
from bot.services import status as status_service
from bot.settings import Settings
from handlers import stamped_form as stamped_form_handlers
from handlers.menu import MenuAction, MenuEntry, main_menu, menu_entries, role_of
from storage import queries
from storage.models import StationState, SubmissionKind

log = logging.getLogger(__name__)

# What `/lang <argument>` understands besides the codes themselves.
LANGUAGE_ALIASES = {
    "zh": "zh", "cn": "zh", "zh-cn": "zh", "zh-hans": "zh", "chinese": "zh", "中文": "zh", "简体中文": "zh",
    "汉语": "zh", "en": "en", "english": "en", "英文": "en", "英语": "en",
}


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


def language_of(argument: str) -> str | None:
    """The language `/lang <argument>` names, or None."""
    return LANGUAGE_ALIASES.get(argument.strip().lower().replace("_", "-"))


def language_buttons(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t(lang, f"lang.name_{code}"), callback_data=LanguageChoice(code=code).pack())
                for code in LANGUAGES
            ]
        ]
    )


class Common:
    """The common handlers of one dispatcher, knowing the forms it offers."""

    def __init__(self, specs: Sequence[FormSpec]) -> None:
        self.specs = tuple(specs)
        self.menu_entries: tuple[MenuEntry, ...] = menu_entries(self.specs)

    # -- /start, /menu, /help ----------------------------------------------------------------------

    async def _role(self, user_id: int, is_staff: bool) -> str:
        has_station = False if is_staff else await queries.station_of_user(user_id) is not None
        return role_of(is_staff=is_staff, has_station=has_station)

    async def _send_menu(self, message: Message, user_id: int, lang: str, is_staff: bool, clock: Clock,
                         settings: Settings) -> None:
        role = await self._role(user_id, is_staff)
        # Only the forms this person may start now (asked of each spec's may_start over one shared
        # context), and only on /start and /menu.
        candidates = [spec for spec in self.specs
                      if any(e.action == spec.menu_action and role in e.roles for e in self.menu_entries)]
        allowed = {spec.menu_action for spec in await status_service.startable(candidates, user_id, clock, settings)}
        await message.answer(
            t(lang, "menu.title", role=t(lang, f"role.{role}")) + "\n" + t(lang, "start.menu_hint"),
            reply_markup=main_menu(lang, role, self.menu_entries, allowed),
        )

    def about_text(self, lang: str) -> str:
        acts = t(lang, "form.list_separator").join(t(lang, spec.text("title")) for spec in self.specs)
        return t(lang, "start.about", acts=acts)

    async def start(self, message: Message, lang: str, is_staff: bool, clock: Clock, settings: Settings) -> None:
        user = message.from_user
        name = html.escape(user.full_name) if user else ""
        await message.answer(t(lang, "start.greeting", name=name) + "\n" + self.about_text(lang))
        await self._send_menu(message, message.chat.id if user is None else user.id, lang, is_staff, clock, settings)

    async def menu(self, message: Message, lang: str, is_staff: bool, clock: Clock, settings: Settings) -> None:
        await self._send_menu(message, message.from_user.id, lang, is_staff, clock, settings)

    def help_commands(self, is_staff: bool) -> list[str]:
        """The commands /help lists: the role's command list, without /start (it is how one arrives)."""
        names = staff_commands(self.specs) if is_staff else contact_commands(self.specs)
        return [name for name in names if name != "start"]

    def _describe(self, lang: str, name: str) -> str:
        for key in (f"help.command.{name}", f"command.{name}"):
            if has_text(key):
                return t(lang, key)
        spec = next(s for s in self.specs if name in (s.command, s.reprint_command))
        return t(lang, spec.text("title"))

    def help_text(self, lang: str, is_staff: bool) -> str:
        lines = [t(lang, "help.title")]
        lines += [f"/{name} — {self._describe(lang, name)}" for name in self.help_commands(is_staff)]
        buttons = {name: t(lang, f"form.button.{name}") for name in ("back", "save", "discard")}
        text = "\n".join(lines) + "\n\n" + t(lang, "help.footer", **buttons)
        return text + "\n\n" + t(lang, "help.staff") if is_staff else text

    async def help_(self, message: Message, lang: str, is_staff: bool) -> None:
        await message.answer(self.help_text(lang, is_staff))

    # -- /lang ---------------------------------------------------------------------------------------

    async def switch_language(self, message: Message, command: CommandObject, lang: str,
                              dialog_manager: DialogManager) -> None:
        """`/lang zh`, `/lang en` set the language; `/lang` alone switches to the other one."""
        argument = (command.args or "").strip()
        if not argument:
            new_lang = "en" if lang == "zh" else "zh"
        else:
            chosen = language_of(argument)
            if chosen is None:
                await message.answer(t(lang, "lang.unknown", arg=html.escape(argument[:32])),
                                     reply_markup=language_buttons(lang))
                return
            new_lang = chosen
        await self._set_language(message.from_user.id, lang, new_lang, dialog_manager, message.answer)

    async def on_language_choice(self, query: CallbackQuery, callback_data: LanguageChoice, lang: str,
                                 dialog_manager: DialogManager) -> None:
        if callback_data.code not in LANGUAGES:  # forged: no button of ours carries it
            await query.answer(t(lang, "error.outdated"), show_alert=True)
            return
        await query.answer()
        if query.message is None:
            return
        await self._set_language(query.from_user.id, lang, callback_data.code, dialog_manager, query.message.answer)

    @staticmethod
    async def _set_language(user_id: int, lang: str, new_lang: str, dialog_manager: DialogManager,
                            answer: Callable[[str], Awaitable[Any]]) -> None:
        if new_lang == lang:
            await answer(t(lang, "lang.current"))
            return
        await queries.set_language(user_id, new_lang)
        await answer(t(new_lang, "lang.changed"))
        if dialog_manager.has_context():
            # In the middle of a form: draw the current question again in the new language.
            dialog_manager.middleware_data["lang"] = new_lang
            dialog_manager.dialog_data.pop("screen", None)
            await dialog_manager.show(ShowMode.SEND)

    # -- /cancel -------------------------------------------------------------------------------------

    async def cancel(self, message: Message, lang: str, state: FSMContext, dialog_manager: DialogManager) -> None:
        if await stamped_form_handlers.cancel_upload(state):
            await message.answer(t(lang, "stamped_form.cancelled"))
        elif dialog_manager.has_context():
            # Leaving a form only closes the windows: its draft is stored apart and stays.
            await dialog_manager.reset_stack()
            await message.answer(t(lang, "cancel.done"))
        else:
            await message.answer(t(lang, "cancel.nothing"))

    # -- /status -------------------------------------------------------------------------------------

    async def status(self, message: Message, lang: str, is_staff: bool, clock: Clock, settings: Settings) -> None:
        await message.answer(await self.status_text(message.from_user.id, lang, is_staff, clock, settings))

    async def status_text(self, user_id: int, lang: str, is_staff: bool, clock: Clock, settings: Settings) -> str:
        status = await status_service.status_of(user_id, is_staff=is_staff, specs=self.specs, clock=clock,
                                                settings=settings)
        return render_status(status, lang)

    # -- the menu buttons ----------------------------------------------------------------------------

    async def on_menu(self, query: CallbackQuery, callback_data: MenuAction, lang: str, is_staff: bool,
                      clock: Clock, settings: Settings, dialog_manager: DialogManager) -> None:
        await query.answer()
        if query.message is None:
            return
        user_id = query.from_user.id
        if callback_data.action == "status":
            await query.message.answer(await self.status_text(user_id, lang, is_staff, clock, settings))
        elif callback_data.action == "lang":
            await self._set_language(user_id, lang, "en" if lang == "zh" else "zh", dialog_manager,
                                     query.message.answer)
        elif callback_data.action == "help":
            await query.message.answer(self.help_text(lang, is_staff))


# The menu buttons answered here (Common.on_menu); the forms answer their own.
MENU_ACTIONS = ("status", "lang", "help")


def render_status(status: status_service.Status, lang: str) -> str:
    """/status as the person reads it (the data from bot.services.status)."""
    if status.overview is not None:
        return _staff_overview(status.overview, lang)
    station = status.station
    if station is None:
        lines = [t(lang, "status.no_station")]
        if status.submissions:
            lines += [t(lang, "status.submissions_title"), *_submission_lines(status.submissions, lang)]
    else:
        lines = [t(lang, "status.station", station=html.escape(station.name), unit=html.escape(station.unit),
                   state=t(lang, f"station_state.{station.state}"))]
        if station.recognised_on:
            lines.append(t(lang, "status.recognised_on", date=station.recognised_on.isoformat()))
        lines += _station_lines(station, lang)
    lines += [t(lang, "status.draft", title=t(lang, d.title_key), saved=d.saved, command=d.command) for d in status.drafts]
    return "\n".join(lines)


def _station_lines(station: status_service.StationStatus, lang: str) -> list[str]:
    lines: list[str] = []
    if station.filings:
        lines.append(t(lang, "status.filing.title"))
        lines += [t(lang, f"status.filing.{f.standing}", year=f.year, date=f.on.isoformat() if f.on else "")
                  for f in station.filings]
    if station.key_projects:
        lines.append(t(lang, "status.key_project.title"))
        lines += [_key_project_line(p, lang) for p in station.key_projects]
    if station.requests:
        lines.append(t(lang, "status.request.title"))
        lines += [
            t(lang, "status.request.line", kind=t(lang, f"submission_kind.{r.kind}"), reference=r.reference,
              year=t(lang, "status.request.year", year=r.year) if r.kind == SubmissionKind.EXTENSION.value and r.year else "",
              date=r.submitted_on.isoformat() if r.submitted_on else "")
            for r in station.requests
        ]
    if station.submissions:
        lines += [t(lang, "status.submissions_title"), *_submission_lines(station.submissions, lang)]
    elif not (station.key_projects or station.requests):
        lines.append(t(lang, "status.no_submissions"))
    if station.next is not None:
        lines += [t(lang, "status.next.title"), _next_line(station.next, lang)]
    return lines


def _amount(amount: Decimal) -> str:
    return f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"


def _key_project_line(p: status_service.KeyProjectLine, lang: str) -> str:
    text = t(lang, "status.key_project.line", reference=p.reference, year=p.year or "",
             status=t(lang, f"submission_status.{p.status}"))
    if p.level is not None and p.status in GRADED_KEY_PROJECT_STATES:
        text += t(lang, "status.key_project.level", level=t(lang, f"status.key_project.level_{p.level}"))
    if p.amount is not None:
        if p.paid_on is not None:
            text += t(lang, "status.key_project.funding_paid", amount=_amount(p.amount), date=p.paid_on.isoformat())
        else:
            text += t(lang, "status.key_project.funding_unpaid", amount=_amount(p.amount))
    return text


def _next_line(step: status_service.NextStep, lang: str) -> str:
    text = t(lang, f"status.next.{step.what}", year=step.year or "", date=step.on.isoformat() if step.on else "",
             kind=t(lang, f"submission_kind.{step.kind}") if step.kind else "", reference=step.reference)
    if step.command and step.what != "request_pending":
        how = {"filing_opens": "send_later", "extension_pending": "send_meanwhile"}.get(step.what, "send")
        text += t(lang, f"status.next.{how}", command=step.command)
    return text


def _staff_overview(o: queries.Overview, lang: str) -> str:
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


def _submission_lines(items: Sequence[status_service.SubmissionLine], lang: str) -> list[str]:
    """One line per submission; a declaration says whether its stamped 申报表 is in or awaited."""
    lines = []
    for s in items:
        lines.append(t(lang, "status.submission_line", kind=t(lang, f"submission_kind.{s.kind}"), reference=s.reference,
                       status=t(lang, f"submission_status.{s.status}")))
        if s.stamped_versions is not None and s.stamped_on is not None:
            lines.append(t(lang, "status.stamped_in", version=s.stamped_versions, date=s.stamped_on.isoformat()))
        elif s.stamped_awaited:
            lines.append(t(lang, "status.stamped_awaited"))
    return lines

async def fallback(message: Message, lang: str) -> None:
    """Anything no conversation claimed: say so, never stay silent."""
    await message.answer(t(lang, "error.unknown_input"))


async def fallback_callback(query: CallbackQuery, lang: str) -> None:
    """A button nothing answers (an old one of a removed feature, or forged data): say so and log
    the prefix only, never the rest of the data."""
    prefix = (query.data or "").split(":", 1)[0].split("\x1d", 1)[0][:32]  # a dialog's: its intent id
    log.warning("callback %s refused for user %s: no handler takes it", prefix, query.from_user.id)
    await query.answer(t(lang, "error.outdated"), show_alert=True)


def build_router(specs: Sequence[FormSpec] = FORM_SPECS) -> Router:
    """A new router each time: a router can belong to one Dispatcher only (tests build many)."""
    common = Common(specs)
    router = Router(name="common")
    router.message.register(common.start, CommandStart())
    router.message.register(common.menu, Command("menu"))
    router.message.register(common.help_, Command("help"))
    router.message.register(common.switch_language, Command("lang"))
    router.message.register(common.cancel, Command("cancel"))
    router.message.register(common.status, Command("status"))
    router.callback_query.register(common.on_menu, MenuAction.filter(F.action.in_(MENU_ACTIONS)))
    router.callback_query.register(common.on_language_choice, LanguageChoice.filter())
    return router


def build_fallback_router() -> Router:
    """Last of all: anything no command and no conversation claimed."""
    router = Router(name="fallback")
    router.message.register(fallback)
    router.callback_query.register(fallback_callback)
    return router
