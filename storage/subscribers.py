"""Subscribers of /announcements: told when each 公示 starts and ends (SPEC §6)."""

from __future__ import annotations

from datetime import datetime

from storage.models import AnnouncementSubscriber


async def is_subscribed(user_id: int) -> bool:
    return await AnnouncementSubscriber.filter(user_id=user_id).exists()


async def subscribe(user_id: int, now: datetime) -> None:
    """Idempotent: a second click (or a second instance) changes nothing."""
    await AnnouncementSubscriber.bulk_create([AnnouncementSubscriber(user_id=user_id, subscribed_at=now)],
                                             ignore_conflicts=True)


async def unsubscribe(user_id: int) -> None:
    await AnnouncementSubscriber.filter(user_id=user_id).delete()
