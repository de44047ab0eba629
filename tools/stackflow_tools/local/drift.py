"""The drift check in local mode: the template's drift Lambda, invoked like any function.

The synthesized ``drift_check.handler.handler`` function runs in process with the
variables the template gives it (``DRIFT_MANAGED_ALIASES``, ``DEPLOY_TABLE``, the
migrations bucket and prefix, the topic) plus local mode's ``DATABASE_URL``, on a
scheduled event, so it stores its drift state and notifies (moto's) SNS as it would on
its schedule.

Stack drift is the one part local mode cannot check: it needs CloudFormation's drift
detection, which moto does not implement, on stacks local mode never creates. The
function therefore runs with no stacks configured locally
(:data:`stackflow_tools.local.runner.LOCAL_FUNCTION_OVERRIDES`) and the local report names
the stacks the template would check as *not checked* — never as in sync.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackflow import env
from stackflow.errors import ConfigurationError

from stackflow_tools.local.runner import DRIFT_HANDLER_PREFIX, LocalMode

SCHEDULED_EVENT: Mapping[str, Any] = {
    "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {},
}
STACKS_NOT_CHECKED = "not checked locally (stack drift detection needs CloudFormation)"


@dataclass(frozen=True)
class LocalDriftReport:
    """The drift Lambda's answer: its report, or the error it failed with."""

    function_name: str
    report: Mapping[str, Any] | None
    error: str | None
    stacks_not_checked: tuple[str, ...]

    @property
    def aliases(self) -> list[Mapping[str, Any]]:
        return list((self.report or {}).get("aliases") or [])

    @property
    def schema(self) -> Mapping[str, Any]:
        return (self.report or {}).get("schema") or {}

    @property
    def schema_findings(self) -> list[Mapping[str, Any]]:
        return list(self.schema.get("findings") or [])

    def alias_status(self, function: str, alias: str) -> str | None:
        return next((str(a["status"]) for a in self.aliases
                     if a.get("function") == function and a.get("alias") == alias), None)

    def problems(self) -> list[str]:
        """Why this is not a clean report of the parts local mode checks (empty: clean)."""
        if self.report is None:
            return [f"the drift check failed: {self.error}"]
        problems = [f"alias {a['function']}:{a['alias']} is {a['status']}"
                    for a in self.aliases if a.get("status") != "in_sync"]
        if not self.schema.get("checked"):
            problems.append(f"schema not checked: {self.schema.get('reason') or 'no database'}")
        problems += [f"schema {f['kind']} (migration {f['version']})"
                     for f in self.schema_findings]
        problems += [f"{e['part']} not checked: {e['errorType']}"
                     for e in self.report.get("errors") or []]
        return problems


def run_drift_check(mode: LocalMode,
                    event: Mapping[str, Any] = SCHEDULED_EVENT) -> LocalDriftReport:
    """Invoke the template's drift function through the local Lambda."""
    stack = mode.stack
    if stack is None:
        raise ConfigurationError("local mode is not started")
    name = stack.function_by_handler(DRIFT_HANDLER_PREFIX)
    configured = stack.env_value(name, env.DRIFT_STACKS) or ""
    skipped = tuple(s.strip() for s in configured.split(",") if s.strip())
    answer = mode.local_aws.client("lambda").invoke(FunctionName=name,
                                                    Payload=json.dumps(event).encode())
    body = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        error = f"{body.get('errorType')}: {body.get('errorMessage')}" \
            if isinstance(body, dict) else str(body)
        return LocalDriftReport(name, None, error, skipped)
    return LocalDriftReport(name, body, None, skipped)


def render(result: LocalDriftReport) -> str:
    """The report, one labelled line (or a few) per kind of drift."""
    lines = [f"  function  {result.function_name} (scheduled event)"]
    if result.stacks_not_checked:
        lines.append(f"  stacks    {', '.join(result.stacks_not_checked)}: {STACKS_NOT_CHECKED}")
    if result.report is None:
        lines.append(f"  FAILED    {result.error}")
        return "\n".join(lines)
    lines += [_alias_line(a) for a in result.aliases]
    lines += _schema_lines(result.schema)
    lines += [f"  error     {e['part']}: {e['errorType']}: {e['errorMessage']}"
              for e in result.report.get("errors") or []]
    lines.append(f"  result    {_summary(result)}")
    return "\n".join(lines)


def _alias_line(alias: Mapping[str, Any]) -> str:
    actual = _where(alias.get("actual"))
    expected = _where(alias.get("expected"))
    status = str(alias["status"])
    label = f"{alias['function']}:{alias['alias']}"
    text = f"  alias     {label:<20} {status.upper() if status != 'in_sync' else status:<10}"
    if status == "in_sync":
        text += f" version {actual}, as the last successful deployment recorded"
    else:
        text += f" version {actual}, expected {expected}"
    reason = str(alias.get("reason") or "")
    return text + (f" ({reason})" if reason else "")


def _where(state: Mapping[str, Any] | None) -> str:
    if not state:
        return "-"
    routing = state.get("routing") or {}
    extra = "".join(f" + {float(w):.0%} on {v}" for v, w in sorted(routing.items()))
    return f"{state['version']}{extra}"


def _schema_lines(schema: Mapping[str, Any]) -> list[str]:
    if not schema:
        return []
    if not schema.get("checked"):
        return [f"  schema    not checked: {schema.get('reason')}"]
    pending = ", ".join(str(v) for v in schema.get("pending") or []) or "none"
    findings: Sequence[Mapping[str, Any]] = schema.get("findings") or []
    state = "in sync with the migration source" if not findings else "DRIFTED"
    lines = [f"  schema    {state}: current version {schema.get('current_version')}, "
             f"pending {pending}"]
    lines += [f"            {str(f['kind']).upper()} migration {f['version']}: {f['detail']}"
              for f in findings]
    fingerprint = schema.get("fingerprint")
    if fingerprint:
        lines.append(f"            live schema fingerprint: {fingerprint['status']}"
                     + (f" ({fingerprint['reason']})" if fingerprint.get("reason") else ""))
    return lines


def _summary(result: LocalDriftReport) -> str:
    report = result.report or {}
    counts = report.get("counts") or {}
    checked = "aliases and schema" + (" (stacks not checked)" if result.stacks_not_checked
                                      else "")
    if not report.get("drifted"):
        return f"no drift in {checked}"
    return (f"DRIFT: {counts.get('alias', 0)} alias(es), {counts.get('schema', 0)} schema "
            f"finding(s) in {checked}")
