"""The drift report: plain frozen data, JSON-able with ``to_dict``.

Three kinds of drift end up in one report: CloudFormation stack drift, Lambda alias
drift (where the alias points vs the last successful deployment) and schema drift
(applied migrations vs their source, and optionally the live schema). Each finding has
a stable ``key``; the set of keys is what "the drift set changed" compares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

REPORT_VERSION = 1

DriftKind = Literal["stack", "alias", "schema"]
Classification = Literal["drift", "managed_by_stackflow"]
AliasStatus = Literal["in_sync", "drifted", "missing", "unmanaged", "deploying"]
SchemaKind = Literal["checksum_mismatch", "missing_from_source", "stale_pending",
                     "schema_changed"]
FingerprintStatus = Literal["match", "changed", "recorded", "skipped"]

# Stack statuses: IN_SYNC / DRIFTED as CloudFormation says; FAILED when the detection
# failed or the stack could not be read (partial resources may still be listed).
STACK_IN_SYNC = "IN_SYNC"
STACK_DRIFTED = "DRIFTED"
STACK_FAILED = "FAILED"


@dataclass(frozen=True)
class PropertyDifference:
    path: str
    expected: str
    actual: str
    difference_type: str  # ADD / REMOVE / NOT_EQUAL

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "expected": self.expected, "actual": self.actual,
                "type": self.difference_type}


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    physical_id: str
    resource_type: str
    status: str  # MODIFIED / DELETED
    differences: tuple[PropertyDifference, ...] = ()
    classification: Classification = "drift"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"logical_id": self.logical_id, "physical_id": self.physical_id,
                "type": self.resource_type, "status": self.status,
                "classification": self.classification, "note": self.note,
                "differences": [d.to_dict() for d in self.differences]}


@dataclass(frozen=True)
class StackResult:
    stack: str
    status: str
    detection_id: str | None = None
    resources: tuple[ResourceDrift, ...] = ()
    reused_detection: bool = False
    reason: str = ""

    @property
    def drifted_resources(self) -> tuple[ResourceDrift, ...]:
        return tuple(r for r in self.resources if r.classification == "drift")

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "status": self.status,
                "detection_id": self.detection_id, "reused_detection": self.reused_detection,
                "reason": self.reason, "drifted": len(self.drifted_resources),
                "resources": [r.to_dict() for r in self.resources]}


@dataclass(frozen=True)
class CarriedOver:
    """A stack not finished within this run; the next run checks it first."""

    stack: str
    reason: str
    detection_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "reason": self.reason, "detection_id": self.detection_id}


@dataclass(frozen=True)
class StackCheck:
    """What the stack checker returns for one run."""

    results: tuple[StackResult, ...] = ()
    carried_over: tuple[CarriedOver, ...] = ()


@dataclass(frozen=True)
class AliasState:
    version: str
    routing: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "routing": dict(sorted(self.routing.items()))}


@dataclass(frozen=True)
class AliasResult:
    function: str
    alias: str
    status: AliasStatus
    expected: AliasState | None = None
    actual: AliasState | None = None
    reason: str = ""
    execution_id: str | None = None

    @property
    def is_drift(self) -> bool:
        return self.status in ("drifted", "missing")

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "alias": self.alias, "status": self.status,
                "expected": self.expected.to_dict() if self.expected else None,
                "actual": self.actual.to_dict() if self.actual else None,
                "reason": self.reason, "execution_id": self.execution_id}


@dataclass(frozen=True)
class SchemaFinding:
    kind: SchemaKind
    version: int | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "detail": self.detail}


@dataclass(frozen=True)
class FingerprintResult:
    status: FingerprintStatus
    current: str | None = None
    recorded: str | None = None
    recorded_version: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "current": self.current, "recorded": self.recorded,
                "recorded_version": self.recorded_version, "reason": self.reason}


@dataclass(frozen=True)
class SchemaResult:
    checked: bool
    current_version: int | None = None
    pending: tuple[int, ...] = ()
    findings: tuple[SchemaFinding, ...] = ()
    fingerprint: FingerprintResult | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "current_version": self.current_version,
                "pending": list(self.pending), "reason": self.reason,
                "findings": [f.to_dict() for f in self.findings],
                "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None}


@dataclass(frozen=True)
class CheckError:
    """A part of the check that could not run (the rest of the report still holds)."""

    part: str
    error_type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"part": self.part, "errorType": self.error_type, "errorMessage": self.message}


@dataclass(frozen=True)
class DriftReport:
    generated_at: datetime
    stacks: tuple[StackResult, ...] = ()
    carried_over: tuple[CarriedOver, ...] = ()
    aliases: tuple[AliasResult, ...] = ()
    schema: SchemaResult | None = None
    errors: tuple[CheckError, ...] = ()
    drift_keys: tuple[str, ...] = ()
    changed: bool = False
    notified: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.drift_keys)

    @property
    def has_drift(self) -> bool:
        return bool(self.drift_keys)

    def counts(self) -> dict[str, int]:
        """Findings per kind of drift, plus what was not fully checked."""
        return {
            "stack": sum(len(s.drifted_resources) for s in self.stacks),
            "alias": sum(1 for a in self.aliases if a.is_drift),
            "schema": len(self.schema.findings) if self.schema else 0,
            "unmanaged_alias": sum(1 for a in self.aliases if a.status == "unmanaged"),
            "carried_over": len(self.carried_over),
            "errors": len(self.errors),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "generated_at": self.generated_at.isoformat(),
            "drifted": self.has_drift,
            "changed": self.changed,
            "notified": self.notified,
            "fingerprint": self.fingerprint,
            "counts": self.counts(),
            "drift_keys": list(self.drift_keys),
            "stacks": [s.to_dict() for s in self.stacks],
            "carried_over": [c.to_dict() for c in self.carried_over],
            "aliases": [a.to_dict() for a in self.aliases],
            "schema": self.schema.to_dict() if self.schema else None,
            "errors": [e.to_dict() for e in self.errors],
        }


def fingerprint_of(keys: Iterable[str]) -> str:
    """A stable digest of a drift set: order and duplicates do not matter."""
    canonical = json.dumps(sorted(set(keys)), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
