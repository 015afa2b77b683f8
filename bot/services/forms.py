"""The form use-cases: open a draft, walk it, save it after every step, submit it once.

Telegram-free: the generic dialog (handlers/forms.py) calls these with plain values; so could the
terminal chat, an import or another chat channel. What happens on submit is one function
(`submit`): re-check, one transaction for the submission, its documents and the staff notice,
then the printable form.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.clock import Clock, local_today
from bot.crypto import vault_for
from bot.forms.context import FilingView, FormContext, HistoryEntry, StationView
from bot.rules.decisions import ApplicationWindow
from bot.forms.engine import DOCS, FLAGS, FormSession
from bot.forms.spec import FormSpec, PrintRequest
from bot.rules.values import Invalid
from bot.services import staff
from bot.settings import Settings
from storage import queries, step, submissions, windows
from storage.models import Document, FilingObligation, Submission, SubmissionKind, SubmissionStatus


class StorageLookup:
    """What the forms' async checks may ask storage."""

    async def uscc_blocker(self, uscc: str) -> str | None:
        return await submissions.uscc_blocker(uscc)

    async def key_project_window(self, year: int) -> ApplicationWindow | None:
        window = await windows.window_of(year)
        if window is None:
            return None
        return ApplicationWindow(window.year, window.opens_on, window.closes_on, closed=window.closed_at is not None)


LOOKUP = StorageLookup()


async def form_context(spec: FormSpec, user_id: int, clock: Clock, settings: Settings, *,
                       with_station: bool = False) -> FormContext:
    """Today in the bureau's zone and, for forms that need it, the person's station and history."""
    station_view: StationView | None = None
    history: tuple[HistoryEntry, ...] = ()
    filings: tuple[FilingView, ...] = ()
    if spec.uses_station or with_station:
        station = await queries.station_of_user(user_id)
        if station is not None:
            station_view = StationView(
                id=station.id, name=station.name, state=str(station.state.value), unit_uscc=station.unit.uscc,
                recognised_on=station.recognised_on, school_enterprise=station.school_enterprise,
            )
            history = tuple(
                HistoryEntry(kind=str(s.kind.value), status=str(s.status.value), year=s.year,
                             submitted_on=s.submitted_at.astimezone(settings.tz).date() if s.submitted_at else None)
                for s in await queries.submissions_of_station(station.id)
            )
            filings = tuple(
                FilingView(f.year, str(f.state.value), f.due_on, f.extended_due_on)
                for f in await FilingObligation.filter(station_id=station.id).order_by("year")
            )
    context = FormContext(
        today=local_today(clock, settings.tz),
        now=clock.now(),
        user_id=user_id,
        station=station_view,
        history=history,
        filings=filings,
        settings={"tz_name": settings.tz_name},
        lookup=LOOKUP,
    )
    if spec.year_of is not None:
        context = replace(context, year=spec.year_of(context))
    return context


async def may_start(spec: FormSpec, user_id: int, clock: Clock, settings: Settings) -> Invalid | None:
    if spec.may_start is None:
        return None
    return await refusal(spec, await form_context(spec, user_id, clock, settings, with_station=True))


async def refusal(spec: FormSpec, context: FormContext) -> Invalid | None:
    """Why this person may not carry the act now (None: they may)."""
    if spec.may_start is None:
        return None
    answer = spec.may_start(context)
    return await answer if inspect.isawaitable(answer) else answer


async def open_draft(spec: FormSpec, user_id: int) -> tuple[int, bool]:
    """The person's draft of this form (a new one if none): its id, and whether it was resumed."""
    kind = SubmissionKind(spec.kind)
    draft = await submissions.draft_of(user_id, kind)
    if draft is not None:
        return draft.id, bool(draft.answers)
    return (await submissions.start_draft(user_id, kind)).id, False


async def load(spec: FormSpec, submission_id: int, user_id: int, lang: str, clock: Clock, settings: Settings) -> FormSession | None:
    """The draft as a session, only for the user who owns it and only while it is a draft."""
    loaded = await submissions.load_answers(submission_id, user_id)
    if loaded is None or loaded[0] != SubmissionStatus.DRAFT:
        return None
    open_step = step.current()
    recorded = open_step.draft_answers(submission_id, user_id) if open_step is not None else None
    answers = loaded[1] if recorded is None else recorded  # saved earlier in this update
    return FormSession(
        spec.form, answers, vault_for(settings), await form_context(spec, user_id, clock, settings),
        lang=lang, checks=spec.checks,
    )


async def save(submission_id: int, user_id: int, session: FormSession) -> bool:
    """Keep the answers; in the bot, written with the rest of the step when the update ends
    (one transaction, see storage.step)."""
    return await submissions.save_answers(submission_id, user_id, session.answers)


async def discard(submission_id: int, user_id: int) -> None:
    await submissions.discard_draft(submission_id, user_id)


async def submitted(submission_id: int, user_id: int, settings: Settings) -> tuple[str, datetime | None] | None:
    """The reference and time (local) of the person's submission, once it is no longer a draft."""
    rows = await Submission.filter(id=submission_id, created_by=user_id).exclude(
        status=SubmissionStatus.DRAFT).values_list("reference", "submitted_at")
    if not rows or not rows[0][0]:
        return None
    reference, at = rows[0]
    return reference, at.astimezone(settings.tz) if at else None


@dataclass(frozen=True)
class PrintedForm:
    filename: str
    content: bytes
    caption_key: str
    reference: str


@dataclass(frozen=True)
class SubmitOutcome:
    reference: str | None = None
    submitted_at: datetime | None = None  # in the bureau's zone
    already: bool = False  # submitted before (a second click): the first receipt
    error: Invalid | None = None  # refused now: shown on the summary
    closed: bool = False  # no such draft of this person any more
    receipt_params: dict[str, Any] = field(default_factory=dict)
    printed: PrintedForm | None = None


async def submit(spec: FormSpec, session: FormSession, submission_id: int, user_id: int, clock: Clock,
                 settings: Settings) -> SubmitOutcome:
    # May they still? (the window closed, a colleague filed or the station changed meanwhile)
    refused = await refusal(spec, session.context)
    if refused is not None:
        return SubmitOutcome(error=refused)
    # Things may have changed since an answer was checked (another unit declared meanwhile).
    for f in session.visible_fields():
        if f.async_checks and f.id in session.answers:
            for name in f.async_checks:
                problem = await spec.checks[name](session.answers[f.id], session.answers, session.context)
                if problem is not None:
                    return SubmitOutcome(error=problem)
    final = session.final_answers()
    plain = session.plain_answers()
    now = clock.now()
    today = local_today(clock, settings.tz)
    result = await submissions.submit(
        submission_id,
        user_id,
        final,
        uniqueness_key=spec.on_submit.uniqueness_key(final, session.context),
        reference_year=today.year,
        reference_prefix=spec.on_submit.reference_prefix,
        year=session.context.year or today.year,
        today=today,
        now=now,
        staff_notice=submissions.StaffNotice(
            recipients=await staff.staff_ids(settings),
            kind=spec.on_submit.staff_notice_kind,
            text_key=spec.on_submit.staff_notice_key,
            params=spec.on_submit.staff_notice_params(plain, session.context),
        ),
        station_id=session.context.station.id if session.context.station else None,
    )
    if result.blocked == "duplicate":
        return SubmitOutcome(error=Invalid(spec.on_submit.duplicate_reason))
    if result.blocked == "station_changed":
        return SubmitOutcome(error=Invalid("form.station_changed"))
    if result.blocked is not None:
        return SubmitOutcome(closed=True)
    submitted_at = (result.submitted_at or now).astimezone(settings.tz)
    if result.already:
        return SubmitOutcome(reference=result.reference, submitted_at=submitted_at, already=True)
    printed = await print_form(spec, plain, final, result.reference, submitted_at, session.context)
    receipt_params = spec.on_submit.receipt_params(plain, session.context)
    if inspect.isawaitable(receipt_params):  # it may ask storage (the key-project window's last day)
        receipt_params = await receipt_params
    return SubmitOutcome(
        reference=result.reference, submitted_at=submitted_at, receipt_params=receipt_params, printed=printed,
    )


async def print_form(spec: FormSpec, plain: dict[str, Any], final: dict[str, Any], reference: str | None,
                     submitted_at: datetime | None, context: FormContext | None = None) -> PrintedForm | None:
    printable = spec.on_submit.printable
    if printable is None:
        return None
    in_answers = final.get(DOCS, {})
    documents = [
        (slot.partition(":")[0], slot.partition(":")[2], f.get("file_name", ""))
        for slot, files in in_answers.items()
        for f in files
    ]
    documents += await _documents_added_later(reference, set(in_answers))
    request = PrintRequest(plain, documents, reference, submitted_at.date() if submitted_at else None, final.get(FLAGS, ()),
                           context)
    # About 0.1 s of CPU: off the event loop, so other users' updates are not held up.
    content = await asyncio.to_thread(printable.build, request)
    return PrintedForm(printable.filename.format(reference=reference or "draft"), content, printable.caption_key, reference or "")


async def _documents_added_later(reference: str | None, slots_in_answers: set[str]) -> list[tuple[str, str, str]]:
    """Materials uploaded after submitting (六(一)1: the signed and stamped form), which are documents
    of the submission but not among its answers: (kind, item, file name)."""
    if not reference:
        return []
    rows = await Document.filter(submission__reference=reference).order_by("id").values_list("kind", "item", "file_name")
    return [(kind, item, name) for kind, item, name in rows if (f"{kind}:{item}" if item else kind) not in slots_in_answers]


async def reprint(spec: FormSpec, user_id: int, lang: str, clock: Clock, settings: Settings) -> PrintedForm | None:
    """The printable form of the person's latest submission of this form, again."""
    submission = await submissions.latest_submitted(user_id, SubmissionKind(spec.kind))
    if submission is None:
        return None
    # The year it was for (not the one the form would be for now) decides what it showed.
    context = replace(await form_context(spec, user_id, clock, settings), year=submission.year)
    session = FormSession(spec.form, dict(submission.answers), vault_for(settings), context, lang=lang, checks=spec.checks)
    submitted_at = submission.submitted_at.astimezone(settings.tz) if submission.submitted_at else None
    return await print_form(spec, session.plain_answers(), session.final_answers(), submission.reference, submitted_at,
                            context)
