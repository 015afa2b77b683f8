"""设立申报: the establishment declaration (policy 三, 四, 六(一); SPEC R1–R5), declared as data.

/declare walks it through the generic dialog (handlers/forms.py); its questions, by section:

```mermaid
stateDiagram-v2
    [*] --> unit: /declare or the menu (a saved draft resumes where it stopped)
    unit --> partner: 合作共建
    unit --> station: 自行申请设立
    partner --> station
    note right of unit: USCC checked (GB 32100) and free (one declaration per unit)
    station --> mentors
    mentors --> mentors: add / edit / delete a mentor (R1: at least 3 different people; R2: external = senior or above, >= 2 years)
    mentors --> conditions: list complete
    conditions --> report: each condition "yes" and described (四(二)-(四)); funds above 0
    report --> documents: a file, or six texts
    documents --> summary: every required material in (R5)
    summary --> unit: edit item N (back to the summary after)
    summary --> submitted: 提交 (receipt, 申报表 .docx, staff told)
    submitted --> [*]
```
After submit the declaration follows its life cycle (bot/rules/lifecycle.py): under review,
approved or rejected, announced, recognised.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.documents.declaration_form import build_declaration_form
from bot.forms.checks import PLAUSIBLE_FROM, PLAUSIBLE_TO, more_than_zero, of_working_age, plausible_date
from bot.forms.context import FormContext
from bot.forms.engine import Answers, Choice, DocumentSlot, Field, Form, Section, unverified_mark_key
from bot.forms.spec import FormSpec, OnSubmit, Printable, PrintRequest
from bot.rules.values import Invalid, term_last_day

YES_NO = (Choice("yes", "choice.yes"), Choice("no", "choice.no"))
# A free-text description must be a sentence, not "好" or "有".
DESCRIPTION_MIN = 5

# 职业技能等级: 技师 (二级) and 高级技师 (一级); since 2022 特级技师 and 首席技师 above them
# (《关于健全完善新时代技能人才职业技能等级制度的意见（试行）》). R1 counts them all; R2 lets
# 高级技师 and above be hired from outside.
LEVELS = ("technician", "senior", "special_grade", "chief")
AT_LEAST_SENIOR = frozenset({"senior", "special_grade", "chief"})
# Before 2020 the state issued 职业资格证书 for these levels; since then, 职业技能等级证书. Both count.
CERTIFICATE_KINDS = ("qualification", "skill_level")
# 六(一)3: the unit's registration certificate (法人登记证; since 2015 it carries the unified social
# credit code, which replaced the organisation code certificate) depends on who registers the unit.
REGISTRATION_CERTIFICATE = {
    "enterprise": "document.business_licence",  # 营业执照
    "group": "document.business_licence",
    "association": "document.registration_association",  # 社会团体法人登记证书
    "institution": "document.registration_institution",  # 事业单位法人证书
}
# R2: an external hire runs at least this many years, first and last day counted.
EXTERNAL_CONTRACT_YEARS = 2


def registration_certificate_key(answers: Mapping[str, Any]) -> str:
    """The text key naming the unit's registration certificate, by its type (any, before the type is known)."""
    return REGISTRATION_CERTIFICATE.get(str(answers.get("unit_type")), "document.registration_any")


def _co_built(answers: Answers) -> bool:
    return answers.get("mode") == "co_built"


def _external(mentor: Answers) -> bool:
    return mentor.get("employment") == "external"


def _condition_required(clause: str) -> Any:
    """R3: the unit declares each condition; "no" means it does not meet 四(...) yet."""

    def check(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
        return Invalid("declaration.condition_required", {"clause_key": clause}) if value == "no" else None

    return check


def _external_must_be_senior(value: Any, mentor: Mapping[str, Any], context: FormContext) -> Invalid | None:
    # R2: only a 高级技师 (or a 特级技师 or 首席技师 above) may be hired from another unit.
    if value == "external" and mentor.get("level") not in AT_LEAST_SENIOR:
        return Invalid("declaration.external_not_senior")
    return None


def contract_end_problem(start: date, end: date, today: date) -> Invalid | None:
    """R2 on an external hire "自start起至end止" (both days counted), on the day of the declaration:
    it runs at least two years and has not ended already. Every refusal names the earliest end
    date that would do."""
    earliest = max(term_last_day(start, EXTERNAL_CONTRACT_YEARS), today)
    params = {"start": start, "earliest": earliest}
    if not PLAUSIBLE_FROM <= end <= PLAUSIBLE_TO:
        return Invalid("declaration.contract_end_implausible", {**params, "not_before": PLAUSIBLE_FROM, "not_after": PLAUSIBLE_TO})
    if end < start:
        return Invalid("declaration.contract_end_before_start", params)
    if end < term_last_day(start, EXTERNAL_CONTRACT_YEARS):
        return Invalid("declaration.contract_too_short", params)
    if end < today:
        return Invalid("declaration.contract_ended", {**params, "today": today})
    return None


def _contract_end_ok(value: Any, mentor: Mapping[str, Any], context: FormContext) -> Invalid | None:
    start = mentor.get("contract_start")
    if not start:
        return None
    return contract_end_problem(date.fromisoformat(start), date.fromisoformat(str(value)), context.today)


def _mentor_complete(mentor: Mapping[str, Any], answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
    # Again on the whole item: "keep as is" moves on without checking, so a changed level or
    # start date could otherwise leave an external hire that breaks R2.
    if not _external(mentor):
        return None
    if mentor.get("level") not in AT_LEAST_SENIOR:
        return Invalid("declaration.external_not_senior")
    start, end = mentor.get("contract_start"), mentor.get("contract_end")
    if start and end:
        return contract_end_problem(date.fromisoformat(start), date.fromisoformat(end), context.today)
    return None


MENTOR_FIELDS = (
    Field("name", "text", max_length=50),
    # R1: three different people; and each of working age.
    Field("id_number", "resident_id", personal=True, unique=True, checks=(of_working_age(),)),
    Field("occupation", "text", max_length=50),  # 职业（工种）
    Field("level", "choice", choices=tuple(Choice(v, f"level.{v}") for v in LEVELS)),
    Field("certificate_kind", "choice", choices=tuple(Choice(v, f"choice.certificate_{v}") for v in CERTIFICATE_KINDS)),
    Field("certificate_no", "text", max_length=40),
    Field(
        "education",
        "choice",
        choices=tuple(Choice(v, f"education.{v}") for v in ("junior_high", "senior_high", "technical", "college", "bachelor", "postgraduate")),
    ),
    Field(
        "employment",
        "choice",
        choices=(Choice("own", "employment.own"), Choice("external", "employment.external")),
        checks=(_external_must_be_senior,),
    ),
    Field("contract_start", "date", visible=_external, checks=(plausible_date(),)),
    Field("contract_end", "date", visible=_external, checks=(_contract_end_ok,)),
)


def _report_texts(answers: Answers) -> bool:
    return answers.get("report_mode") == "texts"


def _certificate_label(mentor: Mapping[str, Any]) -> str:
    kind = mentor.get("certificate_kind")
    return f"document.mentor_certificate_{kind}" if kind in CERTIFICATE_KINDS else "document.mentor_qualification"


def document_slots(answers: Answers) -> list[DocumentSlot]:
    # The slot keeps its kind "business_licence" whatever certificate it holds (stored documents
    # and the printed checklist know it by that name); only its label follows the unit's type.
    slots = [DocumentSlot("business_licence", label_key=registration_certificate_key(answers)), DocumentSlot("head_id_card")]
    for n, mentor in enumerate(answers.get("mentors") or [], start=1):
        slots += [
            DocumentSlot("mentor_id_card", str(n)),
            DocumentSlot("mentor_qualification", str(n), label_key=_certificate_label(mentor)),
            DocumentSlot("mentor_education", str(n)),
        ]
    slots.append(DocumentSlot("award", optional=True, multiple=True))
    return slots


DECLARATION = Form(
    id="declaration",
    sections=(
        Section(
            "unit",
            (
                Field("unit_name", "text", max_length=100),
                # Names the certificate that carries the code: each one with its type of unit, or
                # the unit's own once its type is known (an edit from the summary).
                Field(
                    "uscc",
                    "uscc",
                    async_checks=("uscc_free",),
                    text_params=lambda answers: {"certificate_key": registration_certificate_key(answers)},
                ),
                Field(
                    "unit_type",
                    "choice",
                    choices=tuple(Choice(v, f"unit_type.{v}") for v in ("enterprise", "group", "association", "institution")),
                ),
                Field("legal_rep", "text", max_length=50),
                Field("address", "text", max_length=200),
                Field("main_field", "text", max_length=100),
                Field("employees", "count", minimum=1),
                Field("mode", "choice", choices=(Choice("self", "mode.self"), Choice("co_built", "mode.co_built"))),
                Field("partner_name", "text", max_length=100, visible=_co_built),
                Field("partner_is_college", "choice", choices=YES_NO, visible=_co_built),
            ),
        ),
        Section(
            "station",
            (
                Field("station_name", "text", max_length=100),
                Field("head_name", "text", max_length=50),
                Field("head_id_number", "resident_id", personal=True, checks=(of_working_age(),)),
                Field("head_mobile", "mobile", personal=True),
                Field("head_title", "text", max_length=50),
                Field("contact_name", "text", max_length=50),
                Field("contact_mobile", "mobile", personal=True),
                Field("contact_email", "email", optional=True),
            ),
        ),
        Section(
            "mentors",
            (Field("mentors", "group", subfields=MENTOR_FIELDS, min_items=3, item_checks=(_mentor_complete,)),),
        ),
        Section(
            "conditions",
            (
                Field("mgmt_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_2"),)),
                Field("mgmt_desc", "text", max_length=500, min_length=DESCRIPTION_MIN),
                Field("equipment_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_2"),)),
                Field("equipment_desc", "text", max_length=500, min_length=DESCRIPTION_MIN),
                Field("work_conditions_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_2"),)),
                Field("work_conditions_desc", "text", max_length=500, min_length=DESCRIPTION_MIN),
                Field("project_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_3"),)),
                Field("project_desc", "text", max_length=500, min_length=DESCRIPTION_MIN),
                Field("funds_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_4"),)),
                Field("funds_amount", "money", checks=(more_than_zero("declaration.funds_zero"),)),
                Field("funds_desc", "text", max_length=500, min_length=DESCRIPTION_MIN),
            ),
        ),
        Section(
            "report",
            (
                Field("report_mode", "choice", choices=(Choice("upload", "report_mode.upload"), Choice("texts", "report_mode.texts"))),
                Field("report", "document", visible=lambda a: a.get("report_mode") == "upload"),
                Field("report_goals", "text", max_length=800, min_length=DESCRIPTION_MIN, visible=_report_texts),
                Field("report_plan", "text", max_length=800, min_length=DESCRIPTION_MIN, visible=_report_texts),
                Field("report_steps", "text", max_length=800, min_length=DESCRIPTION_MIN, visible=_report_texts),
                Field("report_measures", "text", max_length=800, min_length=DESCRIPTION_MIN, visible=_report_texts),
                Field("report_resources", "text", max_length=800, min_length=DESCRIPTION_MIN, visible=_report_texts),
                Field("report_management", "text", max_length=800, min_length=DESCRIPTION_MIN, visible=_report_texts),
            ),
        ),
        Section("documents", (Field("documents", "documents"),)),
    ),
    document_slots=document_slots,
)


async def _uscc_free(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
    """六(一): one declaration per unit; a unit with a standing station may not declare again."""
    assert context.lookup is not None
    blocker = await context.lookup.uscc_blocker(str(value))
    return Invalid(f"declaration.uscc_taken_{blocker}") if blocker is not None else None


def _print(request: PrintRequest) -> bytes:
    # Built from DECLARATION itself; ID and mobile numbers in full (bot/documents/printed_form.py says why).
    return build_declaration_form(DECLARATION, request)


def _names(answers: Answers, context: FormContext) -> dict[str, Any]:
    # The code is marked when the person confirmed it despite a failed check: staff must check it.
    return {"unit": answers.get("unit_name", ""), "station": answers.get("station_name", ""),
            "uscc": answers.get("uscc", ""), "uscc_mark_key": unverified_mark_key(answers, "uscc")}


DECLARATION_SPEC = FormSpec(
    form=DECLARATION,
    kind="establishment",
    command="declare",
    menu_action="declare",
    reprint_command="form",
    checks={"uscc_free": _uscc_free},
    on_submit=OnSubmit(
        # 六(一): one pending declaration per unit; released when it is rejected (see the life cycle).
        uniqueness_key=lambda answers, context: f"establishment:{answers['uscc']}",
        receipt_params=_names,
        staff_notice_kind="new_declaration",
        staff_notice_key="notice.new_declaration",
        staff_notice_params=_names,
        # The file name says the ID and mobile numbers are in it, in full: the one printed form that carries them.
        printable=Printable(_print, filename="{reference}-含完整证件号码-申报表.docx",
                            caption_key="form.declaration.form_caption"),
        duplicate_reason="declaration.uscc_taken_pending",
    ),
)
