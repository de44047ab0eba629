"""The guard's report as text: destructive changes first, then the rest grouped."""

from __future__ import annotations

from collections.abc import Iterable

from stackflow_tools.infra_guard.model import Finding, GuardReport

VERB_ORDER = ("replace", "replace?", "remove", "modify", "add", "import", "dynamic")


def render_text(report: GuardReport) -> str:
    """The whole report; ends with one verdict line."""
    lines = [f"{len(report.findings)} change(s) in {', '.join(report.stacks) or 'no stack'} "
             f"({report.mode})", *(f"note: {n}" for n in report.notes)]
    if report.destructive:
        lines += ["", f"DESTRUCTIVE ({len(report.destructive)}): data is lost unless each "
                      "is named with --allow-replace"]
        lines += [line for f in report.destructive for line in _destructive(f)]
    rest = [f for f in report.findings if not f.destructive]
    if rest:
        lines += ["", "Other changes", *_grouped(rest)]
    if report.plan:
        lines += ["", "deploy would, with these --allow-replace names:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(report.plan, 1)]
    if report.unused_allowances:
        lines += ["", "--allow-replace names no destructive change: "
                      + ", ".join(report.unused_allowances)]
    return "\n".join([*lines, "", verdict(report)]) + "\n"


def verdict(report: GuardReport) -> str:
    blocking = report.blocking
    if blocking:
        names = ", ".join(f"{f.stack}/{f.logical_id}" for f in blocking)
        return (f"REFUSED: {len(blocking)} destructive change(s) not allowed: {names} "
                "(name each with --allow-replace LOGICAL_ID, or announce it in the pull "
                "request with a line 'allow-replace: LOGICAL_ID')")
    if report.destructive:
        return f"OK: {len(report.destructive)} destructive change(s), each allowed by name"
    return "OK: no destructive change"


def _destructive(f: Finding) -> list[str]:
    c = f.change
    mark = "allowed" if f.allowed else "NOT ALLOWED"
    head = f"  [{mark}] {f.stack} {c.logical_id} {c.resource_type}: {c.verb}"
    lines = [head + (f"  ({f.path})" if f.path else "")]
    if c.causes:
        lines.append(f"      because: {', '.join(c.causes)}")
    lines.append(f"      loses: {f.holds}; {'; '.join(f.notes)}" if f.notes
                 else f"      loses: {f.holds}")
    lines.append(f"      backup first: {f.backup}")
    return lines


def _grouped(findings: Iterable[Finding]) -> list[str]:
    lines: list[str] = []
    by_stack: dict[str, list[Finding]] = {}
    for f in findings:
        by_stack.setdefault(f.stack, []).append(f)
    for stack, items in by_stack.items():
        lines.append(f"  {stack}")
        for verb in VERB_ORDER:
            group = [f for f in items if f.change.verb == verb]
            if group:
                lines.append(f"    {verb} ({len(group)}):")
                lines += [f"      {_line(f)}" for f in group]
    return lines


def _line(f: Finding) -> str:
    c = f.change
    causes = f" [{', '.join(c.causes)}]" if c.causes else ""
    return f"{c.logical_id} {c.resource_type}{causes}"
