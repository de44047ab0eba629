"""The synthesized stacks: what each component looks like in CloudFormation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from stackflow import env
from stackflow.roles import MASTER_USER, MIGRATOR_ROLE, READER_ROLE

from infra.components.artifacts import MIGRATIONS_PREFIX
from infra.components.definition import PATCHER, DefinitionProps, build_definition
from infra.components.deploy_steps import (
    DEPLOY_STEPS,
    SNAPSHOT_STEP,
    TARGET_LAMBDA_ACTIONS,
)
from infra.components.drift import STACK_DRIFT_ACTIONS
from infra.config import STAGES, UNCONFIGURED_GITHUB_REPO
from tests.infra.conftest import (
    Synthesized,
    arn_suffix,
    exported_ids,
    functions_of,
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
            "NoncurrentVersionExpiration": {"NoncurrentDays": 90,
                                            "NewerNoncurrentVersions": 10},
        })]},
    })
    # AND each bucket's own policy denies every S3 action on it and its objects without TLS
    body = synthesized.template_json(DEV)
    policies = resources_of(body, "AWS::S3::BucketPolicy")
    assert {p["Properties"]["Bucket"]["Ref"] for p in policies.values()} == set(
        resources_of(body, "AWS::S3::Bucket"))
    for policy in policies.values():
        bucket_arn = {"Fn::GetAtt": [policy["Properties"]["Bucket"]["Ref"], "Arn"]}
        (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                   if s["Effect"] == "Deny" and "Sid" not in s]
        assert deny == {
            "Action": "s3:*", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Resource": [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/*"]]}]}


def test_released_migrations_can_be_created_but_never_replaced_or_deleted(
        synthesized: Synthesized) -> None:
    # GIVEN the artifacts bucket's policy
    body = synthesized.template_json(DEV)
    (bucket,) = [lid for lid in resources_of(body, "AWS::S3::Bucket")
                 if lid.startswith("ArtifactsBucket")]
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"]
                 for p in resources_of(body, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": bucket}]
    by_sid = {st["Sid"]: st for st in policy if "Sid" in st}
    migrations = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{MIGRATIONS_PREFIX}*"]]}
    # THEN for everyone, a write under migrations/ without If-None-Match is denied, so S3
    # refuses to replace an object that exists (CI's role included, whatever it holds)
    assert by_sid["MigrationsAreCreatedNeverReplaced"] == {
        "Sid": "MigrationsAreCreatedNeverReplaced", "Effect": "Deny",
        "Principal": {"AWS": "*"}, "Action": "s3:PutObject", "Resource": migrations,
        "Condition": {"Null": {"s3:if-none-match": "true"}}}
    # AND no migration object or version may be deleted (and then written anew)
    assert by_sid["MigrationsAreNeverDeleted"] == {
        "Sid": "MigrationsAreNeverDeleted", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": migrations}


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
    # AND it sits in the database VPC's function subnets, in the database clients group
    assert patcher["FunctionName"] == "StackFlowPatcher"
    database = exported_ids(synthesized.template_json(f"{DEV}-database"))
    subnets = [database[s["Fn::ImportValue"]] for s in patcher["VpcConfig"]["SubnetIds"]]
    assert len(subnets) == 2
    assert all(s.startswith("VpcfunctionsSubnet") for s in subnets)
    (group,) = patcher["VpcConfig"]["SecurityGroupIds"]
    assert database[group["Fn::ImportValue"]].startswith("DatabaseClients")
    # AND it may read exactly the secret it is told about, and only the migrations
    statements = [st for st in role_statements(body, "PatcherFunction")
                  if not as_list(st["Action"])[0].startswith("xray:")]
    by_action = {a: st for st in statements for a in as_list(st["Action"])}
    assert set(by_action) == {"secretsmanager:GetSecretValue",
                              "secretsmanager:DescribeSecret", "s3:GetObject",
                              "s3:GetObjectVersion", "s3:ListBucket"}
    assert by_action["secretsmanager:GetSecretValue"]["Resource"] == \
        variables[env.DB_SECRET_ARN]
    assert json.dumps(by_action["s3:GetObject"]["Resource"]).endswith(
        f'"/{MIGRATIONS_PREFIX}*"]]}}')
    assert by_action["s3:ListBucket"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"{MIGRATIONS_PREFIX}*", MIGRATIONS_PREFIX]}}


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
    # THEN the Lambda actions name the example's two functions and their versions/aliases,
    # nothing else
    assert [arn_suffix(r) for r in statement["Resource"]] == [
        ":function:StackFlowAPI", ":function:StackFlowAPI:*",
        ":function:StackFlowOrdersWorker", ":function:StackFlowOrdersWorker:*"]
    assert sorted(statement["Action"]) == sorted(TARGET_LAMBDA_ACTIONS)


def test_example_api_routes_through_the_prod_alias(synthesized: Synthesized) -> None:
    template = synthesized.template(DEV)
    body = synthesized.template_json(DEV)
    (alias_id, alias), = [(lid, a) for lid, a in resources_of(body, "AWS::Lambda::Alias")
                          .items() if lid.startswith("StackFlowAPI")]
    (version_id,) = [lid for lid in resources_of(body, "AWS::Lambda::Version")
                     if lid.startswith("StackFlowAPI")]
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
    (alarm,) = [a for lid, a in resources_of(body, "AWS::CloudWatch::Alarm").items()
                if lid.startswith("StackFlowAPI")]
    props = alarm["Properties"]
    assert (props["AlarmName"], props["MetricName"]) == ("StackFlowAPI-dev-errors", "Errors")
    dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    assert set(dimensions) == {"FunctionName", "Resource"}
    assert ":PROD" in str(dimensions["Resource"])
    # AND it notifies the failures topic
    (failures,) = [lid for lid in resources_of(body, "AWS::SNS::Topic")
                   if lid.startswith("NotificationsFailures")]
    assert props["AlarmActions"] == [{"Ref": failures}]


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
                    [f"repo:{UNCONFIGURED_GITHUB_REPO}:ref:refs/heads/main"],
            }},
        }]},
    })


def test_ci_role_may_only_upload_and_start_or_watch_deployments(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    statements = {st["Sid"]: st for st in role_statements(body, "CiAccessRole")}
    # THEN it may put and read artifacts, start this state machine and watch its
    # executions, read the target function's aliases (the honest traffic status) and
    # read metrics (the release report's error rates; GetMetricData has no resources)
    assert set(statements) == {"PutArtifacts", "FindArtifacts", "StartDeployments",
                               "WatchDeployments", "ReadAliases", "ReadReleaseMetrics"}
    assert statements["ReadReleaseMetrics"]["Action"] == "cloudwatch:GetMetricData"
    assert statements["ReadAliases"]["Action"] == "lambda:GetAlias"
    assert [arn_suffix(r) for r in statements["ReadAliases"]["Resource"]] == [
        ":function:StackFlowAPI", ":function:StackFlowAPI:*",
        ":function:StackFlowOrdersWorker", ":function:StackFlowOrdersWorker:*"]
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
    # AND nothing else touches Lambda, the table or IAM
    actions = [a for st in statements.values() for a in as_list(st["Action"])]
    assert all(a.split(":")[0] in ("s3", "states")
               or a in ("lambda:GetAlias", "cloudwatch:GetMetricData") for a in actions)


@pytest.mark.parametrize("stack", [f"stackflow-{stage}{suffix}" for stage in STAGES
                                   for suffix in ("", "-database")])
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
        "LoggingConfiguration": Match.object_like({"Level": "ALL",
                                                   "IncludeExecutionData": False}),
    })
    # AND its role may invoke exactly the step functions and the patcher
    body = synthesized.template_json(DEV)
    invoke = [st for st in role_statements(body, "DeploymentStateMachineRole")
              if st["Action"] == "lambda:InvokeFunction"]
    assert len(invoke) == 1
    # (every step but Reconcile, which EventBridge invokes, plus the patcher)
    assert len(invoke[0]["Resource"]) == len(DEPLOY_STEPS)


@pytest.mark.parametrize("stage", STAGES)
def test_state_machine_logs_keep_task_tokens_and_documents_out(
        synthesized: Synthesized, stage: str) -> None:
    # GIVEN the stage's state machine
    body = synthesized.template_json(f"stackflow-{stage}")
    (machine,) = resources_of(body, "AWS::StepFunctions::StateMachine").values()
    logging = machine["Properties"]["LoggingConfiguration"]
    # THEN every event is logged (cdk-nag SF1) but none of its data: no approval task
    # token, input, output or task parameters reaches CloudWatch Logs
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] == "ALL"


# What docs/infra.md promises per stage: approval policy and timeouts (hours), the
# snapshot before destructive migrations, and the Task timeouts (the function's
# timeout + 30 s: 5 min steps, 15 min patcher).
STAGE_MACHINES = {"dev": (False, 1, 3, False), "staging": (False, 8, 6, True),
                  "prod": (True, 24, 30, True)}


@pytest.mark.parametrize("stage", STAGES)
def test_synthesized_definition_is_exactly_the_documented_one(
        synthesized: Synthesized, stage: str) -> None:
    # GIVEN the stage's template and its functions by handler
    body = synthesized.template_json(f"stackflow-{stage}")
    by_handler = {r["Properties"]["Handler"]: lid
                  for lid, r in resources_of(body, "AWS::Lambda::Function").items()}
    approval_always, approval_hours, execution_hours, snapshot = STAGE_MACHINES[stage]
    steps = (*DEPLOY_STEPS, SNAPSHOT_STEP) if snapshot else DEPLOY_STEPS
    arns = {step: f"<{by_handler[f'deploy_steps.handler.{step}']}.Arn>" for step in steps}
    arns[PATCHER] = f"<{by_handler['patcher.handler.handler']}.Arn>"
    # WHEN the definition is built from those functions and the documented stage policy
    expected = build_definition(DefinitionProps(
        function_arns=arns, approval_always=approval_always,
        approval_timeout_seconds=approval_hours * 3600, step_timeout_seconds=330,
        patcher_timeout_seconds=930, execution_timeout_seconds=execution_hours * 3600,
        snapshot_before_destructive=snapshot))
    # THEN the deployed DefinitionString is that document, state for state (so the
    # Retry, Catch, Wait and waitForTaskToken tests of the builder hold for the template)
    assert state_machine_definition(body) == expected


def test_failed_executions_and_alarms_reach_the_failures_topic(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    topics = resources_of(body, "AWS::SNS::Topic")
    (failures,) = [lid for lid in topics if lid.startswith("NotificationsFailures")]
    (machine,) = resources_of(body, "AWS::StepFunctions::StateMachine")
    (rule_id, rule), = [(lid, r) for lid, r in resources_of(body, "AWS::Events::Rule").items()
                        if lid.startswith("DeploymentFailedExecutions")]
    # THEN an EventBridge rule matches this state machine's executions that did not succeed
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"],
                   "stateMachineArn": [{"Ref": machine}]}}
    assert rule["Properties"]["State"] == "ENABLED"
    # AND its one target is the failures topic
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Ref": failures}]
    # AND the topic's policy lets EventBridge publish for that rule and CloudWatch for
    # the example's alarms (a topic policy replaces SNS's default one)
    alarm_ids = sorted(resources_of(body, "AWS::CloudWatch::Alarm"))
    (policy,) = [p["Properties"] for p in resources_of(body, "AWS::SNS::TopicPolicy").values()
                 if p["Properties"]["Topics"] == [{"Ref": failures}]]
    allows = [st for st in policy["PolicyDocument"]["Statement"] if st["Effect"] == "Allow"]
    assert {st["Principal"]["Service"] for st in allows} == {"events.amazonaws.com",
                                                            "cloudwatch.amazonaws.com"}
    sources = {st["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]:
               st["Principal"]["Service"] for st in allows}
    assert sources == {rule_id: "events.amazonaws.com",
                       **{lid: "cloudwatch.amazonaws.com" for lid in alarm_ids}}
    assert len(alarm_ids) == 2
    for statement in allows:
        assert statement["Action"] == "sns:Publish"
        assert statement["Resource"] == {"Ref": failures}
    # AND both services may use the topics' key (they cannot publish to it otherwise)
    (key,) = resources_of(body, "AWS::KMS::Key").values()
    (services,) = [st for st in key["Properties"]["KeyPolicy"]["Statement"]
                   if "Service" in st["Principal"]]
    assert sorted(services["Principal"]["Service"]) == [
        "cloudwatch.amazonaws.com", "events.amazonaws.com"]
    assert sorted(services["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    # AND only on behalf of this account's rules and alarms (no confused deputy)
    assert services["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_drift_reports_reach_the_drift_topic(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    (drift_topic,) = [lid for lid in resources_of(body, "AWS::SNS::Topic")
                      if lid.startswith("NotificationsDrift")]
    drift = function_by_handler(body, "drift_check.handler.handler")
    statements = role_statements(body, "DriftFunction")
    # THEN the drift check is told the drift topic and may publish to it, and only to it
    assert drift["Environment"]["Variables"][env.DRIFT_TOPIC_ARN] == {"Ref": drift_topic}
    publish = [st for st in statements if "sns:Publish" in as_list(st["Action"])]
    assert [st["Resource"] for st in publish] == [{"Ref": drift_topic}]


def test_drift_check_runs_on_a_schedule_with_scoped_permissions(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    drift = function_by_handler(body, "drift_check.handler.handler")
    variables = drift["Environment"]["Variables"]
    # THEN it checks this stage's stacks and both example aliases, and reports to its topic
    assert variables[env.DRIFT_STACKS] == "stackflow-dev,stackflow-dev-database"
    assert variables[env.DRIFT_MANAGED_ALIASES] == "StackFlowAPI:PROD,StackFlowOrdersWorker:PROD"
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


@pytest.mark.parametrize("stage", STAGES)
def test_each_database_role_has_its_own_rotated_secret(synthesized: Synthesized,
                                                       stage: str) -> None:
    # GIVEN the database stack
    body = synthesized.template_json(f"stackflow-{stage}-database")
    secrets = resources_of(body, "AWS::SecretsManager::Secret")
    users = {json.loads(s["Properties"]["GenerateSecretString"]["SecretStringTemplate"])
             ["username"]: lid for lid, s in secrets.items()}
    # THEN three generated secrets: the master user's and one per role
    assert set(users) == {MASTER_USER, MIGRATOR_ROLE, READER_ROLE}
    # AND each is attached to the cluster and rotated every 30 days by AWS's
    # single-user rotation application, running in the function subnets
    attachments = {a["Properties"]["SecretId"]["Ref"]: lid for lid, a in
                   resources_of(body, "AWS::SecretsManager::SecretTargetAttachment").items()}
    assert set(attachments) == set(users.values())
    schedules = resources_of(body, "AWS::SecretsManager::RotationSchedule").values()
    rotated = {s["Properties"]["SecretId"]["Ref"] for s in schedules}
    assert rotated == set(attachments.values())
    assert {s["Properties"]["RotationRules"]["ScheduleExpression"] for s in schedules} == {
        "rate(30 days)"}
    apps = resources_of(body, "AWS::Serverless::Application")
    assert len(apps) == 3
    for app in apps.values():
        subnets = json.dumps(app["Properties"]["Parameters"]["vpcSubnetIds"])
        assert "VpcfunctionsSubnet" in subnets, subnets
    # AND nothing acknowledges a secret without rotation any more (SMG4)
    assert "AwsSolutions-SMG4" not in json.dumps(body)


def test_the_roles_custom_resource_is_the_only_reader_of_the_master_secret(
        synthesized: Synthesized) -> None:
    # GIVEN both dev stacks
    database = synthesized.template_json(f"{DEV}-database")
    main = synthesized.template_json(DEV)
    secrets = resources_of(database, "AWS::SecretsManager::Secret")
    (master,) = [lid for lid, s in secrets.items() if MASTER_USER in json.dumps(
        s["Properties"]["GenerateSecretString"]["SecretStringTemplate"])]
    (master_attachment,) = [
        lid for lid, a in resources_of(database, "AWS::SecretsManager::SecretTargetAttachment")
        .items() if a["Properties"]["SecretId"] == {"Ref": master}]
    # THEN the custom resource runs the roles function, which is told the master secret
    # and the two role secrets, and which alone may read the master secret
    (resource,) = resources_of(database, "Custom::StackFlowDatabaseRoles").values()
    (function_id, function), = [
        (lid, f) for lid, f in resources_of(database, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "database_roles.handler.handler"]
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert len(resource["Properties"]["Revision"]) == 64
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables[env.DB_SECRET_ARN] == {"Ref": master_attachment}
    assert {env.DB_MIGRATOR_SECRET_ARN, env.DB_READER_SECRET_ARN} <= set(variables)
    assert set(resource["DependsOn"]) >= {lid for lid in resources_of(
        database, "AWS::RDS::DBInstance")}
    # AND no function of the main stack is told, or may read, the master secret
    exported = {name for name, lid in exported_ids(database).items()
                if lid in (master, master_attachment)}
    for props in functions_of(main).values():
        told = json.dumps(props.get("Environment", {}))
        assert not any(name in told for name in exported), props["Handler"]
    for st in role_statements(main, ""):
        if "secretsmanager:GetSecretValue" in as_list(st["Action"]):
            assert not any(name in json.dumps(st["Resource"]) for name in exported)


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
