"""The artifacts bucket: release zips, smoke cases and the migration source."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import Settings
from infra.nag import acknowledge

MIGRATIONS_PREFIX = "migrations/"
NONCURRENT_VERSION_DAYS = 90
NONCURRENT_VERSIONS_KEPT = 10
# S3's condition key for `If-None-Match`: absent ("Null" true) on a plain overwrite.
IF_NONE_MATCH = "s3:if-none-match"
MIGRATION_DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")


class ArtifactsBucket(Construct):
    """Versioned, encrypted, private, TLS-only; old versions expire after a while.

    Versioning is what makes a release reproducible: the state machine input names an
    exact ``version_id``, so an overwritten key never changes what a deployment ships.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if settings.stage.retain_data else RemovalPolicy.DESTROY
        self.access_logs = s3.Bucket(
            self, "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=False,
        )
        acknowledge(self.access_logs, "AwsSolutions-S1",
                    "This is the access-log bucket of the artifacts bucket; logging its own "
                    "access would log the log deliveries.")
        self.bucket = s3.Bucket(
            self, "Bucket",
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldVersions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    noncurrent_versions_to_retain=NONCURRENT_VERSIONS_KEPT,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            removal_policy=removal,
        )
        self.migrations_prefix = MIGRATIONS_PREFIX
        self._write_once(self.bucket.arn_for_objects(f"{MIGRATIONS_PREFIX}*"))

    def _write_once(self, migrations: str) -> None:
        """A released migration never changes, for anyone: writes under migrations/ must
        carry ``If-None-Match: *`` (S3 then refuses to replace an existing key), and no
        migration object or version may be deleted (which would let it be written
        anew). Without this, CI, or whoever holds its role, could swap the SQL the
        patcher runs; the append-only check in `stackflow pipeline start` is the
        client's courtesy, this is the rule."""
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="MigrationsAreCreatedNeverReplaced", effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()], actions=["s3:PutObject"],
            resources=[migrations], conditions={"Null": {IF_NONE_MATCH: "true"}}))
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="MigrationsAreNeverDeleted", effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()], actions=list(MIGRATION_DELETE_ACTIONS),
            resources=[migrations]))
