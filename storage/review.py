"""The staff review queues: which submissions wait in which (kind, status), oldest first.

Plain data in and out; the (kind, status) and (status, submitted_at) indexes of `submission`
serve these queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count

from storage.models import AuditLog, Document, Submission


@dataclass(frozen=True)
class QueueItem:
    id: int
    reference: str
    unit_name: str
    station_name: str
    submitted_at: datetime | None


async def queue_counts(queues: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """How many submissions wait in each (kind, status) asked for (absent ones count 0)."""
    wanted = set(queues)
    if not wanted:
        return {}
    kinds = sorted({kind for kind, _ in wanted})
    statuses = sorted({status for _, status in wanted})
    rows = (
        await Submission.filter(kind__in=kinds, status__in=statuses)
        .annotate(n=Count("id"))
        .group_by("kind", "status")
        .values_list("kind", "status", "n")
    )
    counts = {queue: 0 for queue in wanted}
    for kind, status, n in rows:
        key = (str(kind), str(status))
        if key in counts:
            counts[key] = n
    return counts


async def queue_items(kind: str, status: str, *, limit: int = 200) -> list[QueueItem]:
    """The submissions of one queue, the longest waiting first."""
    rows = (
        await Submission.filter(kind=kind, status=status)
        .order_by("submitted_at", "id")
        .limit(limit)
        .values("id", "reference", "submitted_at", "unit__name", "station__name")
    )
    return [
        QueueItem(
            id=row["id"],
            reference=row["reference"] or f"#{row['id']}",
            unit_name=row["unit__name"] or "",
            station_name=row["station__name"] or "",
            submitted_at=row["submitted_at"],
        )
        for row in rows
    ]


async def submission_with_names(submission_id: int) -> Submission | None:
    return await Submission.filter(id=submission_id).select_related("unit", "station").first()


async def documents_of(submission_id: int) -> list[Document]:
    return await Document.filter(submission_id=submission_id).order_by("id")


async def log_reveal(actor_id: int, submission_id: int, fields: list[str], now: datetime) -> None:
    """Who saw an item's personal numbers in full, and when: the fields named, never their values."""
    await AuditLog.create(
        actor_id=actor_id,
        action="submission.reveal_personal",
        subject_type="submission",
        subject_id=submission_id,
        before=None,
        after={"fields": fields},
        at=now,
    )
