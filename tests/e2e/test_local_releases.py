"""Releases of the example application through the synthesized state machine, locally."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from moto.awslambda.responses import LambdaResponse
from moto.core.exceptions import JsonRESTError
from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions

from tests.e2e.local_support import (
    AliasUpdate,
    alias_updates,
    applied_migrations,
    lock_held,
    migration_rows,
    record,
    served_through_alias,
    states_entered,
    versions,
)

HAPPY_STEPS = ["lock", "upload", "publish", "smoke", "shift", "health", "shift", "promote",
               "record", "unlock"]


def _steps(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(step["name"]), str(step["outcome"])) for step in rec["steps"]]


def _assert_timestamps_in_order(rec: dict[str, Any]) -> None:
    """Every step has a start and an end, in order, inside the execution's own span."""
    begun = datetime.fromisoformat(rec["started_at"])
    for step in rec["steps"]:
        started = datetime.fromisoformat(step["started_at"])
        finished = datetime.fromisoformat(step["finished_at"])
        assert begun <= started <= finished, step
        begun = started
    assert datetime.fromisoformat(rec["finished_at"]) >= datetime.fromisoformat(
        rec["started_at"])


def _weights_seen(updates: list[AliasUpdate], function: str) -> list[dict[str, float]]:
    return [update.weights for update in updates if update.function_name == function]


def test_healthy_release_is_promoted_with_migrations_and_a_complete_record(
        local: LocalMode) -> None:
    # GIVEN StackFlowAPI:PROD on version 1 and an empty database
    assert local.alias_state() == ("1", {})
    # WHEN a healthy build is released with a canary
    with alias_updates() as updates:
        result = local.release("good", "1.1.0")
    # THEN the execution succeeded and the alias is on the new version, routing cleared
    assert result.status == "SUCCEEDED", result.cause
    new_version = str(result.output["publish"]["version"])
    assert new_version == "2"
    assert result.alias_version == new_version
    assert result.routing == {}
    # AND the canary really sent part of the alias traffic to the new version first
    assert served_through_alias(local, new_version) > 0
    # AND the alias went 10% -> promoted, with nothing left in its routing
    assert _weights_seen(updates, local.function_name) == [{"2": 0.1}, {}]
    assert updates[-1].version == "2"
    # AND every migration is recorded in schema_migrations, applied by this execution
    execution_name = result.execution_arn.rsplit(":", 1)[1]
    assert migration_rows(local.database_url) == [(v, execution_name) for v in (1, 2, 3, 4)]
    # AND the deployment record is complete: every step, its outcome and timestamps
    rec = record(local, result.output["execution_id"])
    assert rec["status"] == "SUCCEEDED"
    assert (str(rec["previous_version"]), str(rec["new_version"])) == ("1", "2")
    assert _steps(rec) == [(name, "succeeded") for name in HAPPY_STEPS]
    _assert_timestamps_in_order(rec)
    assert rec["artifact"]["sha256"] == result.output["input"]["artifact"]["sha256"]
    assert not lock_held(local)


def test_smoke_failure_never_sends_traffic_to_the_new_version(local: LocalMode) -> None:
    # GIVEN a build whose health check fails
    # WHEN it is released
    with alias_updates() as updates:
        result = local.release("health-regression", "1.1.0")
    # THEN the execution fails with SmokeTestFailed, the cause being Lambda's error document
    assert result.status == "FAILED"
    assert result.error == "SmokeTestFailed"
    cause = json.loads(result.cause or "{}")
    assert cause["errorType"] == "SmokeTestFailed"
    assert isinstance(cause["stackTrace"], list)
    assert cause["stackTrace"]
    # AND the version was published and smoke-tested under its own number ...
    assert versions(local) == ["1", "2"]
    assert any(call.function_name == local.function_name and call.qualifier == "2"
               for call in local.local_aws.invoker.history)
    # ... but no request through the alias ever reached it: the alias never carried a
    # routing config during the execution, and no shift or bake was ever entered
    assert served_through_alias(local, "2") == 0
    assert all(not weights for weights in _weights_seen(updates, local.function_name))
    assert not {"Shift", "Bake", "Promote"} & set(states_entered(local, result.execution_arn))
    assert local.alias_state() == ("1", {})
    # AND the record shows the failed smoke step and the lock is released
    rec = record(local, result.execution_arn)
    assert rec["status"] in ("FAILED", "ROLLED_BACK")
    assert ("smoke", "failed") in _steps(rec)
    assert "shift" not in [name for name, _ in _steps(rec)]
    _assert_timestamps_in_order(rec)
    assert not lock_held(local)


def test_failed_migration_publishes_nothing_and_releases_the_lock(
        local_options: LocalOptions, tmp_path: Path) -> None:
    # GIVEN the sample migrations plus one whose SQL is broken
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", migrations)
    (migrations / "0005_add_broken.up.sql").write_text(
        "ALTER TABLE orders ADD COLUMN note text;\nALTER TABLE no_such_table ADD COLUMN x int;\n")
    (migrations / "0005_add_broken.down.sql").write_text("ALTER TABLE orders DROP COLUMN note;\n")
    options = LocalOptions(**{**local_options.__dict__, "migrations_dir": migrations})
    with LocalMode(options) as local:
        # WHEN a release runs the migrations
        with alias_updates() as updates:
            result = local.release("good", "1.1.0")
        # THEN it fails on the migration
        assert result.status == "FAILED"
        assert result.error == "MigrationFailed"
        # AND no version was published and the alias was never written at all
        # (Rollback found it where it was and left it untouched)
        assert versions(local) == ["1"]
        assert "Publish" not in states_entered(local, result.execution_arn)
        assert updates == []
        assert local.alias_state() == ("1", {})
        # AND the record is closed as FAILED (nothing needed rolling back) and the lock
        # is released
        rec = record(local, result.execution_arn)
        assert rec["status"] == "FAILED"
        assert "publish" not in [name for name, _ in _steps(rec)]
        assert not lock_held(local)
        # AND the database kept the good migrations and nothing of the broken one
        assert applied_migrations(local.database_url) == [1, 2, 3, 4]


def test_publish_retried_after_a_transient_error_publishes_one_version(
        local: LocalMode) -> None:
    # GIVEN Lambda throttles reads of the new version during the first Publish attempt,
    # after PublishVersion itself went through
    publish_fn = local.stack.function_by_handler("deploy_steps.handler.publish") \
        if local.stack else ""
    original = LambdaResponse.get_function_configuration

    def throttled(self: LambdaResponse) -> object:
        first_attempt = all(call.function_name != publish_fn
                            for call in local.local_aws.invoker.history)
        qualifier = self._get_param("Qualifier", None)
        if first_attempt and local.function_name in self.path and str(qualifier).isdigit():
            error = JsonRESTError("TooManyRequestsException", "Rate exceeded")
            error.code = 429
            raise error
        return original(self)

    with mock.patch.object(LambdaResponse, "get_function_configuration", throttled):
        # WHEN a release runs
        result = local.release("good", "1.1.0")
    # THEN Step Functions retried Publish after the throttling error ...
    assert result.status == "SUCCEEDED", result.cause
    failures = [details.get("error") for event in local.history(result.execution_arn)
                for key, details in event.items() if key.endswith("FailedEventDetails")]
    assert failures == ["AwsThrottled"]
    # ... and the retry found the version already published instead of adding another
    assert versions(local) == ["1", "2"]
    assert local.alias_state() == ("2", {})
    # AND the record shows the failed attempt and one successful publish of version 2
    rec = record(local, result.execution_arn)
    publishes = [step for step in rec["steps"] if step["name"] == "publish"]
    assert [step["outcome"] for step in publishes] == ["failed", "succeeded"]
    assert str(publishes[-1]["detail"]["version"]) == "2"
