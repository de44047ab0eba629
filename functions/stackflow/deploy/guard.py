"""The alias guard: an execution writes the alias only while it is as it left it.

Every ``UpdateAlias`` of a deployment passes the ``RevisionId`` its previous write
returned (the first one, the revision Lock read). Lambda refuses the write when anyone
else changed the alias in between, so an operator's ``rollback-alias`` or hotfix is
never undone by the next Shift, Promote or Rollback. Two facts decide:

* the revision this execution last wrote (or read at Lock), from the document or, for
  Reconcile, from the record's step outcomes;
* the states this execution's plan writes: an alias that holds exactly one of them
  was written by this execution even when the revision is newer than the one it
  knows (a write whose answer was lost, then retried).

Pure: no AWS call here; :mod:`stackflow.deploy.traffic` reads and writes the alias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from stackflow.deploy.document import (
    AliasSnapshot,
    LockResult,
    PromoteResult,
    ShiftResult,
    read_optional,
)
from stackflow.deploy.ports import AliasInfo
from stackflow.deploy.strategy import PlanStep
from stackflow.errors import AliasChangedExternally

# Step outcomes in a record whose detail carries the alias's revision after the step.
REVISION_STEPS = ("lock", "shift", "promote", "rollback")


@dataclass(frozen=True)
class AliasGuard:
    """The alias's RevisionId as this execution last left it, and whether it moved it.

    ``revision_id`` None: a document of an earlier release, which knows no revision;
    such an execution keeps the old rule (write, reading the revision just before).
    """

    revision_id: str | None
    moved: bool = False

    @classmethod
    def of_document(cls, doc: Mapping[str, Any]) -> Self | None:
        """From ``$.promote``, else ``$.shift``, else ``$.lock`` (None: never locked)."""
        lock = read_optional(doc, LockResult)
        if lock is None:
            return None
        shift, promote = read_optional(doc, ShiftResult), read_optional(doc, PromoteResult)
        moved = promote is not None or (shift is not None and shift.revision_id is not None
                                        and shift.revision_id != lock.revision_id)
        for known in (promote, shift):
            if known is not None and known.revision_id is not None:
                return cls(known.revision_id, moved)
        return cls(lock.revision_id, moved)

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> Self:
        """From the record's succeeded step outcomes (what Reconcile has to go on)."""
        revisions = [(str(step.get("name")), (step.get("detail") or {}).get("revision_id"))
                     for step in record.get("steps") or []
                     if isinstance(step, Mapping) and step.get("outcome") == "succeeded"
                     and step.get("name") in REVISION_STEPS]
        known = [(name, rev) for name, rev in revisions if isinstance(rev, str)]
        locked = next((rev for name, rev in known if name == "lock"), None)
        moved = any(name == "promote" or (name == "shift" and rev != locked)
                    for name, rev in known)
        return cls(known[-1][1] if known else None, moved)


def plan_states(previous: str, version: str | None,
                steps: Sequence[PlanStep]) -> tuple[AliasSnapshot, ...]:
    """Every alias state this execution's writes produce: each weight, then promoted."""
    if version is None or version == previous:
        return ()
    weighted = tuple(AliasSnapshot(previous, {version: step.weight})
                     for step in steps if 0 < step.weight < 1)
    return (*weighted, AliasSnapshot(version, {}))


def as_left(alias: AliasInfo, guard: AliasGuard,
            states: Sequence[AliasSnapshot] = ()) -> bool:
    """Whether the alias is as this execution left it (or as one of its writes left it)."""
    if guard.revision_id is None or alias.revision_id == guard.revision_id:
        return True
    return AliasSnapshot.of(alias) in states


def carries(alias: AliasInfo, version: str | None) -> bool:
    """The alias routes traffic to ``version``: as its version or with a weight."""
    return version is not None and (alias.version == version
                                    or alias.routing.get(version, 0) > 0)


def changed_externally(function_name: str, alias: AliasInfo, guard: AliasGuard,
                       doing: str) -> AliasChangedExternally:
    """The verdict when someone else wrote the alias: names what it holds now."""
    now = describe(AliasSnapshot.of(alias))
    return AliasChangedExternally(
        f"{function_name}:{alias.name} was changed by someone else since this deployment "
        f"last wrote it (RevisionId {alias.revision_id}, expected {guard.revision_id}); it "
        f"now serves {now}. The deployment stops before {doing} and leaves the alias "
        "as it is.", expected_revision=guard.revision_id, revision=alias.revision_id,
        alias=AliasSnapshot.of(alias).to_dict())


def describe(snapshot: AliasSnapshot) -> str:
    """``version 1 (100%)`` or ``version 1 (90%) and version 2 (10%)``."""
    extra = sum(snapshot.routing.values())
    parts = [f"version {snapshot.version} ({_percent(1 - extra)})"]
    parts += [f"version {v} ({_percent(w)})" for v, w in sorted(snapshot.routing.items())]
    return " and ".join(parts)


def _percent(weight: float) -> str:
    return f"{round(weight * 100, 2):g}%"
