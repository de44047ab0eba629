"""Schema drift against a real PostgreSQL: what the patcher applied vs the source."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from stackflow.drift.compose import build_schema
from stackflow.drift.model import SchemaResult
from stackflow.drift.service import DriftConfig, DriftDeps, run_drift_check
from stackflow.drift.settings import DriftSettings
from stackflow.migrations.settings import PatcherSettings

from tests.support.drift_fakes import MemoryStateStore
from tests.support.patcher import make_deps, migrate, table, write_migrations

DAY = 24 * 3600


def check(database_url: str, folder: Path, store: MemoryStateStore | None = None, *,
          pg_dump: str = "off") -> SchemaResult:
    schema = build_schema(DriftSettings(pg_dump=pg_dump),
                          PatcherSettings(database_url=database_url,
                                          migrations_dir=str(folder)))
    report = run_drift_check(
        DriftConfig(pending_max_age=timedelta(hours=24)),
        DriftDeps(schema=schema, state=store or MemoryStateStore()),
        now=lambda: datetime.now(UTC), time_left=lambda: 600.0)
    assert report.schema is not None
    return report.schema


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_edited_and_removed_migrations_are_drift(database_url: str, tmp_path: Path) -> None:
    # GIVEN three migrations applied by the patcher
    folder = write_migrations(tmp_path / "m", {1: table(1), 2: table(2), 3: table(3)})
    migrate(make_deps(database_url, folder))

    # WHEN 0002 is edited afterwards and 0003 deleted from the source
    (folder / "0002_create_t2.up.sql").write_text("CREATE TABLE t2 (id bigint);\n")
    (folder / "0003_create_t3.up.sql").unlink()
    (folder / "0003_create_t3.down.sql").unlink()
    result = check(database_url, folder)

    # THEN both are findings, and the database is still at 3
    assert [(f.kind, f.version) for f in result.findings] == [
        ("checksum_mismatch", 2), ("missing_from_source", 3)]
    assert result.current_version == 3


def test_only_pending_migrations_older_than_the_threshold_are_drift(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN 1 applied; 2 written two days ago and 3 an hour ago, neither applied
    folder = write_migrations(tmp_path / "m", {1: table(1)})
    migrate(make_deps(database_url, folder))
    write_migrations(folder, {2: table(2), 3: table(3)})
    age(folder / "0002_create_t2.up.sql", 2 * DAY)
    age(folder / "0003_create_t3.up.sql", 3600)

    # WHEN checked with a 24 h threshold
    result = check(database_url, folder)

    # THEN both are pending, only 2 is stale
    assert result.pending == (2, 3)
    assert [(f.kind, f.version) for f in result.findings] == [("stale_pending", 2)]


def test_a_clean_database_has_no_schema_findings(database_url: str, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {1: table(1), 2: table(2)})
    migrate(make_deps(database_url, folder))
    result = check(database_url, folder)
    assert (result.checked, result.findings, result.pending) == (True, (), ())


def test_a_hand_made_schema_change_is_drift(database_url: str, tmp_path: Path) -> None:
    # GIVEN migrations applied and a first check that records the schema's fingerprint
    folder = write_migrations(tmp_path / "m", {1: table(1)})
    migrate(make_deps(database_url, folder))
    store = MemoryStateStore()
    first = check(database_url, folder, store, pg_dump="")
    assert first.fingerprint is not None
    assert first.fingerprint.status == "recorded"

    # WHEN the same schema is checked again, then a column is added by hand
    again = check(database_url, folder, store, pg_dump="")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE t1 ADD COLUMN note text")
    changed = check(database_url, folder, store, pg_dump="")

    # THEN the unchanged schema matches, and the hand-made column is schema drift
    assert again.fingerprint is not None
    assert again.fingerprint.status == "match"
    assert [(f.kind, f.version) for f in changed.findings] == [("schema_changed", 1)]


def test_a_new_migration_records_a_new_baseline(database_url: str, tmp_path: Path) -> None:
    # GIVEN a baseline recorded at version 1
    folder = write_migrations(tmp_path / "m", {1: table(1)})
    deps = make_deps(database_url, folder)
    migrate(deps)
    store = MemoryStateStore()
    check(database_url, folder, store, pg_dump="")

    # WHEN migration 2 is applied by the patcher and the schema checked
    write_migrations(folder, {2: table(2)})
    migrate(deps)
    result = check(database_url, folder, store, pg_dump="")

    # THEN the change is the migration's, not drift: a new baseline at 2
    assert result.findings == ()
    assert result.fingerprint is not None
    assert (result.fingerprint.status, result.fingerprint.recorded_version) == ("recorded", 2)
    assert store.baseline is not None
    assert store.baseline.version == 2
