"""PostgreSQL through psycopg 3: the patcher's ``MigrationDatabase`` and error translation.

Every psycopg error leaves this module as a ``stackflow.errors`` class carrying the
SQLSTATE and the server's message. The session runs in autocommit; a transactional
migration is sent as ONE query string (its SQL, then the ``schema_migrations`` write),
which PostgreSQL runs as one implicit transaction: one round trip, and a failure
anywhere rolls back all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from stackflow import env
from stackflow.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    MigrationFailed,
    StackFlowError,
)
from stackflow.migrations.model import AppliedMigration, Step
from stackflow.migrations.ports import Limits, RunStart

# Advisory lock key (two int4s, so it cannot collide with single-bigint keys of other
# tools): "SFLW" and 1, the schema_migrations lock.
LOCK_KEY = (0x53464C57, 1)
# Lets the server notice a vanished client (SIGKILL, Lambda timeout) mid-statement and
# end the session, rolling back and releasing the advisory lock (PostgreSQL 14+).
CLIENT_CHECK_INTERVAL = "2s"
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "3D")

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version        bigint PRIMARY KEY,
    name           text NOT NULL,
    checksum       text NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    applied_by     text NOT NULL,
    execution_ms   integer NOT NULL,
    no_transaction boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS schema_migrations_runs (
    id            bigserial PRIMARY KEY,
    action        text NOT NULL,
    target        bigint,
    steps         integer,
    applied_by    text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text NOT NULL DEFAULT 'running',
    planned       bigint[] NOT NULL DEFAULT '{}',
    done          bigint[] NOT NULL DEFAULT '{}',
    error_type    text,
    error_message text
);
"""
_HOLDER_SQL = """
SELECT a.application_name, a.pid, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s
  AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_START_RUN_SQL = """
WITH dead AS (
    UPDATE schema_migrations_runs
    SET outcome = 'abandoned', finished_at = now(),
        error_message = 'the run ended without recording an outcome (killed or timed out)'
    WHERE outcome = 'running'
)
INSERT INTO schema_migrations_runs (action, target, steps, applied_by)
VALUES (%s, %s, %s, %s) RETURNING id
"""
# Server-side time since the query string arrived: the migration's own execution time.
_ELAPSED_MS = sql.SQL("(extract(epoch FROM clock_timestamp() - statement_timestamp()) "
                      "* 1000)::integer")


def connect(url: str, *, application_name: str = "stackflow",
            read_only: bool = False, connect_timeout: int = 10) -> PostgresDatabase:
    """Open an autocommit session; ``read_only`` makes every transaction read-only."""
    target = describe_url(url)
    try:
        conn = psycopg.connect(
            url, autocommit=True, application_name=application_name[:63],
            connect_timeout=connect_timeout, keepalives=1, keepalives_idle=30,
            keepalives_interval=10, keepalives_count=3)
    except psycopg.Error as e:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {target}: "
                                  f"{_one_line(str(e))}", target=target) from e
    db = PostgresDatabase(conn)
    db.configure(read_only=read_only)
    return db


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a libpq URI, never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error as e:
        raise ConfigurationError(f"invalid database URL ({env.DATABASE_URL}): "
                                 f"{_one_line(str(e))}", variable=env.DATABASE_URL) from e
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or 5432)
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def translate(e: psycopg.Error, what: str) -> StackFlowError:
    """A psycopg error raised while doing ``what`` as a StackFlow error."""
    sqlstate = e.sqlstate
    message = _server_message(e)
    if sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        suffix = f" (SQLSTATE {sqlstate})" if sqlstate else ""
        return DatabaseUnavailable(f"{what}: {message}{suffix}", sqlstate=sqlstate)
    return MigrationFailed(f"{what}: SQLSTATE {sqlstate}: {message}",
                           sqlstate=sqlstate, server_message=message)


def _server_message(e: psycopg.Error) -> str:
    primary = e.diag.message_primary if e.sqlstate else None
    return _one_line(primary or str(e) or type(e).__name__)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _what(step: Step) -> str:
    verb = "migration" if step.direction == "up" else "rollback of migration"
    return f"{verb} {step.version} ({step.name}, {step.file_name})"


class PostgresDatabase:
    """One autocommit psycopg session implementing ``MigrationDatabase``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    # --- plumbing -------------------------------------------------------------------
    def _exec(self, query: Any, params: Sequence[Any] | None = None, *,
              what: str) -> psycopg.Cursor[Any]:
        try:
            return self.conn.execute(query, params)
        except psycopg.Error as e:
            raise translate(e, what) from e

    def configure(self, *, read_only: bool) -> None:
        settings = []
        if self.conn.info.server_version >= 140000:
            settings.append(f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'")
        if read_only:
            settings.append("SET default_transaction_read_only = on")
        if settings:
            self._exec("; ".join(settings), what="configuring the session")

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error as e:
            raise translate(e, "closing the session") from e

    # --- tables ---------------------------------------------------------------------
    def has_tables(self) -> bool:
        row = self._exec("SELECT to_regclass('schema_migrations') IS NOT NULL",
                         what="looking for schema_migrations").fetchone()
        return bool(row and row[0])

    def ensure_tables(self) -> None:
        row = self._exec("SELECT to_regclass('schema_migrations') IS NOT NULL "
                         "AND to_regclass('schema_migrations_runs') IS NOT NULL",
                         what="looking for schema_migrations").fetchone()
        if not (row and row[0]):
            self._exec(SCHEMA_SQL, what="creating schema_migrations")

    def applied(self) -> list[AppliedMigration]:
        if not self.has_tables():
            return []
        rows = self._exec(
            "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), applied_by, execution_ms, no_transaction "
            "FROM schema_migrations ORDER BY version",
            what="reading schema_migrations").fetchall()
        return [AppliedMigration(*row) for row in rows]

    # --- lock -----------------------------------------------------------------------
    def try_lock(self) -> bool:
        row = self._exec("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEY,
                         what="taking the migration lock").fetchone()
        return bool(row and row[0])

    def lock_holder(self) -> str | None:
        row = self._exec(_HOLDER_SQL, LOCK_KEY, what="finding the lock holder").fetchone()
        if row is None:
            return None
        name, pid, since = row
        return (f"{name or 'unnamed session'} (pid {pid}, "
                f"connected since {since:%Y-%m-%dT%H:%M:%S%z})")

    def unlock(self) -> None:
        self._exec("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY,
                   what="releasing the migration lock")

    # --- steps ----------------------------------------------------------------------
    def run_in_transaction(self, step: Step, applied_by: str, limits: Limits) -> int:
        # Each part on its own lines: a script ending in a -- comment (or without its
        # final ";") must not swallow the statement that records it.
        query = "\n;\n".join([self._limits_sql(limits, local=True), step.sql,
                              self._record_sql(step, applied_by, None)])
        cursor = self._exec(query, what=_what(step))
        return _last_value(cursor)

    def run_statement(self, step: Step, statement: str, limits: Limits) -> None:
        self._exec(self._limits_sql(limits, local=False), what=_what(step))
        self._exec(statement, what=_what(step))

    def record(self, step: Step, applied_by: str, execution_ms: int) -> None:
        self._exec(self._record_sql(step, applied_by, execution_ms),
                   what=f"recording {_what(step)}")

    def _limits_sql(self, limits: Limits, *, local: bool) -> str:
        scope = "SET LOCAL" if local else "SET"
        return (f"{scope} lock_timeout = {int(limits.lock_timeout_ms)}; "
                f"{scope} statement_timeout = {int(limits.statement_timeout_ms)}")

    def _record_sql(self, step: Step, applied_by: str, execution_ms: int | None) -> str:
        if step.direction == "down":
            return f"\nDELETE FROM schema_migrations WHERE version = {int(step.version)}" \
                   f" RETURNING {_ELAPSED_MS.as_string(self.conn)}"
        elapsed = _ELAPSED_MS if execution_ms is None else sql.Literal(execution_ms)
        return sql.SQL(
            "\nINSERT INTO schema_migrations "
            "(version, name, checksum, applied_by, execution_ms, no_transaction) "
            "VALUES ({}, {}, {}, {}, {}, {}) RETURNING execution_ms").format(
            step.version, step.name, step.checksum, applied_by, elapsed,
            step.no_transaction).as_string(self.conn)

    # --- invalid indexes ------------------------------------------------------------
    def invalid_indexes(self) -> set[str]:
        rows = self._exec(
            "SELECT n.nspname, c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid",
            what="listing invalid indexes").fetchall()
        return {f"{schema}.{name}" for schema, name in rows}

    def drop_index(self, name: str) -> None:
        schema, _, index = name.partition(".")
        self._exec(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
            sql.Identifier(schema, index)), what=f"dropping invalid index {name}")

    # --- run history ----------------------------------------------------------------
    def start_run(self, run: RunStart) -> int:
        row = self._exec(_START_RUN_SQL, (run.action, run.target, run.steps, run.applied_by),
                         what="recording the run").fetchone()
        assert row is not None
        return int(row[0])

    def note_plan(self, run_id: int, planned: Sequence[int]) -> None:
        self._exec("UPDATE schema_migrations_runs SET planned = %s WHERE id = %s",
                   (list(planned), run_id), what="recording the plan")

    def finish_run(self, run_id: int, outcome: str, done: Sequence[int],
                   error: StackFlowError | None) -> None:
        self._exec(
            "UPDATE schema_migrations_runs SET outcome = %s, finished_at = now(), done = %s, "
            "error_type = %s, error_message = %s WHERE id = %s",
            (outcome, list(done), error.error_type if error else None,
             error.message if error else None, run_id),
            what="recording the outcome of the run")


def _last_value(cursor: psycopg.Cursor[Any]) -> int:
    """The single value of the last result set of a multi-statement query (the
    migration's own statements may produce result sets before it)."""
    last: Any = None
    while True:
        last = cursor.fetchone() if cursor.description is not None else None
        if not cursor.nextset():
            return int(last[0]) if last and last[0] is not None else 0
