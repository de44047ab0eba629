"""``stackflow report EXECUTION [--html FILE] [--markdown] [--json]``: one release, shown.

Reads the execution history (Step Functions), the deployment record (the deploy table
with ``--table`` / ``$DEPLOY_TABLE``, else the record the execution carries at its end)
and ``Invocations`` / ``Errors`` per ``ExecutedVersion`` (CloudWatch) over the release
window. ``--html`` writes a self-contained page (inline SVG, no script); ``--markdown``
(the default on the terminal) and ``--json`` print. Details: docs/release.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackflow import env
from stackflow.adapters.cloudwatch import PERIOD_SECONDS
from stackflow.errors import InvalidRequest
from stackflow.settings import env_str

if TYPE_CHECKING:
    from stackflow_tools.report.model import Report


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="the timeline, traffic and verdict of one release",
        description="Build the report of one release execution: its states with "
                    "durations, the traffic share and error rate of each version over "
                    "time, the smoke cases, the migrations and the verdict.")
    report.add_argument("execution", help="execution name or ARN")
    report.add_argument("--state-machine-arn", default=env_str(env.STATE_MACHINE_ARN),
                        help=f"with an execution name (default ${env.STATE_MACHINE_ARN})")
    report.add_argument("--table", default=env_str(env.DEPLOY_TABLE),
                        help=f"deploy table to read the record from (default "
                             f"${env.DEPLOY_TABLE}; without one, the record the "
                             "execution wrote at its end)")
    report.add_argument("--html", type=Path, metavar="FILE", help="write the HTML page here")
    output = report.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true",
                        help="print Markdown (the default without --html / --json)")
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--period", type=_period, default=PERIOD_SECONDS, metavar="SECONDS",
                        help="metric period (default %(default)s; CloudWatch keeps Lambda "
                             "metrics per minute; 1 for local mode)")
    report.add_argument("--no-metrics", action="store_true",
                        help="do not read CloudWatch (no error rates)")
    report.set_defaults(func=report_command)


def _period(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds, got {text!r}")
    return int(text)


def report_command(args: argparse.Namespace) -> int:
    from stackflow.adapters.cloudwatch import CloudWatchAlarms
    from stackflow.adapters.dynamodb import DynamoDeployStore
    from stackflow.adapters.stepfunctions import StepFunctions, execution_arn

    from stackflow_tools.cli.main import print_json
    from stackflow_tools.report.collect import Sources, collect
    from stackflow_tools.report.markdown import render_markdown

    arn = str(args.execution)
    if not arn.startswith("arn:"):
        if not args.state_machine_arn:
            raise InvalidRequest("--state-machine-arn", f"is required with an execution "
                                                        f"name (or set ${env.STATE_MACHINE_ARN})")
        arn = execution_arn(args.state_machine_arn, arn)
    report = collect(arn, Sources(
        sfn=StepFunctions(), cloudwatch=None if args.no_metrics else CloudWatchAlarms(),
        store=DynamoDeployStore(args.table) if args.table else None,
        period_seconds=args.period))
    if args.html is not None:
        write_html(report, args.html)
        # stdout stays the Markdown or JSON when one is printed too.
        print(f"report: {args.html}", file=sys.stderr if args.json or args.markdown
              else sys.stdout)
    if args.json:
        print_json(report.to_dict())
    elif args.markdown or args.html is None:
        print(render_markdown(report), end="")
    return 0


def write_html(report: Report, path: Path) -> None:
    """Write the page, creating its folder."""
    from stackflow_tools.report.html import render_html

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(report), encoding="utf-8")
    except OSError as e:
        raise InvalidRequest("--html", f"cannot write {path}: {e}") from e
