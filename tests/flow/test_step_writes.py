"""What a step of a form writes, through the real Dispatcher, on SQLite and PostgreSQL.

The dialog's rows hold the submission id only (the screen is rendered from the draft), so pressing
返回 writes the draft and no dialog row; the draft's in-process copy never overwrites a row that
another process changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat_harness import Chat, make_settings
from conftest import both_databases
from storage.models import ConversationState, Submission, SubmissionStatus

pytestmark = both_databases


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def _dialog_rows() -> dict[str, tuple[object, object]]:
    rows = await ConversationState.all().values_list("key", "data", "updated_at")
    return {key: (data, at) for key, data, at in rows}


async def _draft() -> Submission:
    return await Submission.get(status=SubmissionStatus.DRAFT)


async def test_the_dialog_keeps_no_screen_and_a_restart_shows_the_same_question(chat: Chat, db: str) -> None:
    await chat.send("/declare")
    await chat.send("深圳精密制造有限公司")
    texts = chat.texts(await chat.send("123"))  # a bad USCC: the error on the same question
    assert "请输入统一社会信用代码" in texts[-1] and len(texts[-1]) > len("请输入统一社会信用代码") + 20
    sid = (await _draft()).id
    contexts = [data for key, (data, _) in (await _dialog_rows()).items() if ":aiogd:context:" in key]
    assert [c["dialog_data"] for c in contexts] == [{"sid": sid}]
    # Another process (a restart) renders the screen from the draft.
    restarted = Chat(make_settings(db), chat.api)
    restarted.user = chat.user
    texts = chat.texts(await restarted.press("返回"))
    assert "请输入申办单位名称" in texts[-1] and "当前答案：深圳精密制造有限公司" in texts[-1]
    assert "保持不变" in " ".join(restarted.buttons())


async def test_pressing_back_writes_the_draft_and_no_dialog_row(chat: Chat) -> None:
    await chat.send("/declare")
    await chat.send("深圳精密制造有限公司")
    before_rows, before_draft = await _dialog_rows(), await _draft()
    texts = chat.texts(await chat.press("返回"))
    assert "当前答案：深圳精密制造有限公司" in texts[-1]
    after_draft = await _draft()
    assert after_draft.answers != before_draft.answers and after_draft.updated_at > before_draft.updated_at
    assert await _dialog_rows() == before_rows


async def test_a_draft_changed_by_another_process_is_not_overwritten(chat: Chat) -> None:
    await chat.send("/declare")
    await chat.send("深圳精密制造有限公司")
    draft = await _draft()
    changed = {**draft.answers, "unit_name": "另一进程写的单位"}
    await Submission.filter(id=draft.id).update(answers=changed, updated_at=datetime.now(UTC))
    texts = chat.texts(await chat.press("返回"))
    # The step was refused before its reply: the user is told, the other process's row stands.
    assert len(texts) == 1 and "请输入申办单位名称" not in texts[0]
    assert (await _draft()).answers == changed
    # The next step reads the row again.
    texts = chat.texts(await chat.press("返回"))
    assert "请输入申办单位名称" in texts[-1] and "当前答案：另一进程写的单位" in texts[-1]
