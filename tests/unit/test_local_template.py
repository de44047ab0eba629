"""Resolving a synthesized template's references to local resources (pure, no AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stackflow.errors import ConfigurationError
from stackflow_tools.local.template import (
    Template,
    find_state_machine_template,
    state_machine_definition,
)


def _template(props: dict[str, object]) -> Template:
    template = Template(Path("Stack.template.json"), {"Resources": {
        "StepFn": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": props},
    }})
    template.bind("StepFn", "stackflow-dev-validate",
                  Arn="arn:aws:lambda:us-east-1:123456789012:function:stackflow-dev-validate")
    return template


def test_definition_string_join_resolves_getatt_ref_and_pseudo_parameters() -> None:
    # GIVEN a definition CDK writes as Fn::Join with a GetAtt, a Ref and AWS::Partition
    template = _template({"DefinitionString": {"Fn::Join": ["", [
        '{"StartAt":"V","States":{"V":{"Type":"Task","Resource":"',
        {"Fn::GetAtt": ["StepFn", "Arn"]},
        '","Comment":"arn:', {"Ref": "AWS::Partition"}, ' ', {"Ref": "StepFn"}, '","End":true}}}',
    ]]}})
    # WHEN the definition is resolved
    definition = json.loads(state_machine_definition(template))
    # THEN every reference names the local function
    state = definition["States"]["V"]
    assert state["Resource"] == \
        "arn:aws:lambda:us-east-1:123456789012:function:stackflow-dev-validate"
    assert state["Comment"] == "arn:aws stackflow-dev-validate"


def test_definition_substitutions_and_fn_sub_are_applied() -> None:
    # GIVEN a Definition object with DefinitionSubstitutions built with Fn::Sub
    template = _template({
        "Definition": {"StartAt": "V", "States": {"V": {
            "Type": "Task", "Resource": "${ValidateArn}", "End": True}}},
        "DefinitionSubstitutions": {"ValidateArn": {"Fn::Sub": "${StepFn.Arn}"}},
    })
    # WHEN it is resolved
    definition = json.loads(state_machine_definition(template))
    # THEN the placeholder holds the function ARN
    assert definition["States"]["V"]["Resource"].endswith(":function:stackflow-dev-validate")


def test_reference_to_an_unknown_resource_names_it() -> None:
    # GIVEN a definition referring to a resource local mode does not know
    template = _template({"DefinitionString": {"Fn::Join": ["", [{"Ref": "Missing"}]]}})
    # WHEN it is resolved THEN the error names the reference
    with pytest.raises(ConfigurationError, match="Missing"):
        state_machine_definition(template)


def test_missing_cdk_out_says_to_synthesize(tmp_path: Path) -> None:
    # GIVEN an empty cdk.out WHEN the template is looked up THEN the error says what to run
    with pytest.raises(ConfigurationError, match=r"python -m infra.app"):
        find_state_machine_template(tmp_path / "cdk.out")


def test_exported_database_secrets_are_known_by_the_user_they_are_for(tmp_path: Path) -> None:
    # GIVEN a database stack exporting a role's secret attachment and the master secret,
    # and a main stack that imports them
    database = {"Resources": {
        "RoleSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "GenerateSecretString": {"SecretStringTemplate":
                                     '{"username":"stackflow_reader","dbname":"stackflow"}'}}},
        "RoleAttachment": {"Type": "AWS::SecretsManager::SecretTargetAttachment",
                           "Properties": {"SecretId": {"Ref": "RoleSecret"}}},
        "Master": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "GenerateSecretString": {"SecretStringTemplate": '{"username":"admin"}'}}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }, "Outputs": {
        "A": {"Value": {"Ref": "RoleAttachment"}, "Export": {"Name": "db:reader"}},
        "B": {"Value": {"Ref": "Master"}, "Export": {"Name": "db:master"}},
        "C": {"Value": {"Ref": "Queue"}, "Export": {"Name": "db:queue"}},
    }}
    main = {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine",
                                      "Properties": {}}}}
    (tmp_path / "db.template.json").write_text(json.dumps(database))
    (tmp_path / "main.template.json").write_text(json.dumps(main))
    # WHEN local mode reads the cloud assembly
    template = find_state_machine_template(tmp_path)
    # THEN each exported secret names its user (through the attachment too), so local
    # mode can give each its own role's local login
    assert template.secret_users == {"db:reader": "stackflow_reader", "db:master": "admin"}
    assert template.exports["db:reader"] == "AWS::SecretsManager::SecretTargetAttachment"
