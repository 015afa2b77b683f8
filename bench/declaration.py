"""One whole declaration, /declare to the receipt: wall time and SQL statements (SQLite).

The inputs are those of tests/flow/test_declaration.py (`reach_summary`, then 提交), driven by the
flow tests' own harness (tests/chat_harness.py `Chat`), so the benchmark walks exactly the path the
happy-path test asserts. It runs once on an empty database and once with `units` existing units
(valid, distinct USCCs) plus stations, submitted declarations and other users' drafts: the number
of statements must not depend on the size of the tables.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from stdnum.cn import uscc as stdnum_uscc

from bench.common import SqlCounter, SqliteTemplate, ThreadCounter, add_import_paths, make_settings, orm
from storage.models import (
    BotUser,
    EstablishmentMode,
    ReferenceCounter,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)

STATION_STATES = list(StationState)


def _org_code(n: int) -> str:
    """A GB 11714 organisation code (8 digits + its own check character) from a serial."""
    body = f"{n:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def seed_uscc(n: int) -> str:
    # 9 (market regulation) 1 (enterprise) 440306 (Shenzhen Bao'an) + organisation code + check.
    # The flow tests' codes use 440300 and the 'MA5F' style: these never collide with them.
    body = "91440306" + _org_code(n + 20_000_000)
    return body + stdnum_uscc.calc_check_digit(body)


async def seed(units: int) -> dict[str, int]:
    """`units` units, a station for 30% of them, submitted declarations and drafts of other users."""
    if units == 0:
        return {"units": 0, "stations": 0, "submissions": 0, "users": 0}
    codes = [seed_uscc(i) for i in range(units)]
    assert len(set(codes)) == units and all(stdnum_uscc.is_valid(c) for c in codes[:100])
    types = list(UnitType)
    await Unit.bulk_create(
        [
            Unit(name=f"深圳第{i}精密制造有限公司", uscc=code, unit_type=types[i % len(types)],
                 legal_representative="王某", address=f"深圳市宝安区{i}号", main_field="制造", employees=50 + i % 900)
            for i, code in enumerate(codes)
        ],
        batch_size=500,
    )
    unit_ids = await Unit.all().order_by("id").values_list("id", flat=True)
    n_stations = units * 3 // 10
    await Station.bulk_create(
        [
            Station(unit_id=unit_ids[i], name=f"第{i}技师工作站", mode=EstablishmentMode.SELF,
                    state=STATION_STATES[i % len(STATION_STATES)])
            for i in range(n_stations)
        ],
        batch_size=500,
    )
    station_ids = await Station.all().order_by("id").values_list("id", flat=True)
    last_year = date.today().year - 1
    now = datetime.now(UTC)
    submitted = [
        Submission(kind=SubmissionKind.ESTABLISHMENT, status=SubmissionStatus.SUBMITTED, unit_id=unit_ids[i],
                   station_id=station_ids[i], created_by=8_000_000 + i, year=last_year,
                   answers={"unit_name": f"深圳第{i}精密制造有限公司", "uscc": codes[i]},
                   reference=f"SZJS-{last_year}-{i + 1:04d}", uniqueness_key=f"establishment:{codes[i]}",
                   submitted_at=now)
        for i in range(n_stations)
    ]
    drafts = [
        Submission(kind=SubmissionKind.ESTABLISHMENT, created_by=8_500_000 + i,
                   answers={"_at": "uscc", "unit_name": f"草稿单位{i}"})
        for i in range(units // 10)
    ]
    await Submission.bulk_create(submitted + drafts, batch_size=500)
    await ReferenceCounter.create(prefix="SZJS", year=last_year, last_serial=n_stations)
    creators = [s.created_by for s in submitted + drafts]
    await BotUser.bulk_create([BotUser(id=uid) for uid in creators], batch_size=500)
    return {"units": units, "stations": n_stations, "submissions": len(submitted) + len(drafts), "users": len(creators)}


async def one_declaration(url: str, units: int) -> dict[str, Any]:
    add_import_paths()
    from bot.clock import FixedClock
    from chat_harness import STAFF_ID, Chat  # tests/chat_harness.py
    from test_declaration import reach_summary  # tests/flow/test_declaration.py

    async with orm(url):
        seeded = await seed(units)
        # One person answering at machine speed: flood control off, as in the flow tests (the
        # throughput part keeps it on: 200 people round-robin stay far below it).
        chat = Chat(make_settings(url, staff_ids=frozenset({STAFF_ID}), throttle_rate="off"),
                    clock=FixedClock(datetime.now(UTC)))
        sql = SqlCounter()
        per_update: list[dict[str, Any]] = []
        feed = chat.dp.feed_update

        async def counted_feed(bot: Any, update: Any, **kwargs: Any) -> Any:
            before = sql.total
            start = time.perf_counter()
            try:
                return await feed(bot, update, **kwargs)
            finally:
                per_update.append({
                    "kind": "button" if update.callback_query else "document" if update.message.document else "text",
                    "seconds": time.perf_counter() - start,
                    "sql": sql.total - before,
                })

        chat.dp.feed_update = counted_feed  # type: ignore[method-assign]
        # The printable form is built inside the 提交 update: time it on its own.
        import bot.forms.declaration as declaration_module  # the spec's printable calls it

        build_form = getattr(declaration_module, "build_declaration_form", None)  # None: moved elsewhere
        form_build: list[float] = []

        def timed_build_form(*args: Any, **kwargs: Any) -> bytes:
            began = time.perf_counter()
            try:
                return build_form(*args, **kwargs)
            finally:
                form_build.append(time.perf_counter() - began)

        if build_form is not None:
            declaration_module.build_declaration_form = timed_build_form
        threads = ThreadCounter()
        try:
            with sql.counting(), threads.counting():
                start = time.perf_counter()
                await reach_summary(chat)
                summary_at = time.perf_counter()
                calls = await chat.press("提交")
                end = time.perf_counter()
        finally:
            if build_form is not None:
                declaration_module.build_declaration_form = build_form
        receipts = [t for t in chat.texts(calls) if "设立申报已提交" in t]
        if not receipts or len(chat.documents(calls)) != 1:
            raise RuntimeError(f"no receipt after 提交: {chat.texts(calls)}")
        submitted = await Submission.filter(status=SubmissionStatus.SUBMITTED, created_by=chat.user.id).count()
        assert submitted == 1, submitted
        submit = per_update[-1]
        return {
            "existing": seeded,
            "updates": len(per_update),
            "updates_by_kind": dict(Counter(u["kind"] for u in per_update)),
            "wall_s": round(end - start, 4),
            "to_summary_s": round(summary_at - start, 4),
            "submit_ms": round(1000 * submit["seconds"], 2),
            "form_build_ms": round(1000 * sum(form_build), 2),
            "slowest_other_update_ms": round(1000 * max(u["seconds"] for u in per_update[:-1]), 2),
            "to_thread_calls": threads.calls,
            "sql_total": sql.total,
            "sql_by_verb": dict(sorted(sql.by_verb.items())),
            "sql_submit_update": submit["sql"],
            "sql_max_one_update": max(u["sql"] for u in per_update),
            "sql_per_update_mean": round(sql.total / len(per_update), 2),
        }


async def measure(template: SqliteTemplate, units: int = 10_000, repeats: int = 3) -> dict[str, Any]:
    """Each case `repeats` times on a fresh database; the median wall time, the statements of each."""
    cases: dict[str, Any] = {}
    for existing in (0, units):
        runs = []
        for r in range(repeats):
            url = await template.fresh_url(f"declaration-{existing}-{r}")
            runs.append(await one_declaration(url, existing))
        first = runs[0]
        sql_counts = sorted({run["sql_total"] for run in runs})
        cases[str(existing)] = {
            **first,
            "wall_s": round(statistics.median(run["wall_s"] for run in runs), 4),
            "wall_s_runs": [run["wall_s"] for run in runs],
            "submit_ms": round(statistics.median(run["submit_ms"] for run in runs), 2),
            "form_build_ms": round(statistics.median(run["form_build_ms"] for run in runs), 2),
            "slowest_other_update_ms": round(statistics.median(run["slowest_other_update_ms"] for run in runs), 2),
            "sql_total_runs": sql_counts,
        }
    empty, full = cases["0"], cases[str(units)]
    return {
        "cases": cases,
        "units": units,
        "repeats": repeats,
        "sql_grows": full["sql_total"] != empty["sql_total"] or full["sql_by_verb"] != empty["sql_by_verb"],
    }
