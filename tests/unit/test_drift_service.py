"""One drift run over fake ports: the report, the drift set, and when to notify."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stackflow.drift.aliases import AliasHistory, DeployedAlias
from stackflow.drift.model import (
    AliasState,
    CarriedOver,
    PropertyDifference,
    ResourceDrift,
    StackCheck,
    StackResult,
)
from stackflow.drift.ports import TimeLeft
from stackflow.drift.service import DriftConfig, DriftDeps, run_drift_check
from stackflow.errors import AwsThrottled, DatabaseUnavailable, StackFlowError
from stackflow.migrations.model import AppliedMigration, Migration

from tests.support.drift_fakes import MemoryStateStore

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DRIFTED_FUNCTION = ResourceDrift("ApiFunction", "StackFlowAPI", "AWS::Lambda::Function",
                                 "MODIFIED", (PropertyDifference("/Timeout", "30", "60",
                                                                 "NOT_EQUAL"),))


@dataclass
class FakeStacks:
    results: dict[str, StackResult | CarriedOver] = field(default_factory=dict)
    seen_known: list[Mapping[str, str]] = field(default_factory=list)
    seen_order: list[list[str]] = field(default_factory=list)

    def check_stacks(self, stacks: Sequence[str], *, known_detections: Mapping[str, str],
                     time_left: TimeLeft) -> StackCheck:
        self.seen_known.append(dict(known_detections))
        self.seen_order.append(list(stacks))
        outcomes = [self.results.get(s, StackResult(s, "IN_SYNC")) for s in stacks]
        return StackCheck(tuple(o for o in outcomes if isinstance(o, StackResult)),
                          tuple(o for o in outcomes if isinstance(o, CarriedOver)))


@dataclass
class FakeAliases:
    where: dict[tuple[str, str], AliasState] = field(default_factory=dict)

    def get_alias_state(self, function: str, alias: str) -> AliasState | None:
        return self.where.get((function, alias))


@dataclass
class FakeHistory:
    deployed: dict[tuple[str, str], DeployedAlias] = field(default_factory=dict)

    def alias_history(self, function: str, alias: str) -> AliasHistory:
        d = self.deployed.get((function, alias))
        return AliasHistory(last_succeeded=d, latest=d)


@dataclass
class FakeTopic:
    sent: list[tuple[str, str]] = field(default_factory=list)
    fail_with: StackFlowError | None = None

    def publish(self, subject: str, message: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((subject, message))


@dataclass
class BrokenSchema:
    def applied(self) -> Sequence[AppliedMigration]:
        raise DatabaseUnavailable("connection refused")

    def migrations(self) -> Sequence[Migration]:
        return []

    def modified_at(self) -> Mapping[int, datetime]:
        return {}

    def schema_dump(self) -> str | None:
        return None


CONFIG = DriftConfig(stacks=("app", "data"), aliases=(("StackFlowAPI", "PROD"),),
                     pending_max_age=timedelta(hours=24))


def deps(stacks: FakeStacks, store: MemoryStateStore, topic: FakeTopic,
         alias_at: str = "4") -> DriftDeps:
    return DriftDeps(
        stacks=stacks,
        aliases=FakeAliases({("StackFlowAPI", "PROD"): AliasState(alias_at)}),
        history=FakeHistory({("StackFlowAPI", "PROD"): DeployedAlias("4", "exec-4")}),
        state=store, notifier=topic)


def run(d: DriftDeps, config: DriftConfig = CONFIG) -> dict[str, Any]:
    return run_drift_check(config, d, now=lambda: NOW, time_left=lambda: 600.0).to_dict()


def test_two_runs_with_the_same_drift_notify_once() -> None:
    # GIVEN one drifted stack, and nothing stored yet
    stacks = FakeStacks({"app": StackResult("app", "DRIFTED", "d1", (DRIFTED_FUNCTION,))})
    store, topic = MemoryStateStore(), FakeTopic()

    # WHEN the check runs twice with the same drift
    first = run(deps(stacks, store, topic))
    second = run(deps(stacks, store, topic))

    # THEN only the first run notifies; both report the drift
    assert (first["changed"], first["notified"]) == (True, True)
    assert (second["changed"], second["notified"]) == (False, False)
    assert len(topic.sent) == 1
    assert "ApiFunction" in topic.sent[0][1]
    assert first["drift_keys"] == second["drift_keys"] == [
        "stack:app:ApiFunction:MODIFIED:/Timeout"]


def test_new_drift_and_resolved_drift_both_notify() -> None:
    # GIVEN a stored drift set with one stack finding
    stacks = FakeStacks({"app": StackResult("app", "DRIFTED", "d1", (DRIFTED_FUNCTION,))})
    store, topic = MemoryStateStore(), FakeTopic()
    run(deps(stacks, store, topic))

    # WHEN the alias is then moved by hand, and later everything is put right
    moved = run(deps(stacks, store, topic, alias_at="3"))
    clean = run(deps(FakeStacks(), store, topic))

    # THEN each change is one notification, the last one saying drift is resolved
    assert moved["notified"]
    assert clean["notified"]
    assert len(topic.sent) == 3
    assert topic.sent[2][0] == "StackFlow drift resolved: no drift"
    assert clean["drifted"] is False


def test_a_clean_first_run_stays_quiet() -> None:
    store, topic = MemoryStateStore(), FakeTopic()
    report = run(deps(FakeStacks(), store, topic))
    assert (report["drifted"], report["notified"]) == (False, False)
    assert topic.sent == []
    assert store.state is not None  # remembered, so the next run compares with it


def test_carried_over_stack_neither_clears_nor_repeats_its_alert() -> None:
    # GIVEN the app stack drifted last run
    store, topic = MemoryStateStore(), FakeTopic()
    run(deps(FakeStacks({"app": StackResult("app", "DRIFTED", "d1", (DRIFTED_FUNCTION,))}),
             store, topic))

    # WHEN this run runs out of time before app finishes
    stacks = FakeStacks({"app": CarriedOver("app", "out of time", "d2")})
    report = run(deps(stacks, store, topic))

    # THEN its finding is kept (no "resolved" alert), its detection id is remembered,
    # and the next run checks it first and is told that id
    assert (report["changed"], report["notified"]) == (False, False)
    assert report["drift_keys"] == ["stack:app:ApiFunction:MODIFIED:/Timeout"]
    assert store.state is not None
    assert store.state.detections == {"app": "d2"}
    run(deps(stacks, store, topic))
    assert stacks.seen_order[-1] == ["app", "data"]
    assert stacks.seen_known[-1] == {"app": "d2"}


def test_failed_notification_is_retried_next_run() -> None:
    # GIVEN drift and an SNS topic that is throttling
    stacks = FakeStacks({"app": StackResult("app", "DRIFTED", "d1", (DRIFTED_FUNCTION,))})
    store, topic = MemoryStateStore(), FakeTopic(fail_with=AwsThrottled("Rate exceeded"))

    # WHEN one run fails to publish and the next succeeds
    failed = run(deps(stacks, store, topic))
    topic.fail_with = None
    retried = run(deps(stacks, store, topic))

    # THEN the failure is in the report and the next run still sees a change to send
    assert failed["notified"] is False
    assert [e["part"] for e in failed["errors"]] == ["notify"]
    assert (retried["changed"], retried["notified"]) == (True, True)
    assert len(topic.sent) == 1


def test_unreadable_database_is_reported_and_the_rest_still_checked() -> None:
    # GIVEN the database is down
    stacks = FakeStacks({"app": StackResult("app", "DRIFTED", "d1", (DRIFTED_FUNCTION,))})
    d = deps(stacks, MemoryStateStore(), FakeTopic())
    d = DriftDeps(stacks=d.stacks, aliases=d.aliases, history=d.history, state=d.state,
                  notifier=d.notifier, schema=BrokenSchema())

    # WHEN the check runs
    report = run(d)

    # THEN schema is "not checked" with the error, and stack drift is still reported
    assert report["schema"] == {"checked": False, "current_version": None, "pending": [],
                                "reason": "connection refused", "findings": [],
                                "fingerprint": None}
    assert report["errors"] == [{"part": "schema", "errorType": "DatabaseUnavailable",
                                 "errorMessage": "connection refused"}]
    assert report["counts"]["stack"] == 1


def test_read_only_run_neither_stores_nor_notifies() -> None:
    stacks = FakeStacks({"app": StackResult("app", "DRIFTED", "d1", (DRIFTED_FUNCTION,))})
    store, topic = MemoryStateStore(), FakeTopic()
    config = DriftConfig(stacks=("app",), persist=False, notify=False)
    report = run(deps(stacks, store, topic), config)
    assert report["drifted"] is True
    assert (store.state, topic.sent) == (None, [])
