"""The infra deploy outcome item as docs/architecture.md lays it out, against moto.

Read back with a raw ``GetItem`` at the documented key (spelt out here, not borrowed
from the adapter), and the newest of several outcomes is what ``latest`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws
from stackflow.adapters.dynamodb import InfraDeployRecords

from tests.support.deploy_table import create_deploy_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE = "stackflow-deployments"


@pytest.fixture
def ddb(aws_env: None) -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_deploy_table(client, TABLE)
        yield client


def test_outcomes_are_stored_per_stack_and_the_newest_is_the_last_deploy(
        ddb: DynamoDBClient) -> None:
    # GIVEN two deploys of one stack and one of another
    records = InfraDeployRecords(TABLE, ddb)
    records.put_outcome("stackflow-dev", "2025-01-02T03:04:05Z", "stackflow-deploy-1",
                        {"outcome": "ROLLED_BACK", "backups": [{"kind": "none"}]})
    records.put_outcome("stackflow-dev", "2025-02-01T00:00:00Z", "stackflow-deploy-2",
                        {"outcome": "SUCCEEDED", "changes": 3})
    records.put_outcome("stackflow-dev-database", "2025-03-01T00:00:00Z", "cs",
                        {"outcome": "FAILED"})
    # THEN each is the INFRA#<stack> / DEPLOY#<started_at>#<change set> item
    item = ddb.get_item(TableName=TABLE, Key={
        "pk": {"S": "INFRA#stackflow-dev"},
        "sk": {"S": "DEPLOY#2025-01-02T03:04:05Z#stackflow-deploy-1"}})["Item"]
    assert item["outcome"] == {"S": "ROLLED_BACK"}
    assert item["stack"] == {"S": "stackflow-dev"}
    # AND the last deploy of each stack is its newest, without the keys
    assert records.latest("stackflow-dev") == {
        "outcome": "SUCCEEDED", "changes": 3, "stack": "stackflow-dev",
        "started_at": "2025-02-01T00:00:00Z", "change_set": "stackflow-deploy-2"}
    assert records.latest("stackflow-prod") is None
