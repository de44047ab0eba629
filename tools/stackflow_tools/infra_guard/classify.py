"""The classifier: every change judged destructive or not, and allowed by name or not.

Pure: ``classify`` takes, per stack, the old template, the new template and the change
set's changes (or None offline, when they are predicted from the templates and the
resource schemas) and returns a :class:`GuardReport`. A change is destructive when it
replaces (``Replacement: True`` or ``Conditional``) or removes a resource of a type in
:data:`stateful.STATEFUL_TYPES`; it is allowed only when ``--allow-replace`` names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stackflow_tools.infra_guard.model import (
    ADD,
    OFFLINE,
    ONLINE,
    REMOVE,
    Finding,
    GuardReport,
    ResourceChange,
    StackChanges,
)
from stackflow_tools.infra_guard.predict import predict_changes, resources
from stackflow_tools.infra_guard.schemas import SchemaLookup
from stackflow_tools.infra_guard.stateful import stateful

CDK_PATH = "aws:cdk:path"
# How a pull request announces a destructive change in its description:
# a line "allow-replace: LOGICAL_ID" (or STACK/LOGICAL_ID), in any case.
_ANNOUNCEMENT = re.compile(r"^[\s>*-]*allow-replace:\s*([A-Za-z0-9/_.-]+)\s*$",
                           re.IGNORECASE | re.MULTILINE)


def classify(stacks: Sequence[StackChanges], *, schemas: SchemaLookup,
             allow: Iterable[str] = ()) -> GuardReport:
    """Judge every change of every stack; destructive findings first."""
    allowed = frozenset(allow)
    findings = [f for s in stacks for f in classify_stack(s, schemas=schemas)]
    findings = [_allow(f, allowed) for f in findings]
    used = {name for f in findings if f.destructive for name in f.names()} & allowed
    offline = any(s.changes is None for s in stacks)
    return GuardReport(mode=OFFLINE if offline else ONLINE,
                       findings=tuple(sorted(findings, key=_order)),
                       unused_allowances=tuple(sorted(allowed - used)),
                       stacks=tuple(s.stack for s in stacks))


def classify_stack(stack: StackChanges, *, schemas: SchemaLookup) -> list[Finding]:
    changes = stack.changes
    if changes is None:
        changes = predict_changes(stack.old or {}, stack.new or {}, schemas)
    return [_finding(stack, c) for c in changes]


def announced(text: str) -> tuple[str, ...]:
    """The names a pull request's description allows (``allow-replace: NAME`` lines)."""
    return tuple(_ANNOUNCEMENT.findall(text))


def _finding(stack: StackChanges, change: ResourceChange) -> Finding:
    kind = stateful(change.resource_type)
    destructive = kind is not None and (change.replaces or change.action == REMOVE)
    old = resources(stack.old).get(change.logical_id, {})
    new = resources(stack.new).get(change.logical_id, {})
    notes = _notes(stack, change, old) if destructive else ()
    return Finding(stack=stack.stack, change=change, destructive=destructive,
                   holds=kind.holds if kind else "", backup=kind.backup if kind else "",
                   path=_cdk_path(new or old), notes=notes,
                   old_properties=old.get("Properties", {}) or {})


def _notes(stack: StackChanges, change: ResourceChange,
           old: Mapping[str, Any]) -> tuple[str, ...]:
    notes = [_policy_note(change, old)]
    if change.action == REMOVE:
        notes.append(_rename_hint(change, old, stack))
    return tuple(n for n in notes if n)


def _policy_note(change: ResourceChange, old: Mapping[str, Any]) -> str:
    removed = change.action == REMOVE
    policy = str(old.get("DeletionPolicy" if removed else "UpdateReplacePolicy", ""))
    action = change.policy_action or policy
    if "Retain" in action:
        return ("kept by its Retain policy, but it leaves the stack"
                if removed else "the old one is kept (Retain); the stack moves to a new, "
                "empty one")
    if "Snapshot" in action:
        return "CloudFormation snapshots it, then deletes it"
    return "deleted by CloudFormation"


def _rename_hint(change: ResourceChange, old: Mapping[str, Any], stack: StackChanges) -> str:
    """A removed resource with an added twin is usually a renamed construct id."""
    before = resources(stack.old)
    added = [lid for lid, r in resources(stack.new).items()
             if lid not in before and r.get("Type") == change.resource_type]
    twins = [lid for lid in added
             if resources(stack.new)[lid].get("Properties") == old.get("Properties")]
    candidates = twins or (added if len(added) == 1 else [])
    if len(candidates) != 1:
        return ""
    return (f"renamed construct id? {candidates[0]} has the same type"
            f"{' and properties' if twins else ''}: keep the logical id with "
            f"override_logical_id(\"{change.logical_id}\") to update in place")


def _allow(finding: Finding, allowed: frozenset[str]) -> Finding:
    if not finding.destructive or not allowed.intersection(finding.names()):
        return finding
    return Finding(**{**finding.__dict__, "allowed": True})


def _cdk_path(resource: Mapping[str, Any]) -> str:
    path = (resource.get("Metadata") or {}).get(CDK_PATH, "")
    return str(path).removesuffix("/Resource")


def _order(finding: Finding) -> tuple[int, int, str, str]:
    rank = {REMOVE: 1, ADD: 3}.get(finding.change.action, 2)
    if finding.change.replaces:
        rank = 0
    return (0 if finding.destructive else 1, rank, finding.stack, finding.logical_id)
