"""重点建设项目申报: a recognised station applies for one key construction project a year (policy
七(一); SPEC R7), declared as data.

/project (or the menu) walks it through the generic dialog (handlers/forms.py); /projectform sends
the printed 申报表 again. Who may apply, asked when the form opens and again on submit:

```mermaid
stateDiagram-v2
    [*] --> refused: not a contact of an active station
    [*] --> refused: recognised this year (R7)
    [*] --> refused: a project of this year already (not withdrawn, not returned)
    [*] --> refused: no window for the year / not open yet / closed
    [*] --> project: the window is open (a saved draft resumes where it stopped)
    project --> content: category (15, 七(一)), name
    content --> outputs: goal, plan, teachers, equipment, matching funds, management, cooperation
    outputs --> basis: participants; outputs first: people trained, problems solved, standards or courses
    basis --> documents: what the station did last year
    documents --> summary: 申报说明 in (support material optional)
    summary --> submitted: 提交 (receipt, 申报表 .docx, staff told)
    submitted --> [*]
```
After submit the project follows its life cycle (bot/rules/lifecycle.py KEY_PROJECT): under
review, graded (七(二)), announced for 5 working days (七(三)), funded (七(四)).
"""

from __future__ import annotations

from typing import Any

from bot.documents.key_project_form import build_key_project_form
from bot.forms.context import FormContext
from bot.forms.engine import Answers, Choice, DocumentSlot, Field, Form, Section
from bot.forms.spec import FormSpec, OnSubmit, Printable, PrintRequest
from bot.rules.decisions import may_declare_key_project
from bot.rules.lifecycle import KEY_PROJECT
from bot.rules.values import Invalid

KIND = "key_project"

# 七(一): the fifteen categories a key project may fall under, in the policy's order; each one's
# Chinese name is `key_project_category.<id>` in the locales.
CATEGORIES = (
    "advanced_training",  # 技师（预备技师）研修提升培训
    "skill_competition",  # 职业技能竞赛
    "occupational_standards",  # 职业规范开发
    "curriculum",  # 课程研发
    "training_equipment",  # 实训设备研发
    "teacher_training",  # 师资培养
    "technical_breakthrough",  # 技术攻关
    "skill_innovation",  # 技能创新
    "research",  # 课题研究
    "achievement_exchange",  # 高技能人才成果交流
    "skill_popularisation",  # 普及应用生产技能
    "experience_promotion",  # 推广技能人才培养经验
    "school_enterprise",  # 校企合作
    "open_platform",  # 向社会开放培训平台
    "public_training",  # 公益培训
)

# A description is a few sentences, not "有" or "好"; a long one belongs in the 申报说明.
DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 800

# The states in which an application has not used the station's year (see the KEY_PROJECT life
# cycle: withdrawn by the station, or returned at the formal check, before the experts saw it).
FREES_THE_YEAR = frozenset(t.target for t in KEY_PROJECT.transitions if t.releases_key)


def _text(field_id: str, *, minimum: int = DESCRIPTION_MIN, maximum: int = DESCRIPTION_MAX) -> Field:
    return Field(field_id, "text", min_length=minimum, max_length=maximum)


def document_slots(answers: Answers) -> list[DocumentSlot]:
    return [
        # 七(一)2: 申报说明 (goal, plan, teachers ... outputs first) and its supporting material.
        DocumentSlot("kp_statement"),
        DocumentSlot("kp_support", optional=True, multiple=True),
    ]


KEY_PROJECT_FORM = Form(
    id="key_project",
    sections=(
        Section(
            "project",
            (
                Field("category", "choice", choices=tuple(Choice(c, f"key_project_category.{c}") for c in CATEGORIES)),
                _text("project_name", minimum=4, maximum=100),
            ),
        ),
        Section(
            "content",
            (
                _text("goal"),
                _text("task_plan"),
                _text("teachers"),  # 师资
                _text("equipment"),  # 实训设备
                Field("matching_funds", "money"),  # the station's own matching funds, CNY, 0 allowed
                _text("management"),
                _text("cooperation"),  # with colleges and firms
            ),
        ),
        Section(
            "outputs",
            (
                Field("participants_count", "count", minimum=1),
                _text("participants_desc", minimum=5, maximum=500),
                # 七(一): "以产出为导向" — the outputs come first among the expected results.
                Field("trained_count", "count"),
                Field("problems_solved", "count"),
                _text("standards_courses", minimum=1, maximum=500),
            ),
        ),
        Section("basis", (_text("last_year_basis"),)),
        Section("documents", (Field("documents", "documents"),)),
    ),
    document_slots=document_slots,
)


def _year(context: FormContext) -> int:
    return context.year or context.today.year


async def may_apply(context: FormContext) -> Invalid | None:
    """七(一), R7: who may apply for a key project now, and if not, why."""
    station = context.station
    if station is None or station.state != "active":
        return Invalid("key_project.not_recognised")
    year = _year(context)
    if not may_declare_key_project(station.recognised_on, year):
        assert station.recognised_on is not None
        return Invalid("key_project.founding_year", {"year": station.recognised_on.year})
    if any(h.year == year and h.status not in FREES_THE_YEAR for h in context.history_of(KIND)):
        return Invalid("key_project.already_this_year", {"year": year})
    assert context.lookup is not None
    window = await context.lookup.key_project_window(year)
    if window is None:
        return Invalid("key_project.no_window", {"year": year})
    if context.today < window.opens_on and not window.closed:
        return Invalid("key_project.window_not_open", {"year": year, "opens_on": window.opens_on,
                                                       "closes_on": window.closes_on})
    if window.closed and context.today <= window.closes_on:
        # Staff closed it before its last day: the announced date would mislead.
        return Invalid("key_project.window_closed_early", {"year": year})
    if not window.is_open(context.today):
        return Invalid("key_project.window_closed", {"year": year, "closes_on": window.closes_on})
    return None


def _print(request: PrintRequest) -> bytes:
    return build_key_project_form(KEY_PROJECT_FORM, request)


def _names(answers: Answers, context: FormContext) -> dict[str, Any]:
    return {
        "project": answers.get("project_name", ""),
        "category_key": f"key_project_category.{answers.get('category')}",
        "year": _year(context),
        "station": context.station.name if context.station else "",
    }


async def _receipt(answers: Answers, context: FormContext) -> dict[str, Any]:
    # The window is open (may_apply said so a moment ago): the receipt names its last day.
    assert context.lookup is not None
    window = await context.lookup.key_project_window(_year(context))
    return {**_names(answers, context), "closes_on": window.closes_on if window else ""}


KEY_PROJECT_SPEC = FormSpec(
    form=KEY_PROJECT_FORM,
    kind=KIND,
    command="project",
    menu_action="project",
    reprint_command="projectform",
    uses_station=True,
    may_start=may_apply,
    year_of=lambda context: context.today.year,
    on_submit=OnSubmit(
        # R7: one key project per station and year (freed again by a withdrawal or a return).
        uniqueness_key=lambda answers, context: f"key_project:{context.station.id if context.station else 0}:{_year(context)}",
        receipt_params=_receipt,
        staff_notice_kind="new_key_project",
        staff_notice_key="form.key_project.staff_notice",
        staff_notice_params=_names,
        reference_prefix="SZXM",
        printable=Printable(_print, filename="{reference}-重点建设项目申报表.docx",
                            caption_key="form.key_project.form_caption"),
        duplicate_reason="key_project.duplicate",
    ),
)
