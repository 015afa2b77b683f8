"""Loopback fake of the Telegram Bot API server for end-to-end tests.

The real bot process is started with ``TELEGRAM_API_URL`` pointing at
:attr:`BotApiStub.url`; it then long-polls this server exactly as it would poll
api.telegram.org. Tests play the user's side with :meth:`BotApiStub.push_message`,
:meth:`BotApiStub.push_callback` and :meth:`BotApiStub.push_button`, and observe
the bot through :attr:`BotApiStub.calls` and the ``wait_for*`` helpers.

Wire format (as sent by aiogram's ``AiohttpSession``): every method is a POST to
``/bot{token}/{method}`` whose body is form data, or multipart form data when
files are attached. Strings are sent as-is, every other value is JSON-encoded
(so ``chat_id`` arrives as ``"42"``, booleans as ``"true"``, markups as JSON
objects), and an uploaded file is referenced by the value ``attach://<part>``.
The stub decodes this back into Python values before handling and recording.

Where Telegram validates input in ways a bot can get wrong (HTML markup, text
length, callback data size, command names, edits that change nothing, unknown
message or file ids), the stub answers with the same error code and
description Telegram uses, so those mistakes surface in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import mimetypes
import re
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from types import TracebackType
from typing import Any, Self

from aiohttp import web

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
Call = tuple[str, JsonDict]
CallPredicate = Callable[[str, JsonDict], bool]
_Handler = Callable[[JsonDict], Awaitable[Any]]

BOT_USERNAME = "test_station_bot"
BOT_FIRST_NAME = "Test Station Bot"

# Telegram's own limits and error texts (core.telegram.org/bots/api).
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

# Free-text fields are never JSON-decoded, even when a user's text happens to
# look like JSON ("[1, 2]" must stay a string in sendMessage.text).
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "question",
        "explanation",
        "title",
        "description",
        "short_description",
        "name",
        "data",
        "url",
        "query",
        "file_id",
        "callback_query_id",
        "inline_message_id",
        "business_connection_id",
        "parse_mode",
        "language_code",
    }
)
# Integer fields are sent as decimal strings; decoding them lets tests compare
# with plain ints (params["chat_id"] == 42).
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "message_thread_id",
        "reply_to_message_id",
    }
)
_INT_RE = re.compile(r"-?\d+")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
# Tags accepted by Telegram's HTML parse mode.
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)


# Methods that send a message to a chat: the ones Telegram's flood limits and blocks apply to.
_SEND_METHODS = frozenset({"sendmessage", "senddocument", "sendphoto"})
BLOCKED = "Forbidden: bot was blocked by the user"


@dataclass
class RateLimits:
    """Telegram's flood limits (core.telegram.org/bots/faq): about 30 messages a second overall
    and about one a second to one chat. Beyond them the answer is 429 "Too Many Requests: retry
    after N" with ``parameters.retry_after``. The overall limit is a sustained rate with a burst
    of ``overall_burst`` messages (Telegram's counts are not published more exactly); ``scale``
    multiplies both rates (the benchmark runs the
    same shape faster); ``chat_tolerance`` is the share of the per-chat interval a message may
    come early (arrival jitter on loopback), as Telegram too allows short bursts."""

    overall_per_second: float = 30.0
    overall_burst: float = 30.0
    per_chat_interval: float = 1.0
    retry_after: int = 1
    scale: float = 1.0
    chat_tolerance: float = 0.2


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request.

    In recorded params it replaces the ``attach://`` reference that named it.
    """

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str
    mime_type: str
    content: bytes

    def document(self) -> JsonDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": len(self.content),
        }


class _ApiError(Exception):
    """An error answer of the Bot API: HTTP status ``code`` and the JSON error body."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class _Broadcast:
    """Wakes every task currently waiting; waiters re-check their own condition.

    Unlike ``asyncio.Condition`` it can be notified from synchronous code (the
    ``push_*`` helpers), and since asyncio is single-threaded a waiter that
    checked its condition and then calls :meth:`wait` cannot miss a notify.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


class _TelegramHtml(HTMLParser):
    """Renders Telegram-flavoured HTML to plain text, rejecting what Telegram rejects."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0]
        for line in source.splitlines(keepends=True):
            self._line_starts.append(self._line_starts[-1] + len(line))
        self._open: list[str] = []
        self._parts: list[str] = []

    def render(self) -> str:
        self.feed(self._source)
        self.close()
        if self._open:
            raise self._error(f'Can\'t find end tag corresponding to start tag "{self._open[-1]}"')
        return "".join(self._parts)

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        return len(self._source[: self._line_starts[line - 1] + column].encode())

    def _error(self, reason: str) -> _ApiError:
        return _ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise self._error(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self._error(f'Unsupported start tag "{tag}/" at byte offset {self._byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            raise self._error(f"Unexpected end tag at byte offset {self._byte_offset()}")
        if self._open[-1] != tag:
            raise self._error(
                f'Can\'t find end tag corresponding to start tag "{self._open[-1]}"'
            )
        self._open.pop()

    def handle_data(self, data: str) -> None:
        self._parts.append(data)


def _render_text(text: str, parse_mode: Any) -> str:
    """The text a user would see: HTML markup removed, surrounding whitespace trimmed.

    Markdown modes are passed through unparsed.
    """
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        text = _TelegramHtml(text).render()
    return text.strip()


def _utf16_length(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_field(name: str, value: str) -> Any:
    if name in _TEXT_FIELDS:
        return value
    if name in _INT_FIELDS and _INT_RE.fullmatch(value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class BotApiStub:
    """In-process fake Telegram Bot API server bound to 127.0.0.1.

    Public state: :attr:`calls` (every handled API call as ``(method, params)``,
    in completion order), :attr:`unknown_methods`, :attr:`downloads` (file paths
    fetched from the file route) and :attr:`bot_user`. Use it from the event
    loop that started it.
    """

    def __init__(self, token: str = "123:ABC") -> None:
        self.token = token
        bot_id, _, _ = token.partition(":")
        self.bot_user: JsonDict = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self.calls: list[Call] = []
        self.unknown_methods: list[str] = []
        self.downloads: list[str] = []

        # None for a successful call, else "<code> <description>"; aligned with calls.
        self._outcomes: list[str | None] = []
        # Default start of wait_for's search; see wait_for.
        self._position = 0
        self._calls_changed = _Broadcast()

        self._pending_updates: list[JsonDict] = []
        self._last_update_id = 0
        self._updates_changed = _Broadcast()
        # Telegram lets only the newest getUpdates request wait; an older one
        # is answered with 409. Each request takes a generation number.
        self._poll_generation = 0
        self._active_polls = 0
        self._polls_changed = _Broadcast()

        # chat id -> message id -> Message, for messages in both directions.
        self._messages: dict[int, dict[int, JsonDict]] = defaultdict(dict)
        self._last_message_id: dict[int, int] = defaultdict(int)
        self._users: dict[int, JsonDict] = {}
        self._callback_ids: set[str] = set()
        self._last_callback_id = 0

        self._files_by_id: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_count = 0

        # (scope as canonical JSON, language_code) -> commands
        self._commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._injected_errors: dict[str, deque[_ApiError]] = defaultdict(deque)
        # A slow Telegram: method -> seconds to hold each of its next calls before answering.
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self.held: list[Call] = []  # calls held by delay_next, as they arrived
        self._held_changed = _Broadcast()
        # Flood limits (None: unlimited) and chats whose user blocked the bot (403).
        self.limits: RateLimits | None = None
        self.blocked_chats: set[int] = set()
        self.too_many_requests = 0  # 429 answers given
        self.too_many_by_limit: Counter[str] = Counter()  # ... by the limit exceeded: chat, overall
        self.accepted_at: list[float] = []  # time.monotonic() of each send let through the limits
        self._bucket = 0.0
        self._bucket_at = 0.0
        self._last_send_to: dict[int, float] = {}

        self._handlers: dict[str, tuple[str, _Handler]] = {}
        for method, handler in (
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("deleteWebhook", self._delete_webhook),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageCaption", self._edit_message_caption),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendDocument", self._send_document),
            ("getFile", self._get_file),
            ("getChat", self._get_chat),
            ("getChatMember", self._get_chat_member),
            ("sendChatAction", self._return_true),
            ("setChatMenuButton", self._return_true),
            ("setMyDescription", self._return_true),
            ("setMyShortDescription", self._return_true),
        ):
            # Telegram method names are case-insensitive.
            self._handlers[method.lower()] = (method, handler)

        self._app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        self._app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        self._app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = False

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Base URL for ``TELEGRAM_API_URL``, e.g. ``http://127.0.0.1:43817``."""
        if self._url is None:
            raise RuntimeError("BotApiStub is not started")
        return self._url

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("BotApiStub is already started")
        # A stale long poll (from a bot process that was killed) must not hold
        # up shutdown for aiohttp's default 60 seconds.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._updates_changed.notify()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ----------------------------------------------------------- user simulation

    def add_file(
        self, content: bytes, file_name: str, mime_type: str = "application/octet-stream"
    ) -> JsonDict:
        """Register a file as if a user had uploaded it; returns its Document object."""
        return self._store_file(content, file_name, mime_type).document()

    def push_message(
        self,
        user_id: int,
        text: str | None = None,
        document: JsonDict | None = None,
        language_code: str = "zh-hans",
        first_name: str = "Tester",
    ) -> int:
        """Queue an Update with a private message from the user; returns its update_id.

        With ``document`` (from :meth:`add_file`) ``text`` becomes the caption.
        """
        if text is None and document is None:
            raise ValueError("push_message needs text or a document")
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        self._users[user_id] = user
        message = self._new_message(user_id, sender=user)
        if document is not None:
            message["document"] = dict(document)
            if text:
                message["caption"] = text
        elif text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _utf16_length(command)}
                ]
        return self._push_update({"message": copy.deepcopy(message)})

    def push_callback(
        self, user_id: int, message_id: int, data: str, *, require_button: bool = True
    ) -> int:
        """Queue an Update with a callback_query for a press on a button of the bot's message.

        The message must be one the bot sent to that user and still exists. By
        default its current inline keyboard must contain a button with this
        callback data, as a real user can only press buttons that are shown.
        """
        message = self._messages[user_id].get(message_id)
        if message is None or message["from"]["id"] != self.bot_user["id"]:
            raise LookupError(f"no bot message {message_id} in chat {user_id}")
        if require_button and data not in {
            button.get("callback_data") for button in _buttons(message)
        }:
            raise LookupError(
                f"message {message_id} has no button with callback_data {data!r}; "
                f"buttons: {_describe_buttons(message)}"
            )
        self._last_callback_id += 1
        query_id = str(self._last_callback_id)
        self._callback_ids.add(query_id)
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Tester"}
        return self._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": dict(user),
                    # A snapshot: later edits must not change an update already queued.
                    "message": copy.deepcopy(message),
                    "chat_instance": str(user_id),
                    "data": data,
                }
            }
        )

    def push_button(self, user_id: int, button_text: str, message_id: int | None = None) -> int:
        """Press the inline button whose text contains ``button_text``.

        Searches message ``message_id``, or else the bot's messages in that chat
        from newest to oldest. Returns the update_id.
        """
        candidates = (
            [self._messages[user_id].get(message_id, {})]
            if message_id is not None
            else list(reversed(self.bot_messages(user_id)))
        )
        for message in candidates:
            for button in _buttons(message):
                if button_text in button.get("text", "") and "callback_data" in button:
                    return self.push_callback(
                        user_id, message["message_id"], button["callback_data"]
                    )
        shown = "; ".join(_describe_buttons(message) for message in candidates) or "none"
        raise LookupError(f"no inline button containing {button_text!r}; buttons: {shown}")

    # --------------------------------------------------------------- inspection

    def bot_messages(self, chat_id: int) -> list[JsonDict]:
        """The bot's messages in a chat that still exist, oldest first, as currently shown."""
        return [
            message
            for _, message in sorted(self._messages[chat_id].items())
            if message["from"]["id"] == self.bot_user["id"]
        ]

    def last_bot_message(self, chat_id: int) -> JsonDict | None:
        messages = self.bot_messages(chat_id)
        return messages[-1] if messages else None

    def file_content(self, file_id: str) -> bytes:
        return self._files_by_id[file_id].content

    def fail_next(
        self, method: str, error_code: int, description: str, *, retry_after: int | None = None
    ) -> None:
        """Answer the next call of ``method`` with this error instead of handling it."""
        error = _ApiError(error_code, description, retry_after)
        self._injected_errors[method.lower()].append(error)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold each of the next ``times`` calls of ``method`` ``seconds`` before handling it, as a
        slow Telegram would: the bot's request is in flight meanwhile (see :meth:`wait_held`)."""
        self._delays[method.lower()].extend([seconds] * times)

    def clear_delays(self) -> None:
        self._delays.clear()

    async def wait_held(self, predicate: CallPredicate | None = None, timeout: float = 10.0) -> Call:
        """Wait until a call with ``predicate(method, params)`` true (any call without one) is held
        by :meth:`delay_next`, i.e. in flight; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for call in self.held:
                if predicate is None or predicate(*call):
                    return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no such call held within {timeout}s; {len(self.held)} held")
            await self._held_changed.wait(remaining)

    def mark(self) -> int:
        """Current number of recorded calls, for ``wait_for(..., since=stub.mark())``."""
        return len(self.calls)

    async def wait_for(
        self, predicate: CallPredicate, timeout: float = 10.0, *, since: int | None = None
    ) -> Call:
        """Wait for the first call at index >= ``since`` with ``predicate(method, params)`` true.

        Without ``since`` the search starts at the stub's current position: the
        number of calls recorded when the test last pushed an update, moved past
        every call a previous ``wait_for`` returned. So replies that arrived
        before the test began waiting are still found, a reply is not returned
        twice, and replies to earlier interactions are skipped. Raises
        TimeoutError listing the calls seen.
        """
        index = await self._wait_for_index(
            lambda i: predicate(*self.calls[i]), timeout, since, f"call matching {predicate!r}"
        )
        return self.calls[index]

    async def wait_for_message(
        self,
        chat_id: int,
        contains: str | None = None,
        timeout: float = 10.0,
        *,
        since: int | None = None,
    ) -> JsonDict:
        """Wait for a successful sendMessage/editMessageText to ``chat_id`` containing ``contains``.

        ``contains`` is matched against the text as sent and as rendered (HTML
        tags removed). Returns the call's params; position rules as in wait_for.
        """

        def matches(index: int) -> bool:
            method, params = self.calls[index]
            if method not in ("sendMessage", "editMessageText") or self._outcomes[index]:
                return False
            if params.get("chat_id") != chat_id:
                return False
            if contains is None:
                return True
            text = str(params.get("text", ""))
            return contains in text or contains in _render_text(text, params.get("parse_mode"))

        what = f"message to chat {chat_id}" + (f" containing {contains!r}" if contains else "")
        index = await self._wait_for_index(matches, timeout, since, what)
        return self.calls[index][1]

    async def wait_until_polling(self, timeout: float = 10.0) -> None:
        """Wait until a getUpdates long poll is waiting, i.e. the bot is ready for updates."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._active_polls == 0:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no getUpdates long poll within {timeout}s")
            await self._polls_changed.wait(remaining)

    async def _wait_for_index(
        self, matches: Callable[[int], bool], timeout: float, since: int | None, what: str
    ) -> int:
        start = self._position if since is None else since
        index = start
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while index < len(self.calls):
                if matches(index):
                    self._position = max(self._position, index + 1)
                    return index
                index += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no {what} within {timeout}s; calls since #{start}:\n"
                    + self._describe_calls(start)
                )
            await self._calls_changed.wait(remaining)

    def _describe_calls(self, start: int) -> str:
        lines = []
        for index in range(start, len(self.calls)):
            method, params = self.calls[index]
            shown = {key: value for key, value in params.items() if key != "reply_markup"}
            outcome = self._outcomes[index] or "ok"
            lines.append(f"  #{index} {method} {shown!r} -> {outcome}")
        return "\n".join(lines[-30:]) or "  (none)"

    # ------------------------------------------------------------- HTTP layer

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        requested = request.match_info["method"]
        method, handler = self._handlers.get(requested.lower(), (requested, None))
        try:
            params = await self._read_params(request)
        except ValueError as error:
            return web.json_response(_ApiError(400, f"Bad Request: {error}").body(), status=400)

        delays = self._delays.get(method.lower())
        if delays:
            seconds = delays.popleft()
            self.held.append((method, params))
            self._held_changed.notify()
            await asyncio.sleep(seconds)
        outcome: str | None = None
        try:
            injected = self._injected_errors.get(method.lower())
            if injected:
                raise injected.popleft()
            if method.lower() in _SEND_METHODS:
                self._check_send(params)
            if handler is None:
                logger.warning("BotApiStub: unhandled method %s %r", method, params)
                self.unknown_methods.append(method)
                result: Any = True
            else:
                result = await handler(params)
            response = web.json_response({"ok": True, "result": result})
        except _ApiError as error:
            outcome = f"{error.code} {error.description}"
            response = web.json_response(error.body(), status=error.code)
        except Exception as error:
            logger.exception("BotApiStub: %s failed", method)
            outcome = f"500 {error!r}"
            body = _ApiError(500, f"Internal Server Error: {error!r}").body()
            response = web.json_response(body, status=500)
        # Recorded once handled, so when a test sees the call the stub's state
        # (stored messages, files) already reflects it.
        self.calls.append((method, params))
        self._outcomes.append(outcome)
        self._calls_changed.notify()
        return response

    def _check_send(self, params: JsonDict) -> None:
        """403 for a chat whose user blocked the bot; 429 beyond the flood limits."""
        chat_id = params.get("chat_id")
        if chat_id in self.blocked_chats:
            raise _ApiError(403, BLOCKED)
        limits = self.limits
        if limits is None:
            return
        now = time.monotonic()
        # Overall: a leaky bucket of `overall_per_second` (scaled) holding at most
        # `overall_burst` messages: the sustained rate is what Telegram limits.
        rate = limits.overall_per_second * limits.scale
        self._bucket = max(0.0, self._bucket - (now - self._bucket_at) * rate)
        self._bucket_at = now
        interval = limits.per_chat_interval / limits.scale
        last = self._last_send_to.get(chat_id) if isinstance(chat_id, int) else None
        too_soon = last is not None and now - last < interval * (1 - limits.chat_tolerance)
        if too_soon or self._bucket + 1 > limits.overall_burst:
            self.too_many_requests += 1
            self.too_many_by_limit["chat" if too_soon else "overall"] += 1
            raise _ApiError(429, f"Too Many Requests: retry after {limits.retry_after}", retry_after=limits.retry_after)
        self._bucket += 1
        self.accepted_at.append(now)
        if isinstance(chat_id, int):
            self._last_send_to[chat_id] = now

    async def _read_params(self, request: web.Request) -> JsonDict:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, UploadedFile] = {}
        if request.content_type == "application/json":
            if request.body_exists:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("request body must be a JSON object")
                raw.update(body)
        elif request.body_exists:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = UploadedFile(
                        filename=value.filename,
                        content_type=value.content_type,
                        content=value.file.read(),
                    )
                else:
                    raw[key] = value

        params: JsonDict = {}
        for key, value in raw.items():
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = uploads.pop(value.removeprefix("attach://"), value)
            elif isinstance(value, str):
                params[key] = _decode_field(key, value)
            else:
                params[key] = value
        # A file may also be sent directly as the part named after the field.
        for key, upload in uploads.items():
            params.setdefault(key, upload)
        return params

    async def _handle_download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        file_path = request.match_info["file_path"]
        stored = self._files_by_path.get(file_path)
        if stored is None:
            return web.json_response(_ApiError(404, "Not Found").body(), status=404)
        self.downloads.append(file_path)
        return web.Response(body=stored.content, content_type=stored.mime_type)

    # ---------------------------------------------------------- method handlers

    async def _return_true(self, params: JsonDict) -> bool:
        return True

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        offset = _int_param(params, "offset", 0)
        if offset > 0:
            self._pending_updates = [u for u in self._pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            # A negative offset keeps the last -offset updates and forgets the rest.
            self._pending_updates = self._pending_updates[offset:]
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_int_param(params, "timeout", 0), 0)

        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_changed.notify()  # an older poll still waiting must give way
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._active_polls += 1
        self._polls_changed.notify()
        try:
            while True:
                if generation != self._poll_generation:
                    raise _ApiError(409, POLL_CONFLICT)
                # Delivered updates stay queued until a later offset confirms them.
                if self._pending_updates or self._closing:
                    return copy.deepcopy(self._pending_updates[:limit])
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                await self._updates_changed.wait(remaining)
        finally:
            self._active_polls -= 1
            self._polls_changed.notify()

    async def _delete_webhook(self, params: JsonDict) -> bool:
        if params.get("drop_pending_updates") is True:
            self._pending_updates.clear()
        return True

    async def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self._commands[_commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return self._commands.get(_commands_key(params), [])

    async def _delete_my_commands(self, params: JsonDict) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat_id = _chat_id(params)
        text = _required_text(params)
        markup = _inline_markup(params)
        message = self._new_message(chat_id, sender=self.bot_user)
        message["text"] = text
        _set_optional(message, "entities", _explicit_entities(params, "entities"))
        _set_optional(message, "reply_markup", markup)
        return message

    async def _edit_message_text(self, params: JsonDict) -> JsonDict:
        message = self._editable_message(params)
        if "text" not in message:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        text = _required_text(params)
        entities = _explicit_entities(params, "entities")
        markup = _inline_markup(params)
        if (
            text == message["text"]
            and entities == message.get("entities")
            and markup == message.get("reply_markup")
        ):
            raise _ApiError(400, NOT_MODIFIED)
        message["text"] = text
        _set_optional(message, "entities", entities)
        _set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return message

    async def _edit_message_caption(self, params: JsonDict) -> JsonDict:
        message = self._editable_message(params)
        if "document" not in message:
            raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = _optional_caption(params)
        markup = _inline_markup(params)
        if caption == message.get("caption") and markup == message.get("reply_markup"):
            raise _ApiError(400, NOT_MODIFIED)
        _set_optional(message, "caption", caption)
        _set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return message

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        message = self._editable_message(params)
        markup = _inline_markup(params)
        if markup == message.get("reply_markup"):
            raise _ApiError(400, NOT_MODIFIED)
        _set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return message

    async def _delete_message(self, params: JsonDict) -> bool:
        chat_id = _chat_id(params)
        message_id = _message_id(params)
        # In private chats a bot may delete messages from either side.
        if self._messages[chat_id].pop(message_id, None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        if params.get("callback_query_id") not in self._callback_ids:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return True

    async def _send_document(self, params: JsonDict) -> JsonDict:
        chat_id = _chat_id(params)
        document = params.get("document")
        if isinstance(document, UploadedFile):
            if not document.content:
                raise _ApiError(400, "Bad Request: file must be non-empty")
            mime_type = document.content_type
            if mime_type == "application/octet-stream":
                # aiogram labels every upload octet-stream; Telegram goes by the file name.
                mime_type = mimetypes.guess_type(document.filename)[0] or mime_type
            stored = self._store_file(document.content, document.filename, mime_type)
        elif isinstance(document, str) and document in self._files_by_id:
            stored = self._files_by_id[document]
        elif document is None:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        else:
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = _optional_caption(params)
        markup = _inline_markup(params)
        message = self._new_message(chat_id, sender=self.bot_user)
        message["document"] = stored.document()
        _set_optional(message, "caption", caption)
        _set_optional(message, "caption_entities", _explicit_entities(params, "caption_entities"))
        _set_optional(message, "reply_markup", markup)
        return message

    async def _get_file(self, params: JsonDict) -> JsonDict:
        stored = self._files_by_id.get(str(params.get("file_id", "")))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    async def _get_chat(self, params: JsonDict) -> JsonDict:
        chat_id = _chat_id(params)
        if chat_id not in self._users:
            raise _ApiError(400, "Bad Request: chat not found")
        return {
            **self._chat(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_chat_member(self, params: JsonDict) -> JsonDict:
        chat_id = _chat_id(params)
        user_id = params.get("user_id")
        if chat_id not in self._users:
            raise _ApiError(400, "Bad Request: chat not found")
        if user_id == self.bot_user["id"]:
            return {"status": "member", "user": dict(self.bot_user)}
        if user_id != chat_id:
            raise _ApiError(400, "Bad Request: PARTICIPANT_ID_INVALID")
        return {"status": "member", "user": dict(self._users[chat_id])}

    # ---------------------------------------------------------------- helpers

    def _push_update(self, payload: JsonDict) -> int:
        self._last_update_id += 1
        self._pending_updates.append({"update_id": self._last_update_id, **payload})
        self._position = len(self.calls)
        self._updates_changed.notify()
        return self._last_update_id

    def _chat(self, chat_id: int) -> JsonDict:
        chat: JsonDict = {"id": chat_id, "type": "private"}
        user = self._users.get(chat_id)
        if user is not None:
            chat["first_name"] = user["first_name"]
        return chat

    def _new_message(self, chat_id: int, *, sender: JsonDict) -> JsonDict:
        """Create and store a message; ids are shared by both sides of a chat, as in Telegram."""
        self._last_message_id[chat_id] += 1
        message_id = self._last_message_id[chat_id]
        message: JsonDict = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        self._messages[chat_id][message_id] = message
        return message

    def _editable_message(self, params: JsonDict) -> JsonDict:
        chat_id = _chat_id(params)
        message = self._messages[chat_id].get(_message_id(params))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return message

    def _store_file(self, content: bytes, file_name: str, mime_type: str) -> _StoredFile:
        self._file_count += 1
        number = self._file_count
        suffix = mimetypes.guess_extension(mime_type) or ""
        if "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = _StoredFile(
            file_id=f"BQAC-stub-{number}-{secrets.token_hex(4)}",
            file_unique_id=f"AgAD-stub-{number}",
            file_path=f"documents/file_{number}{suffix}",
            file_name=file_name,
            mime_type=mime_type,
            content=content,
        )
        self._files_by_id[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored


def _int_param(params: JsonDict, name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ApiError(400, f"Bad Request: invalid {name} specified")
    return value


def _chat_id(params: JsonDict) -> int:
    value = params.get("chat_id")
    if value is None or value == "":
        raise _ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(value, bool) or not isinstance(value, int):
        # "@username" chats (channels) do not exist here.
        raise _ApiError(400, "Bad Request: chat not found")
    return value


def _message_id(params: JsonDict) -> int:
    value = params.get("message_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ApiError(400, "Bad Request: message identifier is not specified")
    return value


def _required_text(params: JsonDict) -> str:
    text = _render_text(str(params.get("text") or ""), params.get("parse_mode"))
    if not text:
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    return text


def _optional_caption(params: JsonDict) -> str | None:
    caption = _render_text(str(params.get("caption") or ""), params.get("parse_mode"))
    if len(caption) > MAX_CAPTION_LENGTH:
        raise _ApiError(400, "Bad Request: message caption is too long")
    return caption or None


def _explicit_entities(params: JsonDict, name: str) -> list[JsonDict] | None:
    """Entities given explicitly are kept; those implied by parse_mode are not generated."""
    entities = params.get(name)
    if entities is None or params.get("parse_mode"):
        return None
    if not isinstance(entities, list):
        raise _ApiError(400, f"Bad Request: can't parse {name} JSON object")
    return entities or None


def _inline_markup(params: JsonDict) -> JsonDict | None:
    """The reply_markup as it appears in the resulting Message.

    Only inline keyboards are part of a Message (reply keyboards, ForceReply and
    ReplyKeyboardRemove are not), and an empty inline keyboard is omitted.
    """
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
    for row in rows:
        for button in row:
            data = button.get("callback_data") if isinstance(button, dict) else None
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    if not any(rows):
        return None
    return {"inline_keyboard": rows}


def _set_optional(message: JsonDict, key: str, value: Any) -> None:
    """Set a Message field, or remove it: Telegram omits empty optional fields."""
    if value is None:
        message.pop(key, None)
    else:
        message[key] = value


def _commands_key(params: JsonDict) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _buttons(message: JsonDict) -> list[JsonDict]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def _describe_buttons(message: JsonDict) -> str:
    labels = [f"{b.get('text')!r}={b.get('callback_data')!r}" for b in _buttons(message)]
    return f"#{message.get('message_id')}: [{', '.join(labels)}]"
