"""One step, one transaction (storage.step), SQLite's pragmas, and per-user locks that go away.

The step tests run on SQLite and PostgreSQL: inside a step nothing reaches the database; at its end
the draft's answers and the conversation state are written together, or (when one write fails)
none of them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.methods import SendChatAction, TelegramMethod
from tortoise import Tortoise

from bot.client import build_bot
from bot.settings import Settings
from conftest import both_databases
from storage import step, submissions
from storage.db import tortoise_config
from storage.fsm import DatabaseStorage
from storage.models import ConversationState, Submission, SubmissionKind

KEY = StorageKey(bot_id=1, chat_id=601, user_id=601, destiny="aiogd:context:x")
USER = 601


async def _stored_state(storage: DatabaseStorage, key: StorageKey) -> tuple[str | None, dict] | None:
    rows = await ConversationState.filter(key=storage.key_builder.build(key)).values_list("state", "data")
    return (rows[0][0], dict(rows[0][1])) if rows else None


@both_databases
async def test_a_step_writes_the_draft_and_the_state_together_at_its_end(db: str) -> None:
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    async with step.open_step():
        assert await submissions.save_answers(draft.id, USER, {"unit_name": "深圳精密制造有限公司"}) is True
        await storage.set_state(KEY, "Form:first")
        await storage.set_data(KEY, {"screen": 2})
        await storage.set_data(KEY, {"screen": 3})  # the same row again: one write at the end
        # Nothing is in the database yet; this update reads what it wrote.
        assert (await Submission.get(id=draft.id)).answers == {}
        assert await _stored_state(storage, KEY) is None
        assert await storage.get_data(KEY) == {"screen": 3}
        assert await storage.get_state(KEY) == "Form:first"
        assert step.current() is not None
        assert step.current().draft_answers(draft.id, USER) == {"unit_name": "深圳精密制造有限公司"}
        assert step.current().draft_answers(draft.id, USER + 1) is None
    assert step.current() is None
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "深圳精密制造有限公司"}
    # A new storage (a restarted process) reads both from the database.
    assert await _stored_state(DatabaseStorage(), KEY) == ("Form:first", {"screen": 3})


@both_databases
async def test_a_step_is_all_or_nothing(db: str) -> None:
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    await submissions.save_answers(draft.id, USER, {"unit_name": "旧名称"})
    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    with pytest.raises(Exception):  # noqa: B017,PT011 - the driver's own IntegrityError type
        async with step.open_step() as open_step:
            await submissions.save_answers(draft.id, USER, {"unit_name": "新名称"})
            await storage.set_data(KEY, {"screen": 2})
            open_step.states[None] = (None, "{}")  # type: ignore[index] - a row the database refuses
    # The draft's UPDATE ran before the refused row in the same transaction: rolled back with it.
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "旧名称"}
    assert await _stored_state(storage, KEY) is None


@both_databases
async def test_a_step_never_writes_into_a_submitted_draft_and_outside_a_step_writes_at_once(db: str) -> None:
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    await Submission.filter(id=draft.id).update(status="submitted", answers={"unit_name": "已提交"})
    async with step.open_step():
        await submissions.save_answers(draft.id, USER, {"unit_name": "改动"})
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "已提交"}

    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    await storage.set_data(KEY, {"screen": 1})
    assert await _stored_state(storage, KEY) == (None, {"screen": 1})


@both_databases
async def test_a_step_is_one_statement_or_one_transaction(db: str, caplog: pytest.LogCaptureFixture) -> None:
    """What the bench counts: the draft and two state rows in one flush, one call to the database."""
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    other = StorageKey(bot_id=1, chat_id=601, user_id=601, destiny="aiogd:stack:")
    calls = 0
    client = ConversationState._meta.db
    if db.startswith("postgres"):
        original = client.execute_query

        async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            return await original(*args, **kwargs)

        client.execute_query = counted  # type: ignore[method-assign]
    else:
        connection = client._connection
        original = connection._execute

        async def counted(*args, **kwargs):  # type: ignore[no-untyped-def,misc]
            nonlocal calls
            calls += 1
            return await original(*args, **kwargs)

        connection._execute = counted  # type: ignore[method-assign]
    try:
        async with step.open_step():
            await submissions.save_answers(draft.id, USER, {"unit_name": "x"})
            await storage.set_data(KEY, {"screen": 2})
            await storage.set_data(other, {"last_message_id": 7})
            calls = 0
    finally:
        if db.startswith("postgres"):
            client.execute_query = original  # type: ignore[method-assign]
        else:
            connection._execute = original  # type: ignore[method-assign]
    assert calls == 1
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "x"}
    assert await _stored_state(storage, other) == (None, {"last_message_id": 7})


async def test_sqlite_runs_in_wal_mode_with_synchronous_normal_on_every_connection(tmp_path) -> None:
    url = f"sqlite://{tmp_path / 'pragmas.sqlite3'}"
    from tortoise.context import TortoiseContext

    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        for _ in range(2):  # the first connection, then a new one after closing it
            client = Tortoise.get_connection("sqlite")
            assert (await client.execute_query_dict("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
            assert (await client.execute_query_dict("PRAGMA synchronous"))[0]["synchronous"] == 1  # NORMAL
            await client.close()
        await Tortoise.close_connections()
    # A URL that names a pragma keeps it.
    explicit = tortoise_config(url + "?synchronous=FULL")["connections"]["sqlite"]["credentials"]
    assert explicit["synchronous"] == "FULL"
    # PostgreSQL URLs are passed through untouched.
    assert tortoise_config("postgres://u@h:5432/d")["connections"]["postgres"] == "postgres://u@h:5432/d"


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_postgres_step_turns_synchronous_commit_off_for_its_own_transaction_only(db: str) -> None:
    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    async with step.open_step():
        await storage.set_data(KEY, {"screen": 1})
    assert await _stored_state(storage, KEY) == (None, {"screen": 1})
    client = ConversationState._meta.db
    for _ in range(5):  # whichever pooled connection answers
        rows = await client.execute_query_dict("SHOW synchronous_commit")
        assert rows[0]["synchronous_commit"] == "on"


class _ReadingSession(BaseSession):
    """The Bot API boundary: at each request, what the database holds of the draft."""

    def __init__(self, draft_id: int) -> None:
        super().__init__()
        self.draft_id = draft_id
        self.seen: list[dict] = []

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.seen.append((await Submission.get(id=self.draft_id)).answers)
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:  # pragma: no cover
        yield b""

    async def close(self) -> None:
        pass


async def test_what_a_step_wrote_is_committed_before_the_bot_says_anything(db: str) -> None:
    # A reply that runs ahead of its step's commit would show the next question while a crash
    # could still leave the draft at the previous one.
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    session = _ReadingSession(draft.id)
    bot = build_bot(Settings(_env_file=None), session=session)
    async with step.open_step():
        await submissions.save_answers(draft.id, USER, {"unit_name": "深圳精密制造有限公司"})
        await bot(SendChatAction(chat_id=USER, action="typing"))
        await submissions.save_answers(draft.id, USER, {"unit_name": "深圳精密制造有限公司", "uscc": "x"})
    await bot(SendChatAction(chat_id=USER, action="typing"))  # outside a step: nothing pending
    assert session.seen == [{"unit_name": "深圳精密制造有限公司"}, {"unit_name": "深圳精密制造有限公司", "uscc": "x"}]
