"""The deploy-step functions: one Lambda per state of the deployment state machine.

Thirteen share one role; the Snapshot step's function, where the stage snapshots the
cluster before destructive migrations, has its own (RDS snapshot calls and the deploy
table only), so no other step can snapshot the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from stackflow import env

from infra.components.functions import lambda_role, python_function
from infra.config import Settings
from infra.nag import acknowledge, wildcard_finding

# Handler function names in functions/deploy_steps/handler.py, in flow order; the last,
# reconcile, is not a state: EventBridge invokes it when an execution is interrupted.
DEPLOY_STEPS = (
    "validate", "lock", "upload", "publish", "smoke", "shift", "health",
    "approval_request", "promote", "rollback", "record", "unlock", "reconcile",
)
RECONCILE = "reconcile"
SNAPSHOT_STEP = "snapshot"
# Every snapshot the step takes is named stackflow-<execution name> (lower case in RDS).
SNAPSHOT_PREFIX = "stackflow-"
SNAPSHOT_CREATE_ACTIONS = ("rds:CreateDBClusterSnapshot",)
SNAPSHOT_TAG_ACTIONS = ("rds:AddTagsToResource",)
SNAPSHOT_READ_ACTIONS = ("rds:DescribeDBClusterSnapshots",)
# The record of each deployment: the step writes its snapshot there, nothing else.
SNAPSHOT_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
# Lock (taking over a dead holder's lock), Reconcile and `unlock --force` ask whether an
# execution of this stage's state machine still runs.
EXECUTION_ACTIONS = ("states:DescribeExecution",)
STEP_TIMEOUT = Duration.minutes(5)  # upload waits for the code update; smoke runs cases

# Everything the steps do to a target function; each action is named, none is a wildcard.
TARGET_LAMBDA_ACTIONS = (
    "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionCode",
    "lambda:PublishVersion", "lambda:ListVersionsByFunction", "lambda:GetAlias",
    "lambda:UpdateAlias", "lambda:InvokeFunction",
)
TABLE_ACTIONS = (
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:Query", "dynamodb:ConditionCheckItem",
)
METRIC_ACTIONS = ("cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData")

# Why the one CloudWatch statement says Resource "*" (IAM5 acknowledgement and docs).
METRICS_REASON = (
    "cloudwatch:GetMetricData has no resource-level permissions; DescribeAlarms returns "
    "composite alarms (the health step asks for both kinds, named in each execution's "
    "input) only when it is granted on Resource *; X-Ray's trace actions need * too. "
    "Lambda, S3 and DynamoDB statements name their resources.")


def target_function_arns(scope: Construct, names: Sequence[str]) -> list[str]:
    """Each target function's ARN and its qualified form (versions and aliases)."""
    stack = Stack.of(scope)
    arns: list[str] = []
    for name in names:
        arn = stack.format_arn(service="lambda", resource="function", resource_name=name,
                               arn_format=ArnFormat.COLON_RESOURCE_NAME)
        arns += [arn, f"{arn}:*"]
    return arns


class DeploySteps(Construct):
    """Thirteen small functions (twelve states and Reconcile) sharing one role that may
    touch only the target functions."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 table: dynamodb.ITable, bucket: s3.IBucket, patcher_name: str,
                 target_functions: Sequence[str], state_machine_name: str,
                 cluster_identifier: str) -> None:
        super().__init__(scope, construct_id)
        self.role = lambda_role(self, "Role", description="StackFlow deploy steps",
                                wildcard_reason=METRICS_REASON)
        lock_ttl = settings.stage.execution_timeout_hours * 3600
        environment = {
            env.DEPLOY_TABLE: table.table_name,
            env.ARTIFACTS_BUCKET: bucket.bucket_name,
            env.DEPLOY_LOCK_TTL_SECONDS: str(lock_ttl),
            env.PATCHER_FUNCTION: patcher_name,
            **policy_environment(settings),
        }
        functions: dict[str, lambda_.Function] = {
            step: python_function(
                self, _construct_id(step),
                settings=settings,
                component="deploy_steps",
                handler=f"deploy_steps.handler.{step}",
                description=f"StackFlow deploy step: {step}",
                environment=environment,
                timeout=STEP_TIMEOUT,
                role=self.role,
            )
            for step in DEPLOY_STEPS
        }
        if settings.stage.snapshot_before_destructive:
            functions[SNAPSHOT_STEP] = self._snapshot_function(settings, table,
                                                               cluster_identifier)
        self.functions: Mapping[str, lambda_.Function] = functions
        self._grant(table, bucket, target_functions)
        self._grant_executions(state_machine_name)

    def _snapshot_function(self, settings: Settings, table: dynamodb.ITable,
                           cluster_identifier: str) -> lambda_.Function:
        """The Snapshot step, on a role of its own that may snapshot only this cluster."""
        function = python_function(
            self, _construct_id(SNAPSHOT_STEP), settings=settings, component="deploy_steps",
            handler=f"deploy_steps.handler.{SNAPSHOT_STEP}",
            description="StackFlow deploy step: snapshot (the cluster, before destructive "
                        "migrations)",
            environment={env.DEPLOY_TABLE: table.table_name,
                         env.DB_CLUSTER_ID: cluster_identifier},
            timeout=STEP_TIMEOUT)
        role = function.role
        if role is None:  # python_function without a role always creates one
            raise RuntimeError("the snapshot function has no role")
        for statement in snapshot_statements(self, table, cluster_identifier):
            role.add_to_principal_policy(statement)
        acknowledge(role, wildcard_finding(self, snapshot_arn(self, f"{SNAPSHOT_PREFIX}*")),
                    "Snapshot names are stackflow-<execution name>, chosen per release; "
                    "the pattern covers only StackFlow's own cluster snapshots (create, "
                    "tag and read; never delete or restore).")
        return function

    def _grant_executions(self, state_machine_name: str) -> None:
        # Built from the name, not the state machine: it invokes these functions, so
        # a reference to it here would be a circular dependency.
        executions = Stack.of(self).format_arn(
            service="states", resource="execution", resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DescribeExecutions", actions=list(EXECUTION_ACTIONS),
            resources=[executions]))
        acknowledge(self.role, wildcard_finding(self, executions),
                    "Execution names are chosen per release; the pattern covers only "
                    "executions of this stage's deployment state machine (read only).")

    def _grant(self, table: dynamodb.ITable, bucket: s3.IBucket,
               target_functions: Sequence[str]) -> None:
        targets = target_function_arns(self, target_functions)
        self.role.add_to_policy(iam.PolicyStatement(
            sid="TargetFunctions", actions=list(TARGET_LAMBDA_ACTIONS), resources=targets))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadArtifacts", actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[bucket.arn_for_objects("*")]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DeployTable", actions=list(TABLE_ACTIONS), resources=[table.table_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="AlarmsAndMetrics", actions=list(METRIC_ACTIONS), resources=["*"]))
        for qualified in targets[1::2]:
            acknowledge(self.role, wildcard_finding(self, qualified),
                        "Versions and aliases of a target function: every deployment "
                        "publishes a new version, so the numbers are not known here.")
        acknowledge(self.role, wildcard_finding(self, bucket.arn_for_objects("*")),
                    "Release zips and smoke cases: CI uploads a new key on every run; "
                    "the statement only reads objects.")


def snapshot_arn(scope: Construct, name: str) -> str:
    return Stack.of(scope).format_arn(service="rds", resource="cluster-snapshot",
                                      resource_name=name,
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)


def snapshot_statements(scope: Construct, table: dynamodb.ITable,
                        cluster_identifier: str) -> list[iam.PolicyStatement]:
    """What the Snapshot step may do: snapshot this cluster under StackFlow's names, tag
    and read those snapshots, and write the deployment records."""
    cluster = Stack.of(scope).format_arn(service="rds", resource="cluster",
                                         resource_name=cluster_identifier,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)
    snapshots = snapshot_arn(scope, f"{SNAPSHOT_PREFIX}*")
    return [
        # CreateDBClusterSnapshot is authorized on the cluster and on the new snapshot.
        iam.PolicyStatement(sid="CreateSnapshot", actions=list(SNAPSHOT_CREATE_ACTIONS),
                            resources=[cluster, snapshots]),
        # Tags given to CreateDBClusterSnapshot need AddTagsToResource on the snapshot.
        iam.PolicyStatement(sid="TagSnapshot", actions=list(SNAPSHOT_TAG_ACTIONS),
                            resources=[snapshots]),
        iam.PolicyStatement(sid="ReadSnapshot", actions=list(SNAPSHOT_READ_ACTIONS),
                            resources=[cluster, snapshots]),
        iam.PolicyStatement(sid="DeployRecords", actions=list(SNAPSHOT_TABLE_ACTIONS),
                            resources=[table.table_arn]),
    ]


def policy_environment(settings: Settings) -> dict[str, str]:
    """The stage's safety policy as the variables ``stackflow.deploy.policy`` reads."""
    stage = settings.stage
    return {env.DEPLOY_ALLOW_NO_ALARMS: _flag(stage.allow_no_alarms),
            env.DEPLOY_ALLOW_NO_SMOKE: _flag(stage.allow_no_smoke),
            env.DEPLOY_ALLOW_ALL_AT_ONCE: _flag(stage.allow_all_at_once)}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _construct_id(step: str) -> str:
    return "".join(part.capitalize() for part in step.split("_"))
