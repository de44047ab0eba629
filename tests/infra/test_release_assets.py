"""The CDK app ships `make package`'s zips as they are, and only ones built for its runtime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from stackflow.release import package

from infra import assets


def fake_dist(dist: Path, *, python_version: str, arch: str) -> Path:
    """A dist/ folder as `make package` leaves it: the zips and their sidecars."""
    dist.mkdir()
    for name in ("stackflow-functions", "stackflow-api"):
        (dist / f"{name}.zip").write_bytes(f"zip of {name}".encode())
        (dist / f"{name}.json").write_text(json.dumps(
            {"zip": f"{name}.zip", "python_version": python_version, "arch": arch}))
    return dist


def runtime_of_infra() -> tuple[str, str]:
    return assets.LAMBDA_RUNTIME.name.removeprefix("python"), assets.LAMBDA_ARCHITECTURE.name


def test_make_package_targets_the_runtime_and_architecture_infra_declares() -> None:
    # GIVEN the runtime and CPU every function is declared with
    # THEN `make package` builds wheels for exactly those by default
    assert runtime_of_infra() == (package.DEFAULT_PYTHON_VERSION, package.DEFAULT_ARCH)


def test_a_packaged_zip_is_the_functions_code_as_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN zips built for the declared runtime
    version, arch = runtime_of_infra()
    dist = fake_dist(tmp_path / "dist", python_version=version, arch=arch)
    monkeypatch.setattr(assets, "DIST_DIR", dist)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

    # WHEN a function of the example API is synthesized
    app = App(outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "ReleaseAssets")
    lambda_.Function(stack, "Api", runtime=assets.LAMBDA_RUNTIME,
                     architecture=assets.LAMBDA_ARCHITECTURE, handler="example_api.app.handler",
                     code=assets.code_for("example_api"))
    app.synth()

    # THEN its code asset is that zip file, uploaded without repackaging
    manifest = json.loads((tmp_path / "cdk.out" / "ReleaseAssets.assets.json").read_text())
    [asset] = [a for a in manifest["files"].values() if a["source"]["path"].endswith(".zip")]
    assert asset["source"]["packaging"] == "file"
    shipped = tmp_path / "cdk.out" / asset["source"]["path"]
    assert shipped.read_bytes() == (dist / "stackflow-api.zip").read_bytes()


def test_a_zip_built_for_another_runtime_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN zips built for another CPU (e.g. for an import test on this machine)
    version, arch = runtime_of_infra()
    other = "arm64" if arch == "x86_64" else "x86_64"
    dist = fake_dist(tmp_path / "dist", python_version=version, arch=other)

    # WHEN / THEN the app refuses them, naming both
    with pytest.raises(ValueError, match=f"built for python{version} {other}"):
        assets.packaged_zip("patcher", dist)


def test_without_packaged_zips_the_source_folder_is_used(tmp_path: Path) -> None:
    # GIVEN an empty dist folder / THEN no packaged zip is chosen
    assert assets.packaged_zip("drift_check", tmp_path) is None
