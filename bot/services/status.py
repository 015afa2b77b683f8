"""What /status says and which forms the main menu offers, as plain data (Telegram-free).

A contact of a recognised station reads its station, its annual filings by year and where each
stands (R10, R11: `bot.rules.filing.filing_standing`), its key projects (level when graded, funding
when funded), its requests awaiting the bureau, the drafts in progress and the one thing due next
with its date and the command that does it. Applicants (a declared station not yet recognised, or
no station) keep the view of their declaration; staff the city overview. Dates are the bureau's
(settings.tz) from the injected clock.

Which forms a person may start now is asked of the forms' own `may_start` (bot.services.forms),
over one context shared by every spec: the menu costs the station's queries once, not once per form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from bot.clock import Clock, local_today
from bot.forms.context import FormContext
from bot.forms.spec import FormSpec
from bot.rules.filing import FILED, filing_opens_on, filing_standing, years_to_file
from bot.rules.lifecycle import filing_due_on
from bot.services import forms as form_service
from bot.services import stamped_form
from bot.settings import Settings
from storage import queries, stamped_forms, submissions
from storage.models import (
    FilingObligation,
    Funding,
    KeyProjectWindow,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

# Stations that hold a plaque and so owe their filings (R10); revoked and deregistered ones keep
# their history but owe nothing more.
OWING_STATES = frozenset({
    StationState.ACTIVE, StationState.OVERDUE, StationState.REVOCATION_CANDIDATE, StationState.DEREGISTRATION_REQUESTED,
})
# Requests the bureau decides (R11, R14): shown while they wait for it.
REQUEST_KINDS = (SubmissionKind.EXTENSION, SubmissionKind.DEREGISTRATION)
AWAITING_BUREAU = (SubmissionStatus.SUBMITTED, SubmissionStatus.UNDER_REVIEW)


# -- which forms may be started now ------------------------------------------------------------------


async def shared_context(specs: Sequence[FormSpec], user_id: int, clock: Clock, settings: Settings) -> FormContext | None:
    """One form context with the person's station, for every spec's `may_start` (None: no spec asks)."""
    first = next((spec for spec in specs if spec.may_start is not None), None)
    if first is None:
        return None
    return await form_service.form_context(first, user_id, clock, settings, with_station=True)


async def may_start_now(spec: FormSpec, context: FormContext | None) -> bool:
    if spec.may_start is None or context is None:
        return True
    own = replace(context, year=spec.year_of(context) if spec.year_of is not None else None)
    return await form_service.refusal(spec, own) is None


async def startable(specs: Sequence[FormSpec], user_id: int, clock: Clock, settings: Settings) -> tuple[FormSpec, ...]:
    """The specs this person may start now, in their order (what the main menu offers)."""
    context = await shared_context(specs, user_id, clock, settings)
    return tuple([spec for spec in specs if await may_start_now(spec, context)])


# -- /status as data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionLine:
    kind: str
    reference: str
    status: str
    stamped_versions: int | None = None  # a declaration's signed and stamped form, when in
    stamped_on: date | None = None
    stamped_awaited: bool = False


@dataclass(frozen=True)
class FilingLine:
    """The filing for a year and where it stands: filed_on_time / filed_late (`on`: the day it was
    filed), extended (`on`: to), overdue (`on`: since), due (`on`: by), not_due (`on`: opens)."""

    year: int
    standing: str
    on: date | None
    deadline: date
    reference: str = ""


@dataclass(frozen=True)
class KeyProjectLine:
    reference: str
    year: int | None
    status: str
    level: int | None = None
    amount: Decimal | None = None
    paid_on: date | None = None


@dataclass(frozen=True)
class RequestLine:
    kind: str
    reference: str
    year: int | None
    submitted_on: date | None


@dataclass(frozen=True)
class NextStep:
    """The nearest thing to do: file (by `on`), file_overdue (since `on`), extension_pending (the
    bureau decides; the deadline meanwhile `on`), key_project (the window closes `on`),
    request_pending (the bureau decides), filing_opens (nothing due; the next window opens `on`)."""

    what: str
    on: date | None = None
    year: int | None = None
    command: str | None = None  # of the form that does it, when one is registered
    kind: str = ""
    reference: str = ""


@dataclass(frozen=True)
class DraftLine:
    title_key: str
    saved: str  # the bureau's local time, "YYYY-MM-DD HH:MM"
    command: str


@dataclass(frozen=True)
class StationStatus:
    name: str
    unit: str
    state: str
    recognised_on: date | None
    recognised: bool  # past its declaration: filings, key projects, requests and next step apply
    submissions: tuple[SubmissionLine, ...] = ()
    filings: tuple[FilingLine, ...] = ()
    key_projects: tuple[KeyProjectLine, ...] = ()
    requests: tuple[RequestLine, ...] = ()
    next: NextStep | None = None


@dataclass(frozen=True)
class Status:
    overview: queries.Overview | None = None  # staff
    station: StationStatus | None = None  # a contact's own station
    submissions: tuple[SubmissionLine, ...] = ()  # without a station: what the person submitted
    drafts: tuple[DraftLine, ...] = ()


async def status_of(user_id: int, *, is_staff: bool, specs: Sequence[FormSpec], clock: Clock,
                    settings: Settings) -> Status:
    if is_staff:
        return Status(overview=await queries.overview())
    drafts = await _drafts(user_id, specs, settings)
    station = await queries.station_of_user(user_id)
    if station is None:
        items = await queries.submissions_of_user(user_id)
        return Status(submissions=await _submission_lines(items, settings), drafts=drafts)
    return Status(station=await _station_status(station, user_id, specs, clock, settings), drafts=drafts)


def _local_date(submission: Submission, settings: Settings) -> date | None:
    return submission.submitted_at.astimezone(settings.tz).date() if submission.submitted_at else None


def _command_of(specs: Sequence[FormSpec], kind: SubmissionKind) -> str | None:
    return next((spec.command for spec in specs if spec.kind == kind.value), None)


async def _station_status(station: Station, user_id: int, specs: Sequence[FormSpec], clock: Clock,
                          settings: Settings) -> StationStatus:
    recognised = station.recognised_on is not None or station.state not in (
        StationState.APPLYING, StationState.NOT_ESTABLISHED,
    )
    items = await queries.submissions_of_station(station.id)
    base = StationStatus(
        name=station.name, unit=station.unit.name, state=str(station.state.value),
        recognised_on=station.recognised_on, recognised=recognised,
    )
    if not recognised:
        # Still the declaration: today's view of it (and its stamped form).
        return replace(base, submissions=await _submission_lines(items, settings))
    today = local_today(clock, settings.tz)
    waiting = [s for s in items if s.kind in REQUEST_KINDS and s.status in AWAITING_BUREAU]
    requests = tuple(RequestLine(str(s.kind.value), s.reference or "", s.year, _local_date(s, settings)) for s in waiting)
    projects = [s for s in items if s.kind == SubmissionKind.KEY_PROJECT]
    # The rest (the declaration, the filings, decided requests) as the record of what was sent.
    shown_apart = {s.id for s in projects} | {s.id for s in waiting}
    filings = await _filing_lines(station, items, today, settings)
    return replace(
        base,
        submissions=await _submission_lines([s for s in items if s.id not in shown_apart], settings),
        filings=filings,
        key_projects=await _key_project_lines(projects),
        requests=requests,
        next=await _next_step(station, user_id, filings, requests, specs, clock, settings, today),
    )


async def _filing_lines(station: Station, items: list[Submission], today: date, settings: Settings) -> tuple[FilingLine, ...]:
    obligations = {f.year: f for f in await FilingObligation.filter(station_id=station.id)}
    filed_by = {s.year: s for s in items if s.kind == SubmissionKind.ANNUAL_FILING and s.year is not None}
    by_id = {s.id: s for s in items}
    states = {year: str(f.state.value) for year, f in obligations.items()}
    years = set(obligations) | set(filed_by)
    if station.state in OWING_STATES:
        years |= set(years_to_file(station.recognised_on, today, {**states, **{
            year: "filed_on_time" for year in filed_by if year not in states
        }}))
    lines = []
    for year in sorted(years):
        obligation = obligations.get(year)
        filing = (by_id.get(obligation.submission_id) if obligation and obligation.submission_id else None) or filed_by.get(year)
        filed_on = _local_date(filing, settings) if filing is not None else None
        deadline = (obligation.extended_due_on or obligation.due_on) if obligation else filing_due_on(year)
        state = states.get(year)
        if state is None and filed_on is not None:
            # A filing without its obligation row (written before obligations were): on time or not.
            state = "filed_on_time" if filed_on <= deadline else "filed_late"
        standing = filing_standing(year, state, deadline, today)
        on = {
            "extended": deadline,
            "due": deadline,
            "overdue": deadline + timedelta(days=1),
            "not_due": filing_opens_on(year),
        }.get(standing, filed_on)
        lines.append(FilingLine(year, standing, on, deadline, (filing.reference or "") if filing else ""))
    return tuple(lines)


async def _key_project_lines(projects: list[Submission]) -> tuple[KeyProjectLine, ...]:
    fundings = {f.submission_id: f for f in await Funding.filter(submission_id__in=[p.id for p in projects])} if projects else {}
    lines = []
    for p in projects:
        funding = fundings.get(p.id)
        lines.append(KeyProjectLine(
            reference=p.reference or "", year=p.year, status=str(p.status.value), level=p.level,
            amount=funding.amount if funding else None, paid_on=funding.paid_on if funding else None,
        ))
    return tuple(lines)


async def _next_step(station: Station, user_id: int, filings: tuple[FilingLine, ...], requests: tuple[RequestLine, ...],
                     specs: Sequence[FormSpec], clock: Clock, settings: Settings, today: date) -> NextStep | None:
    filing_command = _command_of(specs, SubmissionKind.ANNUAL_FILING)
    extensions = {r.year: r for r in requests if r.kind == SubmissionKind.EXTENSION.value}
    candidates: list[NextStep] = []
    # While a deregistration request is decided the station files nothing (the filing form says so).
    filing_now = station.state != StationState.DEREGISTRATION_REQUESTED
    for f in filings:
        if not filing_now or f.standing not in ("due", "extended", "overdue"):
            continue
        pending = extensions.get(f.year)
        if pending is not None:
            candidates.append(NextStep("extension_pending", f.deadline, f.year, filing_command,
                                       kind=pending.kind, reference=pending.reference))
        elif f.standing == "overdue":
            candidates.append(NextStep("file_overdue", f.on, f.year, filing_command))
        else:
            candidates.append(NextStep("file", f.deadline, f.year, filing_command))
    project = next((spec for spec in specs if spec.kind == SubmissionKind.KEY_PROJECT.value), None)
    if project is not None:
        window = await KeyProjectWindow.filter(opens_on__lte=today, closes_on__gte=today, closed_at=None).order_by("closes_on").first()
        if window is not None and await may_start_now(project, await shared_context([project], user_id, clock, settings)):
            candidates.append(NextStep("key_project", window.closes_on, window.year, project.command))
    if candidates:
        # The nearest date first; an overdue filing's date is past, so it comes before all else.
        return min(candidates, key=lambda c: (c.on or date.max, c.what != "file_overdue"))
    if requests:
        first = requests[0]
        return NextStep("request_pending", kind=first.kind, reference=first.reference)
    if station.state not in OWING_STATES:
        return None
    owed = [f.year for f in filings if f.standing not in FILED]
    year = max([today.year, *owed])
    return NextStep("filing_opens", filing_opens_on(year), year, filing_command)


async def _submission_lines(items: Sequence[Submission], settings: Settings) -> tuple[SubmissionLine, ...]:
    """One line per submission; a declaration says whether its stamped 申报表 is in or awaited."""
    declarations = [s.id for s in items if s.kind == SubmissionKind.ESTABLISHMENT]
    stamped = await stamped_forms.stamped_forms(declarations) if declarations else {}
    lines = []
    for s in items:
        line = SubmissionLine(str(s.kind.value), s.reference or "", str(s.status.value))
        if s.kind == SubmissionKind.ESTABLISHMENT:
            held = stamped.get(s.id)
            if held is not None:
                line = replace(line, stamped_versions=held.versions,
                               stamped_on=held.latest_at.astimezone(settings.tz).date())
            elif s.status.value in stamped_form.AWAITED_IN:
                line = replace(line, stamped_awaited=True)
        lines.append(line)
    return tuple(lines)


async def _drafts(user_id: int, specs: Sequence[FormSpec], settings: Settings) -> tuple[DraftLine, ...]:
    """A draft in progress of each form, and the command that resumes it."""
    lines = []
    for spec in specs:
        draft = await submissions.draft_of(user_id, SubmissionKind(spec.kind))
        if draft is not None:
            saved = draft.updated_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            lines.append(DraftLine(spec.text("title"), saved, spec.command))
    return tuple(lines)
