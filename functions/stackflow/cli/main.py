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

# Command-group modules under stackflow.cli, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "patcher",
)

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackflow",
        description="Lambda-native deployer and PostgreSQL migration patcher.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"stackflow.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
