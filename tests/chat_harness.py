"""The flow-test driver: a Dispatcher fed updates through the in-process Bot API (bot.local_session).

Every outgoing API call is recorded by the session; tests assert on the method and its fields, or on
what the user would read (`chat.texts()`), and on what the database holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from aiogram.methods import EditMessageText, SendDocument, SendMessage, TelegramMethod
from aiogram.types import InlineKeyboardMarkup, Message, User

from bot.local_session import LocalBotApi, LocalSession
from bot.settings import Settings
from bot.client import build_bot
from bot.clock import FixedClock
from bot.forms.spec import FormSpec
from bot.wiring import build_dispatcher

USER_ID = 5550001
STAFF_ID = 5559001
TEST_DATA_KEY = Fernet.generate_key().decode()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "staff_ids": frozenset({STAFF_ID}),
        "data_key": TEST_DATA_KEY,
        # A test types faster than anyone: flood control is off unless a test turns it on
        # (tests/reliability/test_flood_control.py).
        "throttle_rate": "off",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# Every flow test runs at a known moment (the bureau's 09:00 on a working day), never "today".
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class Chat:
    def __init__(
        self,
        settings: Settings,
        api: LocalBotApi | None = None,
        *,
        clock: FixedClock | None = None,
        specs: tuple[FormSpec, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.api = api or LocalBotApi()
        self.clock = clock or FixedClock(NOW)
        self.bot = build_bot(settings, LocalSession(self.api))
        extra = {} if specs is None else {"specs": specs}
        self.dp = build_dispatcher(settings, clock=self.clock, **extra)
        self.user = self.as_user(USER_ID)

    @staticmethod
    def as_user(user_id: int, language_code: str = "zh-hans", first_name: str = "张三") -> User:
        return User(id=user_id, is_bot=False, first_name=first_name, language_code=language_code)

    def mark(self) -> int:
        return len(self.api.calls)

    async def send(self, text: str, user: User | None = None) -> list[TelegramMethod[Any]]:
        start = self.mark()
        await self.dp.feed_update(self.bot, self.api.user_message(user or self.user, text))
        return self.api.calls[start:]

    async def send_document(
        self, content: bytes, file_name: str, mime_type: str | None = None, user: User | None = None
    ) -> list[TelegramMethod[Any]]:
        start = self.mark()
        document = self.api.add_file(content, file_name, mime_type)
        await self.dp.feed_update(self.bot, self.api.user_message(user or self.user, document=document))
        return self.api.calls[start:]

    def last_with_buttons(self, user: User | None = None) -> Message:
        message = self.api.last_message_with_buttons((user or self.user).id)
        assert message is not None, "no message with buttons was sent"
        return message

    def buttons(self, user: User | None = None) -> list[str]:
        markup = self.last_with_buttons(user).reply_markup
        assert isinstance(markup, InlineKeyboardMarkup)
        return [b.text for row in markup.inline_keyboard for b in row]

    async def press(self, text: str, user: User | None = None) -> list[TelegramMethod[Any]]:
        """Press the button whose label contains `text` on the latest message with buttons."""
        message = self.last_with_buttons(user)
        markup = message.reply_markup
        assert isinstance(markup, InlineKeyboardMarkup)
        matches = [b for row in markup.inline_keyboard for b in row if text in b.text]
        assert matches, f"no button {text!r} among {self.buttons(user)}"
        return await self.press_data(matches[0].callback_data or "", user, message)

    async def press_data(
        self, data: str, user: User | None = None, message: Message | None = None
    ) -> list[TelegramMethod[Any]]:
        start = self.mark()
        target = message or self.last_with_buttons(user)
        await self.dp.feed_update(self.bot, self.api.button_press(user or self.user, target, data))
        return self.api.calls[start:]

    @staticmethod
    def texts(calls: list[TelegramMethod[Any]]) -> list[str]:
        return [c.text for c in calls if isinstance(c, SendMessage | EditMessageText)]

    @staticmethod
    def documents(calls: list[TelegramMethod[Any]]) -> list[SendDocument]:
        return [c for c in calls if isinstance(c, SendDocument)]
