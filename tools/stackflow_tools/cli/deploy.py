"""``stackflow rollback-alias | history | unlock``: the deployer from a terminal.

``rollback-alias`` points an alias back at a version in one ``UpdateAlias`` call (empty
routing config): by default the version the newest successful (or still running)
deployment of that alias started from, and notes who did it on that deployment's
record. A running deployment does not undo it: its next alias write stops with
``AliasChangedExternally``. ``history`` shows where the alias points now (read from the
alias), then the deployment records, newest first, with what operators and Reconcile
did to each (a multi-function release's functions below its row, from its release
record). ``rollback-alias --release EXECUTION`` puts every alias of a release back
(``stackflow_tools.cli.releases``). ``unlock --force`` frees a lock whose execution no
longer runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stackflow import env
from stackflow.deploy.model import DEFAULT_ALIAS
from stackflow.deploy.record import FAILED, IN_PROGRESS, ROLLED_BACK
from stackflow.errors import InvalidRequest, ResourceNotFound
from stackflow.settings import env_str

from stackflow_tools.cli.releases import Releases, release_for, release_lines, releases_of
from stackflow_tools.cli.rollback_impact import impact_text

if TYPE_CHECKING:
    from stackflow.adapters.dynamodb import DynamoDeployStore

DEFAULT_LIMIT = 20


def register(subparsers: Any) -> None:
    rollback = _command(subparsers, "rollback-alias",
                        "point an alias back at a version (one UpdateAlias, no routing left)",
                        function_optional=True)
    rollback.add_argument("--to", dest="version", type=_version, metavar="VERSION",
                          help="version to point at (default: the one the newest successful "
                               "or running deployment of this alias replaced)")
    rollback.add_argument("--by", help=f"who rolls back, for the record (default "
                                       f"${env.GITHUB_ACTOR} or ${env.USER})")
    rollback.add_argument("--patcher-function", metavar="NAME",
                          help=f"the patcher asked what reverting the release's migrations "
                               f"would destroy (default ${env.PATCHER_FUNCTION} or "
                               f"StackFlowPatcher)")
    rollback.add_argument("--release", metavar="EXECUTION",
                          help="put every alias of this multi-function release (execution "
                               "name or ARN; FUNCTION, if given, must be one of its "
                               "functions) back on its previous version")
    rollback.set_defaults(func=rollback_alias_command)

    unlock = _command(subparsers, "unlock",
                      "free a deployment lock whose execution no longer runs (recorded)")
    unlock.add_argument("--force", action="store_true", required=True,
                        help="required: this deletes another execution's lock")
    unlock.add_argument("--reason", required=True, help="why, for the record")
    unlock.add_argument("--even-if-running", action="store_true",
                        help="unlock even while the holder execution is RUNNING (it would "
                             "go on moving the alias without the lock)")
    unlock.add_argument("--by", help=f"who unlocks (default ${env.GITHUB_ACTOR} or "
                                     f"${env.USER})")
    unlock.set_defaults(func=unlock_command)

    history = _command(subparsers, "history", "list a function's deployments, newest first")
    history.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                         help=f"show at most N deployments (default {DEFAULT_LIMIT})")
    history.add_argument("--all-aliases", action="store_true",
                         help="list every alias's deployments, not only --alias")
    history.set_defaults(func=history_command)


def _command(subparsers: Any, name: str, help_text: str, *,
             function_optional: bool = False) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text,
                                                            description=help_text)
    if function_optional:
        parser.add_argument("function", nargs="?", help="function name (not needed with "
                                                        "--release)")
    else:
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
    from stackflow.deploy.operator import note_rollback
    from stackflow.deploy.traffic import rollback_alias

    from stackflow_tools.cli.main import print_json

    store = _store(args)
    if args.release:
        return _rollback_release(args, store)
    if not args.function:
        raise InvalidRequest("function", "is required (or --release EXECUTION)")
    records = store.list_records(args.function)
    version = args.version or previous_version(records, args.function, args.alias)
    # An operator's one-off call: the SDK's own retries help here (UpdateAlias to a
    # fixed version is idempotent), unlike inside the state machine. Nothing polls or
    # waits otherwise: one GetAlias (to say what changed), one UpdateAlias.
    functions = LambdaFunctions(default_client("lambda"))
    result = rollback_alias(args.function, args.alias, version, functions)
    noted = note_rollback(store, args.function, args.alias, records, result,
                          by=operator_name(args.by), at=datetime.now(UTC))
    impact = _schema_impact(args, records, functions)
    if args.json:
        print_json({"ok": True, **result, "recorded_on": noted, "schema_impact": impact})
    else:
        print(rollback_text(result))
        if noted:
            print(f"recorded on deployment {noted.rsplit(':', 1)[-1]}")
        if impact:
            print("\n".join(impact_text(impact)))
    return 0


def _rollback_release(args: argparse.Namespace, store: DynamoDeployStore) -> int:
    from stackflow.adapters import default_client
    from stackflow.adapters.lambda_ import LambdaFunctions
    from stackflow.deploy.traffic import rollback_alias

    from stackflow_tools.cli.main import print_json
    from stackflow_tools.cli.releases import check_function, find_release, roll_back_release

    release = find_release(store, args.release)
    check_function(release, args.function)
    functions = LambdaFunctions(default_client("lambda"))
    results = roll_back_release(
        release, lambda fn, alias, version: rollback_alias(fn, alias, version, functions),
        store, by=operator_name(args.by), at=datetime.now(UTC))
    # The release record keeps the baseline its SchemaBefore took, as a deployment does.
    impact = _impact_of(args, release, functions)
    if args.json:
        print_json({"ok": True, "release": release["execution_id"], "functions": results,
                    "schema_impact": impact})
        return 0
    for result in results:
        print(rollback_text(result) if "before" in result
              else f"{result['function']}:{result['alias']}: {result['skipped']}")
    print(f"recorded on release {str(release['execution_id']).rsplit(':', 1)[-1]}")
    if impact:
        print("\n".join(impact_text(impact)))
    return 0


def _schema_impact(args: argparse.Namespace, records: Sequence[Mapping[str, Any]],
                   functions: Any) -> dict[str, Any] | None:
    """The rollback impact of the release whose alias change this undid."""
    released = next((r for r in newest_first(records) if r.get("alias") == args.alias
                     and r.get("status") not in (FAILED, ROLLED_BACK)), None)
    return _impact_of(args, released, functions)


def _impact_of(args: argparse.Namespace, recorded: Mapping[str, Any] | None,
               functions: Any) -> dict[str, Any] | None:
    from stackflow.deploy.deps import DEFAULT_PATCHER_FUNCTION

    from stackflow_tools.cli.rollback_impact import rollback_impact

    patcher = (args.patcher_function or env_str(env.PATCHER_FUNCTION)
               or DEFAULT_PATCHER_FUNCTION)
    return rollback_impact(recorded, patcher, functions)


def unlock_command(args: argparse.Namespace) -> int:
    from stackflow.deploy.compose import build_deps
    from stackflow.deploy.deps import DeploySettings
    from stackflow.deploy.operator import force_unlock

    from stackflow_tools.cli.main import print_json

    deps = build_deps(DeploySettings(table=_table(args)))
    done = force_unlock(args.function, args.alias, by=operator_name(args.by),
                        reason=args.reason, even_if_running=args.even_if_running,
                        deps=deps)
    if args.json:
        print_json({"ok": True, **done.to_dict()})
    elif done.holder is None:
        print(f"{args.function}:{args.alias} is not locked")
    else:
        what = "released" if done.released else "was released meanwhile by its holder"
        note = "; recorded on its deployment" if done.recorded else ""
        print(f"{args.function}:{args.alias}: lock of {done.holder} "
              f"({done.holder_status or 'status unknown'}) {what}{note}")
    return 0


def operator_name(given: str | None) -> str:
    """Who acts, for the record: ``--by``, else the CI actor or the login."""
    return str(given or env_str(env.GITHUB_ACTOR) or env_str(env.USER) or "unknown")


def rollback_text(result: Mapping[str, Any]) -> str:
    """What ``rollback-alias`` did, in one line an operator can paste into a channel."""
    before = result["before"]
    target = f"{result['function']}:{result['alias']}"
    was = f"version {before['version']}{_routing_text(before['routing'])}"
    if before["version"] == result["version"] and not before["routing"]:
        return f"{target} already on version {result['version']} with no routing; " \
               "rewrote it (one UpdateAlias)"
    return (f"rolled back {target} to version {result['version']} with 100% of the "
            f"traffic (was {was}); one UpdateAlias, routing config cleared")


def previous_version(records: Sequence[Mapping[str, Any]], function: str, alias: str) -> str:
    """The version the newest deployment that moved ``alias`` replaced.

    A FAILED or ROLLED_BACK deployment already put the alias back where it found it:
    its ``previous_version`` is the current one, so the default looks past it.
    """
    for item in newest_first(records):
        if (item.get("alias") == alias and item.get("previous_version")
                and item.get("status") not in (FAILED, ROLLED_BACK)):
            return str(item["previous_version"])
    raise ResourceNotFound(f"no successful or running deployment of {function}:{alias} is "
                           "recorded; pass --to VERSION", function=function, alias=alias)


def history_command(args: argparse.Namespace) -> int:
    from stackflow_tools.cli.aliases import alias_line, alias_now
    from stackflow_tools.cli.main import print_json

    store = _store(args)
    records = newest_first(store.list_records(args.function))
    if not args.all_aliases:
        records = [r for r in records if r.get("alias") == args.alias]
    records = records[: max(args.limit, 0)]
    releases = releases_of(records, store)
    aliases = sorted({str(r["alias"]) for r in records if r.get("alias")}) \
        if args.all_aliases else [args.alias]
    now = {alias: alias_now(args.function, alias) for alias in aliases}
    if args.json:
        print_json({"ok": True, "function": args.function, "aliases": now,
                    "deployments": records, "releases": releases})
        return 0
    for alias, state in now.items():
        print("now  " + alias_line(args.function, alias, state))
    if not records:
        print(f"no deployments of {args.function} recorded")
    for line in history_lines(records, with_alias=args.all_aliases, releases=releases):
        print(line)
    return 0


def newest_first(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(records, key=lambda r: str(r.get("started_at", "")), reverse=True)


HISTORY_COLUMNS = ("STARTED", "STATUS", "VERSION", "COMMIT", "DURATION", "EXECUTION")


def history_lines(records: Sequence[Mapping[str, Any]], *, with_alias: bool = False,
                  releases: Releases | None = None) -> list[str]:
    """A table: started, status, previous -> new version, commit, duration, execution.

    A failed deployment's error follows on its own indented line; a release's functions
    (from ``releases``, the release records by execution id) below its row.
    """
    header = ("ALIAS", *HISTORY_COLUMNS) if with_alias else HISTORY_COLUMNS
    rows = [_history_row(r, with_alias) for r in records]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [_table_line(header, widths)]
    for record, row in zip(records, rows, strict=True):
        lines.append(_table_line(row, widths))
        error = record.get("error")
        if isinstance(error, Mapping):
            lines.append(f"  {error.get('type')}: {error.get('message')}")
        lines.extend(f"  {line}" for line in snapshot_lines(record))
        lines.extend(f"  {line}" for line in aftermath_lines(record))
        lines.extend(f"  {line}" for line in release_lines(release_for(record,
                                                                       releases or {})))
    return lines


def snapshot_lines(record: Mapping[str, Any]) -> list[str]:
    """The cluster snapshot taken before this deployment's destructive migrations
    (docs/patcher.md restores from it), if it took one."""
    snapshot = record.get("snapshot")
    if not isinstance(snapshot, Mapping):
        return []
    line = (f"snapshot {snapshot.get('snapshot_id')} of cluster {snapshot.get('cluster')} "
            f"({snapshot.get('status')})")
    tables = [str(t) for t in snapshot.get("tables") or []]
    return [f"{line}: tables {', '.join(tables)}" if tables else line]


def aftermath_lines(record: Mapping[str, Any]) -> list[str]:
    """What happened to a deployment besides its steps: operators, Reconcile."""
    lines = []
    for entry in record.get("interventions") or []:
        if isinstance(entry, Mapping):
            lines.append(f"{entry.get('action')} by {entry.get('by')} at {entry.get('at')}"
                         f": {entry.get('detail') or entry.get('reason') or ''}".rstrip(": "))
    reconciled = record.get("reconciled")
    if isinstance(reconciled, Mapping):
        rollback = reconciled.get("rollback") or {}
        alias = rollback.get("outcome", "not touched") if isinstance(rollback, Mapping) \
            else "not touched"
        lock = "lock released" if reconciled.get("lock_released") else "lock not held"
        lines.append(f"reconciled at {reconciled.get('at')} after the execution ended "
                     f"{reconciled.get('execution_status')}: alias {alias}, {lock}")
    return lines


def _history_row(r: Mapping[str, Any], with_alias: bool) -> tuple[str, ...]:
    versions = f"{r.get('previous_version') or '-'} -> {r.get('new_version') or '-'}"
    commit = str((r.get("ci") or {}).get("commit") or "-")[:12]
    execution = str(r.get("execution_id", "")).rsplit(":", 1)[-1] or "-"
    row = (str(r.get("started_at") or "-"), str(r.get("status") or "-"), versions, commit,
           duration_text(r), execution)
    return (str(r.get("alias") or "-"), *row) if with_alias else row


def _table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
                     ).rstrip()


def duration_text(record: Mapping[str, Any]) -> str:
    """``42s``, ``5m 03s``, ``1h 02m``; ``running`` while in progress; ``-`` if unknown."""
    started = _timestamp(record.get("started_at"))
    finished = _timestamp(record.get("finished_at"))
    if started is None:
        return "-"
    if finished is None:
        return "running" if record.get("status") == IN_PROGRESS else "-"
    seconds = max(int((finished - started).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _table(args: argparse.Namespace) -> str:
    table = args.table or env_str(env.DEPLOY_TABLE)
    if not table:
        raise InvalidRequest("--table", f"is required (or set {env.DEPLOY_TABLE})")
    return str(table)


def _store(args: argparse.Namespace) -> DynamoDeployStore:
    from stackflow.adapters.dynamodb import DynamoDeployStore

    return DynamoDeployStore(_table(args))


def _routing_text(routing: Mapping[str, float]) -> str:
    if not routing:
        return ""
    return ", routing " + ", ".join(f"{v}: {w:.0%}" for v, w in sorted(routing.items()))
