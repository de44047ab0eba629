"""``rollback-alias`` asks the patcher what reverting the release's migrations would
destroy, with the baseline the release recorded; a failure only says it is unknown."""

from __future__ import annotations

import json
from typing import Any

from stackflow.deploy.ports import InvokeResult
from stackflow.deploy.schema_impact import UNKNOWN
from stackflow.errors import AwsCallFailed
from stackflow_tools.cli.rollback_impact import impact_text, rollback_impact

BASELINE = {"version": 3, "taken_at": "2025-06-01T12:00:00Z", "tables": {}}
IMPACT = {"baseline": BASELINE["taken_at"], "rows_lost": 2, "safe": False,
          "verdict": "rolling back loses 2 row(s) written by the new version",
          "scripts": [{"version": 4, "file": "0004_note.down.sql", "rows_lost": 2,
                       "objects": [{"kind": "drop_column", "object": "orders.note",
                                    "statement": 1, "exists": True, "rows": 5,
                                    "written_since": 2, "non_null_values": 2,
                                    "rows_lost": 2}]}]}


class FakeFunctions:
    """The one Lambda call rollback-alias's schema part makes."""

    def __init__(self, answer: InvokeResult | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, Any]] = []

    def invoke(self, function_name: str, qualifier: str, payload: bytes) -> InvokeResult:
        self.calls.append((function_name, qualifier, json.loads(payload)))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_patcher_dry_runs_the_rollback_against_the_recorded_baseline() -> None:
    # GIVEN the record of the release rolled back, with its baseline
    functions = FakeFunctions(InvokeResult(200, json.dumps({"impact": IMPACT}).encode()))
    # WHEN the impact is asked for
    impact = rollback_impact({"schema_baseline": BASELINE}, "StackFlowPatcher", functions)
    # THEN one rollback dry run back to the baseline's version was sent
    assert functions.calls == [("StackFlowPatcher", "$LATEST", {
        "action": "rollback", "dry_run": True, "target": 3, "baseline": BASELINE})]
    assert impact == {"verdict": IMPACT["verdict"], "impact": IMPACT}
    assert impact_text(impact) == [
        "schema (not rolled back): rolling back loses 2 row(s) written by the new version "
        "since the baseline of 2025-06-01T12:00:00Z",
        "  4 0004_note.down.sql: drop column orders.note: 5 row(s), 2 non-null value(s), "
        "2 row(s) inserted or updated since; loses 2"]


def test_without_a_baseline_nothing_is_asked() -> None:
    functions = FakeFunctions(AwsCallFailed("never"))
    assert rollback_impact({"status": "SUCCEEDED"}, "p", functions) is None
    assert rollback_impact(None, "p", functions) is None
    assert functions.calls == []


def test_a_failed_patcher_call_makes_the_impact_unknown_not_an_error() -> None:
    error = {"errorType": "MissingDownScript", "errorMessage": "migration 4 has no down"}
    functions = FakeFunctions(InvokeResult(200, json.dumps(error).encode(), "Unhandled"))
    impact = rollback_impact({"schema_baseline": BASELINE}, "p", functions)
    assert impact == {"verdict": UNKNOWN, "impact_error": {
        "type": "MissingDownScript", "message": "migration 4 has no down"}}
    assert impact_text(impact) == [f"schema (not rolled back): {UNKNOWN} (MissingDownScript: "
                                   "migration 4 has no down)"]
    broken = rollback_impact({"schema_baseline": BASELINE}, "p",
                             FakeFunctions(AwsCallFailed("throttled")))
    assert broken is not None
    assert broken["impact_error"]["type"] == "AwsCallFailed"
