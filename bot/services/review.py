"""The bureau's review of submissions, without Telegram: the queues, what an item shows, the acts.

- `queues()`: for every kind of submission, the states in which it waits for a review act of
  staff (derived from the life cycles, so a kind that gains a form shows up by itself), with
  counts; other waiting lists (objections, revocation candidates) join through `EXTRA_QUEUES`.
- `item_view()`: every answer through the form definition (personal numbers masked unless
  revealed), the unverified marks, the stamped form, the documents, the history, and the acts
  staff may take from the current state.
- `act()`: one act through `storage.transitions.apply_transition` with the staff actor; a
  declaration that ends there (rejected, disqualified) ends its applying station too, in the same
  transaction. Refusals come back as their code (stale, materials_missing ...), never raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from datetime import date, datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.clock import Clock, local_today
from bot.crypto import vault_for
from bot.forms.context import FormContext
from bot.forms.engine import DOCS, Field, FormSession
from bot.forms.registry import FORM_SPECS
from bot.forms.spec import FormSpec
from bot.i18n import has_text, t, transition_reason
from bot.rules.lifecycle import STAMPED_FORM, SUBMISSION_KINDS, Actor, lifecycle_of
from bot.services import supervision
from bot.services.forms import LOOKUP, PrintedForm, print_form
from bot.settings import Settings
from storage import announcements
from storage import review as store
from storage import stamped_forms
from storage.models import Station, StationState, Submission
from storage.transitions import TransitionRefused, apply_transition, history

# The acts that make a (kind, state) a review queue: what staff decide on a submission.
QUEUE_ACTIONS = frozenset(
    {"accept_for_review", "reject", "record_review_pass", "record_review_fail", "grade", "not_select", "approve", "refuse"}
)
# The acts this module carries out. Grading (R8 levels), approving an extension (its date) and
# deciding a deregistration (the station follows) belong to their own modules.
ACTS = ("accept_for_review", "record_review_pass", "record_review_fail", "not_select", "reject", "disqualify")
# Acts that ask staff for a text first: the reason the life cycle requires, or the experts' comment.
COMMENTED = frozenset({"record_review_pass"})
# A declaration ending in one of these states ends its applying station (六(二)).
ENDS_DECLARATION = frozenset({"rejected", "disqualified"})
PERSONAL_KINDS = frozenset({"resident_id", "mobile"})
QUEUE_LIMIT = 200


@dataclass(frozen=True)
class Queue:
    kind: str
    status: str
    count: int


@dataclass(frozen=True)
class ExtraQueue:
    """A waiting list kept elsewhere (objections, revocation candidates): counted on /pending and
    opened with its own command."""

    label_key: str
    command: str
    count: Callable[[date], Awaitable[int]]  # given today in the bureau's zone


async def _pending_objections(today: date) -> int:
    return len(await announcements.pending_objections())


async def _revocation_candidates(today: date) -> int:
    return len(await supervision.candidates(today))


EXTRA_QUEUES: list[ExtraQueue] = [
    ExtraQueue("staff.queue.objections", "objections", _pending_objections),
    ExtraQueue("staff.queue.revocation_candidates", "supervision", _revocation_candidates),
]


def review_queues() -> list[tuple[str, str]]:
    """(kind, state) pairs where a submission waits for a review act, in life-cycle order."""
    queues = []
    for kind in SUBMISSION_KINDS:
        cycle = lifecycle_of(kind)
        sources = {
            source
            for transition in cycle.transitions
            if transition.action in QUEUE_ACTIONS and transition.allows(Actor.STAFF)
            for source in transition.sources
        }
        queues += [(kind, state) for state in cycle.states if state in sources]
    return queues


async def queues(today: date) -> tuple[list[Queue], list[tuple[ExtraQueue, int]]]:
    counts = await store.queue_counts(review_queues())
    submission_queues = [Queue(kind, status, counts[(kind, status)]) for kind, status in review_queues()]
    extra = [(queue, await queue.count(today)) for queue in EXTRA_QUEUES]
    return submission_queues, extra


async def queue_items(kind: str, status: str) -> list[store.QueueItem]:
    if (kind, status) not in review_queues():
        return []
    return await store.queue_items(kind, status, limit=QUEUE_LIMIT)


def spec_for(kind: str) -> FormSpec | None:
    return next((spec for spec in FORM_SPECS if spec.kind == kind), None)


def needs_text(action: str) -> bool:
    transition = lifecycle_of("establishment").transition(action) or lifecycle_of("key_project").transition(action)
    return action in COMMENTED or bool(transition and transition.reason_required)


@dataclass(frozen=True)
class DocumentRef:
    file_id: str
    file_name: str
    mime_type: str
    label: str

    @property
    def is_photo(self) -> bool:
        """Sent as a photo (a photo's file id cannot be sent as a document)."""
        return self.mime_type == "image/jpeg" and self.file_name.startswith("photo_")


@dataclass(frozen=True)
class ItemView:
    id: int
    kind: str
    status: str
    reference: str
    text: str
    documents: list[DocumentRef] = field(default_factory=list)
    actions: tuple[str, ...] = ()
    printable: bool = False
    has_personal: bool = False
    revealed: bool = False


def _session(spec: FormSpec, submission: Submission, lang: str, clock: Clock, settings: Settings) -> FormSession:
    context = FormContext(
        today=local_today(clock, settings.tz), now=clock.now(), user_id=submission.created_by,
        settings={"tz_name": settings.tz_name}, lookup=LOOKUP,
    )
    return FormSession(spec.form, dict(submission.answers or {}), vault_for(settings), context, lang=lang,
                       checks=spec.checks)


def _label(lang: str, form_id: str, path: str) -> str:
    for suffix in ("label", "print", "q"):
        key = f"form.{form_id}.{path}.{suffix}"
        if has_text(key):
            return t(lang, key)
    return path


def _is_personal(f: Field) -> bool:
    return f.personal or f.kind in PERSONAL_KINDS


def _value(session: FormSession, f: Field, stored: Any, reveal: bool) -> str:
    """An answer as staff read it (HTML-escaped: the bot speaks HTML)."""
    if reveal and _is_personal(f):
        return escape(session.printable(f, stored))
    return escape(session.display(f, stored))


def _answer_lines(session: FormSession, lang: str, reveal: bool) -> list[str]:
    form = session.form
    lines = []
    for f in session.visible_fields():
        if f.kind == "documents":
            continue
        label = _label(lang, form.id, f.id)
        if f.kind == "group":
            items = session.answers.get(f.id) or []
            lines.append(f"{label}（{len(items)}）：")
            for n, item in enumerate(items, start=1):
                parts = [
                    f"{_label(lang, form.id, f'{f.id}.{sub.id}')}：{_value(session, sub, item[sub.id], reveal)}"
                    for sub in f.subfields
                    if sub.id in item and sub.is_visible(item)
                ]
                lines.append(f"  {n}. " + "；".join(parts))
            continue
        if f.answered_by == "file":
            shown = escape(session.display(f, True)) if session.answers.get(DOCS, {}).get(f.id) else ""
        elif f.id in session.answers:
            shown = _value(session, f, session.answers[f.id], reveal)
        else:
            shown = ""
        if shown and session.is_unverified(f.id):
            shown += t(lang, "form.unverified_mark")
        lines.append(f"{label}：{shown or t(lang, 'form.unanswered')}")
    return lines


def _has_personal(spec: FormSpec | None) -> bool:
    if spec is None:
        return False
    return any(_is_personal(sub) for f in spec.form.fields for sub in (f, *f.subfields))


def _local(moment: datetime | None, settings: Settings) -> str:
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def _document_label(lang: str, kind: str, item: str) -> str:
    label = t(lang, f"document.{kind}") if has_text(f"document.{kind}") else kind
    if kind == STAMPED_FORM:
        label = t(lang, "staff.review.stamped_form")
    if item.isdigit():
        return t(lang, "document.of_item", n=item, label=label)
    return label


def available_acts(kind: str, status: str) -> tuple[str, ...]:
    offered = {transition.action for transition in lifecycle_of(kind).available(status, Actor.STAFF)}
    return tuple(action for action in ACTS if action in offered)


async def item_view(submission_id: int, lang: str, clock: Clock, settings: Settings, *, reveal: bool = False) -> ItemView | None:
    submission = await store.submission_with_names(submission_id)
    if submission is None or str(submission.status) == "draft":
        return None
    kind, status = str(submission.kind.value), str(submission.status.value)
    reference = submission.reference or f"#{submission.id}"
    spec = spec_for(kind)
    lines = [
        t(lang, "staff.review.title", kind=t(lang, f"submission_kind.{kind}"), reference=reference),
        t(lang, "staff.review.status", status=t(lang, f"submission_status.{status}")),
    ]
    if submission.unit is not None:
        lines.append(t(lang, "staff.review.unit", unit=escape(submission.unit.name)))
    if submission.station is not None:
        lines.append(t(lang, "staff.review.station", station=escape(submission.station.name)))
    lines.append(t(lang, "staff.review.submitted", at=_local(submission.submitted_at, settings)))

    session = _session(spec, submission, lang, clock, settings) if spec is not None else None
    if session is not None and any(session.is_unverified(f.id) for f in session.visible_fields()):
        lines.append(t(lang, "staff.review.unverified"))
    if STAMPED_FORM in {doc for tr in lifecycle_of(kind).transitions for doc in tr.requires_documents}:
        found = (await stamped_forms.stamped_forms([submission.id])).get(submission.id)
        if found is None:
            lines.append(t(lang, "staff.review.stamped_missing"))
        else:
            lines.append(t(lang, "staff.review.stamped_in", versions=found.versions,
                           on=found.latest_at.astimezone(settings.tz).strftime("%Y-%m-%d")))

    lines += ["", t(lang, "staff.review.answers_revealed" if reveal else "staff.review.answers")]
    if session is not None:
        lines += _answer_lines(session, lang, reveal)
    else:
        lines.append(t(lang, "staff.review.no_form"))

    documents = [
        DocumentRef(d.file_id, d.file_name, d.mime_type, _document_label(lang, d.kind, d.item))
        for d in await store.documents_of(submission.id)
    ]
    lines += ["", t(lang, "staff.review.documents", n=len(documents))]
    lines += [f"  · {d.label}：{escape(d.file_name)}" for d in documents]

    lines += ["", t(lang, "staff.review.history")]
    for row in await history("submission", submission.id):
        before = t(lang, f"submission_status.{row.from_status}") if row.from_status else "—"
        line = t(lang, "staff.review.history_line", at=_local(row.at, settings), before=before,
                 after=t(lang, f"submission_status.{row.to_status}"),
                 actor=t(lang, f"staff.review.actor.{row.actor_kind or 'system'}"))
        if row.reason:
            line += t(lang, "staff.review.history_reason", reason=escape(transition_reason(lang, row.reason)))
        lines.append(line)

    return ItemView(
        id=submission.id, kind=kind, status=status, reference=reference, text="\n".join(lines),
        documents=documents, actions=available_acts(kind, status),
        printable=spec is not None and spec.on_submit.printable is not None,
        has_personal=_has_personal(spec), revealed=reveal,
    )


async def reveal(submission_id: int, staff_id: int, lang: str, clock: Clock, settings: Settings) -> ItemView | None:
    """The item with personal numbers in full; the audit log records who saw which item, when."""
    view = await item_view(submission_id, lang, clock, settings, reveal=True)
    if view is None:
        return None
    spec = spec_for(view.kind)
    fields = sorted(
        f"{f.id}.{sub.id}" if sub is not f else f.id
        for f in (spec.form.fields if spec else ())
        for sub in (f, *f.subfields)
        if _is_personal(sub)
    )
    await store.log_reveal(staff_id, submission_id, fields, clock.now())
    return view


async def printed(submission_id: int, lang: str, clock: Clock, settings: Settings) -> PrintedForm | None:
    submission = await store.submission_with_names(submission_id)
    if submission is None or str(submission.status) == "draft":
        return None
    spec = spec_for(str(submission.kind.value))
    if spec is None:
        return None
    session = _session(spec, submission, lang, clock, settings)
    submitted_at = submission.submitted_at.astimezone(settings.tz) if submission.submitted_at else None
    return await print_form(spec, session.plain_answers(), session.final_answers(), submission.reference, submitted_at)


@dataclass(frozen=True)
class ActOutcome:
    ok: bool
    reference: str = ""
    status: str = ""  # the state now (after the act, or as found when refused)
    code: str | None = None  # TransitionRefused's code when refused
    missing: tuple[str, ...] = ()
    notified: int = 0


async def act(submission_id: int, action: str, *, staff_id: int, expected_state: str, reason: str,
              now: datetime) -> ActOutcome:
    row = await Submission.filter(id=submission_id).values("reference", "kind", "station_id")
    if not row:
        return ActOutcome(False, code="unknown")
    reference, kind, station_id = row[0]["reference"] or f"#{submission_id}", str(row[0]["kind"]), row[0]["station_id"]
    if action not in ACTS:
        return ActOutcome(False, reference, code="not_allowed")
    try:
        async with in_transaction():
            result = await apply_transition(
                "submission", submission_id, action, actor_id=staff_id, actor=Actor.STAFF, now=now,
                reason=reason.strip(), expected_state=expected_state,
            )
            if kind == "establishment" and result.to_state in ENDS_DECLARATION and station_id is not None:
                if await Station.filter(id=station_id, state=StationState.APPLYING).exists():
                    await apply_transition("station", station_id, "not_establish", actor_id=staff_id, actor=Actor.STAFF,
                                           now=now, expected_state=StationState.APPLYING.value)
    except TransitionRefused as refused:
        return ActOutcome(False, reference, status=refused.current or "", code=refused.code,
                          missing=tuple(refused.details.get("missing", ())))
    return ActOutcome(True, reference, status=result.to_state, notified=len(result.notified))
