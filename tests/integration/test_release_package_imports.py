"""A zip built for this machine's Python imports every handler from the zip alone.

The zip is built like `make package` builds it, only with the wheels for this machine's
Python and CPU (`--platform host`; the target version is a parameter), unpacked, and
imported by a fresh virtualenv that has nothing installed (`venv --without-pip`).

boto3 is the one thing put beside it: the Lambda runtime provides boto3 and its
dependencies, so the zip leaves them out on purpose. The test copies exactly the
packages `wheels.RUNTIME_PROVIDED` lists from this environment into a folder of their
own, standing in for the runtime's copy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from stackflow_tools.release import package, wheels

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

IMPORT_EVERYTHING = """
import importlib, json, sys
modules = sys.argv[1:]
for name in modules:
    importlib.import_module(name)
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
print(json.dumps({"imported": modules, "files": files, "path": sys.path}))
"""


def module_names(zip_path: Path, sources: tuple[str, ...]) -> list[str]:
    """Every Python module of the project's own folders inside the zip."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    modules = []
    for name in names:
        if name.split("/")[0] in sources and name.endswith(".py"):
            dotted = name[: -len(".py")].replace("/", ".")
            modules.append(dotted.removesuffix(".__init__"))
    return sorted(modules)


def runtime_provided_copy(dest: Path) -> Path:
    """The packages the Lambda runtime provides, copied from this environment."""
    dest.mkdir()
    for modules in wheels.RUNTIME_PROVIDED.values():
        for module in modules:
            spec = importlib.util.find_spec(module)
            assert spec is not None, module
            assert spec.origin is not None, module
            origin = Path(spec.origin)
            if spec.submodule_search_locations:
                shutil.copytree(origin.parent, dest / module,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copyfile(origin, dest / origin.name)
    return dest


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)],
                   check=True)
    return venv / "bin" / "python"


@pytest.mark.parametrize("bundle", package.BUNDLES, ids=[b.name for b in package.BUNDLES])
def test_every_handler_imports_from_the_zip_alone(
        tmp_path: Path, clean_python: Path, bundle: package.Bundle) -> None:
    # GIVEN the bundle built for this machine's Python, unpacked as Lambda unpacks it
    summary = package.build_bundle(bundle, wheels.host_target(HOST_PYTHON), dist=tmp_path)
    task_root = tmp_path / "task"
    with zipfile.ZipFile(summary.path) as archive:
        archive.extractall(task_root)
    runtime = runtime_provided_copy(tmp_path / "runtime")
    modules = module_names(summary.path, bundle.sources)
    handlers = [m for m in modules if m.endswith(".handler") or m.startswith("example_api")]
    present = [s for s in bundle.sources if (package.FUNCTIONS_DIR / s).is_dir()]
    assert {m.split(".")[0] for m in modules} == set(present)

    # WHEN a virtualenv with nothing installed imports every module of the project
    result = subprocess.run(
        [str(clean_python), "-s", "-c", IMPORT_EVERYTHING, *modules],
        cwd=task_root, capture_output=True, text=True, check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{task_root}:{runtime}",
             "AWS_DEFAULT_REGION": "us-east-1", "LAMBDA_TASK_ROOT": str(task_root)})

    # THEN every import succeeds, the handlers included
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == modules
    assert set(handlers) <= set(modules)
    # AND nothing came from this project's checkout or its virtualenv
    base = Path(sys.base_prefix).resolve()
    outside = [f for f in report["files"]
               if not Path(f).resolve().is_relative_to(task_root.resolve())
               and not Path(f).resolve().is_relative_to(runtime.resolve())
               and not Path(f).resolve().is_relative_to(base)]
    assert outside == []
    assert not [p for p in report["path"] if "site-packages" in p and ".venv" in p]
