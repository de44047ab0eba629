"""Readable text for a drift report: the CLI table and the SNS notification."""

from __future__ import annotations

import json

from stackflow.drift.model import AliasResult, DriftReport, SchemaResult, StackResult

SUBJECT_MAX = 100  # SNS rejects longer subjects


def render_table(report: DriftReport) -> str:
    """The report as an aligned, sectioned text table."""
    lines: list[str] = []
    lines += _stacks_section(report)
    lines += _aliases_section(report.aliases)
    lines += _schema_section(report.schema)
    if report.errors:
        lines.append("NOT CHECKED")
        lines += [f"  {e.part:<32} {e.error_type}: {e.message}" for e in report.errors]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def summary_line(report: DriftReport) -> str:
    counts = report.counts()
    if not report.has_drift:
        return "RESULT: no drift" + (" (some parts not checked)" if report.errors else "")
    return (f"RESULT: DRIFT — {counts['stack']} stack resource(s), {counts['alias']} "
            f"alias(es), {counts['schema']} schema finding(s)")


def _stacks_section(report: DriftReport) -> list[str]:
    if not report.stacks and not report.carried_over:
        return []
    lines = ["STACKS"]
    for stack in report.stacks:
        lines += _stack_lines(stack)
    for carried in report.carried_over:
        lines.append(f"  {carried.stack:<32} CARRIED OVER  {carried.reason}")
    return lines


def _stack_lines(stack: StackResult) -> list[str]:
    extra = f"  {stack.reason}" if stack.reason else ""
    lines = [f"  {stack.stack:<32} {stack.status:<12}{extra}"]
    for r in stack.resources:
        tag = "" if r.classification == "drift" else f"  [{r.classification}]"
        lines.append(f"    {r.logical_id} ({r.resource_type}) {r.status}{tag}")
        lines += [f"      {d.path}: {d.expected} -> {d.actual}" for d in r.differences]
    return lines


def _aliases_section(aliases: tuple[AliasResult, ...]) -> list[str]:
    if not aliases:
        return []
    lines = ["ALIASES"]
    for a in aliases:
        where = a.actual.version if a.actual else "-"
        expected = a.expected.version if a.expected else "-"
        lines.append(f"  {a.function + ':' + a.alias:<32} {a.status:<12} "
                     f"actual {where:<6} expected {expected:<6} {a.reason}".rstrip())
    return lines


def _schema_section(schema: SchemaResult | None) -> list[str]:
    if schema is None:
        return []
    if not schema.checked:
        return ["SCHEMA", f"  not checked: {schema.reason}"]
    pending = ", ".join(str(v) for v in schema.pending) or "none"
    lines = ["SCHEMA", f"  current {_v(schema.current_version)}; pending {pending}"]
    if schema.fingerprint is not None:
        fp = schema.fingerprint
        lines.append(f"  live schema fingerprint: {fp.status}"
                     + (f" ({fp.reason})" if fp.reason else ""))
    lines += [f"  {f.kind:<20} {_v(f.version):<8} {f.detail}" for f in schema.findings]
    return lines


def _v(version: int | None) -> str:
    return "-" if version is None else str(version)


def notification(report: DriftReport) -> tuple[str, str]:
    """(subject, message) for SNS: the table for people, the drift keys for machines."""
    counts = report.counts()
    if report.has_drift:
        subject = (f"StackFlow drift changed: {counts['stack']} stack, {counts['alias']} "
                   f"alias, {counts['schema']} schema")
    else:
        subject = "StackFlow drift resolved: no drift"
    body = render_table(report) + "\n" + json.dumps(
        {"fingerprint": report.fingerprint, "counts": counts,
         "drift_keys": list(report.drift_keys)}, indent=2)
    return subject[:SUBJECT_MAX], body
