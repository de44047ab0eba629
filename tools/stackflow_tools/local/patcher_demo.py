"""The patcher demo: ``python -m stackflow_tools.local.patcher_demo``.

Starts an embedded PostgreSQL under ``./.stackflow/pgdata`` (or uses ``--database-url``),
then runs the patcher against ``migrations/`` the way an operator would: a dry run,
migrate, migrate again (nothing to do), status, a one-step rollback, status, and
finally the run history the patcher keeps in the database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackflow.errors import StackFlowError
from stackflow.migrations.request import PatcherRequest

DEMO_DATABASE = "stackflow_patcher_demo"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.database_url:
            run_demo(args.database_url, args.migrations_dir)
        else:
            _run_embedded(Path(args.workdir), args.migrations_dir)
    except StackFlowError as e:
        print(f"error: {e.error_type}: {e.message}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stackflow_tools.local.patcher_demo",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--database-url", help="use this database instead of an embedded "
                                               "server (its schema will be migrated)")
    parser.add_argument("--migrations-dir", default="migrations")
    parser.add_argument("--workdir", default=".stackflow",
                        help="where the embedded server keeps its data (pgdata/)")
    return parser


def _run_embedded(workdir: Path, migrations_dir: str) -> None:
    from stackflow_tools.local.postgres import local_server, recreate_database

    print(f"starting the embedded PostgreSQL in {workdir / 'pgdata'} ...")
    with local_server(workdir) as admin_uri:
        run_demo(recreate_database(admin_uri, DEMO_DATABASE), migrations_dir)


def run_demo(database_url: str, migrations_dir: str) -> None:
    """Run the patcher's actions against ``database_url`` and print each result."""
    from stackflow.migrations.compose import build_deps
    from stackflow.migrations.service import run
    from stackflow.migrations.settings import PatcherSettings

    from stackflow_tools.patcher_text import cli_user, format_result

    settings = PatcherSettings(database_url=database_url, migrations_dir=migrations_dir)
    deps = build_deps(settings, applied_by=cli_user())
    for title, request in _script():
        _banner(title)
        print(format_result(run(request, deps)))
    _banner("run history (table schema_migrations_runs)")
    print(format_history(_history(database_url)))


def _script() -> list[tuple[str, PatcherRequest]]:
    R = PatcherRequest
    return [
        ("stackflow migrate --dry-run   (plans, shows the SQL, changes nothing)",
         R("migrate", dry_run=True)),
        ("stackflow migrate", R("migrate")),
        ("stackflow migrate   (again: every migration is applied exactly once)",
         R("migrate")),
        ("stackflow status", R("status")),
        ("stackflow rollback --steps 1", R("rollback", steps=1)),
        ("stackflow status", R("status")),
    ]


def _banner(title: str) -> None:
    print(f"\n=== {title}")


def _history(database_url: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, action, applied_by, outcome, planned, done, "
            "round(extract(epoch FROM finished_at - started_at) * 1000) "
            "FROM schema_migrations_runs ORDER BY id").fetchall()


def format_history(rows: Sequence[tuple[Any, ...]]) -> str:
    lines = [f"  {'RUN':<4} {'ACTION':<9} {'OUTCOME':<10} {'PLANNED':<14} {'DONE':<14} "
             f"{'MS':>5}  BY"]
    for run_id, action, by, outcome, planned, done, ms in rows:
        lines.append(f"  {run_id:<4} {action:<9} {outcome:<10} {_ints(planned):<14} "
                     f"{_ints(done):<14} {ms or 0:>5}  {by}")
    return "\n".join(lines)


def _ints(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values) or "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
