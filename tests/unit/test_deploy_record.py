"""The final record's status, error and migration-rollback hint, from the document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stackflow.deploy.record import describe_error, final_fields, migration_rollback
from stackflow.errors import InvalidRequest

from tests.support.events import load_event

CANARY_ERROR = {"Error": "CanaryUnhealthy", "Cause": json.dumps({
    "errorType": "CanaryUnhealthy", "errorMessage": "alarms in ALARM: api-errors",
    "stackTrace": []})}


def test_failed_deployment_that_applied_migrations_says_how_to_revert_them() -> None:
    # GIVEN a failure after Migrate applied 4 and 5 on a schema that was at 3
    doc = {"schema_before": {"current_version": 3},
           "migrate": {"applied": [{"version": 5, "name": "b"}, {"version": 4, "name": "a"}],
                       "current_version": 5}}
    # WHEN the hint is built
    hint = migration_rollback(doc, "StackFlowPatcher-dev")
    # THEN it lists this execution's migrations and the exact command back to 3
    assert hint == {
        "needed": True, "applied": [4, 5], "target": 3, "function": "StackFlowPatcher-dev",
        "command": "aws lambda invoke --function-name StackFlowPatcher-dev "
                   "--cli-binary-format raw-in-base64-out "
                   "--payload '{\"action\":\"rollback\",\"target\":3}' out.json"}


def test_an_empty_schema_before_means_rolling_back_to_zero() -> None:
    # GIVEN the first ever migration run (no version before)
    doc = {"schema_before": {"current_version": None}, "migrate": {"applied": [1, 2]}}
    # WHEN the hint is built / THEN the target is 0 (everything)
    assert migration_rollback(doc, "p")["target"] == 0


def test_no_migrations_applied_means_no_migration_rollback() -> None:
    # GIVEN migrations disabled (no $.migrate) or nothing pending
    # WHEN the hint is built / THEN it says none is needed
    assert migration_rollback({}, "p") == {"needed": False, "applied": []}
    assert migration_rollback({"migrate": {"applied": []}}, "p")["needed"] is False


def test_without_schema_before_the_target_is_below_the_first_applied() -> None:
    # GIVEN Migrate's result but no SchemaBefore / THEN the target is one below
    assert migration_rollback({"migrate": {"applied": [7, 8]}}, "p")["target"] == 6


@pytest.mark.parametrize(("doc", "status"), [
    ({"publish": {"version": "7"}}, "SUCCEEDED"),
    ({"error": CANARY_ERROR, "rollback": {"version": "6", "rolled_back": True}}, "ROLLED_BACK"),
    ({"error": CANARY_ERROR, "rollback": {"version": "6", "rolled_back": False}}, "FAILED"),
    ({"error": CANARY_ERROR}, "FAILED"),
])
def test_final_status_follows_error_and_rollback(doc: dict[str, Any], status: str) -> None:
    # GIVEN how the execution ended / WHEN the final fields are computed
    # THEN the status is SUCCEEDED, ROLLED_BACK (traffic moved back) or FAILED
    assert final_fields(doc, "p")["status"] == status


def test_failure_record_carries_the_lambda_error_message() -> None:
    # GIVEN the documented RecordFailure input
    fields = final_fields(load_event("deploy-step-record-failure"), "StackFlowPatcher")
    # THEN the error is the step's errorType and message, and the hint is there
    assert fields["error"] == {"type": "CanaryUnhealthy", "message": (
        "StackFlowAPI:PROD canary unhealthy: alarms in ALARM: StackFlowAPI-dev-errors")}
    assert fields["new_version"] == "7"
    assert fields["migration_rollback"]["applied"] == [4]
    assert fields["migration_rollback"]["target"] == 3


def test_a_cause_that_is_not_json_is_kept_as_text() -> None:
    # GIVEN a States.* error (its Cause is plain text) / THEN the text is the message
    assert describe_error({"Error": "States.Timeout", "Cause": "Task timed out"}) == {
        "type": "States.Timeout", "message": "Task timed out"}


def test_malformed_migrate_result_names_the_field() -> None:
    # GIVEN a migrate result with a version that is not a number
    # WHEN the hint is built / THEN InvalidRequest names the element
    with pytest.raises(InvalidRequest) as info:
        migration_rollback({"migrate": {"applied": [{"version": "four"}]}}, "p")
    assert info.value.field == "migrate.applied[0]"
