"""The deployment state machine's ASL, built from plain ARNs (no synthesis needed)."""

from __future__ import annotations

from typing import Any

import pytest
from stackflow.errors import ALL_ERROR_TYPES, RETRYABLE_ERROR_NAMES

from infra.components.definition import (
    APPROVAL_RESOURCE,
    LAMBDA_TRANSIENT_ERRORS,
    DefinitionProps,
    build_definition,
)
from infra.components.deploy_steps import DEPLOY_STEPS


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def definition(*, approval_always: bool = False) -> dict[str, Any]:
    arns = {step: arn(f"step-{step}") for step in DEPLOY_STEPS}
    arns["patcher"] = arn("StackFlowPatcher")
    return build_definition(DefinitionProps(
        function_arns=arns, approval_always=approval_always, approval_timeout_seconds=3600,
        step_timeout_seconds=330, patcher_timeout_seconds=930,
        execution_timeout_seconds=10800))


def successors(state: dict[str, Any]) -> set[str]:
    found = {state["Next"]} if "Next" in state else set()
    found |= {c["Next"] for c in state.get("Choices", [])}
    found |= {state["Default"]} if "Default" in state else set()
    found |= {c["Next"] for c in state.get("Catch", [])}
    return found


def happy_path(states: dict[str, Any], *, approve: bool) -> list[str]:
    """The states a deployment visits when nothing fails (migrations on, one bake)."""
    path, name, shifts = [], "Start", 0
    while states[name]["Type"] not in ("Succeed", "Fail"):
        path.append(name)
        state = states[name]
        if name == "ShiftDone":
            shifts += 1
            name = state["Choices"][0]["Next"] if shifts == 2 else state["Default"]
        elif name == "ReleaseKind":
            name = state["Default"]  # a single-function input
        elif name == "ApprovalRequired":
            name = state["Choices"][0]["Next"] if approve else state["Default"]
        elif state["Type"] == "Choice":
            name = state["Choices"][0]["Next"]
        else:
            name = state["Next"]
    return [*path, name]


def test_start_wraps_the_input_with_the_execution_id() -> None:
    # GIVEN the definition WHEN an execution starts
    start = definition()["States"]["Start"]
    # THEN the document every step receives is {"input", "execution_id"}
    assert definition()["StartAt"] == "Start"
    assert start["Type"] == "Pass"
    assert start["Parameters"] == {"input.$": "$", "execution_id.$": "$$.Execution.Id"}


@pytest.mark.parametrize(("state", "result_path"), [
    ("Validate", "$.input"), ("Lock", "$.lock"), ("Upload", "$.upload"),
    ("SchemaBefore", "$.schema_before"), ("Migrate", "$.migrate"),
    ("Publish", "$.publish"), ("Smoke", "$.smoke"), ("Shift", "$.shift"),
    ("HealthCheck", "$.health"), ("Approval", "$.approval"), ("Promote", "$.promote"),
    ("Record", "$.record"), ("Unlock", "$.unlock"), ("Rollback", "$.rollback"),
    ("RecordFailure", "$.record"), ("SchemaAfter", "$.schema_after"),
])
def test_each_state_writes_its_result_under_its_own_key(state: str, result_path: str) -> None:
    # GIVEN the contract table of docs/architecture.md WHEN a state finishes
    # THEN its result lands at its own ResultPath, keeping the rest of the document
    assert definition()["States"][state]["ResultPath"] == result_path


def test_lambda_states_invoke_the_right_handler_with_the_whole_document() -> None:
    # GIVEN the step functions keyed by handler name
    states = definition()["States"]
    expected = {"Validate": "validate", "Lock": "lock", "Upload": "upload",
                "Publish": "publish", "Smoke": "smoke", "Shift": "shift",
                "HealthCheck": "health", "Promote": "promote", "Record": "record",
                "Unlock": "unlock", "Rollback": "rollback", "RecordFailure": "record",
                "UnlockAfterFailure": "unlock"}
    for state, step in expected.items():
        # THEN the Resource is the step's function ARN and no Parameters narrow the payload
        assert states[state]["Resource"] == arn(f"step-{step}"), state
        assert "Parameters" not in states[state], state


def test_happy_path_runs_the_documented_order() -> None:
    # GIVEN migrations enabled and a two-step strategy, no approval required
    path = happy_path(definition()["States"], approve=False)
    # THEN the flow is Lock -> Upload -> Migrate -> Publish -> Smoke -> shift loop -> Promote
    assert path == ["Start", "Validate", "ReleaseKind", "Lock", "Upload", "MigrationsEnabled",
                    "SchemaBefore", "Migrate", "MigrationsComplete", "Publish", "Smoke",
                    "Shift", "ShiftDone",
                    "Bake", "HealthCheck", "BakeDone", "Shift", "ShiftDone",
                    "ApprovalRequired",
                    "Promote", "ContractEnabled", "MigrateContract", "ContractComplete",
                    "Record", "Unlock", "Deployed"]


def test_migrations_are_skipped_when_disabled() -> None:
    # GIVEN the choice after Upload
    choice = definition()["States"]["MigrationsEnabled"]
    # THEN only migrations.enabled == true reaches the patcher; otherwise Publish is next
    assert choice["Choices"] == [{"Variable": "$.input.migrations.enabled",
                                  "BooleanEquals": True, "Next": "SchemaBefore"}]
    assert choice["Default"] == "Publish"


def test_patcher_states_send_the_documented_payloads() -> None:
    # GIVEN the two patcher calls
    states = definition()["States"]
    # THEN SchemaBefore asks for status and Migrate migrates to the input's target
    assert states["SchemaBefore"]["Resource"] == arn("StackFlowPatcher")
    assert states["SchemaBefore"]["Parameters"] == {"action": "status", "baseline": True}
    assert states["Migrate"]["Parameters"] == {
        "action": "migrate", "phase": "expand", "target.$": "$.input.migrations.target",
        "applied_by.$": "$$.Execution.Name"}


def test_contract_migrations_run_after_promote_and_never_roll_back() -> None:
    # GIVEN the states after Promote
    states = definition()["States"]
    # THEN contract-phase migrations run once the new version serves everything
    assert states["Promote"]["Next"] == "ContractEnabled"
    assert states["ContractEnabled"]["Choices"] == [{
        "Variable": "$.input.migrations.enabled", "BooleanEquals": True,
        "Next": "MigrateContract"}]
    assert states["ContractEnabled"]["Default"] == "Record"
    contract = states["MigrateContract"]
    assert contract["Resource"] == arn("StackFlowPatcher")
    assert contract["Parameters"] == {
        "action": "migrate", "phase": "contract", "target.$": "$.input.migrations.target",
        "applied_by.$": "$$.Execution.Name"}
    assert contract["ResultPath"] == "$.migrate_contract"
    # AND a failure keeps the release promoted: it goes on to Record, never to Rollback
    assert contract["Catch"] == [{"ErrorEquals": ["States.ALL"],
                                  "ResultPath": "$.migrate_contract_error", "Next": "Record"}]
    assert states["ContractComplete"]["Choices"][0]["Next"] == "Record"
    assert states["ContractComplete"]["Default"] == "MigrateContract"


MISSING = object()


def choose(choice: dict[str, Any], document: dict[str, Any]) -> str:
    """The next state of a Choice of BooleanEquals or IsPresent rules (the only kinds the
    definition uses), as Step Functions picks it for ``document``."""
    assert choice["Type"] == "Choice"
    for rule in choice["Choices"]:
        (test,) = set(rule) - {"Variable", "Next"}
        assert test in ("BooleanEquals", "IsPresent"), rule
        value: Any = document
        for key in rule["Variable"].removeprefix("$.").split("."):
            value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
        if test == "IsPresent" and (value is not MISSING) is rule["IsPresent"]:
            return str(rule["Next"])
        if test == "BooleanEquals" and value is rule["BooleanEquals"]:
            return str(rule["Next"])
    return str(choice["Default"])


def patcher_result(*, complete: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": True, "action": "migrate", "complete": complete,
                              "applied": [{"version": 3}], "current_version": 3}
    if not complete:
        result |= {"stopped": "deadline", "remaining": [{"version": 4}]}
    return result


def test_migrate_is_followed_by_a_completion_check() -> None:
    # GIVEN the migrations branch
    states = definition()["States"]
    # THEN Migrate's result goes to a Choice on $.migrate.complete, written in plain ASL
    assert states["Migrate"]["Next"] == "MigrationsComplete"
    check = states["MigrationsComplete"]
    assert check["Type"] == "Choice"
    assert check["Choices"] == [{"Variable": "$.migrate.complete", "BooleanEquals": True,
                                 "Next": "Publish"}]


def test_an_incomplete_migration_run_calls_migrate_again() -> None:
    # GIVEN a patcher run that stopped before the Lambda deadline
    states = definition()["States"]
    document = {"input": {}, "migrate": patcher_result(complete=False)}
    # WHEN the completion check reads its result
    # THEN the next state is Migrate again, with the same payload (it carries on)
    assert choose(states["MigrationsComplete"], document) == "Migrate"
    assert states["Migrate"]["Parameters"]["action"] == "migrate"
    assert states["Migrate"]["Parameters"]["target.$"] == "$.input.migrations.target"


def test_a_complete_migration_run_proceeds_to_publish() -> None:
    # GIVEN a patcher run that applied everything
    states = definition()["States"]
    document = {"input": {}, "migrate": patcher_result(complete=True)}
    # WHEN the completion check reads its result / THEN the new code is published
    assert choose(states["MigrationsComplete"], document) == "Publish"


def test_migration_rounds_repeat_until_the_patcher_is_done() -> None:
    # GIVEN a patcher that needs three calls to apply every migration
    states = definition()["States"]
    rounds = iter([False, False, True])
    visited, name = [], "Migrate"
    document: dict[str, Any] = {"input": {}}
    # WHEN the state machine follows the definition from Migrate
    while name != "Publish":
        visited.append(name)
        if name == "Migrate":
            document["migrate"] = patcher_result(complete=next(rounds))
            name = states[name]["Next"]
        else:
            name = choose(states[name], document)
    # THEN Migrate ran three times and only then did the deployment publish
    assert visited == ["Migrate", "MigrationsComplete"] * 3
    # AND a failing round still rolls back, retrying only transient errors
    assert states["Migrate"]["Catch"][0]["Next"] == "Rollback"
    assert "MigrationFailed" not in states["Migrate"]["Retry"][0]["ErrorEquals"]


def test_bake_is_a_wait_state_driven_by_the_shift_result() -> None:
    # GIVEN the bake between a shift and its health check
    bake = definition()["States"]["Bake"]
    # THEN it waits one check interval of the plan, in Step Functions, not in a Lambda
    assert bake == {"Type": "Wait", "Comment": bake["Comment"],
                    "SecondsPath": "$.shift.check_seconds", "Next": "HealthCheck"}
    assert definition()["States"]["HealthCheck"]["Next"] == "BakeDone"


@pytest.mark.parametrize(("health", "next_state"), [
    ({"check": 0, "checks": 10, "bake_done": False}, "Bake"),
    ({"check": 9, "checks": 10, "bake_done": True}, "Shift"),
])
def test_a_bake_is_a_bounded_loop_of_waits_and_health_checks(
        health: dict[str, Any], next_state: str) -> None:
    # GIVEN a HealthCheck that passed / WHEN BakeDone reads its result
    choice = definition()["States"]["BakeDone"]
    # THEN a bake with checks left waits for the next one; the last one moves on
    assert choose(choice, {"health": health}) == next_state
    # AND a failing check never reaches BakeDone: it is caught into Rollback
    assert definition()["States"]["HealthCheck"]["Catch"][0]["Next"] == "Rollback"


def test_every_state_from_upload_on_catches_into_rollback() -> None:
    # GIVEN the states after the lock is taken
    states = definition()["States"]
    guarded = ["Upload", "SchemaBefore", "Migrate", "Publish", "Smoke", "Shift",
               "HealthCheck", "Approval", "Promote", "Record", "Unlock"]
    for name in guarded:
        # THEN any error is kept at $.error and the failure path starts with Rollback
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"],
                                          "ResultPath": "$.error", "Next": "Rollback"}], name


def test_failure_path_always_reaches_the_fail_state_with_the_original_error() -> None:
    # GIVEN the failure path
    states = definition()["States"]
    # THEN each step moves on even if it fails itself, without overwriting $.error
    assert states["Rollback"]["Next"] == "MigrationsAttempted"
    assert states["Rollback"]["Catch"][0]["Next"] == "MigrationsAttempted"
    assert states["SchemaAfter"]["Next"] == "BaselineTaken"
    assert states["SchemaAfter"]["Catch"][0]["Next"] == "RecordFailure"
    assert states["RollbackImpact"]["Next"] == "RecordFailure"
    assert states["RollbackImpact"]["Catch"][0]["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "UnlockAfterFailure"
    assert states["RecordFailure"]["Catch"][0]["Next"] == "UnlockAfterFailure"
    assert states["UnlockAfterFailure"]["Next"] == "DeploymentFailed"
    assert states["UnlockAfterFailure"]["Catch"][0]["Next"] == "DeploymentFailed"
    for name in ("Rollback", "SchemaAfter", "RollbackImpact", "RecordFailure",
                 "UnlockAfterFailure"):
        assert states[name]["Catch"][0]["ResultPath"] != "$.error", name
    failed = states["DeploymentFailed"]
    assert (failed["Type"], failed["ErrorPath"], failed["CausePath"]) == (
        "Fail", "$.error.Error", "$.error.Cause")


def failure_path(states: dict[str, Any], document: dict[str, Any],
                 failing: frozenset[str] = frozenset()) -> list[str]:
    """The states the failure path visits from Rollback for ``document``; the states in
    ``failing`` raise, and their Catch is followed instead of Next."""
    path, name = [], "Rollback"
    while states[name]["Type"] != "Fail":
        path.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            name = choose(state, document)
        elif name in failing:
            (catch,) = state["Catch"]
            assert catch["ErrorEquals"] == ["States.ALL"], name
            document[catch["ResultPath"].removeprefix("$.")] = {"Error": "DatabaseUnavailable"}
            name = catch["Next"]
        else:
            document[state["ResultPath"].removeprefix("$.")] = {"ok": True}
            name = state["Next"]
    return [*path, name]


def test_after_migrations_ran_the_failure_path_reads_the_schema_before_recording() -> None:
    # GIVEN a failure after SchemaBefore (Migrate failed part-way: no $.migrate)
    states = definition()["States"]
    document: dict[str, Any] = {
        "input": {}, "schema_before": {"current_version": 3},
        "error": {"Error": "MigrationFailed", "Cause": "migration 6"}}
    # WHEN the failure path runs
    path = failure_path(states, document)
    # THEN the patcher's status lands at $.schema_after before RecordFailure reads it
    # (without a baseline, as from an earlier patcher, there is no impact report)
    assert path == ["Rollback", "MigrationsAttempted", "SchemaAfter", "BaselineTaken",
                    "RecordFailure", "UnlockAfterFailure", "DeploymentFailed"]
    assert states["SchemaAfter"]["Resource"] == arn("StackFlowPatcher")
    assert states["SchemaAfter"]["Parameters"] == {"action": "status"}
    assert states["SchemaAfter"]["TimeoutSeconds"] == states["Migrate"]["TimeoutSeconds"]
    assert states["SchemaAfter"]["Retry"] == states["SchemaBefore"]["Retry"]
    assert "schema_after" in document
    # AND the original error is still the one the execution fails with
    assert document["error"]["Error"] == "MigrationFailed"


@pytest.mark.parametrize("failing", [frozenset(), frozenset({"RollbackImpact"})])
def test_with_a_baseline_the_failure_path_reports_the_rollback_impact(
        failing: frozenset[str]) -> None:
    # GIVEN a failure after SchemaBefore took its baseline
    states = definition()["States"]
    document: dict[str, Any] = {
        "input": {}, "schema_before": {"current_version": 3, "baseline": {"version": 3}},
        "error": {"Error": "CanaryUnhealthy", "Cause": "alarm"}}
    # WHEN the failure path runs (and the impact dry run may itself fail)
    path = failure_path(states, document, failing)
    # THEN a rollback dry run back to the baseline's version runs before RecordFailure,
    # and its failure never stops the record or the unlock
    assert path == ["Rollback", "MigrationsAttempted", "SchemaAfter", "BaselineTaken",
                    "RollbackImpact", "RecordFailure", "UnlockAfterFailure",
                    "DeploymentFailed"]
    assert states["RollbackImpact"]["Parameters"] == {
        "action": "rollback", "dry_run": True,
        "target.$": "$.schema_before.baseline.version",
        "baseline.$": "$.schema_before.baseline"}
    assert ("rollback_impact_error" if failing else "rollback_impact") in document
    assert document["error"]["Error"] == "CanaryUnhealthy"


@pytest.mark.parametrize("document", [
    {"input": {}, "error": {"Error": "States.TaskFailed"}},  # Upload failed
    {"input": {"migrations": {"enabled": False}}, "publish": {"version": "2"},
     "error": {"Error": "SmokeTestFailed"}},  # migrations disabled
])
def test_failure_before_schema_before_skips_the_schema_read(document: dict[str, Any]) -> None:
    # GIVEN a failure in an execution that never reached SchemaBefore
    states = definition()["States"]
    # WHEN the failure path runs
    path = failure_path(states, document)
    # THEN no patcher call is made: nothing can have been migrated
    assert path == ["Rollback", "MigrationsAttempted", "RecordFailure",
                    "UnlockAfterFailure", "DeploymentFailed"]
    assert states["MigrationsAttempted"]["Choices"] == [{
        "Variable": "$.schema_before", "IsPresent": True, "Next": "SchemaAfter"}]
    assert "schema_after" not in document


@pytest.mark.parametrize("failing", [
    frozenset({"SchemaAfter"}), frozenset({"Rollback", "SchemaAfter"}),
])
def test_a_failed_schema_read_still_records_unlocks_and_fails(
        failing: frozenset[str]) -> None:
    # GIVEN the database unreachable on the failure path (and maybe the alias rollback)
    states = definition()["States"]
    document: dict[str, Any] = {
        "input": {}, "schema_before": {"current_version": 3},
        "error": {"Error": "MigrationFailed", "Cause": "migration 6"}}
    # WHEN the failure path runs
    path = failure_path(states, document, failing)
    # THEN the record is still written, the lock released, and the execution fails
    assert path[-3:] == ["RecordFailure", "UnlockAfterFailure", "DeploymentFailed"]
    assert "SchemaAfter" in path
    # AND the schema read's own error is kept aside, not over the original one
    assert document["schema_after_error"] == {"Error": "DatabaseUnavailable"}
    assert "schema_after" not in document
    assert document["error"]["Error"] == "MigrationFailed"


def test_lock_failure_fails_directly_without_rollback_or_unlock() -> None:
    # GIVEN a lock held by another execution
    states = definition()["States"]
    # THEN the execution fails at once: the lock and the alias belong to someone else
    assert states["Lock"]["Catch"] == [{"ErrorEquals": ["States.ALL"],
                                        "ResultPath": "$.error", "Next": "LockFailed"}]
    assert states["LockFailed"]["Type"] == "Fail"
    assert states["LockFailed"]["ErrorPath"] == "$.error.Error"
    assert "Catch" not in states["Validate"]


def test_retries_cover_transient_errors_and_never_verdicts() -> None:
    # GIVEN every Task state
    tasks = {n: s for n, s in definition()["States"].items() if s["Type"] == "Task"}
    verdicts = {cls.__name__ for cls in ALL_ERROR_TYPES} - set(RETRYABLE_ERROR_NAMES)
    for name, state in tasks.items():
        (retry,) = state["Retry"]
        # THEN Lambda's transient errors and the retryable StackFlow errors back off...
        assert set(retry["ErrorEquals"]) == {*LAMBDA_TRANSIENT_ERRORS,
                                             *RETRYABLE_ERROR_NAMES}, name
        assert retry["BackoffRate"] > 1, name
        assert retry["MaxAttempts"] >= 2, name
        # ...and no verdict (InvalidRequest, SmokeTestFailed, ...) is ever retried
        assert not verdicts & set(retry["ErrorEquals"]), name
        assert "States.ALL" not in retry["ErrorEquals"], name
    assert "InvalidRequest" in verdicts
    assert "LockTimeout" in RETRYABLE_ERROR_NAMES


def test_approval_is_optional_outside_prod() -> None:
    # GIVEN a non-prod definition WHEN the last shift is done
    states = definition(approval_always=False)["States"]
    # THEN the input's approval.required decides whether the gate runs
    assert states["ShiftDone"]["Choices"][0]["Next"] == "ApprovalRequired"
    assert states["ApprovalRequired"]["Choices"] == [{
        "Variable": "$.input.approval.required", "BooleanEquals": True, "Next": "Approval"}]
    assert states["ApprovalRequired"]["Default"] == "Promote"
    assert happy_path(states, approve=True)[-9:] == [
        "ApprovalRequired", "Approval", "Promote", "ContractEnabled", "MigrateContract",
        "ContractComplete", "Record", "Unlock", "Deployed"]


def test_prod_always_waits_for_approval() -> None:
    # GIVEN the prod definition
    states = definition(approval_always=True)["States"]
    # THEN no input can skip the gate: ShiftDone leads straight to Approval
    assert "ApprovalRequired" not in states
    assert states["ShiftDone"]["Choices"][0]["Next"] == "Approval"
    assert states["Approval"]["Next"] == "Promote"


def test_approval_waits_for_a_task_token() -> None:
    # GIVEN the approval gate
    approval = definition()["States"]["Approval"]
    # THEN the request Lambda gets the document and the token; the state waits for it
    assert approval["Resource"] == APPROVAL_RESOURCE
    assert approval["Resource"].endswith(".waitForTaskToken")
    assert approval["Parameters"] == {
        "FunctionName": arn("step-approval_request"),
        "Payload": {"document.$": "$", "task_token.$": "$$.Task.Token"}}
    assert approval["TimeoutSeconds"] == 3600


@pytest.mark.parametrize("approval_always", [False, True])
def test_every_state_is_reachable_and_every_target_exists(approval_always: bool) -> None:
    # GIVEN the whole graph
    states = definition(approval_always=approval_always)["States"]
    targets = set().union(*(successors(s) for s in states.values()))
    # THEN no transition points nowhere and no state is dead code
    assert targets <= set(states)
    assert set(states) - targets == {"Start"}
    # AND only terminal states end a path
    for name, state in states.items():
        if not successors(state):
            assert state["Type"] in ("Succeed", "Fail"), name


def test_definition_uses_only_plain_asl() -> None:
    # GIVEN the state types and the only service integration used
    states = definition()["States"].values()
    # THEN local mode's engine can run it unchanged
    assert {s["Type"] for s in states} == {"Pass", "Task", "Choice", "Wait", "Succeed", "Fail",
                                           "Map"}
    resources = {s["Resource"] for s in states if s["Type"] == "Task"}
    assert {r for r in resources if r.startswith("arn:aws:states")} == {APPROVAL_RESOURCE}
