"""One release, many functions: the multi-target input and its release-wide steps.

An execution input with ``"functions": [...]`` names several targets (function, alias,
artifact, smoke cases, alarms) that share one migration run, one strategy, one health
policy, one approval and one CI context. Each target is exactly a single-function
:class:`DeployInput`, so the per-function states (Upload, Publish, Smoke, Shift,
HealthCheck, Promote) run unchanged inside the state machine's Map states, on one
*target document* each: ``{"input": <target input>, "execution_id", "lock", ...}``.

Four steps act on the whole set, once per release:

- Lock takes every target's lock in a stable order (function, then alias), or none:
  a refused lock releases the ones already taken. It opens each function's record and
  the release record (``release_record``). Its result ``$.lock.targets`` holds the
  target documents the first Map iterates.
- Rollback runs the guarded rollback of every alias, each on its own: an alias that
  someone else changed is left alone and the others still go back. Its result lists
  each function's outcome and a ``verdict`` (``{Error, Cause}``) naming them, which
  the execution fails with.
- Record closes each function's record (its steps, versions, status) and the release
  record (``release_record``): the release's status and error once, and every
  function's previous and new version, status, rollback outcome and step outcomes.
- Unlock releases every lock this execution holds.

The state carries only what the next state needs per target; per-function detail (each
smoke case, each step's outcome) is in the deployment records (docs/deploy-steps.md).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stackflow.deploy import lock, record, release_record
from stackflow.deploy.deps import Deps
from stackflow.deploy.document import LockResult, iso
from stackflow.deploy.model import (
    TARGET_FIELDS,
    DeployInput,
    parse_input,
    shared_fields,
    target_fields,
)
from stackflow.errors import InvalidRequest, StackFlowError
from stackflow.validation import as_object, opt_list, reject_unknown

FUNCTIONS = "functions"
RELEASE_FIELDS = frozenset({FUNCTIONS, "migrations", "strategy", "health", "approval", "ci"})
SHARED_KEYS = ("migrations", "strategy", "health", "approval", "ci")
# 20 targets stay far below Step Functions' 256 KB payload limit (measured in
# tests/e2e/test_local_release_scale.py and tests/unit/test_deploy_release.py); 40 is
# where a plain input with smoke cases still fits.
MAX_TARGETS = 40
# What the release-wide states (migrations once, the failure path's schema reads) wrote
# into the release document: each function's record is closed from it too.
RELEASE_WIDE = ("error", "schema_before", "migrate", "schema_after", "migrate_contract",
                "migrate_contract_error", "rollback_impact", "rollback_impact_error")
NOT_BACK = release_record.NOT_BACK

StepFn = Callable[[Mapping[str, Any], DeployInput, str, Deps], dict[str, Any]]


@dataclass(frozen=True)
class ReleaseInput:
    """The targets of one release, in the input's order (each a full single input)."""

    targets: tuple[DeployInput, ...]

    def in_lock_order(self) -> tuple[DeployInput, ...]:
        """The stable order every lock is taken in, so two releases never deadlock."""
        return tuple(sorted(self.targets, key=lambda t: (t.function_name, t.alias)))

    def to_dict(self) -> dict[str, Any]:
        shared = self.targets[0].to_dict()
        return {FUNCTIONS: [_target_dict(target) for target in self.targets],
                **{key: shared[key] for key in SHARED_KEYS}}


def is_release(value: Any) -> bool:
    """True for a multi-target execution input (``"functions"`` present)."""
    return isinstance(value, Mapping) and FUNCTIONS in value


def parse_release(value: Any, prefix: str = "input.") -> ReleaseInput:
    """Read a multi-target input; every error names its field (``input.functions[1].alias``)."""
    obj = as_object(value, prefix.rstrip("."))
    reject_unknown(obj, set(RELEASE_FIELDS), prefix)
    shared = shared_fields(obj, prefix)
    items = opt_list(obj, FUNCTIONS, prefix)
    if not items:
        raise InvalidRequest(prefix + FUNCTIONS, "must name at least one target")
    if len(items) > MAX_TARGETS:
        raise InvalidRequest(prefix + FUNCTIONS, f"names {len(items)} targets; at most "
                                                 f"{MAX_TARGETS} fit one execution's state")
    targets = tuple(_target(item, f"{prefix}{FUNCTIONS}[{i}].", shared)
                    for i, item in enumerate(items))
    _refuse_duplicates(targets, prefix + FUNCTIONS)
    return ReleaseInput(targets)


def _target(item: Any, prefix: str, shared: Mapping[str, Any]) -> DeployInput:
    obj = as_object(item, prefix.rstrip("."))
    reject_unknown(obj, set(TARGET_FIELDS), prefix)
    return DeployInput(**target_fields(obj, prefix), **shared)


def _refuse_duplicates(targets: tuple[DeployInput, ...], field: str) -> None:
    seen: set[tuple[str, str]] = set()
    for i, target in enumerate(targets):
        key = (target.function_name, target.alias)
        if key in seen:
            raise InvalidRequest(f"{field}[{i}]", f"{key[0]}:{key[1]} is named twice")
        seen.add(key)


def _target_dict(target: DeployInput) -> dict[str, Any]:
    full = target.to_dict()
    return {key: full[key] for key in sorted(TARGET_FIELDS)}


def target_documents(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The newest target documents: the last Map's (``$.targets``), else Lock's."""
    if doc.get("targets") is not None:
        return [as_object(t, f"targets[{i}]") for i, t in enumerate(opt_list(doc, "targets"))]
    held = doc.get("lock")
    if held is None:
        return []
    return [as_object(t, f"lock.targets[{i}]")
            for i, t in enumerate(opt_list(as_object(held, "lock"), "targets", "lock."))]


def lock_all(release: ReleaseInput, execution_id: str, deps: Deps) -> dict[str, Any]:
    """Every target's lock in the stable order, or none; each function's record and the
    release record."""
    taken: dict[tuple[str, str], LockResult] = {}
    try:
        for target in release.in_lock_order():
            taken[(target.function_name, target.alias)] = lock.acquire(target, execution_id,
                                                                        deps)
        held = [(t, taken[(t.function_name, t.alias)]) for t in release.targets]
        for target, result in held:
            record.start(target, execution_id, result, deps, release=execution_id)
        release_record.open_release(held, execution_id, deps)
    except StackFlowError:
        _release_taken(release, taken, execution_id, deps)
        raise
    return {"targets": [{"input": t.to_dict(), "execution_id": execution_id,
                         "lock": taken[(t.function_name, t.alias)].to_dict()}
                        for t in release.targets],
            "order": [f"{t.function_name}:{t.alias}" for t in release.in_lock_order()]}


def _release_taken(release: ReleaseInput, taken: Mapping[tuple[str, str], LockResult],
                   execution_id: str, deps: Deps) -> None:
    # All or none: a refused lock gives back the ones this execution took before it.
    for target in reversed(release.in_lock_order()):
        if (target.function_name, target.alias) in taken:
            with contextlib.suppress(StackFlowError):
                lock.release(target, execution_id, deps)


def rollback_all(doc: Mapping[str, Any], execution_id: str, rollback: StepFn,
                 deps: Deps) -> dict[str, Any]:
    """Every alias's guarded rollback, each on its own; the verdict names each outcome."""
    outcomes = [_rollback_one(target, execution_id, rollback, deps)
                for target in target_documents(doc)]
    back = all(o["outcome"] not in NOT_BACK for o in outcomes)
    return {"functions": outcomes,
            "rolled_back": back and any(o.get("rolled_back") for o in outcomes),
            "complete": back, "verdict": verdict(doc.get("error"), outcomes)}


def _rollback_one(target: Mapping[str, Any], execution_id: str, rollback: StepFn,
                  deps: Deps) -> dict[str, Any]:
    inp = parse_input(target.get("input"))
    named = {"function": inp.function_name, "alias": inp.alias}
    try:
        return {**named, **rollback(target, inp, execution_id, deps)}
    except StackFlowError as e:
        # One alias that cannot be read or written must not keep the others forward.
        return {**named, "outcome": "failed", "rolled_back": False,
                "reason": f"{e.error_type}: {e.message}"}


def verdict(error: Any, outcomes: list[dict[str, Any]]) -> dict[str, str]:
    """The execution's ``{Error, Cause}``: the original error, then every alias's outcome."""
    original = error if isinstance(error, Mapping) else {}
    kind = str(original.get("Error") or "ReleaseFailed")
    message = record.describe_error(original).get("message") or kind
    parts = [_outcome_text(o) for o in outcomes]
    not_back = [f"{o['function']}:{o['alias']}" for o in outcomes if o["outcome"] in NOT_BACK]
    head = (f"PARTIAL ROLLBACK ({', '.join(not_back)} not rolled back): " if not_back
            else "")
    cause = {"errorType": kind,
             "errorMessage": f"{head}{message}; rollback: {'; '.join(parts) or 'nothing held'}"}
    return {"Error": kind, "Cause": json.dumps(cause)}


def _outcome_text(outcome: Mapping[str, Any]) -> str:
    text = f"{outcome['function']}:{outcome['alias']} {outcome['outcome']}"
    reason = outcome.get("reason")
    return f"{text} ({reason})" if reason and outcome["outcome"] in NOT_BACK else text


def record_all(doc: Mapping[str, Any], execution_id: str, deps: Deps) -> dict[str, Any]:
    """Close every function's record, then the release record with all of them."""
    rollbacks = _rollbacks_by_target(doc.get("rollback"))
    shared = {key: doc[key] for key in RELEASE_WIDE if doc.get(key) is not None}
    rows = []
    for target in target_documents(doc):
        inp = parse_input(target.get("input"))
        rollback = rollbacks.get((inp.function_name, inp.alias))
        full = {**target, **shared, **({"rollback": rollback} if rollback else {})}
        closed = record.finish(full, inp, execution_id, deps)
        rows.append(release_record.row_of_record(inp, closed, (rollback or {}).get("outcome")))
    status = release_record.close(doc, rows, execution_id, deps)
    # The state keeps the summary; each function's steps are in the release record.
    return {"status": status, "functions": release_record.summary(rows)}


def _rollbacks_by_target(value: Any) -> dict[tuple[str, str], dict[str, Any]]:
    if not isinstance(value, Mapping):
        return {}
    rows = value.get("functions")
    return {(str(r["function"]), str(r["alias"])): _rollback_result(r)
            for r in (rows if isinstance(rows, list) else [])
            if isinstance(r, Mapping) and r.get("outcome") != "failed"}


def _rollback_result(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "function"}


def unlock_all(doc: Mapping[str, Any], release: ReleaseInput, execution_id: str,
               deps: Deps) -> dict[str, Any]:
    """Release every lock this execution holds (never another holder's).

    Every lock is tried; the first failure is raised after the others were released.
    """
    released, failures = [], []
    for target in reversed(release.in_lock_order()):
        try:
            released.append(lock.release(target, execution_id, deps).to_dict())
        except StackFlowError as e:
            failures.append(e)
    if failures:
        raise failures[0]
    return {"released": all(r["released"] for r in released), "locks": released}


def run_release(name: str, doc: Mapping[str, Any], steps: Mapping[str, StepFn],
                deps: Deps) -> dict[str, Any]:
    """Step ``name`` on a release document (``$.input.functions``)."""
    release = parse_release(doc.get("input"))
    if name == "validate":
        return release.to_dict()
    execution_id = str(doc.get("execution_id") or "")
    if not execution_id:
        raise InvalidRequest("execution_id", "is required")
    if name == "lock":
        return _recorded_lock(release, execution_id, deps)
    if name == "rollback":
        return rollback_all(doc, execution_id, steps["rollback"], deps)
    if name == "record":
        return record_all(doc, execution_id, deps)
    if name == "unlock":
        return unlock_all(doc, release, execution_id, deps)
    raise InvalidRequest("input.functions", f"step {name!r} runs once per function, on a "
                                            "target document (the Map states' items)")


def _recorded_lock(release: ReleaseInput, execution_id: str, deps: Deps) -> dict[str, Any]:
    started = iso(deps.now())
    try:
        result = lock_all(release, execution_id, deps)
    except StackFlowError as e:
        error = {"type": e.error_type, "message": e.message}
        for target in release.targets:
            with contextlib.suppress(StackFlowError):
                record.rejected(target, execution_id, error, deps, release=execution_id)
        with contextlib.suppress(StackFlowError):
            release_record.rejected(release.targets, execution_id, error, deps)
        raise
    for target in result["targets"]:
        inp = parse_input(target["input"])
        step = record.outcome("lock", "succeeded", started, iso(deps.now()), target["lock"])
        deps.store.append_step(inp.function_name, execution_id, step, key="lock")
    return result
