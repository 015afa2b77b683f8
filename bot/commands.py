"""The command menu each role sees, registered with setMyCommands at start (SPEC §7)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.i18n import LANGUAGES, t

# A conversation adds its command here when it ships.
CONTACT_COMMANDS: list[str] = ["start", "menu", "declare", "status", "form", "help", "lang", "cancel"]
STAFF_COMMANDS: list[str] = [*CONTACT_COMMANDS]


def commands_for(lang: str, names: list[str]) -> list[BotCommand]:
    return [BotCommand(command=name, description=t(lang, f"command.{name}")) for name in names]


async def register_commands(bot: Bot, staff_ids: set[int]) -> None:
    for lang in LANGUAGES:
        # Chinese is the default list; English users get theirs by language_code.
        code = None if lang == "zh" else lang
        await bot.set_my_commands(
            commands_for(lang, CONTACT_COMMANDS), scope=BotCommandScopeDefault(), language_code=code
        )
        for staff_id in sorted(staff_ids):
            await bot.set_my_commands(
                commands_for(lang, STAFF_COMMANDS), scope=BotCommandScopeChat(chat_id=staff_id), language_code=code
            )
