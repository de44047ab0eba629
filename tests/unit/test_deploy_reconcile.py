"""Reconcile over in-memory fakes: what it undoes, unlocks and records, and when nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from stackflow.deploy.ports import LockState
from stackflow.deploy.reconcile import read_status_change
from stackflow.deploy.steps import run
from stackflow.errors import InvalidRequest

from tests.support.deploy_fakes import (
    FakeExecutions,
    FakeFunctions,
    InMemoryStore,
    fake_deps,
)
from tests.support.events import load_event

FN, ALIAS = "StackFlowAPI", "PROD"


def event(status: str = "ABORTED", **detail: Any) -> dict[str, Any]:
    sample: dict[str, Any] = copy.deepcopy(load_event("deploy-step-reconcile"))
    sample["detail"].update(status=status, **detail)
    return sample


def arn(sample: dict[str, Any]) -> str:
    return str(sample["detail"]["executionArn"])


def in_progress(store: InMemoryStore, execution: str, *, shifted: bool = True) -> None:
    """The record and lock of an execution stopped during its canary's bake."""
    steps = [{"name": "lock", "outcome": "succeeded", "detail": {"revision_id": "rev-0"}}]
    if shifted:
        steps.append({"name": "shift", "outcome": "succeeded",
                      "detail": {"revision_id": "rev-1"}})
    store.records[(FN, execution)] = {"execution_id": execution, "status": "IN_PROGRESS",
                                      "alias": ALIAS, "previous_version": "1",
                                      "new_version": "2", "started_at": "2025-06-01T12:00:00Z",
                                      "steps": steps}
    store.locks[(FN, ALIAS)] = LockState(execution, "2025-06-01T13:00:00Z", 2**40, "1")


def canary() -> FakeFunctions:
    functions = FakeFunctions()
    functions.set("1", {"2": 0.1})  # rev-1: the Shift's write
    return functions


def test_a_stopped_execution_is_rolled_back_unlocked_and_recorded_aborted() -> None:
    # GIVEN an execution stopped mid-bake: 10 % on version 2, lock and record left open
    sample, functions, store = event(), canary(), InMemoryStore()
    in_progress(store, arn(sample))
    deps = fake_deps(functions=functions, store=store,
                     executions=FakeExecutions({arn(sample): "ABORTED"}))
    # WHEN Reconcile gets its status-change event
    result = run("reconcile", sample, deps)
    # THEN one guarded write put 100 % back on version 1 ...
    assert [(w.version, w.routing) for w in functions.writes[1:]] == [("1", {})]
    assert result["rollback"]["outcome"] == "rolled_back"
    # ... the lock is free and the record says ABORTED, when, why and what was done
    assert (FN, ALIAS) not in store.locks
    record = store.records[(FN, arn(sample))]
    assert record["status"] == "ABORTED"
    assert record["finished_at"] == "2025-06-01T12:03:20Z"
    assert record["error"] == {"type": "ExecutionAborted", "message":
                               "the execution was stopped (StopExecution) before it finished"}
    assert record["reconciled"]["lock_released"] is True
    assert result["changed"] is True
    assert result["record_status"] == "ABORTED"
    # WHEN the same event arrives again (EventBridge and Lambda retry deliveries)
    again = run("reconcile", sample, deps)
    # THEN nothing is written anywhere
    assert again["changed"] is False
    assert len(functions.writes) == 2
    assert store.records[(FN, arn(sample))] == record


def test_a_timed_out_execution_is_marked_timed_out() -> None:
    sample, store = event("TIMED_OUT", error="States.Timeout"), InMemoryStore()
    in_progress(store, arn(sample))
    run("reconcile", sample, fake_deps(functions=canary(), store=store))
    record = store.records[(FN, arn(sample))]
    assert (record["status"], record["error"]["type"]) == ("TIMED_OUT", "States.Timeout")


def test_an_ordinary_failure_whose_failure_path_ran_is_a_no_op() -> None:
    # GIVEN a canary failure the execution rolled back, recorded and unlocked itself
    sample, store, functions = event("FAILED"), InMemoryStore(), FakeFunctions()
    store.records[(FN, arn(sample))] = {"status": "ROLLED_BACK", "previous_version": "1",
                                        "new_version": "2", "steps": []}
    functions.set("1", {})  # the rollback's write
    # WHEN Reconcile hears of the FAILED execution
    result = run("reconcile", sample, fake_deps(functions=functions, store=store))
    # THEN it changes nothing
    assert result["changed"] is False
    assert len(functions.writes) == 1
    assert "reconciled" not in store.records[(FN, arn(sample))]


def test_a_succeeded_deployment_stopped_before_unlock_keeps_its_alias() -> None:
    # GIVEN an execution stopped after Record (SUCCEEDED) but before Unlock
    sample, store, functions = event(), InMemoryStore(), FakeFunctions()
    in_progress(store, arn(sample))
    store.records[(FN, arn(sample))]["status"] = "SUCCEEDED"
    functions.set("2", {})
    # WHEN reconciled / THEN the promoted alias stays, only the lock goes
    result = run("reconcile", sample, fake_deps(functions=functions, store=store))
    assert len(functions.writes) == 1
    assert (FN, ALIAS) not in store.locks
    assert store.records[(FN, arn(sample))]["status"] == "SUCCEEDED"
    assert result["rollback"] is None
    assert result["lock_released"] is True


def test_an_alias_a_newer_deployment_holds_is_not_touched() -> None:
    # GIVEN the stopped execution's lock was taken over by the next deployment already
    sample, store, functions = event(), InMemoryStore(), canary()
    in_progress(store, arn(sample))
    store.locks[(FN, ALIAS)] = LockState("arn:next", "2025-06-01T14:00:00Z", 2**40, "1")
    # WHEN reconciled late / THEN the alias is the newer one's: no write, no unlock
    result = run("reconcile", sample, fake_deps(functions=functions, store=store))
    assert len(functions.writes) == 1
    assert store.locks[(FN, ALIAS)].holder == "arn:next"
    assert result["rollback"] is None
    assert result["record_status"] == "ABORTED"


def test_an_operators_change_is_left_alone() -> None:
    # GIVEN an operator pointed the alias at a hotfix after the execution stopped
    sample, store, functions = event(), InMemoryStore(), canary()
    in_progress(store, arn(sample))
    functions.set("3", {})
    # WHEN reconciled / THEN the hotfix stays and the record says why
    result = run("reconcile", sample, fake_deps(functions=functions, store=store))
    assert functions.alias.version == "3"
    assert len(functions.writes) == 2
    assert result["rollback"]["outcome"] == "left_alone"
    assert "someone else" in store.records[(FN, arn(sample))]["reconciled"]["rollback"][
        "reason"]


@pytest.mark.parametrize(("status", "running", "why"), [
    ("SUCCEEDED", None, "nothing to reconcile"),
    ("ABORTED", "RUNNING", "still RUNNING"),
])
def test_nothing_is_done_for_a_success_or_a_still_running_execution(
        status: str, running: str | None, why: str) -> None:
    sample, store, functions = event(status), InMemoryStore(), canary()
    in_progress(store, arn(sample))
    executions = FakeExecutions({arn(sample): running} if running else {})
    result = run("reconcile", sample, fake_deps(functions=functions, store=store,
                                                executions=executions))
    assert result["changed"] is False
    assert why in result["reason"]
    assert (FN, ALIAS) in store.locks
    assert len(functions.writes) == 1


def test_an_execution_refused_by_validate_never_locked_anything() -> None:
    sample = event("FAILED", input=json.dumps({"function_name": FN}))
    result = run("reconcile", sample, fake_deps())
    assert result["changed"] is False
    assert "never got the lock" in result["reason"]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e.update({"detail-type": "Object Created"}), "detail-type"),
    (lambda e: e.update({"detail": None}), "detail"),
    (lambda e: e["detail"].pop("executionArn"), "detail.executionArn"),
    (lambda e: e["detail"].update({"stopDate": "yesterday"}), "detail.stopDate"),
])
def test_a_malformed_event_names_its_field(mutate: Any, field: str) -> None:
    sample = event()
    mutate(sample)
    with pytest.raises(InvalidRequest) as info:
        read_status_change(sample)
    assert info.value.field == field


def test_reconcile_reads_what_aws_sends() -> None:
    # GIVEN the sample event (AWS's shape) / THEN it reads, stop time in epoch ms
    change = read_status_change(load_event("deploy-step-reconcile"))
    assert change.status == "ABORTED"
    assert change.stopped_at == "2025-06-01T12:03:20Z"
