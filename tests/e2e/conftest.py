"""Local mode for end-to-end tests: the app synthesized once, a fresh environment per test."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions

from infra.config import SNAPSHOT_CONTEXT_KEY

# The CDK context of the one synthesis every e2e test shares (the CLI's `-c` values).
E2E_CONTEXT = {SNAPSHOT_CONTEXT_KEY: "true"}


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m infra.app`` into a folder of this test run (no AWS account needed).

    Synthesized once per run: parallel test workers share the run's temporary root, and
    the first to take the lock synthesizes for all (synthesis is seconds of CPU each).
    The dev stage, with the cluster snapshot before destructive migrations turned on
    (``-c snapshot_before_destructive=true``, as staging and prod have it), so the
    releases here run the states production runs; ``make demo`` keeps dev's default.
    """
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's root is a folder of the run's own (popen-gwN).
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "e2e-cdk.out"
    with (shared / "e2e-cdk.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").is_file():
            subprocess.run([sys.executable, "-m", "infra.app"], cwd=REPO_ROOT, check=True,
                           env={**os.environ, "CDK_OUTDIR": str(out),
                                "CDK_CONTEXT_JSON": json.dumps(E2E_CONTEXT)},
                           capture_output=True)
    return out


@pytest.fixture
def local_options(cdk_out: Path, database_url: str, tmp_path: Path) -> LocalOptions:
    # A 300 s bake takes 0.3 s; retry intervals shrink the same way. Health is checked
    # every 150 s of a bake (twice per 5-minute canary): each check sends a burst of
    # traffic, and only the detection tests need the default 30 s (they set it).
    return LocalOptions(cdk_out=cdk_out, workdir=tmp_path, database_url=database_url,
                        time_scale=0.001, check_interval_seconds=150)


@pytest.fixture
def local(local_options: LocalOptions) -> Iterator[LocalMode]:
    with LocalMode(local_options) as mode:
        yield mode
