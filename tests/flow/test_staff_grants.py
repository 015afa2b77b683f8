"""/staff: an admin grants and withdraws the staff role in the bot; every change is audited;
configured ids cannot be withdrawn there; staff who are not admins are refused; a withdrawn grant
is refused on the next message. And who reaches /staff, /stations and /export at all."""

from __future__ import annotations

import pytest

from chat_harness import NOW, STAFF_ID, Chat, make_settings
from conftest import both_databases
from storage.models import AuditLog, BotUser, Contact, Staff, Station, StationState, Unit, UnitType

ADMIN_ID = 5559100
NEWCOMER = 4243
REFUSED = "此功能仅限市人力资源保障局工作人员使用。"
ADMINS_ONLY = "工作人员的授权和撤销仅限管理员（ADMIN_IDS）操作。"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db, admin_ids=frozenset({ADMIN_ID})))


@both_databases
async def test_an_admin_grants_lists_and_withdraws_and_each_change_is_audited(chat: Chat) -> None:
    admin, newcomer = chat.as_user(ADMIN_ID), chat.as_user(NEWCOMER)
    assert chat.texts(await chat.send("/stations", user=newcomer)) == [REFUSED]

    assert chat.texts(await chat.send(f"/staff add {NEWCOMER}", user=admin)) == [
        f"✅ 已授予用户 {NEWCOMER} 工作人员权限（已记入操作日志）。"
    ]
    grant = await Staff.get(user_id=NEWCOMER)
    assert grant.active and grant.granted_by == ADMIN_ID and grant.created_at == NOW
    [audit] = await AuditLog.filter(action="staff.grant")
    assert (audit.actor_id, audit.subject_type, audit.subject_id, audit.at) == (ADMIN_ID, "staff", grant.id, NOW)
    assert audit.before is None and audit.after == {"user_id": NEWCOMER, "active": True, "granted_by": ADMIN_ID}
    # the role holds from the next message on
    assert chat.texts(await chat.send("/stations", user=newcomer)) == ["目前还没有任何工作站。"]
    # granting again writes nothing
    assert chat.texts(await chat.send(f"/staff add {NEWCOMER}", user=admin)) == [f"用户 {NEWCOMER} 已是工作人员，无需重复授权。"]
    assert await AuditLog.filter(action="staff.grant").count() == 1

    listing = chat.texts(await chat.send("/staff", user=admin))[0]
    assert f"• {ADMIN_ID}（管理员，配置文件 ADMIN_IDS 设定，不能在此撤销）" in listing
    assert f"• {STAFF_ID}（配置文件 STAFF_IDS 设定，不能在此撤销）" in listing
    assert f"• {NEWCOMER}：由 {ADMIN_ID} 于 2026-11-27 09:00 授权" in listing  # the bureau's time
    assert chat.buttons(admin) == [f"撤销 {NEWCOMER}"]  # configured ids have no withdraw button

    texts = chat.texts(await chat.press(f"撤销 {NEWCOMER}", user=admin))
    assert texts == [f"确定撤销用户 {NEWCOMER} 的工作人员权限吗？撤销后该用户下一条消息起即不能使用工作人员功能。"]
    assert (await Staff.get(user_id=NEWCOMER)).active  # nothing until confirmed
    texts = chat.texts(await chat.press("确认撤销", user=admin))
    assert texts == [f"✅ 已撤销用户 {NEWCOMER} 的工作人员权限（已记入操作日志）。"]
    assert not (await Staff.get(user_id=NEWCOMER)).active
    [audit] = await AuditLog.filter(action="staff.withdraw")
    assert (audit.actor_id, audit.subject_id, audit.at) == (ADMIN_ID, grant.id, NOW)
    assert audit.before == {"user_id": NEWCOMER, "active": True, "granted_by": ADMIN_ID}
    assert audit.after == {"user_id": NEWCOMER, "active": False}
    # refused on the very next message
    assert chat.texts(await chat.send("/stations", user=newcomer)) == [REFUSED]
    assert chat.texts(await chat.send("/export", user=newcomer)) == [REFUSED]
    assert "暂无在机器人中授权的工作人员。" in chat.texts(await chat.send("/staff", user=admin))[0]


async def test_withdraw_by_command_asks_first_and_keep_keeps(chat: Chat) -> None:
    admin = chat.as_user(ADMIN_ID)
    await chat.send(f"/staff add {NEWCOMER}", user=admin)
    texts = chat.texts(await chat.send(f"/staff remove {NEWCOMER}", user=admin))
    assert texts[0].startswith(f"确定撤销用户 {NEWCOMER} 的工作人员权限吗？")
    assert chat.texts(await chat.press("保留", user=admin)) == [f"已保留用户 {NEWCOMER} 的工作人员权限。"]
    assert (await Staff.get(user_id=NEWCOMER)).active
    assert not await AuditLog.filter(action="staff.withdraw").exists()
    # a withdrawn grant may be granted again: the same row, the new grantor and time, audited
    await chat.send(f"/staff remove {NEWCOMER}", user=admin)
    await chat.press("确认撤销", user=admin)
    await chat.send(f"/staff add {NEWCOMER}", user=admin)
    assert await Staff.filter(user_id=NEWCOMER).count() == 1 and (await Staff.get(user_id=NEWCOMER)).active
    assert [a.action for a in await AuditLog.all().order_by("id")] == ["staff.grant", "staff.withdraw", "staff.grant"]
    assert (await AuditLog.all().order_by("-id").first()).before == {"active": False, "granted_by": ADMIN_ID}


async def test_configured_ids_cannot_be_withdrawn_or_granted_in_the_bot(chat: Chat) -> None:
    admin = chat.as_user(ADMIN_ID)
    for configured in (STAFF_ID, ADMIN_ID):
        texts = chat.texts(await chat.send(f"/staff remove {configured}", user=admin))
        assert texts == [f"用户 {configured} 由配置文件（STAFF_IDS / ADMIN_IDS）设定为工作人员，不能在机器人中撤销；如需撤销，请修改配置后重启机器人。"]
        texts = chat.texts(await chat.send(f"/staff add {configured}", user=admin))
        assert texts == [f"用户 {configured} 已由配置文件（STAFF_IDS / ADMIN_IDS）设定为工作人员，无需在此授权。"]
    # a forged confirm button for a configured id changes nothing either
    await chat.send(f"/staff add {NEWCOMER}", user=admin)
    await chat.send(f"/staff remove {NEWCOMER}", user=admin)
    texts = chat.texts(await chat.press_data(f"staff_grant:yes:{STAFF_ID}", user=admin))
    assert "不能在机器人中撤销" in texts[0]
    assert not await AuditLog.filter(action="staff.withdraw").exists()
    assert chat.texts(await chat.send("/staff remove abc", user=admin))[0].startswith("授权：/staff add 用户ID")


async def test_staff_who_are_not_admins_are_refused(chat: Chat) -> None:
    staff = chat.as_user(STAFF_ID)
    await Staff.create(user_id=NEWCOMER, granted_by=ADMIN_ID)
    for text in ("/staff", f"/staff add 777", f"/staff remove {NEWCOMER}"):
        assert chat.texts(await chat.send(text, user=staff)) == [ADMINS_ONLY]
    # nor by a button: the admin's list, pressed by staff
    await chat.send("/staff", user=chat.as_user(ADMIN_ID))
    message = chat.last_with_buttons(chat.as_user(ADMIN_ID))
    calls = await chat.press_data(f"staff_grant:yes:{NEWCOMER}", user=staff, message=message)
    assert [c.text for c in calls if getattr(c, "show_alert", None)] == [ADMINS_ONLY]
    assert (await Staff.get(user_id=NEWCOMER)).active
    assert not await Staff.filter(user_id=777).exists() and not await AuditLog.exists()


# -- who reaches what ------------------------------------------------------------------------------

CONTACT_ID = 6102
EXPECTED = {
    # command: (nobody, contact, staff, admin): how the first answer starts
    "/staff": (REFUSED, REFUSED, ADMINS_ONLY, "<b>工作人员</b>"),
    "/stations": (REFUSED, REFUSED, "工作站（1 个）：", "工作站（1 个）："),
    "/export": (REFUSED, REFUSED, "正在生成导出文件", "正在生成导出文件"),
    "/export full": (REFUSED, REFUSED, "含完整个人信息的导出仅限管理员", "正在生成含完整个人信息的导出文件"),
}


@pytest.mark.parametrize("command", list(EXPECTED))
async def test_access_matrix(chat: Chat, command: str) -> None:
    unit = await Unit.create(name="深圳精密制造有限公司", uscc="91440300MA5FXXXX3X", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name="精密加工技师工作站", mode="self", state=StationState.ACTIVE)
    await Contact.create(user=await BotUser.create(id=CONTACT_ID), station=station, role="applicant")
    users = (7001, CONTACT_ID, STAFF_ID, ADMIN_ID)
    for user_id, expected in zip(users, EXPECTED[command], strict=True):
        calls = await chat.send(command, user=chat.as_user(user_id))
        texts = chat.texts(calls)
        assert texts and texts[0].startswith(expected), (command, user_id, texts)
        sent = chat.documents(calls)
        assert len(sent) == (1 if expected.startswith("正在生成") else 0), (command, user_id)
    assert await AuditLog.filter(action="export.full").count() == (1 if command == "/export full" else 0)
