"""延期备案申请: a station's written request to file its annual report later (policy 八; SPEC R11),
declared as data.

/extension walks it through the generic dialog (handlers/forms.py):

```mermaid
stateDiagram-v2
    [*] --> grounds: /extension or the menu (only a contact of a station that files, for the year not yet filed)
    grounds --> explanation: 生产转型 / 场地搬迁 / 其他
    explanation --> months: for "other" the reason itself; otherwise what the change is and why it delays the filing
    months --> months: 0, or more than 6 (八: 一般不超过6个月), refused with the clause
    months --> written_request: 1–6
    written_request --> summary: the signed and stamped 书面申请 (a file)
    summary --> submitted: 提交 (receipt: the current due date, the date if approved in full; staff told)
    submitted --> [*]
```
Stored as the staff side reads it (bot/services/extensions.py, handlers/staff/extensions.py):
answers {"grounds", "explanation", "months", "_docs": {"written_request": [...]}}, the submission's
year the filing's, one request per station and year in progress (`extension:<station>:<year>`,
freed when refused or withdrawn). Staff approve (with the months, possibly fewer or, with a reason,
more), or refuse; an approval moves the filing obligation to the end of the approved months.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.forms.context import FormContext
from bot.forms.engine import Answers, Choice, Field, Form, Section
from bot.forms.spec import FormSpec, OnSubmit
from bot.rules.decisions import NORMAL_EXTENSION_MONTHS, extended_due_on
from bot.rules.values import Invalid

# 八: 属生产转型、场地搬迁等特殊情形的 — the two named cases, or another one with its reason.
GROUNDS = ("production_transformation", "relocation", "other")
# The stations that owe a filing (R10) and so may ask to file it later; an overdue one may still
# ask (the bureau may extend an obligation already overdue, see the "filing" life cycle).
FILING_STATES = frozenset({"active", "overdue", "revocation_candidate"})
# A free-text explanation must be a sentence, not "搬迁".
EXPLANATION_MIN = 5


def _at_most_normal(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
    # 八: 延长期限一般不超过6个月. Staff may grant more with a reason; a contact asks within it.
    if isinstance(value, int) and value > NORMAL_EXTENSION_MONTHS:
        return Invalid("extension.months_over", {"normal": NORMAL_EXTENSION_MONTHS})
    return None


def _explanation_ask(answers: Answers) -> dict[str, Any]:
    grounds = answers.get("grounds")
    return {"ask_key": f"form.extension.explanation.ask_{grounds if grounds in GROUNDS else 'other'}"}


EXTENSION = Form(
    id="extension",
    sections=(
        Section(
            "request",
            (
                Field("grounds", "choice", choices=tuple(Choice(g, f"form.extension.grounds.{g}") for g in GROUNDS)),
                # Required whatever the grounds: for "other" it is the reason the bureau weighs;
                # for the two named cases what changed, since when, and why the filing cannot be on time.
                Field("explanation", "text", max_length=500, min_length=EXPLANATION_MIN, text_params=_explanation_ask),
                Field("months", "count", minimum=1, checks=(_at_most_normal,)),
                # 八: 提出延期备案书面申请 — the letter, signed and stamped by the unit.
                Field("written_request", "document"),
            ),
        ),
    ),
)


def may_start(context: FormContext) -> Invalid | None:
    station = context.station
    if station is None:
        return Invalid("extension.no_station")
    if station.state not in FILING_STATES:
        return Invalid("extension.station_state", {"state_key": f"station_state.{station.state}"})
    pending = next((h for h in context.history_of("extension") if h.status == "submitted"), None)
    if pending is not None:
        return Invalid("extension.pending", {"year": pending.year, "on": pending.submitted_on})
    year = context.year
    if year is None:
        return Invalid("extension.nothing_to_file")
    filing = context.filing_of(year)
    if filing is not None and filing.state == "extended":
        # the bureau extends an obligation once ("filing_not_extendable" on the staff side)
        return Invalid("extension.already_extended", {"year": year, "deadline": filing.deadline})
    return None


def _receipt(answers: Answers, context: FormContext) -> dict[str, Any]:
    year = context.year or context.today.year
    due = context.filing_deadline(year)
    months = int(answers.get("months") or 0)
    return {"year": year, "months": months, "due": due.isoformat(),
            "extended": extended_due_on(due, months).isoformat() if months > 0 else "—"}


def _staff_params(answers: Answers, context: FormContext) -> dict[str, Any]:
    station = context.station
    return {"station": station.name if station else "", "year": context.year or "", "months": answers.get("months", ""),
            "grounds_key": f"form.extension.grounds.{answers.get('grounds', 'other')}"}


EXTENSION_SPEC = FormSpec(
    form=EXTENSION,
    kind="extension",
    command="extension",
    menu_action="extension",
    uses_station=True,
    may_start=may_start,
    year_of=FormContext.oldest_year_to_file,
    on_submit=OnSubmit(
        # 八: one request in progress per station and year (freed when refused or withdrawn).
        uniqueness_key=lambda answers, context: f"extension:{context.station.id}:{context.year}" if context.station else None,
        receipt_params=_receipt,
        staff_notice_kind="new_extension_request",
        staff_notice_key="notice.station_request.extension",
        staff_notice_params=_staff_params,
        reference_prefix="SZYQ",
        duplicate_reason="extension.duplicate",
    ),
)
