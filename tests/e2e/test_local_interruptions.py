"""Releases that survive operators, interruptions and bad canaries (issue 12), end to end.

One local environment for the module (each LocalMode cold-starts every function's
worker): the tests run in file order and assert relative to where the previous one left
the alias. Each goes through the synthesized definition and checks the alias (and every
change it went through), the lock, the deployment record and the database:

* prod's policy refuses ``alarms: []`` in Validate, before anything moves;
* a second release during the bake fails ``DeploymentInProgress`` without touching
  anything; then ``StopExecution``: EventBridge's status event reaches Reconcile, which
  puts PROD back at 100 % on the previous version, frees the lock and records
  ``ABORTED``; a retried Reconcile changes nothing; the next release runs;
* an operator's ``rollback-alias`` during the bake is not undone: the execution stops
  with ``AliasChangedExternally``;
* a hung smoke case fails that case with ``timeout`` and the release rolls back cleanly;
* a canary failing every request is back on the previous version within 60 nominal
  seconds (caught by the bake's first health check, 30 s after the shift), and a
  retried Rollback writes nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from stackflow.adapters import default_client
from stackflow_tools.cli import main as cli_main
from stackflow_tools.local.engine import AliasChange
from stackflow_tools.local.runner import LocalMode, health_case

from infra.components.deploy_steps import policy_environment
from infra.config import STAGE_CONFIGS, Settings
from tests.e2e.local_support import (
    applied_migrations,
    lock_held,
    migration_rows,
    module_session,
    record,
    states_entered,
    versions,
)

DETECTION_GOAL_SECONDS = 60


@pytest.fixture(scope="module")
def local(cdk_out: Path, pg_admin_uri: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMode]:
    with module_session(cdk_out, pg_admin_uri, tmp_path_factory.mktemp("local")) as mode:
        yield mode


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    # The CLI's adapters cache their boto3 clients; this module has its own local AWS.
    default_client.cache_clear()
    yield
    default_client.cache_clear()


def changes_since(local: LocalMode, index: int) -> list[tuple[str, dict[str, float]]]:
    """``(version, routing)`` of every UpdateAlias of the example since ``index``."""
    return [(c.version, dict(c.routing)) for c in local.local_aws.alias_changes[index:]
            if c.function_name == local.function_name]


def on_first_bake(local: LocalMode, action: Callable[[], object]) -> Callable[[float], None]:
    """A wait hook that runs ``action`` once, during the first Bake it sees."""
    done: list[bool] = []

    def hook(nominal_seconds: float) -> None:
        if not done and local.alias_state()[1]:  # the canary is on the alias
            done.append(True)
            action()

    return hook


def cli(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main.main(list(argv)) == 0
    return out.getvalue()


def function_for(local: LocalMode, step: str) -> str:
    assert local.stack is not None
    return local.stack.function_by_handler(f"deploy_steps.handler.{step}")


def invoke(local: LocalMode, function: str, payload: Any) -> dict[str, Any]:
    answer = local.local_aws.client("lambda").invoke(FunctionName=function,
                                                      Payload=json.dumps(payload).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    result: dict[str, Any] = json.loads(answer["Payload"].read())
    return result


def test_prod_policy_refuses_a_release_without_alarms_before_anything_moves(
        local: LocalMode) -> None:
    # GIVEN the Validate function configured as the prod stack configures it
    lambda_ = local.local_aws.client("lambda")
    validate = function_for(local, "validate")
    original = lambda_.get_function_configuration(FunctionName=validate)["Environment"]
    prod = {**policy_environment(Settings(stage=STAGE_CONFIGS["prod"])), "STAGE": "prod"}
    assert set(prod) <= set(original["Variables"])  # a stand-in replaces, never adds
    lambda_.update_function_configuration(
        FunctionName=validate, Environment={"Variables": {**original["Variables"], **prod}})
    before, changes = local.alias_state(), len(local.local_aws.alias_changes)
    try:
        # WHEN a release asks for no alarms
        document = local.deployment_input(local.upload("good", "1.1.0"))
        document["alarms"] = []
        execution = local.wait(local.start(document, "prod-no-alarms"))
    finally:
        lambda_.update_function_configuration(FunctionName=validate, Environment=original)
    # THEN Validate refused it, naming the field and the stage's policy
    assert (execution["status"], execution["error"]) == ("FAILED", "InvalidRequest")
    message = json.loads(execution["cause"])["errorMessage"]
    assert message.startswith("input.alarms: is empty")
    assert "stage prod" in message
    assert "allow_no_alarms" in message
    # AND nothing moved: no lock, no record, no version, no alias write, no migration
    assert states_entered(local, execution["executionArn"])[-1] == "Validate"
    assert not lock_held(local)
    assert local.alias_state() == before
    assert changes_since(local, changes) == []
    assert versions(local) == ["1"]
    assert applied_migrations(local.database_url) == []
    assert record_or_none(local, execution["executionArn"]) is None


def record_or_none(local: LocalMode, execution_arn: str) -> dict[str, Any] | None:
    try:
        return record(local, execution_arn)
    except AssertionError:
        return None


def test_stop_during_the_bake_is_reconciled_and_the_next_release_runs(
        local: LocalMode) -> None:
    # GIVEN a canary release in its bake, and a second release of the same alias
    previous, _ = local.alias_state()
    sfn = local.local_aws.client("stepfunctions")
    arns: list[str] = []
    second: dict[str, Any] = {}

    def during_the_bake() -> None:
        document = local.deployment_input(local.upload("good", "2.0.1"))
        second.update(local.wait(local.start(document, "second-while-baking")))
        # ... then the first is stopped, as a cancelled CI job would be
        sfn.stop_execution(executionArn=arns[0], error="CiJobCancelled",
                           cause="the workflow run was cancelled")

    local.local_aws.wait_hooks.append(on_first_bake(local, during_the_bake))
    changes = len(local.local_aws.alias_changes)
    try:
        arns.append(local.start(local.deployment_input(local.upload("good", "2.0.0")),
                                "stopped-mid-bake"))
        # WHEN it ends (local mode waits for what its end sets off, as EventBridge does)
        execution = local.wait(arns[0])
    finally:
        local.local_aws.wait_hooks.pop()
    assert execution["status"] == "ABORTED"
    new = str(record(local, arns[0])["new_version"])
    # THEN the second release failed on the lock while the first one ran, touching
    # nothing (and Reconcile, told of its failure, left the running one's alias alone)
    assert (second["status"], second["error"]) == ("FAILED", "DeploymentInProgress")
    rejected = record(local, second["executionArn"])
    assert (rejected["status"], rejected["error"]["type"]) == ("FAILED", "DeploymentInProgress")
    assert [step["name"] for step in rejected["steps"]] == ["lock"]
    assert "reconciled" not in rejected
    # THEN Reconcile put PROD back at 100 % on the previous version: the alias went
    # 10 % canary -> back, and nothing else wrote it
    assert changes_since(local, changes) == [(previous, {new: 0.1}), (previous, {})]
    assert local.alias_state() == (previous, {})
    # AND it freed the lock and closed the record as ABORTED with when and why
    assert not lock_held(local)
    rec = record(local, arns[0])
    assert rec["status"] == "ABORTED"
    assert rec["error"] == {"type": "CiJobCancelled", "message": "the workflow run was cancelled"}
    assert rec["finished_at"] >= rec["started_at"]
    reconciled = rec["reconciled"]
    assert (reconciled["execution_status"], reconciled["lock_released"]) == ("ABORTED", True)
    assert reconciled["rollback"]["outcome"] == "rolled_back"
    # AND the database keeps the migrations this release applied (the record says so)
    name = arns[0].rsplit(":", 1)[1]
    assert [v for v, by in migration_rows(local.database_url) if by == name] == [1, 2, 3, 4]

    # WHEN EventBridge (or Lambda's async retry) delivers the same event again
    (event,) = [e for e in local.local_aws.status_events
                if e["detail"]["executionArn"] == arns[0] and e["detail"]["status"] == "ABORTED"]
    assert event["detail-type"] == "Step Functions Execution Status Change"
    again = invoke(local, function_for(local, "reconcile"), event)
    # THEN the retried Reconcile changes nothing at all
    assert again["changed"] is False
    assert again["rollback"]["outcome"] in ("already_previous", "untouched")
    assert changes_since(local, changes) == [(previous, {new: 0.1}), (previous, {})]
    assert record(local, arns[0]) == rec

    # WHEN the next release starts (no `unlock --force` needed)
    result = local.release("good", "2.0.2")
    # THEN it takes the lock and is promoted
    assert result.status == "SUCCEEDED", result.cause
    assert result.alias_version == str(result.output["publish"]["version"])
    assert not lock_held(local)
    history = cli("history", local.function_name, "--table", local.table_name())
    assert f"now  {local.function_name}:{local.alias} serves version " \
           f"{result.alias_version} (100%)" in history
    assert "reconciled at" in history
    assert "ABORTED: alias rolled_back, lock released" in history


def test_an_operators_rollback_during_the_bake_is_not_undone(local: LocalMode) -> None:
    # GIVEN a canary release, and an on-call operator who rolls PROD back mid-bake
    previous, _ = local.alias_state()
    rolled = local.local_aws.wait_hooks
    rolled.append(on_first_bake(local, lambda: cli(
        "rollback-alias", local.function_name, "--alias", local.alias, "--to", previous,
        "--table", local.table_name(), "--by", "oncall-alice")))
    changes = len(local.local_aws.alias_changes)
    try:
        result = local.release("good", "3.0.0")
    finally:
        rolled.pop()
    new = str(record(local, result.execution_arn)["new_version"])
    # THEN the execution stopped with the new verdict ...
    assert (result.status, result.error) == ("FAILED", "AliasChangedExternally")
    # ... and the operator's write was the last one: nothing shifted or promoted after it
    assert changes_since(local, changes) == [(previous, {new: 0.1}), (previous, {})]
    assert local.alias_state() == (previous, {})
    states = states_entered(local, result.execution_arn)
    assert "Promote" not in states
    assert states.count("Shift") == 1
    # AND the record names the verdict, says Rollback left the alias alone (it was back
    # already) and who rolled back; the lock is free
    rec = record(local, result.execution_arn)
    assert rec["error"]["type"] == "AliasChangedExternally"
    rollback = next(s for s in rec["steps"] if s["name"] == "rollback")["detail"]
    assert (rollback["rolled_back"], rollback["outcome"]) == (False, "already_previous")
    (intervention,) = rec["interventions"]
    assert (intervention["action"], intervention["by"]) == ("rollback-alias", "oncall-alice")
    assert not lock_held(local)
    # AND history shows it under that deployment
    history = cli("history", local.function_name, "--table", local.table_name())
    assert "rollback-alias by oncall-alice" in history


def test_a_hung_smoke_case_times_out_and_the_release_rolls_back_cleanly(
        local: LocalMode) -> None:
    # GIVEN a build whose /health never answers, smoke-tested with a 2 s case timeout
    before, changes = local.alias_state(), len(local.local_aws.alias_changes)
    smoke = {"cases": [{**health_case(), "timeout_seconds": 2}]}
    # WHEN it is released
    result = local.release("hanging-health", "4.0.0", smoke=smoke)
    # THEN the case failed with timeout (the step did not: it reported every case)
    assert (result.status, result.error) == ("FAILED", "SmokeTestFailed"), result.cause
    assert "health: timeout: no answer within 2 s" in json.loads(result.cause or "")[
        "errorMessage"]
    rec = record(local, result.execution_arn)
    smoke_step = next(s for s in rec["steps"] if s["name"] == "smoke")
    (case,) = smoke_step["detail"]["cases"]
    assert case["failures"][0].startswith("timeout:")
    # AND no traffic ever moved, the alias is untouched, the record and lock are clean
    assert changes_since(local, changes) == []
    assert local.alias_state() == before
    assert rec["status"] == "FAILED"
    rollback = next(s for s in rec["steps"] if s["name"] == "rollback")["detail"]
    assert rollback["outcome"] == "untouched"
    assert not lock_held(local)


def test_a_canary_failing_every_request_is_back_within_a_minute(local: LocalMode) -> None:
    # GIVEN a build whose GET /orders fails, released with the default 30 s checks
    previous, _ = local.alias_state()
    document = local.deployment_input(local.upload("orders-regression", "5.0.0"))
    document["health"]["check_interval_seconds"] = 30
    aws = local.local_aws
    first_call, changes = len(aws.invoker.history), len(aws.alias_changes)
    # WHEN it runs
    arn = local.start(document, "bad-canary")
    execution = local.wait(arn)
    assert (execution["status"], execution["error"]) == ("FAILED", "CanaryUnhealthy")
    new = str(record(local, arn)["new_version"])
    # THEN from the first failing request on the canary to PROD back at 100 % on the
    # previous version took at most a minute of AWS time (waits at their nominal length)
    failed = min(call.started_at for call in aws.invoker.history[first_call:]
                 if call.qualifier == local.alias and call.executed_version == new
                 and call.error_type)
    back = next(c for c in aws.alias_changes[changes:] if _back_on(c, previous))
    assert aws.nominal_seconds(failed, back.at) <= DETECTION_GOAL_SECONDS
    # AND it was the first check of the bake that caught it: one canary write, one back
    assert changes_since(local, changes) == [(previous, {new: 0.1}), (previous, {})]
    assert states_entered(local, arn).count("HealthCheck") == 1
    # AND PROD serves the previous version only
    lambda_ = aws.client("lambda")
    after = [lambda_.invoke(FunctionName=local.function_name, Qualifier=local.alias,
                            Payload=b"{}")["ExecutedVersion"] for _ in range(20)]
    assert after == [previous] * 20
    # AND the record tells it: health failed, rollback wrote, ROLLED_BACK, lock free
    rec = record(local, arn)
    assert rec["status"] == "ROLLED_BACK"
    assert rec["error"]["type"] == "CanaryUnhealthy"
    steps = [(s["name"], s["outcome"]) for s in rec["steps"]]
    assert ("health", "failed") in steps
    assert ("rollback", "succeeded") in steps
    assert "promote" not in [name for name, _ in steps]
    assert not lock_held(local)

    # WHEN Step Functions retried Rollback with the same input
    (rollback_input,) = [json.loads(e["stateEnteredEventDetails"]["input"])
                         for e in local.history(arn)
                         if e.get("stateEnteredEventDetails", {}).get("name") == "Rollback"]
    seen = len(aws.alias_changes)
    again = invoke(local, function_for(local, "rollback"), rollback_input)
    # THEN it wrote nothing: the alias was back already
    assert (again["rolled_back"], again["outcome"]) == (False, "already_previous")
    assert len(aws.alias_changes) == seen


def _back_on(change: AliasChange, previous: str) -> bool:
    return change.version == previous and not change.routing
