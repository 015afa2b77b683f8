"""A station's contacts through the real Dispatcher: /invite gives a one-time code (only its hash
stored), /join binds a colleague with it (the code spent and the others told in one go), wrong,
used and expired codes get one plain answer, five wrong codes in 15 minutes stop the checking,
/leave after a confirmation (never the last contact), and the bureau's /contacts and /bind with
their buttons checked again on every press."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiogram.methods import AnswerCallbackQuery

from bot.clock import FixedClock
from chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from factories import recognised_station
from handlers.contacts import LeaveAct
from handlers.staff.contacts import ContactsAct
from storage.models import AuditLog, BotUser, Contact, InviteCode, Notice, Station, StationState

COLLEAGUE = 5550002
STRANGER = 5550003
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{2}\b")
INVALID = "邀请码无效（错误、已使用或已过期）"
REFUSED = "此功能仅限市人力资源保障局工作人员使用。"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


def user(chat: Chat, user_id: int):
    return chat.as_user(user_id)


async def issue_code(chat: Chat, by: int = USER_ID) -> str:
    texts = chat.texts(await chat.send("/invite", user=user(chat, by)))
    found = [m for text in texts for m in CODE.findall(text)]
    assert len(set(found)) == 1, texts
    return found[0]


async def join(chat: Chat, who: int, code: str) -> list[str]:
    return chat.texts(await chat.send(f"/join {code}", user=user(chat, who)))


def alerts(calls) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


# -- invite and join ------------------------------------------------------------------------------


@both_databases
async def test_a_contact_invites_and_a_colleague_joins_with_the_code_typed_loosely(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    texts = chat.texts(await chat.send("/invite"))
    assert any("只显示这一次" in t and "2026-12-04 09:00" in t and "/join" in t for t in texts), texts
    code = CODE.findall(texts[0])[0]
    invite = await InviteCode.get(station_id=station.id)
    assert invite.code_hash == InviteCode.hash_code(code.replace("-", "")) and invite.issued_by == USER_ID
    assert invite.expires_at == NOW + timedelta(days=7) and invite.used_by is None

    typed = code.lower().replace("-", " ")  # "abcd efgh jk"
    texts = await join(chat, COLLEAGUE, typed)
    assert texts == ["✅ 您已成为“精密模具技师工作站”的联系人。发送 /status 查看工作站的办理状态。"]
    contact = await Contact.get(user_id=COLLEAGUE, station_id=station.id)
    assert contact.active and contact.role.value == "contact"
    invite = await InviteCode.get(id=invite.id)
    assert invite.used_by == COLLEAGUE and invite.used_at == NOW
    notice = await Notice.get(recipient_id=USER_ID)
    joined = await AuditLog.get(action="contact.joined", actor_id=COLLEAGUE)
    assert (notice.kind, notice.subject, notice.period) == ("status_change", f"station:{station.id}", f"joined:{joined.id}")
    assert notice.text_key == "invite.notice.joined" and notice.params["user_id"] == COLLEAGUE
    assert not await Notice.filter(recipient_id=COLLEAGUE).exists()
    # the code itself is nowhere in the database
    for row in await AuditLog.all():
        assert code.replace("-", "") not in f"{row.before}{row.after}".replace("-", "")
    assert await AuditLog.filter(action="contact.joined", actor_id=COLLEAGUE, subject_id=station.id).exists()
    # the colleague is a contact now: their status shows the station, and they may invite in turn
    assert any("精密模具技师工作站" in t for t in chat.texts(await chat.send("/status", user=user(chat, COLLEAGUE))))
    assert CODE.search(await issue_code(chat, COLLEAGUE))


async def test_join_alone_asks_for_the_code_and_cancel_leaves_the_step(chat: Chat) -> None:
    await recognised_station(USER_ID)
    code = await issue_code(chat)
    colleague = user(chat, COLLEAGUE)
    assert any("请发送您收到的邀请码" in t for t in chat.texts(await chat.send("/join", user=colleague)))
    assert chat.texts(await chat.send("/cancel", user=colleague)) == ["已退出加入工作站。"]
    texts = chat.texts(await chat.send(code, user=colleague))
    assert not any("您已成为" in t for t in texts), "the code step was left"
    await chat.send("/join", user=colleague)
    assert any("您已成为" in t for t in chat.texts(await chat.send(code, user=colleague)))
    assert await Contact.filter(user_id=COLLEAGUE, active=True).exists()


@both_databases
async def test_wrong_used_and_expired_codes_get_one_plain_answer(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    assert [INVALID in t for t in await join(chat, STRANGER, "ABCD-EFGH-JK")] == [True]
    used = await issue_code(chat)
    await join(chat, COLLEAGUE, used)
    assert [INVALID in t for t in await join(chat, STRANGER, used)] == [True]
    expired = await issue_code(chat)
    chat.clock.advance(timedelta(days=7, seconds=1))
    texts = await join(chat, STRANGER, expired)
    assert len(texts) == 1 and INVALID in texts[0] and station.name not in texts[0]
    assert not await Contact.filter(user_id=STRANGER).exists()
    assert (await InviteCode.get(code_hash=InviteCode.hash_code(expired.replace("-", "")))).used_by is None
    failures = await AuditLog.filter(action="join_failed", actor_id=STRANGER)
    assert len(failures) == 3 and all(f.before is None and f.after is None and f.subject_id is None for f in failures)


@both_databases
async def test_five_wrong_codes_stop_the_checking_for_fifteen_minutes_across_instances(chat: Chat) -> None:
    await recognised_station(USER_ID)
    right = await issue_code(chat)
    stranger = user(chat, STRANGER)
    for n in range(4):
        chat.clock.advance(timedelta(minutes=1))
        assert INVALID in (await join(chat, STRANGER, f"WRNG-CODE-{n + 2}A"))[0]
    # another bot instance on the same database counts the same failures
    other = Chat(chat.settings, clock=chat.clock)
    assert INVALID in chat.texts(await other.send("/join zzzz zzzz zz", user=stranger))[0]  # 09:04, the fifth
    texts = await join(chat, STRANGER, right)
    assert texts == ["尝试次数过多，请于 09:16 之后再试。"]  # the first failure (09:01) leaves the window then
    assert (await InviteCode.get(station__contacts__user_id=USER_ID)).used_by is None  # not even checked
    assert chat.texts(await chat.send("/join", user=stranger)) == ["尝试次数过多，请于 09:16 之后再试。"]
    assert await AuditLog.filter(action="join_failed", actor_id=STRANGER).count() == 5  # refusals not counted
    chat.clock.set(NOW + timedelta(minutes=16))
    assert any("您已成为" in t for t in await join(chat, STRANGER, right))


async def test_someone_bound_already_is_told_to_leave_first(chat: Chat) -> None:
    await recognised_station(USER_ID)
    other = await recognised_station(COLLEAGUE, name="数控加工技师工作站", uscc="91440300MA5F00010X")
    code = await issue_code(chat, COLLEAGUE)
    texts = await join(chat, USER_ID, code)
    assert texts == ["您已是“精密模具技师工作站”的联系人。如需加入其他工作站，请先发送 /leave 退出当前工作站。"]
    assert not await Contact.filter(user_id=USER_ID, station_id=other.id).exists()
    assert (await InviteCode.get(station_id=other.id)).used_by is None


async def test_a_revoked_station_cannot_invite_and_its_open_codes_stop_working(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    code = await issue_code(chat)
    await Station.filter(id=station.id).update(state=StationState.REVOKED)
    assert chat.texts(await chat.send("/invite")) == ["工作站已撤销、注销或未设立，不能再邀请联系人。"]
    assert INVALID in (await join(chat, COLLEAGUE, code))[0]
    assert not await Contact.filter(user_id=COLLEAGUE).exists()
    assert chat.texts(await chat.send("/invite", user=user(chat, STRANGER))) == ["您尚未绑定任何技师工作站，不能生成邀请码。"]


# -- leave ----------------------------------------------------------------------------------------


async def test_the_last_contact_cannot_leave(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    texts = chat.texts(await chat.send("/leave"))
    assert texts == ["您是“精密模具技师工作站”唯一的联系人，不能自行退出。如需更换或解除联系人，请联系市人力资源保障局工作人员办理。"]
    assert await Contact.filter(station_id=station.id, user_id=USER_ID, active=True).exists()


@both_databases
async def test_a_contact_leaves_after_confirming_and_the_others_are_told(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    await join(chat, COLLEAGUE, await issue_code(chat))
    colleague = user(chat, COLLEAGUE)
    await chat.send("/leave", user=colleague)
    assert chat.buttons(colleague) == ["确认退出", "取消"]
    question = chat.last_with_buttons(colleague)
    assert chat.texts(await chat.press("确认退出", user=colleague)) == ["您已退出“精密模具技师工作站”。"]
    assert not (await Contact.get(user_id=COLLEAGUE, station_id=station.id)).active
    left = await AuditLog.get(action="contact.left", actor_id=COLLEAGUE, subject_type="station", subject_id=station.id)
    assert await Notice.filter(recipient_id=USER_ID, period=f"left:{left.id}", text_key="invite.notice.left").exists()
    # the same button again: nothing more happens
    again = chat.texts(await chat.press_data(question.reply_markup.inline_keyboard[0][0].callback_data, colleague, question))
    assert again == ["该操作已失效（您可能已退出）。发送 /status 查看当前情况。"]
    # and now the first contact is the last one
    assert "唯一的联系人" in chat.texts(await chat.send("/leave"))[0]
    # a colleague who comes back is told of again: each act is its own notice
    await join(chat, COLLEAGUE, await issue_code(chat))
    assert await Notice.filter(recipient_id=USER_ID, text_key="invite.notice.joined").count() == 2


# -- staff ----------------------------------------------------------------------------------------


async def test_a_contact_cannot_reach_the_staff_side(chat: Chat) -> None:
    station_a = await recognised_station(USER_ID)
    station_b = await recognised_station(COLLEAGUE, name="数控加工技师工作站", uscc="91440300MA5F00010X")
    assert chat.texts(await chat.send(f"/contacts {station_b.id}")) == [REFUSED]
    assert chat.texts(await chat.send(f"/bind {station_b.id} {USER_ID}")) == [REFUSED]
    await chat.send("/start")
    forged = ContactsAct(action="unbind", station=station_b.id, user=COLLEAGUE, step="y").pack()
    assert alerts(await chat.press_data(forged)) == [REFUSED]
    issue = ContactsAct(action="issue", station=station_b.id).pack()
    assert alerts(await chat.press_data(issue)) == [REFUSED]
    # nor leave on behalf of another station's contact with a forged leave button
    await Contact.create(user=await BotUser.create(id=STRANGER), station_id=station_b.id, role="contact")
    forged_leave = LeaveAct(station=station_b.id, ok=1).pack()
    assert chat.texts(await chat.press_data(forged_leave)) == ["该操作已失效（您可能已退出）。发送 /status 查看当前情况。"]
    assert await Contact.filter(station_id=station_b.id, user_id=COLLEAGUE, active=True).exists()
    assert not await InviteCode.filter(station_id__in=[station_a.id, station_b.id]).exists()
    assert not await AuditLog.filter(actor_id=USER_ID).exists()


@both_databases
async def test_staff_list_issue_and_unbind_with_a_replayed_button(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    await join(chat, COLLEAGUE, await issue_code(chat))
    staff = user(chat, STAFF_ID)
    texts = chat.texts(await chat.send(f"/contacts {station.id}", user=staff))
    assert texts[0].startswith(f"“精密模具技师工作站”（编号 {station.id}，在册运行）的联系人：")
    assert f"{COLLEAGUE} · 联系人 · 2026-11-27 09:00 起 · 在岗" in texts[0]
    assert f"{USER_ID} · 申报人" in texts[0]
    assert chat.buttons(staff) == ["🔑 生成邀请码", f"解除 {USER_ID}", f"解除 {COLLEAGUE}"]

    texts = chat.texts(await chat.press("生成邀请码", user=staff))
    code = CODE.findall(texts[0])[0]
    assert "只显示这一次" in texts[0]
    assert await InviteCode.filter(station_id=station.id, issued_by=STAFF_ID, used_by=None).count() == 1
    assert await AuditLog.filter(actor_id=STAFF_ID, action="contact.invite_issued", subject_type="station").exists()

    await chat.send(f"/contacts {station.id}", user=staff)
    await chat.press(f"解除 {COLLEAGUE}", user=staff)
    assert chat.buttons(staff) == ["确认解除", "取消"]
    confirm = chat.last_with_buttons(staff)
    texts = chat.texts(await chat.press("确认解除", user=staff))
    assert texts == [f"已解除 Telegram 用户 {COLLEAGUE} 与“精密模具技师工作站”的绑定，并已通知该用户。"]
    assert not (await Contact.get(user_id=COLLEAGUE)).active
    row = await AuditLog.get(actor_id=STAFF_ID, action="contact.unbound")
    assert (row.subject_type, row.subject_id) == ("station", station.id)
    assert row.before["active"] is True and row.after["active"] is False and row.after["user_id"] == COLLEAGUE
    assert await Notice.filter(recipient_id=COLLEAGUE, text_key="invite.notice.unbound").exists()
    # the confirm button pressed again
    replay = chat.texts(await chat.press_data(confirm.reply_markup.inline_keyboard[0][0].callback_data, staff, confirm))
    assert replay == ["该操作已处理过（或联系人已变化），未作变更。"]
    assert await AuditLog.filter(action="contact.unbound").count() == 1
    # staff may unbind the last one, told that it is the last
    await chat.send(f"/contacts {station.id}", user=staff)
    assert chat.buttons(staff) == ["🔑 生成邀请码", f"解除 {USER_ID}"]
    assert any("最后一位在岗联系人" in t for t in chat.texts(await chat.press(f"解除 {USER_ID}", user=staff)))
    await chat.press("确认解除", user=staff)
    assert not await Contact.filter(station_id=station.id, active=True).exists()
    # the staff-issued code still works for a newcomer
    assert any("您已成为" in t for t in await join(chat, STRANGER, code))


@both_databases
async def test_staff_bind_a_user_directly(chat: Chat) -> None:
    station = await recognised_station(USER_ID)
    other = await recognised_station(STRANGER, name="数控加工技师工作站", uscc="91440300MA5F00010X")
    staff = user(chat, STAFF_ID)
    texts = chat.texts(await chat.send(f"/bind {station.id} {COLLEAGUE}", user=staff))
    assert texts == [f"已将 Telegram 用户 {COLLEAGUE} 绑定为“精密模具技师工作站”的联系人，并已通知该用户。"]
    assert (await Contact.get(user_id=COLLEAGUE, station_id=station.id)).active
    assert await AuditLog.filter(actor_id=STAFF_ID, action="contact.bound", subject_id=station.id).exists()
    assert await Notice.filter(recipient_id=COLLEAGUE, text_key="invite.notice.bound").exists()
    # the same command again, someone bound elsewhere, a station that is not there, bad usage
    assert chat.texts(await chat.send(f"/bind {station.id} {COLLEAGUE}", user=staff)) == ["该操作已处理过（或联系人已变化），未作变更。"]
    assert chat.texts(await chat.send(f"/bind {station.id} {STRANGER}", user=staff)) == [
        f"该用户已是“数控加工技师工作站”（编号 {other.id}）的联系人，请先解除该绑定。"]
    assert chat.texts(await chat.send(f"/bind 999 {STRANGER}", user=staff)) == ["没有编号为 999 的工作站。"]
    assert chat.texts(await chat.send("/bind x", user=staff)) == ["用法：/bind 工作站编号 Telegram用户编号"]
    assert await AuditLog.filter(action="contact.bound").count() == 1


async def test_english_texts(db: str) -> None:
    chat = Chat(make_settings(db), clock=FixedClock(NOW))
    await recognised_station(USER_ID)
    english = chat.as_user(COLLEAGUE, language_code="en")
    texts = chat.texts(await chat.send("/join", user=english))
    assert texts == ["Please send the invite code you received (e.g. ABCD-EFGH-JK; case, spaces and dashes do not matter). "
                     "Send /cancel to stop."]
    assert "not valid" in chat.texts(await chat.send("nope", user=english))[0]
