"""/staff: an admin lists staff, grants the role by Telegram user id, and withdraws it.

```mermaid
stateDiagram-v2
    [*] --> list: /staff (admin)
    list --> [*]: /staff add <id> (granted, audited)
    list --> confirm: a withdraw button, or /staff remove <id>
    confirm --> [*]: confirm (withdrawn, audited) | keep
```

Staff who are not admins are refused; configured ids (STAFF_IDS, ADMIN_IDS) are listed and cannot
be withdrawn here. The role is checked on every update (handlers/middlewares.py), so a withdrawn
grant is refused on the person's next message.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.i18n import t
from bot.services import grants as service
from bot.settings import Settings
from storage.staff_grants import GrantChange

COMMAND = "staff"
log = logging.getLogger(__name__)


class GrantAction(CallbackData, prefix="staff_grant"):
    action: str  # "ask" | "yes" | "no"
    user_id: int


def _parse_id(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and 0 < len(text) <= 15 else None


async def list_text(lang: str, settings: Settings, clock: Clock) -> tuple[str, InlineKeyboardMarkup | None]:
    found = await service.staff_list(settings)
    lines = [t(lang, "staff.grant.title")]
    lines += [t(lang, "staff.grant.admin_line", user_id=uid) for uid in found.admins]
    lines += [t(lang, "staff.grant.configured_line", user_id=uid) for uid in found.configured]
    if found.granted:
        lines += [
            t(lang, "staff.grant.granted_line", user_id=g.user_id, by=g.granted_by,
              at=g.granted_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"))
            for g in found.granted
        ]
    else:
        lines.append(t(lang, "staff.grant.none_granted"))
    lines += ["", t(lang, "staff.grant.usage")]
    buttons = [
        [InlineKeyboardButton(text=t(lang, "staff.grant.withdraw_button", user_id=g.user_id),
                              callback_data=GrantAction(action="ask", user_id=g.user_id).pack())]
        for g in found.granted
    ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None


def confirm_markup(lang: str, user_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=t(lang, "staff.grant.confirm_yes"), callback_data=GrantAction(action="yes", user_id=user_id).pack()),
        InlineKeyboardButton(text=t(lang, "staff.grant.confirm_no"), callback_data=GrantAction(action="no", user_id=user_id).pack()),
    ]])


async def ask_withdraw(lang: str, settings: Settings, user_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
    if service.may_withdraw(settings, user_id) is not None:
        return t(lang, "staff.grant.configured_refused", user_id=user_id), None
    return t(lang, "staff.grant.confirm", user_id=user_id), confirm_markup(lang, user_id)


async def on_command(message: Message, command: CommandObject, lang: str, is_admin: bool, settings: Settings,
                     clock: Clock) -> None:
    if not is_admin:
        await message.answer(t(lang, "staff.grant.admins_only"))
        return
    words = (command.args or "").split()
    if not words:
        text, markup = await list_text(lang, settings, clock)
        await message.answer(text, reply_markup=markup)
        return
    action, target = words[0].lower(), _parse_id(words[1] if len(words) > 1 else None)
    if action not in ("add", "remove") or target is None or len(words) != 2:
        await message.answer(t(lang, "staff.grant.usage"))
        return
    if action == "add":
        result = await service.grant(settings, clock, target, by=message.from_user.id)
        key = {
            GrantChange.GRANTED: "staff.grant.granted",
            GrantChange.ALREADY: "staff.grant.already",
            service.Refusal.CONFIGURED: "staff.grant.configured_already",
        }[result]
        await message.answer(t(lang, key, user_id=target))
        return
    text, markup = await ask_withdraw(lang, settings, target)
    await message.answer(text, reply_markup=markup)


async def on_button(query: CallbackQuery, callback_data: GrantAction, lang: str, is_admin: bool, settings: Settings,
                    clock: Clock) -> None:
    if not is_admin:
        # The buttons go to admins only: a staff member pressing one forged it or kept an old one.
        log.warning("callback %s refused for user %s: not an admin", GrantAction.__prefix__, query.from_user.id)
        await query.answer(t(lang, "staff.grant.admins_only"), show_alert=True)
        return
    target = callback_data.user_id
    await query.answer()
    if callback_data.action == "ask":
        text, markup = await ask_withdraw(lang, settings, target)
        await query.message.answer(text, reply_markup=markup)
        return
    if callback_data.action == "no":
        await query.message.edit_text(t(lang, "staff.grant.kept", user_id=target))
        return
    result = await service.withdraw(settings, clock, target, by=query.from_user.id)
    key = {
        GrantChange.WITHDRAWN: "staff.grant.withdrawn",
        GrantChange.NOT_GRANTED: "staff.grant.not_granted",
        service.Refusal.CONFIGURED: "staff.grant.configured_refused",
    }[result]
    await query.message.edit_text(t(lang, key, user_id=target))


def build_router() -> Router:
    router = Router(name="staff-grants")
    router.message.register(on_command, Command(COMMAND))
    router.callback_query.register(on_button, GrantAction.filter())
    return router
