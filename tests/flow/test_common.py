"""/start, /help, /menu, /lang, /cancel, /status and errors, through the real Dispatcher."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage

from chat_harness import STAFF_ID, Chat, make_settings
from conftest import both_databases
from storage.models import BotUser, Contact, Station, StationState, Submission, SubmissionKind, SubmissionStatus, Unit, UnitType


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def test_start_greets_in_chinese_with_the_public_menu(chat: Chat) -> None:
    calls = await chat.send("/start")
    texts = chat.texts(calls)
    assert texts[0].startswith("您好，张三！这里是深圳市技师工作站服务机器人。")
    assert "设立申报" in texts[0]
    assert "主菜单（申办单位 / 公众）" in texts[1]
    assert chat.buttons() == ["📝 设立申报", "📋 办理状态", "🌐 语言 / Language", "❓ 帮助"]
    user = await BotUser.get(id=chat.user.id)
    assert user.language == "zh"


async def test_start_in_english_for_an_english_telegram_client(chat: Chat) -> None:
    english = chat.as_user(777, language_code="en-US", first_name="Ann")
    texts = chat.texts(await chat.send("/start", user=english))
    assert texts[0].startswith("Hello, Ann! This is the Shenzhen technician workstation bot.")
    assert "Main menu (applicant / public)" in texts[1]


@both_databases
async def test_lang_toggles_and_is_stored_per_user(chat: Chat) -> None:
    assert chat.texts(await chat.send("/lang")) == ["Language switched to English."]
    assert (await BotUser.get(id=chat.user.id)).language == "en"
    assert chat.texts(await chat.send("/help"))[0].startswith("<b>Commands</b>")
    # another user is untouched
    other = chat.as_user(888)
    assert "常用命令" in chat.texts(await chat.send("/help", user=other))[0]
    assert chat.texts(await chat.send("/lang")) == ["已切换为简体中文。"]
    assert (await BotUser.get(id=chat.user.id)).language == "zh"


async def test_menu_buttons_answer_the_callback_and_reply(chat: Chat) -> None:
    await chat.send("/menu")
    calls = await chat.press("办理状态")
    assert any(isinstance(c, AnswerCallbackQuery) for c in calls)
    assert chat.texts(calls) == [
        "您尚未绑定任何技师工作站。可通过主菜单办理设立申报，或使用工作站发给您的邀请码加入。"
    ]
    calls = await chat.press("语言")
    assert chat.texts(calls) == ["Language switched to English."]


async def test_status_shows_the_station_and_its_submissions(chat: Chat) -> None:
    unit = await Unit.create(name="深圳精密制造有限公司", uscc="91440300MA5FXXXX1X", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name="精密加工技师工作站", mode="self", state=StationState.ACTIVE)
    user = await BotUser.create(id=chat.user.id)
    await Contact.create(user=user, station=station, role="applicant")
    await Submission.create(
        kind=SubmissionKind.ANNUAL_FILING, station=station, created_by=user.id, year=2025,
        status=SubmissionStatus.SUBMITTED, reference="SZJS-2026-0001",
    )
    await Submission.create(kind=SubmissionKind.EXTENSION, station=station, created_by=user.id)  # a draft
    text = chat.texts(await chat.send("/status"))[0]
    assert "<b>精密加工技师工作站</b>（深圳精密制造有限公司）" in text
    assert "状态：在册运行" in text
    assert "• 年度备案 SZJS-2026-0001：已提交" in text
    assert "延期" not in text  # drafts are not submissions yet


async def test_staff_status_is_the_city_overview(chat: Chat) -> None:
    unit = await Unit.create(name="U", uscc="91440300MA5FXXXX2X", unit_type=UnitType.GROUP)
    await Station.create(unit=unit, name="S1", mode="self", state=StationState.ACTIVE)
    await Station.create(unit=unit, name="S2", mode="self", state=StationState.OVERDUE)
    staff = chat.as_user(STAFF_ID)
    texts = chat.texts(await chat.send("/start", user=staff))
    assert "主菜单（工作人员）" in texts[1]
    text = chat.texts(await chat.send("/status", user=staff))[0]
    assert "工作站：1 个在册，0 个申报中，1 个逾期，0 个待撤销" in text


async def test_cancel_without_a_form(chat: Chat) -> None:
    assert chat.texts(await chat.send("/cancel")) == ["当前没有正在填写的事项。"]


async def test_unknown_text_gets_a_plain_answer(chat: Chat) -> None:
    assert chat.texts(await chat.send("你好")) == ["没有理解您的输入。请使用下方按钮，或发送 /menu 打开主菜单。"]


async def test_a_failing_handler_is_logged_without_personal_data_and_the_user_told(
    chat: Chat, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import queries

    # Built at run time so that the traceback's source lines do not spell them out.
    id_number, mobile = "4403011990" + "01011234", "138" + "00138000"

    async def broken(user_id: int) -> None:
        raise ValueError(f"failed on {id_number} / {mobile}")

    monkeypatch.setattr(queries, "station_of_user", broken)
    calls = await chat.send("/status")
    assert chat.texts(calls) == ["抱歉，处理时出现了问题，请稍后再试。您已填写的内容都已保存。"]
    assert isinstance(calls[-1], SendMessage)
    logged = caplog.text
    assert "ValueError" in logged
    assert "440301199001011234" not in logged and "13800138000" not in logged


async def test_staff_granted_in_the_bot_is_checked_on_every_call(chat: Chat) -> None:
    from storage.models import Staff

    granted = chat.as_user(4242)
    assert "主菜单（申办单位 / 公众）" in chat.texts(await chat.send("/menu", user=granted))[0]
    grant = await Staff.create(user_id=4242, granted_by=STAFF_ID)
    assert "主菜单（工作人员）" in chat.texts(await chat.send("/menu", user=granted))[0]
    grant.active = False
    await grant.save()
    assert "主菜单（申办单位 / 公众）" in chat.texts(await chat.send("/menu", user=granted))[0]
