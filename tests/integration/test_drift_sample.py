"""``events/drift-report.json`` is what the real code reports for a known situation.

The situation: one stack drifted (a Lambda timeout edited by hand, plus the PROD alias
moved by StackFlow), one stack carried over for lack of time, PROD in sync, BETA moved
by hand, STAGING never deployed by StackFlow, an applied migration edited afterwards
and a migration pending for 50 hours. To refresh the sample after a deliberate change
to the report: ``.venv/bin/python -m tests.integration.test_drift_sample <database url>``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber
from stackflow.adapters.cloudformation import CloudFormationDrift
from stackflow.adapters.dynamodb import DriftStateTable
from stackflow.adapters.lambda_ import LambdaFunctions
from stackflow.drift.compose import build_schema
from stackflow.drift.deployments import FunctionsAliasReader, StoreHistoryReader
from stackflow.drift.service import DriftConfig, DriftDeps, run_drift_check
from stackflow.drift.settings import DriftSettings
from stackflow.migrations.settings import PatcherSettings

from tests.support.drift import FUNCTION, TABLE, World, drift_world
from tests.support.events import EVENTS_DIR, load_event
from tests.support.patcher import make_deps, migrate, table, write_migrations
from tests.unit.test_drift_cloudformation import (
    DETECTION,
    STACK,
    drifted_resources,
    expect_resource_drifts,
    status,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SAMPLE = "drift-report.json"


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time_left(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds -= seconds


def _stub_stacks(stubber: Stubber) -> None:
    stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION},
                         {"StackName": STACK})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_IN_PROGRESS"),
                         {"StackDriftDetectionId": DETECTION})
    stubber.add_response("describe_stack_drift_detection_status",
                         status(DETECTION, "DETECTION_COMPLETE"),
                         {"StackDriftDetectionId": DETECTION})
    expect_resource_drifts(stubber, drifted_resources())


def _aliases(w: World) -> None:
    w.record("exec-4", "SUCCEEDED", "4", 2)
    w.lam.create_alias(FunctionName=FUNCTION, Name="BETA", FunctionVersion="2")
    w.record("exec-beta-3", "SUCCEEDED", "3", 3, alias="BETA")
    w.lam.create_alias(FunctionName=FUNCTION, Name="STAGING", FunctionVersion="1")


def _migrations(database_url: str, folder: Path) -> None:
    write_migrations(folder, {1: table(1), 2: table(2)})
    migrate(make_deps(database_url, folder))
    (folder / "0002_create_t2.up.sql").write_text("CREATE TABLE t2 (id bigint);\n")
    write_migrations(folder, {3: table(3)})
    stamp = (NOW - timedelta(hours=50)).timestamp()
    os.utime(folder / "0003_create_t3.up.sql", (stamp, stamp))


def generate(database_url: str, folder: Path) -> dict[str, Any]:
    """Build the situation and return the report the real code makes of it."""
    _migrations(database_url, folder)
    with drift_world() as w:
        _aliases(w)
        cfn = boto3.client("cloudformation", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        budget = Budget(45)
        with Stubber(cfn) as stubber:
            _stub_stacks(stubber)
            deps = DriftDeps(
                stacks=CloudFormationDrift(cfn, sleep=budget.sleep, poll_seconds=20,
                                           max_workers=1),
                aliases=FunctionsAliasReader(LambdaFunctions(w.lam)),
                history=StoreHistoryReader(w.store, now_epoch=lambda: int(NOW.timestamp())),
                schema=build_schema(DriftSettings(), PatcherSettings(
                    database_url=database_url, migrations_dir=str(folder))),
                state=DriftStateTable(TABLE, w.ddb), notifier=None)
            config = DriftConfig(stacks=(STACK, "stackflow-data"),
                                 aliases=((FUNCTION, "PROD"), (FUNCTION, "BETA"),
                                          (FUNCTION, "STAGING")))
            report = run_drift_check(config, deps, now=lambda: NOW,
                                     time_left=budget.time_left)
            stubber.assert_no_pending_responses()
    return report.to_dict()


def test_sample_report_is_what_the_code_reports(aws_env: None, database_url: str,
                                                tmp_path: Path) -> None:
    # GIVEN the situation described above
    # WHEN the real code reports on it
    report = generate(database_url, tmp_path / "migrations")
    # THEN the sample in events/ is exactly that report
    assert report == load_event(SAMPLE)
    # and it shows every kind of finding the docs describe
    assert report["counts"] == {"stack": 1, "alias": 1, "schema": 2, "unmanaged_alias": 1,
                                "carried_over": 1, "errors": 0}


if __name__ == "__main__":  # pragma: no cover
    with tempfile.TemporaryDirectory() as tmp:
        for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            os.environ[key] = value
        sample = generate(sys.argv[1], Path(tmp) / "migrations")
    (EVENTS_DIR / SAMPLE).write_text(json.dumps(sample, indent=2) + "\n")
