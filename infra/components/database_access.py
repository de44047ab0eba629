"""How the rest of the app reaches the database: network, client group and one secret
per PostgreSQL role (``stackflow.roles``).

``DatabaseRef`` is the database as a whole (a new cluster or an imported one);
``DatabaseClient`` is one function's way in: the same network and group, and the secret
of the role it logs in as (``ref.migrator`` for the patcher, ``ref.reader`` for the
drift check and StackFlowAPI). No function is given the master user's secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager


@dataclass(frozen=True)
class DatabaseClient:
    """What a database client needs: network placement, client group, its role's secret."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    client_security_group: ec2.ISecurityGroup
    secret: secretsmanager.ISecret


@dataclass(frozen=True)
class DatabaseRef:
    """The database: its network, the clients group, and each role's secret."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    client_security_group: ec2.ISecurityGroup
    migrator_secret: secretsmanager.ISecret
    reader_secret: secretsmanager.ISecret
    cluster_identifier: str
    stack: Stack | None = None  # the stack that creates it; None when imported

    def client(self, secret: secretsmanager.ISecret) -> DatabaseClient:
        return DatabaseClient(vpc=self.vpc, subnets=self.subnets,
                              client_security_group=self.client_security_group,
                              secret=secret)

    @property
    def migrator(self) -> DatabaseClient:
        """The patcher's access: the schema owner's secret."""
        return self.client(self.migrator_secret)

    @property
    def reader(self) -> DatabaseClient:
        """Read-only access (drift check, StackFlowAPI)."""
        return self.client(self.reader_secret)
