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
two transactions: the draft, then the dialog's bookkeeping.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# key -> (state, data as JSON text)
StateRows = dict[str, tuple[str | None, str]]
# submission id -> (its creator, the answers as JSON text)
DraftRows = dict[int, tuple[int, str]]


@dataclass
class Step:
    states: StateRows = field(default_factory=dict)
    drafts: DraftRows = field(default_factory=dict)
    closed: bool = False

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
async def open_step() -> AsyncIterator[Step]:
    """Collect this task's writes; write them in one transaction when the block ends.

    The writes are flushed even if the block raises: what the update wrote before the error is
    kept, as it was when every write went out at once.
    """
    step = Step()
    token = _current.set(step)
    try:
        yield step
    finally:
        _current.reset(token)
        # Closed first: a task started inside the step and still running writes at once from now on.
        step.closed = True
        await flush(step)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- writing ------------------------------------------------------------------------------------

_SQLITE_DRAFT = (
    'UPDATE "submission" SET "answers"=?, "updated_at"=? '
    'WHERE "id"=? AND "created_by"=? AND "status"=\'draft\''
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
# $1 the time; $2-$4 the state rows as arrays; $5-$7 the drafts as arrays.
_PG_STATES = (
    'INSERT INTO "conversation_state" ("key", "state", "data", "updated_at") '
    "SELECT k, s, d::jsonb, $1 FROM unnest($2::text[], $3::text[], $4::text[]) AS t(k, s, d), cfg "
    'ON CONFLICT ("key") DO UPDATE SET "state" = excluded."state", "data" = excluded."data", '
    '"updated_at" = excluded."updated_at"'
)
_PG_DRAFTS = (
    'UPDATE "submission" AS s SET "answers"=v.a::jsonb, "updated_at"=$1 '
    "FROM unnest($5::int[], $6::bigint[], $7::text[]) AS v(id, uid, a), cfg "
    "WHERE s.\"id\"=v.id AND s.\"created_by\"=v.uid AND s.\"status\"='draft'"
)


def _client() -> Any:
    # The models' connection (the app has one; its name is the dialect, see storage.db).
    from storage.models import ConversationState

    return ConversationState._meta.db


async def flush(step: Step) -> None:
    if step.empty():
        return
    states, drafts = dict(step.states), dict(step.drafts)
    step.states.clear()
    step.drafts.clear()
    db = _client()
    now = datetime.now(UTC)
    if db.capabilities.dialect == "postgres":
        await _flush_postgres(db, now, states, drafts)
    else:
        await _flush_sqlite(db, now, states, drafts)


async def _flush_postgres(db: Any, now: datetime, states: StateRows, drafts: DraftRows) -> None:
    keys = list(states)
    ids = list(drafts)
    values: list[Any] = [
        now,
        keys, [states[k][0] for k in keys], [states[k][1] for k in keys],
        ids, [drafts[i][0] for i in ids], [drafts[i][1] for i in ids],
    ]
    # One statement: a data-modifying WITH runs whether or not the rest reads it, all or nothing.
    await db.execute_query(f"WITH {_PG_NO_WAIT}, drafts AS ({_PG_DRAFTS}) {_PG_STATES}", values)


async def _flush_sqlite(db: Any, now: datetime, states: StateRows, drafts: DraftRows) -> None:
    stamp = now.isoformat(sep=" ")  # tortoise's text timestamps
    statements: list[tuple[str, list[Any]]] = [
        (_SQLITE_DRAFT, [answers, stamp, submission_id, user_id])
        for submission_id, (user_id, answers) in drafts.items()
    ]
    statements += [(_SQLITE_STATE, [key, state, data, stamp]) for key, (state, data) in states.items()]
    async with db.acquire_connection() as connection:
        for sql, values in statements:  # logged as tortoise logs its statements (the bench counts them)
            db.log.debug("%s: %s", sql, values)
        run = getattr(connection, "_execute", None)
        if run is None or not hasattr(connection, "_conn"):  # not aiosqlite: a plain transaction
            await _sqlite_transaction(connection, statements)
            return
        # aiosqlite runs this function in its database thread: the whole step is one hop.
        await run(_write_all, connection._conn, statements)


def _write_all(conn: Any, statements: list[tuple[str, list[Any]]]) -> None:
    """In the database thread: the whole step in one transaction, one hop from the event loop."""
    conn.execute("BEGIN")
    try:
        for sql, values in statements:
            conn.execute(sql, values)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


async def _sqlite_transaction(connection: Any, statements: list[tuple[str, list[Any]]]) -> None:
    await connection.execute("BEGIN")
    try:
        for sql, values in statements:
            await connection.execute(sql, values)
    except BaseException:
        await connection.execute("ROLLBACK")
        raise
    await connection.execute("COMMIT")
