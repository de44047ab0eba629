"""`stackflow approve | reject`: the token from the deploy table goes back to Step Functions.

DynamoDB is moto (the state across calls matters: the item the approval step wrote);
Step Functions is botocore's Stubber, because the exact SendTaskSuccess/Failure call is
what the waiting state receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from stackflow.adapters.dynamodb import DynamoDeployStore
from stackflow.adapters.stepfunctions import StepFunctions
from stackflow.errors import ResourceNotFound
from stackflow_tools.release.approvals import Approvals

from tests.support.deploy_table import create_deploy_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

TABLE = "stackflow-deploy-test"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stackflow-dev:StackFlowAPI-PROD-1"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAc-token"


@pytest.fixture
def dynamodb(aws_env: None) -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_deploy_table(client, TABLE)
        yield client


def approvals(dynamodb: DynamoDBClient, sfn: SFNClient) -> Approvals:
    return Approvals(DynamoDeployStore(TABLE, dynamodb), StepFunctions(sfn))


def waiting_approval(dynamodb: DynamoDBClient) -> None:
    """The item the approval step writes when the execution reaches the gate, spelt out
    as docs/architecture.md lays it out (not through the adapter that reads it)."""
    dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": f"APPROVAL#{EXECUTION}"}, "sk": {"S": "TOKEN"},
        "task_token": {"S": TOKEN}, "requested_at": {"S": "2026-01-01T00:00:00+00:00"}})


def test_approve_sends_the_stored_token_back_as_success(dynamodb: DynamoDBClient) -> None:
    # GIVEN an execution waiting at the approval gate
    waiting_approval(dynamodb)
    sfn = boto3.client("stepfunctions")
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    output = {"approved": True, "by": "alice", "at": now.isoformat()}
    with Stubber(sfn) as stub:
        stub.add_response("send_task_success", {},
                          {"taskToken": TOKEN, "output": json.dumps(output, sort_keys=True)})

        # WHEN alice approves it
        approvals(dynamodb, sfn).approve(
            EXECUTION, "alice", now=now)

        # THEN exactly that token is answered with success
        stub.assert_no_pending_responses()


def test_reject_fails_the_task_as_approval_rejected_with_the_reason(
        dynamodb: DynamoDBClient) -> None:
    # GIVEN an execution waiting at the approval gate
    waiting_approval(dynamodb)
    sfn = boto3.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_response("send_task_failure", {}, {
            "taskToken": TOKEN, "error": "ApprovalRejected",
            "cause": "rejected by bob: error rate too high in staging"})

        # WHEN bob rejects it with a reason
        approvals(dynamodb, sfn).reject(
            EXECUTION, "bob", "error rate too high in staging")

        # THEN the state machine sees ApprovalRejected with who and why
        stub.assert_no_pending_responses()


def test_answering_an_execution_that_waits_for_nothing_names_it(
        dynamodb: DynamoDBClient) -> None:
    # GIVEN no approval item for this execution
    sfn = boto3.client("stepfunctions")
    with Stubber(sfn) as stub:
        # WHEN someone approves it / THEN a typed error names the execution, nothing is sent
        with pytest.raises(ResourceNotFound, match="no approval is waiting"):
            approvals(dynamodb, sfn).approve(
                EXECUTION, "alice")
        stub.assert_no_pending_responses()


def test_a_token_that_timed_out_is_reported_as_no_longer_waiting(
        dynamodb: DynamoDBClient) -> None:
    # GIVEN a stored token whose task has timed out already
    waiting_approval(dynamodb)
    sfn = boto3.client("stepfunctions")
    with Stubber(sfn) as stub:
        now = datetime(2026, 1, 1, 12, tzinfo=UTC)
        output = {"approved": True, "by": "alice", "at": now.isoformat()}
        stub.add_client_error("send_task_success", service_error_code="TaskTimedOut",
                              expected_params={"taskToken": TOKEN,
                                               "output": json.dumps(output, sort_keys=True)})

        # WHEN it is approved / THEN the error says the approval is no longer waiting
        with pytest.raises(ResourceNotFound, match="no longer waiting"):
            approvals(dynamodb, sfn).approve(
                EXECUTION, "alice", now=now)
        stub.assert_no_pending_responses()
