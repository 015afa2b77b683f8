"""Queries the handlers and the scheduler share. Plain data in, models or plain data out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tortoise.expressions import Subquery
from tortoise.functions import Count

from storage.models import (
    BotUser,
    Contact,
    Language,
    Staff,
    Station,
    StationState,
    Submission,
    SubmissionStatus,
)

# Statuses in which a submission waits for the bureau to act.
PENDING_STATUSES = (
    SubmissionStatus.SUBMITTED,
    SubmissionStatus.UNDER_REVIEW,
    SubmissionStatus.OBJECTION,
)


@dataclass(frozen=True)
class Caller:
    language: str
    granted_staff: bool  # staff granted in the bot (configured ids are checked by the caller)


async def identify(user_id: int, language: str) -> Caller:
    """Who is writing, in one statement on the hot path: language and staff grant.

    Creates the user on first contact with the language Telegram reports, and marks a user who
    had blocked the bot reachable again (writing to it means they unblocked it).
    """
    granted = Subquery(Staff.filter(user_id=user_id, active=True).limit(1).values("id"))
    rows = await BotUser.filter(id=user_id).annotate(staff_id=granted).values("language", "reachable", "staff_id")
    if not rows:
        user, _ = await BotUser.get_or_create(id=user_id, defaults={"language": Language(language)})
        return Caller(str(Language(user.language).value), await is_granted_staff(user_id))
    row = rows[0]
    if not row["reachable"]:
        await BotUser.filter(id=user_id).update(reachable=True, unreachable_since=None)
    return Caller(Language(row["language"]).value, row["staff_id"] is not None)


async def set_language(user_id: int, language: str) -> None:
    await BotUser.filter(id=user_id).update(language=Language(language))


async def is_granted_staff(user_id: int) -> bool:
    return await Staff.filter(user_id=user_id, active=True).exists()


async def granted_staff_ids() -> list[int]:
    return list(await Staff.filter(active=True).values_list("user_id", flat=True))


async def station_of_user(user_id: int) -> Station | None:
    contact = (
        await Contact.filter(user_id=user_id, active=True)
        .order_by("-created_at")
        .select_related("station__unit")
        .first()
    )
    return contact.station if contact else None


async def submissions_of_station(station_id: int) -> list[Submission]:
    return (
        await Submission.filter(station_id=station_id)
        .exclude(status=SubmissionStatus.DRAFT)
        .order_by("-created_at")
    )


async def submissions_of_user(user_id: int) -> list[Submission]:
    return (
        await Submission.filter(created_by=user_id)
        .exclude(status=SubmissionStatus.DRAFT)
        .order_by("-created_at")
    )


@dataclass(frozen=True)
class Overview:
    stations: Counter[str]
    pending: int


async def overview() -> Overview:
    rows = await Station.annotate(n=Count("id")).group_by("state").values_list("state", "n")
    pending = await Submission.filter(status__in=PENDING_STATUSES).count()
    return Overview(stations=Counter({StationState(state).value: n for state, n in rows}), pending=pending)
