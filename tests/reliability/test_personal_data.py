"""Personal numbers typed in every conversation are nowhere in clear: not in the database's bytes
(SQLite's file and its -wal/-shm; PostgreSQL's every row as text), not in Redis's keys and values,
not in any log record at DEBUG, not in the staff exports or the digests. Masked forms are fine, and
so are the files whose name says they carry the numbers in full (the admin's full export, the
printed 申报表 that goes to the unit's own contacts and to staff).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from chat_harness import STAFF_ID, make_settings
from conversations import (
    ADMIN_ID,
    FULL_MARKS,
    MASKED_FORMS,
    OBJECTOR_MOBILE,
    OBJECTOR_MOBILE_TYPED,
    TYPED,
    every_log_record,
    run_every_conversation,
)


on_postgres = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def leaks(text: str | bytes) -> list[str]:
    haystack = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return [n for n in TYPED if n in haystack]


def file_text(name: str, content: bytes) -> str:
    """Everything a .xlsx/.docx holds (every part of the zip, shared strings included), else the bytes."""
    if not zipfile.is_zipfile(io.BytesIO(content)):
        return content.decode("utf-8", "replace")
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return "\n".join(z.read(part).decode("utf-8", "replace") for part in z.namelist())


async def database_text(url: str) -> str:
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://").split("?", 1)[0])
        return "".join(p.read_bytes().decode("utf-8", "replace")
                       for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")) if p.exists())
    from storage.models import Submission

    conn = Submission._meta.db
    tables = [r["tablename"] for r in await conn.execute_query_dict(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    assert "submission" in tables and "conversation_state" in tables
    out = []
    for table in tables:
        rows = await conn.execute_query_dict(f'SELECT t::text AS row FROM "{table}" t')
        out += [r["row"] for r in rows]
    return "\n".join(out)


async def redis_text(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    out: list[str] = []
    try:
        async for key in client.scan_iter():
            kind = (await client.type(key)).decode()
            out.append(key.decode("utf-8", "replace"))
            if kind == "string":
                value = [await client.get(key)]
            elif kind == "hash":
                value = [x for kv in (await client.hgetall(key)).items() for x in kv]
            elif kind == "list":
                value = await client.lrange(key, 0, -1)
            elif kind == "set":
                value = list(await client.smembers(key))
            elif kind == "zset":
                value = await client.zrange(key, 0, -1)
            else:
                value = [repr(await client.dump(key)).encode()]
            out += [v.decode("utf-8", "replace") for v in value if v is not None]
    finally:
        await client.aclose()
    assert out, "the conversation state should be in Redis"
    return "\n".join(out)


async def stores_text(database: str, redis_url: str | None, data_dir: Path) -> dict[str, str]:
    """What rests: the database, Redis (when it holds the conversations), the files in the data directory."""
    out = {"database": await database_text(database)}
    if redis_url:
        out["redis"] = await redis_text(redis_url)
    for path in data_dir.rglob("*"):
        if path.is_file() and not path.name.startswith("bot.sqlite3"):
            out[f"file {path.relative_to(data_dir)}"] = file_text(path.name, path.read_bytes())
    return out


async def scan(database: str, redis_url: str | None, data_dir: Path) -> None:
    settings = make_settings(database, redis_url=redis_url, admin_ids=frozenset({ADMIN_ID}),
                             staff_ids=frozenset({STAFF_ID}), data_key_file=str(data_dir / "secret.key"),
                             throttle_rate="10000/second", throttle_burst=10000,
                             send_rate_per_second=10000.0, send_per_chat_interval=0.0)
    found: dict[str, list[str]] = {}
    resting: list[str] = []

    def check(where: str, text: str | bytes) -> None:
        if hit := leaks(text):
            found.setdefault(where, []).extend(hit)

    async def checkpoint(moment: str) -> None:
        resting.append(moment)
        for where, text in (await stores_text(database, redis_url, data_dir)).items():
            check(f"{where}, {moment}", text)

    with every_log_record() as records:
        chat, outputs = await run_every_conversation(settings, checkpoint)
    assert resting == ["the declaration's draft at its summary", "the register waiting for 正式导入"]
    # (c) the logs, which did record the conversations
    assert len(records.lines) > 500 and any(r.startswith("aiogram") for r in records.lines)
    for line in records.lines:
        check("log", line)
    # (d) the files: the staff exports and the weekly digest's workbook are scanned; those marked full are not
    names = [name for name, _ in outputs.files]
    assert any(n.endswith("_已脱敏.xlsx") for n, _ in outputs.outbox_files), names
    assert sum(n.startswith("技师工作站数据_") for n in names) == 2, names
    marked = [(n, c) for n, c in outputs.files if any(m in n for m in FULL_MARKS)]
    assert len(marked) >= 2, names  # the full export and the printed 申报表
    for name, content in outputs.files + outputs.outbox_files:
        if not any(m in name for m in FULL_MARKS):
            check(f"file {name}", file_text(name, content))
    masked_export = file_text("", next(c for n, c in outputs.files if n.startswith("技师工作站数据_") and n not in dict(marked)))
    assert all(m in masked_export for m in MASKED_FORMS)  # the numbers' columns are there, masked
    # the mobile typed into the objection's free text: masked in the workbook, in no digest
    assert "158****2222" in masked_export and OBJECTOR_MOBILE_TYPED not in masked_export
    for name, content in outputs.files + outputs.outbox_files:
        if not any(m in name for m in FULL_MARKS):
            assert OBJECTOR_MOBILE not in file_text(name, content).replace("-", ""), name
    assert not any(OBJECTOR_MOBILE in t.replace("-", "") for t in outputs.outbox_texts)
    # ... and the marked files do carry the numbers (the scan would notice them)
    for name, content in marked:
        assert leaks(file_text(name, content)), name
    assert any(m in "".join(outputs.outbox_texts) for m in ("每日工作摘要", "每周工作摘要")), outputs.outbox_texts
    for text in outputs.outbox_texts:
        check("outbox message", text)
    # what the contacts read in the chat is masked too
    assert any(m in t for t in chat.texts(chat.api.calls) for m in MASKED_FORMS)
    # (a), (b) what rests at the end
    await checkpoint("the end")
    assert not found, found


async def test_no_personal_number_in_clear_sqlite_and_database_state(db: str, tmp_path: Path) -> None:
    await scan(db, None, tmp_path)


@on_postgres
async def test_no_personal_number_in_clear_postgres_and_redis_state(db: str, redis_url: str, tmp_path: Path) -> None:
    await scan(db, redis_url, tmp_path)


def test_numbers_in_free_text_are_masked_and_nothing_else() -> None:
    from bot.rules.identifiers import mask_numbers_in_text

    text = ("电话 158-1111-2222 或 13800138000，身份证 440301198001011416（末位 x 也算：44030119800101131x），"
            "证书 S000000000001，代码 91440300MA5F00001X，校验位错 440301198001011417，21位 123456789012345678901")
    assert mask_numbers_in_text(text) == (
        "电话 158****2222 或 138****8000，身份证 440301********1416（末位 x 也算：440301********131X），"
        "证书 S000000000001，代码 91440300MA5F00001X，校验位错 440301198001011417，21位 123456789012345678901")
