"""storage.transitions.apply_transition: every transition of every life cycle, on SQLite and
PostgreSQL, with its status_transition, audit_log and notices; refusals write nothing; R8's caps
hold under concurrent graders."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.rules.lifecycle import (
    GRADED_KEY_PROJECT_STATES, LIFE_CYCLES, STAMPED_FORM, SUBMISSION_KINDS, Actor, Transition, lifecycle_of,
)
from conftest import both_databases
from scheduler.sender import render
from storage.key_projects import grade_counts
from storage.models import (
    AuditLog,
    BotUser,
    Contact,
    Document,
    FilingObligation,
    FilingState,
    KeyProjectGrade,
    Notice,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionStatus,
    Unit,
    UnitType,
)
from storage.transitions import TransitionRefused, apply_transition, history

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2027, 3, 2, 9, 30, tzinfo=SHANGHAI)
STAFF_ID = 900
APPLICANT, OTHER_CONTACT, FORMER_CONTACT, STRANGER = 101, 102, 103, 555
ACTIVE_CONTACTS = {APPLICANT, OTHER_CONTACT}
ACTOR_PREFERENCE = (Actor.STAFF, Actor.CONTACT, Actor.SYSTEM, Actor.PUBLIC)
ACTOR_IDS = {Actor.STAFF: STAFF_ID, Actor.CONTACT: APPLICANT, Actor.SYSTEM: None, Actor.PUBLIC: STRANGER}
KINDS = sorted(LIFE_CYCLES)


async def _users() -> None:
    for user_id in (APPLICANT, OTHER_CONTACT, FORMER_CONTACT, STRANGER):
        await BotUser.get_or_create(id=user_id)


async def _station(n: int, state: str = StationState.ACTIVE) -> Station:
    unit = await Unit.create(name=f"单位{n}", uscc=f"91440300MA5F{n:06d}", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name=f"工作站{n}", mode="self", state=state)
    for user_id in (APPLICANT, OTHER_CONTACT):
        await Contact.create(user_id=user_id, station=station)
    await Contact.create(user_id=FORMER_CONTACT, station=station, active=False)
    return station


async def _submission(n: int, kind: str, status: str, *, year: int = 2027, station: Station | None = None) -> Submission:
    station = station or await _station(n)
    submission = await Submission.create(
        kind=kind, status=status, station=station, unit_id=station.unit_id, created_by=APPLICANT, year=year,
        reference=f"SZJS-{year}-{n:04d}" if status != "draft" else None,
        uniqueness_key=f"{kind}:{n}" if status != "draft" else None,
    )
    if kind == "establishment" and status != "draft":
        # 六(一)1: the signed and stamped 申报表 is in (the guard of accept_for_review)
        await Document.create(submission=submission, station=station, kind=STAMPED_FORM, file_id=f"scan{n}",
                              file_unique_id=f"u{n}", uploaded_by=APPLICANT)
    return submission


async def _subject_in(kind: str, state: str, n: int) -> tuple[str, int]:
    """A fresh item of `kind` in `state` with its own station and contacts."""
    if kind == "station":
        return "station", (await _station(n, state)).id
    if kind == "filing":
        station = await _station(n)
        obligation = await FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28), state=state)
        return "filing", obligation.id
    # one year per item keeps the grade places of the cases apart
    submission = await _submission(n, kind, state, year=1900 + n)
    if kind == "key_project" and state in GRADED_KEY_PROJECT_STATES:
        await KeyProjectGrade.create(year=1900 + n, level=1, slot=1, submission=submission, graded_at=NOW)
    return "submission", submission.id


def _changes(kind: str, transition: Transition, n: int) -> dict:
    if transition.action == "grade":
        return {"level": 2}
    if kind == "station" and transition.action == "recognise":
        return {"recognised_on": date(2027, 3, 2)}
    if kind == "station" and transition.action == "revoke":
        return {"revoked_on": date(2027, 3, 2), "revocation_reason": "逾期未备案"}
    if kind == "filing" and transition.action == "extend":
        return {"extended_due_on": date(2027, 8, 31)}
    if kind == "extension" and transition.action == "approve":
        return {"due_on": date(2027, 8, 31)}
    if transition.action == "submit":
        return {"submitted_at": NOW, "answers": {"n": n}, "reference": f"SZJS-2027-{n:04d}", "uniqueness_key": f"{kind}:{n}"}
    return {}


async def _counts() -> tuple[int, int, int]:
    return await StatusTransition.all().count(), await AuditLog.all().count(), await Notice.all().count()


# -- every transition of every kind --------------------------------------------------------------


@both_databases
@pytest.mark.parametrize("kind", KINDS)
async def test_every_transition_applies_with_its_records(db: str, kind: str) -> None:
    await _users()
    cycle = lifecycle_of(kind)
    n = 0
    for transition in cycle.transitions:
        for source in sorted(transition.sources):
            n += 1
            subject, subject_id = await _subject_in(kind, source, n)
            actor = next(a for a in ACTOR_PREFERENCE if transition.allows(a))
            actor_id = ACTOR_IDS[actor]
            reason = "理由如下" if transition.reason_required else ""
            changes = _changes(kind, transition, n)
            before = await _counts()
            case = f"{kind}.{transition.action} from {source} by {actor}"

            result = await apply_transition(
                subject, subject_id, transition.action, actor_id=actor_id, actor=actor, now=NOW, reason=reason,
                changes=changes, expected_state=source,
            )

            assert (result.from_state, result.to_state) == (source, transition.target), case
            model, column = {"submission": (Submission, "status"), "station": (Station, "state"),
                             "filing": (FilingObligation, "state")}[subject]
            row = await model.get(id=subject_id)
            assert getattr(row, column) == transition.target, case
            for name, value in changes.items():
                stored = getattr(row, name)
                assert stored == value, f"{case}: {name}"

            record = await StatusTransition.get(id=result.transition_id)
            assert (record.subject_type, record.subject_id, record.action) == (subject, subject_id, transition.action)
            assert (record.from_status, record.to_status) == (source, transition.target), case
            assert (record.actor_id, record.actor_kind, record.reason) == (actor_id, actor.value, reason), case
            assert record.at == NOW.astimezone(UTC), case

            audits = await AuditLog.filter(subject_type=subject, subject_id=subject_id)
            if actor is Actor.STAFF:
                assert len(audits) == 1, case
                assert audits[0].actor_id == STAFF_ID and audits[0].action == f"{kind}.{transition.action}"
                assert audits[0].before[column] == source and audits[0].after[column] == transition.target
                for name in changes:
                    assert name in audits[0].before and name in audits[0].after, f"{case}: {name} audited"
            else:
                assert audits == [], case

            notices = await Notice.filter(subject=f"{subject}:{subject_id}", kind="status_change")
            if transition.notify:
                expected = (ACTIVE_CONTACTS | ({APPLICANT} if subject == "submission" else set())) - {actor_id}
                assert sorted(n.recipient_id for n in notices) == sorted(expected), case
                assert {n.period for n in notices} == {f"t{result.transition_id}"}
                assert set(result.notified) == expected
                for notice in notices:
                    for language in ("zh", "en"):
                        text = render(notice, language)
                        assert "{" not in text and text.strip(), f"{case}: {text}"
            else:
                assert notices == [] and result.notified == (), case

            if subject == "submission":
                assert (row.uniqueness_key is None) == transition.releases_key, f"{case}: key"
                assert result.key_released == transition.releases_key
            if kind == "key_project":
                holds = await KeyProjectGrade.filter(submission_id=subject_id).exists()
                assert holds == (transition.target in GRADED_KEY_PROJECT_STATES), f"{case}: grade place"

            # applied again: refused, nothing more written, no notice twice
            counts = await _counts()
            assert counts[0] == before[0] + 1
            with pytest.raises(TransitionRefused) as again:
                await apply_transition(
                    subject, subject_id, transition.action, actor_id=actor_id, actor=actor, now=NOW, reason=reason,
                    changes=changes,
                )
            assert again.value.code == "not_allowed", case
            assert await _counts() == counts, case
    assert n == sum(len(t.sources) for t in cycle.transitions)


def test_model_enums_name_exactly_the_states_of_the_life_cycles() -> None:
    submission_states = set().union(*(lifecycle_of(kind).states for kind in SUBMISSION_KINDS))
    assert {s.value for s in SubmissionStatus} == submission_states
    assert {s.value for s in StationState} == set(lifecycle_of("station").states)
    assert {s.value for s in FilingState} == set(lifecycle_of("filing").states)
    assert lifecycle_of("station").initial == Station._meta.fields_map["state"].default
    assert lifecycle_of("filing").initial == FilingObligation._meta.fields_map["state"].default


# -- refusals --------------------------------------------------------------------------------------


async def _snapshot(submission_id: int) -> tuple:
    row = await Submission.get(id=submission_id)
    return (row.status, row.uniqueness_key, row.updated_at, *await _counts())


@both_databases
async def test_a_stale_transition_is_refused_and_writes_nothing(db: str) -> None:
    await _users()
    submission = await _submission(1, "establishment", "submitted")
    await apply_transition("submission", submission.id, "accept_for_review", actor_id=STAFF_ID, actor=Actor.STAFF,
                           now=NOW, expected_state="submitted")
    before = await _snapshot(submission.id)
    # a second member of staff still sees "submitted" and rejects it
    with pytest.raises(TransitionRefused) as refused:
        await apply_transition("submission", submission.id, "reject", actor_id=STAFF_ID + 1, actor=Actor.STAFF,
                               now=NOW, reason="材料不全", expected_state="submitted")
    assert refused.value.code == "stale" and refused.value.current == "under_review"
    assert await _snapshot(submission.id) == before


@both_databases
async def test_two_identical_transitions_at_once_exactly_one_succeeds(db: str) -> None:
    await _users()
    submission = await _submission(1, "key_project", "submitted")

    async def accept(staff_id: int):
        try:
            return await apply_transition("submission", submission.id, "accept_for_review", actor_id=staff_id,
                                          actor=Actor.STAFF, now=NOW, expected_state="submitted")
        except TransitionRefused as refused:
            return refused

    outcomes = await asyncio.gather(accept(STAFF_ID), accept(STAFF_ID + 1))
    won = [o for o in outcomes if not isinstance(o, TransitionRefused)]
    lost = [o for o in outcomes if isinstance(o, TransitionRefused)]
    assert len(won) == 1 and len(lost) == 1 and lost[0].code == "stale"
    assert await StatusTransition.filter(subject_id=submission.id).count() == 1
    assert await AuditLog.all().count() == 1
    assert sorted(await Notice.all().values_list("recipient_id", flat=True)) == sorted(ACTIVE_CONTACTS)
    assert (await Submission.get(id=submission.id)).status == "under_review"


@both_databases
async def test_a_contact_cannot_take_a_staff_action_nor_act_for_another_station(db: str) -> None:
    await _users()
    submission = await _submission(1, "establishment", "submitted")
    before = await _snapshot(submission.id)
    with pytest.raises(TransitionRefused) as refused:
        await apply_transition("submission", submission.id, "accept_for_review", actor_id=APPLICANT,
                               actor=Actor.CONTACT, now=NOW)
    assert refused.value.code == "not_allowed"
    # a contact action, but by someone who is no contact of this station
    with pytest.raises(TransitionRefused) as refused:
        await apply_transition("submission", submission.id, "withdraw", actor_id=STRANGER, actor=Actor.CONTACT, now=NOW)
    assert refused.value.code == "not_allowed"
    # a contact who left the station neither
    with pytest.raises(TransitionRefused) as refused:
        await apply_transition("submission", submission.id, "withdraw", actor_id=FORMER_CONTACT, actor=Actor.CONTACT,
                               now=NOW)
    assert refused.value.code == "not_allowed"
    assert await _snapshot(submission.id) == before
    # the other, active contact may
    result = await apply_transition("submission", submission.id, "withdraw", actor_id=OTHER_CONTACT,
                                    actor=Actor.CONTACT, now=NOW)
    assert result.to_state == "withdrawn" and result.notified == (APPLICANT,)


@both_databases
async def test_a_reason_is_required_where_declared(db: str) -> None:
    await _users()
    submission = await _submission(1, "extension", "submitted")
    before = await _snapshot(submission.id)
    for blank in ("", "   "):
        with pytest.raises(TransitionRefused) as refused:
            await apply_transition("submission", submission.id, "refuse", actor_id=STAFF_ID, actor=Actor.STAFF,
                                   now=NOW, reason=blank)
        assert refused.value.code == "reason_required"
    assert await _snapshot(submission.id) == before
    await apply_transition("submission", submission.id, "refuse", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           reason="理由不充分")
    notice = await Notice.filter(recipient_id=APPLICANT).first()
    assert notice.text_key == "notice.status_change_reason" and "理由不充分" in render(notice, "zh")
    assert "Reason: 理由不充分" in render(notice, "en")


@both_databases
async def test_unknown_subject_row_action_and_bad_arguments(db: str) -> None:
    await _users()
    submission = await _submission(1, "establishment", "submitted")
    for subject, subject_id, action in (("planet", 1, "submit"), ("submission", 999, "submit"),
                                        ("submission", submission.id, "fly")):
        with pytest.raises(TransitionRefused) as refused:
            await apply_transition(subject, subject_id, action, actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW)
        assert refused.value.code == "unknown"
    with pytest.raises(ValueError):
        await apply_transition("submission", submission.id, "accept_for_review", actor_id=STAFF_ID, actor=Actor.STAFF,
                               now=NOW, changes={"status": "recognised"})
    with pytest.raises(ValueError):
        await apply_transition("submission", submission.id, "accept_for_review", actor_id=STAFF_ID, actor=Actor.STAFF,
                               now=NOW, changes={"no_such_column": 1})
    with pytest.raises(ValueError):  # naive
        await apply_transition("submission", submission.id, "accept_for_review", actor_id=STAFF_ID, actor=Actor.STAFF,
                               now=datetime(2027, 3, 2, 9, 30))
    with pytest.raises(ValueError):  # staff without an id
        await apply_transition("submission", submission.id, "accept_for_review", actor_id=None, actor=Actor.STAFF,
                               now=NOW)
    assert (await Submission.get(id=submission.id)).status == "submitted"


@both_databases
async def test_submit_inside_a_callers_transaction(db: str) -> None:
    """The form layer submits inside its own transaction: reference, time, key and answers at once."""
    await _users()
    station = await _station(1)
    draft = await _submission(1, "key_project", "draft", station=station)
    changes = {"reference": "SZJS-2027-0007", "submitted_at": NOW, "uniqueness_key": f"key_project:{station.id}:2027",
               "answers": {"goal": "培训"}}

    # the caller fails after the transition: nothing of it stays
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await apply_transition("submission", draft.id, "submit", actor_id=APPLICANT, actor=Actor.CONTACT, now=NOW,
                                   changes=changes)
            raise RuntimeError("the caller's next step failed")
    assert (await Submission.get(id=draft.id)).status == "draft"
    assert await _counts() == (0, 0, 0)

    async with in_transaction():
        result = await apply_transition("submission", draft.id, "submit", actor_id=APPLICANT, actor=Actor.CONTACT,
                                        now=NOW, changes=changes)
    row = await Submission.get(id=draft.id)
    assert (row.status, row.reference, row.uniqueness_key, row.answers) == (
        "submitted", "SZJS-2027-0007", changes["uniqueness_key"], {"goal": "培训"})
    assert row.submitted_at == NOW and result.notified == (OTHER_CONTACT,)

    # a second key project of the station and year: the database refuses the key; the caller's
    # transaction goes on (a savepoint on PostgreSQL)
    second = await _submission(2, "key_project", "draft", station=station)
    async with in_transaction():
        with pytest.raises(IntegrityError):
            await apply_transition("submission", second.id, "submit", actor_id=APPLICANT, actor=Actor.CONTACT, now=NOW,
                                   changes={**changes, "reference": "SZJS-2027-0008"})
        await Submission.filter(id=second.id).update(answers={"kept": True})
    row = await Submission.get(id=second.id)
    assert (row.status, row.answers) == ("draft", {"kept": True})
    assert await StatusTransition.all().count() == 1


@both_databases
async def test_history_oldest_first_and_public_objection(db: str) -> None:
    await _users()
    submission = await _submission(1, "establishment", "approved")
    steps = [("announce", Actor.STAFF, STAFF_ID, ""), ("object", Actor.PUBLIC, STRANGER, ""),
             ("dismiss_objection", Actor.STAFF, STAFF_ID, "异议不成立"), ("recognise", Actor.STAFF, STAFF_ID, "")]
    for i, (action, actor, actor_id, reason) in enumerate(steps):
        await apply_transition("submission", submission.id, action, actor_id=actor_id, actor=actor,
                               now=NOW + timedelta(days=i), reason=reason)
    rows = await history("submission", submission.id)
    assert [r.action for r in rows] == [s[0] for s in steps]
    assert [r.to_status for r in rows] == ["announced", "objection", "objection_dismissed", "recognised"]
    assert rows[1].actor_kind == "public" and rows[1].actor_id == STRANGER
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    assert await history("station", submission.station_id) == []


# -- R8: the caps on graded key projects ---------------------------------------------------------


async def _under_review(count: int, year: int, station: Station) -> list[int]:
    ids = []
    for _ in range(count):
        row = await Submission.create(kind="key_project", status="under_review", station=station, created_by=APPLICANT,
                                      year=year)
        ids.append(row.id)
    return ids


async def _grade(submission_id: int, level: int, staff_id: int = STAFF_ID):
    try:
        return await apply_transition("submission", submission_id, "grade", actor_id=staff_id, actor=Actor.STAFF,
                                      now=NOW, changes={"level": level})
    except TransitionRefused as refused:
        return refused


@both_databases
async def test_the_eleventh_of_a_level_and_the_thirty_first_of_a_year_are_refused(db: str) -> None:
    await _users()
    station = await _station(1)
    ids = await _under_review(32, 2027, station)
    for submission_id in ids[:10]:
        assert not isinstance(await _grade(submission_id, 1), TransitionRefused)
    eleventh = await _grade(ids[10], 1)
    assert isinstance(eleventh, TransitionRefused) and eleventh.code == "cap_reached"
    assert eleventh.details == {"year": 2027, "level": 1, "counts": {1: 10, 2: 0, 3: 0}, "total": 10}
    assert (await Submission.get(id=ids[10])).status == "under_review"
    assert await StatusTransition.filter(subject_id=ids[10]).count() == 0
    for submission_id, level in zip(ids[10:30], [2] * 10 + [3] * 10):
        assert not isinstance(await _grade(submission_id, level), TransitionRefused)
    for level in (1, 2, 3):
        thirty_first = await _grade(ids[30], level)
        assert isinstance(thirty_first, TransitionRefused) and thirty_first.code == "cap_reached"
        assert thirty_first.details["total"] == 30
    assert await grade_counts(2027) == {1: 10, 2: 10, 3: 10}
    # another year has places of its own
    other_year = await _under_review(1, 2028, station)
    assert not isinstance(await _grade(other_year[0], 1), TransitionRefused)
    assert sorted(await Submission.filter(status="graded", year=2027).values_list("level", flat=True)) == (
        [1] * 10 + [2] * 10 + [3] * 10)
    assert await Submission.filter(status="graded", year=2027).count() == 30


@both_databases
async def test_concurrent_graders_cannot_exceed_ten_of_a_level(db: str) -> None:
    await _users()
    station = await _station(1)
    ids = await _under_review(13, 2027, station)
    outcomes = await asyncio.gather(*(_grade(submission_id, 2, STAFF_ID + i) for i, submission_id in enumerate(ids)))
    refused = [o for o in outcomes if isinstance(o, TransitionRefused)]
    assert len(refused) == 3 and {r.code for r in refused} == {"cap_reached"}
    places = await KeyProjectGrade.filter(year=2027, level=2).values_list("slot", flat=True)
    assert sorted(places) == list(range(1, 11))
    assert await Submission.filter(status="graded").count() == 10
    assert await Submission.filter(status="under_review").count() == 3
    assert await StatusTransition.all().count() == 10


@both_databases
async def test_leaving_the_graded_path_gives_the_place_back(db: str) -> None:
    await _users()
    station = await _station(1)
    ids = await _under_review(11, 2027, station)
    for submission_id in ids[:10]:
        await _grade(submission_id, 3)
    assert isinstance(await _grade(ids[10], 3), TransitionRefused)
    await apply_transition("submission", ids[0], "announce", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW)
    await apply_transition("submission", ids[0], "disqualify", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           reason="材料弄虚作假")
    result = await _grade(ids[10], 3)
    assert not isinstance(result, TransitionRefused)
    assert (await Submission.get(id=ids[10])).level == 3
    assert await KeyProjectGrade.filter(submission_id=ids[0]).count() == 0
