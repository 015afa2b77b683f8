"""Drafts and submissions: saved after every answer, submitted once, numbered SZJS-<year>-<serial>."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from storage import outbox
from storage.models import (
    BotUser,
    Contact,
    ContactRole,
    Document,
    EstablishmentMode,
    ReferenceCounter,
    Staff,
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
# Navigation state of the form: useful in a draft, meaningless once submitted.
NAVIGATION_KEYS = ("_at", "_mode", "_mentor", "_doc", "_unverified")
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
    """A submission's status and answers, only for the user who created it."""
    rows = await Submission.filter(id=submission_id, created_by=user_id).values_list("status", "answers")
    if not rows:
        return None
    status, answers = rows[0]
    return SubmissionStatus(status), dict(answers or {})


async def save_answers(submission_id: int, user_id: int, answers: dict[str, Any]) -> bool:
    """Keep a draft's answers; False if it is no longer a draft (submitted meanwhile)."""
    updated = await Submission.filter(id=submission_id, created_by=user_id, status=SubmissionStatus.DRAFT).update(
        answers=answers
    )
    return updated == 1


async def discard_draft(submission_id: int, user_id: int) -> None:
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
    blocked: str | None = None  # "active" | "pending"


async def submit_declaration(
    submission_id: int, user_id: int, answers: dict[str, Any], today: date, now: datetime
) -> SubmitResult:
    """Turn a complete draft into a submitted declaration: unit, station, contact, documents.

    Idempotent: a second call (a double click) finds no draft and returns the first receipt.
    The database refuses a second pending declaration for the same USCC (uniqueness_key).
    """
    existing = await Submission.get_or_none(id=submission_id, created_by=user_id)
    if existing is None:
        return SubmitResult(blocked="missing")
    if existing.status != SubmissionStatus.DRAFT:
        return SubmitResult(reference=existing.reference, submitted_at=existing.submitted_at, already=True)
    uscc = str(answers["uscc"])
    blocker = await uscc_blocker(uscc)
    if blocker is not None:
        return SubmitResult(blocked=blocker)
    stored = {k: v for k, v in answers.items() if k not in NAVIGATION_KEYS}
    try:
        async with in_transaction():
            claimed = await Submission.filter(id=submission_id, status=SubmissionStatus.DRAFT).update(
                status=SubmissionStatus.SUBMITTED,
                uniqueness_key=f"establishment:{uscc}",
                submitted_at=now,
                answers=stored,
            )
            if claimed != 1:
                raise _AlreadySubmitted
            unit = await _upsert_unit(uscc, answers)
            station = await Station.create(
                unit=unit,
                name=answers["station_name"],
                mode=EstablishmentMode(answers["mode"]),
                partner_name=answers.get("partner_name", ""),
                school_enterprise=answers.get("mode") == "co_built" and answers.get("partner_is_college") == "yes",
                state=StationState.APPLYING,
            )
            reference = await next_reference(today.year)
            await Submission.filter(id=submission_id).update(unit=unit, station=station, reference=reference, year=today.year)
            user, _ = await BotUser.get_or_create(id=user_id)
            await Contact.get_or_create(user=user, station=station, defaults={"role": ContactRole.APPLICANT})
            await Document.bulk_create(_documents(stored.get("_docs", {}), submission_id, station.id, user_id))
            await StatusTransition.bulk_create(
                [
                    StatusTransition(subject_type="submission", subject_id=submission_id, from_status="draft",
                                     to_status="submitted", actor_id=user_id),
                    StatusTransition(subject_type="station", subject_id=station.id, from_status=None,
                                     to_status="applying", actor_id=user_id),
                ]
            )
    except _AlreadySubmitted:
        again = await Submission.get(id=submission_id)
        return SubmitResult(reference=again.reference, submitted_at=again.submitted_at, already=True)
    except IntegrityError:
        # Another declaration for this USCC got in between our check and our insert.
        return SubmitResult(blocked="pending")
    return SubmitResult(reference=reference, submitted_at=now)


class _AlreadySubmitted(Exception):
    """Raised inside the transaction to roll it back when another click won."""


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


def _documents(docs: dict[str, list[dict[str, Any]]], submission_id: int, station_id: int, user_id: int) -> list[Document]:
    rows = []
    for slot, files in docs.items():
        kind, _, item = slot.partition(":")
        for f in files:
            rows.append(
                Document(
                    submission_id=submission_id,
                    station_id=station_id,
                    kind=kind,
                    item=item,
                    file_id=f["file_id"],
                    file_unique_id=f["file_unique_id"],
                    file_name=f.get("file_name", ""),
                    file_size=f.get("file_size"),
                    mime_type=f.get("mime_type", ""),
                    uploaded_by=user_id,
                )
            )
    return rows


async def notify_staff(configured_staff: set[int], kind: str, subject: str, period: str, text_key: str,
                       params: dict[str, Any], now: datetime) -> int:
    """Queue a notice to every member of staff (configured and granted in the bot)."""
    granted = await Staff.filter(active=True).values_list("user_id", flat=True)
    queued = 0
    for staff_id in sorted(configured_staff | set(granted)):
        queued += await outbox.enqueue(staff_id, kind, subject, period, text_key, now, params)
    return queued


async def latest_declaration(user_id: int) -> Submission | None:
    """The user's most recent submitted declaration, or that of the station they act for."""
    contact_stations = await Contact.filter(user_id=user_id, active=True).values_list("station_id", flat=True)
    query = Submission.filter(kind=SubmissionKind.ESTABLISHMENT).exclude(status=SubmissionStatus.DRAFT)
    mine = await query.filter(created_by=user_id).order_by("-submitted_at").first()
    if mine is not None or not contact_stations:
        return mine
    return await query.filter(station_id__in=contact_stations).order_by("-submitted_at").first()
