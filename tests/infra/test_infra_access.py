"""Least privilege: the read-only diff role and the drift check's scoped reads."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import aws_iam as iam
from stackflow import env

from infra.components.deploy_steps import (
    DEPLOY_STEPS,
    METRICS_REASON,
    TABLE_ACTIONS,
    TARGET_LAMBDA_ACTIONS,
)
from infra.components.diff_access import DIFF_ROLE_NAME
from infra.components.drift import (
    LOG_GROUP_LIST_ACTION,
    RESOURCE_READS,
    UNSCOPED_READS,
    pack_statements,
    statement_size_bound,
)
from infra.config import UNCONFIGURED_GITHUB_REPO
from tests.infra.conftest import (
    Synthesized,
    arn_suffix,
    exported_ids,
    functions_of,
    references,
    resources_of,
    synthesize,
)

DEV = "stackflow-dev"
DEV_DATABASE = "stackflow-dev-database"
OIDC = "token.actions.githubusercontent.com"
# A verb that changes something, as the first word of an action name.
WRITE_VERBS = re.compile(r"^(Create|Delete|Put|Update|Set|Attach|Detach|Tag|Untag|Start|"
                         r"Stop|Execute|Invoke|Publish|Upload|Pass|Add|Remove|Modify|Send)")
MANAGED_POLICY_LIMIT = 6144


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_id(template: dict[str, Any], role_name_prefix: str) -> str:
    (found,) = [lid for lid, r in resources_of(template, "AWS::IAM::Role").items()
                if str(r["Properties"].get("RoleName", "")).startswith(role_name_prefix)]
    return found


def attached_statements(template: dict[str, Any], role_fragment: str
                        ) -> list[tuple[str, dict[str, Any]]]:
    """(policy id, statement) of inline and customer managed policies of the role."""
    found = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for lid, res in resources_of(template, kind).items():
            roles = [r.get("Ref", "") for r in res["Properties"].get("Roles", [])]
            if any(role_fragment in r for r in roles):
                found += [(lid, st) for st in res["Properties"]["PolicyDocument"]["Statement"]]
    return found


def drift_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return attached_statements(template, "DriftFunctionServiceRole")


# ---------------------------------------------------------------- the diff role


def test_diff_role_trusts_only_pull_requests_of_the_repository(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    roles = resources_of(body, "AWS::IAM::Role")
    diff = roles[role_id(body, DIFF_ROLE_NAME)]["Properties"]
    ci = roles[role_id(body, "StackFlowCICDRole")]["Properties"]
    # THEN the diff role trusts GitHub's OIDC tokens for STS whose sub is a pull request
    # of the configured repository (none configured: the placeholder nobody can own)
    (trust,) = diff["AssumeRolePolicyDocument"]["Statement"]
    assert diff["RoleName"] == "StackFlowDiffRole-dev"
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {"StringEquals": {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": [f"repo:{UNCONFIGURED_GITHUB_REPO}:pull_request"]}}
    # AND it is the same provider the release role trusts
    (ci_trust,) = ci["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == ci_trust["Principal"]
    # AND the release role itself does not accept pull-request tokens
    assert "pull_request" not in json.dumps(ci["AssumeRolePolicyDocument"])
    assert diff["MaxSessionDuration"] == 3600


def test_diff_role_can_only_read_the_stage_templates(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    statements = attached_statements(body, role_id(body, DIFF_ROLE_NAME))
    by_sid = {st["Sid"]: st for _, st in statements}
    # THEN one statement: DescribeStacks and GetTemplate on this stage's two stacks
    assert set(by_sid) == {"ReadDeployedTemplates"}
    read = by_sid["ReadDeployedTemplates"]
    assert sorted(read["Action"]) == ["cloudformation:DescribeStacks",
                                      "cloudformation:GetTemplate"]
    stacks = json.dumps(read["Resource"])
    assert ":stack/stackflow-dev/*" in stacks
    assert ":stack/stackflow-dev-database/*" in stacks
    assert len(read["Resource"]) == 2
    # AND it may assume no role at all: the CDK bootstrap's lookup role carries
    # ReadOnlyAccess, which would hand unreviewed branch code the whole account
    actions = [a for _, st in statements for a in as_list(st["Action"])]
    assert not [a for a in actions if a.startswith("sts:")]
    assert "lookup-role" not in json.dumps(statements)
    # AND nothing it may do writes: no write verb, no managed policy, no Deny to rely on
    assert not [a for a in actions if WRITE_VERBS.match(a.split(":")[1])]
    assert all(st["Effect"] == "Allow" for _, st in statements)
    assert "ManagedPolicyArns" not in resources_of(body, "AWS::IAM::Role")[
        role_id(body, DIFF_ROLE_NAME)]["Properties"]


def test_diff_role_arn_is_a_stack_output(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    # THEN the operator can read the value for the STACKFLOW_DIFF_ROLE_ARN variable
    assert body["Outputs"]["DiffRoleArn"]["Value"] == {
        "Fn::GetAtt": [role_id(body, DIFF_ROLE_NAME), "Arn"]}


@pytest.fixture(scope="module")
def customized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """dev with a configured repository, diff subjects, an extra managed alias and two
    further target functions."""
    return synthesize(tmp_path_factory.mktemp("cdk-custom"), stages=("dev",), context={
        "github_repo": "acme/shop",
        "github_diff_subjects": "repo:acme/shop:pull_request,repo:acme/web:pull_request",
        "managed_aliases": "Billing:LIVE",
        "target_functions": "Orders,Payments",
    })


def test_repository_and_subjects_come_from_context(customized: Synthesized) -> None:
    # GIVEN another repository and two diff subjects
    assert customized.error is None
    body = customized.template_json(DEV)
    roles = resources_of(body, "AWS::IAM::Role")
    diff = roles[role_id(body, DIFF_ROLE_NAME)]["Properties"]["AssumeRolePolicyDocument"]
    ci = roles[role_id(body, "StackFlowCICDRole")]["Properties"]["AssumeRolePolicyDocument"]
    # THEN each role trusts exactly those subjects, compared exactly
    assert diff["Statement"][0]["Condition"]["StringEquals"][f"{OIDC}:sub"] == [
        "repo:acme/shop:pull_request", "repo:acme/web:pull_request"]
    assert ci["Statement"][0]["Condition"] == {"StringEquals": {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": ["repo:acme/shop:ref:refs/heads/main"]}}
    assert "StringLike" not in json.dumps([diff, ci])


# --------------------------------------------------------- the drift check's reads


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_drift_uses_resource_star_only_for_actions_without_resource_permissions(
        synthesized: Synthesized, stage: str) -> None:
    body = synthesized.template_json(f"stackflow-{stage}")
    star: set[str] = set()
    for _, st in drift_statements(body):
        if "*" in as_list(st["Resource"]):
            star |= set(as_list(st["Action"]))
    # THEN only X-Ray's trace calls and the listed unscoped reads are granted on *
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert star - xray == set(UNSCOPED_READS)
    # AND each of those has a written reason; none of them reads a resource's content
    for action, reason in UNSCOPED_READS.items():
        assert len(reason) > 40, action
        assert action.split(":")[1].startswith("Describe"), action
    assert {"ec2:DescribeVpcs", "cloudformation:DescribeStackDriftDetectionStatus"} <= star
    assert not [a for a in star if a.split(":")[0] in
                ("lambda", "s3", "dynamodb", "iam", "sns", "kms", "rds", "secretsmanager")]


def test_drift_reads_name_the_stage_functions_buckets_and_table(
        synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    by_sid = {st.get("Sid"): st for _, st in drift_statements(body)}
    functions = set(resources_of(body, "AWS::Lambda::Function"))
    # THEN Lambda reads name each of this stack's functions (and its versions/aliases),
    # and the database stack's roles function by its fixed name
    lambda_reads = by_sid["ReadFunctions"]
    assert {"lambda:GetFunction", "lambda:GetAlias"} <= set(lambda_reads["Action"])
    assert references(lambda_reads["Resource"]) == functions
    assert len(lambda_reads["Resource"]) == 2 * (len(functions) + 1)
    named = [arn_suffix(r) for r in lambda_reads["Resource"] if not references(r)]
    assert named == [":function:StackFlowDatabaseRoles", ":function:StackFlowDatabaseRoles:*"]
    # AND S3 reads name the artifacts and access-log buckets, DynamoDB reads the table
    assert references(by_sid["ReadBuckets"]["Resource"]) == set(
        resources_of(body, "AWS::S3::Bucket"))
    assert references(by_sid["ReadTables"]["Resource"]) == set(
        resources_of(body, "AWS::DynamoDB::Table"))
    assert "dynamodb:DescribeTable" in by_sid["ReadTables"]["Action"]
    # AND the log-group listing is confined to this account and region's log groups
    listing = by_sid["ListLogGroups"]
    assert listing["Action"] == LOG_GROUP_LIST_ACTION
    assert json.dumps(listing["Resource"]).endswith(':log-group:*"]]}')


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_drift_can_read_every_resource_cloudformation_will_compare(
        synthesized: Synthesized, stage: str) -> None:
    # GIVEN both stacks of the stage (the database stack's resources are imported values)
    body = synthesized.template_json(f"stackflow-{stage}")
    database = synthesized.template_json(f"stackflow-{stage}-database")
    exports = exported_ids(database)
    # A function of the database stack is named by its fixed name, not an export.
    by_name = {arn_suffix(r).removeprefix(":function:"): lid
               for lid, r in resources_of(database, "AWS::Lambda::Function").items()
               for r in [_name_arn(r["Properties"].get("FunctionName"))] if r}
    granted: dict[str, set[str]] = {}
    for _, st in drift_statements(body):
        named = {exports.get(ref, ref) for ref in references(st["Resource"])}
        named |= {by_name[n] for n in (_literal_end(r).removeprefix(":function:")
                                        for r in as_list(st["Resource"])) if n in by_name}
        for action in as_list(st["Action"]):
            granted.setdefault(action, set()).update(named)
    # THEN for each resource of a type drift detection reads, every read action names it
    for reads in RESOURCE_READS:
        for template in (body, database):
            for resource_type in reads.types:
                for logical_id in resources_of(template, resource_type):
                    for action in reads.actions:
                        assert logical_id in granted.get(action, set()), (
                            stage, resource_type, logical_id, action)


def test_drift_watches_the_worker_alias_and_may_read_it(synthesized: Synthesized) -> None:
    body = synthesized.template_json(DEV)
    functions = functions_of(body)
    (drift,) = [p for p in functions.values() if p["Handler"] == "drift_check.handler.handler"]
    (worker,) = [lid for lid, p in functions.items()
                 if p["Handler"] == "example_api.worker.handler"]
    # THEN the scheduled check compares both example aliases with their releases
    assert drift["Environment"]["Variables"][env.DRIFT_MANAGED_ALIASES] == (
        "StackFlowAPI:PROD,StackFlowOrdersWorker:PROD")
    # AND may read the worker's alias: GetAlias on its qualified ARNs (ReadFunctions, the
    # statement of the stacks' own functions; no extra managed-alias statement needed)
    by_sid = {st.get("Sid"): st for _, st in drift_statements(body)}
    reads = by_sid["ReadFunctions"]
    assert "lambda:GetAlias" in reads["Action"]
    assert {"Fn::Join": ["", [{"Fn::GetAtt": [worker, "Arn"]}, ":*"]]} in reads["Resource"]
    assert "ReadManagedAliases" not in by_sid


def test_drift_reads_an_extra_managed_alias_and_nothing_else_of_its_function(
        customized: Synthesized) -> None:
    # GIVEN managed_aliases=Billing:LIVE, a function outside StackFlow's stacks
    body = customized.template_json(DEV)
    (alias,) = [st for _, st in drift_statements(body) if st.get("Sid") == "ReadManagedAliases"]
    # THEN the drift check may read that alias, only with GetAlias
    assert alias["Action"] == "lambda:GetAlias"
    assert json.dumps(alias["Resource"]).endswith(':function:Billing:LIVE"]]}')
    assert "Billing" not in json.dumps([st for _, st in drift_statements(body)
                                        if st.get("Sid") != "ReadManagedAliases"])


def _literal_end(arn: Any) -> str:
    if isinstance(arn, str):
        return arn
    parts = arn.get("Fn::Join", ["", [None]])[1]
    return parts[-1] if isinstance(parts[-1], str) else ""


def _name_arn(name: Any) -> str | None:
    return f":function:{name}" if isinstance(name, str) else None


def _worst_case(value: Any, stack_name: str) -> Any:
    """The document with each reference as a long CloudFormation-generated ARN."""
    if isinstance(value, list):
        return [_worst_case(v, stack_name) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_worst_case(p, stack_name)) for p in parts)
    pseudo = {"AWS::Partition": "aws-us-gov", "AWS::Region": "ap-southeast-3",
              "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}
    if "Ref" in value and value["Ref"] in pseudo:
        return pseudo[value["Ref"]]
    if {"Ref", "Fn::GetAtt", "Fn::ImportValue"} & set(value):
        (name,) = references(value)
        prefix = "arn:aws-us-gov:secretsmanager:ap-southeast-3:123456789012:secret:"
        return f"{prefix}{stack_name}-{name[-80:]}-ABCDEFGHIJKLM"
    return {k: _worst_case(v, stack_name) for k, v in value.items()}


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_each_drift_read_policy_fits_the_managed_policy_size_limit(
        synthesized: Synthesized, stage: str) -> None:
    body = synthesized.template_json(f"stackflow-{stage}")
    policies = [r for r in resources_of(body, "AWS::IAM::ManagedPolicy").values()
                if any("DriftFunctionServiceRole" in ref.get("Ref", "")
                       for ref in r["Properties"]["Roles"])]
    assert policies
    for policy in policies:
        # WHEN CloudFormation resolves every ARN to a long generated name
        document = _worst_case(policy["Properties"]["PolicyDocument"],
                               f"stackflow-{stage}-database-with-a-suffix")
        # THEN IAM accepts the policy (whitespace does not count)
        size = len(re.sub(r"\s", "", json.dumps(document)))
        assert size <= MANAGED_POLICY_LIMIT, size
    # AND the role stays within IAM's default of 10 managed policies per role
    role = resources_of(body, "AWS::IAM::Role")[next(
        lid for lid in resources_of(body, "AWS::IAM::Role")
        if lid.startswith("DriftFunctionServiceRole"))]
    assert len(role["Properties"]["ManagedPolicyArns"]) + len(policies) <= 10


def test_statements_are_packed_in_order_within_the_budget() -> None:
    # GIVEN statements of growing size
    statements = [iam.PolicyStatement(sid=f"S{i}", actions=["s3:GetBucketPolicy"],
                                      resources=[f"arn:aws:s3:::bucket-{j}"
                                                 for j in range(i + 1)])
                  for i in range(6)]
    budget = statement_size_bound(statements[5]) + statement_size_bound(statements[0])
    # WHEN they are packed into policies
    chunks = pack_statements(statements, budget=budget)
    # THEN no policy exceeds the budget, none is empty, and the order is kept
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk
        assert sum(statement_size_bound(st) for st in chunk) <= budget
    assert [st.sid for chunk in chunks for st in chunk] == [f"S{i}" for i in range(6)]


# ---------------------------------------------------------- the deploy steps' role


def deploy_steps_role(template: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The shared role's logical id and its statements by Sid (X-Ray's has none)."""
    (role,) = [lid for lid in resources_of(template, "AWS::IAM::Role")
               if lid.startswith("DeployStepsRole")]
    statements = attached_statements(template, role)
    return role, {st.get("Sid", "XRay"): st for _, st in statements}


def test_deploy_steps_role_grants_each_service_on_its_one_resource(
        synthesized: Synthesized) -> None:
    # GIVEN the one role all thirteen deploy-step functions share
    body = synthesized.template_json(DEV)
    role, by_sid = deploy_steps_role(body)
    functions = resources_of(body, "AWS::Lambda::Function")
    assert sum(f["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
               for f in functions.values()) == len(DEPLOY_STEPS)
    # THEN it has exactly these statements, all Allow
    assert set(by_sid) == {"XRay", "TargetFunctions", "ReadArtifacts", "DeployTable",
                           "AlarmsAndMetrics", "DescribeExecutions"}
    # AND it may only ask whether an execution of this stage's machine still runs
    assert by_sid["DescribeExecutions"]["Action"] == "states:DescribeExecution"
    assert ":execution:stackflow-dev-deployment:*" in str(
        by_sid["DescribeExecutions"]["Resource"])
    assert all(st["Effect"] == "Allow" and "Condition" not in st for st in by_sid.values())
    # AND Lambda actions name the target function and its versions/aliases only
    target = by_sid["TargetFunctions"]
    assert sorted(target["Action"]) == sorted(TARGET_LAMBDA_ACTIONS)
    assert [arn_suffix(r) for r in target["Resource"]] == [
        ":function:StackFlowAPI", ":function:StackFlowAPI:*",
        ":function:StackFlowOrdersWorker", ":function:StackFlowOrdersWorker:*"]
    # AND S3 reads objects of the artifacts bucket, nothing else in S3
    (bucket,) = [lid for lid in resources_of(body, "AWS::S3::Bucket")
                 if lid.startswith("ArtifactsBucket")]
    assert by_sid["ReadArtifacts"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert by_sid["ReadArtifacts"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]}
    # AND DynamoDB item actions name the deploy table (no Scan, no table admin)
    (table,) = resources_of(body, "AWS::DynamoDB::Table")
    assert sorted(by_sid["DeployTable"]["Action"]) == sorted(TABLE_ACTIONS)
    assert by_sid["DeployTable"]["Resource"] == {"Fn::GetAtt": [table, "Arn"]}
    assert all(a.endswith(("Item", "Query")) for a in TABLE_ACTIONS)
    # AND Resource "*" is left only to the actions IAM cannot scope, with the reason
    star = {a for st in by_sid.values() if st["Resource"] == "*"
            for a in as_list(st["Action"])}
    assert star == {"cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData",
                    "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert "composite alarms" in METRICS_REASON
    # AND no managed policy beyond basic execution (logs) is attached
    (managed,) = resources_of(body, "AWS::IAM::Role")[role]["Properties"]["ManagedPolicyArns"]
    assert arn_suffix(managed).endswith("service-role/AWSLambdaBasicExecutionRole")


def test_target_functions_from_context_extend_only_the_lambda_statement(
        customized: Synthesized, synthesized: Synthesized) -> None:
    # GIVEN target_functions=Orders,Payments
    assert customized.error is None
    _, by_sid = deploy_steps_role(customized.template_json(DEV))
    _, default = deploy_steps_role(synthesized.template_json(DEV))
    # THEN the deploy steps may deploy those functions (and their versions/aliases) too
    assert sorted(arn_suffix(r) for r in by_sid["TargetFunctions"]["Resource"]) == [
        ":function:Orders", ":function:Orders:*", ":function:Payments",
        ":function:Payments:*", ":function:StackFlowAPI", ":function:StackFlowAPI:*",
        ":function:StackFlowOrdersWorker", ":function:StackFlowOrdersWorker:*"]
    # AND every other statement is the same as without them
    for sid in ("ReadArtifacts", "DeployTable", "AlarmsAndMetrics", "XRay"):
        assert by_sid[sid] == default[sid], sid
