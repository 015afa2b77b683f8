"""/stations: find a station by name or USCC, and everything the bureau holds about it.

Telegram-free: `search` and `card` return plain data; handlers/staff/stations.py renders it. The
mentors come from the station's establishment declaration as stored, read through the form's own
definition (`answers_session`): personal numbers masked, as FormSession.display shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q

from bot.crypto import vault_for
from bot.forms.context import FormContext
from bot.forms.engine import Field, FormSession
from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.i18n import has_text, t
from bot.settings import Settings
from storage.models import (
    AnnouncementItem,
    Contact,
    FilingObligation,
    Funding,
    KeyProjectGrade,
    Objection,
    Station,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)

SEARCH_LIMIT = 20
HISTORY_LIMIT = 15


def spec_of(kind: str, specs: tuple[FormSpec, ...] = FORM_SPECS) -> FormSpec | None:
    return next((s for s in specs if s.kind == kind), None)


def answers_session(spec: FormSpec, answers: dict[str, Any], settings: Settings, lang: str) -> FormSession:
    """A read-only session over stored answers: `display` masks personal numbers, `printable`
    unseals them. It checks nothing, so its context is empty."""
    context = FormContext(today=date.min, now=datetime.min.replace(tzinfo=UTC))
    return FormSession(spec.form, dict(answers), vault_for(settings), context, lang=lang)


def group_fields(spec: FormSpec) -> list[Field]:
    return [f for f in spec.form.fields if f.kind == "group"]


# -- search ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    id: int
    name: str
    unit_name: str
    uscc: str
    state: str


async def search(term: str) -> tuple[list[Found], bool]:
    """Stations whose name or unit name contains `term`, or whose USCC contains it (an exact
    code first); at most SEARCH_LIMIT, and whether there were more. An empty term lists all."""
    term = " ".join(term.split())
    query = Station.all()
    code = "".join(term.split()).upper()
    if term:
        query = Station.filter(Q(name__icontains=term) | Q(unit__name__icontains=term) | Q(unit__uscc__icontains=code))
    rows = await query.select_related("unit").order_by("id").limit(SEARCH_LIMIT + 1)
    rows.sort(key=lambda s: s.unit.uscc != code)  # an exact code first
    found = [Found(s.id, s.name, s.unit.name, s.unit.uscc, str(s.state.value)) for s in rows[:SEARCH_LIMIT]]
    return found, len(rows) > SEARCH_LIMIT


# -- the card -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactLine:
    user_id: int
    role: str
    active: bool


@dataclass(frozen=True)
class SubmissionLine:
    kind: str
    status: str
    reference: str | None
    year: int | None
    submitted_at: datetime | None
    level: int | None


@dataclass(frozen=True)
class AnnouncementLine:
    announcement_id: int
    kind: str
    starts_on: date
    ends_on: date
    state: str
    reference: str | None
    objections: int


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    subject_type: str
    subject: str  # the submission's reference, the filing's year, or ""
    from_status: str | None
    to_status: str
    actor_kind: str
    reason: str


@dataclass(frozen=True)
class FilingLine:
    year: int
    due_on: date
    extended_due_on: date | None
    state: str
    reference: str | None


@dataclass(frozen=True)
class KeyProjectLine:
    reference: str | None
    year: int | None
    status: str
    level: int | None
    slot: int | None


@dataclass(frozen=True)
class FundingLine:
    reference: str | None
    level: int
    amount: Decimal
    paid_on: date | None
    recovery_required: bool
    recovery_amount: Decimal | None
    recovered_on: date | None


@dataclass(frozen=True)
class Card:
    station: Station  # with its unit
    contacts: list[ContactLine]
    mentor_label: str
    mentors: list[list[str]]  # each mentor's visible answers, as shown (numbers masked)
    submissions: list[SubmissionLine]
    announcements: list[AnnouncementLine]
    history: list[HistoryLine]
    history_total: int
    filings: list[FilingLine]
    key_projects: list[KeyProjectLine]
    fundings: list[FundingLine]


async def card(station_id: int, settings: Settings, lang: str) -> Card | None:
    station = await Station.filter(id=station_id).select_related("unit").first()
    if station is None:
        return None
    contacts = [
        ContactLine(c.user_id, str(c.role.value), c.active)
        for c in await Contact.filter(station_id=station_id).order_by("created_at", "id")
    ]
    submissions = await Submission.filter(station_id=station_id).exclude(status=SubmissionStatus.DRAFT).order_by("kind", "year", "id")
    by_id = {s.id: s for s in submissions}
    mentor_label, mentors = _mentors(submissions, settings, lang)
    items = await AnnouncementItem.filter(submission_id__in=list(by_id)).select_related("announcement").order_by("announcement_id")
    objection_counts: dict[int, int] = {}
    for item_id in await Objection.filter(item_id__in=[i.id for i in items]).values_list("item_id", flat=True):
        objection_counts[item_id] = objection_counts.get(item_id, 0) + 1
    announcements = [
        AnnouncementLine(i.announcement_id, str(i.announcement.kind.value), i.announcement.starts_on, i.announcement.ends_on,
                         str(i.announcement.state.value), by_id[i.submission_id].reference, objection_counts.get(i.id, 0))
        for i in items
    ]
    obligations = await FilingObligation.filter(station_id=station_id).order_by("year")
    filings = [
        FilingLine(o.year, o.due_on, o.extended_due_on, str(o.state.value),
                   by_id[o.submission_id].reference if o.submission_id in by_id else None)
        for o in obligations
    ]
    grades = {g.submission_id: g for g in await KeyProjectGrade.filter(submission_id__in=list(by_id))}
    key_projects = [
        KeyProjectLine(s.reference, s.year, str(s.status.value),
                       grades[s.id].level if s.id in grades else s.level, grades[s.id].slot if s.id in grades else None)
        for s in submissions if s.kind == SubmissionKind.KEY_PROJECT
    ]
    fundings = [
        FundingLine(by_id[f.submission_id].reference if f.submission_id in by_id else None, f.level, f.amount, f.paid_on,
                    f.recovery_required, f.recovery_amount, f.recovered_on)
        for f in await Funding.filter(station_id=station_id).order_by("id")
    ]
    subjects = (
        Q(subject_type="station", subject_id=station_id)
        | Q(subject_type="submission", subject_id__in=list(by_id) or [0])
        | Q(subject_type="filing", subject_id__in=[o.id for o in obligations] or [0])
    )
    total = await StatusTransition.filter(subjects).count()
    rows = list(reversed(await StatusTransition.filter(subjects).order_by("-at", "-id").limit(HISTORY_LIMIT)))
    years = {o.id: str(o.year) for o in obligations}
    history = [
        HistoryLine(
            r.at, r.subject_type,
            (by_id[r.subject_id].reference or "") if r.subject_type == "submission" and r.subject_id in by_id
            else years.get(r.subject_id, "") if r.subject_type == "filing" else "",
            r.from_status, r.to_status, r.actor_kind, r.reason,
        )
        for r in rows
    ]
    return Card(
        station=station, contacts=contacts, mentor_label=mentor_label, mentors=mentors,
        submissions=[SubmissionLine(str(s.kind.value), str(s.status.value), s.reference, s.year, s.submitted_at, s.level)
                     for s in submissions],
        announcements=announcements, history=history, history_total=total, filings=filings,
        key_projects=key_projects, fundings=fundings,
    )


def _mentors(submissions: list[Submission], settings: Settings, lang: str) -> tuple[str, list[list[str]]]:
    """The mentors of the latest establishment declaration, as its form shows them (masked)."""
    spec = spec_of(SubmissionKind.ESTABLISHMENT.value)
    declarations = [s for s in submissions if s.kind == SubmissionKind.ESTABLISHMENT]
    if spec is None or not group_fields(spec):
        return "", []
    group = group_fields(spec)[0]
    label = t_label(spec, group, lang)
    if not declarations:
        return label, []
    latest = max(declarations, key=lambda s: s.id)
    session = answers_session(spec, latest.answers, settings, lang)
    rows = []
    for item in latest.answers.get(group.id) or []:
        rows.append([session.display(sub, item.get(sub.id)) for sub in group.subfields
                     if sub.is_visible(item) and item.get(sub.id) not in (None, "")])
    return label, rows


def t_label(spec: FormSpec, f: Field, lang: str, group: Field | None = None) -> str:
    """A question's name in the locale, as the printed form names it (its `print` text, else its
    `label`): the one source of the form's column names."""
    base = f"form.{spec.form.id}.{group.id}.{f.id}" if group else f"form.{spec.form.id}.{f.id}"
    for key in (f"{base}.print", f"{base}.label"):
        if has_text(key):
            return t(lang, key)
    return f.id
