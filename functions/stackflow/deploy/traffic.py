"""Moving the alias: shift (weighted), promote, rollback.

Shift and promote read the alias and pass its ``RevisionId``, so a change made by
anyone else between the read and the write fails (``RevisionConflict``) instead of being
overwritten. Rollback is deliberately unguarded and makes at most one write: it must win and be
fast.
"""

from __future__ import annotations

from typing import Any

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import (
    AliasSnapshot,
    LockResult,
    PromoteResult,
    RollbackResult,
    ShiftResult,
    iso,
)
from stackflow.deploy.model import DeployInput
from stackflow.deploy.ports import AlarmState, FunctionsPort
from stackflow.errors import CanaryUnhealthy, InvalidRequest, ResourceNotFound

ALARM = "ALARM"


def shift(inp: DeployInput, lock: LockResult, version: str, previous: ShiftResult | None,
          deps: Deps) -> ShiftResult:
    """Apply the next step of the plan; the same input always writes the same weight."""
    steps = inp.plan
    index = 0 if previous is None else previous.index + 1
    if index >= len(steps):
        raise InvalidRequest("shift.index", f"the plan has {len(steps)} steps and step "
                                            f"{index - 1} already finished it")
    step = steps[index]
    if previous is None:
        since, started_at = preexisting_alarms(inp, deps), iso(deps.now())
    else:
        since, started_at = dict(previous.preexisting_since), previous.started_at
        since.update({n: None for n in previous.preexisting_alarms if n not in since})
    # Re-deploying the version the alias already runs has nothing to shift.
    done = step.weight >= 1.0 or version == lock.previous_version
    if not done:
        weights = routing_weights(lock.previous_version, version, step.weight)
        current = deps.functions.get_alias(inp.function_name, inp.alias)
        deps.functions.update_alias(inp.function_name, inp.alias,
                                    version=lock.previous_version, weights=weights,
                                    revision_id=current.revision_id)
    return ShiftResult(index=index, weight=1.0 if done else step.weight,
                       wait_seconds=0 if done else step.wait_seconds, done=done,
                       started_at=started_at, shifted_at=iso(deps.now()),
                       preexisting_alarms=tuple(sorted(since)), preexisting_since=since,
                       steps_total=len(steps), version=version)


def routing_weights(primary: str, version: str, weight: float) -> dict[str, float]:
    """``AdditionalVersionWeights`` for one step: one published version, 0 < weight < 1.

    Lambda would accept some of what this refuses (a weight of 0, the primary version
    again) and route nonsense; a plan or document that asks for it is a bug to stop on.
    """
    if not version.isdigit() or not primary.isdigit():
        raise InvalidRequest("publish.version", f"weighted routing needs published versions, "
                                                f"got {primary} + {version}")
    if version == primary:
        raise InvalidRequest("publish.version", f"version {version} is the alias's own")
    if not 0.0 < weight < 1.0:
        raise InvalidRequest("shift.weight", f"must be above 0 and below 1, got {weight!r}")
    return {version: weight}


def preexisting_alarms(inp: DeployInput, deps: Deps) -> dict[str, str | None]:
    """Alarms already in ALARM before any traffic moved, with when each entered it.

    Fails if an alarm does not exist, or, with ``block_on_preexisting_alarm``, if any
    is firing.
    """
    firing = firing_alarms(inp.alarms, deps)
    if firing and inp.block_on_preexisting_alarm:
        raise CanaryUnhealthy(f"alarms already in ALARM before the shift: {sorted(firing)} "
                              "(health.block_on_preexisting_alarm is true)",
                              alarms=sorted(firing))
    return {name: state.changed_at for name, state in firing.items()}


def firing_alarms(names: tuple[str, ...], deps: Deps) -> dict[str, AlarmState]:
    """The alarms of ``names`` in ALARM (in the order given); a missing one raises."""
    if not names:
        return {}
    states = deps.alarms.alarm_states(names)
    missing = [name for name in names if name not in states]
    if missing:
        # A misspelt alarm would never fire: refuse rather than deploy unwatched.
        raise ResourceNotFound(f"CloudWatch alarms not found: {missing}", alarms=missing)
    return {name: states[name] for name in names if states[name].state == ALARM}


def promote(inp: DeployInput, version: str, deps: Deps) -> PromoteResult:
    """All traffic to the new version, routing config emptied, in one guarded write."""
    current = deps.functions.get_alias(inp.function_name, inp.alias)
    deps.functions.update_alias(inp.function_name, inp.alias, version=version, weights={},
                                revision_id=current.revision_id)
    return PromoteResult(version=version, alias=inp.alias,
                         previous=AliasSnapshot.of(current))


def rollback(inp: DeployInput, lock: LockResult | None, deps: Deps) -> RollbackResult:
    """All traffic back to the version before this deployment: at most one write.

    One GetAlias, then one unguarded UpdateAlias (a rollback must win any race) — or
    none when the alias is already on the previous version with no routing, as after a
    failure before any shift or a retried rollback: an untouched alias stays untouched.
    """
    if lock is None:
        # Without a lock this execution never moved the alias (Lock comes first).
        return RollbackResult(version=None, rolled_back=False, alias=inp.alias,
                              reason="no lock: this execution never changed the alias")
    before = AliasSnapshot.of(deps.functions.get_alias(inp.function_name, inp.alias))
    untouched = before.version == lock.previous_version and not before.routing
    if not untouched:
        deps.functions.update_alias(inp.function_name, inp.alias,
                                    version=lock.previous_version, weights={}, revision_id=None)
    return RollbackResult(version=lock.previous_version, rolled_back=not untouched,
                          alias=inp.alias, before=before)


def rollback_alias(function_name: str, alias: str, version: str,
                   functions: FunctionsPort) -> dict[str, Any]:
    """The operator's rollback (``stackflow rollback-alias``): one unguarded write."""
    before = functions.get_alias(function_name, alias)
    functions.update_alias(function_name, alias, version=version, weights={},
                           revision_id=None)
    return {"function": function_name, "alias": alias, "version": version,
            "before": AliasSnapshot.of(before).to_dict()}
