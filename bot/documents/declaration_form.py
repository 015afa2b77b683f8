"""《深圳市技师工作站设立申报表》: the declaration's printed form, for the unit to sign and stamp.

It is the first of the declaration materials in section 六(一) of the 深圳市技师工作站建设实施方案,
built by the generic printer (`bot.documents.printed_form`) from the declaration's own definition
(`bot.forms.declaration.DECLARATION`): its sections, its questions' labels from the locale, every
answer in words, the mentors as a table, the materials one by one. What no question says is here:
the statement the unit signs, and the boxes for the expert review (六(二)) and the bureau's decision.

ID numbers and mobile numbers are printed in full: this is the unit's own signed form, sent only to
its own contacts and to staff (see `bot.documents.printed_form`).
"""

from __future__ import annotations

from typing import Final

from bot.documents.printed_form import Box, PrintLayout, build_printed_form, print_session
from bot.forms.engine import Form
from bot.forms.spec import PrintRequest

__all__ = ["DECLARATION_LAYOUT", "build_declaration_form"]

DECLARATION_LAYOUT: Final = PrintLayout(
    pledge_heading="pledge_heading",
    pledge="pledge",
    signature_lines=("signature", "stamp"),
    boxes=(
        Box("expert_review", closing=("expert_signature",)),
        Box("bureau_decision", closing=("bureau_stamp",)),
    ),
    # A self-established station has no partner (合作单位: not applicable) and is not
    # school-enterprise (三; R4): 是否校企合作 is 否, not blank.
    when_hidden={"partner_name": "", "partner_is_college": "no"},
    # 六(一)2: a report filled in item by item is part of the form itself.
    material_in_section={"report": "report"},
    stamped_form_kind="stamped_form",
    item_group="mentors",
)


def build_declaration_form(form: Form, request: PrintRequest) -> bytes:
    """The filled-in 申报表 as the bytes of a .docx file (`request.answers` with numbers in full)."""
    return build_printed_form(print_session(form, request.answers), DECLARATION_LAYOUT, request)
