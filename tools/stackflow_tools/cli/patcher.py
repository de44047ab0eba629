"""``stackflow migrate | rollback | status``: the patcher from a terminal.

Same settings (``--database-url``, ``--migrations-dir`` or the environment) and the same
core call as the Lambda handler; a readable table, or ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from stackflow import env
from stackflow.errors import InvalidRequest
from stackflow.settings import env_str

from stackflow_tools.patcher_text import cli_user, format_result

DEFAULT_MIGRATIONS_DIR = "migrations"


COMMON_EPILOG = f"""\
settings:
  Options beat the environment: ${env.DATABASE_URL} (or ${env.DB_SECRET_ARN}, a Secrets Manager
  secret in the RDS format) and ${env.MIGRATIONS_DIR} (or ${env.MIGRATIONS_BUCKET} with
  ${env.MIGRATIONS_PREFIX}); with neither, ./{DEFAULT_MIGRATIONS_DIR}. Guard rails come from the
  environment: ${env.MIGRATION_LOCK_TIMEOUT_MS} (default 3000), ${env.MIGRATION_LOCK_RETRIES} (3),
  ${env.MIGRATION_STATEMENT_TIMEOUT_MS} (0 = none).

exit status:
  0 done; 1 failed, with "error: <ErrorType>: <message>" on stderr (and
  {{"ok": false, "errorType": ..., "errorMessage": ...}} on stdout with --json);
  2 bad arguments. Full reference: docs/patcher.md
"""

MIGRATE_HELP = """\
Apply pending migrations (NNNN_name.up.sql) in version order. Each runs in its own
transaction together with its schema_migrations row, so a failure keeps nothing of
that migration; a script starting with '-- stackflow:no-transaction' runs outside one
(CREATE INDEX CONCURRENTLY). One runner at a time: a PostgreSQL advisory lock.
An applied migration whose file changed blocks the run (ChecksumMismatch)."""
MIGRATE_EXAMPLES = """\
examples:
  stackflow migrate --dry-run          show what would run, with its SQL; change nothing
  stackflow migrate --target 3         apply up to and including version 3
  stackflow migrate --json             print the result document for scripts
"""
ROLLBACK_HELP = """\
Run down scripts (NNNN_name.down.sql) of applied migrations, newest first, each in its
own transaction with the removal of its schema_migrations row. If any migration to be
rolled back has no down script, nothing is rolled back (MissingDownScript)."""
ROLLBACK_EXAMPLES = """\
examples:
  stackflow rollback                   undo the newest migration
  stackflow rollback --steps 2 --dry-run
  stackflow rollback --target 0        undo everything
"""
STATUS_HELP = """\
Show applied and pending migrations, and what is wrong: applied migrations whose file
changed, pending ones numbered below the newest applied, applied ones missing from
the source. Read-only."""


def register(subparsers: Any) -> None:
    migrate = _command(subparsers, "migrate", "apply pending migrations",
                       MIGRATE_HELP, MIGRATE_EXAMPLES)
    migrate.add_argument("--dry-run", action="store_true",
                         help="show the plan and its SQL; change nothing at all")
    migrate.add_argument("--target", type=_version, metavar="N",
                         help="apply up to and including version N")
    migrate.add_argument("--allow-out-of-order", action="store_true",
                         help="also apply pending migrations numbered below the newest "
                              "applied one (refused by default)")
    _common(migrate)

    rollback = _command(subparsers, "rollback", "run down scripts of applied migrations",
                        ROLLBACK_HELP, ROLLBACK_EXAMPLES)
    which = rollback.add_mutually_exclusive_group()
    which.add_argument("--steps", type=_positive, metavar="N",
                       help="roll back the newest N migrations (default 1)")
    which.add_argument("--target", type=_version, metavar="N",
                       help="roll back until N is the current version (0: everything)")
    rollback.add_argument("--dry-run", action="store_true",
                          help="show the plan and its SQL; change nothing at all")
    _common(rollback)

    _common(_command(subparsers, "status", "show applied, pending and problem migrations",
                     STATUS_HELP, ""))


def _command(subparsers: Any, name: str, summary: str, description: str,
             examples: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description,
        epilog=f"{examples}\n{COMMON_EPILOG}" if examples else COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=run_command, patcher_action=name)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("database and migrations")
    where.add_argument("--database-url", metavar="URI",
                       help=f"libpq URI, e.g. postgresql://app@db:5432/shop "
                            f"(default: ${env.DATABASE_URL})")
    where.add_argument("--migrations-dir", metavar="DIR",
                       help=f"folder of NNNN_name.up.sql / .down.sql files (default: "
                            f"${env.MIGRATIONS_DIR}, else ./{DEFAULT_MIGRATIONS_DIR})")
    where.add_argument("--migrations-bucket", metavar="BUCKET",
                       help=f"read the files from S3 instead (default: "
                            f"${env.MIGRATIONS_BUCKET})")
    where.add_argument("--migrations-prefix", metavar="PREFIX",
                       help=f"key prefix in that bucket (default: ${env.MIGRATIONS_PREFIX})")
    where.add_argument("--lock-wait", type=_seconds, metavar="SECONDS",
                       help=f"wait this long for another run's lock, then fail with "
                            f"LockTimeout (default: ${env.MIGRATION_LOCK_WAIT_SECONDS} or 60)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON instead of a table")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _version(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") \
            from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
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
    if args.migrations_prefix and not bucket:
        # Without a bucket the prefix would be silently ignored and ./migrations read.
        raise InvalidRequest("--migrations-prefix",
                             f"needs --migrations-bucket (or ${env.MIGRATIONS_BUCKET})")
    default_dir = None if bucket else DEFAULT_MIGRATIONS_DIR
    return PatcherSettings.from_env(
        database_url=args.database_url,
        migrations_dir=args.migrations_dir or env_str(env.MIGRATIONS_DIR) or default_dir,
        migrations_bucket=args.migrations_bucket,
        migrations_prefix=args.migrations_prefix,
        lock_wait_seconds=args.lock_wait,
    )
