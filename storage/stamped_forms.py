"""The signed and stamped 申报表 (六(一)1): the unit prints the form the bot generated on submit, signs
and stamps it, and uploads the scan. It is kept as a `Document` of kind "stamped_form" with its
declaration (and station).

Every upload is kept: a later one adds a version, the newest is the one in force, and the earlier
ones stay on file for the bureau. Version N is the N-th stamped form of the declaration, by id.
Only file ids are stored, as for every other document.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.rules.lifecycle import STAMPED_FORM
from storage import outbox
from storage.submissions import document_row
from storage.models import Contact, Document, Submission, SubmissionKind, SubmissionStatus

NOTICE_KIND = "stamped_form"
NOTICE_KEY = "notice.stamped_form"


@dataclass(frozen=True)
class StampedForm:
    """What a declaration holds: how many versions, and when the newest came."""

    versions: int
    latest_at: datetime


@dataclass(frozen=True)
class Stored:
    document_id: int
    version: int


async def stamped_forms(submission_ids: Iterable[int]) -> dict[int, StampedForm]:
    """The stamped forms of these submissions (those without one are absent), in one query."""
    ids = list(submission_ids)
    if not ids:
        return {}
    rows = await Document.filter(submission_id__in=ids, kind=STAMPED_FORM).order_by("id").values_list(
        "submission_id", "created_at"
    )
    found: dict[int, StampedForm] = {}
    for submission_id, created_at in rows:
        before = found.get(submission_id)
        found[submission_id] = StampedForm((before.versions if before else 0) + 1, created_at)
    return found


async def store(
    submission_id: int,
    user_id: int,
    file: dict[str, Any],
    *,
    accepted_states: Collection[str],
    now: datetime,
    staff_recipients: Iterable[int],
    notice_params: dict[str, Any],
) -> Stored | None:
    """Keep an uploaded stamped form with its declaration and tell staff, in one transaction.

    `file` holds file_id, file_unique_id, file_name, file_size, mime_type. None (nothing written)
    unless the submission is an establishment declaration in one of `accepted_states` and the
    user created it or is an active contact of its station. Staff get a notice per version.
    """
    async with in_transaction():
        row = await Submission.filter(id=submission_id, kind=SubmissionKind.ESTABLISHMENT).first()
        if row is None or SubmissionStatus(row.status).value not in accepted_states or not await _acts_for(row, user_id):
            return None
        document = document_row(file, submission_id=row.id, station_id=row.station_id, kind=STAMPED_FORM,
                                uploaded_by=user_id, created_at=now)  # the caller's clock, like the act's
        await document.save()
        version = await Document.filter(submission_id=row.id, kind=STAMPED_FORM, id__lte=document.id).count()
        params = {**notice_params, "reference": row.reference or "", "version": version}
        for staff_id in sorted(set(staff_recipients)):
            await outbox.enqueue(staff_id, NOTICE_KIND, f"submission:{row.id}", f"d{document.id}", NOTICE_KEY, now,
                                 params)
    return Stored(document.id, version)


async def _acts_for(row: Submission, user_id: int) -> bool:
    if row.created_by == user_id:
        return True
    if row.station_id is None:
        return False
    return await Contact.filter(user_id=user_id, station_id=row.station_id, active=True).exists()
