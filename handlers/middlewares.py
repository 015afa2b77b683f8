"""Who is writing: loads the user's row and language and works out the role on every update."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.i18n import normalise_language
from bot.services import staff
from bot.settings import Settings
from storage import queries


class UserContextMiddleware(BaseMiddleware):
    """Puts `lang`, `is_staff` and `is_admin` into handler data.

    The role is looked up on every call (configured ids, then staff granted in the bot), so a
    revoked grant takes effect on the very next button press, callback data included.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        caller = await queries.identify(user.id, normalise_language(user.language_code))
        data["lang"] = caller.language
        data["is_admin"] = staff.is_admin(self.settings, user.id)
        data["is_staff"] = staff.is_staff(self.settings, user.id, granted=caller.granted_staff)
        data["settings"] = self.settings
        return await handler(event, data)
