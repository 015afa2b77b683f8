"""The establishment declaration's own rules (R1-R5) on plain data: no Telegram, no database.

The session seals personal numbers with the real vault (Fernet), so two seals of one ID number
differ, as they do in production.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from stdnum.cn import ric as stdnum_ric

from bot.crypto import Vault
from bot.forms.checks import more_than_zero, of_working_age, plausible_date
from bot.forms.context import FormContext
from bot.forms.declaration import DECLARATION, contract_end_problem, document_slots
from bot.forms.engine import ITEM, FormSession
from bot.forms.kinds import kind_of
from bot.rules.values import Invalid

TODAY = date(2026, 11, 27)
CONTEXT = FormContext(today=TODAY, now=datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
VAULT = Vault(Fernet.generate_key())


def resident_id(body: str) -> str:
    return body + stdnum_ric.calc_check_digit(body + "0")


IDS = [resident_id(f"4403011975010{n}123") for n in range(1, 5)]
CHILD_ID = resident_id("44030120150101123")  # born 2015-01-01: 11 on the day of the declaration


def session(answers: dict[str, Any] | None = None, lang: str = "zh", today: date = TODAY) -> FormSession:
    context = FormContext(today=today, now=datetime.combine(today, datetime.min.time(), tzinfo=UTC))
    return FormSession(DECLARATION, answers if answers is not None else {}, VAULT, context, lang=lang)


def mentor(n: int, **values: Any) -> dict[str, Any]:
    item = {"name": f"导师{n}", "id_number": VAULT.seal(IDS[n - 1]), "occupation": "模具工", "level": "technician",
            "certificate_kind": "qualification", "certificate_no": f"Z{n}", "education": "technical",
            "employment": "own"}
    item.update(values)
    return item


def reason(outcome_or_value: Any) -> str | None:
    error = getattr(outcome_or_value, "error", outcome_or_value)
    return error.reason if isinstance(error, Invalid) else None


# --- R2: an external hire's contract --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "today"),
    [
        # judged on a day before it ended, 自2024年3月1日起至2026年2月28日止 is two years
        (date(2024, 3, 1), date(2026, 2, 28), date(2025, 6, 1)),
        (date(2024, 3, 1), date(2026, 2, 28), date(2026, 2, 28)),  # its last day: not ended yet
        (date(2026, 3, 1), date(2028, 2, 29), TODAY),
        (date(2024, 2, 29), date(2026, 2, 28), date(2025, 1, 1)),
        (date(2026, 1, 1), date(2030, 1, 1), TODAY),
    ],
)
def test_a_two_year_contract_counts_both_days(start: date, end: date, today: date) -> None:
    assert contract_end_problem(start, end, today) is None


@pytest.mark.parametrize(
    ("start", "end", "expected", "earliest"),
    [
        (date(2026, 3, 1), date(2028, 2, 28), "declaration.contract_too_short", date(2028, 2, 29)),
        (date(2024, 3, 1), date(2026, 2, 27), "declaration.contract_too_short", TODAY),
        # two years, but over by the day of the declaration
        (date(2024, 3, 1), date(2026, 2, 28), "declaration.contract_ended", TODAY),
        (date(2024, 3, 1), date(2026, 11, 26), "declaration.contract_ended", TODAY),
        (date(2026, 3, 1), date(2025, 3, 1), "declaration.contract_end_before_start", date(2028, 2, 29)),
        (date(2026, 3, 1), date(2206, 3, 1), "declaration.contract_end_implausible", date(2028, 2, 29)),
        (date(2026, 3, 1), date(1926, 3, 1), "declaration.contract_end_implausible", date(2028, 2, 29)),
    ],
)
def test_a_contract_that_fails_names_the_earliest_end_that_would_do(
    start: date, end: date, expected: str, earliest: date
) -> None:
    problem = contract_end_problem(start, end, TODAY)
    assert problem is not None and problem.reason == expected
    assert problem.params["earliest"] == earliest and problem.params["start"] == start


def test_the_contract_is_judged_on_the_day_of_the_declaration_and_ends_inclusive() -> None:
    assert contract_end_problem(date(2024, 11, 27), date(2026, 11, 27), TODAY) is None  # ends today
    assert reason(contract_end_problem(date(2024, 11, 27), date(2026, 11, 26), TODAY)) == "declaration.contract_ended"


def test_start_dates_in_another_century_are_refused() -> None:
    check = plausible_date()
    assert check("1990-01-01", {}, CONTEXT) is None and check("2099-12-31", {}, CONTEXT) is None
    problem = check("1926-03-01", {}, CONTEXT)
    assert problem == Invalid("date.out_of_range", {"not_before": date(1990, 1, 1), "not_after": date(2099, 12, 31)})
    assert reason(check("2206-03-01", {}, CONTEXT)) == "date.out_of_range"


async def test_a_mentor_edited_to_a_short_contract_is_refused_when_finished() -> None:
    # "keep as is" on the end date skips its check: the finished item is checked again.
    s = session({"_at": "mentors", "mentors": [mentor(1, level="senior", employment="external",
                                                     contract_start="2026-03-01", contract_end="2028-02-29")]})
    await s.press("g:edit:1")
    s.answers[ITEM]["at"] = "contract_start"
    assert reason(await s.answer_text("2026-06-01")) is None
    outcome = await s.press("keep")
    assert reason(outcome) == "declaration.contract_too_short"
    assert outcome.error.params["earliest"] == date(2028, 5, 31)


# --- R1: three different people, their occupation, levels and certificates -------------------------


async def test_the_same_id_number_twice_is_refused_although_its_seals_differ() -> None:
    s = session({"_at": "mentors", "mentors": [mentor(1), mentor(2)]})
    await s.press("g:add")
    assert reason(await s.answer_text("导师三")) is None
    assert VAULT.seal(IDS[1]) != s.answers["mentors"][1]["id_number"]  # sealed differently each time
    outcome = await s.answer_text(IDS[1][:6] + "-" + IDS[1][6:14] + "-" + IDS[1][14:])
    assert reason(outcome) == "group.mentors.duplicate_id_number" and outcome.error.params == {"n": 2}
    assert s.current_field().id == "id_number"  # the same question again
    assert reason(await s.answer_text(IDS[2])) is None
    assert s.current_field().id == "occupation"


async def test_editing_a_mentor_may_keep_or_retype_their_own_id_number() -> None:
    s = session({"_at": "mentors", "mentors": [mentor(1), mentor(2)]})
    await s.press("g:edit:2")
    assert reason(await s.press("keep")) is None  # the name
    assert reason(await s.answer_text(IDS[1])) is None  # their own number, typed again
    assert s.current_field().id == "occupation"


async def test_a_list_holding_one_person_twice_cannot_be_closed() -> None:
    # e.g. a draft saved before the rule existed
    s = session({"_at": "mentors", "mentors": [mentor(1), mentor(2), mentor(3, id_number=VAULT.seal(IDS[0]))]})
    outcome = await s.press("g:done")
    assert reason(outcome) == "group.mentors.duplicate_id_number_items" and outcome.error.params == {"first": 1, "n": 3}
    assert s.at == "mentors"
    assert "第1位和第3位指导教师的身份证号码相同" in s.screen(outcome.error).text


async def test_a_mentor_saved_before_the_occupation_was_asked_must_be_completed() -> None:
    old = {k: v for k, v in mentor(2).items() if k not in ("occupation", "certificate_kind")}
    s = session({"_at": "mentors", "mentors": [mentor(1), old, mentor(3)]})
    assert not s.is_answered(DECLARATION.field("mentors"))
    outcome = await s.press("g:done")
    assert reason(outcome) == "group.incomplete_item" and outcome.error.params == {"n": 2}
    await s.press("g:edit:2")
    for _ in range(2):
        await s.press("keep")
    assert s.current_field().id == "occupation"
    await s.answer_text("数控车工")
    await s.press("keep")  # level
    assert s.current_field().id == "certificate_kind"
    await s.answer_text("职业技能等级证书")
    for _ in range(3):
        await s.press("keep")
    assert ITEM not in s.answers and s.answers["mentors"][1]["certificate_kind"] == "skill_level"
    assert s.is_answered(DECLARATION.field("mentors"))


def test_levels_reach_chief_technician_and_certificates_are_either_kind() -> None:
    level = next(f for f in DECLARATION.field("mentors").subfields if f.id == "level")
    assert [c.value for c in level.choices] == ["technician", "senior", "special_grade", "chief"]
    kinds = next(f for f in DECLARATION.field("mentors").subfields if f.id == "certificate_kind")
    assert [c.value for c in kinds.choices] == ["qualification", "skill_level"]
    ids = [f.id for f in DECLARATION.field("mentors").subfields]
    assert ids.index("occupation") < ids.index("level") < ids.index("certificate_kind") < ids.index("certificate_no")


@pytest.mark.parametrize("level", ["senior", "special_grade", "chief"])
async def test_senior_and_above_may_be_hired_from_outside(level: str) -> None:
    s = session({"_at": "mentors", "mentors": []})
    await s.press("g:add")
    s.answers[ITEM]["values"].update(mentor(1, level=level))
    s.answers[ITEM]["at"] = "employment"
    assert reason(await s.press("c:external")) is None
    assert s.current_field().id == "contract_start"


async def test_a_technician_may_not_be_hired_from_outside() -> None:
    s = session({"_at": "mentors", "mentors": []})
    await s.press("g:add")
    s.answers[ITEM]["values"].update(mentor(1))
    s.answers[ITEM]["at"] = "employment"
    assert reason(await s.answer_text("外聘")) == "declaration.external_not_senior"


# --- working age, counts, amounts, descriptions ------------------------------------------------


def test_a_head_or_mentor_must_be_of_working_age() -> None:
    check = of_working_age()
    problem = check(CHILD_ID, {}, CONTEXT)
    assert problem == Invalid("ric.too_young", {"born": date(2015, 1, 1), "minimum_age": 16})
    assert check(resident_id("44030120101127123"), {}, CONTEXT) is None  # 16 today
    assert reason(check(resident_id("44030120101128123"), {}, CONTEXT)) == "ric.too_young"  # 16 tomorrow
    head = DECLARATION.field("head_id_number")
    mentor_id = next(f for f in DECLARATION.field("mentors").subfields if f.id == "id_number")
    assert head.checks and mentor_id.checks


async def test_an_eleven_year_old_head_is_refused_with_the_same_question() -> None:
    s = session({"unit_name": "x", "_at": "head_id_number"})
    outcome = await s.answer_text(CHILD_ID)
    assert reason(outcome) == "ric.too_young" and s.at == "head_id_number"
    text = s.screen(outcome.error).text
    assert "生于 2015-01-01" in text and "未满16周岁" in text and "负责人的居民身份证号码" in text


@pytest.mark.parametrize(
    ("field", "typed", "expected"),
    [
        ("employees", "0", "count.too_small"),
        ("employees", "1,200", None),
        ("funds_amount", "0", "declaration.funds_zero"),
        ("funds_amount", "0.00元", "declaration.funds_zero"),
        ("funds_amount", "0.01", None),
        ("mgmt_desc", "好", "text.too_short"),
        ("mgmt_desc", "良好。", "text.too_short"),
        ("work_conditions_desc", "有", "text.too_short"),
        ("funds_desc", "自筹", "text.too_short"),
        ("report_goals", "目标", "text.too_short"),
        ("report_management", "站长负责制", None),
    ],
)
async def test_answers_that_say_nothing_are_refused(field: str, typed: str, expected: str | None) -> None:
    s = session({"report_mode": "texts", "_at": field})
    assert reason(await s.answer_text(typed)) == expected
    assert (s.at == field) is (expected is not None)


def test_more_than_zero() -> None:
    check = more_than_zero("x")
    assert check("0.00", {}, CONTEXT) == Invalid("x") and check(0, {}, CONTEXT) == Invalid("x")
    assert check("0.01", {}, CONTEXT) is None and check(3, {}, CONTEXT) is None


# --- R3: the conditions of 四(二)-(四) ------------------------------------------------------------


def test_every_condition_is_a_yes_and_a_description() -> None:
    ids = [f.id for f in DECLARATION.sections[3].fields]
    assert ids == ["mgmt_ok", "mgmt_desc", "equipment_ok", "equipment_desc", "work_conditions_ok",
                   "work_conditions_desc", "project_ok", "project_desc", "funds_ok", "funds_amount", "funds_desc"]


async def test_working_conditions_answered_no_cites_the_plan() -> None:
    s = session({"_at": "work_conditions_ok"})
    outcome = await s.press("c:no")
    assert reason(outcome) == "declaration.condition_required"
    text = s.screen(outcome.error).text
    assert "设立标准（《实施方案》四(二)）要求具备此条件" in text and "能否为高技能人才提供较好的工作条件" in text


# --- a typed answer at a button question -------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "value"),
    [("是", "yes"), ("否", "no"), ("Yes", "yes"), ("NO", "no"), ("ｙｅｓ", "yes"), (" 是。", "yes"),
     ("“否”", "no"), ("yes", "yes")],
)
def test_a_yes_no_question_takes_the_typed_label_in_either_language(typed: str, value: str) -> None:
    f = DECLARATION.field("mgmt_ok")
    assert kind_of(f.kind).parse(typed, f, session()) == value


@pytest.mark.parametrize(
    ("field", "typed", "value"),
    [
        ("unit_type", "企业", "enterprise"),
        ("unit_type", "行业协会", "association"),
        ("unit_type", "Industry association", "association"),
        ("unit_type", "ｉｎｄｕｓｔｒｙ ａｓｓｏｃｉａｔｉｏｎ", "association"),
        ("unit_type", "企业集团", "group"),
        ("mode", "合作共建", "co_built"),
        ("mode", "co_built", "co_built"),
        ("report_mode", "在此分六项填写", "texts"),
    ],
)
def test_a_choice_takes_its_label_or_value(field: str, typed: str, value: str) -> None:
    f = DECLARATION.field(field)
    assert kind_of(f.kind).parse(typed, f, session()) == value


@pytest.mark.parametrize("typed", ["企", "是的", "enterprise group x", "", "好", "yes no"])
def test_anything_else_typed_at_a_button_question_is_refused(typed: str) -> None:
    f = DECLARATION.field("unit_type")
    assert kind_of(f.kind).parse(typed, f, session()) == Invalid("form.use_buttons")


async def test_a_typed_choice_is_checked_and_kept_like_a_pressed_one() -> None:
    s = session({"_at": "mgmt_ok"})
    assert reason(await s.answer_text("否")) == "declaration.condition_required"
    assert reason(await s.answer_text("是")) is None
    assert s.answers["mgmt_ok"] == "yes" and s.at == "mgmt_desc"
    s = session({"_at": "mentors", "mentors": []})
    await s.press("g:add")
    s.answers[ITEM]["values"].update(name="甲", id_number=VAULT.seal(IDS[0]), occupation="钳工")
    s.answers[ITEM]["at"] = "level"
    assert reason(await s.answer_text("首席技师")) is None
    assert s.answers[ITEM]["values"]["level"] == "chief"


@pytest.mark.parametrize(("typed", "value"), [("有", "yes"), ("有的。", "yes"), ("对", "yes"), ("Yeah", "yes"),
                                              ("没有", "no"), ("无", "no"), ("不是", "no"), ("nope", "no")])
def test_a_yes_or_no_may_be_typed_in_the_words_people_use(typed: str, value: str) -> None:
    f = DECLARATION.field("mgmt_ok")
    assert kind_of(f.kind).parse(typed, f, session()) == value


# --- R5: the registration certificate follows the unit's type ----------------------------------


@pytest.mark.parametrize(
    ("unit_type", "zh", "en"),
    [
        ("enterprise", "营业执照", "Business licence"),
        ("group", "营业执照", "Business licence"),
        ("association", "社会团体法人登记证书", "Social organisation legal person registration certificate"),
        ("institution", "事业单位法人证书", "Public institution legal person certificate"),
    ],
)
def test_the_registration_certificate_is_named_by_the_unit_type(unit_type: str, zh: str, en: str) -> None:
    answers = {"unit_type": unit_type, "mentors": []}
    slot = document_slots(answers)[0]
    assert slot.key == "business_licence"  # stored under the same key whatever its name
    assert session(dict(answers)).slot_label(slot) == zh
    assert session(dict(answers), lang="en").slot_label(slot) == en
    # and the code question names it once the type is known (an edit from the summary)
    s = session({**answers, "_at": "uscc"})
    assert f"印在单位的{zh}上" in s.screen().text


def test_the_code_question_names_each_certificate_before_the_type_is_known() -> None:
    text = session({"unit_name": "x", "_at": "uscc"}).screen().text
    assert "企业、企业集团为营业执照" in text and "行业协会为社会团体法人登记证书" in text
    assert "科研生产型事业单位为事业单位法人证书" in text


def test_a_mentors_certificate_slot_is_named_by_its_kind() -> None:
    answers = {"unit_type": "enterprise", "mentors": [mentor(1), mentor(2, certificate_kind="skill_level"),
                                                      {"name": "旧"}]}
    s = session(answers)
    labels = [s.slot_label(slot) for slot in document_slots(answers) if slot.kind == "mentor_qualification"]
    assert labels == ["第1位导师职业资格证书", "第2位导师职业技能等级证书", "第3位导师职业资格证书或职业技能等级证书"]


def test_a_list_holding_one_person_twice_is_no_answer_so_the_summary_cannot_submit_it() -> None:
    # the summary submits only when every visible question is answered
    s = session({"mentors": [mentor(1), mentor(2), mentor(3, id_number=VAULT.seal(IDS[1]))]})
    assert not s.is_answered(DECLARATION.field("mentors"))
    s.answers["mentors"][2]["id_number"] = VAULT.seal(IDS[2])
    assert s.is_answered(DECLARATION.field("mentors"))
