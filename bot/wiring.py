"""The composition root of the bot process: the Dispatcher with its storage, middleware, every
router and every form. The scheduler process does not import this (see bot/client.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.types import TelegramObject
from aiogram_dialog import setup_dialogs
from aiogram_dialog.api.internal import CONTEXT_KEY, STACK_KEY, STORAGE_KEY

import handlers

from bot.clock import Clock, SystemClock
from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.settings import Settings
from bot.isolation import LeasedRedisIsolation, ReleasingEventIsolation
from handlers.delivery import OnceOnly, Throttle
from handlers.middlewares import UserContextMiddleware
from storage import step
from storage.fsm import DatabaseStorage
from storage.update_claims import DatabaseClaims, RedisClaims, UpdateClaims


def build_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis when REDIS_URL is set, else the database; both keyed with the dialog "destiny"."""
    key_builder = DefaultKeyBuilder(with_destiny=True)
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        redis_storage = RedisStorage.from_url(settings.redis_url, key_builder=key_builder)
        return redis_storage, LeasedRedisIsolation(redis_storage.redis, key_builder, settings.update_lease_seconds)
    return DatabaseStorage(key_builder), ReleasingEventIsolation()


def build_claims(settings: Settings) -> UpdateClaims:
    """Where an update is claimed before it is handled (shared by every instance): Redis when
    REDIS_URL is set, else the database."""
    if settings.redis_url:
        return RedisClaims(settings.redis_url, lease=settings.update_lease_seconds)
    return DatabaseClaims(lease=settings.update_lease_seconds)


class StepMiddleware(BaseMiddleware):
    """Everything an update writes (the draft's answers, the conversation state) in one
    transaction at its end (`storage.step`). An outer middleware registered after aiogram's own
    FSM middleware: it runs inside the person's lock, so their steps are written in order.

    `drafts` is the drafts' in-process copy, given only where this process is the only writer
    (the database storage, as for its own copy of the conversation state; not with Redis)."""

    def __init__(self, drafts: step.DraftCopies | None = None) -> None:
        self.drafts = drafts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with step.open_step(self.drafts):
            return await handler(event, data)


class SaveDialogBeforeReplying(BaseMiddleware):
    """aiogram-dialog stores a dialog's context and stack after the handler, i.e. after the window
    was sent: a crash in between leaves a window on the person's screen whose dialog was never
    stored (its buttons then "expired") or is one step behind. Registered inside aiogram-dialog's
    own saver, this stores them also before each request to Telegram (`storage.step.before_replying`);
    with the database storage only what changed, in the step's one transaction."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        pending = step.current()
        if pending is None:
            return await handler(event, data)

        async def save() -> None:
            proxy = data.get(STORAGE_KEY)
            if proxy is not None:
                await proxy.save_context(data.get(CONTEXT_KEY))
                await proxy.save_stack(data.get(STACK_KEY))

        pending.before_reply.append(save)
        try:
            return await handler(event, data)
        finally:
            pending.before_reply.remove(save)


def build_dispatcher(
    settings: Settings,
    storage: BaseStorage | None = None,
    *,
    clock: Clock | None = None,
    specs: tuple[FormSpec, ...] = FORM_SPECS,
) -> Dispatcher:
    """`clock` is what every handler and service reads "now" from (tests pass a fixed one);
    `specs` are the forms offered (tests add a toy form)."""
    isolation: BaseEventIsolation
    if storage is None:
        storage, isolation = build_storage(settings)
    else:
        isolation = ReleasingEventIsolation()
    dp = Dispatcher(storage=storage, events_isolation=isolation, settings=settings, clock=clock or SystemClock())
    # First of ours (after aiogram's own, which take the person's lock): a second delivery of an
    # update stops here, before anything is read or written for it.
    claims = build_claims(settings)
    dp.update.outer_middleware(OnceOnly(claims))
    if isinstance(claims, RedisClaims):
        dp.shutdown.register(claims.close)
    dp.update.outer_middleware(
        StepMiddleware(step.DraftCopies() if isinstance(storage, DatabaseStorage) else None)
    )
    dp.update.outer_middleware(UserContextMiddleware(settings))
    # After the person's language is known; before any router.
    if settings.throttle_rate != "off":
        dp.update.outer_middleware(Throttle(settings.throttle_rate, settings.throttle_burst, settings.redis_url))
    for router in handlers.build_routers(specs):
        dp.include_router(router)
    setup_dialogs(dp, events_isolation=isolation)
    for observer in (dp.message, dp.callback_query):
        observer.middleware(SaveDialogBeforeReplying())
    return dp
