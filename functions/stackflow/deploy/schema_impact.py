"""The rollback impact report in a failed deployment's record.

On the failure path ``RollbackImpact`` (a patcher rollback dry run back to
``$.schema_before.baseline.version``, compared with the baseline SchemaBefore took)
writes ``$.rollback_impact``; if it failed, ``$.rollback_impact_error`` holds why.
``impact_fields`` carries either into the ``migration_rollback`` entry of the record:
the per-script report, and the verdict an operator reads first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stackflow.errors import InvalidRequest

UNKNOWN = "impact unknown: the rollback dry run did not run"
BASELINE_FIELD = "schema_baseline"


def impact_fields(doc: Mapping[str, Any],
                  describe: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """``{"verdict", "impact"}`` from ``$.rollback_impact``; ``{"verdict",
    "impact_error"}`` when that state failed; nothing when it never ran."""
    impact = doc.get("rollback_impact")
    if isinstance(impact, Mapping) and "impact" in impact:
        report = impact["impact"]
        if not isinstance(report, Mapping) or not isinstance(report.get("verdict"), str):
            raise InvalidRequest("rollback_impact.impact", "must be the patcher's report")
        return {"verdict": report["verdict"], "rows_lost": report.get("rows_lost"),
                "impact": dict(report)}
    error = doc.get("rollback_impact_error")
    if error is not None:
        return {"verdict": UNKNOWN, "impact_error": describe(error)}
    return {}


def baseline_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``{"schema_baseline": ...}`` from ``$.schema_before.baseline``, kept in the record
    on every path so a later ``rollback-alias`` can ask what reverting would destroy."""
    schema_before = doc.get("schema_before")
    baseline = schema_before.get("baseline") if isinstance(schema_before, Mapping) else None
    return {BASELINE_FIELD: dict(baseline)} if isinstance(baseline, Mapping) else {}


def impact_request(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The patcher event that reports a release's rollback impact now: a rollback dry
    run back to the version its SchemaBefore saw; None without a recorded baseline."""
    baseline = record.get(BASELINE_FIELD)
    if not isinstance(baseline, Mapping):
        return None
    return {"action": "rollback", "dry_run": True, "target": baseline.get("version"),
            "baseline": dict(baseline)}
