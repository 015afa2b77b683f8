"""《深圳市技师工作站设立申报表》 as a .docx, for the unit to print, sign and stamp.

The form is the first of the declaration materials in section 六(一) of the 深圳市技师工作站建设实施方案.
It is built from the answers a unit gave in the bot (already decrypted) and the list of files it
uploaded. ID numbers and mobile numbers are printed only through the caller's `mask`, so the
document never holds them in clear: the answers that hold them, and any resident ID or mobile
number found in free text or in a file name ("李明440301….jpg"). A draft may lack any answer, or
hold one of the wrong type: its cell is left empty (or shows the value as typed), never an error.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

__all__ = ["DOCUMENT_LABELS", "TITLE", "build_declaration_form", "format_amount"]

Mask = Callable[[str, str], str]

TITLE: Final = "深圳市技师工作站设立申报表"
DRAFT: Final = "（草稿）"
EAST_ASIAN_FONT: Final = "SimSun"
LATIN_FONT: Final = "Times New Roman"

UNIT_TYPES: Final = {
    "enterprise": "企业",
    "group": "企业集团",
    "association": "行业协会",
    "institution": "科研生产型事业单位",
}
MODES: Final = {"self": "自行申请设立", "co_built": "合作共建"}
LEVELS: Final = {"technician": "技师", "senior": "高级技师"}
EMPLOYMENTS: Final = {"own": "本单位", "external": "外聘"}

# In the order of section 六(一): report, registration, head's ID card, mentors' papers, awards.
DOCUMENT_LABELS: Final = {
    "report": "申办报告",
    "business_licence": "申办单位营业执照（法人登记证）复印件",
    "head_id_card": "技师工作站负责人身份证复印件",
    "mentor_id_card": "指导教师身份证复印件",
    "mentor_qualification": "指导教师职业资格证书（技师或高级技师）复印件",
    "mentor_education": "指导教师学历证书复印件",
    "award": "市级及以上获奖证书和技术认定、技术创新等其他相关材料",
}
MENTOR_DOCUMENTS: Final = frozenset({"mentor_id_card", "mentor_qualification", "mentor_education"})

REPORT_TEXTS: Final = (
    ("report_goals", "目标"),
    ("report_plan", "计划"),
    ("report_steps", "步骤"),
    ("report_measures", "举措"),
    ("report_resources", "人财物配套"),
    ("report_management", "管理措施"),
)
CHINESE_ORDINALS: Final = "一二三四五六七八九十"

MENTOR_HEADER: Final = ("序号", "姓名", "身份证号", "等级", "证书编号", "学历", "聘用方式", "聘用期限")
MENTOR_WIDTHS_MM: Final = (11, 15, 40, 17, 24, 12, 17, 34)
MATERIALS_HEADER: Final = ("序号", "材料名称", "文件", "已提交")
MATERIALS_WIDTHS_MM: Final = (11, 62, 80, 17)
LABEL_WIDTH_MM: Final = 50
BODY_WIDTH_MM: Final = 170  # A4 (210 mm) less 20 mm margins either side

CHECK: Final = "✓"
NOT_APPLICABLE: Final = "—"
NOT_UPLOADED: Final = "（未上传）"
NONE_GIVEN: Final = "（无）"
OPTIONAL_DOCUMENTS: Final = frozenset({"award"})

# A resident ID number (area, birth date 19xx/20xx, sequence, check) or a mainland mobile number,
# not inside a longer run of digits.
_PERSONAL_NUMBER: Final = re.compile(
    r"(?<![0-9])(?:"
    r"(?P<id>[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx])"
    r"|(?P<mobile>1[3-9][0-9]{9})"
    r")(?![0-9])"
)


def build_declaration_form(
    answers: Mapping[str, Any],
    documents: Sequence[tuple[str, str, str]],
    *,
    reference: str | None,
    submitted_on: date | None,
    mask: Mask,
) -> bytes:
    """The filled-in declaration form as the bytes of a .docx file.

    `answers` holds plain values (see the module docstring); `documents` holds one
    (kind, item, file_name) per uploaded file, `item` being the mentor's 1-based index for mentor
    documents. `mask(kind, value)`, kind "id" or "mobile", renders personal numbers; it is called
    only with a non-empty value.
    Without `reference` or `submitted_on` the header shows （草稿） in its place.
    """
    doc = Document()
    _set_up_page(doc)
    _set_up_fonts(doc)
    _set_properties(doc)

    _add_title(doc)
    _add_header_line(doc, reference, submitted_on)
    _add_unit_section(doc, answers, mask)
    _add_station_section(doc, answers, mask)
    _add_mentor_section(doc, _mentors(answers), mask)
    _add_conditions_section(doc, answers, mask)
    _add_report_section(doc, answers, documents, mask)
    _add_materials_section(doc, answers, documents, mask)
    _add_opinion(doc)

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


# -- Values -------------------------------------------------------------------------------------


def _text(answers: Mapping[str, Any], key: str) -> str:
    value = answers.get(key)
    return "" if value is None else str(value).strip()


def _label(answers: Mapping[str, Any], key: str, labels: Mapping[str, str]) -> str:
    value = _text(answers, key)
    return labels.get(value, value)


def _masked(value: str, kind: str, mask: Mask) -> str:
    return mask(kind, value) if value else ""


def _free_text(answers: Mapping[str, Any], key: str, mask: Mask) -> str:
    return _scrubbed(_text(answers, key), mask)


def _scrubbed(text: str, mask: Mask) -> str:
    """Free text with every resident ID or mobile number in it masked."""

    def masked(match: re.Match[str]) -> str:
        return mask("id" if match.group("id") else "mobile", match.group(0))

    return _PERSONAL_NUMBER.sub(masked, text)


def _count(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value} 人"
    return "" if value is None else str(value)


def format_amount(value: Any) -> str:
    """A CNY amount with thousands separators and fen: "500000" -> "500,000.00 元"."""
    if value is None or str(value).strip() == "":
        return ""
    raw = str(value).strip()
    try:
        amount = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return raw
    if not amount.is_finite():
        return raw
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f} 元"


def _format_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _mentors(answers: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    mentors = answers.get("mentors")
    if not isinstance(mentors, list | tuple):
        return []
    return [mentor for mentor in mentors if isinstance(mentor, Mapping)]


def _partner_rows(answers: Mapping[str, Any], mask: Mask) -> list[tuple[str, str]]:
    if _text(answers, "mode") == "self":
        return [("合作单位", NOT_APPLICABLE), ("是否校企合作", NOT_APPLICABLE)]
    college = answers.get("partner_is_college")
    is_college = "" if not isinstance(college, bool) else ("是（校企合作）" if college else "否")
    return [("合作单位", _free_text(answers, "partner_name", mask)), ("是否校企合作", is_college)]


def _contract_period(mentor: Mapping[str, Any]) -> str:
    if _text(mentor, "employment") != "external":
        return NOT_APPLICABLE if _text(mentor, "employment") == "own" else ""
    start, end = _text(mentor, "contract_start"), _text(mentor, "contract_end")
    return f"{start} 至 {end}" if start or end else ""


def _mentor_row(number: int, mentor: Mapping[str, Any], mask: Mask) -> tuple[str, ...]:
    return (
        str(number),
        _free_text(mentor, "name", mask),
        _masked(_text(mentor, "id_number"), "id", mask),
        _label(mentor, "level", LEVELS),
        _text(mentor, "certificate_no"),
        _free_text(mentor, "education", mask),
        _label(mentor, "employment", EMPLOYMENTS),
        _contract_period(mentor),
    )


def _mentor_name(item: str, mentors: Sequence[Mapping[str, Any]], mask: Mask) -> str:
    index = int(item) if item.isdigit() else 0
    if 1 <= index <= len(mentors) and _text(mentors[index - 1], "name"):
        return _free_text(mentors[index - 1], "name", mask)
    return f"指导教师{item}" if item else "指导教师"


def _document_lines(
    kind: str,
    documents: Sequence[tuple[str, str, str]],
    mentors: Sequence[Mapping[str, Any]],
    mask: Mask,
) -> list[str]:
    """The file names of one kind of document; a mentor's files follow the mentor's name."""
    entries = [
        (str(item or ""), _scrubbed(str(name or ""), mask))
        for doc_kind, item, name in documents
        if doc_kind == kind
    ]
    if kind not in MENTOR_DOCUMENTS:
        return [name for _, name in entries]
    entries.sort(key=lambda entry: int(entry[0]) if entry[0].isdigit() else len(mentors) + 1)
    return [f"{_mentor_name(item, mentors, mask)}：{name}" for item, name in entries]


def _document_kinds(documents: Iterable[tuple[str, str, str]]) -> list[str]:
    unknown = [kind for kind, _, _ in documents if kind not in DOCUMENT_LABELS]
    return [*DOCUMENT_LABELS, *dict.fromkeys(unknown)]


# -- Page, fonts, properties --------------------------------------------------------------------


def _set_up_page(doc: DocumentObject) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(25)
    section.left_margin = section.right_margin = Mm(20)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("第 ")
    _add_field(footer, "PAGE")
    footer.add_run(" 页，共 ")
    _add_field(footer, "NUMPAGES")
    footer.add_run(" 页")


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), f" {instruction} ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _set_up_fonts(doc: DocumentObject) -> None:
    """SimSun for East Asian text in the Normal style and in the document defaults.

    The defaults of python-docx's template name theme fonts, which would win over a plain font name
    in some readers; they are replaced, and the East Asian language is set to zh-CN.
    """
    normal = doc.styles["Normal"]
    normal.font.name = LATIN_FONT
    normal.font.size = Pt(10.5)  # 五号
    _set_east_asian_font(normal.element.get_or_add_rPr())
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.15
    path = "/".join(qn(tag) for tag in ("w:docDefaults", "w:rPrDefault", "w:rPr"))
    rpr = doc.styles.element.find(path)
    if rpr is None:
        return
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is not None:
        fonts.set(qn("w:ascii"), LATIN_FONT)
        fonts.set(qn("w:hAnsi"), LATIN_FONT)
        _strip_theme_fonts(fonts)
        fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)
    language = rpr.find(qn("w:lang"))
    if language is not None:
        language.set(qn("w:eastAsia"), "zh-CN")


def _set_east_asian_font(rpr: Any) -> None:
    fonts = rpr.get_or_add_rFonts()
    _strip_theme_fonts(fonts)
    fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)


def _strip_theme_fonts(fonts: Any) -> None:
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)


def _set_properties(doc: DocumentObject) -> None:
    properties = doc.core_properties
    properties.title = TITLE
    properties.author = ""
    properties.last_modified_by = ""
    properties.comments = ""


# -- Building blocks ----------------------------------------------------------------------------


def _add_title(doc: DocumentObject) -> None:
    paragraph = doc.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.space_after = Pt(12)
    run = paragraph.add_run(TITLE)
    run.bold = True
    run.font.size = Pt(18)  # 小二


def _add_header_line(doc: DocumentObject, reference: str | None, submitted_on: date | None) -> None:
    number = reference or DRAFT
    day = _format_date(submitted_on) if submitted_on is not None else DRAFT
    paragraph = doc.add_paragraph(f"申报编号：{number}　　　　提交日期：{day}")
    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    paragraph.paragraph_format.space_after = Pt(6)


def _add_heading(doc: DocumentObject, text: str) -> None:
    paragraph = doc.add_paragraph()
    paragraph.paragraph_format.space_before = Pt(12)
    paragraph.paragraph_format.space_after = Pt(4)
    paragraph.paragraph_format.keep_with_next = True
    paragraph.add_run(text).bold = True


def _fill_cell(cell: _Cell, text: str, *, bold: bool = False, center: bool = False) -> None:
    """The text in the cell, one paragraph per line, so long answers keep their line breaks."""
    lines = text.splitlines() or [""]
    first = cell.paragraphs[0]
    for index, line in enumerate(lines):
        paragraph = first if index == 0 else cell.add_paragraph()
        if center:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(line)
        if bold:
            run.bold = True


def _new_table(doc: DocumentObject, rows: int, widths_mm: Sequence[int]) -> Table:
    table = doc.add_table(rows=rows, cols=len(widths_mm))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)
    return table


def _repeat_header_row(table: Table) -> None:
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    table.rows[0]._tr.get_or_add_trPr().append(flag)


def _add_field_table(doc: DocumentObject, rows: Sequence[tuple[str, str]]) -> Table:
    table = _new_table(doc, len(rows), (LABEL_WIDTH_MM, BODY_WIDTH_MM - LABEL_WIDTH_MM))
    for row, (label, value) in zip(table.rows, rows, strict=True):
        _fill_cell(row.cells[0], label, bold=True)
        _fill_cell(row.cells[1], value)
    return table


def _add_grid(
    doc: DocumentObject,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths_mm: Sequence[int],
    *,
    font_size: float,
) -> Table:
    table = _new_table(doc, 1 + len(rows), widths_mm)
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        _fill_cell(cell, text, bold=True, center=True)
    for row, values in zip(table.rows[1:], rows, strict=True):
        for cell, text in zip(row.cells, values, strict=True):
            _fill_cell(cell, text)
    _repeat_header_row(table)
    for row in table.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(font_size)
    return table


# -- Sections -----------------------------------------------------------------------------------


def _add_unit_section(doc: DocumentObject, answers: Mapping[str, Any], mask: Mask) -> None:
    _add_heading(doc, "一、申办单位基本情况")
    rows = [
        ("单位名称", _free_text(answers, "unit_name", mask)),
        ("统一社会信用代码", _text(answers, "uscc")),
        ("单位类型", _label(answers, "unit_type", UNIT_TYPES)),
        ("法定代表人", _free_text(answers, "legal_rep", mask)),
        ("单位地址", _free_text(answers, "address", mask)),
        ("主要生产领域", _free_text(answers, "main_field", mask)),
        ("职工人数", _count(answers.get("employees"))),
        ("设立方式", _label(answers, "mode", MODES)),
        *_partner_rows(answers, mask),
    ]
    _add_field_table(doc, rows)


def _add_station_section(doc: DocumentObject, answers: Mapping[str, Any], mask: Mask) -> None:
    _add_heading(doc, "二、技师工作站情况")
    rows = [
        ("技师工作站名称", _free_text(answers, "station_name", mask)),
        ("负责人姓名", _free_text(answers, "head_name", mask)),
        ("负责人身份证号", _masked(_text(answers, "head_id_number"), "id", mask)),
        ("负责人手机", _masked(_text(answers, "head_mobile"), "mobile", mask)),
        ("负责人职务/职称", _free_text(answers, "head_title", mask)),
        ("联系人姓名", _free_text(answers, "contact_name", mask)),
        ("联系人手机", _masked(_text(answers, "contact_mobile"), "mobile", mask)),
        ("联系人电子邮箱", _free_text(answers, "contact_email", mask)),
    ]
    _add_field_table(doc, rows)


def _add_mentor_section(
    doc: DocumentObject, mentors: Sequence[Mapping[str, Any]], mask: Mask
) -> None:
    _add_heading(doc, "三、指导教师名单")
    rows = [_mentor_row(number, mentor, mask) for number, mentor in enumerate(mentors, start=1)]
    blank = ("",) * len(MENTOR_HEADER)
    _add_grid(doc, MENTOR_HEADER, rows or [blank], MENTOR_WIDTHS_MM, font_size=9)


def _add_conditions_section(doc: DocumentObject, answers: Mapping[str, Any], mask: Mask) -> None:
    _add_heading(doc, "四、设立条件")
    rows = [
        ("单位经营管理状况", _free_text(answers, "mgmt_desc", mask)),
        ("生产、科研设备情况", _free_text(answers, "equipment_desc", mask)),
        ("独立承担重大技能项目经验", _free_text(answers, "project_desc", mask)),
        ("运作经费支持金额", format_amount(answers.get("funds_amount"))),
        ("运作经费支持说明", _free_text(answers, "funds_desc", mask)),
    ]
    _add_field_table(doc, rows)


def _add_report_section(
    doc: DocumentObject,
    answers: Mapping[str, Any],
    documents: Sequence[tuple[str, str, str]],
    mask: Mask,
) -> None:
    _add_heading(doc, "五、申办报告")
    cell = _new_table(doc, 1, (BODY_WIDTH_MM,)).cell(0, 0)
    report_mode = _text(answers, "report_mode")
    if report_mode == "upload":
        names = "、".join(_document_lines("report", documents, [], mask))
        _fill_cell(cell, f"见附件：{names or NOT_UPLOADED}")
    elif report_mode == "texts":
        _fill_report_texts(cell, answers, mask)
    else:
        _fill_cell(cell, "")


def _fill_report_texts(cell: _Cell, answers: Mapping[str, Any], mask: Mask) -> None:
    for index, (key, heading) in enumerate(REPORT_TEXTS):
        paragraph = cell.paragraphs[0] if index == 0 else cell.add_paragraph()
        paragraph.add_run(f"（{CHINESE_ORDINALS[index]}）{heading}").bold = True
        for line in _free_text(answers, key, mask).splitlines() or [""]:
            cell.add_paragraph(line)


def _add_materials_section(
    doc: DocumentObject,
    answers: Mapping[str, Any],
    documents: Sequence[tuple[str, str, str]],
    mask: Mask,
) -> None:
    _add_heading(doc, "六、申报材料清单")
    mentors = _mentors(answers)
    rows: list[tuple[str, str, str, str]] = []
    for number, kind in enumerate(_document_kinds(documents), start=1):
        lines = _document_lines(kind, documents, mentors, mask)
        if kind == "report" and not lines and _text(answers, "report_mode") == "texts":
            lines = ["见本表第五部分"]
        missing = NONE_GIVEN if kind in OPTIONAL_DOCUMENTS else NOT_UPLOADED
        files = "\n".join(lines) if lines else missing
        rows.append((str(number), DOCUMENT_LABELS.get(kind, kind), files, CHECK if lines else ""))
    _add_grid(doc, MATERIALS_HEADER, rows, MATERIALS_WIDTHS_MM, font_size=9)


def _add_opinion(doc: DocumentObject) -> None:
    _add_heading(doc, "申办单位意见")
    cell = _new_table(doc, 1, (BODY_WIDTH_MM,)).cell(0, 0)
    _fill_cell(cell, "申办单位承诺以上所填内容及所附材料真实、准确，如有虚假，愿承担相应责任。")
    for _ in range(4):
        cell.add_paragraph()
    for text in ("法定代表人签字：＿＿＿＿＿＿＿＿", "申办单位（盖章）", "", "年　　月　　日"):
        paragraph = cell.add_paragraph(text)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        paragraph.paragraph_format.right_indent = Mm(15)
