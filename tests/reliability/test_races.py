"""Races between people acting at once on different instances (different users, so no per-user
lock serialises them): the database rows must still say one thing.

Run on PostgreSQL too, where two transactions really run at the same time on two connections.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


from storage import contacts as store
from storage.models import Contact, InviteCode
from tests.conftest import both_databases
from tests.factories import recognised_station

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
PERSON = 7770001
STAFF = 7779001


async def _code_for(station_id: int, issued_by: int, code: str) -> str:
    code_hash = InviteCode.hash_code(code)
    await store.issue_invite(station_id, code_hash, issued_by=issued_by, expires_at=NOW + timedelta(days=7),
                             now=NOW, by_staff=True)
    return code_hash


@both_databases
async def test_a_person_joining_by_code_while_staff_bind_them_elsewhere_ends_bound_once(db: str) -> None:
    for round_ in range(5):
        person = PERSON + round_
        a = await recognised_station(7700000 + 2 * round_, name=f"甲{round_}技师工作站", uscc=f"9144030000000{round_:03d}A0")
        b = await recognised_station(7700001 + 2 * round_, name=f"乙{round_}技师工作站", uscc=f"9144030000000{round_:03d}B0")
        code_hash = await _code_for(a.id, STAFF, f"RACECODE{round_:02d}")
        outcomes = await asyncio.gather(
            store.redeem(code_hash, person, now=NOW),
            store.bind(b.id, person, staff_id=STAFF, now=NOW),
            return_exceptions=True,
        )
        done = [o for o in outcomes if isinstance(o, store.Done)]
        refused = [o for o in outcomes if isinstance(o, store.ContactRefused)]
        assert len(done) == 1 and len(refused) == 1, outcomes
        assert refused[0].code in ("already_bound", "bound_elsewhere")
        assert await Contact.filter(user_id=person, active=True).count() == 1
        bound = await store.bound_station(person)
        assert bound is not None and bound.id == done[0].station.id
        # The code is spent only if it was the code that won.
        invite = await InviteCode.get(code_hash=code_hash)
        assert (invite.used_by == person) == (bound.id == a.id)
