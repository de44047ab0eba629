"""``stackflow migrate | rollback | status | adopt``: the patcher from a terminal.

Same settings (``--database-url``, ``--migrations-dir`` or the environment) and the same
core call as the Lambda handler; a readable table, or ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stackflow import env
from stackflow.errors import InvalidRequest
from stackflow.migrations.request import ADOPT_FROM
from stackflow.settings import env_str

from stackflow_tools.patcher_text import cli_user, format_result

DEFAULT_MIGRATIONS_DIR = "migrations"


COMMON_EPILOG = f"""\
settings:
  Options beat the environment: ${env.DATABASE_URL} (or ${env.DB_SECRET_ARN}, a Secrets Manager
  secret in the RDS format) and ${env.MIGRATIONS_DIR} (or ${env.MIGRATIONS_BUCKET} with
  ${env.MIGRATIONS_PREFIX}); with neither, ./{DEFAULT_MIGRATIONS_DIR}. --table or
  ${env.MIGRATIONS_TABLE} names StackFlow's table (default schema_migrations). Guard
  rails come from the environment: ${env.MIGRATION_LOCK_TIMEOUT_MS} (default 3000),
  ${env.MIGRATION_LOCK_RETRIES} (3), ${env.MIGRATION_STATEMENT_TIMEOUT_MS} (0 = none).

exit status:
  0 done; 1 failed, with "error: <ErrorType>: <message>" on stderr (and
  {{"ok": false, "errorType": ..., "errorMessage": ...}} on stdout with --json);
  2 bad arguments. Full reference: docs/patcher.md
"""

MIGRATE_HELP = """\
Apply pending migrations (NNNN_name.up.sql) in version order. Each runs in its own
transaction together with its schema_migrations row, so a failure keeps nothing of
that migration. A script of statements PostgreSQL refuses inside a transaction
(CREATE INDEX CONCURRENTLY, VACUUM, ...), or one whose first line is a marker
('-- stackflow:no-transaction', '-- morph:nontransactional',
'-- migrate:up transaction:false'), runs outside one, statement by statement.
One runner at a time: a PostgreSQL advisory lock. An applied migration whose file
changed blocks the run (ChecksumMismatch)."""
MIGRATE_EXAMPLES = """\
examples:
  stackflow migrate --dry-run          show what would run, one line per script
  stackflow migrate --dry-run --sql    ... and every script's SQL; change nothing
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
the source; and the files in the source that are not .sql (ignored). Read-only."""
ADOPT_HELP = """\
Take over the history of a database that golang-migrate managed: every migration up to
golang-migrate's version is recorded as applied (with the checksum of today's file,
applied_by 'adopt'); no migration SQL runs. golang-migrate's schema_migrations is
renamed to schema_migrations_golang_migrate (or kept as it is when --table gives
StackFlow tables of another name). Refused, changing nothing, when golang-migrate
marks its version dirty, when the source lacks the file of that version, or when
StackFlow already records migrations here (AdoptionRefused)."""
ADOPT_EXAMPLES = """\
examples:
  stackflow adopt --from golang-migrate --dry-run     show what would be recorded
  stackflow adopt --from golang-migrate               take over, then: stackflow migrate
  stackflow adopt --from golang-migrate --table stackflow_migrations
                                       keep golang-migrate's table as it is, beside StackFlow's
"""


def register(subparsers: Any) -> None:
    migrate = _command(subparsers, "migrate", "apply pending migrations",
                       MIGRATE_HELP, MIGRATE_EXAMPLES)
    migrate.add_argument("--dry-run", action="store_true",
                         help="show the plan, one line per script; change nothing at all")
    migrate.add_argument("--sql", action="store_true",
                         help="with --dry-run: print every script's SQL after the plan")
    migrate.add_argument("--target", type=_version, metavar="N",
                         help="apply up to and including version N")
    migrate.add_argument("--phase", choices=("expand", "contract", "all"), default="all",
                         help="expand: stop before the contract migrations that follow the "
                              "last expand one (what runs before Publish); contract or all "
                              "(default): everything pending")
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
                          help="show the plan, one line per script; change nothing at all")
    rollback.add_argument("--sql", action="store_true",
                          help="with --dry-run: print every script's SQL after the plan")
    rollback.add_argument("--baseline", metavar="FILE",
                          help="with --dry-run: the baseline to measure the impact against "
                               "(JSON: a status --take-baseline --json result, or a "
                               "deployment record's \"schema_baseline\")")
    _common(rollback)

    status = _command(subparsers, "status", "show applied, pending and problem migrations",
                      STATUS_HELP, "")
    status.add_argument("--take-baseline", dest="take_baseline", action="store_true",
                        help="also measure the tables pending down scripts touch (rows, "
                             "write counters), for a later rollback --dry-run --baseline")
    _common(status)

    adopt = _command(subparsers, "adopt", "take over golang-migrate's migration history",
                     ADOPT_HELP, ADOPT_EXAMPLES)
    adopt.add_argument("--from", dest="adopt_from", required=True, choices=ADOPT_FROM,
                       help="the tool that managed the database so far")
    adopt.add_argument("--dry-run", action="store_true",
                       help="show what would be recorded; change nothing at all")
    _common(adopt)


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
    where.add_argument("--table", type=_table_name, metavar="NAME",
                       help=f"StackFlow's table (its run history is NAME_runs); default: "
                            f"${env.MIGRATIONS_TABLE} or schema_migrations")
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


def _table_name(text: str) -> str:
    from stackflow.migrations.tables import valid_table_name

    if not valid_table_name(text):
        raise argparse.ArgumentTypeError(
            f"expected a lower-case name (letters, digits, _; optionally schema.name; at "
            f"most 58 characters), got {text!r}")
    return text


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

    with_sql = getattr(args, "sql", False)
    if with_sql and not args.dry_run:
        raise InvalidRequest("--sql", "prints a dry run's scripts: give it with --dry-run")
    request = PatcherRequest(
        action=args.patcher_action,
        dry_run=getattr(args, "dry_run", False),
        target=getattr(args, "target", None),
        steps=getattr(args, "steps", None),
        allow_out_of_order=getattr(args, "allow_out_of_order", False),
        adopt_from=getattr(args, "adopt_from", None),
        baseline=_baseline(args),
        phase=getattr(args, "phase", "all"),
    )
    result = run(request, build_deps(_settings(args), applied_by=cli_user()))
    print(json.dumps(result, indent=2, default=str) if args.json
          else format_result(result, with_sql=with_sql))
    return 0


def _baseline(args: argparse.Namespace) -> Any:
    """``--baseline FILE`` read as a baseline (a rollback dry run's only)."""
    from stackflow.migrations.impact import parse_baseline

    if getattr(args, "take_baseline", False):
        return True
    path = getattr(args, "baseline", None)
    if path is None:
        return None
    if not args.dry_run:
        raise InvalidRequest("--baseline", "measures a dry run's impact: give it with "
                             "--dry-run")
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidRequest("--baseline", f"cannot read {path}: {e}") from e
    if isinstance(data, dict):
        data = data.get("baseline") or data.get("schema_baseline") or data
    return parse_baseline(data)


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
        migrations_table=args.table,
    )
