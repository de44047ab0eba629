"""Plan a deploy, then execute it: backups first, then each stack's change set in order.

``plan_deploy`` is pure: it turns the report and the change sets into frozen steps.
``deploy`` runs them; an online ``diff`` lists the same plan (``describe``) in its
report without running it. A report with a destructive change nobody allowed plans
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackflow_tools.infra_guard.backups import TakeBackup
from stackflow_tools.infra_guard.changesets import ChangeSet
from stackflow_tools.infra_guard.model import Finding, GuardReport


@dataclass(frozen=True)
class ExecuteChangeSet:
    """Execute one stack's change set and wait for the stack to settle."""

    change_set: ChangeSet

    @property
    def stack(self) -> str:
        return self.change_set.stack


@dataclass(frozen=True)
class DeferredStack:
    """A stack whose change set CloudFormation can only compute once the stacks it
    imports from are deployed (a first deploy, a new cross-stack reference). Deploy
    creates it then, judges it like the others, backs up and executes it."""

    stack: str


Step = TakeBackup | ExecuteChangeSet | DeferredStack


def plan_deploy(report: GuardReport,
                change_sets: Sequence[ChangeSet | DeferredStack]) -> tuple[Step, ...]:
    """Backups of every allowed destructive change, then the change sets, in stack order."""
    if report.blocking:
        return ()
    backups = [_backup(f) for f in report.destructive if f.change.physical_id]
    executions = [cs if isinstance(cs, DeferredStack) else ExecuteChangeSet(cs)
                  for cs in change_sets if isinstance(cs, DeferredStack) or not cs.empty]
    return (*backups, *executions)


def describe(step: Step) -> str:
    if isinstance(step, TakeBackup):
        return (f"back up {step.stack}/{step.logical_id} ({step.resource_type} "
                f"{step.physical_id}): {step.kind}")
    if isinstance(step, DeferredStack):
        return (f"create the change set of {step.stack}, judge it, back up what it may "
                "replace, execute it and wait")
    return (f"execute change set {step.change_set.name} on {step.stack} "
            f"({len(step.change_set.changes)} change(s)) and wait")


def _backup(finding: Finding) -> TakeBackup:
    change = finding.change
    return TakeBackup(stack=finding.stack, logical_id=change.logical_id,
                      resource_type=change.resource_type, physical_id=change.physical_id,
                      kind=finding.backup,
                      cluster_member="DBClusterIdentifier" in finding.old_properties)
