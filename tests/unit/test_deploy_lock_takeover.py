"""A lock whose holder no longer runs is taken over; operators can force one, recorded."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow.deploy.lock import acquire
from stackflow.deploy.model import parse_input
from stackflow.deploy.operator import force_unlock, newest_of_alias, note_rollback
from stackflow.deploy.ports import LockState
from stackflow.errors import DeploymentInProgress, InvalidRequest

from tests.support.deploy_fakes import FakeClock, FakeExecutions, InMemoryStore, fake_deps
from tests.support.events import load_event

FN, ALIAS = "StackFlowAPI", "PROD"
OLD = "arn:aws:states:us-east-1:123456789012:execution:stackflow-dev-deployment:old"
NEW = "arn:aws:states:us-east-1:123456789012:execution:stackflow-dev-deployment:new"


def held_by_old(store: InMemoryStore) -> None:
    # A lock that is far from expiring: only the holder's status can free it.
    store.locks[(FN, ALIAS)] = LockState(OLD, "2099-01-01T00:00:00Z", 4_070_908_800, "1")
    store.records[(FN, OLD)] = {"execution_id": OLD, "alias": ALIAS, "status": "IN_PROGRESS"}


def inp() -> Any:
    return parse_input(copy.deepcopy(load_event("deploy-execution")))


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED", "SUCCEEDED", None])
def test_the_lock_of_an_execution_that_no_longer_runs_is_taken_over_and_recorded(
        status: str | None) -> None:
    # GIVEN a lock held by an execution that stopped (or no longer exists)
    store = InMemoryStore()
    held_by_old(store)
    deps = fake_deps(store=store, executions=FakeExecutions({OLD: status} if status else {}))
    # WHEN the next deployment's Lock runs
    result = acquire(inp(), NEW, deps)
    # THEN it holds the lock, and both records say what happened
    assert store.locks[(FN, ALIAS)].holder == NEW
    assert result.took_over is not None
    assert result.took_over["holder"] == OLD
    assert result.took_over["status"] == (status or "DOES_NOT_EXIST")
    (note,) = store.records[(FN, OLD)]["interventions"]
    assert (note["action"], note["by"]) == ("lock-taken-over", NEW)


@pytest.mark.parametrize("executions", [FakeExecutions({OLD: "RUNNING"}),
                                        FakeExecutions(unreadable={OLD})],
                         ids=["running", "cannot-tell"])
def test_a_running_holder_or_one_that_cannot_be_checked_keeps_its_lock(
        executions: FakeExecutions) -> None:
    store = InMemoryStore()
    held_by_old(store)
    with pytest.raises(DeploymentInProgress, match=OLD):
        acquire(inp(), NEW, fake_deps(store=store, executions=executions))
    assert store.locks[(FN, ALIAS)].holder == OLD
    assert "interventions" not in store.records[(FN, OLD)]


def test_lock_remembers_the_aliases_revision_as_the_first_guard() -> None:
    deps = fake_deps()
    assert acquire(inp(), NEW, deps).revision_id == "rev-0"


def test_unlock_force_refuses_a_running_holder_unless_told_and_records_who_and_why() -> None:
    # GIVEN a lock held by a RUNNING execution
    store, clock = InMemoryStore(), FakeClock()
    held_by_old(store)
    executions = FakeExecutions({OLD: "RUNNING"})
    deps = fake_deps(store=store, executions=executions, clock=clock)
    # WHEN an operator forces it without saying it may run on / THEN it is refused
    with pytest.raises(DeploymentInProgress, match="still RUNNING"):
        force_unlock(FN, ALIAS, by="alice", reason="stuck", even_if_running=False, deps=deps)
    assert (FN, ALIAS) in store.locks
    # WHEN told otherwise / THEN it is released and the holder's record says by whom, why
    done = force_unlock(FN, ALIAS, by="alice", reason="stuck", even_if_running=True,
                        deps=deps)
    assert (done.released, done.holder, done.holder_status) == (True, OLD, "RUNNING")
    (note,) = store.records[(FN, OLD)]["interventions"]
    assert (note["action"], note["by"], note["reason"]) == ("unlock", "alice", "stuck")


def test_unlock_force_frees_a_stopped_holders_lock_and_needs_a_reason() -> None:
    store = InMemoryStore()
    held_by_old(store)
    deps = fake_deps(store=store, executions=FakeExecutions({OLD: "ABORTED"}))
    with pytest.raises(InvalidRequest) as info:
        force_unlock(FN, ALIAS, by="bob", reason=" ", even_if_running=False, deps=deps)
    assert info.value.field == "--reason"
    assert force_unlock(FN, ALIAS, by="bob", reason="CI cancelled", even_if_running=False,
                        deps=deps).released
    assert force_unlock(FN, ALIAS, by="bob", reason="again", even_if_running=False,
                        deps=deps).holder is None


def test_rollback_alias_is_noted_on_the_running_deployment_first() -> None:
    # GIVEN a finished and a running deployment that started in the same second
    records: list[dict[str, Any]] = [
        {"execution_id": OLD, "alias": ALIAS, "status": "SUCCEEDED",
         "started_at": "2025-06-01T12:00:00Z"},
        {"execution_id": NEW, "alias": ALIAS, "status": "IN_PROGRESS",
         "started_at": "2025-06-01T12:00:00Z"}]
    store = InMemoryStore()
    store.records.update({(FN, r["execution_id"]): dict(r) for r in records})
    # WHEN an operator's rollback-alias is recorded
    noted = note_rollback(store, FN, ALIAS, records,
                          {"version": "1", "before": {"version": "1", "routing": {"2": 0.1}}},
                          by="alice", at=FakeClock().now())
    # THEN it lands on the running deployment, which is the one rolled back
    assert noted == NEW
    assert newest_of_alias(records, ALIAS) == records[1]
    (note,) = store.records[(FN, NEW)]["interventions"]
    assert (note["action"], note["by"], note["version"]) == ("rollback-alias", "alice", "1")


def test_nothing_is_noted_on_an_execution_that_kept_no_record() -> None:
    # GIVEN a lock held by something that never wrote a record (a manual invocation)
    store = InMemoryStore()
    held_by_old(store)
    del store.records[(FN, OLD)]
    deps = fake_deps(store=store, executions=FakeExecutions({OLD: "ABORTED"}))
    # WHEN it is forced / THEN it is released, and no half record appears for it
    assert force_unlock(FN, ALIAS, by="bob", reason="gone", even_if_running=False,
                        deps=deps).released
    assert (FN, OLD) not in store.records
