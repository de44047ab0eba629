"""One runner at a time: racing processes, a held lock, and runners killed mid-migration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from stackflow.errors import LockTimeout

from tests.support.patcher import (
    HISTORY_TABLES,
    REPO,
    applied_versions,
    make_deps,
    migrate,
    migration_lock_held,
    objects,
    query,
    runs,
    snapshot,
    table,
    write_migrations,
)
from tests.support.polling import wait_until

CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO / "functions")}
# A `stackflow migrate --json` process that loads everything it needs, says it is ready,
# and starts only when the test creates the "go" file, so that all of them reach the
# database at the same moment.
RACER = """
import sys, time
from pathlib import Path
import psycopg, stackflow.adapters.postgres, stackflow.migrations.service
from stackflow_tools.cli.main import main
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.005)
sys.exit(main(sys.argv[3:]))
"""


def cli(database_url: str, folder: Path, *extra: str) -> list[str]:
    return ["migrate", "--database-url", database_url, "--migrations-dir", str(folder), *extra]


def test_eight_concurrent_migrate_processes_apply_each_migration_exactly_once(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN migrations that log each application, a slow one, and a CREATE INDEX
    # CONCURRENTLY (which waits for other sessions' snapshots: waiters must not block it)
    spec: dict[int, tuple[str, str, str | None]] = {
        1: ("log", "CREATE TABLE applications (version int);\n"
                   "INSERT INTO applications VALUES (1);\n", None),
        2: ("slow", "SELECT pg_sleep(0.5);\nINSERT INTO applications VALUES (2);\n", None),
        3: ("index", "-- stackflow:no-transaction\n"
                     "CREATE INDEX CONCURRENTLY applications_idx ON applications (version);\n"
                     "INSERT INTO applications VALUES (3);\n", None),
        4: ("four", "INSERT INTO applications VALUES (4);\n", None),
    }
    folder = write_migrations(tmp_path / "m", spec)
    go = tmp_path / "go"
    racers = [subprocess.Popen(
        [sys.executable, "-c", RACER, str(tmp_path / f"ready-{i}"), str(go),
         *cli(database_url, folder, "--json")],
        cwd=REPO, env={**CHILD_ENV, "LOGNAME": f"racer-{i}", "USER": f"racer-{i}"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    wait_until(lambda: all((tmp_path / f"ready-{i}").exists() for i in range(8)),
               "eight processes ready")
    # WHEN all eight separate processes run `stackflow migrate` at the same moment
    go.touch()
    outputs = [racer.communicate(timeout=120) for racer in racers]
    # THEN every process succeeded...
    assert [racer.returncode for racer in racers] == [0] * 8, [err for _, err in outputs]
    results: list[dict[str, Any]] = [json.loads(out) for out, _ in outputs]
    # AND between them each migration was applied once, and ran once
    assert sorted(a["version"] for r in results for a in r["applied"]) == [1, 2, 3, 4]
    assert all(r["current_version"] == 4 and r["pending"] == [] for r in results)
    assert query(database_url, "SELECT version FROM applications ORDER BY version") == [
        (1,), (2,), (3,), (4,)]
    assert applied_versions(database_url) == [1, 2, 3, 4]
    # AND each process took the lock in turn (eight runs recorded), none is left holding it
    assert [r[1] for r in runs(database_url)] == ["succeeded"] * 8
    runners = query(database_url, "SELECT split_part(applied_by, '@', 1) "
                                  "FROM schema_migrations_runs ORDER BY 1")
    assert runners == [(f"racer-{i}",) for i in range(8)]
    assert not migration_lock_held(database_url)


def test_second_runner_times_out_naming_the_holder(database_url: str, tmp_path: Path) -> None:
    # GIVEN runner A busy inside a slow migration (so it holds the lock)
    folder = write_migrations(tmp_path, {1: ("slow", "SELECT pg_sleep(3);\n", None)})
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(migrate, make_deps(database_url, folder, applied_by="runner-A"))
        wait_until(lambda: migration_lock_held(database_url), "runner A's lock")
        holder_pid = query(database_url, "SELECT pid FROM pg_stat_activity WHERE "
                                         "application_name = 'stackflow patcher: migrate "
                                         "by runner-A'")[0][0]
        # WHEN runner B may wait only briefly
        deps_b = make_deps(database_url, folder, applied_by="runner-B", sleep=time.sleep,
                           lock_wait_seconds=0.2)
        with pytest.raises(LockTimeout) as caught:
            migrate(deps_b)
        first.result()
    # THEN B's error names A (its application name and server pid), and A finished its work
    assert caught.value.message.startswith(
        "another migration run holds the migration lock (held by stackflow patcher: "
        f"migrate by runner-A (pid {holder_pid}, connected since ")
    assert caught.value.message.endswith("gave up after 0.2s")
    assert caught.value.retryable
    assert applied_versions(database_url) == [1]


def start_cli_runner(database_url: str, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "stackflow_tools.cli.main",
                             *cli(database_url, folder)], cwd=REPO, env=CHILD_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def running_in_runner(database_url: str, fragment: str) -> bool:
    """True while a stackflow session is executing a query containing ``fragment``."""
    rows = query(database_url, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                               "AND application_name LIKE 'stackflow patcher:%%' "
                               "AND position(%s in query) > 0", (fragment,))
    return bool(rows[0][0] == 1)


def kill(runner: subprocess.Popen[bytes]) -> None:
    runner.send_signal(signal.SIGKILL)
    assert runner.wait() == -signal.SIGKILL


def test_runner_killed_mid_migration_leaves_no_row_no_lock_and_next_run_completes(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN migration 1 applied
    folder = write_migrations(tmp_path, {1: table(1)})
    migrate(make_deps(database_url, folder))
    after_1 = snapshot(database_url, without_data=HISTORY_TABLES)
    # AND a CLI run inside migration 2, which has created a table and written a row
    write_migrations(folder, {2: ("stuck", "CREATE TABLE t2 (id int);\n"
                                           "INSERT INTO t1 VALUES (2);\n"
                                           "SELECT pg_sleep(120);\n", None)})
    runner = start_cli_runner(database_url, folder)
    wait_until(lambda: running_in_runner(database_url, "pg_sleep(120)"), "migration 2")
    assert migration_lock_held(database_url)
    # WHEN the runner is killed with SIGKILL (no cleanup code can run)
    kill(runner)
    # THEN the server ends its session: the lock goes...
    wait_until(lambda: not migration_lock_held(database_url), "the lock to go")
    # AND no row for 2, and nothing of 2 is left: the database is as 1 left it
    assert applied_versions(database_url) == [1]
    assert snapshot(database_url, without_data=HISTORY_TABLES) == after_1
    # AND the next run (with a fixed migration 2) completes and records the dead run
    write_migrations(folder, {2: ("stuck", "CREATE TABLE t2 (id int);\n", None)})
    assert migrate(make_deps(database_url, folder))["current_version"] == 2
    assert [r[1] for r in runs(database_url)] == ["succeeded", "abandoned", "succeeded"]


def test_runner_killed_inside_create_index_concurrently_is_recovered(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN table t1 applied, and a writer's open transaction on it, so that a
    # CREATE INDEX CONCURRENTLY has to wait after it has created its (INVALID) index
    folder = write_migrations(tmp_path, {1: table(1)})
    migrate(make_deps(database_url, folder))
    index = ("index", "-- stackflow:no-transaction\n"
                      "CREATE INDEX CONCURRENTLY t1_id_idx ON t1 (id);\n", None)
    write_migrations(folder, {2: index})
    with psycopg.connect(database_url) as writer:
        writer.execute("INSERT INTO t1 VALUES (1)")
        runner = start_cli_runner(database_url, folder)
        wait_until(lambda: running_in_runner(database_url, "CONCURRENTLY t1_id_idx"),
                   "migration 2 to start building the index")
        wait_until(lambda: "relation public.t1_id_idx (i) INVALID" in objects(database_url),
                   "the INVALID index")
        # WHEN the runner is killed with SIGKILL mid-build
        kill(runner)
        wait_until(lambda: not migration_lock_held(database_url), "the lock to go")
        writer.rollback()
    # THEN 2 is not recorded; PostgreSQL has kept the INVALID index
    assert applied_versions(database_url) == [1]
    assert "relation public.t1_id_idx (i) INVALID" in objects(database_url)
    # AND the next run drops it, builds a valid one and records 2
    assert migrate(make_deps(database_url, folder))["current_version"] == 2
    assert "relation public.t1_id_idx (i)" in objects(database_url)
    assert [r[1] for r in runs(database_url)] == ["succeeded", "abandoned", "succeeded"]
