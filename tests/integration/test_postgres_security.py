"""The database connection's guard rails against a real PostgreSQL: the Lambda deadline
bounds a whole migration, no error shows a connection string, TLS is required.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest
from patcher.handler import handler
from psycopg.conninfo import conninfo_to_dict
from stackflow import env
from stackflow.adapters.postgres import connect
from stackflow.adapters.secrets import url_from_secret
from stackflow.errors import ConfigurationError, DatabaseUnavailable, MigrationFailed

from tests.support.patcher import (
    FakeLambdaContext,
    applied_versions,
    make_deps,
    migrate,
    objects,
    query,
    table,
    write_migrations,
)

# A password that breaks naive URL handling three ways: '%' starts a percent-escape
# ('%Z@' is not one), '@' ends the user information early, ':' splits user/password.
PASSWORD = "S3cr%Z@:et9long"
PIECES = ("S3cr", "%Z@", "et9long", PASSWORD)


def socket_dir(database_url: str) -> str:
    return parse_qs(urlsplit(database_url).query)["host"][0]


def assert_no_piece(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, f"{piece!r} leaked into: {text}"


# --- finding 5: a migration cannot outlive the Lambda deadline -------------------------


def test_a_script_of_several_statements_cannot_outlive_the_deadline(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN a migration of three statements of 1.5 s each, sent as one query, and a
    # Lambda with 5 s left: the deadline caps the migration at 2 s (5 s - 3 s reserve)
    slow = ("slow", "CREATE TABLE t2 (id int);\nSELECT pg_sleep(1.5);\n"
                    "SELECT pg_sleep(1.5);\nSELECT pg_sleep(1.5);\n", None)
    deps = make_deps(database_url, write_migrations(tmp_path, {1: table(1), 2: slow}),
                     remaining_ms=lambda: 5_000, deadline_margin_ms=1_000)
    migrate(deps, target=1)
    # WHEN migrate runs
    started = time.monotonic()
    with pytest.raises(MigrationFailed) as caught:
        migrate(deps)
    elapsed = time.monotonic() - started
    # THEN PostgreSQL ends the whole transaction at the cap (transaction_timeout), with a
    # typed error, long before the 4.5 s the statements need (statement_timeout alone
    # applies to each statement, and each stays under it)
    assert elapsed < 3.5, elapsed
    assert caught.value.details["sqlstate"] == "25P04"
    assert "transaction timeout" in caught.value.message
    # AND nothing of the migration stayed
    assert applied_versions(database_url) == [1]
    assert "relation public.t2 (r)" not in objects(database_url)
    # AND the next run (with time) applies it, marking the killed run abandoned
    assert migrate(make_deps(database_url, tmp_path))["current_version"] == 2


def test_without_a_deadline_a_long_script_runs_to_its_end(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN the CLI (no Lambda deadline) and a script longer than a statement timeout
    script = ("two", "SELECT pg_sleep(0.3);\nSELECT pg_sleep(0.3);\nCREATE TABLE t1 (id int);\n",
              None)
    deps = make_deps(database_url, write_migrations(tmp_path, {1: script}),
                     statement_timeout_ms=500)
    # THEN statement_timeout stays per statement: the 0.6 s script completes
    assert migrate(deps)["current_version"] == 1


# --- finding 6: no part of a connection string in an error or a log line --------------


@pytest.fixture
def role_with_that_password(database_url: str) -> Iterator[str]:
    """A login role whose password is PASSWORD (the embedded server trusts local
    connections, so the test shows the URL is parsed right, not that it authenticates)."""
    name = f"app_{urlsplit(database_url).path.lstrip('/')}"
    query(database_url, f'CREATE ROLE "{name}" LOGIN PASSWORD \'{PASSWORD}\'')
    yield name
    query(database_url, f'DROP ROLE IF EXISTS "{name}"')


def test_a_password_with_percent_at_and_colon_connects_from_the_secret(
        database_url: str, role_with_that_password: str) -> None:
    # GIVEN the RDS-format secret of that role on the real server
    secret = json.dumps({"host": socket_dir(database_url), "port": 5432,
                         "username": role_with_that_password, "password": PASSWORD,
                         "dbname": urlsplit(database_url).path.lstrip("/")})
    url = url_from_secret(secret)
    # THEN the URL carries every part encoded, libpq reads the password back intact,
    # and the session is that role's
    assert conninfo_to_dict(url)["password"] == PASSWORD
    db = connect(url)
    try:
        row = db.conn.execute("SELECT current_user").fetchone()
    finally:
        db.close()
    assert row == (role_with_that_password,)


def test_a_malformed_url_shows_no_part_of_the_password_in_error_or_log(
        monkeypatch: pytest.MonkeyPatch, database_url: str,
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN DATABASE_URL with the password written raw (unencoded), which libpq refuses
    for name in (env.DB_SECRET_ARN, env.MIGRATIONS_BUCKET):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(env.DATABASE_URL, f"postgresql://app:{PASSWORD}@/stackflow?host="
                                         f"{socket_dir(database_url)}")
    monkeypatch.setenv(env.MIGRATIONS_DIR, str(Path(__file__).parents[2] / "migrations"))
    # WHEN the patcher handles a status request
    with pytest.raises(ConfigurationError) as caught:
        handler({"action": "status"}, FakeLambdaContext())
    # THEN the Lambda errorMessage says what is wrong and where, without the password
    message = caught.value.message
    assert message.startswith(f"invalid database URL ({env.DATABASE_URL}): ")
    assert "invalid percent-encoded token" in message
    assert_no_piece(message)
    assert_no_piece(json.dumps(caught.value.to_dict()))
    # AND so does every log line the handler wrote (Powertools writes JSON to the
    # process's stdout; the records carry the error as an extra)
    logged = capfd.readouterr()
    records = [json.dumps(r.__dict__, default=str) for r in caplog.records]
    assert any("patcher failed" in text for text in [logged.out, *records])
    assert_no_piece(logged.out + logged.err + "".join(records))


@pytest.mark.parametrize("dbname", ["no_such_database", "stackflow"])
def test_a_failed_connection_shows_no_part_of_the_url(
        database_url: str, dbname: str) -> None:
    # GIVEN a well-formed URL with that password, to a database that is not there, or
    # to a server that is not there (an empty socket directory)
    host = socket_dir(database_url) if dbname == "no_such_database" else "/nonexistent"
    url = (f"postgresql://{quote('nobody', safe='')}:{quote(PASSWORD, safe='')}@/{dbname}"
           f"?host={host}&connect_timeout=2")
    # WHEN StackFlow connects THEN the error names the target, never the credentials
    with pytest.raises(DatabaseUnavailable) as caught:
        connect(url)
    assert caught.value.message.startswith(f"cannot connect to PostgreSQL at {host}:5432/")
    assert_no_piece(caught.value.message)
    assert quote(PASSWORD, safe="") not in caught.value.message
    assert "nobody" not in caught.value.message


# --- finding 7: TLS is required, local sockets are the documented exception ------------


def test_urls_from_secrets_require_tls_and_a_local_socket_still_connects(
        database_url: str) -> None:
    # GIVEN the secret local mode writes for its embedded server (a socket directory)
    parts = urlsplit(database_url)
    secret = json.dumps({"host": socket_dir(database_url), "port": 5432,
                         "username": parts.username or "postgres", "password": "local",
                         "dbname": parts.path.lstrip("/")})
    url = url_from_secret(secret)
    # THEN the URL asks libpq for TLS or nothing (not "prefer", its silent fallback)
    assert conninfo_to_dict(url)["sslmode"] == "require"
    # AND libpq, which never uses TLS on a Unix socket, connects: local mode's one
    # exception, documented in docs/infra.md
    with psycopg.connect(url) as conn:
        info: Any = conn.info
        assert info.get_parameters()["sslmode"] == "require"
        assert conn.execute("SELECT 1").fetchone() == (1,)
