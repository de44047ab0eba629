"""The CLI's arguments and tables, and the RDS secret -> URI conversion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict
from stackflow.adapters.secrets import url_from_secret
from stackflow.errors import ConfigurationError
from stackflow_tools.cli.main import build_parser, main
from stackflow_tools.patcher_text import format_result


def test_rollback_takes_steps_or_target_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["rollback", "--steps", "2"]).steps == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["rollback", "--steps", "2", "--target", "1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_failure_exits_non_zero_with_error_type_and_message(
        capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    # GIVEN a migrations folder that does not exist
    code = main(["status", "--database-url", "postgresql://x@/db?host=/nonexistent",
                 "--migrations-dir", str(tmp_path / "missing")])
    # THEN the exit code is non-zero and stderr names the error type
    assert code == 1
    assert capsys.readouterr().err.startswith("error: SourceError: cannot list migrations")


def result(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ok": True, "action": "migrate", "dry_run": False, "complete": True,
        "current_version": 2, "planned": [], "applied": [], "pending": [],
        "checksum_mismatches": [], "out_of_order": [], "missing": []}
    return base | extra


def test_run_table_lists_applied_with_times_and_pending() -> None:
    text = format_result(result(
        applied=[{"version": 2, "name": "create_orders", "no_transaction": False,
                  "execution_ms": 12}],
        pending=[{"version": 3, "name": "add_status", "checksum": "c"}]))
    assert "migrate: applied 1 migration(s); current version: 2" in text
    assert "create_orders" in text
    assert "12 ms" in text
    assert text.endswith("pending: 3")


def test_dry_run_table_shows_mode_and_first_line_and_sql_only_on_request() -> None:
    # GIVEN a dry-run plan of one CREATE INDEX CONCURRENTLY script
    plan = result(dry_run=True, current_version=None, applied_count=0, planned=[
        {"version": 1, "name": "a", "file": "0001_a.up.sql", "direction": "up",
         "no_transaction": True, "no_transaction_reason": "CREATE INDEX CONCURRENTLY",
         "statements": 1, "sql": "-- why\nCREATE INDEX CONCURRENTLY i ON t (x);"}],
        pending=[{"version": 1, "name": "a", "file": "0001_a.up.sql"}])
    # WHEN it is printed without --sql
    text = format_result(plan)
    # THEN the headline counts, the row names the file, the mode and why, and the first
    # line of SQL (comments left out), and the script itself is not printed
    assert text.splitlines()[0] == (
        "migrate (dry run): 1 pending, 0 applied, 1 outside a transaction; would apply 1 "
        "(current version: none (empty database))")
    assert text.splitlines()[2].split() == [
        "1", "0001_a.up.sql", "outside:", "CREATE", "INDEX", "CONCURRENTLY", "1", "CREATE",
        "INDEX", "CONCURRENTLY", "i", "ON", "t", "(x)"]
    assert text.splitlines()[-1] == ("total: 1 to apply, 1 statement(s), 1 outside a "
                                     "transaction; --sql prints the scripts")
    assert "-- why" not in text
    # WHEN --sql is asked for THEN each script follows the plan
    assert "-- why\nCREATE INDEX CONCURRENTLY i ON t (x);" in format_result(plan, with_sql=True)


def planned_step(version: int, **extra: Any) -> dict[str, Any]:
    return {"version": version, "name": f"m{version}", "file": f"{version:06d}_m{version}.up.sql",
            "direction": "up", "no_transaction": False, "no_transaction_reason": None,
            "statements": 2, "sql": f"CREATE TABLE t{version} (id int);\nINSERT INTO t{version} "
            "VALUES (1);\n", **extra}


def test_dry_run_of_150_migrations_fits_in_160_lines_headline_first() -> None:
    # GIVEN 150 pending migrations, 10 of them outside a transaction
    steps = [planned_step(v, **({"no_transaction": True,
                                 "no_transaction_reason": "CREATE INDEX CONCURRENTLY"}
                                if v % 15 == 0 else {})) for v in range(1, 151)]
    plan = result(dry_run=True, current_version=None, applied_count=0, planned=steps,
                  pending=[{"version": s["version"], "name": s["name"]} for s in steps])
    # WHEN the plan is printed without --sql
    lines = format_result(plan).splitlines()
    # THEN it fits in 160 lines and its first line is the headline
    assert len(lines) <= 160
    assert lines[0].startswith("migrate (dry run): 150 pending, 0 applied, 10 outside a "
                               "transaction; would apply 150")
    # AND no column is always empty: every row has all five
    assert all(len(line.split()) >= 5 for line in lines[2:152])
    assert lines[-1].startswith("total: 150 to apply, 300 statement(s), 10 outside")


def test_rollback_dry_run_and_long_pending_lists_stay_short() -> None:
    # GIVEN a rollback plan of 3 and 100 pending versions with a gap
    plan = result(action="rollback", dry_run=True, current_version=10, applied_count=10,
                  planned=[planned_step(v, direction="down") for v in (10, 9, 8)],
                  pending=[{"version": v, "name": "x"} for v in [*range(11, 60), *range(61, 112)]])
    text = format_result(plan)
    assert text.splitlines()[0].startswith(
        "rollback (dry run): 100 pending, 10 applied, 0 outside a transaction; would roll "
        "back 3")
    # WHEN a real run reports the same pending list THEN it is one short line of ranges
    done = format_result(result(pending=plan["pending"]))
    assert done.splitlines()[-1] == "pending: 11-59, 61-111"


def test_adopt_text_says_what_is_recorded_and_what_becomes_of_the_old_table() -> None:
    adopted = result(action="adopt", dry_run=True, current_version=None, **{
        "from": "golang-migrate", "foreign_table": "schema_migrations",
        "foreign_table_kept_as": "schema_migrations_golang_migrate", "foreign_version": 2,
        "planned": [planned_step(1), planned_step(2)], "adopted": [],
        "pending": [{"version": v, "name": "x"} for v in (1, 2, 3)]})
    lines = format_result(adopted).splitlines()
    assert lines[0] == ("adopt (dry run): would record 2 migration(s) as applied from "
                        "golang-migrate's schema_migrations at version 2; no migration SQL "
                        "would run")
    assert lines[-2] == ("golang-migrate's table schema_migrations: would be renamed to "
                         "schema_migrations_golang_migrate")
    assert lines[-1] == "pending after adoption: 3"


def test_status_lists_ignored_files_once() -> None:
    text = format_result(result(action="status", ignored=["README.md", "notes.txt"]))
    assert text.splitlines()[-1] == "ignored (not .sql): README.md, notes.txt"


def test_sql_without_dry_run_is_refused_naming_the_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["migrate", "--sql", "--database-url", "postgresql://x@/db?host=/nonexistent"])
    assert code == 1
    assert "InvalidRequest: --sql: prints a dry run's scripts" in capsys.readouterr().err


def test_bad_table_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["status", "--table", "Schema Migrations"])
    assert exited.value.code == 2
    assert "argument --table: expected a lower-case name" in capsys.readouterr().err


def test_status_table_flags_changed_missing_and_out_of_order() -> None:
    text = format_result(result(
        action="status", current_version=3,
        applied=[{"version": 1, "name": "a", "applied_at": "t", "applied_by": "u"},
                 {"version": 3, "name": "c", "applied_at": "t", "applied_by": "u"}],
        checksum_mismatches=[{"version": 1, "name": "a"}],
        missing=[{"version": 4, "name": "d"}],
        pending=[{"version": 2, "name": "b"}], out_of_order=[{"version": 2, "name": "b"}]))
    lines = text.splitlines()
    assert [line.split()[2] for line in lines[2:6]] == ["CHANGED", "OUT", "applied", "MISSING"]
    assert "changed after being applied (migrate is blocked): 1" in text
    assert "needs --allow-out-of-order): 2" in text


def test_rds_secret_becomes_an_encoded_uri() -> None:
    # GIVEN a password with URI metacharacters
    url = url_from_secret('{"host": "db.example", "port": 5433, "username": "app", '
                          '"password": "p@ss:w/rd?#", "dbname": "shop"}')
    # THEN libpq reads every part back unchanged
    parts = conninfo_to_dict(url)
    assert (parts["host"], parts["port"], parts["user"], parts["password"], parts["dbname"]) == (
        "db.example", "5433", "app", "p@ss:w/rd?#", "shop")


@pytest.mark.parametrize("secret", ['{"host": "h"}', "not json", "[1]",
                                    '{"host": "h", "username": "u", "password": "p", '
                                    '"port": "x"}'])
def test_malformed_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ConfigurationError):
        url_from_secret(secret)


def test_migrate_help_explains_options_examples_settings_and_exit_status(
        capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN a newcomer asks for help on migrate
    with pytest.raises(SystemExit) as exited:
        main(["migrate", "--help"])
    text = capsys.readouterr().out
    # THEN it exits 0 and covers what to do, where, examples, settings and exit codes
    assert exited.value.code == 0
    for expected in ("--dry-run", "--sql", "--target N", "--allow-out-of-order", "--json",
                     "--database-url URI", "--migrations-dir DIR", "--lock-wait SECONDS",
                     "--table NAME", "-- stackflow:no-transaction",
                     "-- morph:nontransactional", "stackflow migrate --dry-run",
                     "$DATABASE_URL", "$MIGRATION_LOCK_TIMEOUT_MS", "exit status:",
                     'error: <ErrorType>: <message>'):
        assert expected in text, expected


def test_bad_number_is_a_usage_error_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rollback", "--steps", "two"])
    assert exited.value.code == 2
    assert "argument --steps: expected a whole number, got 'two'" in capsys.readouterr().err


def test_json_failure_prints_the_error_document_too(
        capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    # GIVEN a migrations folder that does not exist, and --json
    code = main(["migrate", "--json", "--database-url", "postgresql://x@/db?host=/nonexistent",
                 "--migrations-dir", str(tmp_path / "missing")])
    out, err = capsys.readouterr()
    # THEN stdout has a machine-readable error, stderr the human line, and the exit is 1
    assert code == 1
    document = json.loads(out)
    assert (document["ok"], document["errorType"]) == (False, "SourceError")
    assert document["errorMessage"].startswith("cannot list migrations in ")
    assert err == f"error: SourceError: {document['errorMessage']}\n"


def test_prefix_without_bucket_is_refused_naming_the_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN no migrations bucket anywhere
    monkeypatch.delenv("MIGRATIONS_BUCKET", raising=False)
    # WHEN a prefix is given on its own
    code = main(["status", "--database-url", "postgresql://nobody@/x?host=/nonexistent",
                 "--migrations-prefix", "app/"])
    # THEN it fails at once, naming the option, instead of reading ./migrations
    assert code == 1
    assert "InvalidRequest: --migrations-prefix: needs --migrations-bucket" in (
        capsys.readouterr().err)
