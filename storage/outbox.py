"""The notice outbox: queue once, claim, mark. The unique key is (recipient, kind, subject, period)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import F, Q

from storage.models import BotUser, Notice, NoticeStatus


def _utc(moment: datetime) -> datetime:
    # SQLite compares stored timestamps as text: "09:00+08:00" sorts after "01:30+00:00". Every
    # time the outbox writes or compares is therefore in UTC.
    return moment.astimezone(UTC)


async def enqueue(
    recipient_id: int,
    kind: str,
    subject: str,
    period: str,
    text_key: str,
    due_at: datetime,
    params: dict[str, Any] | None = None,
) -> bool:
    """Queue a notice; False when the same (recipient, kind, subject, period) was queued before."""
    before = await Notice.filter(recipient_id=recipient_id, kind=kind, subject=subject, period=period).exists()
    if before:
        return False
    # A second instance may race us between the check and the insert: the unique key settles it.
    await Notice.bulk_create(
        [
            Notice(
                recipient_id=recipient_id,
                kind=kind,
                subject=subject,
                period=period,
                text_key=text_key,
                params=params or {},
                due_at=_utc(due_at),
            )
        ],
        ignore_conflicts=True,
    )
    return True


async def due_notices(now: datetime, limit: int = 100, after: tuple[datetime, int] | None = None) -> list[Notice]:
    """Pending notices due as of `now`, oldest first; `after` (due_at, id) of the last one read
    continues from there (the sender reads the next batch while it sends the current one)."""
    query = Notice.filter(status=NoticeStatus.PENDING, due_at__lte=_utc(now))
    if after is not None:
        due_at, notice_id = after
        query = query.filter(Q(due_at__gt=_utc(due_at)) | Q(due_at=_utc(due_at), id__gt=notice_id))
    return await query.order_by("due_at", "id").limit(limit)


async def claim(notice_id: int) -> bool:
    """Take a notice for sending; False if another sender took it first.

    Claimed notices are never sent again: at-most-once (a crash between Telegram accepting the
    message and `mark_sent` loses that one notice rather than sending it twice).
    """
    taken = await Notice.filter(id=notice_id, status=NoticeStatus.PENDING).update(status=NoticeStatus.SENDING)
    return taken == 1


async def mark_sent(notice: Notice, now: datetime) -> None:
    await Notice.filter(id=notice.id).update(status=NoticeStatus.SENT, sent_at=_utc(now), attempts=notice.attempts + 1)


async def mark_sent_many(notice_ids: list[int], now: datetime) -> None:
    """`mark_sent` for several notices in one statement (the sender confirms in small groups)."""
    if notice_ids:
        await Notice.filter(id__in=notice_ids).update(status=NoticeStatus.SENT, sent_at=_utc(now), attempts=F("attempts") + 1)


async def mark_retry(notice: Notice, due_at: datetime) -> None:
    await Notice.filter(id=notice.id).update(status=NoticeStatus.PENDING, due_at=_utc(due_at), attempts=notice.attempts + 1)


async def mark_failed(notice: Notice, status: NoticeStatus, error: str) -> None:
    await Notice.filter(id=notice.id).update(status=status, error=error[:200], attempts=notice.attempts + 1)


async def mark_unreachable(user_id: int, now: datetime) -> None:
    await BotUser.filter(id=user_id).update(reachable=False, unreachable_since=_utc(now))


async def recipient_languages(user_ids: list[int]) -> dict[int, tuple[str, bool]]:
    rows = await BotUser.filter(id__in=user_ids).values_list("id", "language", "reachable")
    return {uid: (str(lang), reachable) for uid, lang, reachable in rows}
