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


def test_a_release_dropping_a_column_snapshots_the_cluster_before_migrate(
        cdk_out: Path, pg_admin_uri: str, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", migrations)
    write(migrations, "0005_add_customer_nickname",
          "ALTER TABLE customers ADD COLUMN nickname text;\n",
          "ALTER TABLE customers DROP COLUMN nickname;\n")
    with fresh_database(pg_admin_uri) as url, LocalMode(LocalOptions(
            cdk_out=cdk_out, workdir=tmp_path, database_url=url, time_scale=0.001,
            migrations_dir=migrations)) as local:
        assert local.stack is not None
        # GIVEN the schema up to customers.nickname, and customers with nicknames
        patcher = local.stack.function_by_handler(PATCHER_HANDLER)
        answer = local.local_aws.client("lambda").invoke(
            FunctionName=patcher, Payload=b'{"action":"migrate","applied_by":"earlier-run"}')
        assert "FunctionError" not in answer, answer["Payload"].read()
        assert applied_migrations(url) == [1, 2, 3, 4, 5]
        with psycopg.connect(url, autocommit=True) as conn:
            for nickname in NICKNAMES:
                conn.execute("INSERT INTO customers (email, name, nickname) VALUES "
                             "(%s, 'customer', %s)", (f"{nickname}@example.com", nickname))
        # AND a release whose contract migration drops the column
        write(migrations, "0006_drop_customer_nickname",
              "-- stackflow:phase contract\nALTER TABLE customers DROP COLUMN nickname;\n",
              "ALTER TABLE customers ADD COLUMN nickname text;\n")
        local.upload_migrations()

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
        cluster = local.stack.env_value(
            local.stack.function_by_handler("deploy_steps.handler.snapshot"),
            env.DB_CLUSTER_ID)
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
