"""Key projects on the bureau's side (R7–R9) through the real Dispatcher: the application window
opened (eligible stations' contacts told) and closed, grading from the item view up to R8's caps
(ten a level, thirty a year; refused past them with the counts, also when two staff grade the last
place at once), funding recorded at the level's amount, and nobody but staff in."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from aiogram.methods import AnswerCallbackQuery

from bot.rules.lifecycle import Actor
from bot.services.key_projects import accepts_applications
from chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from handlers.staff.key_projects import KeyProjectAct, WindowAct
from storage.key_projects import grade_counts
from storage.models import (
    AuditLog,
    BotUser,
    Contact,
    Funding,
    KeyProjectWindow,
    Notice,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)
from storage.transitions import apply_transition

STAFF_2 = 5559002
REFUSED = "此功能仅限市人力资源保障局工作人员使用。"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db, staff_ids=frozenset({STAFF_ID, STAFF_2})))


def staff(chat: Chat, user_id: int = STAFF_ID):
    return chat.as_user(user_id)


async def station(n: int, *, contact: int | None = None, state: StationState = StationState.ACTIVE,
                  recognised_on: date | None = date(2024, 6, 1)) -> Station:
    unit = await Unit.create(name=f"深圳智造有限公司{n}", uscc=f"91440300MA5K{n:05d}X", unit_type=UnitType.ENTERPRISE)
    found = await Station.create(unit=unit, name=f"智造技师工作站{n}", mode="self", state=state, recognised_on=recognised_on)
    if contact is not None:
        user, _ = await BotUser.get_or_create(id=contact)
        await Contact.create(user=user, station=found, role="contact")
    return found


async def key_project(n: int, *, year: int = 2026, contact: int | None = None) -> Submission:
    """A key-project application under review. Its contact form is a later issue: the row is what
    that form's submit will store (kind, station, unit, year, reference, the one-a-year key, answers),
    then taken into review by staff through the life cycle."""
    where = await station(n, contact=contact)
    project = await Submission.create(
        kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.SUBMITTED, station=where, unit_id=where.unit_id,
        created_by=contact or 7700000 + n, year=year, reference=f"SZZD-{year}-{n:04d}",
        uniqueness_key=f"key_project:{where.id}:{year}", submitted_at=NOW,
        answers={"category": "技术攻关", "goal": "攻克精密模具寿命难题"},
    )
    await apply_transition("submission", project.id, "accept_for_review", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           expected_state="submitted")
    return project


async def graded(n: int, level: int, year: int = 2026) -> Submission:
    project = await key_project(n, year=year)
    await apply_transition("submission", project.id, "grade", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           changes={"level": level}, expected_state="under_review")
    return project


async def grade_in_chat(chat: Chat, reference: str, level: str, user_id: int = STAFF_ID) -> list[str]:
    user = staff(chat, user_id)
    await chat.send(f"/review {reference}", user=user)
    seen = chat.texts(await chat.press(f"定为{level}", user=user))
    return seen + chat.texts(await chat.press("确认执行", user=user))


# -- grading and R8's caps ------------------------------------------------------------------------


@both_databases
async def test_the_tenth_of_a_level_is_graded_and_the_eleventh_refused_with_the_counts(chat: Chat) -> None:
    for n in range(1, 10):
        await graded(n, 1)
    tenth = await key_project(10, contact=USER_ID)
    await chat.send("/review SZZD-2026-0010", user=staff(chat))
    assert [b for b in chat.buttons(staff(chat)) if "定为" in b] == [
        "🏅 定为一级（资助 300,000 元）", "🏅 定为二级（资助 250,000 元）", "🏅 定为三级（资助 200,000 元）"]
    seen = await grade_in_chat(chat, "SZZD-2026-0010", "一级")
    assert any("确认将 SZZD-2026-0010 定为2026年度一级重点建设项目（资助 300,000 元）吗？" in s
               and "一级 9/10" in s for s in seen)
    assert any("✅ 已将 SZZD-2026-0010 定为一级（资助 300,000 元）。已通知申报单位联系人 1 人。" in s
               and "一级 10/10，二级 0/10，三级 0/10，全年合计 10/30" in s for s in seen)
    after = await Submission.get(id=tenth.id)
    assert after.status == SubmissionStatus.GRADED and after.level == 1
    assert await AuditLog.filter(action="key_project.grade", subject_id=tenth.id, actor_id=STAFF_ID).exists()

    eleventh = await key_project(11)
    seen = await grade_in_chat(chat, "SZZD-2026-0011", "一级")
    assert any("⛔ 不能将 SZZD-2026-0011 定为一级：2026年度一级名额已满，未做任何更改。" in s
               and "一级 10/10，二级 0/10，三级 0/10，全年合计 10/30" in s for s in seen)
    assert (await Submission.get(id=eleventh.id)).status == SubmissionStatus.UNDER_REVIEW
    # another level still has places
    seen = await grade_in_chat(chat, "SZZD-2026-0011", "二级")
    assert (await Submission.get(id=eleventh.id)).level == 2


@both_databases
async def test_the_thirty_first_of_a_year_is_refused(chat: Chat) -> None:
    n = 0
    for level in (1, 2, 3):
        for _ in range(10):
            n += 1
            await graded(n, level)
    assert await grade_counts(2026) == {1: 10, 2: 10, 3: 10}
    await key_project(31)
    for level in ("一级", "二级", "三级"):
        seen = await grade_in_chat(chat, "SZZD-2026-0031", level)
        assert any(f"{level}名额已满" in s and "全年合计 30/30" in s for s in seen), seen
    assert (await Submission.get(reference="SZZD-2026-0031")).status == SubmissionStatus.UNDER_REVIEW
    # another year has its own places
    await key_project(32, year=2027)
    await grade_in_chat(chat, "SZZD-2027-0032", "一级")
    assert (await Submission.get(reference="SZZD-2027-0032")).status == SubmissionStatus.GRADED


@both_databases
async def test_two_staff_grading_the_last_place_at_once_one_wins(chat: Chat) -> None:
    for n in range(1, 10):
        await graded(n, 3)
    a, b = await key_project(41), await key_project(42)
    for user_id, reference in ((STAFF_ID, "SZZD-2026-0041"), (STAFF_2, "SZZD-2026-0042")):
        await chat.send(f"/review {reference}", user=staff(chat, user_id))
        await chat.press("定为三级", user=staff(chat, user_id))
    mark = chat.mark()
    await asyncio.gather(chat.press("确认执行", user=staff(chat, STAFF_ID)),
                         chat.press("确认执行", user=staff(chat, STAFF_2)))
    texts = chat.texts(chat.api.calls[mark:])
    assert sum("✅ 已将" in t for t in texts) == 1
    assert sum("三级名额已满" in t and "三级 10/10" in t for t in texts) == 1
    statuses = sorted([(await Submission.get(id=a.id)).status, (await Submission.get(id=b.id)).status])
    assert statuses == sorted([SubmissionStatus.GRADED, SubmissionStatus.UNDER_REVIEW])
    assert (await grade_counts(2026))[3] == 10


async def test_a_replayed_grade_button_is_answered_already_handled(chat: Chat) -> None:
    project = await key_project(51)
    await chat.send("/review SZZD-2026-0051", user=staff(chat))
    await chat.press("定为二级", user=staff(chat))
    message = chat.last_with_buttons(staff(chat))
    await chat.press("确认执行", user=staff(chat))
    confirm = KeyProjectAct(id=project.id, op="g", level=1, state="under_review", step="y").pack()
    texts = chat.texts(await chat.press_data(confirm, user=staff(chat), message=message))
    assert any("已经被处理过了（当前状态：已定级）" in t for t in texts)
    assert (await Submission.get(id=project.id)).level == 2 and (await grade_counts(2026))[1] == 0


# -- funding ------------------------------------------------------------------------------------


@both_databases
async def test_funding_is_recorded_at_the_levels_amount_once(chat: Chat) -> None:
    project = await key_project(61, contact=USER_ID)
    await apply_transition("submission", project.id, "grade", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           changes={"level": 2}, expected_state="under_review")
    await chat.send("/review SZZD-2026-0061", user=staff(chat))
    assert not [b for b in chat.buttons(staff(chat)) if "拨付" in b]  # not before the 公示 ended in funding
    for action, state in (("announce", "graded"), ("fund", "announced")):
        await apply_transition("submission", project.id, action, actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                               expected_state=state)
    await chat.send("/review SZZD-2026-0061", user=staff(chat))
    seen = chat.texts(await chat.press("登记资助已拨付", user=staff(chat)))
    assert any("确认登记 SZZD-2026-0061（二级）的资助 250,000 元已于 2026-11-27 拨付吗？" in s for s in seen)
    message = chat.last_with_buttons(staff(chat))
    seen = chat.texts(await chat.press("确认执行", user=staff(chat)))
    assert any("✅ 已登记 SZZD-2026-0061（二级）资助 250,000 元，拨付日期 2026-11-27。已通知申报单位联系人 1 人。" in s for s in seen)
    funding = await Funding.get(submission_id=project.id)
    assert (funding.level, funding.amount, funding.paid_on, funding.recorded_by) == (
        2, Decimal("250000.00"), date(2026, 11, 27), STAFF_ID)
    assert await AuditLog.filter(action="key_project.record_payment", subject_id=project.id).count() == 1
    notice = await Notice.get(recipient_id=USER_ID, period="paid")
    assert notice.text_key == "decision_notice.funding_paid"
    # the same button again: recorded once
    again = KeyProjectAct(id=project.id, op="pay", level=0, state="funded", step="y").pack()
    texts = chat.texts(await chat.press_data(again, user=staff(chat), message=message))
    assert any("的资助已经登记过了（250,000 元，2026-11-27）" in t for t in texts)
    assert await Funding.filter(submission_id=project.id).count() == 1


# -- the application window ----------------------------------------------------------------------


async def test_opening_the_window_tells_eligible_stations_and_closing_it_stops_applications(chat: Chat) -> None:
    await station(1, contact=6101)  # recognised 2024: may declare for 2027
    await station(2, contact=6102, recognised_on=date(2027, 1, 10))  # recognised in 2027: not for 2027 (R7)
    await station(3, contact=6103, state=StationState.DEREGISTERED)
    await station(4, contact=6104, state=StationState.APPLYING, recognised_on=None)

    texts = chat.texts(await chat.send("/kpwindow", user=staff(chat)))
    assert "尚未开放过申报窗口" in texts[0] and "/kpwindow open 2027" in texts[0]
    texts = chat.texts(await chat.send("/kpwindow open 2027 2027-03-01 2027-02-01", user=staff(chat)))
    assert texts[0].startswith("日期有误")
    texts = chat.texts(await chat.send("/kpwindow open 2027 2027-03-01 2027-04-30", user=staff(chat)))
    assert "确认开放2027年度重点建设项目申报窗口（2027-03-01 至 2027-04-30）吗？" in texts[0]
    message = chat.last_with_buttons(staff(chat))
    texts = chat.texts(await chat.press("确认执行", user=staff(chat)))
    assert texts == ["✅ 已开放2027年度重点建设项目申报窗口（2027-03-01 至 2027-04-30），已通知联系人 1 人。"]
    [notice] = await Notice.filter(kind="key_project_window_open")
    assert notice.recipient_id == 6101 and notice.params["closes_on"] == "2027-04-30"
    assert await accepts_applications(2027, date(2027, 3, 15))
    assert not await accepts_applications(2027, date(2027, 5, 1))
    # the same confirmation again: already open, nobody told twice
    again = WindowAct(op="open", year=2027, opens="20270301", closes="20270430", step="y").pack()
    texts = chat.texts(await chat.press_data(again, user=staff(chat), message=message))
    assert texts == ["2027年度的申报窗口已经开放，本次未做更改。"]

    await chat.send("/kpwindow close 2027", user=staff(chat))
    texts = chat.texts(await chat.press("确认执行", user=staff(chat)))
    assert texts == ["✅ 已关闭2027年度重点建设项目申报窗口（原定 2027-03-01 至 2027-04-30）。"]
    assert (await KeyProjectWindow.get(year=2027)).closed_at is not None
    assert not await accepts_applications(2027, date(2027, 3, 15))  # closed: an application is refused
    await chat.send("/kpwindow close 2027", user=staff(chat))
    texts = chat.texts(await chat.press("确认执行", user=staff(chat)))
    assert texts == ["2027年度没有开放中的申报窗口，本次未做更改。"]
    assert [a.action for a in await AuditLog.filter(subject_type="kp_window").order_by("id")] == [
        "key_project_window.open", "key_project_window.close"]
    assert "2027年度：2027-03-01 至 2027-04-30，已关闭" in chat.texts(await chat.send("/kpwindow", user=staff(chat)))[0]


# -- nobody but staff -----------------------------------------------------------------------------


async def test_nobody_but_staff_opens_windows_grades_or_records_funding(chat: Chat) -> None:
    project = await key_project(71, contact=USER_ID)
    assert chat.texts(await chat.send("/kpwindow open 2027 2027-03-01 2027-04-30")) == [REFUSED]
    await chat.send("/kpwindow open 2027 2027-03-01 2027-04-30", user=staff(chat))
    message = chat.last_with_buttons(staff(chat))
    for data in (
        WindowAct(op="open", year=2027, opens="20270301", closes="20270430", step="y").pack(),
        WindowAct(op="close", year=2027, opens="", closes="", step="y").pack(),
        KeyProjectAct(id=project.id, op="g", level=1, state="under_review", step="a").pack(),
        KeyProjectAct(id=project.id, op="g", level=1, state="under_review", step="y").pack(),
        KeyProjectAct(id=project.id, op="pay", level=0, state="funded", step="y").pack(),
    ):
        calls = await chat.press_data(data, user=chat.user, message=message)
        assert [c.text for c in calls if isinstance(c, AnswerCallbackQuery)] == [REFUSED] and not chat.texts(calls)
    assert not await KeyProjectWindow.exists()
    assert (await Submission.get(id=project.id)).status == SubmissionStatus.UNDER_REVIEW
