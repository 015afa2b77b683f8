"""What must always hold in the database, whatever happened before: a list of what is broken.

    assert await broken_invariants() == []

Runs over the open ORM context (the `db` fixture, or any Tortoise.init). Each broken rule is one
line naming the rule and the rows, so a failing test says what is wrong without a debugger. The
rules (storage/models.py, storage/transitions.py, bot/rules/lifecycle.py, bot/forms/):

- every state of a submission, a station and a filing obligation is explained by its status
  transitions: the rows, in the order written, form a chain (each starts where the one before
  ended) of moves the life cycle allows, and the last one ends in the current state; a subject
  without rows is still in its life cycle's initial state (a station never: it is created with
  its first row); no row points at a subject that does not exist. An item of the imported register
  enters its life cycle by one row without action (actor system, reason "import"), its first
- a submission has a kind's own state; one that left its draft has its reference (well formed,
  its kind's prefix, unique) and its submission time; a uniqueness key is shaped after its kind
  and its station, year or unit, and only a draft has none of the submitted ones' keys
- a station past its declaration (active, overdue, ...) has a recognised declaration; an
  applying one a declaration in progress; a recognised declaration's station is no longer
  applying
- a filing obligation met (filed on time or late) names its annual filing, of the same station
  and year (unless the register imported it as met: filed on paper); one not met names none; a submitted annual filing meets exactly one obligation
- notices are unique per (recipient, kind, subject, period)
- contacts point at existing stations and users; a person is the active contact of one station
  at most
- R8: at most ten graded key projects per level and year, in slots 1..10; a key project holds a
  place exactly while it is on the graded path, at its own level and year; a funding belongs to
  a funded key project of the same station and level
- a document belongs to a submission: of the same station, uploaded by the person who created
  it or by a contact of its station
- no personal field (marked `personal` in the forms) is stored unsealed, in a submission's
  answers or in a conversation's saved state
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from bot.forms.engine import ITEM, Field
from bot.forms.registry import FORM_SPECS
from bot.rules.lifecycle import GRADED_KEY_PROJECT_STATES, lifecycle_of
from storage.models import (
    KEY_PROJECT_SLOTS_PER_LEVEL,
    BotUser,
    Contact,
    ConversationState,
    Document,
    FilingObligation,
    Funding,
    KeyProjectGrade,
    Notice,
    Station,
    StatusTransition,
    Submission,
)

__all__ = ["broken_invariants"]

PREFIXES = {spec.kind: spec.on_submit.reference_prefix for spec in FORM_SPECS}
REFERENCE = re.compile(r"^(?P<prefix>[A-Z]{2,8})-(?P<year>\d{4})-(?P<serial>\d{4,})$")
# A station in one of these states was recognised once (授牌).
RECOGNISED_STATION_STATES = frozenset(
    {"active", "overdue", "revocation_candidate", "revoked", "deregistration_requested", "deregistered"}
)
DECLARATION_IN_PROGRESS = frozenset({"submitted", "under_review", "approved", "announced", "objection", "objection_dismissed"})
DECLARATION_FAILED = frozenset({"rejected", "withdrawn", "disqualified", "objection_upheld"})
FILED = frozenset({"filed_on_time", "filed_late"})
# A uniqueness key, by kind: what it is made of.
KEY_SHAPES = {
    "establishment": re.compile(r"^establishment:(?P<uscc>[0-9A-Z]{18})$"),
    "key_project": re.compile(r"^key_project:(?P<station>\d+):(?P<year>\d{4})$"),
    "annual_filing": re.compile(r"^annual_filing:(?P<station>\d+):(?P<year>\d{4})$"),
    "extension": re.compile(r"^extension:(?P<station>\d+):(?P<year>\d{4})$"),
    "deregistration": re.compile(r"^deregistration:(?P<station>\d+)$"),
}


async def broken_invariants() -> list[str]:
    """Every rule of the module docstring that the database breaks now, one line each; [] when sound."""
    submissions = await Submission.all().order_by("id").values(
        "id", "kind", "status", "station_id", "unit_id", "unit__uscc", "created_by", "year", "answers", "reference",
        "uniqueness_key", "level", "submitted_at",
    )
    stations = await Station.all().order_by("id").values("id", "state")
    obligations = await FilingObligation.all().order_by("id").values("id", "station_id", "year", "state", "submission_id")
    transitions = await StatusTransition.all().order_by("id").values(
        "id", "subject_type", "subject_id", "action", "from_status", "to_status", "actor_kind", "reason"
    )
    broken: list[str] = []
    broken += _audit_explains_states(submissions, stations, obligations, transitions)
    broken += _submissions_well_formed(submissions)
    broken += _stations_follow_declarations(submissions, stations)
    broken += _filings_met(submissions, obligations, _imported("filing", transitions))
    broken += await _notices_unique()
    broken += await _contacts_bound(stations)
    broken += await _grade_caps(submissions)
    broken += await _documents_belong(submissions)
    broken += await _personal_sealed(submissions)
    return broken


def _audit_explains_states(
    submissions: list[dict[str, Any]],
    stations: list[dict[str, Any]],
    obligations: list[dict[str, Any]],
    transitions: list[dict[str, Any]],
) -> Iterator[str]:
    rows: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in transitions:
        rows[(row["subject_type"], row["subject_id"])].append(row)
    subjects: dict[tuple[str, int], tuple[str, str]] = {}  # -> (life cycle, current state)
    for s in submissions:
        subjects[("submission", s["id"])] = (str(s["kind"]), str(s["status"]))
    for s in stations:
        subjects[("station", s["id"])] = ("station", str(s["state"]))
    for o in obligations:
        subjects[("filing", o["id"])] = ("filing", str(o["state"]))
    for key in sorted(set(rows) - set(subjects)):
        yield f"audit without subject: {len(rows[key])} status_transition row(s) of missing {key[0]} {key[1]}"
    for (subject, subject_id), (kind, state) in sorted(subjects.items()):
        cycle = lifecycle_of(kind)
        label = f"{subject} {subject_id} ({kind}, {state})"
        if state not in cycle.states:
            yield f"state outside its life cycle: {label}"
        chain = rows.get((subject, subject_id), [])
        if not chain:
            if subject == "station" or state != cycle.initial:
                yield f"status without audit: {label} has no status_transition row"
            continue
        previous = None if subject == "station" else cycle.initial
        for row in chain:
            if row["from_status"] != previous:
                yield (f"audit chain broken: {label} row {row['id']} moves from {row['from_status']!r} "
                       f"but the state was {previous!r}")
            if row["action"]:
                move = cycle.find(row["action"], str(row["from_status"]))
                if move is None or move.target != row["to_status"]:
                    yield (f"audit row outside the life cycle: {label} row {row['id']} "
                           f"{row['action']} {row['from_status']} -> {row['to_status']}")
            elif subject != "station" and not (row is chain[0] and _is_import(row)):
                yield f"audit row without action: {label} row {row['id']}"
            previous = row["to_status"]
        if previous != state:
            yield f"status not explained by audit: {label}, last status_transition ends in {previous!r}"


def _submissions_well_formed(submissions: list[dict[str, Any]]) -> Iterator[str]:
    references = Counter(s["reference"] for s in submissions if s["reference"] is not None)
    for reference, n in references.items():
        if n > 1:
            yield f"reference {reference} on {n} submissions"
    keys = Counter(s["uniqueness_key"] for s in submissions if s["uniqueness_key"] is not None)
    for key, n in keys.items():
        if n > 1:
            yield f"uniqueness key {key} on {n} submissions"
    for s in submissions:
        kind, status, label = str(s["kind"]), str(s["status"]), f"submission {s['id']} ({s['kind']}, {s['status']})"
        if status == "draft":
            if s["reference"] is not None or s["uniqueness_key"] is not None or s["submitted_at"] is not None:
                yield f"draft with a submission's marks: {label}"
            continue
        if s["reference"] is None or s["submitted_at"] is None:
            yield f"submitted without reference or time: {label}"
        else:
            match = REFERENCE.match(s["reference"])
            if match is None or match["prefix"] != PREFIXES.get(kind):
                yield f"malformed reference {s['reference']!r}: {label}"
        key = s["uniqueness_key"]
        if key is None:
            continue
        shape = KEY_SHAPES[kind].match(key)
        if shape is None:
            yield f"malformed uniqueness key {key!r}: {label}"
            continue
        parts = shape.groupdict()
        if "station" in parts and int(parts["station"]) != s["station_id"]:
            yield f"uniqueness key {key!r} names another station than {s['station_id']}: {label}"
        if "year" in parts and int(parts["year"]) != s["year"]:
            yield f"uniqueness key {key!r} names another year than {s['year']}: {label}"
        if "uscc" in parts and parts["uscc"] != s["unit__uscc"]:
            yield f"uniqueness key {key!r} names another unit than {s['unit__uscc']}: {label}"


def _stations_follow_declarations(submissions: list[dict[str, Any]], stations: list[dict[str, Any]]) -> Iterator[str]:
    declarations: dict[int, list[str]] = defaultdict(list)
    for s in submissions:
        if s["kind"] == "establishment" and s["station_id"] is not None:
            declarations[s["station_id"]].append(str(s["status"]))
    for station in stations:
        state, own = str(station["state"]), declarations.get(station["id"], [])
        label = f"station {station['id']} ({state})"
        if state in RECOGNISED_STATION_STATES and "recognised" not in own:
            yield f"recognised station without a recognised declaration: {label}, declarations {own}"
        if state == "applying" and not DECLARATION_IN_PROGRESS & set(own):
            yield f"applying station without a declaration in progress: {label}, declarations {own}"
        if state == "not_established" and (not own or not set(own) <= DECLARATION_FAILED):
            yield f"station not established although its declaration did not fail: {label}, declarations {own}"
        if "recognised" in own and state not in RECOGNISED_STATION_STATES:
            yield f"recognised declaration of a station never recognised: {label}"
        if len(own) > 1:
            yield f"station with {len(own)} declarations: {label}"


def _is_import(row: dict[str, Any]) -> bool:
    return row["actor_kind"] == "system" and row["reason"] == "import"


def _imported(subject: str, transitions: list[dict[str, Any]]) -> set[int]:
    """The subjects whose first audit row is the register's import."""
    first: dict[int, dict[str, Any]] = {}
    for row in transitions:
        if row["subject_type"] == subject:
            first.setdefault(row["subject_id"], row)
    return {subject_id for subject_id, row in first.items() if _is_import(row)}


def _filings_met(submissions: list[dict[str, Any]], obligations: list[dict[str, Any]],
                 imported: set[int] = frozenset()) -> Iterator[str]:
    by_id = {s["id"]: s for s in submissions}
    met = Counter(o["submission_id"] for o in obligations if o["submission_id"] is not None)
    for o in obligations:
        label = f"filing obligation {o['id']} (station {o['station_id']}, {o['year']}, {o['state']})"
        filing = by_id.get(o["submission_id"]) if o["submission_id"] is not None else None
        if str(o["state"]) in FILED:
            if filing is None:
                if o["id"] not in imported:
                    yield f"filed obligation without its filing: {label}"
            elif (filing["kind"], filing["status"], filing["station_id"], filing["year"]) != (
                "annual_filing", "submitted", o["station_id"], o["year"]
            ):
                yield f"obligation met by another station's, year's or kind's submission {filing['id']}: {label}"
        elif o["submission_id"] is not None:
            yield f"obligation not met names submission {o['submission_id']}: {label}"
    for s in submissions:
        if s["kind"] == "annual_filing" and s["status"] == "submitted" and met[s["id"]] != 1:
            yield f"annual filing {s['id']} meets {met[s['id']]} obligations"


async def _notices_unique() -> list[str]:
    keys = Counter(await Notice.all().values_list("recipient_id", "kind", "subject", "period"))
    return [f"notice queued {n} times: {key}" for key, n in keys.items() if n > 1]


async def _contacts_bound(stations: list[dict[str, Any]]) -> list[str]:
    broken = []
    station_ids = {s["id"] for s in stations}
    users = set(await BotUser.all().values_list("id", flat=True))
    active: Counter[int] = Counter()
    for contact_id, user_id, station_id, is_active in await Contact.all().values_list("id", "user_id", "station_id", "active"):
        if station_id not in station_ids or user_id not in users:
            broken.append(f"contact {contact_id} bound to a missing station {station_id} or user {user_id}")
        if is_active:
            active[user_id] += 1
    broken += [f"user {user} is the active contact of {n} stations" for user, n in active.items() if n > 1]
    return broken


async def _grade_caps(submissions: list[dict[str, Any]]) -> list[str]:
    broken = []
    grades = await KeyProjectGrade.all().values("id", "year", "level", "slot", "submission_id")
    per_level = Counter((g["year"], g["level"]) for g in grades)
    broken += [f"R8: {n} key projects of level {level} in {year}" for (year, level), n in per_level.items()
               if n > KEY_PROJECT_SLOTS_PER_LEVEL]
    slots = Counter((g["year"], g["level"], g["slot"]) for g in grades)
    broken += [f"R8: slot {key} held {n} times" for key, n in slots.items() if n > 1]
    broken += [f"R8: grade {g['id']} in slot {g['slot']}" for g in grades
               if not 1 <= g["slot"] <= KEY_PROJECT_SLOTS_PER_LEVEL or g["level"] not in (1, 2, 3)]
    held: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for g in grades:
        held[g["submission_id"]].append(g)
    by_id = {s["id"]: s for s in submissions}
    for s in submissions:
        if s["kind"] != "key_project":
            continue
        places = held.get(s["id"], [])
        label = f"key project {s['id']} ({s['status']}, level {s['level']}, {s['year']})"
        if str(s["status"]) in GRADED_KEY_PROJECT_STATES:
            if len(places) != 1 or (places[0]["level"], places[0]["year"]) != (s["level"], s["year"]):
                broken.append(f"R8: graded {label} holds {[(p['level'], p['year']) for p in places]}")
        elif places:
            broken.append(f"R8: {label} off the graded path still holds a place")
    for submission_id in set(held) - set(by_id):
        broken.append(f"R8: grade of missing submission {submission_id}")
    for f in await Funding.all().values("id", "submission_id", "station_id", "level"):
        s = by_id.get(f["submission_id"])
        if s is None or (s["kind"], s["status"], s["station_id"], s["level"]) != (
            "key_project", "funded", f["station_id"], f["level"]
        ):
            broken.append(f"funding {f['id']} of submission {f['submission_id']} that is no funded key project of "
                          f"station {f['station_id']} at level {f['level']}")
    return broken


async def _documents_belong(submissions: list[dict[str, Any]]) -> list[str]:
    broken = []
    by_id = {s["id"]: s for s in submissions}
    contacts: dict[int, set[int]] = defaultdict(set)
    for user_id, station_id in await Contact.all().values_list("user_id", "station_id"):
        contacts[station_id].add(user_id)
    for d in await Document.all().values("id", "submission_id", "station_id", "uploaded_by", "kind"):
        s = by_id.get(d["submission_id"]) if d["submission_id"] is not None else None
        label = f"document {d['id']} ({d['kind']})"
        if s is None:
            broken.append(f"{label} belongs to no submission")
            continue
        if s["status"] == "draft":
            broken.append(f"{label} stored for draft {s['id']}")
        if d["station_id"] != s["station_id"]:
            broken.append(f"{label} of station {d['station_id']} on submission {s['id']} of station {s['station_id']}")
        if d["uploaded_by"] != s["created_by"] and d["uploaded_by"] not in contacts.get(s["station_id"], set()):
            broken.append(f"{label} uploaded by {d['uploaded_by']}, neither the author of submission {s['id']} "
                          "nor a contact of its station")
    return broken


def _personal_fields(fields: Iterable[Field]) -> tuple[set[str], dict[str, set[str]]]:
    """The personal fields' ids, and per group the personal subfields' ids."""
    plain: set[str] = set()
    groups: dict[str, set[str]] = defaultdict(set)
    for f in fields:
        if f.personal:
            plain.add(f.id)
        for sub in f.subfields:
            if sub.personal:
                groups[f.id].add(sub.id)
    return plain, groups


PERSONAL = {spec.kind: _personal_fields(spec.form.fields) for spec in FORM_SPECS}


def _unsealed(answers: Any, kind: str) -> Iterator[str]:
    if not isinstance(answers, dict) or kind not in PERSONAL:
        return
    plain, groups = PERSONAL[kind]

    def clear(value: Any) -> bool:
        return value not in (None, "") and not (isinstance(value, dict) and set(value) == {"enc"})

    for field_id in plain:
        if clear(answers.get(field_id)):
            yield field_id
    for group_id, subs in groups.items():
        items = answers.get(group_id)
        for n, item in enumerate(items if isinstance(items, list) else [], start=1):
            yield from (f"{group_id}[{n}].{sub}" for sub in subs if isinstance(item, dict) and clear(item.get(sub)))
    item = answers.get(ITEM)
    values = item.get("values") if isinstance(item, dict) else None
    if isinstance(values, dict):
        all_subs = set().union(*groups.values()) if groups else set()
        yield from (f"{ITEM}.{sub}" for sub in all_subs if clear(values.get(sub)))


async def _personal_sealed(submissions: list[dict[str, Any]]) -> list[str]:
    broken = []
    for s in submissions:
        for where in _unsealed(s["answers"], str(s["kind"])):
            broken.append(f"personal field {where} unsealed in submission {s['id']}")
    for key, data in await ConversationState.all().values_list("key", "data"):
        for nested in _dicts(data):
            for kind in PERSONAL:
                for where in _unsealed(nested, kind):
                    broken.append(f"personal field {where} unsealed in a conversation's saved state ({len(key)}-char key)")
    return sorted(set(broken))


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a JSON value (a conversation's data may hold a draft's answers anywhere)."""
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _dicts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _dicts(v)
