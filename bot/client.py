"""The Bot object (token, Bot API server, defaults): all a sender needs, and nothing of the
dialogs, so `python -m scheduler` does not import a single handler."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.settings import Settings

LOCAL_TOKEN = "1000000001:local-terminal-chat"


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    token = settings.bot_token.get_secret_value() if settings.bot_token else LOCAL_TOKEN
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
