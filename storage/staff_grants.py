"""Staff granted in the bot (the `staff` table): list, grant, withdraw, each change audited.

Configured ids (STAFF_IDS, ADMIN_IDS) have no row here and are not this module's business: the
caller (bot.services.grants) refuses to touch them. A withdrawn grant keeps its row (inactive),
so a later grant reuses it; who granted it and when is the latest grant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.transactions import in_transaction

from storage.models import AuditLog, BotUser, Staff


class GrantChange(StrEnum):
    GRANTED = "granted"
    ALREADY = "already"  # an active grant existed: nothing written
    WITHDRAWN = "withdrawn"
    NOT_GRANTED = "not_granted"  # no active grant to withdraw: nothing written


@dataclass(frozen=True)
class Grant:
    user_id: int
    granted_by: int
    granted_at: datetime


async def active_grants() -> list[Grant]:
    rows = await Staff.filter(active=True).order_by("created_at", "user_id")
    return [Grant(r.user_id, r.granted_by, r.created_at) for r in rows]


async def grant(user_id: int, *, by: int, now: datetime) -> GrantChange:
    async with in_transaction():
        row = await Staff.filter(user_id=user_id).first()
        if row is not None and row.active:
            return GrantChange.ALREADY
        await BotUser.get_or_create(id=user_id)
        if row is None:
            row = await Staff.create(user_id=user_id, granted_by=by, active=True, created_at=now)
            before = None
        else:
            before = {"active": False, "granted_by": row.granted_by}
            await Staff.filter(id=row.id).update(active=True, granted_by=by, created_at=now)
        await AuditLog.create(
            actor_id=by, action="staff.grant", subject_type="staff", subject_id=row.id,
            before=before, after={"user_id": user_id, "active": True, "granted_by": by}, at=now,
        )
        return GrantChange.GRANTED


async def withdraw(user_id: int, *, by: int, now: datetime) -> GrantChange:
    async with in_transaction():
        row = await Staff.filter(user_id=user_id, active=True).first()
        if row is None:
            return GrantChange.NOT_GRANTED
        changed = await Staff.filter(id=row.id, active=True).update(active=False)
        if not changed:
            return GrantChange.NOT_GRANTED
        await AuditLog.create(
            actor_id=by, action="staff.withdraw", subject_type="staff", subject_id=row.id,
            before={"user_id": user_id, "active": True, "granted_by": row.granted_by},
            after={"user_id": user_id, "active": False}, at=now,
        )
        return GrantChange.WITHDRAWN
