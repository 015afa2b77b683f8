"""`python -m scheduler tick --at … --dry-run --json` through the real command line, without a token."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path

import pytest

from factories import recognised_station
from storage.models import Contact, FilingObligation, Notice, StatusTransition

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def tick_cli(database_url: str, *args: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEBHOOK_URL", "BOT_TOKEN")}
    env.update(DATABASE_URL=database_url, STAFF_IDS="900", ADMIN_IDS="")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scheduler", "tick", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


async def test_dry_run_json_lists_exactly_the_notices_due_and_writes_nothing(db: str) -> None:
    on_time = await recognised_station(101, recognised_on=date(2025, 5, 1))
    late = await recognised_station(201, name="第二技师工作站", uscc="91440300MA5F00017R", recognised_on=date(2024, 3, 1))
    extended = await recognised_station(301, name="延期技师工作站", uscc="91440300MA5F0002XK", recognised_on=date(2024, 3, 1))
    await Contact.create(user_id=101, station=late, active=False)  # unbound from the late one: hears nothing of it
    await FilingObligation.create(station=on_time, year=2027, due_on=date(2028, 2, 29), state="due")
    await FilingObligation.create(station=late, year=2027, due_on=date(2028, 2, 29), state="due")
    await FilingObligation.create(station=extended, year=2027, due_on=date(2028, 2, 29), state="extended",
                                  extended_due_on=date(2028, 3, 14))
    await FilingObligation.filter(station_id=on_time.id).update(state="filed_on_time")
    transitions_before = await StatusTransition.all().count()

    # 2028-03-01 00:00:00 in Shanghai is 2028-02-29 16:00 UTC: the leap-year deadline has passed
    lines = await tick_cli(db, "--at", "2028-03-01T09:00+08:00", "--dry-run", "--json")
    assert sorted(lines, key=lambda x: (x["kind"], x["recipient"])) == [
        # 2028-03-01 is a Wednesday: the staff's daily digest is due at 09:00, and the weekly one
        # of Monday not sent yet is caught up (SPEC §6)
        {"recipient": 900, "kind": "digest_daily", "subject": "digest", "period": "2028-03-01",
         "due_at": "2028-03-01T09:00:00+08:00"},
        {"recipient": 900, "kind": "digest_weekly", "subject": "digest", "period": "2028-W09",
         "due_at": "2028-03-01T09:00:00+08:00"},
        {"recipient": 301, "kind": "extension_expiry", "subject": f"station:{extended.id}",
         "period": "2027:d14:2028-03-14", "due_at": "2028-02-29T09:00:00+08:00"},
        {"recipient": 201, "kind": "filing_overdue", "subject": f"station:{late.id}",
         "period": "2027:m1", "due_at": "2028-03-01T09:00:00+08:00"},
        {"recipient": 301, "kind": "filing_window_open", "subject": f"station:{extended.id}",
         "period": "2027", "due_at": "2028-01-02T09:00:00+08:00"},  # never told: caught up
        {"recipient": 201, "kind": "status_change", "subject": f"station:{late.id}",
         "period": lines[[x["kind"] for x in lines].index("status_change")]["period"],
         "due_at": "2028-03-01T09:00:00+08:00"},
    ]
    assert await Notice.all().count() == 0
    assert await StatusTransition.all().count() == transitions_before
    assert await FilingObligation.filter(state="overdue").count() == 0

    # the last second of February: nothing overdue yet, the last reminder still due
    lines = await tick_cli(db, "--at", "2028-02-29T15:59:59+00:00", "--dry-run", "--json")
    assert {(x["recipient"], x["kind"], x["period"]) for x in lines} == {
        (201, "filing_reminder", "2027:d1"), (301, "extension_expiry", "2027:d14:2028-03-14"),
        (301, "filing_window_open", "2027")}  # 23:59:59 in Shanghai: quiet hours, no digest

    # a real tick then queues exactly what the dry run listed, and a second one nothing
    real = await tick_cli(db, "--at", "2028-03-01T09:00+08:00", "--json")
    assert {(x["recipient"], x["kind"]) for x in real} == {(301, "extension_expiry"), (201, "filing_overdue"),
                                                           (201, "status_change"), (301, "filing_window_open"),
                                                           (900, "digest_daily"), (900, "digest_weekly")}
    assert await Notice.all().count() == 6
    assert await tick_cli(db, "--at", "2028-03-01T09:05+08:00", "--json") == []
