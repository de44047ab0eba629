"""What local mode runs is what CDK synthesized: the definition, the Timeouts, the waits.

Also: ``--database-url`` makes local mode use that server and start no embedded one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stackflow.adapters import default_client
from stackflow_tools.cli import main as cli_main
from stackflow_tools.local.runner import LocalMode, LocalOptions

from tests.e2e.local_support import applied_migrations, record
from tests.support.local_assets import zip_of

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
VALIDATE_HANDLER = "deploy_steps.handler.validate"

def _template_with_state_machine(cdk_out: Path) -> tuple[Path, dict[str, Any]]:
    """The synthesized template holding the state machine, read as plain JSON."""
    for path in sorted(cdk_out.glob("*.template.json")):
        body = json.loads(path.read_text())
        if any(r["Type"] == STATE_MACHINE for r in body["Resources"].values()):
            return path, body
    raise AssertionError(f"no {STATE_MACHINE} under {cdk_out}")


def _machine(body: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in body["Resources"].values() if r["Type"] == STATE_MACHINE)


def _expected_definition(cdk_out: Path, local: LocalMode) -> Any:
    """The template's DefinitionString with each reference replaced by hand.

    Deliberately not :mod:`stackflow_tools.local.template`: every ``Fn::GetAtt <fn>.Arn`` is
    replaced by the ARN (moto) Lambda reports for the function local mode created.
    """
    _, body = _template_with_state_machine(cdk_out)
    props = _machine(body)["Properties"]
    assert "DefinitionSubstitutions" not in props
    delimiter, parts = props["DefinitionString"]["Fn::Join"]
    lambda_ = local.local_aws.client("lambda")
    stack = local.stack
    assert stack is not None
    text: list[str] = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        elif list(part) == ["Fn::GetAtt"] and part["Fn::GetAtt"][1] == "Arn":
            name = stack.functions[part["Fn::GetAtt"][0]]
            text.append(lambda_.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
        elif part == {"Ref": "AWS::Partition"}:
            text.append("aws")
        else:
            raise AssertionError(f"the definition uses {part}; extend this test")
    return json.loads(delimiter.join(text))


def _running_definition(local: LocalMode) -> Any:
    sfn = local.local_aws.client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    # One state machine exists, so every execution local mode starts runs this one.
    assert [m["stateMachineArn"] for m in machines] == [local.stack.state_machine_arn
                                                        if local.stack else ""]
    described = sfn.describe_state_machine(stateMachineArn=machines[0]["stateMachineArn"])
    return json.loads(described["definition"])


def test_local_mode_runs_the_synthesized_definition_unchanged(
        local: LocalMode, cdk_out: Path) -> None:
    # GIVEN local mode started on the synthesized app
    # WHEN the state machine it created is compared with cdk.out's DefinitionString
    # THEN they are the same document once the function ARNs are filled in
    assert _running_definition(local) == _expected_definition(cdk_out, local)


def test_an_edit_to_the_template_is_what_local_mode_runs(
        local_options: LocalOptions, cdk_out: Path, tmp_path: Path) -> None:
    # GIVEN a copy of cdk.out whose state machine's Bake state was edited
    edited = tmp_path / "edited.out"
    shutil.copytree(cdk_out, edited)
    path, body = _template_with_state_machine(edited)
    parts = _machine(body)["Properties"]["DefinitionString"]["Fn::Join"][1]
    marker = "Edited in the template only."
    comment = '"Let the new version take traffic until the next health check."'
    hits = [i for i, part in enumerate(parts) if isinstance(part, str) and comment in part]
    assert len(hits) == 1
    parts[hits[0]] = parts[hits[0]].replace(comment, json.dumps(marker))
    path.write_text(json.dumps(body))
    # WHEN local mode starts on that copy
    options = LocalOptions(**{**local_options.__dict__, "cdk_out": edited})
    with LocalMode(options) as local:
        # THEN the state machine it runs carries the edit: there is no other copy
        assert _running_definition(local)["States"]["Bake"]["Comment"] == marker
        assert _running_definition(local) == _expected_definition(edited, local)


PROBE = b"""
import time


def validate(event, context):
    first = context.get_remaining_time_in_millis()
    time.sleep(0.5)
    return {"first": first, "second": context.get_remaining_time_in_millis()}
"""


def test_a_handler_context_counts_down_from_the_templates_timeout(
        local: LocalMode, cdk_out: Path) -> None:
    # GIVEN the template's Validate function, its code replaced by a probe package
    _, body = _template_with_state_machine(cdk_out)
    lid, resource = next((lid, r) for lid, r in body["Resources"].items()
                         if r["Type"] == "AWS::Lambda::Function"
                         and r["Properties"].get("Handler") == VALIDATE_HANDLER)
    timeout_ms = int(resource["Properties"]["Timeout"]) * 1000
    assert local.stack is not None
    name = local.stack.functions[lid]
    lambda_ = local.local_aws.client("lambda")
    lambda_.update_function_code(FunctionName=name, ZipFile=zip_of(
        {"deploy_steps/__init__.py": b"", "deploy_steps/handler.py": PROBE}))
    # WHEN it is invoked
    answer = json.loads(lambda_.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    # THEN the handler saw the template's Timeout (less the time to reach it), then at
    # least the half second it slept less
    assert timeout_ms - 2000 < answer["first"] <= timeout_ms
    assert answer["second"] <= answer["first"] - 450


def test_time_scale_shortens_the_bake_but_not_the_definition_or_the_data(
        local: LocalMode) -> None:
    # GIVEN local mode at time scale 0.001 (the fixture) and a listener on every Wait
    waits: list[float] = []
    local.local_aws.wait_hooks.append(waits.append)
    # WHEN a Canary10Percent5Minutes release runs
    result = local.release("good", "1.1.0", strategy={"preset": "Canary10Percent5Minutes"})
    assert result.status == "SUCCEEDED", result.cause
    # THEN the definition's Bake still reads its length from the data
    bake = _running_definition(local)["States"]["Bake"]
    assert bake["SecondsPath"] == "$.shift.check_seconds"
    assert "Seconds" not in bake
    # AND the data carried the nominal 300 s bake, checked every 150 s (the fixture's
    # interval), to the engine and to the record
    events = list(local.history(result.execution_arn))
    entered = next(e for e in events
                   if e.get("stateEnteredEventDetails", {}).get("name") == "Bake")
    exited = next(e for e in events
                  if e.get("stateExitedEventDetails", {}).get("name") == "Bake")
    shift = json.loads(entered["stateEnteredEventDetails"]["input"])["shift"]
    assert (shift["wait_seconds"], shift["checks"], shift["check_seconds"]) == (300, 2, 150)
    assert waits == [150.0, 150.0]
    plan = record(local, result.execution_arn)["strategy"]["plan"]["steps"]
    assert [int(step["wait_seconds"]) for step in plan] == [300, 0]
    # AND each wait itself was scaled: the Bake state lasted far less than 150 s (a
    # tenth of it is a generous bound for 0.15 s; an unscaled wait would take 150 s)
    assert (exited["timestamp"] - entered["timestamp"]).total_seconds() < 15


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    # The CLI's adapters cache their boto3 clients; this test has its own local AWS.
    default_client.cache_clear()
    yield
    default_client.cache_clear()


@pytest.mark.usefixtures("fresh_clients")
def test_local_deploy_with_database_url_uses_that_server_and_starts_none(
        cdk_out: Path, database_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an existing PostgreSQL database and an empty working directory
    workdir = tmp_path / "work"
    # WHEN `stackflow local deploy --database-url` releases a good build
    code = cli_main.main([
        "local", "deploy", "--build", "good", "--release", "1.1.0",
        "--strategy", "AllAtOnce", "--database-url", database_url,
        "--workdir", str(workdir), "--cdk-out", str(cdk_out), "--time-scale", "0.001"])
    # THEN it shipped, and the migrations landed in that database
    assert code == 0, capsys.readouterr()
    assert applied_migrations(database_url) == [1, 2, 3, 4]
    # AND no embedded server was started: it keeps its data under <workdir>/pgdata
    assert not (workdir / "pgdata").exists()

