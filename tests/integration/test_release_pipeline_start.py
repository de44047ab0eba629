"""`stackflow pipeline start --wait` against moto's executing Step Functions engine.

The state machines here are small and hand-written (Pass, Wait, Fail states) so that
each test controls the outcome: they stand in for the deployment state machine, whose
contract with `pipeline start` is only the execution input and the history it writes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stackflow.adapters import default_client
from stackflow_tools.cli import main as cli_main
from stackflow_tools.release.artifacts import local_migrations, migrations_digest
from stackflow_tools.release.pipeline import release_key, release_name
from stackflow_tools.release.zipbuild import code_sha256

BUCKET = "stackflow-artifacts-test"
ROLE_ARN = "arn:aws:iam::123456789012:role/stackflow-test-sfn"

START = {"Type": "Pass", "Parameters": {"input.$": "$", "execution_id.$": "$$.Execution.Id"}}


def shift(weight: float, next_state: str) -> dict[str, Any]:
    return {"Type": "Pass", "Result": {"index": 0, "weight": weight, "done": weight >= 1},
            "ResultPath": "$.shift", "Next": next_state}


# Shift loops over a plan of weights as the deployment state machine does: the state
# named Shift writes {"index", "weight"} under $.shift, and Promote follows weight 1.
SUCCEEDING = {"StartAt": "Start", "States": {
    "Start": {"Type": "Pass", "Parameters": {
        "input.$": "$", "execution_id.$": "$$.Execution.Id",
        "plan": [0.1, 0.5, 1], "shift": {"index": -1}}, "Next": "NextStep"},
    "NextStep": {"Type": "Pass", "Parameters": {"index.$": "States.MathAdd($.shift.index, 1)"},
                 "ResultPath": "$.next", "Next": "Shift"},
    "Shift": {"Type": "Pass", "Parameters": {
        "index.$": "$.next.index", "weight.$": "States.ArrayGetItem($.plan, $.next.index)"},
        "ResultPath": "$.shift", "Next": "Done?"},
    "Done?": {"Type": "Choice", "Choices": [
        {"Variable": "$.shift.weight", "NumericEquals": 1, "Next": "Promote"}],
        "Default": "Bake"},
    "Bake": {"Type": "Pass", "Next": "NextStep"},
    "Promote": {"Type": "Succeed"},
}}
FAILING = {"StartAt": "Start", "States": {
    "Start": {**START, "Next": "Shift"},
    "Shift": shift(0.1, "HealthCheck"),
    "HealthCheck": {"Type": "Fail", "Error": "CanaryUnhealthy",
                    "Cause": json.dumps({"errorType": "CanaryUnhealthy",
                                         "errorMessage": "alarm StackFlowAPI-dev-errors fired"})},
}}
SLOW = {"StartAt": "Start", "States": {
    "Start": {**START, "Next": "Bake"},
    "Bake": {"Type": "Wait", "Seconds": 3, "Next": "Shift"},
    "Shift": shift(1.0, "Promote"),
    "Promote": {"Type": "Succeed"},
}}


@dataclass
class Aws:
    s3: Any
    sfn: Any

    def state_machine(self, name: str, definition: dict[str, Any]) -> str:
        arn: str = self.sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)["stateMachineArn"]
        return arn

    def executions(self, state_machine_arn: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sfn.list_executions(
            stateMachineArn=state_machine_arn)["executions"]
        return found


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    # Only this command group: the CLI's other groups are not under test here.
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("pipeline",))
    for name in ("ARTIFACTS_BUCKET", "MIGRATIONS_BUCKET", "MIGRATIONS_PREFIX",
                 "STATE_MACHINE_ARN", "GITHUB_SHA", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    default_client.cache_clear()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield Aws(s3=s3, sfn=boto3.client("stepfunctions"))
    default_client.cache_clear()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "stackflow-api.zip"
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip is enough for S3
    return path


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create_items.up.sql").write_text("CREATE TABLE items (id int);\n")
    (folder / "0001_create_items.down.sql").write_text("DROP TABLE items;\n")
    return folder


def stackflow(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main.main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


def start(state_machine: str, artifact: Path, migrations: Path, *extra: str) -> Run:
    return stackflow("pipeline", "start", "--function", "StackFlowAPI", "--alias", "PROD",
                     "--artifact", str(artifact), "--bucket", BUCKET,
                     "--migrations", str(migrations), "--state-machine-arn", state_machine,
                     "--poll-seconds", "0.05", *extra)


def test_start_wait_reports_each_state_and_the_traffic_split_then_exits_0(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN a state machine that shifts 10% and then all traffic, and succeeds
    machine = aws.state_machine("deploy-ok", SUCCEEDING)

    # WHEN CI starts the release and waits for it
    run = start(machine, artifact, migrations, "--wait")

    # THEN it exits 0 after showing the states in order with the traffic split
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    shown = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert shown.index("Start ...") < shown.index("Shift ...") < shown.index("Promote ...")
    steps = [line for line in shown if line.startswith("Shift done")]
    assert steps == ["Shift done -- plan step 1: 10% to the new version",
                     "Shift done -- plan step 2: 50% to the new version",
                     "Shift done -- plan step 3: 100% to the new version"]
    # AND what it says of the alias is read from the alias (here: there is none)
    assert any(line.strip().startswith("StackFlowAPI:PROD: routing unknown")
               for line in lines)
    assert lines[-1].endswith("SUCCEEDED")
    # AND the execution input names the exact uploaded object version and its SHA-256
    [execution] = aws.executions(machine)
    document = json.loads(aws.sfn.describe_execution(
        executionArn=execution["executionArn"])["input"])
    stored = aws.s3.get_object(Bucket=BUCKET, Key=document["artifact"]["key"],
                               VersionId=document["artifact"]["version_id"])
    assert document["artifact"]["sha256"] == code_sha256(artifact.read_bytes())
    assert stored["Body"].read() == artifact.read_bytes()
    assert document["function_name"] == "StackFlowAPI"
    assert document["migrations"]["enabled"] is True
    # AND the migration files are in the patcher's prefix
    keys = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET,
                                                     Prefix="migrations/")["Contents"]}
    assert keys == {"migrations/0001_create_items.up.sql",
                    "migrations/0001_create_items.down.sql"}


def test_a_failed_release_exits_non_zero_with_the_error_type_and_cause(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN a state machine whose health check fails the release
    machine = aws.state_machine("deploy-fails", FAILING)

    # WHEN CI starts the release and waits for it
    run = start(machine, artifact, migrations, "--wait")

    # THEN it exits 1 naming the state machine's error type and the cause's message
    assert run.code == 1
    assert "ReleaseFailed" in run.err
    assert "CanaryUnhealthy: alarm StackFlowAPI-dev-errors fired" in run.err
    assert "ExecutionFailed: CanaryUnhealthy" in run.out


def test_a_failed_release_is_retried_only_on_purpose(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN a release of this artifact that failed
    machine = aws.state_machine("deploy-fails", FAILING)
    assert start(machine, artifact, migrations, "--wait").code == 1

    # WHEN the same CI job runs again without --retry
    again = start(machine, artifact, migrations, "--wait")

    # THEN nothing new starts and the message says how to retry
    assert again.code == 1
    assert "--retry to start attempt 2" in again.err
    assert len(aws.executions(machine)) == 1

    # WHEN it runs with --retry
    retried = start(machine, artifact, migrations, "--wait", "--retry")

    # THEN a second attempt with its own name runs (and fails again here)
    assert retried.code == 1
    names = sorted(e["name"] for e in aws.executions(machine))
    assert len(names) == 2
    assert names[1] == names[0] + "-r2"


def test_a_rerun_follows_the_running_release_instead_of_starting_another(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN a release that CI started without waiting, still baking
    machine = aws.state_machine("deploy-slow", SLOW)
    first = start(machine, artifact, migrations)
    assert first.code == 0
    # (named after what it ships: function, alias, the zip's SHA-256, the migrations)
    name = release_name("StackFlowAPI", "PROD", release_key(
        "StackFlowAPI", "PROD", code_sha256(artifact.read_bytes()),
        migrations_digest(local_migrations(migrations))))
    assert re.fullmatch(r"StackFlowAPI-PROD-[0-9a-f]{16}", name)
    assert f"started {name} (attempt 1)" in first.out

    # WHEN the same job runs again, this time waiting
    rerun = start(machine, artifact, migrations, "--wait")

    # THEN it names the execution already running and follows it to its end
    assert rerun.code == 0, rerun.err
    assert re.search(rf"^{name} was started before and is (RUNNING|SUCCEEDED): following it$",
                     rerun.out, re.MULTILINE)
    assert rerun.out.splitlines()[-1] == f"release {name} SUCCEEDED"
    # AND no second execution exists
    assert [e["name"] for e in aws.executions(machine)] == [name]


def test_a_changed_migration_is_refused_before_anything_starts(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN the patcher's prefix already holds 0001 with other content
    machine = aws.state_machine("deploy-ok", SUCCEEDING)
    aws.s3.put_object(Bucket=BUCKET, Key="migrations/0001_create_items.up.sql",
                      Body=b"CREATE TABLE items (id bigint);\n")
    (migrations / "0002_add_name.up.sql").write_text("ALTER TABLE items ADD name text;\n")

    # WHEN a release is started
    run = start(machine, artifact, migrations, "--wait")

    # THEN it is refused naming the file, and nothing was uploaded or started
    assert run.code == 1
    assert "ChecksumMismatch" in run.err
    assert "0001_create_items.up.sql" in run.err
    keys = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert keys == {"migrations/0001_create_items.up.sql"}
    assert aws.executions(machine) == []


def test_an_unchanged_migration_already_in_s3_is_accepted(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN the prefix holds 0001 with the same bytes (an earlier release uploaded it)
    machine = aws.state_machine("deploy-ok", SUCCEEDING)
    up = migrations / "0001_create_items.up.sql"
    aws.s3.put_object(Bucket=BUCKET, Key="migrations/" + up.name, Body=up.read_bytes())

    # WHEN a release is started
    run = start(machine, artifact, migrations, "--wait")

    # THEN it goes ahead, uploading only the file that was missing
    assert run.code == 0, run.err
    assert "migrations: 1 uploaded, 1 already in" in run.out


def test_an_existing_s3_object_version_can_be_released(aws: Aws, migrations: Path) -> None:
    # GIVEN an artifact some other job uploaded, overwritten since
    machine = aws.state_machine("deploy-ok", SUCCEEDING)
    first = aws.s3.put_object(Bucket=BUCKET, Key="StackFlowAPI/build.zip", Body=b"first")
    aws.s3.put_object(Bucket=BUCKET, Key="StackFlowAPI/build.zip", Body=b"second")

    # WHEN that exact version is released
    run = stackflow("pipeline", "start", "--function", "StackFlowAPI",
                    "--s3-key", "StackFlowAPI/build.zip", "--s3-version", first["VersionId"],
                    "--bucket", BUCKET, "--no-migrations", "--state-machine-arn", machine,
                    "--wait", "--poll-seconds", "0.05")

    # THEN the execution input carries that version and the SHA-256 of its bytes
    assert run.code == 0, run.err
    [execution] = aws.executions(machine)
    document = json.loads(aws.sfn.describe_execution(
        executionArn=execution["executionArn"])["input"])
    assert document["artifact"]["version_id"] == first["VersionId"]
    assert document["artifact"]["sha256"] == code_sha256(b"first")
    assert document["migrations"]["enabled"] is False


def test_status_shows_the_outcome_and_last_traffic_split(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN a release that failed after shifting 10% of the traffic
    machine = aws.state_machine("deploy-fails", FAILING)
    start(machine, artifact, migrations, "--wait")
    [execution] = aws.executions(machine)

    # AND the alias as it is now: version 1 with 10 % still on version 2
    alias_with_canary()

    # WHEN an operator asks for its status by name
    run = stackflow("pipeline", "status", execution["name"], "--state-machine-arn", machine,
                    "--json")

    # THEN the summary names the status, the last plan step, the traffic as the alias
    # routes it now (read from Lambda, not from the plan) and the failure
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    assert summary["status"] == "FAILED"
    assert summary["plan_step"] == "plan step 1: 10% to the new version"
    assert summary["traffic"] == "StackFlowAPI:PROD serves version 1 (90%) and version 2 (10%)"
    assert summary["alias"] == {"version": "1", "routing": {"2": 0.1}}
    assert summary["error"] == "CanaryUnhealthy"


def alias_with_canary() -> None:
    """StackFlowAPI:PROD on version 1 with 10 % routed to version 2 (moto)."""
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(RoleName="api", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    for source in ("v1", "v2"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", source)
        if source == "v1":
            lam.create_function(FunctionName="StackFlowAPI", Runtime="python3.11", Role=role,
                                Handler="app.handler", Code={"ZipFile": buffer.getvalue()})
        else:
            lam.update_function_code(FunctionName="StackFlowAPI", ZipFile=buffer.getvalue())
        lam.publish_version(FunctionName="StackFlowAPI")
    lam.create_alias(FunctionName="StackFlowAPI", Name="PROD", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})


def test_start_without_a_state_machine_names_the_missing_setting(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN no --state-machine-arn and no STATE_MACHINE_ARN
    # WHEN a release is started
    run = stackflow("pipeline", "start", "--function", "StackFlowAPI", "--artifact",
                    str(artifact), "--bucket", BUCKET, "--migrations", str(migrations))

    # THEN it fails with a typed error naming the flag and the variable
    assert run.code == 1
    assert "InvalidRequest: --state-machine-arn: is required (or set $STATE_MACHINE_ARN)" \
        in run.err


def test_wait_stops_before_the_credentials_expire_and_status_follows_on(
        aws: Aws, artifact: Path, migrations: Path) -> None:
    # GIVEN a release that outlasts the time CI may follow it (its Wait is 3 s, the CI
    # session's budget here 0.5 s)
    machine = aws.state_machine("slow", SLOW)
    name = release_name("StackFlowAPI", "PROD", release_key(
        "StackFlowAPI", "PROD", code_sha256(artifact.read_bytes()),
        migrations_digest(local_migrations(migrations))))
    # WHEN CI starts it and waits with --timeout
    run = start(machine, artifact, migrations, "--wait", "--timeout", "0.5")
    # THEN it stops cleanly while the release runs on, exit 3, saying how to follow on
    assert run.code == 3, run.err
    assert f"release {name} is RUNNING" in run.out
    assert f"Follow on with: stackflow pipeline status {name} --wait" in run.out
    # WHEN the follow-on command runs (fresh credentials, a later job)
    follow_on = stackflow("pipeline", "status", name, "--wait", "--state-machine-arn",
                          machine, "--poll-seconds", "0.05")
    # THEN it shows the release from its start and follows it to the end, exit 0
    assert follow_on.code == 0, follow_on.err
    lines = follow_on.out.splitlines()
    assert any("Bake ..." in line for line in lines)
    assert any("Shift done" in line for line in lines)
    assert lines[-1] == f"release {name} SUCCEEDED"


def test_artifact_name_equals_path_starts_one_release_of_every_function(
        aws: Aws, tmp_path: Path, migrations: Path) -> None:
    # GIVEN two zips and a manifest naming the worker's smoke case
    api, worker = tmp_path / "api.zip", tmp_path / "worker.zip"
    api.write_bytes(b"PK\x05\x06" + bytes(18))
    worker.write_bytes(b"PK\x05\x06" + bytes(17) + b"\x01")
    manifest = tmp_path / "release.json"
    manifest.write_text(json.dumps({"functions": [
        {"function_name": "StackFlowOrdersWorker", "smoke": {"cases": []}}],
        "strategy": {"preset": "Canary10Percent5Minutes"}}))
    machine = aws.state_machine("deploy-many", SUCCEEDING)
    # WHEN CI names each zip with --artifact NAME=PATH
    run = stackflow("pipeline", "start", "--artifact", f"StackFlowAPI={api}",
                    "--artifact", f"StackFlowOrdersWorker={worker}", "--input", str(manifest),
                    "--bucket", BUCKET, "--migrations", str(migrations),
                    "--state-machine-arn", machine)
    # THEN one execution releases both, each with its own uploaded object
    assert run.code == 0, run.err
    [execution] = aws.executions(machine)
    assert execution["name"].startswith("StackFlowOrdersWorker-PROD-and-1-")
    document = json.loads(aws.sfn.describe_execution(
        executionArn=execution["executionArn"])["input"])
    assert "function_name" not in document
    targets = {t["function_name"]: t for t in document["functions"]}
    assert list(targets) == ["StackFlowOrdersWorker", "StackFlowAPI"]
    assert targets["StackFlowOrdersWorker"]["smoke"] == {"cases": []}
    assert targets["StackFlowAPI"]["alias"] == "PROD"
    assert targets["StackFlowAPI"]["artifact"]["sha256"] == code_sha256(api.read_bytes())
    assert targets["StackFlowOrdersWorker"]["artifact"]["key"].startswith(
        "StackFlowOrdersWorker/")


@pytest.mark.parametrize(("argv", "message"), [
    (["--artifact", "a.zip", "--artifact", "b.zip"], "name each function"),
    (["--artifact", "A=a.zip", "--artifact", "b.zip"], "mixes PATH and NAME=PATH"),
    (["--artifact", "A=a.zip", "--artifact", "A=b.zip"], "names A twice"),
])
def test_bad_artifact_flags_name_the_flag(aws: Aws, argv: list[str], message: str) -> None:
    run = stackflow("pipeline", "start", *argv, "--bucket", BUCKET,
                    "--state-machine-arn", "arn:aws:states:us-east-1:123456789012:"
                                           "stateMachine:x")
    assert run.code != 0
    assert "--artifact" in run.err
    assert message in run.err
