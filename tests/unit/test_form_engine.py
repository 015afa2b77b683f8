"""The form engine on plain data: navigation, groups and documents, without Telegram or a database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot.forms.context import FormContext
from bot.forms.declaration import DECLARATION
from bot.forms.engine import SUMMARY, FormSession, Upload

CONTEXT = FormContext(today=date(2026, 11, 27), now=datetime(2026, 11, 27, 1, 0, tzinfo=UTC))


class PlainSealer:
    """Stands in for the Fernet vault: marks sealed values so tests can see they were sealed."""

    def seal(self, value: str) -> dict[str, str]:
        return {"enc": value[::-1]}

    def unseal(self, stored: Any) -> str:
        return stored["enc"][::-1] if isinstance(stored, dict) else str(stored)


def session(answers: dict[str, Any] | None = None) -> FormSession:
    return FormSession(DECLARATION, answers if answers is not None else {}, PlainSealer(), CONTEXT)


def upload(name: str) -> Upload:
    return Upload(f"id-{name}", f"u-{name}", name, 1000, "application/pdf")


async def test_a_new_draft_starts_at_the_first_question_and_personal_data_is_sealed() -> None:
    s = session()
    assert s.at == "unit_name"
    s.answers.update(unit_name="x", uscc="u", unit_type="enterprise", legal_rep="l", address="a", main_field="m",
                     employees=1, mode="self", station_name="s", head_name="h")
    s.answers["_at"] = "head_id_number"
    valid = "11010519491231002X"
    assert (await s.answer_text(valid[:-1] + "1")).error.reason == "ric.check"
    assert s.at == "head_id_number" and "head_id_number" not in s.answers
    assert (await s.answer_text(valid)).error is None
    assert s.answers["head_id_number"] == {"enc": valid[::-1]}
    assert s.at == "head_mobile"


def test_co_built_questions_appear_only_for_co_built() -> None:
    s = session({"mode": "self"})
    ids = [f.id for f in s.visible_fields()]
    assert "partner_name" not in ids and "partner_is_college" not in ids
    s.answers["mode"] = "co_built"
    ids = [f.id for f in s.visible_fields()]
    assert ids.index("partner_name") == ids.index("mode") + 1


async def test_removing_a_mentor_moves_the_documents_of_the_later_ones_with_them() -> None:
    s = session({"mentors": [{"name": "甲"}, {"name": "乙"}, {"name": "丙"}], "_at": "documents"})
    for n, name in ((1, "甲"), (2, "乙"), (3, "丙")):
        await s.press(f"d:mentor_id_card:{n}")
        s.upload(upload(f"{name}.pdf"))
    s.answers["_at"] = "mentors"
    await s.press("g:del:2")
    assert "确定删除第2位：乙？" in s.screen().text and "已为其上传的1份材料也将一并删除" in s.screen().text
    await s.press("g:del_yes:2")
    assert [m["name"] for m in s.answers["mentors"]] == ["甲", "丙"]
    docs = s.answers["_docs"]
    assert docs["mentor_id_card:1"][0]["file_name"] == "甲.pdf"
    assert docs["mentor_id_card:2"][0]["file_name"] == "丙.pdf"
    assert "mentor_id_card:3" not in docs


async def test_the_summary_cannot_submit_while_something_is_missing() -> None:
    s = session({"_at": SUMMARY, "unit_name": "x"})
    outcome = await s.press("submit")
    assert outcome.submit is False and outcome.error is not None and outcome.error.reason == "form.incomplete"
    assert s.at == "uscc" and s.answers["_mode"] == "edit"


def test_a_file_of_the_wrong_kind_or_too_big_is_refused() -> None:
    s = session({"_at": "documents", "mentors": []})
    exe = Upload("f", "u", "tool.exe", 10, "application/octet-stream")
    assert s.upload(exe).error.reason == "file.type"
    big = Upload("f", "u", "scan.pdf", 21 * 1024 * 1024, "application/pdf")
    assert s.upload(big).error.reason == "file.too_big"
    assert "_docs" not in s.answers or not s.answers["_docs"]


async def test_a_hidden_answer_is_dropped_at_once_and_never_kept() -> None:
    s = session({"mode": "co_built", "partner_name": "深圳技师学院", "partner_is_college": "yes",
                 "_flags": ["partner_name_unverified"], "_at": "mode"})
    await s.press("c:self")
    assert "partner_name" not in s.answers and "partner_is_college" not in s.answers
    assert "_flags" not in s.final_answers()
    assert s.at == "station_name"


async def test_final_answers_hold_visible_answers_files_and_flags_but_no_navigation() -> None:
    s = session({"unit_name": "x", "report_mode": "texts", "report_goals": "g", "_at": "report_goals", "_mode": "edit",
                 "_docs": {"report": [upload("old.pdf").as_dict()], "business_licence": [upload("l.pdf").as_dict()]},
                 "_flags": ["uscc_unverified"], "uscc": "code"})
    final = s.final_answers()
    assert final["unit_name"] == "x" and final["report_goals"] == "g" and final["_flags"] == ["uscc_unverified"]
    assert "report" not in final["_docs"] and "business_licence" in final["_docs"]  # the upload was hidden by "texts"
    assert not {"_at", "_mode", "_item", "_doc", "_unverified"} & set(final)


def test_a_draft_saved_under_the_old_group_key_resumes() -> None:
    s = session({"_at": "mentors", "_mentor": {"index": 0, "at": "level", "values": {"name": "甲"}}})
    assert "_mentor" not in s.answers and s.answers["_item"]["values"] == {"name": "甲"}
    assert s.current_field().id == "level"


def test_an_unknown_field_kind_fails_when_the_form_is_declared() -> None:
    import pytest

    from bot.forms.engine import Field

    with pytest.raises(KeyError, match="unknown field kind 'colour'"):
        Field("x", "colour")


def test_checks_written_as_data_see_the_context() -> None:
    from bot.forms.checks import at_most, not_founding_year, not_in_future, not_in_past, once_per_year, within_months_of_today
    from bot.forms.context import HistoryEntry, StationView

    station = StationView(id=1, name="站", state="active", recognised_on=date(2026, 5, 1))
    ctx = FormContext(today=date(2026, 11, 27), now=datetime(2026, 11, 27, 1, 0, tzinfo=UTC), station=station,
                      history=(HistoryEntry("key_project", "submitted", 2025), HistoryEntry("key_project", "rejected", 2024)))
    assert not_in_past()("2026-11-26", {}, ctx).reason == "date.too_early"
    assert not_in_past()("2026-11-27", {}, ctx) is None
    assert not_in_future()("2026-11-28", {}, ctx).reason == "date.too_late"
    assert within_months_of_today(6)("2027-05-27", {}, ctx) is None
    assert within_months_of_today(6)("2027-05-28", {}, ctx).params == {"not_after": date(2027, 5, 27)}
    assert at_most(6)(7, {}, ctx).reason == "count.too_large" and at_most(6)(6, {}, ctx) is None
    assert not_founding_year()(2026, {}, ctx).reason == "key_project.founding_year"
    assert not_founding_year()(2027, {}, ctx) is None
    assert once_per_year("key_project", "key_project.one_a_year")(2025, {}, ctx).reason == "key_project.one_a_year"
    assert once_per_year("key_project", "key_project.one_a_year")(2024, {}, ctx) is None  # the rejected one frees it


# -- the confirmation of a code that fails its check character ("我已核对，代码无误") --------------

def uscc(body: str) -> str:
    from stdnum.cn import uscc as stdnum_uscc

    return body + stdnum_uscc.calc_check_digit(body)


def failing_check(code: str) -> str:
    """The same code with a wrong check character: well formed, but "please re-check"."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


VALID = uscc("91440300MA5F00001")
OLD_A = failing_check(uscc("91440300MA5F00002"))
OLD_B = failing_check(uscc("91440300MA5F00003"))
TAKEN = failing_check(uscc("91440300MA5F00004"))
TAKEN_VALID = uscc("91440300MA5F00005")


async def _taken(value: Any, answers: Any, context: FormContext) -> Any:
    from bot.rules.values import Invalid

    return Invalid("declaration.uscc_taken_pending") if value in (TAKEN, TAKEN_VALID) else None


def at_uscc(**answers: Any) -> FormSession:
    return FormSession(DECLARATION, {"unit_name": "老企业", "_at": "uscc", **answers}, PlainSealer(), CONTEXT,
                       checks={"uscc_free": _taken})


def force_offered(s: FormSession) -> bool:
    return any(b.id == "force" for row in s.screen().buttons for b in row)


async def test_force_confirms_the_code_typed_last_and_any_other_error_withdraws_it() -> None:
    s = at_uscc()
    await s.answer_text(OLD_A)
    assert force_offered(s)
    # a later error of another kind: the button goes, and the draft is saved without the offer
    outcome = await s.answer_text("12345")
    assert outcome.error.reason == "uscc.length" and outcome.changed
    assert not force_offered(s) and "_unverified" not in s.answers
    outcome = await s.press("force")  # a button left on an older message
    assert outcome.error.reason == "form.use_buttons" and "uscc" not in s.answers
    # two codes failing the check: the one confirmed is the one typed last
    await s.answer_text(OLD_A)
    await s.answer_text(OLD_B)
    assert (await s.press("force")).error is None
    assert s.answers["uscc"] == OLD_B and s.answers["_flags"] == ["uscc_unverified"]
    assert s.at == "unit_type" and "_unverified" not in s.answers


async def test_a_file_or_a_button_also_withdraws_the_offer() -> None:
    s = at_uscc()
    await s.answer_text(OLD_A)
    assert s.upload(upload("x.pdf")).error.reason == "file.unexpected"
    assert not force_offered(s)
    await s.answer_text(OLD_A)
    await s.press("back")
    await s.press("keep")
    assert s.at == "uscc" and not force_offered(s)


async def test_a_forced_code_still_has_to_be_free_and_a_taken_one_withdraws_the_offer() -> None:
    s = at_uscc()
    await s.answer_text(TAKEN)
    outcome = await s.press("force")
    assert outcome.error.reason == "declaration.uscc_taken_pending" and outcome.changed
    assert "uscc" not in s.answers and "_flags" not in s.answers and not force_offered(s)
    # a valid code that is taken, after an offer: the offer goes as well
    await s.answer_text(OLD_A)
    outcome = await s.answer_text(TAKEN_VALID)
    assert outcome.error.reason == "declaration.uscc_taken_pending" and outcome.changed and not force_offered(s)


async def test_a_confirmed_code_is_marked_until_a_valid_one_replaces_it() -> None:
    from bot.forms.engine import unverified_mark_key

    s = at_uscc()
    await s.answer_text(OLD_A)
    await s.press("force")
    s.answers["_at"] = SUMMARY
    summary = s.screen().text
    assert f"2. 统一社会信用代码：{OLD_A}（未通过自动校验，经申报人确认，待人工核验）" in summary
    assert s.plain_answers()["_flags"] == ["uscc_unverified"]
    assert unverified_mark_key(s.plain_answers(), "uscc") == "form.unverified_mark"
    # edited from the summary: the question shows the mark with the current answer
    await s.answer_text("2")
    assert "（当前答案：" + OLD_A + "（未通过自动校验" in s.screen().text
    await s.answer_text(f"{VALID[:9]} {VALID[9:]}")
    assert s.answers["uscc"] == VALID and "_flags" not in s.final_answers()
    s.answers["_at"] = SUMMARY
    assert f"2. 统一社会信用代码：{VALID}\n" in s.screen().text and "待人工核验" not in s.screen().text
    assert unverified_mark_key(s.plain_answers(), "uscc") == "form.no_mark"


# -- documents: a file at "upload or type?", the next missing one, "send a file" -----------------

async def test_a_file_sent_at_the_mode_question_is_the_upload_and_the_summary_names_it() -> None:
    s = session({"_at": "report_mode"})
    assert "也可以直接发送文件" in s.screen().text
    outcome = s.upload(upload("申办报告.pdf"))
    assert outcome.error is None
    assert s.answers["report_mode"] == "upload" and s.answers["_docs"]["report"][0]["file_name"] == "申办报告.pdf"
    assert s.at == "documents"
    assert s.screen().text.startswith("✅ 申办报告文件（申办报告.pdf）已收到。")  # said before the checklist
    s.answers["_at"] = SUMMARY
    summary = s.screen().text
    assert "申办报告方式：上传申办报告文件" in summary and "申办报告文件：申办报告.pdf" in summary


async def test_a_file_at_the_mode_question_in_an_edit_replaces_the_typed_report() -> None:
    s = session({"report_mode": "texts", "report_goals": "两年培养20名高技能人才", "_at": SUMMARY})
    number = next(n for n, (f, _) in enumerate(s.summary_items(), start=1) if f.id == "report_mode")
    await s.answer_text(str(number))
    assert s.upload(upload("r.docx")).error is None
    assert "report_goals" not in s.answers and s.answers["report_mode"] == "upload"
    assert s.at == "unit_name"  # an edit goes on to what is still missing (the rest of this draft is empty)


async def test_a_file_at_a_choice_that_leads_to_no_file_is_refused() -> None:
    s = session({"_at": "mode"})
    assert "也可以直接发送文件" not in s.screen().text
    assert s.upload(upload("x.pdf")).error.reason == "file.unexpected"
    assert "mode" not in s.answers


async def test_after_each_upload_the_next_missing_document_is_asked_for() -> None:
    s = session({"_at": "documents", "mentors": [], "unit_type": "enterprise"})
    s.upload(upload("licence.pdf"))
    screen = s.screen()
    assert "✅ 营业执照（licence.pdf）已收到" in screen.text and "请发送：负责人身份证" in screen.text
    assert "还缺 1 项必需材料" in screen.text and screen.accepts_file
    assert [b.label for row in screen.buttons for b in row][0] == "📋 查看材料清单（已上传1/3项）"
    # text where a file is expected: "send a file", not "press a button"
    outcome = await s.answer_text("身份证稍后再传")
    assert outcome.error.reason == "file.expected"
    assert "这里需要上传文件" in s.screen(outcome.error).text
    s.upload(upload("id.jpg"))
    assert s.answers["_docs"]["head_id_card"][0]["file_name"] == "id.jpg"
    screen = s.screen()  # nothing missing: the checklist, to finish
    assert "✅ 负责人身份证（id.jpg）已收到" in screen.text and any(b.id == "d:done" for row in screen.buttons for b in row)
    # a slot taking several files stays open for more
    await s.press("d:award")
    s.upload(upload("award1.pdf"))
    assert "请发送：获奖证书" in s.screen().text and "可继续发送同类文件" in s.screen().text
    await s.press("d:list")
    assert "❌" not in s.screen().text and "已收到" not in s.screen().text


async def test_text_at_the_checklist_asks_for_a_file() -> None:
    s = session({"_at": "documents", "mentors": []})
    outcome = await s.answer_text("好的")
    assert outcome.error.reason == "file.expected"


# -- a group: where one is, and deleting an item ---------------------------------------------

MENTOR = {"name": "甲", "id_number": {"enc": "x"}, "occupation": "模具工", "level": "technician",
          "certificate_kind": "qualification", "certificate_no": "Z1", "education": "college", "employment": "own"}


async def test_the_progress_inside_a_group_says_which_item_and_which_question() -> None:
    s = session({"_at": "mentors", "mentors": [dict(MENTOR), {**MENTOR, "name": "乙"}]})
    assert "第3/6部分 指导教师 · 第1/1题 · 指导教师 2/3" in s.screen().text
    await s.press("g:add")
    assert "指导教师 3/3 · 第1/8项" in s.screen().text
    await s.answer_text("丙")
    assert "指导教师 3/3 · 第2/8项" in s.screen().text
    await s.press("back")
    await s.press("back")  # back to the list: the unfinished item is dropped
    await s.press("g:edit:1")
    assert "指导教师 1/3 · 第1/8项" in s.screen().text
    s.lang = "en"
    assert "Mentors 1/3 · item 1/8" in s.screen().text


async def test_deleting_an_item_asks_first_and_names_it() -> None:
    s = session({"_at": "mentors", "mentors": [dict(MENTOR), {**MENTOR, "name": "乙"}]})
    await s.press("g:del:2")
    screen = s.screen()
    assert "确定删除第2位：乙？" in screen.text
    assert [[b.id for b in row] for row in screen.buttons] == [["g:del_yes:2"], ["g:del_no"]]
    assert len(s.answers["mentors"]) == 2
    await s.press("g:del_no")
    assert len(s.answers["mentors"]) == 2 and "确定删除" not in s.screen().text
    await s.press("g:del:2")
    await s.press("back")  # back is "keep it" too
    assert len(s.answers["mentors"]) == 2 and s.at == "mentors"
    outcome = await s.press("g:del_yes:2")  # a "yes" when nothing was asked: refused
    assert outcome.error.reason == "form.use_buttons" and len(s.answers["mentors"]) == 2
    await s.press("g:del:1")
    await s.press("g:del_yes:1")
    assert [m["name"] for m in s.answers["mentors"]] == ["乙"]
    assert "_deleting" not in s.answers and "确定删除" not in s.screen().text


async def test_a_kept_answer_that_has_since_gone_stale_is_asked_again_at_submit() -> None:
    from dataclasses import replace

    from bot.forms.checks import not_in_past
    from bot.forms.engine import Field, Form, Section

    form = Form(id="toy", sections=(Section("one", (Field("when", "date", checks=(not_in_past(),)),)),))
    s = FormSession(form, {}, PlainSealer(), CONTEXT)
    assert (await s.answer_text("2026-12-01")).error is None and s.at == SUMMARY
    # the draft waits; on 2 December the date is in the past and the summary cannot submit it
    s.context = replace(CONTEXT, today=date(2026, 12, 2))
    outcome = await s.press("submit")
    assert not outcome.submit and outcome.error.reason == "date.too_early"
    assert s.at == "when" and s.answers["when"] == "2026-12-01"  # asked again, the old answer shown
    assert (await s.answer_text("2026-12-03")).error is None and (await s.press("submit")).submit


def test_a_count_reads_with_thousands_separators_on_the_summary_and_the_printed_form() -> None:
    s = session({"employees": 1200})
    employees = DECLARATION.field("employees")
    assert s.display(employees, 1200) == "1,200" and s.printable(employees, 1200) == "1,200"
