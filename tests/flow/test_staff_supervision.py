"""Supervision (九, R12, R13) in chat: the revocation candidates on /supervision (the 6-month
boundary, an approved extension), revoking with a ground, a reason and a confirmation (the
contacts told), the records that follow (plaque, recovery, referral, 核查) with their audit rows,
and nobody but staff."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from aiogram.methods import AnswerCallbackQuery

from bot.clock import FixedClock
from bot.services import supervision as service
from chat_harness import STAFF_ID, Chat, make_settings
from conftest import both_databases
from handlers.staff.supervision import SupAct
from storage.models import (
    AuditLog,
    BotUser,
    Contact,
    FilingObligation,
    FilingState,
    Funding,
    Inspection,
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

CONTACT_ID = 5551234
DUE = date(2027, 2, 28)  # the filing for 2026


def at(day: date) -> FixedClock:
    return FixedClock(datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC))  # 09:00 in Shanghai


async def make_station(name: str = "精密模具技师工作站", uscc: str = "91440300MA5F00009X", *,
                       state: StationState = StationState.OVERDUE, filing: FilingState = FilingState.OVERDUE,
                       extended_due_on: date | None = None) -> Station:
    unit = await Unit.create(name=name.replace("技师工作站", "有限公司"), uscc=uscc, unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name=name, mode="self", state=state, recognised_on=date(2025, 6, 1))
    user, _ = await BotUser.get_or_create(id=CONTACT_ID)
    await Contact.create(user=user, station=station, role="applicant")
    await FilingObligation.create(station=station, year=2026, due_on=DUE, state=filing, extended_due_on=extended_due_on)
    return station


@pytest.fixture
def staff() -> object:
    return Chat.as_user(STAFF_ID)


@both_databases
async def test_the_candidate_query_at_the_six_month_boundary(db: str) -> None:
    overdue = await make_station()
    extended = await make_station("精密电子技师工作站", "91440300MA5F00010A", filing=FilingState.EXTENDED,
                                  state=StationState.ACTIVE, extended_due_on=date(2027, 5, 31))
    # an approved extension request (R11) moves the boundary as well
    by_request = await make_station("精密光学技师工作站", "91440300MA5F00011B")
    await Submission.create(kind=SubmissionKind.EXTENSION, status=SubmissionStatus.APPROVED, station=by_request,
                            created_by=CONTACT_ID, year=2026, due_on=date(2027, 4, 30))
    filed = await make_station("精密机械技师工作站", "91440300MA5F00012C", filing=FilingState.FILED_LATE,
                               state=StationState.ACTIVE)

    assert await service.candidates(date(2027, 8, 28)) == []  # exactly 6 months
    [one] = await service.candidates(date(2027, 8, 29))  # one day more
    assert (one.station_id, one.years, one.due_on, one.candidate_since) == (overdue.id, (2026,), DUE, date(2027, 8, 29))
    assert [c.station_id for c in await service.candidates(date(2027, 10, 30))] == [overdue.id]
    found = await service.candidates(date(2027, 10, 31))
    assert [c.station_id for c in found] == [overdue.id, by_request.id]
    assert found[1].extended and found[1].due_on == date(2027, 4, 30)
    ids = [c.station_id for c in await service.candidates(date(2027, 12, 1))]
    assert ids == [overdue.id, by_request.id, extended.id] and filed.id not in ids
    # a revoked station is no longer a candidate
    await Station.filter(id=overdue.id).update(state=StationState.REVOKED)
    assert overdue.id not in [c.station_id for c in await service.candidates(date(2027, 12, 1))]


async def test_supervision_lists_the_candidates_from_the_day_after_six_months(db: str, staff: object) -> None:
    station = await make_station()
    chat = Chat(make_settings(db), clock=at(date(2027, 8, 28)))
    assert chat.texts(await chat.send("/supervision", user=staff)) == ["截至 2027-08-28，没有逾期未备案超过6个月的工作站。"]
    chat.clock.set(datetime(2027, 8, 29, 1, 0, tzinfo=UTC))
    [listing] = chat.texts(await chat.send("/supervision", user=staff))
    assert "共 1 个" in listing
    assert f"• 精密模具技师工作站（工作站ID {station.id}，年度备案逾期）：2026年度未备案，应于 2027-02-28前备案，自 2027-08-29 起列入" in listing
    [card] = chat.texts(await chat.press("精密模具", user=staff))
    assert "⚠️ 待撤销：2026年度未备案" in card and "牌匾交回：—" in card
    # /pending counts the candidates among the queues and names the command that lists them
    pending = chat.texts(await chat.send("/pending", user=staff))
    assert any("· 撤销候选工作站（备案逾期超过6个月）（1）：发送 /supervision" in t for t in pending)


async def test_revoke_with_ground_reason_and_confirmation_tells_the_contacts(db: str, staff: object) -> None:
    station = await make_station()
    chat = Chat(make_settings(db), clock=at(date(2027, 9, 1)))
    await chat.send(f"/supervision {station.id}", user=staff)
    await chat.press("撤销工作站", user=staff)
    assert chat.buttons(staff)[:5] == ["无正当理由逾期未备案6个月以上", "核查发现未能履行职责", "核查发现弄虚作假",
                                       "存在违法违规情形", "无法正常经营"]
    [ask] = chat.texts(await chat.press("无正当理由", user=staff))
    assert ask.startswith("撤销情形：无正当理由逾期未备案6个月以上。请发送撤销理由")
    [confirm] = chat.texts(await chat.send("2026年度备案逾期6个月以上，经催告仍未备案", user=staff))
    assert "确认撤销工作站" in confirm
    # nothing happens before the confirmation
    assert (await Station.get(id=station.id)).state == StationState.OVERDUE
    texts = chat.texts(await chat.press("确认撤销", user=staff))
    assert texts[0] == f"✅ 工作站（ID {station.id}）已撤销；已通知 1 位联系人。请在交回牌匾后记录。"
    row = await Station.get(id=station.id)
    assert (row.state, row.revoked_on, row.revocation_reason) == (StationState.REVOKED, date(2027, 9, 1), "no_filing")
    transition = await StatusTransition.get(subject_type="station", subject_id=station.id, action="revoke")
    assert transition.actor_id == STAFF_ID and transition.reason.startswith("无正当理由逾期未备案6个月以上：")
    assert await AuditLog.filter(action="station.revoke", subject_id=station.id, actor_id=STAFF_ID).exists()
    [notice] = await Notice.filter(recipient_id=CONTACT_ID, kind="status_change")
    assert notice.params["status_key"] == "station_state.revoked" and "经催告仍未备案" in notice.params["reason"]
    # pressing the confirmation again does nothing more
    assert chat.texts(await chat.press_data(
        chat.last_with_buttons(staff).reply_markup.inline_keyboard[0][0].callback_data, staff  # type: ignore[union-attr]
    ))
    assert await StatusTransition.filter(subject_type="station", subject_id=station.id).count() == 1


async def test_cancel_keeps_the_station(db: str, staff: object) -> None:
    station = await make_station(state=StationState.ACTIVE)
    chat = Chat(make_settings(db), clock=at(date(2027, 9, 1)))
    await chat.send(f"/supervision {station.id}", user=staff)
    await chat.press("撤销工作站", user=staff)
    await chat.press("核查发现弄虚作假", user=staff)
    assert chat.texts(await chat.send("/cancel", user=staff)) == ["已取消，未作任何记录。"]
    assert (await Station.get(id=station.id)).state == StationState.ACTIVE
    assert not await StatusTransition.filter(subject_type="station").exists()


async def test_plaque_funding_referral_and_inspection_are_recorded_with_audit_rows(db: str, staff: object) -> None:
    station = await make_station()
    project = await Submission.create(kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.FUNDED,
                                      station=station, created_by=CONTACT_ID, year=2026, level=1)
    funding = await Funding.create(submission=project, station=station, level=1, amount=Decimal("300000"),
                                   paid_on=date(2026, 12, 1), recorded_by=STAFF_ID)
    chat = Chat(make_settings(db), clock=at(date(2027, 9, 1)))

    # 核查 first: a finding with its date
    await chat.send(f"/supervision {station.id}", user=staff)
    await chat.press("记录核查", user=staff)
    assert chat.texts(await chat.send("2027-08-20 资助经费挪作他用，台账造假", user=staff)) == [
        f"✅ 已记录对工作站（ID {station.id}）的核查。"]
    inspection = await Inspection.get(station_id=station.id)
    assert (inspection.inspected_on, inspection.finding, inspection.inspected_by) == (
        date(2027, 8, 20), "资助经费挪作他用，台账造假", STAFF_ID)
    assert await AuditLog.filter(action="station.inspection", subject_id=inspection.id, actor_id=STAFF_ID).exists()

    # the plaque cannot come back before the station is revoked
    await chat.send(f"/supervision {station.id}", user=staff)
    assert "记录牌匾已交回" not in chat.buttons(staff)
    await chat.press("撤销工作站", user=staff)
    await chat.press("弄虚作假", user=staff)
    await chat.send("核查发现台账造假", user=staff)
    texts = chat.texts(await chat.press("确认撤销", user=staff))
    assert "2027-08-20：资助经费挪作他用，台账造假" in texts[1] and "撤销情形：核查发现弄虚作假" in texts[1]

    # funding to recover, then recovered
    await chat.press(f"资助 {funding.id}：要求追回", user=staff)
    assert chat.texts(await chat.send("三十万", user=staff))[0].startswith("请按“金额 原因”发送")
    assert chat.texts(await chat.send("400000 超额", user=staff)) == ["追回金额须大于0且不超过资助金额。"]
    await chat.send(f"/supervision {station.id}", user=staff)
    await chat.press(f"资助 {funding.id}：要求追回", user=staff)
    assert chat.texts(await chat.send("300000 核查发现弄虚作假", user=staff)) == [f"✅ 已记录资助 {funding.id} 的追回要求。"]
    row = await Funding.get(id=funding.id)
    assert (row.recovery_required, row.recovery_amount, row.recovery_reason) == (True, Decimal("300000"), "核查发现弄虚作假")

    await chat.send(f"/supervision {station.id}", user=staff)
    for button, done in (("记录牌匾已交回", f"✅ 已记录工作站（ID {station.id}）的牌匾交回。"),
                         ("记录移送司法机关", f"✅ 已记录工作站（ID {station.id}）移送司法机关。"),
                         (f"资助 {funding.id}：记录已追回", f"✅ 已记录资助 {funding.id} 已追回。")):
        await chat.send(f"/supervision {station.id}", user=staff)
        await chat.press(button, user=staff)
        assert chat.texts(await chat.press("确认记录", user=staff)) == [done]
    row = await Station.get(id=station.id)
    assert (row.plaque_returned_on, row.judicial_referral_on) == (date(2027, 9, 1), date(2027, 9, 1))
    assert (await Funding.get(id=funding.id)).recovered_on == date(2027, 9, 1)
    actions = set(await AuditLog.filter(actor_id=STAFF_ID).values_list("action", flat=True))
    assert {"station.plaque_returned", "station.judicial_referral", "funding.require_recovery", "funding.recovered",
            "station.inspection", "station.revoke"} <= actions
    [card] = chat.texts(await chat.send(f"/supervision {station.id}", user=staff))
    assert "牌匾交回：2027-09-01" in card and "移送司法机关：2027-09-01" in card
    assert "应追回 300,000.00 元（核查发现弄虚作假），追回于 2027-09-01" in card
    # a second record of the same is refused
    assert chat.buttons(staff) == ["记录核查"]


async def test_supervision_is_refused_to_anyone_but_staff(db: str, staff: object) -> None:
    station = await make_station()
    chat = Chat(make_settings(db), clock=at(date(2027, 9, 1)))
    contact = Chat.as_user(CONTACT_ID)
    for text in ("/supervision", f"/supervision {station.id}"):
        assert chat.texts(await chat.send(text, user=contact)) == ["此功能仅限市人力资源保障局工作人员使用。"]
    # a staff button pressed (or forged) by someone else is refused and changes nothing
    await chat.send(f"/supervision {station.id}", user=staff)
    card = chat.last_with_buttons(staff)
    forged = SupAct(action="confirm_revoke", id=station.id, ground="fraud", state="overdue", ok=1).pack()
    for data in (card.reply_markup.inline_keyboard[0][0].callback_data, forged):  # type: ignore[union-attr]
        calls = await chat.press_data(data or "", user=contact, message=card)
        [answer] = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
        assert answer.text == "此功能仅限市人力资源保障局工作人员使用。" and answer.show_alert
    assert (await Station.get(id=station.id)).state == StationState.OVERDUE
    assert not await AuditLog.exists()
