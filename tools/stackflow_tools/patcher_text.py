"""The patcher's results as a person reads them, and who ran a command from a terminal.

Shared by the ``stackflow`` CLI and local mode, so neither imports the other.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from typing import Any

from stackflow.migrations.locks import ACCESS_EXCLUSIVE, BLOCKS_WRITES
from stackflow.migrations.sqltext import first_line

NO_PROBLEMS = "no problems found"


def cli_user() -> str:
    """``user@host``: who applied a migration from a terminal."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def format_result(result: dict[str, Any], *, with_sql: bool = False) -> str:
    """A patcher result as the table a person reads; ``with_sql`` adds a dry run's
    scripts after it."""
    if result["action"] == "status":
        return _format_status(result)
    if result["action"] == "adopt":
        return _format_adopt(result)
    if result["dry_run"]:
        return _format_plan(result, with_sql=with_sql)
    return _format_run(result)


def _format_run(result: dict[str, Any]) -> str:
    action, steps = result["action"], result["applied"]
    done = "rolled back" if action == "rollback" else "applied"
    lines = [f"{action}: {done} {len(steps)} migration(s); current version: "
             f"{_version_text(result['current_version'])}"]
    lines += _table(["VERSION", "FILE", "MODE", "TIME"], [
        [str(s["version"]), _file(s), _mode(s), f"{s.get('execution_ms', 0)} ms"]
        for s in steps])
    if not result["complete"]:
        lines.append(f"stopped before the Lambda deadline; remaining: "
                     f"{_versions(result.get('remaining', []))} (call again to continue)")
    lines.append(f"pending: {_versions(result['pending'])}")
    return "\n".join(lines)


def _format_plan(result: dict[str, Any], *, with_sql: bool) -> str:
    """A dry run: the headline first, one line per script, then the totals; a plan of
    150 scripts fits on one screen page of 160 lines or fewer."""
    steps = result["planned"]
    outside = sum(1 for s in steps if s.get("no_transaction"))
    verb = "roll back" if result["action"] == "rollback" else "apply"
    lines = [f"{result['action']} (dry run): {len(result['pending'])} pending, "
             f"{result.get('applied_count', 0)} applied, {outside} outside a transaction; "
             f"would {verb} {len(steps)} (current version: "
             f"{_version_text(result['current_version'])})"]
    lines += _table(["VERSION", "FILE", "MODE", "STATEMENTS", "FIRST LINE"], [
        [str(s["version"]), _file(s), _mode(s), str(s.get("statements", "?")),
         first_line(s.get("sql", ""))] for s in steps])
    lines += _lock_lines(steps)
    statements = sum(int(s.get("statements", 0)) for s in steps)
    lines.append(f"total: {len(steps)} to {verb}, {statements} statement(s), {outside} "
                 "outside a transaction" + ("" if with_sql else "; --sql prints the scripts"))
    planned = {s["version"] for s in steps}
    left = [p for p in result["pending"] if p["version"] not in planned]
    if left and result["action"] == "migrate":
        lines.append(f"left pending: {_versions(left)}")
    lines += [note for note in _problems(result) if note != NO_PROBLEMS]
    lines += impact_lines(result.get("impact"))
    if with_sql:
        lines += [f"\n-- {s['version']} {_file(s)} ({s['direction']}, {_mode(s)})\n"
                  f"{s.get('sql', '').rstrip()}" for s in steps]
    return "\n".join(lines)


def _lock_lines(steps: Sequence[dict[str, Any]]) -> list[str]:
    """The statements that block the table's writes (or reads) while they run."""
    lines = []
    for step in steps:
        for lock in step.get("locks", []):
            if lock["lock"] in BLOCKS_WRITES:
                blocks = "reads and writes" if lock["lock"] == ACCESS_EXCLUSIVE else "writes"
                lines.append(f"  lock: {step['version']} {_file(step)} statement "
                             f"{lock['statement']}: {lock['lock']} on {lock['table']} "
                             f"(blocks {blocks})")
    return lines


def impact_lines(impact: Any) -> list[str]:
    """A rollback's impact report: the verdict, then each object a down script drops or
    alters and the data written there."""
    if not isinstance(impact, dict):
        return []
    since = f" since the baseline of {impact['baseline']}" if impact.get("baseline") \
        else " (no baseline: every value counts as the new version's)"
    lines = [f"impact: {impact['verdict']}{since}"]
    for script in impact.get("scripts", []):
        for obj in script.get("objects", []):
            lines.append(f"  {script['version']} {script['file']}: {_impact_object(obj)}")
    return lines


def _impact_object(obj: dict[str, Any]) -> str:
    kind = str(obj["kind"]).replace("_", " ")
    if not obj.get("exists"):
        return f"{kind} {obj['object']} (no such table now)"
    values = f", {obj['non_null_values']} non-null value(s)" if "non_null_values" in obj \
        else ""
    written = obj.get("written_since")
    since = "" if written is None else f", {written} row(s) inserted or updated since"
    return (f"{kind} {obj['object']}: {obj['rows']} row(s){values}{since}; "
            f"loses {obj['rows_lost']}")


def _format_adopt(result: dict[str, Any]) -> str:
    steps, dry = result["planned"], result["dry_run"]
    foreign = (f"{result['from']}'s {result['foreign_table']} at version "
               f"{_version_text(result['foreign_version'])}")
    head = (f"adopt (dry run): would record {len(steps)} migration(s) as applied from "
            f"{foreign}; no migration SQL would run" if dry else
            f"adopt: recorded {len(steps)} migration(s) as applied from {foreign}; no "
            f"migration SQL ran; current version: {_version_text(result['current_version'])}")
    lines = [head]
    lines += _table(["VERSION", "FILE", "MODE"],
                    [[str(s["version"]), _file(s), _mode(s)] for s in steps])
    kept = result["foreign_table_kept_as"]
    fate = ("kept as it is" if kept == result["foreign_table"] else f"renamed to {kept}")
    lines.append(f"{result['from']}'s table {result['foreign_table']}: "
                 f"{'would be ' if dry else ''}{fate}")
    recorded = {s["version"] for s in steps}
    lines.append("pending after adoption: "
                 + _versions([p for p in result["pending"] if p["version"] not in recorded]))
    return "\n".join(lines)


def _mode(step: dict[str, Any]) -> str:
    if not step.get("no_transaction"):
        return "transaction"
    reason = step.get("no_transaction_reason")
    return f"outside: {reason}" if reason else "outside"


def _file(step: dict[str, Any]) -> str:
    return str(step.get("file") or step["name"])


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
    if result.get("ignored"):
        lines.append("ignored (not .sql): " + ", ".join(result["ignored"]))
    if isinstance(result.get("baseline"), dict):
        tables = result["baseline"]["tables"]
        lines.append(f"baseline: {len(tables)} table(s) measured at "
                     f"{result['baseline']['taken_at']} ({', '.join(tables) or 'none'}); "
                     "--json prints it for rollback --dry-run --baseline")
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
    return notes or [NO_PROBLEMS]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]]


def _versions(items: Sequence[dict[str, Any]]) -> str:
    """Versions as runs: ``1-3, 7, 9-12`` (one line, however many there are)."""
    runs: list[list[int]] = []
    for version in sorted(int(i["version"]) for i in items):
        if runs and version == runs[-1][1] + 1:
            runs[-1][1] = version
        else:
            runs.append([version, version])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) or "none"


def _version_text(version: int | None) -> str:
    return "none (empty database)" if version is None else str(version)
