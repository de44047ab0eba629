"""Local mode's cluster snapshots: moto's snapshot reads ``creating`` while the stand-in
stores its data, and the stand-in is a pg_dump of the snapshot's tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws
from stackflow.deploy.snapshot import TABLES_TAG
from stackflow_tools.local.patches import cluster_snapshots
from stackflow_tools.local.snapshots import TableDumps, dump_key

from tests.support.postgres import fresh_database

CLUSTER = "stackflow-local-clustereb0386a7"
BUCKET = "artifacts"


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("rds", region_name="us-east-1")
        client.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                                 MasterUsername="stackflow", MasterUserPassword="local-only")
        yield client


def status(rds: Any, snapshot: str) -> str:
    (described,) = rds.describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"]
    return str(described["Status"])


def until(rds: Any, snapshot: str, wanted: str) -> str:
    deadline = time.monotonic() + 10
    while (found := status(rds, snapshot)) != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def test_a_snapshot_is_creating_until_its_data_is_stored(rds: Any) -> None:
    # GIVEN a stand-in for the snapshot storage that has not finished yet
    stored = threading.Event()
    heard: list[tuple[str, str, Mapping[str, str]]] = []

    def store(cluster: str, snapshot: str, tags: Mapping[str, str]) -> None:
        heard.append((cluster, snapshot, tags))
        stored.wait(10)

    with cluster_snapshots(store):
        # WHEN a snapshot of the cluster is created
        created = rds.create_db_cluster_snapshot(
            DBClusterSnapshotIdentifier="stackflow-release-1", DBClusterIdentifier=CLUSTER,
            Tags=[{"Key": TABLES_TAG, "Value": "customers"}])["DBClusterSnapshot"]
        # THEN RDS says creating, then available once the data is stored
        assert created["Status"] == "creating"
        assert status(rds, "stackflow-release-1") == "creating"
        stored.set()
        assert until(rds, "stackflow-release-1", "available") == "available"
    # AND the stand-in was told the cluster, the snapshot and its tags
    assert heard == [(CLUSTER, "stackflow-release-1", {TABLES_TAG: "customers"})]


def test_a_stand_in_that_fails_fails_the_snapshot(rds: Any) -> None:
    def broken(cluster: str, snapshot: str, tags: Mapping[str, str]) -> None:
        raise RuntimeError("pg_dump failed")

    with cluster_snapshots(broken):
        rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="stackflow-release-2",
                                       DBClusterIdentifier=CLUSTER)
        assert until(rds, "stackflow-release-2", "failed") == "failed"


def test_the_stand_in_dumps_the_tagged_tables_into_the_bucket(pg_admin_uri: str) -> None:
    with fresh_database(pg_admin_uri) as url, mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE customers (id int, nickname text)")
            conn.execute("INSERT INTO customers VALUES (1, 'ada-the-first')")
            conn.execute("CREATE TABLE orders (id int, note text)")
            conn.execute("INSERT INTO orders VALUES (1, 'not-in-the-snapshot')")
        # GIVEN the stand-in of the local cluster, over a database with two tables
        dumps = TableDumps(database_url=url, bucket=BUCKET, cluster=CLUSTER, s3=s3)
        # WHEN snapshots of the cluster name a table, and only tables already gone
        dumps(CLUSTER, "stackflow-a", {TABLES_TAG: "customers gone"})
        dumps(CLUSTER, "stackflow-b", {TABLES_TAG: "gone"})
        dumps("another-cluster", "stackflow-c", {TABLES_TAG: "customers"})

        def stored(snapshot: str) -> str:
            body = s3.get_object(Bucket=BUCKET, Key=dump_key(snapshot))["Body"].read()
            return str(body.decode())

        # THEN the first dump holds that table (structure and rows) and nothing else
        first = stored("stackflow-a")
        assert "CREATE TABLE public.customers" in first
        assert "ada-the-first" in first
        assert "not-in-the-snapshot" not in first
        # AND a snapshot of tables that no longer exist says so; another cluster's is
        # not this stand-in's to store
        assert "nothing to dump" in stored("stackflow-b")
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        assert sorted(o["Key"] for o in listed) == [dump_key("stackflow-a"),
                                                    dump_key("stackflow-b")]
