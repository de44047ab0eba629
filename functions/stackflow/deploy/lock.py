"""One deployment per function and alias: the lock item in the deploy table.

The lock is a conditional write with a TTL, so a crashed execution's lock expires and
the next deployment takes it over. It is re-entrant for its holder: a Lock state that
Step Functions retries after a successful write gets the same lock back. A lock whose
holder execution is no longer running (``DescribeExecution``: stopped, timed out,
failed, or gone) is taken over at once, and the takeover is recorded on both records:
an interrupted execution whose clean-up never ran blocks nobody for the lock's TTL.
"""

from __future__ import annotations

from datetime import timedelta

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import LockResult, UnlockResult, iso
from stackflow.deploy.model import DeployInput
from stackflow.deploy.ports import AliasInfo, LockState
from stackflow.deploy.strategy import total_wait_seconds
from stackflow.errors import DeploymentInProgress, InvalidRequest, StackFlowError

RUNNING = "RUNNING"
GONE = "DOES_NOT_EXIST"


def acquire(inp: DeployInput, execution_id: str, deps: Deps) -> LockResult:
    """Take the lock for ``execution_id`` and remember where the alias pointed."""
    existing = deps.store.get_lock(inp.function_name, inp.alias)
    if existing is not None and existing.holder == execution_id:
        return _result(existing)
    alias = deps.functions.get_alias(inp.function_name, inp.alias)
    if not alias.version.isdigit():
        # Rolling back to $LATEST would run the new code: there is nothing to return to.
        raise InvalidRequest("input.alias", f"{inp.alias} points at {alias.version}; point it "
                                            "at a published version before deploying")
    lock = _new_lock(inp, execution_id, alias, deps)
    now_epoch = int(deps.now().timestamp())
    holder = deps.store.acquire_lock(inp.function_name, inp.alias, lock, now_epoch=now_epoch)
    if holder is None:
        return _result(lock)
    return _take_over(inp, lock, holder, deps)


def _take_over(inp: DeployInput, lock: LockState, holder: LockState,
               deps: Deps) -> LockResult:
    """The lock of a holder that no longer runs, or DeploymentInProgress naming it."""
    status = holder_status(holder.holder, deps)
    if status in (RUNNING, None) or not deps.store.take_over_lock(
            inp.function_name, inp.alias, lock, from_holder=holder.holder):
        raise DeploymentInProgress(
            f"{inp.function_name}:{inp.alias} is being deployed by {holder.holder} "
            f"({status or 'status unknown'}; lock expires {holder.expires_at})",
            holder=holder.holder, expires_at=holder.expires_at, holder_status=status)
    took_over = {"holder": holder.holder, "status": status, "expires_at": holder.expires_at}
    deps.store.append_intervention(inp.function_name, holder.holder, {
        "action": "lock-taken-over", "by": lock.holder, "at": iso(deps.now()),
        "detail": f"the lock was taken over by {lock.holder}: this execution is {status}"})
    result = _result(lock)
    return LockResult(holder=result.holder, expires_at=result.expires_at,
                      previous_version=result.previous_version, started_at=result.started_at,
                      revision_id=result.revision_id, took_over=took_over)


def holder_status(holder: str, deps: Deps) -> str | None:
    """The holder execution's status; ``DOES_NOT_EXIST``; None when it cannot be told."""
    try:
        status = deps.executions.status(holder)
    except StackFlowError:
        return None
    return GONE if status is None else status


def _new_lock(inp: DeployInput, execution_id: str, alias: AliasInfo, deps: Deps) -> LockState:
    now = deps.now()
    # The lock must outlive every bake of the plan, or a long linear deployment would
    # lose it half way; the configured TTL is the margin on top.
    lifetime = timedelta(seconds=deps.settings.lock_ttl_seconds
                         + total_wait_seconds(inp.plan))
    expires = now + lifetime
    return LockState(holder=execution_id, expires_at=iso(expires),
                     ttl=int(expires.timestamp()), previous_version=alias.version,
                     started_at=iso(now), revision_id=alias.revision_id)


def _result(lock: LockState) -> LockResult:
    return LockResult(holder=lock.holder, expires_at=lock.expires_at,
                      previous_version=lock.previous_version or "",
                      started_at=lock.started_at or lock.expires_at,
                      revision_id=lock.revision_id)


def release(inp: DeployInput, execution_id: str, deps: Deps) -> UnlockResult:
    """Delete the lock if this execution holds it; never touch another holder's."""
    if deps.store.release_lock(inp.function_name, inp.alias, execution_id):
        return UnlockResult(released=True)
    current = deps.store.get_lock(inp.function_name, inp.alias)
    return UnlockResult(released=False, holder=current.holder if current is not None else None)
