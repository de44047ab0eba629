"""Stack drift: which CloudFormation resource drifts are StackFlow's own doing.

StackFlow moves a Lambda alias (``FunctionVersion`` / ``RoutingConfig``) on every
deployment, outside CloudFormation, so after the first deployment CloudFormation reports
the alias resource as MODIFIED. When the alias is exactly where the last successful
StackFlow deployment put it (or a live deployment is moving it), those differences are
classified ``managed_by_stackflow`` instead of drift; any other difference stays drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from stackflow.drift.model import AliasResult, ResourceDrift, StackResult

ALIAS_TYPE = "AWS::Lambda::Alias"
# Property paths the deployer owns on an alias resource.
DEPLOYER_PATHS = ("/FunctionVersion", "/RoutingConfig")
AliasKey = tuple[str, str]


def alias_of(resource: ResourceDrift) -> AliasKey | None:
    """(function, alias) of an alias resource, from its physical id (the alias ARN)."""
    if resource.resource_type != ALIAS_TYPE:
        return None
    # arn:aws:lambda:<region>:<account>:function:<function>:<alias>
    parts = resource.physical_id.split(":")
    if len(parts) != 8 or parts[5] != "function":
        return None
    return parts[6], parts[7]


def aliases_in(results: Iterable[StackResult]) -> list[AliasKey]:
    """Every alias that appears among the modified resources of these stacks."""
    found: list[AliasKey] = []
    for result in results:
        for resource in result.resources:
            key = alias_of(resource)
            if key and resource.status == "MODIFIED" and key not in found:
                found.append(key)
    return found


def _is_deployer_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in DEPLOYER_PATHS)


def classify_resource(resource: ResourceDrift,
                      aliases: Mapping[AliasKey, AliasResult]) -> ResourceDrift:
    key = alias_of(resource)
    if key is None or resource.status != "MODIFIED":
        return resource
    alias = aliases.get(key)
    if alias is None or alias.status not in ("in_sync", "deploying"):
        why = "alias is not deployed by StackFlow" if alias is None or \
            alias.status == "unmanaged" else "alias also differs from the last deployment"
        return replace(resource, note=why)
    others = tuple(d for d in resource.differences if not _is_deployer_path(d.path))
    note = f"FunctionVersion/RoutingConfig set by StackFlow ({alias.status})"
    if not others:
        return replace(resource, classification="managed_by_stackflow", note=note)
    # The deployer's paths are expected; anything else on the alias is still drift.
    return replace(resource, differences=others, note=note + "; other properties drifted")


def classify_stack(result: StackResult,
                   aliases: Mapping[AliasKey, AliasResult]) -> StackResult:
    """The stack result with each resource classified; a stack whose only
    differences are the deployer's reads as IN_SYNC."""
    resources = tuple(classify_resource(r, aliases) for r in result.resources)
    if result.status == "DRIFTED" and all(r.classification != "drift" for r in resources):
        return replace(result, resources=resources, status="IN_SYNC",
                       reason="CloudFormation reports only alias changes made by StackFlow")
    return replace(result, resources=resources)


def stack_keys(result: StackResult) -> list[str]:
    """Drift-set keys of one stack: resource, status and the drifted property paths."""
    return [
        f"stack:{result.stack}:{r.logical_id}:{r.status}:"
        + ",".join(sorted({d.path for d in r.differences}))
        for r in result.drifted_resources
    ]


def stack_prefix(stack: str) -> str:
    return f"stack:{stack}:"
