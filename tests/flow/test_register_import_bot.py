"""/import in the chat: staff send the register's .xlsx, read the dry run's report, and import it
with one press; a refused file offers no import, a replayed press imports nothing twice, and no
one else reaches it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery

from bot.i18n import t
from chat_harness import STAFF_ID, Chat, make_settings
from storage.models import InviteCode, Station, StationState, Unit
from factories import register_workbook
from test_register_import import CLOCK, station_row, template, uscc

FILE = "名册.xlsx"


@pytest.fixture
def chat(db: str, tmp_path: Path) -> Chat:
    return Chat(make_settings(db, data_key_file=str(tmp_path / "secret.key")), clock=CLOCK)


def alerts(calls: list) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


async def test_staff_import_the_template_after_its_dry_run(chat: Chat, tmp_path: Path) -> None:
    staff = chat.as_user(STAFF_ID)
    assert chat.texts(await chat.send("/import", user=staff)) == [t("zh", "import.bot.ask")]
    # not a workbook: refused, and asked again
    [refusal] = chat.texts(await chat.send_document(b"%PDF-1.4", "名册.pdf", user=staff))
    assert t("zh", "import.bot.not_xlsx", mb=5) in refusal and t("zh", "import.bot.ask") in refusal

    texts = chat.texts(await chat.send_document(template(), FILE, user=staff))
    report = texts[-1]
    assert t("zh", "import.title_dry_run") in report and t("zh", "import.bot.dry_run_ok") in report
    assert "· 工作站：导入 1 行" in report
    assert chat.buttons(staff) == ["正式导入", "取消"]
    assert await Station.all().count() == 0  # a dry run writes nothing
    assert len(list((tmp_path / "imports").glob("*.xlsx"))) == 1

    calls = await chat.press("正式导入", user=staff)
    [done] = chat.texts(calls)
    assert t("zh", "import.title") in done and "· 工作站：导入 1 行" in done
    station = await Station.get(unit__uscc="91440300MA5F0DEM0A")
    assert (station.state, station.recognised_on) == (StationState.ACTIVE, date(2019, 6, 1))
    # the contact without a Telegram id: their invite code is in the report
    assert await InviteCode.filter(station=station).count() == 1 and "李示例：" in done
    assert list((tmp_path / "imports").iterdir()) == []  # the kept file is gone


async def test_a_replayed_import_button_imports_nothing_twice(chat: Chat) -> None:
    staff = chat.as_user(STAFF_ID)
    await chat.send("/import", user=staff)
    await chat.send_document(template(), FILE, user=staff)
    message = chat.last_with_buttons(staff)
    data = message.reply_markup.inline_keyboard[0][0].callback_data  # 正式导入
    await chat.press_data(data, staff, message)
    units = await Unit.all().count()
    calls = await chat.press_data(data, staff, message)
    assert alerts(calls) == [t("zh", "import.bot.already_handled")] and chat.texts(calls) == []
    assert await Unit.all().count() == units == 1 and await InviteCode.all().count() == 1


async def test_a_refused_file_lists_its_rows_offers_no_import_and_writes_nothing(chat: Chat) -> None:
    staff = chat.as_user(STAFF_ID)
    good = uscc("91440300MA5F00G01")
    data = register_workbook({"工作站": [station_row(good, "良好"), station_row(good, "重复")]})
    await chat.send("/import", user=staff)
    calls = await chat.send_document(data, FILE, user=staff)
    report = chat.texts(calls)[-1]
    assert "工作站 第3行 统一社会信用代码：" + t("zh", "invalid.import.duplicate_uscc", first=2) in report
    assert t("zh", "import.nothing_written") in report and t("zh", "import.bot.fix_and_resend") in report
    assert all(getattr(c, "reply_markup", None) is None for c in calls)
    assert await Station.all().count() == 0
    # still waiting for the corrected file; /cancel leaves
    assert chat.texts(await chat.send("/cancel", user=staff)) == [t("zh", "import.bot.cancelled")]
    assert t("zh", "import.bot.ask") not in chat.texts(await chat.send_document(data, FILE, user=staff))


async def test_import_is_refused_to_anyone_but_staff(chat: Chat) -> None:
    stranger = chat.as_user(7001)
    assert chat.texts(await chat.send("/import", user=stranger)) == [t("zh", "staff.refused")]
    assert await Station.all().count() == 0


async def test_import_takes_the_file_even_when_the_queue_screen_was_open(chat: Chat) -> None:
    staff = chat.as_user(STAFF_ID)
    await chat.send("/pending", user=staff)
    assert chat.texts(await chat.send("/import", user=staff)) == [t("zh", "import.bot.ask")]
    [refusal] = chat.texts(await chat.send_document(b"%PDF-1.4", "名册.pdf", user=staff))
    assert t("zh", "import.bot.not_xlsx", mb=5) in refusal and t("zh", "import.bot.ask") in refusal
