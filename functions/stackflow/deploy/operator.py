"""What an operator does to a deployment by hand, and how the record remembers it.

``stackflow rollback-alias`` and ``stackflow unlock --force`` act outside any execution;
each notes on the deployment record it affects who did what, when and why
(``interventions``), and ``stackflow history`` shows it under that deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import iso
from stackflow.deploy.lock import RUNNING, holder_status
from stackflow.deploy.ports import DeployStore
from stackflow.deploy.record import IN_PROGRESS
from stackflow.errors import DeploymentInProgress, InvalidRequest


def newest_of_alias(records: Sequence[Mapping[str, Any]],
                    alias: str) -> Mapping[str, Any] | None:
    """The deployment an operator acts on: the alias's running one, else its newest."""
    mine = [r for r in records if r.get("alias") == alias and r.get("execution_id")]
    return max(mine, key=lambda r: (r.get("status") == IN_PROGRESS,
                                    str(r.get("started_at", ""))), default=None)


def note_rollback(store: DeployStore, function_name: str, alias: str,
                  records: Sequence[Mapping[str, Any]], result: Mapping[str, Any], *,
                  by: str, at: datetime) -> str | None:
    """Record ``rollback-alias`` on the alias's newest deployment; its execution id."""
    record = newest_of_alias(records, alias)
    if record is None:
        return None
    execution_id = str(record["execution_id"])
    noted = store.append_intervention(function_name, execution_id, {
        "action": "rollback-alias", "by": by, "at": iso(at),
        "version": result["version"], "before": result["before"],
        "detail": f"{by} pointed {function_name}:{alias} at version {result['version']} "
                  "with 100% of the traffic"})
    return execution_id if noted else None


@dataclass(frozen=True)
class ForcedUnlock:
    """What ``stackflow unlock --force`` did."""

    released: bool
    holder: str | None
    holder_status: str | None
    recorded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"released": self.released, "holder": self.holder,
                "holder_status": self.holder_status, "recorded": self.recorded}


def force_unlock(function_name: str, alias: str, *, by: str, reason: str,
                 even_if_running: bool, deps: Deps) -> ForcedUnlock:
    """Delete the lock whoever holds it, unless its holder is (or may be) still running.

    The holder's record notes who unlocked it and why. A running holder would go on
    shifting traffic with nobody holding the lock; that needs ``even_if_running``.
    """
    if not reason.strip():
        raise InvalidRequest("--reason", "is required: say why the lock is forced")
    lock = deps.store.get_lock(function_name, alias)
    if lock is None:
        return ForcedUnlock(released=False, holder=None, holder_status=None)
    status = holder_status(lock.holder, deps)
    if status in (RUNNING, None) and not even_if_running:
        state = "is still RUNNING" if status == RUNNING else "may still be running " \
            "(DescribeExecution could not tell)"
        raise DeploymentInProgress(
            f"{function_name}:{alias} is locked by {lock.holder}, which {state}; stop it "
            "first (aws stepfunctions stop-execution), or pass --even-if-running",
            holder=lock.holder, holder_status=status)
    released = deps.store.release_lock(function_name, alias, lock.holder)
    recorded = released and deps.store.append_intervention(function_name, lock.holder, {
        "action": "unlock", "by": by, "at": iso(deps.now()), "reason": reason,
        "detail": f"{by} released the lock (holder {status or 'status unknown'}): "
                  f"{reason}"})
    return ForcedUnlock(released=released, holder=lock.holder, holder_status=status,
                        recorded=recorded)
