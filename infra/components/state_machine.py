"""The deployment state machine: the definition, its role, logs and failure alerts."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.components.definition import PATCHER, DefinitionProps, build_definition
from infra.components.deploy_steps import RECONCILE
from infra.components.notifications import SnsTarget
from infra.config import Settings
from infra.nag import acknowledge

# Extra time a Task allows beyond the function's own timeout before Step Functions
# gives up on it (cold start, retries inside the invoke).
TASK_TIMEOUT_MARGIN_SECONDS = 30
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
# EventBridge retries a failed delivery to Reconcile (throttling, a cold start failing)
# this often within this age; Lambda's own async retries come on top. A delivery lost
# even so leaves a lock the next Lock takes over (its holder is not RUNNING).
RECONCILE_RETRY_ATTEMPTS = 8
RECONCILE_MAX_EVENT_AGE_HOURS = 2


class DeploymentStateMachine(Construct):
    """A standard workflow running ``build_definition`` over the given functions."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 steps: Mapping[str, lambda_.IFunction], patcher: lambda_.IFunction,
                 step_timeout: Duration, patcher_timeout: Duration,
                 failure_topic: sns.ITopic, state_machine_name: str) -> None:
        super().__init__(scope, construct_id)
        stage = settings.stage
        self.state_machine_name = state_machine_name
        # Reconcile is no state: EventBridge invokes it (below), the machine never does.
        arns = {name: fn.function_arn for name, fn in steps.items() if name != RECONCILE}
        arns[PATCHER] = patcher.function_arn
        self.definition = build_definition(_definition_props(
            settings, arns, step_timeout=step_timeout, patcher_timeout=patcher_timeout))
        self.log_group = logs.LogGroup(
            self, "Logs",
            retention=logs.RetentionDays.ONE_YEAR if stage.retain_data
            else logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN if stage.retain_data
            else RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(
                Stack.of(self).to_json_string(self.definition)),
            tracing_enabled=True,
            # Every event, none of its data: execution data would put approval task
            # tokens and whole documents (inputs, outputs, task parameters) into
            # CloudWatch Logs, whose readers are a wider audience than those who may
            # read the execution history (states:GetExecutionHistory), which keeps them.
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL,
                                include_execution_data=False),
        )
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            sid="InvokeStepFunctions", actions=["lambda:InvokeFunction"],
            resources=list(dict.fromkeys(arns.values())),
        ))
        acknowledge(self.state_machine.role, "AwsSolutions-IAM5[Resource::*]",
                    "CloudWatch Logs delivery and X-Ray actions have no resource-level "
                    "permissions; the Lambda statement names each function.")
        self._alert_on_failure(failure_topic)
        self._reconcile_interrupted(steps[RECONCILE])

    def _alert_on_failure(self, topic: sns.ITopic) -> None:
        # Failed executions reach people through EventBridge, not through a Lambda.
        events.Rule(
            self, "FailedExecutions",
            description="StackFlow deployment executions that did not succeed",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": list(FAILED_STATUSES),
                        "stateMachineArn": [self.state_machine.state_machine_arn]},
            ),
            targets=[SnsTarget(topic)],
        )


    def _reconcile_interrupted(self, reconcile: lambda_.IFunction) -> None:
        # StopExecution and a timeout skip Rollback and Unlock: Reconcile does them.
        # FAILED is sent too, for a failure path that itself failed; for every other
        # failure Reconcile finds nothing to do.
        events.Rule(
            self, "ReconcileInterrupted",
            description="StackFlow: roll back, unlock and record executions that ended "
                        "ABORTED, TIMED_OUT or FAILED",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": list(FAILED_STATUSES),
                        "stateMachineArn": [self.state_machine.state_machine_arn]},
            ),
            targets=[targets.LambdaFunction(
                reconcile, retry_attempts=RECONCILE_RETRY_ATTEMPTS,
                max_event_age=Duration.hours(RECONCILE_MAX_EVENT_AGE_HOURS))],
        )


def _definition_props(settings: Settings, arns: Mapping[str, str], *,
                      step_timeout: Duration, patcher_timeout: Duration) -> DefinitionProps:
    stage = settings.stage
    return DefinitionProps(
        function_arns=arns,
        approval_always=stage.approval_required,
        approval_timeout_seconds=stage.approval_timeout_hours * 3600,
        step_timeout_seconds=int(step_timeout.to_seconds()) + TASK_TIMEOUT_MARGIN_SECONDS,
        patcher_timeout_seconds=int(patcher_timeout.to_seconds())
        + TASK_TIMEOUT_MARGIN_SECONDS,
        execution_timeout_seconds=stage.execution_timeout_hours * 3600,
        snapshot_before_destructive=stage.snapshot_before_destructive,
    )
