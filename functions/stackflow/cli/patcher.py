"""``stackflow migrate | rollback | status``: the patcher from a terminal.

Same settings (``--database-url``, ``--migrations-dir`` or the environment) and the same
core call as the Lambda handler; a readable table, or ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
from collections.abc import Sequence
from typing import Any

from stackflow import env
from stackflow.settings import env_str

DEFAULT_MIGRATIONS_DIR = "migrations"


def register(subparsers: Any) -> None:
    migrate = _command(subparsers, "migrate", "apply pending migrations")
    migrate.add_argument("--dry-run", action="store_true", help="show the plan and its SQL")
    migrate.add_argument("--target", type=_version, help="apply up to and including N")
    migrate.add_argument("--allow-out-of-order", action="store_true",
                         help="apply pending migrations numbered below the newest applied")

    rollback = _command(subparsers, "rollback", "run down scripts of applied migrations")
    which = rollback.add_mutually_exclusive_group()
    which.add_argument("--steps", type=_positive, help="roll back the newest N (default 1)")
    which.add_argument("--target", type=_version,
                       help="roll back until N is the current version (0: everything)")
    rollback.add_argument("--dry-run", action="store_true", help="show the plan and its SQL")

    _command(subparsers, "status", "show applied, pending and problem migrations")


def _command(subparsers: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text,
                                                            description=help_text)
    parser.add_argument("--database-url", help=f"libpq URI (default: ${env.DATABASE_URL})")
    parser.add_argument("--migrations-dir",
                        help=f"folder of NNNN_name.up.sql files (default: "
                             f"${env.MIGRATIONS_DIR}, else ./{DEFAULT_MIGRATIONS_DIR})")
    parser.add_argument("--migrations-bucket", help=f"S3 bucket (default: "
                                                    f"${env.MIGRATIONS_BUCKET})")
    parser.add_argument("--migrations-prefix", help=f"S3 prefix (default: "
                                                    f"${env.MIGRATIONS_PREFIX})")
    parser.add_argument("--lock-wait", type=float, metavar="SECONDS",
                        help=f"wait this long for another run's lock "
                             f"(default: ${env.MIGRATION_LOCK_WAIT_SECONDS} or 60)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run_command, patcher_action=name)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _version(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def run_command(args: argparse.Namespace) -> int:
    """Build the request and dependencies from ``args``, run, print."""
    from stackflow.migrations.compose import build_deps
    from stackflow.migrations.request import PatcherRequest
    from stackflow.migrations.service import run

    request = PatcherRequest(
        action=args.patcher_action,
        dry_run=getattr(args, "dry_run", False),
        target=getattr(args, "target", None),
        steps=getattr(args, "steps", None),
        allow_out_of_order=getattr(args, "allow_out_of_order", False),
    )
    result = run(request, build_deps(_settings(args), applied_by=cli_user()))
    print(json.dumps(result, indent=2, default=str) if args.json else format_result(result))
    return 0


def _settings(args: argparse.Namespace) -> Any:
    from stackflow.migrations.settings import PatcherSettings

    bucket = args.migrations_bucket or env_str(env.MIGRATIONS_BUCKET)
    default_dir = None if bucket else DEFAULT_MIGRATIONS_DIR
    return PatcherSettings.from_env(
        database_url=args.database_url,
        migrations_dir=args.migrations_dir or env_str(env.MIGRATIONS_DIR) or default_dir,
        migrations_bucket=args.migrations_bucket,
        migrations_prefix=args.migrations_prefix,
        lock_wait_seconds=args.lock_wait,
    )


def cli_user() -> str:
    """``user@host``: who applied a migration from a terminal."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# --- rendering --------------------------------------------------------------------------
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
