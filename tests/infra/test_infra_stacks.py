"""The synthesized stacks: what each component looks like in CloudFormation."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match
from stackflow import env

from infra.components.artifacts import MIGRATIONS_PREFIX
from infra.components.deploy_steps import DEPLOY_STEPS
from infra.components.drift import STACK_DRIFT_ACTIONS
from tests.infra.conftest import (
    Synthesized,
    resources_of,
    state_machine_definition,
)

DEV = "stackflow-dev"


def policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(logical id, statement) of every IAM policy, role inline policy and trust policy."""
    found: list[tuple[str, dict[str, Any]]] = []
    for lid, res in template["Resources"].items():
        props = res.get("Properties", {})
        docs = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument"),
                props.get("KeyPolicy")]
        docs += [p.get("PolicyDocument") for p in props.get("Policies", [])]
        for doc in filter(None, docs):
            found += [(lid, st) for st in doc["Statement"]]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict[str, Any], role_fragment: str) -> list[dict[str, Any]]:
    """Allow statements of the policies attached to roles whose logical id contains the text."""
    out: list[dict[str, Any]] = []
    for res in resources_of(template, "AWS::IAM::Policy").values():
        roles = [r.get("Ref", "") for r in res["Properties"]["Roles"]]
        if any(role_fragment in r for r in roles):
            out += res["Properties"]["PolicyDocument"]["Statement"]
    return out


def function_by_handler(template: dict[str, Any], handler: str) -> dict[str, Any]:
    (fn,) = [r for r in resources_of(template, "AWS::Lambda::Function").values()
             if r["Properties"]["Handler"] == handler]
    return dict(fn["Properties"])


def test_synthesis_needs_no_account_and_passes_cdk_nag(synthesized: Synthesized) -> None:
    # GIVEN all three stages synthesized without credentials or an account
    # THEN synthesis completed (cdk-nag stops it on any unacknowledged finding)
    assert synthesized.error is None
    assert set(synthesized.stacks) == {
        f"stackflow-{s}{suffix}" for s in ("dev", "staging", "prod")
        for suffix in ("", "-database")}


def test_artifacts_bucket_is_versioned_private_encrypted_and_tls_only(
        synthesized: Synthesized) -> None:
    # GIVEN the dev stack
    template = synthesized.template(DEV)
    # THEN the artifacts bucket keeps versions, encrypts, blocks public access, logs access
    template.has_resource_properties("AWS::S3::Bucket", {
        "VersioningConfiguration": {"Status": "Enabled"},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "LoggingConfiguration": Match.object_like({"LogFilePrefix": "artifacts/"}),
        "LifecycleConfiguration": {"Rules": [Match.object_like({
            "Id": "ExpireOldVersions", "Status": "Enabled",
            "NoncurrentVersionExpiration": Match.object_like({"NoncurrentDays": 90}),
        })]},
    })
    # AND every bucket policy denies requests that do not use TLS
    policies = resources_of(synthesized.template_json(DEV), "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                  if s["Effect"] == "Deny"]
        assert denies
        assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_table_has_keys_ttl_and_point_in_time_recovery(synthesized: Synthesized) -> None:
    template = synthesized.template(DEV)
    # THEN one table with pk/sk string keys, the ttl attribute and PITR
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    })


def test_topics_are_encrypted_with_a_rotating_key(synthesized: Synthesized) -> None:
    template = synthesized.template(DEV)
    # THEN both topics use the customer managed key, and the key rotates
    topics = resources_of(synthesized.template_json(DEV), "AWS::SNS::Topic")
    assert len(topics) == 2
    (key_id,) = resources_of(synthesized.template_json(DEV), "AWS::KMS::Key")
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_patcher_runs_in_the_database_vpc_with_its_secret(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    patcher = function_by_handler(body, "patcher.handler.handler")
    variables = patcher["Environment"]["Variables"]
    # THEN the names the function reads (stackflow.env) are the names the stack sets
    assert set(variables) >= {env.DB_SECRET_ARN, env.MIGRATIONS_BUCKET,
                              env.MIGRATIONS_PREFIX, env.STAGE}
    assert variables[env.MIGRATIONS_PREFIX] == MIGRATIONS_PREFIX
    assert "Fn::ImportValue" in str(variables[env.DB_SECRET_ARN])
    # AND it sits in the VPC, behind the database clients security group
    assert patcher["FunctionName"] == "StackFlowPatcher"
    assert len(patcher["VpcConfig"]["SubnetIds"]) == 2
    assert len(patcher["VpcConfig"]["SecurityGroupIds"]) == 1
    # AND it may read the secret but not write it
    actions = {a for st in role_statements(body, "PatcherFunction")
               for a in as_list(st["Action"])}
    assert {"secretsmanager:GetSecretValue", "s3:GetObject", "s3:ListBucket"} <= actions
    assert not any(a.startswith("secretsmanager:Put") for a in actions)


def test_deploy_steps_are_one_function_per_state(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    handlers = {r["Properties"]["Handler"]
                for r in resources_of(body, "AWS::Lambda::Function").values()}
    # THEN every handler of functions/deploy_steps/handler.py has its function
    assert {f"deploy_steps.handler.{s}" for s in DEPLOY_STEPS} <= handlers
    validate = function_by_handler(body, "deploy_steps.handler.validate")
    assert set(validate["Environment"]["Variables"]) >= {
        env.DEPLOY_TABLE, env.DEPLOY_LOCK_TTL_SECONDS, env.PATCHER_FUNCTION}
    assert validate["Environment"]["Variables"][env.PATCHER_FUNCTION] == "StackFlowPatcher"


def test_deploy_steps_touch_only_the_target_functions(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    lambda_statements = [st for st in role_statements(body, "DeployStepsRole")
                         if any(a.startswith("lambda:") for a in as_list(st["Action"]))]
    (statement,) = lambda_statements
    # THEN the Lambda actions name StackFlowAPI (and its versions/aliases) only
    resources = [str(r) for r in statement["Resource"]]
    assert len(resources) == 2
    assert all(":function:StackFlowAPI" in r for r in resources)
    assert "lambda:UpdateAlias" in statement["Action"]


def test_example_api_routes_through_the_prod_alias(synthesized: Synthesized) -> None:
    template = synthesized.template(DEV)
    body = synthesized.template_json(DEV)
    (alias_id, alias), = resources_of(body, "AWS::Lambda::Alias").items()
    (version_id,) = resources_of(body, "AWS::Lambda::Version")
    # THEN the PROD alias starts on a bootstrap version CloudFormation creates once
    assert alias["Properties"]["Name"] == "PROD"
    assert alias["Properties"]["FunctionVersion"] == {
        "Fn::GetAtt": [version_id, "Version"]}
    assert "CodeSha256" not in resources_of(body, "AWS::Lambda::Version")[version_id][
        "Properties"]
    # AND the HTTP API integration invokes the alias, not the function or a version
    template.has_resource_properties("AWS::ApiGatewayV2::Integration", {
        "IntegrationType": "AWS_PROXY", "IntegrationUri": {"Ref": alias_id}})
    # AND the error alarm watches the alias (its Resource dimension is function:PROD)
    (alarm,) = resources_of(body, "AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert (props["AlarmName"], props["MetricName"]) == ("StackFlowAPI-dev-errors", "Errors")
    dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    assert set(dimensions) == {"FunctionName", "Resource"}
    assert ":PROD" in str(dimensions["Resource"])
    assert props["AlarmActions"]


def test_ci_role_trusts_only_the_main_branch_of_the_repository(
        synthesized: Synthesized) -> None:
    template = synthesized.template(DEV)
    # THEN the native OIDC provider exists and the role trusts GitHub with aud and sub
    template.has_resource_properties("AWS::IAM::OIDCProvider", {
        "Url": "https://token.actions.githubusercontent.com",
        "ClientIdList": ["sts.amazonaws.com"]})
    template.has_resource_properties("AWS::IAM::Role", {
        "RoleName": "StackFlowCICDRole-dev",
        "AssumeRolePolicyDocument": {"Statement": [{
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": Match.any_value()},
            "Condition": {"StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub":
                    ["repo:ORG/REPO:ref:refs/heads/main"],
            }},
        }]},
    })


def test_ci_role_may_only_upload_and_start_or_watch_deployments(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    statements = {st["Sid"]: st for st in role_statements(body, "CiAccessRole")}
    # THEN it may put and read artifacts, start this state machine and watch its executions
    assert set(statements) == {"PutArtifacts", "FindArtifacts", "StartDeployments",
                               "WatchDeployments"}
    assert sorted(statements["PutArtifacts"]["Action"]) == [
        "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    assert statements["FindArtifacts"]["Action"] == "s3:ListBucket"
    (machine_id,) = resources_of(body, "AWS::StepFunctions::StateMachine")
    assert statements["StartDeployments"] == {
        "Sid": "StartDeployments", "Effect": "Allow", "Action": "states:StartExecution",
        "Resource": {"Ref": machine_id}}
    watch = statements["WatchDeployments"]
    assert sorted(watch["Action"]) == ["states:DescribeExecution",
                                       "states:GetExecutionHistory"]
    assert ":execution:stackflow-dev-deployment:*" in str(watch["Resource"])
    # AND nothing touches Lambda, the table or IAM directly
    actions = [a for st in statements.values() for a in as_list(st["Action"])]
    assert all(a.split(":")[0] in ("s3", "states") for a in actions)


@pytest.mark.parametrize("stack", ["stackflow-dev", "stackflow-dev-database",
                                   "stackflow-prod", "stackflow-prod-database"])
def test_no_allow_statement_uses_a_wildcard_action(synthesized: Synthesized,
                                                   stack: str) -> None:
    # GIVEN every policy statement of the stack (IAM, trust, key policies)
    statements = policy_statements(synthesized.template_json(stack))
    assert statements
    for lid, st in statements:
        if st["Effect"] != "Allow":
            continue  # the TLS-only Deny statements name whole services on purpose
        # THEN no allowed action is "*", "service:*" or any other pattern
        for action in as_list(st["Action"]):
            assert "*" not in action, f"{lid}: {action}"


def test_state_machine_in_the_template_is_the_documented_definition(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    definition = state_machine_definition(body)
    states = definition["States"]
    # THEN the synthesized DefinitionString parses and has the contract's states
    assert definition["StartAt"] == "Start"
    assert {"Start", "Validate", "Lock", "Upload", "SchemaBefore", "Migrate", "Publish",
            "Smoke", "Shift", "ShiftDone", "Bake", "HealthCheck", "Approval", "Promote",
            "Record", "Unlock", "Rollback", "RecordFailure", "UnlockAfterFailure",
            "DeploymentFailed", "LockFailed"} <= set(states)
    # AND Lambda resources are the ARNs of this stack's functions (Fn::GetAtt)
    functions = resources_of(body, "AWS::Lambda::Function")
    validate_id = next(lid for lid, r in functions.items()
                       if r["Properties"]["Handler"] == "deploy_steps.handler.validate")
    patcher_id = next(lid for lid, r in functions.items()
                      if r["Properties"]["Handler"] == "patcher.handler.handler")
    assert states["Validate"]["Resource"] == f"<{validate_id}.Arn>"
    assert states["Migrate"]["Resource"] == f"<{patcher_id}.Arn>"
    # AND every state from Upload on routes failures to Rollback via $.error
    assert states["Smoke"]["Catch"][0] == {"ErrorEquals": ["States.ALL"],
                                           "ResultPath": "$.error", "Next": "Rollback"}


def test_state_machine_is_standard_logged_and_traced(synthesized: Synthesized) -> None:
    template = synthesized.template(DEV)
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": "stackflow-dev-deployment",
        "StateMachineType": "STANDARD",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
    })
    # AND its role may invoke exactly the step functions and the patcher
    body = synthesized.template_json(DEV)
    invoke = [st for st in role_statements(body, "DeploymentStateMachineRole")
              if st["Action"] == "lambda:InvokeFunction"]
    assert len(invoke) == 1
    assert len(invoke[0]["Resource"]) == len(DEPLOY_STEPS) + 1
    # AND failed executions reach the failure topic through EventBridge
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": Match.object_like({
            "source": ["aws.states"],
            "detail": Match.object_like({"status": ["FAILED", "TIMED_OUT", "ABORTED"]})}),
    })


def test_drift_check_runs_on_a_schedule_with_scoped_permissions(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    drift = function_by_handler(body, "drift_check.handler.handler")
    variables = drift["Environment"]["Variables"]
    # THEN it checks this stage's stacks and the example alias, and reports to its topic
    assert variables[env.DRIFT_STACKS] == "stackflow-dev,stackflow-dev-database"
    assert variables[env.DRIFT_MANAGED_ALIASES] == "StackFlowAPI:PROD"
    assert set(variables) >= {env.DRIFT_TOPIC_ARN, env.DEPLOY_TABLE, env.DB_SECRET_ARN}
    # AND the CloudFormation drift actions are limited to those two stacks
    statements = role_statements(body, "DriftFunction")
    (detect,) = [st for st in statements if "cloudformation:DetectStackDrift"
                 in as_list(st["Action"])]
    assert sorted(detect["Action"]) == sorted(STACK_DRIFT_ACTIONS)
    resources = [str(r) for r in detect["Resource"]]
    assert len(resources) == 2
    assert any("stack/stackflow-dev/*" in r for r in resources)
    assert any("stack/stackflow-dev-database/*" in r for r in resources)
    # AND an EventBridge rule invokes it at the stage's rate
    synthesized.template(DEV).has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": "rate(1 day)", "State": "ENABLED"})


def test_database_stack_is_aurora_serverless_v2_with_a_generated_secret(
        synthesized: Synthesized) -> None:
    template = synthesized.template("stackflow-dev-database")
    template.has_resource_properties("AWS::RDS::DBCluster", {
        "Engine": "aurora-postgresql",
        "StorageEncrypted": True,
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 2},
        "MasterUsername": Match.any_value(),
    })
    template.has_resource_properties("AWS::RDS::DBInstance", {
        "DBInstanceClass": "db.serverless", "Engine": "aurora-postgresql"})
    template.has_resource_properties("AWS::SecretsManager::Secret", {
        "GenerateSecretString": Match.object_like({"ExcludeCharacters": Match.any_value()})})
    # AND only the clients security group may reach the database port
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "IpProtocol": "tcp", "SourceSecurityGroupId": Match.any_value()})


def test_prod_is_stricter_than_dev(synthesized: Synthesized) -> None:
    dev, prod = (synthesized.template_json(f"stackflow-{s}") for s in ("dev", "prod"))
    dev_states = state_machine_definition(dev)["States"]
    prod_states = state_machine_definition(prod)["States"]
    # THEN prod always waits for approval while dev lets the input decide
    assert "ApprovalRequired" in dev_states
    assert "ApprovalRequired" not in prod_states
    assert prod_states["ShiftDone"]["Choices"][0]["Next"] == "Approval"
    # AND prod's alarm fires on the first error within a minute
    prod_alarm = next(iter(resources_of(prod, "AWS::CloudWatch::Alarm").values()))
    dev_alarm = next(iter(resources_of(dev, "AWS::CloudWatch::Alarm").values()))
    assert (prod_alarm["Properties"]["Threshold"], prod_alarm["Properties"]["Period"]) \
        == (1, 60)
    assert dev_alarm["Properties"]["Threshold"] > prod_alarm["Properties"]["Threshold"]
    # AND prod checks drift hourly and keeps its data
    synthesized.template("stackflow-prod").has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(1 hour)"})
    synthesized.template("stackflow-prod").has_resource(
        "AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})
    synthesized.template("stackflow-dev").has_resource(
        "AWS::DynamoDB::Table", {"DeletionPolicy": "Delete"})
    synthesized.template("stackflow-prod-database").has_resource_properties(
        "AWS::RDS::DBCluster", {"DeletionProtection": True})


def test_staging_sits_between_dev_and_prod(synthesized: Synthesized) -> None:
    staging = synthesized.template_json("stackflow-staging")
    # THEN staging keeps approval optional and checks drift every six hours
    assert "ApprovalRequired" in state_machine_definition(staging)["States"]
    synthesized.template("stackflow-staging").has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(6 hours)"})
