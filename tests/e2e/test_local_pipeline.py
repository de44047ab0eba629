"""``stackflow pipeline start --wait`` against local mode, as CI runs it against AWS.

The real ``pipeline start`` code (S3 upload, start-or-follow, ``--wait``) runs in process
against the local environment: moto holding the synthesized state machine, and the
project's handlers answering its Lambda tasks. The artifact is a build of the example
application that the local Lambda knows how to run (registered by its SHA-256).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from stackflow.adapters import default_client
from stackflow_tools.cli import main as cli_main
from stackflow_tools.local.runner import LocalMode, LocalOptions
from stackflow_tools.release.pipeline import cause_message

from tests.e2e.local_support import applied_migrations, versions


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    # The CLI's adapters cache their boto3 clients; each test has its own local AWS.
    default_client.cache_clear()
    yield
    default_client.cache_clear()


def pipeline_start(local: LocalMode, tmp_path: Path, build: str, *extra: str) -> Run:
    """``stackflow pipeline start`` of one build of the example, the way CI calls it."""
    zip_path = tmp_path / f"stackflow-api-{build}.zip"
    if not zip_path.exists():
        zip_path.write_bytes(local.build(build, "1.1.0"))
    base = tmp_path / "execution-input.json"
    base.write_text(json.dumps(local.base_input()))
    state_machine = local.stack.state_machine_arn if local.stack else ""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main.main([
            "pipeline", "start", "--artifact", str(zip_path), "--input", str(base),
            "--bucket", local.artifacts_bucket,
            "--migrations", str(local.options.migrations_dir),
            "--state-machine-arn", state_machine, "--poll-seconds", "0.05", *extra])
    return Run(code, out.getvalue(), err.getvalue())


def executions(local: LocalMode) -> list[dict[str, str]]:
    sfn = local.local_aws.client("stepfunctions")
    state_machine = local.stack.state_machine_arn if local.stack else ""
    listed: list[dict[str, str]] = sfn.list_executions(
        stateMachineArn=state_machine)["executions"]
    return listed


def followed_states(out: str) -> list[str]:
    """The states `--wait` printed as entered, in order."""
    return [line.split("] ", 1)[1].removesuffix(" ...") for line in out.splitlines()
            if line.startswith("[") and line.endswith(" ...")]


def test_good_build_is_followed_state_by_state_and_exits_0(
        local: LocalMode, tmp_path: Path) -> None:
    # GIVEN local mode with StackFlowAPI:PROD on version 1
    # WHEN CI runs `pipeline start --wait` with a healthy build
    run = pipeline_start(local, tmp_path, "good", "--wait")
    # THEN it exits 0 after printing each state as it was entered, and the canary split
    assert run.code == 0, run.err
    states = followed_states(run.out)
    for state in ("Validate", "Lock", "Upload", "Migrate", "Publish", "Smoke", "Shift",
                  "HealthCheck", "Promote", "Record", "Unlock"):
        assert state in states
    assert states.index("Migrate") < states.index("Publish") < states.index("Promote")
    assert "Shift done -- plan step 1/2: 10% to the new version" in run.out
    assert "Shift done -- plan step 2/2: done, Promote moves the alias next" in run.out
    # AND the traffic it showed was read from the alias each time it changed: 100 % on
    # 1, the canary, then (only once Promote ran) 100 % on 2, never the plan's word
    alias = f"{local.function_name}:{local.alias} serves "
    assert [line.strip().removeprefix(alias) for line in run.out.splitlines()
            if line.strip().startswith(alias)] == [
        "version 1 (100%)", "version 1 (90%) and version 2 (10%)", "version 2 (100%)"]
    assert "% new /" not in run.out
    assert "ExecutionSucceeded" in run.out
    assert run.out.splitlines()[-1].endswith("SUCCEEDED")
    # AND the release really shipped: alias on the new version, migrations applied
    assert local.alias_state() == ("2", {})
    assert applied_migrations(local.database_url) == [1, 2, 3, 4]


@pytest.mark.parametrize(("build", "error"), [("orders-regression", "CanaryUnhealthy"),
                                              ("health-regression", "SmokeTestFailed")])
def test_broken_build_exits_non_zero_with_the_error_type_and_cause(
        local: LocalMode, tmp_path: Path, build: str, error: str) -> None:
    # GIVEN a build that breaks under canary traffic, or fails its smoke test
    # WHEN CI releases it with `pipeline start --wait`
    run = pipeline_start(local, tmp_path, build, "--wait")
    # THEN the command fails and says why: the execution's error type and its cause
    assert run.code == 1
    [execution] = executions(local)
    described = local.local_aws.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"])
    assert described["error"] == error
    message = cause_message(described["cause"])
    assert f"error: ReleaseFailed: release {execution['name']} ended FAILED: " \
           f"{error}: {message}" in run.err
    # AND the states up to the failure were printed, and the alias never moved
    assert "DeploymentFailed" in followed_states(run.out)
    assert local.alias_state() == ("1", {})


def test_second_identical_start_follows_the_running_release(
        local_options: LocalOptions, tmp_path: Path) -> None:
    # GIVEN a release started by a CI job that did not wait (slower waits: it runs a while)
    options = LocalOptions(**{**local_options.__dict__, "time_scale": 0.01})
    with LocalMode(options) as local:
        first = pipeline_start(local, tmp_path, "good")
        assert first.code == 0, first.err
        assert "(attempt 1)" in first.out
        # WHEN the same job runs again with the same artifact and migrations, waiting
        second = pipeline_start(local, tmp_path, "good", "--wait")
        # THEN it follows the first execution instead of starting another
        assert second.code == 0, second.err
        assert "was started before" in second.out
        assert "following it" in second.out
        [execution] = executions(local)
        assert execution["name"] in first.out
        assert execution["status"] == "SUCCEEDED"
        # AND exactly one version was published and promoted
        assert versions(local) == ["1", "2"]
        assert local.alias_state() == ("2", {})
