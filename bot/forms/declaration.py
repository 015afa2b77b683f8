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
    mentors --> mentors: add / edit / delete a mentor (R1: at least 3; R2: external = senior, >= 2 years)
    mentors --> conditions: list complete
    conditions --> report: each condition "yes" (四(二)-(四))
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
from bot.forms.context import FormContext
from bot.forms.engine import Answers, Choice, DocumentSlot, Field, Form, Section
from bot.forms.spec import FormSpec, OnSubmit, Printable, PrintRequest
from bot.rules import identifiers
from bot.rules.values import Invalid, years_apart_at_least

YES_NO = (Choice("yes", "choice.yes"), Choice("no", "choice.no"))


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
    # R2: only a 高级技师 may be hired from another unit.
    if value == "external" and mentor.get("level") != "senior":
        return Invalid("declaration.external_not_senior")
    return None


def _contract_two_years(value: Any, mentor: Mapping[str, Any], context: FormContext) -> Invalid | None:
    # R2: an external hire runs at least two years.
    start = mentor.get("contract_start")
    if start and not years_apart_at_least(date.fromisoformat(start), date.fromisoformat(value), 2):
        return Invalid("declaration.contract_too_short", {"start": start})
    return None


def _mentor_complete(mentor: Mapping[str, Any], answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
    if _external(mentor) and mentor.get("level") != "senior":
        return Invalid("declaration.external_not_senior")
    return None


MENTOR_FIELDS = (
    Field("name", "text", max_length=50),
    Field("id_number", "resident_id", personal=True),
    Field("level", "choice", choices=(Choice("technician", "level.technician"), Choice("senior", "level.senior"))),
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
    Field("contract_start", "date", visible=_external),
    Field("contract_end", "date", visible=_external, checks=(_contract_two_years,)),
)


def _report_texts(answers: Answers) -> bool:
    return answers.get("report_mode") == "texts"


def document_slots(answers: Answers) -> list[DocumentSlot]:
    slots = [DocumentSlot("business_licence"), DocumentSlot("head_id_card")]
    for n in range(1, len(answers.get("mentors") or []) + 1):
        slots += [
            DocumentSlot("mentor_id_card", str(n)),
            DocumentSlot("mentor_qualification", str(n)),
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
                Field("uscc", "uscc", async_checks=("uscc_free",)),
                Field(
                    "unit_type",
                    "choice",
                    choices=tuple(Choice(v, f"unit_type.{v}") for v in ("enterprise", "group", "association", "institution")),
                ),
                Field("legal_rep", "text", max_length=50),
                Field("address", "text", max_length=200),
                Field("main_field", "text", max_length=100),
                Field("employees", "count"),
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
                Field("head_id_number", "resident_id", personal=True),
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
                Field("mgmt_desc", "text", max_length=500),
                Field("equipment_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_2"),)),
                Field("equipment_desc", "text", max_length=500),
                Field("project_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_3"),)),
                Field("project_desc", "text", max_length=500),
                Field("funds_ok", "yes", choices=YES_NO, checks=(_condition_required("clause.s4_4"),)),
                Field("funds_amount", "money"),
                Field("funds_desc", "text", max_length=500),
            ),
        ),
        Section(
            "report",
            (
                Field("report_mode", "choice", choices=(Choice("upload", "report_mode.upload"), Choice("texts", "report_mode.texts"))),
                Field("report", "document", visible=lambda a: a.get("report_mode") == "upload"),
                Field("report_goals", "text", max_length=800, visible=_report_texts),
                Field("report_plan", "text", max_length=800, visible=_report_texts),
                Field("report_steps", "text", max_length=800, visible=_report_texts),
                Field("report_measures", "text", max_length=800, visible=_report_texts),
                Field("report_resources", "text", max_length=800, visible=_report_texts),
                Field("report_management", "text", max_length=800, visible=_report_texts),
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


def _mask(kind: str, value: str) -> str:
    return identifiers.mask_mobile(value) if kind == "mobile" else identifiers.mask_resident_id(value)


def _print(request: PrintRequest) -> bytes:
    return build_declaration_form(
        request.answers, request.documents, reference=request.reference, submitted_on=request.submitted_on, mask=_mask
    )


def _names(answers: Answers) -> dict[str, Any]:
    return {"unit": answers.get("unit_name", ""), "station": answers.get("station_name", "")}


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
        printable=Printable(_print, filename="{reference}-申报表.docx", caption_key="form.declaration.form_caption"),
        duplicate_reason="declaration.uscc_taken_pending",
    ),
)
