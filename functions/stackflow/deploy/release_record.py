"""The release record: one item per multi-function execution, written as it goes.

Each function of a release keeps its own deployment record (its steps, versions and
status: the function's history, which drift and ``stackflow history`` read per
function), marked with ``release``, the execution id: the key of the release record
(the DynamoDB adapter owns it). The release-wide facts are written there, once:

- Lock opens it ``IN_PROGRESS`` with every function and its previous version, so
  ``stackflow rollback-alias --release`` works on a running release; a refused Lock
  writes it ``FAILED``;
- Record and RecordFailure close it: the release's status, error, migration hint and
  (when the document has one) ``snapshot``, and per function its versions, status,
  rollback outcome and step outcomes;
- Reconcile closes one that a stopped or timed-out execution left ``IN_PROGRESS``.

A step outcome here is the step's name, outcome and times (and a failed step's error);
its detail stays on the function's record, so 40 functions stay far below DynamoDB's
400 KB item limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stackflow.deploy import record
from stackflow.deploy.contract import contract_fields
from stackflow.deploy.deps import Deps
from stackflow.deploy.document import LEFT_ALONE, LockResult, iso
from stackflow.deploy.model import DeployInput
from stackflow.deploy.schema_impact import baseline_fields

# Outcomes of a rollback that leave an alias off its previous version.
NOT_BACK = frozenset({LEFT_ALONE, "failed"})
STEPS = "steps"


def function_row(inp: DeployInput, *, previous_version: str | None, status: str | None,
                 new_version: Any = None, rollback: str | None = None,
                 steps: Iterable[Any] = ()) -> dict[str, Any]:
    """One function of a release, as the release record lists it."""
    return {"function": inp.function_name, "alias": inp.alias,
            "previous_version": previous_version, "new_version": new_version,
            "status": status, "rollback": rollback,
            STEPS: [step_outcome(s) for s in steps if isinstance(s, Mapping)]}


def row_of_record(inp: DeployInput, deployment: Mapping[str, Any] | None,
                  rollback: str | None) -> dict[str, Any]:
    """A function's row from its own deployment record (versions, status, steps)."""
    found = deployment or {}
    steps = found.get("steps")
    return function_row(inp, previous_version=found.get("previous_version"),
                        new_version=found.get("new_version"), status=found.get("status"),
                        rollback=rollback, steps=steps if isinstance(steps, list) else ())


def step_outcome(step: Mapping[str, Any]) -> dict[str, Any]:
    """A step as the release record keeps it: no detail, but a failed step's error."""
    kept = {key: step.get(key) for key in ("name", "outcome", "started_at", "finished_at")}
    detail = step.get("detail")
    if step.get("outcome") == "failed" and isinstance(detail, Mapping):
        kept["error"] = {"type": detail.get("errorType"), "message": detail.get("errorMessage")}
    return kept


def summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows without their steps: what Record returns into the state."""
    return [{key: value for key, value in row.items() if key != STEPS} for row in rows]


def status_of(rows: Sequence[Mapping[str, Any]], failed: bool) -> str:
    """SUCCEEDED; ROLLED_BACK when every moved alias is back; else FAILED."""
    if not failed:
        return record.SUCCEEDED
    if any(row.get("rollback") in NOT_BACK for row in rows):
        return record.FAILED
    statuses = {row.get("status") for row in rows}
    return record.ROLLED_BACK if record.ROLLED_BACK in statuses else record.FAILED


def _shared(first: DeployInput, execution_id: str) -> dict[str, Any]:
    return {"execution_id": execution_id, "ci": dict(first.ci),
            "strategy": first.to_dict()["strategy"]}


def open_release(taken: Sequence[tuple[DeployInput, LockResult]], execution_id: str,
                 deps: Deps) -> None:
    """Create (or, on a retried Lock, rewrite) the record of a locked release."""
    rows = [function_row(inp, previous_version=held.previous_version,
                         status=record.IN_PROGRESS) for inp, held in taken]
    deps.store.update_release(execution_id, {
        **_shared(taken[0][0], execution_id), "status": record.IN_PROGRESS,
        "started_at": min(held.started_at for _, held in taken), "functions": rows})


def rejected(targets: Sequence[DeployInput], execution_id: str, error: Mapping[str, Any],
             deps: Deps) -> None:
    """The record of a release whose Lock was refused: nothing moved, nothing held."""
    now = iso(deps.now())
    rows = [function_row(t, previous_version=None, status=record.FAILED) for t in targets]
    deps.store.update_release(execution_id, {
        **_shared(targets[0], execution_id), "status": record.FAILED, "error": dict(error),
        "started_at": now, "finished_at": now, "functions": rows})


def close(doc: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], execution_id: str,
          deps: Deps) -> str:
    """Write the release's outcome (Record, RecordFailure); return its status."""
    failed = doc.get("error") is not None
    status = status_of(rows, failed)
    fields: dict[str, Any] = {"status": status, "finished_at": iso(deps.now()),
                              "functions": list(rows), **baseline_fields(doc)}
    if not failed:
        # SUCCEEDED_WITH_PENDING_CONTRACT when ReleaseMigrateContract failed.
        fields.update(contract_fields(doc, record.describe_error))
        status = fields["status"]
    if failed:
        fields["error"] = record.describe_error(doc["error"])
        fields["migration_rollback"] = record.migration_rollback(
            doc, deps.settings.patcher_function)
    if doc.get("snapshot") is not None:
        fields["snapshot"] = doc["snapshot"]
    deps.store.update_release(execution_id, fields)
    return status
