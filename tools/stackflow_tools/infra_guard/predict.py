"""Offline: predict a change set from two templates and the resource schemas.

Added and removed logical ids are ``Add`` and ``Remove``. A resource in both templates
whose properties differ is a ``Modify``; it is replaced (``True``) when a create-only
property's value differs, maybe replaced (``Conditional``) when a conditionally
create-only one does, and, as CloudFormation would, also when a create-only property
refers (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``) to a resource that is itself replaced: a
subnet group's replacement replaces the cluster that names it.

What this cannot see, and a change set can: values resolved at deploy time (parameters,
``Fn::ImportValue``, SSM references) and custom resources' own decisions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from stackflow_tools.infra_guard.model import (
    ADD,
    ALWAYS,
    CONDITIONAL,
    MODIFY,
    NEVER,
    REMOVE,
    ResourceChange,
    Template,
)
from stackflow_tools.infra_guard.schemas import CreateOnly, Pointer, SchemaLookup

_MISSING = object()
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}")  # ${Name} or ${Name.Attribute}
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def predict_changes(old: Template, new: Template,
                    schemas: SchemaLookup) -> tuple[ResourceChange, ...]:
    """The changes CloudFormation would make to go from ``old`` to ``new``."""
    before, after = resources(old), resources(new)
    changes = {lid: ResourceChange(lid, after[lid]["Type"], ADD)
               for lid in after.keys() - before.keys()}
    changes |= {lid: ResourceChange(lid, before[lid]["Type"], REMOVE)
                for lid in before.keys() - after.keys()}
    for lid in before.keys() & after.keys():
        change = _modify(lid, before[lid], after[lid], schemas(after[lid]["Type"]))
        if change is not None:
            changes[lid] = change
    _cascade(changes, before, after, schemas)
    return tuple(changes[lid] for lid in sorted(changes))


def resources(template: Template | None) -> Mapping[str, Mapping[str, Any]]:
    return (template or {}).get("Resources", {}) or {}


def _modify(lid: str, old: Mapping[str, Any], new: Mapping[str, Any],
            create_only: CreateOnly | None) -> ResourceChange | None:
    if old["Type"] != new["Type"]:
        return ResourceChange(lid, new["Type"], MODIFY, ALWAYS, causes=("Type",))
    before, after = old.get("Properties", {}) or {}, new.get("Properties", {}) or {}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if not changed:
        return None
    always, conditional = _create_only_differences(before, after, create_only)
    replacement = ALWAYS if always else CONDITIONAL if conditional else NEVER
    causes = [_cause(name, always, conditional) for name in changed]
    if create_only is None:
        causes.append("(no resource schema: replacement not predicted)")
    return ResourceChange(lid, new["Type"], MODIFY, replacement, causes=tuple(causes))


def _create_only_differences(before: Mapping[str, Any], after: Mapping[str, Any],
                             create_only: CreateOnly | None) -> tuple[set[str], set[str]]:
    if create_only is None:
        return set(), set()
    return (_differing(before, after, create_only.always),
            _differing(before, after, create_only.conditional))


def _differing(before: Mapping[str, Any], after: Mapping[str, Any],
               paths: tuple[Pointer, ...]) -> set[str]:
    """Top-level names of the ``paths`` whose values differ."""
    return {path[0] for path in paths
            if path and value_at(before, path) != value_at(after, path)}


def value_at(properties: Mapping[str, Any], path: Pointer) -> Any:
    """The value at ``path``; a ``*`` step compares the whole list it stands in."""
    value: Any = properties
    for step in path:
        if step == "*" or not isinstance(value, Mapping):
            return value
        value = value.get(step, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _cause(name: str, always: set[str], conditional: set[str]) -> str:
    if name in always:
        return f"{name} (create-only)"
    if name in conditional:
        return f"{name} (conditionally create-only)"
    return name


def _cascade(changes: dict[str, ResourceChange], before: Mapping[str, Any],
             after: Mapping[str, Any], schemas: SchemaLookup) -> None:
    """Replace what names a replaced resource in a create-only property, to a fixpoint."""
    while True:
        replaced = {lid for lid, c in changes.items() if c.replaces}
        upgraded = [c for lid in sorted(before.keys() & after.keys())
                    if (c := _through_reference(lid, after[lid], changes.get(lid), replaced,
                                                schemas(after[lid]["Type"]))) is not None]
        if not upgraded:
            return
        changes.update({c.logical_id: c for c in upgraded})


def _through_reference(lid: str, new: Mapping[str, Any], current: ResourceChange | None,
                       replaced: set[str], create_only: CreateOnly | None,
                       ) -> ResourceChange | None:
    if create_only is None or (current is not None and current.replaces):
        return None
    properties = new.get("Properties", {}) or {}
    for level, paths in ((ALWAYS, create_only.always), (CONDITIONAL, create_only.conditional)):
        for path in paths:
            value = value_at(properties, path)
            hit = sorted(references(value) & replaced)
            if not path or not hit:
                continue
            # A Ref is the replaced resource's new physical id: the value changes. An
            # attribute (a port, an endpoint) may come out the same: only maybe.
            certain = level == ALWAYS and bool(set(hit) & references(value, refs_only=True))
            cause = f"{path[0]} (create-only; refers to {hit[0]}, which is replaced)"
            return ResourceChange(lid, new["Type"], MODIFY, ALWAYS if certain else CONDITIONAL,
                                  causes=(current.causes if current else ()) + (cause,))
    return None


def references(value: Any, *, refs_only: bool = False) -> set[str]:
    """Logical ids a template value refers to through Ref, Fn::GetAtt or Fn::Sub
    (``refs_only``: through ``Ref`` and ``${Name}`` only, not through an attribute)."""
    return set(_references(value, refs_only))


def _references(value: Any, refs_only: bool) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _references(item, refs_only)
    if not isinstance(value, Mapping):
        return
    for key, inner in value.items():
        if key == "Ref" and isinstance(inner, str):
            yield inner
        elif key == "Fn::GetAtt":
            if not refs_only:
                yield inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
        elif key == "Fn::Sub":
            yield from _sub_references(inner, refs_only)
        else:
            yield from _references(inner, refs_only)


def _sub_references(inner: Any, refs_only: bool) -> Iterator[str]:
    text = inner[0] if isinstance(inner, list) else inner
    pattern = _SUB_REF if refs_only else _SUB_NAME
    yield from pattern.findall(json.dumps(text))
    yield from _references(inner[1] if isinstance(inner, list) else None, refs_only)
