"""The register the bureau already keeps in Excel, read into the tables (`python -m bot import-stations`).

One definition, `SHEETS`, names every sheet, its Chinese column headers and the parser of each
column; the importer reads with it and `write_template` writes the template from it. Each column's
parser is one of the chat's own validators (bot/rules/identifiers.py, bot/rules/values.py), so a
value the chat refuses is refused here with the same reason. Rows are then checked against each
other and the database (duplicate USCC, unknown USCC, filings before recognition, ...). Any refused
row and nothing is written; otherwise storage.register_import writes the whole run in one
transaction. Stations whose USCC is already in the database are left as they are ("already
present"), with their rows on the other sheets, so importing the same file again changes nothing.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from bot.clock import Clock, local_today
from bot.crypto import vault_for
from bot.forms.declaration import AT_LEAST_SENIOR, contract_end_problem
from bot.forms.key_project import CATEGORIES
from bot.i18n import has_text, t
from bot.rules.decisions import funding_for, may_declare_key_project
from bot.rules.filing import filed_on_time, filing_opens_on, filing_standing
from bot.rules.identifiers import parse_mobile, parse_resident_id, parse_uscc
from bot.rules.lifecycle import filing_due_on
from bot.rules.values import Invalid, parse_count, parse_date, parse_money, parse_text
from bot.services.contacts import INVITE_VALIDITY, format_code, new_code
from bot.settings import Settings
from storage import register_import as store
from storage.models import KEY_PROJECT_SLOTS_PER_LEVEL, EstablishmentMode, StationState, UnitType

__all__ = ["SHEETS", "Report", "import_register", "render_report", "write_template"]

Parser = Callable[[Any, date], Any]  # (cell value, today) -> value | Invalid


def _text(value: Any, today: date) -> str | Invalid:
    return parse_text(str(value), max_length=200)


def _digits(value: Any) -> str:
    # Excel keeps a long number typed into a cell as a number: 13800138000 or 1.38e10.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _date(value: Any, today: date) -> date | Invalid:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_date(_digits(value))


def _past_date(value: Any, today: date) -> date | Invalid:
    parsed = _date(value, today)
    if isinstance(parsed, date) and parsed > today:
        return Invalid("import.future_date", {"today": today})
    return parsed


def _choice(options: Mapping[str, Any]) -> Parser:
    def parse(value: Any, today: date) -> Any:
        text = str(value).strip()
        if text in options:
            return options[text]
        return Invalid("import.choice", {"choices": " / ".join(options)})
    return parse


def _year(value: Any, today: date) -> int | Invalid:
    return parse_count(_digits(value), minimum=2000, maximum=today.year)


def _telegram_id(value: Any, today: date) -> int | Invalid:
    return parse_count(_digits(value), minimum=1)


def _money(value: Any, today: date) -> Decimal | Invalid:
    return parse_money(_digits(value) if not isinstance(value, (int, float)) else str(value))


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    parse: Parser
    required: bool = True  # the cell: a column is always required on its sheet
    example: Any = ""


@dataclass(frozen=True)
class Sheet:
    title: str
    key: str
    columns: tuple[Column, ...]


def _uscc(value: Any, today: date) -> str | Invalid:
    return parse_uscc(str(value))


def _mobile(value: Any, today: date) -> str | Invalid:
    return parse_mobile(_digits(value))


def _resident_id(value: Any, today: date) -> str | Invalid:
    return parse_resident_id(_digits(value), today)


# Fake but valid numbers for the template: the check characters are right (GB 32100, GB 11643).
EXAMPLE_USCC = "91440300MA5F0DEM0A"
EXAMPLE_RESIDENT_ID = "440301198001010034"

UNIT_TYPES = {"企业": UnitType.ENTERPRISE, "企业集团": UnitType.GROUP, "行业协会": UnitType.ASSOCIATION,
              "科研生产型事业单位": UnitType.INSTITUTION}
MODES = {"自行申请设立": EstablishmentMode.SELF, "合作共建": EstablishmentMode.CO_BUILT}
YES_NO = {"是": True, "否": False}
STATES = {"正常": StationState.ACTIVE, "已撤销": StationState.REVOKED, "已注销": StationState.DEREGISTERED}
MENTOR_LEVELS = {"技师": "technician", "高级技师": "senior"}
EMPLOYMENTS = {"本单位": "own", "外聘": "external"}
PROJECT_LEVELS = {"一级": 1, "二级": 2, "三级": 3}


def _categories() -> dict[str, str]:
    return {t("zh", f"key_project_category.{c}"): c for c in CATEGORIES}


def _category(value: Any, today: date) -> Any:
    return _choice(_categories())(value, today)


SHEETS: tuple[Sheet, ...] = (
    Sheet("工作站", "stations", (
        Column("单位名称", "unit_name", _text, example="示例精密模具有限公司"),
        Column("统一社会信用代码", "uscc", _uscc, example=EXAMPLE_USCC),
        Column("单位类型", "unit_type", _choice(UNIT_TYPES), example="企业"),
        Column("设立方式", "mode", _choice(MODES), example="合作共建"),
        Column("合作单位", "partner_name", _text, required=False, example="深圳技师学院"),
        Column("是否校企合作", "school_enterprise", _choice(YES_NO), example="是"),
        Column("工作站名称", "name", _text, example="示例精密模具技师工作站"),
        Column("认定日期", "recognised_on", _past_date, example=date(2019, 6, 1)),
        Column("工作站负责人", "head", _text, required=False, example="张示例"),
        Column("状态", "state", _choice(STATES), example="正常"),
    )),
    Sheet("联系人", "contacts", (
        Column("统一社会信用代码", "uscc", _uscc, example=EXAMPLE_USCC),
        Column("姓名", "name", _text, example="李示例"),
        Column("手机号码", "mobile", _mobile, example="13800138000"),
        Column("Telegram用户ID", "telegram_id", _telegram_id, required=False, example=""),
    )),
    Sheet("指导教师", "mentors", (
        Column("统一社会信用代码", "uscc", _uscc, example=EXAMPLE_USCC),
        Column("姓名", "name", _text, example="王示例"),
        Column("身份证号码", "id_number", _resident_id, example=EXAMPLE_RESIDENT_ID),
        Column("等级", "level", _choice(MENTOR_LEVELS), example="高级技师"),
        Column("证书编号", "certificate_no", _text, example="S000000000001"),
        Column("聘用方式", "employment", _choice(EMPLOYMENTS), example="本单位"),
        Column("聘期开始", "contract_start", _date, required=False, example=""),
        Column("聘期结束", "contract_end", _date, required=False, example=""),
    )),
    Sheet("年度备案", "filings", (
        Column("统一社会信用代码", "uscc", _uscc, example=EXAMPLE_USCC),
        Column("年度", "year", _year, example=2023),
        Column("备案日期", "filed_on", _past_date, example=date(2024, 2, 20)),
        Column("延期至", "extended_due_on", _date, required=False, example=""),
    )),
    Sheet("重点项目", "key_projects", (
        Column("统一社会信用代码", "uscc", _uscc, example=EXAMPLE_USCC),
        Column("年度", "year", _year, example=2022),
        Column("类别", "category", _category, example="技能创新"),
        Column("项目名称", "project_name", _text, example="精密模具数字化装配技能创新"),
        Column("等级", "level", _choice(PROJECT_LEVELS), example="二级"),
        Column("资助金额", "amount", _money, example=250000),
    )),
)


# -- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int  # as Excel numbers it: the header is row 1
    column: str
    reason: Invalid


@dataclass(frozen=True)
class Invite:
    station: str
    name: str
    code: str  # formatted, shown once in the report and never stored


@dataclass
class Report:
    dry_run: bool
    imported: dict[str, int] = field(default_factory=dict)  # sheet title -> rows written (or to write)
    present: dict[str, int] = field(default_factory=dict)  # sheet title -> rows of stations already there
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)
    owed: int = 0  # filing obligations owed since recognition that the register does not show as filed
    expires_at: datetime | None = None

    @property
    def rejected(self) -> bool:
        return bool(self.problems)


def _reason(lang: str, reason: Invalid) -> str:
    # A few of the chat's reasons name its buttons ("我已核对"); the report says them its own way.
    key = f"import.reason.{reason.reason}"
    return t(lang, key if has_text(key) else f"invalid.{reason.reason}", **reason.params)


def render_report(report: Report, lang: str = "zh", *, dry_run_note: str = "import.dry_run_nothing_written") -> str:
    """`dry_run_note` closes a clean dry run: how to import for real (the command line's by default)."""
    lines = [t(lang, "import.title_dry_run" if report.dry_run else "import.title")]
    for sheet in SHEETS:
        lines.append(t(lang, "import.sheet_line", sheet=sheet.title, imported=report.imported.get(sheet.title, 0),
                       present=report.present.get(sheet.title, 0)))
    if report.owed:
        lines.append(t(lang, "import.owed", count=report.owed))
    if report.problems:
        lines.append(t(lang, "import.rejected", count=len(report.problems)))
        for p in report.problems:
            lines.append(t(lang, "import.problem", sheet=p.sheet, row=p.row, column=p.column, reason=_reason(lang, p.reason)))
    for w in report.warnings:
        lines.append(t(lang, "import.warning", sheet=w.sheet, row=w.row, column=w.column, reason=_reason(lang, w.reason)))
    if report.invites and report.dry_run:
        lines.append(t(lang, "import.invites_later", count=len(report.invites)))
    elif report.invites:
        lines.append(t(lang, "import.invites", expires=report.expires_at.strftime("%Y-%m-%d %H:%M") if report.expires_at else ""))
        for invite in report.invites:
            lines.append(t(lang, "import.invite", station=invite.station, name=invite.name, code=invite.code))
    if report.rejected:
        lines.append(t(lang, "import.nothing_written"))
    elif report.dry_run:
        lines.append(t(lang, dry_run_note))
    return "\n".join(lines)


# -- reading -----------------------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    values: dict[str, Any]


def _read(workbook: Workbook, report: Report, today: date) -> dict[str, list[_Row]]:
    rows: dict[str, list[_Row]] = {}
    for sheet in SHEETS:
        rows[sheet.key] = []
        if sheet.title not in workbook.sheetnames:
            report.problems.append(Problem(sheet.title, 1, "", Invalid("import.missing_sheet")))
            continue
        table = workbook[sheet.title].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(table, ())]
        where = {h: i for i, h in enumerate(header) if h}
        known = {c.header for c in sheet.columns}
        for i, h in enumerate(header):
            if h and h not in known:
                report.warnings.append(Problem(sheet.title, 1, h, Invalid("import.extra_column")))
        missing = [c.header for c in sheet.columns if c.header not in where]
        if missing:
            report.problems.append(Problem(sheet.title, 1, "、".join(missing), Invalid("import.missing_column")))
            continue
        for number, cells in enumerate(table, start=2):
            if all(v is None or str(v).strip() == "" for v in cells):
                continue
            values: dict[str, Any] = {}
            for column in sheet.columns:
                i = where[column.header]
                raw = cells[i] if i < len(cells) else None
                if raw is None or str(raw).strip() == "":
                    if column.required:
                        report.problems.append(Problem(sheet.title, number, column.header, Invalid("import.empty")))
                        break
                    values[column.key] = None
                    continue
                parsed = column.parse(raw, today)
                if isinstance(parsed, Invalid):
                    report.problems.append(Problem(sheet.title, number, column.header, parsed))
                    break
                values[column.key] = parsed
            else:
                rows[sheet.key].append(_Row(number, values))
    return rows


def _header(sheet_key: str, key: str) -> tuple[str, str]:
    sheet = next(s for s in SHEETS if s.key == sheet_key)
    return sheet.title, next(c.header for c in sheet.columns if c.key == key)


def _refuse(report: Report, sheet_key: str, row: _Row, key: str, reason: str, **params: Any) -> None:
    title, header = _header(sheet_key, key)
    report.problems.append(Problem(title, row.number, header, Invalid(reason, params)))


async def _check(rows: dict[str, list[_Row]], report: Report, today: date) -> store.Plan:
    """Rows against each other and the database; what stays is the plan to write."""
    plan = store.Plan()
    stations: dict[str, _Row] = {}
    for row in rows["stations"]:
        v = row.values
        uscc = v["uscc"]
        if uscc in stations:
            _refuse(report, "stations", row, "uscc", "import.duplicate_uscc", first=stations[uscc].number)
            continue
        if v["mode"] == EstablishmentMode.CO_BUILT and not v["partner_name"]:
            _refuse(report, "stations", row, "partner_name", "import.partner_required")
            continue
        stations[uscc] = row
    present = await store.present_stations(sorted({r.values["uscc"] for rs in rows.values() for r in rs}))
    recognised = {uscc: r.values["recognised_on"] for uscc, r in stations.items()}
    recognised.update({uscc: p.recognised_on for uscc, p in present.items()})

    def known(sheet_key: str, row: _Row) -> bool:
        if row.values["uscc"] in stations or row.values["uscc"] in present:
            return True
        _refuse(report, sheet_key, row, "uscc", "import.unknown_uscc")
        return False

    def skipped(sheet_key: str, row: _Row) -> bool:
        # The rows of a station already in the database are left out: it stays as it is.
        if row.values["uscc"] in present:
            title = _header(sheet_key, "uscc")[0]
            report.present[title] = report.present.get(title, 0) + 1
            return True
        return False

    for uscc, row in stations.items():
        if not skipped("stations", row):
            plan.stations.append(store.NewStation(row=row.number, **row.values))

    telegram_ids = [r.values["telegram_id"] for r in rows["contacts"] if r.values["telegram_id"]]
    bound = await store.bound_users(telegram_ids)
    seen_ids: dict[int, int] = {}
    for row in rows["contacts"]:
        v = row.values
        if not known("contacts", row):
            continue
        tid = v["telegram_id"]
        if tid is not None and tid in seen_ids:
            _refuse(report, "contacts", row, "telegram_id", "import.duplicate_telegram_id", first=seen_ids[tid])
            continue
        if tid is not None:
            seen_ids[tid] = row.number
        if skipped("contacts", row):
            continue
        if tid is not None and tid in bound:
            _refuse(report, "contacts", row, "telegram_id", "import.bound_elsewhere")
            continue
        plan.contacts.append(store.NewContact(uscc=v["uscc"], name=v["name"], telegram_id=tid))

    ids: dict[tuple[str, str], int] = {}
    for row in rows["mentors"]:
        v = row.values
        if not known("mentors", row):
            continue
        if (v["uscc"], v["id_number"]) in ids:
            _refuse(report, "mentors", row, "id_number", "import.duplicate_mentor", first=ids[(v["uscc"], v["id_number"])])
            continue
        ids[(v["uscc"], v["id_number"])] = row.number
        if v["employment"] == "external":
            if v["level"] not in AT_LEAST_SENIOR:
                _refuse(report, "mentors", row, "level", "declaration.external_not_senior")
                continue
            if v["contract_start"] is None:
                _refuse(report, "mentors", row, "contract_start", "import.empty")
                continue
            if v["contract_end"] is None:
                _refuse(report, "mentors", row, "contract_end", "import.empty")
                continue
            problem = contract_end_problem(v["contract_start"], v["contract_end"], today)
            if problem is not None:
                _refuse(report, "mentors", row, "contract_end", problem.reason, **problem.params)
                continue
        if skipped("mentors", row):
            continue
        plan.mentors.append(store.NewMentor(uscc=v["uscc"], answers=_mentor_answers(v)))

    filed: dict[tuple[str, int], int] = {}
    for row in rows["filings"]:
        v = row.values
        if not known("filings", row):
            continue
        uscc, year = v["uscc"], v["year"]
        if (uscc, year) in filed:
            _refuse(report, "filings", row, "year", "import.duplicate_year", first=filed[(uscc, year)])
            continue
        filed[(uscc, year)] = row.number
        since = recognised.get(uscc)
        if since is not None and year < since.year:
            _refuse(report, "filings", row, "year", "import.filing_before_recognition", recognised_on=since)
            continue
        if filing_opens_on(year) > today:
            _refuse(report, "filings", row, "year", "import.filing_not_open", year=year)
            continue
        if v["filed_on"] < filing_opens_on(year):
            _refuse(report, "filings", row, "filed_on", "import.filed_before_window", opens=filing_opens_on(year))
            continue
        if skipped("filings", row):
            continue
        deadline = v["extended_due_on"] or filing_due_on(year)
        # the same rule as a filing made in the chat: on time up to the (extended) deadline
        owed = "extended" if v["extended_due_on"] else "due"
        state = "filed_on_time" if filed_on_time(owed, deadline, v["filed_on"]) else "filed_late"
        plan.filings.append(store.NewFiling(uscc=uscc, year=year, due_on=filing_due_on(year),
                                            extended_due_on=v["extended_due_on"], state=state))

    projects: dict[tuple[str, int], int] = {}
    places: Counter[tuple[int, int]] = Counter()
    taken = await store.grade_places_taken()
    for row in rows["key_projects"]:
        v = row.values
        if not known("key_projects", row):
            continue
        uscc, year = v["uscc"], v["year"]
        if (uscc, year) in projects:
            _refuse(report, "key_projects", row, "year", "import.duplicate_year", first=projects[(uscc, year)])
            continue
        projects[(uscc, year)] = row.number
        if not may_declare_key_project(recognised.get(uscc), year):
            _refuse(report, "key_projects", row, "year", "import.project_before_recognition", recognised_on=recognised.get(uscc))
            continue
        if skipped("key_projects", row):
            continue
        places[(year, v["level"])] += 1
        if taken.get((year, v["level"]), 0) + places[(year, v["level"])] > KEY_PROJECT_SLOTS_PER_LEVEL:
            _refuse(report, "key_projects", row, "level", "import.level_full", year=year, cap=KEY_PROJECT_SLOTS_PER_LEVEL)
            continue
        if v["amount"] and v["amount"] != funding_for(v["level"]):
            title, header = _header("key_projects", "amount")
            report.warnings.append(Problem(title, row.number, header,
                                           Invalid("import.amount_differs", {"standard": funding_for(v["level"])})))
        plan.key_projects.append(store.NewKeyProject(uscc=uscc, year=year, level=v["level"], amount=v["amount"],
                                                     answers={"category": v["category"], "project_name": v["project_name"]}))

    # R10: every year from the recognition year to last year owes a filing; those the register
    # does not show are owed still (due or overdue today). None before the recognition year.
    for new in plan.stations:
        if new.state != StationState.ACTIVE:
            continue
        for year in range(new.recognised_on.year, today.year):
            if (new.uscc, year) not in filed:
                plan.filings.append(store.NewFiling(uscc=new.uscc, year=year, due_on=filing_due_on(year),
                                                    extended_due_on=None,
                                                    state=filing_standing(year, None, None, today), owed=True))
    return plan


def _mentor_answers(v: Mapping[str, Any]) -> dict[str, Any]:
    """A mentor as the declaration form stores one (bot/forms/declaration.py MENTOR_FIELDS)."""
    answers: dict[str, Any] = {"name": v["name"], "id_number": v["id_number"], "level": v["level"],
                               "certificate_no": v["certificate_no"], "employment": v["employment"]}
    if v["employment"] == "external":
        answers["contract_start"] = v["contract_start"].isoformat()
        answers["contract_end"] = v["contract_end"].isoformat()
    return answers


# -- the run -----------------------------------------------------------------------------------------


def today_of(clock: Clock, settings: Settings) -> date:
    return local_today(clock, settings.tz)


async def import_register(source: Path | bytes, *, settings: Settings, clock: Clock, dry_run: bool,
                          actor_id: int = 0) -> Report:
    """Read, check and (unless a dry run, and only when no row is refused) write the register."""
    now = clock.now()
    today = today_of(clock, settings)
    report = Report(dry_run=dry_run)
    try:
        workbook = load_workbook(io.BytesIO(source) if isinstance(source, bytes) else source, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - whatever the file is, it is not a workbook we can read
        report.problems.append(Problem("", 0, "", Invalid("import.not_a_workbook")))
        return report
    rows = _read(workbook, report, today)
    plan = await _check(rows, report, today)
    for sheet in SHEETS:
        report.imported[sheet.title] = 0
    if report.rejected:
        return report
    for contact in plan.contacts:
        if contact.telegram_id is None and not dry_run:  # a dry run draws no code: none would exist
            contact.invite_code = new_code()
    vault = vault_for(settings)
    for mentor in plan.mentors:
        mentor.answers["id_number"] = vault.seal(mentor.answers["id_number"])
    counts = plan.counts()
    for sheet in SHEETS:
        report.imported[sheet.title] = counts.get(sheet.key, 0)
    names = {s.uscc: s.name for s in plan.stations}
    report.expires_at = (now + INVITE_VALIDITY).astimezone(settings.tz)  # shown in the bureau's time
    report.owed = counts["owed"]
    report.invites = [Invite(names.get(c.uscc, c.uscc), c.name, format_code(c.invite_code) if c.invite_code else "")
                      for c in plan.contacts if c.telegram_id is None]
    if not dry_run:
        await store.write(plan, actor_id=actor_id, now=now, expires_at=now + INVITE_VALIDITY)
    return report


def pending_dir(settings: Settings) -> Path:
    """Beside the data key (data/ by default): the workbooks staff sent in the chat, waiting for
    "正式导入", each sealed with the data key (handlers/staff/register_import.py)."""
    return Path(settings.data_key_file).parent / "imports"


def write_template(path: Path | io.BytesIO) -> None:
    """The template: every sheet with its headers (from `SHEETS`) and one valid example row."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in SHEETS:
        ws = workbook.create_sheet(sheet.title)
        ws.append([c.header for c in sheet.columns])
        ws.append([c.example if c.example != "" else None for c in sheet.columns])
        for cell in ws[2]:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
        for i, column in enumerate(sheet.columns):
            ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = max(12, len(column.header) * 2 + 4)
    workbook.save(path)

