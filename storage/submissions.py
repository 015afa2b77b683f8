"""Drafts and submissions: saved after every answer, submitted once, numbered SZJS-<year>-<serial>."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.rules.filing import filed_on_time, filing_reason
from bot.rules.lifecycle import Actor, filing_due_on
from storage import outbox, step, transitions
from storage.models import (
    BotUser,
    Contact,
    ContactRole,
    Document,
    EstablishmentMode,
    FilingObligation,
    FilingState,
    ReferenceCounter,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)

REFERENCE_PREFIX = "SZJS"
# A unit whose station is in one of these states cannot declare again.
STANDING_STATES = (
    StationState.ACTIVE,
    StationState.OVERDUE,
    StationState.REVOCATION_CANDIDATE,
    StationState.DEREGISTRATION_REQUESTED,
)


async def draft_of(user_id: int, kind: SubmissionKind) -> Submission | None:
    return (
        await Submission.filter(created_by=user_id, kind=kind, status=SubmissionStatus.DRAFT)
        .order_by("-updated_at")
        .first()
    )


async def start_draft(user_id: int, kind: SubmissionKind) -> Submission:
    return await Submission.create(kind=kind, created_by=user_id, answers={})


async def load_answers(submission_id: int, user_id: int) -> tuple[SubmissionStatus, dict[str, Any]] | None:
    """A submission's status and answers, only for the user who created it.

    Inside a step that carries the drafts' copy (`storage.step.DraftCopies`: this process is the
    only writer) a draft read or written before is served from it, without a query.
    """
    open_step = step.current()
    copies = open_step.copies if open_step is not None else None
    if copies is not None:
        answers = copies.get(submission_id, user_id)
        if answers is not None:
            return SubmissionStatus.DRAFT, answers
        row = await step.read_draft(submission_id, user_id)
        if row is None:
            return None
        status, text, version = row
        if status == SubmissionStatus.DRAFT.value:
            copies.put(submission_id, user_id, text, version)
        return SubmissionStatus(status), dict(json.loads(text) or {})
    rows = await Submission.filter(id=submission_id, created_by=user_id).values_list("status", "answers")
    if not rows:
        return None
    status, answers = rows[0]
    return SubmissionStatus(status), dict(answers or {})


async def save_answers(submission_id: int, user_id: int, answers: dict[str, Any]) -> bool:
    """Keep a draft's answers; False if it is no longer a draft (submitted meanwhile).

    Inside a step (`storage.step`, one per update of the bot) the answers are recorded and written
    with the step's conversation state, in one transaction at its end (still only to a draft);
    True then means recorded.
    """
    open_step = step.current()
    if open_step is not None:
        open_step.record_draft(submission_id, user_id, answers)
        return True
    updated = await Submission.filter(id=submission_id, created_by=user_id, status=SubmissionStatus.DRAFT).update(
        answers=answers
    )
    return updated == 1


async def discard_draft(submission_id: int, user_id: int) -> None:
    step.no_longer_a_draft(submission_id)
    await Submission.filter(id=submission_id, created_by=user_id, status=SubmissionStatus.DRAFT).delete()


async def uscc_blocker(uscc: str) -> str | None:
    """Why a unit may not declare: "active" (it has a standing station), "pending", or None."""
    if await Station.filter(unit__uscc=uscc, state__in=STANDING_STATES).exists():
        return "active"
    if await Submission.filter(uniqueness_key=f"establishment:{uscc}").exists():
        return "pending"
    return None


async def next_reference(year: int, prefix: str = REFERENCE_PREFIX) -> str:
    """The next receipt number of the year in the prefix's series; call inside a transaction (the
    UPDATE locks the row)."""
    return (await reserve_references(year, prefix, 1))[0]


async def reserve_references(year: int, prefix: str, count: int) -> list[str]:
    """The next `count` receipt numbers of the year in the prefix's series, in three statements
    whatever `count` (an imported register numbers all its items at once); call inside a
    transaction (the UPDATE locks the row)."""
    if count <= 0:
        return []
    counter = await ReferenceCounter.get_or_none(prefix=prefix, year=year)
    if counter is None:
        await ReferenceCounter.bulk_create([ReferenceCounter(prefix=prefix, year=year, last_serial=0)], ignore_conflicts=True)
    await ReferenceCounter.filter(prefix=prefix, year=year).update(last_serial=F("last_serial") + count)
    last = (await ReferenceCounter.filter(prefix=prefix, year=year).values_list("last_serial", flat=True))[0]
    return [f"{prefix}-{year}-{serial:04d}" for serial in range(last - count + 1, last + 1)]


@dataclass(frozen=True)
class SubmitResult:
    reference: str | None = None
    submitted_at: datetime | None = None
    already: bool = False  # it had been submitted before (a second click)
    # "missing" (no such draft of this user) | "duplicate" (the "one per ..." key is taken) |
    # "station_changed" (the station can no longer follow the act: revoked meanwhile ...)
    blocked: str | None = None
    station_id: int | None = None


@dataclass(frozen=True)
class StaffNotice:
    """The notice staff get about a new submission; its params gain the reference."""

    recipients: frozenset[int]
    kind: str
    text_key: str
    params: dict[str, Any]


async def submit(
    submission_id: int,
    user_id: int,
    answers: dict[str, Any],
    *,
    uniqueness_key: str | None,
    reference_year: int,
    now: datetime,
    staff_notice: StaffNotice | None = None,
    station_id: int | None = None,
    reference_prefix: str = REFERENCE_PREFIX,
    year: int | None = None,
    today: date | None = None,
) -> SubmitResult:
    """Turn a complete draft into a submission, in one transaction: the status, the receipt
    number, what the kind creates (a declaration creates its unit, station and contact), the
    documents, and the staff notice. Either all of it is written or nothing.

    Idempotent: a second call (a double click) finds no draft and returns the first receipt.
    The database refuses a second submission under the same `uniqueness_key`.
    `year` is the year the act is for (a filing's year; default the reference's); `today` the
    bureau's date, which decides whether a filing is on time.
    """
    existing = await Submission.get_or_none(id=submission_id, created_by=user_id)
    if existing is None:
        step.no_longer_a_draft(submission_id)
        return SubmitResult(blocked="missing")
    if existing.status != SubmissionStatus.DRAFT:
        step.no_longer_a_draft(submission_id)
        return SubmitResult(reference=existing.reference, submitted_at=existing.submitted_at, already=True)
    # The answers came from the drafts' copy: they must still be the row's (raises StaleDraft).
    await step.check_draft_version(submission_id, user_id)
    try:
        async with in_transaction():
            reference = await next_reference(reference_year, reference_prefix)
            try:
                await transitions.apply_transition(
                    "submission", submission_id, "submit", actor_id=user_id, actor=Actor.CONTACT, now=now,
                    expected_state=SubmissionStatus.DRAFT.value,
                    changes={"uniqueness_key": uniqueness_key, "submitted_at": now, "answers": answers,
                             "reference": reference, "year": year or reference_year},
                )
            except transitions.TransitionRefused as refused:
                raise _AlreadySubmitted from refused
            materialise = _MATERIALISE.get(SubmissionKind(existing.kind))
            if materialise is not None:
                facts = _Submitted(submission_id, user_id, answers, now, today or now.date(), station_id,
                                   year or reference_year)
                try:
                    station_id = await materialise(facts)
                except transitions.TransitionRefused as refused:
                    raise _StationChanged from refused
            await Submission.filter(id=submission_id).update(station_id=station_id)
            await Document.bulk_create(_documents(answers.get("_docs", {}), submission_id, station_id, user_id))
            if staff_notice is not None:
                for staff_id in sorted(staff_notice.recipients):
                    await outbox.enqueue(staff_id, staff_notice.kind, f"submission:{submission_id}", "submitted",
                                         staff_notice.text_key, now, {**staff_notice.params, "reference": reference})
    except _AlreadySubmitted:
        again = await Submission.get(id=submission_id)
        if again.status == SubmissionStatus.DRAFT:
            return SubmitResult(blocked="missing")
        step.no_longer_a_draft(submission_id)
        return SubmitResult(reference=again.reference, submitted_at=again.submitted_at, already=True)
    except _StationChanged:
        return SubmitResult(blocked="station_changed")
    except IntegrityError:
        # Another submission under the same "one per ..." key got in first.
        return SubmitResult(blocked="duplicate")
    step.no_longer_a_draft(submission_id)
    return SubmitResult(reference=reference, submitted_at=now, station_id=station_id)


class _AlreadySubmitted(Exception):
    """Raised inside the transaction to roll it back when another click won."""


class _StationChanged(Exception):
    """Raised inside the transaction to roll it back when the station cannot follow the act."""


@dataclass(frozen=True)
class _Submitted:
    """What a kind's consequences of a submit are worked out from."""

    submission_id: int
    user_id: int
    answers: dict[str, Any]
    now: datetime
    today: date  # the bureau's date
    station_id: int | None
    year: int


async def _establish_station(facts: _Submitted) -> int:
    """A declaration creates (or refreshes) its unit, an applying station and its first contact."""
    submission_id, user_id, answers, now = facts.submission_id, facts.user_id, facts.answers, facts.now
    unit = await _upsert_unit(str(answers["uscc"]), answers)
    station = await Station.create(
        unit=unit,
        name=answers["station_name"],
        mode=EstablishmentMode(answers["mode"]),
        partner_name=answers.get("partner_name", ""),
        school_enterprise=answers.get("mode") == "co_built" and answers.get("partner_is_college") == "yes",
        state=StationState.APPLYING,
    )
    await Submission.filter(id=submission_id).update(unit=unit)
    user, _ = await BotUser.get_or_create(id=user_id)
    await Contact.get_or_create(user=user, station=station, defaults={"role": ContactRole.APPLICANT})
    await StatusTransition.create(subject_type="station", subject_id=station.id, from_status=None,
                                  to_status=StationState.APPLYING.value, actor_id=user_id, at=now)
    return station.id


async def _meet_filing_obligation(facts: _Submitted) -> int | None:
    """八 (R10, R11): an annual filing meets its station's obligation for the year, on time up to
    the last day (the end of an approved extension, or of February) in the bureau's zone, late
    after it; the obligation is written first when the scheduler has not yet. A station overdue
    for nothing else is in good standing again (九: the late filing arrived)."""
    station_id = facts.station_id
    if station_id is None:
        raise transitions.TransitionRefused("unknown", "a filing needs its station")
    obligation = await FilingObligation.filter(station_id=station_id, year=facts.year).first()
    if obligation is None:
        obligation = await FilingObligation.create(station_id=station_id, year=facts.year, due_on=filing_due_on(facts.year))
    if obligation.state == FilingState.NOT_DUE:
        await transitions.apply_transition("filing", obligation.id, "mark_due", actor_id=None, actor=Actor.SYSTEM,
                                           now=facts.now, expected_state=FilingState.NOT_DUE.value)
        obligation = await FilingObligation.get(id=obligation.id)
    deadline = obligation.extended_due_on or obligation.due_on
    on_time = filed_on_time(obligation.state.value, deadline, facts.today)
    await transitions.apply_transition(
        "filing", obligation.id, "file_on_time" if on_time else "file_late", actor_id=facts.user_id,
        actor=Actor.CONTACT, now=facts.now, changes={"submission_id": facts.submission_id},
    )
    await Submission.filter(id=facts.submission_id).update(due_on=deadline)
    station = await Station.get(id=station_id)
    still_overdue = await FilingObligation.filter(station_id=station_id, state=FilingState.OVERDUE).exists()
    if station.state in (StationState.OVERDUE, StationState.REVOCATION_CANDIDATE) and not still_overdue:
        await transitions.apply_transition("station", station_id, "reinstate", actor_id=None, actor=Actor.SYSTEM,
                                           now=facts.now, expected_state=station.state.value,
                                           reason=filing_reason(facts.year))
    return station_id


async def _request_deregistration(facts: _Submitted) -> int | None:
    """九 (R14): the station waits for the bureau's answer while its request is open."""
    if facts.station_id is None:
        raise transitions.TransitionRefused("unknown", "a deregistration request needs its station")
    await transitions.apply_transition("station", facts.station_id, "request_deregistration", actor_id=facts.user_id,
                                       actor=Actor.CONTACT, now=facts.now, expected_state=StationState.ACTIVE.value)
    return facts.station_id


async def _for_station(facts: _Submitted) -> int | None:
    """A key project or an extension request belongs to the station of the contact who sent it
    (their forms open only for a contact: `FormSpec.may_start`)."""
    if facts.station_id is None:
        return None
    await Submission.filter(id=facts.submission_id).update(unit_id=(await Station.get(id=facts.station_id)).unit_id)
    return facts.station_id


_MATERIALISE = {
    SubmissionKind.ESTABLISHMENT: _establish_station,
    SubmissionKind.ANNUAL_FILING: _meet_filing_obligation,
    SubmissionKind.DEREGISTRATION: _request_deregistration,
    SubmissionKind.KEY_PROJECT: _for_station,
    SubmissionKind.EXTENSION: _for_station,
}


async def _upsert_unit(uscc: str, answers: dict[str, Any]) -> Unit:
    fields = {
        "name": answers["unit_name"],
        "unit_type": UnitType(answers["unit_type"]),
        "legal_representative": answers.get("legal_rep", ""),
        "address": answers.get("address", ""),
        "main_field": answers.get("main_field", ""),
        "employees": answers.get("employees"),
    }
    unit = await Unit.get_or_none(uscc=uscc)
    if unit is None:
        return await Unit.create(uscc=uscc, **fields)
    # A unit that declared before (and was not recognised) declares again with fresh details.
    await Unit.filter(id=unit.id).update(**fields)
    return unit


def _documents(docs: dict[str, list[dict[str, Any]]], submission_id: int, station_id: int | None, user_id: int) -> list[Document]:
    rows = []
    for slot, files in docs.items():
        kind, _, item = slot.partition(":")
        rows += [document_row(f, submission_id=submission_id, station_id=station_id, kind=kind, item=item,
                              uploaded_by=user_id) for f in files]
    return rows


def document_row(file: dict[str, Any], *, submission_id: int, station_id: int | None, kind: str, uploaded_by: int,
                 item: str = "", created_at: datetime | None = None) -> Document:
    """A Document (not yet saved) for a file as the engine keeps it (`Upload.as_dict()`): ids only."""
    row = Document(
        submission_id=submission_id,
        station_id=station_id,
        kind=kind,
        item=item,
        file_id=file["file_id"],
        file_unique_id=file["file_unique_id"],
        file_name=file.get("file_name", ""),
        file_size=file.get("file_size"),
        mime_type=file.get("mime_type", ""),
        uploaded_by=uploaded_by,
    )
    if created_at is not None:
        row.created_at = created_at
    return row


async def latest_submitted(user_id: int, kind: SubmissionKind) -> Submission | None:
    """The latest submission of `kind` of the station the user acts for now, or, for someone bound
    to no station, the user's own (a contact who moved to another station gets the new station's)."""
    contact_stations = await Contact.filter(user_id=user_id, active=True).values_list("station_id", flat=True)
    query = Submission.filter(kind=kind).exclude(status=SubmissionStatus.DRAFT)
    if contact_stations:
        return await query.filter(station_id__in=contact_stations).order_by("-submitted_at").first()
    return await query.filter(created_by=user_id).order_by("-submitted_at").first()
