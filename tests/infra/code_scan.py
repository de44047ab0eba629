"""Which Lambda handlers reach the database, read from the code itself.

A handler reads the database when its module, or any module of ``functions/`` it imports
(at module level or inside a function, directly or through other modules), imports
``psycopg`` or ``stackflow.adapters.postgres``. Imports under ``if TYPE_CHECKING:`` do
not count: they never run. The scan parses the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from stackflow_tools.release.package import FUNCTIONS_DIR

DATABASE_MODULES = ("psycopg", "stackflow.adapters.postgres")


def database_import(handler: str, root: Path = FUNCTIONS_DIR) -> tuple[str, str] | None:
    """``(module, what it imports)`` for the first database import ``handler`` reaches.

    ``handler`` is a Lambda ``Handler`` (``example_api.app.handler``); ``None`` when the
    handler's code never imports a database module.
    """
    seen: set[str] = set()
    pending = [handler.rpartition(".")[0]]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _imports_of(module, root):
            if _is_database(name):
                return module, name
            pending += _prefixes(name)
    return None


def _imports_of(module: str, root: Path) -> Iterator[str]:
    path = _source(module, root)
    if path is None:  # outside functions/: the standard library or a dependency
        return
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _source(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking_only(tree: ast.Module) -> set[int]:
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for statement in node.body for inner in ast.walk(statement)}


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[:len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _is_database(name: str) -> bool:
    return any(name == m or name.startswith(f"{m}.") for m in DATABASE_MODULES)


def _prefixes(name: str) -> list[str]:
    # `from stackflow import env` may name a module (stackflow.env) or an attribute;
    # every prefix that is a file under functions/ gets scanned, the rest are skipped.
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
