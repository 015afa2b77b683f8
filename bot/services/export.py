"""/export: everything the bureau holds, as one .xlsx workbook.

`export` gathers the rows (async, from storage) and builds the workbook in a thread (CPU work,
off the event loop). The submission sheets take their columns from each form's own definition:
one column per question, named as the printed form names it (the locale), a group's items as
numbered columns. Values are real dates and numbers; personal numbers are masked as
FormSession.display masks them, or in full (`full=True`, admins only) as the printed form carries
them, in which case an audit_log row is written and the file name and the personal columns'
headers say so. Other headers come from the locale ([staff.export]).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from bot.clock import Clock, local_now
from bot.forms.engine import DOCS, Field, FormSession
from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.i18n import t
from bot.rules.identifiers import mask_numbers_in_text
from bot.services.stations import answers_session, t_label
from bot.settings import Settings
from storage.models import (
    Announcement,
    AnnouncementItem,
    AuditLog,
    Contact,
    FilingObligation,
    Funding,
    KeyProjectGrade,
    Objection,
    Station,
    Submission,
    SubmissionStatus,
)

EXPORT_LANGUAGE = "zh"  # the bureau's workbook: Chinese headers
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
MONEY_FORMAT = "#,##0.00"
MAX_WIDTH = 60


@dataclass
class Column:
    header: str
    kind: str = "text"  # text | int | money | date | datetime
    personal: bool = False


@dataclass
class Sheet:
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes
    sheets: tuple[str, ...]
    full: bool


def _x(key: str, **params: Any) -> str:
    return t(EXPORT_LANGUAGE, f"staff.export.{key}", **params)


def _status(name: str, value: str | None) -> str:
    return t(EXPORT_LANGUAGE, f"{name}.{value}") if value else ""


async def export(settings: Settings, clock: Clock, *, actor_id: int, full: bool = False) -> ExportFile:
    now = local_now(clock, settings.tz)
    stamp = now.strftime("%Y%m%d_%H%M")
    filename = _x("filename_full" if full else "filename", stamp=stamp)
    if full:  # who took personal data out, and when: written before the rows are read
        await AuditLog.create(actor_id=actor_id, action="export.full", subject_type="export", subject_id=None,
                              before=None, after={"file": filename}, at=clock.now())
    tz = settings.tz
    sheets = [await _stations_sheet(tz)]
    sheets += await _submission_sheets(settings, full)
    sheets += [await _filings_sheet(), await _key_projects_sheet(), await _announcements_sheet(tz),
               await _objections_sheet(tz), await _audit_sheet(tz)]
    title = _x("title_full" if full else "title", at=now.strftime("%Y-%m-%d %H:%M"))
    content = await asyncio.to_thread(build_workbook, sheets, title=title, full=full)
    return ExportFile(filename, content, tuple(s.title for s in sheets), full)


# -- the sheets -----------------------------------------------------------------------------------


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    # Excel has no time zones: the bureau's local time, without its offset.
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0) if moment else None


async def _stations_sheet(tz: ZoneInfo) -> Sheet:
    sheet = Sheet(_x("sheet.stations"), [
        Column(_x("col.station_id"), "int"), Column(_x("col.station_name")), Column(_x("col.unit_name")),
        Column(_x("col.uscc")), Column(_x("col.unit_type")), Column(_x("col.mode")), Column(_x("col.partner")),
        Column(_x("col.school_enterprise")), Column(_x("col.state")), Column(_x("col.recognised_on"), "date"),
        Column(_x("col.revoked_on"), "date"), Column(_x("col.deregistered_on"), "date"),
        Column(_x("col.contacts"), "int"), Column(_x("col.created_at"), "datetime"),
    ])
    counts: dict[int, int] = {}
    for station_id in await Contact.filter(active=True).values_list("station_id", flat=True):
        counts[station_id] = counts.get(station_id, 0) + 1
    for s in await Station.all().select_related("unit").order_by("id"):
        sheet.rows.append([
            s.id, s.name, s.unit.name, s.unit.uscc, _status("unit_type", s.unit.unit_type.value),
            _status("mode", s.mode.value), s.partner_name, _x("yes" if s.school_enterprise else "no"),
            _status("station_state", s.state.value), s.recognised_on, s.revoked_on, s.deregistered_on,
            counts.get(s.id, 0), _local(s.created_at, tz),
        ])
    return sheet


def _answer_value(session: FormSession, f: Field, stored: Any, full: bool) -> Any:
    """One answer as a cell: numbers and dates as such, choices in words, personal numbers
    masked (as the chat shows them) or in full (as the printed form carries them)."""
    if stored is None or stored == "":
        return None
    if f.kind == "count":
        try:
            return int(stored)
        except (TypeError, ValueError):
            return str(stored)
    if f.kind == "money":
        return _number(stored)
    if f.kind == "date":
        try:
            return date.fromisoformat(str(stored))
        except ValueError:
            return str(stored)
    if f.answered_by == "file":
        return ", ".join(d.get("file_name", "") for d in session.answers.get(DOCS, {}).get(f.id, []))
    return session.printable(f, stored) if full or not f.personal else session.display(f, stored)


def _number(stored: Any) -> Any:
    try:
        return Decimal(str(stored))
    except (InvalidOperation, ValueError):
        return str(stored)


def _column_kind(f: Field) -> str:
    return {"count": "int", "money": "money", "date": "date"}.get(f.kind, "text")


def _personal_header(label: str, personal: bool, full: bool) -> str:
    if not personal:
        return label
    return _x("personal_full" if full else "personal_masked", label=label)


async def _submission_sheets(settings: Settings, full: bool) -> list[Sheet]:
    """One sheet per form (kind), its submissions by year, one row each, its answers as columns."""
    tz = settings.tz
    sheets = []
    submitted = await Submission.exclude(status=SubmissionStatus.DRAFT).select_related("station").order_by("kind", "year", "id")
    for spec in FORM_SPECS:
        rows = [s for s in submitted if s.kind.value == spec.kind]
        sheets.append(_form_sheet(spec, rows, settings, tz, full))
    with_form = {spec.kind for spec in FORM_SPECS}
    others = [s for s in submitted if s.kind.value not in with_form]
    sheet = Sheet(_x("sheet.other_submissions"), [*_submission_columns()])
    for s in others:
        sheet.rows.append(_submission_cells(s, tz))
    sheets.append(sheet)
    return sheets


def _submission_columns() -> list[Column]:
    return [
        Column(_x("col.reference")), Column(_x("col.kind")), Column(_x("col.year"), "int"), Column(_x("col.status")),
        Column(_x("col.station_name")), Column(_x("col.submitted_at"), "datetime"), Column(_x("col.decided_at"), "datetime"),
    ]


def _submission_cells(s: Submission, tz: ZoneInfo) -> list[Any]:
    return [
        s.reference, _status("submission_kind", s.kind.value), s.year, _status("submission_status", s.status.value),
        s.station.name if s.station else "", _local(s.submitted_at, tz), _local(s.decided_at, tz),
    ]


def _form_sheet(spec: FormSpec, rows: list[Submission], settings: Settings, tz: ZoneInfo, full: bool) -> Sheet:
    lang = EXPORT_LANGUAGE
    columns = _submission_columns()
    plan: list[tuple[Field, Field | None, int]] = []  # (field, its group, item index)
    largest = {f.id: max([len(s.answers.get(f.id) or []) for s in rows] or [0]) for f in spec.form.fields if f.kind == "group"}
    for f in spec.form.fields:
        if f.kind == "documents":
            columns.append(Column(_x("col.documents"), "int"))
            plan.append((f, None, -1))
        elif f.kind == "group":
            label = t_label(spec, f, lang)
            for n in range(largest[f.id]):
                for sub in f.subfields:
                    header = _x("item_column", group=label, n=n + 1, question=t_label(spec, sub, lang, f))
                    columns.append(Column(_personal_header(header, sub.personal, full), _column_kind(sub), sub.personal))
                    plan.append((sub, f, n))
        else:
            columns.append(Column(_personal_header(t_label(spec, f, lang), f.personal, full), _column_kind(f), f.personal))
            plan.append((f, None, -1))
    # Named by the form's title: a kind's own name may be another sheet's (重点建设项目 holds the grades).
    sheet = Sheet(t(lang, spec.text("title")), columns)
    for s in rows:
        session = answers_session(spec, s.answers, settings, lang)
        cells = _submission_cells(s, tz)
        for f, group, n in plan:
            if f.kind == "documents":
                cells.append(sum(len(files) for files in (s.answers.get(DOCS) or {}).values()))
            elif group is not None:
                items = s.answers.get(group.id) or []
                item = items[n] if n < len(items) else None
                cells.append(_answer_value(session, f, item.get(f.id), full) if item and f.is_visible(item) else None)
            else:
                cells.append(_answer_value(session, f, s.answers.get(f.id), full) if f.id in s.answers else None)
        sheet.rows.append(cells)
    return sheet


async def _filings_sheet() -> Sheet:
    # The filing obligation as the table holds it; R15-R17 results have no columns in the schema yet.
    sheet = Sheet(_x("sheet.filings"), [
        Column(_x("col.station_name")), Column(_x("col.year"), "int"), Column(_x("col.due_on"), "date"),
        Column(_x("col.extended_due_on"), "date"), Column(_x("col.filing_state")), Column(_x("col.reference")),
    ])
    for o in await FilingObligation.all().select_related("station", "submission").order_by("year", "station_id"):
        sheet.rows.append([o.station.name, o.year, o.due_on, o.extended_due_on, _x(f"filing_state.{o.state.value}"),
                           o.submission.reference if o.submission else None])
    return sheet


async def _key_projects_sheet() -> Sheet:
    sheet = Sheet(_x("sheet.key_projects"), [
        Column(_x("col.reference")), Column(_x("col.station_name")), Column(_x("col.year"), "int"), Column(_x("col.status")),
        Column(_x("col.level"), "int"), Column(_x("col.slot"), "int"), Column(_x("col.funding_amount"), "money"),
        Column(_x("col.paid_on"), "date"), Column(_x("col.recovery_required")), Column(_x("col.recovery_amount"), "money"),
        Column(_x("col.recovered_on"), "date"),
    ])
    projects = await Submission.filter(kind="key_project").exclude(status=SubmissionStatus.DRAFT).select_related("station").order_by("year", "id")
    ids = [p.id for p in projects]
    grades = {g.submission_id: g for g in await KeyProjectGrade.filter(submission_id__in=ids)}
    fundings = {f.submission_id: f for f in await Funding.filter(submission_id__in=ids)}
    for p in projects:
        g, f = grades.get(p.id), fundings.get(p.id)
        sheet.rows.append([
            p.reference, p.station.name if p.station else "", p.year, _status("submission_status", p.status.value),
            g.level if g else p.level, g.slot if g else None, f.amount if f else None, f.paid_on if f else None,
            (_x("yes" if f.recovery_required else "no")) if f else None, f.recovery_amount if f else None,
            f.recovered_on if f else None,
        ])
    return sheet


async def _announcements_sheet(tz: ZoneInfo) -> Sheet:
    sheet = Sheet(_x("sheet.announcements"), [
        Column(_x("col.announcement_id"), "int"), Column(_x("col.announcement_kind")), Column(_x("col.starts_on"), "date"),
        Column(_x("col.ends_on"), "date"), Column(_x("col.announcement_state")), Column(_x("col.reference")),
        Column(_x("col.station_name")),
    ])
    for a in await Announcement.all().order_by("starts_on", "id"):
        items = await AnnouncementItem.filter(announcement_id=a.id).select_related("submission__station").order_by("id")
        for i in items or [None]:
            sub = i.submission if i else None
            sheet.rows.append([a.id, _x(f"announcement_kind.{a.kind.value}"), a.starts_on, a.ends_on,
                               _x(f"announcement_state.{a.state.value}"), sub.reference if sub else None,
                               sub.station.name if sub and sub.station else None])
    return sheet


async def _objections_sheet(tz: ZoneInfo) -> Sheet:
    sheet = Sheet(_x("sheet.objections"), [
        Column(_x("col.announcement_id"), "int"), Column(_x("col.reference")), Column(_x("col.filed_at"), "datetime"),
        Column(_x("col.objection_text")), Column(_x("col.evidence")), Column(_x("col.objection_status")),
        Column(_x("col.decided_at"), "datetime"), Column(_x("col.decision_note")),
    ])
    for o in await Objection.all().select_related("item__submission").order_by("created_at", "id"):
        sheet.rows.append([o.item.announcement_id, o.item.submission.reference, _local(o.created_at, tz), o.text,
                           o.evidence_file_name, _x(f"objection_status.{o.status.value}"), _local(o.decided_at, tz),
                           o.decision_note])
    return sheet


async def _audit_sheet(tz: ZoneInfo) -> Sheet:
    sheet = Sheet(_x("sheet.audit"), [
        Column(_x("col.at"), "datetime"), Column(_x("col.actor"), "int"), Column(_x("col.action")),
        Column(_x("col.subject_type")), Column(_x("col.subject_id"), "int"), Column(_x("col.before")), Column(_x("col.after")),
    ])
    for r in await AuditLog.all().order_by("at", "id"):
        sheet.rows.append([_local(r.at, tz), r.actor_id, r.action, r.subject_type, r.subject_id,
                           _json(r.before), _json(r.after)])
    return sheet


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- the workbook (CPU work: run in a thread) -----------------------------------------------------


def build_workbook(sheets: Sequence[Sheet], *, title: str, full: bool) -> bytes:
    book = Workbook()
    book.remove(book.active)
    book.properties.title = title
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    personal_fill = PatternFill("solid", fgColor="F8CBAD")
    for spec in sheets:
        ws = book.create_sheet(_sheet_title(spec.title, book.sheetnames))
        ws.append([c.header for c in spec.columns])
        for cell, column in zip(ws[1], spec.columns, strict=True):
            cell.font = header_font
            cell.fill = personal_fill if column.personal and full else header_fill
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        for row in spec.rows:
            # The masked workbook masks a number typed into free text too (an objection, a reason).
            ws.append(list(row) if full else [mask_numbers_in_text(v) if isinstance(v, str) else v for v in row])
        for index, column in enumerate(spec.columns, start=1):
            fmt = {"date": DATE_FORMAT, "datetime": DATETIME_FORMAT, "money": MONEY_FORMAT}.get(column.kind)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = fmt
            ws.column_dimensions[get_column_letter(index)].width = _width(column, [r[index - 1] for r in spec.rows])
        ws.freeze_panes = "A2"
        if spec.columns:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(spec.columns))}{max(1, len(spec.rows) + 1)}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str, taken: list[str]) -> str:
    title = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Sheet"
    base, n = title, 2
    while title in taken:
        title = f"{base[:28]}_{n}"
        n += 1
    return title


def _display_width(value: Any, kind: str) -> float:
    if value is None:
        return 0
    if kind == "date":
        return 10
    if kind == "datetime":
        return 16
    if kind == "money" and isinstance(value, Decimal):
        return len(f"{value:,.2f}")
    text = str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)  # CJK takes two columns


def _width(column: Column, values: list[Any]) -> float:
    longest = max([_display_width(column.header, "text"), *(_display_width(v, column.kind) for v in values)])
    return min(MAX_WIDTH, max(8, longest + 2))
