"""The folder shows the boundary: what ships to Lambda never reaches for the tooling."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO_ROOT / "functions"
TOOLING = "stackflow_tools"
# Folders of the tooling that once lived in the runtime core.
MOVED = ("cli", "local", "release")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(FUNCTIONS.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(FUNCTIONS)))
def test_no_module_of_the_lambda_asset_root_imports_the_tooling(path: Path) -> None:
    # GIVEN a module that ships in a Lambda zip / WHEN its imports are read
    imported = _imported_modules(path)
    # THEN none of them is the tooling package, or where the tooling used to live
    assert not {name for name in imported if name.split(".")[0] == TOOLING}
    assert not {name for name in imported
                if name.split(".")[:2] in (["stackflow", moved] for moved in MOVED)}


def test_the_asset_root_holds_only_what_ships() -> None:
    # GIVEN the runtime core's folders / THEN the tooling is not among them
    core = {p.name for p in (FUNCTIONS / "stackflow").iterdir() if p.is_dir()}
    assert not core & set(MOVED)
    assert (REPO_ROOT / "tools" / TOOLING / "__init__.py").is_file()


def test_no_list_of_dev_only_paths_decides_what_ships() -> None:
    # GIVEN the packager and the CDK asset code / THEN neither excludes tooling paths:
    # the folder alone decides (build debris such as __pycache__ may still be skipped)
    for source in (REPO_ROOT / "infra" / "assets.py",
                   REPO_ROOT / "tools" / TOOLING / "release" / "package.py"):
        text = source.read_text()
        assert "stackflow/cli" not in text
        assert "stackflow/local" not in text
        assert "exclude" not in text.lower(), source
