"""The GitHub Actions workflows: valid YAML, OIDC only, and commands that really parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackflow_tools.cli import main as cli_main

from infra.config import CI_MAX_SESSION_SECONDS

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


def stackflow_argv(run: str, environment: dict[str, Any] | None = None) -> list[str]:
    """The arguments of the ``stackflow`` call in a run script; variables the job sets
    take their values, others become samples."""
    joined = run.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if "stackflow pipeline" in line)
    line = line.split("|")[0]  # `| tee release.log`
    line = re.sub(r"\$\{(\w+):\+([^}]*)\}", r"\2", line)  # ${RETRY:+--retry} -> --retry
    known = {k: str(v) for k, v in (environment or {}).items()}
    line = re.sub(r"\$(\w+)", lambda m: known.get(m.group(1), "sample"), line)
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


def test_deploy_tests_then_builds_then_releases_and_waits() -> None:
    # GIVEN the deploy workflow
    workflow = load("deploy.yml")
    on = triggers(workflow)
    jobs = workflow["jobs"]
    test_job, build_job, deploy_job = jobs["test"], jobs["build"], jobs["deploy"]

    # THEN it runs on pushes to main: tests, then the build, then the release
    assert on["push"]["branches"] == ["main"]
    assert [s["run"].strip() for s in steps(test_job) if "run" in s] == ["make test"]
    assert (build_job["needs"], deploy_job["needs"]) == ("test", "build")
    # AND the deploy job gets credentials, then starts the release and waits
    job_steps = steps(deploy_job)
    credentials = index_of(job_steps, CREDENTIALS_ACTION)
    release = index_of(job_steps, "stackflow pipeline start")
    assert credentials < release
    assert "--wait" in job_steps[release]["run"]


def test_only_a_job_that_builds_nothing_may_mint_the_oidc_token() -> None:
    # GIVEN the deploy workflow's jobs
    jobs = load("deploy.yml")["jobs"]
    build, deploy = steps(jobs["build"]), steps(jobs["deploy"])
    # THEN the zip is made where no OIDC token can be had, and handed on as an artifact
    # whose SHA-256 travels apart from it (a job output)
    assert "id-token" not in str(jobs["build"].get("permissions", {}))
    assert index_of(build, "make package") < index_of(build, "actions/upload-artifact")
    assert jobs["build"]["outputs"]["sha256"] == "${{ steps.digest.outputs.sha256 }}"
    digest = build[index_of(build, "sha256sum")]
    assert digest["id"] == "digest"
    assert "dist/stackflow-api.zip" in digest["run"]
    # AND the job holding the token runs no make target (no test, no build, no dev
    # install) and installs only the hash-locked deploy set
    runs = " ".join(str(step.get("run", "")) for step in deploy)
    assert "make " not in runs
    install = deploy[index_of(deploy, "requirements/deploy.txt")]["run"]
    assert "--require-hashes -r requirements/deploy.txt" in install
    assert "--no-deps --no-build-isolation ." in install
    # AND it checks the downloaded zip against the build job's digest before any use
    download = index_of(deploy, "actions/download-artifact")
    check = index_of(deploy, "sha256sum --check")
    assert download < check < index_of(deploy, CREDENTIALS_ACTION)
    assert jobs["deploy"]["env"]["ZIP_SHA256"] == "${{ needs.build.outputs.sha256 }}"
    assert "$ZIP_SHA256  dist/stackflow-api.zip" in deploy[check]["run"]


@pytest.mark.parametrize("name", ["deploy.yml", "pr-diff.yml"])
def test_every_action_is_pinned_to_a_commit_with_its_tag_alongside(name: str) -> None:
    # GIVEN every `uses:` line of the workflow (read as text: YAML drops comments)
    lines = [line.strip() for line in (WORKFLOWS / name).read_text().splitlines()
             if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        # THEN it names a full 40-hex commit and, in a comment, the tag it was taken from
        assert re.fullmatch(r"(- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", line), line
    # AND one action is pinned to one commit throughout the file
    pins: dict[str, set[str]] = {}
    for line in lines:
        action, _, rest = line.split("uses: ", 1)[1].partition("@")
        pins.setdefault(action, set()).add(rest)
    assert all(len(found) == 1 for found in pins.values()), pins


def test_installs_are_hash_locked() -> None:
    # GIVEN the Makefile's install rule (what `make test` and `make package` run in CI)
    makefile = (WORKFLOWS.parents[1] / "Makefile").read_text()
    rule = makefile[makefile.index("$(STAMP):"):]
    rule = rule[:rule.index("\n\n")]
    # THEN every package comes from the locked set with --require-hashes, and the
    # project is built in place without fetching build dependencies
    assert "$(BIN)/pip install --quiet --require-hashes -r $(INSTALLER_LOCK)" in rule
    assert "$(UV_INSTALL) --require-hashes -r $(DEV_LOCK)" in rule
    assert "$(UV_INSTALL) --no-deps --no-build-isolation -e ." in rule
    assert "UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python" in makefile
    assert "--upgrade" not in rule
    assert "'.[dev]'" not in rule
    assert "DEV_LOCK     := requirements/dev.txt" in makefile
    assert "INSTALLER_LOCK := requirements/installer.txt" in makefile
    # AND in CI, where a job caches its installs, pip's cache is keyed on the installer
    # lock (pip installs only uv) and uv's cache, restored right after, on the dev lock
    cached_jobs = 0
    for name in ("deploy.yml", "pr-diff.yml"):
        for job in load(name)["jobs"].values():
            job_steps = steps(job)
            for i, step in enumerate(job_steps):
                if "setup-python" in str(step.get("uses", "")) and "cache" in step["with"]:
                    cached_jobs += 1
                    assert step["with"]["cache-dependency-path"] == "requirements/installer.txt"
                    uv_cache = job_steps[i + 1]
                    assert "actions/cache" in uv_cache["uses"]
                    assert uv_cache["with"]["path"] == "~/.cache/uv"
                    assert "hashFiles('requirements/dev.txt')" in uv_cache["with"]["key"]
    assert cached_jobs == 4  # test, build, guard, diff


def test_ci_stops_following_before_its_credentials_expire(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the release step and the credentials it runs under
    job = load("deploy.yml")["jobs"]["deploy"]
    job_steps = steps(job)
    [credentials] = credential_steps(job)
    session = int(credentials["with"]["role-duration-seconds"])
    run = job_steps[index_of(job_steps, "stackflow pipeline start")]["run"]
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("pipeline",))
    args = cli_main.build_parser().parse_args(stackflow_argv(run, job["env"]))
    # THEN the session is the CI role's maximum (1 h) and following stops well before
    assert session == CI_MAX_SESSION_SECONDS
    assert args.timeout is not None
    assert args.timeout <= session - 300
    # AND "still running" (exit 3) ends the job without failing it, saying so
    assert 'if [ "$status" -eq 3 ]' in run
    assert "::warning::" in run
    assert 'exit "$status"' in run


def test_both_jobs_keep_the_lambda_wheels_in_the_cache_make_package_reads() -> None:
    # GIVEN the deploy workflow's jobs: `make test` builds zips in the package tests,
    # `make package` builds the release
    jobs = load("deploy.yml")["jobs"]
    for job_name, command in (("test", "make test"), ("build", "make package")):
        job_steps = steps(jobs[job_name])
        # THEN .stackflow/wheels is restored before the command, keyed on the lock
        [cache] = [i for i, step in enumerate(job_steps)
                   if step.get("with", {}).get("path") == ".stackflow/wheels"]
        assert "actions/cache" in job_steps[cache]["uses"]
        assert cache < index_of(job_steps, command)
        assert "lambda-requirements.txt" in job_steps[cache]["with"]["key"]


def test_the_release_command_in_the_workflow_parses_with_the_real_cli(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the release step's command line
    job = load("deploy.yml")["jobs"]["deploy"]
    job_steps = steps(job)
    run = job_steps[index_of(job_steps, "stackflow pipeline start")]["run"]
    argv = stackflow_argv(run, job["env"])
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("pipeline",))

    # WHEN the stackflow parser reads it
    args = cli_main.build_parser().parse_args(argv)

    # THEN it is `pipeline start` with the packaged API zip, waiting, retry optional
    assert args.pipeline_command == "start"
    assert args.artifact == ["dist/stackflow-api.zip"]  # --artifact may repeat (NAME=PATH)
    assert args.wait is True
    assert args.retry is True  # the ${RETRY:+--retry} form, expanded


def test_pull_requests_get_a_make_diff_through_oidc() -> None:
    # GIVEN the pull-request workflow's diff job (the guard job: test_infra_guard_workflow)
    workflow = load("pr-diff.yml")
    job = workflow["jobs"]["diff"]

    # THEN it runs on pull requests, for this repository's branches, and runs the CDK's
    # template comparison (the read-only role cannot create change sets)
    assert "pull_request" in triggers(workflow)
    assert "github.repository" in job["if"]
    job_steps = steps(job)
    assert index_of(job_steps, CREDENTIALS_ACTION) < index_of(job_steps, "make cdk-diff")


def test_migrations_are_linted_before_anything_is_built_or_uploaded() -> None:
    # GIVEN the deploy workflow's test job, which build and deploy need
    test_job = load("deploy.yml")["jobs"]["test"]
    (step,) = [s for s in steps(test_job) if "run" in s]
    # THEN its `make test` lints the migrations with GitHub annotations
    assert step["env"]["MIGRATIONS_LINT_FLAGS"] == "--github"
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    lint_target = makefile.split("\nlint: ", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/stackflow lint $(MIGRATIONS_LINT_FLAGS)" in lint_target
    assert "\ncheck: lint typecheck" in makefile
    assert "\ntest: lint" in makefile
    # AND the same target type-checks everything (beside the tests) and fails on either
    test_target = makefile.split("\ntest: lint\n", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/mypy functions tools infra tests bench" in test_target
    assert "test $$tests -eq 0 -a $$typed -eq 0" in test_target
