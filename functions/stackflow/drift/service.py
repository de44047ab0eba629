"""One drift run: check stacks, aliases and schema; build the report; notify on change.

Each part runs behind a port and fails alone: a ``StackFlowError`` from one part
becomes a ``CheckError`` in the report and that part keeps its previous findings in
the drift set, so a transient read failure neither clears nor raises an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from stackflow.drift import aliases as alias_core
from stackflow.drift import schema as schema_core
from stackflow.drift import stacks as stack_core
from stackflow.drift.model import (
    AliasResult,
    CheckError,
    DriftReport,
    FingerprintResult,
    SchemaResult,
    StackCheck,
    StackResult,
)
from stackflow.drift.ports import (
    AliasReader,
    HistoryReader,
    Notifier,
    SchemaInspector,
    StackChecker,
    StateStore,
    TimeLeft,
)
from stackflow.drift.render import notification
from stackflow.drift.state import DriftState, has_changed, merge_keys, order_stacks
from stackflow.errors import StackFlowError

AliasKey = tuple[str, str]


@dataclass(frozen=True)
class DriftConfig:
    stacks: tuple[str, ...] = ()
    aliases: tuple[AliasKey, ...] = ()
    pending_max_age: timedelta = timedelta(hours=24)
    # The scheduled run records state and notifies; the CLI only reads.
    persist: bool = True
    notify: bool = True


@dataclass(frozen=True)
class DriftDeps:
    stacks: StackChecker | None = None
    aliases: AliasReader | None = None
    history: HistoryReader | None = None
    schema: SchemaInspector | None = None
    state: StateStore | None = None
    notifier: Notifier | None = None


@dataclass
class _Run:
    """Accumulates one run's partial results and what could not be checked."""

    errors: list[CheckError] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # drift-key prefixes

    def fail(self, part: str, prefix: str, error: StackFlowError) -> None:
        self.errors.append(CheckError(part, error.error_type, error.message))
        self.unchecked.append(prefix)


def run_drift_check(config: DriftConfig, deps: DriftDeps, *, now: Callable[[], datetime],
                    time_left: TimeLeft) -> DriftReport:
    """Check everything configured and return the report (notified if the set changed)."""
    run = _Run()
    previous = _load_state(deps, run)
    aliases = _check_aliases(config.aliases, deps, run)
    schema = _check_schema(config, deps, run, now())
    stacks = _check_stacks(config, deps, run, previous, time_left)
    extra = [k for k in stack_core.aliases_in(stacks.results) if k not in aliases]
    aliases.update(_check_aliases(tuple(extra), deps, run))
    results = tuple(stack_core.classify_stack(r, aliases) for r in stacks.results)
    keys = merge_keys(_keys(results, aliases.values(), schema), previous, run.unchecked)
    report = DriftReport(
        generated_at=now(), stacks=results, carried_over=stacks.carried_over,
        aliases=tuple(aliases.values()), schema=schema, errors=tuple(run.errors),
        drift_keys=keys, changed=has_changed(previous, keys))
    return _finish(report, config, deps, previous)


def _load_state(deps: DriftDeps, run: _Run) -> DriftState | None:
    if deps.state is None:
        return None
    try:
        return deps.state.load_state()
    except StackFlowError as e:
        run.errors.append(CheckError("state", e.error_type, e.message))
        return None


def _check_aliases(targets: tuple[AliasKey, ...], deps: DriftDeps,
                   run: _Run) -> dict[AliasKey, AliasResult]:
    if deps.aliases is None or deps.history is None:
        return {}
    results: dict[AliasKey, AliasResult] = {}
    for function, alias in targets:
        try:
            actual = deps.aliases.get_alias_state(function, alias)
            history = deps.history.alias_history(function, alias)
        except StackFlowError as e:
            run.fail(f"alias:{function}:{alias}", alias_core.alias_prefix(function, alias), e)
            continue
        results[(function, alias)] = alias_core.compare_alias(function, alias, actual, history)
    return results


def _check_schema(config: DriftConfig, deps: DriftDeps, run: _Run,
                  now: datetime) -> SchemaResult | None:
    if deps.schema is None:
        return None
    try:
        result = schema_core.compare_migrations(
            deps.schema.migrations(), deps.schema.applied(), deps.schema.modified_at(),
            now=now, pending_max_age=config.pending_max_age)
    except StackFlowError as e:
        run.fail("schema", schema_core.SCHEMA_PREFIX, e)
        return SchemaResult(checked=False, reason=e.message)
    try:
        fp = _fingerprint(result, config, deps, now)
    except StackFlowError as e:
        run.fail("schema:fingerprint", schema_core.FINGERPRINT_PREFIX, e)
        fp = FingerprintResult("skipped", reason=e.message)
    return replace(result, fingerprint=fp,
                   findings=result.findings + tuple(schema_core.fingerprint_finding(fp)))


def _fingerprint(result: SchemaResult, config: DriftConfig, deps: DriftDeps,
                 now: datetime) -> FingerprintResult:
    assert deps.schema is not None
    dump = deps.schema.schema_dump()
    current = schema_core.dump_fingerprint(dump) if dump is not None else None
    baseline = deps.state.load_baseline() if deps.state is not None else None
    fp = schema_core.compare_fingerprint(current, result.current_version, baseline)
    if fp.status == "recorded" and current is not None and config.persist and deps.state:
        deps.state.save_baseline(schema_core.SchemaBaseline(
            version=result.current_version, fingerprint=current, recorded_at=now.isoformat()))
    return fp


def _check_stacks(config: DriftConfig, deps: DriftDeps, run: _Run,
                  previous: DriftState | None, time_left: TimeLeft) -> StackCheck:
    if deps.stacks is None or not config.stacks:
        return StackCheck()
    try:
        check = deps.stacks.check_stacks(
            order_stacks(config.stacks, previous),
            known_detections=dict(previous.detections) if previous else {},
            time_left=time_left)
    except StackFlowError as e:
        for stack in config.stacks:
            run.unchecked.append(stack_core.stack_prefix(stack))
        run.errors.append(CheckError("stacks", e.error_type, e.message))
        return StackCheck()
    _note_unfinished(check, run)
    return check


def _note_unfinished(check: StackCheck, run: _Run) -> None:
    for carried in check.carried_over:
        run.unchecked.append(stack_core.stack_prefix(carried.stack))
    for result in check.results:
        if result.status == "FAILED":
            run.unchecked.append(stack_core.stack_prefix(result.stack))
            run.errors.append(CheckError(f"stack:{result.stack}", "DriftCheckFailed",
                                         result.reason))


def _keys(stacks: Iterable[StackResult], aliases: Iterable[AliasResult],
          schema: SchemaResult | None) -> list[str]:
    keys = [k for s in stacks for k in stack_core.stack_keys(s)]
    keys += [k for a in aliases for k in alias_core.alias_keys(a)]
    keys += schema_core.schema_keys(schema) if schema else []
    return keys


def _finish(report: DriftReport, config: DriftConfig, deps: DriftDeps,
            previous: DriftState | None) -> DriftReport:
    notified = False
    errors = report.errors
    if report.changed and config.notify and deps.notifier is not None:
        try:
            deps.notifier.publish(*notification(report))
            notified = True
        except StackFlowError as e:
            errors += (CheckError("notify", e.error_type, e.message),)
    report = replace(report, notified=notified, errors=errors)
    if config.persist and deps.state is not None:
        failed = report.changed and config.notify and deps.notifier is not None and not notified
        try:
            _save_state(report, deps.state, previous, notify_failed=failed)
        except StackFlowError as e:
            # The next run will see the old set and notify again: noisy, never silent.
            error = CheckError("state", e.error_type, e.message)
            report = replace(report, errors=(*report.errors, error))
    return report


def _save_state(report: DriftReport, store: StateStore, previous: DriftState | None,
                *, notify_failed: bool) -> None:
    # A failed notification keeps the old drift set, so the next run notifies again.
    keys = (previous.drift_keys if previous else ()) if notify_failed else report.drift_keys
    stamp = report.generated_at.isoformat()
    store.save_state(DriftState(
        drift_keys=keys,
        detections={c.stack: c.detection_id for c in report.carried_over if c.detection_id},
        carried_over=tuple(c.stack for c in report.carried_over),
        updated_at=stamp,
        notified_at=stamp if report.notified else (previous.notified_at if previous else None),
    ))
