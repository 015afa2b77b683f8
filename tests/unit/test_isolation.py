"""Per-user event isolation: updates of one person are still handled one at a time, and no lock is
kept for a person once their updates are done (aiogram's SimpleEventIsolation kept two per person
for the life of the process)."""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import SendMessage

from bot.isolation import ReleasingEventIsolation
from chat_harness import Chat, make_settings


def _key(user_id: int) -> StorageKey:
    return StorageKey(bot_id=1, chat_id=user_id, user_id=user_id)


async def test_one_persons_updates_wait_for_each_other_and_the_lock_goes_when_free() -> None:
    isolation = ReleasingEventIsolation()
    order: list[str] = []

    async def update(name: str, user_id: int, pause: float) -> None:
        async with isolation.lock(_key(user_id)):
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")

    first = asyncio.create_task(update("a", 1, 0.05))
    await asyncio.sleep(0)
    second = asyncio.create_task(update("b", 1, 0))
    other = asyncio.create_task(update("c", 2, 0))
    await asyncio.sleep(0.01)
    assert isolation.held() == 1  # person 1: one holding, one waiting; person 2 is done already
    await asyncio.gather(first, second, other)
    assert order.index("a out") < order.index("b in")  # same person: one after the other
    assert order.index("c out") < order.index("a out")  # another person does not wait
    assert isolation.held() == 0


async def _hold(isolation: ReleasingEventIsolation, user_id: int) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A task holding the person's lock until the returned event is set."""
    holding = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with isolation.lock(_key(user_id)):
            holding.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await holding.wait()
    return held, release


async def test_a_cancelled_waiter_does_not_leave_its_lock_behind() -> None:
    isolation = ReleasingEventIsolation()

    async def waiter() -> None:
        async with isolation.lock(_key(1)):
            pass

    held, release = await _hold(isolation, 1)
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await held
    await asyncio.gather(waiting, return_exceptions=True)
    assert isolation.held() == 0


async def test_closing_while_a_lock_is_held_lets_its_holder_finish() -> None:
    # At shutdown the storage is closed while the update in hand may still hold its lock.
    isolation = ReleasingEventIsolation()
    held, release = await _hold(isolation, 1)
    await isolation.close()
    release.set()
    await held  # raised KeyError when the entry was gone
    assert isolation.held() == 0


async def test_no_lock_is_left_after_many_people_use_the_bot(db: str) -> None:
    chat = Chat(make_settings(db))
    isolation = chat.dp.fsm.events_isolation
    assert isinstance(isolation, ReleasingEventIsolation)
    people = [Chat.as_user(7_400_000 + i) for i in range(60)]
    await asyncio.gather(*(chat.send("/declare", user=person) for person in people))
    await asyncio.gather(*(chat.send("深圳精密制造有限公司", user=person) for person in people))
    # Every person got the second question: the updates really went through the dialog's locks.
    for person in people:
        texts = [c.text for c in chat.api.calls if isinstance(c, SendMessage) and c.chat_id == person.id]
        assert any("第2/" in text for text in texts), texts
    assert isolation.held() == 0
