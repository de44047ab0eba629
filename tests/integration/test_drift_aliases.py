"""Alias drift and change notifications against moto Lambda, DynamoDB and SNS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from stackflow.adapters.dynamodb import DriftStateTable
from stackflow.adapters.lambda_ import LambdaFunctions
from stackflow.adapters.sns import Topic
from stackflow.deploy.ports import LockState
from stackflow.drift.deployments import FunctionsAliasReader, StoreHistoryReader
from stackflow.drift.model import DriftReport
from stackflow.drift.service import DriftConfig, DriftDeps, run_drift_check

from tests.support.drift import FUNCTION, TABLE, World, drift_world

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW_EPOCH = int(NOW.timestamp())


@pytest.fixture
def world(aws_env: None) -> Iterator[World]:
    with drift_world() as w:
        yield w


def record(w: World, execution: str, status: str, version: str, day: int) -> None:
    w.record(execution, status, version, day)


def check(w: World, aliases: tuple[tuple[str, str], ...] = ((FUNCTION, "PROD"),)) -> DriftReport:
    deps = DriftDeps(
        aliases=FunctionsAliasReader(LambdaFunctions(w.lam)),
        history=StoreHistoryReader(w.store, now_epoch=lambda: NOW_EPOCH),
        state=DriftStateTable(TABLE, w.ddb), notifier=Topic(w.topic_arn, w.sns))
    return run_drift_check(DriftConfig(aliases=aliases), deps, now=lambda: NOW,
                           time_left=lambda: 600.0)


def inbox(w: World) -> list[dict[str, Any]]:
    return w.inbox()


def test_alias_where_the_last_success_left_it_is_in_sync(world: World) -> None:
    # GIVEN PROD on 4, set by the newest successful deployment (an older one set 3)
    record(world, "exec-3", "SUCCEEDED", "3", 1)
    record(world, "exec-4", "SUCCEEDED", "4", 2)
    # WHEN checked
    report = check(world)
    # THEN in sync, no drift, nothing sent
    [alias] = report.aliases
    assert (alias.status, alias.execution_id) == ("in_sync", "exec-4")
    assert not report.has_drift
    assert inbox(world) == []


def test_alias_moved_by_hand_is_drift(world: World) -> None:
    # GIVEN the last deployment set 4, then someone pointed PROD at 2 in the console
    record(world, "exec-4", "SUCCEEDED", "4", 2)
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="2")
    # WHEN checked
    [alias] = check(world).aliases
    # THEN it is drift with both versions
    assert alias.status == "drifted"
    assert (alias.actual and alias.actual.version, alias.expected and alias.expected.version) \
        == ("2", "4")


def test_weighted_alias_left_by_a_dead_execution_is_drift(world: World) -> None:
    # GIVEN exec-5 died mid-canary: PROD still sends 10 % to 5 and its lock expired
    record(world, "exec-4", "SUCCEEDED", "4", 2)
    record(world, "exec-5", "IN_PROGRESS", "5", 3)
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="4",
                           RoutingConfig={"AdditionalVersionWeights": {"5": 0.1}})
    world.store.acquire_lock(FUNCTION, "PROD", LockState(
        holder="exec-5", expires_at="2024-04-03T11:00:00Z", ttl=NOW_EPOCH - 3600),
        now_epoch=NOW_EPOCH - 7200)
    # WHEN checked
    [alias] = check(world).aliases
    # THEN drift, naming the dead execution
    assert alias.status == "drifted"
    assert alias.execution_id == "exec-5"
    assert alias.actual is not None
    assert dict(alias.actual.routing) == {"5": 0.1}


def test_weighted_alias_of_a_running_deployment_is_not_drift(world: World) -> None:
    # GIVEN the same canary while exec-5 still holds a live lock
    record(world, "exec-4", "SUCCEEDED", "4", 2)
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="4",
                           RoutingConfig={"AdditionalVersionWeights": {"5": 0.1}})
    world.store.acquire_lock(FUNCTION, "PROD", LockState(
        holder="exec-5", expires_at="2024-05-01T13:00:00Z", ttl=NOW_EPOCH + 3600),
        now_epoch=NOW_EPOCH)
    # WHEN checked
    report = check(world)
    # THEN it is a deployment in progress, not drift
    assert report.aliases[0].status == "deploying"
    assert not report.has_drift


def test_alias_never_deployed_by_stackflow_is_unmanaged(world: World) -> None:
    world.lam.create_alias(FunctionName=FUNCTION, Name="STAGING", FunctionVersion="1")
    report = check(world, ((FUNCTION, "STAGING"),))
    assert report.aliases[0].status == "unmanaged"
    assert not report.has_drift


def test_deleted_alias_is_drift(world: World) -> None:
    record(world, "exec-4", "SUCCEEDED", "4", 2)
    world.lam.delete_alias(FunctionName=FUNCTION, Name="PROD")
    assert check(world).aliases[0].status == "missing"


def test_same_drift_on_two_runs_sends_one_notification(world: World) -> None:
    # GIVEN PROD moved by hand
    record(world, "exec-4", "SUCCEEDED", "4", 2)
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="2")

    # WHEN the scheduled check runs twice
    first, second = check(world), check(world)

    # THEN one message reached the topic's subscriber, and the state item holds the set
    messages = inbox(world)
    assert len(messages) == 1
    assert messages[0]["Subject"].startswith("StackFlow drift changed")
    assert "StackFlowAPI:PROD" in messages[0]["Message"]
    assert (first.notified, second.notified) == (True, False)
    state = DriftStateTable(TABLE, world.ddb).load_state()
    assert state is not None
    assert state.drift_keys == ("alias:StackFlowAPI:PROD:drifted:2",)

    # WHEN the alias is put back
    world.lam.update_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="4")
    third = check(world)

    # THEN one more message says the drift is resolved
    assert third.notified
    assert [m["Subject"] for m in inbox(world)] == ["StackFlow drift resolved: no drift"]
