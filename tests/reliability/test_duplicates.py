"""Duplicate delivery: an update Telegram delivers twice (a webhook retry, a redelivery after a
restart) is handled once, on one instance or two sharing the database or Redis; an update whose
handling failed or whose process died is handled when it comes again; claims are forgotten after a
day. Each case runs on SQLite, PostgreSQL and Redis (the claims in Redis, the rows on SQLite).

And the same button pressed ten times fast (ten updates, each its own update id) does its act
once: a contact's 提交 makes one submission and one receipt, a staff member's confirmation one
transition and one set of notices; every press is answered, none with an error. On one instance
(the database storage) and on two instances sharing Redis.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod

from bot.local_session import LocalBotApi
from storage.models import AuditLog, Contact, Notice, StatusTransition, Submission, SubmissionStatus, UpdateClaim
from storage.update_claims import KEEP, Claim, DatabaseClaims, RedisClaims
from tests.chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from tests.factories import recognised_station

COLLEAGUE = 5550002
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{2}\b")
JOINED = "您已成为"
GREETING = "您好，张三！"  # /start greets, then shows the menu

BACKENDS = pytest.mark.parametrize(
    "database_url, claims_in",
    [
        ("sqlite", "database"),
        pytest.param("postgres", "database", marks=pytest.mark.postgres),
        pytest.param("sqlite", "redis", marks=pytest.mark.redis),
    ],
    indirect=["database_url"],
)


@pytest.fixture
def chat(db: str, claims_in: str, request: pytest.FixtureRequest) -> Chat:
    redis = request.getfixturevalue("redis_url") if claims_in == "redis" else None
    return Chat(make_settings(db, redis_url=redis))


def texts_to(chat: Chat, start: int, user_id: int) -> list[str]:
    return [c.text for c in chat.api.calls[start:] if isinstance(c, SendMessage) and int(c.chat_id) == user_id]


async def invite_code(chat: Chat) -> str:
    texts = chat.texts(await chat.send("/invite"))
    return CODE.findall("\n".join(texts))[0]


async def joined_once(chat: Chat, start: int, station_id: int) -> None:
    """One answer, one contact, one audit row, one notice to the station's contact."""
    assert [JOINED in t for t in texts_to(chat, start, COLLEAGUE)] == [True]
    assert await Contact.filter(user_id=COLLEAGUE, station_id=station_id).count() == 1
    assert await AuditLog.filter(action="contact.joined", actor_id=COLLEAGUE).count() == 1
    assert await Notice.filter(recipient_id=USER_ID, text_key="invite.notice.joined").count() == 1


@BACKENDS
async def test_the_same_update_twice_is_handled_once_by_one_instance_or_two_at_once(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    update = chat.api.user_message(chat.as_user(COLLEAGUE), f"/join {await invite_code(chat)}")
    start = chat.mark()
    await chat.dp.feed_update(chat.bot, update)
    await chat.dp.feed_update(chat.bot, update)  # the webhook retried
    await joined_once(chat, start, station.id)

    # Two instances (same database, same Redis) given one update at the same moment.
    await Contact.filter(user_id=COLLEAGUE).delete()
    await AuditLog.filter(action="contact.joined").delete()
    await Notice.all().delete()
    other = Chat(chat.settings, chat.api, clock=chat.clock)
    update = chat.api.user_message(chat.as_user(COLLEAGUE), f"/join {await invite_code(chat)}")
    start = chat.mark()
    await asyncio.gather(chat.dp.feed_update(chat.bot, update), other.dp.feed_update(other.bot, update))
    await joined_once(chat, start, station.id)
    # a later update of the same person is handled as usual
    assert any("精密模具技师工作站" in t for t in chat.texts(await other.send("/status", user=chat.as_user(COLLEAGUE))))
    await other.dp.emit_shutdown()


class FailingOnce(LocalBotApi):
    """Telegram unreachable for the first message the bot sends, then fine."""

    failed = False

    async def answer(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, SendMessage) and not self.failed:
            self.failed = True
            raise TelegramNetworkError(method=method, message="connection reset")
        return await super().answer(method)


@BACKENDS
async def test_an_update_that_failed_or_whose_process_died_is_handled_when_it_comes_again(chat: Chat, claims_in: str) -> None:
    failing = Chat(chat.settings, FailingOnce(), clock=chat.clock)
    update = failing.api.user_message(failing.user, "/start")
    await failing.dp.feed_update(failing.bot, update)
    first = failing.texts(failing.api.calls)
    assert len(first) == 1 and "处理时出现了问题" in first[0]  # the apology only: the greeting was lost
    start = failing.mark()
    await failing.dp.feed_update(failing.bot, update)
    again = failing.texts(failing.api.calls[start:])
    assert [GREETING in t for t in again] == [True, False]
    await failing.dp.emit_shutdown()

    update = chat.api.user_message(chat.user, "/start")
    # The dead process claimed the update with a short lease and never finished it.
    dead = RedisClaims(chat.settings.redis_url, lease=0.4) if claims_in == "redis" else DatabaseClaims(lease=0.4)
    began = time.monotonic()
    assert await dead.claim(update.update_id) is Claim.MINE
    await chat.dp.feed_update(chat.bot, update)  # Telegram delivers it again to the restarted process
    waited = time.monotonic() - began
    assert [GREETING in t for t in chat.texts(chat.api.calls)] == [True, False]
    assert 0.35 <= waited < 10, waited  # the lease ran out first
    start = chat.mark()
    await chat.dp.feed_update(chat.bot, update)  # and it is final now
    assert chat.api.calls[start:] == []
    if isinstance(dead, RedisClaims):
        await dead.close()


@BACKENDS
async def test_handled_updates_are_forgotten_after_a_day(chat: Chat, claims_in: str) -> None:
    update = chat.api.user_message(chat.user, "/start")
    await chat.dp.feed_update(chat.bot, update)
    if claims_in == "redis":
        claims = RedisClaims(chat.settings.redis_url)
        ttl = await claims.redis.ttl(claims._key(update.update_id))
        await claims.close()
        assert KEEP.total_seconds() - 60 < ttl <= KEEP.total_seconds()
        return
    row = await UpdateClaim.get(update_id=update.update_id)
    assert row.lease_until is None and abs(row.claimed_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert await DatabaseClaims().purge(now=datetime.now(UTC) + KEEP - timedelta(minutes=1)) == 0
    assert await DatabaseClaims().purge(now=datetime.now(UTC) + KEEP + timedelta(minutes=1)) == 1
    start = chat.mark()
    await chat.dp.feed_update(chat.bot, update)  # after a day it would be handled again
    assert [GREETING in t for t in chat.texts(chat.api.calls[start:])] == [True, False]
    # A new process purges what is older than a day when it claims its first update.
    await UpdateClaim.filter(update_id=update.update_id).update(claimed_at=datetime.now(UTC) - KEEP - timedelta(hours=1))
    restarted = Chat(chat.settings, chat.api, clock=chat.clock)
    await restarted.send("/start")
    assert not await UpdateClaim.filter(update_id=update.update_id).exists()
    assert await UpdateClaim.all().count() == 1


# -- the same button ten times ---------------------------------------------------------------------

ERROR = "处理时出现了问题"
ALREADY = "已经被处理过了"
OUTDATED = "这个页面已经结束或过期"
EXPLANATION = "企业转型，不再开展技师工作站工作"


async def ten_presses(chats: list[Chat], user: Any, label: str) -> list[TelegramMethod[Any]]:
    """The button `label` of the latest message pressed ten times at once (spread over `chats`)."""
    first = chats[0]
    message = first.last_with_buttons(user)
    data = next(b.callback_data for row in message.reply_markup.inline_keyboard for b in row if label in b.text)
    updates = [first.api.button_press(user, message, data) for _ in range(10)]
    start = first.mark()
    await asyncio.gather(*(chats[n % len(chats)].dp.feed_update(chats[n % len(chats)].bot, u)
                           for n, u in enumerate(updates)))
    calls = first.api.calls[start:]
    answered = {c.callback_query_id for c in calls if isinstance(c, AnswerCallbackQuery)}
    assert answered == {u.callback_query.id for u in updates}, "every press is answered"
    assert not any(ERROR in t for t in first.texts(calls))
    return calls


@pytest.mark.parametrize(
    "database_url, claims_in, instances",
    [("sqlite", "database", 1), pytest.param("sqlite", "redis", 2, marks=pytest.mark.redis)],
    indirect=["database_url"],
)
async def test_submit_and_approve_pressed_ten_times_fast_act_once(chat: Chat, instances: int) -> None:
    station = await recognised_station(USER_ID)
    chats = [chat] + [Chat(chat.settings, chat.api, clock=chat.clock) for _ in range(instances - 1)]
    await chat.send("/deregister")
    await chat.send(EXPLANATION)
    await chat.send_document(b"%PDF-1.4 letter", "注销申请.pdf")
    await chat.press("是")

    calls = await ten_presses(chats, chat.user, "提交")
    receipts = [t for t in chat.texts(calls) if "注销申请已提交" in t]
    assert len(receipts) == 1 and "SZZX-2026-0001" in receipts[0]
    assert sum(OUTDATED in t for t in chat.texts(calls)) == 9  # the other presses: the form is closed
    request = await Submission.get(created_by=USER_ID)  # exactly one
    assert request.status == SubmissionStatus.SUBMITTED
    assert await StatusTransition.filter(subject_type="station", subject_id=station.id,
                                         action="request_deregistration").count() == 1
    assert await Notice.filter(kind="new_deregistration_request").count() == 1

    staff = chat.as_user(STAFF_ID)
    await chat.send("/review SZZX-2026-0001", user=staff)
    await chat.press("批准注销", user=staff)
    before = {n.id for n in await Notice.all()}
    calls = await ten_presses(chats, staff, "确认执行")
    texts = chat.texts(calls)
    assert sum(t.startswith("✅ 已对") for t in texts) == 1, texts
    assert sum(ALREADY in t for t in texts) == 9  # the other presses: already done, nothing else done
    assert await StatusTransition.filter(subject_type="submission", subject_id=request.id, action="approve").count() == 1
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.APPROVED
    # one set of notices: the contact told of the request's approval and of the station's end, once each
    told = [(n.recipient_id, n.subject) for n in await Notice.exclude(id__in=before)]
    assert sorted(told) == [(USER_ID, f"station:{station.id}"), (USER_ID, f"submission:{request.id}")]
    for other in chats[1:]:
        await other.dp.emit_shutdown()
