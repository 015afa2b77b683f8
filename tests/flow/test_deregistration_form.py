"""/deregister (注销申请, 九; R14) through the real Dispatcher: a contact of an active station asks in
writing, agrees to hand the plaque back, the station waits for the bureau; who may ask, and when not."""

from __future__ import annotations

import pytest

from bot.forms.deregistration import DEREGISTRATION_SPEC
from bot.services import forms as service
from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from factories import recognised_station
from scheduler.sender import OutboxSender
from storage.models import (
    Document,
    Notice,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

OTHER_ID = 5550003  # the contact of another station
EXPLANATION = "企业转型，不再开展技师工作站工作"
PLAQUE_REFUSED = "⚠️ 《实施方案》九规定：工作站注销须经市人力资源保障局批复同意后交回牌匾。不同意交回牌匾，无法办理注销。"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))  # 27 November 2026


async def say(chat: Chat, *inputs: str, user=None) -> list[str]:
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:], user=user) if item.startswith("@") else chat.send(item, user=user))
        texts += chat.texts(calls)
    return texts


async def to_summary(chat: Chat, user=None) -> None:
    await say(chat, "/deregister", EXPLANATION, user=user)
    await chat.send_document(b"%PDF-1.4 letter", "注销申请.pdf", user=user)
    texts = await say(chat, "@是", user=user)
    assert "请核对注销申请" in texts[-1]


def receipt_of(texts: list[str]) -> str:
    return next(t for t in texts if "注销申请已提交" in t)


@both_databases
async def test_request_to_receipt_and_the_station_waits_for_the_bureau(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    texts = await say(chat, "/deregister")
    assert "第1/3题" in texts[-1] and "因何不再开展技师工作站工作" in texts[-1]
    texts = await say(chat, EXPLANATION)
    assert "请上传注销书面申请" in texts[-1]
    texts = chat.texts(await chat.send_document(b"%PDF-1.4 letter", "注销申请.pdf"))
    assert "是否同意批复后交回牌匾" in texts[-1]
    # 九: the plaque comes back after approval; "no" is refused with the clause, the same question
    texts = await say(chat, "@否")
    assert texts[-1].startswith(PLAQUE_REFUSED) and "第3/3题" in texts[-1]
    texts = await say(chat, "@是")
    assert "1. 注销原因：" + EXPLANATION in texts[-1] and "3. 批复后交回牌匾：是" in texts[-1]

    receipt = receipt_of(chat.texts(await chat.press("提交")))
    assert "编号：<b>SZZX-2026-0001</b>" in receipt and "工作站：精密模具技师工作站" in receipt
    assert "注销申请中" in receipt and "批复同意后工作站即予注销，请按通知交回牌匾" in receipt

    request = await Submission.get(created_by=USER_ID)
    assert request.kind == SubmissionKind.DEREGISTRATION and request.status == SubmissionStatus.SUBMITTED
    assert request.station_id == station.id and request.uniqueness_key == f"deregistration:{station.id}"
    assert {k: v for k, v in request.answers.items() if k != "_docs"} == {
        "explanation": EXPLANATION, "plaque_return": "yes"}
    assert await Document.filter(submission=request, kind="written_request", station_id=station.id).count() == 1
    assert (await Station.get(id=station.id)).state == StationState.DEREGISTRATION_REQUESTED
    assert await StatusTransition.filter(subject_type="station", subject_id=station.id, action="request_deregistration",
                                         actor_id=USER_ID).exists()
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_deregistration_request")
    mark = chat.mark()
    assert await OutboxSender(chat.bot).send_due(notice.due_at) == 1
    assert chat.texts(chat.api.calls[mark:]) == [
        "📥 新的注销申请：精密模具技师工作站，编号 SZZX-2026-0001。发送 /review SZZX-2026-0001 处理。"]
    # the bureau reads what was asked
    item = chat.texts(await chat.send("/review SZZX-2026-0001", user=chat.as_user(STAFF_ID)))
    assert any(f"注销原因：{EXPLANATION}" in t and "批复后交回牌匾：是" in t for t in item)
    assert any("批准注销" in b for b in chat.buttons(chat.as_user(STAFF_ID)))

    # one request at a time
    texts = await say(chat, "/deregister")
    assert texts == ["⚠️ 本工作站于 2026-11-27 提交的注销申请正在审核中，请等待市人力资源保障局的批复。发送 /status 查看。"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (StationState.OVERDUE, "本工作站当前状态为“年度备案逾期”：请先补交逾期的年度备案，或直接联系市人力资源保障局说明情况，之后再申请注销。"),
        (StationState.REVOCATION_CANDIDATE, "本工作站当前状态为“待撤销”：请先补交逾期的年度备案"),
        (StationState.REVOKED, "本工作站当前状态为“已撤销”，不能申请注销。"),
        (StationState.DEREGISTERED, "本工作站当前状态为“已注销”，不能申请注销。"),
    ],
)
async def test_only_an_active_station_may_ask(chat: Chat, state: StationState, expected: str) -> None:
    await recognised_station(USER_ID, state=state)
    texts = await say(chat, "/deregister")
    assert len(texts) == 1 and texts[0].startswith(f"⚠️ {expected}")
    assert not await Submission.filter(created_by=USER_ID).exists()


async def test_only_a_contact_may_ask(chat: Chat) -> None:
    assert await say(chat, "/deregister") == ["⚠️ 注销申请仅限技师工作站的联系人办理。"]
    assert not await Submission.filter(created_by=USER_ID).exists()


@both_databases
async def test_a_double_or_replayed_submit_gives_the_first_receipt(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    await to_summary(chat)
    summary = chat.last_with_buttons()
    submit = next(b.callback_data for row in summary.reply_markup.inline_keyboard for b in row if "提交" in b.text)
    draft = await Submission.get(created_by=USER_ID)
    session = await service.load(DEREGISTRATION_SPEC, draft.id, USER_ID, "zh", chat.clock, chat.settings)
    first = await service.submit(DEREGISTRATION_SPEC, session, draft.id, USER_ID, chat.clock, chat.settings)
    again = await service.submit(DEREGISTRATION_SPEC, session, draft.id, USER_ID, chat.clock, chat.settings)
    assert first.reference == "SZZX-2026-0001" and not first.already
    assert again.already and again.reference == first.reference
    await chat.press_data(submit, message=summary)
    assert await Submission.filter(created_by=USER_ID).count() == 1
    assert await Notice.filter(kind="new_deregistration_request").count() == 1
    assert await StatusTransition.filter(subject_type="station", subject_id=station.id,
                                         action="request_deregistration").count() == 1


@both_databases
async def test_another_station_neither_sees_nor_touches_the_request(chat: Chat) -> None:
    mine = await recognised_station(USER_ID)
    theirs = await recognised_station(OTHER_ID, name="数控技师工作站", uscc="91440300MA5F00010X")
    other = chat.as_user(OTHER_ID, first_name="王五")
    await say(chat, "/deregister", "我方站点计划停止运营")  # station A's contact's draft
    texts = await say(chat, "/deregister", user=other)
    assert not any("已恢复" in t for t in texts) and "第1/3题" in texts[-1]
    await to_summary(chat, user=other)
    receipt_of(chat.texts(await chat.press("提交", user=other)))
    request = await Submission.get(created_by=OTHER_ID)
    assert request.station_id == theirs.id and request.uniqueness_key == f"deregistration:{theirs.id}"
    assert (await Station.get(id=theirs.id)).state == StationState.DEREGISTRATION_REQUESTED
    assert (await Station.get(id=mine.id)).state == StationState.ACTIVE
    draft = await Submission.get(created_by=USER_ID)
    assert draft.status == SubmissionStatus.DRAFT and draft.answers.get("explanation") == "我方站点计划停止运营"
    texts = await say(chat, "/deregister")
    assert any("已恢复您上次保存的注销申请草稿" in t for t in texts)
