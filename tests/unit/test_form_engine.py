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
