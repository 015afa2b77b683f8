"""The bureau's side: every staff command, button and dialog hangs under one router.

`build_router(*children)` puts the role check on the router itself (a root filter on messages and
callbacks): aiogram checks it before any handler of the router or of its sub-routers, dialogs
included, on every update, so no staff handler can forget it and a revoked grant takes effect on
the very next press. What is refused there goes on to `build_refusal_router`, which answers a
staff command or a staff button (callback data under `STAFF_PREFIX`) from anyone else with a
refusal, and logs the attempt with the Telegram user id, the command or callback prefix and the
reason only: nothing the person typed, nothing personal. A press in a staff dialog (the review
queue, the date picker) by someone who is no longer staff is refused there too: its callback data
is the dialog's, but the dialog open on that person's stack is a staff one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram_dialog.api.entities import Context
from aiogram_dialog.api.internal import CONTEXT_KEY

from bot.i18n import t
from handlers.dialog_scope import DialogButton

log = logging.getLogger(__name__)

# Every staff CallbackData prefix starts with this ("staff_queue", "staff_item", ...), so the
# refusal router recognises a forged staff button whatever it claims to do.
STAFF_PREFIX = "staff"


class IsStaff(Filter):
    """The role worked out for this very update (handlers/middlewares.py: configured ids and grants)."""

    async def __call__(self, event: TelegramObject, is_staff: bool = False) -> bool:
        return is_staff


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, is_admin: bool = False) -> bool:
        return is_admin


class InStaffDialog(Filter):
    """A press of a widget of a staff dialog (its states live in handlers/staff/)."""

    async def __call__(self, event: TelegramObject, **data: object) -> bool:
        context = data.get(CONTEXT_KEY)
        return isinstance(context, Context) and context.state.group.__module__.startswith(__name__)


def staff_children() -> list[Router]:
    """The staff routers, each module's own (a new router each time: tests build many dispatchers)."""
    from handlers.staff import queue  # noqa: PLC0415 - staff modules may import this package

    from handlers.staff import export, grants, stations  # noqa: PLC0415

    from handlers.staff import announce  # noqa: PLC0415

    from handlers.staff import extensions, key_projects  # noqa: PLC0415

    decisions = [key_projects.build_router(), extensions.build_router()]

    from handlers.staff import supervision  # noqa: PLC0415

    from handlers.staff import contacts  # noqa: PLC0415

    from handlers.staff import digest  # noqa: PLC0415

    from handlers.staff import register_import  # noqa: PLC0415

    return [contacts.build_router(), announce.build_router(), queue.build_router(), grants.build_router(), stations.build_router(), export.build_router(),
            supervision.build_router(), digest.build_router(), register_import.build_router(), *decisions]


def build_router(*children: Router, name: str = "staff") -> Router:
    """A router whose handlers and sub-routers only staff reach."""
    router = Router(name=name)
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    if children:
        router.include_routers(*children)
    return router


class StaffButton(Filter):
    """A staff feature's own callback data. Async: every press of every person passes it (aiogram
    runs a synchronous `F.data…` filter in a thread)."""

    async def __call__(self, query: CallbackQuery) -> bool:
        return (query.data or "").startswith(STAFF_PREFIX)


def build_refusal_router(commands: Iterable[str]) -> Router:
    """After the staff router: staff commands and staff buttons from anyone else are refused."""
    router = Router(name="staff-refusal")
    names = tuple(commands)

    async def refuse_command(message: Message, lang: str = "zh") -> None:
        command = (message.text or "").split(maxsplit=1)[0].split("@", 1)[0]
        log.warning("staff command %s refused for user %s: not staff", command,
                    message.from_user.id if message.from_user else "?")
        await message.answer(t(lang, "staff.refused"))

    async def refuse_callback(query: CallbackQuery, lang: str = "zh") -> None:
        prefix = (query.data or "").split(":", 1)[0]
        log.warning("staff callback %s refused for user %s: not staff", prefix, query.from_user.id)
        await query.answer(t(lang, "staff.refused"), show_alert=True)

    async def refuse_dialog(query: CallbackQuery, lang: str = "zh", **data: object) -> None:
        context = data.get(CONTEXT_KEY)
        group = context.state.group.__name__ if isinstance(context, Context) else "?"
        log.warning("staff callback %s refused for user %s: not staff (a press in a staff dialog)", group,
                    query.from_user.id)
        await query.answer(t(lang, "staff.refused"), show_alert=True)

    if names:
        router.message.register(refuse_command, Command(*names))
    router.callback_query.register(refuse_callback, StaffButton())
    router.callback_query.register(refuse_dialog, DialogButton(), InStaffDialog())
    return router
