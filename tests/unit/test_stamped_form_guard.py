"""六(一)1: the signed and stamped 申报表 is one of the materials. The life cycle declares it as the
guard of "accept for review"; apply_transition refuses the transition while it is missing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.rules.lifecycle import ESTABLISHMENT, STAMPED_FORM, Actor, LifeCycle, Transition, lifecycle_of
from conftest import both_databases
from storage.models import (
    AuditLog,
    BotUser,
    Contact,
    Document,
    Notice,
    Station,
    StatusTransition,
    Submission,
    Unit,
    UnitType,
)
from storage.transitions import REFUSAL_CODES, TransitionRefused, apply_transition

NOW = datetime(2027, 3, 2, 1, 30, tzinfo=UTC)
STAFF_ID, APPLICANT = 900, 101


# -- the rule, pure --------------------------------------------------------------------------------


def test_accept_for_review_of_a_declaration_requires_the_stamped_form() -> None:
    accept = ESTABLISHMENT.transition("accept_for_review")
    assert accept is not None and accept.requires_documents == {STAMPED_FORM}
    assert accept.missing_documents(["report", "business_licence"]) == {STAMPED_FORM}
    assert accept.missing_documents(["report", STAMPED_FORM]) == frozenset()
    # only that transition is guarded: the bureau may still return a declaration without it
    guarded = [t.action for t in lifecycle_of("establishment").transitions if t.requires_documents]
    assert guarded == ["accept_for_review"]
    assert "materials_missing" in REFUSAL_CODES


def test_only_a_submission_can_require_documents() -> None:
    with pytest.raises(ValueError, match="only a submission holds documents"):
        LifeCycle(
            kind="station", states=("a", "b"), initial="a",
            transitions=(Transition("go", frozenset({"a"}), "b", frozenset({Actor.STAFF}),
                                    requires_documents=frozenset({STAMPED_FORM})),),
        )


# -- the rule, enforced by storage -----------------------------------------------------------------


async def _declaration(n: int = 1) -> Submission:
    await BotUser.get_or_create(id=APPLICANT)
    unit = await Unit.create(name=f"单位{n}", uscc=f"91440300MA5F{n:06d}", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name=f"工作站{n}", mode="self", state="applying")
    await Contact.create(user_id=APPLICANT, station=station, role="applicant")
    submission = await Submission.create(
        kind="establishment", status="submitted", station=station, unit=unit, created_by=APPLICANT, year=2027,
        reference=f"SZJS-2027-{n:04d}", uniqueness_key=f"establishment:{unit.uscc}",
    )
    await Document.create(submission=submission, station=station, kind="report", file_id=f"r{n}",
                          file_unique_id=f"ur{n}", uploaded_by=APPLICANT)
    return submission


async def _stamped(submission: Submission) -> None:
    await Document.create(submission=submission, station_id=submission.station_id, kind=STAMPED_FORM,
                          file_id=f"s{submission.id}", file_unique_id=f"us{submission.id}", uploaded_by=APPLICANT)


async def _written() -> tuple[int, int, int]:
    return await StatusTransition.all().count(), await AuditLog.all().count(), await Notice.all().count()


async def _accept(submission: Submission):
    return await apply_transition("submission", submission.id, "accept_for_review", actor_id=STAFF_ID,
                                  actor="staff", now=NOW, expected_state="submitted")


@both_databases
async def test_a_declaration_without_its_stamped_form_cannot_be_accepted_for_review(db: str) -> None:
    submission = await _declaration(1)
    other = await _declaration(2)
    await _stamped(other)  # another declaration's stamped form does not count
    before = await _written()

    with pytest.raises(TransitionRefused) as refused:
        await _accept(submission)
    assert refused.value.code == "materials_missing"
    assert refused.value.details == {"missing": [STAMPED_FORM]}
    assert refused.value.current == "submitted"
    # nothing written: the state, the records and the notices are as they were
    assert (await Submission.get(id=submission.id)).status == "submitted"
    assert await _written() == before

    await _stamped(submission)
    result = await _accept(submission)
    assert (result.from_state, result.to_state) == ("submitted", "under_review")
    assert (await Submission.get(id=submission.id)).status == "under_review"


@both_databases
async def test_without_the_stamped_form_the_bureau_may_still_return_the_declaration(db: str) -> None:
    submission = await _declaration(1)
    result = await apply_transition("submission", submission.id, "reject", actor_id=STAFF_ID, actor="staff",
                                    now=NOW, reason="申报表未盖章", expected_state="submitted")
    assert result.to_state == "rejected"
    assert (await Submission.get(id=submission.id)).uniqueness_key is None


@both_databases
async def test_the_guard_is_checked_after_who_may_act(db: str) -> None:
    """A contact trying a staff action hears "not allowed", not that a material is missing."""
    submission = await _declaration(1)
    with pytest.raises(TransitionRefused) as refused:
        await apply_transition("submission", submission.id, "accept_for_review", actor_id=APPLICANT,
                               actor="contact", now=NOW)
    assert refused.value.code == "not_allowed"
