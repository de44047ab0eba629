"""The pr-diff workflow runs the offline guard on every pull request (read as YAML)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackflow_tools.cli import main as cli_main

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "pr-diff.yml"


def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


def guard_job() -> dict[str, Any]:
    job = workflow()["jobs"]["guard"]
    assert isinstance(job, dict)
    return job


def guard_step(job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    [found] = [(i, s) for i, s in enumerate(job["steps"])
               if "stackflow infra diff" in str(s.get("run", ""))]
    return found


def guard_argv(run: str) -> list[str]:
    """The ``stackflow`` arguments of the guard line, shell variables as samples."""
    line = next(ln for ln in run.splitlines() if "stackflow infra diff" in ln)
    line = line.split(">")[0].replace('"$RUNNER_TEMP/', '"/tmp/').replace('"$', '"sample-')
    words = shlex.split(line)
    return words[next(i for i, w in enumerate(words) if w.endswith("stackflow")) + 1:]


def test_every_pull_request_runs_the_guard_and_an_edited_description_runs_it_again() -> None:
    on = workflow().get("on", workflow().get(True))
    assert isinstance(on, dict)
    assert set(on["pull_request"]["types"]) >= {"opened", "synchronize", "reopened", "edited"}
    # AND the guard has no condition: it runs for forks too
    assert "if" not in guard_job()


def test_the_guard_needs_no_aws_credentials_and_no_token() -> None:
    job = guard_job()
    assert job["permissions"] == {"contents": "read"}
    assert not [s for s in job["steps"] if "configure-aws-credentials" in str(s.get("uses"))]
    assert "AWS_" not in str(job)


def test_the_base_commit_is_fetched_before_the_guard_compares_with_it() -> None:
    job = guard_job()
    index, step = guard_step(job)
    [checkout] = [i for i, s in enumerate(job["steps"]) if "checkout" in str(s.get("uses"))]
    assert checkout < index
    assert job["steps"][checkout]["with"]["fetch-depth"] == 0
    assert step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"


def test_the_description_reaches_the_guard_as_data_never_as_script() -> None:
    _, step = guard_step(guard_job())
    assert step["env"]["PR_BODY"] == "${{ github.event.pull_request.body }}"
    assert "${{" not in step["run"]  # nothing from the event is pasted into the script
    assert '"$PR_BODY"' in step["run"]


def test_the_guards_verdict_is_the_jobs_exit_status_after_the_summary() -> None:
    _, step = guard_step(guard_job())
    run = step["run"]
    assert "|| status=$?" in run
    assert run.index("GITHUB_STEP_SUMMARY") < run.index('exit "$status"')


def test_the_guard_command_parses_with_the_real_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    _, step = guard_step(guard_job())
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("infra",))
    args = cli_main.build_parser().parse_args(guard_argv(step["run"]))
    assert args.infra_command == "diff"
    assert args.against == "sample-BASE_SHA"
    assert str(args.allow_replace_from) == "/tmp/pr-body.txt"
    assert args.stage == "sample-STAGE"


def test_the_aws_diff_job_keeps_to_what_its_read_only_role_can_do() -> None:
    # `make diff` now creates change sets, which StackFlowDiffRole may not: the job with
    # that role runs the CDK's template comparison, and not on a description edit.
    job = workflow()["jobs"]["diff"]
    runs = " ".join(str(s.get("run", "")) for s in job["steps"])
    assert "make cdk-diff" in runs
    assert "make diff" not in runs
    assert "github.event.action != 'edited'" in job["if"]
