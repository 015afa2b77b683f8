"""Every life cycle of SPEC §4, declared once as data: states, initial state, transitions.

A life cycle belongs to a *subject kind*: the five kinds of submission (`Submission.kind`:
establishment, key_project, annual_filing, extension, deregistration), the station, and the
annual filing obligation of a station for a year ("filing"; not to be confused with the
annual_filing *submission* that meets it).

A transition names an action, the states it may start from, the state it leads to, who may take
it, whether the item's contacts are told, whether a reason must be recorded, whether the
submission's "one per ..." uniqueness key is released, and which documents the submission must
hold before it may be taken (a guard: the stamped 申报表 before review). Storage applies transitions
(`storage.transitions.apply_transition`); nothing else decides what may follow what.

Clause references (六(二), 七(一), 九 ...) point into the policy text, see SPEC §3.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

__all__ = [
    "Actor",
    "STAMPED_FORM",
    "GRADED_KEY_PROJECT_STATES",
    "LIFE_CYCLES",
    "LifeCycle",
    "SUBMISSION_KINDS",
    "Transition",
    "filing_due_on",
    "lifecycle_of",
]


class Actor(StrEnum):
    CONTACT = "contact"  # a contact of the item's station (or the applicant who created it)
    STAFF = "staff"  # bureau staff
    SYSTEM = "system"  # the bot itself: the scheduler, or a consequence of another transition
    PUBLIC = "public"  # anyone: files an objection while an announcement is open (SPEC §2)


CONTACT = frozenset({Actor.CONTACT})
STAFF = frozenset({Actor.STAFF})
SYSTEM = frozenset({Actor.SYSTEM})
STAFF_OR_SYSTEM = frozenset({Actor.STAFF, Actor.SYSTEM})
CONTACT_OR_SYSTEM = frozenset({Actor.CONTACT, Actor.SYSTEM})
ANYONE_WHO_MAY_OBJECT = frozenset({Actor.PUBLIC, Actor.STAFF})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    actors: frozenset[Actor]
    notify: bool = True  # queue a status_change notice to the item's contacts
    reason_required: bool = False
    releases_key: bool = False  # set the submission's uniqueness_key to NULL
    clause: str = ""
    # Kinds of document (storage.models.Document.kind) the submission must hold before the
    # transition may be taken: a guard, refused as "materials_missing" while one is absent.
    requires_documents: frozenset[str] = frozenset()

    def allows(self, actor: Actor | str) -> bool:
        return Actor(actor) in self.actors

    def missing_documents(self, present: Iterable[str]) -> frozenset[str]:
        """The required kinds of document not among `present` (empty: the guard is met)."""
        return self.requires_documents - frozenset(present)


# Subject kinds that are no submission: their transitions cannot require documents.
_NOT_SUBMISSIONS = frozenset({"station", "filing"})


@dataclass(frozen=True)
class LifeCycle:
    kind: str
    states: tuple[str, ...]
    initial: str
    transitions: tuple[Transition, ...]
    _by_action: dict[str, Transition] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_action: dict[str, Transition] = {}
        known = set(self.states)
        if self.initial not in known:
            raise ValueError(f"{self.kind}: initial state {self.initial!r} is not one of its states")
        for transition in self.transitions:
            if transition.action in by_action:
                raise ValueError(f"{self.kind}: action {transition.action!r} declared twice")
            unknown = (transition.sources | {transition.target}) - known
            if unknown:
                raise ValueError(f"{self.kind}.{transition.action}: unknown states {sorted(unknown)}")
            if not transition.sources or not transition.actors:
                raise ValueError(f"{self.kind}.{transition.action}: needs sources and actors")
            if transition.requires_documents and self.kind in _NOT_SUBMISSIONS:
                raise ValueError(f"{self.kind}.{transition.action}: only a submission holds documents")
            by_action[transition.action] = transition
        object.__setattr__(self, "_by_action", by_action)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(self._by_action)

    def transition(self, action: str) -> Transition | None:
        """The transition named `action`, whatever the current state."""
        return self._by_action.get(action)

    def find(self, action: str, current_state: str) -> Transition | None:
        """The transition `action` if it may start from `current_state`, else None."""
        transition = self._by_action.get(action)
        if transition is None or current_state not in transition.sources:
            return None
        return transition

    def available(self, current_state: str, actor: Actor | str | None = None) -> tuple[Transition, ...]:
        """What may happen next from `current_state` (for one kind of actor, when given)."""
        return tuple(
            t
            for t in self.transitions
            if current_state in t.sources and (actor is None or t.allows(actor))
        )

    def is_final(self, state: str) -> bool:
        return not self.available(state)

    def awaiting(self, document_kind: str) -> frozenset[str]:
        """The states from which a transition requires `document_kind`: where it is still awaited."""
        return frozenset().union(*(t.sources for t in self.transitions if document_kind in t.requires_documents))


def _t(
    action: str,
    sources: str | tuple[str, ...],
    target: str,
    actors: frozenset[Actor],
    *,
    notify: bool = True,
    reason: bool = False,
    releases_key: bool = False,
    clause: str = "",
    requires_documents: tuple[str, ...] = (),
) -> Transition:
    return Transition(
        action=action,
        sources=frozenset((sources,) if isinstance(sources, str) else sources),
        target=target,
        actors=actors,
        notify=notify,
        reason_required=reason,
        releases_key=releases_key,
        clause=clause,
        requires_documents=frozenset(requires_documents),
    )


# -- submissions ---------------------------------------------------------------------------------

# States shared by the submission kinds (values of storage.models.SubmissionStatus).
DRAFT = "draft"
SUBMITTED = "submitted"
UNDER_REVIEW = "under_review"
APPROVED = "approved"
REJECTED = "rejected"
GRADED = "graded"
NOT_SELECTED = "not_selected"
ANNOUNCED = "announced"
OBJECTION = "objection"
OBJECTION_UPHELD = "objection_upheld"  # 异议成立
OBJECTION_DISMISSED = "objection_dismissed"  # 异议不成立: the item goes on as if unopposed
RECOGNISED = "recognised"
FUNDED = "funded"
REFUSED = "refused"
WITHDRAWN = "withdrawn"
DISQUALIFIED = "disqualified"

# 六(一)1: the 申报表 is itself one of the materials. The bot prints it on submit; the unit signs and
# stamps it and uploads the scan, a document of this kind. Until it is in, staff cannot take the
# declaration into review.
STAMPED_FORM = "stamped_form"

# The establishment uniqueness key is `establishment:<uscc>`: at most one declaration of a unit in
# progress at a time. The policy sets no limit on how often a unit may declare, so every end that
# does not make a station frees the unit to declare again (rejected, disqualified, withdrawn,
# objection upheld). Recognition frees it too: from then on the station itself (an active,
# overdue ... station) is what stops its unit declaring again, and a unit whose station is later
# revoked or deregistered may declare anew.
ESTABLISHMENT = LifeCycle(
    kind="establishment",
    states=(
        DRAFT, SUBMITTED, UNDER_REVIEW, APPROVED, REJECTED, ANNOUNCED, OBJECTION, OBJECTION_UPHELD,
        OBJECTION_DISMISSED, RECOGNISED, WITHDRAWN, DISQUALIFIED,
    ),
    initial=DRAFT,
    transitions=(
        _t("submit", DRAFT, SUBMITTED, CONTACT, clause="六(一)"),
        _t("withdraw", (SUBMITTED, UNDER_REVIEW), WITHDRAWN, CONTACT, releases_key=True),
        # the formal check of the materials before they go to the experts: the signed and stamped
        # 申报表 (六(一)1) must be among them
        _t("accept_for_review", SUBMITTED, UNDER_REVIEW, STAFF, clause="六(二)", requires_documents=(STAMPED_FORM,)),
        _t("reject", SUBMITTED, REJECTED, STAFF, reason=True, releases_key=True, clause="六(一)"),
        _t("record_review_pass", UNDER_REVIEW, APPROVED, STAFF, clause="六(二)"),
        _t("record_review_fail", UNDER_REVIEW, REJECTED, STAFF, reason=True, releases_key=True, clause="六(二)"),
        # 弄虚作假或存有不实情况的，一经核实，取消其申报资格: at any point until the plaque
        _t(
            "disqualify",
            (SUBMITTED, UNDER_REVIEW, APPROVED, ANNOUNCED, OBJECTION, OBJECTION_DISMISSED),
            DISQUALIFIED, STAFF, reason=True, releases_key=True, clause="六(二)",
        ),
        _t("announce", APPROVED, ANNOUNCED, STAFF, clause="六(三)"),
        _t("object", (ANNOUNCED, OBJECTION_DISMISSED), OBJECTION, ANYONE_WHO_MAY_OBJECT, clause="六(三)"),
        _t("uphold_objection", OBJECTION, OBJECTION_UPHELD, STAFF, reason=True, releases_key=True, clause="六(四)"),
        _t("dismiss_objection", OBJECTION, OBJECTION_DISMISSED, STAFF, reason=True, clause="六(四)"),
        # 公示无异议或异议不成立的 ... 授予牌匾: staff, or the bot when an ended 公示 has nothing pending
        _t("recognise", (ANNOUNCED, OBJECTION_DISMISSED), RECOGNISED, STAFF_OR_SYSTEM, releases_key=True, clause="六(四)"),
    ),
)

# The key-project uniqueness key is `key_project:<station>:<year>`. 七(一) lets a station declare
# one key project a year: a declaration that went to the experts has used the year, whatever the
# outcome (not selected, disqualified, objection upheld keep the key). Only a declaration that
# never reached the experts frees the year: withdrawn by the station, or returned at the formal
# check (reject), so the station may send a corrected one while the window is open.
KEY_PROJECT = LifeCycle(
    kind="key_project",
    states=(
        DRAFT, SUBMITTED, UNDER_REVIEW, REJECTED, GRADED, NOT_SELECTED, ANNOUNCED, OBJECTION,
        OBJECTION_UPHELD, OBJECTION_DISMISSED, FUNDED, WITHDRAWN, DISQUALIFIED,
    ),
    initial=DRAFT,
    transitions=(
        _t("submit", DRAFT, SUBMITTED, CONTACT, clause="七(一)"),
        _t("withdraw", SUBMITTED, WITHDRAWN, CONTACT, releases_key=True),
        _t("accept_for_review", SUBMITTED, UNDER_REVIEW, STAFF, clause="七(二)"),
        _t("reject", SUBMITTED, REJECTED, STAFF, reason=True, releases_key=True, clause="七(一)"),
        # 认定重点建设项目及其等级: level 1..3 in `changes`; R8's caps hold a grade slot (storage)
        _t("grade", UNDER_REVIEW, GRADED, STAFF, clause="七(二)"),
        _t("not_select", UNDER_REVIEW, NOT_SELECTED, STAFF, clause="七(二)"),
        _t(
            "disqualify",
            (SUBMITTED, UNDER_REVIEW, GRADED, ANNOUNCED, OBJECTION, OBJECTION_DISMISSED),
            DISQUALIFIED, STAFF, reason=True, clause="七(二)",
        ),
        _t("announce", GRADED, ANNOUNCED, STAFF, clause="七(三)"),
        _t("object", (ANNOUNCED, OBJECTION_DISMISSED), OBJECTION, ANYONE_WHO_MAY_OBJECT, clause="七(三)"),
        _t("uphold_objection", OBJECTION, OBJECTION_UPHELD, STAFF, reason=True, clause="七(四)"),
        _t("dismiss_objection", OBJECTION, OBJECTION_DISMISSED, STAFF, reason=True, clause="七(四)"),
        # 公示无异议或异议不成立的 ... 予以资助: staff, or the bot when an ended 公示 has nothing pending
        _t("fund", (ANNOUNCED, OBJECTION_DISMISSED), FUNDED, STAFF_OR_SYSTEM, clause="七(四)"),
    ),
)

# A graded key project holds one of the ten places of its level (R8) while in these states; any
# other state it reaches gives the place back.
GRADED_KEY_PROJECT_STATES = frozenset({GRADED, ANNOUNCED, OBJECTION, OBJECTION_DISMISSED, FUNDED})

# 八: a filing (备案) is a record, not an application: the bureau takes note of it and decides
# nothing, so a submitted filing is final. On time or late is the obligation's state ("filing").
# Its key `annual_filing:<station>:<year>` is never released: one filing per station and year.
ANNUAL_FILING = LifeCycle(
    kind="annual_filing",
    states=(DRAFT, SUBMITTED),
    initial=DRAFT,
    transitions=(_t("submit", DRAFT, SUBMITTED, CONTACT, clause="八"),),
)

# 八: 延期备案书面申请, normally ≤ 6 months. Staff approve (the date, possibly shortened, in
# `changes["due_on"]`) or refuse. A refused or withdrawn request frees its key (one request in
# progress per station and year) so the station may ask again with better grounds.
EXTENSION = LifeCycle(
    kind="extension",
    states=(DRAFT, SUBMITTED, APPROVED, REFUSED, WITHDRAWN),
    initial=DRAFT,
    transitions=(
        _t("submit", DRAFT, SUBMITTED, CONTACT, clause="八"),
        _t("approve", SUBMITTED, APPROVED, STAFF, clause="八"),
        _t("refuse", SUBMITTED, REFUSED, STAFF, reason=True, releases_key=True, clause="八"),
        _t("withdraw", SUBMITTED, WITHDRAWN, CONTACT, releases_key=True),
    ),
)

# 九: 书面提交注销申请，经批复同意后交回牌匾. A refused or withdrawn request frees its key.
DEREGISTRATION = LifeCycle(
    kind="deregistration",
    states=(DRAFT, SUBMITTED, APPROVED, REFUSED, WITHDRAWN),
    initial=DRAFT,
    transitions=(
        _t("submit", DRAFT, SUBMITTED, CONTACT, clause="九"),
        _t("approve", SUBMITTED, APPROVED, STAFF, clause="九"),
        _t("refuse", SUBMITTED, REFUSED, STAFF, reason=True, releases_key=True, clause="九"),
        _t("withdraw", SUBMITTED, WITHDRAWN, CONTACT, releases_key=True),
    ),
)

# -- the station ---------------------------------------------------------------------------------

APPLYING = "applying"
NOT_ESTABLISHED = "not_established"
ACTIVE = "active"
OVERDUE = "overdue"
REVOCATION_CANDIDATE = "revocation_candidate"
REVOKED = "revoked"
DEREGISTRATION_REQUESTED = "deregistration_requested"
DEREGISTERED = "deregistered"

# A station follows its establishment declaration, then its filings. Transitions that only mirror
# a submission's change (its declaration failed, its deregistration request arrived) tell nobody:
# the submission's own notice already did.
STATION = LifeCycle(
    kind="station",
    states=(
        APPLYING, NOT_ESTABLISHED, ACTIVE, OVERDUE, REVOCATION_CANDIDATE, REVOKED,
        DEREGISTRATION_REQUESTED, DEREGISTERED,
    ),
    initial=APPLYING,
    transitions=(
        # 授牌: `changes["recognised_on"]`
        _t("recognise", APPLYING, ACTIVE, STAFF_OR_SYSTEM, clause="六(四)"),
        # the declaration was rejected, withdrawn, disqualified or objected to with success
        _t("not_establish", APPLYING, NOT_ESTABLISHED, STAFF_OR_SYSTEM, notify=False, clause="六(二)"),
        # a filing obligation went overdue (R10, R11)
        _t("mark_overdue", ACTIVE, OVERDUE, STAFF_OR_SYSTEM, clause="八"),
        # 无正当理由不参加年度备案逾期6个月以上 (R12): flagged for staff to confirm
        _t("flag_revocation", OVERDUE, REVOCATION_CANDIDATE, STAFF_OR_SYSTEM, reason=True, clause="九"),
        # the late filing arrived, or staff accept a justified reason (正当理由)
        _t("reinstate", (OVERDUE, REVOCATION_CANDIDATE), ACTIVE, STAFF_OR_SYSTEM, clause="九"),
        # 撤销并收回牌匾 (R12, R13): overdue, failure of duties or fraud found by 核查, unlawful
        # conduct or inability to operate. `changes`: revoked_on, revocation_reason.
        _t(
            "revoke",
            (ACTIVE, OVERDUE, REVOCATION_CANDIDATE, DEREGISTRATION_REQUESTED),
            REVOKED, STAFF, reason=True, clause="九",
        ),
        _t("request_deregistration", ACTIVE, DEREGISTRATION_REQUESTED, CONTACT_OR_SYSTEM, notify=False, clause="九"),
        # the request was withdrawn or refused
        _t("withdraw_deregistration", DEREGISTRATION_REQUESTED, ACTIVE, frozenset(Actor) - {Actor.PUBLIC}, clause="九"),
        # 经批复同意: `changes["deregistered_on"]`; the plaque comes back (plaque_returned_on)
        _t("deregister", DEREGISTRATION_REQUESTED, DEREGISTERED, STAFF_OR_SYSTEM, clause="九"),
    ),
)

# -- the annual filing obligation of a station for a year ----------------------------------------

NOT_DUE = "not_due"
DUE = "due"
EXTENDED = "extended"
FILED_ON_TIME = "filed_on_time"
FILED_LATE = "filed_late"


def filing_due_on(year: int) -> date:
    """The last day of February of year+1: the filing for `year` is due before 1 March (八, R10)."""
    return date(year + 1, 3, 1) - timedelta(days=1)


# R10/R11. The obligation's transitions tell nobody on their own: the scheduler sends the filing
# window, reminder and overdue notices (SPEC §6), and a filing or an extension is told through
# its submission.
FILING = LifeCycle(
    kind="filing",
    states=(NOT_DUE, DUE, EXTENDED, OVERDUE, FILED_ON_TIME, FILED_LATE),
    initial=NOT_DUE,
    transitions=(
        # a station active on 31 Dec of year Y owes a filing for Y, due at the end of February Y+1
        _t("mark_due", NOT_DUE, DUE, STAFF_OR_SYSTEM, notify=False, clause="八"),
        # an approved extension request: `changes["extended_due_on"]`; it may be decided after
        # the original date passed, so an overdue obligation can be extended too
        _t("extend", (DUE, OVERDUE), EXTENDED, STAFF_OR_SYSTEM, notify=False, clause="八"),
        _t("mark_overdue", (DUE, EXTENDED), OVERDUE, STAFF_OR_SYSTEM, notify=False, clause="八"),
        # `changes["submission_id"]`: the filing that met it
        _t("file_on_time", (DUE, EXTENDED), FILED_ON_TIME, CONTACT_OR_SYSTEM, notify=False, clause="八"),
        _t("file_late", (DUE, EXTENDED, OVERDUE), FILED_LATE, CONTACT_OR_SYSTEM, notify=False, clause="八"),
    ),
)

SUBMISSION_KINDS = ("establishment", "key_project", "annual_filing", "extension", "deregistration")

LIFE_CYCLES: dict[str, LifeCycle] = {
    cycle.kind: cycle
    for cycle in (ESTABLISHMENT, KEY_PROJECT, ANNUAL_FILING, EXTENSION, DEREGISTRATION, STATION, FILING)
}


def lifecycle_of(subject_kind: str) -> LifeCycle:
    """The life cycle of a submission kind, of "station", or of "filing" (the obligation)."""
    try:
        return LIFE_CYCLES[str(subject_kind)]
    except KeyError:
        raise KeyError(f"no life cycle for {subject_kind!r}") from None
