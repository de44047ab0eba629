"""Which properties force a replacement: the CloudFormation resource schemas cfn-lint ships.

A resource schema lists ``createOnlyProperties`` (changing one replaces the resource)
and, in cfn-lint's copy, ``conditionalCreateOnlyProperties`` (changing one may replace
it, CloudFormation's ``Replacement: Conditional``). cfn-lint keeps the schemas of
every region current with each release; this module is the only place that reads them,
through ``cfnlint.schema.PROVIDER_SCHEMA_MANAGER`` (exported by ``cfnlint.schema``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

DEFAULT_REGION = "us-east-1"
# The cfn-lint major version whose schema manager this module was written against.
CFN_LINT_MAJOR = 1

Pointer = tuple[str, ...]  # "/properties/KeySchema" -> ("KeySchema",)


@dataclass(frozen=True)
class CreateOnly:
    """The create-only property paths of one resource type (``*`` = any list item)."""

    always: tuple[Pointer, ...] = ()
    conditional: tuple[Pointer, ...] = ()


SchemaLookup = Callable[[str], CreateOnly | None]


def pointer(path: str) -> Pointer:
    """``/properties/A/B`` -> ``("A", "B")``."""
    parts = path.strip("/").split("/")
    return tuple(parts[1:] if parts and parts[0] == "properties" else parts)


@cache
def _cfn_lint() -> tuple[Any, type[Exception]]:
    """cfn-lint's schema manager and its not-found error, after a version check."""
    import cfnlint.version  # type: ignore[import-untyped]
    from cfnlint.schema import (  # type: ignore[import-untyped]
        PROVIDER_SCHEMA_MANAGER,
        ResourceNotFoundError,
    )

    major = int(cfnlint.version.__version__.split(".")[0])
    if major != CFN_LINT_MAJOR:
        raise RuntimeError(f"stackflow infra reads cfn-lint {CFN_LINT_MAJOR}.x's resource "
                           f"schemas; cfn-lint {cfnlint.version.__version__} is installed")
    return PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError


@cache
def create_only(resource_type: str, region: str = DEFAULT_REGION) -> CreateOnly | None:
    """The type's create-only paths; None when cfn-lint has no schema for it."""
    manager, not_found = _cfn_lint()
    try:
        body = manager.get_resource_schema(region, resource_type).schema
    except not_found:
        return None
    return CreateOnly(
        always=tuple(pointer(p) for p in body.get("createOnlyProperties", ())),
        conditional=tuple(pointer(p) for p in body.get("conditionalCreateOnlyProperties", ())))


def lookup(region: str = DEFAULT_REGION) -> SchemaLookup:
    """A :data:`SchemaLookup` over the schemas of ``region``."""
    return lambda resource_type: create_only(resource_type, region)
