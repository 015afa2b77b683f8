"""`python -m bench` / `make bench`: throughput, one whole declaration, memory; `--profile`.

Prints tables and writes bench/results.json (with the machine it ran on). PostgreSQL and Redis are
those the tests use (TEST_DATABASE_URL, REDIS_URL or TEST_REDIS_URL; BENCH_DATABASE_URL and
BENCH_REDIS_URL override): a fresh PostgreSQL database is created and dropped, and Redis database
index --redis-db (15) is flushed before and after. A variant whose service is unreachable is
reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import declaration, throughput
from bench.common import (
    BENCH_DIR,
    ROOT,
    SqliteTemplate,
    dedicated_redis_url,
    flush_redis,
    machine_info,
    pg_server_version,
)

RATIO_TARGET = 0.3
P99_TARGET_MS = 25.0
RATIO_TARGET_VARIANTS = ("sqlite", "redis")
# A durable step against the same step with no database (`floor`), both relative to the echo bot
# interleaved with them: the load of a shared machine cancels out.
FLOOR_TARGET = 0.5
FLOOR_TARGET_VARIANTS = ("sqlite", "postgres")


def add_floor_ratios(results: dict[str, Any]) -> None:
    floor = results.get("floor", {})
    if "ratio_to_echo" not in floor:
        return
    for r in results.values():
        if "ratio_to_echo" in r:
            r["ratio_to_floor"] = round(r["ratio_to_echo"] / floor["ratio_to_echo"], 3)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=5000, help="timed updates per variant (default 5000)")
    p.add_argument("--users", type=int, default=200, help="users served round-robin (default 200)")
    p.add_argument("--rounds", type=int, default=10, help="echo/variant alternations per variant (default 10)")
    p.add_argument("--variants", default=",".join(throughput.DEFAULT_VARIANTS),
                   help=f"comma-separated, from {', '.join(throughput.VARIANTS)} (default %(default)s)")
    p.add_argument("--units", type=int, default=10_000, help="existing units for the declaration run (default 10000)")
    p.add_argument("--declaration-repeats", type=int, default=3, help="declarations per case (default 3)")
    p.add_argument("--memory-users", type=int, default=1000, help="drafts in progress for the memory run (default 1000)")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: throughput, declaration, memory")
    p.add_argument("--profile", action="store_true", help="pyinstrument over the slowest variant's step")
    p.add_argument("--profile-variant", help="profile this variant instead of the slowest")
    p.add_argument("--profile-updates", type=int, default=600, help="steps profiled (default 600)")
    p.add_argument("--redis-db", type=int, default=15, help="Redis database index used and flushed (default 15)")
    p.add_argument("--output", default=str(BENCH_DIR / "results.json"))
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in throughput.VARIANTS]
    if unknown:
        p.error(f"unknown variant(s): {', '.join(unknown)}")
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.updates < 1 or args.users < 1 or args.rounds < 1:
        p.error("--updates, --users and --rounds must be at least 1")
    if args.updates < args.rounds:
        args.rounds = max(1, args.updates)
    return args


def say(text: str = "") -> None:
    print(text, flush=True)


# -- the parts ----------------------------------------------------------------------------------


async def run_throughput(args: argparse.Namespace, template: SqliteTemplate) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in args.variants:
        variant = throughput.VARIANTS[name]
        say(f"  {name}: {variant.description} ...")
        started = time.perf_counter()
        try:
            results[name] = await throughput.measure_variant(
                variant, template, args.updates, args.users, args.rounds, args.redis_db
            )
            results[name]["wall_s"] = round(time.perf_counter() - started, 1)
        except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
            results[name] = {"variant": name, "skipped": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # noqa: BLE001 - reported, and the exit status says so
            if type(exc).__module__.startswith(("redis", "asyncpg")) or (
                variant.floor and isinstance(exc, (AttributeError, ImportError, StopIteration))  # app renamed
            ):
                results[name] = {"variant": name, "skipped": f"{type(exc).__name__}: {exc}"}
            else:
                traceback.print_exc()
                results[name] = {"variant": name, "failed": f"{type(exc).__name__}: {exc}"}
        r = results[name]
        if "skipped" in r or "failed" in r:
            say(f"    {'skipped' if 'skipped' in r else 'FAILED'}: {r.get('skipped') or r.get('failed')}")
        else:
            say(f"    {r['updates_per_s']:.0f} upd/s, p99 {r['p99_ms']:.1f} ms, ratio {r['ratio_to_echo']:.3f} "
                f"({r['wall_s']:.0f} s)")
    return results


def targets_of(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in results.items():
        if "updates_per_s" not in r or not throughput.VARIANTS[name].targets:
            continue
        entry: dict[str, Any] = {"p99_ms": r["p99_ms"], "p99_target_ms": P99_TARGET_MS,
                                 "p99_met": r["p99_ms"] < P99_TARGET_MS}
        if name in RATIO_TARGET_VARIANTS:
            entry.update(ratio=r["ratio_to_echo"], ratio_target=RATIO_TARGET,
                         ratio_met=r["ratio_to_echo"] >= RATIO_TARGET)
        if name in FLOOR_TARGET_VARIANTS and "ratio_to_floor" in r:
            entry.update(floor_ratio=r["ratio_to_floor"], floor_ratio_target=FLOOR_TARGET,
                         floor_ratio_met=r["ratio_to_floor"] >= FLOOR_TARGET)
        out[name] = entry
    return out


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh interpreter: RSS must not include what the other parts left behind."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--users", str(args.memory_users)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}",
                "stderr": done.stderr[-4000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run_profile(args: argparse.Namespace, template: SqliteTemplate, results: dict[str, Any]) -> dict[str, Any]:
    measured = {n: r for n, r in results.items() if "updates_per_s" in r and throughput.VARIANTS[n].targets}
    name = args.profile_variant or (min(measured, key=lambda n: measured[n]["updates_per_s"]) if measured else "sqlite")
    html = str(BENCH_DIR / "profile.html")
    say(f"  profiling {name} over {args.profile_updates} steps ...")
    return await throughput.profile_variant(
        throughput.VARIANTS[name], template, args.profile_updates, args.users, args.redis_db, html
    )


# -- printing -----------------------------------------------------------------------------------


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else ("met" if flag else "NOT met")


def print_throughput(results: dict[str, Any], targets: dict[str, Any], args: argparse.Namespace) -> None:
    say()
    say(f"Update throughput - {args.updates} timed updates per variant, {args.users} users round-robin, "
        f"echo interleaved in {args.rounds} rounds")
    say("  (step = a typed unit name, or 返回 on the next question, alternately per user; "
        "updates/s = updates / sum of feed_update times)")
    header = (f"  {'variant':<16}{'upd/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'text p99':>10}{'echo upd/s':>12}"
              f"{'ratio':>8}{'x floor':>9}{'SQL/step':>10}{'redis/step':>11}   ratio>=0.3   x floor>=0.5   p99<25ms")
    say(header)
    say("  " + "-" * (len(header) - 2))
    for name, r in results.items():
        if "updates_per_s" not in r:
            say(f"  {name:<16}{'skipped: ' + r['skipped'] if 'skipped' in r else 'FAILED: ' + r['failed']}")
            continue
        census = r["per_step"].get("all", {})
        t = targets.get(name, {})
        say(f"  {name:<16}{r['updates_per_s']:>8.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['text_step']['p99_ms']:>10.2f}{r['echo']['updates_per_s']:>12.0f}{r['ratio_to_echo']:>8.3f}"
            f"{r.get('ratio_to_floor', float('nan')):>9.3f}"
            f"{census.get('sql', 0):>10.1f}{census.get('redis', 0):>11.0f}"
            f"   {_yes(t.get('ratio_met')):<12} {_yes(t.get('floor_ratio_met')):<14} {_yes(t.get('p99_met'))}")
    echo_all = [r["echo"] for r in results.values() if "echo" in r]
    if echo_all:
        say(f"  echo p50 {min(e['p50_ms'] for e in echo_all):.3f}-{max(e['p50_ms'] for e in echo_all):.3f} ms, "
            f"p99 {min(e['p99_ms'] for e in echo_all):.3f}-{max(e['p99_ms'] for e in echo_all):.3f} ms across the runs")
    for name, r in results.items():
        if "per_step" in r:
            for kind, label in (("text", "typed answer"), ("back", "返回")):
                census = {k: v for k, v in r["per_step"].get(kind, {}).items() if v}
                say(f"  {name}, one {label}: {census}")
            if r["per_step"].get("to_thread_callbacks"):
                say(f"    asyncio.to_thread: {r['per_step']['to_thread_callbacks']}")


def print_declaration(result: dict[str, Any]) -> None:
    say()
    say(f"One whole declaration on SQLite (/declare ... 提交, the inputs of tests/flow/test_declaration.py; "
        f"median of {result['repeats']})")
    header = (f"  {'existing':<42}{'updates':>8}{'SQL':>6}{'SELECT':>8}{'INSERT':>8}{'UPDATE':>8}"
              f"{'SQL in 提交':>12}{'wall s':>9}{'提交 ms':>9}")
    say(header)
    say("  " + "-" * (len(header) - 2))
    for case in result["cases"].values():
        e = case["existing"]
        label = f"{e['units']} units, {e['stations']} stations, {e['submissions']} subm."
        v = case["sql_by_verb"]
        say(f"  {label:<42}{case['updates']:>8}{case['sql_total']:>6}{v.get('SELECT', 0):>8}{v.get('INSERT', 0):>8}"
            f"{v.get('UPDATE', 0):>8}{case['sql_submit_update']:>12}{case['wall_s']:>9.3f}{case['submit_ms']:>9.1f}")
    say(f"  statement count grows with the tables: {'YES' if result['sql_grows'] else 'no'}")
    for case in result["cases"].values():
        say(f"  {case['existing']['units']} units: 提交 {case['submit_ms']:.0f} ms, of which building the .docx "
            f"{case['form_build_ms']:.0f} ms on the event loop; slowest other update (median) "
            f"{case['slowest_other_update_ms']:.0f} ms; asyncio.to_thread calls {case['to_thread_calls']}")


def print_memory(m: dict[str, Any]) -> None:
    say()
    if "failed" in m:
        say(f"Memory: FAILED: {m['failed']}")
        return
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    say(f"Memory (RSS, child process, {m['storage']})")
    say(f"  interpreter {mib(m['python_kib'])}; + import aiogram {mib(m['aiogram_imported_kib'])}; "
        f"+ application modules {mib(m['app_imported_kib'])}")
    say(f"  idle bot (dispatcher built, db open)      {mib(m['idle_rss_kib'])}")
    say(f"  after one user's first step (warm)        {mib(m['warm_rss_kib'])}")
    say(f"  with {m['users']} drafts in progress          {mib(m['drafts_rss_kib'])}"
        f"   (+{m['growth_kib'] / 1024:.1f} MiB, {m['per_draft_kib']:.2f} KiB per draft)")
    say(f"  event-isolation locks held after the drafts: {m['isolation_lock_keys']} "
        f"(aiogram's SimpleEventIsolation kept 2 per person; bot.isolation drops a lock nobody holds)")


def print_profile(p: dict[str, Any]) -> None:
    say()
    say(f"Profile of the {p['variant']} step ({p['updates']} steps, {p['profiled_seconds']} s) -> {p['html']}")
    say("  self time by package (await X = waiting inside X: database thread, socket):")
    say("    " + ", ".join(f"{name} {pct}%" for name, pct in p["by_package"]))
    say("  top functions by self time:")
    flat = [line for line in p["flat"].splitlines() if line.strip() and line[:1].isdigit()]
    for line in flat[:20]:
        say("    " + line)
    say("  call tree (top):")
    for line in [ln for ln in p["tree"].splitlines() if ln.strip()][6:60]:
        say("    " + line)


# -- main ---------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    info = machine_info()
    info["postgresql"] = await pg_server_version()
    try:
        info["redis"] = await flush_redis(dedicated_redis_url(args.redis_db))
    except Exception as exc:  # noqa: BLE001 - reported as unavailable
        info["redis"] = None
        info["redis_error"] = f"{type(exc).__name__}: {exc}"
    say(f"{info['cpu_model']}, {info['cores']} cores, Python {info['python']}, {info['date']}, "
        f"load {info['load_average_at_start'][0]:.2f}")
    report: dict[str, Any] = {"machine": info, "args": {k: (sorted(v) if isinstance(v, set) else v)
                                                        for k, v in vars(args).items()}}
    failed = False
    template = SqliteTemplate()
    try:
        if "throughput" not in args.skip:
            say("Throughput:")
            results = await run_throughput(args, template)
            add_floor_ratios(results)
            targets = targets_of(results)
            report["throughput"] = results
            report["targets"] = targets
            failed |= any("failed" in r for r in results.values())
        if "declaration" not in args.skip:
            say("Declaration ...")
            report["declaration"] = await declaration.measure(template, args.units, args.declaration_repeats)
        if "memory" not in args.skip:
            say("Memory (child process) ...")
            report["memory"] = await asyncio.to_thread(run_memory, args)
            failed |= "failed" in report["memory"]
        if args.profile:
            report["profile"] = await run_profile(args, template, report.get("throughput", {}))
    finally:
        template.cleanup()
    info["load_average_at_end"] = list(os.getloadavg())
    report["total_seconds"] = round(time.perf_counter() - started, 1)

    if "throughput" in report:
        print_throughput(report["throughput"], report["targets"], args)
    if "declaration" in report:
        print_declaration(report["declaration"])
    if "memory" in report:
        print_memory(report["memory"])
    if "profile" in report:
        print_profile(report["profile"])
        report["profile"]["tree"] = report["profile"]["tree"].splitlines()[:200]
        report["profile"]["flat"] = report["profile"]["flat"].splitlines()[:60]
    Path(args.output).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    say()
    say(f"wrote {args.output} ({report['total_seconds']:.0f} s in all)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(None))))
