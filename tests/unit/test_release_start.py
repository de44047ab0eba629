"""Start-or-follow, call by call (botocore Stubber): the exact execution names asked for.

moto's engine covers the whole command (tests/integration/test_release_pipeline_start.py);
what it cannot stage is two CI runs racing to start the same name, so that and the
exact StartExecution parameters are pinned here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from stackflow.adapters.stepfunctions import StepFunctions
from stackflow.errors import ReleaseFailed
from stackflow_tools.release.pipeline import Releases, release_name

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stackflow-dev-deployment"
KEY = "0123456789abcdef"
NAME = release_name("StackFlowAPI", "PROD", KEY)
DOCUMENT = {"function_name": "StackFlowAPI", "alias": "PROD"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:stackflow-dev-deployment:{name}"


@pytest.fixture
def sfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("stepfunctions", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def absent(stubber: Stubber, name: str) -> None:
    stubber.add_client_error("describe_execution", "ExecutionDoesNotExist",
                             expected_params={"executionArn": arn(name)})


def described(stubber: Stubber, name: str, status: str, **extra: str) -> None:
    stubber.add_response("describe_execution", {
        "executionArn": arn(name), "stateMachineArn": MACHINE, "name": name,
        "status": status, "startDate": T0, **extra}, {"executionArn": arn(name)})


def start_expected(stubber: Stubber, name: str) -> None:
    stubber.add_response("start_execution", {"executionArn": arn(name), "startDate": T0},
                         {"stateMachineArn": MACHINE, "name": name,
                          "input": json.dumps(DOCUMENT, sort_keys=True)})


def test_a_first_release_starts_under_its_deterministic_name(sfn: tuple[Any, Stubber]) -> None:
    # GIVEN no execution of this release exists
    client, stubber = sfn
    absent(stubber, NAME)
    start_expected(stubber, NAME)
    described(stubber, NAME, "RUNNING")

    # WHEN it is started
    release = Releases(StepFunctions(client), MACHINE).start_or_follow(
        "StackFlowAPI", "PROD", KEY, DOCUMENT)

    # THEN exactly that name was started with the document as input
    assert (release.execution.name, release.attempt, release.started) == (NAME, 1, True)


def test_losing_the_race_to_start_follows_the_winner(sfn: tuple[Any, Stubber]) -> None:
    # GIVEN another run of the same job starts the name between our look and our start
    client, stubber = sfn
    absent(stubber, NAME)
    stubber.add_client_error("start_execution", "ExecutionAlreadyExists",
                             expected_params={"stateMachineArn": MACHINE, "name": NAME,
                                              "input": json.dumps(DOCUMENT, sort_keys=True)})
    described(stubber, NAME, "RUNNING")

    # WHEN this run starts the release
    release = Releases(StepFunctions(client), MACHINE).start_or_follow(
        "StackFlowAPI", "PROD", KEY, DOCUMENT)

    # THEN it follows the other run's execution instead of failing or starting another
    assert (release.execution.name, release.execution.status, release.started) == \
        (NAME, "RUNNING", False)


def test_a_failed_release_stays_failed_without_retry(sfn: tuple[Any, Stubber]) -> None:
    # GIVEN attempt 1 failed and there is no attempt 2
    client, stubber = sfn
    described(stubber, NAME, "FAILED", error="CanaryUnhealthy", cause="alarm fired")
    absent(stubber, f"{NAME}-r2")

    # WHEN the release is started again without --retry / THEN nothing starts
    with pytest.raises(ReleaseFailed, match=r"CanaryUnhealthy: alarm fired.*--retry"):
        Releases(StepFunctions(client), MACHINE).start_or_follow(
            "StackFlowAPI", "PROD", KEY, DOCUMENT)


def test_retry_starts_the_next_attempt_under_its_own_name(sfn: tuple[Any, Stubber]) -> None:
    # GIVEN attempt 1 failed
    client, stubber = sfn
    described(stubber, NAME, "FAILED", error="CanaryUnhealthy", cause="alarm fired")
    absent(stubber, f"{NAME}-r2")
    start_expected(stubber, f"{NAME}-r2")
    described(stubber, f"{NAME}-r2", "RUNNING")

    # WHEN it is retried on purpose
    release = Releases(StepFunctions(client), MACHINE).start_or_follow(
        "StackFlowAPI", "PROD", KEY, DOCUMENT, retry=True)

    # THEN attempt 2 starts as <name>-r2
    assert (release.execution.name, release.attempt, release.started) == \
        (f"{NAME}-r2", 2, True)
