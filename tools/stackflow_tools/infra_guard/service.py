"""``stackflow infra diff | deploy | status``: the guard's use cases over injected deps.

Online, every stack of the synthesized assembly gets a change set before anything is
judged, so the report covers the whole stage and ``deploy`` refuses before changing
anything. Change sets that are not executed (``diff``, a refusal, the stacks after one
that failed) are deleted again. Offline, the same classifier reads changes predicted
from two templates instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from stackflow.errors import ChangeSetFailed, StackFlowError

from stackflow_tools.infra_guard.assembly import AwsTarget, CloudAssembly, StackArtifact
from stackflow_tools.infra_guard.backups import Backup, Backups, TakeBackup
from stackflow_tools.infra_guard.changesets import (
    SUCCEEDED,
    ChangeSet,
    ChangeSets,
    StackOutcome,
    check_updatable,
)
from stackflow_tools.infra_guard.classify import classify
from stackflow_tools.infra_guard.model import GuardReport, StackChanges, Template
from stackflow_tools.infra_guard.plan import (
    DeferredStack,
    ExecuteChangeSet,
    Step,
    describe,
    plan_deploy,
)
from stackflow_tools.infra_guard.publish import AssetPublisher, Caller
from stackflow_tools.infra_guard.render import render_text, verdict
from stackflow_tools.infra_guard.schemas import SchemaLookup

# The output of stackflow-<stage> naming the deploy table (infra/stacks.py; the infra
# tests check the synthesized template has it).
DEPLOY_TABLE_OUTPUT = "DeployTableName"
DATABASE_SUFFIX = "-database"  # infra/stacks.py DATABASE_SUFFIX
NOT_DEPLOYED = "NOT_DEPLOYED"


class RecordStore(Protocol):
    """Where deploy outcomes go (``stackflow.adapters.dynamodb.InfraDeployRecords``)."""

    def put_outcome(self, stack: str, started_at: str, change_set: str,
                    fields: Mapping[str, Any]) -> None: ...

    def latest(self, stack: str) -> dict[str, Any] | None: ...


@dataclass
class GuardDeps:
    """Everything the use cases touch: AWS adapters, time, output and the operator."""

    change_sets: ChangeSets
    publisher: AssetPublisher
    backups: Backups
    records: Callable[[str], RecordStore]
    caller: Callable[[], Caller]
    schemas: SchemaLookup
    clock: Callable[[], datetime]
    out: Callable[[str], None] = print
    confirm: Callable[[str], bool] = lambda prompt: False
    drift: Callable[[Sequence[str]], Mapping[str, str]] = lambda stacks: {}


@dataclass(frozen=True)
class DeployOptions:
    allow: tuple[str, ...] = ()
    require_approval: bool = False
    table: str | None = None
    stage: str = ""
    commit: str = ""


@dataclass(frozen=True)
class DeployResult:
    report: GuardReport
    refused: str = ""
    backups: tuple[Backup, ...] = ()
    outcomes: tuple[StackOutcome, ...] = ()
    recorded_in: str = ""
    record_error: str = ""

    @property
    def succeeded(self) -> bool:
        return (not self.refused and not self.record_error
                and all(o.outcome == SUCCEEDED for o in self.outcomes))

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.report.to_dict(), "refused": self.refused,
                "backups": [b.to_dict() for b in self.backups],
                "outcomes": [o.to_dict() for o in self.outcomes],
                "recorded_in": self.recorded_in, "record_error": self.record_error}


@dataclass(frozen=True)
class Prepared:
    """One stack's change set (None while deferred), with its old and new template."""

    stack: StackArtifact
    change_set: ChangeSet | None
    old: Template | None
    new: Template
    deferred: str = ""  # why CloudFormation cannot compute the change set yet
    creates: bool = False  # the stack does not exist yet

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def pending(self) -> bool:
        """Something to execute: a change set with changes, or a deferred one."""
        return self.change_set is None or not self.change_set.empty


@dataclass(frozen=True)
class Session:
    caller: Caller
    target: AwsTarget
    change_set_name: str
    prepared: tuple[Prepared, ...]


# --- offline ---------------------------------------------------------------------------
def offline_diff(new: CloudAssembly, old_templates: Mapping[str, Template], *,
                 schemas: SchemaLookup, allow: Sequence[str] = ()) -> GuardReport:
    """Classify the new assembly against old templates, with no AWS call."""
    stacks = [StackChanges(s.name, old_templates.get(s.name), s.template()) for s in new.stacks]
    return classify(stacks, schemas=schemas, allow=allow)


# --- online ----------------------------------------------------------------------------
def online_diff(assembly: CloudAssembly, deps: GuardDeps,
                allow: Sequence[str] = ()) -> GuardReport:
    """Change sets for every stack, classified, then deleted: nothing is executed."""
    session = prepare(assembly, deps, purpose="diff")
    try:
        report = report_of(session, deps, allow)
    finally:
        discard(session.prepared, deps)
    steps = plan_deploy(report, _executables(session))
    return replace(report, plan=tuple(describe(step) for step in steps))


def deploy(assembly: CloudAssembly, deps: GuardDeps, options: DeployOptions) -> DeployResult:
    """Refuse, or back up and execute every stack's change set in order, and record."""
    session = prepare(assembly, deps, purpose="deploy")
    executed: set[str] = set()
    try:
        return _deploy(session, deps, options, executed)
    finally:
        discard([p for p in session.prepared if p.name not in executed], deps)


def prepare(assembly: CloudAssembly, deps: GuardDeps, *, purpose: str) -> Session:
    """Publish each stack's files and create its change set (dependencies first)."""
    who = deps.caller()
    session = Session(caller=who, target=AwsTarget(who.account, deps.change_sets.region),
                      change_set_name=f"stackflow-{purpose}-{deps.clock():%Y%m%d-%H%M%S}",
                      prepared=())
    prepared: list[Prepared] = []
    try:
        for stack in assembly.stacks:
            prepared.append(_prepare_stack(stack, session, deps, purpose, prepared))
    except BaseException:
        discard(prepared, deps)
        raise
    return replace(session, prepared=tuple(prepared))


def _prepare_stack(stack: StackArtifact, session: Session, deps: GuardDeps, purpose: str,
                   earlier: Sequence[Prepared]) -> Prepared:
    stack.check_target(session.target)
    if not stack.template_url:
        raise ChangeSetFailed(f"stack {stack.name} names no template asset: synthesize with "
                              "the CDK's default stack synthesizer", stack=stack.name)
    creates = check_updatable(stack.name, deps.change_sets.describe_stack(stack.name))
    # A diff's change set needs only the template; a deploy needs every file it uses.
    deps.publisher.publish(stack, session.target, template_only=purpose == "diff")
    old = None if creates else deps.change_sets.deployed_template(stack.name)
    try:
        change_set = _create(stack, session, deps, creates=creates, purpose=purpose)
    except ChangeSetFailed as e:
        waiting = [p.name for p in earlier if p.name in stack.depends_on and p.pending]
        if not waiting:
            raise
        return Prepared(stack, None, old, stack.template(), creates=creates, deferred=(
            f"{stack.name} was predicted from the resource schemas: CloudFormation computes "
            f"its change set only after {', '.join(waiting)} is deployed ({e.message})"))
    return Prepared(stack, change_set, old, stack.template())


def _create(stack: StackArtifact, session: Session, deps: GuardDeps, *, creates: bool,
            purpose: str) -> ChangeSet:
    return deps.change_sets.create(
        stack.name, session.change_set_name,
        template_url=session.target.https_url(stack.template_url),
        role_arn=session.target.resolve(stack.execution_role), tags=stack.tags,
        creates_stack=creates, description=f"stackflow infra {purpose}")


def report_of(session: Session, deps: GuardDeps, allow: Sequence[str]) -> GuardReport:
    """The classification of every change set; deferred stacks predicted offline."""
    report = classify([StackChanges(p.name, p.old, p.new,
                                    p.change_set.changes if p.change_set else None)
                       for p in session.prepared], schemas=deps.schemas, allow=allow)
    return replace(report, notes=tuple(p.deferred for p in session.prepared if p.deferred))


def _executables(session: Session) -> list[ChangeSet | DeferredStack]:
    return [p.change_set or DeferredStack(p.name) for p in session.prepared]


def discard(prepared: Sequence[Prepared], deps: GuardDeps) -> None:
    """Delete change sets that will not run; a failure here only warns."""
    for p in prepared:
        if p.change_set is None:
            continue
        try:
            deps.change_sets.discard(p.change_set)
        except StackFlowError as e:
            deps.out(f"warning: could not delete change set {p.change_set.name} of "
                     f"{p.name}: {e.message}")


def _deploy(session: Session, deps: GuardDeps, options: DeployOptions,
            executed: set[str]) -> DeployResult:
    report = report_of(session, deps, options.allow)
    deps.out(render_text(report))
    refused = _refusal(report, session, deps, options)
    if refused:
        return DeployResult(report, refused=refused)
    steps = plan_deploy(report, _executables(session))
    backups = [_backup(step, deps) for step in steps if isinstance(step, TakeBackup)]
    started_at = _stamp(deps.clock())
    run = _Run(session, deps, options, executed, backups)
    outcomes = run.execute(steps)
    table, error = _record(run.session, report, run.backups, outcomes, deps, options,
                           started_at)
    return DeployResult(report, refused=run.refused, backups=tuple(run.backups),
                        outcomes=outcomes, recorded_in=table, record_error=error)


def _refusal(report: GuardReport, session: Session, deps: GuardDeps,
             options: DeployOptions) -> str:
    if report.blocking:
        return verdict(report)
    pending = [p for p in session.prepared if p.pending]
    if options.require_approval and pending:
        changes = sum(len(p.change_set.changes) for p in pending if p.change_set)
        stacks = ", ".join(p.name for p in pending)
        if not deps.confirm(f"Deploy these {changes} change(s) to {stacks}? Type 'yes': "):
            return "not approved: nothing was changed"
    return ""


def _backup(step: TakeBackup, deps: GuardDeps) -> Backup:
    deps.out(describe(step))
    taken = deps.backups.take(step)
    deps.out(f"  backup: {taken.backup_id or '-'} ({taken.detail})")
    return taken


class _Run:
    """The executor: each stack's step in order, stopping at the first that fails."""

    def __init__(self, session: Session, deps: GuardDeps, options: DeployOptions,
                 executed: set[str], backups: list[Backup]) -> None:
        self.session, self.deps, self.options = session, deps, options
        self.executed, self.backups = executed, backups
        self.refused = ""

    def execute(self, steps: Sequence[Step]) -> tuple[StackOutcome, ...]:
        outcomes: list[StackOutcome] = []
        for step in steps:
            if isinstance(step, TakeBackup):
                continue
            self.deps.out(describe(step))
            outcome = self._step(step)
            if outcome is None:
                break
            self.deps.out(f"  {outcome.stack}: {outcome.status}" + (
                f" - {outcome.failed_resource}: {outcome.reason}" if outcome.reason else ""))
            outcomes.append(outcome)
            if outcome.outcome != SUCCEEDED:
                break
        return tuple(outcomes)

    def _step(self, step: ExecuteChangeSet | DeferredStack) -> StackOutcome | None:
        change_set = step.change_set if isinstance(step, ExecuteChangeSet) \
            else self._create_deferred(step.stack)
        if change_set is None:
            return None
        self.executed.add(change_set.stack)
        self.session = _with_change_set(self.session, change_set)
        return self.deps.change_sets.execute(change_set)

    def _create_deferred(self, stack: str) -> ChangeSet | None:
        """Now that its dependencies are deployed: the real change set, judged again."""
        p = next(p for p in self.session.prepared if p.name == stack)
        change_set = _create(p.stack, self.session, self.deps, creates=p.creates,
                             purpose="deploy")
        report = classify([StackChanges(stack, p.old, p.new, change_set.changes)],
                          schemas=self.deps.schemas, allow=self.options.allow)
        if report.blocking:
            self.deps.out(render_text(report))
            self.deps.change_sets.discard(change_set)
            self.refused = verdict(report)
            return None
        try:
            self.backups += [_backup(s, self.deps) for s in plan_deploy(report, [change_set])
                             if isinstance(s, TakeBackup)]
        except BaseException:
            self.deps.change_sets.discard(change_set)
            raise
        return change_set


def _with_change_set(session: Session, change_set: ChangeSet) -> Session:
    return replace(session, prepared=tuple(
        replace(p, change_set=change_set, deferred="") if p.name == change_set.stack else p
        for p in session.prepared))


def _record(session: Session, report: GuardReport, backups: Sequence[Backup],
            outcomes: Sequence[StackOutcome], deps: GuardDeps, options: DeployOptions,
            started_at: str) -> tuple[str, str]:
    """(table, "") once every outcome is stored, or ("", why it is not)."""
    if not outcomes:
        return "", ""
    try:
        table = options.table or _table_from_outputs(session, deps)
        if not table:
            return "", (f"no {DEPLOY_TABLE_OUTPUT} output in these stacks: pass --table")
        store = deps.records(table)
        finished_at = _stamp(deps.clock())
        for outcome in outcomes:
            store.put_outcome(outcome.stack, started_at, session.change_set_name, _fields(
                outcome, _change_set_of(session, outcome.stack), report, backups,
                session.caller, options, finished_at))
    except StackFlowError as e:
        return "", e.message
    return table, ""


def _change_set_of(session: Session, stack: str) -> ChangeSet:
    found = next(p.change_set for p in session.prepared if p.name == stack)
    if found is None:  # an outcome exists only for an executed change set
        raise ValueError(f"no change set was executed on {stack}")
    return found


def _table_from_outputs(session: Session, deps: GuardDeps) -> str:
    for p in session.prepared:
        if DEPLOY_TABLE_OUTPUT in (p.new.get("Outputs") or {}):
            return deps.change_sets.outputs(p.name).get(DEPLOY_TABLE_OUTPUT, "")
    return ""


def _fields(outcome: StackOutcome, change_set: ChangeSet, report: GuardReport,
            backups: Sequence[Backup], who: Caller, options: DeployOptions,
            finished_at: str) -> dict[str, Any]:
    destructive = [{"logical_id": f.logical_id, "type": f.change.resource_type,
                    "change": f.change.verb} for f in report.of_stack(outcome.stack)
                   if f.destructive]
    return {"stage": options.stage, "status": outcome.status, "outcome": outcome.outcome,
            "reason": outcome.reason, "failed_resource": outcome.failed_resource,
            "change_set_id": change_set.change_set_id, "changes": len(change_set.changes),
            "destructive": destructive, "allowed": sorted(options.allow),
            "backups": [b.to_dict() for b in backups if b.stack == outcome.stack],
            "by": who.arn, "commit": options.commit, "finished_at": finished_at}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- status ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StackStatus:
    stack: str
    status: str
    reason: str = ""
    updated: str = ""
    drift: str = ""
    last_deploy: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "last_deploy": dict(self.last_deploy or {}) or None}


def stage_stacks(stage: str, name_suffix: str = "") -> tuple[str, str]:
    """The stage's stacks as infra/stacks.py names them: the database stack first."""
    main = f"stackflow-{stage}{name_suffix}"
    return f"{main}{DATABASE_SUFFIX}", main


def status(stacks: Sequence[str], deps: GuardDeps, *, table: str | None = None,
           detect_drift: bool = False) -> list[StackStatus]:
    """Each stack's status, drift (last detection, or a new one) and last deploy."""
    found = {s: deps.change_sets.describe_stack(s) for s in stacks}
    table = table or next((o.get("OutputValue", "") for f in found.values() if f
                           for o in f.get("Outputs", [])
                           if o["OutputKey"] == DEPLOY_TABLE_OUTPUT), "")
    detected = deps.drift([s for s in stacks if found[s]]) if detect_drift else {}
    store = deps.records(table) if table else None
    return [_status(s, found[s], detected.get(s), store) for s in stacks]


def _status(stack: str, found: Mapping[str, Any] | None, detected: str | None,
            store: RecordStore | None) -> StackStatus:
    if found is None:
        return StackStatus(stack, NOT_DEPLOYED)
    drift = found.get("DriftInformation", {})
    checked = drift.get("LastCheckTimestamp")
    last_check = f"{drift.get('StackDriftStatus', 'NOT_CHECKED')}" + (
        f" (checked {checked:%Y-%m-%d %H:%M})" if isinstance(checked, datetime) else "")
    updated = found.get("LastUpdatedTime") or found.get("CreationTime")
    return StackStatus(
        stack, str(found["StackStatus"]), reason=str(found.get("StackStatusReason", "")),
        updated=updated.strftime("%Y-%m-%d %H:%M") if isinstance(updated, datetime) else "",
        drift=detected or last_check,
        last_deploy=store.latest(stack) if store else None)
