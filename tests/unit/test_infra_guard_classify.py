"""The guard's pure core on literal templates: prediction, classification, the report.

The same classification over the app's real synthesized templates is in
tests/infra/test_infra_guard_templates.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackflow_tools.cli.main import main
from stackflow_tools.infra_guard.classify import announced, classify
from stackflow_tools.infra_guard.model import ALWAYS, CONDITIONAL, NEVER, StackChanges
from stackflow_tools.infra_guard.predict import predict_changes, references, value_at
from stackflow_tools.infra_guard.render import render_text
from stackflow_tools.infra_guard.schemas import CreateOnly, create_only, lookup, pointer
from stackflow_tools.infra_guard.stateful import STATEFUL_TYPES

from tests.support.infra_guard import APP_TEMPLATE, DB_TEMPLATE, mutated, write_assembly

SCHEMAS = {
    "AWS::RDS::DBCluster": CreateOnly(always=(("DBSubnetGroupName",),),
                                      conditional=(("Engine",),)),
    "AWS::RDS::DBSubnetGroup": CreateOnly(always=(("DBSubnetGroupName",),)),
    "AWS::EC2::SecurityGroupIngress": CreateOnly(always=(("ToPort",),)),
    "AWS::DynamoDB::Table": CreateOnly(always=(("TableName",),),
                                       conditional=(("KeySchema",),)),
    "AWS::Lambda::Function": CreateOnly(always=(("FunctionName",),)),
}


def schemas(resource_type: str) -> CreateOnly | None:
    return SCHEMAS.get(resource_type)


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def res(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Type": resource_type, "Properties": properties}


def one_stack(old: dict[str, Any], new: dict[str, Any], allow: tuple[str, ...] = ()) -> Any:
    return classify([StackChanges("app", old, new)], schemas=schemas, allow=allow)


# --- prediction ------------------------------------------------------------------------
def test_a_create_only_change_replaces_and_a_conditional_one_may() -> None:
    old = template(Db=res("AWS::RDS::DBCluster", DBSubnetGroupName="a", Engine="x"),
                   Fn=res("AWS::Lambda::Function", MemorySize=128))
    new = template(Db=res("AWS::RDS::DBCluster", DBSubnetGroupName="b", Engine="x"),
                   Fn=res("AWS::Lambda::Function", MemorySize=256))
    changes = {c.logical_id: c for c in predict_changes(old, new, schemas)}
    assert (changes["Db"].replacement, changes["Db"].causes) == (
        ALWAYS, ("DBSubnetGroupName (create-only)",))
    assert (changes["Fn"].replacement, changes["Fn"].causes) == (NEVER, ("MemorySize",))
    engine = template(Db=res("AWS::RDS::DBCluster", DBSubnetGroupName="a", Engine="y"))
    [maybe] = [c for c in predict_changes(old, engine, schemas) if c.logical_id == "Db"]
    assert maybe.replacement == CONDITIONAL


def test_replacing_a_resource_replaces_what_names_it_by_ref_and_maybe_by_attribute() -> None:
    # GIVEN a cluster naming its subnet group by Ref, and an ingress rule reading its port
    def app(group_name: str) -> dict[str, Any]:
        return template(
            Subnets=res("AWS::RDS::DBSubnetGroup", DBSubnetGroupName=group_name),
            Db=res("AWS::RDS::DBCluster", DBSubnetGroupName={"Ref": "Subnets"}),
            Rule=res("AWS::EC2::SecurityGroupIngress",
                     ToPort={"Fn::GetAtt": ["Db", "Endpoint.Port"]}))
    # WHEN only the subnet group's name changes
    changes = {c.logical_id: c for c in predict_changes(app("a"), app("b"), schemas)}
    # THEN the cluster is replaced with it, and the rule maybe (a port may stay the same)
    assert changes["Db"].replacement == ALWAYS
    assert "refers to Subnets, which is replaced" in changes["Db"].causes[-1]
    assert changes["Rule"].replacement == CONDITIONAL


def test_values_inside_lists_and_references_in_sub() -> None:
    assert value_at({"A": [{"B": 1}]}, ("A", "*", "B")) == [{"B": 1}]
    assert pointer("/properties/KeySchema") == ("KeySchema",)
    assert references({"Fn::Sub": "${Table.Arn}/index/${Other}"}) == {"Table", "Other"}
    assert references({"Fn::Sub": "${Table.Arn}/${Other}"}, refs_only=True) == {"Other"}
    assert references({"Fn::Sub": "arn:${AWS::Partition}:x"}) == set()


def test_identical_templates_change_nothing() -> None:
    assert one_stack(APP_TEMPLATE, mutated(APP_TEMPLATE)).findings == ()


# --- classification --------------------------------------------------------------------
def test_removing_a_table_is_destructive_and_its_twin_is_named_as_a_rename() -> None:
    # GIVEN the table's logical id changed (a renamed construct id)
    new = mutated(APP_TEMPLATE)
    new["Resources"]["TableRenamed"] = new["Resources"].pop("Table")
    # WHEN classified
    report = one_stack(APP_TEMPLATE, new)
    # THEN the removal blocks, the addition does not, and the hint names the twin
    [blocking] = report.blocking
    assert (blocking.logical_id, blocking.change.action) == ("Table", "Remove")
    assert any('override_logical_id("Table")' in n for n in blocking.notes)
    assert [f.logical_id for f in report.findings if not f.destructive] == ["TableRenamed"]


def test_a_destructive_change_named_either_way_is_allowed_and_unused_names_are_listed() -> None:
    new = mutated(APP_TEMPLATE)
    new["Resources"]["Table"]["Properties"]["KeySchema"] = [{"AttributeName": "id",
                                                            "KeyType": "HASH"}]
    for name in ("Table", "app/Table"):
        report = one_stack(APP_TEMPLATE, new, allow=(name, "Typo"))
        assert report.destructive
        assert not report.blocking
        assert report.unused_allowances == ("Typo",)


def test_retained_resources_say_they_leave_the_stack() -> None:
    old = mutated(APP_TEMPLATE)
    old["Resources"]["Table"]["DeletionPolicy"] = "Retain"
    new = mutated(old)
    del new["Resources"]["Table"]
    [finding] = one_stack(old, new).blocking
    assert finding.notes == ("kept by its Retain policy, but it leaves the stack",)


def test_the_report_lists_destructive_changes_first_then_the_rest_by_stack() -> None:
    new = mutated(APP_TEMPLATE)
    new["Resources"]["Function"]["Properties"]["MemorySize"] = 1024
    del new["Resources"]["Table"]
    text = render_text(one_stack(APP_TEMPLATE, new))
    assert text.index("DESTRUCTIVE (1)") < text.index("[NOT ALLOWED] app Table")
    assert text.index("[NOT ALLOWED]") < text.index("Other changes") < text.index("modify (1)")
    assert text.endswith("'allow-replace: LOGICAL_ID')\n")


def test_a_pull_request_announces_with_allow_replace_lines() -> None:
    body = ("Moves the table.\r\n\r\n- allow-replace: stackflow-dev/DeployTable1D1C3CDA\n"
            "Allow-Replace:  ClusterEB0386A7  \nnot allow-replace: Sneaky\n")
    assert announced(body) == ("stackflow-dev/DeployTable1D1C3CDA", "ClusterEB0386A7")


# --- the real schemas ------------------------------------------------------------------
@pytest.mark.parametrize("resource_type", sorted(STATEFUL_TYPES))
def test_cfn_lint_has_a_schema_for_every_stateful_type(resource_type: str) -> None:
    # Offline prediction reads these; a type without a schema would never be replaced.
    assert create_only(resource_type) is not None


def test_the_shipped_schemas_make_table_keys_create_only() -> None:
    table = lookup()("AWS::DynamoDB::Table")
    assert table is not None
    assert ("KeySchema",) in table.always + table.conditional


# --- the command line, offline ----------------------------------------------------------
@pytest.mark.parametrize(("allow", "code"), [((), 2), (("--allow-replace", "Table"), 0)])
def test_offline_diff_exits_2_until_the_destructive_change_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], allow: tuple[str, ...],
        code: int) -> None:
    # GIVEN a previous assembly and a new one whose table key changed
    write_assembly(tmp_path / "old")
    new = mutated(APP_TEMPLATE)
    new["Resources"]["Table"]["Properties"]["KeySchema"][0]["AttributeName"] = "id"
    write_assembly(tmp_path / "new", {"sf-db": DB_TEMPLATE, "sf-app": new})
    # WHEN `stackflow infra diff --against` compares them, with no AWS at all
    exit_code = main(["infra", "diff", "--assembly", str(tmp_path / "new"),
                      "--against", str(tmp_path / "old"), "--json", *allow])
    # THEN the verdict is the exit status, the report is JSON
    assert exit_code == code
    report = json.loads(capsys.readouterr().out)
    assert [f["logical_id"] for f in report["findings"] if f["destructive"]] == ["Table"]
    assert report["mode"] == "predicted from the resource schemas"


def test_an_announcement_file_allows_like_the_flag(tmp_path: Path) -> None:
    write_assembly(tmp_path / "old")
    new = mutated(APP_TEMPLATE)
    del new["Resources"]["Table"]
    write_assembly(tmp_path / "new", {"sf-db": DB_TEMPLATE, "sf-app": new})
    body = tmp_path / "pr.txt"
    body.write_text("Drop the table.\nallow-replace: sf-app/Table\n")
    assert main(["infra", "diff", "--assembly", str(tmp_path / "new"), "--against",
                 str(tmp_path / "old"), "--allow-replace-from", str(body)]) == 0


def test_prod_cannot_turn_its_approval_off(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    write_assembly(tmp_path / "new")
    code = main(["infra", "deploy", "--stage", "prod", "--require-approval", "never",
                 "--assembly", str(tmp_path / "new")])
    assert code == 1
    assert "--require-approval: prod asks before any change" in capsys.readouterr().err
