"""The guard's plain data: resource changes, findings, reports. No I/O here.

A :class:`ResourceChange` has the shape of a CloudFormation change set's
``ResourceChange``, whether it was read from a change set (online) or predicted from two
templates and the resource schemas (offline), so one classifier serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ADD, MODIFY, REMOVE = "Add", "Modify", "Remove"
ALWAYS, CONDITIONAL, NEVER = "True", "Conditional", "False"
REPLACING = frozenset({ALWAYS, CONDITIONAL})
ONLINE, OFFLINE = "change set", "predicted from the resource schemas"

Template = Mapping[str, Any]


@dataclass(frozen=True)
class ResourceChange:
    """One resource's change, as CloudFormation's ``ResourceChange`` describes it."""

    logical_id: str
    resource_type: str
    action: str  # Add | Modify | Remove | Import | Dynamic
    replacement: str = ""  # True | Conditional | False (Modify only)
    physical_id: str = ""
    causes: tuple[str, ...] = ()  # what changed: "KeySchema (create-only)", "MemorySize"
    policy_action: str = ""  # the change set's PolicyAction (Delete, Retain, Snapshot, ...)

    @property
    def replaces(self) -> bool:
        return self.action == MODIFY and self.replacement in REPLACING

    @property
    def verb(self) -> str:
        """``replace``, ``replace?`` (conditional), ``remove``, ``add``, ``modify``."""
        if self.replaces:
            return "replace" if self.replacement == ALWAYS else "replace?"
        return self.action.lower()


@dataclass(frozen=True)
class Finding:
    """A change in a stack, judged: destructive or not, and allowed by name or not."""

    stack: str
    change: ResourceChange
    destructive: bool = False
    allowed: bool = False
    holds: str = ""  # what a destructive change loses (stateful.Stateful.holds)
    backup: str = ""  # the backup kind deploy takes first (stateful.Stateful.backup)
    path: str = ""  # the CDK construct path, when the template has one
    notes: tuple[str, ...] = ()  # retention policy, "renamed construct id?" hints
    old_properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.destructive and not self.allowed

    @property
    def logical_id(self) -> str:
        return self.change.logical_id

    def names(self) -> tuple[str, str]:
        """The two spellings ``--allow-replace`` accepts: ``ID`` and ``STACK/ID``."""
        return self.logical_id, f"{self.stack}/{self.logical_id}"


@dataclass(frozen=True)
class StackChanges:
    """What the classifier needs about one stack: both templates and, online, the
    change set's changes (None offline: they are predicted from the templates)."""

    stack: str
    old: Template | None
    new: Template | None
    changes: tuple[ResourceChange, ...] | None = None


@dataclass(frozen=True)
class GuardReport:
    """Every finding of every stack, destructive ones first."""

    mode: str
    findings: tuple[Finding, ...] = ()
    unused_allowances: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()  # online diff: what deploy would do, step by step
    notes: tuple[str, ...] = ()  # e.g. a stack predicted offline while online

    @property
    def destructive(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.destructive)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)

    def of_stack(self, stack: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.stack == stack)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "stacks": list(self.stacks),
                "blocking": [finding_dict(f) for f in self.blocking],
                "findings": [finding_dict(f) for f in self.findings],
                "unused_allowances": list(self.unused_allowances), "plan": list(self.plan),
                "notes": list(self.notes)}


def finding_dict(f: Finding) -> dict[str, Any]:
    c = f.change
    return {"stack": f.stack, "logical_id": c.logical_id, "type": c.resource_type,
            "action": c.action, "replacement": c.replacement, "physical_id": c.physical_id,
            "causes": list(c.causes), "policy_action": c.policy_action,
            "destructive": f.destructive, "allowed": f.allowed, "path": f.path,
            "backup": f.backup if f.destructive else "", "notes": list(f.notes)}
