"""cdk-nag's AwsSolutions pack and the one way to acknowledge a finding: with a reason.

Every acknowledgement names one finding (``Rule[Finding]`` for IAM wildcards) on one
construct, so a new wildcard elsewhere still fails synthesis.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON_LENGTH = 20
PLUGIN_PREFIX = "AwsSolutions::"


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct``; the reason is mandatory."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledging {rule_id} needs a written reason")
    # The plugin prefix routes the acknowledgement to cdk-nag rather than to annotations.
    Validations.of(construct).acknowledge(
        Acknowledgment(id=f"{PLUGIN_PREFIX}{rule_id}", reason=reason))


def apply_aws_solutions(app: App) -> None:
    """Run the AwsSolutions pack at synthesis; an unacknowledged error stops synthesis."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def wildcard_finding(scope: IConstruct, resource: str) -> str:
    """The IAM5 finding id cdk-nag reports for ``resource`` (an ARN, tokens allowed).

    cdk-nag prints intrinsics as ``<AWS::Region>`` (pseudo parameters and Refs) and
    ``<Logical.Attr>`` (GetAtt), so a finding id can be computed instead of pasted.
    """
    return f"AwsSolutions-IAM5[Resource::{_render(Stack.of(scope).resolve(resource))}]"


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        return f"<{logical}.{attribute}>"
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")
