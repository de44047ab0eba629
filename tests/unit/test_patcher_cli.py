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


def test_dry_run_table_shows_the_sql() -> None:
    text = format_result(result(dry_run=True, current_version=None, planned=[
        {"version": 1, "name": "a", "direction": "up", "no_transaction": True,
         "sql": "CREATE INDEX CONCURRENTLY i ON t (x);"}]))
    assert "would apply 1 migration(s); current version: none (empty database)" in text
    assert "no-transaction" in text
    assert "CREATE INDEX CONCURRENTLY i ON t (x);" in text


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
    for expected in ("--dry-run", "--target N", "--allow-out-of-order", "--json",
                     "--database-url URI", "--migrations-dir DIR", "--lock-wait SECONDS",
                     "-- stackflow:no-transaction", "stackflow migrate --dry-run",
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
