"""The staff branch: one root filter in front of every staff handler, and a refusal for the rest.

A probe router stands in for a staff module: what it registers is reached by staff only, commands
and buttons alike, whoever forges the callback data; a revoked grant is refused on the next press.
"""

from __future__ import annotations

import logging

import pytest
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import CallbackQuery, Message

import handlers.staff
from bot import commands
from chat_harness import STAFF_ID, Chat, make_settings
from storage.models import Staff

REFUSED = "此功能仅限市人力资源保障局工作人员使用。"


def probe_router() -> Router:
    router = Router(name="probe")

    async def on_command(message: Message) -> None:
        await message.answer("probe: staff only")

    async def on_button(query: CallbackQuery) -> None:
        await query.answer("probe: pressed")

    router.message.register(on_command, Command("probe"))
    router.callback_query.register(on_button, F.data == "staff_probe:go")
    return router


@pytest.fixture
def chat(db: str, monkeypatch: pytest.MonkeyPatch) -> Chat:
    monkeypatch.setattr(handlers.staff, "staff_children", lambda: [probe_router()])
    monkeypatch.setattr(commands, "STAFF_ONLY_COMMANDS", ["probe"])
    monkeypatch.setattr("handlers.STAFF_ONLY_COMMANDS", ["probe"])
    return Chat(make_settings(db))


def alerts(calls: list) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


async def test_staff_reach_the_staff_branch_and_no_one_else_does(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    staff, stranger = chat.as_user(STAFF_ID), chat.as_user(7001)
    assert chat.texts(await chat.send("/probe", user=staff)) == ["probe: staff only"]
    with caplog.at_level(logging.WARNING, logger="handlers.staff"):
        assert chat.texts(await chat.send("/probe secret-argument", user=stranger)) == [REFUSED]
    assert "staff command /probe refused for user 7001" in caplog.text and "secret-argument" not in caplog.text
    # a forged staff button: refused and logged, whatever it claims
    await chat.send("/start", user=stranger)
    message = chat.last_with_buttons(stranger)
    with caplog.at_level(logging.WARNING, logger="handlers.staff"):
        assert alerts(await chat.press_data("staff_probe:go", user=stranger, message=message)) == [REFUSED]
    assert "staff callback staff_probe refused for user 7001" in caplog.text
    await chat.send("/start", user=staff)
    message = chat.last_with_buttons(staff)
    assert alerts(await chat.press_data("staff_probe:go", user=staff, message=message)) == ["probe: pressed"]


async def test_a_withdrawn_grant_is_refused_on_the_next_call(chat: Chat) -> None:
    granted = chat.as_user(4243)
    grant = await Staff.create(user_id=4243, granted_by=STAFF_ID)
    assert chat.texts(await chat.send("/probe", user=granted)) == ["probe: staff only"]
    grant.active = False
    await grant.save()
    assert chat.texts(await chat.send("/probe", user=granted)) == [REFUSED]


async def test_staff_still_reach_everything_else(chat: Chat) -> None:
    # the branch takes only what it handles: /status and the forms go on for staff too
    texts = chat.texts(await chat.send("/declare", user=chat.as_user(STAFF_ID)))
    assert any("请输入申办单位名称" in t for t in texts)


# -- the whole branch as it ships: every staff command and every staff button × every role ---------

def _staff_callback_prefixes() -> set[str]:
    """Every CallbackData prefix the staff handlers define (imported through the real routers)."""
    from aiogram.filters.callback_data import CallbackData

    import handlers.staff as branch

    branch.build_router(*branch.staff_children())  # imports every staff module
    found, pending = set(), list(CallbackData.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        prefix = getattr(cls, "__prefix__", "")
        if cls.__module__.startswith("handlers.staff"):
            found.add(prefix)
    return found


async def test_every_staff_command_and_button_is_refused_to_everyone_but_staff(db: str) -> None:
    from storage.models import BotUser, Contact, Station, StationState, Unit, UnitType

    chat = Chat(make_settings(db, admin_ids=frozenset({5559002})))
    unit = await Unit.create(name="甲公司", uscc="91440300MA5F00009X", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name="甲技师工作站", mode="self", state=StationState.ACTIVE)
    contact, _ = await BotUser.get_or_create(id=7002)
    await Contact.create(user=contact, station=station, role="applicant")
    outsiders = {"nobody": chat.as_user(7001), "contact of a station": chat.as_user(7002)}
    insiders = {"staff": chat.as_user(STAFF_ID), "admin": chat.as_user(5559002)}
    assert commands.STAFF_ONLY_COMMANDS, "the staff branch ships commands"
    for command in commands.STAFF_ONLY_COMMANDS:
        for role, user in outsiders.items():
            assert chat.texts(await chat.send(f"/{command}", user=user)) == [REFUSED], (command, role)
        for role, user in insiders.items():
            assert REFUSED not in chat.texts(await chat.send(f"/{command}", user=user)), (command, role)
    prefixes = _staff_callback_prefixes()
    assert len(prefixes) >= 5 and all(p.startswith(handlers.staff.STAFF_PREFIX) for p in prefixes), prefixes
    for role, user in outsiders.items():
        await chat.send("/start", user=user)
        message = chat.last_with_buttons(user)
        for prefix in sorted(prefixes):
            assert alerts(await chat.press_data(f"{prefix}:1:2:3", user=user, message=message)) == [REFUSED], (prefix, role)
    # nothing was written on their behalf
    from storage.models import AuditLog

    assert not await AuditLog.filter(actor_id__in=[7001, 7002]).exists()
