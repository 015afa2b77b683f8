"""The bureau's existing register imported from Excel (`python -m bot import-stations`): the
template imports cleanly, a dry run writes nothing, a re-import changes nothing, a bad file is
refused row by row and leaves the database as it was, and filing obligations follow from
recognition dates and the filings on the sheet."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from bot.clock import FixedClock
from bot.crypto import vault_for
from bot.i18n import t
from bot.services.register_import import SHEETS, import_register, render_report, write_template
from chat_harness import STAFF_ID, Chat, make_settings
from conftest import both_databases
from storage.submissions import next_reference
from tortoise.transactions import in_transaction
from factories import register_workbook
from tests.reliability.invariants import broken_invariants
from storage.models import (
    BotUser,
    Contact,
    FilingObligation,
    Funding,
    InviteCode,
    KeyProjectGrade,
    Station,
    StationState,
    StatusTransition,
    Submission,
    Unit,
)

CLOCK = FixedClock(datetime(2026, 4, 10, 2, 0, tzinfo=UTC))  # 10:00 in Shenzhen, 10 April 2026
TABLES = (Unit, Station, Contact, BotUser, InviteCode, Submission, FilingObligation, KeyProjectGrade, Funding,
          StatusTransition)


def uscc(body: str) -> str:
    return body + stdnum_uscc.calc_check_digit(body)


def resident_id(body: str) -> str:
    return body + stdnum_ric.calc_check_digit(body + "0")


def template() -> bytes:
    out = io.BytesIO()
    write_template(out)
    return out.getvalue()




async def counts() -> dict[str, int]:
    return {model.__name__: await model.all().count() for model in TABLES}


def station_row(code: str, name: str, recognised: object = date(2019, 6, 1), unit_type: str = "企业",
                state: str = "正常") -> list[object]:
    return [f"{name}有限公司", code, unit_type, "自行申请设立", None, "否", f"{name}技师工作站", recognised, "赵负责", state]


@both_databases
async def test_the_template_imports_cleanly_dry_run_first_and_again_changes_nothing(db: str) -> None:
    settings = make_settings(db)
    data = template()
    # Its headers are the importer's own.
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [s.title for s in SHEETS]
    assert [c.value for c in wb["工作站"][1]] == [c.header for c in SHEETS[0].columns]

    before = await counts()
    dry = await import_register(data, settings=settings, clock=CLOCK, dry_run=True)
    assert not dry.rejected, render_report(dry)
    assert dry.imported == {"工作站": 1, "联系人": 1, "指导教师": 1, "年度备案": 1, "重点项目": 1}
    assert await counts() == before

    report = await import_register(data, settings=settings, clock=CLOCK, dry_run=False, actor_id=STAFF_ID)
    assert not report.rejected and report.imported == dry.imported
    station = await Station.get(unit__uscc=SHEETS[0].columns[1].example).prefetch_related("unit")
    assert (station.state, station.recognised_on, station.school_enterprise) == (StationState.ACTIVE, date(2019, 6, 1), True)
    assert [(r.from_status, r.to_status, r.reason) for r in
            await StatusTransition.filter(subject_type="station", subject_id=station.id).order_by("id")] \
        == [(None, "applying", "import"), ("applying", "active", "import")]
    # The contact without a Telegram id has a code, shown once in the report; only its hash is kept.
    [invite] = report.invites
    assert await InviteCode.filter(station=station, code_hash=InviteCode.hash_code(invite.code.replace("-", ""))).exists()
    assert invite.code in render_report(report)
    assert "（有效至 2026-04-17 10:00）" in render_report(report)  # seven days, in Shenzhen's time
    # The mentor, in the declaration's shape, the ID number sealed.
    declaration = await Submission.get(station=station, kind="establishment")
    [mentor] = declaration.answers["mentors"]
    assert "440301" not in str(mentor["id_number"])
    assert vault_for(settings).unseal(mentor["id_number"]) == SHEETS[2].columns[2].example
    project = await Submission.get(station=station, kind="key_project")
    assert (project.status.value, project.level, project.uniqueness_key) == ("funded", 2, f"key_project:{station.id}:2022")
    assert (await Funding.get(submission=project)).amount == Decimal("250000")
    # Each imported item has its reference and the audit row that brought it in, like the bot's own.
    assert (declaration.reference, project.reference) == ("SZJS-2019-0001", "SZXM-2022-0001")
    for item, state in ((declaration, "recognised"), (project, "funded")):
        assert [(r.action, r.from_status, r.to_status, r.actor_kind, r.reason) for r in
                await StatusTransition.filter(subject_type="submission", subject_id=item.id)] \
            == [("", "draft", state, "system", "import")]
    assert await broken_invariants() == []

    after = await counts()
    again = await import_register(data, settings=settings, clock=CLOCK, dry_run=False, actor_id=STAFF_ID)
    assert not again.rejected and set(again.imported.values()) == {0} and again.present["工作站"] == 1
    assert not again.invites
    assert await counts() == after


async def test_filing_obligations_follow_from_recognition_and_the_filings(db: str) -> None:
    code = uscc("91440300MA5F00F01")
    late = uscc("91440300MA5F00F02")
    data = register_workbook({
        "工作站": [station_row(code, "备案齐全"), station_row(late, "迟交", recognised="2024年5月1日")],
        "年度备案": [[code, year, date(year + 1, 2, 10), None] for year in range(2019, 2025)]
                  + [[late, 2024, "2025-04-02", "2025-08-31"]],
    })
    report = await import_register(data, settings=make_settings(db), clock=CLOCK, dry_run=False)
    assert not report.rejected, render_report(report)
    rows = {(o.station_id, o.year): o for o in await FilingObligation.all()}
    full = await Station.get(unit__uscc=code)
    # Filed 2019–2024 on time; 2025 owed, due until the end of February 2026, so overdue on 10 April.
    assert {y: rows[(full.id, y)].state.value for y in range(2019, 2026)} == {
        **{y: "filed_on_time" for y in range(2019, 2025)}, 2025: "overdue"}
    assert rows[(full.id, 2025)].due_on == date(2026, 2, 28)
    other = await Station.get(unit__uscc=late)
    # Filed within its extension: on time; nothing owed before the recognition year.
    assert rows[(other.id, 2024)].state.value == "filed_on_time"
    assert rows[(other.id, 2024)].extended_due_on == date(2025, 8, 31)
    assert sorted(y for s, y in rows if s == other.id) == [2024, 2025]
    assert await broken_invariants() == []  # each met or owed year has its audit row


async def test_imported_declarations_are_numbered_in_sheet_order_and_the_series_goes_on(db: str) -> None:
    first, second, later = uscc("91440300MA5F00R01"), uscc("91440300MA5F00R02"), uscc("91440300MA5F00R03")
    data = register_workbook({"工作站": [station_row(first, "甲"), station_row(second, "乙"),
                                         station_row(later, "丙", recognised=date(2021, 3, 1))]})
    report = await import_register(data, settings=make_settings(db), clock=CLOCK, dry_run=False)
    assert not report.rejected, render_report(report)
    references = {s.unit.uscc: s.reference for s in await Submission.filter(kind="establishment").prefetch_related("unit")}
    assert references == {first: "SZJS-2019-0001", second: "SZJS-2019-0002", later: "SZJS-2021-0001"}
    # The bot's own numbers of those years go on after the imported ones.
    async with in_transaction():
        assert await next_reference(2019, "SZJS") == "SZJS-2019-0003"


@both_databases
async def test_a_file_with_bad_rows_is_refused_row_by_row_and_writes_nothing(db: str) -> None:
    settings = make_settings(db)
    good = uscc("91440300MA5F00G01")
    young = uscc("91440300MA5F00G02")
    stranger = uscc("91440300MA5F00G03")
    bad_uscc = good[:-1] + ("0" if good[-1] != "0" else "1")
    data = register_workbook({
        "工作站": [
            station_row(good, "良好"),                                   # row 2: fine
            station_row(bad_uscc, "错码"),                               # row 3: bad USCC
            station_row(good, "重复"),                                   # row 4: duplicate USCC
            station_row(uscc("91440300MA5F00G04"), "类型", unit_type="个体户"),  # row 5: unknown unit type
            station_row(young, "未来", recognised=date(2026, 5, 1)),     # row 6: recognised in the future
        ],
        "联系人": [[stranger, "钱联系", "13800138000", None]],          # row 2: USCC nowhere
        "指导教师": [
            [good, "孙导师", "440301198001010030" if resident_id("44030119800101003")[-1] != "0" else "440301198001010031",
             "高级技师", "S1", "本单位", None, None],                     # row 2: bad ID number
            [stranger, "周导师", resident_id("44030119750203123"), "技师", "S2", "本单位", None, None],  # row 3: USCC nowhere
        ],
        "年度备案": [[good, 2018, date(2019, 2, 1), None]],              # row 2: before recognition (2019)
    })
    report = await import_register(data, settings=settings, clock=CLOCK, dry_run=False)
    assert report.rejected
    found = [(p.sheet, p.row, p.column, p.reason.reason) for p in report.problems]
    assert found == [
        ("工作站", 3, "统一社会信用代码", "uscc.check"),
        ("工作站", 5, "单位类型", "import.choice"),
        ("工作站", 6, "认定日期", "import.future_date"),
        ("指导教师", 2, "身份证号码", "ric.check"),
        ("工作站", 4, "统一社会信用代码", "import.duplicate_uscc"),
        ("联系人", 2, "统一社会信用代码", "import.unknown_uscc"),
        ("指导教师", 3, "统一社会信用代码", "import.unknown_uscc"),
        ("年度备案", 2, "年度", "import.filing_before_recognition"),
    ]
    text = render_report(report)
    assert "工作站 第4行 统一社会信用代码：" + t("zh", "invalid.import.duplicate_uscc", first=2) in text
    assert t("zh", "import.nothing_written") in text
    # the chat's wording names its "我已核对" button; the report says it its own way
    assert "工作站 第3行 统一社会信用代码：统一社会信用代码的校验位不符，请对照单位的登记证书核对后修改。" in text
    assert "我已核对" not in text
    assert set((await counts()).values()) == {0}


async def test_a_missing_column_is_one_error_and_an_extra_one_a_warning(db: str) -> None:
    wb = load_workbook(io.BytesIO(template()))
    wb["联系人"].delete_cols(3)  # 手机号码
    wb["工作站"].cell(1, 20, "备注")
    out = io.BytesIO()
    wb.save(out)
    report = await import_register(out.getvalue(), settings=make_settings(db), clock=CLOCK, dry_run=True)
    assert [(p.sheet, p.column, p.reason.reason) for p in report.problems] == [("联系人", "手机号码", "import.missing_column")]
    assert [(w.sheet, w.column, w.reason.reason) for w in report.warnings] == [("工作站", "备注", "import.extra_column")]


async def test_an_imported_station_shows_in_stations_with_its_mentor(db: str) -> None:
    settings = make_settings(db)
    await import_register(template(), settings=settings, clock=CLOCK, dry_run=False, actor_id=STAFF_ID)
    chat = Chat(settings, clock=CLOCK)
    [card] = chat.texts(await chat.send("/stations 示例精密", user=chat.as_user(STAFF_ID)))
    assert "示例精密模具技师工作站" in card and "王示例" in card
    assert "440301198001010034" not in card  # masked, as the chat shows it
    # Its history says where its states came from, in words.
    assert "（由原有名册导入）" in card and "import" not in card
