"""Health check between shifts: alarms and the new version's Errors over the bake.

Any given alarm in ALARM fails the step, except one that was already in ALARM before
the first shift (a deployment may be the fix for it) unless
``health.block_on_preexisting_alarm`` is set. The ``AWS/Lambda`` ``Errors`` of the new
version invoked through the alias, summed over the bake window, must not exceed
``health.error_threshold``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import ShiftState
from stackflow.deploy.model import DeployInput
from stackflow.deploy.smoke_cases import json_number
from stackflow.deploy.traffic import firing_alarms
from stackflow.errors import CanaryUnhealthy

# CloudWatch's Lambda metrics have one-minute resolution: a shorter window sees nothing.
MIN_WINDOW_SECONDS = 60


def health(inp: DeployInput, version: str, shift: ShiftState, deps: Deps) -> dict[str, Any]:
    """Check alarms and errors for the bake that just ended; raise CanaryUnhealthy."""
    firing = firing_alarms(inp.alarms, deps)
    preexisting = set(shift.preexisting_alarms)
    blocking = [name for name in firing
                if name not in preexisting or inp.block_on_preexisting_alarm]
    window = max(shift.wait_seconds, MIN_WINDOW_SECONDS)
    end = deps.now()
    errors = deps.alarms.error_sum(inp.function_name, inp.alias, version,
                                   start=end - timedelta(seconds=window), end=end)
    result = {"healthy": not blocking and errors <= inp.error_threshold,
              "alarms": blocking, "ignored_preexisting": [n for n in firing if n not in blocking],
              "errors": json_number(errors), "error_threshold": json_number(inp.error_threshold),
              "window_seconds": window, "index": shift.index, "weight": shift.weight,
              "version": version}
    if not result["healthy"]:
        raise CanaryUnhealthy(_reason(inp, version, blocking, errors, window), **result)
    return result


def _reason(inp: DeployInput, version: str, blocking: list[str], errors: float,
            window: int) -> str:
    parts = []
    if blocking:
        parts.append(f"alarms in ALARM: {', '.join(blocking)}")
    if errors > inp.error_threshold:
        parts.append(f"{json_number(errors)} errors from version {version} in the last "
                     f"{window} s (threshold {json_number(inp.error_threshold)})")
    return f"{inp.function_name}:{inp.alias} canary unhealthy: " + "; ".join(parts)


