"""/announcements offers a subscription to the start and end of every 公示, and takes it back."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import FixedClock
from chat_harness import Chat, make_settings
from storage.models import AnnouncementSubscriber

READER = 7401


async def test_a_reader_subscribes_and_unsubscribes_with_one_button(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(datetime(2027, 5, 10, 2, tzinfo=UTC)))
    user = Chat.as_user(READER)
    await chat.send("/announcements", user)
    assert chat.buttons(user) == ["🔔 订阅公示通知"]
    await chat.press("🔔 订阅公示通知", user)
    assert await AnnouncementSubscriber.filter(user_id=READER).count() == 1
    await chat.send("/announcements", user)
    assert chat.buttons(user) == ["🔕 取消订阅公示通知"]
    await chat.press("🔕 取消订阅公示通知", user)
    assert not await AnnouncementSubscriber.filter(user_id=READER).exists()
