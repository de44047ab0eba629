"""The multi-function release path of the deployment state machine (issue 16).

An execution input with ``"functions": [...]`` takes this path after ``Validate``
(``definition.py``'s ``ReleaseKind`` Choice); the single-function form keeps its own.
Set-wide steps run once (Lock, the migrations, Rollback, Record, Unlock: the same
step functions, which recognise a release document); the per-function steps run in
Map states over the *target documents* (``{"input", "execution_id", "lock", ...}``,
one per function), each iteration returning its updated document:

``ReleaseLock`` -> migrations once (with the stage's snapshot before destructive ones,
``ReleaseSnapshot``) -> ``ReleaseDeliver`` (Map: Upload -> Publish ->
Smoke per function) -> ``ReleaseShift`` (Map: every alias gets the same weight) ->
``ReleaseShiftDone`` -> ``ReleaseBake`` -> ``ReleaseHealthCheck`` (Map) ->
``ReleaseBakeDone`` ... -> (approval) -> ``ReleasePromote`` (Map) -> ``ReleaseRecord``
-> ``ReleaseUnlock``. A failure anywhere rolls every alias back (``ReleaseRollback``)
and ends with ``ReleaseFailed``, whose cause names each function's outcome.

Every target of a release shares one plan, so the first target's ``shift`` and
``health`` results (copied to ``$.first.target``) say for all of them whether the plan
is done and how long to bake.
"""

from __future__ import annotations

from typing import Any, Protocol

TARGETS = "$.targets"
SNAPSHOT_STEP = "snapshot"
# How long a Snapshot round waits before reading the snapshot's status again.
SNAPSHOT_WAIT_SECONDS = 30
# The first target's document, copied by a Pass state after each Map: an ASL path with
# an array index is definite in AWS, but moto (local mode) reads it as a list.
FIRST = "$.first.target"
START = "ReleaseLock"


class ReleaseProps(Protocol):
    """The part of ``DefinitionProps`` the release path reads."""

    @property
    def function_arns(self) -> Any: ...
    @property
    def approval_always(self) -> bool: ...
    @property
    def approval_timeout_seconds(self) -> int: ...
    @property
    def step_timeout_seconds(self) -> int: ...
    @property
    def patcher_timeout_seconds(self) -> int: ...
    @property
    def map_concurrency(self) -> int: ...
    @property
    def snapshot_before_destructive(self) -> bool: ...


class Helpers(Protocol):
    """The state builders ``definition.py`` shares (so both paths retry alike)."""

    def task(self, resource: str, result_path: str, next_state: str,
             timeout_seconds: int) -> dict[str, Any]: ...
    def catch(self, next_state: str, result_path: str = "$.error") -> list[dict[str, Any]]: ...
    def choice(self, flag_path: str, when_true: str, otherwise: str) -> dict[str, Any]: ...


def release_states(props: ReleaseProps, h: Helpers) -> dict[str, dict[str, Any]]:
    """Every state of the release path, keyed by name."""
    lock = _set_step(props, h, "lock", "$.lock", "ReleaseMigrationsEnabled")
    lock["Catch"] = h.catch("ReleaseLockFailed")
    return {
        "ReleaseLock": lock,
        "ReleaseLockFailed": _fail("A function of the release is locked by another "
                                   "deployment; no lock was kept.", "$.error"),
        **_migration_states(props, h),
        "ReleaseDeliver": _map(props, h, "$.lock.targets", _deliver_states(props, h),
                               "TargetUpload", "ReleaseShift"),
        "ReleaseShift": _map(props, h, TARGETS, {"TargetShift": _end(
            h.task(props.function_arns["shift"], "$.shift", "-",
                   props.step_timeout_seconds))}, "TargetShift", "ReleaseShifted"),
        "ReleaseShifted": _first("ReleaseShiftDone"),
        "ReleaseShiftDone": h.choice(f"{FIRST}.shift.done", _after_shift(props),
                                     "ReleaseBake"),
        "ReleaseBake": {"Type": "Wait", "Comment": "Every alias takes traffic until the "
                        "next health check.", "SecondsPath": f"{FIRST}.shift.check_seconds",
                        "Next": "ReleaseHealthCheck"},
        "ReleaseHealthCheck": _map(props, h, TARGETS, {"TargetHealth": _end(
            h.task(props.function_arns["health"], "$.health", "-",
                   props.step_timeout_seconds))}, "TargetHealth", "ReleaseChecked"),
        "ReleaseChecked": _first("ReleaseBakeDone"),
        "ReleaseBakeDone": h.choice(f"{FIRST}.health.bake_done", "ReleaseShift",
                                    "ReleaseBake"),
        **_approval_states(props, h),
        "ReleasePromote": _map(props, h, TARGETS, {"TargetPromote": _end(
            h.task(props.function_arns["promote"], "$.promote", "-",
                   props.step_timeout_seconds))}, "TargetPromote", "ReleaseContractEnabled"),
        **_contract_states(props, h),
        "ReleaseRecord": _set_step(props, h, "record", "$.record", "ReleaseUnlock"),
        "ReleaseUnlock": _set_step(props, h, "unlock", "$.unlock", "ReleaseDeployed"),
        "ReleaseDeployed": {"Type": "Succeed"},
        **_failure_states(props, h),
    }


def _set_step(props: ReleaseProps, h: Helpers, step: str, result_path: str,
              next_state: str) -> dict[str, Any]:
    state = h.task(props.function_arns[step], result_path, next_state,
                   props.step_timeout_seconds)
    state["Catch"] = h.catch("ReleaseRollback")
    return state


def _migration_states(props: ReleaseProps, h: Helpers) -> dict[str, dict[str, Any]]:
    patcher = props.function_arns["patcher"]

    def call(payload: dict[str, Any], result_path: str, next_state: str) -> dict[str, Any]:
        state = h.task(patcher, result_path, next_state, props.patcher_timeout_seconds)
        state["Parameters"] = payload
        state["Catch"] = h.catch("ReleaseRollback")
        return state

    after_status = "ReleaseSnapshotNeeded" if props.snapshot_before_destructive \
        else "ReleaseMigrate"
    # Once per release, before any function publishes: no new code meets an old schema.
    return {
        "ReleaseMigrationsEnabled": h.choice("$.input.migrations.enabled",
                                             "ReleaseSchemaBefore", "ReleaseDeliver"),
        # The baseline is what the rollback impact report compares against on failure.
        "ReleaseSchemaBefore": call({"action": "status", "baseline": True},
                                    "$.schema_before", after_status),
        **(snapshot_states(props, h, prefix="Release", next_state="ReleaseMigrate",
                           on_error="ReleaseRollback")
           if props.snapshot_before_destructive else {}),
        # Expand only: contract migrations wait until every alias is promoted
        # (ReleaseMigrateContract), so no previous version meets a schema it cannot read.
        "ReleaseMigrate": call({"action": "migrate", "phase": "expand",
                                "target.$": "$.input.migrations.target",
                                "applied_by.$": "$$.Execution.Name"}, "$.migrate",
                               "ReleaseMigrationsComplete"),
        "ReleaseMigrationsComplete": h.choice("$.migrate.complete", "ReleaseDeliver",
                                              "ReleaseMigrate"),
    }


def _contract_states(props: ReleaseProps, h: Helpers) -> dict[str, dict[str, Any]]:
    """Contract-phase migrations once every alias is promoted, as on the single path: a
    failure keeps the release promoted (caught into ``$.migrate_contract_error``; the
    release record says SUCCEEDED_WITH_PENDING_CONTRACT)."""
    contract = h.task(props.function_arns["patcher"], "$.migrate_contract",
                      "ReleaseContractComplete", props.patcher_timeout_seconds)
    contract["Parameters"] = {"action": "migrate", "phase": "contract",
                              "target.$": "$.input.migrations.target",
                              "applied_by.$": "$$.Execution.Name"}
    contract["Catch"] = h.catch("ReleaseRecord", "$.migrate_contract_error")
    return {
        "ReleaseContractEnabled": h.choice("$.input.migrations.enabled",
                                           "ReleaseMigrateContract", "ReleaseRecord"),
        "ReleaseMigrateContract": contract,
        # A round stopped before the Lambda deadline is followed by another.
        "ReleaseContractComplete": h.choice("$.migrate_contract.complete", "ReleaseRecord",
                                            "ReleaseMigrateContract"),
    }


def snapshot_states(props: ReleaseProps, h: Helpers, *, prefix: str, next_state: str,
                    on_error: str) -> dict[str, dict[str, Any]]:
    """A cluster snapshot before migrations that destroy data, polled until available.

    Only when SchemaBefore found a destructive statement among the pending migrations
    (``destructive`` is a list: its first item is present); one snapshot covers both
    phases, since destructive statements normally sit in contract migrations. The step
    creates the snapshot on its first round and reads it back on the later ones.
    """
    snapshot = h.task(props.function_arns[SNAPSHOT_STEP], "$.snapshot",
                      f"{prefix}SnapshotReady", props.step_timeout_seconds)
    # Nothing has shifted yet: the usual failure path releases the lock and records it.
    snapshot["Catch"] = h.catch(on_error)
    return {
        f"{prefix}SnapshotNeeded": present("$.schema_before.destructive[0]",
                                           f"{prefix}Snapshot", next_state),
        f"{prefix}Snapshot": snapshot,
        f"{prefix}SnapshotReady": h.choice("$.snapshot.available", next_state,
                                           f"{prefix}SnapshotWait"),
        f"{prefix}SnapshotWait": {
            "Type": "Wait", "Comment": "RDS is still taking the snapshot.",
            "Seconds": SNAPSHOT_WAIT_SECONDS, "Next": f"{prefix}Snapshot"},
    }


def _deliver_states(props: ReleaseProps, h: Helpers) -> dict[str, dict[str, Any]]:
    arns, timeout = props.function_arns, props.step_timeout_seconds
    return {
        "TargetUpload": h.task(arns["upload"], "$.upload", "TargetPublish", timeout),
        "TargetPublish": h.task(arns["publish"], "$.publish", "TargetSmoke", timeout),
        "TargetSmoke": h.task(arns["smoke"], "$.smoke", "TargetDelivered", timeout),
        # Each case's outcome is in the function's record; the state keeps what later
        # states read, so 20 targets stay far below the 256 KB payload limit.
        "TargetDelivered": {"Type": "Pass", "End": True, "Parameters": {
            "input.$": "$.input", "execution_id.$": "$.execution_id", "lock.$": "$.lock",
            "publish.$": "$.publish"}},
    }


def _map(props: ReleaseProps, h: Helpers, items_path: str,
         states: dict[str, dict[str, Any]], start: str, next_state: str) -> dict[str, Any]:
    # An iteration that fails fails the Map: every function's failure rolls all back.
    return {
        "Type": "Map",
        "ItemsPath": items_path,
        "MaxConcurrency": props.map_concurrency,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": start,
                          "States": states},
        "ResultPath": TARGETS,
        "Catch": h.catch("ReleaseRollback"),
        "Next": next_state,
    }


def _first(next_state: str) -> dict[str, Any]:
    return {"Type": "Pass", "Comment": "Every target shares the plan: the first says "
            "where it is.", "Parameters": {"target.$": "States.ArrayGetItem($.targets, 0)"},
            "ResultPath": "$.first", "Next": next_state}


def _end(state: dict[str, Any]) -> dict[str, Any]:
    del state["Next"]
    state["End"] = True
    return state


def _after_shift(props: ReleaseProps) -> str:
    return "ReleaseApproval" if props.approval_always else "ReleaseApprovalRequired"


def _approval_states(props: ReleaseProps, h: Helpers) -> dict[str, dict[str, Any]]:
    approval = h.task("arn:aws:states:::lambda:invoke.waitForTaskToken", "$.approval",
                      "ReleasePromote", props.approval_timeout_seconds)
    # The request names the release by its first function; the token is per execution.
    approval["Parameters"] = {"FunctionName": props.function_arns["approval_request"],
                              "Payload": {"document.$": FIRST,
                                          "task_token.$": "$$.Task.Token"}}
    approval["Catch"] = h.catch("ReleaseRollback")
    states = {"ReleaseApproval": approval}
    if not props.approval_always:
        states["ReleaseApprovalRequired"] = h.choice("$.input.approval.required",
                                                     "ReleaseApproval", "ReleasePromote")
    return states


def _failure_states(props: ReleaseProps, h: Helpers) -> dict[str, dict[str, Any]]:
    # As on the single path, each state moves on even when it fails itself.
    arns, timeout = props.function_arns, props.step_timeout_seconds

    def step(name: str, result_path: str, next_state: str, error_path: str) -> dict[str, Any]:
        state = h.task(arns[name], result_path, next_state, timeout)
        state["Catch"] = h.catch(next_state, error_path)
        return state

    schema_after = step("patcher", "$.schema_after", "ReleaseBaselineTaken",
                        "$.schema_after_error")
    schema_after["TimeoutSeconds"] = props.patcher_timeout_seconds
    schema_after["Parameters"] = {"action": "status"}
    # The rollback impact report, as on the single path: a rollback dry run back to the
    # version ReleaseSchemaBefore saw, measured against its baseline.
    impact = step("patcher", "$.rollback_impact", "ReleaseRecordFailure",
                  "$.rollback_impact_error")
    impact["TimeoutSeconds"] = props.patcher_timeout_seconds
    impact["Parameters"] = {"action": "rollback", "dry_run": True,
                            "target.$": "$.schema_before.baseline.version",
                            "baseline.$": "$.schema_before.baseline"}
    return {
        "ReleaseRollback": step("rollback", "$.rollback", "ReleaseMigrationsAttempted",
                                "$.rollback_error"),
        "ReleaseMigrationsAttempted": present("$.schema_before", "ReleaseSchemaAfter",
                                              "ReleaseRecordFailure"),
        "ReleaseSchemaAfter": schema_after,
        "ReleaseBaselineTaken": present("$.schema_before.baseline", "ReleaseRollbackImpact",
                                        "ReleaseRecordFailure"),
        "ReleaseRollbackImpact": impact,
        "ReleaseRecordFailure": step("record", "$.record", "ReleaseUnlockAfterFailure",
                                     "$.record_error"),
        "ReleaseUnlockAfterFailure": step("unlock", "$.unlock", "ReleaseVerdict",
                                          "$.unlock_error"),
        # The verdict names every function's rollback outcome; without it (Rollback
        # itself failed) the original error is the verdict.
        "ReleaseVerdict": present("$.rollback.verdict", "ReleaseRolledBackFailed",
                                  "ReleaseFailed"),
        "ReleaseRolledBackFailed": _fail("The release failed; every alias was rolled back "
                                         "or is named in the cause.", "$.rollback.verdict"),
        "ReleaseFailed": _fail("The release failed.", "$.error"),
    }


def present(path: str, when_present: str, otherwise: str) -> dict[str, Any]:
    """A Choice on whether ``path`` exists (reading a missing path in a Task or Wait is
    an uncatchable ``States.Runtime`` error, so the definition asks first)."""
    return {"Type": "Choice", "Default": otherwise,
            "Choices": [{"Variable": path, "IsPresent": True, "Next": when_present}]}


def _fail(comment: str, path: str) -> dict[str, Any]:
    return {"Type": "Fail", "Comment": comment, "ErrorPath": f"{path}.Error",
            "CausePath": f"{path}.Cause"}
