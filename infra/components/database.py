"""The PostgreSQL database StackFlow migrates: a new Aurora cluster or an imported one.

Either way the rest of the app receives a ``DatabaseRef``: the network to run in, the
security group that may reach the database, and the Secrets Manager secret holding the
connection (``host``, ``port``, ``dbname``, ``username``, ``password``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import ImportedDatabase, Settings
from infra.nag import acknowledge

DATABASE_NAME = "stackflow"
ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_17_5
# The database port's ingress rule: who sits in the clients group (python_function's
# ``database=`` puts them there).
CLIENTS_RULE = "StackFlow database clients: patcher, drift check, StackFlowAPI"


@dataclass(frozen=True)
class DatabaseRef:
    """What a database client needs: network placement, client group, secret."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    client_security_group: ec2.ISecurityGroup
    secret: secretsmanager.ISecret
    cluster_identifier: str
    stack: Stack | None = None  # the stack that creates it; None when imported


class DatabaseStack(Stack):
    """``stackflow-<stage>-database``: VPC, Aurora PostgreSQL Serverless v2, its secret."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 environment: Environment | None = None) -> None:
        super().__init__(scope, construct_id, env=environment, stack_name=construct_id,
                         description=f"StackFlow {settings.stage.name}: Aurora PostgreSQL "
                                     "Serverless v2 and its network")
        stage = settings.stage
        self.vpc = _vpc(self, nat_gateways=stage.nat_gateways)
        self.client_security_group = ec2.SecurityGroup(
            self, "DatabaseClients", vpc=self.vpc,
            description="StackFlow functions that connect to the database",
        )
        self.cluster = _cluster(self, settings, self.vpc)
        self.cluster.connections.allow_default_port_from(
            self.client_security_group, CLIENTS_RULE)
        secret = self.cluster.secret
        if secret is None:  # generated credentials always create a secret
            raise RuntimeError("the Aurora cluster has no generated secret")
        self.ref = DatabaseRef(
            vpc=self.vpc,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            client_security_group=self.client_security_group,
            secret=secret,
            cluster_identifier=self.cluster.cluster_identifier,
            stack=self,
        )
        _acknowledge_database_findings(self.cluster, stage.retain_data)


def imported_database(scope: Construct, *, imported: ImportedDatabase) -> DatabaseRef:
    """A ``DatabaseRef`` for an existing cluster named by context values."""
    vpc = ec2.Vpc.from_vpc_attributes(
        scope, "ImportedVpc", vpc_id=imported.vpc_id,
        availability_zones=list(imported.availability_zones),
        private_subnet_ids=list(imported.subnet_ids),
    )
    clients = ec2.SecurityGroup(scope, "DatabaseClients", vpc=vpc,
                                description="StackFlow functions that connect to the database")
    ec2.CfnSecurityGroupIngress(
        scope, "DatabaseClientsIngress",
        group_id=imported.security_group_id, ip_protocol="tcp",
        from_port=imported.port, to_port=imported.port,
        source_security_group_id=clients.security_group_id,
        description=CLIENTS_RULE,
    )
    return DatabaseRef(
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnets=[
            ec2.Subnet.from_subnet_attributes(scope, f"ImportedSubnet{i}", subnet_id=sid,
                                              availability_zone=az)
            for i, (sid, az) in enumerate(zip(imported.subnet_ids,
                                              imported.availability_zones, strict=True))
        ]),
        client_security_group=clients,
        secret=secretsmanager.Secret.from_secret_complete_arn(
            scope, "ImportedSecret", imported.secret_arn),
        cluster_identifier=imported.cluster_identifier,
    )


def _vpc(scope: Construct, *, nat_gateways: int) -> ec2.Vpc:
    vpc = ec2.Vpc(
        scope, "Vpc",
        max_azs=2,
        nat_gateways=nat_gateways,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
            # Functions: they reach AWS APIs through the NAT gateway.
            ec2.SubnetConfiguration(name="functions",
                                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            # The database: no route out at all.
            ec2.SubnetConfiguration(name="database",
                                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ],
    )
    vpc.add_flow_log("FlowLog")
    return vpc


def _cluster(scope: Construct, settings: Settings, vpc: ec2.IVpc) -> rds.DatabaseCluster:
    stage = settings.stage
    readers = [rds.ClusterInstance.serverless_v2("reader", scale_with_writer=True)] \
        if stage.db_reader else []
    return rds.DatabaseCluster(
        scope, "Cluster",
        engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
        credentials=rds.Credentials.from_generated_secret("stackflow_admin"),
        default_database_name=DATABASE_NAME,
        writer=rds.ClusterInstance.serverless_v2("writer"),
        readers=readers,
        serverless_v2_min_capacity=stage.db_min_acu,
        serverless_v2_max_capacity=stage.db_max_acu,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        storage_encrypted=True,
        iam_authentication=True,
        deletion_protection=stage.retain_data,
        backup=rds.BackupProps(retention=Duration.days(30 if stage.retain_data else 7)),
        removal_policy=RemovalPolicy.SNAPSHOT if stage.retain_data else RemovalPolicy.DESTROY,
    )


def _acknowledge_database_findings(cluster: rds.DatabaseCluster, retain: bool) -> None:
    acknowledge(cluster, "AwsSolutions-RDS11",
                "The cluster keeps the PostgreSQL port; only the StackFlow clients security "
                "group may reach it and it has no route to or from the internet.")
    # cluster.secret is the attachment; the generated secret is the cluster's child.
    acknowledge(cluster.node.find_child("Secret"), "AwsSolutions-SMG4",
                "Rotation needs a rotation function inside this VPC; docs/infra.md describes "
                "enabling it with add_rotation_single_user once the stage is live. The "
                "patcher reads the secret on every cold start, so rotation needs no deploy.")
    if not retain:
        acknowledge(cluster, "AwsSolutions-RDS10",
                    "Development and staging clusters are disposable; prod enables "
                    "deletion protection.")
