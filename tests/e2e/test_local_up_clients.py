"""Clients in other processes against a running ``stackflow local up``.

What a user does from a second shell: the SDK (as the AWS CLI would) invokes the
functions and their code runs from the deployed packages in Lambda workers, and
``stackflow local deploy`` releases builds through the running environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_local_up import START_GUARD_SECONDS, running_local_up
from tests.support.local_assets import zip_of
from tests.support.polling import wait_until

SEVEN_MB = 7 * 1024 * 1024
GUARD_SECONDS = 120  # against a hang, generous for a loaded machine


@pytest.fixture(scope="module")
def up(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One ``local up`` process for the module; its announced settings."""
    workdir = tmp_path_factory.mktemp("up") / "work"
    with running_local_up(cdk_out, workdir, "--time-scale", "0.001") as running:
        info = running.read_until("ready", START_GUARD_SECONDS)
        yield {**info, "workdir": workdir, "cdk_out": cdk_out}


def _client(service: str, up: dict[str, Any]) -> Any:
    return boto3.client(service, endpoint_url=up["endpoint"], region_name="us-east-1",  # type: ignore[call-overload]
                        aws_access_key_id="local", aws_secret_access_key="local")


def _function(up: dict[str, Any], handler: str) -> str:
    functions = _client("lambda", up).list_functions()["Functions"]
    return str(next(f["FunctionName"] for f in functions if f["Handler"] == handler))


def _invoke(up: dict[str, Any], name: str, payload: Any) -> tuple[str | None, Any]:
    answer = _client("lambda", up).invoke(FunctionName=name, Payload=json.dumps(payload))
    return answer.get("FunctionError"), json.loads(answer["Payload"].read())


def _applied(up: dict[str, Any]) -> list[int]:
    with psycopg.connect(up["database"]) as conn:
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
            return []
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [int(row[0]) for row in rows.fetchall()]


def test_up_announces_what_a_second_shell_needs(up: dict[str, Any]) -> None:
    # GIVEN a running local up / THEN it wrote a ready execution input naming a real,
    # uploaded build, and its state for `local deploy`
    document = json.loads(Path(up["execution input"]).read_text())
    artifact = document["artifact"]
    head = _client("s3", up).head_object(Bucket=artifact["bucket"], Key=artifact["key"])
    assert head["Metadata"]["sha256"] == artifact["sha256"]
    assert (up["workdir"] / "up.json").is_file()


def test_the_patcher_runs_from_its_package_for_an_sdk_client_in_another_process(
        up: dict[str, Any]) -> None:
    # GIVEN the patcher function of the running local up and an empty database
    patcher = _function(up, "patcher.handler.handler")
    assert _applied(up) == []
    # WHEN an SDK client in this (other) process invokes it as the README does
    error, status = _invoke(up, patcher, {"action": "status"})
    # THEN the real handler answered from the real database
    assert error is None, status
    assert status["current_version"] is None
    # WHEN it migrates / THEN the database holds every migration
    error, migrated = _invoke(up, patcher, {"action": "migrate"})
    assert error is None, migrated
    assert [m["version"] for m in migrated["applied"]] == [1, 2, 3, 4]
    assert _applied(up) == [1, 2, 3, 4]
    # WHEN it rolls one back / THEN the database lost exactly that one
    error, rolled = _invoke(up, patcher, {"action": "rollback", "steps": 1})
    assert error is None, rolled
    assert _applied(up) == [1, 2, 3]
    # WHEN the payload is malformed / THEN a typed error names the field, nothing changes
    error, refused = _invoke(up, patcher, {"action": "drop-everything"})
    assert error == "Unhandled"
    assert refused["errorType"] == "InvalidRequest"
    assert "action" in refused["errorMessage"]
    assert _applied(up) == [1, 2, 3]


def test_a_handler_past_its_timeout_is_sandbox_timedout(up: dict[str, Any]) -> None:
    # GIVEN a function with a 1 s Timeout whose handler sleeps for 5 s
    lambda_ = _client("lambda", up)
    code = zip_of({"sleepy.py": b"import time\n\ndef handler(event, context):\n"
                                b"    time.sleep(5)\n    return 'late'\n"})
    lambda_.create_function(FunctionName="Sleepy", Runtime="python3.13", Handler="sleepy.handler",
                            Role="arn:aws:iam::123456789012:role/stackflow-local-role",
                            Code={"ZipFile": code}, Timeout=1)
    # WHEN it is invoked / THEN Lambda's timeout error comes back
    error, body = _invoke(up, "Sleepy", {})
    assert error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "1.00 seconds" in body["errorMessage"]


def test_a_request_over_six_megabytes_is_refused(up: dict[str, Any]) -> None:
    # GIVEN the patcher / WHEN a 7 MB payload is sent
    patcher = _function(up, "patcher.handler.handler")
    with pytest.raises(ClientError) as refused:
        _client("lambda", up).invoke(FunctionName=patcher,
                                     Payload=json.dumps({"pad": "x" * SEVEN_MB}))
    # THEN Lambda's own error says so, and nothing ran
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def _local_deploy(up: dict[str, Any], build: str, release: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackflow_tools.cli.main", "local", "deploy", "--build", build,
         "--release", release, "--strategy", "AllAtOnce", "--workdir", str(up["workdir"]),
         "--cdk-out", str(up["cdk_out"])],
        capture_output=True, text=True, timeout=START_GUARD_SECONDS,
        env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)


def _prod(up: dict[str, Any]) -> str:
    alias = _client("lambda", up).get_alias(FunctionName="StackFlowAPI", Name="PROD")
    return str(alias["FunctionVersion"])


def test_local_deploy_from_a_second_shell_stops_a_zip_missing_a_dependency(
        up: dict[str, Any]) -> None:
    # GIVEN PROD on some version
    before = _prod(up)
    # WHEN a build zipped without psycopg is released through the running local up
    done = _local_deploy(up, "missing-dependency", "9.0.0")
    # THEN the release failed at its smoke test, naming the import error, PROD untouched
    assert done.returncode == 1, done.stdout + done.stderr
    assert "releasing through the running `stackflow local up`" in done.stdout
    assert "SmokeTestFailed" in done.stdout
    assert "Runtime.ImportModuleError" in done.stdout
    assert _prod(up) == before
    # WHEN the good build is released the same way / THEN it is promoted
    done = _local_deploy(up, "good", "9.0.1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _prod(up) != before


def test_a_rejected_approval_keeps_its_reason_and_a_stale_revision_is_refused(
        up: dict[str, Any]) -> None:
    # GIVEN a release that needs approval, started from the announced execution input
    document = json.loads(Path(up["execution input"]).read_text())
    document["approval"] = {"required": True}
    document["strategy"] = {"preset": "AllAtOnce"}
    sfn = _client("stepfunctions", up)
    arn = sfn.start_execution(stateMachineArn=up["state machine"], name="needs-approval",
                              input=json.dumps(document))["executionArn"]
    wait_until(lambda: "Approval" in _entered(sfn, arn), "the Approval state", GUARD_SECONDS)
    # AND the alias's revision as a deploy step last read it
    lambda_ = _client("lambda", up)
    stale = lambda_.get_alias(FunctionName="StackFlowAPI", Name="PROD")["RevisionId"]
    # WHEN an operator rejects it with `stackflow reject` from another shell
    # (as soon as the approval step has stored its token: until then it says none waits)
    wait_until(lambda: _reject(up, arn).returncode == 0, "the rejection", GUARD_SECONDS)
    described = _finished(sfn, arn)
    # THEN the execution failed as ApprovalRejected with who and why, not "null"
    assert described["status"] == "FAILED"
    assert described["error"] == "ApprovalRejected"
    assert "rejected by bob: error rate too high in staging" in described["cause"]
    # AND PROD was never moved (AllAtOnce waits for the approval), so its revision holds
    assert lambda_.get_alias(FunctionName="StackFlowAPI", Name="PROD")["RevisionId"] == stale
    # WHEN someone changes the alias with that revision / THEN it gets a new one, and a
    # write still guarded by the old one is refused, as Lambda refuses it
    moved = lambda_.update_alias(FunctionName="StackFlowAPI", Name="PROD", RevisionId=stale,
                                 Description="operator hotfix")
    assert moved["RevisionId"] != stale
    with pytest.raises(ClientError) as refused:
        lambda_.update_alias(FunctionName="StackFlowAPI", Name="PROD", RevisionId=stale,
                             RoutingConfig={"AdditionalVersionWeights": {}})
    assert refused.value.response["Error"]["Code"] == "PreconditionFailedException"


def _reject(up: dict[str, Any], arn: str) -> subprocess.CompletedProcess[str]:
    state = json.loads((up["workdir"] / "up.json").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "stackflow_tools.cli.main", "reject", arn, "--by", "bob",
         "--reason", "error rate too high in staging", "--table", state["deploy_table"]],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "AWS_ENDPOINT_URL": up["endpoint"], "AWS_REGION": "us-east-1",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local",
             "AWS_SECRET_ACCESS_KEY": "local"})
    assert done.returncode == 0 or "no approval is waiting" in done.stderr, done.stderr
    return done


def _entered(sfn: Any, arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events
            if "stateEnteredEventDetails" in e]


def _finished(sfn: Any, arn: str) -> dict[str, Any]:
    wait_until(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING",
               "the execution to end", GUARD_SECONDS)
    return dict(sfn.describe_execution(executionArn=arn))
