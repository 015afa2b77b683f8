"""Drafts and submissions: saved after every answer, submitted once, numbered SZJS-<year>-<serial>."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.rules.lifecycle import Actor
from storage import outbox, step, transitions
from storage.models import (
    BotUser,
    Contact,
    ContactRole,
    Document,
    EstablishmentMode,
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


async def next_reference(year: int) -> str:
    """The next receipt number of the year; call inside a transaction (the UPDATE locks the row)."""
    counter = await ReferenceCounter.get_or_none(prefix=REFERENCE_PREFIX, year=year)
    if counter is None:
        await ReferenceCounter.bulk_create(
            [ReferenceCounter(prefix=REFERENCE_PREFIX, year=year, last_serial=0)], ignore_conflicts=True
        )
    await ReferenceCounter.filter(prefix=REFERENCE_PREFIX, year=year).update(last_serial=F("last_serial") + 1)
    serial = await ReferenceCounter.filter(prefix=REFERENCE_PREFIX, year=year).values_list("last_serial", flat=True)
    return f"{REFERENCE_PREFIX}-{year}-{serial[0]:04d}"


@dataclass(frozen=True)
class SubmitResult:
    reference: str | None = None
    submitted_at: datetime | None = None
    already: bool = False  # it had been submitted before (a second click)
    blocked: str | None = None  # "missing" (no such draft of this user) | "duplicate" (the "one per ..." key is taken)
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
) -> SubmitResult:
    """Turn a complete draft into a submission, in one transaction: the status, the receipt
    number, what the kind creates (a declaration creates its unit, station and contact), the
    documents, and the staff notice. Either all of it is written or nothing.

    Idempotent: a second call (a double click) finds no draft and returns the first receipt.
    The database refuses a second submission under the same `uniqueness_key`.
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
            reference = await next_reference(reference_year)
            try:
                await transitions.apply_transition(
                    "submission", submission_id, "submit", actor_id=user_id, actor=Actor.CONTACT, now=now,
                    expected_state=SubmissionStatus.DRAFT.value,
                    changes={"uniqueness_key": uniqueness_key, "submitted_at": now, "answers": answers,
                             "reference": reference, "year": reference_year},
                )
            except transitions.TransitionRefused as refused:
                raise _AlreadySubmitted from refused
            materialise = _MATERIALISE.get(SubmissionKind(existing.kind))
            if materialise is not None:
                station_id = await materialise(submission_id, user_id, answers, now)
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
    except IntegrityError:
        # Another submission under the same "one per ..." key got in first.
        return SubmitResult(blocked="duplicate")
    step.no_longer_a_draft(submission_id)
    return SubmitResult(reference=reference, submitted_at=now, station_id=station_id)


class _AlreadySubmitted(Exception):
    """Raised inside the transaction to roll it back when another click won."""


async def _establish_station(submission_id: int, user_id: int, answers: dict[str, Any], now: datetime) -> int:
    """A declaration creates (or refreshes) its unit, an applying station and its first contact."""
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


_MATERIALISE = {SubmissionKind.ESTABLISHMENT: _establish_station}


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
    """The user's most recent submission of `kind`, or that of the station they act for."""
    contact_stations = await Contact.filter(user_id=user_id, active=True).values_list("station_id", flat=True)
    query = Submission.filter(kind=kind).exclude(status=SubmissionStatus.DRAFT)
    mine = await query.filter(created_by=user_id).order_by("-submitted_at").first()
    if mine is not None or not contact_stations:
        return mine
    return await query.filter(station_id__in=contact_stations).order_by("-submitted_at").first()
