"""Extension requests (R11) and deregistration requests (R14) decided by staff through the real
Dispatcher: approve with a number of months (the filing obligation's due date moves by them;
more than six, or fewer than asked, only with a reason), refuse with a reason; approve a
deregistration (the station deregistered, its plaque recorded as handed back) or refuse it; stale
buttons answered "already handled"; nobody but staff in."""

from __future__ import annotations

from datetime import date

import pytest
from aiogram.methods import AnswerCallbackQuery

from bot.rules.decisions import extended_due_on, extension_needs_reason, funding_for, may_declare_key_project
from bot.rules.lifecycle import Actor
from chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from handlers.staff.extensions import DecisionAct
from storage.models import (
    AuditLog,
    BotUser,
    Contact,
    FilingObligation,
    FilingState,
    Notice,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)
from storage.transitions import apply_transition

REFUSED = "此功能仅限市人力资源保障局工作人员使用。"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


def staff(chat: Chat):
    return chat.as_user(STAFF_ID)


async def active_station(n: int = 1) -> Station:
    unit = await Unit.create(name=f"深圳精工有限公司{n}", uscc=f"91440300MA5P{n:05d}X", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name=f"精工技师工作站{n}", mode="self", state=StationState.ACTIVE,
                                   recognised_on=date(2023, 5, 1))
    user, _ = await BotUser.get_or_create(id=USER_ID)
    await Contact.create(user=user, station=station, role="contact")
    return station


async def extension_request(months: int = 4, *, year: int = 2025, obligation: bool = True) -> Submission:
    """A submitted extension request. Its contact form is a later issue: the row is what that form's
    submit will store (station, the filing year, the one-in-progress key, the months asked and why);
    the station's filing obligation for the year is due at the end of February (R10)."""
    station = await active_station()
    if obligation:
        filing = await FilingObligation.create(station=station, year=year, due_on=date(year + 1, 2, 28))
        await apply_transition("filing", filing.id, "mark_due", actor_id=None, actor=Actor.SYSTEM, now=NOW,
                               expected_state="not_due")
    return await Submission.create(
        kind=SubmissionKind.EXTENSION, status=SubmissionStatus.SUBMITTED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=year, reference=f"SZYQ-{year}-0001", uniqueness_key=f"extension:{station.id}:{year}",
        submitted_at=NOW, answers={"grounds": "relocation", "months": months, "explanation": "厂区整体搬迁至光明区"},
    )


async def deregistration_request() -> Submission:
    """A submitted deregistration request, as its (later) contact form will store it; the station
    follows the request (request_deregistration)."""
    station = await active_station()
    await apply_transition("station", station.id, "request_deregistration", actor_id=USER_ID, actor=Actor.CONTACT,
                           now=NOW, expected_state="active")
    return await Submission.create(
        kind=SubmissionKind.DEREGISTRATION, status=SubmissionStatus.SUBMITTED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=2026, reference="SZZX-2026-0001", uniqueness_key=f"deregistration:{station.id}",
        submitted_at=NOW, answers={"explanation": "企业转型，不再开展技师工作站工作"},
    )


async def confirm(chat: Chat) -> list[str]:
    assert "确认执行" in chat.buttons(staff(chat))
    return chat.texts(await chat.press("确认执行", user=staff(chat)))


# -- the rules ----------------------------------------------------------------------------------


def test_the_rules_behind_the_decisions() -> None:
    assert extended_due_on(date(2026, 2, 28), 4) == date(2026, 6, 30)
    assert extended_due_on(date(2028, 2, 29), 6) == date(2028, 8, 31)
    assert extended_due_on(date(2026, 2, 28), 12) == date(2027, 2, 28)
    assert extended_due_on(date(2026, 3, 15), 1) == date(2026, 4, 15)
    assert not extension_needs_reason(6, 6) and extension_needs_reason(7, 8) and extension_needs_reason(3, 4)
    assert [funding_for(level) for level in (1, 2, 3)] == [300000, 250000, 200000]
    assert may_declare_key_project(date(2026, 12, 31), 2027) and not may_declare_key_project(date(2027, 1, 1), 2027)


# -- extensions ---------------------------------------------------------------------------------


@both_databases
async def test_approving_an_extension_moves_the_filing_due_date_by_the_months(chat: Chat) -> None:
    request = await extension_request(4)
    await chat.send("/review SZYQ-2025-0001", user=staff(chat))
    assert {"✅ 批准延期备案…", "⛔ 不予批准延期"} <= set(chat.buttons(staff(chat)))
    texts = chat.texts(await chat.press("批准延期", user=staff(chat)))
    assert any("申请 4 个月；现截止日期 2026-02-28" in t for t in texts)
    assert "4 个月（截止 2026-06-30） ← 申请" in chat.buttons(staff(chat))
    texts = chat.texts(await chat.press("4 个月", user=staff(chat)))
    assert any("确认对 SZYQ-2025-0001 执行“批准延期 4 个月，备案截止 2026-06-30”吗？" in t for t in texts)
    texts = await confirm(chat)
    assert any("✅ 已对 SZYQ-2025-0001 执行“批准延期 4 个月，备案截止 2026-06-30”，当前状态：评审通过。已通知申报单位联系人 1 人。"
               in t for t in texts), texts
    after = await Submission.get(id=request.id)
    assert after.status == SubmissionStatus.APPROVED and after.due_on == date(2026, 6, 30)
    filing = await FilingObligation.get(station_id=request.station_id, year=2025)
    assert filing.state == FilingState.EXTENDED and filing.extended_due_on == date(2026, 6, 30)
    assert filing.due_on == date(2026, 2, 28)
    actions = [(r.subject_type, r.action) for r in await StatusTransition.filter(actor_id=STAFF_ID).order_by("id")]
    assert actions == [("submission", "approve"), ("filing", "extend")]
    assert [a.action for a in await AuditLog.filter(actor_id=STAFF_ID).order_by("id")] == [
        "extension.approve", "filing.extend"]
    assert await Notice.filter(recipient_id=USER_ID, kind="status_change", subject=f"submission:{request.id}").exists()


@both_databases
async def test_more_than_six_months_needs_a_reason(chat: Chat) -> None:
    request = await extension_request(9)
    await chat.send("/review SZYQ-2025-0001", user=staff(chat))
    await chat.press("批准延期", user=staff(chat))
    picker = chat.last_with_buttons(staff(chat))
    # a forged confirmation of 8 months without a reason is refused
    forged = DecisionAct(id=request.id, op="xa", months=8, state="submitted", step="y").pack()
    texts = chat.texts(await chat.press_data(forged, user=staff(chat), message=picker))
    assert texts == ["SZYQ-2025-0001：延期超过 6 个月或少于申请月数须填写理由，本次未执行。请重新选择月数并输入理由。"]
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.SUBMITTED
    await chat.press("超过 6 个月", user=staff(chat))
    texts = chat.texts(await chat.press("8 个月", user=staff(chat)))
    assert any("请输入批准 SZYQ-2025-0001 延期 8 个月的理由" in t for t in texts)
    texts = chat.texts(await chat.send("整体搬迁工期经区住建局确认需8个月", user=staff(chat)))
    assert any("说明：整体搬迁工期经区住建局确认需8个月" in t for t in texts)
    await confirm(chat)
    after = await Submission.get(id=request.id)
    assert after.status == SubmissionStatus.APPROVED and after.due_on == date(2026, 10, 31)
    row = await StatusTransition.get(subject_type="submission", subject_id=request.id, action="approve")
    assert row.reason == "整体搬迁工期经区住建局确认需8个月"


async def test_shortening_asks_for_the_reason_and_refusing_frees_the_request(chat: Chat) -> None:
    request = await extension_request(6)
    await chat.send("/review SZYQ-2025-0001", user=staff(chat))
    await chat.press("批准延期", user=staff(chat))
    texts = chat.texts(await chat.press("3 个月", user=staff(chat)))
    assert any("请输入批准 SZYQ-2025-0001 延期 3 个月的理由" in t for t in texts)
    assert chat.texts(await chat.send("/cancel", user=staff(chat))) == ["已取消，未做任何更改。"]
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.SUBMITTED

    await chat.send("/review SZYQ-2025-0001", user=staff(chat))
    item = chat.last_with_buttons(staff(chat))
    texts = chat.texts(await chat.press("不予批准延期", user=staff(chat)))
    assert any("请输入不予批准 SZYQ-2025-0001 延期备案的理由" in t for t in texts)
    await chat.send("搬迁不影响备案材料的准备", user=staff(chat))
    await confirm(chat)
    after = await Submission.get(id=request.id)
    assert after.status == SubmissionStatus.REFUSED and after.uniqueness_key is None
    filing = await FilingObligation.get(station_id=request.station_id, year=2025)
    assert filing.state == FilingState.DUE and filing.extended_due_on is None
    # the approve button of the item shown before: already handled
    texts = chat.texts(await chat.press_data(
        DecisionAct(id=request.id, op="xa", months=0, state="submitted", step="a").pack(), user=staff(chat), message=item))
    assert any("已经被处理过了（当前状态：未获批准）" in t for t in texts)


async def test_an_obligation_not_yet_written_is_written_and_extended(chat: Chat) -> None:
    request = await extension_request(2, obligation=False)
    await chat.send("/review SZYQ-2025-0001", user=staff(chat))
    await chat.press("批准延期", user=staff(chat))
    await chat.press("2 个月", user=staff(chat))
    await confirm(chat)
    filing = await FilingObligation.get(station_id=request.station_id, year=2025)
    assert filing.state == FilingState.EXTENDED and filing.extended_due_on == date(2026, 4, 30)


# -- deregistrations ----------------------------------------------------------------------------


@both_databases
async def test_approving_a_deregistration_deregisters_the_station_and_records_the_plaque(chat: Chat) -> None:
    request = await deregistration_request()
    await chat.send("/review SZZX-2026-0001", user=staff(chat))
    texts = chat.texts(await chat.press("批准注销", user=staff(chat)))
    assert any("确认对 SZZX-2026-0001 执行“批准注销，牌匾交回登记为今日”吗？" in t for t in texts)
    message = chat.last_with_buttons(staff(chat))
    await confirm(chat)
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.APPROVED
    station = await Station.get(id=request.station_id)
    assert station.state == StationState.DEREGISTERED
    assert station.deregistered_on == date(2026, 11, 27) and station.plaque_returned_on == date(2026, 11, 27)
    assert [a.action for a in await AuditLog.filter(actor_id=STAFF_ID).order_by("id")] == [
        "deregistration.approve", "station.deregister"]
    # the confirmation pressed again
    texts = chat.texts(await chat.press_data(
        DecisionAct(id=request.id, op="da", months=0, state="submitted", step="y").pack(), user=staff(chat), message=message))
    assert any("已经被处理过了（当前状态：评审通过）" in t for t in texts)


async def test_refusing_a_deregistration_keeps_the_station_active(chat: Chat) -> None:
    request = await deregistration_request()
    await chat.send("/review SZZX-2026-0001", user=staff(chat))
    await chat.press("不予批准注销", user=staff(chat))
    await chat.send("尚有在站学徒未完成培养", user=staff(chat))
    await confirm(chat)
    after = await Submission.get(id=request.id)
    assert after.status == SubmissionStatus.REFUSED
    assert (await Station.get(id=request.station_id)).state == StationState.ACTIVE
    row = await StatusTransition.get(subject_type="submission", subject_id=request.id, action="refuse")
    assert row.reason == "尚有在站学徒未完成培养"


# -- nobody but staff ---------------------------------------------------------------------------


async def test_nobody_but_staff_decides(chat: Chat) -> None:
    request = await extension_request(4)
    await chat.send("/review SZYQ-2025-0001", user=staff(chat))
    message = chat.last_with_buttons(staff(chat))
    for op, months in (("xa", 0), ("xa", 4), ("xr", 0), ("da", 0), ("dr", 0)):
        for step in ("a", "y"):
            data = DecisionAct(id=request.id, op=op, months=months, state="submitted", step=step).pack()
            calls = await chat.press_data(data, user=chat.user, message=message)
            assert [c.text for c in calls if isinstance(c, AnswerCallbackQuery)] == [REFUSED] and not chat.texts(calls)
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.SUBMITTED


async def _overdue_request(months: int) -> Submission:
    """NOW is 27 November 2026: the 2025 filing was due on 28 February 2026; filing and station overdue."""
    request = await extension_request(months)
    filing = await FilingObligation.get(station_id=request.station_id, year=2025)
    await apply_transition("filing", filing.id, "mark_overdue", actor_id=None, actor=Actor.SYSTEM, now=NOW,
                           expected_state="due")
    await apply_transition("station", request.station_id, "mark_overdue", actor_id=None, actor=Actor.SYSTEM, now=NOW,
                           expected_state="active")
    return request


@pytest.mark.parametrize(("months", "reason", "state"), [
    (6, "", StationState.OVERDUE),  # 31 August 2026 is already past: still overdue
    (12, "疫情停产一年，已提供证明", StationState.ACTIVE),  # 28 February 2027 is ahead: in good standing again
])
async def test_an_overdue_station_is_current_again_only_when_the_extended_date_is_ahead(
    db: str, months: int, reason: str, state: StationState
) -> None:
    from bot.services import extensions

    request = await _overdue_request(months)
    outcome = await extensions.approve_extension(request.id, months, staff_id=STAFF_ID, expected_state="submitted",
                                                 reason=reason, now=NOW, today=date(2026, 11, 27))
    assert outcome.ok, outcome
    assert (await Station.get(id=request.station_id)).state == state
    reinstated = await StatusTransition.filter(subject_type="station", subject_id=request.station_id,
                                               action="reinstate").count()
    assert reinstated == (1 if state == StationState.ACTIVE else 0)


async def test_a_deregistration_the_station_cannot_follow_is_said_so_and_stays_open(chat: Chat) -> None:
    request = await deregistration_request()
    # meanwhile the bureau revoked the station (九): a revoked station cannot be deregistered
    await apply_transition("station", request.station_id, "revoke", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           reason="无法正常经营", expected_state="deregistration_requested")
    await chat.send("/review SZZX-2026-0001", user=staff(chat))
    await chat.press("批准注销", user=staff(chat))
    texts = await confirm(chat)
    assert any("SZZX-2026-0001：工作站当前状态为“已撤销”，不能按此决定变更，本次未执行，申请仍待处理。" in t for t in texts), texts
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.SUBMITTED  # rolled back, still open
    assert (await Station.get(id=request.station_id)).state == StationState.REVOKED


async def test_the_reason_is_taken_even_when_the_queue_screen_was_open(chat: Chat) -> None:
    request = await deregistration_request()
    await chat.send("/pending", user=staff(chat))
    await chat.send("/review SZZX-2026-0001", user=staff(chat))
    await chat.press("不予批准注销", user=staff(chat))
    await chat.send("尚有在站学徒未完成培养", user=staff(chat))
    await confirm(chat)
    assert (await Submission.get(id=request.id)).status == SubmissionStatus.REFUSED
