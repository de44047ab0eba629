"""Moving the alias: shift (weighted), promote, rollback.

Every write is guarded by the revision this execution last left the alias at
(:mod:`stackflow.deploy.guard`): if anyone else changed it since, Shift and Promote
stop with ``AliasChangedExternally`` and write nothing, and Rollback leaves the alias
alone and says why. Rollback makes at most one write, and only while the alias is as
this execution left it; it never waits, so it stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import (
    ALREADY_PREVIOUS,
    LEFT_ALONE,
    NO_LOCK,
    ROLLED_BACK_NOW,
    UNTOUCHED,
    AliasSnapshot,
    LockResult,
    PromoteResult,
    RollbackResult,
    ShiftResult,
    iso,
)
from stackflow.deploy.guard import (
    AliasGuard,
    as_left,
    changed_externally,
    describe,
    plan_states,
)
from stackflow.deploy.model import DeployInput
from stackflow.deploy.ports import AlarmState, AliasInfo, FunctionsPort
from stackflow.deploy.strategy import PlanStep
from stackflow.errors import (
    AliasChangedExternally,
    CanaryUnhealthy,
    InvalidRequest,
    ResourceNotFound,
    RevisionConflict,
)

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
    guard = AliasGuard(previous.revision_id if previous is not None else lock.revision_id)
    # Re-deploying the version the alias already runs has nothing to shift.
    done = step.weight >= 1.0 or version == lock.previous_version
    target = None if done else AliasSnapshot(lock.previous_version, routing_weights(
        lock.previous_version, version, step.weight))
    _, revision = write_alias(inp, guard, target, deps, doing=f"shift {index + 1}")
    return ShiftResult(index=index, weight=1.0 if done else step.weight,
                       wait_seconds=0 if done else step.wait_seconds, done=done,
                       started_at=started_at, shifted_at=iso(deps.now()),
                       preexisting_alarms=tuple(sorted(since)), preexisting_since=since,
                       steps_total=len(steps), version=version, revision_id=revision,
                       checks=0 if done else step.checks,
                       check_seconds=0 if done else step.check_seconds)


def write_alias(inp: DeployInput, guard: AliasGuard, target: AliasSnapshot | None,
                deps: Deps, *, doing: str) -> tuple[AliasInfo, str | None]:
    """Write ``target`` if the alias is as this execution left it.

    Returns the alias as read before and the revision after. ``target`` None writes
    nothing but still checks the guard. An alias that already holds ``target`` is a
    write of ours whose answer was lost: adopted, not repeated.
    """
    current = deps.functions.get_alias(inp.function_name, inp.alias)
    if target is not None and AliasSnapshot.of(current) == target:
        return current, current.revision_id
    if not as_left(current, guard):
        raise changed_externally(inp.function_name, current, guard, doing)
    if target is None:
        return current, current.revision_id
    try:
        updated = deps.functions.update_alias(
            inp.function_name, inp.alias, version=target.version, weights=target.routing,
            revision_id=guard.revision_id or current.revision_id)
    except RevisionConflict as e:
        # Someone wrote between our read and our write.
        raise AliasChangedExternally(f"{inp.function_name}:{inp.alias} changed while "
                                     f"{doing} was writing it: {e.message}",
                                     expected_revision=guard.revision_id) from e
    return current, updated.revision_id


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


def promote(inp: DeployInput, version: str, guard: AliasGuard,
            deps: Deps) -> PromoteResult:
    """All traffic to the new version, routing config emptied, in one guarded write."""
    before, revision = write_alias(inp, guard, AliasSnapshot(version, {}), deps,
                                   doing="Promote")
    return PromoteResult(version=version, alias=inp.alias, previous=AliasSnapshot.of(before),
                         revision_id=revision)


def rollback(inp: DeployInput, lock: LockResult | None, version: str | None,
             guard: AliasGuard | None, deps: Deps) -> RollbackResult:
    """All traffic back to the version before this deployment: at most one write.

    One GetAlias, then one UpdateAlias guarded by the revision this execution left, and
    only while the alias is as it left it. An alias already on the previous version
    with no routing is not written (an untouched alias stays untouched, a retry writes
    nothing); one someone else changed is left alone, with the reason.
    """
    if lock is None or guard is None:
        # Without a lock this execution never moved the alias (Lock comes first).
        return RollbackResult(version=None, rolled_back=False, alias=inp.alias,
                              reason="no lock: this execution never changed the alias",
                              outcome=NO_LOCK)
    return guarded_rollback(inp.function_name, inp.alias, lock.previous_version, version,
                            guard, inp.plan, deps)


def guarded_rollback(function_name: str, alias: str, previous: str, version: str | None,
                     guard: AliasGuard, steps: Sequence[PlanStep],
                     deps: Deps) -> RollbackResult:
    """The rollback both the Rollback step and Reconcile run (see :func:`rollback`)."""
    current = deps.functions.get_alias(function_name, alias)
    before = AliasSnapshot.of(current)
    result = RollbackResult(version=previous, rolled_back=False, alias=alias, before=before,
                            moved=guard.moved, revision_id=current.revision_id)
    if before == AliasSnapshot(previous, {}):
        mine = guard.revision_id is None or current.revision_id == guard.revision_id
        return _with(result, UNTOUCHED if mine else ALREADY_PREVIOUS,
                     None if mine else f"already on {describe(before)}, by an earlier "
                     "attempt of this rollback or by someone else: nothing to undo")
    if not as_left(current, guard, plan_states(previous, version, steps)):
        return _left_alone(result, current, guard)
    try:
        updated = deps.functions.update_alias(function_name, alias, version=previous,
                                              weights={}, revision_id=current.revision_id)
    except RevisionConflict:
        fresh = deps.functions.get_alias(function_name, alias)
        return _left_alone(result, fresh, guard)
    return RollbackResult(version=previous, rolled_back=True, alias=alias, before=before,
                          outcome=ROLLED_BACK_NOW, moved=guard.moved,
                          revision_id=updated.revision_id)


def _with(result: RollbackResult, outcome: str, reason: str | None) -> RollbackResult:
    return RollbackResult(version=result.version, rolled_back=False, alias=result.alias,
                          before=result.before, reason=reason, outcome=outcome,
                          moved=result.moved, revision_id=result.revision_id)


def _left_alone(result: RollbackResult, current: AliasInfo,
                guard: AliasGuard) -> RollbackResult:
    reason = (f"left alone: someone else changed the alias since this deployment last "
              f"wrote it (RevisionId {current.revision_id}, expected {guard.revision_id}); "
              f"it serves {describe(AliasSnapshot.of(current))}")
    return RollbackResult(version=result.version, rolled_back=False, alias=result.alias,
                          before=AliasSnapshot.of(current), reason=reason,
                          outcome=LEFT_ALONE, moved=result.moved)


def rollback_alias(function_name: str, alias: str, version: str,
                   functions: FunctionsPort) -> dict[str, Any]:
    """The operator's rollback (``stackflow rollback-alias``): one unguarded write.

    The operator decides: it wins over a running deployment, whose next alias write
    then stops with ``AliasChangedExternally``.
    """
    before = functions.get_alias(function_name, alias)
    after = functions.update_alias(function_name, alias, version=version, weights={},
                                   revision_id=None)
    return {"function": function_name, "alias": alias, "version": version,
            "before": AliasSnapshot.of(before).to_dict(), "revision_id": after.revision_id}
