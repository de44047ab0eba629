"""Where each function's code comes from: the zip ``make package`` builds, and nothing else.

Every function's code is its bundle's zip from ``dist/``, uploaded as is, so the
``CodeSha256`` Lambda reports is the SHA-256 the packager printed. Synthesis runs the
same packager (``stackflow_tools.release.package.ensure_built``), which rebuilds a zip
only when its sources, requirements or target changed, so ``make synth``, ``make diff``,
``make deploy`` and a bare ``cdk synth`` can never ship a function without its
dependencies or with stale code.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda
from stackflow_tools.release import package, wheels

REPO_ROOT = Path(__file__).resolve().parent.parent
DIST_DIR = REPO_ROOT / "dist"

# The release path builds wheels for exactly this runtime and architecture.
LAMBDA_RUNTIME = aws_lambda.Runtime.PYTHON_3_13
LAMBDA_ARCHITECTURE = aws_lambda.Architecture.X86_64

# The bundle (stackflow_tools.release.package.BUNDLES) each component's code is in.
PACKAGE_OF = {
    "patcher": "stackflow-functions",
    "deploy_steps": "stackflow-functions",
    "drift_check": "stackflow-functions",
    "database_roles": "stackflow-functions",
    "example_api": "stackflow-api",
}
COMPONENTS = tuple(PACKAGE_OF)


def code_for(component: str, dist: Path | None = None) -> aws_lambda.Code:
    """The Lambda code of one component (``patcher``, ``deploy_steps``, ...)."""
    return aws_lambda.Code.from_asset(str(packaged_zip(component, dist)))


def packaged_zip(component: str, dist: Path | None = None) -> Path:
    """``dist/<zip>`` of a component, built for the declared runtime when not current."""
    if component not in PACKAGE_OF:
        raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")
    bundle = package.bundle_named(PACKAGE_OF[component])
    return package.ensure_built(bundle, lambda_target(), dist=DIST_DIR if dist is None else dist)


def lambda_target() -> wheels.Target:
    """The wheel target of the declared runtime and architecture."""
    version = LAMBDA_RUNTIME.name.removeprefix("python")
    return wheels.lambda_target(version, LAMBDA_ARCHITECTURE.name)
