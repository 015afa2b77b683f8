"""Where the bot speaks and where it keeps quiet: groups, channels, and a person who blocked it."""

from __future__ import annotations

import logging

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, GetFile, SendMessage
from aiogram.types import CallbackQuery, Chat as TgChat

from chat_harness import NOW, Chat, make_settings
from storage.models import BotUser

GROUP = TgChat(id=-100777, type="supergroup", title="技师交流群")
CHANNEL = TgChat(id=-100888, type="channel", title="公告频道")


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def _feed(chat: Chat, update) -> list:
    start = chat.mark()
    await chat.dp.feed_update(chat.bot, update)
    return chat.api.calls[start:]


async def test_a_command_in_a_group_gets_one_line_pointing_to_the_private_chat(chat: Chat) -> None:
    for command in ("/start", "/status", "/declare", "/pending"):
        calls = await _feed(chat, chat.api.update(message=chat.api.new_message(GROUP, chat.user, text=command)))
        assert chat.texts(calls) == ["为保护各工作站的信息，请在与本机器人的私聊中办理（点机器人头像，再点“发消息”）。"]
        assert all(c.chat_id == GROUP.id for c in calls if isinstance(c, SendMessage))


async def test_talk_in_a_group_and_channel_posts_get_no_answer(chat: Chat) -> None:
    assert await _feed(chat, chat.api.update(message=chat.api.new_message(GROUP, chat.user, text="大家好"))) == []
    post = chat.api.new_message(CHANNEL, None, text="/start", sender_chat=CHANNEL)
    assert await _feed(chat, chat.api.update(channel_post=post)) == []


async def test_a_forged_button_under_a_group_message_is_answered_without_a_word(chat: Chat) -> None:
    message = chat.api.new_message(GROUP, chat.user, text="x")
    query = CallbackQuery(id="q1", from_user=chat.user, chat_instance="g", message=message, data="menu:status")
    calls = await _feed(chat, chat.api.update(callback_query=query))
    assert [type(c) for c in calls] == [AnswerCallbackQuery]
    assert calls[0].text is None


async def test_a_person_who_blocked_the_bot_is_marked_unreachable_and_nothing_fails(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    await chat.send("/start")
    chat.api.blocked.add(chat.user.id)
    with caplog.at_level(logging.INFO):
        calls = await chat.send("/status")
    assert calls == []  # refused by Telegram: nothing reached the person
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    user = await BotUser.get(id=chat.user.id)
    assert user.reachable is False and user.unreachable_since == NOW
    # Writing again means they unblocked it: reachable, and answered.
    chat.api.blocked.clear()
    assert chat.texts(await chat.send("/help"))
    assert (await BotUser.get(id=chat.user.id)).reachable is True


async def test_the_local_bot_api_refuses_to_hand_out_a_file_over_20_mb(chat: Chat) -> None:
    big = chat.api.add_file(b"%PDF-1.4", "scan.pdf", size=25 * 1024 * 1024)
    assert big.file_size == 25 * 1024 * 1024
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await chat.api.answer(GetFile(file_id=big.file_id))


async def test_an_edited_message_is_answered_that_the_edit_changes_nothing(chat: Chat) -> None:
    await chat.send("/declare")
    sent = chat.api.new_message(TgChat(id=chat.user.id, type="private"), chat.user, text="深圳精密模具有限公司")
    edited = sent.model_copy(update={"edit_date": 1})
    calls = await _feed(chat, chat.api.update(edited_message=edited))
    assert chat.texts(calls) == ["修改已发出的消息不会改变已保存的回答。如需更正，请直接重新发送；填写表格时也可在最后的摘要中修改。"]
