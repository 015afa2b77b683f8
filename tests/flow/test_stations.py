"""/stations: staff find a station by name or USCC, and its card shows what the tables hold,
with no personal numbers. The station is made by walking a real declaration."""

from __future__ import annotations

import pytest

from bot.rules.identifiers import mask_resident_id
from chat_harness import STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from storage.models import BotUser, Contact, Station, StationState, Unit, UnitType
from test_declaration import HEAD_ID, HEAD_MOBILE, MENTOR_IDS, USCC, reach_summary

CONTACT_MOBILE = "13900139000"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def declare(chat: Chat) -> None:
    await reach_summary(chat)
    await chat.press("提交")


async def staff_says(chat: Chat, text: str) -> list[str]:
    return chat.texts(await chat.send(text, user=chat.as_user(STAFF_ID)))


@both_databases
async def test_search_by_name_opens_the_card_with_no_personal_numbers(chat: Chat) -> None:
    await declare(chat)
    station = await Station.get(unit__uscc=USCC)
    [card] = await staff_says(chat, "/stations 精密模具")
    lines = card.split("\n")
    assert lines[0] == f"<b>精密模具技师工作站</b>（工作站ID {station.id}）"
    assert f"申办单位：深圳精密制造有限公司（企业）\n统一社会信用代码：{USCC}" in card
    assert "状态：申报中；设立方式：合作共建" in card and "合作单位：深圳技师学院；校企合作：是" in card
    assert f"• 用户 {USER_ID}（申报人）" in card
    # the mentors as the declaration holds them, ID numbers masked
    assert "<b>指导教师</b>（来自设立申报，证件号码已脱敏）" in card
    mentor_lines = [line for line in lines if line.startswith(("1. ", "2. ", "3. "))]
    assert len(mentor_lines) == 3
    assert mentor_lines[0].startswith(f"1. 导师1 · {mask_resident_id(MENTOR_IDS[0])} · 模具工 · 技师")
    assert "2028-02-29" in mentor_lines[2] and "高级技师" in mentor_lines[2]
    for number in (*MENTOR_IDS, HEAD_ID, HEAD_MOBILE, CONTACT_MOBILE):
        assert number not in card
    assert "• 设立申报 SZJS-2026-0001（2026年度）：已提交，提交于 2026-11-27" in card
    # history: the transitions the tables hold
    assert "<b>办理记录</b>（最近" in card and "• 2026-11-27 09:00 申请 SZJS-2026-0001：草稿 → 已提交" in card
    assert "• 2026-11-27 09:00 工作站：— → 申报中" in card
    # what the tables do not hold yet is said to be empty, and nothing more
    for section in ("<b>公示</b>", "<b>年度备案</b>", "<b>重点建设项目</b>", "<b>资助</b>"):
        assert lines[lines.index(section) + 1] == "（无记录）"


async def test_search_by_exact_or_partial_uscc_and_nothing_found(chat: Chat) -> None:
    await declare(chat)
    for term in (USCC, USCC[4:12], USCC[4:12].lower()):
        texts = await staff_says(chat, f"/stations {term}")
        assert texts[0].startswith("<b>精密模具技师工作站</b>"), term
    assert await staff_says(chat, "/stations 不存在的单位") == ["没有找到名称或统一社会信用代码包含“不存在的单位”的工作站。"]


async def test_several_matches_are_listed_and_a_button_opens_the_card(chat: Chat) -> None:
    await declare(chat)
    unit = await Unit.create(name="深圳精密电子有限公司", uscc="91440300MA5F00009X", unit_type=UnitType.ENTERPRISE)
    other = await Station.create(unit=unit, name="精密电子技师工作站", mode="self", state=StationState.ACTIVE)
    await Contact.create(user=await BotUser.create(id=6200), station=other, role="contact", active=False)
    [listing] = await staff_says(chat, "/stations 精密")
    assert listing.startswith("找到 2 个与“精密”相符的工作站：")
    assert "• 精密电子技师工作站 — 深圳精密电子有限公司（91440300MA5F00009X），在册运行" in listing
    staff = chat.as_user(STAFF_ID)
    assert chat.buttons(staff) == ["精密模具技师工作站", "精密电子技师工作站"]
    texts = chat.texts(await chat.press("精密电子", user=staff))
    assert texts[0].startswith(f"<b>精密电子技师工作站</b>（工作站ID {other.id}）")
    assert "• 用户 6200（联系人）（已停用）" in texts[0]
    assert "<b>指导教师</b>（来自设立申报，证件号码已脱敏）\n（无记录）" in texts[0]
    # /stations alone lists them all
    assert (await staff_says(chat, "/stations"))[0].startswith("工作站（2 个）：")
