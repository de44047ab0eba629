"""``stackflow drift``: the drift report on the command line, read-only.

Same checks as the scheduled Lambda, but nothing is stored and nothing is notified.
Exit status: 0 no drift, 2 drift found, 1 error (including parts that could not be
checked when no drift was found elsewhere).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from stackflow import env
from stackflow.adapters import check_aws_setup
from stackflow.drift.compose import build_config, build_deps
from stackflow.drift.deployments import parse_alias_list
from stackflow.drift.model import DriftReport
from stackflow.drift.render import render_table
from stackflow.drift.service import run_drift_check
from stackflow.drift.settings import DriftSettings
from stackflow.migrations.settings import PatcherSettings

from stackflow_tools.cli.main import print_json

EXIT_CLEAN, EXIT_ERROR, EXIT_DRIFT = 0, 1, 2
DEFAULT_TIMEOUT_SECONDS = 900.0


def register(subparsers: Any) -> None:
    drift = subparsers.add_parser(
        "drift", help="report stack, alias and schema drift (exit 2 on drift)",
        description="Check CloudFormation stacks, Lambda aliases and the database schema "
                    "for drift. Read-only: stores nothing and sends no notification.")
    drift.add_argument("--json", action="store_true", help="print the report as JSON")
    drift.add_argument("--stacks", nargs="+", metavar="STACK",
                       help=f"stacks to check (default ${env.DRIFT_STACKS})")
    drift.add_argument("--aliases", nargs="+", metavar="FUNCTION:ALIAS",
                       help=f"aliases to check (default ${env.DRIFT_MANAGED_ALIASES})")
    drift.add_argument("--table", help=f"deployment table (default ${env.DEPLOY_TABLE})")
    drift.add_argument("--database-url", help=f"database (default ${env.DATABASE_URL})")
    drift.add_argument("--migrations-dir",
                       help=f"migration folder (default ${env.MIGRATIONS_DIR})")
    drift.add_argument("--pending-max-age-hours", type=float,
                       help=f"pending migrations older than this are drift "
                            f"(default ${env.DRIFT_PENDING_MAX_AGE_HOURS} or 24)")
    drift.add_argument("--pg-dump", help=f"pg_dump for the schema fingerprint, or 'off' "
                                         f"(default ${env.DRIFT_PG_DUMP}, else found)")
    drift.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS,
                       help="seconds to spend on stack detections before carrying the "
                            "rest over (default %(default)s)")
    drift.set_defaults(func=drift_command)


def drift_command(args: argparse.Namespace) -> int:
    report = build_report(args)
    if args.json:
        print_json(report.to_dict())
    else:
        print(render_table(report), end="")
    return exit_code(report)


def build_report(args: argparse.Namespace) -> DriftReport:
    settings = DriftSettings.from_env(
        stacks=tuple(args.stacks) if args.stacks else None,
        aliases=parse_alias_list(args.aliases, "--aliases") if args.aliases else None,
        table=args.table, pending_max_age_hours=args.pending_max_age_hours,
        pg_dump=args.pg_dump)
    patcher = PatcherSettings.from_env(database_url=args.database_url,
                                       migrations_dir=args.migrations_dir)
    if settings.stacks or settings.aliases or settings.table:
        # Without a region or credentials every AWS part would fail on its own: one
        # error saying what to set reads better than a report of nothing but failures.
        check_aws_setup("stackflow drift")
    deadline = time.monotonic() + args.timeout
    return run_drift_check(build_config(settings, read_only=True),
                           build_deps(settings, patcher),
                           now=lambda: datetime.now(UTC),
                           time_left=lambda: deadline - time.monotonic())


def exit_code(report: DriftReport) -> int:
    if report.has_drift:
        return EXIT_DRIFT
    return EXIT_ERROR if report.errors else EXIT_CLEAN
