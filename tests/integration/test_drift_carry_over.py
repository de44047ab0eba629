"""More stacks than one run has time for: side by side, the rest carried to the next run.

CloudFormation is a thread-safe fake here (moto has no drift detection, and a Stubber
answers in one fixed order, which threads do not keep); the drift state lives in a moto
DynamoDB table through the real ``DriftStateTable``, so the second run reads what the
first one stored.

The fake is built so that the outcome does not depend on how the threads interleave:
the slow stack's detection never ends during the first run, and every other detection
ends only once the slow one has started, so the first run finishes anything only when
it checks stacks side by side. The run's time is up once two stacks are done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError
from stackflow.adapters.cloudformation import CloudFormationDrift
from stackflow.adapters.dynamodb import DriftStateTable
from stackflow.drift.model import CarriedOver, DriftReport, StackCheck
from stackflow.drift.ports import StackChecker, TimeLeft
from stackflow.drift.service import DriftConfig, DriftDeps, run_drift_check

from tests.support.drift import TABLE, World, drift_world

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STACKS = tuple(f"stack-{n}" for n in range(1, 7))
SLOW, DRIFTED = "stack-1", "stack-3"
WORKERS = 2
DONE_BEFORE_TIME_RUNS_OUT = 2
# A checker that never runs stacks side by side spins on the slow one; this many status
# reads end its run instead of the test hanging.
GIVE_UP_AFTER_READS = 5_000
NOT_STARTED = "not started: the run's time budget is used up"
STILL_RUNNING = "detection still running when the run's time ran out"


def stack_id(stack: str) -> str:
    return f"arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/0a1b2c3d"


@dataclass
class Detection:
    stack: str
    reads_left: int | None = None  # None: still running whatever happens


@dataclass
class FakeCloudFormation:
    """The three drift-detection calls, for many stacks at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    detections: dict[str, Detection] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)  # stack -> detection id
    started: list[str] = field(default_factory=list)  # one entry per DetectStackDrift
    done: int = 0
    slow_reads: int = 0
    most_in_flight: int = 0

    def detect_stack_drift(self, *, StackName: str) -> dict[str, Any]:
        with self.lock:
            if StackName in self.running:
                raise ClientError({"Error": {
                    "Code": "ValidationError",
                    "Message": f"Drift detection is already in progress for stack "
                               f"[{stack_id(StackName)}]."}}, "DetectStackDrift")
            detection_id = f"detection-{len(self.started) + 1}-{StackName}"
            self.detections[detection_id] = Detection(StackName)
            self.running[StackName] = detection_id
            self.started.append(StackName)
            self.most_in_flight = max(self.most_in_flight, len(self.running))
            return {"StackDriftDetectionId": detection_id}

    def describe_stack_drift_detection_status(
            self, *, StackDriftDetectionId: str) -> dict[str, Any]:
        with self.lock:
            detection = self.detections[StackDriftDetectionId]
            response = {"StackId": stack_id(detection.stack),
                        "StackDriftDetectionId": StackDriftDetectionId,
                        "DetectionStatus": "DETECTION_IN_PROGRESS", "Timestamp": NOW}
            if not self._finished(detection):
                return response
            self.running.pop(detection.stack, None)
            self.done += 1
            drift = "DRIFTED" if detection.stack == DRIFTED else "IN_SYNC"
            return {**response, "DetectionStatus": "DETECTION_COMPLETE",
                    "StackDriftStatus": drift}

    def _finished(self, detection: Detection) -> bool:
        if detection.stack != SLOW:
            return SLOW in self.started
        self.slow_reads += 1
        if detection.reads_left is None:
            return False
        detection.reads_left -= 1
        return detection.reads_left < 0

    def describe_stack_resource_drifts(
            self, *, StackName: str,
            StackResourceDriftStatusFilters: Sequence[str]) -> dict[str, Any]:
        assert list(StackResourceDriftStatusFilters) == ["MODIFIED", "DELETED"]
        return {"StackResourceDrifts": [{
            "StackId": stack_id(StackName), "LogicalResourceId": "Queue",
            "PhysicalResourceId": "orders", "ResourceType": "AWS::SQS::Queue",
            "StackResourceDriftStatus": "MODIFIED", "Timestamp": NOW,
            "PropertyDifferences": [{"PropertyPath": "/VisibilityTimeout",
                                     "ExpectedValue": "30", "ActualValue": "90",
                                     "DifferenceType": "NOT_EQUAL"}]}]}

    def let_the_slow_detection_finish(self) -> None:
        """From now on the slow detection ends after one more status read."""
        with self.lock:
            self.detections[self.running[SLOW]].reads_left = 1

    def time_left(self) -> float:
        """The first run's clock: plenty until two stacks are done, then none."""
        with self.lock:
            spent = self.done >= DONE_BEFORE_TIME_RUNS_OUT or \
                self.slow_reads > GIVE_UP_AFTER_READS
        return 0.0 if spent else 600.0


@dataclass
class Recorded:
    """The stack checker, recording the order and detection ids each run hands it."""

    inner: StackChecker
    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)

    def check_stacks(self, stacks: Sequence[str], *, known_detections: Mapping[str, str],
                     time_left: TimeLeft) -> StackCheck:
        self.calls.append((list(stacks), dict(known_detections)))
        return self.inner.check_stacks(stacks, known_detections=known_detections,
                                       time_left=time_left)


@pytest.fixture
def world(aws_env: None) -> Iterator[World]:
    with drift_world() as w:
        yield w


def pause(_: float) -> None:
    # A poll interval, shortened: yields to the other worker instead of waiting 5 s.
    time.sleep(0.001)


def run(world: World, cfn: FakeCloudFormation, time_left: TimeLeft) -> tuple[DriftReport,
                                                                              Recorded]:
    checker = Recorded(CloudFormationDrift(cast("CloudFormationClient", cfn), sleep=pause,
                                           max_workers=WORKERS))
    deps = DriftDeps(stacks=checker, state=DriftStateTable(TABLE, world.ddb))
    report = run_drift_check(DriftConfig(stacks=STACKS), deps, now=lambda: NOW,
                             time_left=time_left)
    return report, checker


def test_stacks_beyond_the_runs_time_carry_over_and_go_first_next_run(world: World) -> None:
    # GIVEN six stacks, two checked at a time, and a run with time for two of them
    cfn = FakeCloudFormation()

    # WHEN the first run checks them
    first, _ = run(world, cfn, cfn.time_left)

    # THEN two stacks were checked side by side with the slow one, never more at once
    assert [r.stack for r in first.stacks] == ["stack-2", DRIFTED]
    assert cfn.most_in_flight == WORKERS
    assert first.drift_keys == (f"stack:{DRIFTED}:Queue:MODIFIED:/VisibilityTimeout",)
    # AND the slow stack is carried over with its running detection, the rest unstarted
    [slow_detection] = [d for d, det in cfn.detections.items() if det.stack == SLOW]
    assert first.carried_over == (
        CarriedOver(SLOW, STILL_RUNNING, slow_detection),
        CarriedOver("stack-4", NOT_STARTED), CarriedOver("stack-5", NOT_STARTED),
        CarriedOver("stack-6", NOT_STARTED))
    state = DriftStateTable(TABLE, world.ddb).load_state()
    assert state is not None
    assert state.carried_over == (SLOW, "stack-4", "stack-5", "stack-6")
    assert dict(state.detections) == {SLOW: slow_detection}

    # WHEN the next run comes, with time enough, while the slow detection still runs
    cfn.let_the_slow_detection_finish()
    second, checker = run(world, cfn, lambda: 600.0)

    # THEN it takes the carried-over stacks first, told the slow one's detection id
    [(order, known)] = checker.calls
    assert order == [SLOW, "stack-4", "stack-5", "stack-6", "stack-2", DRIFTED]
    assert known == {SLOW: slow_detection}
    # AND it follows that detection instead of starting another
    [slow] = [r for r in second.stacks if r.stack == SLOW]
    assert (slow.detection_id, slow.reused_detection, slow.status) == \
        (slow_detection, True, "IN_SYNC")
    assert cfn.started.count(SLOW) == 1
    # AND every stack is now checked, nothing is carried over, and the drift stays the same
    assert sorted(r.stack for r in second.stacks) == sorted(STACKS)
    assert second.carried_over == ()
    assert second.drift_keys == first.drift_keys
    state = DriftStateTable(TABLE, world.ddb).load_state()
    assert state is not None
    assert (state.carried_over, dict(state.detections)) == ((), {})
