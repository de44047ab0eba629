"""Every function can be found by name, and the documented invocations can be run.

A function either has a fixed name (``StackFlowAPI``, ``StackFlowPatcher``) or a stack
output holding the name CloudFormation generated. The ``aws lambda invoke`` examples in
the README and docs name only those, and say which AWS CLI version they need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from infra.assets import REPO_ROOT
from infra.components.deploy_steps import DEPLOY_STEPS
from infra.config import STAGES
from infra.stacks import DRIFT_CHECK_OUTPUT, deploy_step_output
from tests.infra.conftest import Synthesized, functions_of

DOCS = ("README.md", "docs/deploy-steps.md", "docs/patcher.md")
SHELL_FENCES = ("", "sh", "bash", "shell", "console")
V2_FLAG = "--cli-binary-format raw-in-base64-out"


@dataclass(frozen=True)
class Invocation:
    """One ``aws lambda invoke`` command of a shell block and the comment above it."""

    where: str
    command: str
    label: str

    @property
    def function_name(self) -> str:
        return _option(self.command, "--function-name")

    @property
    def payload(self) -> str:
        return _option(self.command, "--payload")


def _option(command: str, name: str) -> str:
    match = re.search(rf"{name}[ =]('[^']*'|\"[^\"]*\"|\S+)", command)
    return match.group(1) if match else ""


def shell_blocks(text: str) -> list[str]:
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
            if lang in SHELL_FENCES]


def invocations(doc: str) -> list[Invocation]:
    """The invocations of one document, continuation lines joined."""
    found = []
    for block in shell_blocks((REPO_ROOT / doc).read_text()):
        label = ""
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("#"):
                label = line
            elif "aws lambda invoke" in line:
                found.append(Invocation(where=doc, command=" ".join(line.split()),
                                        label=label))
    return found


def outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {key: out["Value"] for key, out in body["Outputs"].items()}


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_has_a_fixed_name_or_an_output(synthesized: Synthesized,
                                                      stage: str) -> None:
    # GIVEN the stage's functions and outputs
    body = synthesized.template_json(f"stackflow-{stage}")
    named_by_output = [value["Ref"] for value in outputs(body).values()
                       if isinstance(value, dict) and "Ref" in value]
    # THEN each one's name is either in the template or in an output
    nameless = [f["Handler"] for lid, f in functions_of(body).items()
                if "FunctionName" not in f and lid not in named_by_output]
    assert nameless == []


def test_each_deploy_step_has_an_output_named_after_the_step(
        synthesized: Synthesized) -> None:
    # GIVEN the dev stack
    body = synthesized.template_json("stackflow-dev")
    by_handler = {f["Handler"]: lid for lid, f in functions_of(body).items()}
    values = outputs(body)
    # THEN DeployStep<Step>FunctionName holds the name of that step's function
    for step in DEPLOY_STEPS:
        assert values[deploy_step_output(step)] == {
            "Ref": by_handler[f"deploy_steps.handler.{step}"]}, step
    assert deploy_step_output("approval_request") == "DeployStepApprovalRequestFunctionName"
    # AND the drift check and the patcher have theirs
    assert values[DRIFT_CHECK_OUTPUT] == {"Ref": by_handler["drift_check.handler.handler"]}
    assert values["PatcherFunctionName"] == "StackFlowPatcher"


@pytest.mark.parametrize("doc", DOCS)
def test_documented_invocations_name_functions_the_stack_has(synthesized: Synthesized,
                                                             doc: str) -> None:
    # GIVEN the function names and output keys of the dev stack
    body = synthesized.template_json("stackflow-dev")
    names = {f["FunctionName"] for f in functions_of(body).values() if "FunctionName" in f}
    text = (REPO_ROOT / doc).read_text()
    # WHEN the document's invocations are read
    examples = invocations(doc)
    assert examples
    # THEN each names a function by its fixed name, or by a shell variable
    literal = {e.function_name for e in examples if not e.function_name.startswith(('"$', "$"))}
    assert literal <= names, literal - names
    # AND every output the document queries exists
    queried = set(re.findall(r"OutputKey=='(\w+)'", text))
    assert queried <= set(body["Outputs"]), queried - set(body["Outputs"])


@pytest.mark.parametrize("doc", DOCS)
def test_documented_invocations_say_which_aws_cli_they_need(doc: str) -> None:
    # GIVEN every `aws lambda invoke` example of the document
    for example in invocations(doc):
        versions = set(re.findall(r"\bAWS CLI (v[12])\b", example.label))
        # THEN the v2-only flag appears only under an "AWS CLI v2" comment (v1 refuses it)
        if V2_FLAG in example.command:
            assert versions == {"v2"}, example
        # AND an inline or file:// payload without it is marked v1 (v2 would read base64);
        # fileb:// is read raw by both
        elif not example.payload.startswith("fileb://"):
            assert versions == {"v1"}, example
