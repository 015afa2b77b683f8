"""注销申请: a station that stops its work asks in writing to deregister (policy 九; SPEC R14),
declared as data.

/deregister walks it through the generic dialog (handlers/forms.py):

```mermaid
stateDiagram-v2
    [*] --> explanation: /deregister or the menu (only a contact of an active station, no request open)
    explanation --> written_request: why the station stops its work
    written_request --> plaque: the signed and stamped 书面申请 (a file)
    plaque --> plaque: "no" refused (九: 经批复同意后交回牌匾)
    plaque --> summary: yes
    summary --> submitted: 提交 (the station: deregistration_requested; receipt; staff told)
    submitted --> [*]
```
Stored as the staff side reads it (bot/services/extensions.py): answers {"explanation",
"plaque_return", "_docs": {"written_request": [...]}}, one request per station in progress
(`deregistration:<station>`, freed when refused or withdrawn). Staff approve (the station is
deregistered, the plaque recorded as handed back) or refuse (the station is active again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.forms.context import FormContext
from bot.forms.engine import Answers, Choice, Field, Form, Section
from bot.forms.spec import FormSpec, OnSubmit
from bot.rules.values import Invalid

YES_NO = (Choice("yes", "choice.yes"), Choice("no", "choice.no"))
EXPLANATION_MIN = 5
# A station behind on its filing settles that first (or asks the bureau): 九 revokes, it does not
# deregister, a station overdue without a justified reason.
OVERDUE_STATES = frozenset({"overdue", "revocation_candidate"})


def _plaque_returned(value: Any, answers: Mapping[str, Any], context: FormContext) -> Invalid | None:
    return Invalid("deregistration.plaque_required") if value == "no" else None


DEREGISTRATION = Form(
    id="deregistration",
    sections=(
        Section(
            "request",
            (
                Field("explanation", "text", max_length=500, min_length=EXPLANATION_MIN),
                # 九: 应书面提交注销申请 — the letter, signed and stamped by the unit.
                Field("written_request", "document"),
                Field("plaque_return", "yes", choices=YES_NO, checks=(_plaque_returned,)),
            ),
        ),
    ),
)


def may_start(context: FormContext) -> Invalid | None:
    station = context.station
    if station is None:
        return Invalid("deregistration.no_station")
    pending = next((h for h in context.history_of("deregistration") if h.status == "submitted"), None)
    if pending is not None:
        return Invalid("deregistration.pending", {"on": pending.submitted_on})
    if station.state in OVERDUE_STATES:
        return Invalid("deregistration.overdue", {"state_key": f"station_state.{station.state}"})
    if station.state != "active":
        return Invalid("deregistration.not_active", {"state_key": f"station_state.{station.state}"})
    return None


def _names(answers: Answers, context: FormContext) -> dict[str, Any]:
    return {"station": context.station.name if context.station else ""}


DEREGISTRATION_SPEC = FormSpec(
    form=DEREGISTRATION,
    kind="deregistration",
    command="deregister",
    menu_action="deregister",
    uses_station=True,
    may_start=may_start,
    on_submit=OnSubmit(
        # 九: one request in progress per station (freed when refused or withdrawn).
        uniqueness_key=lambda answers, context: f"deregistration:{context.station.id}" if context.station else None,
        receipt_params=_names,
        staff_notice_kind="new_deregistration_request",
        staff_notice_key="notice.station_request.deregistration",
        staff_notice_params=_names,
        reference_prefix="SZZX",
        duplicate_reason="deregistration.duplicate",
    ),
)
