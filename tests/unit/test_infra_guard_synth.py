"""Synthesis for the guard: the app runs as the CDK CLI runs it, a git ref from an export."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from stackflow.errors import ConfigurationError, SynthesisFailed
from stackflow_tools.infra_guard.synth import export_tree, preflight, resolve_ref, synthesize

from tests.support.infra_guard import write_assembly


class FakeRun:
    """Records each command; the app "synthesizes" by writing a small assembly."""

    def __init__(self, returncode: int = 0, stderr: bytes = b"") -> None:
        self.calls: list[dict[str, Any]] = []
        self.returncode, self.stderr = returncode, stderr

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append({"argv": argv, **kwargs})
        if self.returncode == 0:
            write_assembly(Path(kwargs["env"]["CDK_OUTDIR"]))
        return subprocess.CompletedProcess(argv, self.returncode, b"", self.stderr)


def test_the_app_gets_the_stage_and_context_as_the_cdk_cli_passes_them(tmp_path: Path) -> None:
    run = FakeRun()
    assembly = synthesize(tmp_path, tmp_path / "out", stage="prod",
                          context={"github_repo": "acme/shop"}, run=run)
    [call] = run.calls
    assert call["argv"][1:] == ["-m", "infra.app"]
    assert call["cwd"] == tmp_path
    assert json.loads(call["env"]["CDK_CONTEXT_JSON"]) == {"github_repo": "acme/shop",
                                                           "stage": "prod"}
    assert call["env"]["STAGE"] == "prod"
    assert [s.name for s in assembly.stacks] == ["sf-db", "sf-app"]


def test_a_failed_synthesis_says_why(tmp_path: Path) -> None:
    run = FakeRun(returncode=1, stderr=b"b'!!  node banner'\nRuntimeError: cdk-nag found 1\n")
    with pytest.raises(SynthesisFailed, match=r"exit 1\): RuntimeError: cdk-nag found 1$"):
        synthesize(tmp_path, tmp_path / "out", stage="dev", context={}, run=run)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.com", *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_a_git_ref_is_exported_without_touching_the_working_tree(tmp_path: Path) -> None:
    # GIVEN a repository with a commit, a later uncommitted edit and a wheel cache
    repo = tmp_path / "repo"
    (repo / "infra").mkdir(parents=True)
    (repo / "infra" / "app.py").write_text("old = True\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "infra" / "app.py").write_text("new = True\n")
    (repo / ".stackflow" / "wheels").mkdir(parents=True)
    # WHEN HEAD is resolved and exported
    sha = resolve_ref(repo, "HEAD")
    tree = export_tree(repo, sha, tmp_path / "export")
    # THEN the export holds the committed file, the working tree keeps its edit
    assert (tree / "infra" / "app.py").read_text() == "old = True\n"
    assert (repo / "infra" / "app.py").read_text() == "new = True\n"
    assert git(repo, "status", "--porcelain") == "M infra/app.py"
    # AND the export shares the wheel cache, so its zips build offline
    assert (tree / ".stackflow" / "wheels").resolve() == (repo / ".stackflow" / "wheels")


def test_an_unknown_ref_says_to_fetch_it(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(SynthesisFailed, match="fetch-depth: 0"):
        resolve_ref(tmp_path, "origin/main")


def test_a_deploy_runs_the_apps_preflight_with_the_same_context(tmp_path: Path) -> None:
    # GIVEN an app with a preflight that refuses (no repository configured)
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "preflight.py").write_text("")
    run = FakeRun(returncode=2, stderr=b"make deploy: refusing to deploy stage dev: ...\n")
    # WHEN the guard's deploy checks it
    with pytest.raises(ConfigurationError, match="refusing to deploy stage dev"):
        preflight(tmp_path, stage="dev", context={"github_repo": "x/y"}, run=run)
    # THEN it ran `python -m infra.preflight` with the -c values, for the stage
    [call] = run.calls
    assert call["argv"][1:] == ["-m", "infra.preflight", "-c", "github_repo=x/y"]
    assert call["env"]["STAGE"] == "dev"
