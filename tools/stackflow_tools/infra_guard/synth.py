"""Synthesize the CDK app, of the working tree or of a git ref, into a folder.

The app runs as the CDK CLI runs it (``python -m infra.app`` with ``CDK_OUTDIR`` and
the context as ``CDK_CONTEXT_JSON``, which overrides cdk.json's), so ``stackflow infra``
needs no Node.js CLI. A git ref is exported with ``git archive`` (the working tree,
index and branch stay as they are) and synthesized with its own ``infra/``,
``functions/`` and ``tools/`` first on ``PYTHONPATH``: the old app builds the old
templates. It shares the working tree's wheel cache, so its zips build offline.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from stackflow import env
from stackflow.errors import ConfigurationError, SynthesisFailed

from stackflow_tools.infra_guard.assembly import CloudAssembly, load_assembly

Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]
SYNTH_TIMEOUT_SECONDS = 1800
WHEEL_CACHE = Path(".stackflow") / "wheels"
JSII_QUIET = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1"}


def synthesize(source: Path, outdir: Path, *, stage: str, context: Mapping[str, str],
               run: Runner = subprocess.run, label: str = "working tree",
               pythonpath: Sequence[Path] = ()) -> CloudAssembly:
    """Run the app in ``source`` for ``stage`` and load what it wrote to ``outdir``."""
    environ = {**JSII_QUIET, **os.environ, env.STAGE: stage, env.CDK_OUTDIR: str(outdir),
               env.CDK_CONTEXT_JSON: json.dumps({**context, "stage": stage})}
    if pythonpath:
        environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    done = run([sys.executable, "-m", "infra.app"], cwd=source, env=environ,
               capture_output=True, timeout=SYNTH_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise SynthesisFailed(f"synthesizing the {label} failed (exit {done.returncode}): "
                              f"{_tail(done.stderr)}", source=label)
    return load_assembly(outdir, source=label)


def synthesize_ref(repo: Path, ref: str, workdir: Path, *, stage: str,
                   context: Mapping[str, str],
                   run: Runner = subprocess.run) -> CloudAssembly:
    """Export ``ref`` of ``repo`` into ``workdir/src`` and synthesize it there."""
    sha = resolve_ref(repo, ref, run=run)
    tree = export_tree(repo, sha, workdir / "src", run=run)
    return synthesize(tree, workdir / "cdk.out", stage=stage, context=context, run=run,
                      label=f"git {ref} ({sha[:12]})",
                      pythonpath=(tree, tree / "functions", tree / "tools"))


def resolve_ref(repo: Path, ref: str, *, run: Runner = subprocess.run) -> str:
    done = run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                f"{ref}^{{commit}}"], capture_output=True, check=False)
    if done.returncode != 0:
        raise SynthesisFailed(f"--against {ref}: neither a folder nor a commit of {repo} "
                              "(fetch it first, e.g. actions/checkout with fetch-depth: 0)",
                              source=ref)
    return bytes(done.stdout).decode().strip()


def export_tree(repo: Path, sha: str, dest: Path, *, run: Runner = subprocess.run) -> Path:
    """The files of commit ``sha`` in ``dest`` (``git archive``; nothing else changes)."""
    done = run(["git", "-C", str(repo), "archive", "--format=tar", sha],
               capture_output=True, check=False)
    if done.returncode != 0:
        raise SynthesisFailed(f"git archive {sha} failed: {_tail(done.stderr)}", source=sha)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(dest, filter="data")
    cache = repo / WHEEL_CACHE
    if cache.is_dir():
        (dest / WHEEL_CACHE).parent.mkdir(parents=True, exist_ok=True)
        (dest / WHEEL_CACHE).symlink_to(cache.resolve(), target_is_directory=True)
    return dest


def preflight(source: Path, *, stage: str, context: Mapping[str, str],
              run: Runner = subprocess.run) -> None:
    """Run the app's deploy preflight (``infra/preflight.py``: roles that would trust no
    configured repository), as ``make deploy`` does, before a deploy from ``source``."""
    if not (source / "infra" / "preflight.py").is_file():
        return
    flags = [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]
    done = run([sys.executable, "-m", "infra.preflight", *flags], cwd=source,
               env={**os.environ, env.STAGE: stage}, capture_output=True, check=False)
    if done.returncode != 0:
        raise ConfigurationError(_tail(done.stderr) or "infra.preflight refused the deploy",
                                 stage=stage)


def head_commit(repo: Path, *, run: Runner = subprocess.run) -> str:
    """The working tree's commit (empty outside a git checkout)."""
    done = run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
               check=False)
    return bytes(done.stdout).decode().strip() if done.returncode == 0 else ""


def _tail(stderr: bytes | str | None, lines: int = 15) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr or ""
    kept = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("b'!!")]
    return "\n".join(kept[-lines:])
