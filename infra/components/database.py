"""The PostgreSQL database StackFlow migrates: a new Aurora cluster or an imported one.

Either way the rest of the app receives a ``DatabaseRef``: the network to run in, the
security group that may reach the database, and one Secrets Manager secret per role
(``host``, ``port``, ``dbname``, ``username``, ``password``). A new cluster gets three
secrets, all rotated every 30 days by AWS's single-user rotation function: the master
user's (read only by the database-roles custom resource), ``stackflow_migrator``'s
(the patcher) and ``stackflow_reader``'s (the drift check, StackFlowAPI).
"""

from __future__ import annotations

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from stackflow.roles import MASTER_USER, MIGRATOR_ROLE, READER_ROLE

from infra.components.database_access import DatabaseClient, DatabaseRef
from infra.components.database_roles import DatabaseRoles
from infra.config import ImportedDatabase, Settings
from infra.nag import acknowledge

__all__ = ["DatabaseClient", "DatabaseRef", "DatabaseStack", "imported_database"]

DATABASE_NAME = "stackflow"
ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_17_5
ROTATION_DAYS = 30
# The database port's ingress rule: who sits in the clients group (python_function's
# ``database=`` puts them there).
CLIENTS_RULE = ("StackFlow database clients: patcher, drift check, StackFlowAPI, "
                "database roles")
FUNCTION_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)


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
        rotation = Duration.days(ROTATION_DAYS)
        # Every rotation function runs where the functions run: it needs Secrets
        # Manager (through the NAT gateway) as well as the database port.
        self.cluster.add_rotation_single_user(automatically_after=rotation,
                                              vpc_subnets=FUNCTION_SUBNETS)
        migrator, reader = (self._role_secret(name, role, rotation) for name, role in
                            (("Migrator", MIGRATOR_ROLE), ("Reader", READER_ROLE)))
        self.ref = DatabaseRef(
            vpc=self.vpc,
            subnets=FUNCTION_SUBNETS,
            client_security_group=self.client_security_group,
            migrator_secret=migrator,
            reader_secret=reader,
            cluster_identifier=self.cluster.cluster_identifier,
            stack=self,
        )
        # Exported whether or not this stage snapshots the cluster (the Snapshot step's
        # DB_CLUSTER_ID): an export that comes and goes with the setting would have to be
        # deleted while the StackFlow stack still imports it, which CloudFormation refuses.
        self.export_value(self.cluster.cluster_identifier)
        self.roles = DatabaseRoles(
            self, "Roles", settings=settings, admin=self.ref.client(secret),
            migrator_secret=migrator, reader_secret=reader, cluster=self.cluster,
            vpc=self.vpc)
        _acknowledge_database_findings(self.cluster, stage.retain_data)

    def _role_secret(self, name: str, role: str,
                     rotation: Duration) -> secretsmanager.ISecret:
        """A generated secret for ``role`` with the cluster's address, rotated by the
        role itself (single user: it changes its own password, no master needed)."""
        secret = rds.DatabaseSecret(self, f"{name}Secret", username=role,
                                    dbname=DATABASE_NAME)
        attached = secret.attach(self.cluster)
        secretsmanager.SecretRotation(
            self, f"{name}Rotation",
            application=secretsmanager.SecretRotationApplication
            .POSTGRES_ROTATION_SINGLE_USER,
            secret=attached, target=self.cluster, vpc=self.vpc,
            vpc_subnets=FUNCTION_SUBNETS, automatically_after=rotation)
        return attached


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
    migrator = secretsmanager.Secret.from_secret_complete_arn(
        scope, "ImportedSecret", imported.secret_arn)
    reader = migrator if imported.reader_secret_arn is None else \
        secretsmanager.Secret.from_secret_complete_arn(
            scope, "ImportedReaderSecret", imported.reader_secret_arn)
    return DatabaseRef(
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnets=[
            ec2.Subnet.from_subnet_attributes(scope, f"ImportedSubnet{i}", subnet_id=sid,
                                              availability_zone=az)
            for i, (sid, az) in enumerate(zip(imported.subnet_ids,
                                              imported.availability_zones, strict=True))
        ]),
        client_security_group=clients,
        migrator_secret=migrator,
        reader_secret=reader,
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
        credentials=rds.Credentials.from_generated_secret(MASTER_USER),
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
    if not retain:
        acknowledge(cluster, "AwsSolutions-RDS10",
                    "Development and staging clusters are disposable; prod enables "
                    "deletion protection.")
