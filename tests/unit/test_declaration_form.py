"""The printed 申报表 (.docx) as a reader sees it, built from what a real walk through the form keeps.

The answers are never written by hand: each test drives the declaration's FormSession with the
typed answers, button presses and uploads a person makes, then prints what the submit use-case
prints (`bot.services.forms.print_form` with `plain_answers()` and `final_answers()`, on an empty
database: nothing was uploaded after submitting), and reads every cell of every table back with
python-docx.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import docx
import pytest
from cryptography.fernet import Fernet
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from docx.text.run import Run
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from bot.crypto import Vault
from bot.documents.printed_form import BODY_PT
from bot.forms.context import FormContext
from bot.forms.declaration import DECLARATION, DECLARATION_SPEC
from bot.forms.engine import FormSession, Upload
from bot.forms.spec import PrintRequest
from bot.services.forms import print_form

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 27)
SUBMITTED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=SHANGHAI)
REFERENCE = "SZJS-2026-0001"


def resident_id(body: str) -> str:
    return body + stdnum_ric.calc_check_digit(body + "0")


def uscc(body: str) -> str:
    return body + stdnum_uscc.calc_check_digit(body)


HEAD_ID = resident_id("44030119800101123")
MENTOR_IDS = [resident_id(f"4403011975010{n}123") for n in range(1, 4)]
HEAD_MOBILE = "13800138000"
CONTACT_MOBILE = "13900139000"
VALID_USCC = uscc("12440300MB2C00003")
# A pre-2016 style code whose check character fails: the person confirms it with "我已核对".
GOOD_BODY = "91440300MA5F00001"
UNVERIFIED_USCC = GOOD_BODY + ("0" if stdnum_uscc.calc_check_digit(GOOD_BODY) != "0" else "1")


class NoOtherDeclaration:
    async def uscc_blocker(self, code: str) -> str | None:
        return None


def new_session() -> FormSession:
    context = FormContext(today=TODAY, now=datetime(2026, 11, 27, 1, 30, tzinfo=UTC), lookup=NoOtherDeclaration())
    vault = Vault(Fernet.generate_key())
    return FormSession(DECLARATION, {}, vault, context, lang="zh", checks=DECLARATION_SPEC.checks)


async def walk(session: FormSession, *inputs: str) -> None:
    """Each input in turn, as a person gives it: '@label' presses the button whose label contains
    it ('@?label': if the screen shows one), 'file:name' sends a file, '!text' types an answer that
    is refused, anything else is typed."""
    for item in inputs:
        if item.startswith("@"):
            wanted = item.removeprefix("@").removeprefix("?")
            labels = [b for row in session.screen().buttons for b in row if wanted in b.label]
            if not labels and item.startswith("@?"):
                continue
            assert labels, f"no button {item!r} on {session.screen().text!r}"
            outcome = await session.press(labels[0].id)
        elif item.startswith("file:"):
            name = item.removeprefix("file:")
            outcome = session.upload(Upload(f"id-{name}", f"u-{name}", name, 1000, "application/pdf"))
        elif item.startswith("!"):
            outcome = await session.answer_text(item[1:])
            assert outcome.error is not None, f"{item!r} was accepted"
            continue
        else:
            outcome = await session.answer_text(item)
        assert outcome.error is None, f"{item!r}: {session.error_text(outcome.error)}"


async def walk_co_built() -> FormSession:
    """Co-built with a college, a USCC confirmed through 我已核对, the report in six texts, three
    mentors of every kind of answer (an external 首席技师 with a skill-level certificate)."""
    session = new_session()
    await walk(
        session,
        "深圳精密制造有限公司", f"!{UNVERIFIED_USCC}", "@我已核对", "@企业", "王大明", "深圳市南山区科技园1号",
        "精密模具制造", "1,350", "@合作共建", "深圳技师学院", "@是",
        "精密模具技师工作站", "李工", HEAD_ID, "+86 138-0013-8000", "总工程师", "陈联络", "139 0013 9000",
        "chen@example.com",
        "@添加指导教师", "张伟", MENTOR_IDS[0], "模具工", "@高级技师", "@职业资格证书", "GJ2015001", "@技工院校", "@本单位",
        "@添加指导教师", "刘洋", MENTOR_IDS[1], "数控车工", "@技师", "@职业技能等级证书", "S000123", "@本科", "@本单位",
        "@添加指导教师", "赵强", MENTOR_IDS[2], "钳工", "@首席技师", "@职业技能等级证书", "Y2023-9", "@研究生",
        "@外聘", "2026-03-01", "2028年2月29日",
        "@名单完成",
        "@是", "管理制度健全，连续五年盈利", "@是", "拥有五轴加工中心12台", "@是", "设有独立实训车间和技能津贴",
        "@是", "承担过市级技能大赛", "@是", "50万", "企业自筹专项经费",
        "@在此分六项填写", "两年培养20名高技能人才", "分三期实施建设", "先建章立制再带徒", "与技师学院联合培养",
        "场地800平方米专职5人", "实行站长负责制",
        "file:licence.pdf", "file:head-id.jpg",
        *(f"file:mentor{n}-{what}.pdf" for n in (1, 2, 3) for what in ("id", "cert", "edu")),
        # a second file of the same kind: the checklist's button, or the screen that waits for more
        "@?查看材料清单", "@获奖证书", "file:award-2024.pdf", "@?获奖证书", "file:award-2025.pdf",
        "@?查看材料清单", "@材料齐全",
    )
    assert session.at == "_summary"
    return session


async def walk_self_established() -> FormSession:
    """Self-established by an institution, a valid USCC, no e-mail, the report uploaded, three own
    mentors, no award."""
    session = new_session()
    await walk(
        session,
        "深圳市技工研究所", VALID_USCC, "@科研生产型事业单位", "周所长", "深圳市福田区1号", "检测设备研制", "80",
        "@自行申请设立",
        "检测技师工作站", "孙工", HEAD_ID, HEAD_MOBILE, "高级工程师", "钱联络", CONTACT_MOBILE, "@跳过",
        *(step for n, name in enumerate(("吴一", "郑二", "冯三"))
          for step in ("@添加指导教师", name, MENTOR_IDS[n], "电工", "@特级技师", "@职业资格证书", f"C{n}",
                       "@高中/中专", "@本单位")),
        "@名单完成",
        "@是", "管理规范运行稳定良好", "@是", "检测设备国内领先水平", "@是", "提供独立实验室和津贴",
        "@是", "承担省级技能项目两项", "@是", "200000", "财政与自筹经费结合",
        "@上传申办报告文件", "file:申办报告.pdf",
        "file:institution.pdf", "file:head.jpg", *(f"file:m{n}.pdf" for n in range(9)),
        "@?查看材料清单", "@材料齐全",
    )
    assert session.at == "_summary"
    return session


async def printed(session: FormSession) -> DocumentObject:
    result = await print_form(DECLARATION_SPEC, session.plain_answers(), session.final_answers(), REFERENCE, SUBMITTED_AT)
    assert result is not None and result.filename == f"{REFERENCE}-含完整证件号码-申报表.docx"
    return docx.Document(io.BytesIO(result.content))


# -- reading the document -----------------------------------------------------------------------


def blocks(document: DocumentObject) -> list[Paragraph | Table]:
    return list(document.iter_inner_content())


def table_after(document: DocumentObject, heading: str) -> Table:
    """The first table after the paragraph `heading`."""
    seen = False
    for block in blocks(document):
        if isinstance(block, Paragraph) and block.text == heading:
            seen = True
        elif seen and isinstance(block, Table):
            return block
    raise AssertionError(f"no table after {heading!r}")


def cells(table: Table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def headings(document: DocumentObject) -> list[str]:
    return [b.text for b in blocks(document) if isinstance(b, Paragraph) and b.runs and b.runs[0].bold]


def all_paragraphs(document: DocumentObject) -> Iterator[Paragraph]:
    """Every paragraph, in reading order: the body (table cells where the table stands), then the
    headers and footers."""
    for block in blocks(document):
        if isinstance(block, Paragraph):
            yield block
            continue
        for row in block.rows:
            for cell in row.cells:
                yield from cell.paragraphs
    for section in document.sections:
        yield from section.header.paragraphs
        yield from section.footer.paragraphs


def full_text(document: DocumentObject) -> str:
    return "\n".join(p.text for p in all_paragraphs(document))


def effective_size_pt(run: Run, paragraph: Paragraph, document: DocumentObject) -> float:
    if run.font.size is not None:
        return run.font.size.pt
    style = paragraph.style
    while style is not None:
        if style.font.size is not None:
            return style.font.size.pt
        style = style.base_style
    defaults = document.styles.element.find("/".join(qn(t) for t in ("w:docDefaults", "w:rPrDefault", "w:rPr", "w:sz")))
    assert defaults is not None, "no size anywhere: Word would use 10 pt"
    return int(defaults.get(qn("w:val"))) / 2


# -- a co-built declaration ---------------------------------------------------------------------


@pytest.fixture
async def co_built(db: str) -> DocumentObject:
    return await printed(await walk_co_built())


async def test_title_reference_and_date(co_built: DocumentObject) -> None:
    assert co_built.paragraphs[0].text == "深圳市技师工作站设立申报表"
    assert co_built.paragraphs[1].text == f"申报编号：{REFERENCE}　　　　提交日期：2026年11月27日"
    assert co_built.core_properties.title == "深圳市技师工作站设立申报表"


async def test_sections_follow_the_form(co_built: DocumentObject) -> None:
    assert headings(co_built) == [
        "深圳市技师工作站设立申报表",
        "一、申办单位基本情况", "二、技师工作站基本情况", "三、指导教师名单", "四、设立条件", "五、申办报告",
        "六、申报材料清单", "申办单位意见", "专家评审意见", "市人力资源保障局意见",
    ]


async def test_unit_every_cell(co_built: DocumentObject) -> None:
    assert cells(table_after(co_built, "一、申办单位基本情况")) == [
        ["单位名称", "深圳精密制造有限公司"],
        ["统一社会信用代码", f"{UNVERIFIED_USCC}（未通过自动校验，经申报人确认，待人工核验）"],
        ["单位类型", "企业"],
        ["法定代表人", "王大明"],
        ["注册地址", "深圳市南山区科技园1号"],
        ["主要生产领域", "精密模具制造"],
        ["职工人数（人）", "1,350"],
        ["设立方式", "合作共建"],
        ["合作单位", "深圳技师学院"],
        ["是否校企合作", "是"],
    ]


async def test_station_every_cell_numbers_in_full(co_built: DocumentObject) -> None:
    assert cells(table_after(co_built, "二、技师工作站基本情况")) == [
        ["技师工作站名称", "精密模具技师工作站"],
        ["负责人姓名", "李工"],
        ["负责人证件号码", HEAD_ID],
        ["负责人手机", HEAD_MOBILE],
        ["负责人职务或职称", "总工程师"],
        ["联系人姓名", "陈联络"],
        ["联系人手机", CONTACT_MOBILE],
        ["联系人邮箱", "chen@example.com"],
    ]


async def test_mentors_every_cell_in_words(co_built: DocumentObject) -> None:
    assert cells(table_after(co_built, "三、指导教师名单")) == [
        ["序号", "姓名", "身份证号码", "职业（工种）", "技能等级", "证书类别", "证书编号", "学历", "聘用方式", "聘期开始", "聘期结束"],
        ["1", "张伟", MENTOR_IDS[0], "模具工", "高级技师", "职业资格证书", "GJ2015001", "技工院校", "本单位", "—", "—"],
        ["2", "刘洋", MENTOR_IDS[1], "数控车工", "技师", "职业技能等级证书", "S000123", "本科", "本单位", "—", "—"],
        ["3", "赵强", MENTOR_IDS[2], "钳工", "首席技师", "职业技能等级证书", "Y2023-9", "研究生", "外聘", "2026-03-01", "2028-02-29"],
    ]


async def test_eleven_columns_get_a_landscape_page_of_their_own(co_built: DocumentObject) -> None:
    orientations = [s.orientation for s in co_built.sections]
    assert orientations == [WD_ORIENT.PORTRAIT, WD_ORIENT.LANDSCAPE, WD_ORIENT.PORTRAIT]
    landscape = co_built.sections[1]
    assert (round(landscape.page_width.mm), round(landscape.page_height.mm)) == (297, 210)
    mentors = table_after(co_built, "三、指导教师名单")
    width = sum(column.width.mm for column in mentors.columns)
    assert width == pytest.approx(297 - 40, abs=1)
    id_column = mentors.columns[2].width.mm
    assert id_column >= 18 * 10.5 * 25.4 / 72 * 0.5  # 18 digits on one line


async def test_conditions_every_cell(co_built: DocumentObject) -> None:
    assert cells(table_after(co_built, "四、设立条件")) == [
        ["单位经营管理状况良好", "是"],
        ["经营管理情况说明", "管理制度健全，连续五年盈利"],
        ["具有本行业国内一流的生产、科研设备", "是"],
        ["生产、科研设备情况说明", "拥有五轴加工中心12台"],
        ["能为高技能人才提供较好的工作条件", "是"],
        ["工作条件情况说明", "设有独立实训车间和技能津贴"],
        ["有独立承担重大技能项目的经验", "是"],
        ["重大技能项目情况说明", "承担过市级技能大赛"],
        ["给予技师工作站基本的运作经费支持", "是"],
        ["运作经费金额", "500,000.00 元"],
        ["运作经费来源和用途", "企业自筹专项经费"],
    ]


async def test_report_texts_every_cell(co_built: DocumentObject) -> None:
    assert cells(table_after(co_built, "五、申办报告")) == [
        ["申办报告形式", "在此分六项填写"],
        ["建设目标", "两年培养20名高技能人才"],
        ["建设计划", "分三期实施建设"],
        ["实施步骤", "先建章立制再带徒"],
        ["主要举措", "与技师学院联合培养"],
        ["人、财、物配套", "场地800平方米专职5人"],
        ["管理措施", "实行站长负责制"],
    ]


async def test_materials_by_material_never_by_file_name(co_built: DocumentObject) -> None:
    assert cells(table_after(co_built, "六、申报材料清单")) == [
        ["序号", "材料名称", "提交情况"],
        ["1", "《深圳市技师工作站设立申报表》（签字盖章）", "未提交（本表打印、签字盖章后上传）"],
        ["2", "申办报告", "已填写（见本表“五、申办报告”）"],
        ["3", "营业执照", "已提交"],
        ["4", "负责人身份证", "已提交"],
        ["5", "第1位导师身份证（张伟）", "已提交"],
        ["6", "第1位导师职业资格证书（张伟）", "已提交"],
        ["7", "第1位导师学历证书（张伟）", "已提交"],
        ["8", "第2位导师身份证（刘洋）", "已提交"],
        ["9", "第2位导师职业技能等级证书（刘洋）", "已提交"],
        ["10", "第2位导师学历证书（刘洋）", "已提交"],
        ["11", "第3位导师身份证（赵强）", "已提交"],
        ["12", "第3位导师职业技能等级证书（赵强）", "已提交"],
        ["13", "第3位导师学历证书（赵强）", "已提交"],
        ["14", "获奖证书及其他材料（可选）", "已提交（2份）"],
    ]
    assert ".pdf" not in full_text(co_built) and ".jpg" not in full_text(co_built)


async def test_pledge_and_the_boxes_others_fill_in(co_built: DocumentObject) -> None:
    pledge = cells(table_after(co_built, "申办单位意见"))
    assert len(pledge) == 1 and len(pledge[0]) == 1
    lines = [line for line in pledge[0][0].split("\n") if line]
    assert lines == [
        "本单位向深圳市人力资源和社会保障局（以下简称市人力资源保障局）申报设立市级技师工作站，"
        "承诺以上所填内容及所附材料真实、准确，如有虚假，愿承担相应责任。",
        "法定代表人（签字）：＿＿＿＿＿＿＿＿", "申办单位（盖章）", "年　　月　　日",
    ]
    for heading, closing in (("专家评审意见", "评审专家（签字）：＿＿＿＿＿＿＿＿"), ("市人力资源保障局意见", "市人力资源保障局（盖章）")):
        box = table_after(co_built, heading)
        assert box.style.name == "Table Grid"  # bordered
        assert len(box.rows) == 1 and len(box.columns) == 1
        row = box.rows[0]
        assert row.height_rule == WD_ROW_HEIGHT_RULE.AT_LEAST and row.height.mm >= 50  # room to write
        assert [line for line in row.cells[0].text.split("\n") if line] == [closing, "年　　月　　日"]
        assert sum(1 for p in row.cells[0].paragraphs if not p.text) >= 5


async def test_the_bureau_is_named_in_full_at_first_mention(co_built: DocumentObject) -> None:
    text = full_text(co_built)
    first = text.index("人力资源")
    assert text[first - 3:first + 10] == "深圳市人力资源和社会保障局"


async def test_no_internal_code_is_printed(co_built: DocumentObject) -> None:
    text = full_text(co_built)
    for code in ("technical", "bachelor", "postgraduate", "skill_level", "qualification", "chief", "senior",
                 "co_built", "enterprise", "external", "own", "yes", "texts", "_unverified", "{", "}"):
        assert code not in text, code


async def test_every_run_is_at_least_10_5_pt(co_built: DocumentObject) -> None:
    runs = [(run, paragraph) for paragraph in all_paragraphs(co_built) for run in paragraph.runs]
    assert len(runs) > 100
    sizes = {effective_size_pt(run, paragraph, co_built) for run, paragraph in runs}
    assert min(sizes) >= BODY_PT == 10.5
    assert effective_size_pt(co_built.paragraphs[0].runs[0], co_built.paragraphs[0], co_built) == 18
    # no explicit size below 五号 anywhere in the body, the footers or the table style
    parts = [co_built.element, co_built.styles["Table Grid"].element,
             *(section.footer._element for section in co_built.sections)]
    explicit = [int(size.get(qn("w:val"))) for part in parts for size in part.iter(qn("w:sz"))]
    assert explicit and min(explicit) >= 21  # half-points


async def test_east_asian_font_and_a4(co_built: DocumentObject) -> None:
    first = co_built.sections[0]
    assert (round(first.page_width.mm), round(first.page_height.mm)) == (210, 297)
    fonts = co_built.styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia")) == "SimSun"
    assert fonts.get(qn("w:eastAsiaTheme")) is None


# -- a self-established declaration -------------------------------------------------------------


@pytest.fixture
async def self_established(db: str) -> DocumentObject:
    return await printed(await walk_self_established())


async def test_self_established_is_not_school_enterprise(self_established: DocumentObject) -> None:
    assert cells(table_after(self_established, "一、申办单位基本情况")) == [
        ["单位名称", "深圳市技工研究所"],
        ["统一社会信用代码", VALID_USCC],  # checked: no mark
        ["单位类型", "科研生产型事业单位"],
        ["法定代表人", "周所长"],
        ["注册地址", "深圳市福田区1号"],
        ["主要生产领域", "检测设备研制"],
        ["职工人数（人）", "80"],
        ["设立方式", "自行申请设立"],
        ["合作单位", "—"],
        ["是否校企合作", "否"],
    ]
    assert cells(table_after(self_established, "二、技师工作站基本情况"))[-1] == ["联系人邮箱", "无"]


async def test_self_established_mentors_and_report(self_established: DocumentObject) -> None:
    assert cells(table_after(self_established, "三、指导教师名单"))[1:] == [
        [str(n + 1), name, MENTOR_IDS[n], "电工", "特级技师", "职业资格证书", f"C{n}", "高中/中专", "本单位", "—", "—"]
        for n, name in enumerate(("吴一", "郑二", "冯三"))
    ]
    assert cells(table_after(self_established, "五、申办报告")) == [
        ["申办报告形式", "上传申办报告文件"],
        ["申办报告文件", "已提交"],
    ]


async def test_self_established_materials(self_established: DocumentObject) -> None:
    rows = cells(table_after(self_established, "六、申报材料清单"))
    assert rows[:5] == [
        ["序号", "材料名称", "提交情况"],
        ["1", "《深圳市技师工作站设立申报表》（签字盖章）", "未提交（本表打印、签字盖章后上传）"],
        ["2", "申办报告", "已提交"],
        ["3", "事业单位法人证书", "已提交"],  # named by the unit's type
        ["4", "负责人身份证", "已提交"],
    ]
    assert rows[5:8] == [
        ["5", "第1位导师身份证（吴一）", "已提交"],
        ["6", "第1位导师职业资格证书（吴一）", "已提交"],
        ["7", "第1位导师学历证书（吴一）", "已提交"],
    ]
    assert rows[-1] == ["14", "获奖证书及其他材料（可选）", "无"]
    assert len(rows) == 15


# -- the stamped form, a draft ------------------------------------------------------------------


async def test_the_stamped_form_once_uploaded_is_submitted() -> None:
    session = await walk_co_built()
    request = PrintRequest(
        session.plain_answers(), [("stamped_form", "", "盖章申报表.pdf")], REFERENCE, TODAY, session.final_answers().get("_flags", ()),
    )
    document = docx.Document(io.BytesIO(DECLARATION_SPEC.on_submit.printable.build(request)))
    rows = cells(table_after(document, "六、申报材料清单"))
    assert rows[1] == ["1", "《深圳市技师工作站设立申报表》（签字盖章）", "已提交"]
    assert rows[3] == ["3", "营业执照", "未提交"]  # no other file in this request
    assert "未通过自动校验" in cells(table_after(document, "一、申办单位基本情况"))[1][1]


async def test_a_draft_prints_with_the_draft_mark() -> None:
    session = new_session()
    await walk(session, "草稿单位")
    request = PrintRequest(session.plain_answers(), [], None, None)
    document = docx.Document(io.BytesIO(DECLARATION_SPEC.on_submit.printable.build(request)))
    assert document.paragraphs[1].text == "申报编号：（草稿）　　　　提交日期：（草稿）"
    unit = cells(table_after(document, "一、申办单位基本情况"))
    assert unit[0] == ["单位名称", "草稿单位"] and unit[1] == ["统一社会信用代码", ""]
    assert cells(table_after(document, "三、指导教师名单"))[1] == [""] * 11
