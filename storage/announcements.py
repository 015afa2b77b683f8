"""公示 (R6, R19) in the database: batches of items, objections against an item, the close.

Every change of an item's status goes through `storage.transitions.apply_transition`: announce on
publication, object when an objection is filed, uphold/dismiss when staff decide, and on the
close the step that follows an unopposed 公示 (recognise a declaration and its station; fund a key
project). An announcement is generic over its items: its kind says which life cycle they follow.

The window is inclusive: objections are taken from `starts_on` to the end of `ends_on` (the
bureau's date); an announcement whose `ends_on` has passed and that has no pending objection is
closed once (a conditional update of its state), so a second tick or a second instance finds
nothing more to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.rules.lifecycle import Actor
from bot.rules.working_days import Arrangement
from storage import outbox
from storage.models import (
    Announcement,
    AnnouncementItem,
    AnnouncementKind,
    AnnouncementState,
    HolidayArrangement,
    Objection,
    ObjectionStatus,
    Station,
    StationState,
    Submission,
    SubmissionStatus,
)
from storage.transitions import TransitionRefused, apply_transition

# What staff may announce, by kind: an establishment declaration that passed the expert review,
# a key project that was graded.
ANNOUNCEABLE = {
    AnnouncementKind.ESTABLISHMENT: SubmissionStatus.APPROVED,
    AnnouncementKind.KEY_PROJECT: SubmissionStatus.GRADED,
}
# What follows a 公示 without (founded) objection: 授牌 or 资助.
MOVE_ON = {AnnouncementKind.ESTABLISHMENT: "recognise", AnnouncementKind.KEY_PROJECT: "fund"}
# Item states in which an objection may be filed (one already pending: it is added to it).
OBJECTABLE = (SubmissionStatus.ANNOUNCED, SubmissionStatus.OBJECTION_DISMISSED, SubmissionStatus.OBJECTION)
UNDECIDED = (AnnouncementState.SCHEDULED, AnnouncementState.OPEN)

OBJECTION_NOTICE = "objection"
OBJECTION_NOTICE_KEY = "objection.notice_staff"
DECISION_NOTICE = "objection_decision"


# -- holiday arrangements entered by staff ----------------------------------------------------------


async def arrangement(years: Iterable[int]) -> Arrangement:
    wanted = sorted(set(years))
    rows = await HolidayArrangement.filter(day__gte=date(wanted[0], 1, 1), day__lte=date(wanted[-1], 12, 31)) if wanted else []
    holidays = [r.day for r in rows if not r.is_workday and r.day.year in wanted]
    workdays = [r.day for r in rows if r.is_workday and r.day.year in wanted]
    return Arrangement.of(holidays, workdays)


async def replace_arrangement(year: int, holidays: Iterable[date], workdays: Iterable[date], entered_by: int,
                              note: str = "") -> int:
    """Replace what is stored for `year` with this arrangement; the number of days stored."""
    rows = [HolidayArrangement(day=d, is_workday=False, note=note, entered_by=entered_by) for d in sorted(holidays)]
    rows += [HolidayArrangement(day=d, is_workday=True, note=note, entered_by=entered_by) for d in sorted(workdays)]
    async with in_transaction():
        await HolidayArrangement.filter(day__gte=date(year, 1, 1), day__lte=date(year, 12, 31)).delete()
        if rows:
            await HolidayArrangement.bulk_create(rows)
    return len(rows)


async def stored_arrangement(year: int) -> tuple[list[date], list[date]]:
    rows = await HolidayArrangement.filter(day__gte=date(year, 1, 1), day__lte=date(year, 12, 31)).order_by("day")
    return [r.day for r in rows if not r.is_workday], [r.day for r in rows if r.is_workday]


# -- publication -----------------------------------------------------------------------------------


async def announceable(kind: AnnouncementKind) -> list[Submission]:
    """Items waiting for a 公示, oldest first, with their station and unit."""
    return (
        await Submission.filter(kind=kind.value, status=ANNOUNCEABLE[kind])
        .order_by("submitted_at", "id")
        .prefetch_related("station", "unit")
    )


async def publish(kind: AnnouncementKind, submission_ids: Iterable[int], *, starts_on: date, ends_on: date,
                  opened: bool, created_by: int, now: datetime) -> tuple[Announcement, list[int]]:
    """One announcement for these items; each is announced (its contacts told). Items that left
    the announceable state meanwhile are left out; with none left, nothing is written (None)."""
    async with in_transaction():
        announcement = await Announcement.create(
            kind=kind, starts_on=starts_on, ends_on=ends_on, created_by=created_by,
            state=AnnouncementState.OPEN if opened else AnnouncementState.SCHEDULED,
        )
        announced: list[int] = []
        for submission_id in submission_ids:
            try:
                await apply_transition("submission", submission_id, "announce", actor_id=created_by, actor=Actor.STAFF,
                                       now=now, expected_state=ANNOUNCEABLE[kind].value)
            except TransitionRefused:
                continue
            await AnnouncementItem.create(announcement=announcement, submission_id=submission_id)
            announced.append(submission_id)
        if not announced:
            await announcement.delete()
    return announcement, announced


# -- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: int
    submission_id: int
    reference: str
    name: str  # the station (or the project) as the public knows it
    unit: str
    status: str


@dataclass(frozen=True)
class Listed:
    id: int
    kind: str
    starts_on: date
    ends_on: date
    state: str
    items: list[Item] = field(default_factory=list)

    def open_on(self, today: date) -> bool:
        return self.state != AnnouncementState.CLOSED.value and self.starts_on <= today <= self.ends_on


def _item(row: AnnouncementItem) -> Item:
    s = row.submission
    answers = s.answers or {}
    name = (s.station.name if s.station else "") or str(answers.get("station_name") or answers.get("project_name") or "")
    unit = (s.unit.name if s.unit else "") or str(answers.get("unit_name") or "")
    return Item(row.id, s.id, s.reference or "", name, unit, SubmissionStatus(s.status).value)


async def _listed(rows: list[Announcement]) -> list[Listed]:
    ids = [a.id for a in rows]
    items = await AnnouncementItem.filter(announcement_id__in=ids).order_by("id").prefetch_related(
        "submission__station", "submission__unit"
    ) if ids else []
    by_announcement: dict[int, list[Item]] = {}
    for row in items:
        by_announcement.setdefault(row.announcement_id, []).append(_item(row))
    return [
        Listed(a.id, AnnouncementKind(a.kind).value, a.starts_on, a.ends_on, AnnouncementState(a.state).value,
               by_announcement.get(a.id, []))
        for a in rows
    ]


async def open_announcements(today: date) -> list[Listed]:
    """Announcements running today (objections taken), soonest end first."""
    rows = await Announcement.filter(state__in=UNDECIDED, starts_on__lte=today, ends_on__gte=today).order_by("ends_on", "id")
    return await _listed(rows)


async def undecided_announcements() -> list[Listed]:
    """Every announcement not closed yet (scheduled, running, ended with objections pending)."""
    return await _listed(await Announcement.filter(state__in=UNDECIDED).order_by("ends_on", "id"))


async def announcement(announcement_id: int) -> Listed | None:
    rows = await Announcement.filter(id=announcement_id)
    return (await _listed(rows))[0] if rows else None


async def item_with_announcement(item_id: int) -> tuple[Item, Listed] | None:
    row = await AnnouncementItem.filter(id=item_id).first()
    if row is None:
        return None
    listed = await announcement(row.announcement_id)
    if listed is None:
        return None
    found = next((i for i in listed.items if i.id == item_id), None)
    return (found, listed) if found else None


# -- objections -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filed:
    objection_id: int | None
    problem: str | None = None  # "unknown" | "not_started" | "ended" | "not_objectable"
    ends_on: date | None = None
    item: Item | None = None


async def file_objection(item_id: int, user_id: int, text: str, *, evidence: dict[str, Any] | None, today: date,
                         now: datetime, staff_recipients: Iterable[int]) -> Filed:
    """Keep an objection and tell staff, in one transaction; refused outside the window."""
    async with in_transaction():
        found = await item_with_announcement(item_id)
        if found is None:
            return Filed(None, "unknown")
        item, listed = found
        if listed.state == AnnouncementState.CLOSED.value or today > listed.ends_on:
            return Filed(None, "ended", listed.ends_on, item)
        if today < listed.starts_on:
            return Filed(None, "not_started", listed.ends_on, item)
        if item.status not in {s.value for s in OBJECTABLE}:
            return Filed(None, "not_objectable", listed.ends_on, item)
        objection = await Objection.create(
            item_id=item_id, filed_by=user_id, text=text,
            evidence_file_id=(evidence or {}).get("file_id"), evidence_file_name=(evidence or {}).get("file_name", ""),
            created_at=now,
        )
        if item.status != SubmissionStatus.OBJECTION.value:
            await apply_transition("submission", item.submission_id, "object", actor_id=user_id, actor=Actor.PUBLIC,
                                   now=now, expected_state=item.status)
        params = {"reference": item.reference, "name": item.name, "id": objection.id,
                  "evidence_key": "objection.with_evidence" if evidence else "objection.without_evidence"}
        for staff_id in sorted(set(staff_recipients)):
            await outbox.enqueue(staff_id, OBJECTION_NOTICE, f"objection:{objection.id}", "filed", OBJECTION_NOTICE_KEY,
                                 now, params)
    return Filed(objection.id, None, listed.ends_on, item)


@dataclass(frozen=True)
class PendingObjection:
    id: int
    text: str
    has_evidence: bool
    evidence_file_id: str | None
    filed_on: datetime
    item: Item
    announcement_id: int


async def pending_objections() -> list[PendingObjection]:
    rows = await Objection.filter(status=ObjectionStatus.PENDING).order_by("created_at", "id").prefetch_related(
        "item__submission__station", "item__submission__unit"
    )
    return [
        PendingObjection(o.id, o.text, bool(o.evidence_file_id), o.evidence_file_id, o.created_at, _item(o.item),
                         o.item.announcement_id)
        for o in rows
    ]


@dataclass(frozen=True)
class Decided:
    problem: str | None = None  # "unknown" | "decided" (someone decided first)
    upheld: bool = False
    item: Item | None = None
    item_moved: bool = False  # the item's status changed (upheld, or the last pending one dismissed)


async def decide_objection(objection_id: int, *, upheld: bool, staff_id: int, note: str, now: datetime) -> Decided:
    """成立: the item is rejected (uphold_objection, the objection its reason) and a declaration's
    station is not established. 不成立: once no other objection against the item is pending, it goes
    on (dismiss_objection). The objector is told either way."""
    async with in_transaction():
        row = await Objection.filter(id=objection_id).prefetch_related("item__submission__station",
                                                                      "item__submission__unit").first()
        if row is None:
            return Decided("unknown")
        status = ObjectionStatus.UPHELD if upheld else ObjectionStatus.DISMISSED
        taken = await Objection.filter(id=objection_id, status=ObjectionStatus.PENDING).update(
            status=status, decided_by=staff_id, decided_at=now, decision_note=note
        )
        item = _item(row.item)
        if taken != 1:
            return Decided("decided", upheld, item)
        moved = False
        submission = await Submission.get(id=item.submission_id)
        if submission.status == SubmissionStatus.OBJECTION:
            reason = (note.strip() + "\n" if note.strip() else "") + row.text
            if upheld:
                await apply_transition("submission", submission.id, "uphold_objection", actor_id=staff_id,
                                       actor=Actor.STAFF, now=now, reason=reason, expected_state="objection")
                if submission.station_id is not None and submission.kind == "establishment":
                    await _not_established(submission.station_id, staff_id, now)
                moved = True
            elif not await Objection.filter(item_id=row.item_id, status=ObjectionStatus.PENDING).exists():
                await apply_transition("submission", submission.id, "dismiss_objection", actor_id=staff_id,
                                       actor=Actor.STAFF, now=now, reason=reason, expected_state="objection")
                moved = True
        key = "objection.notice_upheld" if upheld else "objection.notice_dismissed"
        await outbox.enqueue(row.filed_by, DECISION_NOTICE, f"objection:{row.id}", "decided", key, now,
                             {"reference": item.reference, "name": item.name, "note": note})
    return Decided(None, upheld, item, moved)


async def _not_established(station_id: int, staff_id: int, now: datetime) -> None:
    station = await Station.get(id=station_id)
    if station.state == StationState.APPLYING:
        await apply_transition("station", station_id, "not_establish", actor_id=staff_id, actor=Actor.STAFF, now=now,
                               expected_state="applying")


# -- the close ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Closed:
    announcement_id: int
    problem: str | None = None  # "unknown" | "not_ended" | "pending" | "closed" (already)
    ends_on: date | None = None
    moved_on: tuple[str, ...] = ()  # references of the items recognised or funded
    pending: int = 0


async def due_for_closing(today: date) -> list[int]:
    """Announcements whose end has passed and that are not closed, by end date (uses the index)."""
    return list(
        await Announcement.filter(state__in=UNDECIDED, ends_on__lt=today).order_by("ends_on", "id").values_list("id", flat=True)
    )


async def open_started(today: date) -> int:
    """Scheduled announcements whose start has come are open."""
    return await Announcement.filter(state=AnnouncementState.SCHEDULED, starts_on__lte=today).update(
        state=AnnouncementState.OPEN
    )


async def close(announcement_id: int, *, today: date, now: datetime, actor: Actor, actor_id: int | None) -> Closed:
    """Close an ended announcement with nothing pending: its items move on (授牌 / 资助)."""
    async with in_transaction():
        row = await Announcement.filter(id=announcement_id).first()
        if row is None:
            return Closed(announcement_id, "unknown")
        if row.state == AnnouncementState.CLOSED:
            return Closed(announcement_id, "closed", row.ends_on)
        if row.ends_on >= today:
            return Closed(announcement_id, "not_ended", row.ends_on)
        pending = await Objection.filter(item__announcement_id=announcement_id, status=ObjectionStatus.PENDING).count()
        if pending:
            return Closed(announcement_id, "pending", row.ends_on, pending=pending)
        taken = await Announcement.filter(id=announcement_id, state__in=UNDECIDED).update(state=AnnouncementState.CLOSED)
        if taken != 1:
            return Closed(announcement_id, "closed", row.ends_on)
        kind = AnnouncementKind(row.kind)
        action = MOVE_ON[kind]
        moved: list[str] = []
        items = await AnnouncementItem.filter(announcement_id=announcement_id).order_by("id").prefetch_related("submission")
        for item in items:
            submission = item.submission
            state = SubmissionStatus(submission.status)
            if state not in (SubmissionStatus.ANNOUNCED, SubmissionStatus.OBJECTION_DISMISSED):
                continue  # upheld, disqualified meanwhile: nothing follows
            await apply_transition("submission", submission.id, action, actor_id=actor_id, actor=actor, now=now,
                                   expected_state=state.value)
            if kind == AnnouncementKind.ESTABLISHMENT and submission.station_id is not None:
                station = await Station.get(id=submission.station_id)
                if station.state == StationState.APPLYING:
                    await apply_transition("station", station.id, "recognise", actor_id=actor_id, actor=actor, now=now,
                                           expected_state="applying", changes={"recognised_on": today})
            moved.append(submission.reference or str(submission.id))
    return Closed(announcement_id, None, row.ends_on, tuple(moved))
