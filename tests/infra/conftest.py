"""One synthesis of every stage per test session: CDK synthesis runs node and is slow.

The ``synthesized`` fixture builds dev, staging and prod into one app with cdk-nag's
AwsSolutions pack attached, synthesizes once into a temporary folder and keeps the
outcome (including a validation failure) for the tests to judge.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from stackflow import env

from infra.app import build_app, new_app
from infra.config import STAGES

SECRET_READ = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


@dataclass
class Synthesized:
    """The app, its stacks by name, the output folder and a synthesis error, if any."""

    app: App
    stacks: Mapping[str, Stack]
    outdir: Path
    error: str | None

    def template(self, stack_name: str) -> Template:
        return Template.from_stack(self.stacks[stack_name])

    def template_json(self, stack_name: str) -> dict[str, Any]:
        body = json.loads((self.outdir / f"{stack_name}.template.json").read_text())
        assert isinstance(body, dict)
        return body


def synthesize(outdir: Path, *, stages: tuple[str, ...],
               context: dict[str, Any] | None = None) -> Synthesized:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    app = build_app(new_app(outdir=str(outdir), context=context), stages=stages)
    error: str | None = None
    try:
        app.synth()
    except RuntimeError as e:  # cdk-nag findings surface as a failed validation
        error = str(e)
    stacks = {c.stack_name: c for c in app.node.children if isinstance(c, Stack)}
    return Synthesized(app=app, stacks=stacks, outdir=outdir, error=error)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-out"), stages=STAGES)


def resolve_definition(definition_string: Any) -> dict[str, Any]:
    """The state machine definition with each intrinsic replaced by ``<Logical.Attr>``."""
    if isinstance(definition_string, str):
        parsed = json.loads(definition_string)
    else:
        separator, parts = definition_string["Fn::Join"]
        parsed = json.loads(separator.join(_placeholder(part) for part in parts))
    assert isinstance(parsed, dict)
    return parsed


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Fn::GetAtt" in part:
        logical, attribute = part["Fn::GetAtt"]
        return f"<{logical}.{attribute}>"
    if "Ref" in part:
        return f"<{part['Ref']}>"
    raise AssertionError(f"unexpected intrinsic in the definition: {part}")


def state_machine_definition(template: Mapping[str, Any]) -> dict[str, Any]:
    machines = [r for r in template["Resources"].values()
                if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 1
    return resolve_definition(machines[0]["Properties"]["DefinitionString"])


def resources_of(template: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def references(value: Any) -> set[str]:
    """Logical ids (and export names) a policy resource refers to."""
    text = json.dumps(value)
    found = set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text))
    found |= set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
    found |= set(re.findall(r'"Fn::ImportValue": "([^"]+)"', text))
    return found - {"AWS"}


def exported_ids(database: Mapping[str, Any]) -> dict[str, str]:
    """Export name -> logical id it exports, for the database stack's outputs."""
    out = {}
    for output in database.get("Outputs", {}).values():
        if "Export" in output:
            (logical,) = references(output["Value"])
            out[output["Export"]["Name"]] = logical
    return out


def arn_suffix(arn: Any) -> str:
    """The literal end of an ARN built with ``Fn::Join`` (the part after the tokens)."""
    if isinstance(arn, str):
        return arn
    separator, parts = arn["Fn::Join"]
    assert separator == "", arn
    suffix = parts[-1]
    assert isinstance(suffix, str), arn
    return suffix


def functions_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every Lambda function in the template."""
    return {lid: r["Properties"]
            for lid, r in resources_of(body, "AWS::Lambda::Function").items()}


def function_statements(body: dict[str, Any], function: dict[str, Any]) -> list[dict[str, Any]]:
    """The Allow statements of every policy (inline or managed) on the function's role."""
    (role, _) = function["Role"]["Fn::GetAtt"]
    out: list[dict[str, Any]] = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources_of(body, kind).values():
            if {"Ref": role} in policy["Properties"].get("Roles", []):
                out += [st for st in policy["Properties"]["PolicyDocument"]["Statement"]
                        if st["Effect"] == "Allow"]
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def database_client_gaps(body: dict[str, Any], function: dict[str, Any], *,
                         subnets: list[Any], security_group: Any) -> list[str]:
    """What the function lacks to reach the database; empty when it is a full client."""
    secret = function.get("Environment", {}).get("Variables", {}).get(env.DB_SECRET_ARN)
    vpc = function.get("VpcConfig", {})
    readable = {a for st in function_statements(body, function) if st["Resource"] == secret
                for a in as_list(st["Action"])}
    gaps = [] if secret else [f"no {env.DB_SECRET_ARN} in its environment"]
    if sorted(vpc.get("SubnetIds", []), key=str) != sorted(subnets, key=str):
        gaps.append(f"subnets {vpc.get('SubnetIds')} instead of the database's {subnets}")
    if vpc.get("SecurityGroupIds") != [security_group]:
        gaps.append(f"security groups {vpc.get('SecurityGroupIds')}, not [{security_group}]")
    if secret and not set(SECRET_READ) <= readable:
        gaps.append(f"its role may not read the secret ({sorted(readable)})")
    return gaps
