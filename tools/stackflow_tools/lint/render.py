"""A lint report as text, JSON or GitHub workflow annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackflow_tools.lint.findings import Finding
from stackflow_tools.lint.service import LintReport


def as_text(report: LintReport, folder: Path) -> str:
    lines = [f"{folder / f.file}:{f.line}: {_label(f)} {f.rule}: {f.message}"
             for f in report.findings]
    lines += [f"note: {n}" for n in report.notes]
    errors = report.errors
    lines.append(f"{report.checked} migration(s) checked (squawk {report.squawk}): "
                 + (f"{errors} error(s)" if errors else "clean"))
    return "\n".join(lines)


def as_json(report: LintReport, folder: Path) -> str:
    doc: dict[str, Any] = {"ok": report.errors == 0, "folder": str(folder),
                           "checked": report.checked, "squawk": report.squawk,
                           "errors": report.errors, "notes": list(report.notes),
                           "findings": [f.to_dict() for f in report.findings]}
    return json.dumps(doc, indent=2)


def as_github(report: LintReport, folder: Path) -> str:
    """``::error file=F,line=N,title=RULE::message``: a PR shows it on the line."""
    lines = [f"::{_github_level(f)} file={_escape_property(str(folder / f.file))},"
             f"line={f.line},title={_escape_property(f.rule)}::{_escape_data(f.message)}"
             for f in report.findings if f.severity != "info"]
    lines += [f"::warning::{_escape_data(n)}" for n in report.notes]
    return "\n".join(lines)


def _label(f: Finding) -> str:
    return {"error": "error", "warning": "warning", "info": "note"}[f.severity]


def _github_level(f: Finding) -> str:
    return "error" if f.severity == "error" else "warning"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
