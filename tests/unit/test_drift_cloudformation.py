"""The drift-detection sequence against CloudFormation, call by call (botocore Stubber).

moto does not implement drift detection, so every call is stubbed and asserted exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from stackflow.adapters.cloudformation import CloudFormationDrift
from stackflow.drift.model import CarriedOver, StackResult

STACK = "stackflow-dev"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/0a1b2c3d"
DETECTION = "5a1b5b1e-aaaa-bbbb-cccc-000000000001"
RUNNING = "5a1b5b1e-aaaa-bbbb-cccc-000000000002"
BUSY = f"Drift detection is already in progress for stack [{STACK_ID}]."
ALIAS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:StackFlowAPI:PROD"


class Budget:
    """Seconds left in the run; sleeping spends them (no real waiting)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slept: list[float] = []

    def time_left(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.seconds -= seconds


@pytest.fixture
def cfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def status(detection: str, state: str, drift: str = "DRIFTED",
           stack_id: str = STACK_ID) -> dict[str, Any]:
    out: dict[str, Any] = {"StackId": stack_id, "StackDriftDetectionId": detection,
                           "DetectionStatus": state, "Timestamp": "2024-05-01T10:00:00Z"}
    if state != "DETECTION_IN_PROGRESS":
        out["StackDriftStatus"] = drift
    if state == "DETECTION_FAILED":
        out["DetectionStatusReason"] = "Failed to detect drift on resource [Queue]"
    return out


def drifted_resources() -> dict[str, Any]:
    return {"StackResourceDrifts": [
        {"StackId": STACK_ID, "LogicalResourceId": "ApiFunction",
         "PhysicalResourceId": "StackFlowAPI", "ResourceType": "AWS::Lambda::Function",
         "StackResourceDriftStatus": "MODIFIED", "Timestamp": "2024-05-01T10:00:00Z",
         "PropertyDifferences": [{"PropertyPath": "/Timeout", "ExpectedValue": "30",
                                  "ActualValue": "60", "DifferenceType": "NOT_EQUAL"}]},
        {"StackId": STACK_ID, "LogicalResourceId": "ApiAlias",
         "PhysicalResourceId": ALIAS_ARN, "ResourceType": "AWS::Lambda::Alias",
         "StackResourceDriftStatus": "MODIFIED", "Timestamp": "2024-05-01T10:00:00Z",
         "PropertyDifferences": [{"PropertyPath": "/FunctionVersion", "ExpectedValue": "1",
                                  "ActualValue": "4", "DifferenceType": "NOT_EQUAL"}]},
    ]}


def expect_resource_drifts(stubber: Stubber, response: dict[str, Any],
                           token: str | None = None) -> None:
    params: dict[str, Any] = {"StackName": STACK,
                              "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]}
    if token:
        params["NextToken"] = token
    stubber.add_response("describe_stack_resource_drifts", response, params)


def test_in_progress_then_complete_then_drifted_resources(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN a detection that is in progress on the first poll and drifted on the second
    client, stubber = cfn
    stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                         {"StackName": STACK})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_IN_PROGRESS"),
                         {"StackDriftDetectionId": DETECTION})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_COMPLETE"),
                         {"StackDriftDetectionId": DETECTION})
    expect_resource_drifts(stubber, drifted_resources())
    budget = Budget(300)
    checker = CloudFormationDrift(client, sleep=budget.sleep, poll_seconds=5)

    # WHEN the stack is checked
    check = checker.check_stacks([STACK], known_detections={}, time_left=budget.time_left)

    # THEN it waited one poll interval and reports both modified resources with their diffs
    assert budget.slept == [5]
    assert check.carried_over == ()
    [result] = check.results
    assert (result.status, result.detection_id, result.reused_detection) == \
        ("DRIFTED", DETECTION, False)
    function, alias = result.resources
    assert (function.logical_id, function.differences[0].path,
            function.differences[0].expected, function.differences[0].actual) == \
        ("ApiFunction", "/Timeout", "30", "60")
    assert (alias.resource_type, alias.physical_id) == ("AWS::Lambda::Alias", ALIAS_ARN)


def test_reuses_the_running_detection_it_started_before(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN DetectStackDrift refuses because the detection started by the last run runs on
    client, stubber = cfn
    stubber.add_client_error("detect_stack_drift", "ValidationError", BUSY,
                             expected_params={"StackName": STACK})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(RUNNING, "DETECTION_IN_PROGRESS"),
                         {"StackDriftDetectionId": RUNNING})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(RUNNING, "DETECTION_COMPLETE"),
                         {"StackDriftDetectionId": RUNNING})
    expect_resource_drifts(stubber, drifted_resources())
    budget = Budget(300)
    checker = CloudFormationDrift(client, sleep=budget.sleep, poll_seconds=5)

    # WHEN the stack is checked with that detection id remembered
    check = checker.check_stacks([STACK], known_detections={STACK: RUNNING},
                                 time_left=budget.time_left)

    # THEN the running detection is followed to its end instead of starting another
    [result] = check.results
    assert (result.detection_id, result.reused_detection, result.status) == \
        (RUNNING, True, "DRIFTED")


def test_detection_started_elsewhere_is_waited_out(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN a detection nobody here knows the id of, which ends after one poll interval
    client, stubber = cfn
    stubber.add_client_error("detect_stack_drift", "ValidationError", BUSY,
                             expected_params={"StackName": STACK})
    stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                         {"StackName": STACK})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_COMPLETE", drift="IN_SYNC"),
                         {"StackDriftDetectionId": DETECTION})
    budget = Budget(300)
    checker = CloudFormationDrift(client, sleep=budget.sleep, poll_seconds=5)

    # WHEN the stack is checked
    check = checker.check_stacks([STACK], known_detections={}, time_left=budget.time_left)

    # THEN its own detection starts once the other ends (one poll interval later); an
    # in-sync stack needs no resource listing
    assert budget.slept == [5]
    [result] = check.results
    assert (result.status, result.detection_id, result.resources) == \
        ("IN_SYNC", DETECTION, ())


def test_out_of_time_carries_the_running_detection_over(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN a run with 40 s left and a detection that stays in progress
    client, stubber = cfn
    stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                         {"StackName": STACK})
    for _ in range(3):
        stubber.add_response("describe_stack_drift_detection_status",
                             status(DETECTION, "DETECTION_IN_PROGRESS"),
                             {"StackDriftDetectionId": DETECTION})
    budget = Budget(40)
    checker = CloudFormationDrift(client, sleep=budget.sleep, poll_seconds=15,
                                  min_start_seconds=30)

    # WHEN the stack is checked
    check = checker.check_stacks([STACK], known_detections={}, time_left=budget.time_left)

    # THEN the stack is carried over with the detection id for the next run to reuse
    assert check.results == ()
    assert check.carried_over == (CarriedOver(
        STACK, "detection still running when the run's time ran out", DETECTION),)


def test_stacks_left_when_time_is_up_are_carried_over_unstarted(
        cfn: tuple[Any, Stubber]) -> None:
    # GIVEN two stacks, checked one at a time; the first uses up the budget
    client, stubber = cfn
    stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                         {"StackName": STACK})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_IN_PROGRESS"),
                         {"StackDriftDetectionId": DETECTION})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_COMPLETE", drift="IN_SYNC"),
                         {"StackDriftDetectionId": DETECTION})
    budget = Budget(45)
    checker = CloudFormationDrift(client, sleep=budget.sleep, poll_seconds=20,
                                  max_workers=1, min_start_seconds=30)

    # WHEN both are checked
    check = checker.check_stacks([STACK, "stackflow-data"], known_detections={},
                                 time_left=budget.time_left)

    # THEN the first is reported and the second, never started, is carried over
    assert [r.stack for r in check.results] == [STACK]
    assert check.carried_over == (CarriedOver(
        "stackflow-data", "not started: the run's time budget is used up"),)


def test_failed_detection_lists_partial_drift_and_reason(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN a detection that fails part way, after finding one drifted resource
    client, stubber = cfn
    stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                         {"StackName": STACK})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_FAILED"),
                         {"StackDriftDetectionId": DETECTION})
    page = drifted_resources()
    second = {"StackResourceDrifts": page["StackResourceDrifts"][1:]}
    expect_resource_drifts(stubber, {"StackResourceDrifts": page["StackResourceDrifts"][:1],
                                     "NextToken": "page2"})
    expect_resource_drifts(stubber, second, token="page2")
    budget = Budget(300)

    # WHEN the stack is checked
    check = CloudFormationDrift(client, sleep=budget.sleep).check_stacks(
        [STACK], known_detections={}, time_left=budget.time_left)

    # THEN it is FAILED with CloudFormation's reason, and both pages of drift are listed
    [result] = check.results
    assert result.status == "FAILED"
    assert "Failed to detect drift" in result.reason
    assert [r.logical_id for r in result.resources] == ["ApiFunction", "ApiAlias"]


def test_missing_stack_is_a_failed_result_not_an_exception(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN a configured stack that does not exist
    client, stubber = cfn
    stubber.add_client_error("detect_stack_drift", "ValidationError",
                             f"Stack with id {STACK} does not exist",
                             expected_params={"StackName": STACK})
    budget = Budget(300)

    # WHEN it is checked
    [result] = CloudFormationDrift(client).check_stacks(
        [STACK], known_detections={}, time_left=budget.time_left).results

    # THEN the report says so for this stack and the run goes on
    assert isinstance(result, StackResult)
    assert result.status == "FAILED"
    assert "does not exist" in result.reason


def test_throttling_carries_the_stack_over(cfn: tuple[Any, Stubber]) -> None:
    # GIVEN CloudFormation throttles DetectStackDrift
    client, stubber = cfn
    stubber.add_client_error("detect_stack_drift", "Throttling", "Rate exceeded",
                             expected_params={"StackName": STACK})
    budget = Budget(300)

    # WHEN the stack is checked
    check = CloudFormationDrift(client).check_stacks([STACK], known_detections={},
                                                     time_left=budget.time_left)

    # THEN it is retried next run rather than reported as failed
    assert check.results == ()
    assert check.carried_over[0].stack == STACK
    assert check.carried_over[0].reason.startswith("throttled")
