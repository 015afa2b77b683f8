"""年度备案: the annual filing (policy 八, 五; SPEC R10, R15–R17), declared as data.

/filing walks it through the generic dialog (handlers/forms.py) for the oldest year the station
owes (`bot.rules.filing.years_to_file`): from 1 January of the next year until the end of February
(Asia/Shanghai) or of an approved extension; later it is still accepted and marked late. The figures
and the checklist are what 五 asks of a station; the filing is never refused for falling short: the
receipt lists each shortfall with its clause (`bot.rules.filing.filing_shortfalls`).

```mermaid
stateDiagram-v2
    [*] --> work: /filing or the menu (year, deadline, "will be marked late" when past it)
    work --> school: school-enterprise station (五(三))
    work --> exchanges
    school --> exchanges
    exchanges --> checklist: 五(一), each yes or no
    checklist --> documents: the year's construction report; evidence for each "yes" (optional)
    documents --> summary
    summary --> work: edit item N
    summary --> submitted: 提交 (receipt with on time/late and the shortfalls, 备案表 .docx, staff told)
    submitted --> [*]
```
"""

from __future__ import annotations

from typing import Any

from bot.documents.annual_filing_form import build_annual_filing_form
from bot.forms.context import FormContext
from bot.forms.engine import Answers, Choice, DocumentSlot, Field, Form, Section
from bot.forms.spec import FormSpec, OnSubmit, Printable, PrintRequest
from bot.rules.filing import (
    CHECKLIST,
    SCHOOL_CHECKLIST,
    Shortfall,
    filed_on_time,
    filing_opens_on,
    filing_shortfalls,
)
from bot.rules.lifecycle import filing_due_on
from bot.rules.values import Invalid

YES_NO = (Choice("yes", "choice.yes"), Choice("no", "choice.no"))
# The station states in which a station owes its filings (八, 九): in good standing, or behind.
FILING_STATES = frozenset({"active", "overdue", "revocation_candidate"})
# The evidence of a checklist item (五(一)) answered yes: a document slot of this kind.
EVIDENCE_PREFIX = "evidence_"
REPORT_SLOT = "construction_report"


def school_enterprise(answers: Answers, context: FormContext | None) -> bool:
    """五(三) and the standing cooperation mechanism of 五(一): asked of a school-enterprise station."""
    return context is not None and context.station is not None and context.station.school_enterprise


def on_time(context: FormContext, year: int) -> bool:
    filing = context.filing_of(year)
    return filed_on_time(filing.state if filing is not None else None, context.filing_deadline(year), context.today)


def may_start(context: FormContext) -> Invalid | None:
    station = context.station
    if station is None:
        return Invalid("annual_filing.no_station")
    if station.state not in FILING_STATES:
        return Invalid("annual_filing.station_state", {"state_key": f"station_state.{station.state}",
                                                       "why_key": f"form.annual_filing.why_not.{station.state}"})
    if context.year is None:
        # The next filing is this year's: its window opens on 1 January next year.
        year = context.today.year
        return Invalid("annual_filing.nothing_to_file", {"year": year, "opens": filing_opens_on(year),
                                                         "due": filing_due_on(year)})
    return None


def _first_question(answers: Answers, context: FormContext | None) -> dict[str, Any]:
    """Which year is filed, by when, and (past it) that it will be accepted and marked late."""
    if context is None or context.year is None:
        return {"deadline": "", "late_key": "form.no_mark"}
    year = context.year
    return {"deadline": context.filing_deadline(year).isoformat(),
            "late_key": "form.no_mark" if on_time(context, year) else "form.annual_filing.late_warning"}


def _some(field_id: str) -> Any:
    return lambda answers: isinstance(answers.get(field_id), int) and answers[field_id] > 0


def _checklist_field(item: str, *, school: bool = False) -> Field:
    return Field(item, "yes", choices=YES_NO, visible=school_enterprise if school else None)


def document_slots(answers: Answers) -> list[DocumentSlot]:
    """The year's construction report (八: 上年度技师工作站建设情况), required; evidence of each
    checklist item answered yes, optional."""
    slots = [DocumentSlot(REPORT_SLOT, label_key=f"form.annual_filing.doc.{REPORT_SLOT}")]
    slots += [
        DocumentSlot(EVIDENCE_PREFIX + item, optional=True, label_key=f"form.annual_filing.doc.{item}")
        for item in (*CHECKLIST, *SCHOOL_CHECKLIST)
        if answers.get(item) == "yes"
    ]
    return slots


ANNUAL_FILING = Form(
    id="annual_filing",
    sections=(
        Section(
            "work",
            (
                # 五(二): 重大技术改造或技术攻关项目, 培养高技能人才.
                Field("major_projects", "count", text_params=_first_question),
                Field("major_projects_list", "text", max_length=1000, min_length=2, visible=_some("major_projects")),
                Field("skilled_trained", "count"),
            ),
        ),
        Section(
            "school",
            (
                # 五(三): 为合作院校合作培养师资; 进站学习至少一年、合格出站的技师或预备技师.
                Field("teachers_co_trained", "count", visible=school_enterprise),
                Field("learners_qualified", "count", visible=school_enterprise),
            ),
        ),
        Section(
            "exchanges",
            (
                Field("competitions", "count"),
                Field("competitions_desc", "text", optional=True, max_length=500, visible=_some("competitions")),
                Field("funds_spent", "money"),
            ),
        ),
        Section(
            "checklist",
            (
                *(_checklist_field(item) for item in CHECKLIST),
                *(_checklist_field(item, school=True) for item in SCHOOL_CHECKLIST),
            ),
        ),
        Section("documents", (Field("documents", "documents"),)),
    ),
    document_slots=document_slots,
)


def _count(answers: Answers, field_id: str) -> int:
    value = answers.get(field_id)
    return value if isinstance(value, int) else 0


def shortfalls_of(answers: Answers, context: FormContext) -> list[Shortfall]:
    """R15–R17 on a filing's answers, for the station and year of `context` (the receipt, the
    staff notice and the digest show them)."""
    station = context.station
    school = bool(station and station.school_enterprise)
    return filing_shortfalls(
        year=context.year or context.today.year,
        recognised_on=station.recognised_on if station else None,
        school_enterprise=school,
        major_projects=_count(answers, "major_projects"),
        skilled_trained=_count(answers, "skilled_trained"),
        teachers_co_trained=_count(answers, "teachers_co_trained") if school else None,
        learners_qualified=_count(answers, "learners_qualified") if school else None,
        checklist={item: answers.get(item) == "yes" for item in (*CHECKLIST, *SCHOOL_CHECKLIST)},
    )


def _receipt(answers: Answers, context: FormContext) -> dict[str, Any]:
    year = context.year or context.today.year
    deadline = context.filing_deadline(year).isoformat()
    timeliness = "on_time" if on_time(context, year) else "late"
    shortfalls = shortfalls_of(answers, context)
    if shortfalls:
        lines: Any = [("form.annual_filing.shortfalls_head", {})]
        lines += [
            (f"form.annual_filing.shortfall.{s.item}",
             {"n": n, "clause": s.clause, "required": s.required or 0, "reported": s.reported or 0})
            for n, s in enumerate(shortfalls, start=1)
        ]
    else:
        lines = "form.annual_filing.all_met"
    return {"station": context.station.name if context.station else "", "year": year,
            "timeliness_key": (f"form.annual_filing.{timeliness}", {"deadline": deadline}), "shortfalls_key": lines}


def _staff_params(answers: Answers, context: FormContext) -> dict[str, Any]:
    year = context.year or context.today.year
    return {"station": context.station.name if context.station else "", "year": year,
            "timeliness_key": "form.annual_filing.notice_on_time" if on_time(context, year) else "form.annual_filing.notice_late",
            "shortfalls": len(shortfalls_of(answers, context))}


def _print(request: PrintRequest) -> bytes:
    return build_annual_filing_form(ANNUAL_FILING, request)


ANNUAL_FILING_SPEC = FormSpec(
    form=ANNUAL_FILING,
    kind="annual_filing",
    command="filing",
    menu_action="filing",
    reprint_command="filingform",
    uses_station=True,
    may_start=may_start,
    year_of=FormContext.oldest_year_to_file,
    on_submit=OnSubmit(
        # 八: one filing per station and year, never released (a filed year is filed).
        uniqueness_key=lambda answers, context: (
            f"annual_filing:{context.station.id}:{context.year}" if context.station and context.year else None
        ),
        receipt_params=_receipt,
        staff_notice_kind="new_filing",
        staff_notice_key="form.annual_filing.staff_notice",
        staff_notice_params=_staff_params,
        reference_prefix="SZBA",
        printable=Printable(_print, filename="{reference}-年度备案表.docx", caption_key="form.annual_filing.form_caption"),
        duplicate_reason="annual_filing.duplicate",
    ),
)
