"""StackFlowPatcher: the migration Lambda, inside the database's network."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from stackflow import env

from infra.components.database import DatabaseRef
from infra.components.functions import python_function
from infra.config import Settings
from infra.nag import acknowledge, wildcard_finding

PATCHER_NAME = "StackFlowPatcher"
PATCHER_TIMEOUT = Duration.minutes(15)  # a migration may rewrite a large table


class Patcher(Construct):
    """Runs ``migrate`` / ``status`` / ``rollback`` with credentials from Secrets Manager.

    The migration source is the ``migrations/`` prefix of the artifacts bucket, so the
    SQL a deployment applies is the SQL CI uploaded with its artifact.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 database: DatabaseRef, bucket: s3.IBucket, migrations_prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.function_name = settings.physical_name(PATCHER_NAME)
        self.timeout = PATCHER_TIMEOUT
        self.function: lambda_.Function = python_function(
            self, "Function",
            settings=settings,
            component="patcher",
            handler="patcher.handler.handler",
            description="StackFlowPatcher: applies and rolls back PostgreSQL migrations",
            function_name=self.function_name,
            timeout=self.timeout,
            memory_size=512,
            database=database.migrator,
            environment={
                env.MIGRATIONS_BUCKET: bucket.bucket_name,
                env.MIGRATIONS_PREFIX: migrations_prefix,
            },
        )
        grant_migration_source(self.function, bucket, migrations_prefix)


def grant_migration_source(function: lambda_.IFunction, bucket: s3.IBucket,
                           prefix: str) -> None:
    """List and read the migration files under ``prefix``, nothing else in the bucket."""
    objects = bucket.arn_for_objects(f"{prefix}*")
    function.add_to_role_policy(iam.PolicyStatement(
        actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[objects]))
    function.add_to_role_policy(iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*", prefix]}},
    ))
    if function.role is not None:
        acknowledge(function.role, wildcard_finding(function, objects),
                    "The migration source is every file under the migrations prefix; "
                    "CI adds files there with each release.")
