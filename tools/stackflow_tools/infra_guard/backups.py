"""Backups before an allowed destructive change, one method per kind in ``stateful``.

* DynamoDB: ``CreateBackup`` (on demand), then ``DescribeBackup`` until ``AVAILABLE``.
* Aurora cluster: ``CreateDBClusterSnapshot``, then ``DescribeDBClusterSnapshots``
  until ``available`` (CloudFormation cannot delete the cluster under a running one).
* RDS instance: ``CreateDBSnapshot`` the same way; an Aurora member holds no data of
  its own (its cluster does), so nothing is taken for it.
* S3 bucket: ``GetBucketVersioning`` must say ``Enabled``; the marker recorded is the
  time just before the change: each object's newest version at or before it is what
  the bucket held. A bucket without versioning refuses the deploy.
* Everything else in the stateful list has no backup the guard can take; the record
  says so.

Every backup is taken, and waited for, before any change set is executed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.errors import BackupFailed

from stackflow_tools.infra_guard.stateful import (
    DYNAMODB_BACKUP,
    NO_BACKUP,
    RDS_CLUSTER_SNAPSHOT,
    RDS_INSTANCE_SNAPSHOT,
    S3_VERSIONING,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

_RDS_UNSAFE = re.compile(r"[^a-z0-9-]+")
_DDB_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class TakeBackup:
    """A planned backup of one resource (a step of the deploy plan)."""

    stack: str
    logical_id: str
    resource_type: str
    physical_id: str
    kind: str
    cluster_member: bool = False  # an Aurora instance (DBClusterIdentifier set)


@dataclass(frozen=True)
class Backup:
    """A backup taken: what it is of and the id that restores it."""

    stack: str
    logical_id: str
    kind: str
    resource: str
    backup_id: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


class Backups:
    """Takes each kind of backup and waits until it can be restored."""

    def __init__(self, *, dynamodb: DynamoDBClient | None = None, rds: Any = None,
                 s3: S3Client | None = None, clock: Callable[[], datetime],
                 sleep: Callable[[float], None] = time.sleep,
                 poll_seconds: float = 10.0) -> None:
        # rds stays Any: the project's boto3-stubs extras do not include RDS.
        self._clients: dict[str, Any] = {"dynamodb": dynamodb, "rds": rds, "s3": s3}
        self._clock = clock
        self._sleep = sleep
        self.poll_seconds = poll_seconds

    def client(self, service: str) -> Any:
        if self._clients[service] is None:
            self._clients[service] = default_client(service)
        return self._clients[service]

    def take(self, step: TakeBackup) -> Backup:
        method = {DYNAMODB_BACKUP: self._dynamodb, RDS_CLUSTER_SNAPSHOT: self._cluster,
                  RDS_INSTANCE_SNAPSHOT: self._instance,
                  S3_VERSIONING: self._s3}.get(step.kind, self._none)
        try:
            return method(step)
        except _aws_errors() as e:
            raise BackupFailed(f"backing up {step.stack}/{step.logical_id} "
                               f"({step.physical_id}): {aws_error(e, step.kind).message}",
                               logical_id=step.logical_id) from e

    def name(self, step: TakeBackup) -> str:
        """``stackflow-<stack>-<logical id>-<UTC time>``."""
        stamp = self._clock().strftime("%Y%m%d-%H%M%S")
        return f"stackflow-{step.stack}-{step.logical_id}-{stamp}"

    def _dynamodb(self, step: TakeBackup) -> Backup:
        ddb = self.client("dynamodb")
        arn = ddb.create_backup(TableName=step.physical_id,
                                BackupName=_DDB_UNSAFE.sub("-", self.name(step))[:255],
                                )["BackupDetails"]["BackupArn"]
        self._until(lambda: ddb.describe_backup(BackupArn=arn)["BackupDescription"]
                    ["BackupDetails"]["BackupStatus"], "AVAILABLE", step)
        return _taken(step, arn, "on-demand backup")

    def _cluster(self, step: TakeBackup) -> Backup:
        rds, name = self.client("rds"), _rds_name(self.name(step))
        rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier=name,
                                       DBClusterIdentifier=step.physical_id)
        self._until(lambda: rds.describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=name)["DBClusterSnapshots"][0]["Status"],
            "available", step)
        return _taken(step, name, "cluster snapshot")

    def _instance(self, step: TakeBackup) -> Backup:
        if step.cluster_member:
            return _taken(step, "", "an Aurora instance: its data is its cluster's")
        rds, name = self.client("rds"), _rds_name(self.name(step))
        rds.create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier=step.physical_id)
        self._until(lambda: rds.describe_db_snapshots(
            DBSnapshotIdentifier=name)["DBSnapshots"][0]["Status"], "available", step)
        return _taken(step, name, "instance snapshot")

    def _s3(self, step: TakeBackup) -> Backup:
        marker = self._clock().isoformat()
        status = self.client("s3").get_bucket_versioning(Bucket=step.physical_id).get("Status")
        if status != "Enabled":
            raise BackupFailed(
                f"bucket {step.physical_id} ({step.stack}/{step.logical_id}) has versioning "
                f"{status or 'never enabled'}: its objects could not be recovered; enable "
                "versioning first", logical_id=step.logical_id)
        return _taken(step, marker, "versioning Enabled; restore each object's newest "
                                    "version at or before this time")

    def _none(self, step: TakeBackup) -> Backup:
        return _taken(step, "", "no backup this type supports")

    def _until(self, status: Callable[[], str], wanted: str, step: TakeBackup) -> None:
        while (now := status()) != wanted:
            if now.upper() in ("FAILED", "DELETED", "DELETING", "ERROR"):
                raise BackupFailed(f"backup of {step.stack}/{step.logical_id} ended {now}",
                                   logical_id=step.logical_id)
            self._sleep(self.poll_seconds)


def _taken(step: TakeBackup, backup_id: str, detail: str) -> Backup:
    return Backup(stack=step.stack, logical_id=step.logical_id,
                  kind=step.kind if backup_id else NO_BACKUP,
                  resource=step.physical_id, backup_id=backup_id, detail=detail)


def _rds_name(name: str) -> str:
    """Letters, digits, single hyphens, a letter first, no hyphen last (RDS's rules)."""
    cleaned = re.sub(r"-{2,}", "-", _RDS_UNSAFE.sub("-", name.lower()))
    return cleaned[:255].strip("-")


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)
