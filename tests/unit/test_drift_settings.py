"""Drift settings, the Lambda event and small helpers: every mistake names its field."""

from __future__ import annotations

import pytest
from stackflow.drift.compose import build_deps
from stackflow.drift.pg_dump import _split_password, find_pg_dump
from stackflow.drift.request import parse_event
from stackflow.drift.settings import DriftSettings
from stackflow.errors import ConfigurationError, InvalidRequest

from tests.support.events import load_event


def test_settings_from_the_environment() -> None:
    settings = DriftSettings.from_env({
        "DRIFT_STACKS": "stackflow-dev, stackflow-data", "DRIFT_MANAGED_ALIASES":
        "StackFlowAPI:PROD", "DRIFT_PENDING_MAX_AGE_HOURS": "6", "DEPLOY_TABLE": "t"})
    assert settings.stacks == ("stackflow-dev", "stackflow-data")
    assert settings.aliases == (("StackFlowAPI", "PROD"),)
    assert settings.pending_max_age.total_seconds() == 6 * 3600


@pytest.mark.parametrize(("environ", "variable"), [
    ({"DRIFT_MANAGED_ALIASES": "StackFlowAPI"}, "DRIFT_MANAGED_ALIASES"),
    ({"DRIFT_PENDING_MAX_AGE_HOURS": "soon"}, "DRIFT_PENDING_MAX_AGE_HOURS"),
    ({"DRIFT_PENDING_MAX_AGE_HOURS": "-1"}, "DRIFT_PENDING_MAX_AGE_HOURS"),
    ({"DRIFT_CONCURRENCY": "0"}, "DRIFT_CONCURRENCY"),
])
def test_bad_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DriftSettings.from_env(environ)
    assert raised.value.details["variable"] == variable


def test_aliases_without_the_deployment_table_are_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_deps(DriftSettings(aliases=(("StackFlowAPI", "PROD"),)), None)
    assert raised.value.details["variable"] == "DEPLOY_TABLE"


def test_scheduled_event_is_a_full_run() -> None:
    request = parse_event(load_event("drift-scheduled"))
    assert (request.stacks, request.read_only) == (None, False)


def test_manual_event_may_narrow_and_be_read_only() -> None:
    request = parse_event({"stacks": ["stackflow-dev"], "read_only": True})
    assert (request.stacks, request.read_only) == (("stackflow-dev",), True)


@pytest.mark.parametrize(("event", "field"), [
    ([], "event"), ({"stacks": "stackflow-dev"}, "stacks"), ({"stacks": [3]}, "stacks[0]"),
    ({"read_only": "yes"}, "read_only"),
])
def test_bad_events_name_the_field(event: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_event(event)
    assert raised.value.field == field


def test_pg_dump_never_gets_the_password_on_its_command_line() -> None:
    url, password = _split_password("postgresql://app:p%40ss@db.example:5433/orders?sslmode=require")
    assert url == "postgresql://app@db.example:5433/orders?sslmode=require"
    assert password == "p@ss"
    assert _split_password("postgresql:///orders?host=/tmp") == (
        "postgresql:///orders?host=/tmp", None)


def test_pg_dump_can_be_switched_off() -> None:
    assert find_pg_dump("off") is None
    assert find_pg_dump("/opt/pg/bin/pg_dump") == "/opt/pg/bin/pg_dump"
