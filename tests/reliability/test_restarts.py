"""kill -9 of the real `python -m bot` process at random points of every conversation.

One walk covers the contacts' acts (an annual filing, an extension and a deregistration request, an
invite and /join with its code, a whole establishment declaration with its documents and the stamped
form, an objection to the 公示) and the staff's (an extension and a deregistration decided, the
declaration accepted for review, its experts' pass recorded, the 公示 published). It is walked once
without a fault (the reference: what the bot answers at each step, what the database holds at the
end), then 20 times killed with SIGKILL, once on the database conversation storage (SQLite) and once
with REDIS_URL (Redis conversation state, PostgreSQL). The kill points come from a seeded
`random.Random` (the seed is printed; RESTART_SEED=<n> replays it): between two updates, right
after an update was pushed, and when the stub receives the bot's reply.

After each restart the user acts as a person would: an update the server still holds is delivered
again (its offset was not confirmed); a message that got no answer is sent again. Then the answer
must be the reference's answer to that step (the conversation goes on where it was, not one question
further, not back at the start), or, for a submit or a staff decision whose reply was lost, the
bot's "already done" answer. After each restart and at the end the database must be consistent: no
status without its audit row, no audit row without its status, no act submitted twice, every
uploaded document stored once; at the end every submission's answers equal the reference's and
every staff transition has its notices.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from tortoise import Tortoise
from tortoise.context import TortoiseContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from bot_api_stub import BotApiStub, JsonDict  # noqa: E402
from test_bot_process import (  # noqa: E402,F401 - stub and launch are fixtures used by name
    REPLY_TIMEOUT,
    STAFF_ID,
    BotProcess,
    launch,
    polling_env,
    stub,
    wait_until_polling,
)
from test_declaration_process import (  # noqa: E402
    HEAD_ID,
    JPG,
    MENTOR_IDS,
    PDF,
    STATION_NAME,
    UNIT_NAME,
    USCC,
    contract_running_today,
)

from bot.rules.lifecycle import Actor, filing_due_on  # noqa: E402
from storage.db import migrate, tortoise_config  # noqa: E402
from storage.models import FilingObligation  # noqa: E402
from storage.transitions import apply_transition  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from tests.factories import recognised_station  # noqa: E402

pytestmark = pytest.mark.e2e

KILLS = 20
FILER, EXTENDER, LEAVER, JOINER, DECLARANT, OBJECTOR = range(5101, 5107)
REFERENCE = re.compile(r"SZ[A-Z]{2}-\d{4}-\d{4}")
INVITE = re.compile(r"<code>([^<]+)</code>")
# A notice sent by the scheduler's outbox, not the answer to what the person just did.
NOTICE_PREFIXES = ("🔔", "📥", "📣", "⏰", "📅")
RESUMED = "已恢复您上次保存的"
# Notices the scheduler queues on its ticks (SPEC §6), not in answer to an act.
SCHEDULED_KINDS = frozenset({
    "filing_window_open", "filing_reminder", "filing_overdue", "revocation_warning", "revocation_candidate",
    "extension_expiry", "key_project_window_open", "key_project_window_closing", "announcement_start",
    "announcement_end", "digest_daily", "digest_weekly",
})
# One personal-data key for every run, so sealed answers can be opened and compared.
DATA_KEY = Fernet.generate_key().decode()
# The walk types far faster than a person: no flood control here (tests of its own prove it). The
# database is migrated by the seed: a restart skips the check. What a killed process held (an update
# in hand, a person's lock with Redis) is free again after the lease: 3 s, to keep the walk short.
PROCESS_SETTINGS = {"DATA_KEY": DATA_KEY, "THROTTLE_RATE": "off", "AUTO_MIGRATE": "0", "UPDATE_LEASE_SECONDS": "3"}


# -- the walk ---------------------------------------------------------------------------------------


@dataclass
class Doc:
    content: bytes
    name: str
    mime: str


@dataclass
class Step:
    user: int
    item: str | Doc | Callable[[dict[str, str]], str]
    # "submit": a form's 提交; "decide": a staff 确认执行; "invite": its reply carries a new code.
    tag: str = ""
    # Keep a value of the reply for later steps: name -> regex (group 1 or the whole match).
    keep: dict[str, re.Pattern[str]] = field(default_factory=dict)
    # What the person sends instead when the button to press again is gone (the bot acted on the
    # first press and took the keyboard away, and then stopped before saying so): the command.
    fallback: str | Callable[[dict[str, str]], str] | None = None

    def resolve(self, found: dict[str, str]) -> str | Doc:
        return self.item(found) if callable(self.item) else self.item


def walk() -> list[Step]:
    steps: list[Step] = []

    def say(user: int, *items: Any, tag: str = "", keep: dict[str, re.Pattern[str]] | None = None,
            fallback: Any = None) -> None:
        for item in items:
            steps.append(Step(user, item))
        steps[-1].tag = tag
        steps[-1].keep = keep or {}
        steps[-1].fallback = fallback

    pdf = lambda name: Doc(PDF, name, "application/pdf")  # noqa: E731
    # An annual filing with its report, and its receipt.
    say(FILER, "/filing", "2", "数控机床改造项目", "14", "1", "全市模具技能竞赛", "30万", *("@是",) * 5,
        pdf("建设情况报告.pdf"), "@材料齐全")
    say(FILER, "@提交", tag="submit", keep={"filing": REFERENCE}, fallback="/filing")
    # An extension request.
    say(EXTENDER, "/extension", "@场地搬迁", "厂区整体搬迁至光明区，预计四月底完工", "4", pdf("延期申请.pdf"))
    say(EXTENDER, "@提交", tag="submit", keep={"extension": REFERENCE}, fallback="/extension")
    # A deregistration request.
    say(LEAVER, "/deregister", "企业经营调整，工作站停止运行", pdf("注销申请.pdf"), "@是")
    say(LEAVER, "@提交", tag="submit", keep={"deregistration": REFERENCE}, fallback="/deregister")
    # An invite, and a colleague joins with its code.
    say(FILER, "/invite", tag="invite", keep={"code": INVITE})
    say(JOINER, lambda found: f"/join {found['code']}")
    # A whole establishment declaration with its documents, then the stamped form.
    say(DECLARANT, "/declare", UNIT_NAME, USCC, "@企业", "王大明", "深圳市南山区科技园1号", "精密模具制造", "350",
        "@合作共建", "深圳技师学院", "@是", STATION_NAME, "李工", HEAD_ID, "+86 138-0013-8000", "总工程师",
        "陈联络", "139 0013 9000", "@跳过")
    for n in (1, 2, 3):
        external = n == 3
        say(DECLARANT, "@添加指导教师", f"导师{n}", MENTOR_IDS[n - 1], "模具工", "@高级技师" if external else "@技师",
            "@职业资格证书", f"Z{n:05d}", "@技工院校", *(("@外聘", *contract_running_today()) if external else ("@本单位",)))
    say(DECLARANT, "@名单完成", "@是", "管理制度健全，连续五年盈利", "@是", "拥有五轴加工中心12台", "@是",
        "设有独立实训车间和技能津贴", "@是", "承担过市级技能大赛", "@是", "50万", "企业自筹专项经费", "@在此分六项填写",
        "两年培养20名高技能人才", "分三期实施建设", "先建章立制再带徒", "与技师学院联合培养", "场地800平方米专职5人",
        "实行站长负责制", pdf("licence.pdf"), Doc(JPG, "head-id.jpg", "image/jpeg"),
        *(pdf(f"mentor-{n}.pdf") for n in range(1, 10)), "@材料齐全")
    say(DECLARANT, "@提交", tag="submit", keep={"declaration": REFERENCE}, fallback="/declare")
    say(DECLARANT, "/stamped", pdf("盖章申报表.pdf"))
    # Staff decide the extension and the deregistration.
    say(STAFF_ID, lambda found: f"/review {found['extension']}", "@批准延期", "@4 个月")
    say(STAFF_ID, "@确认执行", tag="decide", fallback=lambda found: f"/review {found['extension']}")
    say(STAFF_ID, lambda found: f"/review {found['deregistration']}", "@批准注销")
    say(STAFF_ID, "@确认执行", tag="decide", fallback=lambda found: f"/review {found['deregistration']}")
    # ... accept the declaration for review, record the experts' pass, publish the 公示.
    review = lambda found: f"/review {found['declaration']}"  # noqa: E731
    say(STAFF_ID, review, "@受理，送专家评审")
    say(STAFF_ID, "@确认执行", tag="decide", fallback=review)
    say(STAFF_ID, review, "@专家评审结果：通过", "材料齐全，建设方案可行")
    say(STAFF_ID, "@确认执行", tag="decide", fallback=review)
    say(STAFF_ID, "/announce")
    say(STAFF_ID, "@发布公示", tag="decide", fallback="/announce")
    # Someone objects to it.
    say(OBJECTOR, "/objection", "@1. ", "申报材料中的场地面积与实际不符，联系电话 0755-12345678")
    say(OBJECTOR, "@不附证明材料", tag="submit", fallback="/objection")
    return steps


# -- the database before the process starts ---------------------------------------------------------


_ORM_TURNS: dict[int, asyncio.Lock] = {}


def orm_turn() -> asyncio.Lock:
    """The two storages' walks run at once in one event loop, and the ORM's connections are found
    through state the two would share: each use of the ORM here (seeding, a query, the checker)
    waits for its turn. One lock per event loop (each test has its own)."""
    return _ORM_TURNS.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())


async def seed(database_url: str) -> None:
    """Three recognised stations, each owing last year's filing, due well after today (the
    scheduler running in the process moves nothing during the walk): the first and the third on
    an extended deadline, the second on its own."""
    async with orm_turn():
        await _seed(database_url)


async def _seed(database_url: str) -> None:
    await migrate(database_url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
        year = today.year - 1
        recognised = date(year - 2, 5, 1)
        later = today + timedelta(days=60)
        for user, name, uscc, extended in ((FILER, "精密模具技师工作站甲", "91440300MA5F00019X", True),
                                           (EXTENDER, "数控加工技师工作站乙", "91440300MA5F00027X", False),
                                           (LEAVER, "焊接技术技师工作站丙", "91440300MA5F00035X", True)):
            station = await recognised_station(user, name=name, uscc=uscc, recognised_on=recognised,
                                               with_declaration=True)
            filing = await FilingObligation.create(station=station, year=year,
                                                   due_on=filing_due_on(year) if extended else later)
            await apply_transition("filing", filing.id, "mark_due", actor_id=None, actor=Actor.SYSTEM, now=now)
            if extended:
                await apply_transition("filing", filing.id, "extend", actor_id=STAFF_ID, actor=Actor.STAFF, now=now,
                                       changes={"extended_due_on": later})
        await Tortoise.close_connections()


# -- what the database holds --------------------------------------------------------------------------


async def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    async with orm_turn(), TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        try:
            _, rows = await Tortoise.get_connection(_connection_name(database_url)).execute_query(sql)
        finally:
            await Tortoise.close_connections()
    return [tuple(row.values()) if hasattr(row, "values") else tuple(row) for row in rows]


def _connection_name(database_url: str) -> str:
    return next(iter(tortoise_config(database_url)["connections"]))


async def broken_invariants(database_url: str) -> list[str]:
    """Every status has its audit row and every audit row its status; one act, one submission; one
    stored copy of each uploaded file per submission."""
    problems: list[str] = []
    latest = {
        (kind, subject): to_status
        for kind, subject, to_status in await query(
            database_url,
            "SELECT t.subject_type, t.subject_id, t.to_status FROM status_transition t WHERE t.id = "
            "(SELECT max(u.id) FROM status_transition u WHERE u.subject_type = t.subject_type "
            "AND u.subject_id = t.subject_id)",
        )
    }
    for table, kind, skip in (("submission", "submission", "'draft'"), ("station", "station", "''"),
                              ("filing_obligation", "filing", "'not_due'")):
        column = "state" if table != "submission" else "status"
        for subject, status in await query(database_url, f"SELECT id, {column} FROM {table} WHERE {column} <> {skip}"):
            recorded = latest.get((kind, subject))
            if kind == "filing" and recorded is None:
                continue  # obligations created in a state (the seed, the scheduler) start without a row
            if recorded != status:
                problems.append(f"{kind} {subject} is {status!r} but its last audit row says {recorded!r}")
    for kind, station, year, creator, count in await query(
        database_url,
        "SELECT kind, station_id, year, created_by, count(*) FROM submission WHERE status <> 'draft' "
        "GROUP BY kind, station_id, year, created_by HAVING count(*) > 1",
    ):
        problems.append(f"{count} {kind} submissions by {creator} (station {station}, year {year})")
    for submission, unique_id, count in await query(
        database_url,
        "SELECT submission_id, file_unique_id, count(*) FROM document WHERE submission_id IS NOT NULL "
        "GROUP BY submission_id, file_unique_id HAVING count(*) > 1",
    ):
        problems.append(f"file {unique_id} stored {count} times for submission {submission}")
    invariants = Path(__file__).with_name("invariants.py")
    if invariants.exists():
        problems += await _shared_invariants(database_url)
    return problems


async def _shared_invariants(database_url: str) -> list[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("reliability_invariants", Path(__file__).with_name("invariants.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checker = getattr(module, "broken_invariants", None)
    if checker is None:
        return []
    async with orm_turn(), TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        try:
            return list(await checker())
        finally:
            await Tortoise.close_connections()


async def final_state(database_url: str) -> dict[str, Any]:
    """What the walk leaves, independent of ids and times: for comparison with the reference."""
    submissions = await query(
        database_url,
        "SELECT kind, status, reference, created_by, answers FROM submission ORDER BY kind, created_by",
    )
    documents = await query(
        database_url,
        "SELECT s.reference, d.kind, d.item, d.file_name FROM document d LEFT JOIN submission s "
        "ON s.id = d.submission_id ORDER BY 1, 2, 3, 4",
    )
    transitions = await query(
        database_url,
        "SELECT subject_type, action, from_status, to_status, actor_kind FROM status_transition "
        "ORDER BY subject_type, subject_id, id",
    )
    notices = await query(
        database_url, "SELECT recipient_id, kind, text_key FROM notice ORDER BY recipient_id, kind, text_key, id"
    )
    contacts = await query(database_url, "SELECT user_id, station_id, active FROM contact ORDER BY user_id")
    stations = await query(database_url, "SELECT name, state FROM station ORDER BY name")
    return {
        "submissions": [(k, s, r, c, _comparable(json.loads(a) if isinstance(a, str) else a)) for k, s, r, c, a in submissions],
        "documents": documents,
        "transitions": transitions,
        "notices": notices,
        "contacts": contacts,
        "stations": stations,
    }


def _comparable(answers: Any) -> Any:
    """Answers without what differs between two runs of the same walk: sealed values (a fresh nonce
    each time), file ids (the stub's), times."""
    if isinstance(answers, dict):
        if set(answers) == {"enc"}:
            return "sealed:" + Fernet(DATA_KEY.encode()).decrypt(answers["enc"].encode()).decode()
        return {k: _comparable(v) for k, v in answers.items() if k not in ("file_id", "file_unique_id", "at")}
    if isinstance(answers, list):
        return [_comparable(v) for v in answers]
    return answers


# -- the user's side ----------------------------------------------------------------------------------


def normalised(text: str) -> str:
    """A reply as compared with the reference's: times of day and invite codes vary between runs."""
    text = INVITE.sub("<code>CODE</code>", text)
    text = re.sub(r"/join [A-Z0-9-]{6,}", "/join CODE", text)
    return re.sub(r"\d{2}:\d{2}", "HH:MM", text)


def is_reply(stub: BotApiStub, index: int, user: int) -> bool:
    method, params = stub.calls[index]
    if method not in ("sendMessage", "editMessageText") or stub._outcomes[index]:  # noqa: SLF001
        return False
    if params.get("chat_id") != user:
        return False
    text = str(params.get("text", ""))
    return not text.startswith(NOTICE_PREFIXES) and RESUMED not in text


class Walker:
    """Plays the walk against the stub, restarting the process when it was killed."""

    def __init__(self, stub: BotApiStub, launch: Any, env: dict[str, str], database_url: str) -> None:
        self.stub = stub
        self.launch = launch
        self.env = env
        self.database_url = database_url
        self.process: BotProcess | None = None
        self.found: dict[str, str] = {}
        self.replies: list[list[str]] = []
        self.start_times: list[float] = []
        self.kills = 0
        self._documents: dict[tuple[int, str], JsonDict] = {}

    async def start(self) -> None:
        since = self.stub.mark()
        started = time.monotonic()
        self.process = await self.launch(self.env)
        await wait_until_polling(self.process, self.stub, since)
        self.start_times.append(time.monotonic() - started)

    async def kill(self) -> None:
        assert self.process is not None
        await self.process.kill()
        self.kills += 1

    def push(self, step: Step) -> int:
        item = step.resolve(self.found)
        if isinstance(item, Doc):
            # The same file each time it is sent again, as a Telegram client would send it.
            key = (step.user, item.name)
            if key not in self._documents:
                self._documents[key] = self.stub.add_file(item.content, item.name, item.mime)
            document = self._documents[key]
            return self.stub.push_message(step.user, document=document)
        if item.startswith("@"):
            return self.stub.push_button(step.user, item[1:])
        return self.stub.push_message(step.user, item)

    def replies_since(self, step: Step, since: int) -> list[str]:
        return [normalised(str(self.stub.calls[i][1]["text"]))
                for i in range(since, len(self.stub.calls)) if is_reply(self.stub, i, step.user)]

    async def handled(self, update_id: int, what: str) -> None:
        """Until the process logs that it is done with the update (aiogram logs it last, after the
        handler and the dialog's own saving): its answer is complete."""
        assert self.process is not None
        done = re.compile(rf"Update id={update_id} is (not )?handled")
        deadline = asyncio.get_running_loop().time() + REPLY_TIMEOUT
        while not done.search(self.process.log()):
            if not self.process.running:
                pytest.fail(f"{what}: the bot exited\n{self.process.log_tail()}")
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"{what}: not handled within {REPLY_TIMEOUT}s\n{self.process.log_tail()}")
            await asyncio.sleep(0.02)

    async def keep(self, step: Step, replies: list[str]) -> None:
        for name, pattern in step.keep.items():
            match = next((m for m in (pattern.search(r) for r in replies) if m), None)
            if match is None and pattern is REFERENCE:
                # The receipt died with the process: the person reads the reference in /status;
                # the test reads it where /status does.
                rows = await query(self.database_url, "SELECT reference FROM submission WHERE created_by = "
                                   f"{step.user} AND reference IS NOT NULL ORDER BY id DESC")
                match = REFERENCE.search(rows[0][0]) if rows else None
            assert match, f"no {name} in {replies!r}"
            self.found[name] = match.group(1) if pattern.groups else match.group()

    def pending(self, update_id: int) -> bool:
        return any(u["update_id"] == update_id for u in self.stub._pending_updates)  # noqa: SLF001

    async def run(self, steps: list[Step], kill_at: dict[int, str] | None = None, rng: random.Random | None = None,
                  reference: list[list[str]] | None = None) -> None:
        kill_at = kill_at or {}
        await self.start()
        for number, step in enumerate(steps):
            what = f"step {number} ({step.user}: {step.item if not callable(step.item) else 'computed'})"
            mode = kill_at.get(number)
            if mode is not None:
                what += f", killed {mode.replace('_', ' ')}"
            since = self.stub.mark()
            try:
                update_id = self.push(step)
            except LookupError as error:
                shown = self.stub.last_bot_message(step.user)
                pytest.fail(f"{what}: {error}\nthe bot shows: {shown and shown.get('text')}\n"
                            f"the answers so far: {self.replies[-3:]}")
            resent = fell_back = False
            if mode is None:
                await self.handled(update_id, what)
            else:
                assert rng is not None
                if mode == "after_push":
                    await asyncio.sleep(rng.uniform(0, 0.15))
                elif mode == "on_reply":
                    assert self.process is not None
                    await self.process.watch(
                        self.stub.wait_for(lambda m, p: p.get("chat_id") == step.user, timeout=REPLY_TIMEOUT,
                                           since=since),
                        f"{what}: waiting for the bot's first call",
                    )
                elif mode == "between":
                    await self.handled(update_id, what)
                    await asyncio.sleep(rng.uniform(0, 0.3))
                was_pending = self.pending(update_id)
                await self.kill()
                problems = await broken_invariants(self.database_url)
                assert problems == [], f"after the kill at {what}: {problems}"
                await self.start()
                if was_pending:
                    # The server delivers it again: the new process answers it.
                    await self.handled(update_id, f"{what}, delivered again")
                elif not self.replies_since(step, since):
                    # No answer, and the server will not deliver it again: the person sends it again.
                    resent = True
                    since = self.stub.mark()
                    try:
                        again = self.push(step)
                    except LookupError:
                        if step.fallback is None:
                            raise
                        again = self.push(Step(step.user, step.fallback))
                        fell_back = True
                    await self.handled(again, f"{what}, sent again")
            replies = self.replies_since(step, since)
            if reference is not None:
                expected = reference[number]
                ok = replies == expected or self.already_done(step, replies, fell_back)
                if mode is not None and not resent and replies and not ok:
                    ok = replies == expected[: len(replies)]  # the rest of the answer died with the process
                assert ok, f"{what}: the bot answered\n{replies}\ninstead of\n{expected}"
            self.replies.append(replies)
            if step.keep:
                await self.keep(step, replies)

    @staticmethod
    def already_done(step: Step, replies: list[str], fell_back: bool) -> bool:
        """A submit or decision whose answer was lost, sent again (or its command, the button being
        gone): told it is done already, not asked to start over."""
        reply = "\n".join(replies)
        if fell_back:
            # The command again: the act is pending, or shown in its new state; never a new form.
            return bool(replies) and "第1/" not in reply and "请输入申办单位名称" not in reply
        if step.tag == "submit":
            return "已于" in reply and "提交" in reply
        if step.tag == "decide":
            return "已经被处理过了" in reply or "已发布" in reply
        return False


# -- the test -------------------------------------------------------------------------------------------


async def reference_walk(stub: BotApiStub, launch: Any, folder: Path, database_url: str, steps: list[Step],
                         **overrides: str) -> dict[str, Any]:
    """The walk without a fault, on the same storage: each step's answer and what the database holds
    at the end (on its own stub, database and Redis keys)."""
    folder.mkdir()
    await seed(database_url)
    async with BotApiStub(token=stub.token) as clean_stub:
        env = polling_env(folder, clean_stub, DATABASE_URL=database_url, **PROCESS_SETTINGS, **overrides)
        walker = Walker(clean_stub, launch, env, database_url)
        started = time.monotonic()
        await walker.run(steps)
        await walker.kill()
    print(f"reference: {len(steps)} steps in {time.monotonic() - started:.1f}s, start {walker.start_times[0]:.2f}s")
    if "REDIS_URL" in overrides:
        from redis.asyncio import Redis

        client = Redis.from_url(overrides["REDIS_URL"])
        await client.flushdb()
        await client.aclose()
    return {"replies": walker.replies, "state": await final_state(database_url)}


async def walk_with_kills(storage: str, stub: BotApiStub, launch: Any, tmp_path: Path, urls: tuple[str, str],
                          **overrides: str) -> None:
    reference_url, database_url = urls
    steps = walk()
    reference = await reference_walk(stub, launch, tmp_path / "reference", reference_url, steps, **overrides)

    seed_value = int(os.environ.get("RESTART_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"RESTART_SEED={seed_value} ({storage})")
    rng = random.Random(seed_value)
    kill_at = {number: rng.choice(("between", "after_push", "on_reply"))
               for number in sorted(rng.sample(range(len(steps)), KILLS))}

    await seed(database_url)
    env = polling_env(tmp_path, stub, DATABASE_URL=database_url, **PROCESS_SETTINGS, **overrides)
    walker = Walker(stub, launch, env, database_url)
    started = time.monotonic()
    try:
        await walker.run(steps, kill_at, rng, reference["replies"])
    finally:
        if walker.process is not None:
            await walker.process.kill()  # before the database goes
    elapsed = time.monotonic() - started
    print(f"{storage}: {walker.kills} kills, {len(steps)} steps in {elapsed:.1f}s; start "
          f"{sum(walker.start_times) / len(walker.start_times):.2f}s mean, {max(walker.start_times):.2f}s max "
          f"(seed {seed_value})")
    assert walker.kills == KILLS
    assert await broken_invariants(database_url) == [], f"seed {seed_value}"
    state = await final_state(database_url)
    for part in ("submissions", "documents", "transitions", "contacts", "stations"):
        assert state[part] == reference["state"][part], f"{part} differ from the walk without a fault (seed {seed_value})"
    # Every notice of an act in the reference is there, once: a kill neither loses nor doubles them.
    # (The scheduler's own notices depend on when its ticks ran, not on the walk.)
    acts, expected = Counter(act_notices(state)), Counter(act_notices(reference["state"]))
    assert acts == expected, f"missing {expected - acts}, extra {acts - expected} (seed {seed_value})"


def act_notices(state: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [notice for notice in state["notices"] if notice[1] not in SCHEDULED_KINDS]


@pytest.mark.redis
@pytest.mark.postgres
async def test_every_conversation_survives_kill_9_on_the_database_storage_and_on_redis(
    stub: BotApiStub, launch: Any, tmp_path: Path, redis_url: str
) -> None:
    """Both storages at once, each with its own Telegram stub, folder and databases: a restart is
    mostly the new process importing (one core each), so the two walks take the time of one."""
    sqlite = tmp_path / "database"
    redis = tmp_path / "redis"
    sqlite.mkdir()
    redis.mkdir()
    pg_urls = (await create_pg_database(), await create_pg_database())
    try:
        async with BotApiStub(token=stub.token) as redis_stub:
            await asyncio.gather(
                walk_with_kills("database", stub, launch, sqlite,
                                (f"sqlite://{sqlite / 'reference.sqlite3'}", f"sqlite://{sqlite / 'bot.sqlite3'}")),
                walk_with_kills("redis", redis_stub, launch, redis, pg_urls, REDIS_URL=redis_url),
            )
    finally:
        for url in pg_urls:
            await drop_pg_database(url)
