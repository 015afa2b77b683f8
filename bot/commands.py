"""The commands each role has, in the order /help and the command menu show them, registered with
setMyCommands at start (SPEC §7).

The forms' commands come from their specs (bot/forms/registry.py): a form that ships brings its
command with it. A command of its own handler (/stamped) is added here when it ships; a test
sends every one of them through the real Dispatcher and fails if one has no handler.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.i18n import LANGUAGES, t

STAMPED_COMMAND = "stamped"  # upload the signed and stamped 申报表 (handlers/stamped_form.py)
ANNOUNCEMENT_COMMANDS = ["announcements", "objection"]  # anyone: read a 公示, object (handlers/announcements.py)
CONTACT_INVITE_COMMANDS = ["invite", "join", "leave"]  # a station's contacts (handlers/contacts.py)


def contact_commands(specs: Iterable[FormSpec] = FORM_SPECS) -> list[str]:
    forms = [name for spec in specs for name in (spec.command, spec.reprint_command) if name]
    return ["start", "menu", *forms, STAMPED_COMMAND, *ANNOUNCEMENT_COMMANDS, *CONTACT_INVITE_COMMANDS, "status", "help", "lang", "cancel"]


# Commands only staff have (handlers/staff/): anyone else gets a refusal. Each staff module adds
# its commands here when it ships.
STAFF_ONLY_COMMANDS: list[str] = []
STAFF_ONLY_COMMANDS += ["pending", "review"]  # handlers/staff/queue.py
STAFF_ONLY_COMMANDS += ["staff", "stations", "export"]  # handlers/staff/grants.py, stations.py, export.py
STAFF_ONLY_COMMANDS += ["announce", "objections", "holidays"]  # handlers/staff/announce.py
STAFF_ONLY_COMMANDS += ["kpwindow"]  # handlers/staff/key_projects.py
STAFF_ONLY_COMMANDS += ["supervision"]  # handlers/staff/supervision.py
STAFF_ONLY_COMMANDS += ["contacts", "bind"]  # handlers/staff/contacts.py
STAFF_ONLY_COMMANDS += ["digest"]  # handlers/staff/digest.py
STAFF_ONLY_COMMANDS += ["import"]  # handlers/staff/register_import.py


def staff_commands(specs: Iterable[FormSpec] = FORM_SPECS) -> list[str]:
    return [*contact_commands(specs), *STAFF_ONLY_COMMANDS]


CONTACT_COMMANDS: list[str] = contact_commands()
STAFF_COMMANDS: list[str] = staff_commands()


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
