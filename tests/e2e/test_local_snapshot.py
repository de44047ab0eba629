"""A release that drops a column takes a cluster snapshot first, end to end in local mode.

One local environment: the sample schema plus a column with data, then a release whose
contract migration drops that column. The synthesized definition (with the stage's
snapshot setting on, tests/e2e/conftest.py) runs Snapshot before Migrate; moto holds
the snapshot, local mode's stand-in for its storage holds the table's dump, and the
deployment record and ``stackflow history`` name it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
from stackflow import env
from stackflow.deploy.snapshot import EXECUTION_TAG, TABLES_TAG
from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions
from stackflow_tools.local.snapshots import dump_key

from tests.e2e.local_support import applied_migrations, record, states_entered
from tests.support.postgres import fresh_database

PATCHER_HANDLER = "patcher.handler.handler"
EXECUTION_NAME = "drop-nickname-1"
SNAPSHOT = f"stackflow-{EXECUTION_NAME}"
NICKNAMES = ("ada-the-first", "grace-the-compiler")


def write(folder: Path, name: str, up: str, down: str) -> None:
    (folder / f"{name}.up.sql").write_text(up)
    (folder / f"{name}.down.sql").write_text(down)


def column_exists(database_url: str, table: str, column: str) -> bool:
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = %s "
                             "AND column_name = %s", (table, column)).fetchone()
        return found is not None


def history(local: LocalMode) -> str:
    """``stackflow history`` from another process, against this local AWS."""
    done = subprocess.run(
        [sys.executable, "-m", "stackflow_tools.cli.main", "history", local.function_name,
         "--table", local.table_name()],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def _nicknames_then_their_drop(local: LocalMode, url: str, migrations: Path) -> None:
    """The schema up to customers.nickname, customers with nicknames, and a contract
    migration dropping the column uploaded for the next release."""
    assert local.stack is not None
    patcher = local.stack.function_by_handler(PATCHER_HANDLER)
    answer = local.local_aws.client("lambda").invoke(
        FunctionName=patcher, Payload=b'{"action":"migrate","applied_by":"earlier-run"}')
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert applied_migrations(url) == [1, 2, 3, 4, 5]
    with psycopg.connect(url, autocommit=True) as conn:
        for nickname in NICKNAMES:
            conn.execute("INSERT INTO customers (email, name, nickname) VALUES "
                         "(%s, 'customer', %s)", (f"{nickname}@example.com", nickname))
    write(migrations, "0006_drop_customer_nickname",
          "-- stackflow:phase contract\nALTER TABLE customers DROP COLUMN nickname;\n",
          "ALTER TABLE customers ADD COLUMN nickname text;\n")
    local.upload_migrations()


@contextmanager
def _local_with_nickname(cdk_out: Path, pg_admin_uri: str, tmp_path: Path
                         ) -> Iterator[tuple[LocalMode, str]]:
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", migrations)
    write(migrations, "0005_add_customer_nickname",
          "ALTER TABLE customers ADD COLUMN nickname text;\n",
          "ALTER TABLE customers DROP COLUMN nickname;\n")
    with fresh_database(pg_admin_uri) as url, LocalMode(LocalOptions(
            cdk_out=cdk_out, workdir=tmp_path, database_url=url, time_scale=0.001,
            migrations_dir=migrations)) as local:
        _nicknames_then_their_drop(local, url, migrations)
        yield local, url


def _snapshot_cluster(local: LocalMode) -> str:
    assert local.stack is not None
    cluster = local.stack.env_value(
        local.stack.function_by_handler("deploy_steps.handler.snapshot"), env.DB_CLUSTER_ID)
    assert cluster, "the snapshot function has no cluster to snapshot"
    return cluster


def test_a_release_dropping_a_column_snapshots_the_cluster_before_migrate(
        cdk_out: Path, pg_admin_uri: str, tmp_path: Path) -> None:
    # GIVEN customers with nicknames, and a release whose contract migration drops them
    with _local_with_nickname(cdk_out, pg_admin_uri, tmp_path) as (local, url):
        # WHEN it runs
        result = local.release("good", "1.1.0", strategy={"preset": "AllAtOnce"},
                               name=EXECUTION_NAME)

        # THEN it succeeds and the column is gone
        assert result.status == "SUCCEEDED", result.cause
        assert applied_migrations(url) == [1, 2, 3, 4, 5, 6]
        assert not column_exists(url, "customers", "nickname")
        # AND the snapshot was taken, and waited for, before any migration ran
        entered = states_entered(local, result.execution_arn)
        assert entered.index("SchemaBefore") < entered.index("SnapshotNeeded") \
            < entered.index("Snapshot") < entered.index("SnapshotReady") \
            < entered.index("Migrate") < entered.index("MigrateContract")
        assert "SnapshotWait" in entered  # RDS (moto) said "creating" first
        assert entered.count("Snapshot") == entered.count("SnapshotWait") + 1
        # AND the snapshot is the local cluster's, available, tagged as the step tags it
        cluster = _snapshot_cluster(local)
        (described,) = local.local_aws.client("rds").describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=SNAPSHOT)["DBClusterSnapshots"]
        assert (described["DBClusterIdentifier"], described["Status"]) == (cluster, "available")
        tags = {t["Key"]: t["Value"] for t in described["TagList"]}
        assert tags == {EXECUTION_TAG: EXECUTION_NAME, TABLES_TAG: "customers"}
        # AND its stand-in storage holds the table as it was, nicknames included
        dump = local.local_aws.client("s3").get_object(
            Bucket=local.artifacts_bucket, Key=dump_key(SNAPSHOT))["Body"].read().decode()
        assert "nickname text" in dump
        assert all(nickname in dump for nickname in NICKNAMES)
        # AND the deployment record names the snapshot
        saved = record(local, result.execution_arn)
        assert {k: v for k, v in saved["snapshot"].items() if k != "created_at"} == {
            "snapshot_id": SNAPSHOT, "cluster": cluster, "status": "available",
            "tables": ["customers"]}
        assert [s["outcome"] for s in saved["steps"] if s["name"] == "snapshot"] == [
            "succeeded"]
        # AND `stackflow history` shows it under the deployment
        assert (f"snapshot {SNAPSHOT} of cluster {cluster} (available): tables customers"
                in history(local))


def test_a_snapshot_rds_reports_failed_stops_the_release_before_any_migration(
        cdk_out: Path, pg_admin_uri: str, tmp_path: Path) -> None:
    # GIVEN customers with nicknames, and a release whose contract migration drops them
    with _local_with_nickname(cdk_out, pg_admin_uri, tmp_path) as (local, url):
        lambda_ = local.local_aws.client("lambda")
        before = lambda_.get_alias(FunctionName=local.function_name, Name=local.alias)
        # AND RDS fails the snapshot (its storage, local mode's stand-in, gives out)
        def storage_fails(cluster: str, snapshot_id: str, tags: Mapping[str, str]) -> None:
            raise OSError("snapshot storage unavailable")

        local.local_aws.snapshot_hooks.insert(0, storage_fails)

        # WHEN the release runs
        result = local.release("good", "1.1.0", strategy={"preset": "AllAtOnce"},
                               name=EXECUTION_NAME)

        # THEN it fails as SnapshotFailed, naming the snapshot and its state
        assert result.status == "FAILED"
        assert result.error == "SnapshotFailed", result.cause
        assert f"snapshot {SNAPSHOT} of cluster {_snapshot_cluster(local)} is failed" \
            in str(result.cause)
        # AND no migration ran: the column and every nickname are still there
        entered = states_entered(local, result.execution_arn)
        assert "Snapshot" in entered
        assert "Migrate" not in entered
        assert applied_migrations(url) == [1, 2, 3, 4, 5]
        assert column_exists(url, "customers", "nickname")
        with psycopg.connect(url) as conn:
            kept = conn.execute("SELECT nickname FROM customers WHERE nickname IS NOT NULL "
                                "ORDER BY nickname").fetchall()
        assert [row[0] for row in kept] == sorted(NICKNAMES)
        # AND traffic stays where it was
        after = lambda_.get_alias(FunctionName=local.function_name, Name=local.alias)
        assert (after["FunctionVersion"], after.get("RoutingConfig")) == (
            before["FunctionVersion"], before.get("RoutingConfig"))
        # AND the record and `stackflow history` say the snapshot failed
        saved = record(local, result.execution_arn)
        assert saved["snapshot"]["status"] == "failed"
        assert [s["outcome"] for s in saved["steps"] if s["name"] == "snapshot"] == ["failed"]
        assert f"snapshot {SNAPSHOT} of cluster" in history(local)
        assert "(failed)" in history(local)
