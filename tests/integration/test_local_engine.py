"""The local engine: moto's Step Functions running asset zips in Lambda workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stackflow_tools.local.engine import LocalAws, LocalStack, create_stack, wait_for_execution
from stackflow_tools.local.template import Template

from tests.support.local_assets import function, handlers_package, write_asset, zip_of

# Both task forms CDK emits: the optimized lambda:invoke integration and a bare ARN.
DEFINITION: list[Any] = [
    '{"StartAt":"Echo","States":{',
    '"Echo":{"Type":"Task","Resource":"arn:', {"Ref": "AWS::Partition"},
    ':states:::lambda:invoke","Parameters":{"FunctionName":"', {"Fn::GetAtt": ["EchoFn", "Arn"]},
    '","Payload.$":"$"},"ResultSelector":{"r.$":"$.Payload"},"ResultPath":"$.echo","Next":"Bake"},',
    '"Bake":{"Type":"Wait","Seconds":300,"Next":"Flaky"},',
    '"Flaky":{"Type":"Task","Resource":"', {"Fn::GetAtt": ["FlakyFn", "Arn"]},
    '","Retry":[{"ErrorEquals":["AwsThrottled"],"IntervalSeconds":5,"MaxAttempts":2}],',
    '"ResultPath":"$.flaky","Next":"Unhealthy"},',
    '"Unhealthy":{"Type":"Task","Resource":"', {"Fn::GetAtt": ["UnhealthyFn", "Arn"]},
    '","Catch":[{"ErrorEquals":["CanaryUnhealthy"],"ResultPath":"$.error","Next":"Caught"}],',
    '"End":true},"Caught":{"Type":"Pass","End":true}}}',
]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalAws]:
    with LocalAws(time_scale=0.001, workdir=tmp_path) as aws:
        yield aws


@pytest.fixture
def stack(local: LocalAws, tmp_path: Path) -> LocalStack:
    key = write_asset(tmp_path / "cdk.out", handlers_package())
    body = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "EchoFn": function(key, "local_handlers.echo", variables={"GREETING": {
            "Fn::Join": ["-", ["hi", {"Ref": "AWS::Region"}]]}}),
        "FlakyFn": function(key, "local_handlers.flaky"),
        "UnhealthyFn": function(key, "local_handlers.unhealthy"),
        "NotJsonFn": function(key, "local_handlers.not_json"),
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "DefinitionString": {"Fn::Join": ["", DEFINITION]}}},
    }}
    return create_stack(local, Template(tmp_path / "cdk.out" / "Test.template.json", body))


def test_execution_runs_handlers_retries_transient_errors_and_catches_by_class_name(
        local: LocalAws, stack: LocalStack) -> None:
    # GIVEN the hand-written definition created from a template
    sfn = local.client("stepfunctions")
    waits: list[float] = []
    local.wait_hooks.append(waits.append)
    # WHEN it runs
    arn = sfn.start_execution(stateMachineArn=stack.state_machine_arn,
                              input=json.dumps({"a": 1}))["executionArn"]
    described = wait_for_execution(sfn, arn)
    # THEN the handlers ran with the template's environment and a real context
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    echo = output["echo"]["r"]
    assert echo["seen"] == {"a": 1}
    assert echo["greeting"] == "hi-us-east-1"
    assert 0 < echo["remaining_ms"] <= 30_000
    # AND the Wait kept its nominal length while being scaled
    assert waits == [300.0]
    # AND AwsThrottled was retried (the warm worker kept its state: attempt 2 succeeded)
    assert output["flaky"] == {"attempt": 2}
    # ... and CanaryUnhealthy reached Catch under its class name, with Lambda's error body
    assert output["error"]["Error"] == "CanaryUnhealthy"
    cause = json.loads(output["error"]["Cause"])
    assert cause["errorType"] == "CanaryUnhealthy"
    assert cause["errorMessage"] == "alarm StackFlowAPI-errors is in ALARM"


def test_invoke_error_has_lambdas_shape(local: LocalAws, stack: LocalStack) -> None:
    # GIVEN a function whose handler raises
    lambda_ = local.client("lambda")
    # WHEN it is invoked through the ordinary boto3 API
    answer = lambda_.invoke(FunctionName=stack.functions["UnhealthyFn"], Payload=b"{}")
    # THEN Lambda's error envelope comes back: status 200, FunctionError, typed body
    body = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert answer["ExecutedVersion"] == "$LATEST"
    assert {"errorType", "errorMessage", "requestId", "stackTrace"} <= set(body)
    assert body["errorType"] == "CanaryUnhealthy"
    # AND the stack trace is the handler's, as the Python runtime reports it
    assert any("local_handlers.py" in frame for frame in body["stackTrace"])


def test_unmarshalable_results_are_the_runtimes_marshal_error(
        local: LocalAws, stack: LocalStack) -> None:
    # GIVEN a handler returning something that is not JSON / WHEN it is invoked
    answer = local.client("lambda").invoke(FunctionName=stack.functions["NotJsonFn"])
    # THEN the runtime's marshal error is reported
    assert json.loads(answer["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_unknown_function_is_lambdas_resource_not_found(local: LocalAws) -> None:
    # GIVEN no such function WHEN it is invoked THEN Lambda's own error is raised
    with pytest.raises(ClientError) as caught:
        local.client("lambda").invoke(FunctionName="nope", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_alias_routing_weights_decide_the_executed_version_and_its_code(
        local: LocalAws, stack: LocalStack) -> None:
    # GIVEN an alias on version 1 sending 10% to version 2, whose code package raises
    lambda_ = local.client("lambda")
    name = stack.functions["EchoFn"]
    lambda_.publish_version(FunctionName=name)
    broken = handlers_package({"local_handlers.py": b"def echo(event, context):\n"
                                                    b"    raise RuntimeError('v2')\n"})
    lambda_.update_function_code(FunctionName=name, ZipFile=zip_of(broken))
    lambda_.publish_version(FunctionName=name)
    lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    # WHEN twenty requests go through the alias
    answers = [lambda_.invoke(FunctionName=name, Qualifier="live") for _ in range(20)]
    # THEN two ran version 2 - and they ran version 2's code
    executed = [(a["ExecutedVersion"], a.get("FunctionError")) for a in answers]
    assert executed.count(("2", "Unhandled")) == 2
    assert executed.count(("1", None)) == 18
