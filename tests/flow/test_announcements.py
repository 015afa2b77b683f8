"""公示 and 异议 (R6, R19) through the real Dispatcher: staff publish a batch, anyone reads it and
objects while it is open, staff decide, and an ended 公示 with nothing pending recognises its
declarations (授牌: the station becomes active)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import AnswerCallbackQuery

from bot.clock import FixedClock
from bot.rules.lifecycle import STAMPED_FORM, Actor
from bot.services.announcements import close_due_announcements
from chat_harness import STAFF_ID, Chat, make_settings
from conftest import both_databases
from scheduler.sender import OutboxSender
from storage.models import (
    Announcement,
    AnnouncementState,
    Document,
    HolidayArrangement,
    Notice,
    Objection,
    ObjectionStatus,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionStatus,
)
from storage.transitions import apply_transition
from test_stamped_form import declared

SHANGHAI = ZoneInfo("Asia/Shanghai")
APPLICANT = 5550001
OBJECTOR = 7301
REFUSED = "此功能仅限市人力资源保障局工作人员使用。"


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db), clock=FixedClock(at(date(2026, 2, 12))))  # Thursday before 春节


async def passed_review(user_id: int = APPLICANT, n: int = 7) -> Submission:
    """A declaration the experts passed (the review UI is another module's: straight through the writer)."""
    submission = await declared(user_id, n=n)
    await Document.create(submission_id=submission.id, station_id=submission.station_id, kind=STAMPED_FORM,
                          file_id=f"f{n}", file_unique_id=f"u{n}", uploaded_by=user_id)
    now = at(date(2026, 2, 10))
    for action in ("accept_for_review", "record_review_pass"):
        await apply_transition("submission", submission.id, action, actor_id=STAFF_ID, actor=Actor.STAFF, now=now)
    return await Submission.get(id=submission.id)


async def publish(chat: Chat, start: str = "") -> list[str]:
    staff = chat.as_user(STAFF_ID)
    preview = chat.texts(await chat.send(f"/announce {start}".strip(), user=staff))
    calls = await chat.press("发布公示", user=staff)
    return preview + chat.texts(calls)


async def status_of(submission: Submission) -> SubmissionStatus:
    return SubmissionStatus((await Submission.get(id=submission.id)).status)


async def sent_to(chat: Chat, user_id: int) -> list[str]:
    mark = chat.mark()
    await OutboxSender(chat.bot).send_due(chat.clock.now())
    return [t for c in chat.api.calls[mark:] if getattr(c, "chat_id", None) == user_id for t in chat.texts([c])]


async def object_to(chat: Chat, item_id: int, text: str, *, evidence: bytes | None = None) -> list[str]:
    user = chat.as_user(OBJECTOR, first_name="李四")
    await chat.send("/objection", user=user)
    await chat.press(f"{item_id}.", user=user)
    await chat.send(text, user=user)
    if evidence is None:
        return chat.texts(await chat.press("不附证明材料", user=user))
    return chat.texts(await chat.send_document(evidence, "证明.pdf", user=user))


# -- publication and the close ----------------------------------------------------------------------


@both_databases
async def test_an_unopposed_announcement_across_the_spring_festival_ends_in_recognition(chat: Chat) -> None:
    submission = await passed_review()
    texts = await publish(chat)
    # Thu 12, Fri 13, Sat 14 (make-up working day), the holiday 15–23, Tue 24, Wed 25
    assert "公示期：2026-02-12 至 2026-02-25，共5个工作日（节假日顺延，调休上班日计入）" in texts[0]
    assert "SZJS-2026-0007 精密模具技师工作站7（深圳精密制造有限公司7）" in texts[0]
    assert not any("仅按周末" in t for t in texts)
    assert texts[-1].startswith("✅ 已发布公示（第") and "共1项" in texts[-1]
    assert await status_of(submission) == SubmissionStatus.ANNOUNCED
    announcement = await Announcement.get()
    assert (announcement.starts_on, announcement.ends_on) == (date(2026, 2, 12), date(2026, 2, 25))
    assert announcement.state == AnnouncementState.OPEN
    # the applicant is told; anyone reads it
    assert any("SZJS-2026-0007：公示中" in t for t in await sent_to(chat, APPLICANT))
    listing = chat.texts(await chat.send("/announcements", user=chat.as_user(OBJECTOR)))[0]
    assert f"2026年深圳市技师工作站认定结果公示（第{announcement.id}号）" in listing
    assert "公示期：2026-02-12 至 2026-02-25" in listing and "精密模具技师工作站7（深圳精密制造有限公司7）" in listing

    # on its last day nothing moves; the day after, the tick recognises it, once
    chat.clock.set(at(date(2026, 2, 25), 23))
    assert await close_due_announcements(chat.clock.now(), chat.settings) == []
    chat.clock.set(at(date(2026, 2, 26)))
    [closed] = await close_due_announcements(chat.clock.now(), chat.settings)
    assert closed.problem is None and closed.moved_on == ("SZJS-2026-0007",)
    assert await status_of(submission) == SubmissionStatus.RECOGNISED
    station = await Station.get(id=submission.station_id)
    assert station.state == StationState.ACTIVE and station.recognised_on == date(2026, 2, 26)
    assert (await Announcement.get(id=announcement.id)).state == AnnouncementState.CLOSED
    transitions = await StatusTransition.all().count()
    assert await close_due_announcements(chat.clock.now(), chat.settings) == []  # idempotent
    assert await StatusTransition.all().count() == transitions
    status = chat.texts(await chat.send("/status"))[0]
    assert "状态：在册运行" in status and "授牌日期：2026-02-26" in status
    assert "设立申报 SZJS-2026-0007：已授牌" in status


# -- objections ------------------------------------------------------------------------------------------


async def test_an_objection_after_the_end_is_refused_with_the_end_date(chat: Chat) -> None:
    submission = await passed_review()
    await publish(chat)
    item_id = (await Announcement.get().prefetch_related("items")).items[0].id
    user = chat.as_user(OBJECTOR)
    await chat.send("/objection", user=user)
    await chat.press(f"{item_id}.", user=user)
    chat.clock.set(at(date(2026, 2, 26)))  # the window closed while they were writing
    await chat.send("材料不实", user=user)
    texts = chat.texts(await chat.press("不附证明材料", user=user))
    assert texts == ["该公示已于 2026-02-25 结束，不再受理异议。"]
    assert not await Objection.exists()
    assert await status_of(submission) == SubmissionStatus.ANNOUNCED
    # and a fresh /objection names the item's end too
    assert chat.texts(await chat.send(f"/objection {item_id}", user=user)) == ["该公示已于 2026-02-25 结束，不再受理异议。"]
    assert chat.texts(await chat.send("/announcements", user=user)) == ["目前没有正在公示的名单。"]


@both_databases
async def test_a_founded_objection_rejects_the_item(chat: Chat) -> None:
    submission = await passed_review()
    await publish(chat)
    item_id = (await Announcement.get().prefetch_related("items")).items[0].id
    texts = await object_to(chat, item_id, "该单位指导教师证书系伪造，电话13800000000", evidence=b"%PDF scan")
    assert texts[-1].startswith("✅ 已收到您的异议（编号")
    objection = await Objection.get()
    assert objection.filed_by == OBJECTOR and objection.evidence_file_id and objection.status == ObjectionStatus.PENDING
    assert await status_of(submission) == SubmissionStatus.OBJECTION
    staff_notice = await sent_to(chat, STAFF_ID)
    assert any(t.startswith(f"⚠️ 新的公示异议（编号 {objection.id}）：SZJS-2026-0007") and "附证明材料" in t
               for t in staff_notice)

    staff = chat.as_user(STAFF_ID)
    # /pending counts it among the queues and names the command that opens it
    pending = chat.texts(await chat.send("/pending", user=staff))
    assert any("· 待处理的公示异议（1）：发送 /objections" in t for t in pending)
    listed = chat.texts(await chat.send("/objections", user=staff))
    assert any("该单位指导教师证书系伪造" in t for t in listed)
    texts = chat.texts(await chat.press("异议成立", user=staff))
    assert texts == [f"✅ 异议 {objection.id} 成立：SZJS-2026-0007 精密模具技师工作站7 不予认定；异议人与申报单位已收到通知。"]
    assert await status_of(submission) == SubmissionStatus.OBJECTION_UPHELD
    upheld = await StatusTransition.filter(subject_type="submission", action="uphold_objection").get()
    assert "伪造" in upheld.reason and upheld.actor_id == STAFF_ID
    assert (await Station.get(id=submission.station_id)).state == StationState.NOT_ESTABLISHED
    assert (await Objection.get()).status == ObjectionStatus.UPHELD
    assert any("异议经核实成立" in t for t in await sent_to(chat, OBJECTOR))
    # a second press is told it was decided
    assert chat.texts(await chat.press("异议成立", user=staff)) == ["该异议已处理（可能已由他人处理）。"]

    chat.clock.set(at(date(2026, 2, 26)))
    [closed] = await close_due_announcements(chat.clock.now(), chat.settings)
    assert closed.problem is None and closed.moved_on == ()
    assert await status_of(submission) == SubmissionStatus.OBJECTION_UPHELD


async def test_an_unfounded_objection_lets_the_item_be_recognised_and_staff_may_close_now(chat: Chat) -> None:
    submission = await passed_review()
    await publish(chat)
    item_id = (await Announcement.get().prefetch_related("items")).items[0].id
    await object_to(chat, item_id, "怀疑场地不符合要求")
    staff = chat.as_user(STAFF_ID)

    # ended with the objection pending: nothing moves, and staff are told why
    chat.clock.set(at(date(2026, 2, 26)))
    [waiting] = await close_due_announcements(chat.clock.now(), chat.settings)
    assert waiting.problem == "pending" and waiting.pending == 1
    texts = chat.texts(await chat.send("/announce", user=staff))
    assert "目前没有待公示的项目。" in texts[0] and any("公示期已结束" in t for t in texts)
    assert any("尚有 1 件异议未处理" in t for t in chat.texts(await chat.press("结束公示", user=staff)))

    await chat.send("/objections", user=staff)
    texts = chat.texts(await chat.press("异议不成立", user=staff))
    assert texts[0].startswith("✅ 异议") and "继续办理" in texts[0]
    assert await status_of(submission) == SubmissionStatus.OBJECTION_DISMISSED
    assert any("异议经核实不成立" in t for t in await sent_to(chat, OBJECTOR))

    await chat.send("/announce", user=staff)
    texts = chat.texts(await chat.press("结束公示", user=staff))
    assert texts == [f"✅ 公示（第{waiting.announcement_id}号）已结束：1项予以认定/资助：SZJS-2026-0007。"]
    assert await status_of(submission) == SubmissionStatus.RECOGNISED
    station = await Station.get(id=submission.station_id)
    assert station.state == StationState.ACTIVE and station.recognised_on == date(2026, 2, 26)
    assert await close_due_announcements(chat.clock.now(), chat.settings) == []
    assert "状态：在册运行" in chat.texts(await chat.send("/status"))[0]


# -- a year the holiday library does not know ----------------------------------------------------------


async def test_new_year_in_an_unknown_year_counts_weekends_until_staff_enter_the_holidays(chat: Chat) -> None:
    chat.clock.set(at(date(2026, 12, 30)))  # a Wednesday; 2027 is not in the library
    await passed_review()
    staff = chat.as_user(STAFF_ID)
    preview = chat.texts(await chat.send("/announce", user=staff))[0]
    assert "公示期：2026-12-30 至 2027-01-05" in preview
    assert "⚠️ 尚未录入2027年的法定节假日安排，2027年的日期仅按周末计算。请发送 /holidays 2027 录入国务院公布的安排。" in preview

    assert "尚未内置" in chat.texts(await chat.send("/holidays 2027", user=staff))[0]
    bad = chat.texts(await chat.send("/holidays 2027\n班 2027-01-04", user=staff))
    assert bad == ["2027-01-04 是工作日，调休上班日应为周六或周日。"]
    saved = chat.texts(await chat.send("/holidays 2027\n休 2027-01-01~2027-01-03", user=staff))
    assert saved == ["✅ 已保存2027年的节假日安排：放假3天，调休上班0天。此后发布的公示按此计算。"]
    assert await HolidayArrangement.filter(is_workday=False).count() == 3

    texts = await publish(chat)
    assert "公示期：2026-12-30 至 2027-01-06" in texts[0] and not any("仅按周末" in t for t in texts)
    assert (await Announcement.get()).ends_on == date(2027, 1, 6)


async def test_calendar_days_by_configuration(db: str) -> None:
    chat = Chat(make_settings(db, announcement_calendar_days=True), clock=FixedClock(at(date(2026, 2, 12))))
    await passed_review()
    texts = await publish(chat)
    assert "公示期：2026-02-12 至 2026-02-16，共5个自然日" in texts[0]


# -- the staff side is staff's ----------------------------------------------------------------------------


async def test_staff_commands_and_buttons_are_refused_to_anyone_else(chat: Chat) -> None:
    await passed_review()
    stranger = chat.as_user(OBJECTOR)
    for command in ("/announce", "/objections", "/holidays 2027\n休 2027-01-01"):
        assert chat.texts(await chat.send(command, user=stranger)) == [REFUSED]
    assert not await HolidayArrangement.exists()
    await chat.send("/start", user=stranger)
    message = chat.last_with_buttons(stranger)
    for data in ("staff_ann:publish:establishment:20260212:0", "staff_ann:close:establishment::1", "staff_obj:uphold:1"):
        calls = await chat.press_data(data, user=stranger, message=message)
        assert [c.text for c in calls if isinstance(c, AnswerCallbackQuery)] == [REFUSED]
    assert not await Announcement.exists()
    assert not await Notice.filter(recipient_id=STAFF_ID, kind="objection").exists()


async def test_two_objections_the_item_goes_on_only_when_both_are_dismissed_and_cancel_stops_one(chat: Chat) -> None:
    submission = await passed_review()
    await publish(chat)
    item_id = (await Announcement.get().prefetch_related("items")).items[0].id
    other = chat.as_user(7302)
    await chat.send(f"/objection {item_id}", user=other)
    assert chat.texts(await chat.send("/cancel", user=other)) == ["已取消提出异议。"]
    assert "没有理解" in chat.texts(await chat.send("材料不实", user=other))[0]  # no longer taken as an objection
    await object_to(chat, item_id, "第一件异议")
    await chat.send(f"/objection {item_id}", user=other)
    await chat.send("第二件异议", user=other)
    await chat.press("不附证明材料", user=other)
    assert await Objection.filter(status=ObjectionStatus.PENDING).count() == 2
    assert await status_of(submission) == SubmissionStatus.OBJECTION

    staff = chat.as_user(STAFF_ID)
    await chat.send("/objections", user=staff)
    first = chat.last_with_buttons(staff)  # the newest message: the second objection
    texts = chat.texts(await chat.press("异议不成立", user=staff))
    assert "尚有其他异议待处理" in texts[0]
    assert await status_of(submission) == SubmissionStatus.OBJECTION
    await chat.send("/objections", user=staff)
    assert chat.last_with_buttons(staff).message_id != first.message_id
    texts = chat.texts(await chat.press("异议不成立", user=staff))
    assert "继续办理" in texts[0]
    assert await status_of(submission) == SubmissionStatus.OBJECTION_DISMISSED


async def test_the_start_may_be_picked_on_a_calendar_that_opens_on_the_bureaus_today(chat: Chat) -> None:
    from aiogram_dialog.widgets.kbd.calendar_kbd import raw_from_date

    await passed_review()
    staff = chat.as_user(STAFF_ID)
    await chat.send("/announce", user=staff)
    texts = chat.texts(await chat.press("在日历上选择开始日期", user=staff))
    assert texts[-1].startswith("请选择公示开始日期")
    buttons = chat.buttons(staff)
    # the clock's month (February 2026, not the machine's), in Chinese, week starting on Monday
    assert "🗓 2026年2月" in buttons and buttons[1:8] == ["一", "二", "三", "四", "五", "六", "日"]
    markup = chat.last_with_buttons(staff).reply_markup
    day = next(b.callback_data for row in markup.inline_keyboard for b in row
               if b.callback_data and b.callback_data.endswith(f":{raw_from_date(date(2026, 2, 26))}"))
    texts = chat.texts(await chat.press_data(day, user=staff))
    # the same preview as /announce 2026-02-26: five working days, Saturday 28 February a make-up one
    assert "公示期：2026-02-26 至 2026-03-03" in texts[-1]
    await chat.press("发布公示", user=staff)
    announcement = await Announcement.get()
    assert (announcement.starts_on, announcement.ends_on) == (date(2026, 2, 26), date(2026, 3, 3))
