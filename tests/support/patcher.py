"""Helpers for the patcher tests: migration folders, deps, and looking into the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from stackflow.migrations.compose import build_connect
from stackflow.migrations.request import PatcherRequest
from stackflow.migrations.service import PatcherDeps, run
from stackflow.migrations.settings import PatcherSettings
from stackflow.migrations.source import DirectorySource

REPO = Path(__file__).resolve().parents[2]
SAMPLE_MIGRATIONS = REPO / "migrations"

# version -> (name, up SQL, down SQL or None)
Spec = Mapping[int, tuple[str, str, str | None]]


def table(n: int) -> tuple[str, str, str]:
    """A small migration creating table ``t<n>``."""
    return (f"create_t{n}", f"CREATE TABLE t{n} (id int PRIMARY KEY);\n",
            f"DROP TABLE t{n};\n")


def write_migrations(folder: Path, spec: Spec) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for version, (name, up, down) in spec.items():
        (folder / f"{version:04d}_{name}.up.sql").write_text(up)
        if down is not None:
            (folder / f"{version:04d}_{name}.down.sql").write_text(down)
    return folder


def make_deps(database_url: str, folder: Path, *, applied_by: str = "tester",
              remaining_ms: Callable[[], int] | None = None,
              sleep: Callable[[float], None] | None = None,
              **settings: Any) -> PatcherDeps:
    s = PatcherSettings(database_url=database_url, migrations_dir=str(folder), **settings)
    return PatcherDeps(source=DirectorySource(folder), connect=build_connect(s), settings=s,
                       applied_by=applied_by, remaining_ms=remaining_ms,
                       sleep=sleep or (lambda _seconds: None))


def migrate(deps: PatcherDeps, **fields: Any) -> dict[str, Any]:
    return run(PatcherRequest("migrate", **fields), deps)


def rollback(deps: PatcherDeps, **fields: Any) -> dict[str, Any]:
    return run(PatcherRequest("rollback", **fields), deps)


def status(deps: PatcherDeps) -> dict[str, Any]:
    return run(PatcherRequest("status"), deps)


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description is not None else []


def applied_versions(database_url: str) -> list[int]:
    if not query(database_url, "SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0]:
        return []
    return [row[0] for row in query(database_url,
                                    "SELECT version FROM schema_migrations ORDER BY version")]


def tables(database_url: str) -> set[str]:
    rows = query(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row[0] for row in rows}


def runs(database_url: str) -> list[tuple[Any, ...]]:
    """(action, outcome, planned, done, error_type) of every run, oldest first."""
    return query(database_url, "SELECT action, outcome, planned, done, error_type "
                               "FROM schema_migrations_runs ORDER BY id")


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that StackFlow and Powertools read."""

    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    function_name: str = "StackFlowPatcher"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:StackFlowPatcher")
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
