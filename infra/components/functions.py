"""The one way StackFlow builds a Lambda function: runtime, logs, tracing, environment."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from stackflow import env

from infra.assets import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, code_for
from infra.components.database_access import DatabaseClient
from infra.config import Settings
from infra.nag import acknowledge

METRICS_NAMESPACE = "StackFlow"
RUNTIME_REASON = (
    "Pinned to the runtime the release zips' compiled wheels (psycopg) are built for "
    "(infra/assets.py and stackflow_tools.release.package agree); moving to a newer Python is "
    "a deliberate change to both.")
XRAY_REASON = ("X-Ray's PutTraceSegments and PutTelemetryRecords do not support "
               "resource-level permissions; every other statement of this role names its "
               "resources.")


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    settings: Settings,
    component: str,
    handler: str,
    description: str,
    environment: Mapping[str, str] | None = None,
    timeout: Duration | None = None,
    memory_size: int = 256,
    function_name: str | None = None,
    database: DatabaseClient | None = None,
    role: iam.IRole | None = None,
    wildcard_reason: str | None = None,
) -> lambda_.Function:
    """A Python function of ``component`` with its own log group and X-Ray tracing.

    With ``database`` it is a database client, all of it or none: it runs in the
    database's function subnets in the clients security group, ``DB_SECRET_ARN`` names
    the secret of the role it logs in as, and its role may read that secret (and
    nothing else of the database).
    """
    log_group = logs.LogGroup(
        scope, f"{construct_id}Logs",
        retention=_retention(settings.stage.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if settings.stage.retain_data
        else RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope, construct_id,
        runtime=LAMBDA_RUNTIME,
        architecture=LAMBDA_ARCHITECTURE,
        code=code_for(component),
        handler=handler,
        description=description,
        function_name=function_name,
        timeout=timeout or Duration.seconds(60),
        memory_size=memory_size,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        environment=_environment(settings, component, environment or {}, database),
        vpc=database.vpc if database else None,
        vpc_subnets=database.subnets if database else None,
        security_groups=[database.client_security_group] if database else None,
        role=role,
    )
    acknowledge(function, "AwsSolutions-L1", RUNTIME_REASON)
    if database is not None:
        database.secret.grant_read(function)
    if role is None:
        acknowledge_execution_role(function.role, in_vpc=database is not None,
                                   wildcard_reason=wildcard_reason or XRAY_REASON)
    return function


def _environment(settings: Settings, component: str, extra: Mapping[str, str],
                 database: DatabaseClient | None) -> dict[str, str]:
    return {
        env.STAGE: settings.stage.name,
        env.POWERTOOLS_SERVICE_NAME: f"stackflow-{component.replace('_', '-')}",
        env.POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        **({env.DB_SECRET_ARN: database.secret.secret_arn} if database else {}),
        **extra,
    }


def _retention(days: int) -> logs.RetentionDays:
    # RetentionDays names the allowed values; map the stage's day count onto them.
    by_days = {7: logs.RetentionDays.ONE_WEEK, 30: logs.RetentionDays.ONE_MONTH,
               90: logs.RetentionDays.THREE_MONTHS, 365: logs.RetentionDays.ONE_YEAR}
    return by_days[days]


def lambda_role(scope: Construct, construct_id: str, *, description: str,
                wildcard_reason: str = XRAY_REASON) -> iam.Role:
    """An execution role several functions share; callers add their statements."""
    role = iam.Role(
        scope, construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
            "service-role/AWSLambdaBasicExecutionRole")],
    )
    acknowledge_execution_role(role, in_vpc=False, wildcard_reason=wildcard_reason)
    return role


def acknowledge_execution_role(role: iam.IRole | None, *, in_vpc: bool,
                               wildcard_reason: str = XRAY_REASON) -> None:
    """The managed execution policies and X-Ray's ``Resource: *`` are expected findings."""
    if role is None:
        return
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]", wildcard_reason)
    acknowledge(
        role, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
        "service-role/AWSLambdaBasicExecutionRole]",
        "The AWS managed basic execution policy grants only CreateLogStream/PutLogEvents; "
        "the function writes to its own log group.")
    if in_vpc:
        acknowledge(
            role, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AWSLambdaVPCAccessExecutionRole]",
            "The AWS managed VPC access policy only manages the function's network "
            "interfaces, which Lambda needs to reach the database.")
