"""The resource types whose replacement or removal destroys data: the one list.

A change is *destructive* when CloudFormation would replace (``Replacement: True`` or
``Conditional``) or remove a resource of one of these types. Each entry says why the
type holds data and which backup ``stackflow infra deploy`` takes before an allowed
destructive change (``NO_BACKUP`` where the service has none the guard can take: the
report says so, and the change still needs its ``--allow-replace``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Backup kinds (stackflow_tools.infra_guard.backups implements each).
DYNAMODB_BACKUP = "dynamodb-on-demand-backup"
RDS_CLUSTER_SNAPSHOT = "rds-cluster-snapshot"
RDS_INSTANCE_SNAPSHOT = "rds-instance-snapshot"  # none for an Aurora member: its cluster's
S3_VERSIONING = "s3-versioning-marker"
NO_BACKUP = "none"


@dataclass(frozen=True)
class Stateful:
    """Why a type holds data, and the backup taken before it is replaced or removed."""

    holds: str
    backup: str = NO_BACKUP


STATEFUL_TYPES: dict[str, Stateful] = {
    # Named by the issue.
    "AWS::RDS::DBCluster": Stateful("the Aurora cluster's storage", RDS_CLUSTER_SNAPSHOT),
    "AWS::RDS::DBInstance": Stateful("its databases (an Aurora member's are its cluster's)",
                                     RDS_INSTANCE_SNAPSHOT),
    "AWS::DynamoDB::Table": Stateful("every item", DYNAMODB_BACKUP),
    "AWS::S3::Bucket": Stateful("every object and its versions", S3_VERSIONING),
    "AWS::SecretsManager::Secret": Stateful("credentials nothing else holds (a generated "
                                            "password is generated again)"),
    "AWS::KMS::Key": Stateful("the only way to decrypt what it encrypted"),
    # Every log group, not only those with RetentionInDays: one without keeps its events
    # forever, which is more to lose, not less.
    "AWS::Logs::LogGroup": Stateful("log events (audit, access and flow logs)"),
    "AWS::Cognito::UserPool": Stateful("users and their passwords, which cannot be exported"),
    "AWS::EFS::FileSystem": Stateful("files"),
    # Beyond the list: the same kind of loss elsewhere.
    "AWS::DynamoDB::GlobalTable": Stateful("every item, in every replica region"),
    "AWS::RDS::GlobalCluster": Stateful("the global database's clusters"),
    "AWS::DocDB::DBCluster": Stateful("the cluster's storage"),
    "AWS::Neptune::DBCluster": Stateful("the cluster's storage"),
    "AWS::Redshift::Cluster": Stateful("the warehouse's tables"),
    "AWS::OpenSearchService::Domain": Stateful("indices"),
    "AWS::ElastiCache::ReplicationGroup": Stateful("cached and persisted keys"),
    "AWS::EC2::Volume": Stateful("a block device's data"),
    "AWS::FSx::FileSystem": Stateful("files"),
    "AWS::Kinesis::Stream": Stateful("records within their retention period"),
    "AWS::SQS::Queue": Stateful("messages not yet processed"),
    "AWS::ECR::Repository": Stateful("container images"),
    "AWS::Backup::BackupVault": Stateful("recovery points: the backups themselves"),
    "AWS::Timestream::Table": Stateful("time-series records"),
}


def stateful(resource_type: str) -> Stateful | None:
    """The entry for ``resource_type``, or None when losing the resource loses no data."""
    return STATEFUL_TYPES.get(resource_type)
