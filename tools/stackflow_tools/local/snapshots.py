"""Local mode's stand-in for a cluster snapshot's storage: a pg_dump of its tables.

RDS keeps a cluster snapshot's data in its own storage; moto keeps only the snapshot's
description. Local mode hands every manual ``CreateDBClusterSnapshot`` of the local
cluster to :class:`TableDumps` (``patches.cluster_snapshots``), which dumps the tables
the snapshot's ``stackflow:tables`` tag names, with pg_dump on this machine, into the
artifacts bucket at ``snapshots/<snapshot id>.sql`` (docs/patcher.md restores from it).
This is the storage's stand-in, not a tool of the Snapshot step: its function makes the
same two RDS calls as in AWS and is given neither pg_dump nor any extra variable.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackflow.deploy.snapshot import TABLES_TAG
from stackflow.drift.pg_dump import DUMP_TIMEOUT_SECONDS, dump_command, find_pg_dump
from stackflow.errors import ConfigurationError, DatabaseUnavailable

PREFIX = "snapshots/"


def dump_key(snapshot_id: str) -> str:
    """Where a snapshot's dump is kept in the artifacts bucket."""
    return f"{PREFIX}{snapshot_id}.sql"


def quoted(table: str) -> str:
    """A folded (``schema.table``) name as an identifier neither pg_dump's pattern
    syntax nor PostgreSQL will fold again."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))


@dataclass(frozen=True)
class TableDumps:
    """Stores each snapshot of ``cluster`` as a dump of its tables in ``bucket``."""

    database_url: str
    bucket: str
    cluster: str
    s3: Any  # an S3 client of the local AWS
    pg_dump: str | None = None  # default: the embedded server's, else pg_dump on PATH

    def __call__(self, cluster: str, snapshot_id: str, tags: Mapping[str, str]) -> None:
        if cluster != self.cluster:
            return
        tables = existing_tables(self.database_url, tags.get(TABLES_TAG, "").split())
        self.s3.put_object(Bucket=self.bucket, Key=dump_key(snapshot_id),
                           Body=self.dump(tables).encode())

    def dump(self, tables: Sequence[str]) -> str:
        """pg_dump of ``tables`` (structure and rows); a note when there is none."""
        if not tables:
            # A drop of a table that is not there: the snapshot has nothing to hold.
            return "-- stackflow: none of the snapshot's tables exists; nothing to dump\n"
        pg_dump = self.pg_dump or find_pg_dump()
        if pg_dump is None:
            raise ConfigurationError("local mode's cluster snapshots need pg_dump (the "
                                     "embedded PostgreSQL's, or one on PATH)")
        options = ["--no-owner", "--no-privileges",
                   *(f"--table={quoted(table)}" for table in tables)]
        args, env = dump_command(pg_dump, self.database_url, options)
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False,
                              timeout=DUMP_TIMEOUT_SECONDS)
        if done.returncode != 0:
            raise DatabaseUnavailable(f"pg_dump failed: {done.stderr.strip()[-500:]}")
        return done.stdout


def existing_tables(database_url: str, tables: Sequence[str]) -> list[str]:
    """The names among ``tables`` that exist now (pg_dump refuses a pattern matching
    nothing, and a destructive migration may name a table that is already gone)."""
    import psycopg

    if not tables:
        return []
    with psycopg.connect(database_url) as conn:
        return [table for table in tables
                if conn.execute("SELECT to_regclass(%s)", (quoted(table),)).fetchone()
                not in (None, (None,))]
