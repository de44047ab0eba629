"""``stackflow pipeline start | status`` and ``stackflow approve | reject``.

``pipeline start`` is what CI runs after ``make package``: it puts the artifact and any
new migration files into S3, starts the deployment state machine (or finds the run it
started before) and, with ``--wait``, prints the execution state by state until it
ends — exit 0 on success, 1 with the error type and cause on failure.

A release can outlast the credentials that follow it (CI's session lasts an hour, a
prod execution up to 30 h): ``--timeout`` stops following cleanly before then, exit 3,
with the command that follows on (``pipeline status NAME --wait``, from the start of
its history); the release itself goes on in Step Functions either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackflow import env
from stackflow.adapters.stepfunctions import Execution, StepFunctions, execution_arn
from stackflow.errors import InvalidRequest, ReleaseFailed
from stackflow.settings import env_str
from stackflow.validation import as_object, opt_object

from stackflow_tools.cli.aliases import alias_line, alias_now, alias_reader
from stackflow_tools.release.approvals import Approvals
from stackflow_tools.release.artifacts import (
    Artifact,
    ReleaseStore,
    local_migrations,
    migrations_digest,
)
from stackflow_tools.release.pipeline import (
    DEFAULT_POLL_SECONDS,
    Release,
    Releases,
    current_state,
    describe_event,
    failure_text,
    follow,
    last_plan_step,
    release_key,
)
from stackflow_tools.release.targets import (
    manifest_paths,
    multi_release_key,
    named_artifacts,
    release_stem,
    targets_input,
)

DEFAULT_ALIAS = "PROD"
DEFAULT_MIGRATIONS_PREFIX = "migrations/"
EXIT_STILL_RUNNING = 3


def register(subparsers: Any) -> None:
    pipeline = subparsers.add_parser("pipeline", help="start and follow releases")
    commands = pipeline.add_subparsers(dest="pipeline_command", required=True,
                                       metavar="SUBCOMMAND")
    _register_start(commands)
    status = commands.add_parser("status", help="show one release execution")
    status.add_argument("execution", help="execution name or ARN")
    _add_state_machine(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    _add_wait(status, "follow the execution to its end (exit 0 / 1 / 3 as start --wait)")
    status.set_defaults(func=status_command)
    for name, func, text in (("approve", approve_command, "approve a waiting release"),
                             ("reject", reject_command, "reject a waiting release")):
        answer = subparsers.add_parser(name, help=text)
        answer.add_argument("execution", help="execution name or ARN")
        _add_state_machine(answer)
        answer.add_argument("--table", default=env_str(env.DEPLOY_TABLE),
                            help=f"deploy table (default ${env.DEPLOY_TABLE})")
        answer.add_argument("--by", help=f"who answers (default ${env.GITHUB_ACTOR} "
                                         f"or ${env.USER})")
        if name == "reject":
            answer.add_argument("--reason", default="no reason given", help="why")
        answer.set_defaults(func=func)


def _register_start(commands: Any) -> None:
    start = commands.add_parser(
        "start", help="release an artifact through the state machine",
        description="Upload the artifact (and the migrations) to S3 and start one "
                    "execution of the deployment state machine; with --wait, follow it "
                    "to its end. Details: docs/release.md")
    source = start.add_mutually_exclusive_group(required=True)
    source.add_argument("--artifact", action="append",
                        help="zip to upload (e.g. dist/stackflow-api.zip); for a release of "
                             "several functions, NAME=PATH once per function (or list them "
                             "with a path each under \"functions\" in --input)")
    source.add_argument("--s3-key", help="an object already in the artifacts bucket")
    start.add_argument("--s3-version", help="version id of --s3-key (default: latest)")
    start.add_argument("--input", type=Path, help="base execution input (JSON file)")
    start.add_argument("--function", help="function to release (default: from --input)")
    start.add_argument("--alias", help=f"alias to shift (default: from --input, else "
                                       f"{DEFAULT_ALIAS})")
    start.add_argument("--strategy", help="strategy preset, e.g. Canary10Percent5Minutes")
    start.add_argument("--bucket", default=env_str(env.ARTIFACTS_BUCKET),
                       help=f"artifacts bucket (default ${env.ARTIFACTS_BUCKET})")
    start.add_argument("--migrations", type=Path, default=Path("migrations"),
                       help="migration folder to upload (default %(default)s)")
    start.add_argument("--no-migrations", action="store_true",
                       help="upload no migrations and run none")
    start.add_argument("--migrations-bucket", default=env_str(env.MIGRATIONS_BUCKET),
                       help=f"default ${env.MIGRATIONS_BUCKET}, else the artifacts bucket")
    start.add_argument("--migrations-prefix", default=env_str(env.MIGRATIONS_PREFIX),
                       help=f"default ${env.MIGRATIONS_PREFIX}, else {DEFAULT_MIGRATIONS_PREFIX}")
    _add_state_machine(start)
    start.add_argument("--retry", action="store_true",
                       help="start a new attempt when this release failed before")
    _add_wait(start, "follow the execution to its end")
    start.set_defaults(func=start_command)


def _add_wait(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--wait", action="store_true", help=text)
    parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS,
                        help="with --wait: seconds between reads of the execution "
                             "(default %(default)s)")
    parser.add_argument("--timeout", type=float,
                        help="with --wait: stop following after this many seconds, before "
                             "the credentials expire (exit 3, printing how to follow on)")


def _add_state_machine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-machine-arn", default=env_str(env.STATE_MACHINE_ARN),
                        help=f"deployment state machine (default ${env.STATE_MACHINE_ARN})")


# --- pipeline start ------------------------------------------------------------------
def start_command(args: argparse.Namespace) -> int:
    state_machine = _required(args.state_machine_arn, "--state-machine-arn",
                              env.STATE_MACHINE_ARN)
    bucket = _required(args.bucket, "--bucket", env.ARTIFACTS_BUCKET)
    base = _base_document(args)
    named = named_artifacts(args.artifact)
    if named is not None or base.get("functions") is not None:
        return _start_release(args, state_machine, bucket, base, named or {})
    function_name, alias = _function_and_alias(args, base)
    store, sfn = ReleaseStore(), StepFunctions()
    migrations = {} if args.no_migrations else local_migrations(args.migrations)
    migrations_bucket = args.migrations_bucket or bucket
    prefix = args.migrations_prefix or DEFAULT_MIGRATIONS_PREFIX
    # Refuse a changed migration before anything is uploaded or started.
    plan = store.plan_migrations(migrations_bucket, prefix, migrations)
    artifact = _artifact(args, store, bucket, function_name)
    _say(f"artifact s3://{artifact.bucket}/{artifact.key} version {artifact.version_id} "
         f"sha256 {artifact.sha256}")
    store.upload_migrations(migrations_bucket, prefix, migrations, plan.new)
    _say(f"migrations: {len(plan.new)} uploaded, {len(plan.unchanged)} already in "
         f"s3://{migrations_bucket}/{prefix}")
    document = execution_input(base, function_name=function_name, alias=alias,
                               artifact=artifact, migrations=not args.no_migrations,
                               strategy=args.strategy, environ=None)
    key = release_key(function_name, alias, artifact.sha256, migrations_digest(migrations))
    release = Releases(sfn, state_machine).start_or_follow(function_name, alias, key,
                                                           document, retry=args.retry)
    _announce(release)
    if not args.wait:
        return _outcome(release.execution)
    # Followed even when it has ended already: the history shows how it went.
    final = follow(sfn, release.execution.arn, _say, sleep=time.sleep,
                   poll_seconds=args.poll_seconds, timeout_seconds=args.timeout,
                   alias=alias_reader(function_name, alias))
    _job_summary(sfn, final.arn)
    return _outcome(final, waited=True)


def _start_release(args: argparse.Namespace, state_machine: str, bucket: str,
                   base: Mapping[str, Any], named: Mapping[str, Path]) -> int:
    """A release of several functions: every zip uploaded, one execution for all."""
    root = args.input.parent if args.input is not None else Path()
    paths = {**manifest_paths(base, root), **named}
    store, sfn = ReleaseStore(), StepFunctions()
    migrations = {} if args.no_migrations else local_migrations(args.migrations)
    migrations_bucket = args.migrations_bucket or bucket
    prefix = args.migrations_prefix or DEFAULT_MIGRATIONS_PREFIX
    plan = store.plan_migrations(migrations_bucket, prefix, migrations)
    artifacts = {name: _upload(store, bucket, name, path) for name, path in paths.items()}
    store.upload_migrations(migrations_bucket, prefix, migrations, plan.new)
    _say(f"migrations: {len(plan.new)} uploaded, {len(plan.unchanged)} already in "
         f"s3://{migrations_bucket}/{prefix}")
    document = {key: value for key, value in base.items()
                if key not in ("function_name", "alias", "artifact")}
    document["functions"] = targets_input(base, artifacts,
                                          default_alias=args.alias or DEFAULT_ALIAS)
    document["migrations"] = {**opt_object(base, "migrations"),
                              "enabled": not args.no_migrations}
    if args.strategy:
        document["strategy"] = {"preset": args.strategy}
    ci = ci_context(None)
    if ci:
        document["ci"] = {**opt_object(base, "ci"), **ci}
    stem, tail = release_stem(document["functions"])
    key = multi_release_key(document["functions"], migrations_digest(migrations))
    release = Releases(sfn, state_machine).start_or_follow(stem, tail, key, document,
                                                           retry=args.retry)
    _announce(release)
    if not args.wait:
        return _outcome(release.execution)
    final = follow(sfn, release.execution.arn, _say, sleep=time.sleep,
                   poll_seconds=args.poll_seconds, timeout_seconds=args.timeout)
    _job_summary(sfn, final.arn)
    return _outcome(final, waited=True)


def _upload(store: ReleaseStore, bucket: str, function_name: str, path: Path) -> Artifact:
    if not path.is_file():
        raise InvalidRequest("--artifact", f"{path} ({function_name}) is not a file "
                                           "(run make package first)")
    artifact = store.upload_artifact(bucket, function_name, path)
    _say(f"artifact {function_name}: s3://{artifact.bucket}/{artifact.key} version "
         f"{artifact.version_id} sha256 {artifact.sha256}")
    return artifact


def _required(value: str | None, flag: str, variable: str) -> str:
    if not value:
        raise InvalidRequest(flag, f"is required (or set ${variable})")
    return value


def _base_document(args: argparse.Namespace) -> dict[str, Any]:
    if args.input is None:
        return {}
    try:
        return dict(as_object(json.loads(args.input.read_text()), "--input"))
    except (OSError, ValueError) as e:
        raise InvalidRequest("--input", f"cannot read {args.input} as JSON: {e}") from e


def _function_and_alias(args: argparse.Namespace, base: Mapping[str, Any]) -> tuple[str, str]:
    function_name = args.function or base.get("function_name")
    if not isinstance(function_name, str) or not function_name:
        raise InvalidRequest("--function", "is required (or function_name in --input)")
    alias = args.alias or base.get("alias") or DEFAULT_ALIAS
    if not isinstance(alias, str):
        raise InvalidRequest("alias", "must be a string")
    return function_name, alias


def _artifact(args: argparse.Namespace, store: ReleaseStore, bucket: str,
              function_name: str) -> Artifact:
    if args.artifact:
        path = Path(args.artifact[0])
        if not path.is_file():
            raise InvalidRequest("--artifact", f"{path} is not a file "
                                               "(run make package first)")
        return store.upload_artifact(bucket, function_name, path)
    return store.existing_artifact(bucket, args.s3_key, args.s3_version)


def execution_input(base: Mapping[str, Any], *, function_name: str, alias: str,
                    artifact: Artifact, migrations: bool, strategy: str | None,
                    environ: Mapping[str, str] | None) -> dict[str, Any]:
    """The execution input: ``base`` with what this release decides filled in."""
    document = dict(base)
    document.update(function_name=function_name, alias=alias, artifact=artifact.to_dict())
    document["migrations"] = {**opt_object(base, "migrations"), "enabled": migrations}
    if strategy:
        document["strategy"] = {"preset": strategy}
    ci = ci_context(environ)
    if ci:
        document["ci"] = {**opt_object(base, "ci"), **ci}
    return document


def ci_context(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The commit and run URL of the GitHub Actions run, when there is one."""
    commit = env_str(env.GITHUB_SHA, environ)
    server, repo = env_str(env.GITHUB_SERVER_URL, environ), env_str(env.GITHUB_REPOSITORY,
                                                                    environ)
    run_id = env_str(env.GITHUB_RUN_ID, environ)
    context: dict[str, str] = {}
    if commit:
        context["commit"] = commit
    if server and repo and run_id:
        context["run_url"] = f"{server}/{repo}/actions/runs/{run_id}"
    return context


def _announce(release: Release) -> None:
    execution = release.execution
    if release.started:
        what = f"started {execution.name} (attempt {release.attempt})"
    else:
        what = f"{execution.name} was started before and is {execution.status}: following it"
    _say(what)
    _say(f"execution {execution.arn}")
    _say(f"console   {console_url(execution.arn)}")


def _outcome(execution: Execution, *, waited: bool = False) -> int:
    if execution.status == "SUCCEEDED":
        _say(f"release {execution.name} SUCCEEDED")
        return 0
    if not execution.done:
        _say(f"release {execution.name} is {execution.status}")
        if not waited:
            return 0  # not waiting is a success; a --timeout that ran out is not
        _say(f"stopped following {execution.name} (--timeout); it goes on in Step "
             f"Functions. Follow on with: {follow_on_command(execution.name)}")
        return EXIT_STILL_RUNNING
    raise ReleaseFailed(f"release {execution.name} ended {execution.status}: "
                        f"{failure_text(execution)}", execution=execution.arn,
                        status=execution.status, error=execution.error, cause=execution.cause)


def follow_on_command(name: str) -> str:
    """The command that resumes following ``name`` (with fresh credentials)."""
    return f"stackflow pipeline status {name} --wait"


def console_url(arn: str) -> str:
    region = arn.split(":")[3]
    return (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{arn}")


def _say(line: str) -> None:
    # Flushed at once: CI shows the log live while the release runs.
    print(line, flush=True)


def _job_summary(sfn: StepFunctions, arn: str) -> None:
    """Append the release's Markdown summary to $GITHUB_STEP_SUMMARY when CI sets it."""
    from stackflow_tools.report.summary import append_job_summary

    append_job_summary(sfn, arn, warn=lambda text: print(text, file=sys.stderr))


# --- pipeline status ---------------------------------------------------------------------
def _execution_arn(args: argparse.Namespace) -> str:
    if str(args.execution).startswith("arn:"):
        return str(args.execution)
    state_machine = _required(args.state_machine_arn, "--state-machine-arn",
                              env.STATE_MACHINE_ARN)
    return execution_arn(state_machine, args.execution)


def status_command(args: argparse.Namespace) -> int:
    sfn = StepFunctions()
    arn = _execution_arn(args)
    execution = sfn.describe_execution(arn)
    target = deployed_alias(execution.input)
    if args.wait:
        # From the first event: a follow-on shows the whole release, then waits.
        final = follow(sfn, arn, _say, sleep=time.sleep, poll_seconds=args.poll_seconds,
                       timeout_seconds=args.timeout,
                       alias=alias_reader(*target) if target else None)
        _job_summary(sfn, arn)
        return _outcome(final, waited=True)
    events = sfn.history(arn)
    _job_summary(sfn, arn)
    alias = alias_now(*target) if target else None
    summary = {
        "name": execution.name, "execution_arn": execution.arn, "status": execution.status,
        "started_at": execution.started_at.isoformat(),
        "stopped_at": execution.stopped_at.isoformat() if execution.stopped_at else None,
        "current_state": current_state(events), "plan_step": last_plan_step(events),
        # Read from the alias now: what the last Shift planned can be stale.
        "traffic": alias_line(*target, alias) if target and alias is not None else None,
        "alias": alias, "error": execution.error, "cause": execution.cause,
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    for event in events:
        line = describe_event(event, execution.started_at)
        if line:
            print(line)
    for field in ("name", "status", "current_state", "plan_step", "traffic", "started_at",
                  "stopped_at"):
        if summary[field]:
            print(f"{field:14s}{summary[field]}")
    if execution.error:
        print(f"{'failure':14s}{failure_text(execution)}")
    return 0


def deployed_alias(execution_input: str | None) -> tuple[str, str] | None:
    """The function and alias an execution deploys, from its input (None if unreadable)."""
    try:
        document = json.loads(execution_input or "")
    except ValueError:
        return None
    function_name = document.get("function_name") if isinstance(document, dict) else None
    if not isinstance(function_name, str) or not function_name:
        return None
    alias = document.get("alias") or DEFAULT_ALIAS
    return (function_name, alias) if isinstance(alias, str) else None


# --- approve / reject ----------------------------------------------------------------
def _approvals(args: argparse.Namespace) -> Approvals:
    from stackflow.adapters.dynamodb import DynamoDeployStore

    table = _required(args.table, "--table", env.DEPLOY_TABLE)
    return Approvals(DynamoDeployStore(table), StepFunctions())


def _answered_by(args: argparse.Namespace) -> str:
    return str(args.by or env_str(env.GITHUB_ACTOR) or env_str(env.USER) or "unknown")


def approve_command(args: argparse.Namespace) -> int:
    arn = _execution_arn(args)
    _approvals(args).approve(arn, _answered_by(args))
    print(f"approved {arn}")
    return 0


def reject_command(args: argparse.Namespace) -> int:
    arn = _execution_arn(args)
    _approvals(args).reject(arn, _answered_by(args), args.reason)
    print(f"rejected {arn}")
    return 0
