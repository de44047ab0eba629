"""Runtime-dependency wheels for a Lambda runtime, downloaded once and cached.

The build machine's Python and CPU may differ from the Lambda runtime's, so nothing is
``pip install``-ed: ``pip download --only-binary=:all:`` fetches the wheels built for
the target's Python version and architecture, and the zip builder unpacks them itself.

What ships is hash-locked (``fetch_locked_wheels``): pip checks every wheel, from the
index or from the cache, against the SHA-256 hashes in the lock file
(``--require-hashes``), so neither a changed upload on the index nor a tampered cache
file can reach a zip. A cache file that fails the check is replaced by a download that
passes it. ``fetch_wheels`` (constraints, no hashes) serves local mode's runtime client,
which never ships.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackflow.errors import InvalidRequest, PackageBuildFailed

# Lambda architecture name -> the machine name in wheel platform tags.
WHEEL_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
# glibc of the Amazon Linux a Lambda Python runtime runs on: 2023 from python3.12 on,
# Amazon Linux 2 before. A manylinux wheel needing a newer glibc would fail to load.
AL2023_GLIBC_MINOR = 34
AL2_GLIBC_MINOR = 26
OLDEST_MANYLINUX_MINOR = 17

# Packages the Lambda Python runtime already provides (boto3 and what it depends on):
# distribution name -> the top-level modules it installs. They never go into a zip.
RUNTIME_PROVIDED: dict[str, tuple[str, ...]] = {
    "boto3": ("boto3",),
    "botocore": ("botocore",),
    "s3transfer": ("s3transfer",),
    "jmespath": ("jmespath",),
    "python-dateutil": ("dateutil",),
    "six": ("six",),
    "urllib3": ("urllib3",),
}

# Wheel contents that have no use at run time.
NOISE_DIRS = frozenset({"__pycache__", "tests", "test"})
NOISE_SUFFIXES = (".pyc", ".pyo", ".pyi")  # type stubs are for type checkers only
DIST_INFO_KEEP = frozenset({"METADATA", "WHEEL", "top_level.txt"})
LICENSE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Target:
    """A Python version and CPU the wheels are chosen for."""

    python_version: str
    arch: str
    platforms: tuple[str, ...]

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    @property
    def label(self) -> str:
        return f"{self.abi}-{self.arch}"


def lambda_target(python_version: str, arch: str) -> Target:
    """The target of a Lambda ``python<version>`` runtime on ``arch`` (arm64 or x86_64)."""
    machine = _wheel_arch(arch)
    major, minor = _parse_version(python_version)
    glibc = AL2023_GLIBC_MINOR if (major, minor) >= (3, 12) else AL2_GLIBC_MINOR
    return Target(python_version, arch, _manylinux_platforms(glibc, machine))


def host_target(python_version: str | None = None) -> Target:
    """The target of this machine (its glibc and CPU), e.g. to import-test a zip here."""
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    _parse_version(version)
    libc, libc_version = platform.libc_ver()
    if libc != "glibc":
        raise InvalidRequest("--platform", f"host wheels need a glibc Linux, this is {libc!r}")
    machine = platform.machine()
    arch = {value: key for key, value in WHEEL_ARCH.items()}.get(machine, machine)
    glibc_minor = int(libc_version.split(".")[1])
    return Target(version, arch, _manylinux_platforms(glibc_minor, machine))


def _wheel_arch(arch: str) -> str:
    if arch not in WHEEL_ARCH:
        raise InvalidRequest("--arch", f"must be one of {sorted(WHEEL_ARCH)}, got {arch!r}")
    return WHEEL_ARCH[arch]


def _parse_version(version: str) -> tuple[int, int]:
    parts = version.split(".")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise InvalidRequest("--python-version", f"must look like 3.12, got {version!r}")
    return int(parts[0]), int(parts[1])


def _manylinux_platforms(glibc_minor: int, machine: str) -> tuple[str, ...]:
    # pip does not expand manylinux_2_X to older glibc tags by itself, so list them all.
    tags = [f"manylinux_2_{minor}_{machine}"
            for minor in range(glibc_minor, OLDEST_MANYLINUX_MINOR - 1, -1)]
    return (*tags, f"manylinux2014_{machine}")


def fetch_wheels(target: Target, requirements: Sequence[str], constraints: Path | None,
                 cache_root: Path, run: Runner = subprocess.run) -> list[Path]:
    """Resolve ``requirements`` for ``target`` and return the wheel files, cached.

    The wheels of one resolution land in a fresh folder first, so the result is exactly
    that resolution even when the cache holds other versions; a cache that already has
    every wheel is used without the network.
    """
    constrained = ["--constraint", str(constraints)] if constraints is not None else []
    return _fetch(target, [*constrained, *requirements], cache_root, run)


def fetch_locked_wheels(target: Target, lock: Path, cache_root: Path,
                        run: Runner = subprocess.run) -> list[Path]:
    """Every wheel ``lock`` pins, for ``target``, each checked against the lock's hashes."""
    return _fetch(target, ["--require-hashes", "--requirement", str(lock)], cache_root, run)


def _fetch(target: Target, spec: Sequence[str], cache_root: Path, run: Runner) -> list[Path]:
    cache = cache_root / target.label
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stackflow-wheels-") as tmp:
        dest = Path(tmp)
        base = _pip_download_args(target, dest)
        offline = _pip(run, [*base, "--no-index", "--find-links", str(cache), *spec],
                       target, cache)
        if offline.returncode != 0:
            # From the index only: a cached file that failed its hash is not offered again.
            online = _pip(run, [*base, *spec], target, cache)
            if online.returncode != 0:
                raise download_failed(target, cache, _failure_detail(offline, online))
        wheels = sorted(dest.glob("*.whl"))
        for wheel in wheels:
            if not _same_file(wheel, cache / wheel.name):
                # Copy then rename: a parallel build never reads half a wheel.
                partial = cache / f"{wheel.name}.{os.getpid()}.partial"
                shutil.copyfile(wheel, partial)
                partial.replace(cache / wheel.name)
        return [cache / wheel.name for wheel in wheels]


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and a.stat().st_size == b.stat().st_size \
        and a.read_bytes() == b.read_bytes()


def _failure_detail(offline: subprocess.CompletedProcess[str],
                    online: subprocess.CompletedProcess[str]) -> str:
    detail = _tail(online.stderr)
    if "HASH" in offline.stderr.upper():
        detail += f" | the cached wheels failed their hash check: {_tail(offline.stderr, 4)}"
    return detail


def _pip(run: Runner, args: list[str], target: Target,
         cache: Path) -> subprocess.CompletedProcess[str]:
    try:
        return run(args, capture_output=True, text=True, check=False)
    except OSError as e:  # no interpreter or no pip: as clear as a failed download
        raise download_failed(target, cache, str(e)) from e


def download_failed(target: Target, cache: Path, detail: str) -> PackageBuildFailed:
    """The error of a build that could not get its wheels (offline, index down, no match)."""
    return PackageBuildFailed(
        f"cannot get the runtime wheels for {target.label}: not all are in the cache "
        f"({cache}) and downloading them with pip failed (is the package index "
        f"reachable?): {detail or 'no output from pip'}", target=target.label)


def _pip_download_args(target: Target, dest: Path) -> list[str]:
    platform_args = [arg for tag in target.platforms for arg in ("--platform", tag)]
    return [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--implementation", "cp",
        "--python-version", target.python_version, "--abi", target.abi, *platform_args,
        "--dest", str(dest),
    ]


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:])


def distribution_name(wheel: Path) -> str:
    """The normalized distribution name of a wheel file (``psycopg_binary`` -> psycopg-binary)."""
    return wheel.name.split("-")[0].lower().replace("_", "-").replace(".", "-")


def is_runtime_provided(wheel: Path) -> bool:
    return distribution_name(wheel) in RUNTIME_PROVIDED


def wheel_entries(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(path in the zip, bytes)`` for what a wheel installs, minus the noise."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            arcname = installed_path(info.filename)
            if arcname is not None:
                yield arcname, archive.read(info)


def installed_path(name: str) -> str | None:
    """Where a wheel member lands in site-packages, or None when it is not shipped."""
    parts = name.split("/")
    top = parts[0]
    if top.endswith(".data"):
        # purelib/platlib go to site-packages; scripts, headers and data have no use here.
        if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            return installed_path("/".join(parts[2:]))
        return None
    if top.endswith(".dist-info"):
        return name if _keep_dist_info(parts[1:]) else None
    if any(part in NOISE_DIRS for part in parts[:-1]) or name.endswith(NOISE_SUFFIXES):
        return None
    if top.endswith("-stubs"):  # a stub-only package (PEP 561)
        return None
    return name


def _keep_dist_info(rest: list[str]) -> bool:
    # METADATA keeps importlib.metadata.version() working; WHEEL records the tags built for.
    if rest[0] == "licenses":
        return True
    return len(rest) == 1 and (rest[0] in DIST_INFO_KEEP or rest[0].startswith(LICENSE_PREFIXES))
