"""``stackflow rollback-alias | history``: the deployer from a terminal.

``rollback-alias`` points an alias back at a version in one ``UpdateAlias`` call (empty
routing config): by default the version the newest deployment of that alias started
from. Stop a running deployment execution first, or its next Shift moves the alias
again. ``history`` lists the deployment records, newest first.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from stackflow import env
from stackflow.deploy.model import DEFAULT_ALIAS
from stackflow.errors import InvalidRequest, ResourceNotFound
from stackflow.settings import env_str

DEFAULT_LIMIT = 20


def register(subparsers: Any) -> None:
    rollback = _command(subparsers, "rollback-alias",
                        "point an alias back at a version (one UpdateAlias, no routing left)")
    rollback.add_argument("--to", dest="version", type=_version, metavar="VERSION",
                          help="version to point at (default: the one the newest deployment "
                               "of this alias replaced)")
    rollback.set_defaults(func=rollback_alias_command)

    history = _command(subparsers, "history", "list a function's deployments, newest first")
    history.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                         help=f"show at most N deployments (default {DEFAULT_LIMIT})")
    history.add_argument("--all-aliases", action="store_true",
                         help="list every alias's deployments, not only --alias")
    history.set_defaults(func=history_command)


def _command(subparsers: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text,
                                                            description=help_text)
    parser.add_argument("function", help="function name")
    parser.add_argument("--alias", default=DEFAULT_ALIAS,
                        help=f"alias (default {DEFAULT_ALIAS})")
    parser.add_argument("--table", help=f"deploy table (default: ${env.DEPLOY_TABLE})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _version(text: str) -> str:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a published version number, got {text!r}")
    return text


def rollback_alias_command(args: argparse.Namespace) -> int:
    from stackflow.adapters import default_client
    from stackflow.adapters.lambda_ import LambdaFunctions
    from stackflow.cli.main import print_json
    from stackflow.deploy.traffic import rollback_alias

    version = args.version or previous_version(_records(args), args.function, args.alias)
    # An operator's one-off call: the SDK's own retries help here (UpdateAlias to a
    # fixed version is idempotent), unlike inside the state machine.
    functions = LambdaFunctions(default_client("lambda"))
    result = rollback_alias(args.function, args.alias, version, functions)
    if args.json:
        print_json({"ok": True, **result})
    else:
        before = result["before"]
        print(f"{args.function}:{args.alias} -> version {version} "
              f"(was {before['version']}{_routing_text(before['routing'])})")
    return 0


def previous_version(records: Sequence[Mapping[str, Any]], function: str, alias: str) -> str:
    """The version the newest deployment of ``alias`` replaced."""
    for item in newest_first(records):
        if item.get("alias") == alias and item.get("previous_version"):
            return str(item["previous_version"])
    raise ResourceNotFound(f"no deployment of {function}:{alias} is recorded; "
                           "pass --to VERSION", function=function, alias=alias)


def history_command(args: argparse.Namespace) -> int:
    from stackflow.cli.main import print_json

    records = newest_first(_records(args))
    if not args.all_aliases:
        records = [r for r in records if r.get("alias") == args.alias]
    records = records[: max(args.limit, 0)]
    if args.json:
        print_json({"ok": True, "function": args.function, "deployments": records})
        return 0
    if not records:
        print(f"no deployments of {args.function} recorded")
    for line in history_lines(records):
        print(line)
    return 0


def newest_first(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(records, key=lambda r: str(r.get("started_at", "")), reverse=True)


def history_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per deployment: when, status, versions, commit, execution."""
    lines = []
    for r in records:
        versions = f"{r.get('previous_version') or '-'} -> {r.get('new_version') or '-'}"
        commit = (r.get("ci") or {}).get("commit") or "-"
        execution = str(r.get("execution_id", "")).rsplit(":", 1)[-1]
        line = (f"{r.get('started_at', '?'):20}  {r.get('status', '?'):11}  "
                f"{r.get('alias', '?')}  {versions:10}  {commit:12}  {execution}")
        error = r.get("error")
        if isinstance(error, Mapping):
            line += f"  [{error.get('type')}: {error.get('message')}]"
        lines.append(line)
    return lines


def _records(args: argparse.Namespace) -> list[dict[str, Any]]:
    from stackflow.adapters.dynamodb import DynamoDeployStore

    table = args.table or env_str(env.DEPLOY_TABLE)
    if not table:
        raise InvalidRequest("--table", f"is required (or set {env.DEPLOY_TABLE})")
    return DynamoDeployStore(table).list_records(args.function)


def _routing_text(routing: Mapping[str, float]) -> str:
    if not routing:
        return ""
    return ", routing " + ", ".join(f"{v}: {w:.0%}" for v, w in sorted(routing.items()))
