"""One release, many functions (issue 16): the multi-target input and the set-wide steps.

The release path of the state machine is played here over the step handlers and
in-memory fakes, as ``run_state_machine`` plays the single path: Validate and Lock on
the release document, then each Map as one call per target document, then the
set-wide Rollback / Record / Unlock.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from stackflow.deploy.ports import AlarmState, AliasInfo, FunctionsPort, LockState
from stackflow.deploy.release import MAX_TARGETS, parse_release
from stackflow.deploy.steps import run
from stackflow.errors import DeploymentInProgress, InvalidRequest, StackFlowError

from tests.support.deploy_fakes import (
    EXECUTION,
    AliasOnlyFunctions,
    FakeAlarms,
    FakeClock,
    FakeFunctions,
    InMemoryStore,
    fake_deps,
)
from tests.support.events import load_event

API, WORKER = "StackFlowAPI", "StackFlowOrdersWorker"
SHA = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="


def target(name: str, **fields: Any) -> dict[str, Any]:
    return {"function_name": name, "alias": "PROD",
            "artifact": {"bucket": "artifacts", "key": f"{name}/1.zip", "sha256": SHA},
            "alarms": [f"{name}-errors"], **fields}


def release_input(*names: str, **fields: Any) -> dict[str, Any]:
    return {"functions": [target(n) for n in names or (API, WORKER)],
            "migrations": {"enabled": False},
            "strategy": {"preset": "Canary10Percent5Minutes"},
            "health": {"check_interval_seconds": 150}, **fields}


@dataclass
class Fleet(AliasOnlyFunctions):
    """``FunctionsPort`` over several functions, each alias a ``FakeFunctions``."""

    functions: dict[str, FakeFunctions] = field(default_factory=dict)

    def of(self, name: str) -> FakeFunctions:
        return self.functions.setdefault(name, FakeFunctions())

    def get_alias(self, function_name: str, alias: str) -> AliasInfo:
        return self.of(function_name).get_alias(function_name, alias)

    def update_alias(self, function_name: str, alias: str, *, version: str,
                     weights: Mapping[str, float], revision_id: str | None) -> AliasInfo:
        return self.of(function_name).update_alias(function_name, alias, version=version,
                                                   weights=weights, revision_id=revision_id)


_fleet: type[FunctionsPort] = Fleet


@dataclass
class ErrorsByFunction(FakeAlarms):
    """The new version's errors per function (the canary of one fails, not the other)."""

    by_function: dict[str, float] = field(default_factory=dict)

    def alarm_states(self, names: Sequence[str]) -> Mapping[str, AlarmState]:
        return {name: AlarmState("OK") for name in names}

    def error_sum(self, function_name: str, alias: str, version: str, *,
                  start: datetime, end: datetime) -> float:
        return self.by_function.get(function_name, 0.0)


@dataclass
class Release:
    """A played release: the document, the states entered, and the fakes behind it."""

    fleet: Fleet = field(default_factory=Fleet)
    store: InMemoryStore = field(default_factory=InMemoryStore)
    alarms: ErrorsByFunction = field(default_factory=ErrorsByFunction)
    clock: FakeClock = field(default_factory=FakeClock)
    doc: dict[str, Any] = field(default_factory=dict)
    states: list[str] = field(default_factory=list)
    largest_state: int = 0

    def __post_init__(self) -> None:
        self.deps = fake_deps(functions=FakeFunctions(), store=self.store, alarms=self.alarms,
                              clock=self.clock)
        self.deps = type(self.deps)(**{**vars(self.deps), "functions": self.fleet})

    def step(self, name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        # Every state's input is the whole document: the payload the 256 KB limit bounds.
        self.largest_state = max(self.largest_state, state_bytes(self.doc))
        return run(name, copy.deepcopy(dict(doc)), self.deps)

    def play(self, execution_input: dict[str, Any], *, smoke_fails: str | None = None,
             mid_bake: Any = None, after_promote: Any = None) -> Release:
        self.doc = {"input": execution_input, "execution_id": EXECUTION}
        self.doc["input"] = self.step("validate", self.doc)
        self.doc["lock"] = self.step("lock", self.doc)
        try:
            self._forward(smoke_fails, mid_bake, after_promote)
        except StackFlowError as e:
            self.doc["error"] = {"Error": e.error_type, "Cause": json.dumps(
                {"errorType": e.error_type, "errorMessage": e.message})}
            for name, key in (("rollback", "rollback"), ("record", "record"),
                              ("unlock", "unlock")):
                self.doc[key] = self.step(name, self.doc)
            self.states.append("ReleaseFailed")
        return self

    def _forward(self, smoke_fails: str | None, mid_bake: Any, after_promote: Any) -> None:
        # ReleaseDeliver: Upload -> Publish -> Smoke per function (a failure fails the Map).
        delivered = [self._deliver(t, smoke_fails) for t in self.doc["lock"]["targets"]]
        self.doc["targets"] = delivered
        while True:
            self._map("shift")
            if self.doc["targets"][0]["shift"]["done"]:
                break
            while True:
                self.clock.advance(self.doc["targets"][0]["shift"]["check_seconds"])
                if mid_bake is not None:
                    mid_bake(self)
                self._map("health")
                if self.doc["targets"][0]["health"]["bake_done"]:
                    break
        self._map("promote")
        if after_promote is not None:
            after_promote(self)  # ReleaseMigrateContract's result (or caught error)
        self.doc["record"] = self.step("record", self.doc)
        self.doc["unlock"] = self.step("unlock", self.doc)
        self.states.append("ReleaseDeployed")

    def _deliver(self, item: dict[str, Any], smoke_fails: str | None) -> dict[str, Any]:
        name = item["input"]["function_name"]
        self.states.append(f"TargetSmoke:{name}")
        if name == smoke_fails:
            raise_smoke(name)
        return {**item, "publish": {"version": "2"}}

    def _map(self, step: str) -> None:
        # A Map's result replaces $.targets only when every iteration succeeded.
        results = []
        for item in self.doc["targets"]:
            self.states.append(f"Target{step.capitalize()}:{item['input']['function_name']}")
            results.append({**item, step: self.step(step, item)})
        self.doc["targets"] = results


def state_bytes(doc: Mapping[str, Any]) -> int:
    """The size Step Functions counts: the state's JSON as UTF-8 bytes."""
    return len(json.dumps(doc, separators=(",", ":")).encode())


def raise_smoke(name: str) -> None:
    from stackflow.errors import SmokeTestFailed
    raise SmokeTestFailed(f"{name}:2 smoke test failed: health: status 500")


def record(release: Release, function: str) -> dict[str, Any]:
    return release.store.records[(function, EXECUTION)]


def release_record(release: Release) -> dict[str, Any]:
    return release.store.releases[EXECUTION]


def versions(release: Release) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(r["function"], r["previous_version"], r["new_version"], r["status"])
            for r in release_record(release)["functions"]]


# --- the input ------------------------------------------------------------------------

def test_a_release_input_normalizes_and_reads_back_the_same() -> None:
    # GIVEN two targets sharing one strategy WHEN Validate normalizes it twice
    parsed = parse_release(release_input())
    again = parse_release(parsed.to_dict())
    # THEN every target is a full single-function input with the shared fields
    assert again == parsed
    assert [t.function_name for t in parsed.targets] == [API, WORKER]
    assert {t.preset for t in parsed.targets} == {"Canary10Percent5Minutes"}
    assert parsed.targets[1].alarms == (f"{WORKER}-errors",)


@pytest.mark.parametrize(("change", "field"), [
    (lambda i: i["functions"][1].pop("artifact"), "input.functions[1].artifact"),
    (lambda i: i["functions"][0].update(strategy={"preset": "AllAtOnce"}),
     "input.functions[0].strategy"),
    (lambda i: i["functions"].append(target(API)), "input.functions[2]"),
    (lambda i: i.update(functions=[]), "input.functions"),
    (lambda i: i.update(functions=[target(f"F{n}") for n in range(MAX_TARGETS + 1)]),
     "input.functions"),
    (lambda i: i.update(function_name=API), "input.function_name"),
    (lambda i: i["functions"][0].update(alias="$LATEST"), "input.functions[0].alias"),
])
def test_a_bad_release_input_names_the_field(change: Any, field: str) -> None:
    # GIVEN a release input with one thing wrong
    bad = release_input()
    change(bad)
    # WHEN Validate reads it THEN InvalidRequest names exactly that field
    with pytest.raises(InvalidRequest) as caught:
        run("validate", {"input": bad, "execution_id": EXECUTION}, Release().deps)
    assert caught.value.field == field


# --- the lock -------------------------------------------------------------------------

def test_every_lock_is_taken_in_a_stable_order_or_none() -> None:
    # GIVEN the worker (second in lock order) is held by a running execution
    played = Release()
    other = "arn:aws:states:us-east-1:123456789012:execution:StackFlowDeploy:other"
    played.store.locks[(WORKER, "PROD")] = LockState(other, "2099-01-01T00:00:00Z", 2**40, "1")
    played.deps.executions.statuses[other] = "RUNNING"  # type: ignore[attr-defined]
    doc = {"input": run("validate", {"input": release_input(WORKER, API)}, played.deps),
           "execution_id": EXECUTION}
    # WHEN the release locks
    with pytest.raises(DeploymentInProgress):
        run("lock", doc, played.deps)
    # THEN the API's lock (taken first: sorted by name) was given back; the other stays
    assert (API, "PROD") not in played.store.locks
    assert played.store.locks[(WORKER, "PROD")].holder == other
    assert record(played, API)["status"] == "FAILED"
    # AND the release record says it was refused, and why
    assert release_record(played)["status"] == "FAILED"
    assert release_record(played)["error"]["type"] == "DeploymentInProgress"


def test_lock_returns_one_target_document_per_function_in_input_order() -> None:
    played = Release()
    doc = {"input": run("validate", {"input": release_input(WORKER, API)}, played.deps),
           "execution_id": EXECUTION}
    result = run("lock", doc, played.deps)
    assert [t["input"]["function_name"] for t in result["targets"]] == [WORKER, API]
    assert result["order"] == [f"{API}:PROD", f"{WORKER}:PROD"]
    assert {t["lock"]["previous_version"] for t in result["targets"]} == {"1"}


# --- the flows (the "Done when", played over the handlers) ------------------

def test_two_functions_are_promoted_together_with_one_release_record() -> None:
    # GIVEN two functions on version 1 WHEN the release runs with healthy canaries
    played = Release().play(release_input())
    # THEN each shift wrote the same weight to both aliases, then both were promoted
    for name in (API, WORKER):
        writes = played.fleet.of(name).writes
        assert [(w.version, dict(w.routing)) for w in writes] == [("1", {"2": 0.1}),
                                                                   ("2", {})]
        assert record(played, name)["status"] == "SUCCEEDED"
    # AND one release record names each function's previous and new version
    assert versions(played) == [(API, "1", "2", "SUCCEEDED"), (WORKER, "1", "2", "SUCCEEDED")]
    release = release_record(played)
    assert (release["execution_id"], release["status"]) == (EXECUTION, "SUCCEEDED")
    assert release["strategy"]["preset"] == "Canary10Percent5Minutes"
    # AND each function's step outcomes, without their detail (that is on its record)
    steps = release["functions"][1]["steps"]
    assert [s["name"] for s in steps] == [s["name"] for s in record(played, WORKER)["steps"]]
    assert {s["outcome"] for s in steps} == {"succeeded"}
    assert "detail" not in steps[0]
    # AND each function's record points at the release instead of copying it
    assert {record(played, name)["release"] for name in (API, WORKER)} == {EXECUTION}
    assert played.doc["record"] == {"status": "SUCCEEDED",
                                    "functions": [{k: v for k, v in row.items() if k != "steps"}
                                                  for row in release["functions"]]}
    assert played.store.locks == {}


def test_a_failed_contract_migration_leaves_the_release_promoted_and_pending() -> None:
    # GIVEN a release whose contract-phase migration fails after every alias is promoted
    def contract_fails(release: Release) -> None:
        release.doc["migrate_contract_error"] = {"Error": "MigrationFailed", "Cause": json.dumps(
            {"errorType": "MigrationFailed", "errorMessage": "column still read"})}

    played = Release().play(release_input(), after_promote=contract_fails)
    # THEN both aliases stay on the new version, and the release record (and each
    # function's record) says the contract phase is pending and how to finish it
    for name in (API, WORKER):
        assert played.fleet.of(name).writes[-1].version == "2"
        assert record(played, name)["status"] == "SUCCEEDED_WITH_PENDING_CONTRACT"
    release = release_record(played)
    assert release["status"] == "SUCCEEDED_WITH_PENDING_CONTRACT"
    assert release["contract"]["error"] == {"type": "MigrationFailed",
                                            "message": "column still read"}
    assert "--phase contract" in release["contract"]["finish_with"]
    assert played.doc["record"]["status"] == "SUCCEEDED_WITH_PENDING_CONTRACT"


def test_the_second_canary_fails_and_both_aliases_go_back() -> None:
    # GIVEN the worker's new version errors under its canary
    played = Release()
    played.alarms.by_function[WORKER] = 3
    # WHEN the release runs
    played.play(release_input())
    # THEN both aliases are back on version 1 with no routing, each by a guarded write
    for name in (API, WORKER):
        assert played.fleet.of(name).alias.version == "1"
        assert dict(played.fleet.of(name).alias.routing) == {}
        assert record(played, name)["status"] == "ROLLED_BACK"
    assert [o["outcome"] for o in played.doc["rollback"]["functions"]] == ["rolled_back"] * 2
    verdict = played.doc["rollback"]["verdict"]
    assert verdict["Error"] == "CanaryUnhealthy"
    assert f"{API}:PROD rolled_back" in verdict["Cause"]
    assert f"{WORKER}:PROD rolled_back" in verdict["Cause"]
    assert played.doc["record"]["status"] == "ROLLED_BACK"
    # AND the release record holds the error once, and each function's outcome
    release = release_record(played)
    assert (release["status"], release["error"]["type"]) == ("ROLLED_BACK", "CanaryUnhealthy")
    assert [r["rollback"] for r in release["functions"]] == ["rolled_back"] * 2
    assert release["migration_rollback"] == {"needed": False, "applied": []}


def test_the_first_smoke_fails_and_the_second_is_never_shifted() -> None:
    # WHEN the API's smoke test fails inside the Deliver Map
    played = Release().play(release_input(), smoke_fails=API)
    # THEN no alias was ever written, and each is recorded as untouched
    assert played.fleet.of(API).writes == []
    assert played.fleet.of(WORKER).writes == []
    assert [o["outcome"] for o in played.doc["rollback"]["functions"]] == ["untouched"] * 2
    assert "TargetShift:" not in " ".join(played.states)
    assert played.doc["rollback"]["verdict"]["Error"] == "SmokeTestFailed"
    assert played.store.locks == {}


def test_an_operator_changed_one_alias_and_the_other_still_rolls_back() -> None:
    # GIVEN an operator puts the worker's alias on version 1 by hand during the bake
    def operator(played: Release) -> None:
        if len(played.fleet.of(WORKER).writes) == 1:  # after the canary's shift only
            played.fleet.of(WORKER).set("1", {"2": 0.5})

    played = Release().play(release_input(), mid_bake=operator)
    # THEN the worker's HealthCheck stopped the release; the API went back, the worker's
    # alias was left as the operator set it, and the verdict names both outcomes
    assert played.fleet.of(API).alias.version == "1"
    assert dict(played.fleet.of(API).alias.routing) == {}
    assert dict(played.fleet.of(WORKER).alias.routing) == {"2": 0.5}
    outcomes = {o["function"]: o["outcome"] for o in played.doc["rollback"]["functions"]}
    assert outcomes == {API: "rolled_back", WORKER: "left_alone"}
    verdict = played.doc["rollback"]["verdict"]
    assert verdict["Error"] == "AliasChangedExternally"
    assert f"PARTIAL ROLLBACK ({WORKER}:PROD not rolled back)" in verdict["Cause"]
    summary = {r["function"]: r["rollback"] for r in played.doc["record"]["functions"]}
    assert summary == {API: "rolled_back", WORKER: "left_alone"}
    assert played.doc["record"]["status"] == "FAILED"


# --- scale ----------------------------------------------------------------------------

PAYLOAD_LIMIT = 256 * 1024


@pytest.mark.parametrize("failing", [None, "F19"])
def test_twenty_targets_stay_within_the_payload_limit(failing: str | None) -> None:
    # GIVEN 20 functions, each with an inline smoke case (an HTTP API event) and an alarm
    case = load_event("smoke/health.json")
    names = [f"F{n:02d}" if n < 19 else "F19" for n in range(20)]
    execution_input = release_input(*names)
    for item in execution_input["functions"]:
        item["smoke"] = {"cases": [case]}
    played = Release()
    if failing is not None:
        played.alarms.by_function[failing] = 1
    # WHEN the release runs to its end (promoted, or all rolled back)
    played.play(execution_input)
    # THEN the largest state it carried, printed here, is far below 256 KB
    size = max(played.largest_state, state_bytes(played.doc))
    print(f"20 targets: largest state {size} bytes "
          f"({size / PAYLOAD_LIMIT:.0%} of the 256 KB limit)")
    assert size < PAYLOAD_LIMIT / 2
    assert played.doc["record"]["status"] == ("SUCCEEDED" if failing is None else "ROLLED_BACK")
    # AND each function's detail (every step) is in its own record, not in the state
    assert all(len(record(played, n)["steps"]) >= 4 for n in names)
    # AND one release record lists all 20 with their versions
    assert [(r["function"], r["previous_version"], r["new_version"])
            for r in release_record(played)["functions"]] == [(n, "1", "2") for n in names]


# --- interrupted ----------------------------------------------------------------------

class Stopped(Exception):
    """StopExecution: the execution ends where it is, no failure path runs."""


def test_a_stopped_release_is_reconciled_function_by_function() -> None:
    # GIVEN a release stopped during its canary's bake (both aliases at 10 %)
    def stop(played: Release) -> None:
        raise Stopped

    played = Release()
    with pytest.raises(Stopped):
        played.play(release_input(), mid_bake=stop)
    played.deps.executions.statuses[EXECUTION] = "ABORTED"  # type: ignore[attr-defined]
    sample = copy.deepcopy(load_event("deploy-step-reconcile"))
    sample["detail"].update(status="ABORTED", executionArn=EXECUTION,
                            input=json.dumps(release_input()))
    # WHEN Reconcile gets the status-change event
    result = run("reconcile", sample, played.deps)
    # THEN every alias is back on version 1, every lock free, every record ABORTED
    for name in (API, WORKER):
        assert played.fleet.of(name).alias.version == "1"
        assert dict(played.fleet.of(name).alias.routing) == {}
        assert record(played, name)["status"] == "ABORTED"
    assert played.store.locks == {}
    assert [f["rollback"]["outcome"] for f in result["functions"]] == ["rolled_back"] * 2
    # AND the release record is closed ABORTED, each function's outcome on its row
    release = release_record(played)
    assert (release["status"], release["error"]["type"]) == ("ABORTED", "ExecutionAborted")
    assert [(r["status"], r["rollback"]) for r in release["functions"]] == [
        ("ABORTED", "rolled_back")] * 2
    assert result["record_status"] == "ABORTED"
    # AND a second delivery changes nothing
    writes = played.store.calls.count("update_release")
    assert run("reconcile", sample, played.deps)["changed"] is False
    assert played.store.calls.count("update_release") == writes


# --- the operator's view --------------------------------------------------------------

def test_history_shows_a_release_as_one_row_with_its_functions_below() -> None:
    from stackflow_tools.cli.deploy import history_lines
    from stackflow_tools.cli.releases import releases_of

    played = Release()
    played.alarms.by_function[WORKER] = 3
    played.play(release_input())
    # WHEN the API's history is shown, its release read from the release record
    records = [record(played, API)]
    lines = history_lines(records, releases=releases_of(records, played.store))
    assert len([line for line in lines if "ROLLED_BACK" in line
                and not line.startswith(" ")]) == 1
    assert "  release of 2 functions (ROLLED_BACK):" in lines
    assert f"    {API}:PROD  1 -> 2  ROLLED_BACK (rollback rolled_back)" in lines
    assert f"    {WORKER}:PROD  1 -> 2  ROLLED_BACK (rollback rolled_back)" in lines


def test_history_still_reads_a_summary_copied_on_an_older_record() -> None:
    from stackflow_tools.cli.deploy import history_lines

    # GIVEN a record written before release records: the summary on the record itself
    older = {"execution_id": EXECUTION, "status": "SUCCEEDED", "release": {
        "execution_id": EXECUTION, "functions": [
            {"function": API, "alias": "PROD", "previous_version": "1", "new_version": "2",
             "status": "SUCCEEDED", "rollback": None}]}}
    # WHEN shown THEN its function is listed below it as before
    assert f"    {API}:PROD  1 -> 2  SUCCEEDED" in history_lines([older])


def test_rollback_alias_release_puts_every_alias_back_and_notes_each_record() -> None:
    from stackflow.deploy.traffic import rollback_alias
    from stackflow_tools.cli.releases import find_release, roll_back_release

    # GIVEN a promoted two-function release
    played = Release().play(release_input())
    # WHEN the operator rolls the release back by its execution name (no function named)
    found = find_release(played.store, EXECUTION.rsplit(":", 1)[-1])
    results = roll_back_release(
        found, lambda fn, alias, version: rollback_alias(fn, alias, version, played.fleet),
        played.store, by="alice", at=played.clock.now())
    # THEN both aliases are on version 1 again, and each record names alice
    assert [(r["function"], r["version"]) for r in results] == [(API, "1"), (WORKER, "1")]
    for name in (API, WORKER):
        assert played.fleet.of(name).alias.version == "1"
        assert record(played, name)["interventions"][0]["by"] == "alice"
    # AND the release record notes it once, naming both aliases
    (note,) = release_record(played)["interventions"]
    assert (note["action"], note["by"]) == ("rollback-alias --release", "alice")
    assert [(f["function"], f["version"]) for f in note["functions"]] == [(API, "1"),
                                                                         (WORKER, "1")]
    # AND the same release is found by its ARN
    assert find_release(played.store, EXECUTION)["execution_id"] == EXECUTION


def test_a_release_that_is_not_recorded_or_not_of_the_function_is_refused() -> None:
    from stackflow.errors import ResourceNotFound
    from stackflow_tools.cli.releases import check_function, find_release

    played = Release().play(release_input())
    with pytest.raises(ResourceNotFound):
        find_release(played.store, "release-2")
    with pytest.raises(InvalidRequest) as caught:
        check_function(find_release(played.store, "release-1"), "Billing")
    assert caught.value.field == "function"


def test_a_running_release_already_names_its_functions() -> None:
    played = Release()
    doc = {"input": run("validate", {"input": release_input()}, played.deps),
           "execution_id": EXECUTION}
    run("lock", doc, played.deps)
    assert release_record(played)["status"] == "IN_PROGRESS"
    assert versions(played) == [(API, "1", None, "IN_PROGRESS"),
                                (WORKER, "1", None, "IN_PROGRESS")]
