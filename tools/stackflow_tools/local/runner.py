"""Local mode, assembled: PostgreSQL + local AWS + the synthesized stack + releases.

:class:`LocalMode` starts the database, starts moto, recreates the CDK template's
resources (the state machine included, every function with its asset zip), puts the
migration files where the patcher reads them (the artifacts bucket, under its
``MIGRATIONS_PREFIX``), keeps each cluster snapshot's data as a dump in that bucket
(:mod:`.snapshots`, where the stage takes snapshots), publishes the example
application's asset as release ``1.0.0`` behind its alias, and runs releases through
the synthesized state machine with :meth:`LocalMode.release`. :meth:`LocalMode.attach`
does the same against a running ``stackflow local up`` from another shell, through the
state it wrote (:data:`UP_FILE`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
from stackflow import env
from stackflow.errors import ConfigurationError

from stackflow_tools.local import artifacts
from stackflow_tools.local.engine import LocalAws, LocalStack, create_stack, wait_for_execution
from stackflow_tools.local.postgres import (
    ensure_database,
    ensure_roles,
    local_server,
    recreate_database,
    secret_string,
)
from stackflow_tools.local.snapshots import TableDumps
from stackflow_tools.local.template import Template, find_state_machine_template
from stackflow_tools.local.traffic import Traffic, watches_errors
from stackflow_tools.release import package, wheels

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_HANDLER_PREFIX = "example_api.app."
# The example's second function (a worker over the same schema), when the template has it.
WORKER_HANDLER_PREFIX = "example_api.worker."
EXAMPLE_FUNCTION = "StackFlowAPI"
DEFAULT_ALIAS = "PROD"
INITIAL_RELEASE = "1.0.0"
UP_FILE = "up.json"
DRIFT_HANDLER_PREFIX = "drift_check."
LOCAL_REPLACED_VALUES = {
    # Stack drift needs CloudFormation's drift detection, which moto does not implement,
    # and local mode creates the resources without a stack: the drift check runs with no
    # stacks configured and the local report says they were not checked (never IN_SYNC).
    DRIFT_HANDLER_PREFIX: {env.DRIFT_STACKS: ""},
}


@dataclass(frozen=True)
class LocalOptions:
    """How local mode runs; every path is relative to the working directory."""

    cdk_out: Path = Path("cdk.out")
    workdir: Path = Path(".stackflow")
    database_url: str | None = None
    dbname: str = "stackflow"
    fresh_database: bool = False
    time_scale: float = 0.01
    server_port: int | None = None
    migrations_dir: Path = REPO_ROOT / "migrations"
    # Requests through the alias at the start of every Wait: with 10, a 10 % canary
    # serves exactly one of them (routing is deterministic locally), every check.
    requests_per_wait: int = 10
    # health.check_interval_seconds of the releases local mode starts (None: the
    # input's default, 30 s); tests not about detection check less often.
    check_interval_seconds: int | None = None


@dataclass(frozen=True)
class ReleaseResult:
    """How one release ended, read back from the execution and the local AWS."""

    release: str
    build: str
    execution_arn: str
    status: str
    error: str | None
    cause: str | None
    output: Mapping[str, Any]
    alias_version: str
    routing: Mapping[str, float]
    # A multi-function release: every other function's alias, (version, routing).
    others: Mapping[str, tuple[str, Mapping[str, float]]] = field(default_factory=dict)


class Clients(Protocol):
    """Where local mode's AWS clients come from (the local AWS, or an attached one)."""

    def client(self, service: str) -> Any: ...


@dataclass
class AttachedAws:
    """Clients for the local AWS another process (``stackflow local up``) serves."""

    endpoint: str
    region: str = "us-east-1"
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            # Dummy credentials: the local AWS accepts any, and no real account is reached.
            dummy = "local"
            self._clients[service] = boto3.client(  # type: ignore[call-overload]
                service, region_name=self.region, endpoint_url=self.endpoint,
                aws_access_key_id=dummy, aws_secret_access_key=dummy,
                aws_session_token=dummy)
        return self._clients[service]


@dataclass
class LocalMode:
    """A running local environment (a context manager)."""

    options: LocalOptions = field(default_factory=LocalOptions)
    aws: LocalAws | None = None
    stack: LocalStack | None = None
    traffic: Traffic | None = None
    database_url: str = ""
    function_name: str = EXAMPLE_FUNCTION
    alias: str = DEFAULT_ALIAS
    worker_name: str | None = None
    artifacts_bucket: str = ""
    state_machine_arn: str = ""
    target: wheels.Target | None = None
    attached: AttachedAws | None = None
    _exit: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def attach(cls, options: LocalOptions) -> LocalMode:
        """The local mode a running ``stackflow local up`` described in its workdir."""
        path = options.workdir / UP_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"no running `stackflow local up` found ({path} is "
                                     f"missing or unreadable); start one first") from e
        return cls(options=options, attached=AttachedAws(state["endpoint"], state["region"]),
                   database_url=state["database_url"], function_name=state["function_name"],
                   alias=state["alias"], artifacts_bucket=state["artifacts_bucket"],
                   state_machine_arn=state["state_machine_arn"],
                   target=wheels.lambda_target(state["python_version"], state["arch"]))

    def describe(self) -> dict[str, Any]:
        """What :meth:`attach` needs, as ``local up`` writes it to :data:`UP_FILE`."""
        target = self._target()
        return {"endpoint": self.local_aws.endpoint, "region": self.local_aws.region,
                "database_url": self.database_url, "function_name": self.function_name,
                "alias": self.alias, "artifacts_bucket": self.artifacts_bucket,
                "state_machine_arn": self.state_machine_arn, "deploy_table": self.table_name(),
                "python_version": target.python_version, "arch": target.arch}

    def __enter__(self) -> LocalMode:
        if self.attached is not None:
            return self
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    # --- start -----------------------------------------------------------------------
    def _start(self) -> None:
        opts = self.options
        logging.getLogger("moto").setLevel(logging.CRITICAL)  # engine tracebacks on Catch
        template = find_state_machine_template(opts.cdk_out)
        self.database_url = self._database()
        self.aws = self._exit.enter_context(LocalAws(
            time_scale=opts.time_scale, server_port=opts.server_port, workdir=opts.workdir))
        self.stack = create_stack(
            self.aws, template, replaced_values=LOCAL_REPLACED_VALUES,
            secret_string=secret_string(self.database_url),
            secret_strings=ensure_roles(self.database_url))
        self.state_machine_arn = self.stack.state_machine_arn
        self.artifacts_bucket = self._artifacts_bucket(template)
        self._store_snapshots()
        self.upload_migrations()
        self._install_example()
        # Traffic flows during every bake, whoever started the release (`local deploy`,
        # `pipeline start`, the AWS CLI against `local up`).
        self.traffic = Traffic(self.aws.client, requests_per_wait=opts.requests_per_wait,
                               target=(self.function_name, self.alias),
                               workers=((self.worker_name, self.alias),)
                               if self.worker_name else ())
        self.aws.wait_hooks.append(self.traffic.during_wait)

    def _database(self) -> str:
        """An existing database as given, else ``dbname`` on the embedded server."""
        opts = self.options
        if opts.database_url:
            return opts.database_url
        admin = self._exit.enter_context(local_server(opts.workdir))
        make_db = recreate_database if opts.fresh_database else ensure_database
        return make_db(admin, opts.dbname)

    def _artifacts_bucket(self, template: Template) -> str:
        stack = self._require_stack()
        for name in stack.functions.values():
            bucket = stack.env_value(name, env.ARTIFACTS_BUCKET)
            if bucket:
                return bucket
        buckets = template.of_type("AWS::S3::Bucket")
        if not buckets:
            raise ConfigurationError("the template has no artifacts bucket")
        return template.refs[next(iter(buckets))]

    def _store_snapshots(self) -> None:
        """Where the stage snapshots the cluster (a function is given ``DB_CLUSTER_ID``),
        each snapshot's data is a dump of its tables in the artifacts bucket."""
        stack = self._require_stack()
        clusters = {stack.env_value(name, env.DB_CLUSTER_ID) for name in stack.functions.values()}
        for cluster in sorted(c for c in clusters if c):
            self.local_aws.snapshot_hooks.append(TableDumps(
                database_url=self.database_url, bucket=self.artifacts_bucket,
                cluster=cluster, s3=self.local_aws.client("s3")))

    def upload_migrations(self) -> None:
        """Put migrations/ where each function reading MIGRATIONS_BUCKET looks for it.

        Called at start; call it again after changing a file to change the source the
        deployed functions read.
        """
        stack = self._require_stack()
        s3 = self.local_aws.client("s3")
        for name in stack.functions.values():
            bucket = stack.env_value(name, env.MIGRATIONS_BUCKET)
            if not bucket:
                continue
            prefix = stack.env_value(name, env.MIGRATIONS_PREFIX) or ""
            for path in sorted(self.options.migrations_dir.glob("*.sql")):
                s3.put_object(Bucket=bucket, Key=f"{prefix}{path.name}",
                              Body=path.read_bytes())

    def _install_example(self) -> None:
        """The example function's asset as release 1.0.0, published and behind its alias."""
        stack = self._require_stack()
        lambda_ = self.local_aws.client("lambda")
        self.function_name = stack.function_by_handler(EXAMPLE_HANDLER_PREFIX)
        existing = [alias for fn, alias in stack.aliases.values() if fn == self.function_name]
        if existing:
            self.alias = existing[0]
        else:
            version = lambda_.publish_version(FunctionName=self.function_name)["Version"]
            lambda_.create_alias(FunctionName=self.function_name, Name=self.alias,
                                 FunctionVersion=version)
        if not self.alarms():
            self._create_error_alarm()
        try:
            self.worker_name = stack.function_by_handler(WORKER_HANDLER_PREFIX)
        except ConfigurationError:
            self.worker_name = None  # a template without the example's worker

    def _create_error_alarm(self) -> None:
        self.local_aws.client("cloudwatch").put_metric_alarm(
            AlarmName=f"{self.function_name}-errors", Namespace="AWS/Lambda",
            MetricName="Errors", Statistic="Sum", Period=60, EvaluationPeriods=1,
            Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            Dimensions=[{"Name": "FunctionName", "Value": self.function_name},
                        {"Name": "Resource", "Value": f"{self.function_name}:{self.alias}"}])

    # --- accessors -------------------------------------------------------------------
    @property
    def local_aws(self) -> LocalAws:
        if self.aws is None:
            raise ConfigurationError("local mode is not started")
        return self.aws

    @property
    def clients(self) -> Clients:
        return self.attached if self.attached is not None else self.local_aws

    def _target(self) -> wheels.Target:
        """The runtime and CPU of the example function (what its builds are packaged for)."""
        if self.target is None:
            config = self.clients.client("lambda").get_function_configuration(
                FunctionName=self.function_name)
            version = str(config["Runtime"]).removeprefix("python")
            self.target = wheels.lambda_target(version, config.get("Architectures",
                                                                   ["x86_64"])[0])
        return self.target

    def _require_stack(self) -> LocalStack:
        if self.stack is None:
            raise ConfigurationError("local mode is not started")
        return self.stack

    def alarms(self, function_name: str | None = None) -> list[str]:
        """The alarms watching a function's errors (default the example API's)."""
        function_name = function_name or self.function_name
        seen = {"FunctionName": function_name,
                "Resource": f"{function_name}:{self.alias}"}
        described = self.clients.client("cloudwatch").describe_alarms()["MetricAlarms"]
        return [a["AlarmName"] for a in described if watches_errors(a, seen)]

    def table_name(self) -> str:
        stack = self._require_stack()
        for name in stack.functions.values():
            table = stack.env_value(name, env.DEPLOY_TABLE)
            if table:
                return table
        raise ConfigurationError(f"no function sets {env.DEPLOY_TABLE}")

    def alias_state(self, function_name: str | None = None) -> tuple[str, dict[str, float]]:
        raw = self.clients.client("lambda").get_alias(
            FunctionName=function_name or self.function_name, Name=self.alias)
        weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return raw["FunctionVersion"], {str(k): float(v) for k, v in weights.items()}

    # --- releases --------------------------------------------------------------------
    def deployment_input(self, artifact: artifacts.Artifact, *,
                         strategy: Mapping[str, Any] | None = None,
                         migrations: bool = True,
                         smoke: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The execution input CI would send for this artifact (events/deploy-execution)."""
        document = self.base_input(strategy=strategy, migrations=migrations, smoke=smoke)
        document["artifact"] = artifact.to_input()
        document["ci"] = {"commit": artifact.sha256[:12], "run_url": "local://stackflow"}
        return document

    def base_input(self, *, strategy: Mapping[str, Any] | None = None,
                   migrations: bool = True,
                   smoke: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything of the execution input but the artifact (``pipeline start --input``)."""
        return {
            "function_name": self.function_name,
            "alias": self.alias,
            "migrations": {"enabled": migrations, "target": None},
            "smoke": dict(smoke or {"cases": [health_case()]}),
            "strategy": dict(strategy or {"preset": "Canary10Percent5Minutes"}),
            "alarms": self.alarms(),
            "health": {"error_threshold": 0, "block_on_preexisting_alarm": False,
                       **self._check_interval()},
            "approval": {"required": False},
        }

    def _check_interval(self) -> dict[str, int]:
        interval = self.options.check_interval_seconds
        return {} if interval is None else {"check_interval_seconds": interval}

    def build(self, build: str, release: str) -> bytes:
        """The zip of one build of the example, packaged for the example's runtime."""
        base = artifacts.base_zip(self._target(), package.DIST_DIR).read_bytes()
        return artifacts.build_zip(artifacts.get_build(build), release, base)

    def upload(self, build: str, release: str,
               function_name: str | None = None) -> artifacts.Artifact:
        return artifacts.upload(self.clients.client("s3"), bucket=self.artifacts_bucket,
                                function_name=function_name or self.function_name,
                                build=artifacts.get_build(build),
                                release=release, data=self.build(build, release))

    def release_input(self, builds: Mapping[str, str], release: str, *,
                      strategy: Mapping[str, Any] | None = None,
                      migrations: bool = True) -> dict[str, Any]:
        """A multi-function execution input: each function's build uploaded as ``release``."""
        shared = self.base_input(strategy=strategy, migrations=migrations)
        targets = []
        for function_name, build in builds.items():
            artifact = self.upload(build, release, function_name)
            targets.append({"function_name": function_name, "alias": self.alias,
                            "artifact": artifact.to_input(),
                            "smoke": {"cases": [smoke_case_for(function_name, self)]},
                            "alarms": self.alarms(function_name)})
        return {"functions": targets, "migrations": shared["migrations"],
                "strategy": shared["strategy"], "health": shared["health"],
                "approval": shared["approval"],
                "ci": {"commit": release, "run_url": "local://stackflow"}}

    def start(self, document: Mapping[str, Any], name: str | None = None) -> str:
        """Start an execution of the synthesized state machine; return its ARN."""
        sfn = self.clients.client("stepfunctions")
        return str(sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name or f"local-{uuid.uuid4().hex[:12]}",
            input=json.dumps(document))["executionArn"])

    def wait(self, execution_arn: str, *,
             on_poll: Callable[[], None] | None = None) -> dict[str, Any]:
        """Until the execution ended and what its end set off (Reconcile) is done."""
        sfn = self.clients.client("stepfunctions")
        described = dict(wait_for_execution(sfn, execution_arn, on_poll=on_poll))
        if self.attached is None:
            self.local_aws.settle(execution_arn)
        return described

    def release(self, build: str, release: str, *, strategy: Mapping[str, Any] | None = None,
                migrations: bool = True, smoke: Mapping[str, Any] | None = None,
                name: str | None = None,
                on_poll: Callable[[], None] | None = None) -> ReleaseResult:
        """Upload ``build`` as ``release`` and run it through the state machine."""
        artifact = self.upload(build, release)
        document = self.deployment_input(artifact, strategy=strategy, migrations=migrations,
                                         smoke=smoke)
        execution_arn = self.start(document, name)
        described = self.wait(execution_arn, on_poll=on_poll)
        version, routing = self.alias_state()
        return ReleaseResult(
            release=release, build=build, execution_arn=execution_arn,
            status=str(described["status"]), error=described.get("error"),
            cause=described.get("cause"), output=json.loads(described.get("output") or "{}"),
            alias_version=version, routing=routing)

    def release_many(self, builds: Mapping[str, str], release: str, *,
                     strategy: Mapping[str, Any] | None = None, migrations: bool = True,
                     on_poll: Callable[[], None] | None = None) -> ReleaseResult:
        """One execution releasing each function's build (``{function: build}``)."""
        document = self.release_input(builds, release, strategy=strategy,
                                      migrations=migrations)
        execution_arn = self.start(document)
        described = self.wait(execution_arn, on_poll=on_poll)
        version, routing = self.alias_state()
        return ReleaseResult(
            release=release, build=builds.get(self.function_name, ""),
            execution_arn=execution_arn, status=str(described["status"]),
            error=described.get("error"), cause=described.get("cause"),
            output=json.loads(described.get("output") or "{}"),
            alias_version=version, routing=routing,
            others={fn: self.alias_state(fn) for fn in builds if fn != self.function_name})

    def history(self, execution_arn: str) -> Iterator[Mapping[str, Any]]:
        sfn = self.clients.client("stepfunctions")
        token: str | None = None
        while True:
            page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                             **({"nextToken": token} if token else {}))
            yield from page["events"]
            token = page.get("nextToken")
            if not token:
                return


def smoke_case_for(function_name: str, mode: LocalMode) -> dict[str, Any]:
    """The API's ``GET /health``; the worker's ``{"action": "health"}``."""
    if function_name != mode.worker_name:
        return health_case()
    return {"name": "worker-health", "payload": {"action": "health"},
            "expect": {"status_code": 200, "json_subset": {"body": {"status": "ok"}},
                       "max_latency_ms": 5000}}


def health_case() -> dict[str, Any]:
    """The smoke case every local release runs: ``GET /health`` answers 200 ok."""
    from stackflow_tools.local.traffic import http_event

    return {"name": "health", "payload": http_event("/health"),
            "expect": {"status_code": 200, "json_subset": {"body": {"status": "ok"}},
                       "max_latency_ms": 5000}}
