"""Entry point of the ``stackflow`` console script.

Each command group lives in its own module exposing ``register(subparsers)``; they are
imported here only, so ``stackflow --help`` stays the single map of the CLI.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stackflow.errors import StackFlowError

# Command-group modules under stackflow_tools.cli, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "patcher",
    "lint",
    "pipeline",
    "deploy",
    "drift",
    "infra",
    "report",
    "local",
)

# Which module registers each top-level command. A command line imports only its own
# group, so `stackflow migrate` does not pay for botocore or the local-mode engine;
# `--help` and unknown commands import them all. tests/unit checks this table against
# what the modules really register.
COMMAND_OWNERS: dict[str, str] = {
    "migrate": "patcher",
    "rollback": "patcher",
    "status": "patcher",
    "adopt": "patcher",
    "lint": "lint",
    "pipeline": "pipeline",
    "approve": "pipeline",
    "reject": "pipeline",
    "rollback-alias": "deploy",
    "history": "deploy",
    "unlock": "deploy",
    "drift": "drift",
    "infra": "infra",
    "report": "report",
    "local": "local",
}

Command = Callable[[argparse.Namespace], int]


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackflow",
        description="Lambda-native deployer and PostgreSQL migration patcher.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        module = importlib.import_module(f"stackflow_tools.cli.{name}")
        module.register(subparsers)
    return parser


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command-group modules needed to parse ``argv``."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    owner = COMMAND_OWNERS.get(first or "")
    return (owner,) if owner else COMMAND_MODULES


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(modules_for(arguments))
    args = parser.parse_args(arguments)
    command: Command = args.func
    try:
        return command(args)
    except StackFlowError as e:
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, **e.to_dict()}, default=str))
        print(f"error: {e.error_type}: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
