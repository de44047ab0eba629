"""The local AWS: moto on loopback with real executions and real Lambda invocations.

:class:`LocalAws` serves moto on a loopback port (so every client, in this process or
another, sees one AWS), applies local mode's patches (:mod:`.patches`: ``Invoke`` runs
the version's code in a warm worker, alias revisions, task-failure causes, scaled waits)
and runs the synthesized definition on moto's Step Functions engine. A ``Wait`` state of
N seconds waits ``N * time_scale`` seconds; wait hooks run at the start of every
``Wait`` state, which is how a bake receives synthetic traffic (:mod:`.traffic`).

:func:`create_stack` recreates a synthesized template's functions (with their asset
zips as code), tables, buckets, topics, secrets, alarms and state machine in moto and
resolves the definition's references to them; the database stack's Aurora cluster,
when the template refers to it (the Snapshot step's ``DB_CLUSTER_ID``), is a moto cluster
whose snapshots the snapshot hooks store (:mod:`.snapshots`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from stackflow.errors import ConfigurationError

from stackflow_tools.local import patches
from stackflow_tools.local.lambda_service import LocalLambdaService
from stackflow_tools.local.template import (
    FUNCTION_TYPE,
    STATE_MACHINE_TYPE,
    Template,
    state_machine_definition,
)
from stackflow_tools.local.timeline import WaitSpan, nominal_between
from stackflow_tools.local.workers import CodeStore, Platform, WorkerPool, XrayDaemonSink
from stackflow_tools.release.package import REPO_ROOT, WHEEL_CACHE

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

WaitHook = Callable[[float], None]
# (cluster, snapshot identifier, tags): stores a cluster snapshot's data (patches.py).
SnapshotHook = Callable[[str, str, Mapping[str, str]], None]
CLUSTER_TYPE = "AWS::RDS::DBCluster"
LOCAL_ROLE = "stackflow-local-role"
LAMBDA_CACHE = REPO_ROOT / ".stackflow" / "lambda"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class LocalAws:
    """moto on loopback, Step Functions execution, Lambda workers and scaled waits."""

    time_scale: float = 1.0
    region: str = "us-east-1"
    server_port: int | None = None
    workdir: Path = Path(".stackflow")
    # Unpacked packages and runtime clients, by content: shared by every local session.
    code_cache: Path = LAMBDA_CACHE
    wait_hooks: list[WaitHook] = field(default_factory=list)
    snapshot_hooks: list[SnapshotHook] = field(default_factory=list)
    announce: Callable[[str], None] = _stderr
    lambda_: LocalLambdaService | None = None
    # What happened, in real time (time.time()): every Wait's span with its nominal
    # length, every alias change, every execution status event sent to EventBridge.
    waits: list[WaitSpan] = field(default_factory=list)
    alias_changes: list[AliasChange] = field(default_factory=list)
    status_events: list[dict[str, Any]] = field(default_factory=list)
    _stack: ExitStack = field(default_factory=ExitStack)
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> LocalAws:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        patches.check_moto_version()
        self.server_port = self.server_port or free_port()
        self._stack.enter_context(_aws_environment(self.region, self.server_port))
        sink = XrayDaemonSink()
        self._stack.callback(sink.close)
        platform = Platform(region=self.region, endpoint=self.endpoint,
                            log_dir=self.workdir / "logs", xray_address=sink.address)
        pool = WorkerPool(CodeStore(self.code_cache, WHEEL_CACHE, self.announce),
                          platform)
        self._stack.callback(pool.close)
        self.lambda_ = LocalLambdaService(pool, time_scale=self.time_scale)
        self._stack.enter_context(patches.all_patches(
            self.lambda_.answer, time_scale=self.time_scale, on_wait=self.on_wait,
            on_waited=lambda nominal, start, end: self.waits.append(
                WaitSpan(start, end, nominal)),
            on_alias=lambda *change: self.alias_changes.append(
                AliasChange(time.time(), *change)),
            on_status_event=self.status_events.append,
            invoke_event=self.lambda_.invoke_event,
            on_snapshot=self.on_cluster_snapshot))
        self._stack.enter_context(_moto_server(self.server_port))
        self.client("iam").create_role(
            RoleName=LOCAL_ROLE, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def invoker(self) -> LocalLambdaService:
        if self.lambda_ is None:
            raise ConfigurationError("local AWS is not started")
        return self.lambda_

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::123456789012:role/{LOCAL_ROLE}"

    def client(self, service: str) -> Any:
        """A boto3 client for the local AWS, built once per service and shared."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(  # type: ignore[call-overload]
                    service, region_name=self.region, endpoint_url=self.endpoint)
            return self._clients[service]

    def on_wait(self, nominal_seconds: float) -> None:
        for hook in list(self.wait_hooks):
            hook(nominal_seconds)

    def on_cluster_snapshot(self, cluster: str, snapshot_id: str,
                            tags: Mapping[str, str]) -> None:
        for hook in list(self.snapshot_hooks):
            hook(cluster, snapshot_id, tags)

    def settle(self, execution_arn: str, timeout: float = 60) -> None:
        """Wait until the execution's final status event went out and every Lambda it
        invoked asynchronously (Reconcile) finished, as EventBridge would by now."""
        deadline = time.monotonic() + timeout
        while not any(e["detail"]["executionArn"] == execution_arn
                      and e["detail"]["status"] in TERMINAL for e in list(self.status_events)):
            if time.monotonic() > deadline:
                raise ConfigurationError(f"no final status event for {execution_arn}")
            time.sleep(0.01)
        if not self.invoker.settle(max(0.0, deadline - time.monotonic())):
            raise ConfigurationError(f"asynchronous invocations after {execution_arn} "
                                     f"still running after {timeout:.0f} s")

    def nominal_seconds(self, start: float, end: float) -> float:
        """Real moments ``start`` .. ``end`` as seconds of AWS time (see :mod:`.timeline`)."""
        return nominal_between(self.waits, start, end)


@dataclass(frozen=True)
class AliasChange:
    """An ``UpdateAlias`` as moto applied it."""

    at: float
    function_name: str
    alias: str
    version: str
    routing: Mapping[str, float]
    revision_id: str


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _aws_environment(region: str, server_port: int) -> Iterator[None]:
    # Fake credentials so nothing can reach a real account, whatever the shell has; the
    # endpoint sends this process's own clients (moto's engine included) to the server.
    values = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
              "AWS_SESSION_TOKEN": "local", "AWS_DEFAULT_REGION": region,
              "AWS_REGION": region, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server_port}",
              "MOTO_PORT": str(server_port)}
    with mock.patch.dict(os.environ, values):
        os.environ.pop("AWS_PROFILE", None)
        yield


@contextmanager
def _moto_server(port: int) -> Iterator[None]:
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    sfn = default_user_config.setdefault("stepfunctions", {})
    previous = sfn.get("execute_state_machine", False)
    sfn["execute_state_machine"] = True
    server.start()
    # moto's backends live as long as the process: start from an empty account, as a
    # fresh in-process mock would, and leave nothing behind for the next session.
    _reset(port)
    try:
        yield
    finally:
        _reset(port)
        server.stop()
        sfn["execute_state_machine"] = previous


def _reset(port: int) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset",
                                     method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
        answer.read()


# --- resources from the template ---------------------------------------------------
_NAME_PROPERTY = {
    FUNCTION_TYPE: "FunctionName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    STATE_MACHINE_TYPE: "StateMachineName",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::Rule": "Name",
}


@dataclass
class LocalStack:
    """What :func:`create_stack` created: physical names by logical id."""

    template: Template
    functions: dict[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    aliases: dict[str, tuple[str, str]] = field(default_factory=dict)

    def function_by_handler(self, prefix: str) -> str:
        """The physical name of the function whose ``Handler`` starts with ``prefix``."""
        for lid, name in self.functions.items():
            if str(self.template.properties(lid).get("Handler", "")).startswith(prefix):
                return name
        raise ConfigurationError(f"the template has no function with a {prefix}* handler")

    def env_value(self, function_name: str, variable: str) -> str | None:
        for lid, name in self.functions.items():
            if name == function_name:
                env = self.template.properties(lid).get("Environment", {})
                value = self.template.resolve(env.get("Variables", {})).get(variable)
                return None if value is None else str(value)
        return None


def create_stack(local: LocalAws, template: Template, *,
                 replaced_values: Mapping[str, Mapping[str, str]] | None = None,
                 secret_string: str | None = None,
                 secret_strings: Mapping[str, str] | None = None) -> LocalStack:
    """Create the template's resources in the local AWS and its state machine.

    Each function's code is its asset zip from the cloud assembly, as CloudFormation
    would deploy it. ``replaced_values`` maps a handler prefix to new values for
    variables those functions' templates set (a stand-in may replace a value, never add
    a variable: one the template does not set is refused). ``secret_string`` is the
    value of the database secrets (the local connection); ``secret_strings`` overrides
    it per database user, for a secret generated for that user (each role's own login).
    """
    _bind_placeholders(template)
    stack = LocalStack(template)
    per_function = replaced_values or {}
    _create_storage(local, template, secret_string, secret_strings or {})
    for lid in template.of_type(FUNCTION_TYPE):
        handler = str(template.properties(lid).get("Handler", ""))
        stack.functions[lid] = _create_function(
            local, template, lid, _for_handler(per_function, handler))
    for lid in template.of_type("AWS::Lambda::Version"):
        _publish_version(local, template, lid)
    for lid in template.of_type("AWS::Lambda::Alias"):
        stack.aliases[lid] = _create_alias(local, template, lid)
    for lid in template.of_type("AWS::CloudWatch::Alarm"):
        _create_alarm(local, template, lid)
    for lid in template.of_type(STATE_MACHINE_TYPE):
        stack.state_machine_arn = _create_state_machine(local, template, lid)
    for lid in template.of_type(RULE_TYPE):
        _create_rule(local, template, lid)
    return stack


RULE_TYPE = "AWS::Events::Rule"
# What a rule's target may say besides its Id and Arn (EventBridge's PutTargets fields).
_TARGET_FIELDS = ("Input", "InputPath", "InputTransformer", "RetryPolicy",
                  "DeadLetterConfig")
_REF_IS_ARN = ("AWS::SNS::Topic", "AWS::SecretsManager::Secret", STATE_MACHINE_TYPE,
               "AWS::Lambda::Version")


def _for_handler(per_function: Mapping[str, Mapping[str, str]],
                 handler: str) -> Mapping[str, str]:
    return next((values for prefix, values in per_function.items()
                 if handler.startswith(prefix)), {})


def _create_storage(local: LocalAws, template: Template, secret_string: str | None,
                    secret_strings: Mapping[str, str]) -> None:
    """Buckets, tables, topics and secrets: what functions' environments refer to."""
    for lid in template.of_type("AWS::S3::Bucket"):
        _create_bucket(local, template, lid)
    for table_type in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
        for lid in template.of_type(table_type):
            _create_table(local, template, lid)
    for lid in template.of_type("AWS::SNS::Topic"):
        _create_topic(local, template, lid)
    for lid in template.of_type("AWS::SecretsManager::Secret"):
        _create_secret(local, template, lid, secret_string)
    _import_secrets(local, template, secret_string, secret_strings)
    _import_clusters(local, template)


def _bind_placeholders(template: Template) -> None:
    """Give every resource a name and ARN, so references to ones not created resolve."""
    p = template.pseudo
    for lid, resource in template.resources.items():
        rtype = str(resource.get("Type", ""))
        name = _physical_name(template, lid, rtype)
        service = rtype.split("::")[1].lower() if rtype.count("::") == 2 else "custom"
        arn = _arn(rtype, name, p.region, p.account_id) or \
            f"arn:aws:{service}:{p.region}:{p.account_id}:{name}"
        ref = arn if rtype in _REF_IS_ARN else name
        template.bind(lid, ref, Arn=arn, Name=name, TopicName=name, TopicArn=arn,
                      StreamArn=f"{arn}/stream/local")


def _physical_name(template: Template, lid: str, rtype: str) -> str:
    prop = _NAME_PROPERTY.get(rtype)
    explicit = template.properties(lid).get(prop) if prop else None
    if explicit is not None and not isinstance(explicit, Mapping):
        return str(explicit)
    name = f"{template.pseudo.stack_name}-{lid}"[:63]
    return name.lower() if rtype == "AWS::S3::Bucket" else name


def _arn(rtype: str, name: str, region: str, account: str) -> str | None:
    return {
        FUNCTION_TYPE: f"arn:aws:lambda:{region}:{account}:function:{name}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
        "AWS::DynamoDB::GlobalTable": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
        "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
        STATE_MACHINE_TYPE: f"arn:aws:states:{region}:{account}:stateMachine:{name}",
        "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
        "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
    }.get(rtype)


def _resolved_name(template: Template, lid: str) -> str:
    """The physical name, resolving a name CDK computed with an intrinsic function."""
    rtype = str(template.resources[lid].get("Type"))
    prop = _NAME_PROPERTY.get(rtype)
    explicit = template.properties(lid).get(prop) if prop else None
    if isinstance(explicit, Mapping):
        name = str(template.resolve(explicit))
        p = template.pseudo
        arn = _arn(rtype, name, p.region, p.account_id) or template.attributes[(lid, "Arn")]
        template.bind(lid, arn if rtype in _REF_IS_ARN else name, Arn=arn, Name=name)
    return template.attributes[(lid, "Name")]


def _create_bucket(local: LocalAws, template: Template, lid: str) -> None:
    name = _resolved_name(template, lid)
    s3 = local.client("s3")
    s3.create_bucket(Bucket=name)
    versioning = template.properties(lid).get("VersioningConfiguration", {})
    if versioning.get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _create_table(local: LocalAws, template: Template, lid: str) -> None:
    props = template.resolve(template.properties(lid))
    name = _resolved_name(template, lid)
    ddb = local.client("dynamodb")
    ddb.create_table(TableName=name, KeySchema=props["KeySchema"],
                     AttributeDefinitions=props["AttributeDefinitions"],
                     BillingMode="PAY_PER_REQUEST")
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl["AttributeName"]})


def _create_topic(local: LocalAws, template: Template, lid: str) -> None:
    arn = local.client("sns").create_topic(Name=_resolved_name(template, lid))["TopicArn"]
    template.bind(lid, arn, Arn=arn, TopicArn=arn, TopicName=arn.rsplit(":", 1)[1])


def _create_secret(local: LocalAws, template: Template, lid: str,
                   secret_string: str | None) -> None:
    value = secret_string or json.dumps({"username": "local", "password": "local"})
    arn = local.client("secretsmanager").create_secret(
        Name=_resolved_name(template, lid), SecretString=value)["ARN"]
    template.bind(lid, arn, Arn=arn, Id=arn)


_SECRET_TYPES = ("AWS::SecretsManager::Secret", "AWS::SecretsManager::SecretTargetAttachment")


def _import_secrets(local: LocalAws, template: Template, secret_string: str | None,
                    secret_strings: Mapping[str, str]) -> None:
    """Recreate secrets another stack exports (the database stack's) as local secrets:
    a role's secret logs in as that role locally too, any other the local connection."""
    for export, rtype in template.exports.items():
        if rtype in _SECRET_TYPES and export not in template.imports:
            name = "local-" + export.replace(":", "-")[:200]
            value = secret_strings.get(template.secret_users.get(export, "")) \
                or secret_string or json.dumps({"username": "local", "password": "local"})
            arn = local.client("secretsmanager").create_secret(
                Name=name, SecretString=value)["ARN"]
            template.imports[export] = arn


def _import_clusters(local: LocalAws, template: Template) -> None:
    """Recreate the Aurora cluster another stack exports (the database stack's) and
    this template imports as a moto cluster, so the references to it resolve to a
    cluster that can be snapshotted. No database server is behind it:
    the functions reach local PostgreSQL through their secrets."""
    body = json.dumps(template.body)
    for export, rtype in template.exports.items():
        if rtype == CLUSTER_TYPE and export not in template.imports and \
                json.dumps(export) in body:
            lid = template.export_ids.get(export, "Cluster")
            name = cluster_identifier(f"{template.pseudo.stack_name}-{lid}")
            local.client("rds").create_db_cluster(
                DBClusterIdentifier=name, Engine="aurora-postgresql",
                MasterUsername="stackflow", MasterUserPassword="local-only-never-used")
            template.imports[export] = name


def cluster_identifier(text: str) -> str:
    """A DB cluster identifier RDS accepts: lower-case letters, digits and single
    hyphens, a letter first, at most 63 characters, no hyphen last."""
    name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text.lower()))
    return ("c" + name if not name[:1].isalpha() else name)[:63].rstrip("-")


def asset_code(template: Template, lid: str) -> tuple[str, str, Path]:
    """Where a function's ``Code`` lives: its bucket, key and asset file in the assembly."""
    code = template.properties(lid).get("Code", {})
    key = code.get("S3Key") if isinstance(code, Mapping) else None
    if not isinstance(key, str):
        raise ConfigurationError(f"{lid}: local mode runs functions whose Code is an asset "
                                 f"zip (S3Bucket/S3Key), got {code!r}")
    path = template.path.parent / f"asset.{key}"
    if not path.is_file():
        raise ConfigurationError(f"{lid}: asset {path} is missing; synthesize again "
                                 "(make synth)")
    return str(template.resolve(code.get("S3Bucket"))).lower(), key, path


def _publish_asset(local: LocalAws, bucket: str, key: str, path: Path) -> None:
    """Put an asset where ``cdk deploy`` puts it (the bootstrap bucket), once."""
    s3 = local.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return
    except ClientError:
        pass
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def _create_function(local: LocalAws, template: Template, lid: str,
                     replaced: Mapping[str, str]) -> str:
    props = template.properties(lid)
    handler = str(props.get("Handler", "index.handler"))
    env = template.resolve(props.get("Environment", {}).get("Variables", {}))
    variables = {str(k): str(v) for k, v in env.items()}
    unknown = sorted(set(replaced) - set(variables))
    if unknown:
        raise ConfigurationError(f"{lid}: local mode may only replace values the template "
                                 f"sets; {unknown} are not among {sorted(variables)}")
    name = _resolved_name(template, lid)
    bucket, key, path = asset_code(template, lid)
    _publish_asset(local, bucket, key, path)
    client: LambdaClient = local.client("lambda")
    # From the asset bucket, as CloudFormation deploys it (each zip uploaded once).
    client.create_function(
        FunctionName=name, Runtime=str(props.get("Runtime", "python3.13")),  # type: ignore[arg-type]
        Role=local.role_arn, Handler=handler, Code={"S3Bucket": bucket, "S3Key": key},
        Timeout=int(template.resolve(props.get("Timeout", 3))),
        MemorySize=int(template.resolve(props.get("MemorySize", 128))),
        Environment={"Variables": variables | dict(replaced)})
    return name


def _publish_version(local: LocalAws, template: Template, lid: str) -> None:
    props = template.properties(lid)
    function = str(template.resolve(props["FunctionName"]))
    client: LambdaClient = local.client("lambda")
    version = client.publish_version(FunctionName=function)["Version"]
    arn = f"{template.attributes[(_function_lid(template, function), 'Arn')]}:{version}"
    template.bind(lid, arn, Version=version, FunctionArn=arn)


def _function_lid(template: Template, name_or_arn: str) -> str:
    name = name_or_arn.rsplit(":", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
    for lid in template.of_type(FUNCTION_TYPE):
        if template.refs.get(lid) == name:
            return lid
    raise ConfigurationError(f"no function {name_or_arn} in {template.path}")


def _create_alias(local: LocalAws, template: Template, lid: str) -> tuple[str, str]:
    props = template.resolve(template.properties(lid))
    function = str(props["FunctionName"]).rsplit(":", 1)[-1]
    client: LambdaClient = local.client("lambda")
    arn = client.create_alias(FunctionName=function, Name=props["Name"],
                              FunctionVersion=str(props["FunctionVersion"]))["AliasArn"]
    template.bind(lid, arn, Arn=arn)
    return function, str(props["Name"])


_ALARM_FIELDS = ("AlarmDescription", "ActionsEnabled", "MetricName", "Namespace",
                 "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
                 "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
                 "ComparisonOperator", "TreatMissingData", "Metrics")


def _create_alarm(local: LocalAws, template: Template, lid: str) -> None:
    props = template.resolve(template.properties(lid))
    fields = {key: props[key] for key in _ALARM_FIELDS if key in props}
    local.client("cloudwatch").put_metric_alarm(
        AlarmName=_resolved_name(template, lid), **fields)


def _create_state_machine(local: LocalAws, template: Template, lid: str) -> str:
    definition = state_machine_definition(template, lid)
    name = _resolved_name(template, lid)
    sfn: SFNClient = local.client("stepfunctions")
    arn = sfn.create_state_machine(name=name, definition=definition,
                                   roleArn=local.role_arn)["stateMachineArn"]
    template.bind(lid, arn, Arn=arn, Name=name)
    return arn


def _create_rule(local: LocalAws, template: Template, lid: str) -> None:
    """An EventBridge rule with its targets (execution status changes reach them)."""
    props = template.resolve(template.properties(lid))
    name = str(props.get("Name") or template.attributes[(lid, "Name")])[:64]
    rule: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED"),
                            "Description": props.get("Description", "")}
    if "EventPattern" in props:
        rule["EventPattern"] = json.dumps(props["EventPattern"])
    if "ScheduleExpression" in props:
        rule["ScheduleExpression"] = props["ScheduleExpression"]
    events = local.client("events")
    events.put_rule(**rule)
    targets = [{"Id": str(t["Id"]), "Arn": str(t["Arn"]),
                **{k: t[k] for k in _TARGET_FIELDS if k in t}}
               for t in props.get("Targets", [])]
    if targets:
        events.put_targets(Rule=name, Targets=targets)


# --- executions --------------------------------------------------------------------
def wait_for_execution(sfn: SFNClient, execution_arn: str, *, poll_seconds: float = 0.05,
                       on_poll: Callable[[], None] | None = None,
                       timeout_seconds: float = 600) -> DescribeExecutionOutputTypeDef:
    """Poll until the execution ends (moto runs it on its own thread)."""
    deadline = time.monotonic() + timeout_seconds
    stop = threading.Event()
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if on_poll is not None:
            on_poll()
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise ConfigurationError(f"execution {execution_arn} still running after "
                                     f"{timeout_seconds:.0f} s")
        stop.wait(poll_seconds)

