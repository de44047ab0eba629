"""Scheduled drift checks: the drift Lambda, its EventBridge schedule and permissions.

CloudFormation reads every resource of a stack with the *caller's* credentials during
drift detection, so besides the CloudFormation actions (on the named stacks only) the
function holds a fixed list of read-only Describe/Get/List actions for the resource
types StackFlow's stacks contain. Each is granted on the ARNs of the resources of that
type in those stacks (found by walking the stacks' resources), in one customer managed
policy; ``Resource: *`` is kept only for the actions in ``UNSCOPED_READS``, which have
no resource-level permissions, each with its reason. No action is a wildcard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, CfnResource, Duration, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct
from stackflow import env

from infra.components.database import DatabaseRef
from infra.components.functions import python_function
from infra.components.patcher import grant_migration_source
from infra.config import Settings
from infra.nag import acknowledge, wildcard_finding

DRIFT_TIMEOUT = Duration.minutes(15)
PENDING_MAX_AGE_HOURS = 24

# Detection on the named stacks; the status poll takes a detection id, not a stack.
STACK_DRIFT_ACTIONS = (
    "cloudformation:DetectStackDrift",
    "cloudformation:DetectStackResourceDrift",
    "cloudformation:DescribeStackResourceDrifts",
    "cloudformation:DescribeStacks",
)
DETECTION_STATUS_ACTION = "cloudformation:DescribeStackDriftDetectionStatus"
# The alias check reads where each managed alias points (aliases outside the stacks too).
ALIAS_READ_ACTION = "lambda:GetAlias"

ArnsOf = Callable[[Construct, CfnResource], list[str]]


@dataclass(frozen=True)
class ResourceReads:
    """What drift detection reads on resources of ``types``, and how to name one."""

    sid: str
    types: tuple[str, ...]
    actions: tuple[str, ...]
    arns: ArnsOf


def _arn(_: Construct, resource: CfnResource) -> list[str]:
    return [resource.get_att("Arn").to_string()]


def _ref(_: Construct, resource: CfnResource) -> list[str]:
    return [resource.ref]  # the Ref of these types is their ARN


def _function(scope: Construct, resource: CfnResource) -> list[str]:
    # Versions, aliases and their permissions are read through qualified ARNs.
    arn = resource.get_att("Arn").to_string()
    name = getattr(resource, "function_name", None)
    if Stack.of(resource) is not Stack.of(scope) and isinstance(name, str) \
            and not Token.is_unresolved(name):
        # Another stack's function with a fixed name (the database-roles function):
        # its ARN from the name, not a stack export, so the `:*` finding stays nameable.
        arn = Stack.of(scope).format_arn(service="lambda", resource="function",
                                         resource_name=name,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)
    return [arn, f"{arn}:*"]


def _named(service: str, resource_type: str, *, suffix: str = "",
           arn_format: ArnFormat = ArnFormat.COLON_RESOURCE_NAME) -> ArnsOf:
    def arns(scope: Construct, resource: CfnResource) -> list[str]:
        return [Stack.of(scope).format_arn(service=service, resource=resource_type,
                                           resource_name=f"{resource.ref}{suffix}",
                                           arn_format=arn_format)]
    return arns


def _http_api(scope: Construct, resource: CfnResource) -> list[str]:
    # API Gateway's ARNs are paths; routes, integrations and stages sit below the API.
    api = Stack.of(scope).format_arn(service="apigateway", account="", resource="/apis",
                                     resource_name=resource.ref,
                                     arn_format=ArnFormat.SLASH_RESOURCE_NAME)
    return [api, f"{api}/*"]


# What CloudFormation's drift detection reads, per resource type in StackFlow's stacks.
RESOURCE_READS: tuple[ResourceReads, ...] = (
    ResourceReads("ReadFunctions", ("AWS::Lambda::Function",), (
        "lambda:GetFunction", "lambda:GetFunctionConfiguration", ALIAS_READ_ACTION,
        "lambda:GetPolicy", "lambda:ListVersionsByFunction",
        "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionConcurrency",
        "lambda:GetFunctionRecursionConfig", "lambda:GetRuntimeManagementConfig",
        "lambda:GetProvisionedConcurrencyConfig"), _function),
    ResourceReads("ReadRoles", ("AWS::IAM::Role",), (
        "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies"), _arn),
    ResourceReads("ReadOidcProvider", ("AWS::IAM::OIDCProvider",),
                  ("iam:GetOpenIDConnectProvider",), _ref),
    ResourceReads("ReadBuckets", ("AWS::S3::Bucket",), (
        "s3:GetBucketPolicy", "s3:GetBucketVersioning", "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration", "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketLogging", "s3:GetBucketTagging", "s3:GetBucketOwnershipControls",
        "s3:GetBucketLocation"), _arn),
    ResourceReads("ReadTables", ("AWS::DynamoDB::Table",), (
        "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups",
        "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource",
        "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:DescribeContributorInsights", "dynamodb:GetResourcePolicy"), _arn),
    ResourceReads("ReadTopics", ("AWS::SNS::Topic",), (
        "sns:GetTopicAttributes", "sns:ListTagsForResource",
        "sns:GetDataProtectionPolicy"), _ref),
    ResourceReads("ReadKeys", ("AWS::KMS::Key",), (
        "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
        "kms:ListResourceTags"), _arn),
    ResourceReads("ReadLogGroupTags", ("AWS::Logs::LogGroup",),
                  ("logs:ListTagsForResource",), _named("logs", "log-group")),
    ResourceReads("ReadStateMachines", ("AWS::StepFunctions::StateMachine",), (
        "states:DescribeStateMachine", "states:ListTagsForResource"), _ref),
    ResourceReads("ReadRules", ("AWS::Events::Rule",), (
        "events:DescribeRule", "events:ListTargetsByRule"), _arn),
    ResourceReads("ReadAlarms", ("AWS::CloudWatch::Alarm",), (
        "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"), _arn),
    ResourceReads("ReadHttpApis", ("AWS::ApiGatewayV2::Api",), ("apigateway:GET",),
                  _http_api),
    ResourceReads("ReadDbClusters", ("AWS::RDS::DBCluster",), (
        "rds:DescribeDBClusters", "rds:ListTagsForResource"), _named("rds", "cluster")),
    ResourceReads("ReadDbInstances", ("AWS::RDS::DBInstance",), (
        "rds:DescribeDBInstances", "rds:ListTagsForResource"), _named("rds", "db")),
    ResourceReads("ReadDbSubnetGroups", ("AWS::RDS::DBSubnetGroup",), (
        "rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"), _named("rds", "subgrp")),
    ResourceReads("ReadSecrets", ("AWS::SecretsManager::Secret",), (
        "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"), _ref),
)

# Read actions with no resource-level permissions: granted on `*`, each for a reason.
EC2_DESCRIBE_REASON = (
    "EC2 Describe* actions support no resource-level permissions; CloudFormation reads "
    "the database stack's VPC, subnets, routes, gateways, addresses, security groups "
    "and flow log with them.")
UNSCOPED_READS: Mapping[str, str] = {
    DETECTION_STATUS_ACTION: "The detection status call takes a detection id, not a "
                             "stack, and supports no resource-level permissions.",
    **{action: EC2_DESCRIBE_REASON for action in (
        "ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables", "ec2:DescribeInternetGateways",
        "ec2:DescribeNatGateways", "ec2:DescribeAddresses",
        "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeFlowLogs", "ec2:DescribeTags")},
}
# DescribeLogGroups lists; it is authorized against every log group of the account and
# region (log-group:*), never one group. It returns settings, not log events.
LOG_GROUP_LIST_ACTION = "logs:DescribeLogGroups"
DRIFT_STATE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")

# IAM allows 6,144 characters per managed policy. A resolved ARN here is about 70
# characters of partition, service, region, account and type plus a name CloudFormation
# generates from the stack name, the logical id and 13 random characters; 206 leaves
# room for a 40-character stack name and an 80-character logical id. tests/infra checks
# the synthesized policies against the limit with such long names.
POLICY_BUDGET_CHARS = 6144 - 144
RESOURCE_BOUND_CHARS = 206
STATEMENT_OVERHEAD_CHARS = 96

SUBRESOURCE_REASON = (
    "The pattern adds only sub-resources of one named resource of these stacks: a "
    "function's versions and aliases, or an HTTP API's routes, integrations and stages.")
# Why a statement's resource holds a `*` (cdk-nag IAM5), by statement id.
WILDCARD_REASONS: Mapping[str, str] = {
    "ReadFunctions": SUBRESOURCE_REASON,
    "ReadHttpApis": SUBRESOURCE_REASON,
    "ListLogGroups": "DescribeLogGroups is authorized against every log group of the "
                     "account and region (log-group:*), never one group; it returns "
                     "settings, not log events.",
    "ReadWithoutResourceLevelPermissions":
        "Only actions without resource-level permissions use Resource *: "
        + " ".join(dict.fromkeys(UNSCOPED_READS.values())),
}


def stack_arn(scope: Construct, stack_name: str) -> str:
    """The ARN pattern of every incarnation (stack id) of the named stack."""
    return Stack.of(scope).format_arn(service="cloudformation", resource="stack",
                                      resource_name=f"{stack_name}/*",
                                      arn_format=ArnFormat.SLASH_RESOURCE_NAME)


class DriftCheck(Construct):
    """The scheduled drift report: stacks, aliases and schema, in one run.

    ``read_stacks`` are the stacks (objects) behind ``stacks`` (names) that this app
    defines: their resources are what CloudFormation reads during detection.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 stacks: Sequence[str], read_stacks: Sequence[Stack],
                 managed_aliases: Sequence[str],
                 table: dynamodb.ITable, topic: sns.ITopic, topic_key: kms.IKey,
                 database: DatabaseRef, bucket: s3.IBucket, migrations_prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.stacks = tuple(stacks)
        self.function: lambda_.Function = python_function(
            self, "Function",
            settings=settings,
            component="drift_check",
            handler="drift_check.handler.handler",
            description="StackFlow drift report: stacks, aliases and schema",
            timeout=DRIFT_TIMEOUT,
            memory_size=512,
            database=database.reader,
            environment={
                env.DRIFT_STACKS: ",".join(self.stacks),
                env.DRIFT_TOPIC_ARN: topic.topic_arn,
                env.DRIFT_MANAGED_ALIASES: ",".join(managed_aliases),
                env.DRIFT_PENDING_MAX_AGE_HOURS: str(PENDING_MAX_AGE_HOURS),
                env.DEPLOY_TABLE: table.table_name,
                env.MIGRATIONS_BUCKET: bucket.bucket_name,
                env.MIGRATIONS_PREFIX: migrations_prefix,
            },
        )
        self._grant(table, topic, topic_key, bucket, migrations_prefix)
        self.schedule = events.Rule(
            self, "Schedule",
            description=f"StackFlow {settings.stage.name} drift check",
            schedule=events.Schedule.rate(Duration.hours(settings.stage.drift_rate_hours)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        # Last, so the walk sees this construct's own function, role and schedule too.
        self.reads = self._read_policy(read_stacks, managed_aliases)

    def _grant(self, table: dynamodb.ITable, topic: sns.ITopic, topic_key: kms.IKey,
               bucket: s3.IBucket, migrations_prefix: str) -> None:
        fn = self.function
        stack_arns = [stack_arn(self, name) for name in self.stacks]
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="DetectDriftOnNamedStacks", actions=list(STACK_DRIFT_ACTIONS),
            resources=stack_arns))
        for arn in stack_arns:
            acknowledge(fn.role or fn, wildcard_finding(self, arn),
                        "A stack ARN ends in its stack id, which changes when the stack is "
                        "recreated; the name part is fixed to one StackFlow stack.")
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="DriftState", actions=list(DRIFT_STATE_ACTIONS),
            resources=[table.table_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="Notify", actions=["sns:Publish"], resources=[topic.topic_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="EncryptNotifications", actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[topic_key.key_arn]))
        grant_migration_source(fn, bucket, migrations_prefix)

    def _read_policy(self, read_stacks: Sequence[Stack],
                     managed_aliases: Sequence[str]) -> list[iam.ManagedPolicy]:
        # Managed policies of their own: the statements name this function and its
        # schedule, which the role's default policy cannot (the function waits for that
        # policy), and the resource lists exceed what one policy may hold.
        statements = [*resource_read_statements(self, _resources(read_stacks)),
                      *self._alias_statements(managed_aliases, read_stacks),
                      *unscoped_read_statements(self)]
        policies = []
        for index, chunk in enumerate(pack_statements(statements), start=1):
            policy = iam.ManagedPolicy(
                self, f"ReadStackResources{index}",
                description="StackFlow drift check: read what CloudFormation compares",
                statements=chunk)
            if self.function.role is not None:
                policy.attach_to_role(self.function.role)
            self._acknowledge_wildcards(policy, chunk)
            policies.append(policy)
        return policies

    def _acknowledge_wildcards(self, policy: iam.ManagedPolicy,
                               statements: Sequence[iam.PolicyStatement]) -> None:
        for statement in statements:
            for resource in statement.resources:
                if "*" in str(Stack.of(self).resolve(resource)):
                    acknowledge(policy, wildcard_finding(self, resource),
                                WILDCARD_REASONS[str(statement.sid)])

    def _alias_statements(self, managed_aliases: Sequence[str],
                          read_stacks: Sequence[Stack]) -> list[iam.PolicyStatement]:
        # Aliases of functions outside the stacks (the `managed_aliases` context value);
        # the stacks' own functions are covered by ReadFunctions.
        own = {r.function_name for r in _resources(read_stacks)
               if isinstance(r, lambda_.CfnFunction)}
        arns = []
        for pair in managed_aliases:
            function, _, alias = pair.rpartition(":")
            if function and function not in own:
                arns.append(Stack.of(self).format_arn(
                    service="lambda", resource="function",
                    resource_name=f"{function}:{alias}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME))
        if not arns:
            return []
        return [iam.PolicyStatement(sid="ReadManagedAliases", actions=[ALIAS_READ_ACTION],
                                    resources=arns)]


def pack_statements(statements: Sequence[iam.PolicyStatement], *,
                    budget: int = POLICY_BUDGET_CHARS) -> list[list[iam.PolicyStatement]]:
    """Statements in order, in as few groups as fit one managed policy each."""
    chunks: list[list[iam.PolicyStatement]] = []
    used = budget
    for statement in statements:
        size = statement_size_bound(statement)
        if used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(statement)
        used += size
    return chunks


def statement_size_bound(statement: iam.PolicyStatement) -> int:
    """An upper bound of a statement's size once CloudFormation resolves its ARNs."""
    return (STATEMENT_OVERHEAD_CHARS + sum(len(a) + 3 for a in statement.actions)
            + len(statement.resources) * RESOURCE_BOUND_CHARS)


def _resources(stacks: Iterable[Stack]) -> list[CfnResource]:
    return [c for stack in stacks for c in stack.node.find_all()
            if isinstance(c, CfnResource)]


def resource_read_statements(scope: Construct,
                             resources: Iterable[CfnResource]) -> list[iam.PolicyStatement]:
    """One statement per kind of resource present, naming each such resource."""
    found = list(resources)
    statements = []
    for reads in RESOURCE_READS:
        arns = [arn for r in found if r.cfn_resource_type in reads.types
                for arn in reads.arns(scope, r)]
        if arns:
            statements.append(iam.PolicyStatement(
                sid=reads.sid, actions=list(reads.actions), resources=arns))
    return statements


def unscoped_read_statements(scope: Construct) -> list[iam.PolicyStatement]:
    log_groups = Stack.of(scope).format_arn(service="logs", resource="log-group",
                                            resource_name="*",
                                            arn_format=ArnFormat.COLON_RESOURCE_NAME)
    return [
        iam.PolicyStatement(sid="ListLogGroups", actions=[LOG_GROUP_LIST_ACTION],
                            resources=[log_groups]),
        iam.PolicyStatement(sid="ReadWithoutResourceLevelPermissions",
                            actions=list(UNSCOPED_READS), resources=["*"]),
    ]

