"""``stackflow infra diff | deploy | status``: infrastructure changes that cannot destroy
data by accident.

``diff`` synthesizes the CDK app and classifies every change: with AWS credentials
through a change set per stack (never executed), with ``--against DIR|GIT_REF`` offline,
predicting replacements from the CloudFormation resource schemas. ``deploy`` does the
same, refuses any replacement or removal of a data-holding resource that is not named
with ``--allow-replace``, backs up what it is allowed to replace, executes the change
sets, waits, and records each stack's outcome in the deploy table. ``status`` shows
each stack's status, drift and last deploy.

Exit status: 0 safe / deployed, 2 refused (a destructive change nobody allowed, or no
approval; nothing changed), 1 an error, a stack that did not update, a refusal after an
earlier stack was deployed, or an outcome that could not be recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackflow import env
from stackflow.errors import ConfigurationError, InvalidRequest

from stackflow_tools.cli.main import print_json

if TYPE_CHECKING:
    from stackflow_tools.infra_guard.assembly import CloudAssembly
    from stackflow_tools.infra_guard.model import GuardReport, Template
    from stackflow_tools.infra_guard.service import DeployResult, GuardDeps

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2
PROD = "prod"
ANY_CHANGE, NEVER = "any-change", "never"


def register(subparsers: Any) -> None:
    infra = subparsers.add_parser(
        "infra", help="diff / deploy / status of the CDK stacks, refusing data loss",
        description="Change the StackFlow stacks without destroying data by accident "
                    "(docs/infra.md, 'Changing infrastructure safely').")
    commands = infra.add_subparsers(dest="infra_command", required=True, metavar="COMMAND")
    diff = _command(commands, "diff", "classify every change (exit 2 on a destructive "
                                      "change not allowed by name)")
    diff.add_argument("--against", metavar="DIR|GIT_REF",
                      help="offline: compare with this cloud assembly folder (cdk.out.prev/)"
                           " or git ref (synthesized into a temporary folder); no AWS call")
    diff.add_argument("--allow-replace-from", type=Path, metavar="FILE",
                      help="also allow the names on 'allow-replace: LOGICAL_ID' lines of "
                           "FILE (a pull request's description)")
    diff.add_argument("--schema-region", default="us-east-1",
                      help="region of the resource schemas offline (default %(default)s)")
    diff.set_defaults(func=diff_command)
    deploy = _command(commands, "deploy", "back up, execute the change sets, wait, record")
    deploy.add_argument("--require-approval", choices=(ANY_CHANGE, NEVER),
                        help="ask before any change (default: any-change for prod, which "
                             "cannot be turned off; never otherwise)")
    deploy.add_argument("--table", help="deploy table for the outcome (default: the "
                                        "stack's DeployTableName output)")
    deploy.set_defaults(func=deploy_command)
    status = _command(commands, "status", "each stack's status, drift and last deploy")
    status.add_argument("--detect-drift", action="store_true",
                        help="run a drift detection now (the drift check's own calls) "
                             "instead of showing the last one")
    status.add_argument("--table", help="deploy table (default: the DeployTableName output)")
    status.set_defaults(func=status_command)


def _command(commands: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
    parser.add_argument("--stage", default=os.environ.get(env.STAGE) or "dev",
                        help=f"stage to synthesize (default ${env.STAGE} or dev)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="CDK context value, as with cdk -c (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    if name != "status":
        parser.add_argument("--assembly", type=Path, metavar="DIR",
                            help="use this synthesized cloud assembly instead of "
                                 "synthesizing the working tree")
        parser.add_argument("--allow-replace", action="append", default=[],
                            metavar="LOGICAL_ID", help="allow this destructive change "
                            "(LOGICAL_ID or STACK/LOGICAL_ID; repeatable)")
    return parser


# --- diff ------------------------------------------------------------------------------
def diff_command(args: argparse.Namespace) -> int:
    from stackflow_tools.infra_guard.classify import announced
    from stackflow_tools.infra_guard.render import render_text

    allow = list(args.allow_replace)
    if args.allow_replace_from is not None:
        allow += announced(_read(args.allow_replace_from))
    with tempfile.TemporaryDirectory(prefix="stackflow-infra-") as work:
        report = _diff(args, Path(work), allow)
    if args.json:
        print_json(report.to_dict())
    else:
        print(render_text(report), end="")
    return EXIT_REFUSED if report.blocking else EXIT_OK


def _diff(args: argparse.Namespace, work: Path, allow: list[str]) -> GuardReport:
    from stackflow_tools.infra_guard import service
    from stackflow_tools.infra_guard.schemas import lookup

    if args.against is None:
        deps = _deps(args)  # fails fast without AWS setup, before a synthesis
        return service.online_diff(_assembly(args, work / "new"), deps, allow)
    new = _assembly(args, work / "new")
    old = _old_templates(args, args.against, work / "old")
    return service.offline_diff(new, old, schemas=lookup(args.schema_region), allow=allow)


def _old_templates(args: argparse.Namespace, against: str,
                   work: Path) -> Mapping[str, Template]:
    from stackflow_tools.infra_guard.assembly import load_templates
    from stackflow_tools.infra_guard.synth import synthesize_ref

    if Path(against).is_dir():
        return load_templates(Path(against))
    _progress(f"synthesizing git {against} ...")
    return synthesize_ref(_repo(), against, work, stage=args.stage,
                          context=_context(args)).templates()


# --- deploy ----------------------------------------------------------------------------
def deploy_command(args: argparse.Namespace) -> int:
    from stackflow_tools.infra_guard import service
    from stackflow_tools.infra_guard.synth import head_commit, preflight

    options = service.DeployOptions(
        allow=tuple(args.allow_replace), require_approval=_approval(args), table=args.table,
        stage=args.stage, commit=head_commit(Path.cwd()))
    if args.assembly is None:
        preflight(_repo(), stage=args.stage, context=_context(args))
    deps = _deps(args)
    with tempfile.TemporaryDirectory(prefix="stackflow-infra-") as work:
        result = service.deploy(_assembly(args, Path(work) / "new"), deps, options)
    if args.json:
        print_json(result.to_dict())
    else:
        print(_deploy_summary(result))
    if result.refused and not result.outcomes:
        return EXIT_REFUSED  # nothing was changed
    return EXIT_OK if result.succeeded else EXIT_ERROR


def _approval(args: argparse.Namespace) -> bool:
    if args.stage == PROD and args.require_approval == NEVER:
        raise InvalidRequest("--require-approval", "prod asks before any change, as a "
                                                   "release waits at its approval gate")
    return bool(args.stage == PROD or args.require_approval == ANY_CHANGE)


def _deploy_summary(result: DeployResult) -> str:
    if result.refused and not result.outcomes:
        return f"nothing deployed: {result.refused}"
    lines = [f"{o.stack}: {o.status}" + (f" ({o.failed_resource}: {o.reason})"
                                         if o.reason else "") for o in result.outcomes]
    if result.refused:
        lines.append(f"stopped before the next stack: {result.refused}")
    lines = lines or ["no changes: nothing to deploy"]
    if result.recorded_in:
        lines.append(f"recorded in {result.recorded_in}")
    elif result.record_error:
        lines.append(f"NOT RECORDED: {result.record_error}")
    return "\n".join(lines)


# --- status ----------------------------------------------------------------------------
def status_command(args: argparse.Namespace) -> int:
    from stackflow_tools.infra_guard import service

    stacks = service.stage_stacks(args.stage, _context(args).get("name_suffix", ""))
    found = service.status(stacks, _deps(args), table=args.table,
                           detect_drift=args.detect_drift)
    if args.json:
        print_json([s.to_dict() for s in found])
        return EXIT_OK
    for s in found:
        print(f"{s.stack}: {s.status}" + (f" ({s.reason})" if s.reason else ""))
        if s.status != service.NOT_DEPLOYED:
            print(f"  updated {s.updated or '-'}; drift {s.drift or '-'}")
            print(f"  last infra deploy: {_last(s.last_deploy)}")
    return EXIT_OK


def _last(record: Any) -> str:
    if not record:
        return "none recorded"
    return (f"{record.get('finished_at', '?')} {record.get('outcome', '?')} "
            f"({record.get('status', '?')}) by {record.get('by', '?')}")


# --- shared ----------------------------------------------------------------------------
def _assembly(args: argparse.Namespace, outdir: Path) -> CloudAssembly:
    from stackflow_tools.infra_guard.assembly import load_assembly
    from stackflow_tools.infra_guard.synth import synthesize

    if args.assembly is not None:
        return load_assembly(args.assembly, source=str(args.assembly))
    _progress(f"synthesizing stage {args.stage} ...")
    return synthesize(_repo(), outdir, stage=args.stage, context=_context(args))


def _deps(args: argparse.Namespace) -> GuardDeps:
    from stackflow.adapters import check_aws_setup

    from stackflow_tools.infra_guard.compose import build_deps

    check_aws_setup(f"stackflow infra {args.infra_command}")
    out = (lambda text: print(text, file=sys.stderr)) if args.json else print
    return build_deps(out=out, confirm=_confirm)


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print("approval needed, but stdin is not a terminal: nothing changed",
              file=sys.stderr)
        return False
    return input(prompt).strip().lower() == "yes"


def _context(args: argparse.Namespace) -> dict[str, str]:
    pairs = {}
    for item in args.context:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest("-c", f"expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def _repo() -> Path:
    root = Path.cwd()
    if not (root / "infra" / "app.py").is_file():
        raise ConfigurationError("run stackflow infra from the repository root (where "
                                 "infra/app.py is), or pass --assembly DIR")
    return root


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise InvalidRequest("--allow-replace-from", f"cannot read {path}: {e}") from e


def _progress(text: str) -> None:
    print(text, file=sys.stderr)
