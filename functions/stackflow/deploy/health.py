"""Health checks during a bake: alarms and the new version's Errors so far.

A bake is ``shift.checks`` checks, each after a short Wait, so a bad version is rolled
back within one check interval of its first error rather than at the end of the bake.
Each check first makes sure the alias is as this deployment left it (an operator may
have rolled it back meanwhile: ``AliasChangedExternally`` stops the deployment).

Any given alarm in ALARM fails the step, except one that was already in ALARM before
the first shift (a deployment may be the fix for it) unless
``health.block_on_preexisting_alarm`` is set. Such an alarm blocks again once it has
left ALARM and re-entered it during the deployment: that is a new firing. The
``AWS/Lambda`` ``Errors`` of the new version invoked through the alias, summed over the
bake window, must not exceed ``health.error_threshold``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import BakeWindow, HealthResult, ShiftResult, iso, parse_iso
from stackflow.deploy.guard import AliasGuard, as_left, changed_externally
from stackflow.deploy.model import DeployInput
from stackflow.deploy.ports import AlarmState
from stackflow.deploy.smoke_cases import json_number
from stackflow.deploy.traffic import firing_alarms
from stackflow.errors import CanaryUnhealthy

# CloudWatch's Lambda metrics have one-minute resolution: a shorter window sees nothing.
MIN_WINDOW_SECONDS = 60
PERIOD = timedelta(seconds=60)


def health(inp: DeployInput, version: str, shift: ShiftResult, previous: HealthResult | None,
           deps: Deps) -> HealthResult:
    """One check of the bake so far; raise CanaryUnhealthy (or AliasChangedExternally).

    ``previous`` is the last check's result: a check of the same plan step counts on
    from it, so the bake ends after ``shift.checks`` checks.
    """
    check = previous.check + 1 if previous is not None and previous.index == shift.index else 0
    _alias_as_left(inp, shift, deps)
    firing = firing_alarms(inp.alarms, deps)
    refired = tuple(name for name, state in firing.items() if _refired(name, state, shift))
    blocking = tuple(name for name in firing
                     if name not in shift.preexisting_alarms or name in refired
                     or inp.block_on_preexisting_alarm)
    start, end = bake_window(deps.now(), shift)
    errors = deps.alarms.error_sum(inp.function_name, inp.alias, version, start=start, end=end)
    result = HealthResult(
        healthy=not blocking and errors <= inp.error_threshold, alarms=blocking,
        ignored_preexisting=tuple(n for n in firing if n not in blocking), refired=refired,
        errors=errors, error_threshold=inp.error_threshold,
        window_seconds=int((end - start).total_seconds()),
        window=BakeWindow(start=iso(start), end=iso(end)),
        index=shift.index, weight=shift.weight, version=version,
        check=check, checks=max(shift.checks, 1))
    if not result.healthy:
        raise CanaryUnhealthy(_reason(inp, version, blocking, errors, start, end),
                              **result.to_dict())
    return result


def _alias_as_left(inp: DeployInput, shift: ShiftResult, deps: Deps) -> None:
    if shift.revision_id is None:
        return  # a document of an earlier release: no revision to compare
    guard = AliasGuard(shift.revision_id)
    current = deps.functions.get_alias(inp.function_name, inp.alias)
    if not as_left(current, guard):
        raise changed_externally(inp.function_name, current, guard, "its next health check")


def bake_window(now: datetime, shift: ShiftResult) -> tuple[datetime, datetime]:
    """``[start, end)`` of the Errors query: the whole bake, in whole minutes.

    Lambda stamps each one-minute datapoint at the start of its minute and ``EndTime``
    is exclusive (emulators compare at second precision): ending at ``now`` could drop
    errors of the very second the check runs, so the window ends after the current
    minute. It starts at the minute the weight was written, or ``wait_seconds`` before
    now if that is earlier (a datapoint of the new version through the alias can only
    exist after the shift, so a wider start adds nothing false).
    """
    start = now - timedelta(seconds=max(shift.wait_seconds, MIN_WINDOW_SECONDS))
    if shift.shifted_at is not None:
        start = min(start, parse_iso(shift.shifted_at, "shift.shifted_at"))
    return _minute(start), _minute(now) + PERIOD


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _refired(name: str, state: AlarmState, shift: ShiftResult) -> bool:
    """A pre-existing alarm whose ALARM began after the first shift recorded it."""
    if name not in shift.preexisting_since:
        return False
    before = shift.preexisting_since[name]
    return before is not None and state.changed_at is not None and state.changed_at != before


def _reason(inp: DeployInput, version: str, blocking: tuple[str, ...], errors: float,
            start: datetime, end: datetime) -> str:
    parts = []
    if blocking:
        parts.append(f"alarms in ALARM: {', '.join(blocking)}")
    if errors > inp.error_threshold:
        parts.append(f"{json_number(errors)} errors from version {version} between "
                     f"{iso(start)} and {iso(end)} (threshold "
                     f"{json_number(inp.error_threshold)})")
    return f"{inp.function_name}:{inp.alias} canary unhealthy: " + "; ".join(parts)
