"""The deployment state machine's definition (Amazon States Language, JSONPath).

Pure data: ``build_definition`` returns the ASL document as a dict, with each Lambda
state's ``Resource`` being whatever ARN the caller passes (a CDK token in the app, a
local ARN in tests). The document shape follows docs/architecture.md: ``Start`` wraps
the execution input as ``{"input", "execution_id"}``; each later state writes its result
under its own key with ``ResultPath``; every state from ``Upload`` on catches
``States.ALL`` into ``$.error`` and runs Rollback -> RecordFailure -> UnlockAfterFailure ->
DeploymentFailed, which fails with the original error and cause. When the migrations
branch ran (``$.schema_before`` is present), ``SchemaAfter`` reads the schema's status
between Rollback and RecordFailure, so the failure record can name the migrations this
execution applied even when ``Migrate`` itself failed part-way; then ``RollbackImpact``
(a rollback dry run against SchemaBefore's baseline) says what reverting them would
destroy.

Where the stage snapshots the cluster before destructive migrations, ``SnapshotNeeded``
follows SchemaBefore: a pending destructive statement leads through ``Snapshot`` (and
``SnapshotWait`` until RDS reports it available) to Migrate (release_definition.py's
``snapshot_states``).

Only plain ASL is used (Task, Choice, Wait with SecondsPath, Pass, Succeed, Fail with
ErrorPath/CausePath) so local mode can run the synthesized definition unchanged.
Each bake is a bounded loop of ``Bake`` (Wait, ``$.shift.check_seconds``) and
``HealthCheck`` until ``$.health.bake_done``.
``Migrate`` runs again while the patcher reports ``"complete": false`` (a run that
stopped before the Lambda deadline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackflow.errors import RETRYABLE_ERROR_NAMES

from infra.components.release_definition import START as RELEASE_START
from infra.components.release_definition import present, release_states, snapshot_states

# Lambda's own transient failures, then StackFlow's retryable error types.
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
)
RETRY_ERRORS = (*LAMBDA_TRANSIENT_ERRORS, *RETRYABLE_ERROR_NAMES)
RETRY_INTERVAL_SECONDS = 2
RETRY_MAX_ATTEMPTS = 5
RETRY_BACKOFF_RATE = 2.0

APPROVAL_RESOURCE = "arn:aws:states:::lambda:invoke.waitForTaskToken"
PATCHER = "patcher"

# The approval request receives the whole document next to the task token (a Task's
# payload cannot add a key to the document itself).
APPROVAL_PAYLOAD = {"document.$": "$", "task_token.$": "$$.Task.Token"}


@dataclass(frozen=True)
class DefinitionProps:
    """What the definition needs from the app: ARNs, stage policy, timeouts."""

    function_arns: Mapping[str, str]  # deploy step name (and "patcher") -> Lambda ARN
    approval_always: bool  # prod: the gate runs whatever the input says
    approval_timeout_seconds: int
    step_timeout_seconds: int
    patcher_timeout_seconds: int
    execution_timeout_seconds: int
    # A multi-function release's Map states run at most this many functions at once.
    map_concurrency: int = 5
    # The stage snapshots the cluster before destructive migrations: the Snapshot states
    # (and function_arns["snapshot"]); off, SchemaBefore goes straight to Migrate.
    snapshot_before_destructive: bool = False


def build_definition(props: DefinitionProps) -> dict[str, Any]:
    """The complete ASL document of the deployment state machine."""
    states: dict[str, dict[str, Any]] = {
        "Start": {
            "Type": "Pass",
            "Comment": "Wrap the execution input; every later state adds its own key.",
            "Parameters": {"input.$": "$", "execution_id.$": "$$.Execution.Id"},
            "Next": "Validate",
        },
        "Validate": _step(props, "validate", "$.input", "ReleaseKind", catch=False),
        # "functions": [...] names several targets: release_definition.py's path.
        "ReleaseKind": present("$.input.functions", RELEASE_START, "Lock"),
        "Lock": _lock(props),
        "LockFailed": _fail("The function and alias are locked by another deployment."),
        "Upload": _step(props, "upload", "$.upload", "MigrationsEnabled"),
        "MigrationsEnabled": _choice("$.input.migrations.enabled", "SchemaBefore", "Publish"),
        # The baseline (touched tables' rows and write counters) is what the rollback
        # impact report compares against after a failure.
        "SchemaBefore": _patcher(props, {"action": "status", "baseline": True},
                                 "$.schema_before", _after_schema_before(props)),
        **(snapshot_states(props, _Builders(), prefix="", next_state="Migrate",
                           on_error="Rollback")
           if props.snapshot_before_destructive else {}),
        "Migrate": _patcher(props, {
            "action": "migrate",
            "phase": "expand",
            "target.$": "$.input.migrations.target",
            "applied_by.$": "$$.Execution.Name",
        }, "$.migrate", "MigrationsComplete"),
        # The patcher stops before a migration it cannot finish in the Lambda's time
        # left ({"complete": false}); the next call carries on where it stopped. Each
        # round starts with the Lambda's whole timeout, so it applies at least one
        # migration or fails into Rollback, and the execution timeout bounds the loop:
        # no round counter is needed.
        # Only an explicit `true` reaches Publish: new code never meets an old schema.
        "MigrationsComplete": _choice("$.migrate.complete", "Publish", "Migrate"),
        "Publish": _step(props, "publish", "$.publish", "Smoke"),
        "Smoke": _step(props, "smoke", "$.smoke", "Shift"),
        "Shift": _step(props, "shift", "$.shift", "ShiftDone"),
        "ShiftDone": _choice("$.shift.done", _after_shift(props), "Bake"),
        # The bake is watched, not waited out: $.shift.checks rounds of a short Wait and
        # a HealthCheck (its interval comes from the plan), so a bad version goes back
        # within one interval of its first error. HealthCheck counts the rounds.
        "Bake": {
            "Type": "Wait",
            "Comment": "Let the new version take traffic until the next health check.",
            "SecondsPath": "$.shift.check_seconds",
            "Next": "HealthCheck",
        },
        "HealthCheck": _step(props, "health", "$.health", "BakeDone"),
        "BakeDone": _choice("$.health.bake_done", "Shift", "Bake"),
        **_approval_states(props),
        "Promote": _step(props, "promote", "$.promote", "ContractEnabled"),
        **_contract_states(props),
        "Record": _step(props, "record", "$.record", "Unlock"),
        "Unlock": _step(props, "unlock", "$.unlock", "Deployed"),
        "Deployed": {"Type": "Succeed"},
        **_failure_states(props),
        **release_states(props, _Builders()),
    }
    return {
        "Comment": "StackFlow deployment: lock, upload, migrate, publish, smoke, shift "
                   "traffic with health checks, promote; roll back the alias on failure.",
        "StartAt": "Start",
        "TimeoutSeconds": props.execution_timeout_seconds,
        "States": states,
    }


def retry_policy() -> list[dict[str, Any]]:
    """Backoff on transient errors only; verdicts (bad input, failed checks) fail at once."""
    return [{
        "ErrorEquals": list(RETRY_ERRORS),
        "IntervalSeconds": RETRY_INTERVAL_SECONDS,
        "MaxAttempts": RETRY_MAX_ATTEMPTS,
        "BackoffRate": RETRY_BACKOFF_RATE,
    }]


class _Builders:
    """The state builders the release path shares with this one."""

    task = staticmethod(lambda *a, **k: _task(*a, **k))
    catch = staticmethod(lambda *a, **k: _catch(*a, **k))
    choice = staticmethod(lambda *a, **k: _choice(*a, **k))


def _task(resource: str, result_path: str, next_state: str,
          timeout_seconds: int) -> dict[str, Any]:
    # Resource = the function ARN: the payload is the state input (or Parameters) and
    # the result is the function's return value, with no invoke envelope to unwrap.
    return {
        "Type": "Task",
        "Resource": resource,
        "ResultPath": result_path,
        "TimeoutSeconds": timeout_seconds,
        "Retry": retry_policy(),
        "Next": next_state,
    }


def _catch(next_state: str, result_path: str = "$.error") -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


def _step(props: DefinitionProps, step: str, result_path: str, next_state: str,
          *, catch: bool = True) -> dict[str, Any]:
    state = _task(props.function_arns[step], result_path, next_state,
                  props.step_timeout_seconds)
    if catch:
        state["Catch"] = _catch("Rollback")
    return state


def _lock(props: DefinitionProps) -> dict[str, Any]:
    # Nothing to roll back or unlock yet: the lock may belong to another execution.
    state = _step(props, "lock", "$.lock", "Upload", catch=False)
    state["Catch"] = _catch("LockFailed")
    return state


def _patcher(props: DefinitionProps, payload: Mapping[str, Any], result_path: str,
             next_state: str) -> dict[str, Any]:
    state = _task(props.function_arns[PATCHER], result_path, next_state,
                  props.patcher_timeout_seconds)
    state["Parameters"] = dict(payload)
    state["Catch"] = _catch("Rollback")
    return state


def _choice(flag_path: str, when_true: str, otherwise: str) -> dict[str, Any]:
    return {
        "Type": "Choice",
        "Choices": [{"Variable": flag_path, "BooleanEquals": True, "Next": when_true}],
        "Default": otherwise,
    }


def _fail(comment: str) -> dict[str, Any]:
    return {"Type": "Fail", "Comment": comment,
            "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def _after_schema_before(props: DefinitionProps) -> str:
    return "SnapshotNeeded" if props.snapshot_before_destructive else "Migrate"


def _after_shift(props: DefinitionProps) -> str:
    return "Approval" if props.approval_always else "ApprovalRequired"


def _approval_states(props: DefinitionProps) -> dict[str, dict[str, Any]]:
    approval: dict[str, Any] = {
        "Type": "Task",
        "Comment": "Wait for `stackflow approve` / `stackflow reject` to answer the token.",
        "Resource": APPROVAL_RESOURCE,
        "Parameters": {"FunctionName": props.function_arns["approval_request"],
                       "Payload": dict(APPROVAL_PAYLOAD)},
        "ResultPath": "$.approval",
        "TimeoutSeconds": props.approval_timeout_seconds,
        "Retry": retry_policy(),
        "Catch": _catch("Rollback"),
        "Next": "Promote",
    }
    states = {"Approval": approval}
    if not props.approval_always:
        states["ApprovalRequired"] = _choice("$.input.approval.required", "Approval",
                                             "Promote")
    return states


def _contract_states(props: DefinitionProps) -> dict[str, dict[str, Any]]:
    """Contract-phase migrations, once the new version serves all traffic: the previous
    version never meets a schema it cannot read. A failure here keeps the release
    promoted (the code is fine, the schema still expanded): it is caught into
    ``$.migrate_contract_error`` and Record says SUCCEEDED_WITH_PENDING_CONTRACT."""
    contract = _task(props.function_arns[PATCHER], "$.migrate_contract", "ContractComplete",
                     props.patcher_timeout_seconds)
    contract["Parameters"] = {"action": "migrate", "phase": "contract",
                              "target.$": "$.input.migrations.target",
                              "applied_by.$": "$$.Execution.Name"}
    contract["Catch"] = _catch("Record", "$.migrate_contract_error")
    return {
        "ContractEnabled": _choice("$.input.migrations.enabled", "MigrateContract", "Record"),
        "MigrateContract": contract,
        # Like Migrate: a round stopped before the Lambda deadline is followed by another.
        "ContractComplete": _choice("$.migrate_contract.complete", "Record",
                                    "MigrateContract"),
    }


def _impact_states(props: DefinitionProps) -> dict[str, dict[str, Any]]:
    """The rollback impact report: a patcher rollback dry run back to the version
    SchemaBefore saw, measured against its baseline (a path that is missing would be an
    uncatchable States.Runtime error, hence the Choice)."""
    taken = present("$.schema_before.baseline", "RollbackImpact", "RecordFailure")
    impact = _task(props.function_arns[PATCHER], "$.rollback_impact", "RecordFailure",
                   props.patcher_timeout_seconds)
    impact["Parameters"] = {"action": "rollback", "dry_run": True,
                            "target.$": "$.schema_before.baseline.version",
                            "baseline.$": "$.schema_before.baseline"}
    impact["Catch"] = _catch("RecordFailure", "$.rollback_impact_error")
    return {"BaselineTaken": taken, "RollbackImpact": impact}


def _failure_states(props: DefinitionProps) -> dict[str, dict[str, Any]]:
    # Each failure-path state moves on even when it fails itself, so the lock is always
    # released and the execution always ends with the original error, not a later one.
    rollback = _task(props.function_arns["rollback"], "$.rollback", "MigrationsAttempted",
                     props.step_timeout_seconds)
    rollback["Catch"] = _catch("MigrationsAttempted", "$.rollback_error")
    # A failed Migrate leaves no result ($.error replaces it) and a loop of rounds keeps
    # only the last one, so the schema's own rows (applied_by = the execution name) say
    # what this execution applied. Skipped when no migration could have run.
    attempted = present("$.schema_before", "SchemaAfter", "RecordFailure")
    schema_after = _task(props.function_arns[PATCHER], "$.schema_after", "BaselineTaken",
                         props.patcher_timeout_seconds)
    schema_after["Parameters"] = {"action": "status"}
    # An unreachable database must not hold up the rollback record and the unlock.
    schema_after["Catch"] = _catch("RecordFailure", "$.schema_after_error")
    record = _task(props.function_arns["record"], "$.record", "UnlockAfterFailure",
                   props.step_timeout_seconds)
    record["Catch"] = _catch("UnlockAfterFailure", "$.record_error")
    unlock = _task(props.function_arns["unlock"], "$.unlock", "DeploymentFailed",
                   props.step_timeout_seconds)
    unlock["Catch"] = _catch("DeploymentFailed", "$.unlock_error")
    return {
        "Rollback": rollback,
        "MigrationsAttempted": attempted,
        "SchemaAfter": schema_after,
        **_impact_states(props),
        "RecordFailure": record,
        "UnlockAfterFailure": unlock,
        "DeploymentFailed": _fail("The deployment failed and the alias was rolled back."),
    }
