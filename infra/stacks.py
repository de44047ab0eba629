"""The stacks of one stage: ``stackflow-<stage>`` and ``stackflow-<stage>-database``."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import App, CfnOutput, Environment, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from stackflow import env

from infra.components.artifacts import ArtifactsBucket
from infra.components.ci_access import CiAccess
from infra.components.database import DatabaseRef, DatabaseStack, imported_database
from infra.components.deploy_steps import (
    SNAPSHOT_STEP,
    STEP_TIMEOUT,
    DeploySteps,
    target_function_arns,
)
from infra.components.deploy_table import DeployTable
from infra.components.diff_access import DiffAccess
from infra.components.drift import DriftCheck
from infra.components.example_api import ALIAS_NAME, ExampleApi, OrdersWorker
from infra.components.notifications import Notifications
from infra.components.patcher import Patcher
from infra.components.state_machine import DeploymentStateMachine
from infra.config import Settings
from infra.nag import acknowledge, wildcard_finding

DATABASE_SUFFIX = "-database"
DRIFT_CHECK_OUTPUT = "DriftCheckFunctionName"


def deploy_step_output(step: str) -> str:
    """The output naming a deploy step's function: ``lock`` -> ``DeployStepLockFunctionName``.

    The step functions' names are generated (``stackflow-dev-DeployStepsLock...``); these
    outputs are how an operator finds one (docs/deploy-steps.md).
    """
    return f"DeployStep{step.replace('_', ' ').title().replace(' ', '')}FunctionName"


class StackFlowStack(Stack):
    """Everything StackFlow runs for one stage, plus the example application it deploys."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 database: DatabaseRef | None, drift_stacks: tuple[str, ...],
                 environment: Environment | None = None) -> None:
        super().__init__(scope, construct_id, env=environment, stack_name=construct_id,
                         description=f"StackFlow {settings.stage.name}: deployer, patcher, "
                                     "drift checks and the StackFlowAPI example")
        if database is None:
            if settings.database is None:
                raise ValueError("no DatabaseStack and no imported database context")
            database = imported_database(self, imported=settings.database)
        self._compose(settings, database, drift_stacks)

    def _compose(self, settings: Settings, database: DatabaseRef,
                 drift_stacks: tuple[str, ...]) -> None:
        artifacts = ArtifactsBucket(self, "Artifacts", settings=settings)
        table = DeployTable(self, "DeployTable", settings=settings)
        notifications = Notifications(self, "Notifications", settings=settings)
        api = ExampleApi(self, "StackFlowAPI", settings=settings, database=database,
                         alarm_topic=notifications.failures)
        worker = OrdersWorker(self, "OrdersWorker", settings=settings, database=database,
                              alarm_topic=notifications.failures)
        patcher = Patcher(self, "Patcher", settings=settings, database=database,
                          bucket=artifacts.bucket,
                          migrations_prefix=artifacts.migrations_prefix)
        machine_name = f"stackflow-{settings.stage.name}-deployment{settings.name_suffix}"
        targets = (api.function_name, worker.function_name, *settings.target_functions)
        steps = DeploySteps(self, "DeploySteps", settings=settings, table=table.table,
                            bucket=artifacts.bucket,
                            patcher_name=patcher.function_name,
                            target_functions=targets, state_machine_name=machine_name,
                            cluster_identifier=database.cluster_identifier)
        pipeline = DeploymentStateMachine(
            self, "Deployment", settings=settings, steps=steps.functions,
            patcher=patcher.function, step_timeout=STEP_TIMEOUT,
            patcher_timeout=patcher.timeout, failure_topic=notifications.failures,
            state_machine_name=machine_name)
        ci = CiAccess(self, "CiAccess", settings=settings, bucket=artifacts.bucket,
                      state_machine=pipeline.state_machine,
                      state_machine_name=pipeline.state_machine_name)
        grant_alias_reads(ci.role, targets)
        grant_metric_reads(ci.role)
        diff = DiffAccess(self, "DiffAccess", settings=settings, provider=ci.provider,
                          stacks=drift_stacks)
        drift = DriftCheck(self, "Drift", settings=settings, stacks=drift_stacks,
                           read_stacks=(self, *([database.stack] if database.stack else [])),
                           # Both example aliases; one never released reports
                           # "unmanaged", which is not drift.
                           managed_aliases=(f"{api.function_name}:{ALIAS_NAME}",
                                            f"{worker.function_name}:{ALIAS_NAME}",
                                            *settings.managed_aliases),
                           table=table.table, topic=notifications.drift,
                           topic_key=notifications.key, database=database,
                           bucket=artifacts.bucket, migrations_prefix=artifacts.migrations_prefix)
        self.worker_function_name = worker.function_name
        self._outputs(artifacts, pipeline, ci, diff, api, patcher, table)
        self._function_outputs(steps.functions, drift.function)

    def _outputs(self, artifacts: ArtifactsBucket, pipeline: DeploymentStateMachine,
                 ci: CiAccess, diff: DiffAccess, api: ExampleApi, patcher: Patcher,
                 table: DeployTable) -> None:
        # Output names double as the environment variables the CLI and CI read.
        CfnOutput(self, "StateMachineArn", value=pipeline.state_machine.state_machine_arn,
                  description=f"export {env.STATE_MACHINE_ARN}=<this value>")
        CfnOutput(self, "ArtifactsBucketName", value=artifacts.bucket.bucket_name)
        CfnOutput(self, "CICDRoleArn", value=ci.role.role_arn)
        CfnOutput(self, "DiffRoleArn", value=diff.role.role_arn,
                  description="the pr-diff workflow's STACKFLOW_DIFF_ROLE_ARN")
        CfnOutput(self, "ApiUrl", value=api.api.api_endpoint)
        CfnOutput(self, "WorkerFunctionName", value=self.worker_function_name,
                  description="the example's second function (a two-function release)")
        CfnOutput(self, "PatcherFunctionName", value=patcher.function_name)
        CfnOutput(self, "DeployTableName", value=table.table.table_name)

    def _function_outputs(self, steps: Mapping[str, lambda_.IFunction],
                          drift: lambda_.IFunction) -> None:
        # CloudFormation names these functions; the outputs say which name is which.
        for step, function in steps.items():
            CfnOutput(self, deploy_step_output(step), value=function.function_name,
                      description=_step_output_description(step))
        CfnOutput(self, DRIFT_CHECK_OUTPUT, value=drift.function_name,
                  description="the scheduled drift check (docs/drift.md)")


def _step_output_description(step: str) -> str:
    if step == SNAPSHOT_STEP:
        # No sample event: its document is SchemaBefore's result on a destructive release.
        return ("deploy step snapshot: the cluster snapshot taken before destructive "
                "migrations (docs/deploy-steps.md)")
    return (f"deploy step {step}: aws lambda invoke --function-name <this value> "
            f"--payload fileb://events/deploy-step-{step.replace('_', '-')}.json out.json")


def grant_alias_reads(role: iam.Role, functions: tuple[str, ...]) -> None:
    """``pipeline start --wait`` and ``pipeline status`` show the alias's real routing."""
    arns = target_function_arns(role, functions)
    role.add_to_policy(iam.PolicyStatement(sid="ReadAliases", actions=["lambda:GetAlias"],
                                           resources=arns))
    for qualified in arns[1::2]:
        acknowledge(role, wildcard_finding(role, qualified),
                    "GetAlias on the target functions' aliases (read only), to show "
                    "where the deployed alias routes traffic.")


def grant_metric_reads(role: iam.Role) -> None:
    """The CI job's release report shows each version's error rate (``GetMetricData``)."""
    role.add_to_policy(iam.PolicyStatement(sid="ReadReleaseMetrics",
                                           actions=["cloudwatch:GetMetricData"],
                                           resources=["*"]))
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:GetMetricData does not support resource-level permissions; it "
                "only reads metrics, for the release report's error rates.")


def build_stage(app: App, settings: Settings) -> list[Stack]:
    """The stacks of ``settings.stage``: the database stack unless one is imported."""
    environment = Environment(account=settings.account, region=settings.region) \
        if settings.account or settings.region else None
    stack_name = settings.stage.stack_name(settings.name_suffix)
    stacks: list[Stack] = []
    database: DatabaseRef | None = None
    drift_stacks: tuple[str, ...] = (stack_name,)
    if settings.database is None:
        db_stack = DatabaseStack(app, f"{stack_name}{DATABASE_SUFFIX}", settings=settings,
                                 environment=environment)
        database = db_stack.ref
        stacks.append(db_stack)
        drift_stacks = (stack_name, db_stack.stack_name)
    stacks.append(StackFlowStack(app, stack_name, settings=settings, database=database,
                                 drift_stacks=drift_stacks, environment=environment))
    for stack in stacks:
        Tags.of(stack).add("project", "stackflow")
        Tags.of(stack).add("stage", settings.stage.name)
    return stacks
