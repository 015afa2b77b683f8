"""The Bot object (token, Bot API server, defaults): all a sender needs, and nothing of the
dialogs, so `python -m scheduler` does not import a single handler."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from storage import step

from bot.settings import Settings

LOCAL_TOKEN = "1000000001:local-terminal-chat"


class CommitBeforeReplying(BaseRequestMiddleware):
    """What the current update has written so far (`storage.step`) is committed before the bot
    says anything to anyone. A reply must never announce a step that a crash could still lose:
    the person would answer the next question while the draft still waits at the previous one,
    and a text answer would be kept under the wrong question. The dialog's own rows go with it
    (bot.wiring.SaveDialogBeforeReplying): a window must not reach the person before the dialog it
    belongs to is stored, or its buttons, pressed after a crash, name a dialog nobody knows.
    Outside an update (the scheduler) there is nothing pending and this costs nothing."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        await step.before_replying()
        return await make_request(bot, method)


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    token = settings.bot_token.get_secret_value() if settings.bot_token else LOCAL_TOKEN
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(CommitBeforeReplying())
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
