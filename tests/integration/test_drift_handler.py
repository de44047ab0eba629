"""The drift Lambda and ``stackflow drift`` end to end: moto AWS + a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drift_check.handler import handler
from stackflow.cli.main import main
from stackflow.errors import InvalidRequest

from tests.support.drift import FUNCTION, TABLE, World, drift_world
from tests.support.events import load_event
from tests.support.patcher import FakeLambdaContext, make_deps, migrate, table, write_migrations

CONTEXT = FakeLambdaContext(function_name="StackFlowDriftCheck",
                            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:"
                                                 "function:StackFlowDriftCheck")


@pytest.fixture
def world(aws_env: None) -> Iterator[World]:
    with drift_world() as w:
        yield w


@pytest.fixture
def configured(world: World, database_url: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Path:
    """PROD deployed by StackFlow at 4; two migrations applied; the drift env set."""
    world.record("exec-4", "SUCCEEDED", "4", 2)
    folder = write_migrations(tmp_path / "migrations", {1: table(1), 2: table(2)})
    migrate(make_deps(database_url, folder))
    for name, value in {"DEPLOY_TABLE": TABLE, "DRIFT_MANAGED_ALIASES": f"{FUNCTION}:PROD",
                        "DRIFT_TOPIC_ARN": world.topic_arn, "DATABASE_URL": database_url,
                        "MIGRATIONS_DIR": str(folder), "DRIFT_PG_DUMP": "off"}.items():
        monkeypatch.setenv(name, value)
    return folder


def test_scheduled_runs_report_drift_and_notify_once(world: World, configured: Path) -> None:
    # GIVEN PROD moved by hand and an applied migration edited afterwards
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="2")
    (configured / "0002_create_t2.up.sql").write_text("CREATE TABLE t2 (id bigint);\n")

    # WHEN the schedule fires twice
    first = handler(load_event("drift-scheduled"), CONTEXT)
    second = handler(load_event("drift-scheduled"), CONTEXT)

    # THEN both reports carry the alias and schema drift; one notification was sent
    for report in (first, second):
        assert report["counts"]["alias"] == 1
        assert report["counts"]["schema"] == 1
        assert report["drift_keys"] == ["alias:StackFlowAPI:PROD:drifted:2",
                                        "schema:checksum_mismatch:2"]
    assert (first["notified"], second["notified"]) == (True, False)
    [message] = world.inbox()
    assert "checksum_mismatch" in message["Message"]


def test_clean_run_is_quiet(world: World, configured: Path) -> None:
    report = handler(load_event("drift-scheduled"), CONTEXT)
    assert (report["drifted"], report["notified"], report["errors"]) == (False, False, [])
    assert report["schema"]["current_version"] == 2
    assert world.inbox() == []


def test_bad_event_names_the_field(configured: Path) -> None:
    with pytest.raises(InvalidRequest) as raised:
        handler({"stacks": [""]}, CONTEXT)
    assert raised.value.field == "stacks[0]"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["drift", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in args else out


def test_cli_exit_codes_and_output(world: World, configured: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a clean state
    # WHEN the CLI checks it, THEN exit 0 and the table says so
    code, out = run_cli(capsys)
    assert code == 0
    assert "RESULT: no drift" in out

    # GIVEN the alias moved by hand
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="3")
    # WHEN checked with --json, THEN exit 2 with the drift in the JSON
    code, report = run_cli(capsys, "--json")
    assert code == 2
    assert report["aliases"][0]["status"] == "drifted"
    # and the CLI neither notified nor stored anything
    assert report["notified"] is False
    assert world.inbox() == []
    code, out = run_cli(capsys)
    assert code == 2
    assert "StackFlowAPI:PROD" in out
    assert "RESULT: DRIFT" in out


def test_cli_without_anything_to_check_is_an_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("DRIFT_STACKS", "DRIFT_MANAGED_ALIASES", "DATABASE_URL", "DB_SECRET_ARN",
                 "MIGRATIONS_DIR", "MIGRATIONS_BUCKET", "DEPLOY_TABLE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["drift"]) == 1
    assert "nothing to check" in capsys.readouterr().err
