"""``make`` alone and ``make help`` print the list of targets, and change nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def phony_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    block = re.search(r"^\.PHONY:(.*?)(?<!\\)\n", text, re.MULTILINE | re.DOTALL)
    assert block is not None
    return set(block.group(1).replace("\\\n", " ").split())


def make(*args: str) -> subprocess.CompletedProcess[str]:
    # --dry-run on top would print the commands a target runs: help runs only echoes.
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("args", [(), ("help",)], ids=["make", "make help"])
def test_make_without_a_target_lists_every_target(args: tuple[str, ...]) -> None:
    # GIVEN the Makefile / WHEN `make` (or `make help`) runs
    done = make(*args)
    # THEN it exits 0 and names every phony target, the two commands first
    assert done.returncode == 0, done.stderr
    named = {*re.findall(r"\bmake ([a-z0-9-]+)", done.stdout),
             *re.findall(r"\| (?:make )?([a-z0-9-]+)", done.stdout)}
    assert phony_targets() - {"help"} <= named
    assert done.stdout.index("make demo") < done.stdout.index("make synth")
    assert done.stdout.index("make test") < done.stdout.index("make synth")


def test_make_alone_installs_nothing() -> None:
    # GIVEN the default goal / WHEN make is asked what it would run
    done = make("--dry-run")
    # THEN it would only print (no pip, no python, no cdk)
    assert done.returncode == 0, done.stderr
    commands = [line for line in done.stdout.splitlines() if line.strip()]
    assert commands
    assert all(line.startswith("echo ") for line in commands), commands
