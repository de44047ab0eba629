"""Deployments end to end over the real handlers, with AWS in moto.

Each test plays the deployment state machine (tests.support.deploy_fakes) against
moto's Lambda (functions, versions, weighted aliases), S3 (object versions), DynamoDB
(locks, records) and CloudWatch (alarms, metrics). Bakes run on a fake clock. moto's
Lambda cannot run code without Docker, so smoke invocations go to a scripted invoker.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from stackflow.deploy.steps import run
from stackflow.errors import (
    ArtifactMismatch,
    CanaryUnhealthy,
    DeploymentInProgress,
    InvalidRequest,
    SmokeTestFailed,
    StackFlowError,
)

from tests.support.deploy_fakes import (
    ALARM,
    ALIAS,
    BUCKET,
    EXECUTION,
    FUNCTION,
    TABLE,
    FakeContext,
    MotoWorld,
    atomic_item_writes,
    execution_input,
    run_state_machine,
    sha256_b64,
)

CTX = FakeContext()


@pytest.fixture
def world(aws_env: None) -> Iterator[MotoWorld]:
    with mock_aws():
        created = MotoWorld.create()
        yield created


def step_names(record: dict[str, Any]) -> list[str]:
    return [f"{s['name']}:{s['outcome']}" for s in record["steps"]]


def published_versions(world: MotoWorld) -> list[str]:
    versions = world.lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    return [v["Version"] for v in versions if v["Version"] != "$LATEST"]


# --- the happy path ------------------------------------------------------------------
def test_canary_deployment_promotes_the_new_version_and_records_every_step(
        world: MotoWorld) -> None:
    # GIVEN version 1 live on PROD and a new build CI uploaded
    artifact = world.put_artifact("v2")
    seen: list[tuple[str, dict[str, float]]] = []
    # WHEN a Canary10Percent5Minutes deployment runs
    run = run_state_machine(execution_input(artifact), world,
                            on_bake=lambda doc: seen.append(world.alias()))
    # THEN 10 % of PROD ran version 2 during the bake (ten checks 30 s apart), then all
    # of it, no routing left
    assert run.error is None
    assert seen == [("1", {"2": 0.1})] * 10
    assert run.weights == [0.1, 1.0]
    assert world.alias() == ("2", {})
    # AND the smoke test invoked the new version itself, never the alias
    assert [(fn, q) for fn, q, _ in world.invoker.calls] == [(FUNCTION, "2")]
    # AND the record tells the whole story, and the lock is gone
    record = world.record()
    assert record["status"] == "SUCCEEDED"
    assert (record["previous_version"], record["new_version"]) == ("1", "2")
    assert record["artifact"] == artifact
    assert record["ci"] == {"commit": "abc123", "run_url": "https://ci.example/runs/1"}
    assert step_names(record) == ["lock:succeeded", "upload:succeeded", "publish:succeeded",
                                  "smoke:succeeded", "shift:succeeded", "health:succeeded",
                                  "shift:succeeded", "promote:succeeded", "record:succeeded",
                                  "unlock:succeeded"]
    assert all(s["started_at"] <= s["finished_at"] for s in record["steps"])
    assert run.document["unlock"] == {"released": True, "holder": None}
    assert world.ddb.get_item(TableName="stackflow-deployments", Key={
        "pk": {"S": f"LOCK#{FUNCTION}#{ALIAS}"}, "sk": {"S": "LOCK"}}).get("Item") is None


def test_linear_deployment_in_four_steps_moves_a_quarter_at_a_time(world: MotoWorld) -> None:
    # GIVEN a custom linear strategy of four steps, a minute apart
    artifact = world.put_artifact("v2")
    seen: list[tuple[str, dict[str, float]]] = []
    strategy = {"type": "linear", "steps": 4, "interval_seconds": 60}
    started = world.clock.now()
    # WHEN deployed
    run = run_state_machine(execution_input(artifact, strategy=strategy), world,
                            on_bake=lambda doc: seen.append(world.alias()))
    # THEN the alias carried 25, 50 and 75 % during the three bakes (two checks each),
    # then 100 %
    assert run.error is None
    assert seen == [("1", {"2": w}) for w in (0.25, 0.5, 0.75) for _ in range(2)]
    assert run.weights == [0.25, 0.5, 0.75, 1.0]
    assert world.alias() == ("2", {})
    assert (world.clock.now() - started).total_seconds() >= 180


def test_all_at_once_goes_straight_to_promote(world: MotoWorld) -> None:
    # GIVEN the AllAtOnce preset / WHEN deployed
    run = run_state_machine(execution_input(world.put_artifact("v2"),
                                            strategy={"preset": "AllAtOnce"}), world)
    # THEN there is no bake and no health check: one Shift says done, Promote moves it
    assert run.states == ["Lock", "Upload", "Publish", "Smoke", "Shift@1.0", "Promote",
                          "Record", "Unlock"]
    assert world.alias() == ("2", {})


# --- canary verdicts and rollback ----------------------------------------------------------
def test_alarm_firing_mid_bake_rolls_back_to_the_old_version_with_no_routing_left(
        world: MotoWorld) -> None:
    # GIVEN a canary whose errors alarm goes off while 10 % runs the new version
    artifact = world.put_artifact("v2")
    # WHEN the deployment runs
    run = run_state_machine(execution_input(artifact), world,
                            on_bake=lambda doc: world.set_alarm("ALARM"))
    # THEN HealthCheck failed with CanaryUnhealthy naming the alarm
    assert isinstance(run.error, CanaryUnhealthy)
    assert ALARM in run.error.message
    # AND rollback put 100 % back on version 1 with no routing config left
    assert world.alias() == ("1", {})
    assert run.document["rollback"]["rolled_back"] is True
    # AND the record says ROLLED_BACK, why, and the lock is released
    record = world.record()
    assert record["status"] == "ROLLED_BACK"
    assert record["error"]["type"] == "CanaryUnhealthy"
    assert "health:failed" in step_names(record)
    assert "rollback:succeeded" in step_names(record)
    assert record["migration_rollback"] == {"needed": False, "applied": []}
    assert run.document["unlock"]["released"] is True


def test_errors_of_the_new_version_above_the_threshold_fail_the_canary(
        world: MotoWorld) -> None:
    # GIVEN a threshold of 2 errors and the new version erroring 3 times in the bake
    artifact = world.put_artifact("v2")
    health = {"error_threshold": 2, "block_on_preexisting_alarm": False}
    # WHEN deployed
    run = run_state_machine(execution_input(artifact, health=health, alarms=[]), world,
                            on_bake=lambda doc: world.put_errors("2", 3))
    # THEN the Errors metric (FunctionName, Resource, ExecutedVersion) failed it
    assert isinstance(run.error, CanaryUnhealthy)
    assert "3 errors from version 2" in run.error.message
    assert world.alias() == ("1", {})


def test_errors_at_or_below_the_threshold_or_of_the_old_version_pass(world: MotoWorld) -> None:
    # GIVEN 2 errors of the new version (threshold 2) and many of the old one
    artifact = world.put_artifact("v2")
    health = {"error_threshold": 2, "block_on_preexisting_alarm": False}

    def errors(doc: dict[str, Any]) -> None:
        if "health" not in doc:  # once, during the first check interval
            world.put_errors("2", 2)
            world.put_errors("1", 50)

    # WHEN deployed / THEN it is promoted, and health saw exactly 2
    run = run_state_machine(execution_input(artifact, health=health, alarms=[]), world,
                            on_bake=errors)
    assert run.error is None
    assert run.document["health"]["errors"] == 2


@pytest.mark.parametrize("ago_seconds", [0, 1, 299])
def test_errors_anywhere_in_the_bake_count_even_in_the_second_of_the_check(
        world: MotoWorld, ago_seconds: int) -> None:
    # GIVEN a canary of a version that fails once, at the very second the health check
    # runs (CloudWatch's EndTime is exclusive), a second before, or right after the shift
    artifact = world.put_artifact("v2")
    # WHEN deployed with no alarm to rely on, only the Errors metric
    run = run_state_machine(execution_input(artifact, alarms=[]), world,
                            on_bake=lambda doc: world.put_errors("2", 1,
                                                                 ago_seconds=ago_seconds))
    # THEN the error is seen, the canary fails and the alias goes back to version 1
    assert isinstance(run.error, CanaryUnhealthy)
    assert run.error.details["errors"] == 1
    assert world.alias() == ("1", {})
    assert world.record()["status"] == "ROLLED_BACK"


def test_alarm_already_firing_before_the_deploy_is_reported_not_blocking(
        world: MotoWorld) -> None:
    # GIVEN the errors alarm in ALARM before the deployment (it may be the fix)
    world.set_alarm("ALARM")
    # WHEN deployed
    run = run_state_machine(execution_input(world.put_artifact("v2")), world)
    # THEN it is promoted, and the alarm, still firing at the health check, is reported
    # as pre-existing rather than blocking
    assert run.error is None
    assert run.document["shift"]["preexisting_alarms"] == [ALARM]
    assert run.document["health"]["healthy"] is True
    assert run.document["health"]["alarms"] == []
    assert run.document["health"]["ignored_preexisting"] == [ALARM]
    assert run.document["health"]["refired"] == []
    assert world.cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"] \
        == "ALARM"
    assert world.alias() == ("2", {})


def test_preexisting_alarm_that_recovers_and_fires_again_mid_bake_blocks(
        world: MotoWorld) -> None:
    # GIVEN the errors alarm in ALARM before the deployment
    world.set_alarm("ALARM")

    def refire(doc: dict[str, Any]) -> None:
        world.set_alarm("OK")
        world.set_alarm("ALARM")

    # WHEN it recovers and fires again while the canary bakes
    run = run_state_machine(execution_input(world.put_artifact("v2")), world,
                            on_bake=refire)
    # THEN that is a new firing: the canary fails and is rolled back
    assert isinstance(run.error, CanaryUnhealthy)
    assert run.error.details["refired"] == [ALARM]
    assert run.error.details["alarms"] == [ALARM]
    assert world.alias() == ("1", {})
    assert world.record()["status"] == "ROLLED_BACK"


def test_preexisting_alarm_blocks_when_configured_before_any_traffic_moves(
        world: MotoWorld) -> None:
    # GIVEN an alarm in ALARM and block_on_preexisting_alarm
    world.set_alarm("ALARM")
    health = {"error_threshold": 0, "block_on_preexisting_alarm": True}
    # WHEN deployed
    run = run_state_machine(execution_input(world.put_artifact("v2"), health=health),
                            world)
    # THEN the first Shift refuses: the alias never carried the new version
    assert isinstance(run.error, CanaryUnhealthy)
    assert "Shift@0.1" not in run.states
    assert run.document["rollback"]["rolled_back"] is False
    assert world.alias() == ("1", {})
    assert world.record()["status"] == "FAILED"


# --- artifacts -----------------------------------------------------------------------
def test_wrong_artifact_hash_fails_upload_and_publishes_nothing(world: MotoWorld) -> None:
    # GIVEN an execution input whose sha256 is not the uploaded object's
    artifact = {**world.put_artifact("v2"), "sha256": sha256_b64(b"what CI tested")}
    # WHEN deployed
    run = run_state_machine(execution_input(artifact), world)
    # THEN Upload fails with ArtifactMismatch naming both hashes, no version is published,
    # and PROD never moved
    assert isinstance(run.error, ArtifactMismatch)
    assert artifact["sha256"] in run.error.message
    assert published_versions(world) == ["1"]
    assert world.alias() == ("1", {})
    assert world.record()["status"] == "FAILED"


def test_publish_retried_by_step_functions_does_not_publish_a_second_version(
        world: MotoWorld) -> None:
    # GIVEN a deployment that has uploaded and published once
    doc: dict[str, Any] = {"input": execution_input(world.put_artifact("v2")),
                           "execution_id": EXECUTION}
    doc["input"] = world.steps.validate(doc, CTX)
    doc["lock"] = world.steps.lock(doc, CTX)
    doc["upload"] = world.steps.upload(doc, CTX)
    first = world.steps.publish(doc, CTX)
    # WHEN Publish runs again with the same input (a retry after a timeout)
    second = world.steps.publish(doc, CTX)
    # THEN the same version comes back and Lambda holds no extra version
    assert first == second == {"version": "2", "code_sha256": doc["upload"]["code_sha256"]}
    assert published_versions(world) == ["1", "2"]
    assert step_names(world.record()).count("publish:succeeded") == 1


def test_retried_shift_with_the_same_input_writes_the_same_weight(world: MotoWorld) -> None:
    # GIVEN a deployment about to make its first shift
    doc: dict[str, Any] = {"input": execution_input(world.put_artifact("v2")),
                           "execution_id": EXECUTION}
    for step in ("validate", "lock", "upload", "publish"):
        doc["input" if step == "validate" else step] = getattr(world.steps, step)(doc, CTX)
    # WHEN Shift runs twice with the same document
    first, second = world.steps.shift(doc, CTX), world.steps.shift(doc, CTX)
    # THEN both wrote step 0 (10 %), and the record shows it once
    assert first == second
    assert first["index"] == 0
    assert world.alias() == ("1", {"2": 0.1})
    assert step_names(world.record()).count("shift:succeeded") == 1


# --- smoke ---------------------------------------------------------------------------
def test_smoke_failure_reports_every_case_and_never_shifts(world: MotoWorld) -> None:
    # GIVEN three smoke cases of which two fail in different ways
    cases = [
        {"name": "health", "payload": {"case": "health"}, "expect": {"status_code": 200}},
        {"name": "orders", "payload": {"case": "orders"}, "expect": {"status_code": 200}},
        {"name": "slow", "payload": {"case": "slow"}, "expect": {"max_latency_ms": 100}},
    ]
    world.invoker.responses["orders"] = (
        {"errorType": "UndefinedTable", "errorMessage": "relation \"orders\" does not exist"},
        "Unhandled")
    world.invoker.latency_ms["slow"] = 1500
    # WHEN deployed
    run = run_state_machine(execution_input(world.put_artifact("v2"), smoke={"cases": cases}),
                            world)
    # THEN SmokeTestFailed names the outcome of each case, not just the first failure
    assert isinstance(run.error, SmokeTestFailed)
    message = run.error.message
    assert "2 of 3 smoke cases failed" in message
    assert "health: passed" in message
    assert "orders: FunctionError Unhandled: UndefinedTable" in message
    assert "slow: latency 1500 ms > max 100 ms" in message
    # AND no traffic moved; rollback had nothing to undo; the record keeps every case
    assert "Shift@0.1" not in run.states
    assert world.alias() == ("1", {})
    rollback = run.document["rollback"]
    assert {k: v for k, v in rollback.items() if k != "revision_id"} == {
        "version": "1", "rolled_back": False, "alias": ALIAS, "outcome": "untouched",
        "before": {"version": "1", "routing": {}}}
    record = world.record()
    assert record["status"] == "FAILED"
    smoke_step = next(s for s in record["steps"] if s["name"] == "smoke")
    assert [c["name"] for c in smoke_step["detail"]["cases"]] == ["health", "orders", "slow"]


def test_smoke_cases_come_from_the_s3_object_version_given(world: MotoWorld) -> None:
    # GIVEN two versions of a smoke-cases object; the input pins the first
    first = world.s3.put_object(Bucket=BUCKET, Key="smoke/api.json", Body=json.dumps(
        {"cases": [{"name": "pinned", "payload": {"case": "pinned"}}]}).encode())["VersionId"]
    world.s3.put_object(Bucket=BUCKET, Key="smoke/api.json", Body=json.dumps(
        [{"name": "newer", "payload": {}}]).encode())
    smoke = {"s3": {"bucket": BUCKET, "key": "smoke/api.json", "version_id": first}}
    # WHEN deployed
    run = run_state_machine(execution_input(world.put_artifact("v2"), smoke=smoke), world)
    # THEN the pinned version's case ran
    assert run.error is None
    assert [c["name"] for c in run.document["smoke"]["cases"]] == ["pinned"]


def test_smoke_cases_come_from_a_directory_of_json_files(world: MotoWorld,
                                                         tmp_path: Any) -> None:
    # GIVEN a folder with one case per file (named after the file when unnamed)
    (tmp_path / "health.json").write_text(json.dumps({"payload": {"case": "health"},
                                                      "expect": {"status_code": 200}}))
    (tmp_path / "more.json").write_text(json.dumps([{"name": "a", "payload": {}},
                                                    {"name": "b", "payload": {}}]))
    # WHEN deployed
    run = run_state_machine(execution_input(world.put_artifact("v2"),
                                            smoke={"dir": str(tmp_path)}), world)
    # THEN every case of the folder ran, in file order
    assert [c["name"] for c in run.document["smoke"]["cases"]] == ["health", "a", "b"]


# --- rollback ------------------------------------------------------------------------
def prepared(world: MotoWorld, upto: str) -> dict[str, Any]:
    """A document as the state machine holds it after ``upto`` succeeded."""
    doc: dict[str, Any] = {"input": execution_input(world.put_artifact("v2")),
                           "execution_id": EXECUTION}
    for step in ("validate", "lock", "upload", "publish", "smoke", "shift"):
        doc["input" if step == "validate" else step] = getattr(world.steps, step)(doc, CTX)
        if step == upto:
            break
    doc["error"] = {"Error": "States.Timeout", "Cause": "the bake timed out"}
    return doc


def test_rollback_before_any_shift_leaves_the_alias_where_it_was(world: MotoWorld) -> None:
    # GIVEN a deployment that failed right after Lock (Publish never ran)
    doc = prepared(world, "lock")
    # WHEN Rollback runs
    result = world.steps.rollback(doc, CTX)
    # THEN the alias is on the previous version, and nothing had to be undone
    assert result["rolled_back"] is False
    assert world.alias() == ("1", {})


def test_rollback_twice_is_harmless(world: MotoWorld) -> None:
    # GIVEN a canary at 10 %
    doc = prepared(world, "shift")
    assert world.alias() == ("1", {"2": 0.1})
    # WHEN Rollback runs, and runs again (a retry)
    first, second = world.steps.rollback(doc, CTX), world.steps.rollback(doc, CTX)
    # THEN the first undid the canary, the second found nothing to undo, and the
    # alias is on version 1 with no routing config
    assert (first["rolled_back"], second["rolled_back"]) == (True, False)
    assert first["before"] == {"version": "1", "routing": {"2": 0.1}}
    assert world.alias() == ("1", {})


@pytest.mark.parametrize(("upto", "moved"), [("lock", False), ("publish", False),
                                             ("shift", True), ("promote", True)])
def test_rollback_makes_at_most_one_write_across_every_aws_service(
        world: MotoWorld, upto: str, moved: bool) -> None:
    # GIVEN a deployment that failed after Lock, Publish, the first Shift, or Promote
    doc = prepared(world, "shift" if upto == "promote" else upto)
    if upto == "promote":
        doc["promote"] = world.steps.promote(doc, CTX)
    sleeps = len(world.clock.sleeps)
    calls = world.calls()  # Lambda, DynamoDB, CloudWatch and S3 alike
    # WHEN Rollback runs, and runs again (a retry)
    first, second = world.steps.rollback(doc, CTX), world.steps.rollback(doc, CTX)
    # THEN each run read the alias once; only a run that found the alias moved wrote it,
    # once: an alias this deployment never moved is left untouched. Nothing went to the
    # deploy table, no alarm or metric was read, nothing waited; 100 % is on version 1.
    expected_writes = ["lambda:UpdateAlias"] if moved else []
    assert calls.calls == ["lambda:GetAlias", *expected_writes, "lambda:GetAlias"]
    assert calls.writes == expected_writes
    assert (first["rolled_back"], second["rolled_back"]) == (moved, False)
    assert len(world.clock.sleeps) == sleeps
    assert world.alias() == ("1", {})


def test_rollback_works_when_the_lock_item_is_gone(world: MotoWorld) -> None:
    # GIVEN a canary at 10 % whose lock item has disappeared (expired and deleted by
    # DynamoDB's TTL, or removed by hand)
    doc = prepared(world, "shift")
    world.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": f"LOCK#{FUNCTION}#{ALIAS}"},
                                                "sk": {"S": "LOCK"}})
    calls = world.calls()
    # WHEN Rollback runs
    result = world.steps.rollback(doc, CTX)
    # THEN it restored version 1 from $.lock in the document, with its one write
    assert result["rolled_back"] is True
    assert world.alias() == ("1", {})
    assert calls.writes == ["lambda:UpdateAlias"]
    # AND the Unlock after it finds nothing to release, without an error
    assert world.steps.unlock(doc, CTX) == {"released": False, "holder": None}


def test_rollback_of_a_document_without_a_lock_makes_no_call(world: MotoWorld) -> None:
    # GIVEN a document that never got as far as holding a lock
    doc: dict[str, Any] = {"input": world.steps.validate({"input": execution_input(
        world.put_artifact("v2"))}, CTX), "execution_id": EXECUTION,
        "error": {"Error": "States.Timeout", "Cause": "timed out"}}
    calls = world.calls()
    # WHEN Rollback runs
    result = world.steps.rollback(doc, CTX)
    # THEN it says nothing was rolled back and made no AWS call at all
    assert (result["version"], result["rolled_back"]) == (None, False)
    assert calls.calls == []
    assert world.alias() == ("1", {})


def test_rollback_after_promote_returns_to_the_previous_version(world: MotoWorld) -> None:
    # GIVEN a deployment promoted to version 2 that then failed (say, in Record)
    doc = prepared(world, "shift")
    doc["promote"] = world.steps.promote(doc, CTX)
    assert world.alias() == ("2", {})
    # WHEN Rollback runs / THEN version 1 takes all traffic again
    assert world.steps.rollback(doc, CTX)["rolled_back"] is True
    assert world.alias() == ("1", {})


# --- locks ---------------------------------------------------------------------------
def test_second_concurrent_deployment_is_refused_naming_the_holder(world: MotoWorld) -> None:
    # GIVEN deployment A holding the lock of StackFlowAPI:PROD
    artifact = world.put_artifact("v2")
    a = {"input": world.steps.validate({"input": execution_input(artifact)}, CTX),
         "execution_id": EXECUTION}
    a["lock"] = world.steps.lock(a, CTX)
    b_id = EXECUTION.replace("release-1", "release-2")
    b = {"input": a["input"], "execution_id": b_id}
    # WHEN deployment B tries to lock the same function and alias
    with pytest.raises(DeploymentInProgress) as info:
        world.steps.lock(b, CTX)
    # THEN B is told who holds it, B's record says so, and A's lock is untouched
    assert EXECUTION in info.value.message
    assert info.value.details["holder"] == EXECUTION
    assert world.record(b_id)["status"] == "FAILED"
    assert world.record(b_id)["error"]["type"] == "DeploymentInProgress"
    # AND B's Unlock cannot release A's lock; A's can, and then B gets in
    assert world.steps.unlock(b, CTX) == {"released": False, "holder": EXECUTION}
    assert world.steps.lock(a, CTX) == a["lock"]  # A's retried Lock: same lock
    assert world.steps.unlock(a, CTX) == {"released": True, "holder": None}
    assert world.steps.lock(b, CTX)["holder"] == b_id


def test_lock_of_a_crashed_execution_expires_and_its_late_unlock_spares_the_new_one(
        world: MotoWorld) -> None:
    # GIVEN an execution that locked and then stalled
    artifact = world.put_artifact("v2")
    old = {"input": world.steps.validate({"input": execution_input(artifact)}, CTX),
           "execution_id": EXECUTION}
    expires = world.steps.lock(old, CTX)["expires_at"]
    fresh = {**old, "execution_id": EXECUTION.replace("release-1", "release-2")}
    # WHEN, before the lock's lifetime (TTL + the plan's bakes) has passed, a new
    # deployment is refused, and after it, the new deployment takes the lock over
    world.clock.advance(900 + 300 - 1)
    with pytest.raises(DeploymentInProgress):
        world.steps.lock(fresh, CTX)
    world.clock.advance(2)
    assert world.steps.lock(fresh, CTX)["holder"] == fresh["execution_id"]
    assert expires < world.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    # THEN the old holder, waking up, cannot release or retake the new lock
    assert world.steps.unlock(old, CTX) == {"released": False, "holder": fresh["execution_id"]}
    with pytest.raises(DeploymentInProgress) as info:
        world.steps.lock(old, CTX)
    assert info.value.details["holder"] == fresh["execution_id"]
    item = world.lock_item()
    assert item is not None
    assert item["holder"] == {"S": fresh["execution_id"]}
    # AND the new holder's own Unlock still works
    assert world.steps.unlock(fresh, CTX) == {"released": True, "holder": None}
    assert world.lock_item() is None


def test_concurrent_deployments_race_on_real_threads_and_exactly_one_wins(
        world: MotoWorld) -> None:
    # GIVEN eight executions of the same function and alias, released together
    artifact = world.put_artifact("v2")
    normalized = world.steps.validate({"input": execution_input(artifact)}, CTX)
    ids = [EXECUTION.replace("release-1", f"race-{n}") for n in range(8)]
    barrier = threading.Barrier(len(ids))
    outcomes: dict[str, dict[str, Any] | StackFlowError] = {}
    deps = world.deps()

    def deploy(execution_id: str) -> None:
        # The step itself, not the handler: Powertools' Metrics is one object per
        # process, and Lambda never runs two invocations in one process at once.
        barrier.wait()
        try:
            outcomes[execution_id] = run("lock", {"input": normalized,
                                                  "execution_id": execution_id}, deps)
        except StackFlowError as e:
            outcomes[execution_id] = e

    # WHEN all of them run Lock at the same moment against DynamoDB
    with atomic_item_writes():
        threads = [threading.Thread(target=deploy, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    # THEN exactly one holds the lock; every other got DeploymentInProgress naming it
    assert sorted(outcomes) == sorted(ids)
    winners = [i for i, outcome in outcomes.items() if isinstance(outcome, dict)]
    assert len(winners) == 1
    winner = winners[0]
    for execution_id in ids:
        if execution_id != winner:
            refused = outcomes[execution_id]
            assert isinstance(refused, DeploymentInProgress)
            assert refused.details["holder"] == winner
            assert world.record(execution_id)["status"] == "FAILED"
    item = world.lock_item()
    assert item is not None
    assert item["holder"] == {"S": winner}
    assert world.record(winner)["status"] == "IN_PROGRESS"


def test_alias_on_latest_cannot_be_deployed_safely(world: MotoWorld) -> None:
    # GIVEN PROD pointing at $LATEST (rollback would have nowhere to go)
    world.lam.update_alias(FunctionName=FUNCTION, Name=ALIAS, FunctionVersion="$LATEST")
    artifact = world.put_artifact("v2")
    doc = {"input": world.steps.validate({"input": execution_input(artifact)}, CTX),
           "execution_id": EXECUTION}
    # WHEN Lock runs / THEN it refuses, naming the alias field
    with pytest.raises(InvalidRequest) as info:
        world.steps.lock(doc, CTX)
    assert info.value.field == "input.alias"


# --- record and approval -------------------------------------------------------------
def test_failure_after_migrations_records_how_to_revert_the_schema(world: MotoWorld) -> None:
    # GIVEN Migrate applied 4 and 5 on a schema at 3, then the canary failed
    doc = prepared(world, "shift")
    doc["schema_before"] = {"current_version": 3}
    doc["migrate"] = {"applied": [{"version": 4}, {"version": 5}], "current_version": 5}
    doc["rollback"] = world.steps.rollback(doc, CTX)
    # WHEN RecordFailure runs
    record = world.steps.record(doc, CTX)
    # THEN the final record names the migrations and the command that reverts them
    hint = record["migration_rollback"]
    assert hint["applied"] == [4, 5]
    assert "--function-name StackFlowPatcher" in hint["command"]
    assert '\'{"action":"rollback","target":3}\'' in hint["command"]
    assert record["status"] == "ROLLED_BACK"
    assert record["error"] == {"type": "States.Timeout", "message": "the bake timed out"}
    assert record == world.record()


def test_approval_request_stores_the_task_token_for_the_approver(world: MotoWorld) -> None:
    # GIVEN a deployment waiting at the Approval state
    doc = prepared(world, "shift")
    del doc["error"]
    # WHEN the Approval task invokes approval_request with its token
    world.steps.approval_request({"document": doc, "task_token": "token-123"}, CTX)
    # THEN the token is under APPROVAL#<execution id> for `stackflow approve`
    item = world.ddb.get_item(TableName="stackflow-deployments", Key={
        "pk": {"S": f"APPROVAL#{EXECUTION}"}, "sk": {"S": "TOKEN"}})["Item"]
    assert item["task_token"] == {"S": "token-123"}
    assert item["version"] == {"S": "2"}
    assert "approval_request:succeeded" in step_names(world.record())
