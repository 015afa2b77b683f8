"""Who is staff: the one place that decides it.

Staff are the ids in STAFF_IDS and ADMIN_IDS (configuration) plus those an admin granted in the
bot (the `staff` table). Admins are ADMIN_IDS only.
"""

from __future__ import annotations

from bot.settings import Settings
from storage import queries


def is_configured_staff(settings: Settings, user_id: int) -> bool:
    return user_id in settings.staff_ids or user_id in settings.admin_ids


def is_staff(settings: Settings, user_id: int, *, granted: bool) -> bool:
    """`granted`: the user holds an active grant (looked up with the user, in one statement)."""
    return granted or is_configured_staff(settings, user_id)


def is_admin(settings: Settings, user_id: int) -> bool:
    return user_id in settings.admin_ids


async def staff_ids(settings: Settings) -> frozenset[int]:
    """Everyone who is staff now: configured and granted."""
    return frozenset(settings.staff_ids | settings.admin_ids | set(await queries.granted_staff_ids()))
