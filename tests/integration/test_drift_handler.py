"""The drift Lambda and ``stackflow drift`` end to end: moto AWS + a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from drift_check.handler import handler
from stackflow.adapters import cloudformation
from stackflow.errors import InvalidRequest
from stackflow_tools.cli.main import main

from tests.support.drift import FUNCTION, TABLE, World, drift_world
from tests.support.events import load_event
from tests.support.patcher import FakeLambdaContext, make_deps, migrate, table, write_migrations
from tests.unit.test_drift_cloudformation import (
    DETECTION,
    STACK,
    drifted_resources,
    expect_resource_drifts,
    status,
)

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

    # WHEN the alias is moved once more and the schedule fires again
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="3")
    third = handler(load_event("drift-scheduled"), CONTEXT)

    # THEN the changed drift set is a second message, naming the new version
    assert third["notified"] is True
    assert third["drift_keys"] == ["alias:StackFlowAPI:PROD:drifted:3",
                                   "schema:checksum_mismatch:2"]
    [changed] = world.inbox()
    assert changed["Subject"].startswith("StackFlow drift changed")
    assert "version 3" in changed["Message"]


def emf_documents(out: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format documents among the printed lines."""
    found = []
    for line in out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            found.append(document)
    return found


@pytest.fixture
def stubbed_stacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """CloudFormation (which moto cannot detect drift on) as the handler's client."""
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(cloudformation, "default_client", lambda service: client)
    monkeypatch.setenv("DRIFT_STACKS", f"{STACK},stackflow-dev-database")
    monkeypatch.setenv("DRIFT_CONCURRENCY", "1")  # the Stubber answers in order
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_each_run_emits_one_metric_per_kind_of_drift(
        world: World, configured: Path, stubbed_stacks: Stubber,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a drifted stack, a throttled one, PROD moved by hand, an alias StackFlow
    # never deployed, and an applied migration edited afterwards
    stubbed_stacks.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                                {"StackName": STACK})
    stubbed_stacks.add_response("describe_stack_drift_detection_status",
                                status(DETECTION, "DETECTION_COMPLETE"),
                                {"StackDriftDetectionId": DETECTION})
    expect_resource_drifts(stubbed_stacks, drifted_resources())
    stubbed_stacks.add_client_error("detect_stack_drift", "Throttling", "Rate exceeded",
                                    expected_params={"StackName": "stackflow-dev-database"})
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="2")
    world.lam.create_alias(FunctionName=FUNCTION, Name="STAGING", FunctionVersion="1")
    monkeypatch.setenv("DRIFT_MANAGED_ALIASES", f"{FUNCTION}:PROD,{FUNCTION}:STAGING")
    (configured / "0002_create_t2.up.sql").write_text("CREATE TABLE t2 (id bigint);\n")
    capsys.readouterr()

    # WHEN the schedule fires
    report = handler(load_event("drift-scheduled"), CONTEXT)

    # THEN the handler prints one EMF document: namespace StackFlow, service drift
    [document] = emf_documents(capsys.readouterr().out)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "StackFlow"
    assert document["service"] == "drift"
    assert ["service"] in directive["Dimensions"]
    # AND one Count metric per kind, each with this run's number (EMF lists the values)
    values = {metric["Name"]: document[metric["Name"]] for metric in directive["Metrics"]}
    assert {metric["Unit"] for metric in directive["Metrics"]} == {"Count"}
    assert values == {"StackDrift": [2], "AliasDrift": [1], "SchemaDrift": [1],
                      "UnmanagedAliases": [1], "CarriedOverStacks": [1],
                      "DriftCheckErrors": [0], "DriftNotifications": [1]}
    # AND those are the report's own counts
    counts = report["counts"]
    assert (counts["stack"], counts["alias"], counts["schema"], counts["unmanaged_alias"],
            counts["carried_over"], counts["errors"]) == (2, 1, 1, 1, 1, 0)
    assert report["notified"] is True


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
