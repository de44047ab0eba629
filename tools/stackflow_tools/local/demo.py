"""``stackflow local demo`` (``make demo``): two releases through the real state machine.

Each release ships two functions at once (StackFlowAPI and the example's orders worker,
``"functions": [...]``): one lock over both, Migrate once, both aliases shifted together.

1. release 1.1.0, healthy builds of both: migrate -> publish -> smoke -> canary ->
   promote, both aliases on their new versions;
2. release 1.2.0, an API build whose ``GET /orders`` fails: it passes smoke, errors under
   canary traffic, the alarm fires and both aliases are rolled back;
3. the patcher's status of the database both releases migrated;
4. the drift report of the template's drift Lambda: the alias where the last successful
   deployment put it, the schema in sync with the migration source (stack drift is
   reported as not checked: it needs CloudFormation);
5. the paths of both releases' HTML reports (``stackflow report``), written to
   ``<workdir>/reports/`` (``.stackflow/reports/``).

Success means both releases behaved as expected, checked on the final AWS state, not
only on the execution status, and the drift report is clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from stackflow_tools.local.progress import ProgressView
from stackflow_tools.local.reports import REPORTS_DIR, write_report
from stackflow_tools.local.runner import LocalMode, LocalOptions, ReleaseResult


@dataclass(frozen=True)
class Scenario:
    """One release of the demo and the outcome it must have."""

    title: str
    build: str
    release: str
    expect_status: str
    expect_error: str | None
    # The orders worker's build, released together with the API's (when the template
    # has the worker).
    worker_build: str | None = None


SCENARIOS = (
    Scenario("release 1.1.0 - healthy builds of StackFlowAPI and the orders worker, "
             "one release", "good", "1.1.0", "SUCCEEDED", None, worker_build="good"),
    Scenario("release 1.2.0 - GET /orders regressed (passes smoke, fails the canary): "
             "both functions roll back", "orders-regression", "1.2.0", "FAILED",
             "CanaryUnhealthy", worker_build="good"),
)


def run_demo(options: LocalOptions, out: IO[str] | None = None) -> int:
    """Run the demo; 0 when both releases behaved as expected."""
    out = out or sys.stdout
    _say(out, f"local mode: PostgreSQL ({options.database_url or options.workdir / 'pgdata'}),"
              f" moto, the state machine from {options.cdk_out}/, "
              f"waits x{options.time_scale:g}")
    with LocalMode(options) as mode:
        version, _ = mode.alias_state()
        _say(out, f"{mode.function_name}:{mode.alias} -> version {version} (release 1.0.0)")
        failures: list[str] = []
        reports: list[Path] = []
        for scenario in SCENARIOS:
            result, problems = run_scenario(mode, scenario, out)
            failures += problems
            reports.append(write_report(mode, result.execution_arn, options.workdir /
                                        REPORTS_DIR / f"release-{scenario.release}.html"))
        _patcher_status(mode, out)
        failures += _drift_report(mode, out)
    _say(out, "\n== release reports (stackflow report, open in a browser)")
    for path in reports:
        _say(out, f"  {path}")
    _say(out, "\ndemo passed: one two-function release promoted, one rolled back, no drift"
         if not failures else "demo FAILED")
    return 0 if not failures else 1


def run_scenario(mode: LocalMode, scenario: Scenario, out: IO[str], *,
                 strategy: Mapping[str, Any] | None = None,
                 migrations: bool = True) -> tuple[ReleaseResult, list[str]]:
    """Run one release with the live view; return it and how it missed expectations."""
    _say(out, f"\n== {scenario.title}")
    before, _ = mode.alias_state()
    others_before = {fn: mode.alias_state(fn)[0] for fn in _others(mode, scenario)}
    view = _LiveView(mode, out)
    result = _release(mode, scenario, strategy, migrations, view)
    view.finish(result.status if not result.error else f"{result.status} {result.error}")
    routing = f" (routing {dict(result.routing)})" if result.routing else ""
    _say(out, f"   alias {mode.function_name}:{mode.alias} -> version "
              f"{result.alias_version}{routing}")
    for function, (version, weights) in result.others.items():
        extra = f" (routing {dict(weights)})" if weights else ""
        _say(out, f"   alias {function}:{mode.alias} -> version {version}{extra}")
    if result.cause:
        _say(out, f"   why: {cause_message(result.cause)}")
    problems = check(scenario, result, before)
    problems += check_others(scenario, result, others_before)
    for problem in problems:
        _say(out, f"UNEXPECTED: {problem}")
    return result, problems


def check(scenario: Scenario, result: ReleaseResult, version_before: str) -> list[str]:
    """What differs from the scenario's expected outcome (empty when it behaved)."""
    problems: list[str] = []
    if result.status != scenario.expect_status:
        problems.append(f"{scenario.release} ended {result.status} ({result.error}: "
                        f"{result.cause}), expected {scenario.expect_status}")
    if scenario.expect_error and result.error != scenario.expect_error:
        problems.append(f"{scenario.release} failed with {result.error}, "
                        f"expected {scenario.expect_error}")
    if result.routing:
        problems.append(f"{scenario.release} left a routing config {dict(result.routing)}")
    promoted = result.alias_version != version_before
    if promoted != (scenario.expect_status == "SUCCEEDED"):
        problems.append(f"{scenario.release}: alias on version {result.alias_version} "
                        f"(was {version_before})")
    return problems


def _others(mode: LocalMode, scenario: Scenario) -> list[str]:
    return [mode.worker_name] if scenario.worker_build and mode.worker_name else []


def _release(mode: LocalMode, scenario: Scenario, strategy: Mapping[str, Any] | None,
             migrations: bool, view: _LiveView) -> ReleaseResult:
    if not _others(mode, scenario) or scenario.worker_build is None:
        return mode.release(scenario.build, scenario.release, strategy=strategy,
                            migrations=migrations, on_poll=view.poll_current)
    builds = {mode.function_name: scenario.build,
              str(mode.worker_name): scenario.worker_build}
    return mode.release_many(builds, scenario.release, strategy=strategy,
                             migrations=migrations, on_poll=view.poll_current)


def check_others(scenario: Scenario, result: ReleaseResult,
                 before: Mapping[str, str]) -> list[str]:
    """Every other function of the release moved with the API, or went back with it."""
    problems = []
    for function, (version, routing) in result.others.items():
        moved = version != before.get(function)
        if routing or moved != (scenario.expect_status == "SUCCEEDED"):
            problems.append(f"{scenario.release}: {function} on version {version} "
                            f"(was {before.get(function)}), routing {dict(routing)}")
    return problems


class _LiveView:
    """Binds a :class:`ProgressView` to the execution the runner starts."""

    def __init__(self, mode: LocalMode, out: IO[str]) -> None:
        self.mode = mode
        self.out = out
        self.view: ProgressView | None = None

    def poll_current(self) -> None:
        if self.view is None:
            arn = self._current_execution()
            if arn is None:
                return
            self.view = ProgressView(lambda: list(self.mode.history(arn)),
                                     self.mode.alias_state, self.out,
                                     tty=self.out.isatty())
        self.view.poll()

    def finish(self, status: str) -> None:
        if self.view is not None:
            self.view.poll()
            self.view.finish(status)

    def _current_execution(self) -> str | None:
        sfn = self.mode.clients.client("stepfunctions")
        listed = sfn.list_executions(stateMachineArn=self.mode.state_machine_arn)["executions"]
        listed.sort(key=lambda e: e["startDate"])
        return str(listed[-1]["executionArn"]) if listed else None


def cause_message(cause: str) -> str:
    """The ``errorMessage`` inside a Lambda error cause (the cause itself otherwise)."""
    try:
        return str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        return cause


def _patcher_status(mode: LocalMode, out: IO[str]) -> None:
    from stackflow.migrations.compose import build_deps
    from stackflow.migrations.request import PatcherRequest
    from stackflow.migrations.service import run
    from stackflow.migrations.settings import PatcherSettings

    from stackflow_tools.patcher_text import format_result

    _say(out, "\n== patcher status (stackflow status)")
    settings = PatcherSettings(database_url=mode.database_url,
                               migrations_dir=str(mode.options.migrations_dir))
    deps = build_deps(settings, applied_by="stackflow-local-demo")
    _say(out, format_result(run(PatcherRequest("status"), deps)))


def _drift_report(mode: LocalMode, out: IO[str]) -> list[str]:
    """Run the drift Lambda as its schedule would; return what is not clean."""
    from stackflow_tools.local.drift import render, run_drift_check

    _say(out, "\n== drift report (the drift check Lambda, on its scheduled event)")
    result = run_drift_check(mode)
    _say(out, render(result))
    problems = result.problems()
    for problem in problems:
        _say(out, f"UNEXPECTED: {problem}")
    return problems


def _say(out: IO[str], text: str) -> None:
    out.write(text + "\n")
    out.flush()

