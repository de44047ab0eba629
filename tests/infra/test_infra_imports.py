"""A stage that imports an existing database and OIDC provider instead of creating them."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match
from stackflow import env

from tests.infra.code_scan import database_import
from tests.infra.conftest import (
    Synthesized,
    database_client_gaps,
    functions_of,
    resources_of,
    synthesize,
)

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:shop-db-AbCdEf"
PROVIDER_ARN = ("arn:aws:iam::111122223333:oidc-provider/"
                "token.actions.githubusercontent.com")
CONTEXT = {
    "db_cluster_identifier": "shop-cluster",
    "db_secret_arn": SECRET_ARN,
    "db_security_group_id": "sg-0123456789abcdef0",
    "db_vpc_id": "vpc-0123456789abcdef0",
    "db_subnet_ids": "subnet-0aaaaaaaaaaaaaaa0,subnet-0bbbbbbbbbbbbbbb0",
    "db_availability_zones": "us-east-1a,us-east-1b",
    "github_oidc_provider_arn": PROVIDER_ARN,
    "github_subjects": "repo:acme/shop:environment:staging",
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-imported"), stages=("staging",),
                      context=CONTEXT)


def test_no_database_stack_is_created(imported: Synthesized) -> None:
    # GIVEN an existing cluster named in context
    # THEN only the StackFlow stack exists and it passes cdk-nag
    assert imported.error is None
    assert set(imported.stacks) == {"stackflow-staging"}


def test_database_clients_use_the_imported_network_and_secret(
        imported: Synthesized) -> None:
    body = imported.template_json("stackflow-staging")
    (patcher,) = [r["Properties"] for r in resources_of(body, "AWS::Lambda::Function").values()
                  if r["Properties"]["Handler"] == "patcher.handler.handler"]
    # THEN the patcher reads the imported secret from the imported subnets
    assert patcher["Environment"]["Variables"][env.DB_SECRET_ARN] == SECRET_ARN
    assert patcher["VpcConfig"]["SubnetIds"] == ["subnet-0aaaaaaaaaaaaaaa0",
                                                 "subnet-0bbbbbbbbbbbbbbb0"]
    # AND every function whose code reads the database (StackFlowAPI too) is a client of
    # the imported one: its secret, its subnets, the clients group, a role that may read it
    (group,) = [lid for lid in resources_of(body, "AWS::EC2::SecurityGroup")
                if lid.startswith("DatabaseClients")]
    readers = {f["Handler"]: f for f in functions_of(body).values()
               if database_import(f["Handler"])}
    assert "example_api.app.handler" in readers
    for function in readers.values():
        assert function["Environment"]["Variables"][env.DB_SECRET_ARN] == SECRET_ARN
    assert {h: gaps for h, f in readers.items() if (gaps := database_client_gaps(
        body, f, subnets=list(CONTEXT["db_subnet_ids"].split(",")),
        security_group={"Fn::GetAtt": [group, "GroupId"]}))} == {}
    # AND the database's security group admits the clients group on the PostgreSQL port
    imported.template("stackflow-staging").has_resource_properties(
        "AWS::EC2::SecurityGroupIngress", {
            "GroupId": "sg-0123456789abcdef0", "FromPort": 5432, "ToPort": 5432,
            "SourceSecurityGroupId": Match.any_value()})
    # AND drift checks the one stack that exists
    (drift,) = [r["Properties"] for r in resources_of(body, "AWS::Lambda::Function").values()
                if r["Properties"]["Handler"] == "drift_check.handler.handler"]
    assert drift["Environment"]["Variables"][env.DRIFT_STACKS] == "stackflow-staging"


def test_ci_role_trusts_the_imported_provider_and_environment(imported: Synthesized) -> None:
    template = imported.template("stackflow-staging")
    # THEN no second provider is created and the role trusts the GitHub environment
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    template.has_resource_properties("AWS::IAM::Role", {
        "AssumeRolePolicyDocument": {"Statement": [Match.object_like({
            "Principal": {"Federated": PROVIDER_ARN},
            "Condition": {"StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub":
                    ["repo:acme/shop:environment:staging"]}},
        })]},
    })


def test_the_snapshot_step_snapshots_the_imported_cluster(imported: Synthesized) -> None:
    # GIVEN staging (which snapshots before destructive migrations) on an existing cluster
    body = imported.template_json("stackflow-staging")
    (snapshot,) = [f for f in functions_of(body).values()
                   if f["Handler"] == "deploy_steps.handler.snapshot"]
    # THEN the Snapshot step is told that cluster's identifier, as given in context
    assert snapshot["Environment"]["Variables"][env.DB_CLUSTER_ID] == "shop-cluster"
    # AND its role may snapshot that cluster, by name
    (create,) = [st for policy in resources_of(body, "AWS::IAM::Policy").values()
                 if {"Ref": snapshot["Role"]["Fn::GetAtt"][0]} in policy["Properties"]["Roles"]
                 for st in policy["Properties"]["PolicyDocument"]["Statement"]
                 if st.get("Sid") == "CreateSnapshot"]
    clusters = [r for r in create["Resource"] if ":cluster:" in str(r)]
    assert [r["Fn::Join"][1][-1] for r in clusters] == [":cluster:shop-cluster"]
