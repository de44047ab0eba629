"""``make package``: the reproducible deployment zips in ``dist/``.

``stackflow-functions.zip`` holds StackFlow's own functions (the runtime core, the
patcher, the deploy steps, the drift check, the database-roles custom resource);
``stackflow-api.zip`` holds the example ``StackFlowAPI``. Everything under
``functions/`` ships; the tooling lives in ``tools/``. Each zip gets the runtime
dependencies as wheels built for the Lambda runtime's Python and architecture, minus
what the runtime provides.

    python -m stackflow_tools.release.package [--python-version 3.13] [--arch x86_64]
                                        [--dist dist] [--wheel-cache .stackflow/wheels]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackflow.errors import PackageBuildFailed, StackFlowError

from stackflow_tools.release import wheels
from stackflow_tools.release.zipbuild import ZipSummary, write_zip

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS_DIR = REPO_ROOT / "functions"
DIST_DIR = REPO_ROOT / "dist"
WHEEL_CACHE = REPO_ROOT / ".stackflow" / "wheels"
# The runtime dependencies, every one pinned with the SHA-256 of each of its wheels
# (`make lock` compiles it from lambda-requirements.in); pip checks each wheel against it.
LAMBDA_LOCK = Path(__file__).with_name("lambda-requirements.txt")
LAMBDA_LOCK_INPUT = LAMBDA_LOCK.with_suffix(".in")

# The runtime and architecture infra/assets.py declares for every function (a unit test
# keeps the two equal): the zips must hold wheels for exactly that interpreter.
DEFAULT_PYTHON_VERSION = "3.13"
DEFAULT_ARCH = "x86_64"

# What the project's own sources contribute: code and the data files it reads.
SOURCE_SUFFIXES = frozenset({".py", ".json", ".sql"})
# What lambda-requirements.in asks for (a test keeps the two equal): the lock pins these
# and everything they need, with hashes.
RUNTIME_REQUIREMENTS = ("aws-lambda-powertools[tracer]", "psycopg[binary]")


@dataclass(frozen=True)
class Bundle:
    """One deployment zip: which source folders and which runtime requirements."""

    name: str
    sources: tuple[str, ...]
    requirements: tuple[str, ...] = RUNTIME_REQUIREMENTS

    @property
    def filename(self) -> str:
        return f"{self.name}.zip"


BUNDLES: tuple[Bundle, ...] = (
    Bundle("stackflow-functions", ("stackflow", "patcher", "deploy_steps", "drift_check",
                                   "database_roles")),
    Bundle("stackflow-api", ("example_api", "stackflow")),
)


def build_all(target: wheels.Target, bundles: Sequence[Bundle] = BUNDLES, *,
              dist: Path = DIST_DIR, functions_dir: Path = FUNCTIONS_DIR,
              cache: Path = WHEEL_CACHE) -> list[ZipSummary]:
    """Build every bundle for ``target`` into ``dist`` and return their summaries."""
    return [build_bundle(bundle, target, dist=dist, functions_dir=functions_dir, cache=cache)
            for bundle in bundles]


def bundle_named(name: str) -> Bundle:
    """The bundle ``name`` (``stackflow-functions``, ``stackflow-api``)."""
    for bundle in BUNDLES:
        if bundle.name == name:
            return bundle
    raise PackageBuildFailed(f"no bundle named {name!r}; expected one of "
                             f"{[b.name for b in BUNDLES]}", bundle=name)


def ensure_built(bundle: Bundle, target: wheels.Target, *, dist: Path = DIST_DIR,
                 functions_dir: Path = FUNCTIONS_DIR, cache: Path = WHEEL_CACHE) -> Path:
    """``dist/<bundle>.zip``, built again unless its sidecar shows the same inputs.

    The inputs are the bundle's source files, its requirements, the lock file and the
    target, so a zip is reused only when ``make package`` would write the same bytes.
    """
    zip_path = dist / bundle.filename
    wanted = inputs_sha256(bundle, target, functions_dir)
    if zip_path.is_file() and _sidecar(zip_path).get("inputs_sha256") == wanted:
        return zip_path
    return build_bundle(bundle, target, dist=dist, functions_dir=functions_dir,
                        cache=cache).path


def inputs_sha256(bundle: Bundle, target: wheels.Target,
                  functions_dir: Path = FUNCTIONS_DIR) -> str:
    """SHA-256 over everything that decides a bundle's bytes."""
    digest = hashlib.sha256()
    for part in (target.label, *target.platforms, *bundle.requirements):
        digest.update(part.encode() + b"\0")
    digest.update(LAMBDA_LOCK.read_bytes())
    for arcname, data in source_entries(functions_dir, bundle):
        digest.update(arcname.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _sidecar(zip_path: Path) -> dict[str, object]:
    try:
        document = json.loads(zip_path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def build_bundle(bundle: Bundle, target: wheels.Target, *, dist: Path = DIST_DIR,
                 functions_dir: Path = FUNCTIONS_DIR, cache: Path = WHEEL_CACHE) -> ZipSummary:
    missing = [source for source in bundle.sources if not (functions_dir / source).is_dir()]
    if len(missing) == len(bundle.sources):
        raise PackageBuildFailed(f"{bundle.name}: none of {list(bundle.sources)} exists "
                                 f"under {functions_dir}", bundle=bundle.name)
    for source in missing:
        print(f"warning: {bundle.name}: {functions_dir / source} does not exist; left out",
              file=sys.stderr)
    project = dict(source_entries(functions_dir, bundle))
    wheel_files = wheels.fetch_locked_wheels(target, LAMBDA_LOCK, cache)
    entries = merge_entries(project, dependency_entries(wheel_files))
    check_imports(project, entries)
    summary = write_zip(dist / bundle.filename, entries)
    write_sidecar(summary, target, inputs_sha256(bundle, target, functions_dir))
    return summary


def write_sidecar(summary: ZipSummary, target: wheels.Target, inputs: str) -> Path:
    """``dist/<name>.json``: what the zip was built for, read by infra/assets.py.

    The CDK app refuses a zip built for another runtime or CPU (for instance one built
    with ``--platform host`` for an import test) instead of deploying it.
    """
    sidecar = summary.path.with_suffix(".json")
    partial = sidecar.with_name(f"{sidecar.name}.{os.getpid()}.partial")
    document = {
        "zip": summary.path.name,
        "python_version": target.python_version,
        "arch": target.arch,
        "platforms": list(target.platforms),
        "size": summary.size,
        "code_sha256": summary.code_sha256,
        "sha256": summary.sha256_hex,
        "inputs_sha256": inputs,
    }
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    partial.replace(sidecar)
    return sidecar


def source_entries(functions_dir: Path, bundle: Bundle) -> Iterator[tuple[str, bytes]]:
    """The project's own files of a bundle, as ``(path in the zip, bytes)``."""
    for source in bundle.sources:
        root = functions_dir / source
        for path in sorted(root.rglob("*")):
            arcname = path.relative_to(functions_dir).as_posix()
            if path.is_file() and _is_shipped_source(arcname):
                yield arcname, path.read_bytes()


def _is_shipped_source(arcname: str) -> bool:
    # functions/ holds only what ships; build debris is the one thing left out.
    parts = arcname.split("/")
    if any(_is_noise_dir(part) for part in parts[:-1]):
        return False
    return Path(arcname).suffix in SOURCE_SUFFIXES


def _is_noise_dir(name: str) -> bool:
    # Tool caches (.mypy_cache, .pytest_cache, ...) hold .json files too; egg-info is
    # an editable install's metadata. Neither is code the function runs.
    return name in wheels.NOISE_DIRS or name.startswith(".") or name.endswith(".egg-info")


def dependency_entries(wheel_files: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    for wheel in wheel_files:
        if not wheels.is_runtime_provided(wheel):
            yield from wheels.wheel_entries(wheel)


def merge_entries(project: dict[str, bytes],
                  dependencies: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    """Project files plus wheel files; the same path from two places is an error."""
    merged = dict(project)
    for arcname, data in dependencies:
        if arcname in merged:
            raise PackageBuildFailed(f"two sources provide {arcname}", path=arcname)
        merged[arcname] = data
    return merged


def check_imports(project: dict[str, bytes], entries: dict[str, bytes]) -> None:
    """Fail when the project's code imports a module neither the zip nor the runtime has.

    Imports under ``if TYPE_CHECKING:`` and inside ``try: ... except ImportError`` are
    not needed at run time and are skipped.
    """
    available = top_level_modules(entries) | set(sys.stdlib_module_names) | {
        module for modules in wheels.RUNTIME_PROVIDED.values() for module in modules}
    missing = sorted({
        f"{name} (imported by {arcname})"
        for arcname, data in project.items() if arcname.endswith(".py")
        for name in runtime_imports(data, arcname)
        if name not in available
    })
    if missing:
        raise PackageBuildFailed("the zip lacks modules its code imports: " + ", ".join(missing),
                                 missing=missing)


def top_level_modules(entries: Iterable[str]) -> set[str]:
    names = set()
    for arcname in entries:
        first = arcname.split("/")[0]
        if not first.endswith((".dist-info", ".libs")):
            # "six.py" -> six; "_psycopg.cpython-312-aarch64-linux-gnu.so" -> _psycopg
            names.add(first.split(".")[0])
    return names


def runtime_imports(source: bytes, filename: str) -> set[str]:
    """Top-level module names a file imports when it runs."""
    tree = ast.parse(source, filename=filename)
    skipped = _optional_import_nodes(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _optional_import_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _is_optional_block(node):
            body: list[ast.stmt] = node.body  # type: ignore[attr-defined]
            skipped.update(id(child) for stmt in body for child in ast.walk(stmt))
    return skipped


def _is_optional_block(node: ast.AST) -> bool:
    if isinstance(node, ast.If):
        return _is_type_checking(node.test)
    return isinstance(node, ast.Try) and _catches_import_error(node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
               for n in names):
            return True
    return False


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stackflow_tools.release.package",
                                     description="Build the reproducible Lambda zips.")
    parser.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION,
                        help="Python of the Lambda runtime (default %(default)s)")
    parser.add_argument("--arch", default=DEFAULT_ARCH, choices=sorted(wheels.WHEEL_ARCH),
                        help="Lambda architecture (default %(default)s)")
    parser.add_argument("--platform", choices=("lambda", "host"), default="lambda",
                        help="'host' picks wheels for this machine instead (import tests)")
    parser.add_argument("--dist", type=Path, default=DIST_DIR, help="output folder")
    parser.add_argument("--wheel-cache", type=Path, default=WHEEL_CACHE,
                        help="downloaded wheels, one folder per target (default %(default)s)")
    parser.add_argument("--only", choices=[b.name for b in BUNDLES], action="append",
                        help="build only this zip (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        target = (wheels.host_target(args.python_version) if args.platform == "host"
                  else wheels.lambda_target(args.python_version, args.arch))
        bundles = [b for b in BUNDLES if not args.only or b.name in args.only]
        summaries = build_all(target, bundles, dist=args.dist, cache=args.wheel_cache)
    except StackFlowError as e:
        print(f"error: {e.error_type}: {e.message}", file=sys.stderr)
        return 1
    print(f"target: python{target.python_version} {target.arch}")
    for summary in summaries:
        print(f"{summary.path.name}: {summary.size / 1_000_000:.2f} MB, {summary.files} files, "
              f"CodeSha256 {summary.code_sha256}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
