"""The CDK app ships `make package`'s zips as they are, and only ones built for its runtime."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from stackflow_tools.release import package, wheels

from infra import assets


def runtime_of_infra() -> tuple[str, str]:
    return assets.LAMBDA_RUNTIME.name.removeprefix("python"), assets.LAMBDA_ARCHITECTURE.name


def test_make_package_targets_the_runtime_and_architecture_infra_declares() -> None:
    # GIVEN the runtime and CPU every function is declared with
    # THEN `make package` builds wheels for exactly those by default
    assert runtime_of_infra() == (package.DEFAULT_PYTHON_VERSION, package.DEFAULT_ARCH)


def test_a_packaged_zip_is_the_functions_code_as_is(tmp_path: Path) -> None:
    # GIVEN no dist folder yet
    dist = tmp_path / "dist"
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

    # WHEN a function of the example API is synthesized
    app = App(outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "ReleaseAssets")
    lambda_.Function(stack, "Api", runtime=assets.LAMBDA_RUNTIME,
                     architecture=assets.LAMBDA_ARCHITECTURE, handler="example_api.app.handler",
                     code=assets.code_for("example_api", dist))
    app.synth()

    # THEN the packager built the zip for the declared runtime, and the code asset is
    # that zip file, uploaded without repackaging
    sidecar = json.loads((dist / "stackflow-api.json").read_text())
    assert (sidecar["python_version"], sidecar["arch"]) == runtime_of_infra()
    manifest = json.loads((tmp_path / "cdk.out" / "ReleaseAssets.assets.json").read_text())
    [asset] = [a for a in manifest["files"].values() if a["source"]["path"].endswith(".zip")]
    assert asset["source"]["packaging"] == "file"
    shipped = tmp_path / "cdk.out" / asset["source"]["path"]
    assert shipped.read_bytes() == (dist / "stackflow-api.zip").read_bytes()
    with zipfile.ZipFile(shipped) as archive:
        names = set(archive.namelist())
    assert {"example_api/app.py", "psycopg/__init__.py"} <= names


def test_a_current_zip_is_reused_and_a_changed_source_rebuilds_it(tmp_path: Path) -> None:
    # GIVEN a functions folder packaged once
    functions = tmp_path / "functions"
    shutil.copytree(assets.REPO_ROOT / "functions" / "example_api", functions / "example_api",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(assets.REPO_ROOT / "functions" / "stackflow", functions / "stackflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    bundle = package.bundle_named("stackflow-api")
    dist = tmp_path / "dist"
    first = package.ensure_built(bundle, assets.lambda_target(), dist=dist, functions_dir=functions)
    built_at = first.stat().st_mtime_ns

    # WHEN nothing changed / THEN the same file is returned untouched
    again = package.ensure_built(bundle, assets.lambda_target(), dist=dist, functions_dir=functions)
    assert again.stat().st_mtime_ns == built_at

    # WHEN a source file changes / THEN the zip is rebuilt and holds the change
    (functions / "example_api" / "added.py").write_text("VALUE = 1\n")
    package.ensure_built(bundle, assets.lambda_target(), dist=dist, functions_dir=functions)
    with zipfile.ZipFile(dist / "stackflow-api.zip") as archive:
        assert "example_api/added.py" in archive.namelist()


def test_a_zip_built_for_another_runtime_is_rebuilt_not_shipped(tmp_path: Path) -> None:
    # GIVEN a dist folder whose zips were built for another CPU
    version, arch = runtime_of_infra()
    other = "arm64" if arch == "x86_64" else "x86_64"
    dist = tmp_path / "dist"
    package.build_all(wheels.lambda_target(version, other),
                      [package.bundle_named("stackflow-functions")], dist=dist)

    # WHEN the app asks for the patcher's code
    shipped = assets.packaged_zip("patcher", dist)

    # THEN it gets a zip built for the declared runtime
    sidecar = json.loads(shipped.with_suffix(".json").read_text())
    assert (sidecar["python_version"], sidecar["arch"]) == (version, arch)
