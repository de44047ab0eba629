"""Builds of the example application as release artifacts (zips in the local S3).

Every build starts from the zip the packager makes for ``StackFlowAPI`` (the
``stackflow-api`` bundle: ``functions/example_api``, the runtime core and the
dependency wheels, for the function's runtime), so local mode releases what CI would.
The builds differ the way real commits do, in their code:

* ``good``: the application as it is, plus ``example_api/BUILD.json`` naming the release;
* ``orders-regression`` / ``health-regression`` / ``hanging-health``: ``example_api/app.py``
  serves one of the regressions in ``example_api/regressions.py`` from its usual
  ``handler``;
* ``worker-regression``: ``example_api/worker.py`` serves the orders worker's regression
  (the second function of a two-function release);
* ``missing-dependency``: the good build with ``psycopg`` left out of the zip, so its
  handler cannot be imported (``Runtime.ImportModuleError`` at its smoke test).

Each is uploaded to the (versioned) artifacts bucket with its base64 SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackflow.errors import InvalidRequest

from stackflow_tools.release import artifacts as release_artifacts
from stackflow_tools.release import package, wheels
from stackflow_tools.release.zipbuild import code_sha256, zip_bytes

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUNDLE = "stackflow-api"
APP_MODULE = "example_api/app.py"
WORKER_MODULE = "example_api/worker.py"
BUILD_FILE = "example_api/BUILD.json"
# Appended to app.py: the module's `handler` now serves the regression's routes.
REBIND = '''

# Build {build}: this release serves {function} from the usual handler.
def handler(event, context):
    from example_api.regressions import {function}

    return {function}(event, context)
'''


@dataclass(frozen=True)
class Build:
    """One code variant of the example application."""

    name: str
    summary: str
    regression: str | None = None
    drops: tuple[str, ...] = ()
    # The module whose ``handler`` serves the regression (the worker's for its builds).
    module: str = "example_api/app.py"


BUILDS: dict[str, Build] = {build.name: build for build in (
    Build("good", "healthy build"),
    Build("orders-regression",
          "GET /orders reads a missing column: passes smoke, errors under canary traffic",
          regression="orders_regression"),
    Build("health-regression",
          "the health check queries a missing table: fails its smoke test",
          regression="health_regression"),
    Build("hanging-health",
          "the health check never answers: its smoke case times out",
          regression="health_hangs"),
    Build("worker-regression",
          "the orders worker's summary reads a missing column: passes smoke (its health "
          "action), errors under canary traffic", regression="worker_regression",
          module=WORKER_MODULE),
    Build("missing-dependency",
          "zipped without psycopg: the handler cannot be imported (fails its smoke test)",
          drops=("psycopg", "psycopg_binary", "psycopg_binary.libs")),
)}


@dataclass(frozen=True)
class Artifact(release_artifacts.Artifact):
    """An uploaded build: the release artifact, and which build and release it is."""

    build: Build = BUILDS["good"]
    release: str = ""

    def to_input(self) -> dict[str, Any]:
        return self.to_dict()


def get_build(name: str) -> Build:
    if name not in BUILDS:
        raise InvalidRequest("build", f"unknown build {name!r} (known: {sorted(BUILDS)})")
    return BUILDS[name]


def base_zip(target: wheels.Target, dist: Path) -> Path:
    """The packager's ``stackflow-api`` zip for ``target``, built when not current."""
    return package.ensure_built(package.bundle_named(BUNDLE), target, dist=dist)


def build_zip(build: Build, release: str, base: bytes) -> bytes:
    """The deterministic zip of one build, made from the packaged application ``base``.

    The same inputs give the same bytes, so a process keeps the last few: re-compressing
    the packaged dependencies costs most of a second per release otherwise.
    """
    key = (build, release, hashlib.sha256(base).hexdigest())
    cached = _BUILT.get(key)
    if cached is None:
        cached = _BUILT[key] = _build_zip(build, release, base)
        while len(_BUILT) > _BUILT_KEPT:
            del _BUILT[next(iter(_BUILT))]
    return cached


# (build, release, SHA-256 of the base zip) -> bytes; oldest first.
_BUILT: dict[tuple[Build, str, str], bytes] = {}
_BUILT_KEPT = 6


def _build_zip(build: Build, release: str, base: bytes) -> bytes:
    entries = _entries(base)
    for name in [n for n in entries if n.split("/")[0].split("-")[0] in build.drops
                 or _dist_info_of(n) in build.drops]:
        del entries[name]
    if build.regression:
        text = entries[build.module].decode() + REBIND.format(build=build.name,
                                                              function=build.regression)
        entries[build.module] = text.encode()
    manifest = {"build": build.name, "release": release}
    entries[BUILD_FILE] = json.dumps(manifest, sort_keys=True).encode()
    return zip_bytes(entries)


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()
                if not name.endswith("/")}


def _dist_info_of(name: str) -> str:
    top = name.split("/")[0]
    if not top.endswith(".dist-info"):
        return ""
    return top.removesuffix(".dist-info").rsplit("-", 1)[0]


def upload(s3: S3Client, *, bucket: str, function_name: str, build: Build, release: str,
           data: bytes) -> Artifact:
    """Upload one build's zip to the artifacts bucket, as CI does before a release."""
    key = f"{function_name}/{release}.zip"
    sha = code_sha256(data)
    put = s3.put_object(Bucket=bucket, Key=key, Body=data,
                        Metadata={"sha256": sha, "build": build.name})
    return Artifact(bucket=bucket, key=key, version_id=put.get("VersionId", "null"),
                    sha256=sha, build=build, release=release)
