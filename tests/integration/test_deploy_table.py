"""The deploy table's items as docs/architecture.md lays them out, against moto.

``stackflow.adapters.dynamodb`` is the one module that keys and shapes the items; these
tests read what it wrote with raw ``GetItem`` calls at the documented keys (spelt out
here, not borrowed from the adapter), so a key that drifts from the contract fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from stackflow.adapters.dynamodb import DriftStateTable, DynamoDeployStore
from stackflow.deploy.ports import ApprovalToken
from stackflow.drift.schema import SchemaBaseline
from stackflow.drift.state import DriftState
from stackflow.errors import DriftCheckFailed

from tests.support.deploy_table import create_deploy_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE = "stackflow-deployments"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stackflow-dev:release-1"


@pytest.fixture
def ddb(aws_env: None) -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_deploy_table(client, TABLE)
        yield client


def raw_item(ddb: DynamoDBClient, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(
        TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return item


def test_an_approval_token_is_stored_under_its_execution_and_read_back(
        ddb: DynamoDBClient) -> None:
    # GIVEN the token of an execution waiting at the gate
    token = ApprovalToken(execution_id=EXECUTION, task_token="token-1",
                          requested_at="2025-06-01T12:00:00Z", function="StackFlowAPI",
                          alias="PROD", version="7")
    store = DynamoDeployStore(TABLE, ddb)
    # WHEN the approval step stores it
    store.put_approval(token)
    # THEN it is the APPROVAL#<execution> / TOKEN item, with a TTL
    item = raw_item(ddb, f"APPROVAL#{EXECUTION}", "TOKEN")
    assert item is not None
    assert item["task_token"] == {"S": "token-1"}
    assert item["version"] == {"S": "7"}
    assert int(item["ttl"]["N"]) > 0
    # AND `stackflow approve` reads the same token back; another execution has none
    assert store.get_approval(EXECUTION) == token
    assert store.get_approval(EXECUTION + "-other") is None


def test_a_release_record_is_one_item_found_by_execution_arn_or_name(
        ddb: DynamoDBClient) -> None:
    # GIVEN a release opened by Lock, then an operator's note on it
    store = DynamoDeployStore(TABLE, ddb)
    store.update_release(EXECUTION, {"execution_id": EXECUTION, "status": "IN_PROGRESS",
                                     "functions": [{"function": "StackFlowAPI",
                                                    "previous_version": "1"}]})
    store.update_release(EXECUTION, {"status": "SUCCEEDED"})
    assert store.append_release_intervention(EXECUTION, {"action": "rollback-alias",
                                                         "by": "alice"})
    # THEN it is the RELEASE#<execution name> / EXEC#<execution id> item
    item = raw_item(ddb, "RELEASE#release-1", f"EXEC#{EXECUTION}")
    assert item is not None
    assert item["status"] == {"S": "SUCCEEDED"}
    # AND it reads back by the ARN, and by the name among the releases named so
    found = store.get_release(EXECUTION)
    assert found is not None
    assert found["functions"] == [{"function": "StackFlowAPI", "previous_version": "1"}]
    assert found["interventions"] == [{"action": "rollback-alias", "by": "alice"}]
    assert store.releases_named("release-1") == [found]
    assert store.releases_named("release-2") == []
    # AND a note on a release never recorded writes nothing
    assert not store.append_release_intervention(EXECUTION + "-other", {"action": "x"})
    assert store.get_release(EXECUTION + "-other") is None


def test_drift_state_and_baseline_are_json_items_of_the_deploy_table(
        ddb: DynamoDBClient) -> None:
    # GIVEN a drift run's state and a schema baseline
    table = DriftStateTable(TABLE, ddb)
    state = DriftState(drift_keys=("stack:a",), detections={"a": "det-1"},
                       carried_over=("b",), updated_at="2025-06-01T12:00:00Z")
    baseline = SchemaBaseline(version=4, fingerprint="f" * 64,
                              recorded_at="2025-06-01T12:00:00Z")
    # WHEN both are saved
    table.save_state(state)
    table.save_baseline(baseline)
    # THEN each is one item at its documented key, its data one JSON string
    stored = raw_item(ddb, "DRIFT#STATE", "STATE")
    assert stored is not None
    assert json.loads(stored["data"]["S"])["fingerprint"] == state.fingerprint
    assert stored["updated_at"] == {"S": "2025-06-01T12:00:00Z"}
    assert raw_item(ddb, "DRIFT#SCHEMA", "BASELINE") is not None
    # AND the next run reads back what this one saved
    assert table.load_state() == state
    assert table.load_baseline() == baseline


def test_an_unreadable_drift_item_names_itself(ddb: DynamoDBClient) -> None:
    # GIVEN a drift state item whose data is not JSON
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "DRIFT#STATE"}, "sk": {"S": "STATE"},
                                        "data": {"S": "not json"}})
    # WHEN it is loaded / THEN the drift check's error names the item
    with pytest.raises(DriftCheckFailed, match="DRIFT#STATE"):
        DriftStateTable(TABLE, ddb).load_state()
