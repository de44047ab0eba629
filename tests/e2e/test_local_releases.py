"""Releases of the example application through the synthesized state machine, locally."""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

from moto.awslambda.responses import LambdaResponse
from moto.core.exceptions import JsonRESTError
from stackflow.local.runner import REPO_ROOT, LocalMode, LocalOptions

from tests.e2e.local_support import (
    applied_migrations,
    lock_held,
    record,
    served_through_alias,
    versions,
)


def test_healthy_release_is_promoted_with_migrations_and_a_complete_record(
        local: LocalMode) -> None:
    # GIVEN StackFlowAPI:PROD on version 1 and an empty database
    assert local.alias_state() == ("1", {})
    # WHEN a healthy build is released with a canary
    result = local.release("good", "1.1.0")
    # THEN the execution succeeded and the alias is on the new version, routing cleared
    assert result.status == "SUCCEEDED", result.cause
    new_version = str(result.output["publish"]["version"])
    assert new_version == "2"
    assert result.alias_version == new_version
    assert result.routing == {}
    # AND the canary really sent part of the alias traffic to the new version first
    assert served_through_alias(local, new_version) > 0
    # AND every migration is recorded in the database
    assert applied_migrations(local.database_url) == [1, 2, 3, 4]
    # AND the deployment record is complete and the lock is released
    rec = record(local, result.output["execution_id"])
    assert rec["status"] == "SUCCEEDED"
    assert (str(rec["previous_version"]), str(rec["new_version"])) == ("1", "2")
    assert rec["finished_at"]
    assert {step["name"] for step in rec["steps"]} >= {"publish", "smoke", "promote"}
    assert not lock_held(local)


def test_smoke_failure_never_sends_traffic_to_the_new_version(local: LocalMode) -> None:
    # GIVEN a build whose health check fails
    # WHEN it is released
    result = local.release("health-regression", "1.1.0")
    # THEN the execution fails with SmokeTestFailed
    assert result.status == "FAILED"
    assert result.error == "SmokeTestFailed"
    # AND the version was published but no request through the alias ever reached it
    assert versions(local) == ["1", "2"]
    assert served_through_alias(local, "2") == 0
    assert local.alias_state() == ("1", {})
    # AND the record says so and the lock is released
    assert record(local, result.execution_arn)["status"] in ("FAILED", "ROLLED_BACK")
    assert not lock_held(local)


def test_unhealthy_canary_rolls_back_to_the_old_version(local: LocalMode) -> None:
    # GIVEN a build that passes smoke but fails GET /orders
    # WHEN it is released with a 10% canary
    result = local.release("orders-regression", "1.1.0")
    # THEN the health check failed during the bake
    assert result.status == "FAILED"
    assert result.error == "CanaryUnhealthy"
    # AND the new version did serve (and fail) canary traffic before the rollback
    assert served_through_alias(local, "2") > 0
    assert any(call.error_type for call in local.local_aws.invoker.history
               if call.executed_version == "2" and call.qualifier == local.alias)
    # AND the alias is back on version 1 with 100% of the traffic
    assert local.alias_state() == ("1", {})
    rec = record(local, result.execution_arn)
    assert rec["status"] in ("FAILED", "ROLLED_BACK")
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
        result = local.release("good", "1.1.0")
        # THEN it fails on the migration
        assert result.status == "FAILED"
        assert result.error == "MigrationFailed"
        # AND no version was published and the alias is untouched
        assert versions(local) == ["1"]
        assert local.alias_state() == ("1", {})
        # AND the lock is released
        assert not lock_held(local)
        # AND the database kept the good migrations and nothing of the broken one
        assert applied_migrations(local.database_url) == [1, 2, 3, 4]


def test_second_execution_for_the_same_function_fails_deployment_in_progress(
        local_options: LocalOptions) -> None:
    # GIVEN one release baking (a slower clock so it holds the lock for a while)
    options = LocalOptions(**{**local_options.__dict__, "time_scale": 0.02})
    with LocalMode(options) as local:
        first_doc = local.deployment_input(local.upload("good", "1.1.0"))
        first = local.start(first_doc, "first")
        _wait_for_state(local, first, "Bake")
        # WHEN a second release of the same function starts
        second_doc = local.deployment_input(local.upload("good", "1.2.0"))
        second = local.wait(local.start(second_doc, "second"))
        # THEN it fails on the lock without touching anything
        assert second["status"] == "FAILED"
        assert second["error"] == "DeploymentInProgress"
        # AND the first one finishes and owns the result
        assert local.wait(first)["status"] == "SUCCEEDED"
        assert local.alias_state() == ("2", {})
        assert versions(local) == ["1", "2"]
        assert not lock_held(local)


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


def _wait_for_state(local: LocalMode, execution_arn: str, state: str) -> None:
    import time

    for _ in range(600):
        names = [e.get("stateEnteredEventDetails", {}).get("name")
                 for e in local.history(execution_arn)]
        if state in names:
            return
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} never entered {state}")
