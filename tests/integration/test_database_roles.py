"""StackFlow's database roles on a real PostgreSQL: what each may and may not do.

``ensure_roles`` is what the database-roles custom resource runs as the master user in
AWS and what local mode runs on its embedded server.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from stackflow.adapters.postgres_roles import ensure_roles
from stackflow.adapters.secrets import url_from_secret
from stackflow.roles import APPLICATION_SCHEMA, MIGRATOR_ROLE, READER_ROLE, RoleLogins

from tests.support.patcher import (
    PG_DUMP,
    SAMPLE_MIGRATIONS,
    make_deps,
    migrate,
    query,
    rollback,
    status,
)

LOGINS = RoleLogins(migrator_password="m1gr@tor:pw%", reader_password="re@der:pw%")


def role_url(admin_url: str, role: str, password: str) -> str:
    """The URL the role's secret yields (url_from_secret), on the test's server."""
    parts = urlsplit(admin_url)
    secret = {"host": parse_qs(parts.query)["host"][0], "port": 5432, "username": role,
              "password": password, "dbname": parts.path.lstrip("/")}
    return url_from_secret(json.dumps(secret))


@pytest.fixture
def roles(database_url: str) -> tuple[str, str]:
    """(migrator URL, reader URL) after the roles were created in the test database."""
    ensure_roles(database_url, LOGINS)
    return (role_url(database_url, MIGRATOR_ROLE, LOGINS.migrator_password),
            role_url(database_url, READER_ROLE, LOGINS.reader_password))


def refused(url: str, statement: str) -> str | None:
    """The SQLSTATE with which the role's session refuses ``statement`` (None: allowed)."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as e:
            return e.sqlstate
    return None


def test_the_migrator_owns_the_schema_and_migrates_without_any_other_power(
        roles: tuple[str, str], database_url: str) -> None:
    migrator, _ = roles
    # WHEN the patcher runs the project's migrations as the migrator, and rolls one back
    deps = make_deps(migrator, SAMPLE_MIGRATIONS)
    assert migrate(deps)["current_version"] == 4
    assert rollback(deps, steps=1)["current_version"] == 3
    # THEN it owns the application schema and what it created
    assert query(database_url, "SELECT nspowner::regrole::text FROM pg_namespace "
                               "WHERE nspname = %s", (APPLICATION_SCHEMA,)) == [(MIGRATOR_ROLE,)]
    owners = {r[0] for r in query(database_url, "SELECT relowner::regrole::text FROM pg_class "
                                                "WHERE relnamespace = 'public'::regnamespace")}
    assert owners == {MIGRATOR_ROLE}
    # AND it is no superuser and may create no role, database or schema
    assert query(database_url, "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
                               "FROM pg_roles WHERE rolname = %s", (MIGRATOR_ROLE,)) == [
        (False, False, False, False)]
    for statement in ("CREATE ROLE intruder", "CREATE DATABASE intruder",
                      "CREATE SCHEMA intruder", "ALTER ROLE stackflow_reader SUPERUSER"):
        assert refused(migrator, statement) == "42501", statement


def test_the_reader_reads_the_schema_and_changes_nothing(
        roles: tuple[str, str]) -> None:
    migrator, reader = roles
    migrate(make_deps(migrator, SAMPLE_MIGRATIONS))
    query(migrator, "INSERT INTO customers (email, name) VALUES ('a@example.com', 'A')")
    # THEN the reader reads the application's tables (tables made after the grant
    # too) and the patcher's history, as StackFlowAPI and the drift check do
    assert query(reader, "SELECT email FROM customers") == [("a@example.com",)]
    assert query(reader, "SELECT count(*) FROM orders") == [(0,)]
    assert status(make_deps(reader, SAMPLE_MIGRATIONS))["current_version"] == 4
    # AND it can write nothing, define nothing and lift neither restriction
    for statement in ("INSERT INTO customers (email, name) VALUES ('b@x', 'B')",
                      "DELETE FROM customers", "CREATE TABLE intruder (id int)",
                      "DROP TABLE orders"):
        assert refused(reader, statement) in ("25006", "42501"), statement
    with psycopg.connect(reader, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        assert refused(reader, "INSERT INTO customers (email, name) VALUES ('c', 'C')") \
            in ("25006", "42501")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO customers (email, name) VALUES ('c@x', 'C')")


def test_the_reader_can_take_the_drift_checks_schema_dump(
        roles: tuple[str, str], tmp_path: Path) -> None:
    migrator, reader = roles
    migrate(make_deps(migrator, SAMPLE_MIGRATIONS))
    # WHEN the drift check's pg_dump runs as the reader
    from stackflow.drift.pg_dump import dump_schema

    dumped = dump_schema(str(PG_DUMP), reader)
    # THEN it sees every table
    assert "CREATE TABLE public.orders" in dumped
    assert "CREATE TABLE public.schema_migrations" in dumped


def test_a_database_migrated_before_the_roles_is_handed_to_the_migrator(
        database_url: str) -> None:
    # GIVEN a database the master user migrated (StackFlow before the roles existed),
    # with a view, a sequence, a function and a type of its own as well
    migrate(make_deps(database_url, SAMPLE_MIGRATIONS, lock_timeout_ms=3000))
    query(database_url, "CREATE VIEW customer_emails AS SELECT email FROM customers; "
                        "CREATE SEQUENCE invoice_numbers; CREATE TYPE tier AS ENUM ('a'); "
                        "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    # WHEN the roles are created (twice: a stack update runs the resource again)
    ensure_roles(database_url, LOGINS)
    ensure_roles(database_url, LOGINS)
    migrator = role_url(database_url, MIGRATOR_ROLE, LOGINS.migrator_password)
    reader = role_url(database_url, READER_ROLE, LOGINS.reader_password)
    # THEN the reader reads what existed before
    assert query(reader, "SELECT count(*) FROM customer_emails") == [(0,)]
    assert query(reader, "SELECT count(*) FROM schema_migrations") == [(4,)]
    # AND the migrator owns all of it: it may alter and drop each kind of object, and
    # roll the migrations back and apply them again
    query(migrator, "DROP VIEW customer_emails; ALTER SEQUENCE invoice_numbers RESTART; "
                    "DROP TYPE tier; DROP FUNCTION one()")
    deps = make_deps(migrator, SAMPLE_MIGRATIONS)
    assert rollback(deps, target=0)["current_version"] is None
    assert migrate(deps)["current_version"] == 4
    assert query(reader, "SELECT count(*) FROM orders") == [(0,)]


def test_creating_the_roles_again_sets_the_current_passwords(database_url: str) -> None:
    # GIVEN the roles exist (rotation later changes a role's password by itself)
    ensure_roles(database_url, LOGINS)
    # WHEN the resource runs again with the secrets' current passwords
    rotated = RoleLogins(migrator_password="next-m", reader_password="next-r")
    ensure_roles(database_url, rotated)
    # THEN the roles keep their identity and log in as before (the embedded server
    # trusts local connections; the stored verifier changed)
    assert query(database_url, "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)",
                 (MIGRATOR_ROLE, READER_ROLE)) == [(2,)]
    assert query(role_url(database_url, READER_ROLE, "next-r"), "SELECT current_user") == [
        (READER_ROLE,)]
