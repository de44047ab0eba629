"""``stackflow lint``: the migrations folder against StackFlow's rules and squawk's.

Exit status: 0 clean (notes only), 1 when any error was found, 2 on bad arguments.
``--github`` prints workflow annotations (``::error file=...,line=...``), so a pull
request shows each finding on its line; the deploy workflow runs it before uploading.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stackflow import env
from stackflow.settings import env_str

DEFAULT_MIGRATIONS_DIR = "migrations"
HELP = """\
Check every migration in the folder before it ships:
  StackFlow's rules: the lock each statement takes (a note), a destructive statement
  (drop, rename, type change) outside the contract phase, a missing down script;
  squawk's rules (squawk-cli), minus require-lock-timeout and require-statement-timeout
  (the patcher sets both) and ban-drop-column (the phase-aware rule replaces it).
Switch rules off in pyproject.toml:  [tool.stackflow.lint] disable = ["rule", ...]
or for one statement with a comment above it:
  -- stackflow:lint-ignore RULE why it is safe here
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lint", help="check migrations against StackFlow's and squawk's rules",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migrations-dir", metavar="DIR",
                        help=f"the folder (default ${env.MIGRATIONS_DIR} or ./migrations)")
    parser.add_argument("--config", metavar="PYPROJECT", default="pyproject.toml",
                        help="where [tool.stackflow.lint] is read (default pyproject.toml)")
    parser.add_argument("--no-squawk", action="store_true",
                        help="run StackFlow's rules only")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument("--github", action="store_true",
                        help="print GitHub workflow annotations")
    parser.set_defaults(func=lint_command)


def lint_command(args: argparse.Namespace) -> int:
    from stackflow_tools.lint.config import load_config
    from stackflow_tools.lint.render import as_github, as_json, as_text
    from stackflow_tools.lint.service import lint

    folder = Path(args.migrations_dir or env_str(env.MIGRATIONS_DIR) or DEFAULT_MIGRATIONS_DIR)
    report = lint(folder, load_config(Path(args.config)), squawk=not args.no_squawk)
    render = as_json if args.json else as_github if args.github else as_text
    text = render(report, folder)
    if text:
        print(text)
    return 1 if report.errors else 0
