"""The stack-management entry points: `make synth` without an AWS account, the guard
`make diff | deploy` run (`stackflow infra`), and the CDK commands of `make cdk-diff |
destroy`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.assets import REPO_ROOT


def make_dry_run(target: str, stage: str) -> str:
    """The commands `make TARGET STAGE=stage` would run (`make -n` runs none of them)."""
    done = subprocess.run(["make", "-n", target, f"STAGE={stage}"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True)
    return done.stdout


def cdk_command(output: str, verb: str) -> str:
    (line,) = [ln for ln in output.splitlines() if f"aws-cdk@2 {verb} " in ln]
    return line


def infra_command(output: str, verb: str) -> str:
    (line,) = [ln for ln in output.splitlines() if f"stackflow infra {verb} " in ln]
    return line


@pytest.mark.parametrize(("target", "verb"), [("cdk-diff", "diff"), ("destroy", "destroy")])
def test_cdk_targets_run_the_app_for_every_stack(target: str, verb: str) -> None:
    # WHEN make prints the command of the target
    line = cdk_command(make_dry_run(target, "dev"), verb)
    # THEN it runs the CDK CLI over the same app `make synth` runs, all stacks at once
    assert '--app ".venv/bin/python -m infra.app"' in line
    assert line.endswith("--all")


@pytest.mark.parametrize("verb", ["diff", "deploy"])
def test_diff_and_deploy_go_through_the_guard(verb: str) -> None:
    # WHEN make prints the command of the target, with replacements named
    done = subprocess.run(["make", "-n", verb, "STAGE=staging", "GITHUB_REPO=acme/shop",
                           "ALLOW_REPLACE=TableA ClusterB"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout
    # THEN it runs `stackflow infra` for the stage, with the context and each name
    line = infra_command(done, verb)
    assert line.startswith(f".venv/bin/stackflow infra {verb} --stage staging ")
    assert "-c github_repo=acme/shop" in line
    assert line.endswith("--allow-replace TableA --allow-replace ClusterB")
    assert "aws-cdk@2" not in done


def test_prod_deploys_only_after_approving_every_change() -> None:
    # GIVEN the deploy target for prod and for dev
    prod = infra_command(make_dry_run("deploy", "prod"), "deploy")
    dev = infra_command(make_dry_run("deploy", "dev"), "deploy")
    # THEN prod asks before any change; dev keeps the CLI's default
    assert "--require-approval any-change" in prod
    assert "--require-approval" not in dev


def test_synth_writes_every_stack_without_aws_credentials(tmp_path: Path) -> None:
    # GIVEN an environment with no AWS credentials, profile or config at all
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ |= {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "CDK_OUTDIR": str(tmp_path / "cdk.out"), "STAGE": "dev",
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1"}
    # WHEN the app runs as `make synth` runs it (cdk-nag included)
    done = subprocess.run([sys.executable, "-m", "infra.app"], cwd=REPO_ROOT, env=environ,
                          capture_output=True, text=True, timeout=600)
    # THEN it exits 0 and the cloud assembly holds both stacks of the stage
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "cdk.out"
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {name for name, artifact in manifest["artifacts"].items()
              if artifact["type"] == "aws:cloudformation:stack"}
    assert stacks == {"stackflow-dev", "stackflow-dev-database"}
    for stack in stacks:
        template = json.loads((out / f"{stack}.template.json").read_text())
        assert template["Resources"]
    # AND the stacks are environment-agnostic (no account was needed to build them)
    assert {manifest["artifacts"][s]["environment"] for s in stacks} == {
        "aws://unknown-account/unknown-region"}


def test_deploy_checks_the_repository_before_any_cdk_command() -> None:
    # GIVEN the commands `make deploy` runs, without and with a repository named
    plain = make_dry_run("deploy", "prod").splitlines()
    named = subprocess.run(["make", "-n", "deploy", "STAGE=dev", "GITHUB_REPO=acme/shop"],
                           cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    # THEN the preflight runs first, and the repository reaches both it and the CLI
    preflight = next(i for i, line in enumerate(plain) if "-m infra.preflight" in line)
    deploy = next(i for i, line in enumerate(plain) if "stackflow infra deploy " in line)
    assert preflight < deploy
    assert "-m infra.preflight -c github_repo=acme/shop" in named
    assert "-c github_repo=acme/shop" in infra_command(named, "deploy")


def test_deploy_refuses_until_a_repository_is_configured(tmp_path: Path) -> None:
    # GIVEN cdk.json as shipped (no github_repo), an installed .venv taken as current
    # (-o: no reinstall) and a CDK command that could do no harm if it were reached
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "deploy", "STAGE=dev",
         f"CDK=touch {tmp_path / 'cdk-ran'}", f"INFRA=touch {tmp_path / 'infra-ran'}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    # THEN make stops at the preflight with what to set, and the CDK never runs
    assert done.returncode != 0
    assert "refusing to deploy stage dev: no GitHub repository is configured" in done.stderr
    assert not (tmp_path / "cdk-ran").exists()
    assert not (tmp_path / "infra-ran").exists()
