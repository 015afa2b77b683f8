"""Staff management by an admin: who is staff, grant by Telegram user id, withdraw.

The ids of the configuration (STAFF_IDS, ADMIN_IDS) are staff whatever the bot holds: they are
listed, never granted or withdrawn here (the configuration is changed instead). Telegram-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.clock import Clock
from bot.services import staff
from bot.settings import Settings
from storage import staff_grants
from storage.staff_grants import Grant, GrantChange


class Refusal(StrEnum):
    CONFIGURED = "configured"  # in STAFF_IDS or ADMIN_IDS


@dataclass(frozen=True)
class StaffList:
    admins: tuple[int, ...]
    configured: tuple[int, ...]  # STAFF_IDS that are not admins
    granted: tuple[Grant, ...]


async def staff_list(settings: Settings) -> StaffList:
    return StaffList(
        admins=tuple(sorted(settings.admin_ids)),
        configured=tuple(sorted(settings.staff_ids - settings.admin_ids)),
        granted=tuple(g for g in await staff_grants.active_grants() if not staff.is_configured_staff(settings, g.user_id)),
    )


async def grant(settings: Settings, clock: Clock, user_id: int, *, by: int) -> GrantChange | Refusal:
    if staff.is_configured_staff(settings, user_id):
        return Refusal.CONFIGURED
    return await staff_grants.grant(user_id, by=by, now=clock.now())


def may_withdraw(settings: Settings, user_id: int) -> Refusal | None:
    return Refusal.CONFIGURED if staff.is_configured_staff(settings, user_id) else None


async def withdraw(settings: Settings, clock: Clock, user_id: int, *, by: int) -> GrantChange | Refusal:
    refusal = may_withdraw(settings, user_id)
    if refusal is not None:
        return refusal
    return await staff_grants.withdraw(user_id, by=by, now=clock.now())
