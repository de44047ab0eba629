"""The GitHub Actions workflows: valid YAML, OIDC only, and commands that really parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackflow_tools.cli import main as cli_main

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"


def load(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    found = workflow.get("on", workflow.get(True))
    assert isinstance(found, dict)
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job["steps"]
    assert isinstance(found, list)
    return found


def index_of(job_steps: list[dict[str, Any]], needle: str) -> int:
    for i, step in enumerate(job_steps):
        if needle in str(step.get("run", "")) or needle in str(step.get("uses", "")):
            return i
    raise AssertionError(f"no step runs or uses {needle!r}")


def stackflow_argv(run: str) -> list[str]:
    """The arguments of the ``stackflow`` call in a run script, variables as samples."""
    joined = run.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if "stackflow pipeline" in line)
    line = re.sub(r"\$\{(\w+):\+([^}]*)\}", r"\2", line)  # ${RETRY:+--retry} -> --retry
    line = re.sub(r"\$(\w+)", "sample", line)
    words = shlex.split(line)
    program = next(i for i, word in enumerate(words) if word.endswith("stackflow"))
    return words[program + 1:]


def credential_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(job) if CREDENTIALS_ACTION in str(s.get("uses", ""))]


@pytest.mark.parametrize("name", ["deploy.yml", "pr-diff.yml"])
def test_workflows_use_oidc_and_no_stored_aws_keys(name: str) -> None:
    # GIVEN a workflow file
    text = (WORKFLOWS / name).read_text()
    workflow = load(name)
    assert any(credential_steps(job) for job in workflow["jobs"].values())

    # THEN only a job that assumes a role may mint an OIDC token, and it reads the repo only
    assert "id-token" not in str(workflow.get("permissions", {}))
    for job in workflow["jobs"].values():
        if not credential_steps(job):
            assert "id-token" not in str(job.get("permissions", {}))
            continue
        assert job["permissions"] == {"id-token": "write", "contents": "read"}
        # AND the role is a repository variable or a role ARN, never a secret
        for step in credential_steps(job):
            assert re.fullmatch(r"\$\{\{ vars\.\w+ \}\}|arn:aws:iam::\d{12}:role/\S+",
                                step["with"]["role-to-assume"])
    # AND no access key, secret key or secrets-based credential appears anywhere
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "aws-session-token",
                      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert forbidden not in text
    assert not re.search(r"\$\{\{[^}]*\bsecrets\b", text)


def test_the_release_assumes_stackflow_cicd_role() -> None:
    [step] = credential_steps(load("deploy.yml")["jobs"]["deploy"])
    assert step["with"]["role-to-assume"] == "${{ vars.STACKFLOW_CICD_ROLE_ARN }}"


def test_deploy_tests_then_packages_then_releases_and_waits() -> None:
    # GIVEN the deploy workflow
    workflow = load("deploy.yml")
    on = triggers(workflow)
    test_job, deploy_job = workflow["jobs"]["test"], workflow["jobs"]["deploy"]

    # THEN it runs on pushes to main, tests first, and deploys only after the tests pass
    assert on["push"]["branches"] == ["main"]
    assert [s["run"].strip() for s in steps(test_job) if "run" in s] == ["make test"]
    assert deploy_job["needs"] == "test"
    assert "id-token" not in str(test_job.get("permissions", {}))
    # AND the deploy job packages, gets credentials, then starts the release and waits
    job_steps = steps(deploy_job)
    package = index_of(job_steps, "make package")
    credentials = index_of(job_steps, CREDENTIALS_ACTION)
    release = index_of(job_steps, "stackflow pipeline start")
    assert package < release
    assert credentials < release
    assert "--wait" in job_steps[release]["run"]


def test_both_jobs_keep_the_lambda_wheels_in_the_cache_make_package_reads() -> None:
    # GIVEN the deploy workflow's jobs: `make test` builds zips in the package tests,
    # `make package` builds the release
    jobs = load("deploy.yml")["jobs"]
    for job_name, command in (("test", "make test"), ("deploy", "make package")):
        job_steps = steps(jobs[job_name])
        # THEN .stackflow/wheels is restored before the command, keyed on the pins
        cache = index_of(job_steps, "actions/cache")
        assert cache < index_of(job_steps, command)
        settings = job_steps[cache]["with"]
        assert settings["path"] == ".stackflow/wheels"
        assert "lambda-constraints.txt" in settings["key"]


def test_the_release_command_in_the_workflow_parses_with_the_real_cli(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the release step's command line
    job_steps = steps(load("deploy.yml")["jobs"]["deploy"])
    run = job_steps[index_of(job_steps, "stackflow pipeline start")]["run"]
    argv = stackflow_argv(run)
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("pipeline",))

    # WHEN the stackflow parser reads it
    args = cli_main.build_parser().parse_args(argv)

    # THEN it is `pipeline start` with the packaged API zip, waiting, retry optional
    assert args.pipeline_command == "start"
    assert str(args.artifact) == "dist/stackflow-api.zip"
    assert args.wait is True
    assert args.retry is True  # the ${RETRY:+--retry} form, expanded


def test_pull_requests_get_a_make_diff_through_oidc() -> None:
    # GIVEN the pull-request workflow
    workflow = load("pr-diff.yml")
    [job] = workflow["jobs"].values()

    # THEN it runs on pull requests, for this repository's branches, and runs make diff
    assert "pull_request" in triggers(workflow)
    assert "github.repository" in job["if"]
    job_steps = steps(job)
    assert index_of(job_steps, CREDENTIALS_ACTION) < index_of(job_steps, "make diff")
