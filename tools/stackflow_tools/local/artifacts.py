"""Builds of the example application as local artifacts (zips in the local S3).

Each build is a real zip of ``functions/example_api`` plus a ``BUILD.json`` naming the
build and release, uploaded to the (versioned) artifacts bucket with its base64
SHA-256, exactly what CI would hand the pipeline. The in-process Lambda runs a
version whose ``CodeSha256`` matches a registered build with that build's handler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackflow.errors import InvalidRequest

from stackflow_tools.local.invoker import CodeCatalog
from stackflow_tools.release.zipbuild import code_sha256, zip_bytes

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

EXAMPLE_DIR = Path(__file__).resolve().parents[3] / "functions" / "example_api"


@dataclass(frozen=True)
class Build:
    """One code variant of the example application."""

    name: str
    handler: str
    summary: str


BUILDS: dict[str, Build] = {build.name: build for build in (
    Build("good", "example_api.app.handler", "healthy build"),
    Build("orders-regression", "example_api.regressions.orders_regression",
          "GET /orders reads a missing column: passes smoke, errors under canary traffic"),
    Build("health-regression", "example_api.regressions.health_regression",
          "the health check queries a missing table: fails its smoke test"),
)}


@dataclass(frozen=True)
class Artifact:
    """An uploaded build, as the deployment input's ``artifact`` names it."""

    bucket: str
    key: str
    version_id: str
    sha256: str
    build: Build
    release: str

    def to_input(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id,
                "sha256": self.sha256}


def get_build(name: str) -> Build:
    if name not in BUILDS:
        raise InvalidRequest("build", f"unknown build {name!r} (known: {sorted(BUILDS)})")
    return BUILDS[name]


def build_zip(build: Build, release: str) -> bytes:
    """The deterministic zip of one build of the example application."""
    entries = {f"example_api/{path.name}": path.read_bytes()
               for path in EXAMPLE_DIR.glob("*.py")}
    manifest = {"build": build.name, "release": release, "handler": build.handler}
    entries["example_api/BUILD.json"] = json.dumps(manifest, sort_keys=True).encode()
    return zip_bytes(entries)


def register(catalog: CodeCatalog, build: Build, release: str) -> bytes:
    """Build the zip and tell the in-process Lambda which handler its code runs."""
    data = build_zip(build, release)
    catalog.register(code_sha256(data), build.handler, f"{release} ({build.name})")
    return data


def upload(s3: S3Client, catalog: CodeCatalog, *, bucket: str, function_name: str,
           build: Build, release: str) -> Artifact:
    """Upload one build to the artifacts bucket, as CI does before starting a release."""
    data = register(catalog, build, release)
    key = f"{function_name}/{release}.zip"
    sha = code_sha256(data)
    put = s3.put_object(Bucket=bucket, Key=key, Body=data,
                        Metadata={"sha256": sha, "build": build.name})
    return Artifact(bucket=bucket, key=key, version_id=put.get("VersionId", "null"),
                    sha256=sha, build=build, release=release)
