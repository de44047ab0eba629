"""``stackflow local up | deploy | demo``: StackFlow on one machine, no AWS account.

``demo`` runs the two-release demo of ``make demo``; ``deploy`` runs one release of a
build of the example application through the synthesized state machine; ``up`` keeps a
local environment running (moto on loopback) until Ctrl-C, for poking at with the AWS
CLI or boto3.
"""

from __future__ import annotations

import argparse
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from stackflow.local.artifacts import BUILDS

DEFAULT_PORT = 4566


def register(subparsers: Any) -> None:
    local = subparsers.add_parser("local", help="run StackFlow locally (embedded PostgreSQL, "
                                                "moto, the synthesized state machine)",
                                  description=__doc__.splitlines()[0] if __doc__ else None)
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
                    help=f"loopback port of the moto server (default: {DEFAULT_PORT})")
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
    parser.add_argument("--moto-server", type=int, metavar="PORT",
                        help="serve AWS from moto_server on 127.0.0.1:PORT instead of "
                             "in process")
    return parser


def _options(args: argparse.Namespace, *, dbname: str, fresh: bool,
             port: int | None = None) -> Any:
    from stackflow.local.runner import LocalOptions

    return LocalOptions(cdk_out=args.cdk_out, workdir=args.workdir,
                        database_url=args.database_url, dbname=dbname,
                        fresh_database=fresh, time_scale=args.time_scale,
                        server_port=port if port is not None else args.moto_server)


def _demo(args: argparse.Namespace) -> int:
    from stackflow.local.demo import run_demo

    _quiet()
    return run_demo(_options(args, dbname="stackflow_demo", fresh=True))


def _deploy(args: argparse.Namespace) -> int:
    from stackflow.local.demo import Scenario, run_scenario
    from stackflow.local.runner import LocalMode

    expect_error = {"good": None, "orders-regression": "CanaryUnhealthy",
                    "health-regression": "SmokeTestFailed"}[args.build]
    scenario = Scenario(f"release {args.release} ({args.build})", args.build, args.release,
                        "FAILED" if expect_error else "SUCCEEDED", expect_error)
    _quiet()
    with LocalMode(_options(args, dbname="stackflow", fresh=False)) as mode:
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
    from stackflow.local.runner import LocalMode

    _quiet()
    with LocalMode(_options(args, dbname="stackflow", fresh=False, port=args.port)) as mode:
        stack = mode.stack
        endpoint = f"http://127.0.0.1:{args.port}"
        print(f"local AWS (moto) at {endpoint}; PostgreSQL at {mode.database_url}")
        print(f"state machine: {stack.state_machine_arn if stack else '?'}")
        print(f"example: {mode.function_name}:{mode.alias}; artifacts: s3://"
              f"{mode.artifacts_bucket}")
        print(f"try: AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=local "
              f"AWS_SECRET_ACCESS_KEY=local aws lambda list-functions --region us-east-1")
        print("Ctrl-C stops everything")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
    return 0
