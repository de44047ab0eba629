"""The failure record carries the rollback impact report next to the rollback command."""

from __future__ import annotations

from typing import Any

import pytest
from stackflow.deploy.record import final_fields
from stackflow.deploy.schema_impact import UNKNOWN
from stackflow.errors import InvalidRequest

from tests.unit.test_deploy_rollback_hint import NAME, failed_doc, row, status

REPORT = {"baseline": "2025-06-01T12:00:00Z", "rows_lost": 3, "safe": False,
          "verdict": "rolling back loses 3 row(s) written by the new version",
          "scripts": [{"version": 4, "file": "0004_note.down.sql", "rows_lost": 3,
                       "objects": [{"kind": "drop_column", "object": "orders.note",
                                    "statement": 1, "exists": True, "rows": 9,
                                    "written_since": 4, "non_null_values": 3,
                                    "rows_lost": 3}]}]}


def canary_failed(**parts: Any) -> dict[str, Any]:
    return failed_doc(schema_before=status(3, [row(3, "ci")], [4]),
                      schema_after=status(4, [row(3, "ci"), row(4, NAME)]), **parts)


def test_the_record_names_the_verdict_and_keeps_the_report() -> None:
    # GIVEN RollbackImpact's result on the failure path
    doc = canary_failed(rollback_impact={"ok": True, "action": "rollback",
                                         "impact": REPORT})
    # WHEN the record's final fields are built
    hint = final_fields(doc, "StackFlowPatcher")["migration_rollback"]
    # THEN the command back to 3 comes with what running it would destroy
    assert hint["target"] == 3
    assert hint["verdict"] == "rolling back loses 3 row(s) written by the new version"
    assert hint["rows_lost"] == 3
    assert hint["impact"]["scripts"][0]["objects"][0]["object"] == "orders.note"


def test_a_failed_impact_dry_run_says_the_impact_is_unknown() -> None:
    doc = canary_failed(rollback_impact_error={
        "Error": "MissingDownScript",
        "Cause": '{"errorMessage": "cannot roll back: migration 4 has no down script"}'})
    hint = final_fields(doc, "StackFlowPatcher")["migration_rollback"]
    assert hint["verdict"] == UNKNOWN
    assert hint["impact_error"] == {
        "type": "MissingDownScript",
        "message": "cannot roll back: migration 4 has no down script"}


def test_a_malformed_report_names_the_field() -> None:
    doc = canary_failed(rollback_impact={"impact": {"scripts": []}})
    with pytest.raises(InvalidRequest) as e:
        final_fields(doc, "StackFlowPatcher")
    assert e.value.field == "rollback_impact.impact"
