"""The ports the deploy steps reach AWS through, and the plain values they return.

Adapters (``stackflow.adapters.lambda_``, ``dynamodb``, ``cloudwatch``, ``rds``) implement
these; tests may pass type-checked fakes. Every method raises only
``stackflow.errors`` classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class FunctionConfig:
    """The parts of ``GetFunctionConfiguration`` (of $LATEST or a version) we use."""

    function_name: str
    version: str
    code_sha256: str
    revision_id: str | None = None
    last_modified: str | None = None
    state: str | None = None
    state_reason: str | None = None
    last_update_status: str | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None


@dataclass(frozen=True)
class AliasInfo:
    """An alias: its primary version and the additional version weights."""

    name: str
    version: str
    routing: Mapping[str, float] = field(default_factory=dict)
    revision_id: str | None = None
    arn: str | None = None


@dataclass(frozen=True)
class InvokeResult:
    """A synchronous invocation: Lambda's status, ``FunctionError`` and the payload.

    ``timed_out``: no answer came within the caller's timeout (nothing else is set).
    """

    status_code: int
    payload: bytes
    function_error: str | None = None
    executed_version: str | None = None
    timed_out: bool = False


class FunctionsPort(Protocol):
    def get_configuration(self, function_name: str,
                          qualifier: str | None = None) -> FunctionConfig: ...

    def update_code(self, function_name: str, *, bucket: str, key: str,
                    object_version: str | None) -> FunctionConfig: ...

    def publish_version(self, function_name: str, *, code_sha256: str,
                        revision_id: str | None, description: str) -> FunctionConfig: ...

    def latest_published_version(self, function_name: str) -> FunctionConfig | None: ...

    def get_alias(self, function_name: str, alias: str) -> AliasInfo: ...

    def update_alias(self, function_name: str, alias: str, *, version: str,
                     weights: Mapping[str, float],
                     revision_id: str | None) -> AliasInfo: ...


class Invoker(Protocol):
    def __call__(self, function_name: str, qualifier: str, payload: bytes, *,
                 timeout_seconds: float) -> InvokeResult:
        """Invoke and wait at most ``timeout_seconds`` for the answer."""
        ...


class ExecutionsPort(Protocol):
    def status(self, execution_arn: str) -> str | None:
        """DescribeExecution's status (``RUNNING``, ``ABORTED``...); None when no such
        execution exists. Raises a StackFlow error when it cannot tell."""
        ...


class SnapshotState(Protocol):
    """A cluster snapshot as RDS describes it; ``status`` is RDS's word (``creating``,
    ``available``, ``failed``...)."""

    @property
    def identifier(self) -> str: ...
    @property
    def cluster(self) -> str: ...
    @property
    def status(self) -> str: ...


class SnapshotsPort(Protocol):
    def identifier_for(self, execution_name: str) -> str:
        """The snapshot name of one execution, in the form RDS accepts."""
        ...

    def create(self, cluster: str, identifier: str,
               tags: Mapping[str, str]) -> SnapshotState:
        """Start a snapshot of ``cluster``; one of that name already there is read back."""
        ...

    def describe(self, identifier: str) -> SnapshotState: ...


@dataclass(frozen=True)
class AlarmState:
    """An alarm's ``StateValue`` and when that value last changed (ISO-8601, or None)."""

    state: str
    changed_at: str | None = None


class AlarmsPort(Protocol):
    def alarm_states(self, names: Sequence[str]) -> Mapping[str, AlarmState]:
        """``{alarm name: state}`` for the alarms that exist (missing names are absent)."""
        ...

    def error_sum(self, function_name: str, alias: str, version: str, *,
                  start: datetime, end: datetime) -> float:
        """Sum of ``AWS/Lambda`` ``Errors`` of ``version`` invoked through ``alias``."""
        ...


@dataclass(frozen=True)
class LockState:
    holder: str
    expires_at: str
    ttl: int
    previous_version: str | None = None
    started_at: str | None = None
    # The alias's RevisionId when the lock was taken (the first alias guard).
    revision_id: str | None = None


@dataclass(frozen=True)
class ApprovalToken:
    """The task token an Approval state waits on, and what it is waiting to release.

    Written by ``approval_request``; read by ``stackflow approve | reject``.
    """

    execution_id: str
    task_token: str
    requested_at: str
    function: str
    alias: str
    version: str | None = None


class DeployStore(Protocol):
    def acquire_lock(self, function_name: str, alias: str, lock: LockState,
                     *, now_epoch: int) -> LockState | None:
        """Write ``lock`` unless a live lock of another holder exists; return that one."""
        ...

    def take_over_lock(self, function_name: str, alias: str, lock: LockState,
                       *, from_holder: str) -> bool:
        """Replace the lock only while ``from_holder`` still holds it."""
        ...

    def get_lock(self, function_name: str, alias: str) -> LockState | None: ...

    def release_lock(self, function_name: str, alias: str, holder: str) -> bool:
        """Delete the lock if ``holder`` owns it; False when it does not (or none)."""
        ...

    def update_record(self, function_name: str, execution_id: str,
                      fields: Mapping[str, Any]) -> None:
        """Set top-level attributes of a deployment record (creating it if needed)."""
        ...

    def append_step(self, function_name: str, execution_id: str, step: Mapping[str, Any],
                    *, key: str | None) -> bool:
        """Append a step outcome; with ``key``, only once (False if already there)."""
        ...

    def append_intervention(self, function_name: str, execution_id: str,
                            entry: Mapping[str, Any]) -> bool:
        """Note on a record what someone did to its deployment (``interventions``);
        False (and nothing written) when the execution has no record."""
        ...

    def get_record(self, function_name: str, execution_id: str) -> dict[str, Any] | None: ...

    def list_records(self, function_name: str) -> list[dict[str, Any]]: ...

    def update_release(self, execution_id: str, fields: Mapping[str, Any]) -> None:
        """Set top-level attributes of a release record (creating it if needed)."""
        ...

    def get_release(self, execution_id: str) -> dict[str, Any] | None: ...

    def releases_named(self, execution_name: str) -> list[dict[str, Any]]:
        """The release records of the executions with this name (the ARN's last part)."""
        ...

    def append_release_intervention(self, execution_id: str,
                                    entry: Mapping[str, Any]) -> bool:
        """``append_intervention`` for a release record; False when there is none."""
        ...

    def put_approval(self, approval: ApprovalToken) -> None:
        """Store the token under its execution id (replacing an earlier one)."""
        ...


ObjectReader = Callable[[str, str, str | None], bytes]
# Seconds left before the Lambda's own timeout (the context's remaining time).
TimeLeft = Callable[[], float]
Clock = Callable[[], datetime]
Monotonic = Callable[[], float]
Sleep = Callable[[float], None]
