"""Interrupted executions reach Reconcile, and each stage sets its safety policy."""

from __future__ import annotations

from typing import Any

import pytest
from stackflow import env

from infra.components.deploy_steps import DEPLOY_STEPS, RECONCILE
from infra.config import STAGE_CONFIGS, STAGES
from tests.infra.conftest import Synthesized, resources_of

DEV = "stackflow-dev"


def by_handler(body: dict[str, Any]) -> dict[str, str]:
    return {str(r["Properties"]["Handler"]): lid
            for lid, r in resources_of(body, "AWS::Lambda::Function").items()}


def test_interrupted_executions_of_this_machine_invoke_reconcile(
        synthesized: Synthesized) -> None:
    # GIVEN the dev stack
    body = synthesized.template_json(DEV)
    (machine,) = resources_of(body, "AWS::StepFunctions::StateMachine")
    reconcile = by_handler(body)[f"deploy_steps.handler.{RECONCILE}"]
    (rule,) = [r["Properties"] for lid, r in resources_of(body, "AWS::Events::Rule").items()
               if lid.startswith("DeploymentReconcileInterrupted")]
    # THEN a rule matches ABORTED, TIMED_OUT and FAILED status changes of this machine
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"],
                   "stateMachineArn": [{"Ref": machine}]}}
    assert rule["State"] == "ENABLED"
    # AND its one target is the reconcile function, retried by EventBridge on failure
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [reconcile, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    # AND EventBridge may invoke it for that rule only
    (permission,) = [p["Properties"] for p in resources_of(body, "AWS::Lambda::Permission")
                     .values() if p["Properties"]["FunctionName"] == {
                         "Fn::GetAtt": [reconcile, "Arn"]}]
    assert permission["Principal"] == "events.amazonaws.com"
    assert "DeploymentReconcileInterrupted" in str(permission["SourceArn"])


def test_the_state_machine_never_invokes_reconcile(synthesized: Synthesized) -> None:
    # GIVEN the definition the dev stack deploys
    body = synthesized.template_json(DEV)
    reconcile = by_handler(body)[f"deploy_steps.handler.{RECONCILE}"]
    (machine,) = resources_of(body, "AWS::StepFunctions::StateMachine").values()
    # THEN no state names the reconcile function: it runs after an execution, not in it
    assert reconcile not in str(machine["Properties"]["DefinitionString"])
    assert DEPLOY_STEPS[-1] == RECONCILE


@pytest.mark.parametrize("stage", STAGES)
def test_every_deploy_step_gets_the_stages_safety_policy(synthesized: Synthesized,
                                                          stage: str) -> None:
    # GIVEN the stage's deploy-step functions
    body = synthesized.template_json(f"stackflow-{stage}")
    config = STAGE_CONFIGS[stage]
    expected = {env.DEPLOY_ALLOW_NO_ALARMS: config.allow_no_alarms,
                env.DEPLOY_ALLOW_NO_SMOKE: config.allow_no_smoke,
                env.DEPLOY_ALLOW_ALL_AT_ONCE: config.allow_all_at_once}
    for step in DEPLOY_STEPS:
        lid = by_handler(body)[f"deploy_steps.handler.{step}"]
        variables = resources_of(body, "AWS::Lambda::Function")[lid]["Properties"][
            "Environment"]["Variables"]
        # THEN each carries the three switches as the policy module reads them
        assert {k: variables[k] for k in expected} == {
            k: "true" if v else "false" for k, v in expected.items()}, step


def test_prod_and_staging_refuse_every_switch_and_dev_allows_them() -> None:
    # GIVEN the stage settings / THEN prod (and staging, its rehearsal) refuse running
    # with no alarms, no smoke cases or all at once; dev allows all three
    for stage, allowed in (("dev", True), ("staging", False), ("prod", False)):
        config = STAGE_CONFIGS[stage]
        assert (config.allow_no_alarms, config.allow_no_smoke,
                config.allow_all_at_once) == (allowed,) * 3
