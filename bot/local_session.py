"""An in-process Bot API: answers aiogram's method calls without a network.

It is the session behind the terminal chat (no BOT_TOKEN) and behind the flow tests: every call is
recorded, sent messages are kept per chat so that edits and button presses work, and files (uploads
by the bot, or documents the local user sends) are kept in memory so getFile and downloads work.
It builds the same objects Telegram would return, so handlers cannot tell the difference, and
refuses what Telegram refuses: getFile of a file over 20 MB (a file may be announced bigger than
the bytes kept, `add_file(size=...)`), and any message to a chat in `blocked` (a user who blocked
the bot: 403 Forbidden).
"""

from __future__ import annotations

import itertools
import mimetypes
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    ForwardMessage,
    GetChat,
    GetFile,
    GetMe,
    GetMyCommands,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatFullInfo,
    Document,
    File,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
    User,
)

if TYPE_CHECKING:
    from aiogram import Bot

# Update ids are unique across every LocalBotApi of a process and across restarts (they start at
# the clock in microseconds): an update id already handled is not handled again
# (storage.update_claims), and the terminal chat's database outlives its process.
_UPDATE_IDS = itertools.count(time.time_ns() // 1000)

BOT_USER = User(id=1000000001, is_bot=True, first_name="技师工作站", username="szjs_station_bot")
# What bots may download through Telegram's own Bot API server.
MAX_DOWNLOAD = 20 * 1024 * 1024
# The methods that put something into a chat: refused with 403 for a user who blocked the bot.
_TO_CHAT = (SendMessage, SendDocument, SendPhoto, SendChatAction, EditMessageText, EditMessageReplyMarkup, ForwardMessage)
BLOCKED = "Forbidden: bot was blocked by the user"


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    content: bytes
    size: int  # what Telegram says the file weighs (may exceed the bytes kept here)


@dataclass
class LocalBotApi:
    """State shared by the session and by whoever plays the user (console or test)."""

    calls: list[TelegramMethod[Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], Message] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    # Users who blocked the bot: whatever the bot sends them is refused (and not recorded in `calls`).
    blocked: set[int] = field(default_factory=set)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _update_ids: itertools.count[int] = field(default_factory=lambda: _UPDATE_IDS)
    _file_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- the user's side -------------------------------------------------------------------------

    def add_file(self, content: bytes, file_name: str, mime_type: str | None = None, *, size: int | None = None) -> Document:
        """A file the user sends; `size` announces it bigger than `content` (a 25 MB scan without
        keeping 25 MB: Telegram reports the size, and refuses getFile over 20 MB)."""
        n = next(self._file_ids)
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = StoredFile(f"local-file-{n}", f"local-unique-{n}", file_name, mime, content,
                            len(content) if size is None else size)
        self.files[stored.file_id] = stored
        return Document(
            file_id=stored.file_id,
            file_unique_id=stored.file_unique_id,
            file_name=file_name,
            mime_type=mime,
            file_size=stored.size,
        )

    def new_message(self, chat: Chat, user: User | None, **fields: Any) -> Message:
        """A message as Telegram delivers it, in any chat (a group, a channel: `user` None)."""
        return Message(message_id=next(self._message_ids), date=datetime.now(UTC), chat=chat, from_user=user, **fields)

    def update(self, **fields: Any) -> Update:
        """An update of any type: `edited_message=`, `channel_post=`, `message=` ..."""
        return Update(update_id=next(self._update_ids), **fields)

    def user_message(
        self,
        user: User,
        text: str | None = None,
        *,
        document: Document | None = None,
        caption: str | None = None,
    ) -> Update:
        message = Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=user.id, type="private", first_name=user.first_name),
            from_user=user,
            text=text,
            document=document,
            caption=caption,
        )
        return Update(update_id=next(self._update_ids), message=message)

    def button_press(self, user: User, message: Message, data: str) -> Update:
        query = CallbackQuery(
            id=str(next(self._update_ids) * 7919),
            from_user=user,
            chat_instance=str(message.chat.id),
            message=message,
            data=data,
        )
        return Update(update_id=next(self._update_ids), callback_query=query)

    def last_message_with_buttons(self, chat_id: int) -> Message | None:
        for (chat, _), message in sorted(self.messages.items(), key=lambda kv: kv[0][1], reverse=True):
            if chat == chat_id and isinstance(message.reply_markup, InlineKeyboardMarkup):
                return message
        return None

    def sent(self, method_type: type[TelegramMethod[Any]]) -> list[Any]:
        return [c for c in self.calls if isinstance(c, method_type)]

    # -- the bot's side --------------------------------------------------------------------------

    def _bot_message(self, chat_id: int, **fields: Any) -> Message:
        message = Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            **fields,
        )
        self.messages[(chat_id, message.message_id)] = message
        return message

    def _stored(self, chat_id: int | str | None, message_id: int | None, method: str) -> Message:
        key = (int(chat_id or 0), int(message_id or 0))
        if key not in self.messages:
            raise TelegramBadRequest(method=method, message="Bad Request: message to edit not found")  # type: ignore[arg-type]
        return self.messages[key]

    @staticmethod
    def _markup(markup: Any) -> InlineKeyboardMarkup | None:
        return markup if isinstance(markup, InlineKeyboardMarkup) else None

    async def _upload(self, document: InputFile | str) -> Document:
        if isinstance(document, str):
            stored = self.files[document]
            return Document(
                file_id=stored.file_id,
                file_unique_id=stored.file_unique_id,
                file_name=stored.file_name,
                mime_type=stored.mime_type,
                file_size=stored.size,
            )
        chunks = [chunk async for chunk in document.read(None)]  # type: ignore[arg-type]
        return self.add_file(b"".join(chunks), document.filename or "file")

    async def answer(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, _TO_CHAT) and _chat_id(method) in self.blocked:
            raise TelegramForbiddenError(method=method, message=BLOCKED)
        self.calls.append(method)
        match method:
            case GetMe():
                return BOT_USER
            case SendMessage():
                return self._bot_message(
                    int(method.chat_id), text=method.text, reply_markup=self._markup(method.reply_markup)
                )
            case EditMessageText():
                old = self._stored(method.chat_id, method.message_id, "editMessageText")
                new = old.model_copy(
                    update={"text": method.text, "reply_markup": self._markup(method.reply_markup)}
                )
                self.messages[(old.chat.id, old.message_id)] = new
                return new
            case EditMessageReplyMarkup():
                old = self._stored(method.chat_id, method.message_id, "editMessageReplyMarkup")
                new = old.model_copy(update={"reply_markup": self._markup(method.reply_markup)})
                self.messages[(old.chat.id, old.message_id)] = new
                return new
            case DeleteMessage():
                self.messages.pop((int(method.chat_id), method.message_id), None)
                return True
            case SendDocument():
                document = await self._upload(method.document)
                return self._bot_message(
                    int(method.chat_id),
                    document=document,
                    caption=method.caption,
                    reply_markup=self._markup(method.reply_markup),
                )
            case GetFile():
                if method.file_id not in self.files:
                    raise TelegramBadRequest(method=method, message="Bad Request: invalid file_id")
                stored = self.files[method.file_id]
                if stored.size > MAX_DOWNLOAD:
                    raise TelegramBadRequest(method=method, message="Bad Request: file is too big")
                return File(
                    file_id=stored.file_id,
                    file_unique_id=stored.file_unique_id,
                    file_size=stored.size,
                    file_path=f"documents/{stored.file_id}",
                )
            case GetMyCommands():
                return []
            case GetChat():
                return ChatFullInfo(id=int(method.chat_id), type="private", accent_color_id=0, max_reaction_count=0)
            case AnswerCallbackQuery():
                return True
        # setMyCommands, deleteWebhook, sendChatAction...: Telegram answers `true`.
        return True


def _chat_id(method: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(method, "chat_id", None)
    try:
        return int(chat_id) if chat_id is not None else None
    except ValueError:  # "@channelname"
        return None


class LocalSession(BaseSession):
    """aiogram session that hands every method to a `LocalBotApi` instead of the network."""

    def __init__(self, api: LocalBotApi | None = None, on_call: Callable[[Any, Any], None] | None = None) -> None:
        super().__init__()
        self.local = api or LocalBotApi()
        self.on_call = on_call

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        result = await self.local.answer(method)
        if self.on_call is not None:
            self.on_call(method, result)
        return result

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        file_id = url.rsplit("/", 1)[-1]
        content = self.local.files[file_id].content
        for start in range(0, len(content), chunk_size):
            yield content[start : start + chunk_size]

    async def close(self) -> None:
        """Nothing to close: there is no connection."""
