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
