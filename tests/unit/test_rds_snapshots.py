"""The cluster snapshot before destructive migrations: the exact RDS calls (Stubber)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from stackflow.adapters.rds import ClusterSnapshots, snapshot_identifier
from stackflow.errors import ResourceNotFound

CLUSTER = "stackflow-prod-database"
SNAPSHOT = "stackflow-stackflowapi-prod-0123abcd"


def rds() -> Any:
    return boto3.client("rds", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def described(status: str) -> dict[str, Any]:
    return {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": SNAPSHOT,
                                    "DBClusterIdentifier": CLUSTER, "Status": status,
                                    "SnapshotCreateTime": datetime(2025, 6, 1, tzinfo=UTC)}]}


def test_identifier_is_one_rds_accepts() -> None:
    assert snapshot_identifier("StackFlowAPI-PROD-0123abcd") == SNAPSHOT
    assert snapshot_identifier("a__b--c-") == "stackflow-a-b-c"
    assert len(snapshot_identifier("x" * 400)) == 255


def test_create_then_poll_until_available_makes_exactly_these_calls() -> None:
    # GIVEN RDS answering a create, then two describes (creating, available)
    client = rds()
    snapshots = ClusterSnapshots(client)
    with Stubber(client) as stub:
        stub.add_response("create_db_cluster_snapshot", {"DBClusterSnapshot": {
            "DBClusterSnapshotIdentifier": SNAPSHOT, "DBClusterIdentifier": CLUSTER,
            "Status": "creating"}}, {
            "DBClusterSnapshotIdentifier": SNAPSHOT, "DBClusterIdentifier": CLUSTER,
            "Tags": [{"Key": "stackflow:execution", "Value": "StackFlowAPI-PROD-0123abcd"},
                     {"Key": "stackflow:reason", "Value": "drop column orders.note"}]})
        for status in ("creating", "available"):
            stub.add_response("describe_db_cluster_snapshots", described(status),
                              {"DBClusterSnapshotIdentifier": SNAPSHOT})
        # WHEN the snapshot is created and polled
        created = snapshots.create(CLUSTER, SNAPSHOT, {
            "stackflow:reason": "drop column orders.note",
            "stackflow:execution": "StackFlowAPI-PROD-0123abcd"})
        first, second = snapshots.describe(SNAPSHOT), snapshots.describe(SNAPSHOT)
        # THEN exactly those calls were made, with those parameters
        stub.assert_no_pending_responses()
    assert created.to_dict() == {"snapshot_id": SNAPSHOT, "cluster": CLUSTER,
                                 "status": "creating"}
    assert (first.available, second.available) == (False, True)


def test_a_retried_create_reads_the_existing_snapshot() -> None:
    client = rds()
    with Stubber(client) as stub:
        stub.add_client_error("create_db_cluster_snapshot",
                              "DBClusterSnapshotAlreadyExistsFault", http_status_code=400)
        stub.add_response("describe_db_cluster_snapshots", described("available"),
                          {"DBClusterSnapshotIdentifier": SNAPSHOT})
        snapshot = ClusterSnapshots(client).create(CLUSTER, SNAPSHOT, {})
        stub.assert_no_pending_responses()
    assert snapshot.available


def test_an_unknown_cluster_is_resource_not_found() -> None:
    client = rds()
    with Stubber(client) as stub:
        stub.add_client_error("create_db_cluster_snapshot", "DBClusterNotFoundFault",
                              http_status_code=404)
        with pytest.raises(ResourceNotFound):
            ClusterSnapshots(client).create("nope", SNAPSHOT, {})
