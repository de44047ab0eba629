"""The deployment record: one item per execution, written as the deployment goes.

Lock creates it (``IN_PROGRESS``); every step appends its outcome before it reports
success; Record (or RecordFailure) sets the final status, and on the failure path the
error and ``migration_rollback``: which migrations this execution applied (the
``schema_migrations`` rows whose ``applied_by`` is its name), the exact command that
takes the schema back, and the rollback impact report (``schema_impact``): what that
command would destroy, with its verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stackflow.deploy.contract import SUCCEEDED_WITH_PENDING_CONTRACT, contract_fields
from stackflow.deploy.deps import Deps
from stackflow.deploy.document import (
    LockResult,
    PublishResult,
    RollbackResult,
    iso,
    read_optional,
)
from stackflow.deploy.model import DeployInput
from stackflow.deploy.schema_impact import baseline_fields, impact_fields
from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, opt_list

IN_PROGRESS, SUCCEEDED, FAILED, ROLLED_BACK = "IN_PROGRESS", "SUCCEEDED", "FAILED", "ROLLED_BACK"
# Set by Reconcile for an execution stopped (StopExecution) or timed out mid-way.
ABORTED, TIMED_OUT = "ABORTED", "TIMED_OUT"
# Promoted, with contract-phase migrations left pending (deploy/contract.py).
SUCCEEDED_STATUSES = frozenset({SUCCEEDED, SUCCEEDED_WITH_PENDING_CONTRACT})
FINAL_STATUSES = frozenset({*SUCCEEDED_STATUSES, FAILED, ROLLED_BACK, ABORTED, TIMED_OUT})


def start(inp: DeployInput, execution_id: str, lock: LockResult, deps: Deps, *,
          release: str | None = None) -> None:
    """Create (or, on a retried Lock, rewrite) the record of this execution.

    ``release``: the execution id of the multi-function release this is one function
    of, which keys its release record (``stackflow.deploy.release_record``).
    """
    deps.store.update_record(inp.function_name, execution_id, {
        "execution_id": execution_id, "function": inp.function_name, "alias": inp.alias,
        "previous_version": lock.previous_version, "artifact": inp.artifact.to_dict(),
        "ci": dict(inp.ci), "strategy": inp.to_dict()["strategy"], "status": IN_PROGRESS,
        "started_at": lock.started_at, **_release_pointer(release),
    })


def rejected(inp: DeployInput, execution_id: str, error: dict[str, Any], deps: Deps, *,
             release: str | None = None) -> None:
    """Record an execution that never got the lock, so history shows it was refused."""
    now = iso(deps.now())
    deps.store.update_record(inp.function_name, execution_id, {
        "execution_id": execution_id, "function": inp.function_name, "alias": inp.alias,
        "artifact": inp.artifact.to_dict(), "ci": dict(inp.ci), "status": FAILED,
        "error": error, "started_at": now, "finished_at": now, **_release_pointer(release),
    })


def _release_pointer(release: str | None) -> dict[str, str]:
    return {} if release is None else {"release": release}


def outcome(name: str, result: str, started_at: str, finished_at: str,
            detail: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "outcome": result, "started_at": started_at,
            "finished_at": finished_at, "detail": dict(detail)}


def finish(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
           deps: Deps) -> dict[str, Any]:
    """Write the final status (and the failure details) and return the whole record."""
    started = iso(deps.now())
    fields = final_fields(doc, deps.settings.patcher_function)
    fields["finished_at"] = iso(deps.now())
    store = deps.store
    store.update_record(inp.function_name, execution_id, fields)
    rollback = read_optional(doc, RollbackResult)
    if rollback is not None:
        # Rollback itself makes one write only (the alias); its outcome lands here.
        store.append_step(inp.function_name, execution_id,
                          outcome("rollback", "succeeded", started, started,
                                  rollback.to_dict()), key="rollback")
    store.append_step(inp.function_name, execution_id,
                      outcome("record", "succeeded", started, fields["finished_at"],
                              {"status": fields["status"]}), key="record")
    record = store.get_record(inp.function_name, execution_id)
    return record or fields


def final_fields(doc: Mapping[str, Any], patcher_function: str) -> dict[str, Any]:
    """Status, new version, and on failure the error and the migration hint."""
    fields: dict[str, Any] = {}
    publish = read_optional(doc, PublishResult)
    if publish is not None:
        fields["new_version"] = publish.version
    fields.update(baseline_fields(doc))
    error = doc.get("error")
    if error is None:
        fields["status"] = SUCCEEDED
        fields.update(contract_fields(doc, describe_error))
        return fields
    rollback = read_optional(doc, RollbackResult)
    # ROLLED_BACK: this execution had moved the alias and it is back where it was
    # (written now, or already back: see RollbackResult.back_on_previous).
    fields["status"] = ROLLED_BACK if rollback is not None and rollback.back_on_previous \
        else FAILED
    fields["error"] = describe_error(error)
    fields["migration_rollback"] = migration_rollback(doc, patcher_function)
    return fields


def describe_error(error: Any) -> dict[str, Any]:
    """``{"type", "message"}`` from a Step Functions ``{"Error", "Cause"}`` catch."""
    if not isinstance(error, Mapping):
        raise InvalidRequest("error", "must be the caught {\"Error\", \"Cause\"} object")
    cause = error.get("Cause")
    message = cause if isinstance(cause, str) else json.dumps(cause, default=str)
    # A Lambda error's Cause is itself JSON: {"errorMessage", "errorType", ...}.
    try:
        parsed = json.loads(message) if message else None
    except ValueError:
        parsed = None
    if isinstance(parsed, Mapping) and "errorMessage" in parsed:
        message = str(parsed["errorMessage"])
    return {"type": str(error.get("Error", "")), "message": message or ""}


def migration_rollback(doc: Mapping[str, Any], patcher_function: str) -> dict[str, Any]:
    """Which migrations this execution applied, and the command that reverts them.

    The rows of ``$.schema_after`` (read after the failure) that name this execution as
    ``applied_by`` are the answer. Without them, the versions ``$.migrate`` and
    ``$.schema_before`` account for are; when ``Migrate`` may have stopped part-way
    that list can be short, and the hint says so (``"exact": false``).
    """
    applied, exact = applied_by_this_execution(doc)
    if not applied and exact:
        return {"needed": False, "applied": []}
    target = _schema_before(doc.get("schema_before"), applied)
    payload = json.dumps({"action": "rollback", "target": target}, separators=(",", ":"))
    # AWS CLI v2 reads --payload as base64 unless told the payload is raw JSON.
    command = (f"aws lambda invoke --function-name {patcher_function} "
               f"--cli-binary-format raw-in-base64-out --payload '{payload}' out.json")
    hint: dict[str, Any] = {"needed": True, "applied": applied, "target": target,
                            "function": patcher_function, "command": command}
    hint.update(impact_fields(doc, describe_error))
    if not exact:
        hint["exact"] = False
        hint["note"] = (f"Migrate failed and the schema could not be read afterwards: "
                        f"{{\"action\":\"status\"}} lists the migrations applied_by "
                        f"{execution_name(doc) or 'this execution'}; rolling back to "
                        f"{target} reverts them all.")
    return hint


def applied_by_this_execution(doc: Mapping[str, Any]) -> tuple[list[int], bool]:
    """The versions this execution applied (ascending), and whether the list is certain."""
    name = execution_name(doc)
    schema_after = doc.get("schema_after")
    if schema_after is not None and name is not None:
        return _rows_applied_by(schema_after, name), True
    migrate, schema_before = doc.get("migrate"), doc.get("schema_before")
    versions = {*_applied_versions(migrate), *_pending_reached(schema_before, migrate)}
    return sorted(versions), not _may_have_stopped_midway(schema_before, migrate)


def execution_name(doc: Mapping[str, Any]) -> str | None:
    """The last segment of ``execution_id`` (an execution ARN): ``$$.Execution.Name``."""
    execution_id = doc.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id:
        return None
    # Execution names cannot contain ":", so the ARN's last segment is the whole name.
    return execution_id.rsplit(":", 1)[-1]


def _rows_applied_by(schema_after: Any, name: str) -> list[int]:
    rows = opt_list(as_object(schema_after, "schema_after"), "applied", "schema_after.")
    versions = []
    for i, row in enumerate(rows):
        field = f"schema_after.applied[{i}]"
        if as_object(row, field).get("applied_by") == name:
            versions.append(_version_of(row, field))
    return sorted(versions)


def _pending_reached(schema_before: Any, migrate: Any) -> list[int]:
    # Every round of a Migrate loop applies the pending migrations in order, so those
    # up to the last successful round's current_version are this execution's too.
    if not isinstance(schema_before, Mapping) or not isinstance(migrate, Mapping):
        return []
    reached = migrate.get("current_version")
    if reached is None:
        return []
    top = _version_of(reached, "migrate.current_version")
    start = _start_version(schema_before)
    pending = opt_list(schema_before, "pending", "schema_before.")
    versions = (_version_of(item, f"schema_before.pending[{i}]")
                for i, item in enumerate(pending))
    return [v for v in versions if start < v <= top]


def _may_have_stopped_midway(schema_before: Any, migrate: Any) -> bool:
    # With the schema read before but no complete Migrate result, a failed round may
    # have applied migrations that no result lists (a result without "complete" is an
    # earlier patcher's, which always finished).
    if not isinstance(schema_before, Mapping):
        return False
    return not isinstance(migrate, Mapping) or migrate.get("complete", True) is not True


def _applied_versions(migrate: Any) -> list[int]:
    if not isinstance(migrate, Mapping):
        return []
    applied = migrate.get("applied") or []
    if not isinstance(applied, list):
        raise InvalidRequest("migrate.applied", "must be an array")
    return sorted(_version_of(item, f"migrate.applied[{i}]") for i, item in enumerate(applied))


def _version_of(item: Any, field: str) -> int:
    value = item.get("version") if isinstance(item, Mapping) else item
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidRequest(field, f"must be a migration version number, got {value!r}")


def _start_version(schema_before: Mapping[str, Any]) -> int:
    current = schema_before.get("current_version")
    return 0 if current is None else _version_of(current, "schema_before.current_version")


def _schema_before(schema_before: Any, applied: list[int]) -> int:
    if isinstance(schema_before, Mapping) and "current_version" in schema_before:
        # An empty database (null) goes back to 0: the patcher rolls back everything.
        return _start_version(schema_before)
    if not applied:
        raise InvalidRequest("schema_before.current_version", "is required")
    # Without the status before, the version below the first applied one is the target.
    return applied[0] - 1
