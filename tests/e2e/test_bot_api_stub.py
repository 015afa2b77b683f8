"""The Bot API stub, driven by a real aiogram Bot over HTTP.

These tests pin the stub to aiogram's wire format (form and multipart
encoding, JSON-encoded complex fields, error mapping) so that end-to-end tests
of the bot can trust it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramUnauthorizedError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from bot_api_stub import BotApiStub, UploadedFile

pytestmark = pytest.mark.asyncio

TOKEN = "123:ABC"
USER_ID = 4242


def make_bot(stub: BotApiStub, token: str = TOKEN) -> Bot:
    api = TelegramAPIServer.from_base(stub.url)
    return Bot(token, session=AiohttpSession(api=api))


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=label, callback_data=f"cb:{label}")] for label in labels]
    return InlineKeyboardMarkup(inline_keyboard=rows)


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[BotApiStub]:
    async with BotApiStub(token=TOKEN) as running:
        yield running


@pytest_asyncio.fixture
async def bot(stub: BotApiStub) -> AsyncIterator[Bot]:
    bot = make_bot(stub)
    yield bot
    await bot.session.close()


async def test_get_me_returns_the_test_bot(stub: BotApiStub, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123
    assert me.is_bot is True
    assert me.username == "test_station_bot"
    assert stub.calls == [("getMe", {})]


async def test_wrong_token_is_unauthorized(stub: BotApiStub) -> None:
    intruder = make_bot(stub, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert stub.calls == []


async def test_send_message_with_inline_keyboard(stub: BotApiStub, bot: Bot) -> None:
    first = await bot.send_message(USER_ID, "选择业务", reply_markup=keyboard("申请", "查询"))
    second = await bot.send_message(USER_ID, "<b>第二条</b>", parse_mode="HTML")

    assert first.chat.id == USER_ID and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.username == "test_station_bot"
    assert first.text == "选择业务"
    assert first.reply_markup is not None
    # Objects parsed from a response carry the bot, so compare their data.
    assert first.reply_markup.model_dump() == keyboard("申请", "查询").model_dump()
    assert second.message_id > first.message_id
    # HTML is rendered as Telegram does: the user sees no tags.
    assert second.text == "第二条"
    assert second.reply_markup is None

    method, params = stub.calls[0]
    assert method == "sendMessage"
    assert params["chat_id"] == USER_ID
    assert params["text"] == "选择业务"
    assert params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "申请", "callback_data": "cb:申请"}],
            [{"text": "查询", "callback_data": "cb:查询"}],
        ]
    }
    last = stub.last_bot_message(USER_ID)
    assert last is not None and last["message_id"] == second.message_id


async def test_send_message_rejects_what_telegram_rejects(stub: BotApiStub, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER_ID, "姓名: <张三> <unknown>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER_ID, "字" * 4097)
    too_long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER_ID, "x", reply_markup=too_long_data)
    assert stub.bot_messages(USER_ID) == []


async def test_edit_message_text(stub: BotApiStub, bot: Bot) -> None:
    sent = await bot.send_message(USER_ID, "待审核", reply_markup=keyboard("刷新"))

    edited = await bot.edit_message_text(
        "已通过", chat_id=USER_ID, message_id=sent.message_id, reply_markup=keyboard("刷新")
    )
    assert not isinstance(edited, bool)
    assert edited.message_id == sent.message_id
    assert edited.text == "已通过"
    assert edited.edit_date is not None

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "已通过", chat_id=USER_ID, message_id=sent.message_id, reply_markup=keyboard("刷新")
        )
    # The same text without the keyboard is a change: the keyboard is removed.
    stripped = await bot.edit_message_text("已通过", chat_id=USER_ID, message_id=sent.message_id)
    assert not isinstance(stripped, bool) and stripped.reply_markup is None

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=sent.message_id + 100)

    assert await bot.delete_message(USER_ID, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("再次", chat_id=USER_ID, message_id=sent.message_id)


async def test_get_updates_long_polls_and_honours_offset(stub: BotApiStub, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await stub.wait_until_polling()
    assert not poll.done()

    update_id = stub.push_message(USER_ID, "/start")
    updates = await asyncio.wait_for(poll, timeout=3)

    assert loop.time() - started < 4  # woken by the update, not by the 5 s timeout
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None and message.text == "/start"
    assert message.from_user is not None and message.from_user.language_code == "zh-hans"
    assert message.entities is not None and message.entities[0].type == "bot_command"

    # Not confirmed yet: delivered again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [update_id]
    # Confirmed by the offset: gone for good.
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []
    assert await bot.get_updates(timeout=0) == []

    later = stub.push_message(USER_ID, "第二条")
    assert later > update_id
    assert [u.update_id for u in await bot.get_updates(timeout=1)] == [later]


async def test_get_updates_times_out_empty(stub: BotApiStub, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await bot.get_updates(timeout=1) == []
    assert loop.time() - started >= 0.9


async def test_callback_press_on_bot_message(stub: BotApiStub, bot: Bot) -> None:
    sent = await bot.send_message(USER_ID, "确认提交?", reply_markup=keyboard("确认", "取消"))

    update_id = stub.push_button(USER_ID, "确认")
    (update,) = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert update.update_id == update_id
    assert query is not None and query.data == "cb:确认"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.from_user.id == USER_ID

    assert await bot.answer_callback_query(query.id, text="已提交") is True
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("no-such-query")
    with pytest.raises(LookupError):
        stub.push_callback(USER_ID, sent.message_id, "cb:不存在")


async def test_send_document_upload_then_download(stub: BotApiStub, bot: Bot) -> None:
    content = "申请表\n".encode() + bytes(range(256))

    sent = await bot.send_document(
        USER_ID, BufferedInputFile(content, filename="申请表.pdf"), caption="请查收"
    )

    document = sent.document
    assert document is not None
    assert document.file_name == "申请表.pdf"
    assert document.mime_type == "application/pdf"
    assert document.file_size == len(content)
    assert sent.caption == "请查收"
    method, params = stub.calls[-1]
    assert method == "sendDocument"
    assert isinstance(params["document"], UploadedFile)
    assert params["document"].content == content

    file = await bot.get_file(document.file_id)
    assert file.file_size == len(content)
    assert file.file_path is not None
    downloaded = await bot.download(document.file_id)
    assert downloaded is not None and downloaded.read() == content
    assert stub.downloads == [file.file_path]

    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("no-such-file")


async def test_user_file_can_be_resent_and_downloaded(stub: BotApiStub, bot: Bot) -> None:
    document = stub.add_file(b"PK\x03\x04 xlsx bytes", "名单.xlsx", "application/vnd.ms-excel")
    stub.push_message(USER_ID, "附件", document=document)

    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.document is not None
    assert update.message.caption == "附件"
    received = await bot.download(update.message.document.file_id)
    assert received is not None and received.read() == b"PK\x03\x04 xlsx bytes"

    resent = await bot.send_document(USER_ID, document["file_id"])
    assert resent.document is not None
    assert resent.document.file_unique_id == document["file_unique_id"]


async def test_set_my_commands_records_decoded_scope(stub: BotApiStub, bot: Bot) -> None:
    commands = [
        BotCommand(command="start", description="开始"),
        BotCommand(command="help", description="帮助"),
    ]
    scope = BotCommandScopeChat(chat_id=USER_ID)

    assert await bot.set_my_commands(commands, scope=scope, language_code="zh") is True

    method, params = stub.calls[-1]
    assert method == "setMyCommands"
    assert params["scope"] == {"type": "chat", "chat_id": USER_ID}
    assert params["commands"] == [
        {"command": "start", "description": "开始"},
        {"command": "help", "description": "帮助"},
    ]
    assert params["language_code"] == "zh"
    stored = await bot.get_my_commands(scope=scope, language_code="zh")
    assert [c.model_dump() for c in stored] == [c.model_dump() for c in commands]
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])


async def test_unknown_method_is_recorded_and_answered_true(stub: BotApiStub, bot: Bot) -> None:
    assert await bot.set_chat_title(USER_ID, "标题") is True

    assert stub.unknown_methods == ["setChatTitle"]
    assert stub.calls[-1] == ("setChatTitle", {"chat_id": USER_ID, "title": "标题"})


async def test_wait_for_message_is_event_driven(stub: BotApiStub, bot: Bot) -> None:
    stub.push_message(USER_ID, "/start")

    async def reply_later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(USER_ID, "欢迎使用")
        await bot.send_message(USER_ID, "<i>请选择</i>", parse_mode="HTML")

    replying = asyncio.create_task(reply_later())
    welcome = await stub.wait_for_message(USER_ID, "欢迎", timeout=3)
    # Matched against the rendered text too, and not the message already returned.
    menu = await stub.wait_for_message(USER_ID, timeout=3)
    await replying
    assert welcome["text"] == "欢迎使用"
    assert menu["text"] == "<i>请选择</i>"

    mark = stub.mark()
    with pytest.raises(TimeoutError, match="within 0.3s"):
        await stub.wait_for_message(USER_ID, "欢迎", timeout=0.3, since=mark)
    # An explicit index reaches back to earlier calls.
    method, params = await stub.wait_for(
        lambda method, params: method == "sendMessage" and "请选择" in params["text"], since=0
    )
    assert params["parse_mode"] == "HTML"


async def test_injected_error_reaches_the_bot(stub: BotApiStub, bot: Bot) -> None:
    stub.fail_next("sendMessage", 400, "Bad Request: chat not found")

    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(USER_ID, "第一次")
    assert (await bot.send_message(USER_ID, "第二次")).text == "第二次"
