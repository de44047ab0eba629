"""PostgreSQL through psycopg 3: the patcher's ``MigrationDatabase`` and error translation.

Every psycopg error leaves this module as a ``stackflow.errors`` class carrying the
SQLSTATE and the server's message. The session runs in autocommit; a transactional
migration is sent as ONE query string (its SQL, then the ``schema_migrations`` write),
which PostgreSQL runs as one implicit transaction: one round trip, and a failure
anywhere rolls back all of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from stackflow import env
from stackflow.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    MigrationFailed,
    MigrationTableCorrupt,
    StackFlowError,
)
from stackflow.migrations.adopt import APPLIED_BY, AdoptPlan
from stackflow.migrations.impact import TableStats
from stackflow.migrations.model import AppliedMigration, Step
from stackflow.migrations.ports import Limits, RunStart
from stackflow.migrations.tables import Tables, check_tables

# Advisory lock key (two int4s, so it cannot collide with single-bigint keys of other
# tools): "SFLW" and 1, the schema_migrations lock.
LOCK_KEY = (0x53464C57, 1)
# Lets the server notice a vanished client (SIGKILL, Lambda timeout) mid-statement and
# end the session, rolling back and releasing the advisory lock (PostgreSQL 14+).
CLIENT_CHECK_INTERVAL = "2s"
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "3D")
# transaction_timeout (PostgreSQL 17+) bounds a whole transaction; older servers only
# have the per-statement statement_timeout.
TRANSACTION_TIMEOUT_VERSION = 170000
REDACTED = "***"
# libpq quotes the value it complains about (`invalid percent-encoded token: "..."`,
# `for user "..."`), and a malformed URL's value may be any part of it, the password too.
_QUOTED = re.compile(r'"[^"]*"')
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[:@/?&=]")
_MIN_PART = 4  # shorter pieces of a URL are not worth a false match inside other words

# {migrations} and {runs} are StackFlow's tables (``Tables``), quoted identifiers.
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS {migrations} (
    version        bigint PRIMARY KEY,
    name           text NOT NULL,
    checksum       text NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    applied_by     text NOT NULL,
    execution_ms   integer NOT NULL,
    no_transaction boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS {runs} (
    id            bigserial PRIMARY KEY,
    action        text NOT NULL,
    target        bigint,
    steps         integer,
    applied_by    text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text NOT NULL DEFAULT 'running',
    planned       bigint[] NOT NULL DEFAULT '{{}}',
    done          bigint[] NOT NULL DEFAULT '{{}}',
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
    UPDATE {runs}
    SET outcome = 'abandoned', finished_at = now(),
        error_message = 'the run ended without recording an outcome (killed or timed out)'
    WHERE outcome = 'running'
)
INSERT INTO {runs} (action, target, steps, applied_by)
VALUES (%s, %s, %s, %s) RETURNING id
"""
# Each named table's columns; a row with a NULL column for a table that is absent.
# A table named as PostgreSQL folds it (impact.fold), re-quoted for to_regclass.
_TABLE_STATS_SQL = """
SELECT n.nspname, c.relname, coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0),
       coalesce(s.n_tup_del, 0),
       ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')
"""
_DESCRIBE_SQL = """
SELECT n.name, to_regclass(n.name) IS NOT NULL, a.attname::text,
       format_type(a.atttypid, a.atttypmod)
FROM unnest(%s::text[]) AS n(name)
LEFT JOIN pg_attribute a
       ON a.attrelid = to_regclass(n.name) AND a.attnum > 0 AND NOT a.attisdropped
"""
_APPLIED_SQL = """
SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC',
       'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), applied_by, execution_ms, no_transaction
FROM {migrations} ORDER BY version
"""
_ADOPT_RUN_SQL = """
INSERT INTO {runs} (action, applied_by, outcome, finished_at, planned, done)
VALUES ('adopt', %s, 'succeeded', now(), %s, %s)
"""
_RECORD_COLUMNS = "(version, name, checksum, applied_by, execution_ms, no_transaction)"
# A table's SQL errors that mean its layout is not what StackFlow wrote: undefined
# column or table, datatype mismatch, invalid text representation.
_LAYOUT_SQLSTATES = frozenset({"42703", "42P01", "42804", "22P02"})
# Server-side time since the query string arrived: the migration's own execution time.
_ELAPSED_MS = sql.SQL("(extract(epoch FROM clock_timestamp() - statement_timestamp()) "
                      "* 1000)::integer")


def connect(url: str, *, application_name: str = "stackflow", read_only: bool = False,
            connect_timeout: int = 10, tables: Tables | None = None) -> PostgresDatabase:
    """Open an autocommit session; ``read_only`` makes every transaction read-only;
    ``tables`` names StackFlow's tables (default ``schema_migrations``)."""
    target = describe_url(url)
    try:
        conn = psycopg.connect(
            url, autocommit=True, application_name=application_name[:63],
            connect_timeout=connect_timeout, keepalives=1, keepalives_idle=30,
            keepalives_interval=10, keepalives_count=3)
    except psycopg.Error as e:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {target}: "
                                  f"{redact(str(e), url)}", target=target) from e
    db = PostgresDatabase(conn, tables or Tables())
    db.configure(read_only=read_only)
    return db


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a libpq URI, never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error as e:
        raise ConfigurationError(f"invalid database URL ({env.DATABASE_URL}): "
                                 f"{redact(str(e), url)}", variable=env.DATABASE_URL) from e
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or 5432)
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def redact(text: str, url: str) -> str:
    """``text`` (a libpq or server message) on one line, with no part of ``url`` in it.

    A malformed URL is parsed differently by libpq and by any parser here (a password
    may hold ``@``, ``:`` or a bad ``%`` escape), so three nets: every quoted value goes,
    a ``password=`` value goes, and every piece of the URL's user-information part (as
    written and percent-decoded) goes wherever it appears.
    """
    out = _one_line(text)
    for part in sorted(_url_parts(url), key=len, reverse=True):
        out = out.replace(part, REDACTED)
    out = _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + REDACTED, out)
    return _QUOTED.sub(f'"{REDACTED}"', out)


def _url_parts(url: str) -> Iterator[str]:
    """The connection string and the pieces of its ``user:password@`` part."""
    if url:
        yield url
    authority = url.split("://", 1)[1] if "://" in url else ""
    userinfo = authority.rpartition("@")[0]
    pieces = {userinfo, *userinfo.split(":", 1), *_SEPARATORS.split(userinfo)}
    for piece in pieces:
        for form in (piece, unquote(piece)):
            if len(form) >= _MIN_PART:
                yield form


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

    def __init__(self, conn: psycopg.Connection[Any], tables: Tables | None = None) -> None:
        self.conn = conn
        self.tables = tables or Tables()
        names = {"migrations": _identifier(self.tables.migrations),
                 "runs": _identifier(self.tables.runs)}
        self._schema_sql, self._start_run_sql, self._applied_sql, self._adopt_run_sql = (
            sql.SQL(text).format(**names).as_string(conn)
            for text in (SCHEMA_SQL, _START_RUN_SQL, _APPLIED_SQL, _ADOPT_RUN_SQL))
        self._migrations = names["migrations"].as_string(conn)
        self._runs = names["runs"].as_string(conn)

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
    def server_version(self) -> int:
        return int(self.conn.info.server_version)

    def describe_tables(self, names: Sequence[str]) -> dict[str, dict[str, str] | None]:
        rows = self._exec(_DESCRIBE_SQL, (list(names),),
                          what="reading the migration tables' layout").fetchall()
        found: dict[str, dict[str, str] | None] = {name: None for name in names}
        for name, exists, column, kind in rows:
            if exists:
                columns = found.get(name) or {}
                if column is not None:
                    columns[column] = kind
                found[name] = columns
        return found

    def has_tables(self) -> bool:
        found = self.describe_tables([self.tables.migrations, self.tables.runs])
        return check_tables(self.tables, found)

    def ensure_tables(self) -> None:
        found = self.describe_tables([self.tables.migrations, self.tables.runs])
        check_tables(self.tables, found)
        if None in found.values():
            self._exec(self._schema_sql, what=f"creating {self.tables.migrations}")

    def applied(self) -> list[AppliedMigration]:
        if not self.has_tables():
            return []
        try:
            rows = self._exec(self._applied_sql,
                              what=f"reading {self.tables.migrations}").fetchall()
        except MigrationFailed as e:
            raise _corrupt_or(e, self.tables.migrations) from e
        return [AppliedMigration(*row) for row in rows]

    def foreign_rows(self, table: str) -> list[tuple[int, bool]]:
        query = sql.SQL("SELECT version, dirty FROM {} ORDER BY version").format(
            _identifier(table))
        try:
            rows = self._exec(query, what=f"reading {table}").fetchall()
        except MigrationFailed as e:
            raise _corrupt_or(e, table) from e
        return [(int(version), bool(dirty)) for version, dirty in rows]

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
        settings = [f"{scope} lock_timeout = {int(limits.lock_timeout_ms)}",
                    f"{scope} statement_timeout = {int(limits.statement_timeout_ms)}"]
        # statement_timeout applies to each statement of a multi-statement script, so a
        # script can outlive it; inside the migration's transaction, transaction_timeout
        # bounds the whole script (the session ends with SQLSTATE 25P04, rolling back).
        if (local and limits.transaction_timeout_ms > 0
                and self.conn.info.server_version >= TRANSACTION_TIMEOUT_VERSION):
            settings.append(f"SET LOCAL transaction_timeout = "
                            f"{int(limits.transaction_timeout_ms)}")
        return "; ".join(settings)

    def _record_sql(self, step: Step, applied_by: str, execution_ms: int | None) -> str:
        if step.direction == "down":
            return f"\nDELETE FROM {self._migrations} WHERE version = {int(step.version)}" \
                   f" RETURNING {_ELAPSED_MS.as_string(self.conn)}"
        elapsed = _ELAPSED_MS if execution_ms is None else sql.Literal(execution_ms)
        return sql.SQL(
            "\nINSERT INTO {} " + _RECORD_COLUMNS + " "
            "VALUES ({}, {}, {}, {}, {}, {}) RETURNING execution_ms").format(
            sql.SQL(self._migrations), step.version, step.name, step.checksum, applied_by,
            elapsed, step.no_transaction).as_string(self.conn)

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

    # --- rollback impact ------------------------------------------------------------
    def table_stats(self, table: str) -> TableStats:
        row = self._exec(_TABLE_STATS_SQL, (_quoted(table),),
                         what=f"reading the statistics of {table}").fetchone()
        if row is None:
            return TableStats(exists=False)
        schema, name, inserted, updated, deleted, columns = row
        count = self._exec(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, name)), what=f"counting the rows of {table}").fetchone()
        return TableStats(True, int(count[0]) if count else 0, int(inserted), int(updated),
                          int(deleted), tuple(columns))

    def non_null_count(self, table: str, column: str) -> int:
        row = self._exec(sql.SQL("SELECT count({}) FROM {}").format(
            sql.Identifier(column), sql.SQL(_quoted(table))),
            what=f"counting the values of {table}.{column}").fetchone()
        return int(row[0]) if row else 0

    # --- run history ----------------------------------------------------------------
    def start_run(self, run: RunStart) -> int:
        row = self._exec(self._start_run_sql,
                         (run.action, run.target, run.steps, run.applied_by),
                         what="recording the run").fetchone()
        assert row is not None
        return int(row[0])

    def note_plan(self, run_id: int, planned: Sequence[int]) -> None:
        self._exec(f"UPDATE {self._runs} SET planned = %s WHERE id = %s",
                   (list(planned), run_id), what="recording the plan")

    def finish_run(self, run_id: int, outcome: str, done: Sequence[int],
                   error: StackFlowError | None) -> None:
        self._exec(
            f"UPDATE {self._runs} SET outcome = %s, finished_at = now(), done = %s, "
            "error_type = %s, error_message = %s WHERE id = %s",
            (outcome, list(done), error.error_type if error else None,
             error.message if error else None, run_id),
            what="recording the outcome of the run")

    # --- adoption -------------------------------------------------------------------
    def adopt(self, plan: AdoptPlan, applied_by: str, limits: Limits) -> None:
        what = f"adopting {plan.tool}'s history"
        try:
            with self.conn.transaction():
                self._exec(self._limits_sql(limits, local=True), what=what)
                if plan.renames:
                    self._keep_foreign_table(plan, what)
                self._exec(self._schema_sql, what=what)
                self._insert_records(plan, what)
                versions = [step.version for step in plan.records]
                self._exec(self._adopt_run_sql, (applied_by, versions, versions), what=what)
        except psycopg.Error as e:  # raised by COMMIT itself
            raise translate(e, what) from e

    def _keep_foreign_table(self, plan: AdoptPlan, what: str) -> None:
        old, new = _identifier(plan.foreign_table), _identifier(plan.kept_as)
        self._exec(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            old, sql.Identifier(plan.kept_as.rpartition(".")[2])), what=what)
        # Its primary key would keep the name StackFlow's own is about to take.
        row = self._exec("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) "
                         "AND contype = 'p'", (plan.kept_as,), what=what).fetchone()
        table_name = plan.foreign_table.rpartition(".")[2]
        if row is not None and row[0] == f"{table_name}_pkey":
            self._exec(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                new, sql.Identifier(row[0]),
                sql.Identifier(f"{plan.kept_as.rpartition('.')[2]}_pkey")), what=what)

    def _insert_records(self, plan: AdoptPlan, what: str) -> None:
        if not plan.records:
            return
        query = sql.SQL("INSERT INTO {} " + _RECORD_COLUMNS +
                        " VALUES (%s, %s, %s, %s, 0, %s)").format(sql.SQL(self._migrations))
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(query, [
                    (s.version, s.name, s.checksum, APPLIED_BY, s.no_transaction)
                    for s in plan.records])
        except psycopg.Error as e:
            raise translate(e, what) from e


def _quoted(folded: str) -> str:
    """A folded ``schema.name`` (or ``name``) quoted part by part: safe SQL text."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in folded.split("."))


def _identifier(name: str) -> sql.Identifier:
    """``schema.table`` or ``table`` as a quoted identifier."""
    return sql.Identifier(*name.split("."))


def _corrupt_or(e: MigrationFailed, table: str) -> StackFlowError:
    """A layout error reading ``table`` as ``MigrationTableCorrupt``; else ``e``."""
    if e.details.get("sqlstate") not in _LAYOUT_SQLSTATES:
        return e
    return MigrationTableCorrupt(f"{table} does not have the layout StackFlow expects: "
                                 f"{e.details.get('server_message')}", table=table)


def _last_value(cursor: psycopg.Cursor[Any]) -> int:
    """The single value of the last result set of a multi-statement query (the
    migration's own statements may produce result sets before it)."""
    last: Any = None
    while True:
        last = cursor.fetchone() if cursor.description is not None else None
        if not cursor.nextset():
            return int(last[0]) if last and last[0] is not None else 0
