"""/status of a station's contact (filings by year and where each stands, key projects, requests
awaiting the bureau, what is due next) and the main menu that offers only what the person may start
now, through the real Dispatcher with an injected clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.clock import FixedClock
from bot.forms.registry import FORM_SPECS
from bot.i18n import t
from bot.rules.lifecycle import filing_due_on
from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from factories import recognised_station
from handlers.menu import menu_entries
from storage.models import (
    FilingObligation,
    FilingState,
    Funding,
    KeyProjectWindow,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

COMMON = ["📋 办理状态", "🌐 语言 / Language", "❓ 帮助"]
# 2026-04-10 09:00 in Shenzhen
SPRING = datetime(2026, 4, 10, 1, 0, tzinfo=UTC)
# the last second of 2027 in Shenzhen, and the first of 2028 (the filing for 2027 opens)
NEW_YEARS_EVE = datetime(2027, 12, 31, 15, 59, 59, tzinfo=UTC)
NEW_YEAR = datetime(2027, 12, 31, 16, 0, 0, tzinfo=UTC)


def label(action: str) -> str:
    """A form's menu button as the contact reads it (from the registered specs)."""
    entry = next(e for e in menu_entries(FORM_SPECS) if e.action == action)
    return t("zh", entry.text_key)


async def obligation(station: Station, year: int, state: FilingState, *, extended_to: date | None = None,
                     filed_at: datetime | None = None, reference: str = "") -> FilingObligation:
    """The station's obligation for `year` as the scheduler, an extension or a filing leave it."""
    filing = None
    if filed_at is not None:
        filing = await Submission.create(
            kind=SubmissionKind.ANNUAL_FILING, status=SubmissionStatus.SUBMITTED, station=station,
            unit_id=station.unit_id, created_by=USER_ID, year=year, reference=reference,
            uniqueness_key=f"annual_filing:{station.id}:{year}", submitted_at=filed_at,
            answers={"major_projects": 1},
        )
    return await FilingObligation.create(station=station, year=year, due_on=filing_due_on(year),
                                         extended_due_on=extended_to, state=state, submission=filing)


async def test_status_of_a_recognised_station_says_where_each_filing_stands_and_what_is_due_next(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(SPRING))
    station = await recognised_station(USER_ID, recognised_on=date(2023, 5, 1))
    await obligation(station, 2023, FilingState.FILED_ON_TIME, filed_at=datetime(2024, 2, 20, 2, 0, tzinfo=UTC),
                     reference="SZBA-2024-0007")
    await obligation(station, 2024, FilingState.OVERDUE)
    await obligation(station, 2025, FilingState.EXTENDED, extended_to=date(2026, 6, 30))
    await Submission.create(
        kind=SubmissionKind.EXTENSION, status=SubmissionStatus.SUBMITTED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=2024, reference="SZYQ-2026-0002", uniqueness_key=f"extension:{station.id}:2024",
        submitted_at=datetime(2026, 4, 2, 3, 0, tzinfo=UTC), answers={"grounds": "relocation", "months": 3},
    )
    project = await Submission.create(
        kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.GRADED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=2025, reference="SZXM-2025-0003", uniqueness_key=f"key_project:{station.id}:2025",
        level=2, submitted_at=datetime(2025, 6, 1, 3, 0, tzinfo=UTC), answers={"project_name": "精密模具智能产线"},
    )
    lines = chat.texts(await chat.send("/status"))[0].split("\n")
    assert lines[:3] == ["<b>精密模具技师工作站</b>（精密模具有限公司）", "状态：在册运行", "授牌日期：2023-05-01"]
    filings = lines.index("<b>年度备案</b>")
    assert lines[filings + 1:filings + 4] == [
        "• 2023年度：已按时备案（2024-02-20）",
        "• 2024年度：逾期未备案（自 2025-03-01 起）",
        "• 2025年度：已获准延期，截止 2026-06-30",
    ]
    assert "<b>重点建设项目</b>" in lines
    assert "• SZXM-2025-0003（2025年度）：已定级，二级" in lines
    assert "<b>待批复的申请</b>" in lines
    assert "• 延期备案申请 SZYQ-2026-0002（2024年度）：2026-04-02 提交，待市人力资源保障局批复" in lines
    # the filing itself is among what was sent
    assert "• 年度备案 SZBA-2024-0007：已提交" in lines
    # the nearest thing: the overdue year, whose extension the bureau decides
    assert lines[-2:] == [
        "<b>下一步</b>",
        "2024年度备案的延期备案申请 SZYQ-2026-0002 待市人力资源保障局批复（原定备案截止日期 2025-02-28）。"
        "也可先发送 /filing 备案。",
    ]

    # the bureau refuses the extension: the overdue year is what to do now
    await Submission.filter(reference="SZYQ-2026-0002").update(status=SubmissionStatus.REFUSED)
    text = chat.texts(await chat.send("/status"))[0]
    assert "<b>待批复的申请</b>" not in text
    assert text.endswith("<b>下一步</b>\n2024年度备案已逾期（自 2025-03-01 起），请尽快补报。发送 /filing 办理。")

    # filed late, and the project funded: the extended year is next, by its new date
    await FilingObligation.filter(station=station, year=2024).update(state=FilingState.FILED_LATE)
    await Submission.create(
        kind=SubmissionKind.ANNUAL_FILING, status=SubmissionStatus.SUBMITTED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=2024, reference="SZBA-2026-0011", submitted_at=datetime(2026, 4, 9, 2, 0, tzinfo=UTC),
    )
    await Submission.filter(id=project.id).update(status=SubmissionStatus.FUNDED)
    await Funding.create(submission=project, station=station, level=2, amount=250000, paid_on=date(2026, 1, 15),
                         recorded_by=STAFF_ID)
    lines = chat.texts(await chat.send("/status"))[0].split("\n")
    assert "• 2024年度：逾期备案（2026-04-09 补报）" in lines
    assert "• SZXM-2025-0003（2025年度）：已资助，二级，资助 250,000 元（2026-01-15 拨付）" in lines
    assert lines[-1] == "请于 2026-06-30 前完成2025年度备案。发送 /filing 办理。"

    # in English, the same standing
    await chat.send("/lang en")
    text = chat.texts(await chat.send("/status"))[0]
    assert "• 2025: extended to 2026-06-30" in text
    assert text.endswith("<b>Next</b>\nFile for 2025 by 2026-06-30. Send /filing.")


async def test_a_key_project_window_the_station_may_still_use_is_what_is_due_next(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(SPRING))
    station = await recognised_station(USER_ID, recognised_on=date(2023, 5, 1))
    await obligation(station, 2025, FilingState.FILED_ON_TIME, filed_at=datetime(2026, 2, 1, 2, 0, tzinfo=UTC),
                     reference="SZBA-2026-0001")
    await KeyProjectWindow.create(year=2026, opens_on=date(2026, 4, 1), closes_on=date(2026, 4, 30), opened_by=STAFF_ID)
    text = chat.texts(await chat.send("/status"))[0]
    assert text.endswith("<b>下一步</b>\n2026年度重点建设项目申报开放中，2026-04-30 截止。发送 /project 办理。")
    await chat.send("/menu")
    assert label("project") in chat.buttons()

    # once the station applied for the year, the window is of no more use to it
    await Submission.create(
        kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.SUBMITTED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=2026, reference="SZXM-2026-0001", uniqueness_key=f"key_project:{station.id}:2026",
        submitted_at=SPRING,
    )
    text = chat.texts(await chat.send("/status"))[0]
    assert "• SZXM-2026-0001（2026年度）：已提交" in text
    assert text.endswith("<b>下一步</b>\n目前没有需要您办理的事项。2026年度备案将于 2027-01-01 开放。届时发送 /filing 办理。")
    await chat.send("/menu")
    assert label("project") not in chat.buttons()


@pytest.mark.parametrize("moment", [NEW_YEARS_EVE, NEW_YEAR])
async def test_the_filing_window_opens_at_midnight_in_shenzhen(db: str, moment: datetime) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(moment))
    station = await recognised_station(USER_ID, recognised_on=date(2023, 5, 1))
    await obligation(station, 2026, FilingState.FILED_ON_TIME, filed_at=datetime(2027, 1, 20, 2, 0, tzinfo=UTC),
                     reference="SZBA-2027-0004")
    text = chat.texts(await chat.send("/status"))[0]
    await chat.send("/menu")
    buttons = chat.buttons()
    if moment == NEW_YEARS_EVE:
        assert "2027年度" not in text.split("<b>下一步</b>")[0]
        assert text.endswith("<b>下一步</b>\n目前没有需要您办理的事项。2027年度备案将于 2028-01-01 开放。届时发送 /filing 办理。")
        assert buttons == [label("deregister"), *COMMON]
    else:
        assert "• 2027年度：待备案，截止 2028-02-29" in text
        assert text.endswith("<b>下一步</b>\n请于 2028-02-29 前完成2027年度备案。发送 /filing 办理。")
        assert buttons == [label("filing"), label("extension"), label("deregister"), *COMMON]


async def test_a_contact_sees_only_their_own_station(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(SPRING))
    a = await recognised_station(USER_ID, name="精密模具技师工作站", uscc="91440300MA5F00001X")
    b = await recognised_station(7001, name="智能焊接技师工作站", uscc="91440300MA5F00002X",
                                 recognised_on=date(2025, 9, 1))
    await obligation(a, 2024, FilingState.OVERDUE)
    await Submission.create(
        kind=SubmissionKind.EXTENSION, status=SubmissionStatus.SUBMITTED, station=a, unit_id=a.unit_id,
        created_by=USER_ID, year=2024, reference="SZYQ-2026-0001", submitted_at=SPRING,
    )
    await obligation(b, 2025, FilingState.FILED_ON_TIME, filed_at=datetime(2026, 1, 5, 2, 0, tzinfo=UTC),
                     reference="SZBA-2026-0002")
    text = chat.texts(await chat.send("/status", user=chat.as_user(7001)))[0]
    assert text.startswith("<b>智能焊接技师工作站</b>（智能焊接有限公司）")
    assert "• 2025年度：已按时备案（2026-01-05）" in text
    assert not any(other in text for other in ("精密模具", "SZYQ-2026-0001", "2024年度", "待批复"))
    assert text.endswith("<b>下一步</b>\n目前没有需要您办理的事项。2026年度备案将于 2027-01-01 开放。届时发送 /filing 办理。")
    mine = chat.texts(await chat.send("/status"))[0]
    assert "智能焊接" not in mine and "SZBA-2026-0002" not in mine
    assert "• 2024年度：逾期未备案（自 2025-03-01 起）" in mine


async def test_the_menu_offers_what_the_person_may_start_now(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(SPRING))
    # someone without a station: the declaration
    await chat.send("/start", user=chat.as_user(7101))
    assert chat.buttons(chat.as_user(7101)) == ["📝 设立申报", *COMMON]
    # a recognised station that owes its filing for 2025: filing and extension, no declaration, no
    # key project (no window open)
    await recognised_station(USER_ID, recognised_on=date(2023, 5, 1))
    await chat.send("/menu")
    inside = chat.buttons()
    assert label("filing") in inside and label("extension") in inside
    assert "📝 设立申报" not in inside and label("project") not in inside
    assert inside[-3:] == COMMON
    # staff: unchanged, no form
    await chat.send("/menu", user=chat.as_user(STAFF_ID))
    assert chat.buttons(chat.as_user(STAFF_ID)) == COMMON


async def test_while_a_deregistration_is_decided_nothing_else_is_asked_of_the_station(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(SPRING))
    station = await recognised_station(USER_ID, state=StationState.DEREGISTRATION_REQUESTED)
    await Submission.create(
        kind=SubmissionKind.DEREGISTRATION, status=SubmissionStatus.SUBMITTED, station=station, unit_id=station.unit_id,
        created_by=USER_ID, year=2026, reference="SZZX-2026-0001", uniqueness_key=f"deregistration:{station.id}",
        submitted_at=SPRING, answers={"explanation": "企业转型"},
    )
    lines = chat.texts(await chat.send("/status"))[0].split("\n")
    assert "状态：注销申请中" in lines
    assert "• 注销申请 SZZX-2026-0001：2026-04-10 提交，待市人力资源保障局批复" in lines
    assert "• 2025年度：逾期未备案（自 2026-03-01 起）" in lines
    assert lines[-2:] == ["<b>下一步</b>", "注销申请 SZZX-2026-0001 待市人力资源保障局批复，目前没有需要您办理的事项。"]
