"""The life cycles of SPEC §4 as data: well formed, every state reachable, nothing unknown."""

from __future__ import annotations

import ast
from collections import deque
from datetime import date
from pathlib import Path

import pytest

from bot.rules import lifecycle
from bot.rules.lifecycle import LIFE_CYCLES, Actor, LifeCycle, Transition, filing_due_on, lifecycle_of

KINDS = sorted(LIFE_CYCLES)


def _reachable(cycle: LifeCycle) -> set[str]:
    seen = {cycle.initial}
    queue = deque([cycle.initial])
    while queue:
        state = queue.popleft()
        for transition in cycle.available(state):
            if transition.target not in seen:
                seen.add(transition.target)
                queue.append(transition.target)
    return seen


def test_every_kind_of_spec_has_a_life_cycle() -> None:
    assert set(KINDS) == {
        "establishment", "key_project", "annual_filing", "extension", "deregistration", "station", "filing",
    }
    assert set(lifecycle.SUBMISSION_KINDS) < set(KINDS)
    with pytest.raises(KeyError):
        lifecycle_of("unicorn")


@pytest.mark.parametrize("kind", KINDS)
def test_every_state_is_reachable_from_the_initial_one(kind: str) -> None:
    cycle = lifecycle_of(kind)
    assert _reachable(cycle) == set(cycle.states)


@pytest.mark.parametrize("kind", KINDS)
def test_no_transition_leads_to_or_from_an_unknown_state(kind: str) -> None:
    cycle = lifecycle_of(kind)
    for transition in cycle.transitions:
        assert transition.target in cycle.states
        assert transition.sources <= set(cycle.states)
        assert transition.sources and transition.actors


@pytest.mark.parametrize("kind", KINDS)
def test_action_names_are_unique_per_kind(kind: str) -> None:
    actions = [t.action for t in lifecycle_of(kind).transitions]
    assert len(actions) == len(set(actions))
    assert lifecycle_of(kind).actions == tuple(actions)


def test_a_malformed_life_cycle_is_refused_when_declared() -> None:
    submit = Transition("submit", frozenset({"draft"}), "submitted", frozenset({Actor.CONTACT}))
    with pytest.raises(ValueError, match="declared twice"):
        LifeCycle("x", ("draft", "submitted"), "draft", (submit, submit))
    with pytest.raises(ValueError, match="unknown states"):
        LifeCycle("x", ("draft",), "draft", (submit,))
    with pytest.raises(ValueError, match="initial"):
        LifeCycle("x", ("submitted",), "draft", ())


def test_find_only_from_a_source_state() -> None:
    establishment = lifecycle_of("establishment")
    assert establishment.find("accept_for_review", "submitted").target == "under_review"
    assert establishment.find("accept_for_review", "under_review") is None
    assert establishment.find("no_such_action", "submitted") is None
    assert establishment.transition("recognise").sources == {"announced", "objection_dismissed"}


def test_submission_kinds_start_as_drafts_and_are_submitted_by_a_contact() -> None:
    for kind in lifecycle.SUBMISSION_KINDS:
        cycle = lifecycle_of(kind)
        assert cycle.initial == "draft"
        submit = cycle.find("submit", "draft")
        assert submit is not None and submit.target == "submitted" and submit.actors == {Actor.CONTACT}


def test_spec_paths_of_section_4() -> None:
    def walk(kind: str, start: str, *actions: str) -> str:
        cycle, state = lifecycle_of(kind), start
        for action in actions:
            transition = cycle.find(action, state)
            assert transition is not None, f"{kind}: {action} from {state}"
            state = transition.target
        return state

    assert walk("establishment", "draft", "submit", "accept_for_review", "record_review_pass", "announce",
                "object", "dismiss_objection", "recognise") == "recognised"
    assert walk("establishment", "announced", "object", "uphold_objection") == "objection_upheld"
    assert walk("key_project", "draft", "submit", "accept_for_review", "grade", "announce", "fund") == "funded"
    assert walk("key_project", "under_review", "not_select") == "not_selected"
    assert walk("station", "applying", "recognise", "mark_overdue", "flag_revocation", "revoke") == "revoked"
    assert walk("station", "active", "request_deregistration", "deregister") == "deregistered"
    assert walk("filing", "not_due", "mark_due", "file_on_time") == "filed_on_time"
    assert walk("filing", "not_due", "mark_due", "extend", "mark_overdue", "file_late") == "filed_late"
    assert walk("extension", "draft", "submit", "approve") == "approved"
    assert walk("deregistration", "draft", "submit", "refuse") == "refused"


def test_decisions_against_an_item_record_a_reason() -> None:
    for kind in KINDS:
        for transition in lifecycle_of(kind).transitions:
            if transition.action in {"reject", "record_review_fail", "disqualify", "revoke", "refuse",
                                     "uphold_objection", "dismiss_objection", "flag_revocation"}:
                assert transition.reason_required, f"{kind}.{transition.action}"
            if transition.action in {"submit", "accept_for_review", "announce", "recognise", "fund", "mark_due"}:
                assert not transition.reason_required, f"{kind}.{transition.action}"


def test_uniqueness_keys_released_as_the_policy_reads() -> None:
    establishment = lifecycle_of("establishment")
    # a unit may declare again after any end that made no station (and after recognition the
    # station itself blocks it)
    for action in ("reject", "record_review_fail", "disqualify", "withdraw", "uphold_objection", "recognise"):
        assert establishment.transition(action).releases_key, action
    key_project = lifecycle_of("key_project")
    # 七(一): one declaration a year; only one that never reached the experts frees the year
    assert {t.action for t in key_project.transitions if t.releases_key} == {"withdraw", "reject"}
    assert not any(t.releases_key for t in lifecycle_of("annual_filing").transitions)
    for kind in ("station", "filing"):
        assert not any(t.releases_key for t in lifecycle_of(kind).transitions)


def test_only_staff_decide_and_contacts_act_on_their_own_requests() -> None:
    for kind in KINDS:
        for transition in lifecycle_of(kind).transitions:
            if transition.reason_required and transition.action != "flag_revocation":
                assert transition.actors == {Actor.STAFF}, f"{kind}.{transition.action}"
            if transition.action in {"submit", "withdraw"}:
                assert transition.actors == {Actor.CONTACT}
    assert lifecycle_of("establishment").transition("object").allows(Actor.PUBLIC)
    assert not lifecycle_of("establishment").transition("recognise").allows(Actor.CONTACT)


def test_a_filing_is_due_on_the_last_day_of_february_of_the_next_year() -> None:
    assert filing_due_on(2026) == date(2027, 2, 28)
    assert filing_due_on(2027) == date(2028, 2, 29)  # leap year


def test_the_module_is_pure() -> None:
    """Rules import the standard library and other rules only (DESIGN: layout)."""
    tree = ast.parse(Path(lifecycle.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("bot.rules"):
                imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "dataclasses", "enum", "datetime", "collections", "typing"}
