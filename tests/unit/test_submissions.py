"""Submitting is idempotent and the receipt numbers never repeat, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from conftest import both_databases
from storage import submissions
from storage.models import BotUser, Station, Submission, SubmissionKind, SubmissionStatus

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ANSWERS = {
    "unit_name": "单位", "uscc": "91440300MA5F000010", "unit_type": "enterprise", "mode": "self",
    "station_name": "站", "_at": "_summary",
}

pytestmark = both_databases


async def test_two_concurrent_submits_of_one_draft_make_one_submission(db: str) -> None:
    await BotUser.create(id=1)
    draft = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    first, second = await asyncio.gather(
        submissions.submit_declaration(draft.id, 1, ANSWERS, date(2026, 11, 27), NOW),
        submissions.submit_declaration(draft.id, 1, ANSWERS, date(2026, 11, 27), NOW),
    )
    assert sorted([first.already, second.already]) == [False, True]
    assert first.reference == second.reference == "SZJS-2026-0001"
    assert await Station.all().count() == 1
    stored = await Submission.get(id=draft.id)
    assert stored.status == SubmissionStatus.SUBMITTED and "_at" not in stored.answers


async def test_references_count_up_per_year_and_a_second_unit_declaration_is_blocked(db: str) -> None:
    await BotUser.create(id=1)
    await BotUser.create(id=2)
    one = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    two = await submissions.start_draft(2, SubmissionKind.ESTABLISHMENT)
    other = {**ANSWERS, "uscc": "91440300MA5F000029"}
    assert (await submissions.submit_declaration(one.id, 1, ANSWERS, date(2026, 1, 1), NOW)).reference == "SZJS-2026-0001"
    blocked = await submissions.submit_declaration(two.id, 2, ANSWERS, date(2026, 1, 1), NOW)
    assert blocked.blocked == "pending"
    assert (await submissions.submit_declaration(two.id, 2, other, date(2026, 1, 1), NOW)).reference == "SZJS-2026-0002"
    three = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    third = {**ANSWERS, "uscc": "91440300MA5F000037"}
    assert (await submissions.submit_declaration(three.id, 1, third, date(2027, 1, 1), NOW)).reference == "SZJS-2027-0001"


async def test_another_user_cannot_touch_a_draft(db: str) -> None:
    draft = await submissions.start_draft(1, SubmissionKind.ESTABLISHMENT)
    assert await submissions.load_answers(draft.id, 2) is None
    assert await submissions.save_answers(draft.id, 2, {"unit_name": "x"}) is False
    await submissions.discard_draft(draft.id, 2)
    assert await Submission.filter(id=draft.id).exists()
