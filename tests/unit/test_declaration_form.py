"""The declaration form (深圳市技师工作站设立申报表) as a reader of the .docx sees it."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any

import docx
import pytest
from docx.document import Document as DocumentObject
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from bot.documents.declaration_form import TITLE, build_declaration_form, format_amount

HEAD_ID = "440301198503151234"
HEAD_MOBILE = "13812345678"
CONTACT_MOBILE = "13987654321"
MENTOR_IDS = ("440305197806120018", "44030619800101002X", "110101196912310035")
RAW_NUMBERS = (HEAD_ID, HEAD_MOBILE, CONTACT_MOBILE, *MENTOR_IDS)


def simple_mask(kind: str, value: str) -> str:
    keep_start = 6 if kind == "id" else 3
    return value[:keep_start] + "*" * (len(value) - keep_start - 4) + value[-4:]


def full_answers() -> dict[str, Any]:
    return {
        "unit_name": "深圳市鹏城精密制造有限公司",
        "uscc": "91440300MA5F0XXX1Q",
        "unit_type": "enterprise",
        "legal_rep": "王建国",
        "address": "深圳市南山区科技园南区深南大道10000号",
        "main_field": "精密模具制造",
        "employees": 320,
        "mode": "co_built",
        "partner_name": "深圳技师学院",
        "partner_is_college": True,
        "station_name": "鹏城精密模具技师工作站",
        "head_name": "李明",
        "head_id_number": HEAD_ID,
        "head_mobile": HEAD_MOBILE,
        "head_title": "总工程师",
        "contact_name": "陈芳",
        "contact_mobile": CONTACT_MOBILE,
        "contact_email": "chenfang@example.com",
        "mentors": [
            {"name": "张伟", "id_number": MENTOR_IDS[0], "level": "senior",
             "certificate_no": "GJ2015-001", "education": "本科", "employment": "own"},
            {"name": "刘洋", "id_number": MENTOR_IDS[1], "level": "technician",
             "certificate_no": "JS2018-042", "education": "大专", "employment": "own"},
            {"name": "赵强", "id_number": MENTOR_IDS[2], "level": "senior",
             "certificate_no": "GJ2012-117", "education": "中专", "employment": "external",
             "contract_start": "2026-01-01", "contract_end": "2028-12-31"},
        ],
        "mgmt_desc": "公司经营状况良好，连续五年盈利。\n建立了完善的质量管理体系。",
        "equipment_desc": "拥有五轴加工中心12台。",
        "project_desc": "独立承担市级重大技改项目2项。",
        "funds_amount": "500000",
        "funds_desc": "每年安排专项运作经费。",
        "report_mode": "texts",
        "report_goals": "两年内培养高技能人才20名。",
        "report_plan": "分三期实施。",
        "report_steps": "先建章立制，再开展名师带徒。",
        "report_measures": "与深圳技师学院联合培养。",
        "report_resources": "场地800平方米，专职人员5名。",
        "report_management": "实行站长负责制。",
    }


DOCUMENTS = [
    ("business_licence", "", "营业执照.pdf"),
    ("head_id_card", "", "李明身份证.jpg"),
    ("mentor_id_card", "3", "zhao_id.jpg"),
    ("mentor_id_card", "1", "zhang_id.jpg"),
    ("mentor_id_card", "2", "liu_id.jpg"),
    ("mentor_qualification", "1", "zhang_cert.pdf"),
    ("mentor_qualification", "2", "liu_cert.pdf"),
    ("mentor_qualification", "3", "zhao_cert.pdf"),
    ("mentor_education", "1", "zhang_edu.pdf"),
    ("mentor_education", "2", "liu_edu.pdf"),
    ("mentor_education", "3", "zhao_edu.pdf"),
    ("award", "", "市级技能竞赛一等奖.pdf"),
]


def build(answers: dict[str, Any], documents: list[tuple[str, str, str]] | None = None, *,
          reference: str | None = "SZJS-2026-0007",
          submitted_on: date | None = date(2026, 3, 2)) -> bytes:
    return build_declaration_form(answers, DOCUMENTS if documents is None else documents,
                                  reference=reference, submitted_on=submitted_on, mask=simple_mask)


def open_form(data: bytes) -> DocumentObject:
    return docx.Document(io.BytesIO(data))


def all_texts(document: DocumentObject) -> list[str]:
    """Every paragraph a reader sees: body, table cells, headers and footers."""
    texts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                texts.extend(paragraph.text for paragraph in cell.paragraphs)
    for section in document.sections:
        texts.extend(paragraph.text for paragraph in section.header.paragraphs)
        texts.extend(paragraph.text for paragraph in section.footer.paragraphs)
    return texts


def full_text(document: DocumentObject) -> str:
    return "\n".join(all_texts(document))


def table_after(document: DocumentObject, heading: str) -> Table:
    """The first table after the paragraph `heading` in the body."""
    seen_heading = False
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph) and block.text == heading:
            seen_heading = True
        elif seen_heading and isinstance(block, Table):
            return block
    raise AssertionError(f"no table after {heading!r}")


def field_value(table: Table, label: str) -> str:
    for row in table.rows:
        if row.cells[0].text == label:
            return row.cells[1].text
    raise AssertionError(f"no row {label!r}")


@pytest.fixture(scope="module")
def form() -> DocumentObject:
    return open_form(build(full_answers()))


def test_title_and_header(form: DocumentObject) -> None:
    assert form.paragraphs[0].text == TITLE
    header = form.paragraphs[1].text
    assert "申报编号：SZJS-2026-0007" in header
    assert "提交日期：2026年3月2日" in header
    assert "（草稿）" not in full_text(form)


def test_unit_section(form: DocumentObject) -> None:
    unit = table_after(form, "一、申办单位基本情况")
    assert field_value(unit, "单位名称") == "深圳市鹏城精密制造有限公司"
    assert field_value(unit, "统一社会信用代码") == "91440300MA5F0XXX1Q"
    assert field_value(unit, "单位类型") == "企业"
    assert field_value(unit, "职工人数") == "320 人"
    assert field_value(unit, "设立方式") == "合作共建"
    assert field_value(unit, "合作单位") == "深圳技师学院"
    assert field_value(unit, "是否校企合作") == "是（校企合作）"


def test_station_section_masks_personal_numbers(form: DocumentObject) -> None:
    station = table_after(form, "二、技师工作站情况")
    assert field_value(station, "负责人姓名") == "李明"
    assert field_value(station, "负责人身份证号") == "440301********1234"
    assert field_value(station, "负责人手机") == "138****5678"
    assert field_value(station, "联系人手机") == "139****4321"
    assert field_value(station, "联系人电子邮箱") == "chenfang@example.com"


def test_mentor_table_has_a_row_per_mentor(form: DocumentObject) -> None:
    mentors = table_after(form, "三、指导教师名单")
    header = [cell.text for cell in mentors.rows[0].cells]
    assert header == ["序号", "姓名", "身份证号", "等级", "证书编号", "学历", "聘用方式", "聘用期限"]
    rows = [[cell.text for cell in row.cells] for row in mentors.rows[1:]]
    assert len(rows) == 3
    assert [row[1] for row in rows] == ["张伟", "刘洋", "赵强"]
    assert [row[3] for row in rows] == ["高级技师", "技师", "高级技师"]
    assert rows[0][2] == "440305********0018"
    assert rows[1][2] == "440306********002X"
    assert rows[2][6:] == ["外聘", "2026-01-01 至 2028-12-31"]
    assert rows[0][6] == "本单位"


def test_raw_personal_numbers_appear_nowhere(form: DocumentObject) -> None:
    text = full_text(form)
    for raw in RAW_NUMBERS:
        assert raw not in text
        assert simple_mask("id" if len(raw) == 18 else "mobile", raw) in text


def test_raw_personal_numbers_are_not_in_any_part_of_the_file() -> None:
    with zipfile.ZipFile(io.BytesIO(build(full_answers()))) as package:
        for name in package.namelist():
            content = package.read(name).decode("utf-8", errors="replace")
            for raw in RAW_NUMBERS:
                assert raw not in content, name


def test_conditions_print_the_funds(form: DocumentObject) -> None:
    conditions = table_after(form, "四、设立条件")
    assert field_value(conditions, "运作经费支持金额") == "500,000.00 元"
    assert field_value(conditions, "单位经营管理状况") == (
        "公司经营状况良好，连续五年盈利。\n建立了完善的质量管理体系。"
    )


@pytest.mark.parametrize(
    ("amount", "printed"),
    [("500000", "500,000.00 元"), ("120000.50", "120,000.50 元"), ("0.005", "0.01 元"),
     ("1234567.8", "1,234,567.80 元"), ("", ""), (None, ""), ("abc", "abc")],
)
def test_format_amount(amount: str | None, printed: str) -> None:
    assert format_amount(amount) == printed


def test_report_texts_under_their_headings(form: DocumentObject) -> None:
    report = table_after(form, "五、申办报告").cell(0, 0)
    lines = [paragraph.text for paragraph in report.paragraphs]
    assert lines == [
        "（一）目标", "两年内培养高技能人才20名。",
        "（二）计划", "分三期实施。",
        "（三）步骤", "先建章立制，再开展名师带徒。",
        "（四）举措", "与深圳技师学院联合培养。",
        "（五）人财物配套", "场地800平方米，专职人员5名。",
        "（六）管理措施", "实行站长负责制。",
    ]


def test_materials_list(form: DocumentObject) -> None:
    materials = table_after(form, "六、申报材料清单")
    rows = {row.cells[1].text: (row.cells[2].text, row.cells[3].text)
            for row in materials.rows[1:]}
    assert rows["申办单位营业执照（法人登记证）复印件"] == ("营业执照.pdf", "✓")
    assert rows["技师工作站负责人身份证复印件"] == ("李明身份证.jpg", "✓")
    assert rows["指导教师身份证复印件"] == (
        "张伟：zhang_id.jpg\n刘洋：liu_id.jpg\n赵强：zhao_id.jpg", "✓"
    )
    assert rows["指导教师职业资格证书（技师或高级技师）复印件"][1] == "✓"
    assert rows["指导教师学历证书复印件"][0].endswith("赵强：zhao_edu.pdf")
    assert rows["市级及以上获奖证书和技术认定、技术创新等其他相关材料"] == (
        "市级技能竞赛一等奖.pdf", "✓"
    )
    assert rows["申办报告"] == ("见本表第五部分", "✓")


def test_opinion_block(form: DocumentObject) -> None:
    text = full_text(form)
    assert "申办单位意见" in text
    assert "（盖章）" in text
    assert "法定代表人签字" in text
    assert "年　　月　　日" in text


def test_a4_page_and_east_asian_font(form: DocumentObject) -> None:
    section = form.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    fonts = form.styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia")) == "SimSun"
    assert fonts.get(qn("w:eastAsiaTheme")) is None


def test_upload_report_mode_points_to_the_file() -> None:
    answers = full_answers() | {"report_mode": "upload"}
    documents = [*DOCUMENTS, ("report", "", "申办报告2026.pdf")]
    form = open_form(build(answers, documents))
    report = table_after(form, "五、申办报告")
    assert report.cell(0, 0).text == "见附件：申办报告2026.pdf"
    assert "（一）目标" not in full_text(form)
    materials = table_after(form, "六、申报材料清单")
    assert [cell.text for cell in materials.rows[1].cells[1:]] == [
        "申办报告", "申办报告2026.pdf", "✓"
    ]


def test_draft_with_most_keys_missing() -> None:
    answers: dict[str, Any] = {"unit_name": "草稿单位", "mentors": [{"name": "张伟"}]}
    form = open_form(build(answers, [], reference=None, submitted_on=None))
    assert form.paragraphs[0].text == TITLE
    assert form.paragraphs[1].text.count("（草稿）") == 2
    unit = table_after(form, "一、申办单位基本情况")
    assert field_value(unit, "单位名称") == "草稿单位"
    assert field_value(unit, "统一社会信用代码") == ""
    assert field_value(unit, "设立方式") == ""
    station = table_after(form, "二、技师工作站情况")
    assert field_value(station, "负责人身份证号") == ""
    mentors = table_after(form, "三、指导教师名单")
    assert [cell.text for cell in mentors.rows[1].cells] == ["1", "张伟", "", "", "", "", "", ""]
    conditions = table_after(form, "四、设立条件")
    assert field_value(conditions, "运作经费支持金额") == ""
    assert table_after(form, "五、申办报告").cell(0, 0).text == ""
    materials = table_after(form, "六、申报材料清单")
    assert {row.cells[3].text for row in materials.rows[1:]} == {""}


def test_empty_answers_build() -> None:
    form = open_form(build({}, [], reference=None, submitted_on=None))
    mentors = table_after(form, "三、指导教师名单")
    assert len(mentors.rows) == 2
    assert "（草稿）" in form.paragraphs[1].text


def test_self_mode_has_no_partner() -> None:
    answers = full_answers() | {"mode": "self"}
    del answers["partner_name"], answers["partner_is_college"]
    unit = table_after(open_form(build(answers)), "一、申办单位基本情况")
    assert field_value(unit, "设立方式") == "自行申请设立"
    assert field_value(unit, "合作单位") == "—"


def test_personal_numbers_in_file_names_and_free_text_are_masked() -> None:
    answers = full_answers() | {
        "contact_email": f"{CONTACT_MOBILE}@163.com",
        "report_management": f"站长李明（{HEAD_MOBILE}）负责日常管理。",
    }
    documents = [("head_id_card", "", f"李明{HEAD_ID}.jpg"),
                 ("mentor_id_card", "1", f"{MENTOR_IDS[0]}.png")]
    form = open_form(build(answers, documents))
    text = full_text(form)
    for raw in RAW_NUMBERS:
        assert raw not in text
    station = table_after(form, "二、技师工作站情况")
    assert field_value(station, "联系人电子邮箱") == "139****4321@163.com"
    assert "站长李明（138****5678）负责日常管理。" in text
    materials = table_after(form, "六、申报材料清单")
    files = [row.cells[2].text for row in materials.rows[1:]]
    assert "李明440301********1234.jpg" in files
    assert "张伟：440305********0018.png" in files
    unit = table_after(form, "一、申办单位基本情况")
    assert field_value(unit, "统一社会信用代码") == "91440300MA5F0XXX1Q"


def test_missing_optional_award_is_none_not_missing() -> None:
    documents = [doc for doc in DOCUMENTS if doc[0] != "award"]
    materials = table_after(open_form(build(full_answers(), documents)), "六、申报材料清单")
    rows = {row.cells[1].text: (row.cells[2].text, row.cells[3].text)
            for row in materials.rows[1:]}
    assert rows["市级及以上获奖证书和技术认定、技术创新等其他相关材料"] == ("（无）", "")


def test_mask_is_never_called_with_an_empty_value() -> None:
    calls: list[tuple[str, str]] = []

    def recording_mask(kind: str, value: str) -> str:
        calls.append((kind, value))
        return simple_mask(kind, value)

    build_declaration_form({"head_id_number": "", "mentors": [{"name": "张伟"}]}, [],
                           reference=None, submitted_on=None, mask=recording_mask)
    assert calls == []
