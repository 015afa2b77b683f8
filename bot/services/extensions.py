"""The bureau's decisions on extension requests (R11) and deregistration requests (R14), without
Telegram. Each decision moves the submission and what follows it in one transaction, through
`storage.transitions.apply_transition` (audit row, notices, stale acts refused):

- an approved extension moves the station's filing obligation for the year to the end of the
  approved months ("extend"); more than six months, or fewer than asked (shortened), only with a
  reason;
- an approved deregistration deregisters the station and records the plaque handed back that day;
  a refused one puts the station back to active.

Refusals come back as codes, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.rules.decisions import MAX_EXTENSION_MONTHS, extended_due_on, extension_needs_reason
from bot.rules.lifecycle import Actor, filing_due_on
from storage.models import FilingObligation, FilingState, Station, StationState, Submission, SubmissionKind
from storage.transitions import TransitionRefused, apply_transition

__all__ = ["Decision", "approve_deregistration", "approve_extension", "refuse_deregistration", "refuse_extension",
           "requested_months"]


@dataclass(frozen=True)
class Decision:
    ok: bool
    reference: str = ""
    status: str = ""  # the submission's state after the act, or as found when refused
    code: str | None = None  # a TransitionRefused code, or bad_months / no_filing
    due_on: date | None = None  # an approved extension: the new due date
    notified: int = 0


def requested_months(answers: dict[str, Any] | None) -> int | None:
    """The months the station asked for, as the extension form stores them (`months`)."""
    try:
        months = int((answers or {}).get("months"))
    except (TypeError, ValueError):
        return None
    return months if months > 0 else None


async def _submission(submission_id: int, kind: SubmissionKind) -> Submission | None:
    return await Submission.filter(id=submission_id, kind=kind).first()


def _refused(submission: Submission | None, refused: TransitionRefused, *, filing: bool = False) -> Decision:
    reference = (submission.reference or f"#{submission.id}") if submission else ""
    code = refused.code
    if filing and code in ("not_allowed", "stale"):
        code = "filing_not_extendable"
    return Decision(False, reference, str(submission.status.value) if submission and not filing else refused.current or "", code)


async def _obligation(station_id: int, year: int, now: datetime) -> FilingObligation:
    """The station's filing obligation for `year`; one not yet written is written as due (R10)."""
    found = await FilingObligation.filter(station_id=station_id, year=year).first()
    if found is not None:
        return found
    created = await FilingObligation.create(station_id=station_id, year=year, due_on=filing_due_on(year))
    await apply_transition("filing", created.id, "mark_due", actor_id=None, actor=Actor.SYSTEM, now=now,
                           expected_state=FilingState.NOT_DUE.value)
    return await FilingObligation.get(id=created.id)


async def approve_extension(submission_id: int, months: int, *, staff_id: int, expected_state: str, reason: str,
                            now: datetime, today: date | None = None) -> Decision:
    """R11: approve `months` of extension (the filing is then due at their end). A station that was
    overdue only for this year's filing is in good standing again once the new date is ahead
    (`today`: the bureau's date)."""
    submission = await _submission(submission_id, SubmissionKind.EXTENSION)
    if submission is None:
        return Decision(False, code="unknown")
    reference = submission.reference or f"#{submission.id}"
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        return Decision(False, reference, str(submission.status.value), "bad_months")
    if extension_needs_reason(months, requested_months(submission.answers)) and not reason.strip():
        return Decision(False, reference, str(submission.status.value), "reason_required")
    if submission.station_id is None or submission.year is None:
        return Decision(False, reference, str(submission.status.value), "no_filing")
    try:
        async with in_transaction():
            obligation = await _obligation(submission.station_id, submission.year, now)
            due_on = extended_due_on(obligation.due_on, months)
            result = await apply_transition(
                "submission", submission_id, "approve", actor_id=staff_id, actor=Actor.STAFF, now=now,
                reason=reason.strip(), changes={"due_on": due_on, "decided_at": now}, expected_state=expected_state,
            )
            try:
                await apply_transition("filing", obligation.id, "extend", actor_id=staff_id, actor=Actor.STAFF, now=now,
                                       reason=reason.strip(), changes={"extended_due_on": due_on},
                                       expected_state=str(obligation.state.value))
            except TransitionRefused as refused:
                raise _FollowerRefused(refused) from None
            if today is not None and due_on >= today:
                await _reinstate_if_only_this_was_overdue(submission.station_id, obligation.id, staff_id, reason, now)
    except TransitionRefused as refused:
        return _refused(await _submission(submission_id, SubmissionKind.EXTENSION), refused)
    except _FollowerRefused:
        return Decision(False, reference, str(submission.status.value), "filing_not_extendable")
    return Decision(True, reference, result.to_state, None, due_on, len(result.notified))


async def _reinstate_if_only_this_was_overdue(station_id: int, obligation_id: int, staff_id: int, reason: str,
                                              now: datetime) -> None:
    station = await Station.get(id=station_id)
    if station.state not in (StationState.OVERDUE, StationState.REVOCATION_CANDIDATE):
        return
    if await FilingObligation.filter(station_id=station_id, state=FilingState.OVERDUE).exclude(id=obligation_id).exists():
        return  # another year is still overdue
    await apply_transition("station", station_id, "reinstate", actor_id=staff_id, actor=Actor.STAFF, now=now,
                           reason=reason.strip(), expected_state=str(station.state.value))


class _FollowerRefused(Exception):
    """What follows a decision in the same transaction (the filing obligation, the station) refused
    to move: the whole decision is rolled back and said as such, not as a stale button."""

    def __init__(self, refused: TransitionRefused) -> None:
        super().__init__(str(refused))
        self.refused = refused


async def refuse_extension(submission_id: int, *, staff_id: int, expected_state: str, reason: str, now: datetime) -> Decision:
    return await _simple(SubmissionKind.EXTENSION, submission_id, "refuse", staff_id, expected_state, reason, now)


async def _simple(kind: SubmissionKind, submission_id: int, action: str, staff_id: int, expected_state: str, reason: str,
                  now: datetime, station_action: str | None = None, station_changes: dict[str, Any] | None = None) -> Decision:
    submission = await _submission(submission_id, kind)
    if submission is None:
        return Decision(False, code="unknown")
    reference = submission.reference or f"#{submission.id}"
    try:
        async with in_transaction():
            result = await apply_transition(
                "submission", submission_id, action, actor_id=staff_id, actor=Actor.STAFF, now=now,
                reason=reason.strip(), changes={"decided_at": now}, expected_state=expected_state,
            )
            if station_action is not None and submission.station_id is not None:
                try:
                    await _station_follows(submission.station_id, station_action, staff_id, reason, now,
                                           station_changes)
                except TransitionRefused as refused:
                    raise _FollowerRefused(refused) from None
    except TransitionRefused as refused:
        return _refused(await _submission(submission_id, kind), refused)
    except _FollowerRefused as station:
        # the request is still open; the station is in a state the decision cannot move (revoked, say)
        return Decision(False, reference, station.refused.current or "", "station_cannot_follow")
    return Decision(True, reference, result.to_state, None, None, len(result.notified))



async def _station_follows(station_id: int, action: str, staff_id: int, reason: str, now: datetime,
                           changes: dict[str, Any] | None) -> None:
    state = await Station.filter(id=station_id).values_list("state", flat=True)
    current = str(state[0]) if state else ""
    if action == "deregister" and current == StationState.ACTIVE.value:
        # the request was stored without the station following it: it follows now
        await apply_transition("station", station_id, "request_deregistration", actor_id=None, actor=Actor.SYSTEM,
                               now=now, expected_state=current)
        current = StationState.DEREGISTRATION_REQUESTED.value
    if action == "withdraw_deregistration" and current != StationState.DEREGISTRATION_REQUESTED.value:
        return  # nothing to undo
    await apply_transition("station", station_id, action, actor_id=staff_id, actor=Actor.STAFF, now=now,
                           reason=reason.strip(), changes=changes, expected_state=current)


async def approve_deregistration(submission_id: int, *, staff_id: int, expected_state: str, today: date,
                                 now: datetime) -> Decision:
    """R14: 经批复同意后交回牌匾 — the station is deregistered and the plaque recorded as handed back today."""
    return await _simple(SubmissionKind.DEREGISTRATION, submission_id, "approve", staff_id, expected_state, "", now,
                         "deregister", {"deregistered_on": today, "plaque_returned_on": today})


async def refuse_deregistration(submission_id: int, *, staff_id: int, expected_state: str, reason: str,
                                now: datetime) -> Decision:
    return await _simple(SubmissionKind.DEREGISTRATION, submission_id, "refuse", staff_id, expected_state, reason, now,
                         "withdraw_deregistration")
