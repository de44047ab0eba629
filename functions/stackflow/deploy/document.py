"""The deployment document's contract: one type per result key, which writes and reads it.

Every Lambda state of the state machine writes its result under its own key
(``ResultPath``) of the document that flows through the execution. Each key has one
frozen type here: the step that produces it returns the type's ``to_dict()``, and every
step that reads it uses ``from_document(doc)``. A reader names the document path in its
``InvalidRequest`` (``lock.previous_version``, ``publish.version``...), so a state wired
to the wrong ``ResultPath`` says which key it missed. Fields later releases added are
optional on read, so documents of earlier releases still read.

``$.input`` is :class:`~stackflow.deploy.model.DeployInput`; ``$.record`` is the
deployment record as the deploy table returns it (``stackflow.adapters.dynamodb``);
``$.schema_before``, ``$.migrate`` and ``$.schema_after`` are the patcher's results.
``$.snapshot`` is the same for a single function and a whole release (it is taken once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, Self, TypeVar

from stackflow.deploy.model import DeployInput, parse_input
from stackflow.deploy.ports import AliasInfo
from stackflow.deploy.smoke_cases import json_number
from stackflow.errors import InvalidRequest
from stackflow.validation import (
    as_object,
    opt_bool,
    opt_int,
    opt_list,
    opt_number,
    opt_str,
    req_int,
    req_str,
)


class DocumentResult(Protocol):
    """What every result type offers: its key, and both directions."""

    KEY: ClassVar[str]

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self: ...

    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=DocumentResult)


def read_optional(doc: Mapping[str, Any], result: type[R]) -> R | None:
    """``result`` read from ``doc``, or None when its state has not run (key absent)."""
    return result.from_document(doc) if doc.get(result.KEY) is not None else None


@dataclass(frozen=True)
class LockResult:
    """``$.lock``: the lock this execution holds, and where the alias pointed before."""

    KEY: ClassVar[str] = "lock"
    holder: str
    expires_at: str
    previous_version: str
    started_at: str
    # The alias's RevisionId when the lock was taken: the first alias guard.
    revision_id: str | None = None
    # The lock this one replaced: its holder had stopped running (``{holder, status}``).
    took_over: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "holder": self.holder, "expires_at": self.expires_at,
            "previous_version": self.previous_version, "started_at": self.started_at,
            "revision_id": self.revision_id,
            "took_over": dict(self.took_over) if self.took_over is not None else None}
        return _without_none(result, "revision_id", "took_over")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        lock, p = _part(doc, cls.KEY)
        took_over = lock.get("took_over")
        return cls(holder=req_str(lock, "holder", p), expires_at=req_str(lock, "expires_at", p),
                   previous_version=version_number(lock, "previous_version", p),
                   started_at=req_str(lock, "started_at", p),
                   revision_id=opt_str(lock, "revision_id", prefix=p),
                   took_over=None if took_over is None else as_object(took_over,
                                                                      p + "took_over"))


@dataclass(frozen=True)
class UploadResult:
    """``$.upload``: the code $LATEST runs after UpdateFunctionCode settled."""

    KEY: ClassVar[str] = "upload"
    code_sha256: str
    revision_id: str | None
    last_modified: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"code_sha256": self.code_sha256, "revision_id": self.revision_id,
                "last_modified": self.last_modified}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        upload, p = _part(doc, cls.KEY)
        return cls(code_sha256=req_str(upload, "code_sha256", p),
                   revision_id=opt_str(upload, "revision_id", prefix=p),
                   last_modified=opt_str(upload, "last_modified", prefix=p))


@dataclass(frozen=True)
class PublishResult:
    """``$.publish``: the published version (``code_sha256`` is optional on read)."""

    KEY: ClassVar[str] = "publish"
    version: str
    code_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "code_sha256": self.code_sha256}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        publish, p = _part(doc, cls.KEY)
        return cls(version=version_number(publish, "version", p),
                   code_sha256=opt_str(publish, "code_sha256", prefix=p))


@dataclass(frozen=True)
class SmokeCaseResult:
    """One smoke case's outcome against the new version."""

    name: str
    passed: bool
    failures: tuple[str, ...]
    latency_ms: float
    function_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "failures": list(self.failures),
                "latency_ms": self.latency_ms, "function_error": self.function_error}

    @classmethod
    def from_object(cls, value: Any, where: str) -> Self:
        case, p = as_object(value, where), where + "."
        return cls(name=req_str(case, "name", p), passed=_req_bool(case, "passed", p),
                   failures=_strings(case, "failures", p),
                   latency_ms=opt_number(case, "latency_ms", 0.0, minimum=0, prefix=p) or 0.0,
                   function_error=opt_str(case, "function_error", prefix=p))


@dataclass(frozen=True)
class SmokeResult:
    """``$.smoke``: every case passed against ``version`` (a failure raises instead)."""

    KEY: ClassVar[str] = "smoke"
    version: str
    cases: tuple[SmokeCaseResult, ...]
    passed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "version": self.version,
                "cases": [case.to_dict() for case in self.cases]}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        smoke, p = _part(doc, cls.KEY)
        cases = opt_list(smoke, "cases", p)
        return cls(version=version_number(smoke, "version", p),
                   cases=tuple(SmokeCaseResult.from_object(case, f"{p}cases[{i}]")
                               for i, case in enumerate(cases)),
                   passed=_req_bool(smoke, "passed", p))


@dataclass(frozen=True)
class ShiftResult:
    """``$.shift``: the plan step the alias is on, and the alarms firing before it began."""

    KEY: ClassVar[str] = "shift"
    index: int
    weight: float
    wait_seconds: int
    done: bool
    started_at: str
    preexisting_alarms: tuple[str, ...]
    # When this step's weight was written (absent in documents of older releases).
    shifted_at: str | None = None
    # When each pre-existing alarm entered ALARM, as CloudWatch reported it then.
    preexisting_since: Mapping[str, str | None] = field(default_factory=dict)
    steps_total: int | None = None
    version: str | None = None
    # The alias's RevisionId after this step (the one it wrote, or the one it found
    # unchanged): what the next alias write must still see.
    revision_id: str | None = None
    # The bake: ``checks`` health checks, each after a Wait of ``check_seconds``.
    checks: int = 1
    check_seconds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "index": self.index, "weight": self.weight, "wait_seconds": self.wait_seconds,
            "done": self.done, "started_at": self.started_at, "shifted_at": self.shifted_at,
            "preexisting_alarms": list(self.preexisting_alarms),
            "preexisting_since": dict(self.preexisting_since),
            "steps_total": self.steps_total, "version": self.version,
            "revision_id": self.revision_id, "checks": self.checks,
            "check_seconds": self.check_seconds}
        return _without_none(result, "shifted_at", "steps_total", "version", "revision_id",
                             "check_seconds")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        shift, p = _part(doc, cls.KEY)
        return cls(index=req_int(shift, "index", minimum=0, prefix=p),
                   weight=opt_number(shift, "weight", 0.0, minimum=0, maximum=1,
                                     prefix=p) or 0.0,
                   wait_seconds=opt_int(shift, "wait_seconds", 0, minimum=0, prefix=p) or 0,
                   done=opt_bool(shift, "done", False, p),
                   started_at=_timestamp(shift, "started_at", p),
                   preexisting_alarms=_alarm_names(shift, "preexisting_alarms", p),
                   shifted_at=_timestamp(shift, "shifted_at", p) if "shifted_at" in shift
                   else None,
                   preexisting_since=_since(shift, p),
                   steps_total=opt_int(shift, "steps_total", minimum=1, prefix=p),
                   version=_opt_version(shift, "version", p),
                   revision_id=opt_str(shift, "revision_id", prefix=p),
                   checks=_checks(shift, p),
                   check_seconds=opt_int(shift, "check_seconds", minimum=0, prefix=p))


@dataclass(frozen=True)
class BakeWindow:
    """``[start, end)`` of the Errors query, as UTC timestamps."""

    start: str
    end: str

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end}

    @classmethod
    def from_object(cls, value: Any, where: str) -> Self:
        window, p = as_object(value, where), where + "."
        return cls(start=_timestamp(window, "start", p), end=_timestamp(window, "end", p))


@dataclass(frozen=True)
class HealthResult:
    """``$.health``: the bake that just ended was healthy (an unhealthy one raises
    ``CanaryUnhealthy`` with these same fields as its details)."""

    KEY: ClassVar[str] = "health"
    healthy: bool
    alarms: tuple[str, ...]
    ignored_preexisting: tuple[str, ...]
    errors: float
    error_threshold: float
    window_seconds: int
    index: int
    weight: float
    version: str
    # Both absent in documents of older releases.
    refired: tuple[str, ...] = ()
    window: BakeWindow | None = None
    # Which check of the bake this was (0-based) of how many; the last one ends it.
    check: int = 0
    checks: int = 1

    @property
    def bake_done(self) -> bool:
        return self.check + 1 >= self.checks

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "healthy": self.healthy, "alarms": list(self.alarms),
            "ignored_preexisting": list(self.ignored_preexisting),
            "refired": list(self.refired), "errors": json_number(self.errors),
            "error_threshold": json_number(self.error_threshold),
            "window_seconds": self.window_seconds,
            "window": self.window.to_dict() if self.window is not None else None,
            "index": self.index, "weight": self.weight, "version": self.version,
            "check": self.check, "checks": self.checks, "bake_done": self.bake_done}
        return _without_none(result, "window")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        health, p = _part(doc, cls.KEY)
        window = health.get("window")
        return cls(
            healthy=_req_bool(health, "healthy", p),
            alarms=_alarm_names(health, "alarms", p),
            ignored_preexisting=_alarm_names(health, "ignored_preexisting", p),
            errors=_number(health, "errors", p),
            error_threshold=_number(health, "error_threshold", p),
            window_seconds=opt_int(health, "window_seconds", 0, minimum=0, prefix=p) or 0,
            index=req_int(health, "index", minimum=0, prefix=p),
            weight=opt_number(health, "weight", 0.0, minimum=0, maximum=1, prefix=p) or 0.0,
            version=version_number(health, "version", p),
            refired=_alarm_names(health, "refired", p),
            window=None if window is None else BakeWindow.from_object(window, p + "window"),
            check=opt_int(health, "check", 0, minimum=0, prefix=p) or 0,
            checks=opt_int(health, "checks", 1, minimum=1, prefix=p) or 1)


@dataclass(frozen=True)
class SnapshotResult:
    """``$.snapshot``: the cluster snapshot taken before destructive migrations.

    ``available`` is what the state machine's ``SnapshotReady`` Choice reads: until it
    is true, a Wait and another Snapshot round follow (Migrate waits for it).
    """

    KEY: ClassVar[str] = "snapshot"
    snapshot_id: str
    cluster: str
    status: str  # RDS's word: creating, available, ...
    tables: tuple[str, ...]
    created_at: str  # when this execution asked for it (its first Snapshot round)

    @property
    def available(self) -> bool:
        return self.status == "available"

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "cluster": self.cluster,
                "status": self.status, "tables": list(self.tables),
                "created_at": self.created_at, "available": self.available}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        snapshot, p = _part(doc, cls.KEY)
        return cls(snapshot_id=req_str(snapshot, "snapshot_id", p),
                   cluster=req_str(snapshot, "cluster", p),
                   status=req_str(snapshot, "status", p),
                   tables=_strings(snapshot, "tables", p),
                   created_at=_timestamp(snapshot, "created_at", p))


@dataclass(frozen=True)
class ApprovalAnswer:
    """``$.approval``: the SendTaskSuccess output ``stackflow approve`` sends."""

    KEY: ClassVar[str] = "approval"
    by: str
    at: str
    approved: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"approved": self.approved, "by": self.by, "at": self.at}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        answer, p = _part(doc, cls.KEY)
        return cls(by=req_str(answer, "by", p), at=req_str(answer, "at", p),
                   approved=_req_bool(answer, "approved", p))


@dataclass(frozen=True)
class AliasSnapshot:
    """Where an alias pointed: its version and the weights of any other version."""

    version: str
    routing: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, alias: AliasInfo) -> Self:
        return cls(alias.version, {v: w for v, w in alias.routing.items() if w > 0})

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "routing": dict(self.routing)}

    @classmethod
    def from_object(cls, value: Any, where: str) -> Self:
        alias, p = as_object(value, where), where + "."
        routing = as_object(alias.get("routing", {}), p + "routing")
        return cls(version=req_str(alias, "version", p),
                   routing={str(v): _number(routing, v, p + "routing.") for v in routing})


@dataclass(frozen=True)
class PromoteResult:
    """``$.promote``: all traffic on ``version``, and what the alias held before."""

    KEY: ClassVar[str] = "promote"
    version: str
    alias: str
    previous: AliasSnapshot
    revision_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        result = {"version": self.version, "alias": self.alias,
                  "previous": self.previous.to_dict(), "revision_id": self.revision_id}
        return _without_none(result, "revision_id")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        promote, p = _part(doc, cls.KEY)
        return cls(version=version_number(promote, "version", p),
                   alias=req_str(promote, "alias", p),
                   previous=AliasSnapshot.from_object(promote.get("previous"), p + "previous"),
                   revision_id=opt_str(promote, "revision_id", prefix=p))


# What a rollback found and did (``RollbackResult.outcome``).
ROLLED_BACK_NOW = "rolled_back"  # it wrote: the alias is back on the previous version
UNTOUCHED = "untouched"  # the alias is where the lock found it, unchanged since
ALREADY_PREVIOUS = "already_previous"  # back on the previous version, by an earlier
#                                        attempt of this rollback or by someone else
LEFT_ALONE = "left_alone"  # someone else changed the alias: not this execution's to undo
NO_LOCK = "no_lock"  # never locked, so never moved the alias
OUTCOMES = (ROLLED_BACK_NOW, UNTOUCHED, ALREADY_PREVIOUS, LEFT_ALONE, NO_LOCK)


@dataclass(frozen=True)
class RollbackResult:
    """``$.rollback``: whether the alias went back to ``version`` (None: never moved).

    ``rolled_back`` is true when this call wrote the alias; ``outcome`` says what it
    found; ``moved`` whether this execution had written the alias before.
    """

    KEY: ClassVar[str] = "rollback"
    version: str | None
    rolled_back: bool
    alias: str | None = None
    before: AliasSnapshot | None = None
    reason: str | None = None
    outcome: str | None = None
    moved: bool = False
    revision_id: str | None = None

    @property
    def back_on_previous(self) -> bool:
        """The alias is on the previous version after this execution had moved it."""
        return self.rolled_back or (self.moved and self.outcome == ALREADY_PREVIOUS)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "version": self.version, "rolled_back": self.rolled_back, "alias": self.alias,
            "before": self.before.to_dict() if self.before is not None else None,
            "reason": self.reason, "outcome": self.outcome, "moved": self.moved or None,
            "revision_id": self.revision_id}
        return _without_none(result, "alias", "before", "reason", "outcome", "moved",
                             "revision_id")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        rollback, p = _part(doc, cls.KEY)
        before = rollback.get("before")
        outcome = opt_str(rollback, "outcome", prefix=p)
        if outcome is not None and outcome not in OUTCOMES:
            raise InvalidRequest(p + "outcome", f"must be one of {list(OUTCOMES)}")
        return cls(version=_opt_version(rollback, "version", p),
                   rolled_back=opt_bool(rollback, "rolled_back", False, p),
                   alias=opt_str(rollback, "alias", prefix=p),
                   before=None if before is None else AliasSnapshot.from_object(
                       before, p + "before"),
                   reason=opt_str(rollback, "reason", prefix=p), outcome=outcome,
                   moved=opt_bool(rollback, "moved", False, p),
                   revision_id=opt_str(rollback, "revision_id", prefix=p))


@dataclass(frozen=True)
class UnlockResult:
    """``$.unlock``: whether this execution's lock went; else who holds the lock."""

    KEY: ClassVar[str] = "unlock"
    released: bool
    holder: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"released": self.released, "holder": self.holder}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        unlock, p = _part(doc, cls.KEY)
        return cls(released=_req_bool(unlock, "released", p),
                   holder=opt_str(unlock, "holder", prefix=p))


def read_input(doc: Mapping[str, Any]) -> DeployInput:
    if doc.get("input") is None:
        raise InvalidRequest("input", "is required (the execution input, or Validate's result)")
    return parse_input(doc["input"])


def read_execution_id(doc: Mapping[str, Any]) -> str:
    return req_str(doc, "execution_id")


def version_number(obj: Mapping[str, Any], key: str, prefix: str) -> str:
    """A published version number as Lambda writes it ("7"); never ``$LATEST``."""
    value = obj.get(key)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        raise InvalidRequest(prefix + key, f"must be a published version number, got {value!r}")
    return text


def iso(moment: datetime) -> str:
    """UTC timestamp with seconds, as every record and result writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str, field: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise InvalidRequest(field, f"must be a UTC timestamp like 2025-01-31T12:00:00Z, "
                                    f"got {text!r}") from e


def _part(doc: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any], str]:
    """The result under ``key`` and the prefix its fields are named with."""
    if doc.get(key) is None:
        raise InvalidRequest(key, "is required (the result of an earlier step)")
    return as_object(doc[key], key), key + "."


def _timestamp(obj: Mapping[str, Any], key: str, prefix: str) -> str:
    # Checked on read, so a bad value fails before any AWS call, naming its field.
    text = req_str(obj, key, prefix)
    parse_iso(text, prefix + key)
    return text


def _since(shift: Mapping[str, Any], prefix: str) -> dict[str, str | None]:
    since = shift.get("preexisting_since")
    if since is None:
        return {}
    obj = as_object(since, prefix + "preexisting_since")
    for name, value in obj.items():
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{prefix}preexisting_since.{name}",
                                 "must be a timestamp string or null")
    return dict(obj)


def _checks(shift: Mapping[str, Any], prefix: str) -> int:
    # Absent in documents of older releases: their bake was one wait and one check.
    checks = opt_int(shift, "checks", minimum=0, prefix=prefix)
    return 1 if checks is None else checks


def _alarm_names(obj: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    names = opt_list(obj, key, prefix)
    if not all(isinstance(name, str) for name in names):
        raise InvalidRequest(prefix + key, "must be an array of alarm names")
    return tuple(names)


def _strings(obj: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    values = opt_list(obj, key, prefix)
    if not all(isinstance(value, str) for value in values):
        raise InvalidRequest(prefix + key, "must be an array of strings")
    return tuple(values)


def _req_bool(obj: Mapping[str, Any], key: str, prefix: str) -> bool:
    if key not in obj:
        raise InvalidRequest(prefix + key, "is required")
    return opt_bool(obj, key, False, prefix)


def _number(obj: Mapping[str, Any], key: str, prefix: str) -> float:
    value = opt_number(obj, key, prefix=prefix)
    if value is None:
        raise InvalidRequest(prefix + key, "is required")
    return value


def _opt_version(obj: Mapping[str, Any], key: str, prefix: str) -> str | None:
    return None if obj.get(key) is None else version_number(obj, key, prefix)


def _without_none(result: dict[str, Any], *optional: str) -> dict[str, Any]:
    """``result`` without the optional keys that hold None (absent, as before)."""
    return {k: v for k, v in result.items() if k not in optional or v is not None}
