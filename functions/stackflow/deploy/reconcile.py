"""Reconcile: clean up after an execution that ended without its own clean-up.

``StopExecution`` (a cancelled CI job, an operator) and a timeout end an execution
wherever it is: Rollback, RecordFailure and Unlock never run. EventBridge sends every
``ABORTED``, ``TIMED_OUT`` and ``FAILED`` status change of the deployment state machine
to the ``reconcile`` handler, which does what the failure path would have done:

* the same guarded rollback as the Rollback step (the revision this execution last left
  the alias at comes from its record), unless the deployment had succeeded or another
  execution holds the lock now (the alias is that one's);
* releases the lock if this execution still holds it;
* marks a record still ``IN_PROGRESS`` as ``ABORTED`` / ``TIMED_OUT`` (or, for a
  ``FAILED`` execution, ``ROLLED_BACK`` / ``FAILED``) with when and why; for a
  multi-function release, each function's record and then the release record, with
  every function's outcome.

Every part is idempotent: for an execution whose failure path ran (every ordinary
failure) or one reconciled already, it writes nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stackflow.deploy import release_record
from stackflow.deploy.deps import Deps
from stackflow.deploy.document import RollbackResult, iso, version_number
from stackflow.deploy.guard import AliasGuard
from stackflow.deploy.model import DeployInput, parse_input
from stackflow.deploy.ports import LockState
from stackflow.deploy.record import (
    ABORTED,
    FAILED,
    IN_PROGRESS,
    ROLLED_BACK,
    SUCCEEDED_STATUSES,
    TIMED_OUT,
)
from stackflow.deploy.release import ReleaseInput, is_release, parse_release
from stackflow.deploy.traffic import guarded_rollback
from stackflow.errors import InvalidRequest, StackFlowError
from stackflow.validation import as_object, opt_int, opt_str, req_str

DETAIL_TYPE = "Step Functions Execution Status Change"
SOURCE = "aws.states"
INTERRUPTED = frozenset({"ABORTED", "TIMED_OUT", "FAILED"})
# What the record says when the event names no error (StopExecution without --error).
DEFAULT_ERRORS = {"ABORTED": "ExecutionAborted", "TIMED_OUT": "States.Timeout",
                  "FAILED": "ExecutionFailed"}


@dataclass(frozen=True)
class StatusChange:
    """The ``detail`` of a Step Functions execution status-change event."""

    execution_arn: str
    status: str
    input: str | None
    stop_ms: int | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def stopped_at(self) -> str | None:
        if self.stop_ms is None:
            return None
        return iso(datetime.fromtimestamp(self.stop_ms / 1000, UTC))


def read_status_change(event: Any) -> StatusChange:
    """Read the EventBridge event; every error names its field."""
    obj = as_object(event, "event")
    if obj.get("source") != SOURCE or obj.get("detail-type") != DETAIL_TYPE:
        raise InvalidRequest("detail-type", f"must be a {DETAIL_TYPE!r} event from "
                                            f"{SOURCE}, got {obj.get('detail-type')!r}")
    detail, p = as_object(obj.get("detail"), "detail"), "detail."
    return StatusChange(execution_arn=req_str(detail, "executionArn", p),
                        status=req_str(detail, "status", p),
                        input=opt_str(detail, "input", prefix=p),
                        stop_ms=opt_int(detail, "stopDate", minimum=0, prefix=p),
                        error=opt_str(detail, "error", prefix=p),
                        cause=opt_str(detail, "cause", prefix=p))


@dataclass(frozen=True)
class ReconcileResult:
    """What Reconcile found and did; ``changed`` is false for a no-op."""

    execution_id: str
    execution_status: str
    changed: bool
    reason: str
    record_status: str | None = None
    rollback: RollbackResult | None = None
    lock_released: bool = False
    # A multi-function release: one result per function, in the input's order.
    functions: tuple[tuple[str, ReconcileResult], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        result = {"execution_id": self.execution_id,
                  "execution_status": self.execution_status,
                  "changed": self.changed, "reason": self.reason,
                  "record_status": self.record_status, "lock_released": self.lock_released,
                  "rollback": self.rollback.to_dict() if self.rollback is not None else None}
        if self.functions:
            result["functions"] = [{"target": name, **r.to_dict()}
                                   for name, r in self.functions]
        return result


def reconcile(change: StatusChange, deps: Deps) -> ReconcileResult:
    """Roll back, unlock and close the record of an interrupted execution, once."""
    why_not = _nothing_to_do(change, deps)
    if why_not is not None:
        return ReconcileResult(change.execution_arn, change.status, False, why_not)
    raw = json.loads(change.input or "{}")
    if is_release(raw):
        return _reconcile_release(change, parse_release(raw), deps)
    return _reconcile_target(change, parse_input(raw), deps)


def _reconcile_release(change: StatusChange, release: ReleaseInput,
                       deps: Deps) -> ReconcileResult:
    """Every function of a release on its own: one refused rollback stops no other."""
    results = tuple((f"{t.function_name}:{t.alias}", _reconcile_target(change, t, deps))
                    for t in release.targets)
    status = _close_release(change, release, [r for _, r in results], deps)
    return ReconcileResult(
        change.execution_arn, change.status, changed=any(r.changed for _, r in results),
        reason="; ".join(f"{name}: {r.reason}" for name, r in results),
        record_status=status or results[0][1].record_status,
        lock_released=all(r.lock_released for _, r in results), functions=results)


def _close_release(change: StatusChange, release: ReleaseInput,
                   results: list[ReconcileResult], deps: Deps) -> str | None:
    """Close the release record as its functions' records were; its status (or None)."""
    current = deps.store.get_release(change.execution_arn)
    if current is None:
        return None  # the release never got its locks (or predates release records)
    open_release = current.get("status") == IN_PROGRESS
    if not open_release and not any(r.changed for r in results):
        return str(current.get("status"))
    rows = _release_rows(change, release, results, current, deps)
    now = iso(deps.now())
    fields: dict[str, Any] = {"functions": rows, "reconciled": {
        "at": now, "execution_status": change.status, "stopped_at": change.stopped_at}}
    if open_release:
        status = change.status if change.status in (ABORTED, TIMED_OUT) \
            else release_record.status_of(rows, failed=True)
        fields |= {"status": status, **_interrupted(change, now)}
    deps.store.update_release(change.execution_arn, fields)
    return str(fields.get("status", current.get("status")))


def _release_rows(change: StatusChange, release: ReleaseInput,
                  results: list[ReconcileResult], current: Mapping[str, Any],
                  deps: Deps) -> list[dict[str, Any]]:
    # A function Reconcile did not roll back keeps the outcome its row had.
    before = {(row.get("function"), row.get("alias")): row.get("rollback")
              for row in current.get("functions") or [] if isinstance(row, Mapping)}
    rows = []
    for target, result in zip(release.targets, results, strict=True):
        rollback = result.rollback.outcome if result.rollback is not None \
            else before.get((target.function_name, target.alias))
        found = deps.store.get_record(target.function_name, change.execution_arn)
        rows.append(release_record.row_of_record(target, found, rollback))
    return rows


def _reconcile_target(change: StatusChange, inp: DeployInput,
                      deps: Deps) -> ReconcileResult:
    record = deps.store.get_record(inp.function_name, change.execution_arn)
    lock = deps.store.get_lock(inp.function_name, inp.alias)
    rollback = _rollback(inp, change, record, lock, deps)
    released = deps.store.release_lock(inp.function_name, inp.alias, change.execution_arn)
    fields = _record_fields(change, record, rollback, released, deps)
    if fields:
        deps.store.update_record(inp.function_name, change.execution_arn, fields)
    status = fields.get("status") or (record or {}).get("status")
    return ReconcileResult(change.execution_arn, change.status, changed=bool(fields),
                           reason=_summary(rollback, released, record),
                           record_status=status, rollback=rollback, lock_released=released)


def _nothing_to_do(change: StatusChange, deps: Deps) -> str | None:
    if change.status not in INTERRUPTED:
        return f"status {change.status}: nothing to reconcile"
    try:
        raw = json.loads(change.input or "{}")
        parse_release(raw) if is_release(raw) else parse_input(raw)
    except (InvalidRequest, ValueError) as e:
        return f"the execution input is not valid ({e}): it never got the lock"
    try:
        current = deps.executions.status(change.execution_arn)
    except StackFlowError:
        current = change.status  # cannot tell: the event's own status stands
    if current == "RUNNING":
        return "DescribeExecution says the execution is still RUNNING: not touching it"
    return None


def _rollback(inp: DeployInput, change: StatusChange, record: Mapping[str, Any] | None,
              lock: LockState | None, deps: Deps) -> RollbackResult | None:
    """The guarded rollback, when this execution may still own the alias."""
    if record is None or record.get("status") in SUCCEEDED_STATUSES or not record.get(
            "previous_version"):
        return None
    if lock is not None and lock.holder != change.execution_arn:
        return None  # another deployment holds the lock: the alias is its to move
    previous = version_number(record, "previous_version", "record.")
    new = record.get("new_version")
    return guarded_rollback(inp.function_name, inp.alias, previous,
                            None if new is None else str(new),
                            AliasGuard.of_record(record), inp.plan, deps)


def _record_fields(change: StatusChange, record: Mapping[str, Any] | None,
                   rollback: RollbackResult | None, released: bool,
                   deps: Deps) -> dict[str, Any]:
    """What to write on the record: nothing when nothing changed."""
    if record is None:
        return {}
    open_record = record.get("status") == IN_PROGRESS
    acted = released or (rollback is not None and rollback.rolled_back)
    if not open_record and not acted:
        return {}
    now = iso(deps.now())
    note = {"at": now, "execution_status": change.status,
            "stopped_at": change.stopped_at, "lock_released": released,
            "rollback": rollback.to_dict() if rollback is not None else None}
    fields: dict[str, Any] = {"reconciled": note}
    if open_record:
        fields |= {"status": _final_status(change.status, rollback),
                   **_interrupted(change, now)}
    return fields


def _interrupted(change: StatusChange, now: str) -> dict[str, Any]:
    """When and why an open record ended: the event's stop time and error."""
    return {"finished_at": change.stopped_at or now,
            "error": {"type": change.error or DEFAULT_ERRORS[change.status],
                      "message": change.cause or _default_cause(change)}}


def _final_status(status: str, rollback: RollbackResult | None) -> str:
    if status in (ABORTED, TIMED_OUT):
        return status
    return ROLLED_BACK if rollback is not None and rollback.back_on_previous else FAILED


def _default_cause(change: StatusChange) -> str:
    if change.status == ABORTED:
        return "the execution was stopped (StopExecution) before it finished"
    if change.status == TIMED_OUT:
        return "the execution ran past its TimeoutSeconds"
    return "the execution failed before its failure path finished"


def _summary(rollback: RollbackResult | None, released: bool,
             record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "no deployment record: the execution never got the lock"
    parts = []
    if rollback is not None:
        parts.append(f"rollback {rollback.outcome}"
                     + (f" ({rollback.reason})" if rollback.reason else ""))
    parts.append("lock released" if released else "lock not held by this execution")
    return "; ".join(parts)
