"""``stackflow lint``'s output formats: GitHub annotations a PR shows on the line."""

from __future__ import annotations

import json
from pathlib import Path

from stackflow_tools.lint.findings import Finding
from stackflow_tools.lint.render import as_github, as_json, as_text
from stackflow_tools.lint.service import LintReport

REPORT = LintReport((
    Finding("destructive-outside-contract", "error", "0002_a.up.sql", 3,
            "statement 1 (drop column orders.x) in the expand phase: 50% done,\nsee docs"),
    Finding("lock", "info", "0002_a.up.sql", 3, "statement 1 takes ACCESS EXCLUSIVE on orders"),
), checked=2, squawk="missing", notes=("squawk is not installed",))


def test_github_annotations_escape_and_skip_notes() -> None:
    # WHEN the report is printed for a workflow
    out = as_github(REPORT, Path("migrations")).splitlines()
    # THEN each error is one annotation on its file and line, with the message escaped as
    # the workflow-command syntax requires; notes about locks are not annotations
    assert out == [
        "::error file=migrations/0002_a.up.sql,line=3,title=destructive-outside-contract::"
        "statement 1 (drop column orders.x) in the expand phase: 50%25 done,%0Asee docs",
        "::warning::squawk is not installed"]


def test_text_and_json_carry_every_finding() -> None:
    text = as_text(REPORT, Path("migrations")).splitlines()
    assert ("migrations/0002_a.up.sql:3: note lock: statement 1 takes ACCESS "
            "EXCLUSIVE on orders") in text
    assert text[-1] == "2 migration(s) checked (squawk missing): 1 error(s)"
    doc = json.loads(as_json(REPORT, Path("migrations")))
    assert (doc["ok"], doc["errors"], len(doc["findings"])) == (False, 1, 2)
