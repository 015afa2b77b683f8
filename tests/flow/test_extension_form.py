"""/extension (延期备案申请, 八; R11) through the real Dispatcher: a contact asks to file later, staff
decide through /review, the contact learns the new due date; who may ask, and when not."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.clock import FixedClock
from bot.forms.extension import EXTENSION_SPEC
from bot.rules.lifecycle import Actor
from bot.services import forms as service
from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from factories import recognised_station
from scheduler.sender import OutboxSender
from storage.models import (
    BotUser,
    Contact,
    Document,
    FilingObligation,
    FilingState,
    Notice,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from storage.transitions import apply_transition

# 09:00 on 20 January 2027 in Shanghai: the filing for 2026 is open, due on 28 February 2027.
TODAY = datetime(2027, 1, 20, 1, 0, tzinfo=UTC)
COLLEAGUE_ID = 5550002
OTHER_ID = 5550003  # the contact of another station
EXPLANATION = "厂区整体搬迁至光明区，预计四月底完工"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db), clock=FixedClock(TODAY))


async def say(chat: Chat, *inputs: str, user=None) -> list[str]:
    """Type or press (a leading "@") each input; every text the bot sent."""
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:], user=user) if item.startswith("@") else chat.send(item, user=user))
        texts += chat.texts(calls)
    return texts


async def due_obligation(station: Station, year: int = 2026) -> FilingObligation:
    """The obligation as the scheduler writes it on 2 January: due at the end of February (R10)."""
    filing = await FilingObligation.create(station=station, year=year, due_on=date(year + 1, 2, 28))
    await apply_transition("filing", filing.id, "mark_due", actor_id=None, actor=Actor.SYSTEM, now=TODAY,
                           expected_state="not_due")
    return filing


async def to_summary(chat: Chat, months: str = "4", user=None) -> list[str]:
    texts = await say(chat, "/extension", "@场地搬迁", EXPLANATION, months, user=user)
    calls = await chat.send_document(b"%PDF-1.4 letter", "延期申请.pdf", user=user)
    texts += chat.texts(calls)
    assert "请核对延期备案申请" in texts[-1]
    return texts


def receipt_of(texts: list[str]) -> str:
    return next(t for t in texts if "延期备案申请已提交" in t)


@both_databases
async def test_request_approval_and_the_new_date_told_then_no_second_request(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    await due_obligation(station)
    texts = await say(chat, "/extension")
    assert "第1/4题" in texts[-1] and "2026年度的年度备案无法按期完成" in texts[-1]
    assert {"生产转型", "场地搬迁", "其他"} <= set(chat.buttons())
    texts = await say(chat, "@场地搬迁")
    assert "请简要说明场地搬迁的情况" in texts[-1]
    await say(chat, EXPLANATION)
    # 八: normally at most six months — the clause, and the same question again
    texts = await say(chat, "7")
    assert "延期不能超过6个月：《实施方案》八规定，延长期限一般不超过6个月" in texts[-1]
    assert "第3/4题" in texts[-1] and "申请延期几个月" in texts[-1]
    assert "months" not in (await Submission.get(created_by=USER_ID)).answers
    texts = await say(chat, "4")
    assert "请上传延期备案书面申请" in texts[-1]
    await chat.send_document(b"%PDF-1.4 letter", "延期申请.pdf")
    summary = chat.last_with_buttons().text
    assert "1. 延期事由：场地搬迁" in summary and "3. 申请延期月数：4" in summary and "4. 书面申请：延期申请.pdf" in summary

    receipt = receipt_of(chat.texts(await chat.press("提交")))
    assert "编号：<b>SZYQ-2027-0001</b>" in receipt
    assert "备案年度：2026年度" in receipt and "申请延期：4个月" in receipt
    assert "现备案截止日期：2027-02-28；如全部获准，将延至 2027-06-30" in receipt
    assert "市人力资源保障局审核决定" in receipt and "通知您新的备案截止日期" in receipt

    # stored as the staff side reads it
    request = await Submission.get(created_by=USER_ID)
    assert request.kind == SubmissionKind.EXTENSION and request.status == SubmissionStatus.SUBMITTED
    assert request.year == 2026 and request.station_id == station.id and request.unit_id == station.unit_id
    assert request.uniqueness_key == f"extension:{station.id}:2026"
    assert {k: v for k, v in request.answers.items() if k != "_docs"} == {
        "grounds": "relocation", "explanation": EXPLANATION, "months": 4}
    assert [f["file_name"] for f in request.answers["_docs"]["written_request"]] == ["延期申请.pdf"]
    assert await Document.filter(submission=request, kind="written_request", station_id=station.id).count() == 1
    # staff hear of it at once
    notice = await Notice.get(recipient_id=STAFF_ID, kind="new_extension_request")
    mark = chat.mark()
    assert await OutboxSender(chat.bot).send_due(notice.due_at) == 1
    assert chat.texts(chat.api.calls[mark:]) == [
        "📥 新的延期备案申请：精密模具技师工作站，2026年度，事由：场地搬迁，申请延期4个月，编号 SZYQ-2027-0001。"
        "发送 /review SZYQ-2027-0001 处理。"]

    # staff approve the four months asked
    staff = chat.as_user(STAFF_ID)
    item = chat.texts(await chat.send("/review SZYQ-2027-0001", user=staff))
    assert any("延期事由：场地搬迁" in t and "申请延期月数：4" in t for t in item)
    texts = chat.texts(await chat.press("批准延期", user=staff))
    assert any("申请 4 个月；现截止日期 2027-02-28" in t for t in texts)
    await chat.press("4 个月", user=staff)
    await chat.press("确认执行", user=staff)
    filing = await FilingObligation.get(station_id=station.id, year=2026)
    assert filing.state == FilingState.EXTENDED and filing.extended_due_on == date(2027, 6, 30)

    # the contact is told the new date
    told = await Notice.get(recipient_id=USER_ID, kind="status_change", subject=f"submission:{request.id}")
    assert told.params["due_on"] == "2027-06-30"
    mark = chat.mark()
    assert await OutboxSender(chat.bot).send_due(told.due_at) == 1
    assert chat.texts(chat.api.calls[mark:]) == [
        "🔔 延期备案申请 SZYQ-2027-0001：评审通过。年度备案截止日期延至 2027-06-30。发送 /status 查看。"]

    # the year is extended: no second request for it
    texts = await say(chat, "/extension")
    assert texts == ["⚠️ 2026年度备案已获准延期至 2027-06-30，同一年度不能再次申请延期。如确有困难，请直接联系市人力资源保障局。"]
    assert await Submission.filter(kind=SubmissionKind.EXTENSION).count() == 1


async def test_other_grounds_ask_for_the_reason_and_an_unwritten_obligation_is_due_end_of_february(chat: Chat) -> None:
    await recognised_station(USER_ID)  # the scheduler has not written 2026's obligation yet
    texts = await say(chat, "/extension", "@其他")
    assert "请说明无法按期备案的具体原因" in texts[-1]
    texts = await say(chat, "好")
    assert "第2/4题" in texts[-1]  # a sentence, not a word
    texts = await say(chat, "主要负责人长期病休，年度材料无人整理", "0")
    assert "第3/4题" in texts[-1] and "申请延期几个月" in texts[-1]
    await say(chat, "6")
    await chat.send_document(b"%PDF letter", "letter.pdf")
    receipt = receipt_of(chat.texts(await chat.press("提交")))
    assert "现备案截止日期：2027-02-28；如全部获准，将延至 2027-08-31" in receipt
    assert (await Submission.get(created_by=USER_ID)).answers["grounds"] == "other"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (StationState.DEREGISTERED, "本工作站当前状态为“已注销”，不需要也不能申请延期备案。"),
        (StationState.DEREGISTRATION_REQUESTED, "本工作站当前状态为“注销申请中”，不需要也不能申请延期备案。"),
    ],
)
async def test_a_station_that_does_not_file_cannot_ask(chat: Chat, state: StationState, expected: str) -> None:
    await recognised_station(USER_ID, state=state)
    assert await say(chat, "/extension") == [f"⚠️ {expected}"]
    assert not await Submission.filter(created_by=USER_ID).exists()


async def test_only_a_contact_and_only_with_a_filing_outstanding(chat: Chat) -> None:
    texts = await say(chat, "/extension")
    assert texts == ["⚠️ 延期备案申请仅限技师工作站的联系人办理。如您是工作站联系人，请先用邀请码绑定（/join）。"]
    # recognised this year: nothing to file before 2028
    await recognised_station(USER_ID, recognised_on=date(2027, 1, 5))
    assert await say(chat, "/extension") == ["⚠️ 本工作站目前没有待完成的年度备案，无需申请延期。"]
    assert not await Submission.filter(created_by=USER_ID).exists()


async def test_an_overdue_station_may_ask_for_its_oldest_year(chat: Chat) -> None:
    station = await recognised_station(USER_ID, state=StationState.OVERDUE)
    filing = await due_obligation(station, 2025)
    await apply_transition("filing", filing.id, "mark_overdue", actor_id=None, actor=Actor.SYSTEM, now=TODAY,
                           expected_state="due")
    texts = await say(chat, "/extension")
    assert "2025年度的年度备案无法按期完成" in texts[-1]


@both_databases
async def test_one_pending_request_at_a_time_even_from_a_colleague(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    user, _ = await BotUser.get_or_create(id=COLLEAGUE_ID)
    await Contact.create(user=user, station=station, role="contact")
    colleague = chat.as_user(COLLEAGUE_ID, first_name="李四")
    await to_summary(chat, user=colleague)
    await to_summary(chat)
    receipt_of(chat.texts(await chat.press("提交")))
    # the colleague's summary: the submit is refused, naming the request in progress
    texts = chat.texts(await chat.press("提交", user=colleague))
    assert "本工作站于 2027-01-20 提交的2026年度延期备案申请正在审核中" in texts[-1]
    assert "请核对延期备案申请" in texts[-1]
    assert await Submission.filter(kind=SubmissionKind.EXTENSION, status=SubmissionStatus.SUBMITTED).count() == 1
    # and a new /extension from either of them
    for who in (chat.user, colleague):
        assert "正在审核中，请等待市人力资源保障局的决定" in (await say(chat, "/extension", user=who))[-1]
    assert await Notice.filter(kind="new_extension_request").count() == 1


@both_databases
async def test_a_double_or_replayed_submit_gives_the_first_receipt(chat: Chat) -> None:
    await recognised_station(USER_ID)
    await to_summary(chat)
    summary = chat.last_with_buttons()
    submit = next(b.callback_data for row in summary.reply_markup.inline_keyboard for b in row if "提交" in b.text)
    draft = await Submission.get(created_by=USER_ID)
    # two deliveries that both loaded the draft before either was stored (a replayed update)
    settings = chat.settings
    session = await service.load(EXTENSION_SPEC, draft.id, USER_ID, "zh", chat.clock, settings)
    first = await service.submit(EXTENSION_SPEC, session, draft.id, USER_ID, chat.clock, settings)
    again = await service.submit(EXTENSION_SPEC, session, draft.id, USER_ID, chat.clock, settings)
    assert first.reference == "SZYQ-2027-0001" and not first.already
    assert again.already and again.reference == first.reference and again.submitted_at == first.submitted_at
    # the summary's button pressed afterwards submits nothing
    await chat.press_data(submit, message=summary)
    assert await Submission.filter(created_by=USER_ID).count() == 1
    assert await Notice.filter(kind="new_extension_request").count() == 1


@both_databases
async def test_another_station_neither_sees_nor_touches_the_request(chat: Chat) -> None:
    mine = await recognised_station(USER_ID)
    theirs = await recognised_station(OTHER_ID, name="数控技师工作站", uscc="91440300MA5F00010X")
    other = chat.as_user(OTHER_ID, first_name="王五")
    await say(chat, "/extension", "@生产转型")  # a draft of station A's contact
    texts = await say(chat, "/extension", user=other)
    assert not any("已恢复" in t for t in texts) and "第1/4题" in texts[-1]
    await to_summary(chat, "2", user=other)
    receipt_of(chat.texts(await chat.press("提交", user=other)))
    theirs_request = await Submission.get(created_by=OTHER_ID)
    assert theirs_request.station_id == theirs.id and theirs_request.unit_id == theirs.unit_id
    assert theirs_request.uniqueness_key == f"extension:{theirs.id}:2026"
    # A's draft is A's, untouched, and A may still ask (B's request is not A's station's)
    draft = await Submission.get(created_by=USER_ID)
    assert draft.status == SubmissionStatus.DRAFT and draft.answers.get("grounds") == "production_transformation"
    texts = await say(chat, "/extension")
    assert any("已恢复您上次保存的延期备案申请草稿" in t for t in texts)
    assert await Submission.filter(station_id=mine.id).count() == 0
