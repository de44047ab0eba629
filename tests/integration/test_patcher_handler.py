"""The Lambda handler end to end: sample events, configuration, and any JSON at all."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from patcher.handler import handler, logger
from stackflow import env
from stackflow.adapters import default_client
from stackflow.errors import StackFlowError
from stackflow.observability import tracing_active

from tests.support.events import load_event
from tests.support.migration_folders import golang_migrate_table
from tests.support.patcher import (
    SAMPLE_MIGRATIONS,
    FakeLambdaContext,
    applied_versions,
    migration_lock_held,
    query,
    table,
    tables,
    write_migrations,
)

SAMPLE_FILES = {int(p.name[:4]): p.name for p in SAMPLE_MIGRATIONS.glob("*.up.sql")}

DOCUMENTED_ERRORS = {
    "InvalidRequest", "ConfigurationError", "SourceError", "ChecksumMismatch",
    "OutOfOrderMigration", "MigrationFailed", "MissingDownScript", "LockTimeout",
    "DatabaseUnavailable", "ForeignMigrationTable", "MigrationTableCorrupt",
    "AdoptionRefused",
}


@pytest.fixture
def patcher_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    for name in (env.DB_SECRET_ARN, env.MIGRATIONS_BUCKET, env.MIGRATIONS_PREFIX):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(env.DATABASE_URL, database_url)
    monkeypatch.setenv(env.MIGRATIONS_DIR, str(SAMPLE_MIGRATIONS))
    return database_url


def invoke(event: Any, **context: Any) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, FakeLambdaContext(**context))
    json.dumps(result)  # the result must be a JSON document as Lambda returns it
    return result


def test_sample_events_drive_a_full_cycle(patcher_env: str) -> None:
    # GIVEN the events/ payloads the README tells operators to send
    # WHEN they are invoked in order
    dry = invoke(load_event("patcher-migrate-dry-run"))
    done = invoke(load_event("patcher-migrate"), aws_request_id="req-42")
    back = invoke(load_event("patcher-rollback"))
    state = invoke(load_event("patcher-status"))
    # THEN the dry run planned, migrate applied (recorded as the request id), rollback undid 4
    assert [p["version"] for p in dry["planned"]] == [1, 2, 3, 4]
    assert dry["dry_run"]
    assert [a["version"] for a in done["applied"]] == [1, 2, 3, 4]
    assert [a["version"] for a in back["applied"]] == [4]
    assert state["current_version"] == 3
    assert [p["version"] for p in state["pending"]] == [4]
    assert {a["applied_by"] for a in state["applied"]} == {"req-42"}


def test_applied_by_from_the_event_wins(patcher_env: str) -> None:
    invoke({"action": "migrate", "target": 1, "applied_by": "exec-7"})
    assert invoke({"action": "status"})["applied"][0]["applied_by"] == "exec-7"


def test_unknown_field_is_invalid_request_naming_it(patcher_env: str) -> None:
    with pytest.raises(StackFlowError) as caught:
        invoke({"action": "migrate", "taget": 3})
    assert caught.value.error_type == "InvalidRequest"
    assert caught.value.message.startswith("taget: unknown field")


def test_missing_configuration_is_a_configuration_error(
        monkeypatch: pytest.MonkeyPatch, patcher_env: str) -> None:
    monkeypatch.delenv(env.DATABASE_URL)
    with pytest.raises(StackFlowError) as caught:
        invoke({"action": "status"})
    assert caught.value.error_type == "ConfigurationError"
    assert "DATABASE_URL" in caught.value.message


def test_unreachable_database_is_database_unavailable(
        monkeypatch: pytest.MonkeyPatch, patcher_env: str, tmp_path: Path) -> None:
    monkeypatch.setenv(env.DATABASE_URL, f"postgresql://nobody@/db?host={tmp_path}")
    with pytest.raises(StackFlowError) as caught:
        invoke({"action": "status"})
    assert caught.value.error_type == "DatabaseUnavailable"
    assert caught.value.retryable


def test_tracer_only_where_powertools_would_trace() -> None:
    assert not tracing_active({})
    assert tracing_active({env.LAMBDA_TASK_ROOT: "/var/task"})
    assert not tracing_active({env.LAMBDA_TASK_ROOT: "/var/task",
                               env.POWERTOOLS_TRACE_DISABLED: "true"})


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    default_client.cache_clear()
    with mock_aws():
        yield
    default_client.cache_clear()


def test_database_from_an_rds_format_secret(
        monkeypatch: pytest.MonkeyPatch, patcher_env: str, aws: None) -> None:
    # GIVEN only DB_SECRET_ARN, pointing at a secret in the RDS layout
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(patcher_env)
    secret = {"engine": "postgres", "host": parts["host"], "port": 5432,
              "username": parts["user"], "password": "p@ss:w/rd", "dbname": parts["dbname"]}
    arn = boto3.client("secretsmanager").create_secret(
        Name="stackflow/db", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.delenv(env.DATABASE_URL)
    monkeypatch.setenv(env.DB_SECRET_ARN, arn)
    # WHEN migrate is invoked THEN it reached the database through the secret
    assert invoke({"action": "migrate"})["current_version"] == 4
    assert applied_versions(patcher_env) == [1, 2, 3, 4]


def test_migrations_from_s3(monkeypatch: pytest.MonkeyPatch, patcher_env: str,
                            aws: None) -> None:
    # GIVEN the sample migrations uploaded under a prefix
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artifacts")
    for path in SAMPLE_MIGRATIONS.glob("*.sql"):
        s3.put_object(Bucket="artifacts", Key=f"app/migrations/{path.name}",
                      Body=path.read_bytes())
    monkeypatch.delenv(env.MIGRATIONS_DIR)
    monkeypatch.setenv(env.MIGRATIONS_BUCKET, "artifacts")
    monkeypatch.setenv(env.MIGRATIONS_PREFIX, "app/migrations")
    # WHEN migrate is invoked THEN the S3 files were applied
    assert [a["version"] for a in invoke({"action": "migrate"})["applied"]] == [1, 2, 3, 4]


def test_unreadable_s3_source_is_a_source_error(
        monkeypatch: pytest.MonkeyPatch, patcher_env: str, aws: None) -> None:
    monkeypatch.delenv(env.MIGRATIONS_DIR)
    monkeypatch.setenv(env.MIGRATIONS_BUCKET, "no-such-bucket")
    with pytest.raises(StackFlowError) as caught:
        invoke({"action": "status"})
    assert caught.value.error_type == "SourceError"
    assert "s3://no-such-bucket/" in caught.value.message


# JSON as Lambda's runtime may hand it over: any text (lone surrogates and NUL included,
# since "\\ud800" and "\\u0000" are valid JSON escapes) and integers of any size.
any_text = st.text(st.characters(exclude_categories=()), max_size=5)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-3, max_value=9) | st.integers()
    | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(any_text, children, max_size=3),
    max_leaves=6)
events = st.dictionaries(
    st.sampled_from(["action", "dry_run", "target", "steps", "applied_by",
                     "allow_out_of_order", "from", "bogus"]) | any_text,
    st.sampled_from(["migrate", "rollback", "status", "adopt", "golang-migrate"])
    | json_values, max_size=5) | json_values
# With a reachable database and well-formed migrations, a request can only be refused
# as malformed, for a rollback over migration 2 for its missing down script, or an
# adoption for want of a golang-migrate table.
EXPECTED_HERE = {"InvalidRequest", "MissingDownScript", "AdoptionRefused"}


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
@example(event={"action": "migrate", "target": 2})
@example(event={"action": "rollback", "steps": 2})
@example(event={"action": "migrate", "applied_by": "a\x00b"})
@example(event={"action": "migrate", "applied_by": "\ud800"})
@example(event={"action": "migrate", "target": 2**63})
@example(event={"action": "rollback", "steps": 2**31})
@example(event={"action": "rollback", "target": 0, "dry_run": True})
@example(event={"action": "status", "bogus\ud800": 1})
@example(event={"\n": "migrate"})
@example(event={"action": "adopt", "from": "golang-migrate"})
def test_any_json_event_gets_a_result_or_a_documented_error(
        monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path,
        event: Any) -> None:
    # GIVEN a real database and migrations 1-3 (2 without a down script)
    folder = tmp_path / "m"
    if not folder.exists():
        write_migrations(folder, {1: table(1), 2: ("t2", "CREATE TABLE t2 (x int);", None),
                                  3: table(3)})
    monkeypatch.setenv(env.DATABASE_URL, database_url)
    monkeypatch.setenv(env.MIGRATIONS_DIR, str(folder))
    # WHEN any JSON value is sent as the event (the database keeps its state between them)
    outcome = invoke_or_error(event)
    # THEN it is a result, or a StackFlow error (no KeyError, TypeError, psycopg error...)
    # whose class name, the Lambda errorType, is documented and fits this situation
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, StackFlowError), repr(outcome)
        assert type(outcome).__name__ in DOCUMENTED_ERRORS
        assert type(outcome).__name__ in EXPECTED_HERE, outcome.message
        assert "\n" not in outcome.message
    else:
        assert outcome["ok"] is True
        assert outcome["action"] in ("migrate", "rollback", "status", "adopt")
    # AND whatever happened, the database is consistent: a prefix of 1-3 is applied,
    # each with its table, and no lock is left behind
    versions = applied_versions(database_url)
    assert versions == [1, 2, 3][:len(versions)]
    assert {t for t in tables(database_url) if t.startswith("t")} == {f"t{v}" for v in versions}
    assert not migration_lock_held(database_url)


def invoke_or_error(event: Any) -> dict[str, Any] | BaseException:
    try:
        return invoke(event)
    except Exception as e:  # anything else escaping is what this test looks for
        return e


def test_failure_type_is_the_class_name_with_a_one_line_message(
        patcher_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a migration whose error message spans two lines
    folder = write_migrations(tmp_path, {1: table(1), 2: (
        "raises", "DO $$ BEGIN RAISE EXCEPTION E'first line\\nsecond line'; END $$;\n", None)})
    monkeypatch.setenv(env.MIGRATIONS_DIR, str(folder))
    # WHEN the handler applies it
    with pytest.raises(Exception) as caught:
        invoke({"action": "migrate"})
    # THEN Lambda's errorType (the class name) is MigrationFailed, and the message is one
    # line naming the version, the SQLSTATE and the server's message
    assert type(caught.value).__name__ == "MigrationFailed"
    assert str(caught.value) == ("migration 2 (raises, 0002_raises.up.sql): "
                                 "SQLSTATE P0001: first line second line")
    assert applied_versions(patcher_env) == [1]


def test_failing_down_script_names_the_rollback_and_keeps_the_migration(
        patcher_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_migrations(tmp_path, {1: ("t1", "CREATE TABLE t1 (id int);\n",
                                             "DROP TABLE t1;\nDROP TABLE nope;\n")})
    monkeypatch.setenv(env.MIGRATIONS_DIR, str(folder))
    invoke({"action": "migrate"})
    with pytest.raises(Exception) as caught:
        invoke({"action": "rollback"})
    assert type(caught.value).__name__ == "MigrationFailed"
    assert str(caught.value) == ("rollback of migration 1 (t1, 0001_t1.down.sql): "
                                 'SQLSTATE 42P01: table "nope" does not exist')
    assert applied_versions(patcher_env) == [1]
    assert "t1" in tables(patcher_env)


def test_adopt_event_takes_over_golang_migrate_and_counts_what_it_adopted(
        patcher_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN migrations 1-2 applied by golang-migrate, its table at version 2
    for version in (1, 2):
        sql = (SAMPLE_MIGRATIONS / SAMPLE_FILES[version]).read_text()
        query(patcher_env, sql)
    golang_migrate_table(patcher_env, 2)
    # WHEN migrate is invoked THEN it is refused, naming the adopt event
    with pytest.raises(StackFlowError) as caught:
        invoke(load_event("patcher-migrate"))
    assert caught.value.error_type == "ForeignMigrationTable"
    assert '{"action": "adopt", "from": "golang-migrate"}' in caught.value.message
    capsys.readouterr()
    # WHEN the sample adopt events are sent THEN 1-2 are recorded, and then 3-4 applied
    dry = invoke(load_event("patcher-adopt-dry-run"))
    done = invoke(load_event("patcher-adopt"), aws_request_id="req-9")
    assert ([p["version"] for p in dry["planned"]], dry["adopted"]) == ([1, 2], [])
    assert [a["version"] for a in done["adopted"]] == [1, 2]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
           if line.startswith('{"_aws"')]
    assert [m["MigrationsAdopted"] for m in emf if "MigrationsAdopted" in m] == [[2.0]]
    assert [a["version"] for a in invoke(load_event("patcher-migrate"))["applied"]] == [3, 4]


def test_logs_carry_the_request_id_and_metrics_count_what_was_applied(
        patcher_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the handler's log stream captured
    log = io.StringIO()
    stream = logger.registered_handler
    previous = stream.setStream(log)  # type: ignore[attr-defined]
    try:
        # WHEN migrate is invoked for request req-7
        invoke({"action": "migrate"}, aws_request_id="req-7")
    finally:
        stream.setStream(previous)  # type: ignore[attr-defined]
    # THEN the closing log line has the request id and what was applied
    done = [line for line in map(json.loads, log.getvalue().splitlines())
            if line["message"] == "patcher done"]
    assert [(d["function_request_id"], d["applied"]) for d in done] == [
        ("req-7", [1, 2, 3, 4])]
    # AND the metrics (CloudWatch EMF, printed) count four migrations and time the call
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
           if line.startswith('{"_aws"')]
    assert [m["MigrationsApplied"] for m in emf] == [[4.0]]
    assert emf[0]["PatcherDuration"][0] > 0
