"""``stackflow lint``: StackFlow's own rules, each checked against a real PostgreSQL, and
squawk's findings surfacing through the same report."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from stackflow.errors import MissingDownScript
from stackflow.migrations.locks import statement_lock
from stackflow_tools.cli.main import main
from stackflow_tools.lint.config import LintConfig
from stackflow_tools.lint.service import lint
from stackflow_tools.lint.squawk import squawk_binary

from tests.support.patcher import make_deps, migrate, rollback, write_migrations

SETUP = """
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, note varchar(20), total int);
CREATE INDEX orders_total_idx ON orders (total);
ALTER TABLE orders ADD CONSTRAINT orders_fk FOREIGN KEY (customer_id)
    REFERENCES customers (id) NOT VALID;
CREATE MATERIALIZED VIEW order_totals AS SELECT id, total FROM orders;
"""
LOCKED = [
    "ALTER TABLE orders ADD COLUMN status text",
    "ALTER TABLE orders ALTER COLUMN note TYPE text",
    "ALTER TABLE orders VALIDATE CONSTRAINT orders_fk",
    "ALTER TABLE orders ADD CONSTRAINT orders_fk2 FOREIGN KEY (customer_id) "
    "REFERENCES customers (id) NOT VALID",
    "ALTER TABLE orders ALTER COLUMN total SET STATISTICS 200",
    "CREATE INDEX orders_note_idx ON orders (note)",
    "DROP TABLE orders CASCADE",
    "TRUNCATE orders CASCADE",
    "INSERT INTO orders (id) VALUES (1)",
    "UPDATE orders SET total = 1",
    "DELETE FROM orders",
    "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW "
    "EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    "REFRESH MATERIALIZED VIEW order_totals",
    "COMMENT ON TABLE orders IS 'x'",
    "REINDEX TABLE orders",
    "CLUSTER orders USING orders_pkey",
]
# pg_locks' names for the modes
MODES = {"AccessExclusiveLock": "ACCESS EXCLUSIVE", "ExclusiveLock": "EXCLUSIVE",
         "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE", "ShareLock": "SHARE",
         "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
         "RowExclusiveLock": "ROW EXCLUSIVE", "AccessShareLock": "ACCESS SHARE",
         "RowShareLock": "ROW SHARE"}
ORDER = ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
         "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"]


def strongest_lock_taken(database_url: str, statement: str, table: str) -> str:
    """Run ``statement`` in a transaction, read the strongest lock this session holds on
    ``table`` from pg_locks, and roll back: PostgreSQL's own answer."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT to_regclass(%s)::oid", (table,)).fetchone()
        assert found is not None
        conn.execute(statement)
        rows = conn.execute("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() "
                            "AND relation = %s", (found[0],)).fetchall()
        conn.rollback()
    return max((MODES[r[0]] for r in rows), key=ORDER.index)


@pytest.mark.parametrize("statement", LOCKED)
def test_the_lock_named_is_the_lock_postgresql_takes(database_url: str,
                                                     statement: str) -> None:
    # GIVEN a schema with the objects the statement touches
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SETUP)
    # WHEN the statement's lock is read from its text
    lock = statement_lock(statement)
    # THEN it is the strongest lock PostgreSQL takes on that table running it
    assert lock is not None
    assert lock.mode == strongest_lock_taken(database_url, statement, lock.table)


def test_the_dry_run_shows_each_statements_lock(database_url: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_migrations(tmp_path, {
        1: ("orders", "CREATE TABLE orders (id int PRIMARY KEY, total int);\n"
                      "CREATE INDEX orders_total ON orders (total);\n", "DROP TABLE orders;")})
    common = ["--database-url", database_url, "--migrations-dir", str(folder)]
    assert main(["migrate", "--dry-run", "--json", *common]) == 0
    (step,) = json.loads(capsys.readouterr().out)["planned"]
    assert step["locks"] == [{"statement": 2, "lock": "SHARE", "table": "orders"}]
    assert main(["migrate", "--dry-run", *common]) == 0
    assert ("  lock: 1 0001_orders.up.sql statement 2: SHARE on orders (blocks writes)"
            in capsys.readouterr().out.splitlines())


EXPAND_DROP = {
    1: ("orders", "CREATE TABLE orders (id int PRIMARY KEY, legacy text);\n",
        "DROP TABLE orders;\n"),
    2: ("drop_legacy", "ALTER TABLE orders DROP COLUMN legacy;\n",
        "ALTER TABLE orders ADD COLUMN legacy text;\n"),
}


def test_a_drop_in_the_expand_phase_is_flagged_and_breaks_the_previous_version(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN a drop in an expand-phase migration
    folder = write_migrations(tmp_path, EXPAND_DROP)
    # WHEN linted THEN it is an error on its line
    (finding,) = [f for f in lint(folder, LintConfig(), squawk=False).findings
                  if f.severity == "error"]
    assert (finding.rule, finding.file, finding.line) == (
        "destructive-outside-contract", "0002_drop_legacy.up.sql", 1)
    # AND on PostgreSQL the previous version's query stops working once it runs, which
    # is why it must wait for the contract phase (after Promote)
    deps = make_deps(database_url, folder)
    migrate(deps, target=1)
    previous_version_query = "SELECT id, legacy FROM orders"
    with psycopg.connect(database_url) as conn:
        conn.execute(previous_version_query)
    migrate(deps)
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.UndefinedColumn):
        conn.execute(previous_version_query)
    # WHEN the same drop is marked contract THEN it lints clean
    (folder / "0002_drop_legacy.up.sql").write_text(
        "-- stackflow:phase contract\nALTER TABLE orders DROP COLUMN legacy;\n")
    assert lint(folder, LintConfig(), squawk=False).errors == 0


def test_a_missing_down_script_is_flagged_where_rollback_would_refuse(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN one migration without a down script, and one marked irreversible
    folder = write_migrations(tmp_path, {
        1: ("a", "CREATE TABLE a (id int);\n", None),
        2: ("b", "-- stackflow:irreversible\nCREATE TABLE b (id int);\n", None),
        3: ("c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n")})
    # WHEN linted THEN only the unmarked one is an error
    report = lint(folder, LintConfig(), squawk=False)
    assert [(f.rule, f.file) for f in report.findings if f.severity == "error"] == [
        ("missing-down-script", "0001_a.up.sql")]
    # AND on PostgreSQL a rollback over it is refused, as the lint warned
    deps = make_deps(database_url, folder)
    migrate(deps)
    with pytest.raises(MissingDownScript):
        rollback(deps, target=0)


def test_rules_switch_off_per_project_and_per_statement(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {**EXPAND_DROP, 3: ("x", "CREATE TABLE x ();\n",
                                                                  None)})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.stackflow.lint]\ndisable = ["missing-down-script"]\n')
    (folder / "0002_drop_legacy.up.sql").write_text(
        "-- stackflow:lint-ignore destructive-outside-contract nothing reads legacy\n"
        "ALTER TABLE orders DROP COLUMN legacy;\n")
    from stackflow_tools.lint.config import load_config

    assert lint(folder, load_config(pyproject), squawk=False).errors == 0
    # AND an ignore without a reason is itself an error
    (folder / "0002_drop_legacy.up.sql").write_text(
        "-- stackflow:lint-ignore destructive-outside-contract\n"
        "ALTER TABLE orders DROP COLUMN legacy;\n")
    rules = [f.rule for f in lint(folder, load_config(pyproject), squawk=False).findings
             if f.severity == "error"]
    assert rules == ["lint-ignore-without-reason"]


SQUAWK = squawk_binary()


@pytest.mark.skipif(SQUAWK is None, reason="the squawk binary is not installed "
                    "(pip install squawk-cli, a dev dependency): squawk's rules cannot run")
def test_squawks_findings_surface_with_stackflows_defaults(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a required column and a blocking index build, and a contract-phase drop
    folder = write_migrations(tmp_path, {
        1: ("orders", "CREATE TABLE orders (id int PRIMARY KEY);\n", "DROP TABLE orders;\n"),
        2: ("risky", "ALTER TABLE orders ADD COLUMN note text NOT NULL;\n"
                     "CREATE INDEX orders_note ON orders (note);\n",
            "ALTER TABLE orders DROP COLUMN note;\n"),
        3: ("drop", "-- stackflow:phase contract\nDROP TABLE orders;\n", None)})
    (folder / "0003_drop.up.sql").write_text(
        "-- stackflow:phase contract\n-- stackflow:irreversible\nDROP TABLE orders;\n")
    # WHEN linted with the GitHub format
    code = main(["lint", "--migrations-dir", str(folder), "--github",
                 "--config", str(tmp_path / "none.toml")])
    out = capsys.readouterr().out.splitlines()
    # THEN squawk's rules appear on their lines; its timeout rules (the patcher sets
    # both) and its drop rules in the contract phase do not
    assert code == 1
    file = folder / "0002_risky.up.sql"
    assert any(line.startswith(f"::error file={file},line=1,title=adding-required-field::")
               for line in out)
    assert any(line.startswith(f"::error file={file},line=2,"
                               "title=require-concurrent-index-creation::") for line in out)
    assert not any("timeout" in line or "0003_drop" in line for line in out)
