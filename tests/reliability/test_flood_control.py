"""Flood control: each person's updates are limited (THROTTLE_RATE on average, THROTTLE_BURST at
once, so an album of 10 documents passes); over the limit the first update of the throttled period
is answered politely in the person's language, the rest are dropped silently, a pressed button is
always answered; staff are limited too; with Redis two instances share one budget.

Repeated wrong invite codes are slowed down as well (bot/services/contacts.py: five wrong codes in
15 minutes, then no code is checked until the oldest leaves the window), and a restart does not
forget it. tests/flow/test_contacts.py shows the failures counted by a second instance at once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.types import Update, User

from bot.services.contacts import FAILURE_WINDOW, MAX_FAILURES
from handlers.delivery import burst_limit
from storage.models import Contact
from tests.chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from tests.factories import recognised_station

SLOW_DOWN_ZH = "您发送得太快了，请稍等片刻再继续。之前输入的内容都已保存，不会丢失。"
SLOW_DOWN_EN = "You are sending messages too fast. Please wait a moment, then carry on: nothing you typed so far is lost."
# 10 at once, then nothing more for a minute: no test depends on how fast the machine is.
SLOW = {"throttle_rate": "10/minute", "throttle_burst": 10}


def album(chat: Chat, user: User, size: int = 10) -> list[Update]:
    """An album of `size` documents: Telegram delivers it as `size` messages at once."""
    updates = []
    for n in range(size):
        document = chat.api.add_file(f"%PDF-1.4 page {n}".encode(), f"第{n + 1}页.pdf")
        update = chat.api.user_message(user, document=document)
        message = update.message.model_copy(update={"media_group_id": "album-1"})
        updates.append(update.model_copy(update={"message": message}))
    return updates


async def feed_at_once(chat: Chat, updates: list[Update]) -> list[TelegramMethod[Any]]:
    start = chat.mark()
    await asyncio.gather(*(chat.dp.feed_update(chat.bot, u) for u in updates))
    return chat.api.calls[start:]


def said(calls: list[TelegramMethod[Any]], user_id: int) -> list[str]:
    return [c.text for c in calls if isinstance(c, SendMessage) and int(c.chat_id) == user_id]


def test_the_default_allows_five_a_second_and_an_album_of_ten_at_once() -> None:
    limit = burst_limit("5/second", 10)
    assert (limit.amount, limit.get_expiry()) == (10, 2)
    assert (burst_limit("300/minute", 10).amount, burst_limit("300/minute", 10).get_expiry()) == (300, 60)


async def test_an_album_passes_and_a_flood_after_it_is_told_once_then_dropped(db: str) -> None:
    chat = Chat(make_settings(db, **SLOW))
    calls = await feed_at_once(chat, album(chat, chat.user))
    answers = said(calls, chat.user.id)
    assert answers and SLOW_DOWN_ZH not in answers  # every page reached the bot
    assert len(answers) == 10, answers  # one answer per page

    calls = await feed_at_once(chat, [chat.api.user_message(chat.user, f"第{n}条") for n in range(5)])
    assert said(calls, chat.user.id) == [SLOW_DOWN_ZH]  # once in the period, the rest dropped silently
    calls = await chat.send("/status")
    assert said(calls, chat.user.id) == []
    # someone else is not held back by it
    other = chat.as_user(5550009)
    assert SLOW_DOWN_ZH not in said(await chat.send("/start", user=other), other.id)


async def test_a_throttled_button_is_answered_and_staff_and_english_speakers_are_limited_too(db: str) -> None:
    chat = Chat(make_settings(db, **SLOW))
    staff = chat.as_user(STAFF_ID, language_code="en", first_name="Li")
    await chat.send("/lang klingon", user=staff)  # answered with the language buttons
    message = chat.last_with_buttons(staff)
    data = message.reply_markup.inline_keyboard[0][0].callback_data
    await feed_at_once(chat, [chat.api.user_message(staff, f"/help {n}") for n in range(9)])
    presses = [chat.api.button_press(staff, message, data) for _ in range(3)]
    calls = await feed_at_once(chat, presses)
    answers = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert sorted(a.callback_query_id for a in answers) == sorted(p.callback_query.id for p in presses)
    assert [a.text for a in answers if a.text] == [SLOW_DOWN_EN]  # the button stops spinning; told once
    assert said(calls, STAFF_ID) == []


async def test_the_limit_lifts_after_its_window_and_tells_again_next_time(db: str) -> None:
    chat = Chat(make_settings(db, throttle_rate="2/second", throttle_burst=4))  # 4 per 2 seconds
    texts = said(await feed_at_once(chat, [chat.api.user_message(chat.user, "/help") for _ in range(6)]), chat.user.id)
    assert texts.count(SLOW_DOWN_ZH) == 1 and len(texts) == 5
    await asyncio.sleep(2.05)  # the window (from the first of them) has passed
    texts = said(await chat.send("/help"), chat.user.id)
    assert texts and SLOW_DOWN_ZH not in texts
    texts = said(await feed_at_once(chat, [chat.api.user_message(chat.user, "/help") for _ in range(4)]), chat.user.id)
    assert texts.count(SLOW_DOWN_ZH) == 1 and len(texts) == 4  # the fifth in this window


@pytest.mark.redis
async def test_two_instances_sharing_redis_share_one_budget(db: str, redis_url: str) -> None:
    settings = make_settings(db, redis_url=redis_url, **SLOW)
    first = Chat(settings)
    second = Chat(settings, first.api, clock=first.clock)
    updates = [first.api.user_message(first.user, "/help") for _ in range(10)]
    await asyncio.gather(*(c.dp.feed_update(c.bot, u) for c, u in zip([first, second] * 5, updates)))
    assert SLOW_DOWN_ZH not in said(first.api.calls, first.user.id)
    assert said(await second.send("/help"), first.user.id) == [SLOW_DOWN_ZH]
    assert said(await first.send("/help"), first.user.id) == []  # told once, on either instance
    for chat in (first, second):
        await chat.dp.emit_shutdown()


async def test_wrong_invite_codes_are_slowed_down_and_a_restart_does_not_forget_it(db: str) -> None:
    await recognised_station(USER_ID)
    chat = Chat(make_settings(db))
    right = re.findall(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{2}", "\n".join(chat.texts(await chat.send("/invite"))))[0]
    stranger = chat.as_user(5550003)
    for n in range(MAX_FAILURES):  # 09:00 .. 09:04
        assert "邀请码无效" in chat.texts(await chat.send(f"/join WRNG-CODE-{n + 2}A", user=stranger))[0]
        chat.clock.advance(timedelta(minutes=1))
    refused = "尝试次数过多，请于 09:15 之后再试。"  # the first failure (09:00) leaves the window then
    assert chat.texts(await chat.send("/join WRNG-CODE-7A", user=stranger)) == [refused]  # the sixth
    restarted = Chat(chat.settings, clock=chat.clock)  # a new process on the same database
    assert restarted.texts(await restarted.send(f"/join {right}", user=stranger)) == [refused]
    assert not await Contact.filter(user_id=stranger.id).exists()
    restarted.clock.set(NOW + FAILURE_WINDOW)
    assert any("您已成为" in t for t in restarted.texts(await restarted.send(f"/join {right}", user=stranger)))
    assert await Contact.filter(user_id=stranger.id, active=True).count() == 1
