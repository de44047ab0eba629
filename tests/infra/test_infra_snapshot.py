"""The cluster snapshot before destructive migrations: stage setting, states, function.

The definition tests build the ASL from plain ARNs; the template tests read the one
synthesis of every stage (tests/infra/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from stackflow import env

from infra.components.definition import DefinitionProps, build_definition, retry_policy
from infra.components.deploy_steps import DEPLOY_STEPS, SNAPSHOT_STEP
from infra.config import STAGE_CONFIGS, STAGES, ContextError, settings_from_context
from infra.stacks import deploy_step_output
from tests.infra.conftest import (
    Synthesized,
    exported_ids,
    function_statements,
    functions_of,
    resources_of,
    state_machine_definition,
)
from tests.infra.test_infra_definition import arn, successors

SNAPSHOT_HANDLER = f"deploy_steps.handler.{SNAPSHOT_STEP}"
SNAPSHOT_STATES = ("SnapshotNeeded", "Snapshot", "SnapshotReady", "SnapshotWait")
EXPECTED_BY_STAGE = {"dev": False, "staging": True, "prod": True}


def definition(*, snapshot: bool, approval_always: bool = False) -> dict[str, Any]:
    steps = (*DEPLOY_STEPS, SNAPSHOT_STEP) if snapshot else DEPLOY_STEPS
    arns = {step: arn(f"step-{step}") for step in steps}
    arns["patcher"] = arn("StackFlowPatcher")
    return build_definition(DefinitionProps(
        function_arns=arns, approval_always=approval_always, approval_timeout_seconds=3600,
        step_timeout_seconds=330, patcher_timeout_seconds=930,
        execution_timeout_seconds=10800, snapshot_before_destructive=snapshot))


def context(values: dict[str, Any]) -> Any:
    return values.get


# --- the definition ----------------------------------------------------------------
def test_without_the_setting_schema_before_leads_straight_to_migrate() -> None:
    # GIVEN a stage that takes no snapshots (dev's default)
    states = definition(snapshot=False)["States"]
    # THEN the definition has no snapshot state on either path, as before the feature
    assert not [name for name in states if "Snapshot" in name]
    assert states["SchemaBefore"]["Next"] == "Migrate"
    assert states["ReleaseSchemaBefore"]["Next"] == "ReleaseMigrate"


@pytest.mark.parametrize(("prefix", "rollback"), [("", "Rollback"),
                                                  ("Release", "ReleaseRollback")])
def test_a_pending_destructive_statement_is_snapshotted_before_migrate(
        prefix: str, rollback: str) -> None:
    # GIVEN a stage that snapshots before destructive migrations (single and release path)
    states = definition(snapshot=True)["States"]
    needed, snapshot, ready, wait = (states[prefix + name] for name in SNAPSHOT_STATES)
    # THEN SchemaBefore asks whether any pending statement is destructive
    assert states[f"{prefix}SchemaBefore"]["Next"] == f"{prefix}SnapshotNeeded"
    assert needed == {"Type": "Choice", "Default": f"{prefix}Migrate", "Choices": [
        {"Variable": "$.schema_before.destructive[0]", "IsPresent": True,
         "Next": f"{prefix}Snapshot"}]}
    # AND Snapshot runs the snapshot step on the whole document, retried as every step,
    # its failure taking the usual failure path (nothing has shifted yet)
    assert snapshot["Resource"] == arn(f"step-{SNAPSHOT_STEP}")
    assert snapshot["ResultPath"] == "$.snapshot"
    assert "Parameters" not in snapshot
    assert snapshot["Retry"] == retry_policy()
    assert snapshot["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                  "Next": rollback}]
    # AND Migrate waits until RDS says the snapshot is available, 30 s between reads
    assert ready == {"Type": "Choice", "Default": f"{prefix}SnapshotWait", "Choices": [
        {"Variable": "$.snapshot.available", "BooleanEquals": True,
         "Next": f"{prefix}Migrate"}]}
    assert (wait["Type"], wait["Seconds"], wait["Next"]) == ("Wait", 30, f"{prefix}Snapshot")


@pytest.mark.parametrize("approval_always", [False, True])
def test_with_the_setting_every_state_is_reachable_and_every_target_exists(
        approval_always: bool) -> None:
    states = definition(snapshot=True, approval_always=approval_always)["States"]
    targets = set().union(*(successors(s) for s in states.values()))
    assert targets <= set(states)
    assert set(states) - targets == {"Start"}


# --- the stage setting -------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_staging_and_prod_snapshot_by_default_dev_does_not(stage: str) -> None:
    settings = settings_from_context(stage, context({}))
    assert settings.stage.snapshot_before_destructive is EXPECTED_BY_STAGE[stage]


@pytest.mark.parametrize("value", ["true", True, " TRUE "])
def test_an_installation_may_turn_it_on_for_dev(value: Any) -> None:
    # GIVEN `-c snapshot_before_destructive=true` (a string) or cdk.json's boolean
    settings = settings_from_context("dev", context({"snapshot_before_destructive": value}))
    # THEN dev snapshots too, and nothing else of the stage changes
    assert settings.stage.snapshot_before_destructive is True
    assert settings.stage.name == "dev"
    assert settings.stage.approval_required is STAGE_CONFIGS["dev"].approval_required


def test_staging_may_turn_it_off_prod_may_not() -> None:
    off = context({"snapshot_before_destructive": "false"})
    assert settings_from_context("staging", off).stage.snapshot_before_destructive is False
    # WHEN prod is synthesized with it off THEN synthesis stops, naming the context key
    with pytest.raises(ContextError, match="snapshot_before_destructive=false is refused "
                                           "for prod"):
        settings_from_context("prod", off)
    assert settings_from_context("prod", context({
        "snapshot_before_destructive": "true"})).stage.snapshot_before_destructive


def test_a_value_that_is_no_boolean_is_refused_naming_the_key() -> None:
    with pytest.raises(ContextError, match="snapshot_before_destructive must be true or "
                                           "false, got 'yes'"):
        settings_from_context("dev", context({"snapshot_before_destructive": "yes"}))


# --- the synthesized templates -----------------------------------------------------
def snapshot_function(body: dict[str, Any]) -> dict[str, Any] | None:
    found = [f for f in functions_of(body).values() if f["Handler"] == SNAPSHOT_HANDLER]
    return found[0] if found else None


@pytest.mark.parametrize("stage", STAGES)
def test_only_a_stage_that_snapshots_has_the_function_and_the_states(
        synthesized: Synthesized, stage: str) -> None:
    # GIVEN the stage's synthesized template
    body = synthesized.template_json(f"stackflow-{stage}")
    states = state_machine_definition(body)["States"]
    expected = EXPECTED_BY_STAGE[stage]
    # THEN the function, its output and the states exist exactly where the stage snapshots
    assert (snapshot_function(body) is not None) is expected
    assert (deploy_step_output(SNAPSHOT_STEP) in body["Outputs"]) is expected
    assert all((name in states) is expected for name in SNAPSHOT_STATES)
    # AND no other function is told which cluster to snapshot
    told = [f["Handler"] for f in functions_of(body).values()
            if env.DB_CLUSTER_ID in f.get("Environment", {}).get("Variables", {})]
    assert told == ([SNAPSHOT_HANDLER] if expected else [])


def test_the_function_snapshots_the_stages_own_cluster(synthesized: Synthesized) -> None:
    # GIVEN prod's two stacks
    body = synthesized.template_json("stackflow-prod")
    database = synthesized.template_json("stackflow-prod-database")
    function = snapshot_function(body)
    assert function is not None
    variables = function["Environment"]["Variables"]
    # THEN DB_CLUSTER_ID is the database stack's cluster identifier (its Ref, exported)
    export = variables[env.DB_CLUSTER_ID]["Fn::ImportValue"]
    cluster = exported_ids(database)[export]
    assert database["Resources"][cluster]["Type"] == "AWS::RDS::DBCluster"
    # AND it gets nothing it does not read: the deploy table, the cluster, the basics
    assert set(variables) == {env.STAGE, env.POWERTOOLS_SERVICE_NAME,
                              env.POWERTOOLS_METRICS_NAMESPACE, env.DEPLOY_TABLE,
                              env.DB_CLUSTER_ID}
    # AND it runs outside the database's network (it only calls the RDS API)
    assert "VpcConfig" not in function


def rds_arn(resource: str, tail: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":rds:",
                              {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
                              f":{resource}:", *([tail] if tail else [])]]}


def test_the_snapshot_role_may_snapshot_that_cluster_and_nothing_more(
        synthesized: Synthesized) -> None:
    # GIVEN prod's snapshot function and its role
    body = synthesized.template_json("stackflow-prod")
    function = snapshot_function(body)
    assert function is not None
    cluster = rds_arn("cluster", function["Environment"]["Variables"][env.DB_CLUSTER_ID])
    snapshots = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":rds:",
                                   {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
                                   ":cluster-snapshot:stackflow-*"]]}
    table = [lid for lid in resources_of(body, "AWS::DynamoDB::Table")
             if lid.startswith("DeployTable")]
    by_sid = {st.get("Sid", "XRay"): st for st in function_statements(body, function)}
    # THEN its statements are exactly these: create (on the cluster and StackFlow's
    # snapshot names), tag and read those snapshots, write the deployment records
    assert {sid: (st["Action"], st["Resource"]) for sid, st in by_sid.items()
            if sid != "XRay"} == {
        "CreateSnapshot": ("rds:CreateDBClusterSnapshot", [snapshots, cluster]),
        "TagSnapshot": ("rds:AddTagsToResource", snapshots),
        "ReadSnapshot": ("rds:DescribeDBClusterSnapshots", [snapshots, cluster]),
        "DeployRecords": ("dynamodb:UpdateItem", {"Fn::GetAtt": [table[0], "Arn"]}),
    }
    assert all(st["Effect"] == "Allow" and "Condition" not in st for st in by_sid.values())
    # AND the role is its own: no other function has it, the shared role has no RDS action
    role = function["Role"]
    assert [f["Handler"] for f in functions_of(body).values() if f["Role"] == role] == [
        SNAPSHOT_HANDLER]
    shared = [f for f in functions_of(body).values()
              if f["Handler"] == "deploy_steps.handler.lock"]
    actions = [a for st in function_statements(body, shared[0])
               for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]
    assert not [a for a in actions if a.startswith("rds:")]


def test_the_state_machine_may_invoke_the_snapshot_function(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json("stackflow-prod")
    (lid,) = [lid for lid, f in functions_of(body).items() if f["Handler"] == SNAPSHOT_HANDLER]
    states = state_machine_definition(body)["States"]
    assert states["Snapshot"]["Resource"] == states["ReleaseSnapshot"]["Resource"] == \
        f"<{lid}.Arn>"
    machine_roles = [lid for lid in resources_of(body, "AWS::IAM::Role")
                     if lid.startswith("DeploymentStateMachineRole")]
    invoke = [st for policy in resources_of(body, "AWS::IAM::Policy").values()
              if {"Ref": machine_roles[0]} in policy["Properties"]["Roles"]
              for st in policy["Properties"]["PolicyDocument"]["Statement"]
              if st["Action"] == "lambda:InvokeFunction"]
    assert {"Fn::GetAtt": [lid, "Arn"]} in invoke[0]["Resource"]
