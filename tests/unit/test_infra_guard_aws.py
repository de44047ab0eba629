"""``stackflow infra diff | deploy`` against AWS, call by call (botocore Stubber).

Every CloudFormation, S3, DynamoDB, RDS and STS call of a diff, a deploy with backups,
a refusal, a rolled-back stack and a failed backup is asserted exactly and in order;
``assert_no_pending_responses`` proves nothing expected was skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from stackflow.adapters.dynamodb import InfraDeployRecords, serialize
from stackflow.errors import BackupFailed
from stackflow_tools.infra_guard import service
from stackflow_tools.infra_guard.assembly import load_assembly
from stackflow_tools.infra_guard.backups import Backups
from stackflow_tools.infra_guard.changesets import CAPABILITIES, ChangeSets
from stackflow_tools.infra_guard.publish import AssetPublisher, caller
from stackflow_tools.infra_guard.schemas import lookup

from tests.support.infra_guard import (
    ACCOUNT,
    APP_TEMPLATE,
    BUCKET,
    DB_TEMPLATE,
    REGION,
    RESOLVED_EXEC_ROLE,
    AssemblyFiles,
    write_assembly,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
CALLER_ARN = f"arn:aws:iam::{ACCOUNT}:user/ops"
TABLE = "stackflow-dev-DeployTable-1"
CLUSTER = "sf-db-cluster-abc"
DEPLOYED = datetime(2024, 12, 1, tzinfo=UTC)


@dataclass
class Aws:
    """One stubbed client per service, and the sleeps the adapters asked for."""

    cfn: Stubber
    s3: Stubber
    ddb: Stubber
    rds: Stubber
    sts: Stubber
    deps: service.GuardDeps
    printed: list[str]
    slept: list[float]


@pytest.fixture
def aws() -> Iterator[Aws]:
    clients: dict[str, Any] = {
        name: boto3.client(name, region_name=REGION, aws_access_key_id="x",
                           aws_secret_access_key="x")
        for name in ("cloudformation", "s3", "dynamodb", "rds", "sts")}
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    slept: list[float] = []
    printed: list[str] = []
    deps = service.GuardDeps(
        change_sets=ChangeSets(clients["cloudformation"], sleep=slept.append),
        publisher=AssetPublisher(clients["s3"]),
        backups=Backups(dynamodb=clients["dynamodb"], rds=clients["rds"], s3=clients["s3"],
                        clock=lambda: NOW, sleep=slept.append),
        records=lambda table: InfraDeployRecords(table, clients["dynamodb"]),
        caller=lambda: caller(clients["sts"]), schemas=lookup(), clock=lambda: NOW,
        out=printed.append)
    for stubber in stubbers.values():
        stubber.activate()
    yield Aws(cfn=stubbers["cloudformation"], s3=stubbers["s3"], ddb=stubbers["dynamodb"],
              rds=stubbers["rds"], sts=stubbers["sts"], deps=deps, printed=printed,
              slept=slept)
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


@pytest.fixture
def files(tmp_path: Path) -> AssemblyFiles:
    return write_assembly(tmp_path / "cdk.out")


# --- the expected calls ----------------------------------------------------------------
def change_set_id(stack: str, purpose: str) -> str:
    return (f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/"
            f"stackflow-{purpose}-20250102-030405/{stack}-0001")


def stack_id(stack: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/0001"


def expect_caller(aws: Aws) -> None:
    aws.sts.add_response("get_caller_identity",
                         {"Account": ACCOUNT, "Arn": CALLER_ARN, "UserId": "AIDA"}, {})


def stack(name: str, status: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"StackName": name, "StackId": stack_id(name),
                             "StackStatus": status, "CreationTime": DEPLOYED}
    if outputs:
        found["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
    return found


def expect_describe_stack(aws: Aws, name: str, status: str,
                          outputs: dict[str, str] | None = None) -> None:
    aws.cfn.add_response("describe_stacks", {"Stacks": [stack(name, status, outputs)]},
                         {"StackName": name})


def expect_upload(aws: Aws, key: str, *, present: bool) -> None:
    if present:
        aws.s3.add_response("head_object", {}, {"Bucket": BUCKET, "Key": key})
        return
    aws.s3.add_client_error("head_object", service_error_code="404", http_status_code=404,
                            expected_params={"Bucket": BUCKET, "Key": key})
    aws.s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": key, "Body": ANY})


def expect_change_set(aws: Aws, files: AssemblyFiles, name: str, purpose: str,
                      changes: list[dict[str, Any]], *, template: dict[str, Any],
                      pending_first: bool = False) -> None:
    aws.cfn.add_response("get_template", {"TemplateBody": json.dumps(template)},
                         {"StackName": name, "TemplateStage": "Original"})
    cs_id = change_set_id(name, purpose)
    aws.cfn.add_response("create_change_set", {"Id": cs_id, "StackId": stack_id(name)}, {
        "StackName": name, "ChangeSetName": f"stackflow-{purpose}-20250102-030405",
        "TemplateURL": f"https://s3.{REGION}.amazonaws.com/{BUCKET}/"
                       f"{files.template_keys[name]}",
        "ChangeSetType": "UPDATE", "Capabilities": CAPABILITIES,
        "Description": f"stackflow infra {purpose}",
        "Tags": [{"Key": "project", "Value": "stackflow"}, {"Key": "stage", "Value": "dev"}],
        "RoleARN": RESOLVED_EXEC_ROLE})
    if pending_first:
        aws.cfn.add_response("describe_change_set", {"Status": "CREATE_IN_PROGRESS"},
                             {"ChangeSetName": cs_id})
    aws.cfn.add_response("describe_change_set",
                         {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE",
                          "Changes": [{"Type": "Resource", "ResourceChange": c}
                                      for c in changes]},
                         {"ChangeSetName": cs_id})


def expect_delete(aws: Aws, name: str, purpose: str) -> None:
    aws.cfn.add_response("delete_change_set", {},
                         {"ChangeSetName": change_set_id(name, purpose)})


def change(logical_id: str, resource_type: str, action: str, physical_id: str,
           replacement: str = "", recreation: str = "Never",
           prop: str = "") -> dict[str, Any]:
    raw: dict[str, Any] = {"Action": action, "LogicalResourceId": logical_id,
                           "PhysicalResourceId": physical_id, "ResourceType": resource_type}
    if replacement:
        raw["Replacement"] = replacement
    if prop:
        raw["Details"] = [{"Target": {"Attribute": "Properties", "Name": prop,
                                      "RequiresRecreation": recreation},
                           "Evaluation": "Static", "ChangeSource": "DirectModification"}]
    return raw


DB_CHANGES = [
    change("Cluster", "AWS::RDS::DBCluster", "Modify", CLUSTER, "True", "Always",
           "DBClusterIdentifier"),
    change("Bucket", "AWS::S3::Bucket", "Remove", "sf-db-bucket-xyz"),
]
APP_CHANGES = [
    change("Table", "AWS::DynamoDB::Table", "Modify", TABLE, "Conditional", "Conditionally",
           "KeySchema"),
    change("Function", "AWS::Lambda::Function", "Modify", "sf-app-Function-1", "False",
           "Never", "MemorySize"),
]


def expect_prepare(aws: Aws, files: AssemblyFiles, purpose: str,
                   db_changes: list[dict[str, Any]] = DB_CHANGES,
                   app_changes: list[dict[str, Any]] = APP_CHANGES) -> None:
    """Caller, then per stack (database first): exists?, upload, template, change set."""
    expect_caller(aws)
    expect_describe_stack(aws, "sf-db", "UPDATE_COMPLETE")
    expect_upload(aws, files.template_keys["sf-db"], present=False)
    expect_change_set(aws, files, "sf-db", purpose, db_changes, template=DB_TEMPLATE,
                      pending_first=True)
    expect_describe_stack(aws, "sf-app", "UPDATE_COMPLETE")
    expect_upload(aws, files.template_keys["sf-app"], present=True)
    if purpose == "deploy":
        expect_upload(aws, files.zip_key, present=False)
    expect_change_set(aws, files, "sf-app", purpose, app_changes, template=APP_TEMPLATE)


# --- diff ------------------------------------------------------------------------------
def test_diff_creates_a_change_set_per_stack_classifies_and_deletes_them(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN both stacks deployed, and change sets that replace the cluster and the table
    expect_prepare(aws, files, "diff")
    # THEN both change sets are deleted again, never executed
    expect_delete(aws, "sf-db", "diff")
    expect_delete(aws, "sf-app", "diff")

    # WHEN the online diff runs
    report = service.online_diff(load_assembly(files.directory), aws.deps)

    # THEN the three data-losing changes block, the function's memory does not
    assert [(f.stack, f.logical_id, f.change.verb) for f in report.blocking] == [
        ("sf-app", "Table", "replace?"), ("sf-db", "Cluster", "replace"),
        ("sf-db", "Bucket", "remove")]
    [memory] = [f for f in report.findings if not f.destructive]
    assert memory.change.causes == ("MemorySize",)
    assert aws.slept == [5.0]  # one poll while the first change set was computed


def test_a_diff_with_names_allowed_lists_what_deploy_would_do_and_still_executes_nothing(
        aws: Aws, files: AssemblyFiles) -> None:
    expect_prepare(aws, files, "diff")
    expect_delete(aws, "sf-db", "diff")
    expect_delete(aws, "sf-app", "diff")

    report = service.online_diff(load_assembly(files.directory), aws.deps,
                                 allow=("Cluster", "Bucket", "sf-app/Table"))

    assert not report.blocking
    assert report.plan == (
        f"back up sf-app/Table (AWS::DynamoDB::Table {TABLE}): dynamodb-on-demand-backup",
        f"back up sf-db/Cluster (AWS::RDS::DBCluster {CLUSTER}): rds-cluster-snapshot",
        "back up sf-db/Bucket (AWS::S3::Bucket sf-db-bucket-xyz): s3-versioning-marker",
        "execute change set stackflow-diff-20250102-030405 on sf-db (2 change(s)) and wait",
        "execute change set stackflow-diff-20250102-030405 on sf-app (2 change(s)) and wait")


# --- deploy ----------------------------------------------------------------------------
def expect_backups(aws: Aws) -> None:
    """The table's on-demand backup, the cluster snapshot, the bucket's versioning."""
    backup_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/backup/01"
    details = {"BackupArn": backup_arn, "BackupName": "backup", "BackupType": "USER",
               "BackupCreationDateTime": NOW}
    aws.ddb.add_response(
        "create_backup", {"BackupDetails": {**details, "BackupStatus": "CREATING"}},
        {"TableName": TABLE, "BackupName": "stackflow-sf-app-Table-20250102-030405"})
    for state in ("CREATING", "AVAILABLE"):
        aws.ddb.add_response(
            "describe_backup",
            {"BackupDescription": {"BackupDetails": {**details, "BackupStatus": state}}},
            {"BackupArn": backup_arn})
    snapshot = "stackflow-sf-db-cluster-20250102-030405"
    aws.rds.add_response("create_db_cluster_snapshot", {"DBClusterSnapshot": {}},
                         {"DBClusterSnapshotIdentifier": snapshot,
                          "DBClusterIdentifier": CLUSTER})
    aws.rds.add_response("describe_db_cluster_snapshots",
                         {"DBClusterSnapshots": [{"Status": "available"}]},
                         {"DBClusterSnapshotIdentifier": snapshot})
    aws.s3.add_response("get_bucket_versioning", {"Status": "Enabled"},
                        {"Bucket": "sf-db-bucket-xyz"})


def expect_execute(aws: Aws, name: str, final: str) -> None:
    aws.cfn.add_response("execute_change_set", {},
                         {"ChangeSetName": change_set_id(name, "deploy")})
    expect_describe_stack(aws, name, "UPDATE_IN_PROGRESS")
    expect_describe_stack(aws, name, final)


def expect_record(aws: Aws, name: str, fields: dict[str, Any]) -> None:
    key = {"pk": {"S": f"INFRA#{name}"},
           "sk": {"S": "DEPLOY#2025-01-02T03:04:05Z#stackflow-deploy-20250102-030405"}}
    item = {**key, **serialize({**fields, "stack": name, "started_at": "2025-01-02T03:04:05Z",
                                "change_set": "stackflow-deploy-20250102-030405"})}
    aws.ddb.add_response("put_item", {}, {"TableName": TABLE, "Item": item})


def record_fields(name: str, status: str, outcome: str, *, changes: int,
                  destructive: list[dict[str, str]], backups: list[dict[str, str]],
                  reason: str = "", failed: str = "") -> dict[str, Any]:
    return {"stage": "dev", "status": status, "outcome": outcome, "reason": reason,
            "failed_resource": failed, "change_set_id": change_set_id(name, "deploy"),
            "changes": changes, "destructive": destructive,
            "allowed": ["Bucket", "Cluster", "sf-app/Table"], "backups": backups,
            "by": CALLER_ARN, "commit": "abc123", "finished_at": "2025-01-02T03:04:05Z"}


ALLOWED = service.DeployOptions(allow=("Cluster", "Bucket", "sf-app/Table"), stage="dev",
                                commit="abc123")


def test_deploy_backs_up_every_allowed_destructive_change_then_executes_and_records(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN change sets that replace the cluster and the table and remove the bucket,
    # each named with --allow-replace
    expect_prepare(aws, files, "deploy")
    # THEN the backups come first, all of them, before any change set runs
    expect_backups(aws)
    # AND the stacks are executed in dependency order, each waited for
    expect_execute(aws, "sf-db", "UPDATE_COMPLETE")
    expect_execute(aws, "sf-app", "UPDATE_COMPLETE")
    # AND each outcome is recorded in the table the app stack's output names
    expect_describe_stack(aws, "sf-app", "UPDATE_COMPLETE", {"DeployTableName": TABLE})
    expect_record(aws, "sf-db", record_fields(
        "sf-db", "UPDATE_COMPLETE", "SUCCEEDED", changes=2,
        destructive=[{"logical_id": "Cluster", "type": "AWS::RDS::DBCluster",
                      "change": "replace"},
                     {"logical_id": "Bucket", "type": "AWS::S3::Bucket", "change": "remove"}],
        backups=[{"stack": "sf-db", "logical_id": "Cluster", "kind": "rds-cluster-snapshot",
                  "resource": CLUSTER, "backup_id": "stackflow-sf-db-cluster-20250102-030405",
                  "detail": "cluster snapshot"},
                 {"stack": "sf-db", "logical_id": "Bucket", "kind": "s3-versioning-marker",
                  "resource": "sf-db-bucket-xyz", "backup_id": NOW.isoformat(),
                  "detail": "versioning Enabled; restore each object's newest version at "
                            "or before this time"}]))
    expect_record(aws, "sf-app", record_fields(
        "sf-app", "UPDATE_COMPLETE", "SUCCEEDED", changes=2,
        destructive=[{"logical_id": "Table", "type": "AWS::DynamoDB::Table",
                      "change": "replace?"}],
        backups=[{"stack": "sf-app", "logical_id": "Table",
                  "kind": "dynamodb-on-demand-backup", "resource": TABLE,
                  "backup_id": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/backup/01",
                  "detail": "on-demand backup"}]))

    # WHEN the deploy runs
    result = service.deploy(load_assembly(files.directory), aws.deps, ALLOWED)

    # THEN it succeeded, recorded, with three backups
    assert result.succeeded
    assert result.recorded_in == TABLE
    assert [b.kind for b in result.backups] == [
        "dynamodb-on-demand-backup", "rds-cluster-snapshot", "s3-versioning-marker"]
    assert [o.outcome for o in result.outcomes] == ["SUCCEEDED", "SUCCEEDED"]


def test_deploy_refuses_an_unnamed_destructive_change_and_changes_nothing(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN the same change sets, with only the cluster allowed
    expect_prepare(aws, files, "deploy")
    # THEN both change sets are deleted: no backup, no ExecuteChangeSet, no record
    expect_delete(aws, "sf-db", "deploy")
    expect_delete(aws, "sf-app", "deploy")

    # WHEN the deploy runs
    result = service.deploy(load_assembly(files.directory), aws.deps,
                            service.DeployOptions(allow=("Cluster",)))

    # THEN it is refused, naming what was not allowed
    assert result.refused.startswith("REFUSED: 2 destructive change(s) not allowed: "
                                     "sf-app/Table, sf-db/Bucket")
    assert not result.outcomes
    assert not result.backups
    assert "[NOT ALLOWED] sf-app Table" in aws.printed[0]


def test_prod_asks_before_any_change_and_a_no_changes_nothing(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN a deploy that needs approval, and an operator who does not type "yes"
    asked: list[str] = []

    def operator(prompt: str) -> bool:
        asked.append(prompt)
        return False

    aws.deps.confirm = operator
    expect_prepare(aws, files, "deploy")
    expect_delete(aws, "sf-db", "deploy")
    expect_delete(aws, "sf-app", "deploy")

    # WHEN the deploy runs with every destructive change allowed
    result = service.deploy(load_assembly(files.directory), aws.deps,
                            service.DeployOptions(allow=ALLOWED.allow, require_approval=True))

    # THEN the operator was asked once about all four changes, and nothing ran
    assert asked == ["Deploy these 4 change(s) to sf-db, sf-app? Type 'yes': "]
    assert result.refused == "not approved: nothing was changed"


def test_a_rolled_back_stack_is_reported_with_its_failing_resource_and_recorded(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN only the function's memory changes, and the database stack's update fails
    db = [change("Bucket", "AWS::S3::Bucket", "Modify", "sf-db-bucket-xyz", "False", "Never",
                 "Tags")]
    expect_prepare(aws, files, "deploy", db_changes=db, app_changes=APP_CHANGES[1:])
    expect_execute(aws, "sf-db", "UPDATE_ROLLBACK_COMPLETE")
    aws.cfn.add_response("describe_stack_events", {"StackEvents": [
        event("sf-db", "UPDATE_ROLLBACK_COMPLETE"),
        event("Bucket", "UPDATE_FAILED", "Resource update cancelled"),
        event("Cluster", "UPDATE_FAILED", "The engine version is not available"),
        event("sf-db", "UPDATE_IN_PROGRESS", "User Initiated"),
        event("Bucket", "UPDATE_FAILED", "an older deploy's failure"),
    ]}, {"StackName": "sf-db"})
    # THEN the app stack's change set is never executed, only deleted
    expect_describe_stack(aws, "sf-app", "UPDATE_COMPLETE", {"DeployTableName": TABLE})
    fields = {**record_fields("sf-db", "UPDATE_ROLLBACK_COMPLETE", "ROLLED_BACK", changes=1,
                              destructive=[], backups=[],
                              reason="The engine version is not available",
                              failed="Cluster"), "allowed": []}
    expect_record(aws, "sf-db", fields)
    expect_delete(aws, "sf-app", "deploy")

    # WHEN the deploy runs
    result = service.deploy(load_assembly(files.directory), aws.deps,
                            service.DeployOptions(stage="dev", commit="abc123"))

    # THEN it failed, naming the resource that failed first in this update
    assert not result.succeeded
    [outcome] = result.outcomes
    assert (outcome.outcome, outcome.failed_resource) == ("ROLLED_BACK", "Cluster")


def event(logical_id: str, status: str, reason: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "StackId": stack_id("sf-db"), "EventId": f"{logical_id}-{status}",
        "StackName": "sf-db", "LogicalResourceId": logical_id, "Timestamp": NOW,
        "ResourceStatus": status,
        "ResourceType": "AWS::CloudFormation::Stack" if logical_id == "sf-db"
        else "AWS::RDS::DBCluster"}
    if reason:
        out["ResourceStatusReason"] = reason
    return out


def test_a_bucket_without_versioning_stops_the_deploy_before_any_change(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN the bucket's removal is allowed, but its versioning was never enabled
    expect_prepare(aws, files, "deploy", db_changes=DB_CHANGES[1:], app_changes=[])
    aws.s3.add_response("get_bucket_versioning", {}, {"Bucket": "sf-db-bucket-xyz"})
    # THEN both change sets are deleted and nothing is executed
    expect_delete(aws, "sf-db", "deploy")
    expect_delete(aws, "sf-app", "deploy")

    # WHEN the deploy runs
    with pytest.raises(BackupFailed, match="versioning never enabled"):
        service.deploy(load_assembly(files.directory), aws.deps,
                       service.DeployOptions(allow=("Bucket",)))


def test_a_stack_without_changes_gets_no_execution(aws: Aws, tmp_path: Path) -> None:
    # GIVEN one stack whose change set has nothing to do
    files = write_assembly(tmp_path / "cdk.out", {"sf-db": DB_TEMPLATE})
    expect_caller(aws)
    expect_describe_stack(aws, "sf-db", "UPDATE_COMPLETE")
    expect_upload(aws, files.template_keys["sf-db"], present=True)
    aws.cfn.add_response("get_template", {"TemplateBody": json.dumps(DB_TEMPLATE)},
                         {"StackName": "sf-db", "TemplateStage": "Original"})
    cs_id = change_set_id("sf-db", "deploy")
    aws.cfn.add_response("create_change_set", {"Id": cs_id}, None)
    aws.cfn.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "The submitted information didn't contain "
                                            "changes. Submit different information."},
        {"ChangeSetName": cs_id})
    expect_delete(aws, "sf-db", "deploy")

    # WHEN the deploy runs
    result = service.deploy(load_assembly(files.directory), aws.deps, service.DeployOptions())

    # THEN nothing was executed or recorded, and that is a success
    assert result.succeeded
    assert not result.outcomes
    assert not result.recorded_in


def test_a_diff_of_a_new_stack_removes_the_empty_stack_its_change_set_made(
        aws: Aws, tmp_path: Path) -> None:
    # GIVEN a stack that does not exist yet
    files = write_assembly(tmp_path / "cdk.out", {"sf-db": DB_TEMPLATE})
    expect_caller(aws)
    aws.cfn.add_client_error("describe_stacks", service_error_code="ValidationError",
                             service_message="Stack with id sf-db does not exist",
                             expected_params={"StackName": "sf-db"})
    expect_upload(aws, files.template_keys["sf-db"], present=True)
    cs_id = change_set_id("sf-db", "diff")
    aws.cfn.add_response("create_change_set", {"Id": cs_id}, {
        "StackName": "sf-db", "ChangeSetName": "stackflow-diff-20250102-030405",
        "TemplateURL": ANY, "ChangeSetType": "CREATE", "Capabilities": CAPABILITIES,
        "Description": "stackflow infra diff", "Tags": ANY, "RoleARN": RESOLVED_EXEC_ROLE})
    aws.cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {"Action": "Add", "LogicalResourceId": "Cluster",
                                                "ResourceType": "AWS::RDS::DBCluster"}}]},
        {"ChangeSetName": cs_id})
    # THEN the change set and the REVIEW_IN_PROGRESS stack it created are both deleted
    expect_delete(aws, "sf-db", "diff")
    aws.cfn.add_response("delete_stack", {}, {"StackName": "sf-db"})

    # WHEN the online diff runs
    report = service.online_diff(load_assembly(files.directory), aws.deps)

    # THEN adding data-holding resources is not destructive
    assert not report.destructive
    assert len(report.findings) == 1


def test_the_last_deploy_is_read_newest_first_from_the_table(aws: Aws) -> None:
    # GIVEN the table holding one stack's outcomes
    item = serialize({"pk": "INFRA#sf-app", "sk": "DEPLOY#2025-01-02T03:04:05Z#cs",
                      "outcome": "SUCCEEDED", "status": "UPDATE_COMPLETE"})
    aws.ddb.add_response("query", {"Items": [item]}, {
        "TableName": TABLE, "ScanIndexForward": False, "Limit": 1,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :deploy)",
        "ExpressionAttributeValues": {":pk": {"S": "INFRA#sf-app"},
                                      ":deploy": {"S": "DEPLOY#"}}})
    # WHEN the newest is read
    latest = InfraDeployRecords(TABLE, aws.deps.backups.client("dynamodb")).latest("sf-app")
    # THEN the keys stay inside the adapter
    assert latest == {"outcome": "SUCCEEDED", "status": "UPDATE_COMPLETE"}


# --- status ----------------------------------------------------------------------------
def test_status_shows_each_stack_its_drift_and_its_last_deploy(aws: Aws) -> None:
    # GIVEN the database stack never deployed, the app stack drifted at its last check
    aws.cfn.add_client_error("describe_stacks", service_error_code="ValidationError",
                             service_message="Stack with id sf-db does not exist",
                             expected_params={"StackName": "sf-db"})
    app = stack("sf-app", "UPDATE_ROLLBACK_COMPLETE", {"DeployTableName": TABLE})
    app |= {"StackStatusReason": "The following resource(s) failed to update: [Table]",
            "LastUpdatedTime": NOW,
            "DriftInformation": {"StackDriftStatus": "DRIFTED", "LastCheckTimestamp": NOW}}
    aws.cfn.add_response("describe_stacks", {"Stacks": [app]}, {"StackName": "sf-app"})
    aws.ddb.add_response("query", {"Items": [serialize(
        {"pk": "INFRA#sf-app", "sk": "DEPLOY#x", "outcome": "ROLLED_BACK"})]}, None)

    # WHEN the status is read
    found = service.status(["sf-db", "sf-app"], aws.deps)

    # THEN each stack has its line, and the app's last deploy came from its table
    assert [(s.stack, s.status) for s in found] == [
        ("sf-db", "NOT_DEPLOYED"), ("sf-app", "UPDATE_ROLLBACK_COMPLETE")]
    assert found[1].drift == "DRIFTED (checked 2025-01-02 03:04)"
    assert found[1].updated == "2025-01-02 03:04"
    assert found[1].last_deploy == {"outcome": "ROLLED_BACK"}


# --- a first deploy: the app stack imports what the database stack has not exported yet --
def expect_new_stack(aws: Aws, files: AssemblyFiles, name: str,
                     describe: dict[str, Any]) -> None:
    aws.cfn.add_client_error("describe_stacks", service_error_code="ValidationError",
                             service_message=f"Stack with id {name} does not exist",
                             expected_params={"StackName": name})
    expect_upload(aws, files.template_keys[name], present=True)
    if name == "sf-app":
        expect_upload(aws, files.zip_key, present=True)
    expect_create(aws, name, describe)


def expect_create(aws: Aws, name: str, describe: dict[str, Any]) -> None:
    cs_id = change_set_id(name, "deploy")
    aws.cfn.add_response("create_change_set", {"Id": cs_id}, {
        "StackName": name, "ChangeSetName": "stackflow-deploy-20250102-030405",
        "TemplateURL": ANY, "ChangeSetType": "CREATE", "Capabilities": CAPABILITIES,
        "Description": "stackflow infra deploy", "Tags": ANY, "RoleARN": RESOLVED_EXEC_ROLE})
    aws.cfn.add_response("describe_change_set", describe, {"ChangeSetName": cs_id})


def adds(*logical_ids: str) -> dict[str, Any]:
    return {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {"Action": "Add", "LogicalResourceId": lid,
                                                "ResourceType": "AWS::S3::Bucket"}}
        for lid in logical_ids]}


def test_a_first_deploy_creates_the_importing_stacks_change_set_after_its_exporter(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN neither stack exists, and the app stack imports the database stack's exports
    expect_caller(aws)
    expect_new_stack(aws, files, "sf-db", adds("Cluster", "Bucket"))
    expect_new_stack(aws, files, "sf-app", {
        "Status": "FAILED", "StatusReason": "No export named sf-db:ExportsOutputRefCluster "
                                            "found"})
    # THEN the failed change set and the empty stack it made are deleted at once
    expect_delete(aws, "sf-app", "deploy")
    aws.cfn.add_response("delete_stack", {}, {"StackName": "sf-app"})
    # AND the database stack is deployed first, then the app stack's change set is
    # created, judged and executed
    expect_execute(aws, "sf-db", "CREATE_COMPLETE")
    expect_create(aws, "sf-app", adds("Table", "Function"))
    expect_execute(aws, "sf-app", "CREATE_COMPLETE")
    expect_describe_stack(aws, "sf-app", "CREATE_COMPLETE", {"DeployTableName": TABLE})
    aws.ddb.add_response("put_item", {}, None)
    aws.ddb.add_response("put_item", {}, None)

    # WHEN the deploy runs
    result = service.deploy(load_assembly(files.directory), aws.deps, service.DeployOptions())

    # THEN the report predicted the app stack from the schemas, and said why
    [note] = result.report.notes
    assert note.startswith("sf-app was predicted from the resource schemas: CloudFormation "
                           "computes its change set only after sf-db is deployed")
    assert not result.report.destructive
    # AND both stacks were created and recorded
    assert [(o.stack, o.status) for o in result.outcomes] == [
        ("sf-db", "CREATE_COMPLETE"), ("sf-app", "CREATE_COMPLETE")]
    assert result.succeeded


def test_a_deferred_stack_is_judged_again_on_its_real_change_set(
        aws: Aws, files: AssemblyFiles) -> None:
    # GIVEN the database stack changes, and the app stack's change set must wait for it
    db = [change("Bucket", "AWS::S3::Bucket", "Modify", "sf-db-bucket-xyz", "False", "Never",
                 "Tags")]
    expect_caller(aws)
    expect_describe_stack(aws, "sf-db", "UPDATE_COMPLETE")
    expect_upload(aws, files.template_keys["sf-db"], present=True)
    expect_change_set(aws, files, "sf-db", "deploy", db, template=DB_TEMPLATE)
    expect_describe_stack(aws, "sf-app", "UPDATE_COMPLETE")
    expect_upload(aws, files.template_keys["sf-app"], present=True)
    expect_upload(aws, files.zip_key, present=True)
    aws.cfn.add_response("get_template", {"TemplateBody": json.dumps(APP_TEMPLATE)},
                         {"StackName": "sf-app", "TemplateStage": "Original"})
    cs_id = change_set_id("sf-app", "deploy")
    aws.cfn.add_response("create_change_set", {"Id": cs_id}, None)
    aws.cfn.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "No export named sf-db:Out found"},
        {"ChangeSetName": cs_id})
    expect_delete(aws, "sf-app", "deploy")
    expect_execute(aws, "sf-db", "UPDATE_COMPLETE")
    # WHEN its real change set, once the database stack is deployed, replaces the table
    aws.cfn.add_response("create_change_set", {"Id": cs_id}, None)
    aws.cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": APP_CHANGES[0]}]}, {"ChangeSetName": cs_id})
    # THEN it is refused there: deleted, never executed; the database stack is recorded
    expect_delete(aws, "sf-app", "deploy")
    expect_describe_stack(aws, "sf-app", "UPDATE_COMPLETE", {"DeployTableName": TABLE})
    aws.ddb.add_response("put_item", {}, None)

    result = service.deploy(load_assembly(files.directory), aws.deps, service.DeployOptions())

    assert result.refused.startswith("REFUSED: 1 destructive change(s) not allowed: "
                                     "sf-app/Table")
    assert [o.stack for o in result.outcomes] == ["sf-db"]
    assert not result.succeeded
