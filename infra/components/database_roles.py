"""The database-roles custom resource: the function that creates StackFlow's roles.

It runs on every deploy that changes the roles' SQL or a secret, as the master user,
inside the database's network; it is the only function that may read the master
secret (and the two role secrets, for the passwords it sets). See
``functions/database_roles/handler.py`` and ``stackflow.adapters.postgres_roles``.
"""

from __future__ import annotations

import hashlib

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from stackflow import env

from infra.assets import REPO_ROOT
from infra.components.database_access import DatabaseClient
from infra.components.functions import python_function
from infra.config import Settings

RESOURCE_TYPE = "Custom::StackFlowDatabaseRoles"
FUNCTION_NAME = "StackFlowDatabaseRoles"
# What decides the roles: their SQL and the role names. A change re-runs the resource.
ROLES_SOURCES = ("functions/stackflow/adapters/postgres_roles.py",
                 "functions/stackflow/roles.py")


def roles_revision() -> str:
    """SHA-256 of the sources that define the roles (a property of the resource)."""
    digest = hashlib.sha256()
    for source in ROLES_SOURCES:
        digest.update((REPO_ROOT / source).read_bytes())
    return digest.hexdigest()


class DatabaseRoles(Construct):
    """The roles function and the custom resource CloudFormation invokes it through."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 admin: DatabaseClient, migrator_secret: secretsmanager.ISecret,
                 reader_secret: secretsmanager.ISecret, cluster: rds.DatabaseCluster,
                 vpc: ec2.Vpc) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self, "Function",
            settings=settings,
            component="database_roles",
            handler="database_roles.handler.handler",
            description="StackFlow database roles: creates stackflow_migrator and "
                        "stackflow_reader as the master user (custom resource)",
            function_name=settings.physical_name(FUNCTION_NAME),
            timeout=Duration.minutes(2),
            database=admin,
            environment={env.DB_MIGRATOR_SECRET_ARN: migrator_secret.secret_arn,
                         env.DB_READER_SECRET_ARN: reader_secret.secret_arn},
        )
        migrator_secret.grant_read(self.function)
        reader_secret.grant_read(self.function)
        self.resource = CustomResource(
            self, "Roles", service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={"Revision": roles_revision(),
                        "MigratorSecret": migrator_secret.secret_arn,
                        "ReaderSecret": reader_secret.secret_arn})
        # The writer must accept connections, and the function must reach Secrets
        # Manager and CloudFormation's response URL through the NAT gateway.
        self.resource.node.add_dependency(cluster)
        self.resource.node.add_dependency(vpc.internet_connectivity_established)
