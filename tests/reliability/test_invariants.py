"""The invariant checker itself: silent on rows the flows leave, loud on each kind of breakage."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.models import (
    Contact,
    Document,
    FilingObligation,
    KeyProjectGrade,
    Station,
    StatusTransition,
    Submission,
    SubmissionKind,
)
from tests.factories import recognised_station
from tests.reliability.invariants import broken_invariants

AT = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def test_a_recognised_station_with_its_declaration_is_sound(db: str) -> None:
    await recognised_station(6100001, with_declaration=True)
    assert await broken_invariants() == []


async def test_a_station_without_its_declaration_or_audit_is_reported(db: str) -> None:
    station = await recognised_station(6100001)
    broken = await broken_invariants()
    assert [b for b in broken if b.startswith("recognised station without a recognised declaration")], broken
    await Station.filter(id=station.id).update(state="overdue")
    assert any(b.startswith("status not explained by audit: station") for b in await broken_invariants())


async def test_a_submission_moved_without_its_transition_is_reported(db: str) -> None:
    await recognised_station(6100001, with_declaration=True)
    draft = await Submission.create(kind=SubmissionKind.KEY_PROJECT, created_by=6100001, answers={})
    assert await broken_invariants() == []  # a draft needs no row
    await Submission.filter(id=draft.id).update(status="under_review", reference="SZXM-2026-0001", submitted_at=AT)
    broken = await broken_invariants()
    assert f"status without audit: submission {draft.id} (key_project, under_review) has no status_transition row" in broken
    await StatusTransition.create(subject_type="submission", subject_id=draft.id, action="grade", from_status="draft",
                                  to_status="under_review", at=AT)
    assert any("audit row outside the life cycle" in b for b in await broken_invariants())
    await StatusTransition.create(subject_type="submission", subject_id=99999, action="submit", from_status="draft",
                                  to_status="submitted", at=AT)
    assert any(b.startswith("audit without subject") for b in await broken_invariants())


async def test_keys_references_filings_grades_documents_and_personal_data_are_checked(db: str) -> None:
    station = await recognised_station(6100001, with_declaration=True)
    other = await recognised_station(6100002, name="乙技师工作站", uscc="91440300MA5F00010X", with_declaration=True)
    project = await Submission.create(
        kind=SubmissionKind.KEY_PROJECT, status="under_review", station=station, created_by=6100001, year=2026,
        reference="SZJS-2026-01", uniqueness_key=f"key_project:{other.id}:2026", submitted_at=AT, answers={},
    )
    await StatusTransition.create(subject_type="submission", subject_id=project.id, action="submit", from_status="draft",
                                  to_status="submitted", at=AT)
    await StatusTransition.create(subject_type="submission", subject_id=project.id, action="accept_for_review",
                                  from_status="submitted", to_status="under_review", at=AT)
    await KeyProjectGrade.create(year=2026, level=1, slot=1, submission=project, graded_at=AT)
    await FilingObligation.create(station=station, year=2025, due_on=datetime(2026, 2, 28).date(), state="filed_late")
    await Document.create(submission=project, station=other, kind="award", file_id="f", file_unique_id="u",
                          uploaded_by=6100002)
    await Contact.create(user_id=6100001, station=other)
    await Submission.filter(kind=SubmissionKind.ESTABLISHMENT, station=station).update(
        answers={"head_mobile": "13800138000", "mentors": [{"id_number": {"enc": "x"}}]}
    )
    broken = "\n".join(await broken_invariants())
    for expected in (
        "malformed reference 'SZJS-2026-01'",
        "names another station",
        "off the graded path still holds a place",
        "filed obligation without its filing",
        "of station",  # the document's station is not its submission's
        "neither the author",
        "is the active contact of 2 stations",
        "personal field head_mobile unsealed",
        "status without audit: filing",
    ):
        assert expected in broken, (expected, broken)
    assert "mentors[1]" not in broken
