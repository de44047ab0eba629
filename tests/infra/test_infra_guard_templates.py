"""The guard on this app's own templates: one synthesis per session (the ``synthesized``
fixture), then mutated copies, classified offline as ``stackflow infra diff --against``
classifies them, against cfn-lint's resource schemas.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow_tools.infra_guard.assembly import load_assembly
from stackflow_tools.infra_guard.classify import classify
from stackflow_tools.infra_guard.model import REPLACING, GuardReport, StackChanges
from stackflow_tools.infra_guard.schemas import create_only, lookup
from stackflow_tools.infra_guard.service import DEPLOY_TABLE_OUTPUT, stage_stacks

from tests.infra.conftest import Synthesized

MAIN, DATABASE = "stackflow-dev", "stackflow-dev-database"


def diff(synthesized: Synthesized, stack: str, new: dict[str, Any],
         allow: tuple[str, ...] = ()) -> GuardReport:
    old = synthesized.template_json(stack)
    return classify([StackChanges(stack, old, new)], schemas=lookup(), allow=allow)


def copy_of(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    return copy.deepcopy(synthesized.template_json(stack))


def deploy_table_id(template: dict[str, Any]) -> str:
    """The deploy table's logical id, read from the output that names the table."""
    return str(template["Outputs"][DEPLOY_TABLE_OUTPUT]["Value"]["Ref"])


def only(template: dict[str, Any], resource_type: str) -> str:
    [logical_id] = [k for k, r in template["Resources"].items() if r["Type"] == resource_type]
    return str(logical_id)


def test_an_unchanged_app_has_no_changes(synthesized: Synthesized) -> None:
    for stack in (MAIN, DATABASE, "stackflow-prod"):
        assert diff(synthesized, stack, copy_of(synthesized, stack)).findings == ()


def test_renaming_the_deploy_tables_construct_id_is_destructive(
        synthesized: Synthesized) -> None:
    # GIVEN the table under a new logical id (what renaming its construct id does)
    new = copy_of(synthesized, MAIN)
    table = deploy_table_id(new)
    new["Resources"]["RenamedDeployTable"] = new["Resources"].pop(table)
    # WHEN classified
    report = diff(synthesized, MAIN, new)
    # THEN removing the old table blocks, and the report points at the rename
    [blocking] = report.blocking
    assert (blocking.logical_id, blocking.change.action) == (table, "Remove")
    assert any("renamed construct id? RenamedDeployTable" in n for n in blocking.notes)
    assert blocking.backup == "dynamodb-on-demand-backup"
    # AND naming it with --allow-replace is what lets it through
    assert not diff(synthesized, MAIN, new, allow=(table,)).blocking


def test_prod_keeps_a_renamed_table_but_still_calls_the_change_destructive(
        synthesized: Synthesized) -> None:
    new = copy_of(synthesized, "stackflow-prod")
    table = deploy_table_id(new)
    new["Resources"]["RenamedDeployTable"] = new["Resources"].pop(table)
    [blocking] = diff(synthesized, "stackflow-prod", new).blocking
    assert "kept by its Retain policy, but it leaves the stack" in blocking.notes


def test_changing_the_deploy_tables_partition_key_is_destructive(
        synthesized: Synthesized) -> None:
    new = copy_of(synthesized, MAIN)
    table = new["Resources"][deploy_table_id(new)]["Properties"]
    table["KeySchema"][0]["AttributeName"] = "id"
    table["AttributeDefinitions"][0]["AttributeName"] = "id"
    [blocking] = diff(synthesized, MAIN, new).blocking
    assert blocking.change.replacement in REPLACING
    assert any(c.startswith("KeySchema (") for c in blocking.change.causes)


def test_adding_a_global_secondary_index_is_not_destructive(synthesized: Synthesized) -> None:
    new = copy_of(synthesized, MAIN)
    table = new["Resources"][deploy_table_id(new)]["Properties"]
    table["AttributeDefinitions"].append({"AttributeName": "status", "AttributeType": "S"})
    table["GlobalSecondaryIndexes"] = [{
        "IndexName": "by-status", "Projection": {"ProjectionType": "KEYS_ONLY"},
        "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}]}]
    report = diff(synthesized, MAIN, new)
    [finding] = report.findings
    assert not finding.destructive
    assert finding.change.replacement == "False"
    assert finding.change.causes == ("AttributeDefinitions", "GlobalSecondaryIndexes")


def test_changing_a_lambdas_memory_is_not_destructive(synthesized: Synthesized) -> None:
    new = copy_of(synthesized, MAIN)
    [patcher] = [r for r in new["Resources"].values()
                 if r["Properties"].get("FunctionName") == "StackFlowPatcher"]
    patcher["Properties"]["MemorySize"] = 1024
    [finding] = diff(synthesized, MAIN, new).findings
    assert (finding.destructive, finding.change.causes) == (False, ("MemorySize",))


def test_changing_the_aurora_engine_version_follows_the_schema(
        synthesized: Synthesized) -> None:
    # GIVEN the cluster's engine version moved on
    new = copy_of(synthesized, DATABASE)
    cluster = only(new, "AWS::RDS::DBCluster")
    new["Resources"][cluster]["Properties"]["EngineVersion"] = "17.6"
    # WHEN classified
    [finding] = diff(synthesized, DATABASE, new).findings
    # THEN it is destructive exactly when the shipped schema says the property is
    # create-only (cfn-lint 1.x: it is not, an engine upgrade happens in place)
    schema = create_only("AWS::RDS::DBCluster")
    assert schema is not None
    replaces = ("EngineVersion",) in schema.always + schema.conditional
    assert (finding.logical_id, finding.destructive) == (cluster, replaces)
    assert finding.change.causes[0].startswith("EngineVersion")


def test_replacing_the_subnet_group_replaces_the_cluster_through_its_ref(
        synthesized: Synthesized) -> None:
    new = copy_of(synthesized, DATABASE)
    group = only(new, "AWS::RDS::DBSubnetGroup")
    new["Resources"][group]["Properties"]["DBSubnetGroupName"] = "renamed"
    blocking = {f.change.resource_type for f in diff(synthesized, DATABASE, new).blocking}
    assert "AWS::RDS::DBCluster" in blocking


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_the_guard_names_the_stacks_and_output_the_app_synthesizes(
        synthesized: Synthesized, stage: str) -> None:
    # status derives stack names and finds the table the way infra/stacks.py builds them
    names = [s.name for s in load_assembly(synthesized.outdir).stacks]
    database, main = stage_stacks(stage)
    assert names.index(database) < names.index(main)
    assert DEPLOY_TABLE_OUTPUT in synthesized.template_json(main)["Outputs"]
