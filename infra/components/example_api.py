"""StackFlowAPI: the example target application StackFlow deploys.

A Lambda function with a ``PROD`` alias behind an API Gateway HTTP API that invokes the
alias (never a version), plus the alarm the canary health check watches. Its routes
(``/health`` included, which the smoke test calls) read PostgreSQL, so the function is a
database client like the patcher: in the database's network, told the secret, allowed to
read it.

CloudFormation creates the alias once, on a bootstrap version; from then on the
deployer moves it (weighted canary, promote, rollback). The bootstrap version is a
plain ``AWS::Lambda::Version`` with a fixed logical id and no code hash, so a later
``cdk deploy`` never replaces it and never moves the alias back. Drift checks therefore
expect ``FunctionVersion``/``RoutingConfig`` of this alias to differ from the template
and judge them against the last deployment record instead (see docs/infra.md).
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.components.database import DatabaseRef
from infra.components.functions import python_function
from infra.config import Settings, StageConfig
from infra.nag import acknowledge

API_FUNCTION_NAME = "StackFlowAPI"
WORKER_FUNCTION_NAME = "StackFlowOrdersWorker"
ALIAS_NAME = "PROD"


class ExampleApi(Construct):
    """The function, its ``PROD`` alias, the HTTP API in front of it, its error alarm."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 database: DatabaseRef, alarm_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        stage = settings.stage
        self.function_name = settings.physical_name(API_FUNCTION_NAME)
        self.function, self.alias = _released_function(
            self, settings=settings, database=database, function_name=self.function_name,
            handler="example_api.app.handler",
            description="StackFlowAPI: the example application StackFlow deploys")
        self.api = self._http_api(retain_logs=stage.retain_data)
        self.alarm_name = f"{self.function_name}-{stage.name}-errors"
        self.alarm = _alias_error_alarm(
            self, alias=self.alias, stage=stage, alarm_name=self.alarm_name,
            description=f"{self.function_name}:{ALIAS_NAME} is returning errors; the canary "
                        "health check rolls back while this is in ALARM.")
        self.alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
        _let_alarm_publish(alarm_topic, self.alarm, "CloudWatchAlarmPublishes")

    def _http_api(self, *, retain_logs: bool) -> apigwv2.HttpApi:
        api = apigwv2.HttpApi(
            self, "HttpApi",
            api_name=self.function_name,
            description="StackFlowAPI, served by the PROD alias",
            default_integration=integrations.HttpLambdaIntegration("ProdAlias", self.alias),
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(
            self, "AccessLogs",
            retention=logs.RetentionDays.ONE_YEAR if retain_logs
            else logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
        )
        apigwv2.HttpStage(
            self, "DefaultStage", http_api=api, stage_name="$default", auto_deploy=True,
            access_log_settings=_AccessLogSettings(access_logs),
        )
        acknowledge(api, "AwsSolutions-APIG4",
                    "StackFlowAPI is the public example application; it serves no private "
                    "data, so its routes need no authorizer.")
        return api


class OrdersWorker(Construct):
    """The example's second function: a worker reading ``orders``, behind its own alias.

    It shares StackFlowAPI's schema, package and read-only database role, so one
    release moves both (``"functions": [...]``, docs/deploy-steps.md): no window where
    the new worker runs beside the old API, and the schema migrates once.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 database: DatabaseRef, alarm_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        stage = settings.stage
        self.function_name = settings.physical_name(WORKER_FUNCTION_NAME)
        self.function, self.alias = _released_function(
            self, settings=settings, database=database, function_name=self.function_name,
            handler="example_api.worker.handler",
            description="StackFlowOrdersWorker: the example's worker over the orders table")
        self.alarm_name = f"{self.function_name}-{stage.name}-errors"
        self.alarm = _alias_error_alarm(
            self, alias=self.alias, stage=stage, alarm_name=self.alarm_name,
            description=f"{self.function_name}:{ALIAS_NAME} is failing; the canary health "
                        "check rolls the whole release back while this is in ALARM.")
        self.alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
        _let_alarm_publish(alarm_topic, self.alarm, "CloudWatchWorkerAlarmPublishes")


def _released_function(scope: Construct, *, settings: Settings, database: DatabaseRef,
                       function_name: str, handler: str,
                       description: str) -> tuple[lambda_.Function, lambda_.Alias]:
    """A database-reading function of the example and its ``PROD`` alias on version 1."""
    function = python_function(
        scope, "Function", settings=settings, component="example_api", handler=handler,
        description=description, function_name=function_name,
        timeout=Duration.seconds(10), database=database.reader)
    bootstrap = lambda_.Version(scope, "BootstrapVersion", lambda_=function,
                                description="Created once by CloudFormation")
    return function, lambda_.Alias(scope, "Prod", alias_name=ALIAS_NAME, version=bootstrap)


def _alias_error_alarm(scope: Construct, *, alias: lambda_.Alias, stage: StageConfig,
                       alarm_name: str, description: str) -> cloudwatch.Alarm:
    """The alarm on the alias's Errors that the canary health check watches."""
    return cloudwatch.Alarm(
        scope, "Errors",
        alarm_name=alarm_name,
        alarm_description=description,
        metric=alias.metric_errors(period=Duration.minutes(stage.api_alarm_period_minutes),
                                   statistic="Sum"),
        threshold=stage.api_error_threshold,
        evaluation_periods=stage.api_alarm_evaluation_periods,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _let_alarm_publish(topic: sns.ITopic, alarm: cloudwatch.IAlarm, sid: str) -> None:
    """Allow CloudWatch to publish this alarm's notifications to ``topic``.

    The topic has its own policy (TLS only, EventBridge), which replaces SNS's default
    policy; without this statement CloudWatch, a service principal, could not publish
    and the alarm would change state without anyone hearing of it.
    """
    topic.add_to_resource_policy(iam.PolicyStatement(
        sid=sid,
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions=["sns:Publish"],
        resources=[topic.topic_arn],
        conditions={"ArnEquals": {"aws:SourceArn": alarm.alarm_arn}},
    ))


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """JSON access logs into ``log_group`` (jsii wants an object, not a dict)."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._log_group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.json_with_standard_fields(
            caller=False, http_method=True, ip=True, protocol=True, request_time=True,
            resource_path=True, response_length=True, status=True, user=False)
