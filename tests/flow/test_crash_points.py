"""A form where the bot process dies at the worst moments, in process: the crash is an exception
that nothing in the bot catches (a BaseException, as a kill leaves no handler running), raised by
the session when the bot calls Telegram; a new Dispatcher on the same database is the restart.
tests/reliability/test_restarts.py does the same to the real process with kill -9.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage, TelegramMethod

from bot.clock import FixedClock
from bot.local_session import LocalBotApi, LocalSession
from bot.rules.lifecycle import Actor
from chat_harness import USER_ID, Chat, make_settings
from factories import recognised_station
from storage.models import FilingObligation, Submission, SubmissionStatus
from storage.transitions import apply_transition

TODAY = datetime(2027, 1, 20, 1, 0, tzinfo=UTC)
EXPLANATION = "厂区整体搬迁至光明区，预计四月底完工"


class Crash(BaseException):
    """The process dies here."""


class DyingSession(LocalSession):
    """Dies at the first sendMessage whose text contains `at`: after Telegram took it (`after=True`,
    the person sees it) or before."""

    def __init__(self, api: LocalBotApi, at: str, *, after: bool) -> None:
        super().__init__(api)
        self.at, self.after = at, after

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        dies = isinstance(method, SendMessage) and self.at in method.text and self.at != ""
        if dies and not self.after:
            self.at = ""
            raise Crash
        result = await super().make_request(bot, method, timeout)
        if dies:
            self.at = ""
            raise Crash
        return result


@pytest.fixture
async def contact(db: str) -> str:
    station = await recognised_station(USER_ID)
    filing = await FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28))
    await apply_transition("filing", filing.id, "mark_due", actor_id=None, actor=Actor.SYSTEM, now=TODAY)
    return db


def started(db: str, api: LocalBotApi | None = None) -> Chat:
    return Chat(make_settings(db), api, clock=FixedClock(TODAY))


async def crash(chat: Chat, at: str, after: bool, send: Any) -> None:
    """Run `send` with the bot dying at `at`."""
    original = chat.bot.session
    session = DyingSession(chat.api, at, after=after)
    for middleware in original.middleware._middlewares:  # noqa: SLF001 - the same request middleware
        session.middleware(middleware)
    chat.bot.session = session
    with pytest.raises(Crash):
        await send()
    chat.bot.session = original


async def test_a_window_shown_just_before_a_crash_still_works_after_the_restart(contact: str) -> None:
    chat = started(contact)
    # The first question reached the person; the process died before the dialog's own saving.
    await crash(chat, "第1/4题", True, lambda: chat.send("/extension"))
    restarted = started(contact, chat.api)
    texts = restarted.texts(await restarted.press("场地搬迁"))
    assert any("请简要说明场地搬迁的情况" in text for text in texts), texts
    assert not any("已经结束或过期" in text for text in texts), texts


async def test_an_answer_kept_whose_next_question_never_arrived_is_not_taken_twice(contact: str) -> None:
    chat = started(contact)
    await chat.send("/extension")
    await chat.press("场地搬迁")
    # The explanation is kept; the process dies before the next question goes out.
    await crash(chat, "申请延期几个月", False, lambda: chat.send(EXPLANATION))
    kept = await Submission.get(created_by=USER_ID)
    assert kept.answers["explanation"] == EXPLANATION
    # The person saw no answer and sends the same message again: the next message of the chat
    # (message ids count both sides' messages, and the bot sent none since).
    restarted = started(contact, chat.api)
    texts = restarted.texts(await restarted.send(EXPLANATION))
    assert any("申请延期几个月" in text for text in texts), texts  # the question after the one answered
    assert not any("⚠️" in text for text in texts), texts
    draft = await Submission.get(created_by=USER_ID)
    assert draft.answers["explanation"] == EXPLANATION and "months" not in draft.answers
    # The same text later, after the question was shown, is an answer again (here: a wrong one).
    texts = restarted.texts(await restarted.send(EXPLANATION))
    assert any("申请延期几个月" in text for text in texts) and any("⚠️" in t or "请输入" in t for t in texts), texts


async def test_a_button_of_a_screen_already_left_changes_nothing(contact: str) -> None:
    chat = started(contact)
    await chat.send("/extension")
    first = chat.last_with_buttons()  # the first question, as the person had it on screen
    await chat.press("场地搬迁")
    await chat.send(EXPLANATION)
    before = dict((await Submission.get(created_by=USER_ID)).answers)
    # Its 其他 button pressed on the old window (as after a crash that lost the edit): shown where
    # the form is, nothing changed.
    other = next(b for row in first.reply_markup.inline_keyboard for b in row if "其他" in b.text)
    texts = chat.texts(await chat.press_data(other.callback_data or "", message=first))
    assert any("申请延期几个月" in text for text in texts) and not any("⚠️" in text for text in texts), texts
    after = (await Submission.get(created_by=USER_ID)).answers
    assert after["grounds"] == before["grounds"] == "relocation"


async def test_a_receipt_lost_in_a_crash_is_told_when_submit_is_pressed_again(contact: str) -> None:
    chat = started(contact)
    await chat.send("/extension")
    await chat.press("场地搬迁")
    await chat.send(EXPLANATION)
    await chat.send("4")
    await chat.send_document(b"%PDF-1.4 letter", "延期申请.pdf")
    await crash(chat, "延期备案申请已提交", False, lambda: chat.press("提交"))
    submitted = await Submission.get(created_by=USER_ID)
    assert submitted.status == SubmissionStatus.SUBMITTED and submitted.reference
    restarted = started(contact, chat.api)
    texts = restarted.texts(await restarted.press("提交"))
    assert texts == [f"这份延期备案申请已于 2027-01-20 09:00 提交，编号 {submitted.reference}。"], texts
    assert await Submission.filter(created_by=USER_ID).exclude(status=SubmissionStatus.DRAFT).count() == 1
