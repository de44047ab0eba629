"""The patcher's results as a person reads them, and who ran a command from a terminal.

Shared by the ``stackflow`` CLI and local mode, so neither imports the other.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from typing import Any


def cli_user() -> str:
    """``user@host``: who applied a migration from a terminal."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def format_result(result: dict[str, Any]) -> str:
    """A patcher result as the table a person reads."""
    if result["action"] == "status":
        return _format_status(result)
    return _format_run(result)


def _format_run(result: dict[str, Any]) -> str:
    action, dry = result["action"], result["dry_run"]
    verb = "roll back" if action == "rollback" else "apply"
    steps = result["planned"] if dry else result["applied"]
    head = (f"{action} (dry run): would {verb} {len(steps)} migration(s)" if dry else
            f"{action}: {'rolled back' if action == 'rollback' else 'applied'} "
            f"{len(steps)} migration(s)")
    lines = [f"{head}; current version: {_version_text(result['current_version'])}"]
    lines += _table(["VERSION", "NAME", "MODE", "TIME"], [
        [str(s["version"]), s["name"],
         "no-transaction" if s.get("no_transaction") else "transaction",
         f"{s['execution_ms']} ms" if "execution_ms" in s else "-"] for s in steps])
    if not result["complete"]:
        lines.append(f"stopped before the Lambda deadline; remaining: "
                     f"{_versions(result.get('remaining', []))} (call again to continue)")
    lines.append(f"pending: {_versions(result['pending'])}")
    if dry:
        lines += [f"\n-- {s['version']} {s['name']} ({s['direction']})\n{s['sql'].rstrip()}"
                  for s in steps]
    return "\n".join(lines)


def _format_status(result: dict[str, Any]) -> str:
    changed = {m["version"] for m in result["checksum_mismatches"]}
    late = {m["version"] for m in result["out_of_order"]}
    rows = [[str(a["version"]), a["name"],
             "CHANGED" if a["version"] in changed else "applied",
             a.get("applied_at", ""), a.get("applied_by", "")] for a in result["applied"]]
    rows += [[str(m["version"]), m["name"], "MISSING FILE", "", ""] for m in result["missing"]]
    rows += [[str(p["version"]), p["name"],
              "OUT OF ORDER" if p["version"] in late else "pending", "", ""]
             for p in result["pending"]]
    rows.sort(key=lambda r: (int(r[0]), r[2]))
    lines = [f"status: current version {_version_text(result['current_version'])}"]
    lines += _table(["VERSION", "NAME", "STATE", "APPLIED AT", "BY"], rows)
    lines += _problems(result)
    return "\n".join(lines)


def _problems(result: dict[str, Any]) -> list[str]:
    notes = []
    if result["checksum_mismatches"]:
        notes.append("changed after being applied (migrate is blocked): "
                     + _versions(result["checksum_mismatches"]))
    if result["out_of_order"]:
        notes.append("pending below the newest applied version (needs --allow-out-of-order): "
                     + _versions(result["out_of_order"]))
    if result["missing"]:
        notes.append("applied but no longer in the source: " + _versions(result["missing"]))
    return notes or ["no problems found"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]]


def _versions(items: Sequence[dict[str, Any]]) -> str:
    return ", ".join(str(i["version"]) for i in items) or "none"


def _version_text(version: int | None) -> str:
    return "none (empty database)" if version is None else str(version)
