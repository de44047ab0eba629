"""Local mode sends execution status changes through EventBridge, as AWS does.

A hand-written template: a state machine with a long Wait, a rule on its ``ABORTED``
and ``FAILED`` status changes with a Lambda and an SNS target (the topic delivering to an
SQS queue, read back through the public API). moto alone would deliver nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stackflow_tools.local.engine import LocalAws, LocalStack, create_stack, wait_for_execution
from stackflow_tools.local.template import Template

from tests.support.local_assets import function, handlers_package, write_asset

DEFINITION = '{"StartAt":"Bake","States":{"Bake":{"Type":"Wait","Seconds":600,"End":true}}}'


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalAws]:
    with LocalAws(time_scale=0.001, workdir=tmp_path) as aws:
        yield aws


@pytest.fixture
def stack(local: LocalAws, tmp_path: Path) -> LocalStack:
    key = write_asset(tmp_path / "cdk.out", handlers_package())
    pattern = {"source": ["aws.states"],
               "detail-type": ["Step Functions Execution Status Change"],
               "detail": {"status": ["ABORTED", "FAILED"],
                          "stateMachineArn": [{"Ref": "Machine"}]}}
    body = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Listener": function(key, "local_handlers.echo"),
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "DefinitionString": DEFINITION}},
        "Interrupted": {"Type": "AWS::Events::Rule", "Properties": {
            "EventPattern": pattern, "State": "ENABLED", "Targets": [
                {"Id": "Target0", "Arn": {"Fn::GetAtt": ["Listener", "Arn"]}},
                {"Id": "Target1", "Arn": {"Ref": "Topic"}}]}},
    }}
    return create_stack(local, Template(tmp_path / "cdk.out" / "Test.template.json", body))


def queue_on_topic(local: LocalAws, stack: LocalStack) -> str:
    sqs, sns = local.client("sqs"), local.client("sns")
    url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    topic = sns.list_topics()["Topics"][0]["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})
    return str(url)


def test_a_stopped_execution_reaches_the_rules_lambda_and_topic_in_aws_shape(
        local: LocalAws, stack: LocalStack) -> None:
    # GIVEN an execution in its Wait, and the rule's topic feeding a queue
    url = queue_on_topic(local, stack)
    sfn = local.client("stepfunctions")
    arns = [f"{stack.state_machine_arn.replace(':stateMachine:', ':execution:')}:stopped"]
    local.wait_hooks.append(lambda _: sfn.stop_execution(
        executionArn=arns[0], error="Cancelled", cause="CI run cancelled"))
    assert sfn.start_execution(stateMachineArn=stack.state_machine_arn, name="stopped",
                               input='{"a":1}')["executionArn"] == arns[0]
    # WHEN it is stopped (StopExecution with an error and a cause)
    assert wait_for_execution(sfn, arns[0])["status"] == "ABORTED"
    local.settle(arns[0])
    # THEN the rule's Lambda was invoked once, asynchronously, with AWS's event
    (call,) = [c for c in local.invoker.asynchronous
               if c.function_name == stack.functions["Listener"]]
    ((answer, error),) = call.attempts
    assert error is None
    event: dict[str, Any] = json.loads(answer)["seen"]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time",
                          "region", "resources", "detail"}
    assert (event["source"], event["resources"]) == ("aws.states", [arns[0]])
    detail = event["detail"]
    assert (detail["executionArn"], detail["stateMachineArn"], detail["status"]) == (
        arns[0], stack.state_machine_arn, "ABORTED")
    assert (detail["error"], detail["cause"]) == ("Cancelled", "CI run cancelled")
    assert detail["input"] == '{"a":1}'
    assert detail["stopDate"] >= detail["startDate"] > 1_600_000_000_000
    # AND DescribeExecution keeps StopExecution's error and cause too, as AWS does
    described = sfn.describe_execution(executionArn=arns[0])
    assert (described["error"], described["cause"]) == ("Cancelled", "CI run cancelled")
    # AND the topic got the same event as its message
    (message,) = local.client("sqs").receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["detail"]["executionArn"] == arns[0]
    # AND every status change was sent, RUNNING first
    statuses = [e["detail"]["status"] for e in local.status_events
                if e["detail"]["executionArn"] == arns[0]]
    assert statuses == ["RUNNING", "ABORTED"]


def test_a_succeeded_execution_matches_no_rule_on_interruptions(
        local: LocalAws, stack: LocalStack, tmp_path: Path) -> None:
    # GIVEN a short execution (the same machine, without a stop)
    sfn = local.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack.state_machine_arn,
                              name="ok")["executionArn"]
    # WHEN it succeeds / THEN its event went out, and nothing was invoked for it
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    local.settle(arn)
    assert [e["detail"]["status"] for e in local.status_events] == ["RUNNING", "SUCCEEDED"]
    assert local.invoker.asynchronous == []
