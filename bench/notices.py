"""`python -m bench.notices` (part of `make bench`): the outbox sender's fan-out and the staff
digest at scale.

1. Fan-out: 10,000 notices (2,000 chats, 5 each, queued round-robin as a fan-out is) sent by the
   real `python -m scheduler --at` process to the loopback Bot API stub enforcing Telegram's
   limits (30/s overall, 1/s per chat), both the stub's limits and our budget (25/s, 1/s) scaled
   up by the same factor so the run stays under a minute. Reports achieved rate / budget (target
   >= 0.9), 429 answers (0), duplicates (0) and lost notices (0).
2. Digest at scale: N stations with their units, contacts and filing obligations, 10 submissions
   and 20 outbox rows a station, bulk-inserted into a scratch SQLite; the time to build the daily
   digest and the weekly .xlsx, and the SQL statements each takes, at two sizes (the count must
   not grow with the stations). `--profile` runs pyinstrument over the slower of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, ROOT, SqlCounter, SqliteTemplate, make_settings, orm

sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from bot_api_stub import BotApiStub, RateLimits  # noqa: E402

from storage.models import (  # noqa: E402
    BotUser, Contact, EstablishmentMode, FilingObligation, FilingState, Notice, NoticeStatus, Station, StationState,
    Submission, SubmissionKind, SubmissionStatus, Unit, UnitType,
)

NOW = datetime(2027, 3, 10, 1, 0, tzinfo=UTC)  # Wednesday 09:00 in Shanghai
MONDAY = datetime(2027, 3, 8, 1, 0, tzinfo=UTC)
REPEATS = 5


# -- 1. fan-out -----------------------------------------------------------------------------------


async def fan_out(template: SqliteTemplate, notices: int, chats: int, scale: float) -> dict[str, Any]:
    url = template.fresh_url
    database_url = await url("fanout")
    async with orm(database_url):
        await BotUser.bulk_create([BotUser(id=10_000 + c, language="zh") for c in range(chats)], batch_size=5000)
        await Notice.bulk_create([
            Notice(recipient_id=10_000 + i % chats, kind="status_change", subject=f"submission:{i}", period="approved",
                   text_key="submission_status.approved", params={}, due_at=NOW)
            for i in range(notices)
        ], batch_size=5000)
    budget = 25.0 * scale
    async with BotApiStub() as stub:
        stub.limits = RateLimits(scale=scale)
        env = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEBHOOK_URL")},
               "DATABASE_URL": database_url, "BOT_TOKEN": stub.token, "TELEGRAM_API_URL": stub.url,
               "STAFF_IDS": "", "ADMIN_IDS": "", "SEND_RATE_PER_SECOND": str(budget),
               "SEND_PER_CHAT_INTERVAL": str(1.0 / scale), "LOG_LEVEL": "ERROR"}
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scheduler", "--at", NOW.isoformat(), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        wall = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(err.decode()[-2000:])
        got = Counter(c for c in range(10_000, 10_000 + chats) for _ in stub.bot_messages(c))
        times = stub.accepted_at
        too_many = stub.too_many_requests
        by_limit = dict(stub.too_many_by_limit)
    expected = Counter({10_000 + c: notices // chats + (1 if c < notices % chats else 0) for c in range(chats)})
    duplicates = sum(max(0, got[c] - n) for c, n in expected.items())
    lost = sum(max(0, n - got[c]) for c, n in expected.items())
    async with orm(database_url):
        statuses = Counter(await Notice.all().values_list("status", flat=True))
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {
        "notices": notices, "chats": chats, "scale": scale, "budget_per_s": budget,
        "achieved_per_s": round(rate, 1), "ratio": round(rate / budget, 3), "too_many_requests": too_many, "too_many_by_limit": by_limit,
        "duplicates": duplicates, "lost": lost, "sent_rows": statuses.get(NoticeStatus.SENT, 0),
        "wall_s": round(wall, 1),
    }


# -- 2. the digest at scale -----------------------------------------------------------------------


async def seed(stations: int, submissions_per: int, notices_per: int) -> None:
    rnd = random.Random(11)
    await Unit.bulk_create([Unit(id=i + 1, name=f"单位{i}", uscc=f"91440300{i:010d}", unit_type=UnitType.ENTERPRISE)
                            for i in range(stations)], batch_size=5000)
    states = [StationState.ACTIVE] * 8 + [StationState.OVERDUE, StationState.REVOCATION_CANDIDATE]
    await Station.bulk_create([
        Station(id=i + 1, unit_id=i + 1, name=f"技师工作站{i}", mode=EstablishmentMode.SELF, state=states[i % len(states)],
                recognised_on=date(2015 + i % 13, 1 + i % 12, 1), school_enterprise=i % 5 == 0)
        for i in range(stations)], batch_size=5000)
    await BotUser.bulk_create([BotUser(id=1_000_000 + i, reachable=i % 50 != 0,
                                       unreachable_since=None if i % 50 else NOW - timedelta(days=3))
                               for i in range(stations)], batch_size=5000)
    await Contact.bulk_create([Contact(user_id=1_000_000 + i, station_id=i + 1) for i in range(stations)], batch_size=5000)
    filing_states = [FilingState.DUE, FilingState.OVERDUE, FilingState.EXTENDED, FilingState.FILED_ON_TIME, FilingState.FILED_LATE]
    obligations = []
    for i in range(stations):
        for year in (2025, 2026):
            state = filing_states[(i + year) % len(filing_states)] if year == 2026 else (
                FilingState.OVERDUE if i % 10 == 9 else FilingState.FILED_ON_TIME)
            obligations.append(FilingObligation(station_id=i + 1, year=year, due_on=date(year + 1, 2, 28), state=state,
                                                extended_due_on=date(year + 1, 4, 30) if state == FilingState.EXTENDED else None))
    await FilingObligation.bulk_create(obligations, batch_size=5000)
    kinds = list(SubmissionKind)
    statuses = [SubmissionStatus.SUBMITTED, SubmissionStatus.UNDER_REVIEW, SubmissionStatus.APPROVED,
                SubmissionStatus.REJECTED, SubmissionStatus.RECOGNISED]
    subs = []
    for n in range(stations * submissions_per):
        station = n % stations + 1
        kind = kinds[n % len(kinds)]
        answers = ({"major_projects": rnd.randint(0, 3), "skilled_trained": rnd.randint(0, 20), "management_rules": "yes"}
                   if kind == SubmissionKind.ANNUAL_FILING else {})
        subs.append(Submission(kind=kind, status=statuses[n % len(statuses)], station_id=station, unit_id=station,
                               created_by=1_000_000 + station - 1, year=2026, answers=answers,
                               submitted_at=NOW - timedelta(minutes=rnd.randint(1, 60 * 24 * 60))))
    await Submission.bulk_create(subs, batch_size=5000)
    kinds_n = ["status_change", "filing_reminder", "filing_overdue", "announcement_start"]
    await Notice.bulk_create([
        Notice(recipient_id=1_000_000 + n % stations, kind=kinds_n[n % 4], subject=f"s:{n}", period="p",
               text_key="submission_status.approved", params={}, due_at=NOW - timedelta(minutes=n % 5000),
               status=NoticeStatus.SENT)
        for n in range(stations * notices_per)], batch_size=5000)


async def digest_at_scale(template: SqliteTemplate, stations: int, profile: bool) -> dict[str, Any]:
    from bot.services import digest  # noqa: PLC0415

    database_url = await template.fresh_url(f"digest{stations}")
    settings = make_settings(database_url)
    result: dict[str, Any] = {"stations": stations, "submissions": stations * 10, "outbox_rows": stations * 20}
    async with orm(database_url):
        started = time.perf_counter()
        await seed(stations, 10, 20)
        result["seed_s"] = round(time.perf_counter() - started, 1)
        await digest.build_digest(settings, NOW)  # warm: imports, the SQLite page cache
        counter = SqlCounter()
        with counter.counting():
            daily = await digest.build_digest(settings, NOW)
            digest.render_text(daily, "zh")
        result["daily_statements"] = counter.total
        times = []
        for _ in range(REPEATS):  # the machine is shared: the median of a few runs
            started = time.perf_counter()
            daily = await digest.build_digest(settings, NOW)
            digest.render_text(daily, "zh")
            times.append(time.perf_counter() - started)
        result["daily_s"] = round(sorted(times)[len(times) // 2], 3)
        result["daily_s_min"] = round(min(times), 3)
        counter.reset()
        with counter.counting():
            started = time.perf_counter()
            weekly = await digest.build_digest(settings, MONDAY, weekly=True)
            digest.render_text(weekly, "zh")
            _, content = await digest.workbook(weekly, settings)
            result["weekly_xlsx_s"] = round(time.perf_counter() - started, 3)
        result["weekly_statements"] = counter.total
        result["xlsx_kib"] = len(content) // 1024
        result["filing_rows"] = len(weekly.filings)
        if profile:
            from pyinstrument import Profiler  # noqa: PLC0415

            slower_weekly = result["weekly_xlsx_s"] >= result["daily_s"]
            profiler = Profiler(async_mode="enabled")
            profiler.start()
            if slower_weekly:
                built = await digest.build_digest(settings, MONDAY, weekly=True)
                await digest.workbook(built, settings)
            else:
                await digest.build_digest(settings, NOW)
            profiler.stop()
            result["profiled"] = "weekly" if slower_weekly else "daily"
            print(profiler.output_text(unicode=True, color=False, show_all=False)[:6000])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.notices", description=__doc__.split("\n")[0])
    p.add_argument("--notices", type=int, default=10_000)
    p.add_argument("--chats", type=int, default=2_000)
    p.add_argument("--scale", type=float, default=12.0, help="Telegram's limits and our budget times this")
    p.add_argument("--sizes", default="1000,10000", help="stations, comma-separated (default 1000,10000)")
    p.add_argument("--skip", default="", help="fanout, digest")
    p.add_argument("--profile", action="store_true", help="pyinstrument over the slower digest at the largest size")
    p.add_argument("--output", default=str(BENCH_DIR / "results_notices.json"))
    args = p.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    template = SqliteTemplate()
    results: dict[str, Any] = {}
    try:
        if "fanout" not in skip:
            r = results["fanout"] = asyncio.run(fan_out(template, args.notices, args.chats, args.scale))
            print(f"fan-out: {r['notices']} notices to {r['chats']} chats, limits x{r['scale']:g}: "
                  f"{r['achieved_per_s']}/s of a {r['budget_per_s']:g}/s budget = {r['ratio']} (target >= 0.9); "
                  f"429 answers {r['too_many_requests']} {r['too_many_by_limit'] or ''}, duplicates {r['duplicates']}, lost {r['lost']}; {r['wall_s']} s")
        if "digest" not in skip:
            sizes = [int(s) for s in args.sizes.split(",")]
            for size in sizes:
                r = results[f"digest_{size}"] = asyncio.run(digest_at_scale(template, size, args.profile and size == max(sizes)))
                print(f"digest, {size} stations / {r['submissions']} submissions / {r['outbox_rows']} outbox rows: "
                      f"daily {r['daily_s']} s (median of {REPEATS}; best {r['daily_s_min']} s) in {r['daily_statements']} statements (target < 0.5 s); weekly + .xlsx "
                      f"{r['weekly_xlsx_s']} s in {r['weekly_statements']} statements ({r['xlsx_kib']} KiB)")
    finally:
        template.cleanup()
    output = Path(args.output)
    previous = json.loads(output.read_text()) if output.exists() else {}
    output.write_text(json.dumps({**previous, **results}, indent=2, ensure_ascii=False) + "\n")  # a part skipped keeps its last result
    return 0


if __name__ == "__main__":
    sys.exit(main())
