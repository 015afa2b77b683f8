"""The bot works in private chats only. In a group or supergroup it answers a command with one line
(write to me privately) and nothing else: a group must never see someone's station, menu or
draft. Channel posts, and anything else said in a group, get no answer; a button pressed under a
group's message (the bot never puts one there: forged) is answered without a word.

In a private chat, editing a message already sent changes nothing the bot kept: the person is told
so (send it again), rather than left believing an answer was corrected.

First after the error handler, so nothing else sees such an update.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from bot.i18n import t


# Async filters: every update of every private chat passes these, and aiogram runs a synchronous
# filter (a bare `F.…`) through a thread (DESIGN, known traps).
class InPrivate(Filter):
    def __init__(self, private: bool = True) -> None:
        self.private = private

    async def __call__(self, message: Message) -> bool:
        return (message.chat.type == ChatType.PRIVATE) == self.private


class CommandInGroup(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.chat.type != ChatType.PRIVATE and (message.text or "").startswith("/")


class ButtonInGroup(Filter):
    async def __call__(self, query: CallbackQuery) -> bool:
        return query.message is not None and query.message.chat.type != ChatType.PRIVATE


async def command_in_group(message: Message, lang: str = "zh") -> None:
    await message.reply(t(lang, "private_only.use_private_chat"))


async def ignore(message: Message) -> None:
    """Said in a group or a channel, not to the bot: no answer."""


async def edited_in_private(message: Message, lang: str = "zh") -> None:
    await message.reply(t(lang, "private_only.edit_ignored"))


async def button_in_group(query: CallbackQuery) -> None:
    await query.answer()


def build_router() -> Router:
    router = Router(name="private_only")
    router.message.register(command_in_group, CommandInGroup())
    router.message.register(ignore, InPrivate(False))
    router.channel_post.register(ignore)
    router.edited_message.register(ignore, InPrivate(False))
    router.edited_message.register(edited_in_private, InPrivate())
    router.edited_channel_post.register(ignore)
    router.callback_query.register(button_in_group, ButtonInGroup())
    return router
