"""Where each function's code comes from: the one switch the release path edits.

When ``make package`` has built the reproducible zips into ``dist/``, each function's
code is its zip, uploaded as is, so the ``CodeSha256`` Lambda reports is the SHA-256
``make package`` printed. Without them (a fresh checkout, ``make synth``, the template
tests) every function is built from the ``functions/`` folder as it is in the working
tree. A zip built for another runtime or CPU than the one declared here is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import aws_lambda

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"

# The release path builds wheels for exactly this runtime and architecture.
LAMBDA_RUNTIME = aws_lambda.Runtime.PYTHON_3_13
LAMBDA_ARCHITECTURE = aws_lambda.Architecture.X86_64

# Components whose code is the functions/ asset root; the handler strings are relative to it.
COMPONENTS = ("patcher", "deploy_steps", "drift_check", "example_api")

# Dev-only parts of the tree and build debris never ship inside a Lambda zip.
ASSET_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "*.egg-info",
    "**/tests",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "stackflow/local",
    "stackflow/release",
]


DIST_DIR = REPO_ROOT / "dist"
# The zip `make package` (stackflow.release.package.BUNDLES) puts each component in.
PACKAGE_OF = {
    "patcher": "stackflow-functions",
    "deploy_steps": "stackflow-functions",
    "drift_check": "stackflow-functions",
    "example_api": "stackflow-api",
}


def code_for(component: str) -> aws_lambda.Code:
    """The Lambda code of one component (``patcher``, ``deploy_steps``, ...)."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")
    packaged = packaged_zip(component)
    if packaged is not None:
        return aws_lambda.Code.from_asset(str(packaged))
    return aws_lambda.Code.from_asset(str(FUNCTIONS_DIR), exclude=ASSET_EXCLUDES)


def packaged_zip(component: str, dist: Path | None = None) -> Path | None:
    """``dist/<zip>`` of a component when ``make package`` built it, else None.

    ``make package`` writes ``dist/<zip name>.json`` beside each zip, saying which
    Python and architecture its wheels are for; a mismatch would fail at cold start.
    """
    zip_path = (DIST_DIR if dist is None else dist) / f"{PACKAGE_OF[component]}.zip"
    if not zip_path.is_file():
        return None
    sidecar = zip_path.with_suffix(".json")
    try:
        built_for = json.loads(sidecar.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{sidecar} is missing or unreadable; run `make package` again") from e
    wanted = (LAMBDA_RUNTIME.name, LAMBDA_ARCHITECTURE.name)
    found = (f"python{built_for.get('python_version')}", built_for.get("arch"))
    if found != wanted:
        raise ValueError(f"{zip_path} was built for {' '.join(map(str, found))} but the "
                         f"functions run {' '.join(wanted)}; run `make package` again")
    return zip_path
