"""Alias drift: where each managed alias points vs the last successful deployment.

The expected state is the ``new_version`` of the newest SUCCEEDED deployment record of
that function and alias, with no routing weights (a finished deployment leaves none).
A weighted alias while a deployment holds the live lock is a canary, not drift; once
no execution holds the lock, the weights were left behind by a dead execution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackflow.drift.model import AliasResult, AliasState, AliasStatus


@dataclass(frozen=True)
class DeployedAlias:
    """What one deployment record says about an alias."""

    version: str
    execution_id: str
    status: str = "SUCCEEDED"


@dataclass(frozen=True)
class AliasHistory:
    """The deployment facts alias drift needs, read from the deployment table."""

    last_succeeded: DeployedAlias | None = None
    latest: DeployedAlias | None = None
    active_execution: str | None = None  # holder of a live deployment lock


def normalize_routing(routing: Mapping[str, float]) -> dict[str, float]:
    # Zero weights mean "no routing"; rounding hides float noise from JSON round trips.
    return {str(v): round(float(w), 6) for v, w in routing.items() if float(w) > 0}


def compare_alias(function: str, alias: str, actual: AliasState | None,
                  history: AliasHistory) -> AliasResult:
    """Classify one alias: in_sync, drifted, missing, unmanaged or deploying."""
    base = AliasResult(function=function, alias=alias, status="in_sync", actual=actual)
    if history.active_execution:
        return _result(base, "deploying", history.last_succeeded,
                       f"deployment {history.active_execution} holds the lock",
                       history.active_execution)
    expected = history.last_succeeded
    if expected is None:
        return _result(base, "unmanaged", None,
                       "no successful StackFlow deployment recorded for this alias", None)
    if actual is None:
        return _result(base, "missing", expected, "the alias does not exist",
                       expected.execution_id)
    reason = _difference(actual, expected, history.latest)
    status: AliasStatus = "drifted" if reason else "in_sync"
    return _result(base, status, expected, reason, _execution(expected, history, reason))


def _difference(actual: AliasState, expected: DeployedAlias,
                latest: DeployedAlias | None) -> str:
    routing = normalize_routing(actual.routing)
    if routing:
        left_by = ""
        if latest is not None and latest.status != "SUCCEEDED":
            left_by = f" by execution {latest.execution_id} ({latest.status}), no longer running"
        return f"weighted alias {routing} left{left_by or ' behind with no live deployment'}"
    if actual.version != expected.version:
        return (f"points at version {actual.version}; the last successful deployment "
                f"({expected.execution_id}) set {expected.version}")
    return ""


def _execution(expected: DeployedAlias, history: AliasHistory, reason: str) -> str:
    latest = history.latest
    if reason and latest is not None and latest.status != "SUCCEEDED":
        return latest.execution_id
    return expected.execution_id


def _result(base: AliasResult, status: AliasStatus, expected: DeployedAlias | None, reason: str,
            execution_id: str | None) -> AliasResult:
    return AliasResult(
        function=base.function, alias=base.alias, status=status,
        expected=AliasState(version=expected.version) if expected else None,
        actual=base.actual, reason=reason, execution_id=execution_id)


def alias_keys(result: AliasResult) -> list[str]:
    """Drift-set key of one alias; includes where it points, so a further move is news."""
    if not result.is_drift:
        return []
    actual = result.actual
    where = "absent" if actual is None else \
        f"{actual.version}" + "".join(f"|{v}={w}" for v, w in
                                      sorted(normalize_routing(actual.routing).items()))
    return [f"alias:{result.function}:{result.alias}:{result.status}:{where}"]


def alias_prefix(function: str, alias: str) -> str:
    return f"alias:{function}:{alias}:"
