"""CloudFormation stack drift: DetectStackDrift, poll, DescribeStackResourceDrifts.

CloudFormation runs one drift detection per stack at a time. When ``DetectStackDrift``
is refused because one is running, the detection id this checker started on an
earlier run (kept in the drift state) is looked up and followed instead of starting a
new one. A detection started elsewhere (an operator's console click) has no id we can
learn, so the checker retries ``DetectStackDrift`` until that one ends.

Stacks are checked concurrently within the time the caller grants (``time_left``);
stacks not started or not finished in time are carried over to the next run, with the
id of their still-running detection so the next run reuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.drift.model import (
    STACK_FAILED,
    CarriedOver,
    PropertyDifference,
    ResourceDrift,
    StackCheck,
    StackResult,
)
from stackflow.errors import AwsThrottled, StackFlowError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import (
        DescribeStackDriftDetectionStatusOutputTypeDef,
        StackResourceDriftTypeDef,
    )

TimeLeft = Callable[[], float]
Outcome = StackResult | CarriedOver

IN_PROGRESS = "DETECTION_IN_PROGRESS"
COMPLETE = "DETECTION_COMPLETE"
DRIFT_FILTERS: list[Any] = ["MODIFIED", "DELETED"]
_BUSY_MESSAGE = "drift detection is already in progress"


class DetectionBusy(Exception):
    """DetectStackDrift refused: a detection of this stack is already running."""


class CloudFormationDrift:
    """Implements ``drift.ports.StackChecker`` over the CloudFormation API."""

    def __init__(self, client: CloudFormationClient | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, poll_seconds: float = 5.0,
                 max_workers: int = 4, min_start_seconds: float = 30.0) -> None:
        self._client = client
        self._sleep = sleep
        self.poll_seconds = poll_seconds
        self.max_workers = max_workers
        # Starting a detection with less time than this left would only carry it over.
        self.min_start_seconds = min_start_seconds

    @property
    def client(self) -> CloudFormationClient:
        if self._client is None:
            self._client = default_client("cloudformation")
        return self._client

    def check_stacks(self, stacks: Sequence[str], *, known_detections: Mapping[str, str],
                     time_left: TimeLeft) -> StackCheck:
        """Check ``stacks`` concurrently; results and carry-overs in input order."""
        if not stacks:
            return StackCheck()
        workers = max(1, min(self.max_workers, len(stacks)))
        _ = self.client  # built once here, not raced for by the worker threads
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
            outcomes = list(pool.map(
                lambda s: self.check_stack(s, known_detections.get(s), time_left), stacks))
        return StackCheck(
            results=tuple(o for o in outcomes if isinstance(o, StackResult)),
            carried_over=tuple(o for o in outcomes if isinstance(o, CarriedOver)))

    def check_stack(self, stack: str, known_detection: str | None,
                    time_left: TimeLeft) -> Outcome:
        """One stack, start to finish; AWS errors become a FAILED result, throttling and
        lack of time a carry-over."""
        if time_left() < self.min_start_seconds:
            return CarriedOver(stack, "not started: the run's time budget is used up")
        try:
            return self._check(stack, known_detection, time_left)
        except AwsThrottled as e:
            return CarriedOver(stack, f"throttled: {e.message}")
        except StackFlowError as e:
            return StackResult(stack, STACK_FAILED, reason=e.message)

    def _check(self, stack: str, known: str | None, time_left: TimeLeft) -> Outcome:
        started = self.start_or_reuse(stack, known, time_left)
        if isinstance(started, CarriedOver):
            return started
        detection_id, reused = started
        status = self.wait(detection_id, time_left)
        if status is None:
            return CarriedOver(stack, "detection still running when the run's time ran out",
                               detection_id)
        return self._result(stack, detection_id, reused, status)

    def start_or_reuse(self, stack: str, known: str | None,
                       time_left: TimeLeft) -> tuple[str, bool] | CarriedOver:
        """(detection id, reused?) or a carry-over when a foreign detection outlasts us."""
        while True:
            try:
                return self.detect(stack), False
            except DetectionBusy:
                if known is not None and self.is_running_for(known, stack):
                    return known, True
            if time_left() < self.poll_seconds + self.min_start_seconds:
                return CarriedOver(stack, "a drift detection started elsewhere is running")
            self._sleep(self.poll_seconds)

    def detect(self, stack: str) -> str:
        try:
            return self.client.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
        except _aws_errors() as e:
            if _BUSY_MESSAGE in str(e).lower():
                raise DetectionBusy(stack) from e
            raise aws_error(e, f"DetectStackDrift {stack}") from e

    def is_running_for(self, detection_id: str, stack: str) -> bool:
        """True when ``detection_id`` is this stack's detection and still running."""
        status = self.status(detection_id)
        return _names_stack(status.get("StackId", ""), stack) and \
            status["DetectionStatus"] == IN_PROGRESS

    def status(self, detection_id: str) -> DescribeStackDriftDetectionStatusOutputTypeDef:
        try:
            return self.client.describe_stack_drift_detection_status(
                StackDriftDetectionId=detection_id)
        except _aws_errors() as e:
            raise aws_error(e, f"DescribeStackDriftDetectionStatus {detection_id}") from e

    def wait(self, detection_id: str,
             time_left: TimeLeft) -> DescribeStackDriftDetectionStatusOutputTypeDef | None:
        """Poll until the detection ends; None when time runs out first."""
        while True:
            status = self.status(detection_id)
            if status["DetectionStatus"] != IN_PROGRESS:
                return status
            if time_left() < self.poll_seconds:
                return None
            self._sleep(self.poll_seconds)

    def resource_drifts(self, stack: str) -> list[ResourceDrift]:
        """MODIFIED and DELETED resources of the stack's latest detection."""
        drifts: list[ResourceDrift] = []
        token: str | None = None
        while True:
            page = self._drift_page(stack, token)
            drifts += [_resource(d) for d in page["StackResourceDrifts"]]
            token = page.get("NextToken")
            if not token:
                return drifts

    def _drift_page(self, stack: str, token: str | None) -> Any:
        kwargs: dict[str, Any] = {"StackName": stack,
                                  "StackResourceDriftStatusFilters": DRIFT_FILTERS}
        if token:
            kwargs["NextToken"] = token
        try:
            return self.client.describe_stack_resource_drifts(**kwargs)
        except _aws_errors() as e:
            raise aws_error(e, f"DescribeStackResourceDrifts {stack}") from e

    def _result(self, stack: str, detection_id: str, reused: bool,
                status: DescribeStackDriftDetectionStatusOutputTypeDef) -> StackResult:
        drift_status = status.get("StackDriftStatus", "UNKNOWN")
        failed = status["DetectionStatus"] != COMPLETE
        # A failed detection may still have found drift before failing: list it too.
        resources = self.resource_drifts(stack) if failed or drift_status == "DRIFTED" else []
        return StackResult(
            stack=stack, status=STACK_FAILED if failed else drift_status,
            detection_id=detection_id, resources=tuple(resources), reused_detection=reused,
            reason=status.get("DetectionStatusReason", "") if failed else "")


def _resource(d: StackResourceDriftTypeDef) -> ResourceDrift:
    return ResourceDrift(
        logical_id=d["LogicalResourceId"], physical_id=d.get("PhysicalResourceId", ""),
        resource_type=d["ResourceType"], status=d["StackResourceDriftStatus"],
        differences=tuple(PropertyDifference(
            path=p["PropertyPath"], expected=p["ExpectedValue"], actual=p["ActualValue"],
            difference_type=p["DifferenceType"]) for p in d.get("PropertyDifferences", [])))


def _names_stack(stack_id: str, stack: str) -> bool:
    # StackId is arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>; the
    # configured stack may be given by name or by that ARN.
    return stack_id == stack or f":stack/{stack}/" in stack_id


def _aws_errors() -> tuple[type[Exception], ...]:
    # Imported on first failure, not at module import: the handler's cold start stays light.
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)
