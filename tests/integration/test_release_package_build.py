"""`make package`: reproducible zips with the Lambda runtime's wheels and nothing else.

Wheels come from PyPI once and are cached under .stackflow/wheels, like `make package`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from stackflow.release import package, wheels
from stackflow.release.zipbuild import FIXED_DATE_TIME

ELF_MACHINE = {"x86_64": 62, "arm64": 183}
DEFAULT_TARGET = wheels.lambda_target(package.DEFAULT_PYTHON_VERSION, package.DEFAULT_ARCH)
FUNCTIONS = package.BUNDLES[0]


@pytest.fixture(scope="module")
def default_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    return {summary.path.name: summary.path
            for summary in package.build_all(DEFAULT_TARGET, dist=dist)}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def copy_functions(dest: Path) -> Path:
    shutil.copytree(package.FUNCTIONS_DIR, dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def test_the_same_sources_give_the_same_sha256(tmp_path: Path) -> None:
    # GIVEN a copy of the sources, built once
    sources = copy_functions(tmp_path / "functions")
    first = package.build_bundle(FUNCTIONS, DEFAULT_TARGET, dist=tmp_path / "a",
                                 functions_dir=sources)

    # WHEN every file gets another modification time and mode, and it is built again
    for path in sources.rglob("*"):
        if path.is_file():
            os.utime(path, (1_700_000_000, 1_700_000_000))
            path.chmod(0o600)
    second = package.build_bundle(FUNCTIONS, DEFAULT_TARGET, dist=tmp_path / "b",
                                  functions_dir=sources)

    # THEN both zips are byte for byte the same
    assert second.code_sha256 == first.code_sha256
    assert sha256_of(second.path) == sha256_of(first.path)

    # AND a changed source changes the hash
    with (sources / "stackflow" / "env.py").open("a") as f:
        f.write("\n# changed\n")
    third = package.build_bundle(FUNCTIONS, DEFAULT_TARGET, dist=tmp_path / "c",
                                 functions_dir=sources)
    assert third.code_sha256 != first.code_sha256


def test_entries_have_fixed_timestamps_modes_and_order(default_zips: dict[str, Path]) -> None:
    # GIVEN the functions zip
    with zipfile.ZipFile(default_zips["stackflow-functions.zip"]) as archive:
        infos = archive.infolist()

    # THEN every entry has the fixed date and mode, in sorted order
    assert {info.date_time for info in infos} == {FIXED_DATE_TIME}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    names = [info.filename for info in infos]
    assert names == sorted(names)


def test_the_zip_holds_code_and_dependencies_but_no_boto3_tests_or_caches(
        default_zips: dict[str, Path]) -> None:
    # GIVEN the functions zip's file list
    names = names_in(default_zips["stackflow-functions.zip"])
    tops = {name.split("/")[0] for name in names}

    # THEN the core, the handlers and the runtime dependencies are in it
    assert "stackflow/errors.py" in names
    assert {"stackflow", "aws_lambda_powertools", "psycopg", "psycopg_binary"} <= tops
    for handler in ("patcher", "deploy_steps", "drift_check"):
        if (package.FUNCTIONS_DIR / handler).is_dir():
            assert handler in tops
    # AND nothing the runtime provides, no dev-only code, tests, caches or RECORDs
    provided = {module for modules in wheels.RUNTIME_PROVIDED.values() for module in modules}
    assert not tops & provided
    assert not [n for n in names if n.startswith(("stackflow/cli/", "stackflow/local/",
                                                  "stackflow/release/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if re.search(r"(^|/)tests?/", n)]
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER"))]


def test_stackflows_zip_is_under_10_mb(default_zips: dict[str, Path]) -> None:
    # GIVEN / WHEN the functions zip is built / THEN it stays under the 10 MB goal
    assert default_zips["stackflow-functions.zip"].stat().st_size < 10_000_000


@pytest.mark.parametrize(("python_version", "arch"),
                         [(package.DEFAULT_PYTHON_VERSION, package.DEFAULT_ARCH),
                          ("3.12", "arm64")])
def test_binaries_are_for_the_runtimes_python_and_architecture_only(
        tmp_path: Path, python_version: str, arch: str) -> None:
    # GIVEN a zip built for a Lambda runtime (another Python and CPU than this one, too)
    target = wheels.lambda_target(python_version, arch)
    summary = package.build_bundle(FUNCTIONS, target, dist=tmp_path)
    cp = "cp" + python_version.replace(".", "")
    machine = wheels.WHEEL_ARCH[arch]

    with zipfile.ZipFile(summary.path) as archive:
        shared = [n for n in archive.namelist() if re.search(r"\.so(\.|$)", n)]
        tags = [line.split(": ", 1)[1]
                for n in archive.namelist() if n.endswith(".dist-info/WHEEL")
                for line in archive.read(n).decode().splitlines() if line.startswith("Tag: ")]
        elf_machines = {int.from_bytes(archive.read(n)[18:20], "little") for n in shared}

    # THEN every shared object is an ELF for that CPU
    assert shared, "psycopg-binary ships shared objects"
    assert elf_machines == {ELF_MACHINE[arch]}
    # AND every extension module and wheel tag names that Python and CPU (or none)
    extensions = [n for n in shared if ".cpython-" in n]
    assert extensions
    assert all(f".cpython-{cp[2:]}-{machine}-linux-gnu.so" in n for n in extensions)
    pure = [tag for tag in tags if re.fullmatch(r"py\d+-none-any", tag)]
    binary = [tag for tag in tags if tag not in pure]
    assert binary
    assert all(re.fullmatch(rf"{cp}-{cp}-manylinux[0-9_]*_{machine}", tag) for tag in binary)


def test_make_package_prints_each_zips_size_and_code_sha256(tmp_path: Path) -> None:
    # WHEN `make package`'s command runs
    out = io.StringIO()
    with redirect_stdout(out):
        code = package.main(["--dist", str(tmp_path)])

    # THEN each zip is listed with its size and the base64 SHA-256 Lambda would report
    assert code == 0
    for bundle in package.BUNDLES:
        path = tmp_path / bundle.filename
        expected = base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
        [line] = [line for line in out.getvalue().splitlines()
                  if line.startswith(bundle.filename)]
        assert f"CodeSha256 {expected}" in line
        assert " MB" in line
