"""The deploy workflow keeps each release's HTML report as a build artifact."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackflow_tools.cli import main as cli_main

DEPLOY = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "deploy.yml"
UPLOAD = "actions/upload-artifact@"
PINNED = re.compile(r"actions/upload-artifact@[0-9a-f]{40}$")


def _deploy_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(DEPLOY.read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["deploy"]["steps"]
    return steps


def _index(steps: list[dict[str, Any]], needle: str) -> int:
    return next(i for i, step in enumerate(steps)
                if needle in str(step.get("run", "")) or needle in str(step.get("uses", "")))


def test_the_release_report_is_built_and_uploaded_even_when_the_release_failed() -> None:
    # GIVEN the deploy job
    steps = _deploy_steps()
    release = _index(steps, "stackflow pipeline start")
    report = _index(steps, "stackflow report")
    upload = next(i for i, step in enumerate(steps)
                  if UPLOAD in str(step.get("uses", ""))
                  and "release-report" in str(step.get("with", {}).get("path", "")))
    # THEN the report is built after the release and uploaded after that
    assert release < report < upload
    # AND both run whatever the release's outcome (only a cancelled run skips them)
    for index in (report, upload):
        assert steps[index]["if"] == "${{ !cancelled() }}"
    # AND the upload is the HTML file the report step writes, by a pinned action
    html = re.search(r"--html (\S+)", steps[report]["run"])
    assert html is not None
    assert steps[upload]["with"]["path"] == html.group(1)
    assert PINNED.match(steps[upload]["uses"]), steps[upload]["uses"]
    assert "# v4" in DEPLOY.read_text().split(steps[upload]["uses"], 1)[1].splitlines()[0]


def test_the_report_command_in_the_workflow_parses_with_the_real_cli(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the report step's command line, its variable as a sample execution ARN
    steps = _deploy_steps()
    run = steps[_index(steps, "stackflow report")]["run"].replace("\\\n", " ")
    line = next(line for line in run.splitlines() if "stackflow report" in line)
    words = shlex.split(line.split("||")[0].replace(
        '"$execution"', "arn:aws:states:us-east-1:1:execution:m:e"))
    argv = words[next(i for i, w in enumerate(words) if w.endswith("stackflow")) + 1:]
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("report",))
    # WHEN the stackflow parser reads it
    args = cli_main.build_parser().parse_args(argv)
    # THEN it is `report` of that execution, writing the HTML page
    assert args.command == "report"
    assert args.execution.startswith("arn:aws:states:")
    assert str(args.html) == "release-report.html"
