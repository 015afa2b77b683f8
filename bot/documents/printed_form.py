"""A form's answers as a printable .docx, built from the form's own definition.

Nothing here knows a particular form. The printed form follows the `Form` it is given: one heading
per section, one row per question (its label from the locale), the answer as `FormSession.printable`
gives it (every choice in words, amounts with their unit, numbers in full), a group of items (the
mentors) as a table whose columns are the group's questions, and the document checklist as a list
of materials, one row per material, saying whether it was submitted. A form adds only what no
question says: its title, the statement the unit signs, the boxes left for others to fill in (the
expert review, the bureau's decision), and a few choices (`PrintLayout`).

ID numbers and mobile numbers are printed in full, unmasked. The printed form is the unit's own
declaration, which its legal representative signs and the unit stamps, and which the bureau checks
against the ID cards submitted with it; it is sent only to the unit's own contacts (right after
submitting, or again on request) and to staff. The chat, which others may see over a shoulder or in
a forwarded message, still masks them.

Texts, all in the locale files:
- a question's printed label is `form.<form>.<field>.print` (a group's column:
  `form.<form>.<group>.<sub>.print`), falling back to its `.label`;
- a section's heading is `form.<form>.print.section.<section>`, falling back to
  `form.<form>.section.<section>`;
- the form's own printed texts are `form.<form>.print.<name>` (`title`, and those its layout names),
  and the texts every printed form shares are `print.<name>`; a form may override one of these with
  its own `form.<form>.print.<name>`.
A value confirmed with "我已核对" despite a failed automatic check (the flag `<field>_unverified`)
is printed with the mark `print.unverified`: staff still have to check it.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Protocol

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from bot.forms.context import FormContext
from bot.forms.engine import DocumentSlot, Field, Form, FormSession
from bot.forms.spec import PrintRequest
from bot.i18n import has_text

__all__ = ["BODY_PT", "Box", "PrintLayout", "PrintSource", "build_printed_form", "print_session"]

# The printed form is the one the bureau reads: always in Chinese, whatever the contact's language.
PRINT_LANGUAGE: Final = "zh"
BODY_PT: Final = 10.5  # 五号, the smallest size on the form
TITLE_PT: Final = 18.0  # 小二
EAST_ASIAN_FONT: Final = "SimSun"
LATIN_FONT: Final = "Times New Roman"

PAGE_SHORT_MM: Final = 210  # A4
PAGE_LONG_MM: Final = 297
SIDE_MARGIN_MM: Final = 20
PORTRAIT_BODY_MM: Final = PAGE_SHORT_MM - 2 * SIDE_MARGIN_MM
LANDSCAPE_BODY_MM: Final = PAGE_LONG_MM - 2 * SIDE_MARGIN_MM
LABEL_WIDTH_MM: Final = 55
NUMBER_WIDTH_MM: Final = 12
# What a character takes at 五号: a full-width (CJK) one is square, a Latin one about half of it.
WIDE_CHAR_MM: Final = BODY_PT * 25.4 / 72
NARROW_CHAR_MM: Final = WIDE_CHAR_MM * 0.52
CELL_PADDING_MM: Final = 4
BOX_HEIGHT_MM: Final = 55


class PrintSource(Protocol):
    """What the builder reads: a `FormSession` (see `print_session`) or anything shaped like it."""

    form: Form
    answers: dict[str, Any]

    def visible_fields(self) -> list[Field]: ...

    def printable(self, f: Field, stored: Any) -> str: ...

    def tr(self, key: str, **params: Any) -> str: ...

    def slot_label(self, slot: DocumentSlot) -> str: ...


@dataclass(frozen=True)
class Box:
    """A bordered box left empty for someone else to write in (the expert review, the bureau)."""

    heading: str  # text name under form.<form>.print / print
    closing: tuple[str, ...] = ()  # the lines at its foot (signature, stamp), text names too


@dataclass(frozen=True)
class PrintLayout:
    """What a form's printed version needs that its questions do not say."""

    # The statement the unit signs, and the lines under it (signature, stamp); text names.
    pledge_heading: str | None = None
    pledge: str | None = None
    signature_lines: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()
    # A question hidden by an earlier answer that the printed form still shows, with the stored
    # value it stands for ("": not applicable). E.g. 是否校企合作 is 否 for a self-established station.
    when_hidden: Mapping[str, str] = field(default_factory=dict)
    # A file question that, when hidden, is answered in this section of the form instead (the
    # application report, filled in item by item).
    material_in_section: Mapping[str, str] = field(default_factory=dict)
    # The signed and stamped printed form itself, uploaded after submitting: listed first among the
    # materials when the form is one of them (a document of this slot kind).
    stamped_form_kind: str | None = "stamped_form"
    # The group whose items the numbered document slots belong to (the mentors): the item's first
    # answer (the name) is printed with each of its materials.
    item_group: str | None = None


class _InFull:
    """The answers handed to the printer are unsealed already: they are printed as they are."""

    def seal(self, value: str) -> dict[str, str]:
        raise TypeError("a printed form seals nothing")

    def unseal(self, stored: Any) -> str:
        if isinstance(stored, dict):
            raise TypeError("a sealed value reached the printer: print FormSession.plain_answers()")
        return "" if stored is None else str(stored)


def print_session(form: Form, answers: Mapping[str, Any], context: FormContext | None = None) -> FormSession:
    """A read-only session over answers with personal numbers in full (`FormSession.plain_answers`),
    in the language of the printed form. It checks nothing, so its context is empty unless a form
    whose questions depend on it (`Field.visible` taking the context) passes one."""
    context = context or FormContext(today=date.min, now=datetime.min.replace(tzinfo=UTC))
    return FormSession(form, dict(answers), _InFull(), context, lang=PRINT_LANGUAGE)


def build_printed_form(source: PrintSource, layout: PrintLayout, request: PrintRequest) -> bytes:
    """The printed form as the bytes of a .docx file.

    `source` gives the questions and their printed answers; `request` the files (slot kind, item,
    file name), the reference and the day of submitting (a draft has neither: （草稿） is printed in
    their place) and the flags of the submission.
    """
    return _Printer(source, layout, request).build()


# -- the builder --------------------------------------------------------------------------------


class _Printer:
    def __init__(self, source: PrintSource, layout: PrintLayout, request: PrintRequest) -> None:
        self.source = source
        self.layout = layout
        self.request = request
        self.form_id = source.form.id
        self.flags = set(request.flags)
        self.files: dict[str, list[str]] = {}
        for kind, item, name in request.documents:
            self.files.setdefault(f"{kind}:{item}" if item else kind, []).append(str(name or ""))
        self.doc: DocumentObject = Document()
        self.section_titles: dict[str, str] = {}
        numerals = self.tr("print.numerals").split()
        self.visible = {f.id for f in source.visible_fields()}
        shown = [s for s in source.form.sections if any(self._printed(f) for f in s.fields)]
        for n, section in enumerate(shown):
            number = numerals[n] if n < len(numerals) else str(n + 1)
            self.section_titles[section.id] = self.tr("print.section_heading", n=number, title=self._section_name(section.id))

    # -- texts ----------------------------------------------------------------------------------

    def tr(self, key: str, **params: Any) -> str:
        return self.source.tr(key, **params)

    def text(self, name: str, **params: Any) -> str:
        """A printed text of this form, or the one every printed form shares."""
        own = f"form.{self.form_id}.print.{name}"
        return self.tr(own if has_text(own) else f"print.{name}", **params)

    def _first_text(self, *keys: str) -> str:
        for key in keys:
            if has_text(key):
                return self.tr(key)
        return keys[-1].rsplit(".", 2)[-2]

    def label(self, f: Field, group: Field | None = None) -> str:
        base = f"form.{self.form_id}.{group.id}.{f.id}" if group else f"form.{self.form_id}.{f.id}"
        return self._first_text(f"{base}.print", f"{base}.label")

    def _section_name(self, section_id: str) -> str:
        return self._first_text(f"form.{self.form_id}.print.section.{section_id}", f"form.{self.form_id}.section.{section_id}")

    # -- which questions, which values ----------------------------------------------------------

    def _printed(self, f: Field) -> bool:
        return f.id in self.visible or f.id in self.layout.when_hidden

    def value(self, f: Field) -> str:
        """The answer to a top-level question as printed."""
        if f.id not in self.visible:
            stood_for = self.layout.when_hidden.get(f.id, "")
            return self.source.printable(f, stood_for) if stood_for else self.tr("print.not_applicable")
        if f.answered_by == "file":
            return self._status(f.id, optional=f.optional)
        stored = self.source.answers.get(f.id)
        if stored == "" and f.optional:
            return self.tr("print.none")
        printed = self.source.printable(f, stored)
        if printed and f"{f.id}_unverified" in self.flags:
            printed = self.tr("print.unverified", value=printed)
        return printed

    def item_value(self, sub: Field, item: Mapping[str, Any]) -> str:
        if not sub.is_visible(dict(item)):
            return self.tr("print.not_applicable")
        stored = item.get(sub.id)
        if stored == "" and sub.optional:
            return self.tr("print.none")
        return self.source.printable(sub, stored)

    def _status(self, key: str, *, optional: bool) -> str:
        files = self.files.get(key, [])
        if len(files) > 1:
            return self.tr("print.submitted_files", n=len(files))
        if files:
            return self.tr("print.submitted")
        return self.tr("print.none" if optional else "print.not_submitted")

    # -- the document ---------------------------------------------------------------------------

    def build(self) -> bytes:
        _set_up_page(self.doc.sections[0], landscape=False)
        self._set_up_footer()
        _set_up_fonts(self.doc)
        properties = self.doc.core_properties
        properties.title = self.text("title")
        properties.author = properties.last_modified_by = properties.comments = ""

        self._title_and_header()
        for section in self.source.form.sections:
            if section.id in self.section_titles:
                self._section(section.id, [f for f in section.fields if self._printed(f)])
        self._pledge()
        for box in self.layout.boxes:
            self._box(box)
        buffer = io.BytesIO()
        self.doc.save(buffer)
        return buffer.getvalue()

    def _title_and_header(self) -> None:
        title = self.doc.add_paragraph()
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        title.paragraph_format.space_after = Pt(12)
        run = title.add_run(self.text("title"))
        run.bold = True
        run.font.size = Pt(TITLE_PT)
        draft = self.text("draft")
        day = self.request.submitted_on
        context = self.request.context
        header = self.doc.add_paragraph(self.text(
            "header",
            reference=self.request.reference or draft,
            submitted=self.text("date", year=day.year, month=day.month, day=day.day) if day else draft,
            # for a form whose header names them (the station's annual filing and its year)
            station=context.station.name if context is not None and context.station is not None else "",
            year=context.year if context is not None and context.year is not None else "",
        ))
        header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        header.paragraph_format.space_after = Pt(6)

    def _heading(self, text: str) -> None:
        paragraph = self.doc.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(12)
        paragraph.paragraph_format.space_after = Pt(4)
        paragraph.paragraph_format.keep_with_next = True
        paragraph.add_run(text).bold = True

    def _section(self, section_id: str, fields: Sequence[Field]) -> None:
        groups = {f.id: self._group_grid(f) for f in fields if f.kind == "group"}
        # A table too wide to read on a portrait page gets a landscape one, with its heading.
        landscape = any(sum(widths) > PORTRAIT_BODY_MM for _, _, widths in groups.values())
        if landscape:
            _set_up_page(self.doc.add_section(WD_SECTION.NEW_PAGE), landscape=True)
        self._heading(self.section_titles[section_id])
        body_mm = LANDSCAPE_BODY_MM if landscape else PORTRAIT_BODY_MM
        rows: list[tuple[str, str]] = []
        for f in fields:
            if f.kind in ("group", "documents"):
                if rows:
                    self._field_table(rows)
                    rows = []
                if len(fields) > 1:
                    self.doc.add_paragraph(self.label(f))
                if f.kind == "group":
                    header, items, widths = groups[f.id]
                    self._grid(header, items, _fitted(widths, body_mm))
                else:
                    self._materials_table()
            else:
                rows.append((self.label(f), self.value(f)))
        if rows:
            self._field_table(rows)
        if landscape:
            _set_up_page(self.doc.add_section(WD_SECTION.NEW_PAGE), landscape=False)

    def _field_table(self, rows: Sequence[tuple[str, str]]) -> None:
        table = _new_table(self.doc, len(rows), (LABEL_WIDTH_MM, PORTRAIT_BODY_MM - LABEL_WIDTH_MM))
        for row, (label, value) in zip(table.rows, rows, strict=True):
            _fill_cell(row.cells[0], label, bold=True)
            _fill_cell(row.cells[1], value)

    def _group_grid(self, group: Field) -> tuple[list[str], list[list[str]], list[float]]:
        """A group as a table: a numbered row per item, a column per question (header, rows, widths)."""
        items = [item for item in self.source.answers.get(group.id) or [] if isinstance(item, Mapping)]
        header = [self.tr("print.item_number"), *(self.label(sub, group) for sub in group.subfields)]
        rows = [
            [str(n), *(self.item_value(sub, item) for sub in group.subfields)]
            for n, item in enumerate(items, start=1)
        ] or [[""] * len(header)]
        return header, rows, _natural_widths(header, rows)

    def _grid(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        table = _new_table(self.doc, 1 + len(rows), widths)
        for cell, text in zip(table.rows[0].cells, header, strict=True):
            _fill_cell(cell, text, bold=True, center=True)
        for row, values in zip(table.rows[1:], rows, strict=True):
            for cell, text in zip(row.cells, values, strict=True):
                _fill_cell(cell, text)
        flag = OxmlElement("w:tblHeader")  # the header row again on every page
        flag.set(qn("w:val"), "true")
        table.rows[0]._tr.get_or_add_trPr().append(flag)

    # -- the materials --------------------------------------------------------------------------

    def materials(self) -> list[tuple[str, str]]:
        """(material, status), one per material, in the order the form asks for them."""
        rows: list[tuple[str, str]] = []
        stamped = self.layout.stamped_form_kind
        if stamped:
            label = self.text("stamped_form", title=self.text("title"))
            status = self.tr("print.submitted") if self.files.get(stamped) else self.text("stamped_form_pending")
            rows.append((label, status))
        for f in self.source.form.fields:
            if f.answered_by != "file":
                continue
            label = self._first_text(f"document.{f.id}", f"form.{self.form_id}.{f.id}.print", f"form.{self.form_id}.{f.id}.label")
            if f.id in self.visible:
                rows.append((label, self._status(f.id, optional=f.optional)))
            elif (section := self.layout.material_in_section.get(f.id)) and section in self.section_titles:
                rows.append((label, self.tr("print.in_section", section=self.section_titles[section])))
        names = self._item_names()
        for slot in self.source.form.document_slots(self.source.answers):
            if slot.kind == stamped:
                continue
            label = self.source.slot_label(slot)
            if slot.item and names.get(slot.item):
                label = self.tr("print.of_item", label=label, name=names[slot.item])
            rows.append((label, self._status(slot.key, optional=slot.optional)))
        return rows

    def _item_names(self) -> dict[str, str]:
        if not self.layout.item_group:
            return {}
        group = self.source.form.field(self.layout.item_group)
        first = group.subfields[0]
        items = self.source.answers.get(group.id) or []
        return {str(n): self.source.printable(first, item.get(first.id)) for n, item in enumerate(items, start=1)}

    def _materials_table(self) -> None:
        rows = [[str(n), label, status] for n, (label, status) in enumerate(self.materials(), start=1)]
        header = [self.tr("print.item_number"), self.tr("print.material"), self.tr("print.material_status")]
        status_mm = 52
        self._grid(header, rows, (NUMBER_WIDTH_MM, PORTRAIT_BODY_MM - NUMBER_WIDTH_MM - status_mm, status_mm))

    # -- what others fill in --------------------------------------------------------------------

    def _pledge(self) -> None:
        if self.layout.pledge_heading is None:
            return
        self._heading(self.text(self.layout.pledge_heading))
        cell = _new_table(self.doc, 1, (PORTRAIT_BODY_MM,)).cell(0, 0)
        _fill_cell(cell, self.text(self.layout.pledge) if self.layout.pledge else "")
        for _ in range(3):
            cell.add_paragraph()
        self._closing(cell, self.layout.signature_lines)

    def _box(self, box: Box) -> None:
        self._heading(self.text(box.heading))
        table = _new_table(self.doc, 1, (PORTRAIT_BODY_MM,))
        row = table.rows[0]
        row.height = Mm(BOX_HEIGHT_MM)
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        cell = row.cells[0]
        for _ in range(5):
            cell.add_paragraph()
        self._closing(cell, box.closing)

    def _closing(self, cell: _Cell, names: Sequence[str]) -> None:
        for text in [*(self.text(name) for name in names), self.tr("print.date_line")]:
            paragraph = cell.add_paragraph(text)
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            paragraph.paragraph_format.right_indent = Mm(15)
            paragraph.paragraph_format.space_before = Pt(6)

    def _set_up_footer(self) -> None:
        footer = self.doc.sections[0].footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        template = self.tr("print.page", page="\0PAGE\0", pages="\0NUMPAGES\0")
        for n, part in enumerate(template.split("\0")):
            if n % 2:
                _add_field(footer, part)
            elif part:
                footer.add_run(part)


# -- page, fonts, tables ------------------------------------------------------------------------


def _set_up_page(section: Any, *, landscape: bool) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    short, long = Mm(PAGE_SHORT_MM), Mm(PAGE_LONG_MM)
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    section.top_margin = section.bottom_margin = Mm(SIDE_MARGIN_MM if landscape else 25)
    section.left_margin = section.right_margin = Mm(SIDE_MARGIN_MM)


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    element = OxmlElement("w:fldSimple")
    element.set(qn("w:instr"), f" {instruction} ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    element.append(run)
    paragraph._p.append(element)


def _set_up_fonts(doc: DocumentObject) -> None:
    """五号 SimSun (Times New Roman for Latin text) in the Normal style and the document defaults.

    python-docx's template names theme fonts, which some readers prefer over a plain font name:
    they are replaced, and the East Asian language is set to zh-CN.
    """
    normal = doc.styles["Normal"]
    normal.font.name = LATIN_FONT
    normal.font.size = Pt(BODY_PT)
    _east_asian(normal.element.get_or_add_rPr())
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.15
    rpr = doc.styles.element.find("/".join(qn(tag) for tag in ("w:docDefaults", "w:rPrDefault", "w:rPr")))
    if rpr is None:
        return
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is not None:
        fonts.set(qn("w:ascii"), LATIN_FONT)
        fonts.set(qn("w:hAnsi"), LATIN_FONT)
        _east_asian(rpr)
    size = rpr.find(qn("w:sz"))
    if size is not None:
        size.set(qn("w:val"), str(int(BODY_PT * 2)))
    language = rpr.find(qn("w:lang"))
    if language is not None:
        language.set(qn("w:eastAsia"), "zh-CN")


def _east_asian(rpr: Any) -> None:
    fonts = rpr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)


def _new_table(doc: DocumentObject, rows: int, widths_mm: Sequence[float]) -> Table:
    table = doc.add_table(rows=rows, cols=len(widths_mm))
    table.style = doc.styles["Table Grid"]  # every cell bordered
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)
    return table


def _fill_cell(cell: _Cell, text: str, *, bold: bool = False, center: bool = False) -> None:
    """The text in the cell, one paragraph per line, so long answers keep their line breaks."""
    first = cell.paragraphs[0]
    for index, line in enumerate(text.splitlines() or [""]):
        paragraph = first if index == 0 else cell.add_paragraph()
        if center:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(line)
        if bold:
            run.bold = True


def _text_mm(text: str) -> float:
    return sum(WIDE_CHAR_MM if unicodedata.east_asian_width(c) in "WF" else NARROW_CHAR_MM for c in text)


def _natural_widths(header: Sequence[str], rows: Sequence[Sequence[str]], *, cap_mm: float = 60) -> list[float]:
    """Each column as wide as its longest value on one line (a header may take two lines)."""
    widths = []
    for column, title in enumerate(header):
        values = [line for row in rows for line in (row[column].splitlines() or [""])]
        widest = max([_text_mm(title) / 2, 2 * WIDE_CHAR_MM, *(_text_mm(v) for v in values)])
        widths.append(min(widest, cap_mm) + CELL_PADDING_MM)
    return widths


def _fitted(widths: Sequence[float], total: float) -> list[float]:
    scale = total / sum(widths)
    return [width * scale for width in widths]
