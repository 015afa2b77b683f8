"""《深圳市技师工作站年度备案表》: the annual filing's printed form, for the unit to sign and stamp.

Built by the generic printer (`bot.documents.printed_form`) from the filing's own definition
(`bot.forms.annual_filing.ANNUAL_FILING`): the year's figures (五(二), 五(三)), exchanges and funds,
the 五(一) checklist, and the materials. What no question says is here: the statement the unit
signs and the box for the bureau. A station that is not school-enterprise prints 五(三) and the
cooperation mechanism as not applicable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

from bot.documents.printed_form import Box, PrintLayout, build_printed_form, print_session
from bot.forms.context import FormContext, StationView
from bot.forms.engine import Form
from bot.forms.spec import PrintRequest

__all__ = ["ANNUAL_FILING_LAYOUT", "build_annual_filing_form"]

# The questions only a school-enterprise station answers (they name the context, not the answers).
SCHOOL_FIELDS: Final = ("teachers_co_trained", "learners_qualified", "cooperation_mechanism")

ANNUAL_FILING_LAYOUT: Final = PrintLayout(
    pledge_heading="pledge_heading",
    pledge="pledge",
    signature_lines=("signature", "stamp"),
    boxes=(Box("bureau_decision", closing=("bureau_stamp",)),),
    # Not school-enterprise: 五(三) does not apply ("—"); no projects or competitions: nothing to list.
    when_hidden={field_id: "" for field_id in (*SCHOOL_FIELDS, "major_projects_list", "competitions_desc")},
    stamped_form_kind=None,
)


def build_annual_filing_form(form: Form, request: PrintRequest) -> bytes:
    """The filled-in 年度备案表 as the bytes of a .docx file."""
    # The school-enterprise questions were asked (and answered) only of such a station.
    school = any(field_id in request.answers for field_id in SCHOOL_FIELDS)
    context = FormContext(
        today=date.min, now=datetime.min.replace(tzinfo=UTC),
        station=StationView(id=0, name="", state="", school_enterprise=school),
    )
    return build_printed_form(print_session(form, request.answers, context), ANNUAL_FILING_LAYOUT, request)
