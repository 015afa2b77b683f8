"""/start, /help, /menu, /lang, /cancel, /status and errors, through the real Dispatcher."""

from __future__ import annotations

import re

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import AnswerCallbackQuery, SendMessage

from bot import i18n
from bot.commands import CONTACT_COMMANDS, STAFF_COMMANDS, commands_for

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
    # it offers what the bot does today, and no act that is not built yet
    assert "目前可办理：设立申报、重点建设项目申报、年度备案、延期备案申请、注销申请。" in texts[0]
    assert not any(act in texts[0] for act in ("资助", "导出"))
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
        "您尚未绑定任何技师工作站。可发送 /declare 办理设立申报；如需加入已有的工作站，请联系该站的联系人或市人力资源保障局。"
    ]
    calls = await chat.press("语言")
    assert chat.texts(calls) == ["Language switched to English."]
    calls = await chat.press("Language")
    assert chat.texts(calls) == ["已切换为简体中文。"]


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
    assert "• 延期" not in text  # drafts are not submissions yet
    assert "📝 延期备案申请：有一份未提交的草稿" in text


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


# -- what /start, /help and the menu offer exists --------------------------------------------------

# A command named in a text: "/status", not "</b>", "and/or" or a path.
COMMAND_IN_TEXT = re.compile(r"(?<![\w/.:<])/([a-z][a-z0-9_]*)")
NOT_UNDERSTOOD = ("没有理解您的输入", "抱歉，处理时出现了问题")


def registered_commands(router: Router) -> set[str]:
    """Every command some message handler of the router (and its sub-routers) is filtered on."""
    found: set[str] = set()
    for handler in router.message.handlers:
        for f in handler.filters or ():
            if isinstance(f.callback, Command):
                found |= {c for c in f.callback.commands if isinstance(c, str)}
    for sub in router.sub_routers:
        found |= registered_commands(sub)
    return found


def test_every_listed_command_is_registered_and_described(chat: Chat) -> None:
    registered = registered_commands(chat.dp)
    for names in (CONTACT_COMMANDS, STAFF_COMMANDS):
        assert set(names) <= registered, f"listed without a handler: {set(names) - registered}"
        for lang in ("zh", "en"):
            assert all(c.description.strip() for c in commands_for(lang, names))
    assert "stamped" in CONTACT_COMMANDS


def test_every_command_a_text_names_is_registered(chat: Chat) -> None:
    registered = registered_commands(chat.dp)
    named = {
        (key, name)
        for lang in ("zh", "en")
        for key, text in i18n.catalog(lang).items()
        if not key.startswith("console.")  # the terminal chat's own commands (/file, /user, /quit)
        for name in COMMAND_IN_TEXT.findall(text)
    }
    assert {name for _, name in named} >= {"declare", "status", "stamped", "form", "cancel", "lang", "menu"}
    unknown = sorted((key, name) for key, name in named if name not in registered)
    assert not unknown, f"texts name commands that have no handler: {unknown}"


@pytest.mark.parametrize("staff", [False, True])
async def test_every_command_gets_an_answer_of_its_own(chat: Chat, staff: bool) -> None:
    for n, name in enumerate(STAFF_COMMANDS if staff else CONTACT_COMMANDS):
        user = chat.as_user(STAFF_ID) if staff else chat.as_user(6000 + n)
        texts = chat.texts(await chat.send(f"/{name}", user=user))
        assert texts, f"/{name}: no answer"
        assert not any(t.startswith(NOT_UNDERSTOOD) for t in texts), f"/{name}: {texts}"
        await chat.send("/cancel", user=user)


async def _contact(user_id: int) -> None:
    unit = await Unit.create(name="深圳精密制造有限公司", uscc="91440300MA5FXXXX3X", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name="精密加工技师工作站", mode="self", state=StationState.ACTIVE)
    await Contact.create(user=await BotUser.create(id=user_id), station=station, role="applicant")


@pytest.mark.parametrize("role", ["public", "contact", "staff"])
async def test_every_menu_button_of_every_role_is_answered(chat: Chat, role: str) -> None:
    user = chat.as_user({"public": 6101, "contact": 6102, "staff": STAFF_ID}[role])
    if role == "contact":
        await _contact(user.id)
    await chat.send("/menu", user=user)
    menu = chat.last_with_buttons(user)
    buttons = [b for row in menu.reply_markup.inline_keyboard for b in row]
    assert [b.text for b in buttons][-3:] == ["📋 办理状态", "🌐 语言 / Language", "❓ 帮助"]
    assert ("📝 设立申报" in [b.text for b in buttons]) == (role == "public")
    for button in buttons:
        calls = await chat.press_data(button.callback_data, user, menu)
        assert any(isinstance(c, AnswerCallbackQuery) for c in calls), f"{button.text}: not answered"
        texts = chat.texts(calls)
        assert texts and not any(t.startswith(NOT_UNDERSTOOD) for t in texts), f"{button.text}: {texts}"
        await chat.send("/cancel", user=user)
        await chat.send("/lang zh", user=user)


async def test_help_lists_the_registered_commands_and_names_the_form_buttons(chat: Chat) -> None:
    text = chat.texts(await chat.send("/help"))[0]
    lines = text.split("\n")
    assert lines[0] == "<b>常用命令</b>"
    listed = [line.split(" — ")[0][1:] for line in lines[1:] if line.startswith("/")]
    assert listed == [c for c in CONTACT_COMMANDS if c != "start"]
    assert set(listed) <= registered_commands(chat.dp)
    assert "/stamped — 上传签字盖章后的申报表扫描件（提交申报后）" in lines
    # the buttons of a form as they are labelled: 放弃 deletes the draft, /cancel keeps it
    assert "“🗑 放弃”删除这份草稿" in text and "“⬅️ 返回”" in text and "“💾 保存，稍后继续”" in text
    assert "“取消”" not in text
    english = chat.texts(await chat.send("/help", user=chat.as_user(6201, language_code="en")))[0]
    assert english.startswith("<b>Commands</b>\n/menu — main menu")
    assert "“🗑 Discard” deletes the draft" in english


# -- /lang -------------------------------------------------------------------------------------------


async def test_lang_with_a_language_sets_it_and_never_toggles_away(chat: Chat) -> None:
    assert chat.texts(await chat.send("/lang en")) == ["Language switched to English."]
    assert (await BotUser.get(id=chat.user.id)).language == "en"
    # asked again for English: stays English
    assert chat.texts(await chat.send("/lang en")) == ["Current language: English"]
    assert (await BotUser.get(id=chat.user.id)).language == "en"
    assert chat.texts(await chat.send("/lang zh")) == ["已切换为简体中文。"]
    assert chat.texts(await chat.send("/lang zh")) == ["当前语言：简体中文"]
    assert (await BotUser.get(id=chat.user.id)).language == "zh"
    assert chat.texts(await chat.send("/lang English")) == ["Language switched to English."]
    assert chat.texts(await chat.send("/lang 中文")) == ["已切换为简体中文。"]


async def test_lang_with_an_unknown_language_says_so_and_offers_the_choices(chat: Chat) -> None:
    texts = chat.texts(await chat.send("/lang fr<b>"))
    assert texts == ["没有“fr&lt;b&gt;”这种语言。请发送 /lang zh（简体中文）或 /lang en（English），或点选下方按钮。"]
    assert chat.buttons() == ["简体中文", "English"]
    assert (await BotUser.get(id=chat.user.id)).language == "zh"
    calls = await chat.press("English")
    assert any(isinstance(c, AnswerCallbackQuery) for c in calls)
    assert chat.texts(calls) == ["Language switched to English."]
    assert (await BotUser.get(id=chat.user.id)).language == "en"


# -- /status: drafts and how to resume them -----------------------------------------------------------


async def test_status_names_a_draft_in_progress_and_the_command_that_resumes_it(chat: Chat) -> None:
    await chat.send("/declare")
    await chat.send("深圳精密制造有限公司")
    await chat.send("/cancel")
    text = chat.texts(await chat.send("/status"))[0]
    assert text.startswith("您尚未绑定任何技师工作站。")
    assert re.search(r"📝 设立申报：有一份未提交的草稿（最后保存于 \d{4}-\d\d-\d\d \d\d:\d\d）。发送 /declare 继续填写。", text)
    english = chat.texts(await chat.send("/lang en"))
    assert english == ["Language switched to English."]
    text = chat.texts(await chat.send("/status"))[0]
    assert "📝 Establishment declaration: a draft not yet submitted" in text and "Send /declare to continue." in text
    # once it is discarded, nothing is said of it
    await Submission.filter(created_by=chat.user.id).delete()
    assert "draft" not in chat.texts(await chat.send("/status"))[0]


async def test_a_forged_language_button_is_answered_as_outdated(chat: Chat) -> None:
    await chat.send("/lang xx")  # the language buttons
    calls = await chat.press_data("lang:0")
    [answer] = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert answer.text == i18n.t("zh", "error.outdated") and answer.show_alert
    assert (await BotUser.get(id=chat.user.id)).language == "zh"
