"""Scheduled drift checks: the drift Lambda, its EventBridge schedule and permissions.

CloudFormation reads every resource of a stack with the *caller's* credentials during
drift detection, so besides the CloudFormation actions (on the named stacks only) the
function holds a fixed list of read-only Describe/Get/List actions for the resource
types StackFlow's stacks contain. No action is a wildcard.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
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
from infra.components.functions import NetworkPlacement, python_function
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

# What CloudFormation's drift detection reads, per resource type in StackFlow's stacks.
DRIFT_READ_ACTIONS = (
    # Lambda functions, versions, aliases, permissions
    "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:GetAlias",
    "lambda:GetPolicy", "lambda:ListVersionsByFunction", "lambda:GetFunctionCodeSigningConfig",
    "lambda:GetFunctionConcurrency", "lambda:GetFunctionRecursionConfig",
    "lambda:GetRuntimeManagementConfig", "lambda:GetProvisionedConcurrencyConfig",
    # IAM roles, policies, the OIDC provider
    "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies", "iam:GetOpenIDConnectProvider",
    # S3 buckets and bucket policies
    "s3:GetBucketPolicy", "s3:GetBucketVersioning", "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration", "s3:GetBucketPublicAccessBlock", "s3:GetBucketLogging",
    "s3:GetBucketTagging", "s3:GetBucketOwnershipControls", "s3:GetBucketLocation",
    # DynamoDB
    "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups",
    "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource",
    "dynamodb:DescribeKinesisStreamingDestination", "dynamodb:DescribeContributorInsights",
    "dynamodb:GetResourcePolicy",
    # SNS, KMS, Logs, Step Functions, EventBridge, CloudWatch, API Gateway
    "sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:GetDataProtectionPolicy",
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
    "logs:DescribeLogGroups", "logs:ListTagsForResource",
    "states:DescribeStateMachine", "states:ListTagsForResource",
    "events:DescribeRule", "events:ListTargetsByRule",
    "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource",
    "apigateway:GET",
    # The database stack: network, cluster, secret metadata (never its value)
    "ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables", "ec2:DescribeInternetGateways", "ec2:DescribeNatGateways",
    "ec2:DescribeAddresses", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeFlowLogs", "ec2:DescribeTags",
    "rds:DescribeDBClusters", "rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups",
    "rds:ListTagsForResource",
    "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy",
)
DRIFT_STATE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")

READ_REASON = (
    "CloudFormation drift detection reads each stack resource with the caller's "
    "credentials and the detection status call takes an id, not a stack; the statement "
    "lists named read-only actions, and X-Ray's trace actions need Resource * too.")


def stack_arn(scope: Construct, stack_name: str) -> str:
    """The ARN pattern of every incarnation (stack id) of the named stack."""
    return Stack.of(scope).format_arn(service="cloudformation", resource="stack",
                                      resource_name=f"{stack_name}/*",
                                      arn_format=ArnFormat.SLASH_RESOURCE_NAME)


class DriftCheck(Construct):
    """The scheduled drift report: stacks, aliases and schema, in one run."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 stacks: Sequence[str], managed_aliases: Sequence[str],
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
            wildcard_reason=READ_REASON,
            network=NetworkPlacement(vpc=database.vpc, subnets=database.subnets,
                                     security_groups=[database.client_security_group]),
            environment={
                env.DRIFT_STACKS: ",".join(self.stacks),
                env.DRIFT_TOPIC_ARN: topic.topic_arn,
                env.DRIFT_MANAGED_ALIASES: ",".join(managed_aliases),
                env.DRIFT_PENDING_MAX_AGE_HOURS: str(PENDING_MAX_AGE_HOURS),
                env.DEPLOY_TABLE: table.table_name,
                env.DB_SECRET_ARN: database.secret.secret_arn,
                env.MIGRATIONS_BUCKET: bucket.bucket_name,
                env.MIGRATIONS_PREFIX: migrations_prefix,
            },
        )
        self._grant(table, topic, topic_key, database, bucket, migrations_prefix)
        self.schedule = events.Rule(
            self, "Schedule",
            description=f"StackFlow {settings.stage.name} drift check",
            schedule=events.Schedule.rate(Duration.hours(settings.stage.drift_rate_hours)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    def _grant(self, table: dynamodb.ITable, topic: sns.ITopic, topic_key: kms.IKey,
               database: DatabaseRef, bucket: s3.IBucket, migrations_prefix: str) -> None:
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
            sid="ReadStackResources",
            actions=[DETECTION_STATUS_ACTION, *DRIFT_READ_ACTIONS], resources=["*"]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="DriftState", actions=list(DRIFT_STATE_ACTIONS),
            resources=[table.table_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="Notify", actions=["sns:Publish"], resources=[topic.topic_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="EncryptNotifications", actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[topic_key.key_arn]))
        database.secret.grant_read(fn)
        grant_migration_source(fn, bucket, migrations_prefix)
