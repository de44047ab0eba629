"""``stackflow local up | deploy | demo``: StackFlow on one machine, no AWS account.

``demo`` runs the two-release demo of ``make demo``; ``deploy`` runs one release of a
build of the example application through the synthesized state machine (against a
running ``up`` when there is one); ``up`` keeps a local environment running (moto on
loopback) until Ctrl-C, for the AWS CLI, boto3 or ``stackflow`` from other shells.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackflow_tools.local.artifacts import BUILDS

DEFAULT_PORT = 4566
DEMO_CHECK_INTERVAL = 150
SIGNAL_CHECK_SECONDS = 0.2


def register(subparsers: Any) -> None:
    local = subparsers.add_parser("local", help="run StackFlow locally (embedded PostgreSQL, "
                                                "moto, the synthesized state machine)",
                                  description="StackFlow on one machine, no AWS account: "
                                              "embedded PostgreSQL, moto and the synthesized "
                                              "state machine. Details: docs/local-mode.md")
    commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")

    demo = _command(commands, "demo", "a release that is promoted and one that rolls back")
    demo.set_defaults(func=_demo)

    deploy = _command(commands, "deploy", "run one release of the example application")
    deploy.add_argument("--build", choices=sorted(BUILDS), default="good",
                        help="which build of the example to release (default: good)")
    deploy.add_argument("--release", default="1.1.0", help="release label (default: 1.1.0)")
    deploy.add_argument("--strategy", default="Canary10Percent5Minutes",
                        help="traffic-shifting preset (default: Canary10Percent5Minutes)")
    deploy.add_argument("--no-migrations", action="store_true",
                        help="do not run the patcher before publishing")
    deploy.set_defaults(func=_deploy)

    up = _command(commands, "up", "start local mode and keep it running until Ctrl-C")
    up.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"loopback port of the moto server (default: {DEFAULT_PORT}; "
                         "0 picks a free one)")
    up.set_defaults(func=_up)


def _command(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text,
                                                          description=help_text)
    parser.add_argument("--database-url", help="use this PostgreSQL server instead of "
                                               "starting the embedded one")
    parser.add_argument("--workdir", default=".stackflow", type=Path,
                        help="where the embedded PostgreSQL and the logs live "
                             "(default: .stackflow)")
    parser.add_argument("--cdk-out", default="cdk.out", type=Path,
                        help="the synthesized app (default: cdk.out; `make synth`)")
    parser.add_argument("--time-scale", type=float, default=0.01,
                        help="multiply every Wait and Retry interval (default: 0.01, so a "
                             "5-minute bake takes 3 s)")
    parser.add_argument("--check-interval", type=int, metavar="SECONDS",
                        help="nominal seconds between health checks during a bake (default: "
                             f"the release's own, 30 s; the demo uses {DEMO_CHECK_INTERVAL})")
    return parser


def _options(args: argparse.Namespace, *, dbname: str, fresh: bool,
             port: int | None = None) -> Any:
    from stackflow_tools.local.runner import LocalOptions

    return LocalOptions(cdk_out=args.cdk_out, workdir=args.workdir,
                        database_url=args.database_url, dbname=dbname,
                        fresh_database=fresh, time_scale=args.time_scale, server_port=port,
                        check_interval_seconds=args.check_interval)


def _demo(args: argparse.Namespace) -> int:
    from stackflow_tools.local.demo import run_demo

    _quiet()
    if args.check_interval is None:
        # Each in-bake check sends a burst of traffic; the demo's 5-minute canary is shown
        # with two checks rather than ten (the releases' default, 30 s, is unchanged).
        args.check_interval = DEMO_CHECK_INTERVAL
    with _signals_interrupt():
        return run_demo(_options(args, dbname="stackflow_demo", fresh=True))


def _deploy(args: argparse.Namespace) -> int:
    from stackflow_tools.local.demo import Scenario, run_scenario
    from stackflow_tools.local.runner import LocalMode

    expect_error = {"good": None, "orders-regression": "CanaryUnhealthy",
                    "health-regression": "SmokeTestFailed",
                    "missing-dependency": "SmokeTestFailed"}[args.build]
    scenario = Scenario(f"release {args.release} ({args.build})", args.build, args.release,
                        "FAILED" if expect_error else "SUCCEEDED", expect_error)
    _quiet()
    options = _options(args, dbname="stackflow", fresh=False)
    running = running_up(options.workdir)
    if running:
        _say(f"releasing through the running `stackflow local up` at {running}")
    local = LocalMode.attach(options) if running else LocalMode(options)
    with _signals_interrupt(), local as mode:
        result, _ = run_scenario(mode, scenario, sys.stdout,
                                 strategy={"preset": args.strategy},
                                 migrations=not args.no_migrations)
    # The exit status says whether the release shipped, as `stackflow pipeline` does.
    return 0 if result.status == "SUCCEEDED" else 1


def _quiet() -> None:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
    warnings.filterwarnings("ignore", module="platformdirs")
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _up(args: argparse.Namespace) -> int:
    from stackflow_tools.local.runner import UP_FILE, LocalMode

    _quiet()
    # A start or stop that seems stuck can be asked what every thread is doing:
    # `kill -USR1 <pid>` prints their stacks to stderr (the process carries on).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # --port 0: the local AWS picks a free loopback port itself (engine.free_port).
    options = _options(args, dbname="stackflow", fresh=False, port=args.port or None)
    # From here SIGTERM, like Ctrl-C, unwinds what has started (PostgreSQL first of
    # all), during the start too; main() then says "interrupted" and exits 130.
    with _signals_interrupt() as restore_signals, LocalMode(options) as mode:
        state_file = options.workdir / UP_FILE
        try:
            _announce(mode, write_up_files(mode, options.workdir))
            _serve_until_stopped()
            restore_signals()  # a second signal during the shutdown ends it at once
            _say("stopping: moto server, Lambda workers, embedded PostgreSQL ...")
        finally:
            state_file.unlink(missing_ok=True)
    _say("stopped")
    return 0


@contextmanager
def _signals_interrupt() -> Iterator[Callable[[], None]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread until the returned
    callable (or the end of the block) puts the previous handlers back."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed even where SIGINT arrives ignored (a background job of a script), so
    # `kill -INT` stops the environment as Ctrl-C does.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    try:
        yield restore
    finally:
        restore()


def write_up_files(mode: Any, workdir: Path) -> Path:
    """``up.json`` (for ``local deploy`` from another shell) and a ready execution input.

    The input's artifact is a real uploaded build (release 1.1.0 of the good build).
    """
    from stackflow_tools.local.runner import UP_FILE

    state = mode.describe()
    (workdir / UP_FILE).write_text(json.dumps(state, indent=2) + "\n")
    artifact = mode.upload("good", "1.1.0")
    path = workdir / "execution-input.json"
    path.write_text(json.dumps(mode.deployment_input(artifact), indent=2) + "\n")
    return path


def _announce(mode: Any, execution_input: Path) -> None:
    """What a user (or a script waiting for ``ready``) needs, one ``key: value`` a line."""
    state = mode.describe()
    _say(f"endpoint: {state['endpoint']}")
    _say(f"database: {mode.database_url}")
    _say(f"state machine: {state['state_machine_arn']}")
    _say(f"example: {mode.function_name}:{mode.alias}")
    _say(f"artifacts: s3://{mode.artifacts_bucket}")
    _say(f"execution input: {execution_input}")
    _say("export (AWS CLI v1 or v2, boto3, `stackflow pipeline`):")
    for name, value in exports(state).items():
        _say(f"  export {name}={value}")
    _say(f"try: aws stepfunctions start-execution --state-machine-arn $STATE_MACHINE_ARN "
         f"--input file://{execution_input}")
    _say("ready (Ctrl-C stops everything)")


def exports(state: dict[str, Any]) -> dict[str, str]:
    """The environment a client in another shell needs to use this local AWS."""
    return {"AWS_ENDPOINT_URL": state["endpoint"], "AWS_REGION": state["region"],
            "AWS_DEFAULT_REGION": state["region"], "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
            "STATE_MACHINE_ARN": state["state_machine_arn"],
            "ARTIFACTS_BUCKET": state["artifacts_bucket"],
            "DEPLOY_TABLE": state["deploy_table"]}


def running_up(workdir: Path) -> str | None:
    """The endpoint of a ``local up`` serving from ``workdir``, if one answers."""
    from stackflow_tools.local.runner import UP_FILE

    try:
        endpoint = str(json.loads((workdir / UP_FILE).read_text())["endpoint"])
    except (OSError, ValueError, KeyError):
        return None
    host, _, port = endpoint.removeprefix("http://").partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return endpoint
    except (OSError, ValueError):
        return None


def _serve_until_stopped() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM (see :func:`_signals_interrupt`)."""
    try:
        while True:
            # Short sleeps: the kernel may deliver the signal to any of the many threads
            # (workers, servers), which does not interrupt a sleep in this one, and Python
            # runs the handler only when this thread next wakes.
            time.sleep(SIGNAL_CHECK_SECONDS)
    except KeyboardInterrupt:
        pass


def _say(line: str) -> None:
    # Flushed at once: a script (or a pipe to tee) waits for these lines.
    print(line, flush=True)
