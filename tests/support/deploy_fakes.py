"""Test doubles and a moto world for the deploy steps.

The fakes implement the deploy ports (``Invoker``, time) and are type-checked like the
code they stand in for. ``MotoWorld`` builds the AWS side of one deployment in moto:
a versioned artifacts bucket, the deploy table, a function whose alias PROD points at
version 1, and an errors alarm. ``run_state_machine`` plays the deployment state
machine of docs/architecture.md over the real handlers, Wait states included (on the
fake clock), so a test reads like an execution. ``DeploySteps`` holds those handlers,
each built by ``deploy_steps.handler.step_handler`` over the test's dependencies.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from deploy_steps import handler
from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow.adapters.dynamodb import DynamoDeployStore
from stackflow.adapters.lambda_ import LambdaFunctions
from stackflow.adapters.s3 import get_object_bytes
from stackflow.deploy.deps import DeploySettings, Deps
from stackflow.deploy.policy import SafetyPolicy
from stackflow.deploy.ports import (
    AlarmsPort,
    AlarmState,
    AliasInfo,
    ApprovalToken,
    DeployStore,
    ExecutionsPort,
    FunctionConfig,
    FunctionsPort,
    InvokeResult,
    LockState,
)
from stackflow.deploy.steps import STEP_NAMES
from stackflow.errors import AwsCallFailed, RevisionConflict, StackFlowError
from stackflow.handlers import Handler

from tests.support.deploy_table import create_deploy_table

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

FUNCTION = "StackFlowAPI"
ALIAS = "PROD"
BUCKET = "stackflow-artifacts-test"
TABLE = "stackflow-deployments"
ALARM = "StackFlowAPI-errors"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:StackFlowDeploy:release-1"


@dataclass
class FakeContext:
    """The Lambda context attributes Powertools and the handlers read."""

    function_name: str = "StackFlowDeploySteps"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:StackFlowDeploySteps")
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class FakeClock:
    """Wall clock, monotonic clock and sleep in one: sleeping moves both forward."""

    current: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    ticks: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.ticks

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.ticks += seconds


@dataclass
class ScriptedInvoker:
    """Answers each invocation by the case's ``payload["case"]``; records every call."""

    responses: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    clock: FakeClock | None = None
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def __call__(self, function_name: str, qualifier: str, payload: bytes, *,
                 timeout_seconds: float) -> InvokeResult:
        event = json.loads(payload)
        self.calls.append((function_name, qualifier, event))
        self.timeouts.append(timeout_seconds)
        name = str(event.get("case", "")) if isinstance(event, dict) else ""
        latency = self.latency_ms.get(name, 5.0) / 1000
        if latency > timeout_seconds:
            # No answer within the caller's timeout: it gives up after that long.
            if self.clock is not None:
                self.clock.advance(timeout_seconds)
            return InvokeResult(status_code=0, payload=b"", timed_out=True)
        body, error = self.responses.get(name, ({"statusCode": 200, "body": '{"status": "ok"}'},
                                                None))
        if self.clock is not None:
            self.clock.advance(latency)
        return InvokeResult(status_code=200, payload=json.dumps(body).encode(),
                            function_error=error, executed_version=qualifier)


@dataclass
class InMemoryStore:
    """A ``DeployStore`` in memory that logs every call (to prove which steps write)."""

    locks: dict[tuple[str, str], LockState] = field(default_factory=dict)
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    approvals: dict[str, ApprovalToken] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def acquire_lock(self, function_name: str, alias: str, lock: LockState,
                     *, now_epoch: int) -> LockState | None:
        self.calls.append("acquire_lock")
        held = self.locks.get((function_name, alias))
        if held is not None and held.holder != lock.holder and held.ttl >= now_epoch:
            return held
        self.locks[(function_name, alias)] = lock
        return None

    def take_over_lock(self, function_name: str, alias: str, lock: LockState,
                       *, from_holder: str) -> bool:
        self.calls.append("take_over_lock")
        held = self.locks.get((function_name, alias))
        if held is None or held.holder != from_holder:
            return False
        self.locks[(function_name, alias)] = lock
        return True

    def get_lock(self, function_name: str, alias: str) -> LockState | None:
        self.calls.append("get_lock")
        return self.locks.get((function_name, alias))

    def release_lock(self, function_name: str, alias: str, holder: str) -> bool:
        self.calls.append("release_lock")
        held = self.locks.get((function_name, alias))
        if held is None or held.holder != holder:
            return False
        del self.locks[(function_name, alias)]
        return True

    def update_record(self, function_name: str, execution_id: str,
                      fields: Mapping[str, Any]) -> None:
        self.calls.append("update_record")
        self.records.setdefault((function_name, execution_id), {}).update(fields)

    def append_step(self, function_name: str, execution_id: str, step: Mapping[str, Any],
                    *, key: str | None) -> bool:
        self.calls.append("append_step")
        item = self.records.setdefault((function_name, execution_id), {})
        keys = item.setdefault("_keys", set())
        if key is not None and key in keys:
            return False
        if key is not None:
            keys.add(key)
        item.setdefault("steps", []).append(dict(step))
        return True

    def append_intervention(self, function_name: str, execution_id: str,
                            entry: Mapping[str, Any]) -> bool:
        self.calls.append("append_intervention")
        item = self.records.get((function_name, execution_id))
        if item is None:
            return False
        item.setdefault("interventions", []).append(dict(entry))
        return True

    def get_record(self, function_name: str, execution_id: str) -> dict[str, Any] | None:
        self.calls.append("get_record")
        item = self.records.get((function_name, execution_id))
        return None if item is None else {k: v for k, v in item.items() if k != "_keys"}

    def list_records(self, function_name: str) -> list[dict[str, Any]]:
        self.calls.append("list_records")
        return [{k: v for k, v in item.items() if k != "_keys"}
                for (fn, _), item in self.records.items() if fn == function_name]

    def update_release(self, execution_id: str, fields: Mapping[str, Any]) -> None:
        self.calls.append("update_release")
        self.releases.setdefault(execution_id, {}).update(fields)

    def get_release(self, execution_id: str) -> dict[str, Any] | None:
        self.calls.append("get_release")
        item = self.releases.get(execution_id)
        return None if item is None else dict(item)

    def releases_named(self, execution_name: str) -> list[dict[str, Any]]:
        self.calls.append("releases_named")
        return [dict(item) for execution_id, item in self.releases.items()
                if execution_id.rsplit(":", 1)[-1] == execution_name]

    def append_release_intervention(self, execution_id: str,
                                    entry: Mapping[str, Any]) -> bool:
        self.calls.append("append_release_intervention")
        item = self.releases.get(execution_id)
        if item is None:
            return False
        item.setdefault("interventions", []).append(dict(entry))
        return True

    def put_approval(self, approval: ApprovalToken) -> None:
        self.calls.append("put_approval")
        self.approvals[approval.execution_id] = approval


# Type-checked against the port, so the fake cannot drift from it.
_store: type[DeployStore] = InMemoryStore


class AliasOnlyFunctions:
    """The code side of ``FunctionsPort`` for fakes that only read and write aliases."""

    def get_configuration(self, function_name: str,
                          qualifier: str | None = None) -> FunctionConfig:
        raise AssertionError("not used by these tests")

    def update_code(self, function_name: str, *, bucket: str, key: str,
                    object_version: str | None) -> FunctionConfig:
        raise AssertionError("not used by these tests")

    def publish_version(self, function_name: str, *, code_sha256: str,
                        revision_id: str | None, description: str) -> FunctionConfig:
        raise AssertionError("not used by these tests")

    def latest_published_version(self, function_name: str) -> FunctionConfig | None:
        raise AssertionError("not used by these tests")


@dataclass
class FakeFunctions(AliasOnlyFunctions):
    """The alias side of ``FunctionsPort`` in memory, with Lambda's RevisionId rules:
    every write issues a new revision, and a write naming another one is refused."""

    alias: AliasInfo = field(default_factory=lambda: AliasInfo("PROD", "1", {}, "rev-0"))
    writes: list[AliasInfo] = field(default_factory=list)

    def get_alias(self, function_name: str, alias: str) -> AliasInfo:
        return self.alias

    def update_alias(self, function_name: str, alias: str, *, version: str,
                     weights: Mapping[str, float], revision_id: str | None) -> AliasInfo:
        if revision_id is not None and revision_id != self.alias.revision_id:
            raise RevisionConflict("The Revision Id provided does not match")
        return self.set(version, dict(weights))

    def set(self, version: str, routing: dict[str, float]) -> AliasInfo:
        """Write the alias (as anyone would): a new RevisionId."""
        self.alias = AliasInfo("PROD", version, routing, f"rev-{len(self.writes) + 1}")
        self.writes.append(self.alias)
        return self.alias


@dataclass
class FakeAlarms:
    """``AlarmsPort``: alarms in a dict, the new version's errors as one number."""

    states: dict[str, AlarmState] = field(default_factory=dict)
    errors: float = 0.0

    def alarm_states(self, names: Sequence[str]) -> Mapping[str, AlarmState]:
        return {name: self.states[name] for name in names if name in self.states}

    def error_sum(self, function_name: str, alias: str, version: str, *,
                  start: datetime, end: datetime) -> float:
        return self.errors


@dataclass
class FakeExecutions:
    """``ExecutionsPort``: statuses by ARN; an ARN in ``unreadable`` cannot be looked up."""

    statuses: dict[str, str] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)

    def status(self, execution_arn: str) -> str | None:
        if execution_arn in self.unreadable:
            raise AwsCallFailed(f"DescribeExecution {execution_arn}: AccessDenied")
        return self.statuses.get(execution_arn)


_functions: type[FunctionsPort] = FakeFunctions
_alarms: type[AlarmsPort] = FakeAlarms
_executions: type[ExecutionsPort] = FakeExecutions


def fake_deps(*, functions: FakeFunctions | None = None, alarms: FakeAlarms | None = None,
              executions: FakeExecutions | None = None, store: InMemoryStore | None = None,
              clock: FakeClock | None = None, policy: SafetyPolicy | None = None,
              time_left: Callable[[], float] | None = None,
              invoker: ScriptedInvoker | None = None) -> Deps:
    """Deps over in-memory fakes only (no moto): for the pure flows of the core."""
    clock = clock or FakeClock()

    def no_objects(bucket: str, key: str, version: str | None) -> bytes:
        raise AssertionError(f"unexpected read of s3://{bucket}/{key}")

    extra: dict[str, Any] = {} if time_left is None else {"time_left": time_left}
    return Deps(settings=DeploySettings(table=TABLE, policy=policy or SafetyPolicy()),
                functions=functions or FakeFunctions(),
                invoker=invoker or ScriptedInvoker(clock=clock),
                store=store or InMemoryStore(), alarms=alarms or FakeAlarms(),
                read_object=no_objects, now=clock.now, monotonic=clock.monotonic,
                sleep=clock.sleep, executions=executions or FakeExecutions(), **extra)


def offline_deps(policy: SafetyPolicy | None = None) -> Deps:
    """Deps for a step that makes no AWS call (Validate): lazy adapters, never built."""
    def no_objects(bucket: str, key: str, version: str | None) -> bytes:
        raise AssertionError(f"unexpected read of s3://{bucket}/{key}")

    return Deps(settings=DeploySettings(table=TABLE, policy=policy or SafetyPolicy()),
                functions=LambdaFunctions(), invoker=ScriptedInvoker(),
                store=InMemoryStore(), alarms=CloudWatchAlarms(), read_object=no_objects)


def zip_bytes(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("app.py", date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(info, source)
    return buffer.getvalue()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class DeploySteps:
    """The deploy step handlers as Lambda runs them (the same wrapper), over ``deps``."""

    deps: Deps

    def __getattr__(self, step: str) -> Handler:
        if step not in STEP_NAMES:
            raise AttributeError(step)
        return handler.step_handler(step, lambda: self.deps)


@dataclass
class MotoWorld:
    """The AWS side of a deployment, in moto (call inside ``mock_aws``)."""

    lam: LambdaClient
    s3: S3Client
    ddb: DynamoDBClient
    cw: CloudWatchClient
    clock: FakeClock
    invoker: ScriptedInvoker

    @classmethod
    def create(cls) -> MotoWorld:
        import boto3

        clock = FakeClock()
        world = cls(lam=boto3.client("lambda"), s3=boto3.client("s3"),
                    ddb=boto3.client("dynamodb"), cw=boto3.client("cloudwatch"),
                    clock=clock, invoker=ScriptedInvoker(clock=clock))
        world._setup()
        return world

    def _setup(self) -> None:
        import boto3

        role = boto3.client("iam").create_role(
            RoleName="stackflow-api", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_versioning(Bucket=BUCKET,
                                      VersioningConfiguration={"Status": "Enabled"})
        create_deploy_table(self.ddb, TABLE)
        self.lam.create_function(FunctionName=FUNCTION, Runtime="python3.11", Role=role,
                                 Handler="app.handler", Code={"ZipFile": zip_bytes("v1")})
        self.lam.publish_version(FunctionName=FUNCTION)
        self.lam.create_alias(FunctionName=FUNCTION, Name=ALIAS, FunctionVersion="1")
        self.cw.put_metric_alarm(
            AlarmName=ALARM, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
            Dimensions=[{"Name": "FunctionName", "Value": FUNCTION},
                        {"Name": "Resource", "Value": f"{FUNCTION}:{ALIAS}"}],
            Period=60, EvaluationPeriods=1, Threshold=0,
            ComparisonOperator="GreaterThanThreshold")

    def put_artifact(self, source: str, key: str = "StackFlowAPI/release.zip") -> dict[str, Any]:
        """Upload a build the way CI does; return the execution input's ``artifact``."""
        body = zip_bytes(source)
        version = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
        return {"bucket": BUCKET, "key": key, "version_id": version, "sha256": sha256_b64(body)}

    def deps(self, **overrides: Any) -> Deps:
        values: dict[str, Any] = {
            "settings": DeploySettings(table=TABLE, lock_ttl_seconds=900,
                                       patcher_function="StackFlowPatcher"),
            "functions": LambdaFunctions(self.lam),
            "invoker": self.invoker,
            "store": DynamoDeployStore(TABLE, self.ddb),
            "alarms": CloudWatchAlarms(self.cw),
            "read_object": lambda bucket, key, version: get_object_bytes(
                bucket, key, version, client=self.s3),
            "now": self.clock.now, "monotonic": self.clock.monotonic, "sleep": self.clock.sleep,
        }
        values.update(overrides)
        return Deps(**values)

    @cached_property
    def steps(self) -> DeploySteps:
        """The step handlers over this world's dependencies (one set, as one process has)."""
        return DeploySteps(self.deps())

    def alias(self) -> tuple[str, dict[str, float]]:
        raw = self.lam.get_alias(FunctionName=FUNCTION, Name=ALIAS)
        weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return raw["FunctionVersion"], dict(weights)

    def set_alarm(self, state: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]) -> None:
        self.cw.set_alarm_state(AlarmName=ALARM, StateValue=state, StateReason="test")

    def put_errors(self, version: str, count: float, *, ago_seconds: float = 30) -> None:
        """Errors of ``version`` through the alias, ``ago_seconds`` ago (during the bake)."""
        self.cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
            "MetricName": "Errors", "Value": count,
            "Timestamp": self.clock.now() - timedelta(seconds=ago_seconds),
            "Dimensions": [{"Name": "FunctionName", "Value": FUNCTION},
                           {"Name": "Resource", "Value": f"{FUNCTION}:{ALIAS}"},
                           {"Name": "ExecutedVersion", "Value": version}]}])

    def calls(self) -> AwsCallLog:
        """A log of every call made from now on through this world's clients."""
        return AwsCallLog.on(self.lam, self.s3, self.ddb, self.cw)

    def lock_item(self) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.ddb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"LOCK#{FUNCTION}#{ALIAS}"},
                                  "sk": {"S": "LOCK"}}, ConsistentRead=True).get("Item")
        return item

    def record(self, execution_id: str = EXECUTION) -> dict[str, Any]:
        found = DynamoDeployStore(TABLE, self.ddb).get_record(FUNCTION, execution_id)
        assert found is not None, f"no deployment record for {execution_id}"
        return found


@contextmanager
def atomic_item_writes() -> Iterator[None]:
    """Make moto's DynamoDB writes atomic per call, as DynamoDB's conditional writes are.

    moto checks a ``ConditionExpression`` and then writes with nothing in between to stop
    another thread; DynamoDB never lets two conditional writes of one item interleave.
    Only moto's write calls are serialized: the code under test, its reads and its
    read-then-write sequences stay fully concurrent.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    names = ("put_item", "update_item", "delete_item")
    originals = {name: getattr(DynamoDBBackend, name) for name in names}

    def atomic(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)
        return write

    for name in names:
        setattr(DynamoDBBackend, name, atomic(originals[name]))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


# Operations that change nothing; every other AWS call is a write.
READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "Head")


@dataclass
class AwsCallLog:
    """Every AWS call made through some clients, as ``service:Operation``, in order.

    Hooked on botocore's ``before-call`` event, so it sees each call a step makes,
    whatever adapter makes it.
    """

    calls: list[str] = field(default_factory=list)

    @classmethod
    def on(cls, *clients: Any) -> AwsCallLog:
        log = cls()
        for client in clients:
            client.meta.events.register("before-call", log.record)
        return log

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}:{model.name}")

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.split(":", 1)[1].startswith(READ_PREFIXES)]

    def clear(self) -> None:
        self.calls.clear()


def execution_input(artifact: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An execution input like CI's, without migrations (no patcher in these tests)."""
    document: dict[str, Any] = {
        "function_name": FUNCTION, "alias": ALIAS, "artifact": artifact,
        "migrations": {"enabled": False, "target": None},
        "smoke": {"cases": [{"name": "health", "payload": {"case": "health"},
                             "expect": {"status_code": 200,
                                        "json_subset": {"body": {"status": "ok"}}}}]},
        "strategy": {"preset": "Canary10Percent5Minutes"},
        "alarms": [ALARM],
        "health": {"error_threshold": 0, "block_on_preexisting_alarm": False},
        "approval": {"required": False},
        "ci": {"commit": "abc123", "run_url": "https://ci.example/runs/1"},
    }
    document.update(fields)
    return document


BakeHook = Callable[[dict[str, Any]], None]


@dataclass
class Execution:
    """What a simulated execution did: the final document and the states it visited."""

    document: dict[str, Any]
    states: list[str]
    error: StackFlowError | None = None

    @property
    def weights(self) -> list[float]:
        return [float(s.split("@")[1]) for s in self.states if s.startswith("Shift@")]


def run_state_machine(execution_input_: dict[str, Any], world: MotoWorld, *,
                      execution_id: str = EXECUTION,
                      on_bake: BakeHook | None = None) -> Execution:
    """Play the deployment state machine over the handlers, as Step Functions would."""
    doc: dict[str, Any] = {"input": execution_input_, "execution_id": execution_id}
    run, steps, ctx = Execution(doc, []), world.steps, FakeContext()
    doc["input"] = steps.validate(doc, ctx)
    doc["lock"] = steps.lock(doc, ctx)
    run.states.append("Lock")
    try:
        for state in _forward(doc, world, on_bake):
            run.states.append(state)
    except StackFlowError as e:
        run.error = e
        doc["error"] = {"Error": e.error_type,
                        "Cause": json.dumps({"errorType": e.error_type, "errorMessage": e.message})}
        doc["rollback"] = steps.rollback(doc, ctx)
        doc["record"] = steps.record(doc, ctx)
        doc["unlock"] = steps.unlock(doc, ctx)
        run.states += ["Rollback", "RecordFailure", "Unlock", "Fail"]
    return run


def _forward(doc: dict[str, Any], world: MotoWorld,
             on_bake: BakeHook | None) -> Iterator[str]:
    steps, ctx = world.steps, FakeContext()
    doc["upload"] = steps.upload(doc, ctx)
    yield "Upload"
    doc["publish"] = steps.publish(doc, ctx)
    yield "Publish"
    doc["smoke"] = steps.smoke(doc, ctx)
    yield "Smoke"
    while True:
        doc["shift"] = steps.shift(doc, ctx)
        yield f"Shift@{doc['shift']['weight']}"
        if doc["shift"]["done"]:
            break
        # The bake: Wait (Bake) -> HealthCheck, until a check says the bake is done.
        while True:
            world.clock.advance(doc["shift"]["check_seconds"])  # the Bake Wait state
            if on_bake is not None:
                on_bake(doc)
            doc["health"] = steps.health(doc, ctx)
            yield "HealthCheck"
            if doc["health"]["bake_done"]:
                break
    doc["promote"] = steps.promote(doc, ctx)
    yield "Promote"
    doc["record"] = steps.record(doc, ctx)
    yield "Record"
    doc["unlock"] = steps.unlock(doc, ctx)
    yield "Unlock"
