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
from dataclasses import dataclass
from pathlib import Path

import pytest
from stackflow.errors import PackageBuildFailed
from stackflow_tools.release import package, wheels
from stackflow_tools.release.zipbuild import FIXED_DATE_TIME

ELF_MACHINE = {"x86_64": 62, "arm64": 183}
DEFAULT_TARGET = wheels.lambda_target(package.DEFAULT_PYTHON_VERSION, package.DEFAULT_ARCH)
FUNCTIONS = package.BUNDLES[0]


@dataclass(frozen=True)
class Package:
    """What `make package`'s command printed, and the zips it wrote."""

    out: str
    zips: dict[str, Path]


@pytest.fixture(scope="module")
def make_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    # `make package` itself (its command, into a fresh folder), once for the module.
    dist = tmp_path_factory.mktemp("dist") / "dist"
    out = io.StringIO()
    with redirect_stdout(out):
        code = package.main(["--dist", str(dist)])
    assert code == 0
    return Package(out.getvalue(), {path.name: path for path in dist.glob("*.zip")})


@pytest.fixture(scope="module")
def default_zips(make_package: Package) -> dict[str, Path]:
    return make_package.zips


@pytest.fixture
def unreachable_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees one package index, which refuses connections: no download can succeed."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def copy_functions(dest: Path) -> Path:
    shutil.copytree(package.FUNCTIONS_DIR, dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


# What a working tree collects besides the sources; none of it may reach a zip.
NOISE = {
    "stackflow/__pycache__/errors.cpython-311.pyc": b"\x00compiled",
    "stackflow/migrations/__pycache__/model.cpython-313.pyc": b"\x00compiled",
    "stackflow/tests/test_env.py": b"def test_env() -> None: ...\n",
    "patcher/test/fixture.json": b"{}",
    "stackflow/.mypy_cache/3.11/errors.data.json": b"{}",
    "drift_check/.pytest_cache/v/cache/lastfailed": b"{}",
    "stackflow.egg-info/PKG-INFO": b"Name: stackflow\n",
    "stackflow/stackflow.egg-info/SOURCES.txt": b"stackflow/errors.py\n",
    "patcher/handler.py~": b"an editor's backup\n",
}


def add_noise(root: Path) -> None:
    for name, data in NOISE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_the_same_sources_give_the_same_sha256(tmp_path: Path) -> None:
    # GIVEN two fresh checkouts of the sources in different places; the second has
    # other modification times and modes, and the caches and tests a working tree
    # collects
    clean = copy_functions(tmp_path / "checkout-a" / "functions")
    used = copy_functions(tmp_path / "checkout-b" / "src" / "functions")
    for path in used.rglob("*"):
        if path.is_file():
            os.utime(path, (1_700_000_000, 1_700_000_000))
            path.chmod(0o600)
    add_noise(used)

    # WHEN each is built into a dist folder that does not exist yet
    first = package.build_bundle(FUNCTIONS, DEFAULT_TARGET, dist=tmp_path / "a" / "dist",
                                 functions_dir=clean)
    second = package.build_bundle(FUNCTIONS, DEFAULT_TARGET, dist=tmp_path / "b" / "dist",
                                  functions_dir=used)

    # THEN both zips are byte for byte the same, and the dist folders hold only the zip
    # and its sidecar
    assert second.code_sha256 == first.code_sha256
    assert sha256_of(second.path) == sha256_of(first.path)
    assert sorted(p.name for p in second.path.parent.iterdir()) == [
        "stackflow-functions.json", "stackflow-functions.zip"]

    # AND the hash is the zip's own (not a constant), and the zip holds the sources' bytes,
    # so a changed source changes it
    digest = hashlib.sha256(first.path.read_bytes()).digest()
    assert first.code_sha256 == base64.b64encode(digest).decode()
    with zipfile.ZipFile(first.path) as archive:
        assert archive.read("stackflow/env.py") == (clean / "stackflow" / "env.py").read_bytes()


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
    assert {"boto3", "botocore"} <= provided
    assert not tops & provided
    provided_dists = {name.replace("-", "_") for name in wheels.RUNTIME_PROVIDED}
    assert not [top for top in tops if top.endswith(".dist-info")
                and top.split("-")[0].lower() in provided_dists]
    assert not tops & {"stackflow_tools", "tools", "infra", "bench"}
    assert not [n for n in names if n.startswith(("stackflow/cli/", "stackflow/local/",
                                                  "stackflow/release/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if re.search(r"(^|/)\.[^/]*_cache/|\.egg-info/", n)]
    assert not [n for n in names if re.search(r"(^|/)tests?/", n)]
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER"))]


def test_stackflows_zip_is_under_10_mb(default_zips: dict[str, Path]) -> None:
    # GIVEN / WHEN the functions zip is built / THEN it stays under the 10 MB goal
    assert default_zips["stackflow-functions.zip"].stat().st_size < 10_000_000


@pytest.mark.parametrize(("python_version", "arch"),
                         [(package.DEFAULT_PYTHON_VERSION, package.DEFAULT_ARCH),
                          ("3.12", "arm64")])
def test_binaries_are_for_the_runtimes_python_and_architecture_only(
        tmp_path: Path, request: pytest.FixtureRequest, python_version: str,
        arch: str) -> None:
    # GIVEN a zip built for a Lambda runtime: the default one `make package` built, and
    # one for another Python and CPU (neither is this machine's Python 3.11)
    if (python_version, arch) == (DEFAULT_TARGET.python_version, DEFAULT_TARGET.arch):
        zip_path = request.getfixturevalue("default_zips")[FUNCTIONS.filename]
    else:
        zip_path = package.build_bundle(FUNCTIONS, wheels.lambda_target(python_version, arch),
                                        dist=tmp_path).path
    cp = "cp" + python_version.replace(".", "")
    machine = wheels.WHEEL_ARCH[arch]

    with zipfile.ZipFile(zip_path) as archive:
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


def test_make_package_prints_each_zips_size_and_code_sha256(make_package: Package) -> None:
    # GIVEN `make package`'s command has run (the module fixture)
    # THEN each zip is listed with its size and the base64 SHA-256 Lambda would report
    lines = make_package.out.splitlines()
    assert lines[0] == (f"target: python{package.DEFAULT_PYTHON_VERSION} "
                        f"{package.DEFAULT_ARCH}")
    for bundle in package.BUNDLES:
        path = make_package.zips[bundle.filename]
        expected = base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
        [line] = [line for line in lines if line.startswith(bundle.filename)]
        assert f"CodeSha256 {expected}" in line
        assert f"{path.stat().st_size / 1_000_000:.2f} MB" in line


def test_wheels_are_cached_under_stackflow_wheels_and_reused_offline(
        default_zips: dict[str, Path], unreachable_index: None) -> None:
    # GIVEN `make package` has run once (the cache is filled), and the index is down now
    # WHEN the wheels are fetched again
    fetched = wheels.fetch_locked_wheels(DEFAULT_TARGET, package.LAMBDA_LOCK,
                                         package.WHEEL_CACHE)

    # THEN every one comes from .stackflow/wheels/<cpXY>-<arch>/, no download needed
    cache = package.REPO_ROOT / ".stackflow" / "wheels" / DEFAULT_TARGET.label
    assert fetched
    assert all(path.parent == cache and path.is_file() for path in fetched)
    # AND they are the very wheels the zip was built from
    with zipfile.ZipFile(default_zips[FUNCTIONS.filename]) as archive:
        shipped = {n.split("/")[0].removesuffix(".dist-info").lower()
                   for n in archive.namelist() if ".dist-info/" in n}
    cached = {"-".join(p.name.split("-")[:2]).lower() for p in fetched
              if not wheels.is_runtime_provided(p)}
    assert cached == shipped


def test_a_tampered_cached_wheel_never_reaches_a_zip(
        default_zips: dict[str, Path], unreachable_index: None, tmp_path: Path) -> None:
    # GIVEN a copy of the filled wheel cache in which one wheel was swapped for other
    # bytes under the same name, and no index to download a good one from
    cache = tmp_path / "cache"
    shutil.copytree(package.WHEEL_CACHE / DEFAULT_TARGET.label, cache / DEFAULT_TARGET.label)
    (six,) = (cache / DEFAULT_TARGET.label).glob("six-*.whl")
    six.write_bytes(six.read_bytes() + b"tampered")
    # WHEN the locked wheels are fetched THEN pip's hash check refuses it, and the error
    # says the cached wheels failed their hash check
    with pytest.raises(PackageBuildFailed) as caught:
        wheels.fetch_locked_wheels(DEFAULT_TARGET, package.LAMBDA_LOCK, cache)
    assert "the cached wheels failed their hash check" in caught.value.message
    assert "six" in caught.value.message


def test_a_failed_download_is_a_package_build_failed_not_a_traceback(
        tmp_path: Path, unreachable_index: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an empty wheel cache and a package index that cannot be reached
    # WHEN `make package`'s command runs
    code = package.main(["--dist", str(tmp_path / "dist"),
                         "--wheel-cache", str(tmp_path / "empty-cache")])

    # THEN it exits 1 with one line naming the error, the target and what to check
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: PackageBuildFailed: cannot get the runtime wheels for "
                          f"{DEFAULT_TARGET.label}")
    assert "is the package index reachable?" in err
    assert "No matching distribution" in err  # pip's own words, for the details
    assert "Traceback" not in err
    # AND no zip was written
    assert not list(tmp_path.rglob("*.zip"))
