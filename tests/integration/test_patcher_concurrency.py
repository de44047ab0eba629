"""One runner at a time: concurrent calls, a held lock, and a runner killed mid-migration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from stackflow.errors import LockTimeout

from tests.support.patcher import (
    REPO,
    applied_versions,
    make_deps,
    migrate,
    query,
    runs,
    table,
    tables,
    write_migrations,
)

ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Poll ``condition`` (not a timing assertion: it only bounds a hang)."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_eight_concurrent_migrate_calls_apply_each_migration_exactly_once(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN migrations that log each application, a slow one, and a CREATE INDEX
    # CONCURRENTLY (which waits for other sessions' snapshots: waiters must not block it)
    spec: dict[int, tuple[str, str, str | None]] = {
        1: ("log", "CREATE TABLE applications (version int);\n"
                   "INSERT INTO applications VALUES (1);\n", None),
        2: ("slow", "SELECT pg_sleep(0.3);\nINSERT INTO applications VALUES (2);\n", None),
        3: ("index", "-- stackflow:no-transaction\n"
                     "CREATE INDEX CONCURRENTLY applications_idx ON applications (version);\n"
                     "INSERT INTO applications VALUES (3);\n", None),
        4: ("four", "INSERT INTO applications VALUES (4);\n", None),
    }
    folder = write_migrations(tmp_path, spec)
    start = threading.Barrier(8)

    def one_call(i: int) -> dict[str, Any]:
        deps = make_deps(database_url, folder, applied_by=f"caller-{i}", sleep=time.sleep)
        start.wait()
        return migrate(deps)

    # WHEN eight callers migrate at the same moment
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one_call, range(8)))
    # THEN every call succeeded, and between them each migration was applied once
    applied = sorted(a["version"] for r in results for a in r["applied"])
    assert applied == [1, 2, 3, 4]
    assert all(r["current_version"] == 4 for r in results)
    assert query(database_url, "SELECT version FROM applications ORDER BY version") == [
        (1,), (2,), (3,), (4,)]
    assert query(database_url, ADVISORY_LOCKS) == [(0,)]


def test_second_runner_times_out_naming_the_holder(database_url: str, tmp_path: Path) -> None:
    # GIVEN runner A busy inside a slow migration (so it holds the lock)
    folder = write_migrations(tmp_path, {1: ("slow", "SELECT pg_sleep(3);\n", None)})
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(migrate, make_deps(database_url, folder, applied_by="runner-A"))
        wait_until(lambda: query(database_url, ADVISORY_LOCKS) == [(1,)], "runner A's lock")
        # WHEN runner B may wait only briefly
        deps_b = make_deps(database_url, folder, applied_by="runner-B", sleep=time.sleep,
                           lock_wait_seconds=0.2)
        with pytest.raises(LockTimeout) as caught:
            migrate(deps_b)
        first.result()
    # THEN B's error names A, and A finished its work
    assert "migrate by runner-A" in caught.value.message
    assert caught.value.retryable
    assert applied_versions(database_url) == [1]


def test_runner_killed_mid_migration_leaves_no_row_no_lock_and_next_run_completes(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN a CLI run stuck inside migration 2 (which has already created a table)
    folder = write_migrations(tmp_path, {
        1: table(1), 2: ("stuck", "CREATE TABLE t2 (id int);\nSELECT pg_sleep(120);\n", None)})
    runner = subprocess.Popen(
        [sys.executable, "-m", "stackflow.cli.main", "migrate", "--database-url", database_url,
         "--migrations-dir", str(folder)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sleeping = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND query LIKE '%pg_sleep(120)%' AND application_name LIKE 'stackflow%'")
    wait_until(lambda: query(database_url, sleeping) == [(1,)], "migration 2 to start")
    # WHEN the runner is killed with SIGKILL (no cleanup code can run)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    # THEN the server ends its session: no lock, no row for 2, nothing of 2 kept
    wait_until(lambda: query(database_url, ADVISORY_LOCKS) == [(0,)], "the lock to go")
    assert applied_versions(database_url) == [1]
    assert "t2" not in tables(database_url)
    # AND the next run (with a fixed migration 2) completes and records the dead run
    write_migrations(folder, {2: ("stuck", "CREATE TABLE t2 (id int);\n", None)})
    assert migrate(make_deps(database_url, folder))["current_version"] == 2
    assert [r[1] for r in runs(database_url)] == ["abandoned", "succeeded"]
