"""The states of the deployment state machine, one function each, and how they record.

``run(name, event, deps)`` is the one entry point the handlers call. It reads the whole
document, runs the step, and appends the step's outcome to the deployment record
before returning the result (a failure is recorded too, then re-raised). Some steps
record differently: Rollback makes at most one write (the alias), so RecordFailure
records its outcome from ``$.rollback``; Record writes the final record itself; a
HealthCheck is recorded once per bake (its last check, or the one that failed), the
checks in between are in the execution history; Reconcile, which EventBridge invokes
with a status-change event rather than the document, writes what it changed itself;
Snapshot writes the snapshot on every record of the release each round, and its outcome
once the snapshot is available (``stackflow.deploy.snapshot``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from stackflow.deploy import (
    approval,
    lock,
    publish,
    record,
    smoke,
    snapshot,
    traffic,
    upload,
)
from stackflow.deploy.deps import Deps
from stackflow.deploy.document import (
    HealthResult,
    LockResult,
    PublishResult,
    ShiftResult,
    UploadResult,
    iso,
    read_execution_id,
    read_input,
    read_optional,
)
from stackflow.deploy.guard import AliasGuard
from stackflow.deploy.health import health
from stackflow.deploy.model import DeployInput
from stackflow.deploy.policy import check_input
from stackflow.deploy.reconcile import read_status_change, reconcile
from stackflow.deploy.release import is_release, run_release
from stackflow.errors import InvalidRequest, StackFlowError
from stackflow.validation import as_object

StepFn = Callable[[Mapping[str, Any], DeployInput, str, Deps], dict[str, Any]]


def _lock(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
          deps: Deps) -> dict[str, Any]:
    result = lock.acquire(inp, execution_id, deps)
    try:
        record.start(inp, execution_id, result, deps)
    except StackFlowError:
        # A failed Lock goes straight to Fail: it must not leave its lock behind.
        with contextlib.suppress(StackFlowError):
            lock.release(inp, execution_id, deps)
        raise
    return result.to_dict()


def _upload(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
            deps: Deps) -> dict[str, Any]:
    return upload.upload(inp, deps).to_dict()


def _publish(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
             deps: Deps) -> dict[str, Any]:
    result = publish.publish(inp, UploadResult.from_document(doc), execution_id, deps)
    deps.store.update_record(inp.function_name, execution_id, {"new_version": result.version})
    return result.to_dict()


def _smoke(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
           deps: Deps) -> dict[str, Any]:
    return smoke.smoke(inp, _published(doc), deps).to_dict()


def _shift(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
           deps: Deps) -> dict[str, Any]:
    # The previous Shift's result is absent before the first shift.
    return traffic.shift(inp, LockResult.from_document(doc), _published(doc),
                         read_optional(doc, ShiftResult), deps).to_dict()


def _health(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
            deps: Deps) -> dict[str, Any]:
    shift = read_optional(doc, ShiftResult)
    if shift is None:
        raise InvalidRequest("shift", "is required (HealthCheck follows a Shift)")
    return health(inp, _published(doc), shift, read_optional(doc, HealthResult),
                  deps).to_dict()


def _approval(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
              deps: Deps) -> dict[str, Any]:
    published = read_optional(doc, PublishResult)
    version = published.version if published is not None else None
    return approval.request_approval(inp, execution_id, version, str(doc["task_token"]), deps)


def _promote(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
             deps: Deps) -> dict[str, Any]:
    return traffic.promote(inp, _published(doc), _guard(doc), deps).to_dict()


def _rollback(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
              deps: Deps) -> dict[str, Any]:
    held = read_optional(doc, LockResult)
    moved = [key for key in ("shift", "promote") if doc.get(key) is not None]
    if held is None and moved:
        # Only the lock knows where the alias was; guessing could leave a canary behind.
        raise InvalidRequest("lock", f"is required: this deployment moved the alias "
                                     f"({', '.join(moved)}) and only lock.previous_version "
                                     "says where it was")
    published = read_optional(doc, PublishResult)
    return traffic.rollback(inp, held, published.version if published else None,
                            AliasGuard.of_document(doc), deps).to_dict()


def _record(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
            deps: Deps) -> dict[str, Any]:
    return record.finish(doc, inp, execution_id, deps)


def _unlock(doc: Mapping[str, Any], inp: DeployInput, execution_id: str,
            deps: Deps) -> dict[str, Any]:
    return lock.release(inp, execution_id, deps).to_dict()


def _published(doc: Mapping[str, Any]) -> str:
    return PublishResult.from_document(doc).version


def _guard(doc: Mapping[str, Any]) -> AliasGuard:
    guard = AliasGuard.of_document(doc)
    if guard is None:
        raise InvalidRequest("lock", "is required (only a locked deployment moves the alias)")
    return guard


STEPS: Mapping[str, StepFn] = {
    "lock": _lock, "upload": _upload, "publish": _publish, "smoke": _smoke,
    "shift": _shift, "health": _health, "approval_request": _approval,
    "promote": _promote, "rollback": _rollback, "record": _record, "unlock": _unlock,
}
# Steps whose outcome is not appended by ``run`` (see the module docstring).
SELF_RECORDING = frozenset({"rollback", "record"})
# Snapshot takes a single-function and a release document alike (one snapshot per
# execution), so it is dispatched before the release steps.
STEP_NAMES = ("validate", *STEPS, snapshot.STEP, "reconcile")


def run(name: str, event: Any, deps: Deps) -> dict[str, Any]:
    """Run step ``name`` on the state machine's document and record its outcome."""
    if name == "reconcile":
        return reconcile(read_status_change(event), deps).to_dict()
    doc = _document(name, event)
    if name == snapshot.STEP:
        return snapshot.take(doc, deps).to_dict()
    if is_release(doc.get("input")):
        # A multi-function release: its set-wide steps; the Map states' items are
        # single-function documents and take the path below.
        return run_release(name, doc, STEPS, deps)
    if name == "validate":
        inp = read_input(doc)
        check_input(inp, deps.settings.policy)
        return inp.to_dict()
    inp, execution_id = read_input(doc), read_execution_id(doc)
    started = iso(deps.now())
    try:
        result = STEPS[name](doc, inp, execution_id, deps)
    except StackFlowError as e:
        _record_failure(name, inp, execution_id, started, e, deps)
        raise
    if name not in SELF_RECORDING and result.get("bake_done", True):
        # The record begins when the lock is taken, so its first step starts then too.
        began = str(result.get("started_at", started)) if name == "lock" else started
        step = record.outcome(name, "succeeded", began, iso(deps.now()), result)
        deps.store.append_step(inp.function_name, execution_id, step,
                               key=_record_key(name, result))
    return result


def _document(name: str, event: Any) -> Mapping[str, Any]:
    if name not in STEP_NAMES:
        raise InvalidRequest("step", f"unknown deploy step {name!r} (known: {STEP_NAMES})")
    if name == "approval_request":
        doc, token = approval.split_event(event)
        return {**doc, "task_token": token}
    return as_object(event)


def _record_key(name: str, result: Mapping[str, Any]) -> str:
    # Shift and HealthCheck run once per plan step; a retry of the same one is a duplicate.
    if name in ("shift", "health"):
        return f"{name}#{result['index']}"
    return name


def _record_failure(name: str, inp: DeployInput, execution_id: str, started: str,
                    error: StackFlowError, deps: Deps) -> None:
    # Best effort: the step's own error is what the state machine must see, not a
    # second failure while writing it down.
    with contextlib.suppress(StackFlowError):
        if name == "lock":
            record.rejected(inp, execution_id, _error_fields(error), deps)
        if name != "rollback":
            step = record.outcome(name, "failed", started, iso(deps.now()), error.to_dict())
            deps.store.append_step(inp.function_name, execution_id, step, key=None)


def _error_fields(error: StackFlowError) -> dict[str, Any]:
    return {"type": error.error_type, "message": error.message}
