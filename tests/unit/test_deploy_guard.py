"""The alias guard, pure: which revision an execution last left, and what counts as its own."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow.deploy.document import AliasSnapshot
from stackflow.deploy.guard import (
    AliasGuard,
    as_left,
    carries,
    changed_externally,
    describe,
    plan_states,
)
from stackflow.deploy.ports import AliasInfo
from stackflow.deploy.strategy import PlanStep

from tests.support.events import load_event

PLAN = (PlanStep(0.1, 300, 10, 30), PlanStep(0.5, 300, 10, 30), PlanStep(1.0, 0))


def doc(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_event(f"deploy-step-{name}"))


def test_the_guard_is_the_latest_write_the_document_knows() -> None:
    # GIVEN documents at each point of a deployment
    rollback, promote = doc("rollback"), doc("promote")
    lock_rev, shift_rev = rollback["lock"]["revision_id"], rollback["shift"]["revision_id"]
    promote["promote"] = {"version": "7", "alias": "PROD", "revision_id": "promoted",
                          "previous": {"version": "6", "routing": {"7": 0.1}}}
    before_shift = {k: v for k, v in rollback.items() if k != "shift"}
    # THEN Promote's revision beats the Shift's, which beats the Lock's; a document
    # that never locked has no guard
    assert AliasGuard.of_document(promote) == AliasGuard("promoted", moved=True)
    assert AliasGuard.of_document(rollback) == AliasGuard(shift_rev, moved=True)
    assert AliasGuard.of_document(before_shift) == AliasGuard(lock_rev, moved=False)
    assert AliasGuard.of_document({"input": rollback["input"]}) is None


def test_a_shift_that_wrote_nothing_has_not_moved_the_alias() -> None:
    # GIVEN AllAtOnce: the only Shift is done and carries the Lock's revision on
    document = doc("rollback")
    document["shift"]["revision_id"] = document["lock"]["revision_id"]
    # THEN the execution never moved the alias
    assert AliasGuard.of_document(document) == AliasGuard(document["lock"]["revision_id"],
                                                          moved=False)


def test_the_record_gives_reconcile_the_same_guard() -> None:
    # GIVEN a record whose steps carry each result (a failed step carries none)
    record = {"steps": [
        {"name": "lock", "outcome": "succeeded", "detail": {"revision_id": "r0"}},
        {"name": "shift", "outcome": "succeeded", "detail": {"revision_id": "r1"}},
        {"name": "health", "outcome": "failed", "detail": {"errorType": "CanaryUnhealthy"}},
    ]}
    # THEN the last revision written wins and the alias moved
    assert AliasGuard.of_record(record) == AliasGuard("r1", moved=True)
    assert AliasGuard.of_record({"steps": record["steps"][:1]}) == AliasGuard("r0")
    assert AliasGuard.of_record({}) == AliasGuard(None)


def test_plan_states_are_each_weight_then_promoted() -> None:
    # GIVEN a 10 % / 50 % plan of version 7 over version 6
    # THEN the states its writes leave are exactly these
    assert plan_states("6", "7", PLAN) == (AliasSnapshot("6", {"7": 0.1}),
                                           AliasSnapshot("6", {"7": 0.5}),
                                           AliasSnapshot("7", {}))
    # AND without a new version (or redeploying the live one) there are none
    assert plan_states("6", None, PLAN) == ()
    assert plan_states("6", "6", PLAN) == ()


@pytest.mark.parametrize(("alias", "expected"), [
    (AliasInfo("PROD", "6", {"7": 0.1}, "mine"), True),  # as this execution left it
    (AliasInfo("PROD", "6", {"7": 0.5}, "lost-answer"), True),  # a write of its own
    (AliasInfo("PROD", "6", {}, "operator"), False),  # an operator's rollback
    (AliasInfo("PROD", "8", {}, "hotfix"), False),  # a hotfix
    (AliasInfo("PROD", "6", {"7": 0.3}, "operator"), False),  # someone else's weight
])
def test_as_left_accepts_only_this_executions_own_writes(alias: AliasInfo,
                                                          expected: bool) -> None:
    states = plan_states("6", "7", PLAN)
    assert as_left(alias, AliasGuard("mine", moved=True), states) is expected


def test_a_document_of_an_earlier_release_keeps_the_unguarded_rule() -> None:
    # GIVEN no revision known / THEN any alias counts as the execution's own
    assert as_left(AliasInfo("PROD", "8", {}, "x"), AliasGuard(None))


def test_carries_means_serving_the_version_as_primary_or_by_weight() -> None:
    assert carries(AliasInfo("PROD", "7"), "7")
    assert carries(AliasInfo("PROD", "6", {"7": 0.1}), "7")
    assert not carries(AliasInfo("PROD", "6", {"7": 0.0}), "7")
    assert not carries(AliasInfo("PROD", "6"), None)


def test_the_verdict_says_what_the_alias_serves_now() -> None:
    # GIVEN an operator's hotfix found where this execution's canary should be
    error = changed_externally("StackFlowAPI", AliasInfo("PROD", "8", {}, "op"),
                               AliasGuard("mine"), "Promote")
    # THEN the message names both revisions, the alias's routing and what stopped
    assert error.error_type == "AliasChangedExternally"
    assert "RevisionId op, expected mine" in error.message
    assert "version 8 (100%)" in error.message
    assert "before Promote" in error.message
    assert error.details["alias"] == {"version": "8", "routing": {}}
    assert describe(AliasSnapshot("6", {"7": 0.1})) == "version 6 (90%) and version 7 (10%)"
