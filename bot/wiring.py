"""Builds the Bot, the Dispatcher and its storage from settings. Used by every entry point."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram_dialog import setup_dialogs

import handlers
from bot.settings import Settings
from handlers.middlewares import UserContextMiddleware
from storage.fsm import DatabaseStorage

LOCAL_TOKEN = "1000000001:local-terminal-chat"


def build_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis when REDIS_URL is set, else the database; both keyed with the dialog "destiny"."""
    key_builder = DefaultKeyBuilder(with_destiny=True)
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        redis_storage = RedisStorage.from_url(settings.redis_url, key_builder=key_builder)
        return redis_storage, redis_storage.create_isolation()
    return DatabaseStorage(key_builder), SimpleEventIsolation()


def build_dispatcher(settings: Settings, storage: BaseStorage | None = None) -> Dispatcher:
    isolation: BaseEventIsolation
    if storage is None:
        storage, isolation = build_storage(settings)
    else:
        isolation = SimpleEventIsolation()
    dp = Dispatcher(storage=storage, events_isolation=isolation, settings=settings)
    dp.update.outer_middleware(UserContextMiddleware(settings))
    for router in handlers.build_routers():
        dp.include_router(router)
    setup_dialogs(dp, events_isolation=isolation)
    return dp


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    token = settings.bot_token.get_secret_value() if settings.bot_token else LOCAL_TOKEN
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
