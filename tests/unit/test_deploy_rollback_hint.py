"""The failure record's migration-rollback hint: which migrations this execution applied.

The answer comes from the schema's own rows (``$.schema_after``, read on the failure
path) whose ``applied_by`` is this execution's name; without them, from ``$.migrate``
and ``$.schema_before``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from stackflow.deploy.record import (
    applied_by_this_execution,
    execution_name,
    final_fields,
    migration_rollback,
)
from stackflow.errors import InvalidRequest

NAME = "StackFlowAPI-PROD-0123456789abcdef"
EXECUTION_ID = f"arn:aws:states:us-east-1:123456789012:execution:stackflow-dev-deployment:{NAME}"
MIGRATION_FAILED = {"Error": "MigrationFailed", "Cause": json.dumps({
    "errorType": "MigrationFailed",
    "errorMessage": "migration 6 (broken, 0006_broken.up.sql): SQLSTATE 42P01: ..."})}


def row(version: int, applied_by: str) -> dict[str, Any]:
    """A ``status`` result's applied row, as the patcher writes it."""
    return {"version": version, "name": f"m{version}", "checksum": "c", "applied_by": applied_by,
            "applied_at": "2025-06-01T12:00:00Z", "execution_ms": 1}


def status(current: int | None, rows: list[dict[str, Any]],
           pending: list[int] | None = None) -> dict[str, Any]:
    return {"ok": True, "action": "status", "current_version": current, "applied": rows,
            "pending": [{"version": v, "name": f"m{v}", "checksum": "c"}
                        for v in pending or []]}


def command(target: int) -> str:
    return ("aws lambda invoke --function-name StackFlowPatcher "
            "--cli-binary-format raw-in-base64-out "
            f"--payload '{{\"action\":\"rollback\",\"target\":{target}}}' out.json")


def failed_doc(**parts: Any) -> dict[str, Any]:
    return {"execution_id": EXECUTION_ID, "error": MIGRATION_FAILED, **parts}


def test_the_execution_name_is_the_last_segment_of_the_execution_arn() -> None:
    # GIVEN the document's execution_id ($$.Execution.Id)
    # WHEN the name is read / THEN it is what Migrate passed as applied_by
    assert execution_name({"execution_id": EXECUTION_ID}) == NAME
    assert execution_name({}) is None


def test_migrate_failing_part_way_lists_what_it_applied_before_failing() -> None:
    # GIVEN a schema at 3; Migrate applied 4 and 5, then 6 failed ($.migrate absent)
    doc = failed_doc(
        schema_before=status(3, [row(1, "ci"), row(2, "ci"), row(3, "old-run")], [4, 5, 6]),
        schema_after=status(5, [row(1, "ci"), row(2, "ci"), row(3, "old-run"),
                                row(4, NAME), row(5, NAME)], [6]))
    # WHEN the hint is built
    hint = migration_rollback(doc, "StackFlowPatcher")
    # THEN it names exactly 4 and 5 and the command back to 3
    assert hint == {"needed": True, "applied": [4, 5], "target": 3,
                    "function": "StackFlowPatcher", "command": command(3)}


def test_several_migrate_rounds_are_all_listed_not_only_the_last() -> None:
    # GIVEN three Migrate rounds (4; 5; 6 then 7 failed): $.migrate is round two's
    doc = failed_doc(
        schema_before=status(3, [row(3, "old-run")], [4, 5, 6, 7]),
        migrate={"action": "migrate", "complete": False, "applied": [{"version": 5}],
                 "current_version": 5},
        schema_after=status(6, [row(3, "old-run"), row(4, NAME), row(5, NAME), row(6, NAME)]))
    # WHEN the hint is built / THEN every round's migrations are there
    hint = migration_rollback(doc, "StackFlowPatcher")
    assert (hint["applied"], hint["target"]) == ([4, 5, 6], 3)


def test_rows_applied_by_another_execution_are_not_this_executions() -> None:
    # GIVEN a retried release (…-r2): the first attempt applied 4, the retry applied 5
    doc = failed_doc(execution_id=EXECUTION_ID + "-r2",
                     schema_before=status(4, [row(4, NAME)], [5]),
                     schema_after=status(5, [row(4, NAME), row(5, NAME + "-r2")]))
    # WHEN the retry's hint is built / THEN only 5 is its own, and 4 stays
    hint = migration_rollback(doc, "StackFlowPatcher")
    assert (hint["applied"], hint["target"]) == ([5], 4)


def test_migrate_failing_on_its_first_migration_needs_no_rollback() -> None:
    # GIVEN Migrate failed before applying anything: no row carries this execution's name
    doc = failed_doc(schema_before=status(3, [row(3, "old-run")], [4]),
                     schema_after=status(3, [row(3, "old-run")], [4]))
    # WHEN the hint is built / THEN it says nothing needs reverting
    assert migration_rollback(doc, "StackFlowPatcher") == {"needed": False, "applied": []}


def test_an_empty_database_before_rolls_back_to_zero() -> None:
    # GIVEN the first migration run ever: the schema had no version before
    doc = failed_doc(schema_before=status(None, [], [1, 2, 3]),
                     schema_after=status(2, [row(1, NAME), row(2, NAME)], [3]))
    # WHEN the hint is built
    hint = migration_rollback(doc, "StackFlowPatcher")
    # THEN the target is 0, which the patcher reads as "roll back everything"
    assert (hint["applied"], hint["target"]) == ([1, 2], 0)
    assert hint["command"] == command(0)


def test_without_schema_after_the_migrate_rounds_and_pending_list_are_used() -> None:
    # GIVEN the schema read failed on the failure path, after two complete-looking rounds
    # (round one applied 4, round two 5) and a later failure (Smoke)
    doc = failed_doc(
        error={"Error": "SmokeTestFailed", "Cause": "{}"},
        schema_before=status(3, [row(3, "old-run")], [4, 5]),
        schema_after_error={"Error": "DatabaseUnavailable", "Cause": "{}"},
        migrate={"complete": True, "applied": [{"version": 5}], "current_version": 5})
    # WHEN the hint is built
    hint = migration_rollback(doc, "StackFlowPatcher")
    # THEN both rounds' migrations are listed (the pending ones up to where Migrate got)
    assert hint == {"needed": True, "applied": [4, 5], "target": 3,
                    "function": "StackFlowPatcher", "command": command(3)}


def test_without_schema_after_a_failed_migrate_says_the_list_may_be_short() -> None:
    # GIVEN Migrate failed part-way and the schema could not be read afterwards
    doc = failed_doc(schema_before=status(3, [row(3, "old-run")], [4, 5, 6]),
                     schema_after_error={"Error": "DatabaseUnavailable", "Cause": "{}"})
    # WHEN the hint is built
    hint = migration_rollback(doc, "StackFlowPatcher")
    # THEN it does not claim nothing was applied: the command back to 3 is there,
    # marked inexact, with how to find out
    assert (hint["needed"], hint["applied"], hint["target"]) == (True, [], 3)
    assert hint["command"] == command(3)
    assert hint["exact"] is False
    assert NAME in hint["note"]
    assert '{"action":"status"}' in hint["note"]


def test_without_schema_after_an_interrupted_loop_keeps_earlier_rounds() -> None:
    # GIVEN round one applied 4 (incomplete), round two failed, no schema read after
    doc = failed_doc(schema_before=status(3, [], [4, 5, 6]),
                     migrate={"complete": False, "applied": [{"version": 4}],
                              "current_version": 4})
    # WHEN the hint is built / THEN 4 is listed and the list is marked inexact
    assert applied_by_this_execution(doc) == ([4], False)
    assert migration_rollback(doc, "p")["target"] == 3


def test_migrations_disabled_means_no_migration_rollback() -> None:
    # GIVEN a failure with migrations disabled: neither schema_before nor migrate
    doc = failed_doc(error={"Error": "SmokeTestFailed", "Cause": "{}"})
    # WHEN the final fields are computed / THEN the hint says none is needed
    assert final_fields(doc, "p")["migration_rollback"] == {"needed": False, "applied": []}


def test_final_fields_carry_the_hint_from_schema_after() -> None:
    # GIVEN the failure document of a Migrate that applied 4 then failed
    doc = failed_doc(schema_before=status(3, [], [4, 5]),
                     schema_after=status(4, [row(4, NAME)], [5]),
                     rollback={"version": "6", "rolled_back": False})
    # WHEN RecordFailure computes the final fields
    fields = final_fields(doc, "StackFlowPatcher")
    # THEN the record has the error, no new version and the exact hint
    assert fields["status"] == "FAILED"
    assert fields["error"]["type"] == "MigrationFailed"
    assert "new_version" not in fields
    assert fields["migration_rollback"]["applied"] == [4]
    assert fields["migration_rollback"]["command"] == command(3)


@pytest.mark.parametrize(("parts", "field"), [
    ({"schema_after": {"applied": "all"}}, "schema_after.applied"),
    ({"schema_after": {"applied": ["4"]}}, "schema_after.applied[0]"),
    ({"schema_after": {"applied": [{"version": "x", "applied_by": NAME}]}},
     "schema_after.applied[0]"),
    ({"schema_after": []}, "schema_after"),
    ({"schema_before": {"current_version": "three"}, "schema_after": status(4, [row(4, NAME)])},
     "schema_before.current_version"),
    ({"schema_before": {"current_version": 3, "pending": [{"version": "x"}]},
      "migrate": {"complete": True, "applied": [], "current_version": 4}},
     "schema_before.pending[0]"),
    ({"schema_before": {"pending": []}}, "schema_before.current_version"),
])
def test_malformed_schema_results_name_the_field(parts: dict[str, Any], field: str) -> None:
    # GIVEN a patcher result that is not what the patcher writes
    # WHEN the hint is built / THEN InvalidRequest names the field, not a KeyError
    with pytest.raises(InvalidRequest) as info:
        migration_rollback(failed_doc(**parts), "p")
    assert info.value.field == field
