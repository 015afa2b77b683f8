"""《深圳市技师工作站重点建设项目申报表》: a key project's printed form, for the station to sign and stamp.

Built by the generic printer (`bot.documents.printed_form`) from the key project's own definition
(`bot.forms.key_project.KEY_PROJECT_FORM`): its sections, its questions' labels from the locale,
every answer in words (the category by its name in 七(一), amounts in 元), the materials one by one.
What no question says is here: the statement the station signs, the signature and stamp lines, and
the boxes for the expert review and grading (七(二)) and the bureau's decision (七(三), 七(四)).
"""

from __future__ import annotations

from typing import Final

from bot.documents.printed_form import Box, PrintLayout, build_printed_form, print_session
from bot.forms.engine import Form
from bot.forms.spec import PrintRequest

__all__ = ["KEY_PROJECT_LAYOUT", "build_key_project_form"]

KEY_PROJECT_LAYOUT: Final = PrintLayout(
    pledge_heading="pledge_heading",
    pledge="pledge",
    signature_lines=("signature", "stamp"),
    boxes=(
        Box("expert_review", closing=("expert_signature",)),
        Box("bureau_decision", closing=("bureau_stamp",)),
    ),
    # No stamped copy is uploaded for a key project: the materials list only what was sent.
    stamped_form_kind=None,
)


def build_key_project_form(form: Form, request: PrintRequest) -> bytes:
    """The filled-in 申报表 as the bytes of a .docx file."""
    return build_printed_form(print_session(form, request.answers), KEY_PROJECT_LAYOUT, request)
