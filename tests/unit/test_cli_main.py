"""The CLI entry point imports only the command group a command line needs."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from stackflow_tools.cli.main import COMMAND_MODULES, COMMAND_OWNERS, modules_for


def test_owner_table_matches_what_each_module_registers() -> None:
    # GIVEN every command-group module
    registered: dict[str, str] = {}
    for name in COMMAND_MODULES:
        subparsers = argparse.ArgumentParser().add_subparsers()
        # WHEN it registers its commands
        importlib.import_module(f"stackflow_tools.cli.{name}").register(subparsers)
        registered.update({command: name for command in subparsers.choices})
    # THEN the owner table names exactly those commands and modules
    assert registered == COMMAND_OWNERS


def test_a_command_line_needs_only_its_own_group() -> None:
    assert modules_for(["migrate", "--dry-run"]) == ("patcher",)
    assert modules_for(["--help"]) == COMMAND_MODULES
    assert modules_for(["no-such-command"]) == COMMAND_MODULES


def test_patcher_commands_do_not_import_botocore() -> None:
    # GIVEN a fresh interpreter
    code = (
        "import sys\n"
        "from stackflow_tools.cli.main import build_parser, modules_for\n"
        "build_parser(modules_for(['status']))\n"
        "print('botocore' in sys.modules)\n"
    )
    # WHEN it builds the parser for `stackflow status`
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    # THEN botocore was not loaded on the way
    assert out == "False"
