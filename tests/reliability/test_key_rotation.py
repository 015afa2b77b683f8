"""DATA_KEY rotation: several keys, newest first. The older keys still open what they sealed, new
seals use the newest, and `python -m bot reseal` moves everything at rest (submitted answers,
drafts in the database or in Redis, a register waiting for its import) to the newest key, so that
afterwards the old key alone opens nothing and the new key alone opens everything. A value that no
configured key opens stops it before it changes anything. The key-file setup keeps working."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from bot.crypto import SealedWithAnotherKey, Vault, vault_for
from bot.services.reseal import reseal
from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from conversations import CONTACT_MOBILE, HEAD_ID, HEAD_MOBILE, declare, register_workbook, resident_id, say, uscc
from storage import sealed as store
from storage.models import Submission

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW, STRAY = (Fernet.generate_key().decode() for _ in range(3))
DRAFTING = 5550060  # a second contact, half-way through a declaration when the key changes
DRAFT_HEAD_ID = resident_id("44030719810506552")
DRAFT_MENTOR_ID = resident_id("44030719770607663")

on_postgres = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                      indirect=True)


def settings_for(db: str, data_dir: Path, keys: str | None, redis_url: str | None = None):
    return make_settings(db, data_key=keys, data_key_file=str(data_dir / "secret.key"), redis_url=redis_url,
                         throttle_rate="10000/second", throttle_burst=10000)


async def noop(_: str) -> None:
    return None


async def leave_sealed_values(chat: Chat) -> None:
    """A submitted declaration, another half-way (its head's ID number and mobile typed), and a
    register waiting for 正式导入."""
    await declare(chat, noop)
    drafting = chat.as_user(DRAFTING)
    await say(chat, "/declare", "深圳草稿制造有限公司", uscc("91440300MA5F00301"), "@企业", "刘法人", "深圳市宝安区1号",
              "精密模具制造", "120", "@合作共建", "深圳技师学院", "@是", "草稿技师工作站", "周工", DRAFT_HEAD_ID,
              "13611112222", "技术总监", "吴联络", "13622223333", "@跳过", user=drafting)
    # a mentor half-added: the item's draft, its ID number sealed, waits with the draft's answers
    await say(chat, "@添加指导教师", "导师九", DRAFT_MENTOR_ID, user=drafting)
    # The forms keep no personal number in the conversation state today; a value sealed there (a
    # later form's, say) is resealed all the same: one put there through the bot's own storage.
    key = StorageKey(bot_id=chat.bot.id, chat_id=DRAFTING, user_id=DRAFTING, destiny="rotation")
    await chat.dp.storage.set_data(key, {"kept": {"mobile": vault_for(chat.settings).seal("13633334444")}})
    staff = chat.as_user(STAFF_ID)
    await chat.send("/import", user=staff)
    await chat.send_document(register_workbook(), "名册.xlsx", user=staff)
    assert "正式导入" in chat.buttons(staff)


async def sealed_at_rest(data_dir: Path, redis_url: str | None) -> dict[str, list[bytes]]:
    """Every token resting anywhere: the database's JSON columns, Redis, the kept registers."""
    from bot.services.reseal import _tokens

    out: dict[str, list[bytes]] = {}
    for model, column in store.json_columns():
        async for _, value in store.values(model, column):
            out.setdefault(store.place(model, column), []).extend(t.encode() for t in _tokens(value))
    if redis_url:
        client = Redis.from_url(redis_url)
        try:
            async for key in client.scan_iter(match="fsm:*"):
                if await client.type(key) == b"string":
                    out.setdefault("redis", []).extend(t.encode() for t in _tokens(json.loads(await client.get(key))))
        finally:
            await client.aclose()
    out["imports"] = [p.read_bytes() for p in (data_dir / "imports").glob("*.xlsx")]
    return {k: v for k, v in out.items() if v}


def opens(key: str, token: bytes) -> bool:
    try:
        Vault(key).unseal_bytes(token)
    except SealedWithAnotherKey:
        return False
    return True


async def run_cli(db: str, keys: str, data_dir: Path, redis_url: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_TOKEN", "DATA_KEY", "DATABASE_URL")}
    env.update(DATABASE_URL=db, DATA_KEY=keys, DATA_KEY_FILE=str(data_dir / "secret.key"))
    if redis_url:
        env["REDIS_URL"] = redis_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "reseal", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def rotate_and_reseal(db: str, data_dir: Path, redis_url: str | None, *, through_cli: bool) -> None:
    chat = Chat(settings_for(db, data_dir, OLD, redis_url))
    await leave_sealed_values(chat)
    await chat.dp.storage.close()
    before = await sealed_at_rest(data_dir, redis_url)
    where = "redis" if redis_url else "conversation_state.data"
    assert {"submission.answers", where, "imports"} <= set(before), before.keys()
    assert all(opens(OLD, t) and not opens(NEW, t) for tokens in before.values() for t in tokens)

    # The new key put first: the old seals still open, and what is sealed now uses the new key.
    rotated = settings_for(db, data_dir, f"{NEW},{OLD}", redis_url)
    assert vault_for(rotated).unseal({"enc": before["submission.answers"][0].decode()})
    fresh = vault_for(rotated).seal("13811112222")["enc"].encode()
    assert opens(NEW, fresh) and not opens(OLD, fresh)
    chat = Chat(rotated, chat.api)  # the same Telegram: a restart of the bot with the new key first
    # the half-added mentor finished, another begun: its ID number is sealed with the new key
    await say(chat, "模具工", "@技师", "@职业资格证书", "Z00009", "@技工院校", "@本单位", "@添加指导教师", "导师十",
              resident_id("44030819760708774"), user=chat.as_user(DRAFTING))
    await chat.send("/form", user=chat.user)
    await chat.dp.storage.close()
    mixed = await sealed_at_rest(data_dir, redis_url)
    drafts = mixed["submission.answers"]
    assert any(opens(NEW, t) for t in drafts) and any(opens(OLD, t) for t in drafts)

    if through_cli:
        code, out, err = await run_cli(db, f"{NEW},{OLD}", data_dir, redis_url)
        assert code == 0, err
        assert "every sealed value now opens with the newest key alone" in out, out
        assert "conversation state in Redis" in out if redis_url else "conversation_state.data" in out
    else:
        outcome = await reseal(rotated)
        assert not outcome.unreadable
        resealed = {name: p.resealed for name, p in outcome.places.items() if p.resealed}
        # the declaration's six numbers and the draft's four under the old key; the new mentor's is new already
        assert resealed == {"submission.answers": 10, where: 1, "imports": 1}, resealed
    after = await sealed_at_rest(data_dir, redis_url)
    assert sum(map(len, after.values())) == sum(map(len, mixed.values()))
    assert all(opens(NEW, t) and not opens(OLD, t) for tokens in after.values() for t in tokens)
    # idempotent: nothing left to reseal, nothing rewritten
    again = await reseal(rotated)
    assert sum(p.resealed for p in again.places.values()) == 0
    assert await sealed_at_rest(data_dir, redis_url) == after

    # The old key dropped: everything still opens, through the bot.
    chat = Chat(settings_for(db, data_dir, NEW, redis_url), chat.api)
    drafting = chat.as_user(DRAFTING)
    texts = await say(chat, "/declare", user=drafting)
    assert any("草稿" in t or "继续" in t for t in texts), texts
    printed = Chat.documents(await chat.send("/form", user=chat.user))
    assert printed and HEAD_ID.encode() in _docx_text(printed[-1].document.data)
    texts = chat.texts(await chat.press("正式导入", user=chat.as_user(STAFF_ID)))
    assert any("导入 1 行" in t for t in texts), texts
    submission = await Submission.get(created_by=USER_ID)
    assert vault_for(chat.settings).unseal(submission.answers["head_mobile"]) == HEAD_MOBILE
    assert vault_for(chat.settings).unseal(submission.answers["contact_mobile"]) == CONTACT_MOBILE
    await chat.dp.storage.close()


def _docx_text(content: bytes) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return z.read("word/document.xml")


async def test_rotation_and_reseal_on_sqlite_with_database_state(db: str, tmp_path: Path) -> None:
    await rotate_and_reseal(db, tmp_path, None, through_cli=False)


@on_postgres
async def test_rotation_and_reseal_through_the_cli_on_postgres_with_redis_state(db: str, redis_url: str,
                                                                                tmp_path: Path) -> None:
    await rotate_and_reseal(db, tmp_path, redis_url, through_cli=True)


def run_command(settings: Any) -> int:
    """`python -m bot reseal`'s own function, in a thread of its own (its own event loop and ORM
    context, as in its process): cheaper than a second process start."""
    from bot.__main__ import reseal_command

    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(reseal_command(["reseal"], settings)))
    thread.start()
    thread.join(60)
    assert result, "reseal did not finish"
    return result[0]


async def test_reseal_refuses_a_value_no_key_opens_and_changes_nothing(db: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    old, stray = Vault(OLD), Vault(STRAY)
    kept = await Submission.create(kind="establishment", status="draft", created_by=USER_ID, year=2026,
                                   answers={"head_id_number": old.seal(HEAD_ID), "head_mobile": old.seal(HEAD_MOBILE)})
    lost = await Submission.create(kind="establishment", status="draft", created_by=USER_ID + 1, year=2026,
                                   answers={"mentors": [{"id_number": stray.seal(DRAFT_HEAD_ID)}]})
    before = {s.id: s.answers for s in await Submission.all()}
    code = await asyncio.to_thread(run_command, settings_for(db, tmp_path, f"{NEW},{OLD}"))
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert f"submission.answers {lost.id}" in err and "Nothing was changed" in err and "DATA_KEY" in err
    assert f"submission.answers {kept.id}" not in err and "resealed" not in out
    assert {s.id: s.answers for s in await Submission.all()} == before
    # with the stray key added, the same command goes through
    assert await asyncio.to_thread(run_command, settings_for(db, tmp_path, f"{NEW},{OLD},{STRAY}")) == 0
    assert "3 of 3 sealed value(s) resealed with the newest of 3 key(s)" in capsys.readouterr().out
    for submission in await Submission.all():
        for token in _tokens_of(submission.answers):
            assert opens(NEW, token) and not opens(OLD, token) and not opens(STRAY, token)


def _tokens_of(value: Any) -> list[bytes]:
    from bot.services.reseal import _tokens

    return [t.encode() for t in _tokens(value)]


async def test_the_key_file_setup_keeps_working(db: str, tmp_path: Path) -> None:
    settings = settings_for(db, tmp_path, None)
    sealed: Any = vault_for(settings).seal(HEAD_ID)
    key_file = tmp_path / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Vault(key_file.read_bytes()).unseal(sealed) == HEAD_ID
    await Submission.create(kind="establishment", status="draft", created_by=USER_ID, year=2026,
                            answers={"head_id_number": sealed})
    outcome = await reseal(settings)
    assert outcome.keys == 1 and not outcome.unreadable
    assert (outcome.places["submission.answers"].found, outcome.places["submission.answers"].resealed) == (1, 0)
    # a key file's key moved into DATA_KEY behind a new one: resealed like any other
    moved = settings_for(db, tmp_path, f"{NEW},{key_file.read_text().strip()}")
    assert (await reseal(moved)).places["submission.answers"].resealed == 1
    stored = (await Submission.get(created_by=USER_ID)).answers["head_id_number"]
    assert Vault(NEW).unseal(stored) == HEAD_ID


def test_a_mistyped_key_is_a_configuration_error_that_names_no_key(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main
    from bot.settings import get_settings

    monkeypatch.setenv("DATA_KEY", f"{NEW},{OLD[:-4]}")
    monkeypatch.setattr(sys, "argv", ["bot", "reseal"])
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    get_settings.cache_clear()
    try:
        assert main() == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "configuration error: DATA_KEY: Value error, key 2 of 2 is not a Fernet key" in err, err
    assert NEW not in err and OLD[:-4] not in err
