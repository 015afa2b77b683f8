"""One step, one transaction: what an update writes is collected and written together at its end.

A step of a form changes the draft's answers (`submission.answers`) and the conversation state
(aiogram-dialog's context and stack, two rows of `conversation_state`). Written one by one that is
three commits and three round trips to the database thread or server. Inside `open_step()` the
writers (`storage.fsm.DatabaseStorage`, `storage.submissions.save_answers`) only record what they
would write, and `flush()` writes all of it in one transaction at the end of the update:

- SQLite: one call into the database thread runs BEGIN, the draft's UPDATE, one upsert per
  state row and COMMIT (a transaction through tortoise would be four calls);
- PostgreSQL: one statement (the draft's UPDATE in a WITH clause, the state rows in one INSERT
  ... ON CONFLICT), atomic by itself.

Either the whole step is in the database or none of it. Reads in the same update see what was
recorded: the FSM storage serves them from its copy, the draft's answers are the session's.
Outside a step (the scheduler, an import, a test calling storage directly) every write goes to
the database at once, as before.

The bot opens a step around each update (`bot.wiring.StepMiddleware`), inside aiogram's per-user
lock, so two updates of one person never flush out of order. Before any request to the Bot API the
pending writes are flushed (`bot.client.CommitBeforeReplying`): a reply never runs ahead of the
draft it shows. aiogram-dialog writes its rows after replying, so a step that replies is usually
two transactions: the draft, then the dialog's bookkeeping (often none: a row that did not change
is not written).

**The draft's in-process copy.** Where this process is the only writer of drafts (the database
storage: one bot process; not with Redis), a step carries `DraftCopies`: what the last read or
flush of each draft left in the database, with the row's `updated_at` as its version, so the next
step of that draft reads no row. The flush then writes a draft only if its row is still at the
version the step started from (and still a draft): a row changed by anyone else (another process,
a status change) is never overwritten; the whole step is rolled back, `StaleDraft` is raised
before the reply, and the copy is dropped, so the next update reads the row again. Every status
change through storage (submit, discard, `apply_transition`) drops the copy at once
(`forget_draft`).
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# key -> (state, data as JSON text)
StateRows = dict[str, tuple[str | None, str]]
# submission id -> (its creator, the answers as JSON text)
DraftRows = dict[int, tuple[int, str]]


class StaleDraft(Exception):
    """A draft's row changed since this step read it (or is no draft any more): nothing of the step
    was written."""


class DraftCopies:
    """Drafts as this process last read or wrote them: submission id -> (creator, answers as JSON
    text, the row's `updated_at` as stored). Bounded; only for a process that is the only writer."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._rows: OrderedDict[int, tuple[int, str, Any]] = OrderedDict()
        _ALL_COPIES.add(self)

    def get(self, submission_id: int, user_id: int) -> dict[str, Any] | None:
        row = self._rows.get(submission_id)
        if row is None or row[0] != user_id:
            return None
        self._rows.move_to_end(submission_id)
        return json.loads(row[1])  # a fresh object: callers change what they get

    def version(self, submission_id: int) -> Any:
        row = self._rows.get(submission_id)
        return None if row is None else row[2]

    def put(self, submission_id: int, user_id: int, answers: str, version: Any) -> None:
        self._rows[submission_id] = (user_id, answers, version)
        self._rows.move_to_end(submission_id)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def drop(self, submission_id: int) -> None:
        self._rows.pop(submission_id, None)

    def __len__(self) -> int:
        return len(self._rows)


_ALL_COPIES: weakref.WeakSet[DraftCopies] = weakref.WeakSet()


def forget_draft(submission_id: int) -> None:
    """The submission's status or row changed through storage: no copy of it may be served."""
    for copies in list(_ALL_COPIES):
        copies.drop(submission_id)


def no_longer_a_draft(submission_id: int) -> None:
    """Submitted or deleted in this update: its copy goes, and so does this update's own pending
    write of its answers (it would be refused: the row is no draft any more)."""
    forget_draft(submission_id)
    pending = current()
    if pending is not None:
        pending.drafts.pop(submission_id, None)


async def check_draft_version(submission_id: int, user_id: int) -> None:
    """Before acting on a draft served from the copy (submitting it): the row must still be at the
    version the copy holds, else `StaleDraft` (and the copy is dropped)."""
    pending = current()
    copies = pending.copies if pending is not None else None
    version = copies.version(submission_id) if copies is not None else None
    if version is None:
        return
    row = await read_draft(submission_id, user_id)
    if row is None or row[0] != "draft" or row[2] != version:
        forget_draft(submission_id)
        raise StaleDraft(f"draft {submission_id} changed meanwhile")


@dataclass
class Step:
    states: StateRows = field(default_factory=dict)
    drafts: DraftRows = field(default_factory=dict)
    closed: bool = False
    copies: DraftCopies | None = None  # only where this process is the only writer of drafts
    # Run before the bot says anything in this update, before the pending writes are flushed: they
    # record what must be stored by then (the dialog's own rows, see bot.wiring).
    before_reply: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.states and not self.drafts

    def record_draft(self, submission_id: int, user_id: int, answers: dict[str, Any]) -> None:
        self.drafts[submission_id] = (user_id, dumps(answers))

    def draft_answers(self, submission_id: int, user_id: int) -> dict[str, Any] | None:
        """The answers this step recorded for the draft (not yet in the database), if any."""
        recorded = self.drafts.get(submission_id)
        if recorded is None or recorded[0] != user_id:
            return None
        return json.loads(recorded[1])


_current: ContextVar[Step | None] = ContextVar("storage_step", default=None)


def current() -> Step | None:
    """The open step of this update, or None (then write at once)."""
    step = _current.get()
    return None if step is None or step.closed else step


@contextlib.asynccontextmanager
async def open_step(copies: DraftCopies | None = None) -> AsyncIterator[Step]:
    """Collect this task's writes; write them in one transaction when the block ends.

    The writes are flushed even if the block raises: what the update wrote before the error is
    kept, as it was when every write went out at once.
    """
    step = Step(copies=copies)
    token = _current.set(step)
    try:
        yield step
    finally:
        _current.reset(token)
        # Closed first: a task started inside the step and still running writes at once from now on.
        step.closed = True
        await flush(step)


async def before_replying() -> None:
    """The bot is about to call Telegram in this update: its hooks record what the reply depends
    on, then everything pending is written (one transaction). Outside an update: nothing."""
    pending = current()
    if pending is None:
        return
    for hook in list(pending.before_reply):
        await hook()
    if not pending.empty():
        await flush(pending)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- writing ------------------------------------------------------------------------------------

# The draft is written only while it is a draft and (with a copy) still at the version read.
_SQLITE_DRAFT = (
    'UPDATE "submission" SET "answers"=?, "updated_at"=? '
    'WHERE "id"=? AND "created_by"=? AND "status"=\'draft\' AND "updated_at" = COALESCE(?, "updated_at")'
)
_SQLITE_STATE = (
    'INSERT INTO "conversation_state" ("key", "state", "data", "updated_at") VALUES (?, ?, ?, ?) '
    'ON CONFLICT ("key") DO UPDATE SET "state" = excluded."state", "data" = excluded."data", '
    '"updated_at" = excluded."updated_at"'
)
# PostgreSQL: the statement's own transaction does not wait for the disk at commit (SET LOCAL
# synchronous_commit = off, as a function: one statement): the same promise as SQLite with
# synchronous=NORMAL. Only these writes; a submission, a transition, a notice still wait.
_PG_NO_WAIT = "cfg AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))"
# $1 the time; $2-$4 the state rows as arrays; $5-$8 the drafts as arrays (id, creator, answers,
# expected version or null); $9 how many drafts must be written (-1: not checked).
_PG_STATES = (
    'INSERT INTO "conversation_state" ("key", "state", "data", "updated_at") '
    "SELECT k, s, d::jsonb, $1 FROM unnest($2::text[], $3::text[], $4::text[]) AS t(k, s, d), cfg "
    'ON CONFLICT ("key") DO UPDATE SET "state" = excluded."state", "data" = excluded."data", '
    '"updated_at" = excluded."updated_at" RETURNING 1'
)
_PG_DRAFTS = (
    'UPDATE "submission" AS s SET "answers"=v.a::jsonb, "updated_at"=$1 '
    "FROM unnest($5::int[], $6::bigint[], $7::text[], $8::timestamptz[]) AS v(id, uid, a, ver), cfg "
    "WHERE s.\"id\"=v.id AND s.\"created_by\"=v.uid AND s.\"status\"='draft' "
    'AND s."updated_at" = COALESCE(v.ver, s."updated_at") RETURNING 1'
)
# A draft not written aborts the whole statement (a division by zero: plain SQL has no RAISE), so
# none of the step is written.
_PG_CHECK = "SELECT 1 / (($9::int < 0 OR (SELECT count(*) FROM drafts) = $9::int)::int)"


def _client() -> Any:
    # The models' connection (the app has one; its name is the dialect, see storage.db).
    from storage.models import ConversationState

    return ConversationState._meta.db


async def read_draft(submission_id: int, user_id: int) -> tuple[str, str, Any] | None:
    """The row as stored: status, answers (JSON text), `updated_at` (SQLite: its text; PostgreSQL:
    a datetime), the version a later flush compares with. Only for the submission's creator."""
    db = _client()
    if db.capabilities.dialect == "postgres":
        sql = 'SELECT "status", "answers"::text, "updated_at" FROM "submission" WHERE "id"=$1 AND "created_by"=$2'
    else:
        sql = 'SELECT "status", "answers", "updated_at" FROM "submission" WHERE "id"=? AND "created_by"=?'
    _, rows = await db.execute_query(sql, [submission_id, user_id])
    if not rows:
        return None
    status, answers, version = rows[0][0], rows[0][1], rows[0][2]
    return str(status), answers if isinstance(answers, str) else dumps(answers or {}), version


async def flush(step: Step) -> None:
    if step.empty():
        return
    states, drafts = dict(step.states), dict(step.drafts)
    step.states.clear()
    step.drafts.clear()
    db = _client()
    now = datetime.now(UTC)
    copies = step.copies
    expected = {i: copies.version(i) for i in drafts} if copies is not None else {}
    try:
        if db.capabilities.dialect == "postgres":
            await _flush_postgres(db, now, states, drafts, expected, checked=copies is not None)
            version: Any = now
        else:
            await _flush_sqlite(db, now, states, drafts, expected, checked=copies is not None)
            version = now.isoformat(sep=" ")
    except BaseException as exc:
        if copies is not None:
            for submission_id in drafts:
                copies.drop(submission_id)
        if not isinstance(exc, StaleDraft) and "division by zero" in str(exc):
            raise StaleDraft(f"drafts {sorted(drafts)} changed meanwhile") from exc
        raise
    if copies is not None:
        for submission_id, (user_id, answers) in drafts.items():
            copies.put(submission_id, user_id, answers, version)


async def _flush_postgres(db: Any, now: datetime, states: StateRows, drafts: DraftRows,
                          expected: dict[int, Any], checked: bool) -> None:
    keys = list(states)
    ids = list(drafts)
    values: list[Any] = [
        now,
        keys, [states[k][0] for k in keys], [states[k][1] for k in keys],
        ids, [drafts[i][0] for i in ids], [drafts[i][1] for i in ids], [expected.get(i) for i in ids],
        len(ids) if checked else -1,
    ]
    # One statement: a data-modifying WITH runs whether or not the rest reads it, all or nothing.
    await db.execute_query(
        f"WITH {_PG_NO_WAIT}, drafts AS ({_PG_DRAFTS}), states AS ({_PG_STATES}) {_PG_CHECK}", values
    )


async def _flush_sqlite(db: Any, now: datetime, states: StateRows, drafts: DraftRows,
                        expected: dict[int, Any], checked: bool) -> None:
    stamp = now.isoformat(sep=" ")  # tortoise's text timestamps
    statements: list[tuple[str, list[Any]]] = [
        (_SQLITE_DRAFT, [answers, stamp, submission_id, user_id, expected.get(submission_id)])
        for submission_id, (user_id, answers) in drafts.items()
    ]
    statements += [(_SQLITE_STATE, [key, state, data, stamp]) for key, (state, data) in states.items()]
    must_write = len(drafts) if checked else 0  # the first statements, one row each
    async with db.acquire_connection() as connection:
        for sql, values in statements:  # logged as tortoise logs its statements (the bench counts them)
            db.log.debug("%s: %s", sql, values)
        run = getattr(connection, "_execute", None)
        if run is None or not hasattr(connection, "_conn"):  # not aiosqlite: a plain transaction
            await _sqlite_transaction(connection, statements, must_write)
            return
        # aiosqlite runs this function in its database thread: the whole step is one hop.
        await run(_write_all, connection._conn, statements, must_write)


def _write_all(conn: Any, statements: list[tuple[str, list[Any]]], must_write: int = 0) -> None:
    """In the database thread: the whole step in one transaction, one hop from the event loop."""
    conn.execute("BEGIN")
    try:
        for n, (sql, values) in enumerate(statements):
            if conn.execute(sql, values).rowcount != 1 and n < must_write:
                raise StaleDraft(f"draft {values[2]} changed meanwhile")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


async def _sqlite_transaction(connection: Any, statements: list[tuple[str, list[Any]]], must_write: int = 0) -> None:
    await connection.execute("BEGIN")
    try:
        for n, (sql, values) in enumerate(statements):
            cursor = await connection.execute(sql, values)
            if n < must_write and getattr(cursor, "rowcount", 1) != 1:
                raise StaleDraft(f"draft {values[2]} changed meanwhile")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise
    await connection.execute("COMMIT")
