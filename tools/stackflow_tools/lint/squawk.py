"""squawk (``squawk-cli``) as a subprocess: its rules over the up scripts.

A script StackFlow runs in a transaction is checked with ``--assume-in-transaction``
(its statements need not be re-runnable one by one); a no-transaction one without.
Findings are squawk's, with its rule names; lines become 1-based.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from stackflow.errors import StackFlowError

from stackflow_tools.lint.findings import Finding

# Squawk's rules that remove or rename: a contract-phase migration may do that.
CONTRACT_ALLOWS = frozenset({"ban-drop-column", "ban-drop-table", "renaming-column",
                             "renaming-table"})
TIMEOUT_SECONDS = 120


class SquawkFailed(StackFlowError):
    """squawk could not run or its output could not be read."""


def squawk_binary() -> Path | None:
    """The ``squawk`` of this environment (next to the interpreter), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return beside
    found = shutil.which("squawk")
    return Path(found) if found else None


def run_squawk(binary: Path, files: Sequence[Path], *, in_transaction: bool,
               excluded: Sequence[str], pg_version: str) -> list[Finding]:
    """squawk's findings for ``files`` (none when there are no files)."""
    if not files:
        return []
    command = [str(binary), "--reporter", "json", "--pg-version", pg_version,
               "--assume-in-transaction" if in_transaction else "--no-assume-in-transaction"]
    if excluded:
        command.append("--exclude=" + ",".join(sorted(excluded)))
    try:
        done = subprocess.run([*command, *map(str, files)], capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS, check=False)
        raw = json.loads(done.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        raise SquawkFailed(f"squawk: {e}") from e
    if not isinstance(raw, list):
        raise SquawkFailed(f"squawk: unexpected output {done.stdout[:200]!r}")
    return [_finding(item) for item in raw]


def _finding(item: dict[str, object]) -> Finding:
    help_text = f" ({item['help']})" if item.get("help") else ""
    return Finding(str(item["rule_name"]), "error", Path(str(item["file"])).name,
                   int(str(item.get("line", 0))) + 1, f"{item['message']}{help_text}", "squawk")
