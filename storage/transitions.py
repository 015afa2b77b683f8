"""The one writer of states: applies a transition of bot.rules.lifecycle to a submission, a
station or a filing obligation, with everything that goes with it, in one transaction.

    result = await apply_transition("submission", 12, "record_review_pass",
                                    actor_id=staff_id, actor=Actor.STAFF, now=now,
                                    expected_state="under_review")

In that one transaction: the life cycle of the subject is looked up (a submission's by its kind);
an action not allowed from the current state, or not to this actor, is refused, and so is one
whose guard is not met (documents it requires are missing: "materials_missing"); the state moves
by a conditional UPDATE (`WHERE id = ? AND <state> = <current>`), so when another member of staff
clicked first nothing at all is written and the caller gets `TransitionRefused("stale")`; extra
columns in `changes` go into the same UPDATE; a `status_transition` row is written, an
`audit_log` row when staff acted, a `status_change` notice per contact of the item (once: the
period is the transition's id), and the uniqueness key is released when the transition says so.
A graded key project takes one of the ten places of its level (R8) and gives it back when it
leaves the graded path.

It nests in a caller's transaction (a savepoint). Database errors from `changes` (a uniqueness
key already taken) propagate unchanged as tortoise's IntegrityError, the savepoint rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.rules.filing import filing_reason_words
from bot.rules.lifecycle import GRADED_KEY_PROJECT_STATES, Actor, LifeCycle, Transition, lifecycle_of
from storage import outbox, step
from storage.key_projects import AlreadyGraded, GradeCapReached, release_grade_slot, take_grade_slot
from storage.models import (
    AuditLog,
    Contact,
    Document,
    FilingObligation,
    NaiveDatetimeError,
    Station,
    StatusTransition,
    Submission,
    SubmissionKind,
)

__all__ = [
    "Actor",
    "REFUSAL_CODES",
    "SUBJECTS",
    "TransitionRefused",
    "TransitionResult",
    "apply_transition",
    "history",
]

NOTICE_KIND = "status_change"
TEXT_KEY = "notice.status_change"
TEXT_KEY_WITH_REASON = "notice.status_change_reason"
TEXT_KEY_WITH_NOTE = "notice.status_change_note"

# subject -> (model, state column)
SUBJECTS: dict[str, tuple[type[Model], str]] = {
    "submission": (Submission, "status"),
    "station": (Station, "state"),
    "filing": (FilingObligation, "state"),
}

# Stable reason codes of TransitionRefused:
#   unknown          no such subject, row or action
#   not_allowed      the action does not start from the current state, or not for this actor
#   stale            the state is no longer the one the caller saw (someone else acted first)
#   reason_required  the transition records a reason and none was given
#   cap_reached      R8: every place of the key project's level is taken for the year
#   materials_missing  the transition requires documents the submission does not hold yet (the
#                    stamped 申报表 before review); details["missing"] names their kinds
REFUSAL_CODES = ("unknown", "not_allowed", "stale", "reason_required", "cap_reached", "materials_missing")

_NOT_CHANGEABLE = frozenset({"id", "created_at", "updated_at"})


class TransitionRefused(Exception):
    def __init__(self, code: str, message: str, *, current: str | None = None, details: Mapping[str, Any] | None = None) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown refusal code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.current = current  # the state found, when there was a row
        self.details = dict(details or {})


@dataclass(frozen=True)
class TransitionResult:
    subject: str
    subject_id: int
    action: str
    from_state: str
    to_state: str
    transition_id: int  # the status_transition row
    notified: tuple[int, ...] = ()  # recipients a notice was queued for
    key_released: bool = False
    changes: dict[str, Any] = field(default_factory=dict)  # the columns written besides the state


async def apply_transition(
    subject: str,
    subject_id: int,
    action: str,
    *,
    actor_id: int | None,
    actor: Actor | str,
    now: datetime,
    reason: str = "",
    changes: Mapping[str, Any] | None = None,
    expected_state: str | None = None,
) -> TransitionResult:
    """Apply `action` to `subject` `subject_id` (see the module docstring); raises TransitionRefused.

    `actor_id` is the Telegram user id (None only for the system). `expected_state` is the state
    the caller showed the user: when it is no longer current the action is refused as "stale".
    `changes` are further columns written with the state (reference, submitted_at,
    uniqueness_key, answers, level, due_on, recognised_on, extended_due_on, submission_id ...).
    """
    if now.utcoffset() is None:
        raise NaiveDatetimeError(f"now={now!r} has no time zone")
    try:
        actor = Actor(actor)
    except ValueError:
        raise TransitionRefused("unknown", f"no such actor {actor!r}") from None
    if subject not in SUBJECTS:
        raise TransitionRefused("unknown", f"no such subject {subject!r}")
    model, column = SUBJECTS[subject]
    values = _checked_changes(model, column, changes)
    if actor is Actor.STAFF and actor_id is None:
        raise ValueError("a staff action needs the staff member's id")

    async with in_transaction():
        row = await model.filter(id=subject_id).first()
        if row is None:
            raise TransitionRefused("unknown", f"no {subject} {subject_id}")
        current = str(getattr(row, column))
        kind = str(row.kind) if isinstance(row, Submission) else subject
        cycle = lifecycle_of(kind)
        transition = _allowed(cycle, action, current, actor, expected_state)
        if actor is Actor.CONTACT and not await _acts_for(row, actor_id):
            raise TransitionRefused("not_allowed", f"user {actor_id} is no contact of {subject} {subject_id}", current=current)
        if transition.reason_required and not reason.strip():
            raise TransitionRefused("reason_required", f"{kind}.{action} records a reason", current=current)
        missing = await _missing_documents(row, transition)
        if missing:
            raise TransitionRefused(
                "materials_missing", f"{kind}.{action} needs {', '.join(missing)}", current=current,
                details={"missing": missing},
            )

        if transition.releases_key:
            values["uniqueness_key"] = None
        updated = await model.filter(id=subject_id, **{column: current}).update(**{column: transition.target}, **values)
        if updated != 1:
            raise TransitionRefused("stale", f"{subject} {subject_id} left {current!r} meanwhile", current=current)
        if subject == "submission":
            step.forget_draft(subject_id)  # no in-process copy of a draft outlives its status

        if kind == SubmissionKind.KEY_PROJECT:
            await _keep_grade_places(row, transition, current, values, actor_id, now)

        moment = now.astimezone(UTC)
        record = await StatusTransition.create(
            subject_type=subject,
            subject_id=subject_id,
            action=action,
            from_status=current,
            to_status=transition.target,
            actor_id=actor_id,
            actor_kind=actor.value,
            reason=reason,
            at=moment,
        )
        if actor is Actor.STAFF:
            await AuditLog.create(
                actor_id=actor_id,
                action=f"{kind}.{action}",
                subject_type=subject,
                subject_id=subject_id,
                before={column: current, **{name: _jsonable(getattr(row, name)) for name in values}},
                after={column: transition.target, **{name: _jsonable(value) for name, value in values.items()}},
                at=moment,
            )
        notified: tuple[int, ...] = ()
        if transition.notify:
            notified = await _notify(subject, row, kind, transition, values, reason, actor_id, record.id, moment)

    return TransitionResult(
        subject=subject,
        subject_id=subject_id,
        action=action,
        from_state=current,
        to_state=transition.target,
        transition_id=record.id,
        notified=notified,
        key_released=transition.releases_key and getattr(row, "uniqueness_key", None) is not None,
        changes=values,
    )


async def history(subject: str, subject_id: int) -> list[StatusTransition]:
    """Every transition of an item, oldest first."""
    return await StatusTransition.filter(subject_type=subject, subject_id=subject_id).order_by("at", "id")


def _checked_changes(model: type[Model], column: str, changes: Mapping[str, Any] | None) -> dict[str, Any]:
    values = dict(changes or {})
    for name in values:
        if name == column or name in _NOT_CHANGEABLE:
            raise ValueError(f"{name!r} is not changed through `changes`")
        if name not in model._meta.fields_db_projection:
            # relations by their column: station_id=..., not station=<Station>
            raise ValueError(f"{model.__name__} has no column {name!r}")
    return values


def _allowed(cycle: LifeCycle, action: str, current: str, actor: Actor, expected: str | None) -> Transition:
    named = cycle.transition(action)
    if named is None:
        raise TransitionRefused("unknown", f"{cycle.kind} has no action {action!r}", current=current)
    if expected is not None and current != expected:
        raise TransitionRefused("stale", f"{cycle.kind} is {current!r}, not {expected!r}", current=current)
    transition = cycle.find(action, current)
    if transition is None:
        raise TransitionRefused("not_allowed", f"{cycle.kind}.{action} does not start from {current!r}", current=current)
    if not transition.allows(actor):
        raise TransitionRefused("not_allowed", f"{cycle.kind}.{action} is not for {actor.value}", current=current)
    return transition


async def _acts_for(row: Model, user_id: int | None) -> bool:
    """A contact acts on their own items only: the submission they created, or their station's."""
    if user_id is None:
        return False
    if isinstance(row, Submission) and row.created_by == user_id:
        return True
    station_id = row.id if isinstance(row, Station) else getattr(row, "station_id", None)
    if station_id is None:
        return False
    return await Contact.filter(user_id=user_id, station_id=station_id, active=True).exists()


async def _missing_documents(row: Model, transition: Transition) -> list[str]:
    """The kinds of document the transition requires (its guard) that the submission lacks."""
    if not transition.requires_documents:
        return []
    present = await Document.filter(submission_id=row.id, kind__in=sorted(transition.requires_documents)).values_list(
        "kind", flat=True
    )
    return sorted(transition.missing_documents(present))


async def _keep_grade_places(
    row: Model, transition: Transition, current: str, values: dict[str, Any], actor_id: int | None, now: datetime
) -> None:
    """R8: "grade" takes a place of the level; leaving the graded path gives it back."""
    if transition.action == "grade":
        level = values.get("level")
        year = values.get("year", getattr(row, "year", None))
        if level is None or year is None:
            raise ValueError("grading a key project needs its level (in `changes`) and its year")
        try:
            await take_grade_slot(row.id, int(year), int(level), graded_by=actor_id, now=now)
        except GradeCapReached as full:
            raise TransitionRefused(
                "cap_reached",
                str(full),
                current=current,
                details={"year": full.year, "level": full.level, "counts": full.counts, "total": full.total},
            ) from None
        except AlreadyGraded as graded:
            raise TransitionRefused("not_allowed", str(graded), current=current) from None
    elif current in GRADED_KEY_PROJECT_STATES and transition.target not in GRADED_KEY_PROJECT_STATES:
        await release_grade_slot(row.id)


async def _recipients(row: Model) -> set[int]:
    """The item's contacts: the active contacts of its station, and who created a submission."""
    station_id = row.id if isinstance(row, Station) else getattr(row, "station_id", None)
    recipients: set[int] = set()
    if station_id is not None:
        recipients.update(await Contact.filter(station_id=station_id, active=True).values_list("user_id", flat=True))
    if isinstance(row, Submission):
        recipients.add(row.created_by)
    return recipients


async def _notify(
    subject: str,
    row: Model,
    kind: str,
    transition: Transition,
    values: Mapping[str, Any],
    reason: str,
    actor_id: int | None,
    transition_id: int,
    now: datetime,
) -> tuple[int, ...]:
    """A status_change notice to each contact of the item, except whoever acted (they saw it)."""
    params: dict[str, Any] = {
        "kind_key": _kind_key(subject, kind),
        "status_key": _status_key(subject, transition.target),
        "reference": _label(subject, row, values),
    }
    text_key = TEXT_KEY
    coded = filing_reason_words(reason) if actor_id is None else None
    if coded is not None:
        # The bot's own moves record a code ("filing:2025 ..."); the contact reads it in words.
        text_key = TEXT_KEY_WITH_NOTE
        params.update(coded)
    elif reason.strip():
        # A reason the act requires (a refusal's grounds) reads "原因"; a remark it merely allows
        # (the experts' comment on a pass) reads "说明".
        text_key = TEXT_KEY_WITH_REASON if transition.reason_required else TEXT_KEY_WITH_NOTE
        params["reason"] = reason.strip()
    due_on = values.get("due_on") if subject == "submission" else None
    if isinstance(due_on, date):
        # An approved extension (R11): the contact learns the filing's new due date with the decision.
        params["due_on"] = due_on.isoformat()
        text_key = {TEXT_KEY: "plain", TEXT_KEY_WITH_NOTE: "note", TEXT_KEY_WITH_REASON: "reason"}[text_key]
        text_key = f"notice.status_change_due.{text_key}"
    queued = []
    for recipient in sorted(await _recipients(row) - {actor_id}):
        if await outbox.enqueue(recipient, NOTICE_KIND, f"{subject}:{row.id}", f"t{transition_id}", text_key, now, params):
            queued.append(recipient)
    return tuple(queued)


def _kind_key(subject: str, kind: str) -> str:
    if subject == "submission":
        return f"submission_kind.{kind}"
    return f"status_change.subject.{subject}"


def _status_key(subject: str, state: str) -> str:
    return {
        "submission": f"submission_status.{state}",
        "station": f"station_state.{state}",
        "filing": f"status_change.filing.{state}",
    }[subject]


def _label(subject: str, row: Model, values: Mapping[str, Any]) -> str:
    """What the recipient recognises the item by: a reference, a station's name, a year."""
    if subject == "submission":
        return str(values.get("reference") or row.reference or "")
    if subject == "station":
        return str(row.name)
    return str(row.year)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
