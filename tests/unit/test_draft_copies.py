"""The drafts' in-process copy (storage.step.DraftCopies), on SQLite and PostgreSQL.

A draft read or written by this process is served without a query; a row changed by anyone else
is never overwritten (the whole step is refused before the reply); a status change through storage
drops the copy; without the copy (RedisStorage) nothing of this applies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from bot.settings import Settings
from bot.wiring import StepMiddleware, build_dispatcher
from conftest import both_databases
from storage import step, submissions
from storage.fsm import DatabaseStorage
from storage.models import ConversationState, Submission, SubmissionKind, SubmissionStatus

pytestmark = both_databases

USER = 611
KEY = StorageKey(bot_id=1, chat_id=USER, user_id=USER, destiny="aiogd:context:y")
ANSWERS = {
    "unit_name": "单位", "uscc": "91440300MA5F000010", "unit_type": "enterprise", "mode": "self",
    "station_name": "站",
}


@contextmanager
def selects() -> Iterator[list[str]]:
    """The SELECT statements tortoise sends meanwhile (from its DEBUG log)."""
    seen: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            query = record.args[0] if record.args else record.msg
            if isinstance(query, str) and query.lstrip().upper().startswith("SELECT"):
                seen.append(query)

    logger = logging.getLogger("tortoise.db_client")
    handler, level = Handler(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_draft_read_or_written_before_is_served_without_a_query(db: str) -> None:
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    copies = step.DraftCopies()
    async with step.open_step(copies):
        assert await submissions.load_answers(draft.id, USER) == (SubmissionStatus.DRAFT, {})
        await submissions.save_answers(draft.id, USER, {"unit_name": "甲"})
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "甲"}  # written through
    with selects() as seen:
        async with step.open_step(copies):
            status, answers = await submissions.load_answers(draft.id, USER)
            answers["unit_name"] = "changed by the caller"  # not the copy's object
            assert await submissions.load_answers(draft.id, USER) == (SubmissionStatus.DRAFT, {"unit_name": "甲"})
            assert await submissions.load_answers(draft.id, USER + 1) is None  # only its creator's
            await submissions.save_answers(draft.id, USER, {"unit_name": "乙"})
        async with step.open_step(copies):
            assert await submissions.load_answers(draft.id, USER) == (SubmissionStatus.DRAFT, {"unit_name": "乙"})
    # One read of the row: the other user's (who is not served the copy), none for its creator.
    assert len([q for q in seen if 'FROM "submission"' in q]) == 1
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "乙"}


async def test_a_draft_changed_by_another_process_is_not_overwritten(db: str) -> None:
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    copies = step.DraftCopies()
    storage = DatabaseStorage(DefaultKeyBuilder(with_destiny=True))
    async with step.open_step(copies):
        await submissions.load_answers(draft.id, USER)
        await submissions.save_answers(draft.id, USER, {"unit_name": "甲"})
    # Another process writes the row (its answers and its updated_at), unseen by this one.
    await Submission.filter(id=draft.id).update(answers={"unit_name": "另一进程"}, updated_at=datetime.now(UTC))
    with pytest.raises(step.StaleDraft):
        async with step.open_step(copies):
            _, answers = await submissions.load_answers(draft.id, USER)
            assert answers == {"unit_name": "甲"}  # the copy, not yet known to be stale
            await submissions.save_answers(draft.id, USER, {"unit_name": "乙"})
            await storage.set_data(KEY, {"sid": draft.id, "n": 2})
    # Nothing of the refused step is in the database: neither the draft nor the state row.
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "另一进程"}
    assert await ConversationState.filter(key=storage.key_builder.build(KEY)).count() == 0
    # The copy was dropped: the next step reads the row again and writes over its new version.
    async with step.open_step(copies):
        assert await submissions.load_answers(draft.id, USER) == (SubmissionStatus.DRAFT, {"unit_name": "另一进程"})
        await submissions.save_answers(draft.id, USER, {"unit_name": "丙"})
    assert (await Submission.get(id=draft.id)).answers == {"unit_name": "丙"}


async def test_a_draft_submitted_or_discarded_is_no_draft_in_the_copy(db: str) -> None:
    copies = step.DraftCopies()
    kept = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    gone = await submissions.start_draft(USER + 1, SubmissionKind.ESTABLISHMENT)
    async with step.open_step(copies):
        await submissions.load_answers(kept.id, USER)
        await submissions.load_answers(gone.id, USER + 1)
    async with step.open_step(copies):
        # Saved, then submitted in the same update: the submission wins, the step is not refused.
        await submissions.save_answers(kept.id, USER, ANSWERS)
        result = await submissions.submit(kept.id, USER, ANSWERS, uniqueness_key="establishment:x",
                                          reference_year=2026, now=datetime.now(UTC))
        assert result.reference == "SZJS-2026-0001"
        await submissions.discard_draft(gone.id, USER + 1)
    async with step.open_step(copies):
        status, _ = await submissions.load_answers(kept.id, USER)
        assert status == SubmissionStatus.SUBMITTED
        assert await submissions.load_answers(gone.id, USER + 1) is None
    assert len(copies) == 0


async def test_the_copy_is_only_where_the_database_storage_is(db: str, database_url: str) -> None:
    settings = Settings(_env_file=None, database_url=database_url, auto_migrate=False)  # type: ignore[call-arg]
    steps = [m for m in build_dispatcher(settings).update.outer_middleware if isinstance(m, StepMiddleware)]
    assert steps[0].drafts is not None
    from aiogram.fsm.storage.memory import MemoryStorage

    shared = [m for m in build_dispatcher(settings, storage=MemoryStorage()).update.outer_middleware
              if isinstance(m, StepMiddleware)]
    assert shared[0].drafts is None


async def test_a_draft_changed_by_another_process_is_not_submitted_from_the_copy(db: str) -> None:
    draft = await submissions.start_draft(USER, SubmissionKind.ESTABLISHMENT)
    copies = step.DraftCopies()
    async with step.open_step(copies):
        await submissions.load_answers(draft.id, USER)
        await submissions.save_answers(draft.id, USER, ANSWERS)
    changed = {**ANSWERS, "unit_name": "另一进程"}
    await Submission.filter(id=draft.id).update(answers=changed, updated_at=datetime.now(UTC))
    with pytest.raises(step.StaleDraft):
        async with step.open_step(copies):
            _, answers = await submissions.load_answers(draft.id, USER)
            await submissions.submit(draft.id, USER, answers, uniqueness_key="establishment:x",
                                     reference_year=2026, now=datetime.now(UTC))
    row = await Submission.get(id=draft.id)
    assert (row.status, row.answers, row.reference) == (SubmissionStatus.DRAFT, changed, None)
