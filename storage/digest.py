"""What the staff digests read: a fixed number of grouped statements, however many stations.

Plain data out (tuples and small dataclasses); bot.services.digest decides what it means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tortoise.functions import Count, Min

from storage.models import (
    Announcement,
    AnnouncementItem,
    AnnouncementState,
    Contact,
    Notice,
    Objection,
    ObjectionStatus,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

# A station that counts towards the city's total (R18): recognised and neither revoked nor gone.
IN_FORCE = (StationState.ACTIVE, StationState.OVERDUE, StationState.REVOCATION_CANDIDATE,
            StationState.DEREGISTRATION_REQUESTED)

# Every state but a draft, named so that the (status, submitted_at) index serves the range.
SUBMITTED = [s for s in SubmissionStatus if s != SubmissionStatus.DRAFT]


@dataclass(frozen=True)
class EndingAnnouncement:
    id: int
    kind: str
    ends_on: date
    items: int


@dataclass(frozen=True)
class UnreachableContact:
    station_id: int
    station_name: str
    user_id: int
    since: datetime | None


@dataclass(frozen=True)
class RecentFiling:
    submission_id: int
    reference: str
    station_id: int
    station_name: str
    station_state: str
    recognised_on: date | None
    school_enterprise: bool
    year: int | None
    answers: dict[str, Any]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


async def last_digest_before(kind: str, before: datetime) -> datetime | None:
    """When the previous digest of this kind was due (the outbox keeps one row per staff member)."""
    row = await Notice.filter(kind=kind, due_at__lt=_utc(before)).order_by("-due_at").first().values_list("due_at", flat=True)
    return row  # type: ignore[return-value]


async def new_submissions(since: datetime, until: datetime) -> dict[str, int]:
    """Submissions that arrived in (since, until], by kind."""
    rows = (
        await Submission.filter(status__in=SUBMITTED, submitted_at__gt=_utc(since), submitted_at__lte=_utc(until))
        .annotate(n=Count("id")).group_by("kind").values_list("kind", "n")
    )
    return {str(kind): n for kind, n in rows}


async def queue_ages(queues: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, datetime | None]]:
    """For each (kind, status) asked for: how many wait there and since when the oldest waits."""
    wanted = set(queues)
    result: dict[tuple[str, str], tuple[int, datetime | None]] = {q: (0, None) for q in wanted}
    if not wanted:
        return result
    rows = (
        await Submission.filter(kind__in=sorted({k for k, _ in wanted}), status__in=sorted({s for _, s in wanted}))
        .annotate(n=Count("id"), oldest=Min("submitted_at"))
        .group_by("kind", "status").values_list("kind", "status", "n", "oldest")
    )
    for kind, status, n, oldest in rows:
        key = (str(kind), str(status))
        if key in result:
            result[key] = (n, _aware(oldest))
    return result


async def pending_objections() -> tuple[int, datetime | None]:
    rows = await Objection.filter(status=ObjectionStatus.PENDING).annotate(n=Count("id"), oldest=Min("created_at")).values_list("n", "oldest")
    n, oldest = rows[0] if rows else (0, None)
    return n or 0, _aware(oldest)


async def announcements_ending(until: date) -> list[EndingAnnouncement]:
    """Open 公示 ending on or before `until`, soonest first, with their number of items."""
    announcements = await Announcement.filter(state=AnnouncementState.OPEN, ends_on__lte=until).order_by("ends_on", "id").values_list("id", "kind", "ends_on")
    if not announcements:
        return []
    counts = dict(
        await AnnouncementItem.filter(announcement_id__in=[a[0] for a in announcements])
        .annotate(n=Count("id")).group_by("announcement_id").values_list("announcement_id", "n")
    )
    return [EndingAnnouncement(i, str(kind), ends_on, counts.get(i, 0)) for i, kind, ends_on in announcements]


async def unreachable_contacts() -> list[UnreachableContact]:
    """Active contacts whose user blocked the bot, by station."""
    rows = await Contact.filter(active=True, user__reachable=False).order_by("station_id", "id").values_list(
        "station_id", "station__name", "user_id", "user__unreachable_since")
    return [UnreachableContact(s, name, u, _aware(since)) for s, name, u, since in rows]


async def station_progress(year: int) -> tuple[int, int]:
    """(stations recognised in `year`, stations in force now) for the city's targets (R18)."""
    recognised = await Station.filter(recognised_on__gte=date(year, 1, 1), recognised_on__lte=date(year, 12, 31)).count()
    in_force = await Station.filter(state__in=list(IN_FORCE)).count()
    return recognised, in_force


async def recent_filings(since: datetime, until: datetime) -> list[RecentFiling]:
    """Annual filings submitted in (since, until], with what R15–R17 need of their station."""
    rows = await Submission.filter(
        kind=SubmissionKind.ANNUAL_FILING, status__in=SUBMITTED, submitted_at__gt=_utc(since), submitted_at__lte=_utc(until),
    ).order_by("submitted_at", "id").values_list(
        "id", "reference", "station_id", "station__name", "station__state", "station__recognised_on",
        "station__school_enterprise", "year", "answers")
    return [RecentFiling(i, ref or f"#{i}", s, name or "", str(state), rec, bool(school), year, answers or {})
            for i, ref, s, name, state, rec, school, year, answers in rows]


def _aware(moment: Any) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):  # an aggregate over SQLite comes back as text
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
