"""The signed and stamped 申报表 (六(一)1), uploaded after submit: which declaration it belongs to,
which files are taken, storing it and telling staff.

The contact uploads it for their own latest submitted establishment declaration, while that
declaration still waits for it: in the states from which a transition requires it (the life
cycle's guard of "accept for review"). Every upload is kept; the newest version is the one in
force. Telegram-free: the handler (handlers/stamped_form.py) passes plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from bot.clock import Clock
from bot.forms.engine import MAX_FILE_SIZE, Upload
from bot.rules.lifecycle import STAMPED_FORM, lifecycle_of
from bot.rules.values import Invalid
from bot.services import staff
from bot.settings import Settings
from storage import stamped_forms, submissions
from storage.models import SubmissionKind

# A scan or a photo of the signed paper: a Word file would be the unsigned form again.
ACCEPTED_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png")
ACCEPTED_MIME_TYPES = ("application/pdf", "image/jpeg", "image/png")
# The declaration states in which the stamped form is still awaited (today: submitted).
AWAITED_IN = lifecycle_of(SubmissionKind.ESTABLISHMENT.value).awaiting(STAMPED_FORM)


def check_scan(file: Upload) -> Invalid | None:
    if file.file_size is not None and file.file_size > MAX_FILE_SIZE:
        return Invalid("file.too_big", {"mb": round(file.file_size / 1024 / 1024, 1)})
    name = file.file_name.lower()
    if not (name.endswith(ACCEPTED_EXTENSIONS) or file.mime_type in ACCEPTED_MIME_TYPES):
        return Invalid("stamped_form.type")
    return None


@dataclass(frozen=True)
class Target:
    """The declaration an upload would go to, or why there is none.

    `problem`: None (it awaits the form), "none" (no submitted declaration), or "closed" (it is
    past the point where the form is awaited: accepted for review, rejected, withdrawn ...).
    """

    problem: str | None
    submission_id: int | None = None
    reference: str = ""
    status: str = ""
    versions: int = 0
    unit: str = ""  # the unit and station the declaration names (for the staff notice)
    station: str = ""


async def target(user_id: int) -> Target:
    submission = await submissions.latest_submitted(user_id, SubmissionKind.ESTABLISHMENT)
    if submission is None:
        return Target(problem="none")
    status = str(submission.status.value)
    held = (await stamped_forms.stamped_forms([submission.id])).get(submission.id)
    return Target(
        problem=None if status in AWAITED_IN else "closed",
        submission_id=submission.id,
        reference=submission.reference or "",
        status=status,
        versions=held.versions if held else 0,
        unit=str((submission.answers or {}).get("unit_name", "")),
        station=str((submission.answers or {}).get("station_name", "")),
    )


@dataclass(frozen=True)
class UploadOutcome:
    target: Target
    error: Invalid | None = None  # the file was refused: ask again
    version: int | None = None  # stored as this version


async def upload(user_id: int, file: Upload, clock: Clock, settings: Settings) -> UploadOutcome:
    problem = check_scan(file)
    found = await target(user_id)
    if found.problem is not None or found.submission_id is None:
        return UploadOutcome(target=found)
    if problem is not None:
        return UploadOutcome(target=found, error=problem)
    stored = await stamped_forms.store(
        found.submission_id,
        user_id,
        file.as_dict(),
        accepted_states=AWAITED_IN,
        now=clock.now(),
        staff_recipients=await staff.staff_ids(settings),
        notice_params={"unit": found.unit, "station": found.station},
    )
    if stored is None:  # it left the awaited state meanwhile (staff acted on it)
        return UploadOutcome(target=await target(user_id))
    return UploadOutcome(target=found, version=stored.version)
